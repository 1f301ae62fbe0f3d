#!/usr/bin/env python3
# SPDX-License-Identifier: GPL-2.0-or-later
"""org.virtenergy.Manager1 on a private system bus with the shipped policy.

A dbus-daemon runs with this machine's system.conf (listening on a socket
of the test, services and includes stripped) plus conf/org.virtenergy.Manager1.conf.
virtenergyd runs on a fixture root against libvirt's test driver (one VM,
"test").  Checked with gdbus, busctl and virtenergyctl: introspection, every
property and method, the Changed signal rate, an unprivileged caller (nobody)
reading but not owning the name, and virtenergyctl's commands, --json and
errors.  polkitd runs on the bus too (privbus.py) with conf/org.virtenergy.policy
and a rules file: the write methods are refused for nobody, allowed for the
user the rules grant, for another only on the VM they name, and for root;
with polkitd stopped, root still may and nobody still may not.  Prints one
line per check.

usage: test_dbus.py BUILD_DIR SOURCE_DIR
"""
import json
import os
import pwd
import re
import subprocess
import sys
import tempfile
import threading
import time

UUID = "6695eb01-f6a4-8304-79aa-97f2502e193f"
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import privbus  # noqa: E402
import tap  # noqa: E402
from tap import expect  # noqa: E402


# The polkit rules of the test: GRANTED may do every write, PER_VM may set
# and clear the limit of the VM "test" only (named by name or by UUID, the
# daemon gives polkit both), PASSWORD needs an administrator's
# password, and nobody is refused outright.
GRANTED, PER_VM, PASSWORD = "daemon", "bin", "sys"
RULES = """
polkit.addRule(function(action, subject) {
    if (action.id.indexOf("org.virtenergy.") != 0)
        return polkit.Result.NOT_HANDLED;
    if (subject.user == "%s")
        return polkit.Result.YES;
    if (subject.user == "%s" && action.id == "org.virtenergy.set-limit" && action.lookup("vm") == "test"
        && action.lookup("vm_uuid") == "%s")
        return polkit.Result.YES;
    if (subject.user == "nobody")
        return polkit.Result.NO;
    if (subject.user == "%s")
        return polkit.Result.AUTH_ADMIN;
    return polkit.Result.NOT_HANDLED;
});
""" % (GRANTED, PER_VM, UUID, PASSWORD)


def run(args, env, as_nobody=False, user=None):
    if as_nobody:
        user = "nobody"
    if user:
        pw = pwd.getpwnam(user)
        args = ["setpriv", f"--reuid={pw.pw_uid}", f"--regid={pw.pw_gid}", "--clear-groups"] + args
    return subprocess.run(args, env=env, capture_output=True, text=True, timeout=20)


def wait_for(what, probe, seconds=10):
    """Call PROBE every 0.1 s until it returns (True, seen) or SECONDS pass.

    Returns (ok, seen): what PROBE saw last, for the check's line."""
    end = time.monotonic() + seconds
    while True:
        ok, seen = probe()
        if ok or time.monotonic() > end:
            break
        time.sleep(0.1)
    if not ok:
        print(f"# not within {seconds} s: {what}; last seen: {seen}")
    return ok, seen


def main(build, source):
    daemon = os.path.join(build, "daemon", "virtenergyd")
    ctl = os.path.join(build, "daemon", "virtenergyctl")
    with tempfile.TemporaryDirectory() as tmp:
        os.chmod(tmp, 0o755)
        bus, env = privbus.start_bus(
            tmp, os.path.abspath(os.path.join(source, "conf", "org.virtenergy.Manager1.conf")),
            privbus.POLKIT_BUS_POLICY)
        if bus is None:
            print("not ok - " + env)
            return 1
        polkitd, why = privbus.start_polkitd(
            tmp, env, [os.path.join(source, "conf", "org.virtenergy.policy")], RULES)
        expect(polkitd is not None, f"polkitd runs on the private bus ({why or 'it owns its name'})")
        root = os.path.join(tmp, "root")
        os.makedirs(os.path.join(root, "proc"))
        with open(os.path.join(root, "proc", "stat"), "w", encoding="ascii") as f:
            f.write("cpu0 1 0 0 1 0 0 0 0 0 0\n")
        proc = subprocess.Popen(
            [daemon, "--root", root, "--uri", "test:///default", "--state-dir",
             os.path.join(tmp, "state"), "--export-dir", "", "--vmsr-socket", "",
             "--prom-file", "", "--bus", "system"],
            env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
        try:
            gd = ["gdbus", "call", "--system", "--dest", "org.virtenergy.Manager1",
                  "--object-path", "/org/virtenergy/Manager1"]

            def powered():
                """The name is owned and a report tick has given the host a power figure."""
                r = run(gd + ["--method", "org.freedesktop.DBus.Properties.Get",
                              "org.virtenergy.Manager1", "PowerW"], env)
                return (r.returncode == 0 and re.search(r"<[1-9][0-9.e+-]*>", r.stdout) is not None,
                        r.stdout.strip() or r.stderr.strip())
            ok, seen = wait_for("a power figure from the daemon", powered)
            expect(ok, f"the daemon is on the bus with a power figure ({seen})")

            r = run(["gdbus", "introspect", "--system", "--dest", "org.virtenergy.Manager1",
                     "--object-path", "/org/virtenergy/Manager1"], env)
            expect(r.returncode == 0 and "interface org.virtenergy.Manager1" in r.stdout
                   and "ListVMs" in r.stdout and "Changed" in r.stdout,
                   "introspection shows the interface")
            # gdbus prints doubles bare: (<40.0>,)
            for name, pattern in (("PowerW", r"<[1-9][0-9.e+-]*>"), ("EnergyJ", r"<[1-9][0-9.e+-]*>"),
                                  ("HostOwnEnergyJ", r"<[0-9][0-9.e+-]*>"),
                                  ("UnattributedEnergyJ", r"<[0-9][0-9.e+-]*>"),
                                  ("Estimated", r"<true>"), ("Sensor", r"host power model"),
                                  ("Sampler", r"schedstat"), ("Periods", r"<uint64 [1-9][0-9]*>")):
                r = run(gd + ["--method", "org.freedesktop.DBus.Properties.Get",
                              "org.virtenergy.Manager1", name], env)
                expect(r.returncode == 0 and re.search(pattern, r.stdout),
                       f"property {name}: {r.stdout.strip() or r.stderr.strip()}")
            r = run(gd + ["--method", "org.virtenergy.Manager1.ListVMs"], env)
            expect(r.returncode == 0 and UUID in r.stdout and "'test'" in r.stdout,
                   "ListVMs lists the VM")
            r = run(gd + ["--method", "org.virtenergy.Manager1.GetVM", "test"], env)
            expect(r.returncode == 0 and "ComponentEnergyJ" in r.stdout and "'idle'" in r.stdout,
                   "GetVM by name gives energy by component")
            r = run(gd + ["--method", "org.virtenergy.Manager1.GetVM", UUID], env)
            expect(r.returncode == 0 and "'Name': <'test'>" in r.stdout, "GetVM by UUID")
            r = run(gd + ["--method", "org.virtenergy.Manager1.GetVM", "nosuch"], env)
            expect(r.returncode != 0 and "NoSuchVM" in r.stderr, "GetVM of an unknown VM is an error")

            # one object per VM under the ObjectManager at /org/virtenergy, for anyone
            path = "/org/virtenergy/vm/" + UUID.replace("-", "_")
            om = ["gdbus", "call", "--system", "--dest", "org.virtenergy.Manager1", "--object-path",
                  "/org/virtenergy", "--method", "org.freedesktop.DBus.ObjectManager.GetManagedObjects"]
            def managed():
                r = run(om, env, as_nobody=True)
                return (f"'{path}'" in r.stdout and "'org.virtenergy.VM1'" in r.stdout
                        and "'/org/virtenergy/Manager1'" in r.stdout
                        and "'Name': <'test'>" in r.stdout and "'LimitState': <'none'>" in r.stdout,
                        (r.stdout + r.stderr).strip()[:300])
            ok, seen = wait_for("the VM's object", managed, 5)
            expect(ok, f"GetManagedObjects lists the host's object and the VM's, with its "
                       f"org.virtenergy.VM1 ({seen})")
            r = run(["gdbus", "call", "--system", "--dest", "org.virtenergy.Manager1", "--object-path",
                     path, "--method", "org.freedesktop.DBus.Properties.Get", "org.virtenergy.VM1",
                     "EnergyJ"], env, as_nobody=True)
            expect(r.returncode == 0 and re.search(r"<[0-9.e+]+>", r.stdout) is not None,
                   f"its EnergyJ, read by anyone ({r.stdout.strip()}{r.stderr.strip()})")

            # the Changed signal, at most once a second, counted from when the
            # monitor's match rule is on the bus (gdbus then prints the name's owner)
            mon = subprocess.Popen(["gdbus", "monitor", "--system", "--dest", "org.virtenergy.Manager1"],
                                   env=env, stdout=subprocess.PIPE, text=True)
            lines = []
            reader = threading.Thread(target=lambda: lines.extend((time.monotonic(), line)
                                                                  for line in mon.stdout))
            reader.start()
            ok, seen = wait_for("the monitor's subscription",
                                lambda: (any("is owned by" in x for _, x in lines),
                                         "".join(x for _, x in lines).strip() or "no output"))
            expect(ok, "gdbus monitor listens")
            t0 = time.monotonic()
            time.sleep(1.5)
            run([ctl, "host-cap", "50W"], env)   # a property that changes now and then
            time.sleep(2.7)
            mon.terminate()
            mon.wait(timeout=5)
            reader.join(timeout=5)
            changed = sum(1 for t, x in lines if t0 <= t <= t0 + 4.2
                          and "org.virtenergy.Manager1.Changed" in x)
            expect(3 <= changed <= 5, f"Changed about once a second ({changed} in 4.2 s)")
            props = [x for _, x in lines if "PropertiesChanged" in x]
            expect(any("'HostCapW': <50.0>" in x for x in props),
                   "a changed host cap comes in PropertiesChanged, for caching proxies")
            expect(props and not any("'Sensor'" in x or "'Version'" in x for x in props),
                   f"properties that did not change are not sent again ({len(props)} signals)")
            run([ctl, "host-cap", "none"], env)

            # an unprivileged caller reads, and cannot take the daemon's name
            r = run(gd + ["--method", "org.virtenergy.Manager1.ListVMs"], env, as_nobody=True)
            expect(r.returncode == 0 and UUID in r.stdout, f"nobody may read ({r.stderr.strip()})")
            r = run(["gdbus", "call", "--system", "--dest", "org.freedesktop.DBus", "--object-path",
                     "/org/freedesktop/DBus", "--method", "org.freedesktop.DBus.RequestName",
                     "org.virtenergy.Manager1", "0"], env, as_nobody=True)
            expect(r.returncode != 0 and "AccessDenied" in r.stderr,
                   "nobody may not own org.virtenergy.Manager1")

            # the write methods: root only, validated, and they take effect
            # the write methods: the bus lets them through, polkit decides for all but root
            def limit_is(text):
                def probe():
                    r = run(gd + ["--method", "org.virtenergy.Manager1.GetVM", "test"], env)
                    m = re.search(r"'LimitW': <[^>]*>", r.stdout)
                    return text in r.stdout, m.group(0) if m else (r.stdout.strip() or r.stderr.strip())
                return probe

            def host_cap():
                r = run(gd + ["--method", "org.freedesktop.DBus.Properties.Get", "org.virtenergy.Manager1",
                              "HostCapW"], env)
                return r.stdout.strip()

            for user, args, allowed, says in (
                    ("nobody", ["SetVMLimit", "test", "30.0"], False, "polkit does not authorize uid 65534 "
                                                                     "for org.virtenergy.set-limit"),
                    ("nobody", ["SetHostCap", "40.0"], False, "org.virtenergy.set-host-cap"),
                    (PER_VM, ["SetHostCap", "40.0"], False, "org.virtenergy.set-host-cap"),
                    (PER_VM, ["SetVMLimit", "nosuch", "30.0"], False, "org.virtenergy.set-limit"),
                    (PER_VM, ["SetVMLimit", UUID, "33.0"], True, ""),
                    (PER_VM, ["SetVMLimit", "test", "31.0"], True, ""),
                    (PER_VM, ["ClearVMLimit", "test"], True, ""),
                    (GRANTED, ["SetVMLimit", UUID, "32.0"], True, ""),
                    (GRANTED, ["ClearVMLimit", UUID], True, ""),
                    (GRANTED, ["SetHostCap", "40.0"], True, ""),
                    (GRANTED, ["ClearHostCap"], True, "")):
                r = run(gd + ["--method", "org.virtenergy.Manager1." + args[0]] + args[1:], env, user=user)
                if allowed:
                    ok = r.returncode == 0
                else:
                    ok = r.returncode != 0 and "Error.NotAuthorized" in r.stderr and says in r.stderr
                expect(ok, f"{user} {'may' if allowed else 'may not'} call {' '.join(args)} "
                           f"({(r.stdout + r.stderr).strip()})")
                if args[0] == "SetVMLimit" and allowed:
                    ok, seen = wait_for(f"LimitW {args[2]}", limit_is(f"'LimitW': <{args[2]}>"), 5)
                    expect(ok, f"  and the limit reached the VM ({seen})")
                if args[0] == "ClearVMLimit":
                    ok, seen = wait_for("LimitW 0.0", limit_is("'LimitW': <0.0>"), 5)
                    expect(ok, f"  and the limit is gone ({seen})")
                if args[0] == "SetHostCap":
                    seen = host_cap()
                    expect(("<40.0>" in seen) == allowed, f"  and HostCapW is {seen}")
            r = run([ctl, "set-limit", "test", "30W"], env, user=GRANTED)
            expect(r.returncode == 0, f"virtenergyctl set-limit as {GRANTED}, whom polkit authorizes "
                                      f"({r.stdout.strip()}{r.stderr.strip()})")
            run([ctl, "clear-limit", "test"], env)
            ok, seen = wait_for("LimitW 0.0", limit_is("'LimitW': <0.0>"), 5)
            expect(ok, f"root may clear it ({seen})")
            # a password: gdbus does not let polkit ask for one, virtenergyctl does (no agent here)
            r = run(gd + ["--method", "org.virtenergy.Manager1.SetHostCap", "40.0"], env, user=PASSWORD)
            expect(r.returncode != 0 and "did not allow interactive authorization" in r.stderr,
                   f"{PASSWORD}, who needs a password, is refused a plain call ({r.stderr.strip()})")
            r = run([ctl, "host-cap", "40W"], env, user=PASSWORD)
            expect(r.returncode == 1 and "no authentication agent answered" in r.stderr and "<0.0>" in host_cap(),
                   f"virtenergyctl lets polkit ask {PASSWORD}'s agent, and there is none ({r.stderr.strip()})")
            r = run(gd + ["--method", "org.virtenergy.Manager1.SetVMLimit", "--", "test", "-5.0"], env)
            expect(r.returncode != 0 and "InvalidArgs" in r.stderr, "a negative limit is refused")
            r = run(gd + ["--method", "org.virtenergy.Manager1.SetVMLimit", "nosuch", "30.0"], env)
            expect(r.returncode != 0 and "NoSuchVM" in r.stderr, "a limit for an unknown VM is refused")
            r = run([ctl, "set-limit", "test", "30W"], env)
            expect(r.returncode == 0 and r.stdout.strip() == "VM 'test': power limit 30.00 W",
                   f"virtenergyctl set-limit test 30W says so ({r.stdout.strip()}{r.stderr.strip()})")
            ok, seen = wait_for("LimitW 30.0", limit_is("'LimitW': <30.0>"), 5)
            expect(ok, f"the limit reached the VM through its metadata ({seen})")
            r = run([ctl, "show", "test"], env)
            expect(re.search(r"limit\s+30.00 W", r.stdout) is not None, "virtenergyctl show shows it")
            # libvirt's test driver keeps no CPU bandwidth: the limit cannot be enforced, and says why
            def limit_state():
                r = run([ctl, "--json", "show", "test"], env)
                try:
                    vm = json.loads(r.stdout)
                except ValueError:
                    return False, r.stdout.strip()
                return vm["limit_state"] == "not-enforceable", f"{vm['limit_state']}: {vm['limit_reason']}"
            ok, seen = wait_for("not-enforceable", limit_state, 10)
            expect(ok and "CPU bandwidth" in seen, f"the limit's state: {seen}")
            r = run([ctl, "list"], env)
            expect(re.search(r"^test\s+running\s+.*30.00 W\s+not-enforceable$", r.stdout, re.M) is not None,
                   f"virtenergyctl list: LIMIT and LIMIT STATE columns ({r.stdout.strip()})")
            r = run([ctl, "--json", "list"], env)
            try:
                row = json.loads(r.stdout)[0]
                ok = row["limit_w"] == 30.0 and row["limit_state"] == "not-enforceable"
            except (ValueError, KeyError, IndexError):
                ok = False
            expect(ok, f"virtenergyctl --json list: limit_w and limit_state ({r.stdout.strip()})")
            # tiny positive watts: refused by the reader's rules, the 30 W limit kept
            for w, says in (("1e-300", "rounds to 0"), ("0.0001", "out of range")):
                r = run(gd + ["--method", "org.virtenergy.Manager1.SetVMLimit", "test", w], env)
                ok, seen = limit_is("'LimitW': <30.0>")()
                expect(r.returncode != 0 and says in r.stderr and ok,
                       f"SetVMLimit {w} W is refused ({r.stderr.strip()}) and the limit stays ({seen})")
            r = run(gd + ["--method", "org.virtenergy.Manager1.SetHostCap", "1e-300"], env)
            expect(r.returncode != 0 and "rounds to 0" in r.stderr,
                   f"SetHostCap 1e-300 W is refused, not taken as 'none' ({r.stderr.strip()})")
            for args in (["set-limit", "test", "0x28W"], ["host-cap", "0x64W"],
                         ["set-limit", "test", "0.0001W"]):
                r = run([ctl] + args, env)
                ok, seen = limit_is("'LimitW': <30.0>")()
                expect(r.returncode != 0 and ok,
                       f"virtenergyctl {' '.join(args)} is refused (rc {r.returncode}: "
                       f"{r.stderr.strip()}) and the limit stays ({seen})")
            r = run([ctl, "--json", "clear-limit", "test"], env)
            ok, seen = wait_for("LimitW 0.0", limit_is("'LimitW': <0.0>"), 5)
            try:
                said = json.loads(r.stdout) == {"vm": "test", "limit_w": None}
            except ValueError:
                said = False
            expect(r.returncode == 0 and ok and said,
                   f"virtenergyctl --json clear-limit ({seen}; {r.stdout.strip()})")
            r = run([ctl, "--json", "host-cap", "100W"], env)
            r2 = run(gd + ["--method", "org.freedesktop.DBus.Properties.Get", "org.virtenergy.Manager1",
                           "HostCapW"], env)
            try:
                said = json.loads(r.stdout) == {"host_cap_w": 100.0}
            except ValueError:
                said = False
            expect(r.returncode == 0 and "<100.0>" in r2.stdout and said,
                   f"virtenergyctl --json host-cap 100W ({r.stdout.strip()})")
            r = run([ctl, "host-cap", "none"], env)
            r2 = run(gd + ["--method", "org.freedesktop.DBus.Properties.Get", "org.virtenergy.Manager1",
                           "HostCapW"], env)
            expect(r.returncode == 0 and "<0.0>" in r2.stdout and r.stdout.strip() == "host cap cleared",
                   f"virtenergyctl host-cap none ({r.stdout.strip()})")
            r = run([ctl, "set-limit", "test", "30 J"], env)
            expect(r.returncode == 2 and "unit" in r.stderr, "a power with a wrong unit: exit 2")
            r = run([ctl, "set-limit", "test", "30W"], env, as_nobody=True)
            expect(r.returncode == 1 and "not allowed" in r.stderr, "virtenergyctl as nobody: refused")

            # virtenergyctl
            r = run([ctl, "status"], env)
            expect(r.returncode == 0 and "power:" in r.stdout and "estimated" in r.stdout,
                   "virtenergyctl status")
            r = run([ctl, "--json", "status"], env)
            ok = r.returncode == 0
            try:
                st = json.loads(r.stdout)
                ok = (ok and st["estimated"] is True and st["energy_j"] > 0
                      and st["host_cap_w"] is None and "\n" not in r.stdout.strip())
            except (ValueError, KeyError):
                ok = False
            expect(ok, f"virtenergyctl --json status: {r.stdout.strip()}")
            r = run([ctl, "list"], env)
            expect(r.returncode == 0 and re.search(r"^test\s+running", r.stdout, re.M),
                   "virtenergyctl list")
            r = run([ctl, "--json", "list"], env)
            try:
                vms = json.loads(r.stdout)
                ok = r.returncode == 0 and vms[0]["uuid"] == UUID and vms[0]["energy_j"] > 0
            except (ValueError, KeyError, IndexError):
                ok = False
            expect(ok, "virtenergyctl --json list")
            r = run([ctl, "show", "test"], env)
            expect(r.returncode == 0 and "idle" in r.stdout and UUID in r.stdout, "virtenergyctl show")
            r = run([ctl, "--json", "show", UUID], env)
            try:
                vm = json.loads(r.stdout)
                ok = (r.returncode == 0 and vm["name"] == "test" and vm["uuid"] == UUID
                      and "idle" in vm["component_energy_j"] and vm["limit_w"] is None
                      and vm["identity"] == {})
            except (ValueError, KeyError):
                ok = False
            expect(ok, "virtenergyctl --json show")
            r = run([ctl, "top", "--once"], env)
            expect(r.returncode == 0 and "test" in r.stdout and "power:" in r.stdout,
                   "virtenergyctl top --once")
            # top --json: one JSON document a line (NDJSON), one line a refresh
            r = run([ctl, "--json", "top", "--iterations", "2"], env)
            lines = r.stdout.splitlines()
            try:
                docs = [json.loads(line) for line in lines]
                ok = (r.returncode == 0 and len(docs) == 2 and all(
                    d["host"]["energy_j"] > 0 and d["vms"][0]["uuid"] == UUID for d in docs))
            except (ValueError, KeyError, IndexError, TypeError):
                ok = False
            expect(ok, f"virtenergyctl --json top -n 2: two lines, each a document ({len(lines)} lines)")
            r = run([ctl, "top", "-n", "2"], env)
            expect(r.returncode == 0 and r.stdout.count("power:") == 2,
                   "virtenergyctl top -n 2: two refreshes, then exits")
            r = run([ctl, "top", "-n", "-1"], env)
            expect(r.returncode == 2 and "--iterations" in r.stderr, "top -n -1: exit 2")
            r = run([ctl, "show", "nosuch"], env)
            expect(r.returncode == 3 and "no VM 'nosuch'" in r.stderr, "unknown VM: exit 3 and says so")
            r = run([ctl, "frobnicate"], env)
            expect(r.returncode == 2 and "unknown command" in r.stderr, "unknown command: exit 2")
            r = run([ctl, "show"], env)
            expect(r.returncode == 2, "show without a VM: exit 2")
            r = run([ctl, "status"], dict(env, DBUS_SYSTEM_BUS_ADDRESS=f"unix:path={tmp}/none"))
            expect(r.returncode == 1 and "virtenergyctl:" in r.stderr, "no bus: exit 1 with a message")

            # without polkitd: root is allowed all the same, nobody is told there is no polkit
            privbus.stop(polkitd)
            r = run(gd + ["--method", "org.virtenergy.Manager1.SetHostCap", "45.0"], env)
            seen = host_cap()
            expect(r.returncode == 0 and "<45.0>" in seen,
                   f"with no polkitd on the bus root may still set the host cap ({seen}{r.stderr.strip()})")
            r = run(gd + ["--method", "org.virtenergy.Manager1.ClearHostCap"], env, user=GRANTED)
            expect(r.returncode != 0 and "no polkit daemon is on the bus" in r.stderr and "<45.0>" in host_cap(),
                   f"and {GRANTED} may not: {r.stderr.strip()}")
            run(gd + ["--method", "org.virtenergy.Manager1.ClearHostCap"], env)
        finally:
            proc.terminate()
            try:
                proc.wait(timeout=10)
            except subprocess.TimeoutExpired:
                proc.kill()
            privbus.stop(polkitd)
            bus.terminate()
            bus.wait(timeout=10)
        expect(proc.returncode == 0, f"the daemon exits 0 (rc {proc.returncode})")
        if tap.failures:
            print("# daemon log:\n# " + proc.stderr.read().replace("\n", "\n# "))
    return 1 if tap.failures else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1], sys.argv[2]))
