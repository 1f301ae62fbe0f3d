#!/usr/bin/env bash
# SPDX-License-Identifier: GPL-2.0-or-later
#
# Inside the test kernel (tests/kmod/guest.sh): block I/O per VM and per
# shared service through virtenergyd itself.  libvirt's test driver, from
# a file of ours, lists a running domain "test" whose disk vda is an NBD
# export on a unix socket; a root (--root) whose run/libvirt/qemu/test.pid
# names a process in the cgroup ve-vm, with proc and sys the real ones,
# makes that domain a VM on this kernel.  A declared service "store"
# (cgroup=ve-svc) listens on that socket, so the VM is its client.  Two
# steady writers of /dev/vda run in ve-vm, one in ve-svc and one in
# ve-other (neither a VM's), all at once, all in the same requests.
# The VM must get its own disk energy and, through the service, the
# service's; the other cgroup's must stay the host's own; and the split
# must follow the bytes each wrote, as the kernel's own io.stat counts
# them over the same time (like with like).
#
# usage: daemon_io.sh BUILD_DIR kmod|cgroup
#   kmod:   virtenergy.ko is loaded: the daemon must take block I/O from it
#   cgroup: it is not: the daemon must take it from the cgroups' io.stat
# Prints TAP.
set -u
build=${1:?usage: daemon_io.sh BUILD_DIR kmod|cgroup} want=${2:?}
vestate_dir=$(cd "$(dirname "$0")/../integration" && pwd)
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
	rmdir "$cg/ve-vm" "$cg/ve-svc" "$cg/ve-other" 2>/dev/null
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
mkdir -p "$cg/ve-vm" "$cg/ve-svc" "$cg/ve-other"
rm -rf "$root" "$state" "$prom" /tmp/ve-svc.sock
mkdir -p "$root/run/libvirt/qemu" "$state"
ln -s /proc "$root/proc"
ln -s /sys "$root/sys"
# the VM's "QEMU": a sleeper in ve-vm
sh -c 'echo $$ > /sys/fs/cgroup/ve-vm/cgroup.procs && exec sleep 600' &
pids+=($!)
sleep 0.2
echo "${pids[0]}" >"$root/run/libvirt/qemu/test.pid"
# the service: a listener on the VM's disk socket, in ve-svc
sh -c 'echo $$ > /sys/fs/cgroup/ve-svc/cgroup.procs && exec python3 -c "
import socket, time
s = socket.socket(socket.AF_UNIX)
s.bind(\"/tmp/ve-svc.sock\")
s.listen()
time.sleep(600)"' &
pids+=($!)
cat >/tmp/ve-io.xml <<'EOF'
<node>
  <domain type='test'>
    <name>test</name>
    <uuid>6695eb01-f6a4-8304-79aa-97f2502e193f</uuid>
    <memory>1048576</memory>
    <vcpu>1</vcpu>
    <os><type arch='x86_64'>hvm</type></os>
    <devices>
      <disk type='network' device='disk'>
        <source protocol='nbd' name='x'><host transport='unix' socket='/tmp/ve-svc.sock'/></source>
        <target dev='vda' bus='virtio'/>
      </disk>
    </devices>
  </domain>
</node>
EOF
sampler=auto
[ "$want" = kmod ] && sampler=kmod
# idle-policy none: the disk's idle power is the host's, so the VM's disk
# energy beyond its own disk component is what the service passed on
printf '[accounting]\nsampler = %s\nidle-policy = none\n[service store]\ncgroup = ve-svc\n' "$sampler" \
	>/tmp/ve-io.conf

writer "$cg/ve-vm"
writer "$cg/ve-vm"
writer "$cg/ve-svc"
writer "$cg/ve-other"
for _ in $(seq 50); do [ -S /tmp/ve-svc.sock ] && break; sleep 0.1; done
"$build/daemon/virtenergyd" -c /tmp/ve-io.conf --root "$root" --uri test:///tmp/ve-io.xml \
	--state-dir "$state" --export-dir "" --vmsr-socket "" --bus none --prom-file "$prom" \
	>/tmp/ve-io.out 2>/tmp/ve-io.log &
daemon=$!

# disk FILE: the VM's own disk energy, its disk energy passed on by the
# service, and the host's own disk energy in state file FILE (µJ)
disk() {
	python3 - "$1" "$vestate_dir" <<'PY'
import sys
sys.path.insert(0, sys.argv[2])
import vestate
cp = vestate.load(sys.argv[1])   # the state file and its journal
vm = "vm:6695eb01-f6a4-8304-79aa-97f2502e193f"
g = lambda s, k: int(cp[s][k]) if cp.has_section(s) and cp.has_option(s, k) else 0
print(g(vm, "comp.disk"), g(vm, "dev.disk") - g(vm, "comp.disk"), g("host", "comp.disk"))
PY
}

# snap N: right after the next save (one more journal record, or a new
# state file), its disk energies and the bytes each cgroup wrote, so that
# both cover the same time
snap() {
	local s0 s
	s0=$(seq_of)
	for _ in $(seq 100); do
		s=$(seq_of)
		[ -n "$s" ] && [ "$s" != "$s0" ] && break
		sleep 0.01
	done
	eval "vmb$1=\$(wbytes \"\$cg/ve-vm\") svcb$1=\$(wbytes \"\$cg/ve-svc\") otherb$1=\$(wbytes \"\$cg/ve-other\")"
	read -r "vme$1" "svce$1" "hoste$1" < <(disk "$state/state")
}
seq_of() { python3 "$vestate_dir/vestate.py" "$state/state" get virtenergy seq 2>/dev/null; }

# from when the daemon counts the VM's disk energy to 8 s later
for _ in $(seq 100); do
	[ -f "$state/state" ] && [ "$(disk "$state/state" | cut -d' ' -f1)" != 0 ] && break
	sleep 0.1
done
snap 0
sleep 8
snap 1
kill -TERM "$daemon"
wait "$daemon"
rc=$?
check "the daemon ran 8 s and exited 0 on SIGTERM (rc $rc)" [ $rc = 0 ]
source=$(sed -n 's/.*block I\/O from \([^;]*\);.*/\1/p' /tmp/ve-io.log | head -n 1)
echo "# block I/O from: $source"
svcsource=$(sed -n "s/.*service 'store': its own block I\/O \(.*\)/\1/p" /tmp/ve-io.log | head -n 1)
echo "# the service's: $svcsource"
case $want in
kmod)
	check "it takes block I/O from the module and says so" grep -q '^virtenergy.ko' <<<"$source"
	check "the service's too, from its cgroup" grep -q '^from /sys/fs/cgroup/ve-svc (virtenergy.ko)' <<<"$svcsource"
	;;
*)
	check "without the module it takes block I/O from cgroup statistics and says so" \
		grep -q '^cgroup statistics' <<<"$source"
	check "the service's too, from its cgroup" \
		grep -q '^from /sys/fs/cgroup/ve-svc (cgroup statistics)' <<<"$svcsource"
	;;
esac
check "the VM is the service's client" \
	grep -q "VM 'test': disk vda (nbd, /tmp/ve-svc.sock) is served by service 'store'" /tmp/ve-io.log

vm=$((${vme1:-0} - ${vme0:-0})) svc=$((${svce1:-0} - ${svce0:-0})) host=$((${hoste1:-0} - ${hoste0:-0}))
echo "# disk energy over the window: VM's own $vm uJ, the service's (passed to the VM) $svc uJ, host's own $host uJ"
check "the VM's cgroup gets disk energy ($vm uJ)" [ "$vm" -gt 0 ]
check "the service's disk energy reaches the VM, its client ($svc uJ)" [ "$svc" -gt 0 ]
check "the other cgroup's I/O is the host's own, not the VM's ($host uJ)" [ "$host" -gt 0 ]
a=$((${vmb1:-0} - ${vmb0:-0})) b=$((${svcb1:-0} - ${svcb0:-0})) c=$((${otherb1:-0} - ${otherb0:-0}))
echo "# written over the window (io.stat): VM $((a >> 20)) MiB, service $((b >> 20)) MiB, other $((c >> 20)) MiB"
share() { awk -v x="$1" -v t="$2" 'BEGIN {if (t > 0) printf "%.3f", x / t; else print 0}'; }
near() { awk -v s="$1" -v b="$2" 'BEGIN {exit !(b > 0.1 && s > b - 0.10 && s < b + 0.10)}'; }
te=$((vm + svc + host)) tb=$((a + b + c))
for who in VM service other; do
	case $who in
	VM) e=$vm x=$a ;;
	service) e=$svc x=$b ;;
	*) e=$host x=$c ;;
	esac
	es=$(share "$e" "$te") bs=$(share "$x" "$tb")
	echo "# FIGURE the $who's share of the disk energy: $es, of the bytes written: $bs"
	check "the $who's share of the disk energy follows its share of the bytes ($es against $bs, +- 0.10)" \
		near "$es" "$bs"
done
echo "1..$n"
