#!/usr/bin/env bash
# SPDX-License-Identifier: GPL-2.0-or-later
#
# A fleet host as installed, under a real systemd (run.sh BUILD_DIR fleet):
# etcd (Debian's etcd-server) runs inside the test kernel on loopback as a
# transient unit, the installed virtenergyd.service gets a [fleet]
# configuration, and the checks go over the real system bus
# (virtenergyctl fleet, D-Bus FleetCapW and FleetSource):
#   - as shipped (no IP: RestrictAddressFamilies=AF_UNIX AF_NETLINK,
#     IPAddressDeny=any) the daemon cannot reach etcd and takes no fleet
#     cap; with AF_INET allowed but IPAddressDeny=any kept, neither: both
#     lines of the drop-in are needed;
#   - with the drop-in of the unit's comment (AF_INET AF_INET6, empty
#     IPAddressDeny=, IPAddressAllow= etcd's network) it registers, leads
#     (the only host) and takes its cap from the controller: source fleet,
#     the rack's budget;
#   - etcd stopped (systemctl stop): the host is at its fallback (source
#     fallback, [fleet] fallback-cap) within one TTL; etcd back: it rejoins.
# Prints TAP, with the fallback time as a FIGURE comment.  No libvirtd (its
# units are masked: the fleet does not need a guest, guest.sh has one)
# and no module (the sampler falls back to perf).
#
# usage: guest-fleet.sh BUILD_DIR   (run by scripts/vmtest --systemd)
set -uo pipefail
: "${1:?usage: guest-fleet.sh BUILD_DIR}"
src=$(cd "$(dirname "$0")/../.." && pwd)
# shellcheck source=tests/integration/tap.sh
source "$src/tests/integration/tap.sh"
n=0
check() { n=$((n + 1)); expect "$@"; }
comment() { echo "# $*"; }
uptime_s() { cut -d' ' -f1 /proc/uptime; }
wait_for() { # SECONDS COMMAND...: until COMMAND succeeds, every 0.2 s; status 1 at the deadline
	local end
	end=$(awk -v a="$(uptime_s)" -v s="$1" 'BEGIN {print a + s}')
	shift
	until "$@"; do
		awk -v a="$(uptime_s)" -v e="$end" 'BEGIN {exit !(a >= e)}' && return 1
		sleep 0.2
	done
}
prop() { # NAME: the Manager1 property's value as busctl prints it, "" when the daemon does not answer
	busctl --system get-property org.virtenergy.Manager1 /org/virtenergy/Manager1 org.virtenergy.Manager1 "$1" 2>/dev/null
}
source_is() { [ "$(prop FleetSource)" = "s \"$1\"" ]; }
cap_w() { prop FleetCapW | awk '$1 == "d" {print $2}'; }
cap_is() { awk -v c="$(cap_w)" -v w="$1" 'BEGIN {exit !(c != "" && c - w < 0.01 && w - c < 0.01)}'; }
journal() { journalctl -b --no-pager -o cat -u virtenergyd; }
dump() {
	comment "--- systemctl status virtenergyd ve-etcd"
	systemctl status --no-pager -l virtenergyd ve-etcd 2>&1 | sed 's/^/#   /'
	comment "--- journal of virtenergyd"
	journal 2>&1 | tail -n 40 | sed 's/^/#   /'
}

HOST=fleet-1 PREFIX=/virtenergy/fleet TTL=6 BUDGET=15 FALLBACK=5
ETCD=http://127.0.0.1:2379
conf=/usr/local/etc/virtenergy/virtenergyd.conf
dropin=/etc/systemd/system/virtenergyd.service.d/fleet.conf
comment "systemd $(systemctl --version | head -n1 | cut -d' ' -f2) as PID 1, kernel $(uname -r), etcd $(etcd --version | head -n1 | awk '{print $3}')"

# ---- etcd on loopback, under systemd ------------------------------------
systemctl mask --runtime --now libvirtd.service libvirtd.socket libvirtd-ro.socket libvirtd-admin.socket \
	virtqemud.service virtqemud.socket >/dev/null 2>&1
# a unit file rather than systemd-run: a transient unit is gone once stopped
cat >/run/systemd/system/ve-etcd.service <<UNIT
[Unit]
Description=etcd for the fleet test, on loopback
[Service]
ExecStart=/usr/bin/etcd --name ve --data-dir /var/lib/ve-etcd --listen-client-urls $ETCD --advertise-client-urls $ETCD --listen-peer-urls http://127.0.0.1:2380 --initial-advertise-peer-urls http://127.0.0.1:2380 --initial-cluster ve=http://127.0.0.1:2380 --log-level warn
UNIT
systemctl daemon-reload
systemctl start ve-etcd.service
etcd_up() { ETCDCTL_API=3 etcdctl --endpoints="$ETCD" endpoint health >/dev/null 2>&1; }
check "etcd runs on loopback under systemd ($(systemctl is-active ve-etcd))" wait_for 60 etcd_up
ETCDCTL_API=3 etcdctl --endpoints="$ETCD" put "$PREFIX/tree" "{\"rack\": {\"budget_w\": $BUDGET}}" >/dev/null
check "the tree is in etcd (rack: $BUDGET W)" \
	sh -c "ETCDCTL_API=3 etcdctl --endpoints=$ETCD get --print-value-only $PREFIX/tree | grep -q budget_w"

# ---- the installed configuration, with [fleet] ---------------------------
# the shipped file has a [fleet] group with every key commented out: set
# them there (a second [fleet] group or key is refused)
sed -i "/^\[fleet\]/a endpoints=$ETCD\nhost=$HOST\npath=rack\nttl-s=$TTL\nperiod-ms=1000\nfallback-cap=${FALLBACK}W\nfloor=10W" "$conf"
sed -i 's/^idle-power=.*/idle-power=20W/' "$conf"
comment "[fleet] in $conf: $(sed -n '/^\[fleet\]/,/^\[/p' "$conf" | grep -v '^#' | grep . | tr '\n' ' ')"

# ---- as shipped: no IP, so no etcd ----------------------------------------
start_unit() { systemctl daemon-reload && systemctl start virtenergyd.service; }
no_fleet_for() { # SECONDS: the daemon answers on the bus and holds no fleet cap that long
	local end
	end=$(awk -v a="$(uptime_s)" -v s="$1" 'BEGIN {print a + s}')
	while awk -v a="$(uptime_s)" -v e="$end" 'BEGIN {exit !(a < e)}'; do
		source_is fleet && return 1
		sleep 0.5
	done
	[ -n "$(prop FleetSource)" ]
}
start_unit
check "the shipped unit starts with [fleet] set (no drop-in; $(systemctl is-active virtenergyd))" \
	systemctl -q is-active virtenergyd
check "... and takes no fleet cap in 2 TTL (FleetSource $(prop FleetSource))" no_fleet_for $((2 * TTL))
why=$(journal | grep -m1 'cannot reach etcd' | sed 's/.*cannot reach etcd to register: //')
check "... the journal says it cannot reach etcd: ${why:-nothing}" [ -n "$why" ]
check "... and etcd has no report of it" \
	sh -c "! ETCDCTL_API=3 etcdctl --endpoints=$ETCD get --keys-only $PREFIX/hosts/$HOST | grep -q ."
systemctl stop virtenergyd.service

mkdir -p "${dropin%/*}"
printf '[Service]\nRestrictAddressFamilies=AF_UNIX AF_NETLINK AF_INET AF_INET6\n' >"$dropin"
start_unit
check "with AF_INET allowed but IPAddressDeny=any kept: still no fleet cap in 2 TTL (FleetSource $(prop FleetSource))" \
	no_fleet_for $((2 * TTL))
why=$(journal | grep 'cannot reach etcd' | tail -n1 | sed 's/.*cannot reach etcd to register: //')
comment "its journal: cannot reach etcd to register: ${why:-nothing}"
systemctl stop virtenergyd.service

# ---- the drop-in of the unit's comment ------------------------------------
printf '[Service]\nRestrictAddressFamilies=AF_UNIX AF_NETLINK AF_INET AF_INET6\nIPAddressDeny=\nIPAddressAllow=127.0.0.0/8\n' >"$dropin"
start_unit
check "with the drop-in (AF_INET AF_INET6, IPAddressDeny= empty, IPAddressAllow=127.0.0.0/8): active, IPAddressDeny now '$(systemctl show -p IPAddressDeny --value virtenergyd)'" \
	systemctl -q is-active virtenergyd
t0=$(uptime_s)
check "it takes its cap from the controller: FleetSource fleet" wait_for 60 source_is fleet
t1=$(uptime_s)
wait_for 30 cap_is "$BUDGET"
t2=$(uptime_s)
check "... at the rack's budget: FleetCapW $(cap_w) W (budget $BUDGET W)" cap_is "$BUDGET"
comment "FIGURE a fleet cap $(awk -v a="$t0" -v b="$t1" 'BEGIN {printf "%.1f", b - a}') s after systemctl start, the rack's budget $(awk -v a="$t0" -v b="$t2" 'BEGIN {printf "%.1f", b - a}') s after (a new controller raises no cap above a fallback for one TTL and a period)"
out=$(virtenergyctl fleet 2>&1)
printf '%s\n' "$out" | sed 's/^/#   /'
leads() { grep -q "leader: $HOST" <<<"$out" && grep -q 'rack' <<<"$out"; }
check "virtenergyctl fleet: this host leads, the tree has its rack" leads
json=$(virtenergyctl --json fleet 2>&1)
check "virtenergyctl --json fleet: its source is fleet" python3 -c '
import json, sys
s = json.loads(sys.argv[1])
h = next(h for h in s["hosts"] if h["name"] == sys.argv[2])
sys.exit(0 if h.get("source") == "fleet" else 1)' "$json" "$HOST"
check "its report is in etcd under its lease" \
	sh -c "ETCDCTL_API=3 etcdctl --endpoints=$ETCD get --print-value-only $PREFIX/hosts/$HOST | grep -q demand_uw"
fb=$(cat /var/lib/virtenergy/fleet-fallback 2>/dev/null)
check "the fallback it holds is saved in its state directory (${fb:-none} µW, fallback-cap $FALLBACK W)" \
	[ "${fb:-0}" -gt 0 ] && [ "${fb:-0}" -le $((FALLBACK * 1000000)) ]

# ---- etcd stopped: the fallback within one TTL ---------------------------
pid=$(systemctl show -p MainPID --value virtenergyd)
systemctl stop ve-etcd.service
t0=$(uptime_s)
check "etcd stopped ($(systemctl is-active ve-etcd))" sh -c '! systemctl -q is-active ve-etcd'
wait_for $((3 * TTL)) source_is fallback
t1=$(uptime_s)
dt=$(awk -v a="$t0" -v b="$t1" 'BEGIN {printf "%.2f", b - a}')
comment "FIGURE etcd stopped: FleetSource fallback after $dt s (TTL $TTL s)"
within_ttl() { source_is fallback && awk -v d="$dt" -v t="$TTL" 'BEGIN {exit !(d <= t)}'; }
check "etcd stopped: FleetSource fallback after $dt s, within one TTL ($TTL s)" within_ttl
check "... at its fallback: FleetCapW $(cap_w) W (fallback-cap $FALLBACK W)" cap_is "$FALLBACK"
check "... the same process ($(systemctl show -p MainPID --value virtenergyd), was $pid)" \
	[ "$(systemctl show -p MainPID --value virtenergyd)" = "$pid" ]
journal | grep -E 'fleet: (etcd out of reach|no cap)' | tail -n 2 | sed 's/^/#   /'

# ---- etcd back: it rejoins -------------------------------------------------
systemctl start ve-etcd.service
check "etcd back ($(systemctl is-active ve-etcd))" wait_for 60 etcd_up
t0=$(uptime_s)
check "the host rejoins: FleetSource fleet again" wait_for 60 source_is fleet
comment "FIGURE rejoined $(awk -v a="$t0" -v b="$(uptime_s)" 'BEGIN {printf "%.1f", b - a}') s after etcd answered again"
wait_for 30 cap_is "$BUDGET"
check "... at the rack's budget again (FleetCapW $(cap_w) W)" cap_is "$BUDGET"

systemctl stop virtenergyd.service ve-etcd.service
[ "$failures" -eq 0 ] || dump
echo "1..$n"
[ "$failures" -eq 0 ]
