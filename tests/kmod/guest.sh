#!/usr/bin/env bash
# SPDX-License-Identifier: GPL-2.0-or-later
#
# Inside the test kernel (scripts/vmtest): load virtenergy.ko and run
# kmod_test's parts, numbering their TAP lines into one stream; then load
# and unload it 50 times with watches in place, and read the kernel log.
# usage: guest.sh BUILD_DIR MODULE.ko
set -u
build=$1 ko=$2
t=$build/tests/kmod/kmod_test
n=0

emit() { # ok|not-ok description
	n=$((n + 1))
	if [ "$1" = ok ]; then echo "ok $n - $2"; else echo "not ok $n - $2"; fi
}

part() { # name command...: renumber its TAP into ours
	local name=$1 line failed=0 rc=
	shift
	while IFS= read -r line; do
		case $line in
		"#rc="*) rc=${line#\#rc=} ;;
		"ok "*) emit ok "$name: ${line#* - }" ;;
		"not ok "*) emit not-ok "$name: ${line#* - }"; failed=1 ;;
		"1.."*) ;;
		*) echo "# $name: ${line#\# }" ;;
		esac
	done < <("$@" 2>&1; echo "#rc=$?")
	if [ "$rc" != 0 ] && [ $failed = 0 ]; then
		emit not-ok "$name ended with status $rc"
	fi
}

daemon_mode() { # what sampler virtenergyd says it uses (libvirt's test driver: no libvirtd needed)
	mkdir -p /tmp/vestate
	"$build/daemon/virtenergyd" --once --uri test:///default --state-dir /tmp/vestate \
		--export-dir "" --vmsr-socket "" --prom-file "" 2>&1 |
		sed -n 's/.*threads sampled by \([^;]*\);.*/\1/p' | head -n 1
}

load() { # params...
	if insmod "$ko" "$@"; then return 0; fi
	emit not-ok "insmod $*"
	return 1
}

# Parts that need their own module parameters come first.
if load max_threads=16; then
	part errors "$t" errors 16
	rmmod virtenergy || emit not-ok "rmmod after errors"
fi

if load; then
	part threads "$t" threads
	part blkio "$t" blkio
	part owner "$t" owner
	part stress "$t" stress
	part fuzz "$t" fuzz 10000
	part sampler "$t" sampler
	part daemon-io bash "$(dirname "$0")/daemon_io.sh" "$build" kmod
	mode=$(daemon_mode)
	echo "# virtenergyd: $mode"
	case $mode in kmod:*) r=ok ;; *) r=not-ok ;; esac
	emit $r "virtenergyd prefers the loaded module and says so"
	part fallback "$t" fallback    # unloads the module itself
	if grep -q '^virtenergy ' /proc/modules; then
		emit not-ok "the fallback part left the module loaded"
		rmmod virtenergy
	fi
	mode=$(daemon_mode)
	echo "# virtenergyd: $mode"
	case $mode in perf*) r=ok ;; *) r=not-ok ;; esac
	emit $r "without the module virtenergyd uses perf"
	part daemon-io-cgroup bash "$(dirname "$0")/daemon_io.sh" "$build" cgroup
fi

# Load and unload 50 times, each time with a client holding watches.
loaded=0 unloaded=0
for i in $(seq 1 50); do
	insmod "$ko" || break
	loaded=$((loaded + 1))
	coproc HOLD { exec "$t" hold; }
	read -r -t 20 line <&"${HOLD[0]}" || line=
	[ "$line" = holding ] || { echo "# holder $i: '$line'"; kill "$HOLD_PID" 2>/dev/null; break; }
	if rmmod virtenergy; then unloaded=$((unloaded + 1)); fi
	kill -9 "$HOLD_PID" 2>/dev/null
	wait "$HOLD_PID" 2>/dev/null
done
[ $loaded = 50 ] && [ $unloaded = 50 ] && r=ok || r=not-ok
emit $r "loaded 50 times and unloaded 50 times with 8 threads and a cgroup watched ($loaded/$unloaded)"

if dmesg | grep -E 'WARNING:|BUG:|Oops|general protection|Call Trace|refcount_t:|list_(add|del) corruption|KASAN|UBSAN' >/tmp/bad; then
	emit not-ok "kernel log clean"
	sed 's/^/# /' /tmp/bad | head -n 40
else
	emit ok "kernel log clean: no WARNING, BUG, Oops or call trace"
fi
echo "1..$n"
