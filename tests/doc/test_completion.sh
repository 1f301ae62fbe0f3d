#!/usr/bin/env bash
# SPDX-License-Identifier: GPL-2.0-or-later
#
# conf/virtenergyctl.bash-completion: source it, set COMP_WORDS and
# COMP_CWORD as bash does, call _virtenergyctl and compare COMPREPLY.  VM
# names come from a stand-in virtenergyctl (COMP_WORDS[0]) that answers
# `--json list` as the real one does and records the arguments it got.
# usage: test_completion.sh COMPLETION_FILE
set -uo pipefail
export LC_ALL=C   # sort order of the replies
file=$1
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT

cat >"$tmp/virtenergyctl" <<'EOF'
#!/bin/sh
echo "$*" >>"${0%/*}/args"
[ -e "${0%/*}/down" ] && { echo "virtenergyctl: virtenergyd is not running" >&2; exit 1; }
cat <<'JSON'
[{"uuid":"0f8fad5b-d9cb-469f-a165-70867728950e","name":"web1","running":true,"power_w":12.500000,"energy_j":1.000000},{"uuid":"11111111-2222-3333-4444-555555555555","name":"web2","running":false,"power_w":0.000000,"energy_j":0.000000},{"uuid":"6695eb01-f6a4-8304-79aa-97f2502e193f","name":"db-with-a-name-longer-than-24","running":true,"power_w":1.000000,"energy_j":2.000000},{"uuid":"22222222-2222-3333-4444-555555555555","name":"we\"ird","running":true,"power_w":0.000000,"energy_j":0.000000}]
JSON
EOF
chmod +x "$tmp/virtenergyctl"
ctl=$tmp/virtenergyctl

# shellcheck source=/dev/null
. "$file" || { echo "not ok - sourcing $file failed"; exit 1; }
spec=$(complete -p virtenergyctl 2>/dev/null)
fail=0
if [ "$spec" = "complete -F _virtenergyctl virtenergyctl" ]; then
	echo "ok - registers _virtenergyctl for virtenergyctl"
else
	echo "not ok - registers _virtenergyctl for virtenergyctl (complete -p: '$spec')"; fail=1
fi

# expect "WHAT" "WANTED REPLY, sorted, space-separated" WORD...: the last
# word is the one being completed (COMP_CWORD points at it).
expect() {
	local what=$1 want=$2 got
	shift 2
	COMP_WORDS=("$ctl" "$@")
	COMP_CWORD=$((${#COMP_WORDS[@]} - 1))
	COMPREPLY=()
	_virtenergyctl virtenergyctl "${COMP_WORDS[COMP_CWORD]}" "${COMP_WORDS[COMP_CWORD - 1]}" \
		2>"$tmp/stderr"
	got=$(printf '%s\n' "${COMPREPLY[@]}" | sort | tr '\n' ' ' | sed 's/ *$//')
	if [ "$got" = "$want" ] && [ ! -s "$tmp/stderr" ]; then
		echo "ok - $what"
	else
		echo "not ok - $what: wanted '$want', got '$got'$( [ -s "$tmp/stderr" ] && printf ', stderr: %s' "$(cat "$tmp/stderr")")"
		fail=1
	fi
}

expect "every command after the program name" \
	"clear-limit fleet host-cap list set-limit show status top" ""
expect "commands by prefix" "set-limit show status" "s"
expect "long options" \
	"--bus --help --help-all --iterations --json --once --version" "--"
expect "an option by prefix" "--json" "--j"
expect "options after a command" "--once" "top" "--on"
expect "--bus takes system or session" "session system" "--bus" ""
expect "--bus=s (split at '=' as bash does)" "session system" "--bus" "=" "s"
expect "--bus= with nothing after it" "session system" "--bus" "="
expect "--iterations takes a number: nothing offered" "" "top" "--iterations" ""
expect "show: VM names" \
	"db-with-a-name-longer-than-24 we\\\"ird web1 web2" "show" ""
expect "show w: names by prefix, JSON escapes undone and quoted for the shell" \
	"we\\\"ird web1 web2" "show" "w"
expect "a name longer than the table's 24 columns comes whole" \
	"db-with-a-name-longer-than-24" "clear-limit" "d"
expect "set-limit: a VM first" "web1" "set-limit" "web1"
expect "set-limit VM: no VM for the power" "" "set-limit" "web1" ""
expect "a UUID prefix completes the UUID" "0f8fad5b-d9cb-469f-a165-70867728950e" "show" "0f8"
expect "host-cap: none" "none" "host-cap" ""
expect "fleet: its subcommands" "forget set-budget set-tree" "fleet" ""
expect "fleet f: forget" "forget" "fleet" "f"
expect "status takes no argument" "" "status" ""
expect "options before the command still find it" "we\\\"ird web1 web2" "--json" "show" "w"

: >"$tmp/args"
expect "--bus session show: names from the session bus" "web1" "--bus" "session" "show" "web1"
if grep -qx -- "--bus session --json list" "$tmp/args"; then
	echo "ok - the bus on the line is the bus asked"
else
	echo "not ok - the bus on the line is the bus asked: the stand-in got '$(cat "$tmp/args")'"; fail=1
fi
: >"$tmp/args"
expect "--bus=session show (split at '=')" "web1" "--bus" "=" "session" "show" "web1"
grep -qx -- "--bus session --json list" "$tmp/args" && echo "ok - --bus=session is the bus asked" ||
	{ echo "not ok - --bus=session is the bus asked: '$(cat "$tmp/args")'"; fail=1; }

touch "$tmp/down"
expect "no daemon: no names and nothing on the terminal" "" "show" ""
exit $fail
