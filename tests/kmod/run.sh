#!/usr/bin/env bash
# SPDX-License-Identifier: GPL-2.0-or-later
#
# usage: tests/kmod/run.sh BUILD_DIR
# Build virtenergy.ko for the kernel that scripts/vmtest boots (in
# BUILD_DIR/kmod-build, out of the source tree), then run tests/kmod/guest.sh
# in that kernel with a scratch virtio disk.  Prints TAP.
set -uo pipefail
src=$(cd "$(dirname "$0")/../.." && pwd)
build=$(cd "${1:?usage: run.sh BUILD_DIR}" && pwd)

kver=
for h in /usr/src/linux-headers-*-amd64; do
	v=${h#/usr/src/linux-headers-}
	[ -f "/boot/vmlinuz-$v" ] && kver=$v
done
if [ -z "$kver" ]; then
	echo "Bail out! no kernel in /boot matches the installed headers (scripts/setup installs both)"
	exit 1
fi

out=$build/kmod-build
rm -rf "$out"
mkdir -p "$out/include/virtenergy"
cp "$src"/kmod/Kbuild "$src"/kmod/Makefile "$src"/kmod/*.c "$src"/kmod/*.h "$out/"
cp "$src/include/virtenergy/uapi.h" "$out/include/virtenergy/"
if ! make -C "$out" KVER="$kver" >"$out/build.log" 2>&1; then
	echo "Bail out! virtenergy.ko does not build against $kver:"
	sed 's/^/# /' "$out/build.log"
	exit 1
fi
echo "# built virtenergy.ko for $kver"
exec "$src/scripts/vmtest" --disk 64 --mem 1024 --cpus 2 --timeout 800 \
	--dmesg "$out/dmesg" -- bash "$src/tests/kmod/guest.sh" "$build" "$out/virtenergy.ko"
