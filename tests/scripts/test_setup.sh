#!/usr/bin/env bash
# SPDX-License-Identifier: GPL-2.0-or-later
#
# scripts/setup as a new user meets it, on any machine: stand-in dpkg-query,
# apt-get and sudo on PATH report one package missing and "install" it, so
# the script's own logic runs (its exit status, the policy-rc.d it adds and
# removes, its messages) without touching this machine's packages.  CI's
# machine has everything installed already, so without this test it would
# stay green while every fresh machine failed.  Also: a failing configure
# step in scripts/build.sh prints meson's message.  Prints TAP.
#
# usage: tests/scripts/test_setup.sh SOURCE_DIR
set -uo pipefail
src=$(cd "${1:?usage: test_setup.sh SOURCE_DIR}" && pwd)
# shellcheck source=tests/integration/tap.sh
source "$src/tests/integration/tap.sh"

tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
bin=$tmp/bin
mkdir -p "$bin"

# dpkg-query -W -f='${Status}' PKG: installed unless PKG is listed in
# $FAKE/missing; apt-get install moves packages off that list.
cat >"$bin/dpkg-query" <<'SH'
#!/bin/sh
for p; do :; done
if grep -qx "$p" "$FAKE/missing" 2>/dev/null; then
	echo "dpkg-query: no packages found matching $p" >&2
	exit 1
fi
printf 'install ok installed'
SH
# apt-get: logs its calls and the policy-rc.d answer seen while installing;
# FAKE_APT=fail makes install fail, FAKE_APT=noop "succeeds" without installing.
cat >"$bin/apt-get" <<'SH'
#!/bin/sh
echo "apt-get $*" >>"$FAKE/calls"
case "$1" in
update) exit 0 ;;
install)
	if [ -x "$VIRTENERGY_POLICY_RC_D" ]; then
		"$VIRTENERGY_POLICY_RC_D" libvirtd start
		echo "policy=$?" >>"$FAKE/calls"
	else
		echo "policy=none" >>"$FAKE/calls"
	fi
	if [ "${FAKE_APT:-}" = fail ]; then
		echo "E: Unable to locate package frobnicate" >&2
		exit 100
	fi
	[ "${FAKE_APT:-}" = noop ] && exit 0
	shift
	for p; do
		case "$p" in -*) ;; *) grep -vx "$p" "$FAKE/missing" >"$FAKE/m.new"; mv "$FAKE/m.new" "$FAKE/missing" ;; esac
	done
	exit 0
	;;
esac
echo "apt-get stand-in: unexpected $*" >&2
exit 1
SH
printf '#!/bin/sh\nexec "$@"\n' >"$bin/sudo"
chmod 755 "$bin"/*

# run_setup NAME: scripts/setup with the stand-ins; status in $rc, output in $out
run_setup() {
	FAKE=$tmp/$1
	mkdir -p "$FAKE/checkpatch"
	touch "$FAKE/checkpatch/checkpatch.pl" "$FAKE/calls"
	rc=0
	out=$(env PATH="$bin:$PATH" FAKE="$FAKE" FAKE_APT="${FAKE_APT:-}" \
		VIRTENERGY_POLICY_RC_D="$FAKE/policy-rc.d" VIRTENERGY_CHECKPATCH_DIR="$FAKE/checkpatch" \
		bash "$src/scripts/setup" 2>&1) || rc=$?
}
say() { echo "# $1 exit $rc; output: ${out:-(none)}"; sed 's/^/#   /' "$FAKE/calls"; }

# 1. Debian's images ship a policy-rc.d: kept as it was, status 0
FAKE=$tmp/existing; mkdir -p "$FAKE"
echo dbus >"$FAKE/missing"
printf '#!/bin/sh\n# the image'"'"'s own\nexit 101\n' >"$FAKE/policy-rc.d"
chmod 755 "$FAKE/policy-rc.d"
cp "$FAKE/policy-rc.d" "$tmp/policy.orig"
run_setup existing
say "existing policy-rc.d:"
expect "existing policy-rc.d: setup exits 0 after installing (was 1, silently)" [ "$rc" -eq 0 ]
expect "existing policy-rc.d: prints nothing on success" [ -z "$out" ]
expect "existing policy-rc.d: apt-get install was asked for the missing package" grep -q '^apt-get install .* dbus$' "$FAKE/calls"
expect "existing policy-rc.d: services were kept from starting (101)" grep -qx 'policy=101' "$FAKE/calls"
expect "existing policy-rc.d: left as it was" cmp -s "$FAKE/policy-rc.d" "$tmp/policy.orig"

# 2. no policy-rc.d: one is added for the install and removed afterwards
FAKE=$tmp/absent; mkdir -p "$FAKE"
echo dbus >"$FAKE/missing"
run_setup absent
say "no policy-rc.d:"
expect "no policy-rc.d: setup exits 0" [ "$rc" -eq 0 ]
expect "no policy-rc.d: prints nothing on success" [ -z "$out" ]
expect "no policy-rc.d: services were kept from starting (101)" grep -qx 'policy=101' "$FAKE/calls"
expect "no policy-rc.d: the one it added is gone" [ ! -e "$FAKE/policy-rc.d" ]

# 3. nothing missing: nothing run, status 0
FAKE=$tmp/complete; mkdir -p "$FAKE"
: >"$FAKE/missing"
run_setup complete
say "all installed:"
expect "all installed: exit 0, no output" [ "$rc" -eq 0 -a -z "$out" ]
expect "all installed: apt-get not called" [ ! -s "$FAKE/calls" ]

# 4. apt-get install fails: status 1, apt's words and the packages named
FAKE=$tmp/fail; mkdir -p "$FAKE"
echo dbus >"$FAKE/missing"
FAKE_APT=fail run_setup fail
say "install fails:"
expect "install fails: exit 1" [ "$rc" -eq 1 ]
expect "install fails: apt-get's own message is shown" grep -q 'Unable to locate package' <<<"$out"
expect "install fails: names what it could not install" grep -q 'setup: could not install: dbus' <<<"$out"
expect "install fails: the policy-rc.d it added is gone" [ ! -e "$FAKE/policy-rc.d" ]

# 5. apt-get says yes but installs nothing: not a set-up machine
FAKE=$tmp/noop; mkdir -p "$FAKE"
echo dbus >"$FAKE/missing"
FAKE_APT=noop run_setup noop
say "install does nothing:"
expect "install does nothing: exit 1 naming the package" [ "$rc" -eq 1 ] && grep -q 'still not installed: dbus' <<<"$out"

# 6. a configure failure prints meson's message and what failed
rc=0
out=$(cd "$tmp" && bash -c "set -e; source '$src/scripts/build.sh'; ve_configure '$tmp/b' '$src' -Dno-such-option=1; echo reached" 2>&1) || rc=$?
echo "# configure failure: exit $rc; output: $(tail -n 3 <<<"$out")"
expect "configure failure: non-zero status, stops the caller" [ "$rc" -ne 0 ] && ! grep -q '^reached$' <<<"$out"
expect "configure failure: meson's own error is shown" grep -qiE 'ERROR:.*no-such-option' <<<"$out"
expect "configure failure: says which step failed" grep -q 'meson setup .* failed' <<<"$out"

[ "$failures" -eq 0 ]
