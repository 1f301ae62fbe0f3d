#!/usr/bin/env bash
# SPDX-License-Identifier: GPL-2.0-or-later
#
# usage: tests/kmod/run.sh BUILD_DIR
# Build virtenergy.ko (tests/kmod/build.sh), then run tests/kmod/guest.sh in
# the distribution kernel under scripts/vmtest with a scratch virtio disk.
# Prints TAP.
set -uo pipefail
src=$(cd "$(dirname "$0")/../.." && pwd)
build=$(cd "${1:?usage: run.sh BUILD_DIR}" && pwd)

if ! ko=$("$src/tests/kmod/build.sh" "$build" 2>"$build/kmod-build.err"); then
	echo "Bail out! the module does not build:"
	sed 's/^/# /' "$build/kmod-build.err"
	exit 1
fi
echo "# built $ko"
exec "$src/scripts/vmtest" --disk 64 --mem 1024 --cpus 2 --timeout 800 \
	--dmesg "$build/kmod-build/dmesg" -- bash "$src/tests/kmod/guest.sh" "$build" "$ko"
