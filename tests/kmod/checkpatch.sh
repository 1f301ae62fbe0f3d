#!/usr/bin/env bash
# SPDX-License-Identifier: GPL-2.0-or-later
#
# usage: tests/kmod/checkpatch.sh
# The kernel's own style checker on the module and its protocol header:
# `checkpatch.pl --no-tree -f` must find no error and no warning.
# scripts/setup takes checkpatch.pl from Debian's linux-source package.
set -uo pipefail
src=$(cd "$(dirname "$0")/../.." && pwd)
cp=${CHECKPATCH:-/usr/local/lib/virtenergy/checkpatch/checkpatch.pl}
[ -f "$cp" ] || { echo "Bail out! $cp missing (scripts/setup extracts it from linux-source-6.1)"; exit 1; }
n=0
for f in "$src"/kmod/*.c "$src"/kmod/*.h "$src"/include/virtenergy/uapi.h; do
	case $f in *.mod.c) continue ;; esac
	n=$((n + 1))
	if out=$(perl "$cp" --no-tree -f --terse --show-types "$f" 2>&1); then
		echo "ok $n - checkpatch ${f#"$src"/}"
	else
		echo "not ok $n - checkpatch ${f#"$src"/}"
		printf '%s\n' "$out" | sed 's/^/# /'
	fi
done
echo "1..$n"
