#!/usr/bin/env bash
# SPDX-License-Identifier: GPL-2.0-or-later
#
# usage: tests/fuzz/run.sh TARGET_BINARY SEED_DIR SECONDS [OUT_DIR]
# Run one libFuzzer target for SECONDS from its seed corpus (read only:
# new inputs go to OUT_DIR, a temporary directory unless given), then
# print what libFuzzer printed last: executions, coverage (cov: edges,
# ft: features), corpus size.  A crash, leak or timeout exits non-zero and
# leaves the input as OUT_DIR/crash-* (printed).
set -uo pipefail
bin=$(realpath "${1:?usage: run.sh TARGET SEED_DIR SECONDS [OUT_DIR]}")
seeds=$(realpath "${2:?}")
secs=${3:?}
out=${4:-}
keep=1
if [ -z "$out" ]; then
	out=$(mktemp -d /tmp/ve-fuzz-XXXXXX)
	keep=0
fi
mkdir -p "$out"
out=$(realpath "$out")
mkdir -p "$out/corpus"
log=$out/fuzz.log
rc=0
( cd "$out" && "$bin" -max_total_time="$secs" -timeout=10 -rss_limit_mb=2048 -print_final_stats=1 \
	"$out/corpus" "$seeds" ) >"$log" 2>&1 || rc=$?
name=${bin##*/}
echo "# $name: $(grep -E '^#[0-9]+[[:space:]]+DONE' "$log" | tail -n1)"
grep -E '^stat::(number_of_executed_units|peak_rss_mb|new_units_added)' "$log" | sed "s/^/# $name: /"
crashes=$(ls "$out"/crash-* "$out"/leak-* "$out"/timeout-* "$out"/oom-* 2>/dev/null | wc -l)
echo "# $name: crashes found: $crashes"
if [ "$rc" -ne 0 ] || [ "$crashes" -ne 0 ]; then
	tail -n 40 "$log"
	ls "$out"/crash-* "$out"/leak-* "$out"/timeout-* "$out"/oom-* 2>/dev/null
	exit 1
fi
[ "$keep" -eq 1 ] || rm -rf "$out"
exit 0
