# SPDX-License-Identifier: GPL-2.0-or-later
#
# tap.sh: one line per check for the shell integration tests.  Source it;
# $failures counts the checks that failed.
failures=0
ok() { echo "ok - $*"; }
not_ok() { echo "not ok - $*"; failures=$((failures + 1)); }
# expect DESCRIPTION COMMAND...: the check passes when COMMAND succeeds
expect() {
	local what=$1
	shift
	if "$@"; then ok "$what"; else not_ok "$what"; fi
}
