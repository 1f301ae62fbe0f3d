#!/usr/bin/env bash
# SPDX-License-Identifier: GPL-2.0-or-later
#
# bench_scale: virtenergyd's own cost on a host of many VMs, built for real
# by bench_scale_host (N sleeping "QEMU" processes of 4 vCPU threads and an
# emulator thread each, in libvirt's cgroup v1 layout, with libvirt's pid
# files on a fixture root whose proc/ and sys/ are the host's) and listed by
# libvirt's test driver (cgroup v1 here; v2 in the test kernel, where
# `scripts/bench scale-vm` runs it with the module).  For each size and each sampler this host has, the
# daemon runs at 10 Hz with the default configuration (Prometheus textfile,
# guest exports, vmsr socket and state file on; all on this machine's root
# file system, as /run and /var/lib are here), and after a warm-up its CPU
# time (utime and stime from /proc/PID/stat) is taken over a window.
#
# Guest exports are made once per size (the first run waits for them before
# its warm-up; how long that took is printed after the table) and adopted by
# the later runs, as a restarted daemon adopts them.
#
# Prints per size and sampler: CPU ms per wall second, user and system, min
# and median over the runs; periods per second (from the state file's
# period count, with its journal); CPU ms per period (the median over periods/s: a loop that
# falls behind runs fewer periods); RSS; open fds; and the marginal cost of
# one more VM, in µs of CPU per VM per period, against the next smaller size;
# and where virtenergy.ko is loaded, its own time in its period work (kernel
# worker, not in the daemon's CPU) per wall second, from GET_INFO.
#
# usage: bench_scale.sh BUILD_DIR [VMS...]        (default: 10 100 1000)
# environment: VE_BENCH_RUNS (3), VE_BENCH_WINDOW_S (20), VE_BENCH_WARMUP_S (5),
#              VE_BENCH_SAMPLERS ("schedstat perf"), VE_BENCH_PROFILE (a path: perf record
#              the daemon through each window into PATH.N-SAMPLER-RUN; VE_BENCH_PROFILE_CALLGRAPH
#              its call-graph option, default -g, e.g. "--call-graph dwarf")
set -euo pipefail
build=$1; shift
sizes=("$@")
[ ${#sizes[@]} -gt 0 ] || sizes=(10 100 1000)
runs=${VE_BENCH_RUNS:-3}
window=${VE_BENCH_WINDOW_S:-20}
warmup=${VE_BENCH_WARMUP_S:-5}
read -r -a samplers <<<"${VE_BENCH_SAMPLERS:-schedstat perf}"
[ "$(id -u)" = 0 ] || { echo "bench_scale: needs root (it makes cgroups)" >&2; exit 1; }
{ [ -d /sys/fs/cgroup/cpu ] && [ -d /sys/fs/cgroup/blkio ]; } || [ -f /sys/fs/cgroup/cgroup.controllers ] ||
	{ echo "bench_scale: needs the cgroup v1 cpu and blkio hierarchies, or cgroup v2" >&2; exit 1; }

tmp=$(mktemp -d /var/tmp/ve-scale-XXXXXX)
dpid= hpid= hostfd=
cleanup() {
	[ -n "$dpid" ] && kill -9 "$dpid" 2>/dev/null && wait "$dpid" 2>/dev/null
	# the host builder removes its processes, cgroups and pid files on EOF or SIGTERM
	[ -n "$hostfd" ] && exec {hostfd}>&-
	if [ -n "$hpid" ]; then
		kill -TERM "$hpid" 2>/dev/null
		wait "$hpid" 2>/dev/null
	fi
	dpid= hpid= hostfd=
}
trap 'cleanup; rm -rf "$tmp"' EXIT
trap 'exit 130' INT TERM
mkdir -p "$tmp/root/run/libvirt/qemu" "$tmp/prom"
ln -s /proc "$tmp/root/proc"
ln -s /sys "$tmp/root/sys"
hz=$(getconf CLK_TCK)

host_up() {   # host_up N: N VMs, returns when they are all in place
	rm -f "$tmp/host.ctl" "$tmp/host.out"
	mkfifo "$tmp/host.ctl"
	"$build/tests/bench/bench_scale_host" "$tmp/root" "$tmp/domains.xml" "$1" "vescale$$" \
		<"$tmp/host.ctl" >"$tmp/host.out" &
	hpid=$!
	exec {hostfd}>"$tmp/host.ctl"
	until grep -q '^ready$' "$tmp/host.out" 2>/dev/null; do
		kill -0 "$hpid" 2>/dev/null || { echo "bench_scale: building the host of $1 VMs failed" >&2; exit 1; }
		sleep 0.2
	done
}

# the state file and its journal's saves since (statejournal.h), as the daemon would load them
periods() { python3 "$(dirname "$0")/../integration/vestate.py" "$1/state" get virtenergy periods 2>/dev/null; }

# the module's own time in its period work since load, ns (0 where it is not loaded)
module_ns() {
	if [ -d /sys/module/virtenergy ] && [ -x "$build/tests/kmod/kmod_test" ]; then
		"$build/tests/kmod/kmod_test" work-ns 2>/dev/null || echo 0
	else
		echo 0
	fi
}

# one_run N SAMPLER RUN: prints "user_ticks sys_ticks wall_s periods rss_kib fds module_ns"
one_run() {
	local n=$1 sampler=$2 run=$3 st=$tmp/state-$n-$2-$3 u0 s0 w0 p0 k0 u1 s1 w1 p1 k1
	cat >"$tmp/ve.conf" <<CONF
[daemon]
uri=test://$tmp/domains.xml
period-ms=100
state-dir=$st
[accounting]
sampler=$sampler
[guests]
export-dir=$tmp/guests
vmsr-socket=$tmp/vmsr.sock
vmsr-socket-group=
[prometheus]
textfile=$tmp/prom/virtenergy.prom
[dbus]
bus=none
CONF
	"$build/daemon/virtenergyd" --config "$tmp/ve.conf" --root "$tmp/root" 2>"$tmp/daemon.log" &
	dpid=$!
	# the steady state: every VM's export made (once per size: later runs adopt them)
	local made=0 i
	for i in $(seq 1 600); do
		made=$(find "$tmp/guests" -path '*intel-rapl:0:0/energy_uj' 2>/dev/null | wc -l)
		[ "$made" -ge "$n" ] && break
		sleep 0.2
	done
	[ "$i" -le 1 ] || echo "$n $sampler: the exports took $(awk -v i="$i" 'BEGIN { print i * 0.2 }') s to make" >>"$tmp/notes"
	sleep "$warmup"
	kill -0 "$dpid" 2>/dev/null || { echo "bench_scale: the daemon died: $(cat "$tmp/daemon.log")" >&2; exit 1; }
	read -r u0 s0 < <(awk '{print $14, $15}' "/proc/$dpid/stat")
	k0=$(module_ns); p0=$(periods "$st"); w0=$(date +%s.%N)
	if [ -n "${VE_BENCH_PROFILE:-}" ]; then
		# a CPU profile of the window (perf's software clock: this host has no PMU)
		# shellcheck disable=SC2086 # the call-graph option is words
		perf record -q -e cpu-clock -F 4999 ${VE_BENCH_PROFILE_CALLGRAPH:--g} -p "$dpid" -o "$VE_BENCH_PROFILE.$n-$sampler-$run" \
			-- sleep "$window" >/dev/null 2>&1
	else
		sleep "$window"
	fi
	read -r u1 s1 < <(awk '{print $14, $15}' "/proc/$dpid/stat")
	k1=$(module_ns); p1=$(periods "$st"); w1=$(date +%s.%N)
	echo "$((u1 - u0)) $((s1 - s0)) $(awk -v a="$w0" -v b="$w1" 'BEGIN { print b - a }') $((p1 - p0))" \
		"$(awk '/VmRSS/ {print $2}' "/proc/$dpid/status")" "$(find "/proc/$dpid/fd" -mindepth 1 | wc -l)" \
		"$((k1 - k0))"
	kill -TERM "$dpid"; wait "$dpid" || true; dpid=
	rm -rf "$st"
}

echo "scale: ${sizes[*]} VMs x (4 vCPU + 1 emulator threads), 10 Hz, samplers: ${samplers[*]};" \
	"$runs runs of ${window} s after ${warmup} s warm-up; CPU = utime+stime of virtenergyd"
results=$tmp/results
for n in "${sizes[@]}"; do
	host_up "$n"
	for sampler in "${samplers[@]}"; do
		for r in $(seq 1 "$runs"); do
			echo "$n $sampler $(one_run "$n" "$sampler" "$r")" >>"$results"
		done
	done
	cleanup
	rm -rf "$tmp/guests"
done
python3 - "$results" "$hz" <<'PY'
import statistics as st, sys
rows = [l.split() for l in open(sys.argv[1])]
hz = int(sys.argv[2])
by = {}
for n, s, u, y, w, p, rss, fds, kns in rows:
    by.setdefault((s, int(n)), []).append((int(u) / hz / float(w) * 1e3, int(y) / hz / float(w) * 1e3,
                                           int(p) / float(w), int(rss), int(fds), int(kns) / float(w) / 1e6))
module = any(x[5] for v in by.values() for x in v)
print(f"{'VMs':>5} {'sampler':<9} {'CPU ms/s min/med':>17} {'user':>6} {'sys':>6} {'periods/s':>9}"
      f" {'ms/period':>9} {'RSS MiB':>7} {'fds':>5} {'per-VM us/period':>16}"
      + (f" {'module ms/s':>11}" if module else ""))
prev = {}
for (s, n) in sorted(by, key=lambda k: (k[0] != "schedstat", k[0], k[1])):
    v = by[(s, n)]
    tot = [a + b for a, b, *_ in v]
    med = st.median(tot)
    pps = st.median(x[2] for x in v)
    marg = "-"
    if s in prev and pps > 0:
        pn, pmed = prev[s]
        # CPU per period (ms) difference per extra VM, in µs
        marg = f"{(med / pps - pmed[0] / pmed[1]) * 1e3 / (n - pn):.1f}"
    prev[s] = (n, (med, pps))
    print(f"{n:>5} {s:<9} {min(tot):>8.1f} /{med:>7.1f} {st.median(x[0] for x in v):>6.1f}"
          f" {st.median(x[1] for x in v):>6.1f} {pps:>9.2f} {med / pps if pps else 0:>9.2f}"
          f" {max(x[3] for x in v) / 1024:>7.1f}"
          f" {max(x[4] for x in v):>5} {marg:>16}"
          + (f" {st.median(x[5] for x in v):>11.2f}" if module else ""))
PY
if [ -s "$tmp/notes" ]; then sed 's/^/# /' "$tmp/notes"; fi
