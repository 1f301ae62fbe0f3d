# SPDX-License-Identifier: GPL-2.0-or-later
#
# Sourced by scripts/check, scripts/demo and scripts/bench: configure and
# build quietly, but print meson's or ninja's own output, and what failed,
# when a step fails.  A caller under `set -e` stops there with status 1.

# ve_configure DIR [MESON-OPTIONS...]: meson setup (or --reconfigure)
ve_configure() {
	local dir=$1 log
	shift
	log=$(mktemp)
	local args=(setup "$dir" "$@")
	[ -f "$dir/build.ninja" ] && args=(setup --reconfigure "$dir" "$@")
	if ! meson "${args[@]}" >"$log" 2>&1; then
		cat "$log" >&2
		rm -f "$log"
		echo "${0##*/}: meson ${args[*]} failed (full log: $dir/meson-logs/meson-log.txt)" >&2
		return 1
	fi
	rm -f "$log"
}

# ve_build DIR: ninja; its output only when it fails (errors go to stdout)
ve_build() {
	local log
	log=$(mktemp)
	if ! ninja -C "$1" >"$log" 2>&1; then
		cat "$log" >&2
		rm -f "$log"
		echo "${0##*/}: build in $1 failed (ninja -C $1)" >&2
		return 1
	fi
	rm -f "$log"
}

# ve_setup: scripts/setup, saying so when it fails
ve_setup() {
	if ! "$(dirname "${BASH_SOURCE[0]}")/setup"; then
		echo "${0##*/}: installing dependencies failed (scripts/setup, above)" >&2
		return 1
	fi
}
