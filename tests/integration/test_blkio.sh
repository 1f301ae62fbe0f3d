#!/usr/bin/env bash
# SPDX-License-Identifier: GPL-2.0-or-later
#
# Disk power limits on a real TCG guest with a raw disk image:
#   - <disk-power-limit> set with `virsh metadata` shows in
#     `virsh blkdeviotune DOMAIN vda` as the total_bytes_sec and
#     total_iops_sec the disk model gives (half the limit each);
#   - a changed limit changes them; `virsh metadata --remove` puts the
#     originals (0) back;
#   - SIGTERM restores; SIGKILL leaves them, and the next start restores
#     them from its record and leaves no record behind;
#   - an administrator's own read_bytes_sec comes back after a limit;
#   - --dry-run changes nothing and says what it would set;
#   - bad metadata is reported and changes nothing.
#
# usage: test_blkio.sh BUILD_DIR     (meson test --suite integration; root)
set -uo pipefail

here=$(cd "$(dirname "$0")" && pwd)
build=${1:-$here/../../build}
daemon=$build/daemon/virtenergyd
vm="vetest-$$-disk"
ns=http://virtenergy.org/xmlns/energy/1

# shellcheck source=tests/integration/guests.sh
source "$here/guests.sh"
# shellcheck source=tests/integration/tap.sh
source "$here/tap.sh"
guests_test_env blkio || exit 1

# one field of `virsh blkdeviotune` ("total_iops_sec : 0": names are padded)
tune() { virsh -q blkdeviotune "$vm" vda | awk -F: -v k="$1" '{ gsub(/ /, "", $1); gsub(/ /, "", $2) } $1 == k { print $2 }'; }
start_daemon() {
	"$daemon" --config "$tmp/ve.conf" "$@" >>"$tmp/daemon.log" 2>&1 &
	dpid=$!
}
set_limit() {
	virsh -q metadata "$vm" "$ns" --key energy --live \
		--set "<energy><disk-power-limit>$1</disk-power-limit></energy>" >/dev/null
}
wait_tune() { # FIELD OP VALUE, up to 10 s
	local i
	for i in $(seq 1 50); do
		[ "$(tune "$1")" "$2" "$3" ] && return 0
		sleep 0.2
	done
	return 1
}
# the bounds the daemon must derive: half the limit (µW) each, through the profile it logs
expect_bounds() { # LIMIT_UW -> "BYTES IOPS"
	local profile
	profile=$(sed -n 's/.*disk image .*, \([a-z]*\) disk model.*/\1/p' "$tmp/daemon.log" | tail -n 1)
	python3 - "$1" "$profile" <<'PY'
import math, sys
limit, profile = int(sys.argv[1]), sys.argv[2]
op_nj, byte_pj = {"hdd": (10920000.0, 45614.0), "ssd": (10000.0, 4528.0),
                  "nvme": (5000.0, 1406.0)}[profile]
print(max(1, math.floor(limit / 2 * 1e6 / byte_pj)), max(1, math.floor(limit / 2 * 1e3 / op_nj)))
PY
}

if [ "$(id -u)" -ne 0 ]; then echo "SKIP: needs root"; exit 77; fi
guests_up || { echo "SKIP: libvirtd cannot be started here"; exit 77; }
cat >"$tmp/ve.conf" <<EOF2
[daemon]
period-ms=100
state-dir=$tmp/state
[guests]
export-dir=
vmsr-socket=
[prometheus]
textfile=
[dbus]
bus=none
EOF2

guests_define "$vm" idle 1 || not_ok "define the guest"
expect "give it a raw disk image" guests_add_disk "$vm"
expect "start it" guests_start "$vm"
expect "its disk starts unthrottled" test "$(tune total_bytes_sec)" = 0 -a "$(tune total_iops_sec)" = 0

start_daemon
sleep 2
set_limit "2 W"
expect "the daemon applies the disk power limit" wait_tune total_bytes_sec -gt 0
read -r want_b want_i < <(expect_bounds 2000000)
echo "# 2 W: profile $(sed -n 's/.*\(disk image .*model\).*/\1/p' "$tmp/daemon.log" | tail -n 1)"
echo "# 2 W: blkdeviotune total_bytes_sec=$(tune total_bytes_sec) total_iops_sec=$(tune total_iops_sec); expected $want_b $want_i"
expect "virsh blkdeviotune shows total_bytes_sec from the disk model ($want_b)" test "$(tune total_bytes_sec)" = "$want_b"
expect "and total_iops_sec ($want_i)" test "$(tune total_iops_sec)" = "$want_i"
expect "the record of the originals exists" test -s "$tmp/state/blkiotune"

set_limit "500 mW"
read -r want_b want_i < <(expect_bounds 500000)
expect "a lower limit lowers the bounds ($want_b)" wait_tune total_bytes_sec = "$want_b"
echo "# 500 mW: total_bytes_sec=$(tune total_bytes_sec) total_iops_sec=$(tune total_iops_sec)"
expect "and total_iops_sec ($want_i)" test "$(tune total_iops_sec)" = "$want_i"

virsh -q metadata "$vm" "$ns" --live --remove >/dev/null
expect "virsh metadata --remove puts total_bytes_sec back to 0" wait_tune total_bytes_sec = 0
expect "and total_iops_sec to 0" test "$(tune total_iops_sec)" = 0
expect "and drops the record" test ! -e "$tmp/state/blkiotune"

set_limit "2 W"
wait_tune total_bytes_sec -gt 0 || not_ok "limit applied again"
kill -TERM "$dpid"; wait "$dpid"; dpid=
expect "SIGTERM leaves no disk limit behind" test "$(tune total_bytes_sec)" = 0 -a "$(tune total_iops_sec)" = 0

start_daemon
expect "a restarted daemon applies the limit still in the metadata" wait_tune total_bytes_sec -gt 0
kill -9 "$dpid"; wait "$dpid" 2>/dev/null; dpid=
expect "SIGKILL leaves the throttle (nothing could restore it)" test "$(tune total_bytes_sec)" -gt 0
expect "and its record" test -s "$tmp/state/blkiotune"
virsh -q metadata "$vm" "$ns" --live --remove >/dev/null
start_daemon
expect "the next start restores the disk from its record" wait_tune total_bytes_sec = 0
expect "total_iops_sec too" test "$(tune total_iops_sec)" = 0
sleep 1
expect "and says so" grep -q "restored the disk I/O limits of 1 VM(s) a previous run left throttled" "$tmp/daemon.log"
expect "no record is left behind" test ! -e "$tmp/state/blkiotune"

# an administrator's own bound (read/write style) comes back after a limit
virsh -q blkdeviotune "$vm" vda --live --read-bytes-sec 5000000 >/dev/null || not_ok "set read_bytes_sec"
set_limit "2 W"
expect "the limit applies over an administrator's read_bytes_sec" wait_tune total_bytes_sec -gt 0
virsh -q metadata "$vm" "$ns" --live --remove >/dev/null
expect "lifting it gives back read_bytes_sec=5000000" wait_tune read_bytes_sec = 5000000
expect "and total_bytes_sec=0" test "$(tune total_bytes_sec)" = 0

# bad metadata changes nothing
set_limit "-3 W"
sleep 2
expect "a negative disk power limit is reported with the VM's name" \
	grep -q "VM '$vm': energy metadata refused: .*-3 W" "$tmp/daemon.log"
expect "and changes nothing" test "$(tune total_bytes_sec)" = 0 -a "$(tune read_bytes_sec)" = 5000000
expect "the daemon runs on" kill -0 "$dpid"
kill -TERM "$dpid"; wait "$dpid"; dpid=
virsh -q blkdeviotune "$vm" vda --live --read-bytes-sec 0 >/dev/null

# dry run: says what it would set, sets nothing, records nothing
start_daemon --dry-run
set_limit "2 W"
sleep 3
expect "--dry-run says what it would set" grep -q "dry run: would set disk vda total_bytes_sec=" "$tmp/daemon.log"
expect "and sets nothing" test "$(tune total_bytes_sec)" = 0 -a "$(tune total_iops_sec)" = 0
expect "and records nothing" test ! -e "$tmp/state/blkiotune"
kill -TERM "$dpid"; wait "$dpid"; dpid=

if [ "$failures" -ne 0 ]; then
	sed 's/^/#   /' "$tmp/daemon.log" | tail -30
	exit 1
fi
exit 0
