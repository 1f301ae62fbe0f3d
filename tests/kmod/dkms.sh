#!/usr/bin/env bash
# SPDX-License-Identifier: GPL-2.0-or-later
#
# usage: tests/kmod/dkms.sh BUILD_DIR
# The module as a DKMS package: lay out its source the way `meson install`
# does (make -C kmod dkms-source), let dkms build it for the kernel that
# scripts/vmtest boots, in private DKMS trees (nothing under /var/lib/dkms
# changes), and check what came out.  TAP.
set -uo pipefail
src=$(cd "$(dirname "$0")/../.." && pwd)
build=$(cd "${1:?usage: dkms.sh BUILD_DIR}" && pwd)
n=0
t() { n=$((n + 1)); if [ "$1" = 0 ]; then echo "ok $n - $2"; else echo "not ok $n - $2"; fi; }

command -v dkms >/dev/null || { echo "Bail out! dkms is not installed (scripts/setup installs it)"; exit 1; }
kver=
for h in /usr/src/linux-headers-*-amd64; do
	v=${h#/usr/src/linux-headers-}
	[ -f "/boot/vmlinuz-$v" ] && kver=$v
done
[ -n "$kver" ] || { echo "Bail out! no kernel with headers installed"; exit 1; }
version=$(sed -n "s/^  version: '\(.*\)',/\1/p" "$src/meson.build")

work=$build/dkms-test
rm -rf "$work"
mkdir -p "$work/tree" "$work/inst"
make -s -C "$src/kmod" dkms-source DESTDIR="$work/root" >"$work/log" 2>&1
t $? "make dkms-source lays out /usr/src/virtenergy-$version"
srcdir=$work/root/usr/src/virtenergy-$version
grep -q "^PACKAGE_VERSION=\"$version\"" "$srcdir/dkms.conf"
t $? "dkms.conf carries version $version"

# `meson install` lays out the same tree from meson.build's own list of
# files: every file the module builds from must be on both.
meson introspect "$build" --installed >"$work/installed.json" 2>>"$work/log"
missing=
for f in "$src"/kmod/Kbuild "$src"/kmod/*.c "$src"/kmod/*.h; do
	b=${f##*/}
	case $b in *.mod.c) continue ;; esac
	[ -f "$srcdir/$b" ] || missing="$missing $b(make dkms-source)"
	grep -qF "\"$f\": \"/usr/src/virtenergy-$version/$b\"" "$work/installed.json" ||
		missing="$missing $b(meson.build install_data)"
done
[ -z "$missing" ] || echo "# not laid out:$missing"
[ -z "$missing" ]
t $? "make dkms-source and meson install both lay out every kmod/ source file"

dkms build "virtenergy/$version" -k "$kver" --sourcetree "$work/root/usr/src" \
	--dkmstree "$work/tree" --installtree "$work/inst" >>"$work/log" 2>&1
rc=$?
[ $rc = 0 ] || sed 's/^/# /' "$work/log"
t $rc "dkms build virtenergy/$version for $kver"
ko=$work/tree/virtenergy/$version/$kver/$(uname -m)/module/virtenergy.ko
[ -f "$ko" ] || ko=$(find "$work/tree" -name 'virtenergy.ko*' | head -n 1)
[ -n "$ko" ] && [ -f "$ko" ]
t $? "it produced virtenergy.ko"
vermagic=$(modinfo -F vermagic "$ko" 2>/dev/null | cut -d' ' -f1)
[ "$vermagic" = "$kver" ]
t $? "built for $kver (vermagic '$vermagic')"
[ "$(modinfo -F license "$ko" 2>/dev/null)" = GPL ] && modinfo -F parm "$ko" | grep -q '^max_threads:'
t $? "license GPL, with its max_threads parameter"
dkms status -m virtenergy --dkmstree "$work/tree" 2>/dev/null | grep -q "virtenergy/$version.*built"
t $? "dkms status says built"
rm -rf "$work"
echo "1..$n"
