#!/usr/bin/env bash
# SPDX-License-Identifier: GPL-2.0-or-later
#
# bench_daemon: virtenergyd's own cost on a live host.  For each count of
# idle TCG guests, run the daemon at 10 Hz for a measuring window and print
# its CPU time per wall second (from /proc/PID/stat) and its RSS.
#
# usage: bench_daemon.sh BUILD_DIR [GUESTS...]     (default: 2 10 40)
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
build=$1; shift
counts=("$@")
[ ${#counts[@]} -gt 0 ] || counts=(2 10 40)
window=20
tmp=$(mktemp -d /tmp/ve-bench-XXXXXX)
chmod 755 "$tmp"
GUESTS_DIR=$tmp
# shellcheck source=tests/integration/guests.sh
source "$here/../integration/guests.sh"
dpid=
trap '[ -n "$dpid" ] && kill -9 "$dpid" 2>/dev/null; guests_down; rm -rf "$tmp"' EXIT
guests_up
tck=$(getconf CLK_TCK)

cpu_ticks() { awk '{print $14 + $15}' "/proc/$1/stat"; }

for n in "${counts[@]}"; do
	# one at a time: forty kernels booting at once under TCG on two CPUs take minutes each
	for i in $(seq 1 "$n"); do
		if ! virsh -q domstate "bench-$i" >/dev/null 2>&1; then
			guests_define "bench-$i" idle 1 >/dev/null
		fi
		if [ "$(virsh -q domstate "bench-$i")" != running ]; then
			guests_start "bench-$i"
			guests_wait_booted "bench-$i" 180
		fi
	done
	rss_guest=$(awk '/VmRSS/ {print $2}' "/proc/$(guests_pid bench-1)/status")
	cat >"$tmp/ve.conf" <<CONF
[daemon]
period-ms=100
state-dir=$tmp/state-$n
CONF
	"$build/daemon/virtenergyd" --config "$tmp/ve.conf" 2>"$tmp/daemon-$n.log" &
	dpid=$!
	sleep 5
	t0=$(cpu_ticks "$dpid"); s0=$(date +%s.%N)
	sleep "$window"
	t1=$(cpu_ticks "$dpid"); s1=$(date +%s.%N)
	rss=$(awk '/VmRSS/ {print $2}' "/proc/$dpid/status")
	fds=$(ls "/proc/$dpid/fd" | wc -l)
	kill -TERM "$dpid"; wait "$dpid" || true; dpid=
	python3 - "$n" "$t0" "$t1" "$s0" "$s1" "$tck" "$rss" "$fds" "$rss_guest" <<'PY'
import sys
n, t0, t1, s0, s1, tck, rss, fds, rg = sys.argv[1:]
cpu_s = (int(t1) - int(t0)) / int(tck)
wall = float(s1) - float(s0)
print(f"{int(n):4d} idle TCG guests: daemon CPU {1000 * cpu_s / wall:6.1f} ms per wall second "
      f"({100 * cpu_s / wall:.2f} % of one CPU) at 10 Hz, RSS {int(rss) / 1024:.1f} MiB, "
      f"{fds} fds; one guest's QEMU RSS {int(rg) / 1024:.0f} MiB")
PY
done
