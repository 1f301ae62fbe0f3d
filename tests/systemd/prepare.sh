# SPDX-License-Identifier: GPL-2.0-or-later
#
# Runs in the test guest's root before systemd starts (scripts/vmtest
# --prepare), as an operator's installation would: the product with
# `meson install` and the shipped defaults (prefix /usr/local), the module
# where modules-load.d finds it (what `dkms install` does; VE_KO empty:
# none, for the fleet case), and the directory node_exporter's package
# creates for textfiles.
set -eu
: "${VE_BUILD:?}" "${VE_KO?}"
t0=$(cut -d' ' -f1 /proc/uptime)
meson install -C "$VE_BUILD" --no-rebuild --quiet
kver=$(uname -r)
if [ -n "$VE_KO" ]; then
	install -D -m 0644 "$VE_KO" "/lib/modules/$kver/updates/virtenergy.ko"
	depmod -a "$kver"
fi
install -d -m 0755 /var/lib/prometheus/node-exporter
# the guest's QEMU image: a "BIOS" that is one jump to itself at the reset
# vector, so its vCPU spins without booting anything (TCG inside TCG is
# too slow to boot a kernel in the time a test has)
install -d /var/lib/libvirt/images
python3 -c 'import sys; sys.stdout.buffer.write(b"\xeb\xfe" * 32768)' >/var/lib/libvirt/images/virtenergy-spin.rom
echo "$(wc -l <"$VE_BUILD/meson-logs/install-log.txt") files installed, ${VE_KO:+module for $kver, }in $(awk -v a="$t0" -v b="$(cut -d' ' -f1 /proc/uptime)" 'BEGIN {printf "%.0f", b - a}') s"
