#!/usr/bin/env bash
# SPDX-License-Identifier: GPL-2.0-or-later
#
# The daemon's Prometheus textfile passes `promtool check metrics` and
# carries the VM of libvirt's test driver.  Runs the daemon once on a
# fixture root.  usage: test_prom.sh BUILD_DIR
set -uo pipefail
build=$1
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
command -v promtool >/dev/null || { echo "not ok - promtool missing (scripts/setup installs prometheus)"; exit 1; }
mkdir -p "$tmp/root/proc"
echo "cpu0 1 0 0 1 0 0 0 0 0 0" >"$tmp/root/proc/stat"
"$build/daemon/virtenergyd" --once --root "$tmp/root" --uri test:///default --state-dir "$tmp/state" \
	--export-dir "" --vmsr-socket "" --prom-file "$tmp/virtenergy.prom" >/dev/null 2>"$tmp/log" ||
	{ echo "not ok - the daemon failed: $(cat "$tmp/log")"; exit 1; }
fail=0
if out=$(promtool check metrics <"$tmp/virtenergy.prom" 2>&1) && [ -z "$out" ]; then
	echo "ok - promtool check metrics is clean"
else
	echo "not ok - promtool check metrics: $out"; fail=1
fi
if grep -Eq '^virtenergy_vm_energy_joules_total\{uuid="6695eb01-f6a4-8304-79aa-97f2502e193f",name="test",component="idle"\} [0-9]+\.[0-9]{6}$' "$tmp/virtenergy.prom" &&
	! grep -q 'component="idle"} 0.000000' "$tmp/virtenergy.prom"; then
	echo "ok - the VM's idle energy is exported"
else
	echo "not ok - the VM's idle energy is exported"; fail=1
fi
grep -q '^virtenergy_estimated 1$' "$tmp/virtenergy.prom" && echo "ok - estimated without RAPL" ||
	{ echo "not ok - estimated without RAPL"; fail=1; }
exit $fail
