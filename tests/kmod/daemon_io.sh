#!/usr/bin/env bash
# SPDX-License-Identifier: GPL-2.0-or-later
#
# Inside the test kernel (tests/kmod/guest.sh): block I/O per VM through
# virtenergyd itself.  libvirt's test driver lists its domain "test" as
# running; a root (--root) whose run/libvirt/qemu/test.pid names a process
# in the cgroup ve-vm, with proc and sys the real ones, makes that domain a
# VM on this kernel.  Three steady writers of /dev/vda run in ve-vm and one
# in ve-other (not a VM), all at once, all in the same requests.
# The VM must get its disk energy, the other cgroup's must stay the host's
# own, and the split must follow the bytes each wrote, as the kernel's own
# io.stat counts them over the same time (like with like).
#
# usage: daemon_io.sh BUILD_DIR kmod|cgroup
#   kmod:   virtenergy.ko is loaded: the daemon must take block I/O from it
#   cgroup: it is not: the daemon must take it from the cgroups' io.stat
# Prints TAP.
set -u
build=${1:?usage: daemon_io.sh BUILD_DIR kmod|cgroup} want=${2:?}
cg=/sys/fs/cgroup root=/tmp/ve-ioroot prom=/tmp/ve-io.prom state=/tmp/ve-iostate
n=0 pids=()

emit() { # ok|not-ok description
	n=$((n + 1))
	if [ "$1" = ok ]; then echo "ok $n - $2"; else echo "not ok $n - $2"; fi
}

check() { # description command...
	local what=$1
	shift
	if "$@"; then emit ok "$what"; else emit not-ok "$what"; fi
}

cleanup() {
	for p in "${pids[@]}"; do kill "$p" 2>/dev/null; done
	wait 2>/dev/null
	rmdir "$cg/ve-vm" "$cg/ve-other" 2>/dev/null
}
trap cleanup EXIT

# writer CGROUP: a steady O_DIRECT writer of /dev/vda in CGROUP (kmod_test
# ioload: one open, no close, so no flushes), 256 KiB a request
writer() {
	"$build/tests/kmod/kmod_test" ioload "$1" >/dev/null &
	pids+=($!)
}

# wbytes CGROUP: the bytes CGROUP wrote to /dev/vda so far (io.stat)
wbytes() {
	local dev
	dev=$(cat /sys/block/vda/dev)
	awk -v d="$dev" '$1 == d {for (i = 2; i <= NF; i++) if ($i ~ /^wbytes=/) {sub("wbytes=", "", $i); print $i}}' \
		"$1/io.stat"
}

echo +io >"$cg/cgroup.subtree_control" 2>/dev/null
mkdir -p "$cg/ve-vm" "$cg/ve-other"
rm -rf "$root" "$state" "$prom"
mkdir -p "$root/run/libvirt/qemu" "$state"
ln -s /proc "$root/proc"
ln -s /sys "$root/sys"
# the VM's "QEMU": a sleeper in ve-vm
sh -c 'echo $$ > /sys/fs/cgroup/ve-vm/cgroup.procs && exec sleep 600' &
pids+=($!)
sleep 0.2
echo "${pids[0]}" >"$root/run/libvirt/qemu/test.pid"
sampler=auto
[ "$want" = kmod ] && sampler=kmod
printf '[accounting]\nsampler = %s\n' "$sampler" >/tmp/ve-io.conf

writer "$cg/ve-vm"
writer "$cg/ve-vm"
writer "$cg/ve-vm"
writer "$cg/ve-other"
"$build/daemon/virtenergyd" -c /tmp/ve-io.conf --root "$root" --uri test:///default \
	--state-dir "$state" --export-dir "" --vmsr-socket "" --bus none --prom-file "$prom" \
	>/tmp/ve-io.out 2>/tmp/ve-io.log &
daemon=$!

# energy FILE WHO: the VM's ("vm") or the host's own ("host") disk energy in the textfile
energy() {
	case $2 in
	vm) sed -n 's/^virtenergy_vm_energy_joules_total{.*name="test".*component="disk"} \(.*\)/\1/p' "$1" ;;
	*) sed -n 's/^virtenergy_host_own_energy_joules_total{component="disk"} \(.*\)/\1/p' "$1" ;;
	esac
}

# snap N: at the next rewrite of the textfile (every second: a new inode), its disk energies
# and the bytes each cgroup wrote, so that both cover the same time
snap() {
	local m0 m
	m0=$(stat -c %i "$prom" 2>/dev/null)
	for _ in $(seq 100); do
		m=$(stat -c %i "$prom" 2>/dev/null)
		[ -n "$m" ] && [ "$m" != "$m0" ] && break
		sleep 0.02
	done
	cp "$prom" "/tmp/ve-io.prom.$1"
	eval "vmb$1=\$(wbytes \"\$cg/ve-vm\") otherb$1=\$(wbytes \"\$cg/ve-other\")"
	eval "vme$1=\$(energy /tmp/ve-io.prom.$1 vm) hoste$1=\$(energy /tmp/ve-io.prom.$1 host)"
}

# from when the daemon knows the VM (its line is in the textfile) to 8 s later
for _ in $(seq 100); do [ -n "$(energy "$prom" vm 2>/dev/null)" ] && break; sleep 0.1; done
snap 0
sleep 8
snap 1
kill -TERM "$daemon"
wait "$daemon"
rc=$?
check "the daemon ran 8 s and exited 0 on SIGTERM (rc $rc)" [ $rc = 0 ]
source=$(sed -n 's/.*block I\/O from \([^;]*\);.*/\1/p' /tmp/ve-io.log | head -n 1)
echo "# block I/O from: $source"
case $want in
kmod) check "it takes block I/O from the module and says so" grep -q '^virtenergy.ko' <<<"$source" ;;
*) check "without the module it takes block I/O from cgroup statistics and says so" \
	grep -q '^cgroup statistics' <<<"$source" ;;
esac

vm=$(awk -v a="${vme0:-0}" -v b="${vme1:-0}" 'BEGIN {printf "%.6f", b - a}')
host=$(awk -v a="${hoste0:-0}" -v b="${hoste1:-0}" 'BEGIN {printf "%.6f", b - a}')
echo "# disk energy over the window: VM $vm J, host's own $host J"
check "the VM's cgroup gets disk energy ($vm J)" awk -v v="$vm" 'BEGIN {exit !(v > 0)}'
check "the other cgroup's I/O is the host's own, not the VM's ($host J)" \
	awk -v v="$host" 'BEGIN {exit !(v > 0)}'
share=$(awk -v v="$vm" -v h="$host" 'BEGIN {if (v + h > 0) printf "%.3f", v / (v + h); else print 0}')
a=$((${vmb1:-0} - ${vmb0:-0})) b=$((${otherb1:-0} - ${otherb0:-0}))
bshare=$(awk -v a="$a" -v b="$b" 'BEGIN {if (a + b > 0) printf "%.3f", a / (a + b); else print 0}')
echo "# written over the window (io.stat): VM $((a >> 20)) MiB, other $((b >> 20)) MiB"
echo "# FIGURE the VM's share of the disk energy: $share, of the bytes written: $bshare"
check "the VM's share of the disk energy follows its share of the bytes ($share against $bshare, +- 0.10)" \
	awk -v s="$share" -v b="$bshare" 'BEGIN {exit !(b > 0.5 && s > b - 0.10 && s < b + 0.10)}'
echo "1..$n"
