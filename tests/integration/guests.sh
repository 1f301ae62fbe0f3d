# SPDX-License-Identifier: GPL-2.0-or-later
#
# guests.sh: real libvirt guests for the integration tests and the demo.
# Source it; every function prints errors on stderr and returns non-zero.
#
#   guests_up                 start virtlogd and libvirtd unless they run
#   guests_initramfs DIR      build a busybox initramfs (cached in DIR)
#   guests_define NAME MODE [VCPUS] [EXPORT_DIR]
#                             define a persistent TCG guest, MODE busy, idle, io
#                             (GUESTS_CMDLINE="ve.io=N ve.secs=S [ve.gap=T] [ve.at=E]":
#                             S times N 64 KiB direct writes to vda, then T s of sleep,
#                             1 s by default; with ve.at, not before the time E, in
#                             seconds since the epoch; then with
#                             ve.net=ADDR,PEER,INTERVAL,AT,SECS,SIZE: eth0 at ADDR/24,
#                             from the time AT (0: once PEER answers) pings of SIZE bytes to PEER every
#                             INTERVAL s for SECS s, "VE-NET done" after) or
#                             export (busy, and prints the energy_uj it reads from
#                             EXPORT_DIR/<uuid>, shared over 9p, every second)
#   guests_add_disk NAME [MIB]  give a defined guest a sparse raw disk image as
#                             virtio disk vda (MIB, default 16; before it starts)
#   guests_add_nbd_disk NAME SOCKET EXPORT  give it virtio disk vda from the NBD
#                             server on unix socket SOCKET, export EXPORT
#   guests_add_bridge_nic NAME BRIDGE  give it a virtio interface on host bridge BRIDGE
#   guests_start NAME         start it and wait until it runs
#   guests_wait_booted NAME [S]  wait (up to S s, 60) for the guest's init to have started
#   guests_pid NAME           QEMU's pid (libvirt's pid file)
#   guests_down               destroy and undefine every guest defined here,
#                             stop the daemons guests_up started
#   guests_test_env TAG       for a test script: $tmp, a fresh directory QEMU can
#                             read (GUESTS_DIR), and on exit: kill -9 the daemon
#                             in $dpid if set, guests_down, remove $tmp
#
# Guests boot the distribution kernel from /boot directly (no disk image,
# no bootloader) under TCG, so they run on machines without /dev/kvm; the
# initramfs /init spins one loop per CPU (busy) or sleeps (idle).
# Without systemd, libvirtd needs its run and log directories, and the
# libvirt-qemu user, which Debian's libvirt-daemon-system creates.

GUESTS_URI=${GUESTS_URI:-qemu:///system}
GUESTS_DIR=${GUESTS_DIR:-}
GUESTS_DEFINED=()
GUESTS_STARTED_DAEMONS=()

guests__virsh() {
	virsh -q -c "$GUESTS_URI" "$@"
}

guests_up() {
	local i
	mkdir -p /var/run/libvirt /var/log/libvirt /var/lib/libvirt/qemu || return 1
	if ! pgrep -x virtlogd >/dev/null; then
		virtlogd -d || { echo "guests: cannot start virtlogd" >&2; return 1; }
		GUESTS_STARTED_DAEMONS+=(virtlogd)
	fi
	if ! pgrep -x libvirtd >/dev/null; then
		libvirtd -d || { echo "guests: cannot start libvirtd" >&2; return 1; }
		GUESTS_STARTED_DAEMONS+=(libvirtd)
	fi
	for i in $(seq 1 50); do
		guests__virsh version >/dev/null 2>&1 && return 0
		sleep 0.2
	done
	echo "guests: libvirtd does not answer on $GUESTS_URI after 10 s" >&2
	return 1
}

guests_kernel() {
	local k
	k=$(ls /boot/vmlinuz-* 2>/dev/null | sort -V | tail -n 1)
	[ -n "$k" ] || { echo "guests: no kernel in /boot (install linux-image-amd64)" >&2; return 1; }
	echo "$k"
}

guests_initramfs() {
	local dir=$1 root
	[ -f "$dir/initramfs.cpio.gz" ] && return 0
	root=$(mktemp -d) || return 1
	mkdir -p "$root"/{bin,proc,sys,dev,mnt,modules}
	cp /bin/busybox "$root/bin/" || { echo "guests: no /bin/busybox (install busybox-static)" >&2; rm -rf "$root"; return 1; }
	# virtio and 9p drivers of the kernel the guests boot, for the "export" mode
	local kver m f
	kver=$(basename "$(guests_kernel)" | sed 's/^vmlinuz-//')
	for m in virtio_ring virtio virtio_pci_legacy_dev virtio_pci_modern_dev virtio_pci netfs fscache 9pnet 9pnet_virtio 9p virtio_blk failover net_failover virtio_net; do
		f=$(find "/lib/modules/$kver" -name "$m.ko*" 2>/dev/null | head -n 1)
		[ -n "$f" ] && cp "$f" "$root/modules/"
	done
	cat >"$root/init" <<'INIT'
#!/bin/busybox sh
/bin/busybox --install -s /bin
mount -t proc proc /proc
mount -t sysfs sys /sys
mount -t devtmpfs dev /dev
mode=$(sed -n 's/.*ve\.mode=\([a-z]*\).*/\1/p' /proc/cmdline)
echo "virtenergy test guest: mode=$mode"
if [ "$mode" = busy ] || [ "$mode" = export ]; then
	for c in $(seq 1 "$(nproc)"); do
		while :; do :; done &
	done
fi
if [ "$mode" = export ]; then
	# read the VM's own energy from virtenergyd's export, shared over 9p
	for m in virtio_ring virtio virtio_pci_legacy_dev virtio_pci_modern_dev virtio_pci netfs fscache 9pnet 9pnet_virtio 9p; do
		for f in /modules/$m.ko*; do [ -e "$f" ] && insmod "$f"; done
	done
	mount -t 9p -o trans=virtio,version=9p2000.L,ro virtenergy /mnt || echo "VE-EXPORT mount failed"
	while :; do
		echo "VE-EXPORT energy_uj=$(cat /mnt/intel-rapl:0/energy_uj) limit_uw=$(cat /mnt/intel-rapl:0/constraint_0_power_limit_uw)"
		sleep 1
	done
fi
if [ "$mode" = io ]; then
	# ve.io=N ve.secs=S [ve.gap=T]: S times, write N 64 KiB blocks to vda (O_DIRECT), then sleep T s (1)
	for m in virtio_ring virtio virtio_pci_legacy_dev virtio_pci_modern_dev virtio_pci virtio_blk; do
		for f in /modules/$m.ko*; do [ -e "$f" ] && insmod "$f"; done
	done
	n=$(sed -n 's/.*ve\.io=\([0-9]*\).*/\1/p' /proc/cmdline)
	secs=$(sed -n 's/.*ve\.secs=\([0-9]*\).*/\1/p' /proc/cmdline)
	gap=$(sed -n 's/.*ve\.gap=\([0-9.]*\).*/\1/p' /proc/cmdline)
	for _ in $(seq 1 50); do [ -b /dev/vda ] && break; sleep 0.2; done
	# held open so that no dd is the device's last close: that would flush its cache each time
	exec 3<>/dev/vda
	# with ve.at=EPOCH: wait until then (the RTC is the host's clock), so that guests
	# booted at different times write at the same time
	at=$(sed -n 's/.*ve\.at=\([0-9]*\).*/\1/p' /proc/cmdline)
	if [ -n "$at" ]; then
		echo "VE-IO wait $(($at - $(date +%s))) s"
		while [ "$(date +%s)" -lt "$at" ]; do sleep 0.2; done
	fi
	echo "VE-IO start"
	i=0
	while [ "$i" -lt "$secs" ]; do
		dd if=/dev/zero of=/dev/vda bs=65536 count="$n" oflag=direct 2>/dev/null || echo "VE-IO dd failed"
		i=$((i + 1))
		sleep "${gap:-1}"
	done
	echo "VE-IO done"
	net=$(sed -n 's/.*ve\.net=\([0-9.,]*\).*/\1/p' /proc/cmdline)
	if [ -n "$net" ]; then
		addr=$(echo "$net" | cut -d, -f1) peer=$(echo "$net" | cut -d, -f2)
		every=$(echo "$net" | cut -d, -f3) netat=$(echo "$net" | cut -d, -f4)
		netsecs=$(echo "$net" | cut -d, -f5) size=$(echo "$net" | cut -d, -f6)
		for m in failover net_failover virtio_net; do
			for f in /modules/$m.ko*; do [ -e "$f" ] && insmod "$f"; done
		done
		for _ in $(seq 1 50); do [ -e /sys/class/net/eth0 ] && break; sleep 0.2; done
		echo 1 >/proc/sys/net/ipv6/conf/eth0/disable_ipv6
		ip link set eth0 up
		ip addr add "$addr/24" dev eth0
		if [ "$netat" = 0 ]; then
			# until the host gives PEER its address: the test says when, whatever the boot took
			echo "VE-NET wait for $peer"
			for _ in $(seq 1 600); do ping -q -c 1 -W 1 "$peer" >/dev/null 2>&1 && break; sleep 0.2; done
		else
			echo "VE-NET wait $(($netat - $(date +%s))) s"
			while [ "$(date +%s)" -lt "$netat" ]; do sleep 0.2; done
		fi
		echo "VE-NET start"
		ping -q -s "$size" -i "$every" -w "$netsecs" "$peer" >/dev/null 2>&1
		echo "VE-NET done"
	fi
fi
while :; do sleep 3600; done
INIT
	chmod +x "$root/init"
	mkdir -p "$dir"
	(cd "$root" && find . | cpio -o -H newc 2>/dev/null | gzip >"$dir/initramfs.cpio.gz") || { rm -rf "$root"; return 1; }
	chmod 644 "$dir/initramfs.cpio.gz"
	rm -rf "$root"
}

guests_define() { # NAME MODE [VCPUS] [EXPORT_DIR: share EXPORT_DIR/<uuid> as 9p tag "virtenergy"]
	local name=$1 mode=$2 vcpus=${3:-1} export=${4:-} kernel xml uuid fs=""
	kernel=$(guests_kernel) || return 1
	[ -n "$GUESTS_DIR" ] || { echo "guests: GUESTS_DIR is not set" >&2; return 1; }
	guests_initramfs "$GUESTS_DIR" || return 1
	xml="$GUESTS_DIR/$name.xml"
	uuid=$(cat /proc/sys/kernel/random/uuid)
	if [ -n "$export" ]; then
		mkdir -p "$export/$uuid"
		chmod 755 "$export" "$export/$uuid"
		fs="<filesystem type='mount' accessmode='squash'><source dir='$export/$uuid'/><target dir='virtenergy'/><readonly/></filesystem>"
	fi
	cat >"$xml" <<XML
<domain type='qemu'>
  <name>$name</name>
  <uuid>$uuid</uuid>
  <memory unit='MiB'>96</memory>
  <vcpu>$vcpus</vcpu>
  <os>
    <type arch='x86_64' machine='pc'>hvm</type>
    <kernel>$kernel</kernel>
    <initrd>$GUESTS_DIR/initramfs.cpio.gz</initrd>
    <cmdline>console=ttyS0 quiet ve.mode=$mode ${GUESTS_CMDLINE:-}</cmdline>
  </os>
  <on_crash>destroy</on_crash>
  <devices>
    <emulator>/usr/bin/qemu-system-x86_64</emulator>
    <serial type='file'><source path='$GUESTS_DIR/$name.console'/></serial>
    <video><model type='none'/></video>
    <memballoon model='none'/>
    $fs
  </devices>
</domain>
XML
	guests__virsh define "$xml" >/dev/null || return 1
	GUESTS_DEFINED+=("$name")
}

guests_add_disk() { # NAME [MIB]: the guest never reads it; QEMU opens it, which is what I/O tuning needs
	local name=$1 img="$GUESTS_DIR/$1-disk.raw"
	truncate -s "${2:-16}M" "$img" || return 1
	chmod 644 "$img"
	guests__virsh attach-disk "$name" "$img" vda --config --driver qemu --subdriver raw \
		--targetbus virtio >/dev/null
}

guests_add_nbd_disk() { # NAME SOCKET EXPORT: virtio disk vda from an NBD server on a unix socket
	local xml="$GUESTS_DIR/$1-nbd.xml"
	cat >"$xml" <<XML
<disk type='network' device='disk'>
  <driver name='qemu' type='raw' cache='none'/>
  <source protocol='nbd' name='$3'><host transport='unix' socket='$2'/></source>
  <target dev='vda' bus='virtio'/>
</disk>
XML
	guests__virsh attach-device "$1" "$xml" --config >/dev/null
}

guests_add_bridge_nic() { # NAME BRIDGE: a virtio interface on host bridge BRIDGE
	guests__virsh attach-interface "$1" bridge "$2" --model virtio --config >/dev/null
}

guests_start() {
	local name=$1 i
	guests__virsh start "$name" >/dev/null || return 1
	for i in $(seq 1 50); do
		[ "$(guests__virsh domstate "$name" 2>/dev/null)" = running ] && return 0
		sleep 0.2
	done
	echo "guests: $name does not run after 10 s" >&2
	return 1
}

# Wait until the guest's /init has run (its banner on the serial console):
# under TCG a kernel boot takes a few CPU-seconds.
guests_wait_booted() { # NAME [SECONDS, default 60]
	local name=$1 i
	for i in $(seq 1 $((${2:-60} * 5))); do
		grep -q "virtenergy test guest" "$GUESTS_DIR/$name.console" 2>/dev/null && return 0
		sleep 0.2
	done
	echo "guests: $name did not boot within ${2:-60} s (console: $GUESTS_DIR/$name.console)" >&2
	return 1
}

guests_pid() {
	cat "/run/libvirt/qemu/$1.pid"
}

guests_uuid() {
	guests__virsh domuuid "$1"
}

guests_down() {
	local name d
	for name in "${GUESTS_DEFINED[@]}"; do
		guests__virsh destroy "$name" >/dev/null 2>&1
		guests__virsh undefine "$name" >/dev/null 2>&1
	done
	GUESTS_DEFINED=()
	for d in "${GUESTS_STARTED_DAEMONS[@]}"; do
		pkill -x "$d" 2>/dev/null
	done
	# wait until they are gone: the next test would otherwise find a
	# libvirtd that is still shutting down and not start its own
	for d in "${GUESTS_STARTED_DAEMONS[@]}"; do
		for _ in $(seq 1 100); do
			pgrep -x "$d" >/dev/null || break
			sleep 0.1
		done
	done
	GUESTS_STARTED_DAEMONS=()
}

guests__test_cleanup() {
	[ -n "${dpid:-}" ] && kill -9 "$dpid" 2>/dev/null
	guests_down
	rm -rf "$tmp"
}

guests_test_env() { # TAG
	tmp=$(mktemp -d "/tmp/ve-$1-XXXXXX") || return 1
	chmod 755 "$tmp"   # QEMU runs as libvirt-qemu and reads the initramfs from here
	GUESTS_DIR=$tmp
	dpid=
	trap guests__test_cleanup EXIT
}
