#!/usr/bin/env bash
# SPDX-License-Identifier: GPL-2.0-or-later
#
# virtenergyd against a real libvirtd with two QEMU guests under TCG: one
# spinning, one idle.  Checks, in order:
#   - the busy guest is charged clearly more energy than the idle one;
#   - every account adds up and Σ VMs + host = the host's energy, at every save;
#   - a guest that is stopped and started again continues its counter;
#   - SIGKILL of the daemon and a restart keep every counter monotonic, with
#     nothing counted twice and at most one period lost;
#   - a libvirtd restart mid-run is survived: reconnect, accounting goes on;
#   - SIGTERM saves the counters and exits 0.
#
# usage: test_libvirt.sh BUILD_DIR      (run by meson test --suite integration)
# Needs root; exits 77 (skip) only when not root or libvirtd cannot start.
set -uo pipefail

here=$(cd "$(dirname "$0")" && pwd)
build=${1:-$here/../../build}
daemon=$build/daemon/virtenergyd
vestate="python3 $here/vestate.py"
prefix="vetest-$$"
busy="$prefix-busy"
idle="$prefix-idle"
reader="$prefix-reader"

# shellcheck source=tests/integration/guests.sh
source "$here/guests.sh"
# shellcheck source=tests/integration/tap.sh
source "$here/tap.sh"

guests_test_env libvirt || exit 1

ge() { python3 -c "import sys; sys.exit(0 if int('$1') >= int('$2') else 1)"; }
gt() { python3 -c "import sys; sys.exit(0 if int('$1') > int('$2') else 1)"; }
# $1 > 0 and $1 >= $3 x $2: a zero never passes for "clearly more"
ratio_ge() { python3 -c "import sys; sys.exit(0 if int('$1') > 0 and int('$1') >= float('$3') * int('$2') else 1)"; }
get() { $vestate "$tmp/state/state" get "$@"; }

start_daemon() {
	"$daemon" --config "$tmp/ve.conf" --foreground >>"$tmp/daemon.out" 2>>"$tmp/daemon.log" &
	dpid=$!
}

wait_state() { # until the state file exists (5 s)
	local i
	for i in $(seq 1 50); do
		[ -s "$tmp/state/state" ] && return 0
		sleep 0.1
	done
	return 1
}

if [ "$(id -u)" -ne 0 ]; then
	echo "SKIP: needs root to run libvirtd and QEMU guests"
	exit 77
fi
[ -x "$daemon" ] || { echo "not ok - no daemon at $daemon"; exit 1; }
if ! guests_up; then
	echo "SKIP: libvirtd cannot be started here"
	exit 77
fi

cat >"$tmp/ve.conf" <<EOF
[daemon]
uri=qemu:///system
period-ms=100
state-dir=$tmp/state
state-interval-ms=100
[guests]
export-dir=$tmp/export
export-interval-ms=100
EOF

expect "define a busy and an idle guest" guests_define "$busy" busy
guests_define "$idle" idle || not_ok "define idle guest"
expect "start the busy guest" guests_start "$busy"
expect "start the idle guest" guests_start "$idle"
busy_uuid=$(guests_uuid "$busy")
idle_uuid=$(guests_uuid "$idle")

expect "the busy guest boots" guests_wait_booted "$busy"
expect "the idle guest boots" guests_wait_booted "$idle"
start_daemon
expect "the daemon writes its state file" wait_state
sleep 3
b0=$(get "vm:$busy_uuid" comp.vcpu); i0=$(get "vm:$idle_uuid" comp.vcpu)
sleep 5
b1=$(get "vm:$busy_uuid" comp.vcpu); i1=$(get "vm:$idle_uuid" comp.vcpu)
bt=$(get "vm:$busy_uuid" total_uj); it=$(get "vm:$idle_uuid" total_uj)
echo "# over 5 s: busy vCPU $(((b1 - b0) / 1000)) mJ, idle vCPU $(((i1 - i0) / 1000)) mJ; totals busy $((bt / 1000)) mJ, idle $((it / 1000)) mJ"
expect "the busy guest's vCPU energy is at least 5x the idle one's" ratio_ge $((b1 - b0)) $((i1 - i0)) 5
expect "the busy guest's total is clearly above the idle one's" ratio_ge "$bt" "$it" 1.3
grep -q "sampled by" "$tmp/daemon.log" && ok "the daemon says which sampler is active" ||
	not_ok "the daemon says which sampler is active"

# a guest reads its own energy from the export, shared in over 9p
guests_define "$reader" export 1 "$tmp/export" || not_ok "define the reader guest"
expect "start a guest that reads its export over 9p" guests_start "$reader"
reader_uuid=$(guests_uuid "$reader")
expect "the reader guest boots" guests_wait_booted "$reader"
# libvirt sends STARTED and then RESUMED for every start: one log line
starts=$(grep -c "VM '$reader' started" "$tmp/daemon.log")
expect "a guest's start is logged once, not for STARTED and RESUMED both ($starts lines)" [ "$starts" -eq 1 ]
if python3 "$here/export_rate.py" "$tmp/$reader.console" "$tmp/state/state" "vm:$reader_uuid" 20 >"$tmp/rate.out"; then
	ok "inside the guest, energy_uj rises at the rate the host attributes (2 %): $(cat "$tmp/rate.out")"
else
	not_ok "inside the guest, energy_uj rises at the rate the host attributes (2 %): $(cat "$tmp/rate.out")"
	grep -a "VE-EXPORT" "$tmp/$reader.console" | tail -3 | sed 's/^/# /'
fi
# the guest sees its limit change when virsh metadata changes it (and go again)
last_limit() { grep -a "VE-EXPORT" "$tmp/$reader.console" | tail -n 1 | sed -n 's/.*limit_uw=\([0-9]*\).*/\1/p'; }
wait_limit() { # µW: the guest's last line shows it within 10 s
	local i
	for i in $(seq 1 20); do
		[ "$(last_limit)" = "$1" ] && return 0
		sleep 0.5
	done
	return 1
}
guests__virsh metadata "$reader" http://virtenergy.org/xmlns/energy/1 --key energy --live \
	--set '<energy><power-limit>33 W</power-limit></energy>' >/dev/null
expect "inside the guest, constraint_0_power_limit_uw shows the 33 W set with virsh metadata" wait_limit 33000000
guests__virsh metadata "$reader" http://virtenergy.org/xmlns/energy/1 --key energy --live --remove >/dev/null
expect "and 0 again once virsh metadata --remove lifted it" wait_limit 0
echo "# the guest's last line: $(grep -a "VE-EXPORT" "$tmp/$reader.console" | tail -n 1)"
guests__virsh destroy "$reader" >/dev/null

# the guest export: the busy VM's powercap tree rises at the rate the host attributes
# (read in step: both files are written in the same period; export_sync.py)
if python3 "$here/export_sync.py" "$tmp/state/state" "vm:$busy_uuid" "$tmp/export/$busy_uuid/intel-rapl:0" 10 >"$tmp/sync.out"; then
	ok "the export's energy_uj is the ledger's, read in the same period, and rises by exactly as much over 10 s: $(cat "$tmp/sync.out")"
else
	not_ok "the export's energy_uj is the ledger's, read in the same period, and rises by exactly as much over 10 s: $(cat "$tmp/sync.out")"
fi
expect "the export carries the registers (msr file, 8 x index)" \
	test "$(stat -c %s "$tmp/export/$busy_uuid/msr")" -eq $((8 * (0x639 + 1)))

conserved_all=true
for n in 1 2 3 4 5; do
	why=$($vestate "$tmp/state/state" conserved) || { conserved_all=false; echo "# $why"; }
	sleep 0.3
done
expect "every save: accounts add up, VMs + host = host energy" $conserved_all

# the CPU bandwidth actuator on the busy guest (record, restore, crash reconcile, dry run)
mkdir -p "$tmp/act"
while read -r line; do
	echo "$line"
	case "$line" in "not ok"*) failures=$((failures + 1)) ;; esac
done < <("$build/tests/integration/cpubw_check" qemu:///system "$busy" "$tmp/act" 2>&1 || echo "not ok - cpubw_check failed")

# stop and start the busy guest: its counter continues
before=$(get "vm:$busy_uuid" total_uj)
guests__virsh destroy "$busy" >/dev/null
sleep 2
stopped=$(get "vm:$busy_uuid" total_uj)
expect "a stopped guest keeps its counter" ge "$stopped" "$before"
sleep 1
expect "a stopped guest is charged nothing more" test "$(get "vm:$busy_uuid" total_uj)" = "$stopped"
guests_start "$busy" || not_ok "restart busy guest"
sleep 4
expect "after a restart the guest continues from its counter" gt "$(get "vm:$busy_uuid" total_uj)" "$stopped"

# SIGKILL the daemon: the file holds the last complete period, nothing is half-written
keep() { # NAME: the state file and its journal, as they are
	cp "$tmp/state/state" "$tmp/$1"
	cp "$tmp/state/state.journal" "$tmp/$1.journal" 2>/dev/null || rm -f "$tmp/$1.journal"
}
keep before-kill   # (compacted between the two copies, the journal is ignored: an older state)
kill -9 "$dpid"
wait "$dpid" 2>/dev/null
dpid=
keep after-kill
p_before=$($vestate "$tmp/before-kill" get virtenergy periods)
p_after=$($vestate "$tmp/after-kill" get virtenergy periods)
expect "after SIGKILL the state file is intact" $vestate "$tmp/after-kill" conserved
expect "after SIGKILL it holds every period up to the kill (at most one lost)" ge "$p_after" "$p_before"
k_busy=$($vestate "$tmp/after-kill" get "vm:$busy_uuid" total_uj)
k_idle=$($vestate "$tmp/after-kill" get "vm:$idle_uuid" total_uj)
k_energy=$($vestate "$tmp/after-kill" get virtenergy energy_uj)
start_daemon
sleep 2
expect "after restart the busy counter continues, never below the saved one" gt "$(get "vm:$busy_uuid" total_uj)" "$k_busy"
expect "after restart the idle counter never goes back" ge "$(get "vm:$idle_uuid" total_uj)" "$k_idle"
expect "after restart the host energy continues" gt "$(get virtenergy energy_uj)" "$k_energy"
expect "after restart nothing is counted twice" $vestate "$tmp/state/state" conserved

# restart libvirtd under the daemon
if [[ " ${GUESTS_STARTED_DAEMONS[*]} " == *" libvirtd "* ]] || ! pgrep -x systemd >/dev/null; then
	connects=$(grep -c "connected to" "$tmp/daemon.log")
	b_before=$(get "vm:$busy_uuid" comp.vcpu)
	pkill -x libvirtd
	sleep 3
	b_outage=$(get "vm:$busy_uuid" comp.vcpu)
	libvirtd -d
	for _ in $(seq 1 50); do
		[ "$(grep -c "connected to" "$tmp/daemon.log")" -gt "$connects" ] && break
		sleep 0.2
	done
	expect "the daemon keeps accounting while libvirtd is down" gt "$b_outage" "$b_before"
	expect "the daemon reconnects when libvirtd is back" \
		test "$(grep -c "connected to" "$tmp/daemon.log")" -gt "$connects"
	sleep 2
	expect "after the reconnect the busy guest is still accounted" \
		gt "$(get "vm:$busy_uuid" comp.vcpu)" "$b_outage"
	expect "the daemon survived the libvirtd restart" kill -0 "$dpid"
else
	not_ok "libvirtd restart: libvirtd is managed by systemd here, not restarted by the test"
fi

# undefine the idle guest: libvirt forgets it, its counter stays
i_before=$(get "vm:$idle_uuid" total_uj)
guests__virsh destroy "$idle" >/dev/null && guests__virsh undefine "$idle" >/dev/null
sleep 2
expect "an undefined guest's counter is kept" ge "$(get "vm:$idle_uuid" total_uj)" "$i_before"
expect "the table marks it undefined" grep -q "^$idle *undefined" "$tmp/daemon.out"

# transient domains (virsh create: a new UUID every time) are retired when
# destroyed: their counters go to the host's retired total, the state file
# does not grow, and the sum still holds
transient="$prefix-transient"
has_section() { $vestate "$tmp/state/state" has "vm:$1"; }
wait_until() { # SECONDS COMMAND...
	local end=$(($(date +%s) + $1))
	shift
	until "$@"; do [ "$(date +%s)" -ge "$end" ] && return 1; sleep 0.2; done
}
retired0=$(get virtenergy retired_uj)
sections0=$($vestate "$tmp/state/state" count vm:)
guests_define "$transient" idle 1 && guests__virsh undefine "$transient" >/dev/null
sed '/<uuid>/d' "$tmp/$transient.xml" >"$tmp/$transient-nouuid.xml"
seen_uj=0 cycles_ok=true
for cycle in 1 2 3; do
	guests__virsh create "$tmp/$transient-nouuid.xml" >/dev/null || { cycles_ok=false; break; }
	u=$(guests__virsh domuuid "$transient" | tr -d '[:space:]')
	wait_until 20 sh -c "$vestate '$tmp/state/state' has 'vm:$u' && [ \$($vestate '$tmp/state/state' get 'vm:$u' total_uj) -gt 0 ]" ||
		{ cycles_ok=false; echo "# cycle $cycle: $u never accounted"; break; }
	last=$(get "vm:$u" total_uj)
	guests__virsh destroy "$transient" >/dev/null
	wait_until 10 sh -c "! $vestate '$tmp/state/state' has 'vm:$u'" ||
		{ cycles_ok=false; echo "# cycle $cycle: $u still in the state file after destroy"; break; }
	seen_uj=$((seen_uj + last))
done
retired1=$(get virtenergy retired_uj)
echo "# 3 transient cycles: retired_uj $retired0 -> $retired1 (+$((retired1 - retired0)) uJ; their last saved totals: $seen_uj uJ); vm sections $sections0 -> $($vestate "$tmp/state/state" count vm:)"
expect "a destroyed transient domain leaves the state file, 3 times" $cycles_ok
expect "... its energy is in the host's retired total (at least what it had saved)" ge $((retired1 - retired0)) "$seen_uj"
expect "... and the state file does not grow" [ "$($vestate "$tmp/state/state" count vm:)" -le "$sections0" ]
expect "... the accounts and the retired total still add up" $vestate "$tmp/state/state" conserved
expect "... the log says so" grep -q "VM '$transient' retired" "$tmp/daemon.log"

# the retention of an undefined VM's counters, made 0 by a reload: folded in too
i_total=$(get "vm:$idle_uuid" total_uj)
retired0=$(get virtenergy retired_uj)
sed -i 's/^state-interval-ms=100$/state-interval-ms=100\nretain-undefined-hours=0/' "$tmp/ve.conf"
kill -HUP "$dpid"
expect "with retain-undefined-hours=0 (reloaded) the undefined guest is retired" wait_until 10 sh -c "! $vestate '$tmp/state/state' has 'vm:$idle_uuid'"
expect "... with its total in the retired total" ge $(($(get virtenergy retired_uj) - retired0)) "$i_total"
expect "... and the sum still holds" $vestate "$tmp/state/state" conserved

# SIGTERM: counters saved, exit 0
kill -TERM "$dpid"
wait "$dpid"
rc=$?
dpid=
expect "SIGTERM exits 0" test "$rc" -eq 0
expect "SIGTERM leaves a consistent state file" $vestate "$tmp/state/state" conserved

if [ "$failures" -ne 0 ]; then
	echo "# daemon log:"
	sed 's/^/#   /' "$tmp/daemon.log" | tail -20
	exit 1
fi
exit 0
