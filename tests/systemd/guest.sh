#!/usr/bin/env bash
# SPDX-License-Identifier: GPL-2.0-or-later
#
# In the test kernel, with systemd as PID 1 and the product installed by
# prepare.sh (meson install, shipped defaults): the real unit, started
# with systemctl, next to dbus.service with the shipped policy and
# libvirtd with one QEMU guest (TCG inside TCG: its "BIOS" spins one vCPU,
# so it burns CPU without booting).  Prints TAP, with the figures the
# issue asks for as comments: seconds from boot to READY, from the
# watchdog's stall to the restarted daemon, and what a reload changed.
#
# usage: guest.sh BUILD_DIR   (run by scripts/vmtest --systemd)
set -uo pipefail
build=${1:?usage: guest.sh BUILD_DIR}
src=$(cd "$(dirname "$0")/../.." && pwd)
# shellcheck source=tests/integration/tap.sh
source "$src/tests/integration/tap.sh"
n=0
check() { n=$((n + 1)); expect "$@"; }
comment() { echo "# $*"; }
uptime_s() { cut -d' ' -f1 /proc/uptime; }
# wait_for SECONDS COMMAND...: until COMMAND succeeds; status 1 at the deadline
wait_for() {
	local end=$(($(date +%s) + $1))
	shift
	until "$@"; do
		[ "$(date +%s)" -ge "$end" ] && return 1
		sleep 0.5
	done
}
main_pid() { systemctl show -p MainPID --value virtenergyd; }
ctl() { virtenergyctl "$@"; }
vm_energy_j() { # NAME: the VM's energy on D-Bus, as virtenergyctl lists it
	ctl --json list | python3 -c 'import json,sys; print(next(v["energy_j"] for v in json.load(sys.stdin) if v["name"] == sys.argv[1]))' "$1"
}
quota() { virsh -q schedinfo ve-spin | awk '/^vcpu_quota/ {print $3}'; }
unthrottled=17592186044415   # cgroup v2 "max" as libvirt reports it
dump() {
	comment "--- systemctl status virtenergyd"
	systemctl status --no-pager -l virtenergyd 2>&1 | sed 's/^/#   /'
	comment "--- journal of virtenergyd"
	journalctl -b --no-pager -u virtenergyd 2>&1 | tail -n 40 | sed 's/^/#   /'
}

comment "systemd $(systemctl --version | head -n1 | cut -d' ' -f2) as PID 1 ($(cat /proc/1/comm)), kernel $(uname -r), up $(uptime_s) s"

# ---- installed by meson install, found at boot --------------------------
check "the unit is installed under the default prefix and loaded from there" \
	[ "$(systemctl show -p FragmentPath --value virtenergyd)" = /usr/local/lib/systemd/system/virtenergyd.service ]
check "modules-load.d loaded virtenergy.ko at boot (systemd-modules-load: $(systemctl is-active systemd-modules-load))" \
	grep -q '^virtenergy ' /proc/modules
check "the D-Bus policy is where dbus-daemon reads it" [ -f /usr/share/dbus-1/system.d/org.virtenergy.Manager1.conf ]
check "tmpfiles.d: systemd-tmpfiles creates the run directory from the installed file" \
	systemd-tmpfiles --create /usr/local/lib/tmpfiles.d/virtenergy.conf
check "man pages are installed" [ -f /usr/local/share/man/man8/virtenergyd.8 ]

# ---- libvirtd under systemd, one QEMU guest -----------------------------
systemctl start libvirtd.service
check "libvirtd runs under systemd ($(systemctl is-active libvirtd))" systemctl -q is-active libvirtd
cat >/tmp/ve-spin.xml <<XML
<domain type='qemu'>
  <name>ve-spin</name>
  <memory unit='MiB'>16</memory>
  <vcpu>1</vcpu>
  <os><type arch='x86_64' machine='pc'>hvm</type><loader type='rom'>/var/lib/libvirt/images/virtenergy-spin.rom</loader></os>
  <metadata>
    <energy:energy xmlns:energy='http://virtenergy.org/xmlns/energy/1'><energy:power-limit>2 W</energy:power-limit></energy:energy>
  </metadata>
  <devices><emulator>/usr/bin/qemu-system-x86_64</emulator></devices>
</domain>
XML
virsh -q define /tmp/ve-spin.xml >/dev/null
check "a QEMU guest starts under libvirtd (2 W limit in its metadata)" virsh -q start ve-spin
comment "guest's QEMU: pid $(cat /run/libvirt/qemu/ve-spin.pid 2>/dev/null), cgroup $(cut -d: -f3 /proc/"$(cat /run/libvirt/qemu/ve-spin.pid 2>/dev/null)"/cgroup 2>/dev/null)"
quota0=$(quota)
comment "vcpu_quota before virtenergyd: $quota0"

# ---- systemctl start: READY (Type=notify) -------------------------------
t0=$(uptime_s)
systemctl start virtenergyd.service
rc=$?
t1=$(uptime_s)
check "systemctl start virtenergyd returns when READY=1 came (rc $rc, $(systemctl is-active virtenergyd))" \
	[ "$rc" -eq 0 ] && systemctl -q is-active virtenergyd
ready_us=$(systemctl show -p ActiveEnterTimestampMonotonic --value virtenergyd)
start_us=$(systemctl show -p ExecMainStartTimestampMonotonic --value virtenergyd)
user_us=$(systemctl show -p UserspaceTimestampMonotonic --value)
comment "FIGURE boot to READY: systemd started $(awk -v u="$user_us" 'BEGIN {printf "%.1f", u / 1e6}') s after the kernel (after prepare.sh: $(tail -n1 "$VMTEST_OUT/prepare.log")); READY at $(awk -v r="$ready_us" 'BEGIN {printf "%.1f", r / 1e6}') s, $(awk -v u="$user_us" -v r="$ready_us" 'BEGIN {printf "%.1f", (r - u) / 1e6}') s after systemd started (this test starts libvirtd and its guest first); exec to READY $(awk -v a="$start_us" -v r="$ready_us" 'BEGIN {printf "%.2f", (r - a) / 1e6}') s; systemctl start took $(awk -v a="$t0" -v b="$t1" 'BEGIN {printf "%.2f", b - a}') s"
status=$(systemctl show -p StatusText --value virtenergyd)
comment "STATUS=$status"
check "the sampler is the module inside the unit's sandbox (kmod:)" grep -q 'kmod:' <<<"$status"
pid=$(main_pid)

# ---- what it publishes --------------------------------------------------
prom=/var/lib/prometheus/node-exporter/virtenergy.prom
check "the Prometheus textfile appears where node_exporter reads it" wait_for 10 test -s "$prom"
check "... with the guest's energy" grep -q '^virtenergy_vm_energy_joules_total{.*name="ve-spin"' "$prom"
owner=$(busctl --system call org.freedesktop.DBus /org/freedesktop/DBus org.freedesktop.DBus GetNameOwner s org.virtenergy.Manager1 2>&1 | awk '{print $2}' | tr -d '"')
owner_pid=$(busctl --system call org.freedesktop.DBus /org/freedesktop/DBus org.freedesktop.DBus GetConnectionUnixProcessID s "$owner" 2>/dev/null | awk '{print $2}')
check "org.virtenergy.Manager1 is owned on the system bus by the unit's main process ($owner, pid ${owner_pid:-none} vs $pid)" \
	[ -n "$owner_pid" ] && [ "$owner_pid" = "$pid" ]
uuid=$(virsh -q domuuid ve-spin)
check "the guest's export directory is written inside the sandbox" wait_for 10 test -d "/run/virtenergy/guests/$uuid"
check "the vmsr helper socket listens, for QEMU's group (mode and group: $(stat -c '%a %G' /run/virtenergy/vmsr-helper.sock 2>&1))" \
	[ "$(stat -c '%a %G' /run/virtenergy/vmsr-helper.sock 2>/dev/null)" = "660 libvirt-qemu" ]

# ---- an unprivileged user: reads, cannot set ----------------------------
out=$(runuser -u nobody -- virtenergyctl status 2>&1)
check "an unprivileged user reads the status over the system bus" grep -q 'power' <<<"$out"
meta0=$(virsh -q metadata ve-spin http://virtenergy.org/xmlns/energy/1 2>&1 | tr -d ' \n')
out=$(runuser -u nobody -- virtenergyctl set-limit ve-spin 50W 2>&1)
rc=$?
comment "nobody: set-limit: rc $rc: $out"
check "an unprivileged user cannot set a limit" [ "$rc" -ne 0 ]
check "... and the metadata is unchanged" [ "$(virsh -q metadata ve-spin http://virtenergy.org/xmlns/energy/1 2>&1 | tr -d ' \n')" = "$meta0" ]

# ---- the limit is held; the journal knows the VM ------------------------
throttled() { local q; q=$(quota); [ -n "$q" ] && [ "$q" != "$unthrottled" ] && [ "$q" -gt 0 ]; }
check "the 2 W limit throttles the spinning guest (vcpu_quota $(wait_for 30 throttled; quota))" throttled
check "journalctl VM_NAME=ve-spin finds the VM's lines" \
	test "$(journalctl -b --no-pager -o cat VM_NAME=ve-spin | wc -l)" -gt 0
journalctl -b --no-pager -o cat VM_NAME=ve-spin | head -n 3 | sed 's/^/#   VM_NAME=ve-spin: /'

# ---- reload: configuration and limits reread, counters kept -------------
conf=/usr/local/etc/virtenergy/virtenergyd.conf
e0=$(vm_energy_j ve-spin)
# the shipped file sets host-cap=0W (none): change that line (a second one is refused)
sed -i 's/^host-cap=.*/host-cap=30W/' "$conf"
check "the installed configuration now sets the host cap once" [ "$(grep -c '^host-cap=' "$conf")" -eq 1 ] && grep -q '^host-cap=30W$' "$conf"
systemctl reload virtenergyd
check "systemctl reload: the same process goes on" wait_for 5 test "$(main_pid)" = "$pid"
check "... and it took the new host cap" wait_for 10 sh -c "journalctl -b --no-pager -o cat -u virtenergyd | grep -q 'host cap none -> 30.000 W'"
comment "FIGURE reload changed: $(journalctl -b --no-pager -o cat -u virtenergyd | grep 'configuration reloaded' | tail -n1)"
cap=$(busctl --system get-property org.virtenergy.Manager1 /org/virtenergy/Manager1 org.virtenergy.Manager1 HostCapW 2>&1)
check "... which D-Bus shows (HostCapW: $cap)" grep -q '^d 30' <<<"$cap"
kill -HUP "$pid"
check "SIGHUP rereads too and does not kill the daemon" wait_for 5 sh -c "[ \"\$(systemctl show -p MainPID --value virtenergyd)\" = $pid ] && [ \$(journalctl -b --no-pager -o cat -u virtenergyd | grep -c 'configuration reloaded') -ge 2 ]"
e1=$(vm_energy_j ve-spin)
check "no counter lost over the reloads (ve-spin $e0 J -> $e1 J)" awk -v a="$e0" -v b="$e1" 'BEGIN {exit !(b >= a && a > 0)}'

# ---- the watchdog: a stalled loop is restarted --------------------------
e0=$(vm_energy_j ve-spin)
ts=$(uptime_s)
kill -STOP "$pid"
restarted() { local p; p=$(main_pid); [ -n "$p" ] && [ "$p" != 0 ] && [ "$p" != "$pid" ] && systemctl -q is-active virtenergyd; }
check "after SIGSTOP the watchdog restarts the daemon" wait_for 60 restarted
te=$(uptime_s)
comment "FIGURE watchdog: restarted $(awk -v a="$ts" -v b="$te" 'BEGIN {printf "%.1f", b - a}') s after SIGSTOP (WatchdogSec=$(systemctl show -p WatchdogUSec --value virtenergyd), RestartSec=2s); NRestarts=$(systemctl show -p NRestarts --value virtenergyd)"
journalctl -b --no-pager -o cat -u virtenergyd | grep -iE 'watchdog' | tail -n 2 | sed 's/^/#   /'
pid=$(main_pid)
check "the restarted daemon is READY again on the bus" wait_for 20 sh -c 'virtenergyctl status >/dev/null 2>&1'
e1=$(vm_energy_j ve-spin)
check "its counters came back from the state file (ve-spin $e0 J -> $e1 J)" awk -v a="$e0" -v b="$e1" 'BEGIN {exit !(b >= a && a > 0)}'
check "the limit is held again after the restart (vcpu_quota $(wait_for 30 throttled; quota))" throttled

# ---- the module goes away: perf inside the sandbox (syscall filter) ----
rmmod virtenergy
# the kmod sampler continues every watch with perf_event_open and says so
sampler_is_perf() { systemctl show -p StatusText --value virtenergyd | grep -q 'fallback: virtenergy.ko went away'; }
check "with virtenergy.ko unloaded the daemon falls back to perf inside the sandbox" wait_for 20 sampler_is_perf
comment "STATUS=$(systemctl show -p StatusText --value virtenergyd)"
e0=$(vm_energy_j ve-spin)
sleep 3
e1=$(vm_energy_j ve-spin)
check "... and the guest's energy still grows ($e0 J -> $e1 J)" awk -v a="$e0" -v b="$e1" 'BEGIN {exit !(b > a)}'
check "... with no perf_event_open refused by the unit's filter" \
	sh -c "! journalctl -b --no-pager -o cat -u virtenergyd | grep -qiE 'perf_event_open.*(not permitted|EPERM)|Operation not permitted'"

# ---- stop: every throttle restored ---------------------------------------
systemctl stop virtenergyd
check "systemctl stop: inactive ($(systemctl is-active virtenergyd))" [ "$(systemctl is-active virtenergyd)" = inactive ]
check "systemctl stop restores the guest's CPU bandwidth (vcpu_quota $(quota), was $quota0)" [ "$(quota)" = "$quota0" ]
check "no throttle record is left" [ ! -s /var/lib/virtenergy/cpubw ]

# ---- a configuration that does not load: failed, not restarted in a loop --
cp "$conf" /tmp/ve-good.conf
n0=$(systemctl show -p NRestarts --value virtenergyd)
printf '\n[limits]\nhost-cap=40W\n' >>"$conf"
systemctl start virtenergyd 2>/dev/null
wait_for 10 sh -c '[ "$(systemctl is-active virtenergyd)" = failed ]'
sleep 3
check "a configuration with host-cap set twice fails the unit (exit 2) without restarts (NRestarts before: $n0; $(systemctl is-active virtenergyd), NRestarts=$(systemctl show -p NRestarts --value virtenergyd), $(systemctl show -p ExecMainStatus --value virtenergyd))" \
	[ "$(systemctl is-active virtenergyd)" = failed ] && [ "$(systemctl show -p ExecMainStatus --value virtenergyd)" = 2 ] &&
	[ "$(systemctl show -p NRestarts --value virtenergyd)" -le "$n0" ]
check "... and the journal names both lines" sh -c "journalctl -b --no-pager -o cat -u virtenergyd | grep -q \"'host-cap' in \\[limits\\] is set twice\""
cp /tmp/ve-good.conf "$conf"
systemctl reset-failed virtenergyd

# ---- systemd-analyze security --------------------------------------------
score=$(systemd-analyze security --no-pager virtenergyd.service 2>&1 | tail -n 1)
comment "FIGURE systemd-analyze security: $score"
check "systemd-analyze security rates the unit" grep -q 'Overall exposure level' <<<"$score"

virsh -q destroy ve-spin >/dev/null 2>&1
[ "$failures" -eq 0 ] || dump
echo "1..$n"
[ "$failures" -eq 0 ]
