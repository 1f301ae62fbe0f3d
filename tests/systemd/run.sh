#!/usr/bin/env bash
# SPDX-License-Identifier: GPL-2.0-or-later
#
# usage: tests/systemd/run.sh BUILD_DIR [fleet]
# Build virtenergy.ko, then boot systemd as PID 1 in the distribution
# kernel (scripts/vmtest --systemd): prepare.sh installs the product from
# BUILD_DIR with `meson install` and the module into /lib/modules before
# systemd starts, so modules-load.d, dbus.service and systemd itself find
# them at boot as on an operator's host; guest.sh then runs the checks.
# With "fleet": no module (the fleet case does not need it), and
# guest-fleet.sh runs instead: a fleet host under the installed unit with
# etcd inside the guest.  Prints TAP.
set -uo pipefail
src=$(cd "$(dirname "$0")/../.." && pwd)
build=$(cd "${1:?usage: run.sh BUILD_DIR [fleet]}" && pwd)
case ${2:-} in
'') ;;
fleet)
	if ! command -v etcd >/dev/null || ! command -v etcdctl >/dev/null; then
		echo "1..0 # SKIP etcd and etcdctl are needed (Debian: etcd-server, etcd-client)"
		exit 77
	fi
	exec "$src/scripts/vmtest" --setenv VE_BUILD="$build" --setenv VE_KO= --systemd \
		--prepare "$src/tests/systemd/prepare.sh" --mem 1536 --cpus 2 --timeout 600 \
		--dmesg "$build/systemd-fleet-test.dmesg" -- bash "$src/tests/systemd/guest-fleet.sh" "$build" ;;
*) echo "Bail out! run.sh: unknown case '$2' (none, or fleet)"; exit 2 ;;
esac

if ! ko=$("$src/tests/kmod/build.sh" "$build" 2>"$build/kmod-build.err"); then
	echo "Bail out! the module does not build:"
	sed 's/^/# /' "$build/kmod-build.err"
	exit 1
fi
echo "# built $ko"
exec "$src/scripts/vmtest" --setenv VE_BUILD="$build" --setenv VE_KO="$ko" --systemd --prepare "$src/tests/systemd/prepare.sh" \
	--mem 1536 --cpus 2 --timeout 840 --dmesg "$build/systemd-test.dmesg" -- \
	bash "$src/tests/systemd/guest.sh" "$build"
