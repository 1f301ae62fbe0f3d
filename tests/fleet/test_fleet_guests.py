#!/usr/bin/env python3
# SPDX-License-Identifier: GPL-2.0-or-later
"""A fleet host with a real QEMU (TCG) guest under the system libvirtd.

The 3-member etcd cluster of test_fleet.py, one host on a fixture root and
one on this machine itself (qemu:///system, the real /proc), running a busy
guest fleet-g1 with a 5 W guarantee in its metadata.  The real host is run
with --dry-run: the system libvirtd runs other people's guests too, which a
fleet cap would otherwise throttle; its actuators only log what they would
write.  Checked: the real host reports measured power and the guest's
guarantee, gets a fleet cap, splits it among its VMs (the limiter's log),
and the two caps in force never sum above the rack's budget.  Skips (77)
where libvirtd or QEMU cannot run a guest.

usage: test_fleet_guests.py BUILD_DIR SOURCE_DIR
"""
import json
import os
import shutil
import signal
import subprocess
import sys
import tempfile
import time

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)
sys.path.insert(0, os.path.join(HERE, "..", "integration"))
import tap  # noqa: E402
from tap import expect  # noqa: E402
from cluster import Checker, Etcd, Host  # noqa: E402

PREFIX = "/virtenergy/guests-test"
GUEST = "fleet-g1"


def guests(source, tmp, script):
    return subprocess.run(["bash", "-c", f"export GUESTS_DIR={tmp}; source {source}/tests/integration/guests.sh; "
                           + script], capture_output=True, text=True, timeout=180)


def main(build, source):
    if not shutil.which("etcd") or os.getuid() != 0:
        print("# skip: needs etcd and root")
        return 77
    tmp = tempfile.mkdtemp(prefix="ve-fleet-g-")
    os.chmod(tmp, 0o755)
    etcd = chk = None
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
        etcd = Etcd(tmp)
        while not etcd.healthy():
            time.sleep(0.2)
        etcd.ctl("put", PREFIX + "/tree", json.dumps({"rack": {"budget_w": 400}}))
        daemon = os.path.join(build, "daemon", "virtenergyd")
        fixture = Host(tmp, daemon, etcd, "fixture", "rack", 60, PREFIX, 3, 500)
        real = Host(tmp, daemon, etcd, "real", "rack", 60, PREFIX, 3, 500)
        # the real host: this machine's /proc and the system libvirtd, actuators in dry run
        real.kill()
        with open(real.conf, encoding="ascii") as f:
            conf = f.read().replace("[host-model]\nidle-power=60W\nmax-power=200W\n", "")
        with open(real.conf, "w", encoding="ascii") as f:
            f.write(conf)
        log = open(os.path.join(real.dir, "daemon.log"), "a")
        real.proc = subprocess.Popen([daemon, "-c", real.conf, "--uri", "qemu:///system", "--dry-run",
                                      "--state-dir", real.state, "--export-dir", "", "--vmsr-socket", "",
                                      "--prom-file", "", "--bus", "none"], stdout=log, stderr=log)
        hosts = [fixture, real]
        chk = Checker(hosts, {"rack": 400}, etcd)

        def report(name):
            r = etcd.ctl("get", "--print-value-only", f"{PREFIX}/hosts/{name}", check=False)
            try:
                return json.loads(r.stdout)
            except ValueError:
                return None

        t0 = time.monotonic()
        rep = None
        while time.monotonic() - t0 < 40:
            rep = report("real")
            if rep and rep["source"] == "fleet" and rep["guarantee_uw"] >= 5000000 and rep["power_uw"] > 0 \
                    and (real.cap() or (0, ""))[0] > 1:
                break
            time.sleep(0.5)
        expect(rep is not None and rep["source"] == "fleet" and rep["guarantee_uw"] >= 5000000,
               f"the real host reports its guest's guarantee and measured power and holds a fleet cap: {rep}")
        time.sleep(3)
        lg = real.log()
        expect("host cap" in lg and "split among running VMs" in lg,
               "its limiter splits the fleet cap among its VMs (dry run: " +
               next((line for line in reversed(lg.splitlines()) if "host cap" in line), "?") + ")")
        res = chk.finish()
        chk = None
        over = max(res["worst"].values())
        expect(over <= 1e-6, f"in {res['samples']} samples the two caps in force never summed above 400 W "
                             f"(largest excess {max(over, 0):.6f} W)")
    finally:
        if chk:
            chk.finish()
        for h in hosts:
            h.kill(signal.SIGTERM)
        if etcd:
            etcd.stop()
        guests(source, tmp, f"virsh -q destroy {GUEST} >/dev/null 2>&1; virsh -q undefine {GUEST} >/dev/null 2>&1")
        if tap.failures:
            for h in hosts:
                print(f"# --- {h.name}")
                for line in h.log().splitlines()[-15:]:
                    print("#   " + line)
        shutil.rmtree(tmp, ignore_errors=True)
    return 1 if tap.failures else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1], sys.argv[2]))
