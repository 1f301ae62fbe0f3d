#!/usr/bin/env python3
# SPDX-License-Identifier: GPL-2.0-or-later
"""A fleet cap enforced on a real QEMU (TCG) guest under the system libvirtd.

The 3-member etcd cluster of test_fleet.py, one host on a fixture root and
one on this machine itself (qemu:///system, the real /proc), running a busy
guest of its own (vefleet-PID) with a 5 W guarantee in its metadata.
Checked: the real host reports measured power and the guest's guarantee,
gets a fleet cap and splits it among its VMs; when the rack's budget is cut
so that its fleet cap falls below its demand, the guest's CPU quota (cgroup
CPU bandwidth set through libvirt, `virsh schedinfo`'s vcpu_quota) comes
down; when the daemon stops (SIGTERM) the quota is what it was before; and
the two caps in force never sum above the rack's budget.

Only the test's own guest may be touched.  Under a host cap virtenergyd
holds every running VM of its libvirt connection, so the real host runs
for real only while the test's guest is the only one running: it is
checked before the daemon starts, and every half second while it runs; a
foreign guest seen then stops the daemon at once (SIGTERM restores
whatever it set) and the enforcement checks fail.
Where another guest runs from the start, the real host runs in dry run
(its actuators only log), the reporting and the split are checked, and
a failed check says enforcement was not.
Skips (77) where libvirtd or QEMU cannot run a guest.

usage: test_fleet_guests.py BUILD_DIR SOURCE_DIR
"""
import json
import os
import shutil
import signal
import subprocess
import sys
import tempfile
import threading
import time

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)
sys.path.insert(0, os.path.join(HERE, "..", "integration"))
import tap  # noqa: E402
from tap import expect  # noqa: E402
from cluster import Checker, Etcd, Host  # noqa: E402

PREFIX = "/virtenergy/guests-test"
GUEST = f"vefleet-{os.getpid()}"
TTL = 3
BUDGET_HIGH = 400
BUDGET_LOW = 50       # two hosts, floors 10 W: 25 W each, well below a spinning TCG guest


def guests(source, tmp, script):
    return subprocess.run(["bash", "-c", f"export GUESTS_DIR={tmp}; source {source}/tests/integration/guests.sh; "
                           + script], capture_output=True, text=True, timeout=180)


def virsh(*args):
    return subprocess.run(["virsh", "-q", "-c", "qemu:///system"] + list(args), capture_output=True, text=True,
                          timeout=30)


def running_others():
    """The running domains of qemu:///system other than the test's; None when virsh fails."""
    r = virsh("list", "--name")
    if r.returncode != 0:
        return None
    return sorted(n for n in r.stdout.split() if n != GUEST)


def quota():
    """The guest's vcpu_quota (µs; -1 or a huge value: none), None when not readable."""
    r = virsh("schedinfo", GUEST)
    for line in r.stdout.splitlines():
        k, _, v = line.partition(":")
        if k.strip() == "vcpu_quota":
            try:
                return int(v.strip())
            except ValueError:
                return None
    return None


def unlimited(q):
    return q is not None and (q < 0 or q >= 17592186044415)


class Guard:
    """Every half second: another guest running under qemu:///system stops
    the real daemon at once (SIGTERM: it restores what it set)."""

    def __init__(self, host):
        self.host, self.foreign, self.stop = host, None, threading.Event()
        self.thread = threading.Thread(target=self._run, daemon=True)
        self.thread.start()

    def _run(self):
        while not self.stop.wait(0.5):
            others = running_others()
            if others:
                self.foreign = others
                self.host.kill(signal.SIGTERM)
                return

    def finish(self):
        self.stop.set()
        self.thread.join(5)


def main(build, source):
    if not shutil.which("etcd") or os.getuid() != 0:
        print("# skip: needs etcd and root")
        return 77
    tmp = tempfile.mkdtemp(prefix="ve-fleet-g-")
    os.chmod(tmp, 0o755)
    etcd = chk = guard = None
    hosts = []
    try:
        r = guests(source, tmp, f"set -e; guests_up; guests_define {GUEST} busy 1; "
                   f"virsh -q metadata {GUEST} http://virtenergy.org/xmlns/energy/1 --key energy --config "
                   f"--set '<energy><guarantee>5 W</guarantee></energy>' >/dev/null; "
                   f"guests_start {GUEST}; guests_wait_booted {GUEST}")
        if r.returncode != 0:
            print(f"# skip: no guest could be started: {r.stderr.strip()[-300:]}")
            return 77
        expect(True, f"a TCG guest {GUEST} runs under qemu:///system with a 5 W guarantee")
        q0 = quota()
        others = running_others()
        enforce = others == []
        # a check not made is a failure, not a pass: the dry run only keeps others' guests unthrottled
        expect(enforce, "no other guest runs under qemu:///system, so the fleet cap is enforced for real"
               + ("" if enforce else f" (others: {others}; the real host runs in dry run, "
                                     "enforcement is not checked)"))
        etcd = Etcd(tmp)
        while not etcd.healthy():
            time.sleep(0.2)
        etcd.ctl("put", PREFIX + "/tree", json.dumps({"rack": {"budget_w": BUDGET_HIGH}}))
        daemon = os.path.join(build, "daemon", "virtenergyd")
        fixture = Host(tmp, daemon, etcd, "fixture", "rack", 60, PREFIX, TTL, 500)
        real = Host(tmp, daemon, etcd, "real", "rack", 60, PREFIX, TTL, 500)
        # the real host: this machine's /proc and the system libvirtd
        real.kill()
        with open(real.conf, encoding="ascii") as f:
            conf = f.read().replace("[host-model]\nidle-power=60W\nmax-power=200W\n", "")
        with open(real.conf, "w", encoding="ascii") as f:
            f.write(conf)
        log = open(os.path.join(real.dir, "daemon.log"), "a")
        real.proc = subprocess.Popen([daemon, "-c", real.conf, "--uri", "qemu:///system"]
                                     + ([] if enforce else ["--dry-run"])
                                     + ["--state-dir", real.state, "--export-dir", "", "--vmsr-socket", "",
                                        "--prom-file", "", "--bus", "none"], stdout=log, stderr=log)
        if enforce:
            guard = Guard(real)
        hosts = [fixture, real]
        chk = Checker(hosts, {"rack": BUDGET_HIGH}, etcd)

        def report(name):
            r = etcd.ctl("get", "--print-value-only", f"{PREFIX}/hosts/{name}", check=False)
            try:
                return json.loads(r.stdout)
            except ValueError:
                return None

        def wait(probe, seconds):
            t0 = time.monotonic()
            while time.monotonic() - t0 < seconds:
                v = probe()
                if v:
                    return v
                time.sleep(0.5)
            return None

        def under_fleet_cap():
            rep = report("real")
            if rep and rep["source"] == "fleet" and rep["guarantee_uw"] >= 5000000 and rep["power_uw"] > 0 \
                    and (real.cap() or (0, ""))[0] > 1:
                return rep
            return None

        rep = wait(under_fleet_cap, 40)
        expect(rep is not None, f"the real host reports its guest's guarantee and measured power and holds a "
                                f"fleet cap: {rep or report('real')}")
        time.sleep(2)
        lg = real.log()
        expect("host cap" in lg and "split among running VMs" in lg,
               "its limiter splits the fleet cap among its VMs (" + ("" if enforce else "dry run: ") +
               next((line for line in reversed(lg.splitlines()) if "host cap" in line), "?") + ")")

        if enforce:
            # the rack's budget cut: 25 W each, below what the spinning guest draws
            q_high = quota()
            etcd.ctl("put", PREFIX + "/tree", json.dumps({"rack": {"budget_w": BUDGET_LOW}}))

            def held():
                c, rep = real.cap(), report("real")
                q = quota()
                if c and c[1] == "fleet" and c[0] <= BUDGET_LOW / 2 + 0.05 and rep \
                        and rep["demand_uw"] > c[0] * 1e6 and q is not None and not unlimited(q) \
                        and (unlimited(q_high) or q_high is None or q < q_high):
                    return c, rep, q
                return None

            got = wait(held, 8 * TTL)
            if got and not guard.foreign:
                chk.set_budget("rack", BUDGET_LOW)
            ok = got is not None and not guard.foreign
            expect(ok, f"rack budget {BUDGET_HIGH} -> {BUDGET_LOW} W: the real host's fleet cap falls below its "
                       f"demand and its guest's vcpu_quota comes down (before: {q_high}): " +
                       (f"cap {got[0][0]:.2f} W, demand {got[1]['demand_uw'] / 1e6:.2f} W, measured "
                        f"{got[1]['power_uw'] / 1e6:.2f} W, vcpu_quota {got[2]} us" if got else
                        f"cap {real.cap()}, vcpu_quota {quota()}, report {report('real')}"))
            if ok:
                time.sleep(3)
                q_later = quota()
                expect(q_later is not None and not unlimited(q_later) and (real.cap() or (0, ""))[0] <= 25.05,
                       f"...and it stays held ({q_later} us a few seconds later, cap {real.cap()})")
            guard.finish()
            real.kill(signal.SIGTERM)
            hosts.remove(real)
            after = wait(lambda: "ok" if quota() == q0 else None, 10)
            expect(after is not None and not guard.foreign,
                   f"the daemon stopped (SIGTERM): the guest's vcpu_quota is back to {q0} (now {quota()})")
            if guard.foreign:
                print(f"# not checked: guests of others started meanwhile ({guard.foreign}); "
                      "the real daemon was stopped at once")
        res = chk.finish()
        chk = None
        over = max(res["worst"].values())
        expect(over <= 1e-6, f"in {res['samples']} samples the two caps in force never summed above the rack's "
                             f"budget (largest excess {max(over, 0):.6f} W)")
    finally:
        if guard:
            guard.finish()
        if chk:
            chk.finish()
        for h in hosts:
            h.kill(signal.SIGTERM)
        if etcd:
            etcd.stop()
        guests(source, tmp, f"virsh -q destroy {GUEST} >/dev/null 2>&1; virsh -q undefine {GUEST} >/dev/null 2>&1")
        if tap.failures:
            for n in ("fixture", "real"):
                p = os.path.join(tmp, n, "daemon.log")
                if os.path.exists(p):
                    print(f"# --- {n}")
                    for line in open(p, encoding="utf-8", errors="replace").read().splitlines()[-15:]:
                        print("#   " + line)
        shutil.rmtree(tmp, ignore_errors=True)
    return 1 if tap.failures else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1], sys.argv[2]))
