#!/usr/bin/env bash
# SPDX-License-Identifier: GPL-2.0-or-later
#
# Power limits on a real TCG guest spinning its CPU:
#   - limited with `virsh metadata` to half its unlimited power, its
#     measured power averages within ±5 % of the limit over 10 s, and
#     `virsh schedinfo` shows the quota the daemon set;
#   - the export shows the limit;
#   - `virsh metadata --remove` restores the quota;
#   - SIGTERM restores it; SIGKILL leaves it, and the next start restores it;
#   - bad metadata is reported with the VM's name and changes nothing;
#   - a limit set with virtenergyctl over D-Bus shows in virsh metadata;
#   - a host cap is split between two spinning guests and held.
#
# usage: test_limits.sh BUILD_DIR     (meson test --suite integration; root)
set -uo pipefail

here=$(cd "$(dirname "$0")" && pwd)
build=${1:-$here/../../build}
daemon=$build/daemon/virtenergyd
vestate="python3 $here/vestate.py"
vm="vetest-$$-limit"
ns=http://virtenergy.org/xmlns/energy/1

# shellcheck source=tests/integration/guests.sh
source "$here/guests.sh"
# shellcheck source=tests/integration/tap.sh
source "$here/tap.sh"
guests_test_env limits || exit 1

get() { $vestate "$tmp/state/state" get "$@"; }
quota() { virsh -q schedinfo "$vm" | awk '/^vcpu_quota/ {print $3}'; }
start_daemon() {
	"$daemon" --config "$tmp/ve.conf" >>"$tmp/daemon.log" 2>&1 &
	dpid=$!
}
# average power (µW) of the VM over SECONDS, from its ledger
power_over() {
	local t0 t1 e0 e1
	e0=$(get "vm:$uuid" total_uj); t0=$(date +%s%N)
	sleep "$1"
	e1=$(get "vm:$uuid" total_uj); t1=$(date +%s%N)
	echo $(((e1 - e0) * 1000 / ((t1 - t0) / 1000000)))
}
wait_quota() { # until vcpu_quota satisfies TEST (e.g. "= -1"), 10 s
	local i
	for i in $(seq 1 50); do
		[ "$(quota)" $1 "$2" ] && return 0
		sleep 0.2
	done
	return 1
}

if [ "$(id -u)" -ne 0 ]; then echo "SKIP: needs root"; exit 77; fi
guests_up || { echo "SKIP: libvirtd cannot be started here"; exit 77; }
cat >"$tmp/ve.conf" <<EOF
[daemon]
period-ms=100
state-dir=$tmp/state
state-interval-ms=100
[guests]
export-dir=$tmp/export
vmsr-socket=
[prometheus]
textfile=
[dbus]
bus=none
EOF

guests_define "$vm" busy 1 || not_ok "define the guest"
expect "start a guest spinning its vCPU" guests_start "$vm"
expect "it boots" guests_wait_booted "$vm"
uuid=$(guests_uuid "$vm")
start_daemon
sleep 3
p0=$(power_over 5)
limit=$((p0 / 2))
echo "# unlimited: $((p0 / 1000)) mW; limit: $((limit / 1000)) mW"

virsh -q metadata "$vm" "$ns" --key energy --live \
	--set "<energy><power-limit>$((limit / 1000)) mW</power-limit></energy>" >/dev/null
expect "the daemon takes the limit from virsh metadata" wait_quota -gt 0
sleep 5
avg=$(power_over 10)
echo "# limited: $((avg / 1000)) mW over 10 s; vcpu_quota $(quota)"
within() { python3 -c "import sys; sys.exit(0 if int('$2') > 0 and abs(int('$1') - int('$2')) <= 0.05 * int('$2') else 1)"; }
expect "its power averages within 5 % of the limit over 10 s" within "$avg" "$limit"
q=$(quota)
expect "virsh schedinfo shows the quota the daemon set ($q of 100000)" test "$q" -gt 0 -a "$q" -lt 100000
expect "the export shows the limit" \
	test "$(cat "$tmp/export/$uuid/intel-rapl:0/constraint_0_power_limit_uw")" -eq $(((limit / 1000) * 1000))

virsh -q metadata "$vm" "$ns" --live --remove >/dev/null
expect "virsh metadata --remove restores the quota" wait_quota = -1

virsh -q metadata "$vm" "$ns" --key energy --live --set "<energy><power-limit>$((limit / 1000)) mW</power-limit></energy>" >/dev/null
wait_quota -gt 0 || not_ok "limit applied again"
kill -TERM "$dpid"; wait "$dpid"; dpid=
expect "SIGTERM leaves no quota behind" test "$(quota)" = -1

start_daemon
expect "a restarted daemon applies the limit still in the metadata" wait_quota -gt 0
kill -9 "$dpid"; wait "$dpid" 2>/dev/null; dpid=
expect "SIGKILL leaves the throttle (nothing could restore it)" test "$(quota)" -gt 0
virsh -q metadata "$vm" "$ns" --live --remove >/dev/null
start_daemon
expect "the next start restores the bandwidth from its record" wait_quota = -1
grep -q "previous run left throttled" "$tmp/daemon.log" && ok "and says so" || not_ok "and says so"

virsh -q metadata "$vm" "$ns" --key energy --live --set "<energy><power-limit>40 X</power-limit></energy>" >/dev/null
sleep 2
expect "bad metadata is reported with the VM's name and what was wrong" \
	grep -q "VM '$vm': energy metadata refused: .*40 X" "$tmp/daemon.log"
expect "and changes nothing" test "$(quota)" = -1
expect "the daemon runs on" kill -0 "$dpid"
kill -TERM "$dpid"; wait "$dpid"; dpid=

# a limit set over D-Bus lands in the domain's metadata, where virsh sees it
busdir=$(mktemp -d)
dbus-daemon --session --nofork --nopidfile --address="unix:path=$busdir/bus" >/dev/null 2>&1 &
buspid=$!
for _ in $(seq 1 50); do [ -S "$busdir/bus" ] && break; sleep 0.1; done
export DBUS_SESSION_BUS_ADDRESS="unix:path=$busdir/bus"
"$daemon" --config "$tmp/ve.conf" --bus session >>"$tmp/daemon.log" 2>&1 &
dpid=$!
sleep 3
gdbus monitor --session --dest org.virtenergy.Manager1 >"$tmp/monitor" 2>&1 &
monpid=$!
sleep 0.5
expect "virtenergyctl set-limit over D-Bus" "$build/daemon/virtenergyctl" --bus session set-limit "$vm" 30W
expect "virsh metadata shows the limit set over D-Bus" \
	sh -c "virsh -q metadata '$vm' '$ns' | grep -q '<power-limit>30000000 uW</power-limit>'"
expect "and the daemon applies it" wait_quota -gt 0
sleep 1
expect "a Throttled signal says so" grep -q "org.virtenergy.Manager1.Throttled ('$uuid', '$vm', true" "$tmp/monitor"
expect "virtenergyctl clear-limit removes it" "$build/daemon/virtenergyctl" --bus session clear-limit "$vm"
expect "and the quota is restored" wait_quota = -1
kill "$monpid" 2>/dev/null; wait "$monpid" 2>/dev/null
kill -TERM "$dpid"; wait "$dpid"; dpid=
kill "$buspid"; wait "$buspid" 2>/dev/null
unset DBUS_SESSION_BUS_ADDRESS
rm -rf "$busdir"

# a host cap split between two spinning guests (equal weights)
vm2="vetest-$$-second"
guests_define "$vm2" busy 1 || not_ok "define a second guest"
guests_start "$vm2" && guests_wait_booted "$vm2" || not_ok "start the second guest"
uuid2=$(guests_uuid "$vm2")
quota2() { virsh -q schedinfo "$vm2" | awk '/^vcpu_quota/ {print $3}'; }
printf '[limits]\nhost-cap=100W\n' >>"$tmp/ve.conf"
start_daemon
sleep 8
e0=$(get "vm:$uuid" total_uj); f0=$(get "vm:$uuid2" total_uj); t0=$(date +%s%N)
sleep 10
e1=$(get "vm:$uuid" total_uj); f1=$(get "vm:$uuid2" total_uj); t1=$(date +%s%N)
ms=$(((t1 - t0) / 1000000))
pa=$(((e1 - e0) * 1000 / ms)); pb=$(((f1 - f0) * 1000 / ms))
echo "# host cap 100 W: $((pa / 1000)) mW + $((pb / 1000)) mW; quotas $(quota) and $(quota2)"
expect "under a 100 W host cap the two VMs together stay within 5 % of it" \
	python3 -c "import sys; sys.exit(0 if 90000000 <= $pa + $pb <= 105000000 else 1)"
expect "and share it equally (within 10 %)" \
	python3 -c "import sys; sys.exit(0 if abs($pa - 50000000) <= 5000000 and abs($pb - 50000000) <= 5000000 else 1)"
kill -TERM "$dpid"; wait "$dpid"; dpid=
expect "SIGTERM frees both" test "$(quota)" = -1 -a "$(quota2)" = -1

if [ "$failures" -ne 0 ]; then
	sed 's/^/#   /' "$tmp/daemon.log" | tail -20
	exit 1
fi
exit 0
