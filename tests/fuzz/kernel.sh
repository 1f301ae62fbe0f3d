#!/usr/bin/env bash
# SPDX-License-Identifier: GPL-2.0-or-later
#
# usage: tests/fuzz/kernel.sh BUILD_DIR FUZZ_NETLINK SEED_DIR SECONDS [OUT_DIR]
# Fuzz virtenergy.ko's netlink commands from userspace in a real kernel:
# build the module (tests/kmod/build.sh, in BUILD_DIR), boot the test
# kernel with scripts/vmtest, load the module there, and run the
# fuzz_netlink target with tests/fuzz/run.sh for SECONDS.  Afterwards the
# module must unload and the kernel log must show no bug report.  Prints
# what run.sh prints; OUT_DIR keeps the corpus, log, kernel log and crashes.
set -uo pipefail
src=$(cd "$(dirname "$0")/../.." && pwd)

if [ "${1:-}" = --guest ]; then
	# inside the test kernel: KO BINARY SEEDS SECONDS OUT
	ko=$2 bin=$3 seeds=$4 secs=$5 out=$6
	cg=/sys/fs/cgroup/vefuzz
	mkdir -p "$cg"/c0 "$cg"/c1 "$cg"/c2 "$cg"/c3 || exit 1
	if ! insmod "$ko"; then
		echo "kernel.sh: insmod $ko failed" >&2
		exit 1
	fi
	status=0
	VE_FUZZ_CGROUPS=$cg ASAN_OPTIONS=detect_leaks=1 \
		"$src/tests/fuzz/run.sh" "$bin" "$seeds" "$secs" "$out" || status=1
	grep -h 'fuzz_netlink:' "$out/fuzz.log" | sed 's/^/# /'
	if rmmod virtenergy; then
		echo "# the module unloaded after the campaign"
	else
		echo "kernel.sh: rmmod virtenergy failed after the campaign" >&2
		status=1
	fi
	rmdir "$cg"/c* "$cg" 2>/dev/null
	exit $status
fi

build=$(cd "${1:?usage: kernel.sh BUILD_DIR FUZZ_NETLINK SEED_DIR SECONDS [OUT_DIR]}" && pwd)
bin=$(realpath "${2:?}")
seeds=$(realpath "${3:?}")
secs=${4:?}
out=${5:-}
keep=1
if [ -z "$out" ]; then
	out=$(mktemp -d /tmp/ve-fuzz-kernel-XXXXXX)
	keep=0
fi
mkdir -p "$out"
out=$(realpath "$out")
if ! ko=$("$src/tests/kmod/build.sh" "$build" 2>"$out/kmod-build.err"); then
	echo "kernel.sh: the module does not build:" >&2
	cat "$out/kmod-build.err" >&2
	exit 1
fi
rc=0
"$src/scripts/vmtest" --mem 3072 --cpus 2 --timeout $((secs + 400)) --keep "$out/vm" \
	-- bash "$src/tests/fuzz/kernel.sh" --guest "$ko" "$bin" "$seeds" "$secs" "$out/vm/netlink" || rc=$?
if grep -E 'BUG:|WARNING:|Oops|UBSAN:|KASAN:|general protection' "$out/vm/dmesg" 2>/dev/null; then
	echo "kernel.sh: the kernel log above reports a bug" >&2
	rc=1
fi
if [ "$rc" -ne 0 ]; then
	echo "kernel.sh: the campaign failed; its files are in $out" >&2
	exit 1
fi
[ "$keep" -eq 1 ] || rm -rf "$out"
exit 0
