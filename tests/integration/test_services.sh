#!/usr/bin/env bash
# SPDX-License-Identifier: GPL-2.0-or-later
#
# Shared services in the running daemon, for real: two TCG guests whose
# virtio disks are NBD exports of one qemu-storage-daemon ("front"), which
# serves them from exports of a second one ("back") — a chain of two
# services — and a third declared service with no clients that burns a
# little CPU ("spinner").  From one moment on, both guests write 64 KiB
# blocks with O_DIRECT without pause, 60 MiB and 20 MiB, which front's
# throttle groups pace at 3 and 1 MiB/s: 3:1 in bytes and in every period
# (bursts of one client against another's idle would give a service's
# per-wake-up cost to whoever woke it), then stop.  Checked:
#   - the daemon finds each guest's disk served by "front" over its socket;
#   - Σ accounts = measured energy in every state file written meanwhile;
#   - the services' energy reaches the guests in the ratio of their bytes,
#     within 10 % of 3, and of what libvirt counted;
#   - the chain: "back"'s energy reaches the guests through "front";
#   - idle services: their energy goes to the host as service-no-clients,
#     none to the guests;
#   - a restart keeps the service counters;
#   - bad service configuration stops the daemon with the key named;
#   - the service metrics in the Prometheus textfile.
#
# usage: test_services.sh BUILD_DIR     (meson test --suite integration; root)
set -uo pipefail

here=$(cd "$(dirname "$0")" && pwd)
build=${1:-$here/../../build}
daemon=$build/daemon/virtenergyd
vestate="python3 $here/vestate.py"
qsd=/usr/bin/qemu-storage-daemon
g1="vetest-$$-svc1"
g2="vetest-$$-svc2"
pids=()

# shellcheck source=tests/integration/guests.sh
source "$here/guests.sh"
# shellcheck source=tests/integration/tap.sh
source "$here/tap.sh"
guests_test_env services || exit 1
# guests_test_env's trap, and our own processes
# back's own blkio cgroup (cgroup v1 here), so that its block I/O is its own
backcg=/sys/fs/cgroup/blkio/vetest-$$-back
# the guests' interfaces are on this bridge, which service tap watches
br=vebr$$ net=10.231.7
trap 'for p in "${pids[@]}"; do kill "$p" 2>/dev/null; done; sleep 0.2; rmdir "$backcg" 2>/dev/null; guests__test_cleanup; ip link del "$br" 2>/dev/null' EXIT

if [ "$(id -u)" -ne 0 ]; then echo "SKIP: needs root"; exit 77; fi
[ -x "$qsd" ] || { echo "not ok - no $qsd (qemu-system-common)"; exit 1; }
guests_up || { echo "SKIP: libvirtd cannot be started here"; exit 77; }

st() { $vestate "$tmp/state/state" get "$@"; }
wait_file() { # PATH SECONDS
	local i
	for i in $(seq 1 $(($2 * 5))); do [ -e "$1" ] && return 0; sleep 0.2; done
	echo "# $1 did not appear within $2 s"
	return 1
}
wait_console() { # NAME TEXT SECONDS
	local i
	for i in $(seq 1 $(($3 * 5))); do
		grep -q "$2" "$tmp/$1.console" 2>/dev/null && return 0
		sleep 0.2
	done
	echo "# $1 did not print '$2' within $3 s"
	return 1
}
start_daemon() {
	"$daemon" --config "$tmp/ve.conf" --foreground >>"$tmp/daemon.log" 2>&1 &
	dpid=$!
}
# counters at one moment, as shell assignments (one read of the state file and its journal)
snapshot() { # PREFIX
	python3 - "$tmp/state/state" "$1" "$u1" "$u2" "$here" <<'PY'
import sys
sys.path.insert(0, sys.argv[5])
import vestate
cp = vestate.load(sys.argv[1])   # the state file and its journal
p, u1, u2 = sys.argv[2:5]
g = lambda s, k: int(cp[s][k]) if cp.has_option(s, k) else 0
print(f"{p}_v1={g('vm:' + u1, 'comp.service')} {p}_v2={g('vm:' + u2, 'comp.service')}",
      f"{p}_front={g('service:front', 'passed_on_uj')} {p}_back={g('service:back', 'passed_on_uj')}",
      f"{p}_spin={g('service:spinner', 'passed_on_uj')} {p}_tap={g('service:tap', 'passed_on_uj')}",
      f"{p}_nocl={g('virtenergy', 'reason.service-no-clients')}")
PY
}
bytes_of() { # GUEST: bytes libvirt counted on its vda
	virsh -q domblkstat "$1" vda | awk '/rd_bytes|wr_bytes/ {s += $3} END {print s + 0}'
}
nic_of() { # GUEST: its interface's target dev in the live XML
	virsh -q domiflist "$1" | awk 'NR == 1 {print $1}'
}
net_bytes_of() { # GUEST: bytes libvirt counted on its interface, received and sent
	virsh -q domifstat "$1" "$(nic_of "$1")" | awk '/rx_bytes|tx_bytes/ {s += $3} END {print s + 0}'
}
ratio_within() { # A B WANT TOLERANCE: A/B within TOLERANCE (fraction) of WANT
	python3 -c "import sys; a, b, w, t = map(float, sys.argv[1:]); sys.exit(0 if b > 0 and abs(a / b - w) <= t * w else 1)" "$@"
}

# ---- the services -------------------------------------------------------
truncate -s 64M "$tmp/b1.raw" "$tmp/b2.raw"
"$qsd" --blockdev "driver=file,node-name=f1,filename=$tmp/b1.raw" \
	--blockdev "driver=file,node-name=f2,filename=$tmp/b2.raw" \
	--nbd-server "addr.type=unix,addr.path=$tmp/back.sock" \
	--export type=nbd,id=x1,node-name=f1,name=b1,writable=on \
	--export type=nbd,id=x2,node-name=f2,name=b2,writable=on \
	--pidfile "$tmp/back.pid" 2>>"$tmp/qsd.log" &
pids+=($!)
wait_file "$tmp/back.sock" 10 || not_ok "qemu-storage-daemon (back) listens"
mkdir -p "$backcg" && echo "$(cat "$tmp/back.pid")" >"$backcg/cgroup.procs" ||
	not_ok "back in a blkio cgroup of its own"
"$qsd" --blockdev "driver=nbd,node-name=n1,server.type=unix,server.path=$tmp/back.sock,export=b1" \
	--blockdev "driver=nbd,node-name=n2,server.type=unix,server.path=$tmp/back.sock,export=b2" \
	--object throttle-group,id=t1,limits.bps-write=3145728 \
	--object throttle-group,id=t2,limits.bps-write=1048576 \
	--blockdev driver=throttle,node-name=h1,throttle-group=t1,file=n1 \
	--blockdev driver=throttle,node-name=h2,throttle-group=t2,file=n2 \
	--nbd-server "addr.type=unix,addr.path=$tmp/front.sock" \
	--export type=nbd,id=y1,node-name=h1,name=g1,writable=on \
	--export type=nbd,id=y2,node-name=h2,name=g2,writable=on \
	--pidfile "$tmp/front.pid" 2>>"$tmp/qsd.log" &
pids+=($!)
wait_file "$tmp/front.sock" 10 || not_ok "qemu-storage-daemon (front) listens"
chmod 777 "$tmp/front.sock"   # QEMU runs as libvirt-qemu
# a service on the bridge: it reads every frame there and hashes it (a
# flow monitor, an intrusion detector), so its work follows the bytes
# (IPv4 only: IPv6's solicitations would be traffic of the guests' when they are idle)
# (its address only once the disks are done: the guests ping from when it answers)
ip link add "$br" type bridge && echo 1 >"/proc/sys/net/ipv6/conf/$br/disable_ipv6" &&
	ip link set "$br" up || not_ok "bridge $br"
python3 -c '
import hashlib, socket, sys
s = socket.socket(socket.AF_PACKET, socket.SOCK_RAW, socket.htons(3))
s.bind((sys.argv[1], 0))
while True:
    frame = s.recv(65535)
    for _ in range(50):
        hashlib.sha256(frame).digest()
' "$br" &
pids+=($!)
echo $! >"$tmp/tap.pid"
# a service nobody uses, busy a little
sh -c 'while :; do i=0; while [ $i -lt 3000 ]; do i=$((i + 1)); done; sleep 0.2; done' &
pids+=($!)
echo $! >"$tmp/spin.pid"

cat >"$tmp/ve.conf" <<EOF
[daemon]
period-ms=100
retain-undefined-hours=0
state-dir=$tmp/state
state-interval-ms=100
[guests]
export-dir=
vmsr-socket=
[prometheus]
textfile=$tmp/prom/virtenergy.prom
[dbus]
bus=session
[service front]
pidfile=$tmp/front.pid
uses=back
[service back]
pidfile=$tmp/back.pid
[service spinner]
pidfile=$tmp/spin.pid
[service tap]
pidfile=$tmp/tap.pid
bridges=$br
EOF
mkdir -p "$tmp/prom"
# a bus of the test's own for the D-Bus checks
eval "$(dbus-daemon --session --fork --print-address=1 --print-pid=1 | { read -r a; read -r p; echo "export DBUS_SESSION_BUS_ADDRESS='$a'; busp=$p"; })"
pids+=("$busp")
ctl="$build/daemon/virtenergyctl --bus session"

# ---- bad configuration: refused, the key named --------------------------
printf '[dbus]\nbus=none\n[service broken]\nexe=/usr/bin/x\npidfile=/run/x.pid\n' >"$tmp/bad.conf"
out=$("$daemon" --config "$tmp/bad.conf" --foreground 2>&1 </dev/null & bp=$!; sleep 3; kill "$bp" 2>/dev/null; wait "$bp"; echo "rc=$?")
echo "$out" | sed 's/^/# /' | tail -n 3
expect "two ways to find a service: the daemon does not start, and says which keys" \
	sh -c 'echo "$1" | grep -q "\[service broken\] exe and pidfile" && ! echo "$1" | grep -q "rc=143"' _ "$out"
printf '[dbus]\nbus=none\n[service a]\nexe=/usr/bin/x\nuses=nobody\n' >"$tmp/bad.conf"
out=$("$daemon" --config "$tmp/bad.conf" --foreground 2>&1 </dev/null & bp=$!; sleep 3; kill "$bp" 2>/dev/null; wait "$bp"; echo "rc=$?")
expect "a use of an undeclared service is refused, naming it" \
	sh -c 'echo "$1" | grep -q "\[service a\] uses: .nobody. is not a service declared" && ! echo "$1" | grep -q "rc=143"' _ "$out"

# ---- the guests ----------------------------------------------------------
at=$(($(date +%s) + 90))   # both write from then on: TCG boots take 10-60 s here
# then, once both are done writing and the bridge has its address (below),
# pings 3:1 in bytes for 14 s (1400 and 400 bytes at the same rate: faster
# than about 6 a second, a TCG guest's pings come in bursts)
netat=0
GUESTS_CMDLINE="ve.io=16 ve.secs=60 ve.gap=0 ve.at=$at ve.net=$net.11,$net.1,0.15,$netat,14,1400" \
	guests_define "$g1" io || not_ok "define $g1"
GUESTS_CMDLINE="ve.io=16 ve.secs=20 ve.gap=0 ve.at=$at ve.net=$net.12,$net.1,0.15,$netat,14,400" \
	guests_define "$g2" io || not_ok "define $g2"
guests_add_nbd_disk "$g1" "$tmp/front.sock" g1 || not_ok "$g1's NBD disk"
guests_add_nbd_disk "$g2" "$tmp/front.sock" g2 || not_ok "$g2's NBD disk"
guests_add_bridge_nic "$g1" "$br" || not_ok "$g1's interface on $br"
guests_add_bridge_nic "$g2" "$br" || not_ok "$g2's interface on $br"
start_daemon
# the ObjectManager's signals while the guests come and one goes
gdbus monitor --session --dest org.virtenergy.Manager1 --object-path /org/virtenergy >"$tmp/monitor.log" 2>&1 &
pids+=($!)
expect "start $g1 (NBD disk from front)" guests_start "$g1"
expect "start $g2 (NBD disk from front)" guests_start "$g2"
u1=$(guests_uuid "$g1")
u2=$(guests_uuid "$g2")
# everything counts from 0: a fresh state directory, guests started after the daemon
a_v1=0 a_v2=0 a_front=0 a_back=0 a_spin=0 a_tap=0 a_nocl=0 b1_0=0 b2_0=0
expect "$g1 boots and waits" wait_console "$g1" "VE-IO wait" 90
expect "$g2 boots and waits" wait_console "$g2" "VE-IO wait" 90
expect "both booted before the time they start writing" test "$(date +%s)" -lt "$at"
expect "$g1 starts writing" wait_console "$g1" "VE-IO start" 90
expect "$g2 starts writing" wait_console "$g2" "VE-IO start" 30
expect "the daemon says front serves $g1's disk" \
	grep -q "VM '$g1': disk vda (nbd, $tmp/front.sock) is served by service 'front'" "$tmp/daemon.log"
expect "and $g2's" grep -q "VM '$g2': disk vda (nbd, $tmp/front.sock) is served by service 'front'" "$tmp/daemon.log"

# both writing: from 3 s on until the first is done, a window with both at 3:1
sleep 3
eval "$(snapshot w)"
w1=$(bytes_of "$g1"); w2=$(bytes_of "$g2")
m1=
# Σ accounts = energy in every state file written while they write
bad=0 seen=0 until=$(($(date +%s) + 150))
while ! grep -q "VE-IO done" "$tmp/$g1.console" || ! grep -q "VE-IO done" "$tmp/$g2.console"; do
	if [ -z "$m1" ] && grep -q "VE-IO done" "$tmp/$g1.console" "$tmp/$g2.console"; then
		eval "$(snapshot m)"
		m1=$(bytes_of "$g1"); m2=$(bytes_of "$g2")
	fi
	[ -f "$tmp/state/state" ] || continue
	why=$($vestate "$tmp/state/state" conserved) || { bad=$((bad + 1)); echo "# $why"; }
	seen=$((seen + 1))
	[ "$(date +%s)" -lt "$until" ] || { echo "# the guests did not finish writing within 150 s"; break; }
	sleep 0.3
done
echo "# $seen state files read while the guests wrote, $bad not adding up"
expect "Σ accounts = measured energy in each of them" test "$seen" -gt 5 -a "$bad" -eq 0
sleep 2
eval "$(snapshot b)"
b1=$(($(bytes_of "$g1") - b1_0)); b2=$(($(bytes_of "$g2") - b2_0))
d1=$((b_v1 - a_v1)); d2=$((b_v2 - a_v2))
df=$((b_front - a_front)); db=$((b_back - a_back)); ds=$((b_spin - a_spin)); dn=$((b_nocl - a_nocl))
dt=$((b_tap - a_tap))
[ -n "$m1" ] || { eval "$(snapshot m)"; m1=$b1; m2=$b2; }
x1=$((m1 - w1)); x2=$((m2 - w2)); e1=$((m_v1 - w_v1)); e2=$((m_v2 - w_v2))
echo "# in all: $g1 $b1 bytes, service $d1 uJ; $g2 $b2 bytes, service $d2 uJ"
echo "# both writing: $g1 $x1 bytes, service $e1 uJ; $g2 $x2 bytes, service $e2 uJ"
echo "# services: front $df uJ, back $db uJ, spinner $ds uJ, tap $dt uJ; to the host as service-no-clients $dn uJ"
expect "the guests wrote 3:1 in bytes as libvirt counts them (within 10 %)" ratio_within "$b1" "$b2" 3 0.10
# (a client alone costs a service more per byte, its wake-ups not shared: the
# whole run's ratio is printed above, the check is on the time both wrote)
expect "while both wrote, the services' energy reached them in the ratio of their bytes (within 10 %)" \
	ratio_within "$e1" "$e2" "$(python3 -c "print($x1 / max($x2, 1))")" 0.10
# what front and back spent: to the guests, or to the host when a period had no client bytes
lost=$((dn - ds))
# back's own block I/O: this host's blkio (v1) counts nothing (its
# io_service_bytes stay 0, O_DIRECT or not), so only where it comes from
# is checked here; tests/kmod/daemon_io.sh checks the energy in the test
# kernel, from the module and from io.stat
expect "the daemon says where back's block I/O comes from" \
	grep -q "service 'back': its own block I/O from $backcg (cgroup statistics)" "$tmp/daemon.log"
expect "and that front's stays the host's (the root cgroup, or one it shares with the test)" \
	grep -q "service 'front': its own block I/O stays the host's: " "$tmp/daemon.log"
expect "the chain: back's energy reaches the guests through front (guests got more than front spent)" \
	test "$db" -gt 0 -a "$((d1 + d2))" -gt "$df"
expect "every µJ the services spent went to a guest or to the host (±1 µJ a period)" \
	python3 -c "import sys; a, b = $((d1 + d2 + dn)), $((df + db + ds + dt)); sys.exit(0 if b > 0 and abs(a - b) <= 4 * 400 else 1)"
echo "# front and back lost $lost uJ to periods without client bytes"

# ---- the bridge: tap's energy to the guests by their interface bytes ---------
expect "the daemon says tap serves $g1's interface" \
	grep -q "VM '$g1': interface $(nic_of "$g1") (bridge, $br) is served by service 'tap'" "$tmp/daemon.log"
expect "and $g2's" grep -q "VM '$g2': interface $(nic_of "$g2") (bridge, $br) is served by service 'tap'" "$tmp/daemon.log"
ip addr add "$net.1/24" dev "$br" || not_ok "$br's address"
expect "$g1 starts pinging" wait_console "$g1" "VE-NET start" 30
expect "$g2 starts pinging" wait_console "$g2" "VE-NET start" 30
# the disks are idle now: front's and back's energy goes to the host, the guests' service component is tap's
sleep 2
eval "$(snapshot p)"
p1=$(net_bytes_of "$g1"); p2=$(net_bytes_of "$g2")
sleep 10
eval "$(snapshot q)"
q1=$(net_bytes_of "$g1"); q2=$(net_bytes_of "$g2")
n1=$((q1 - p1)); n2=$((q2 - p2)); f1=$((q_v1 - p_v1)); f2=$((q_v2 - p_v2))
echo "# pinging: $g1 $n1 bytes, service $f1 uJ; $g2 $n2 bytes, service $f2 uJ; tap passed on $((q_tap - p_tap)) uJ"
echo "# FIGURE tap's energy to the guests by interface bytes: $(python3 -c "print(f'{$f1 / max($f2, 1):.2f}')"):1 for $(python3 -c "print(f'{$n1 / max($n2, 1):.2f}')"):1 bytes"
expect "the guests sent and received about 3:1 in bytes as libvirt counts them (2 to 4)" \
	python3 -c "import sys; sys.exit(0 if $n2 > 0 and 2 <= $n1 / $n2 <= 4 else 1)"
expect "tap's energy reached them in the ratio of their interface bytes (within 10 %)" \
	ratio_within "$f1" "$f2" "$(python3 -c "print($n1 / max($n2, 1))")" 0.10
expect "$g1 stops pinging" wait_console "$g1" "VE-NET done" 30
expect "$g2 stops pinging" wait_console "$g2" "VE-NET done" 30

# ---- idle: every service's energy to the host, with its reason ----------
sleep 2
eval "$(snapshot c)"
sleep 5
eval "$(snapshot d)"
echo "# idle 5 s: guests +$((d_v1 - c_v1)) / +$((d_v2 - c_v2)) uJ; services +$((d_front - c_front + d_back - c_back + d_spin - c_spin + d_tap - c_tap)) uJ; service-no-clients +$((d_nocl - c_nocl)) uJ"
expect "idle services charge the guests nothing" test "$((d_v1 - c_v1 + d_v2 - c_v2))" -eq 0
expect "their energy goes to the host as service-no-clients (±1 µJ a period)" \
	python3 -c "import sys; a, b = $((d_nocl - c_nocl)), $((d_front - c_front + d_back - c_back + d_spin - c_spin + d_tap - c_tap)); sys.exit(0 if b > 0 and abs(a - b) <= 4 * 100 else 1)"

# ---- D-Bus and virtenergyctl ---------------------------------------------
out=$($ctl status 2>&1)
echo "$out" | grep '^service:' | sed 's/^/# /'
expect "virtenergyctl status shows each service" \
	sh -c 'echo "$1" | grep -q "^service:      front .* for its clients, [0-9]* threads" && echo "$1" | grep -q "^service:      spinner "' _ "$out"
expect "virtenergyctl --json status: the services as objects" \
	sh -c "$ctl --json status | python3 -c 'import json, sys; s = {x[\"name\"]: x for x in json.load(sys.stdin)[\"services\"]}; sys.exit(0 if s[\"back\"][\"energy_j\"] > 0 and s[\"front\"][\"threads\"] > 0 and s[\"front\"][\"problem\"] is None else 1)'"
expect "a guest's service component over D-Bus (virtenergyctl --json show)" \
	sh -c "$ctl --json show '$g1' | python3 -c 'import json, sys; d = json.load(sys.stdin); sys.exit(0 if d[\"component_energy_j\"][\"service\"] > 0 else 1)'"

# ---- Prometheus ----------------------------------------------------------
prom=$tmp/prom/virtenergy.prom
expect "the textfile has each service's energy" \
	grep -q '^virtenergy_service_energy_joules_total{service="back"} ' "$prom"
expect "and the guests' service component" \
	grep -q "^virtenergy_vm_energy_joules_total{uuid=\"$u1\",name=\"$g1\",component=\"service\"} " "$prom"
out=$(promtool check metrics <"$prom" 2>&1)
expect "promtool check metrics accepts it, with nothing to say${out:+ (it said: $out)}" test -z "$out"

# ---- restart -------------------------------------------------------------
kill -TERM "$dpid"; wait "$dpid"; dpid=
before=$(st service:front passed_on_uj)
start_daemon
sleep 3
after=$(st service:front passed_on_uj)
echo "# front passed on $before uJ before the restart, $after after"
expect "a restarted daemon keeps the service counters" test "$after" -ge "$before" -a "$before" -gt 0

# ---- VM objects on D-Bus: one per VM, added and removed --------------------
path2=/org/virtenergy/vm/${u2//-/_}
objects() { gdbus call --session -d org.virtenergy.Manager1 -o /org/virtenergy \
	-m org.freedesktop.DBus.ObjectManager.GetManagedObjects; }
expect "GetManagedObjects has an object for each guest" \
	sh -c "out=\$(gdbus call --session -d org.virtenergy.Manager1 -o /org/virtenergy -m org.freedesktop.DBus.ObjectManager.GetManagedObjects) && echo \"\$out\" | grep -q '${path2}' && echo \"\$out\" | grep -q '/org/virtenergy/vm/${u1//-/_}'"
tree=$(busctl --address="$DBUS_SESSION_BUS_ADDRESS" tree --list org.virtenergy.Manager1 2>&1)
expect "busctl shows one object per guest under /org/virtenergy/vm" \
	sh -c 'test "$(echo "$1" | grep -cx "/org/virtenergy/vm/$2")" -eq 1 && test "$(echo "$1" | grep -cx "/org/virtenergy/vm/$3")" -eq 1' \
	_ "$tree" "${u1//-/_}" "${u2//-/_}"
expect "InterfacesAdded was signalled for $g2" sh -c 'grep InterfacesAdded "$1" | grep -q "$2"' _ "$tmp/monitor.log" "$path2"
virsh -q destroy "$g2" >/dev/null 2>&1
virsh -q undefine "$g2" >/dev/null 2>&1
gone=1
for _ in $(seq 1 50); do objects | grep -q "$path2" || { gone=0; break; }; sleep 0.2; done
expect "$g2 destroyed and undefined (retain-undefined-hours=0): its object is gone" test "$gone" -eq 0
expect "with InterfacesRemoved" sh -c 'grep InterfacesRemoved "$1" | grep -q "$2"' _ "$tmp/monitor.log" "$path2"

kill -TERM "$dpid"; wait "$dpid"; dpid=
echo "# daemon log:"; grep -E "service|error" "$tmp/daemon.log" | sed 's/^/#   /' | tail -n 12
if [ "$failures" -ne 0 ]; then
	sed 's/^/#   /' "$tmp/daemon.log" | grep -v '^#   *[0-9a-f-]\{36\}' | tail -20
	exit 1
fi
exit 0
