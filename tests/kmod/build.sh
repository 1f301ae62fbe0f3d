#!/usr/bin/env bash
# SPDX-License-Identifier: GPL-2.0-or-later
#
# usage: tests/kmod/build.sh BUILD_DIR
# Build virtenergy.ko with Kbuild for the kernel that scripts/vmtest boots
# (the /boot kernel whose headers are installed), out of the source tree in
# BUILD_DIR/kmod-build.  Prints the module's path; on failure the build log
# goes to stderr.
set -uo pipefail
src=$(cd "$(dirname "$0")/../.." && pwd)
build=$(cd "${1:?usage: build.sh BUILD_DIR}" && pwd)

kver=
for h in /usr/src/linux-headers-*-amd64; do
	v=${h#/usr/src/linux-headers-}
	[ -f "/boot/vmlinuz-$v" ] && kver=$v
done
if [ -z "$kver" ]; then
	echo "no kernel in /boot matches the installed headers (scripts/setup installs both)" >&2
	exit 1
fi
out=$build/kmod-build
rm -rf "$out"
mkdir -p "$out/include/virtenergy"
cp "$src"/kmod/Kbuild "$src"/kmod/Makefile "$src"/kmod/*.c "$src"/kmod/*.h "$out/"
rm -f "$out"/*.mod.c
cp "$src/include/virtenergy/uapi.h" "$out/include/virtenergy/"
if ! make -C "$out" KVER="$kver" >"$out/build.log" 2>&1; then
	echo "virtenergy.ko does not build against $kver:" >&2
	cat "$out/build.log" >&2
	exit 1
fi
echo "$out/virtenergy.ko"
