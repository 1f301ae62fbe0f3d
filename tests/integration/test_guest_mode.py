# SPDX-License-Identifier: GPL-2.0-or-later
"""virtenergyd --guest inside a real guest kernel (run by scripts/vmtest).

A fixture export directory whose energy_uj a feeder advances at 20 W (from
the clock, so the rate is exact), two cgroups (v2) with different loads:
  1. attribution: their energies are in proportion to their CPU time
     (within 10 %), and cgroups + the guest's own = the VM's energy;
  2. a per-cgroup limit holds: its power within ±10 % of the limit over
     the last 5 s, cpu.max lowered while it runs and put back on SIGTERM;
  3. a VM limit below the cgroup's limit scales it down;
  4. a bad limit is refused with a message and changes nothing.
usage: test_guest_mode.py BUILD_DIR
"""
import os
import re
import signal
import subprocess
import sys
import threading
import time

sys.path.insert(0, os.path.dirname(__file__))
from tap import expect  # noqa: E402
import tap  # noqa: E402

BUILD = os.path.abspath(sys.argv[1])
DAEMON = os.path.join(BUILD, "daemon", "virtenergyd")
CG = "/sys/fs/cgroup"
SRC = "/tmp/gx"
ZONE = SRC + "/intel-rapl:0"
RANGE = 262143328850
RATE_UW = 20_000_000


def write(path, text):
    with open(path, "w") as f:
        f.write(text)


def read(path):
    with open(path) as f:
        return f.read()


def usage_usec(name):
    m = re.search(r"^usage_usec (\d+)", read(f"{CG}/{name}/cpu.stat"), re.M)
    return int(m.group(1))


stop = threading.Event()


def feeder():
    """energy_uj = 20 W × time since start, wrapping like RAPL."""
    t0 = time.monotonic()
    while not stop.is_set():
        e = int((time.monotonic() - t0) * RATE_UW) % RANGE
        write(ZONE + "/energy_uj.tmp", f"{e}\n")
        os.rename(ZONE + "/energy_uj.tmp", ZONE + "/energy_uj")
        time.sleep(0.02)


def spawn_in(cgroup, code):
    p = subprocess.Popen([sys.executable, "-c", code])
    write(f"{CG}/{cgroup}/cgroup.procs", f"{p.pid}\n")
    return p


BUSY = "while True: pass"
# about a third of a CPU: 10 ms of work, 20 ms of sleep
THIRD = ("import time\n"
         "while True:\n"
         "    t = time.monotonic()\n"
         "    while time.monotonic() - t < 0.01: pass\n"
         "    time.sleep(0.02)\n")


def parse_table(block):
    """One printed table ("VM ... J" and its rows) -> (vm_j, own_j, rows)."""
    rows = {}
    for line in block.splitlines()[2:]:
        f = line.split()
        if len(f) >= 5:
            rows[f[0]] = {"power": float(f[1]), "energy": float(f[2]),
                          "limit": None if f[3] == "-" else float(f[3]), "cpu": f[4]}
    head = re.match(r"VM ([\d.]+) J.*guest's own ([\d.]+) J", block)
    return (float(head.group(1)), float(head.group(2)), rows) if head else (0, 0, rows)


def run_daemon(n_tables, *extra, deadline_s=120):
    """Run the guest daemon until it has printed @n_tables tables (one a
    second; under TCG it takes seconds to start, so a fixed sleep would
    measure the start-up), then SIGTERM it.  Returns (rc, stdout, stderr,
    tables, usage) where usage[i] is (usage_usec of a, of b, a's cpu.max)
    read when table i came out."""
    p = subprocess.Popen([DAEMON, "--guest", "--guest-source", SRC, "--cgroup-parent", CG,
                          "--state-dir", "/tmp/gstate", "--foreground", *extra],
                         stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    lines, usage, n = [], [], 0
    killer = threading.Timer(deadline_s, p.send_signal, (signal.SIGTERM,))
    killer.start()
    expect_rows = 0
    for line in p.stdout:
        lines.append(line)
        if line.startswith("VM "):
            # the header, then a row per child cgroup (as the daemon lists them)
            expect_rows = 2 + len([d for d in os.listdir(CG)
                                   if os.path.exists(f"{CG}/{d}/cgroup.procs")])
        if expect_rows:
            expect_rows -= 1
            if expect_rows == 0:       # the table's last row
                usage.append((usage_usec("a"), usage_usec("b"), read(f"{CG}/a/cpu.max").strip()))
                n += 1
                if n >= n_tables:
                    break
    killer.cancel()
    p.send_signal(signal.SIGTERM)
    rest, err = p.communicate(timeout=30)
    out = "".join(lines) + rest
    tables = [parse_table("VM " + b) for b in "".join(lines).split("VM ")[1:]]
    return p.returncode, out, err, tables[:len(usage)], usage


def main():
    os.makedirs(ZONE, exist_ok=True)
    os.makedirs("/tmp/gstate", exist_ok=True)
    write(ZONE + "/max_energy_range_uj", f"{RANGE}\n")
    write(ZONE + "/constraint_0_power_limit_uw", "0\n")
    write(ZONE + "/energy_uj", "0\n")
    write(CG + "/cgroup.subtree_control", "+cpu\n")
    for name in ("a", "b"):
        os.makedirs(f"{CG}/{name}", exist_ok=True)
    threading.Thread(target=feeder, daemon=True).start()
    procs = [spawn_in("a", BUSY), spawn_in("b", THIRD)]
    try:
        time.sleep(0.5)
        # 1. attribution, between the first and the last of 7 tables
        rc, out, err, tables, usage = run_daemon(7)
        expect(rc == 0 and len(tables) == 7,
               f"the guest daemon ran, printed 7 tables and exited 0 on SIGTERM "
               f"(rc {rc}, {len(tables)} tables; {err.strip()[-200:]})")
        if len(tables) >= 3:
            (vm0, own0, r0), (vm, own, rows) = tables[0], tables[-1]
            ea, eb = rows["a"]["energy"] - r0["a"]["energy"], rows["b"]["energy"] - r0["b"]["energy"]
            ua, ub = usage[-1][0] - usage[0][0], usage[-1][1] - usage[0][1]
            secs = len(tables) - 1
            print(f"# over {secs} s: cpu time a {ua / 1e6:.2f} s, b {ub / 1e6:.2f} s; energy a "
                  f"{ea:.2f} J, b {eb:.2f} J, own {own - own0:.2f} J, VM {vm - vm0:.2f} J")
            ratio_cpu, ratio_e = ua / ub, ea / eb
            expect(abs(ratio_e / ratio_cpu - 1) < 0.10,
                   f"energy a:b = {ratio_e:.2f} against CPU time a:b = {ratio_cpu:.2f} (within 10 %)")
            tot = rows["a"]["energy"] + rows["b"]["energy"] + own
            expect(abs(tot - vm) < 0.01,
                   f"cgroups + the guest's own = the VM's energy ({tot:.3f} vs {vm:.3f} J)")
            expect(abs((vm - vm0) / secs - RATE_UW / 1e6) < 0.15 * RATE_UW / 1e6,
                   f"the VM's energy came in at about 20 W ({(vm - vm0) / secs:.1f} J per table)")

        # 2. a limit on a
        limit_w = 6.0
        rc, out, err, tables, usage = run_daemon(16, "--guest-limit", f"a={limit_w:g}W",
                                                 "--prom-file", "/tmp/guest.prom")
        seen_max = [u[2] for u in usage[-1:]]
        after = read(f"{CG}/a/cpu.max").strip()
        if len(tables) >= 10:
            last = [tb[2]["a"]["power"] for tb in tables[-5:]]
            mean = sum(last) / len(last)
            print(f"# a limited to {limit_w} W: last 5 s {', '.join(f'{x:.2f}' for x in last)} W; "
                  f"cpu.max during the run '{seen_max[0] if seen_max else '?'}'")
            expect(abs(mean / limit_w - 1) < 0.10, f"a held to {mean:.2f} W against {limit_w} W (±10 %)")
        else:
            expect(False, f"a table every second while limited ({len(tables)} tables; {err[:200]})")
        expect(bool(seen_max) and not seen_max[0].startswith("max"),
               f"cpu.max lowered while limited ('{seen_max[0] if seen_max else ''}')")
        expect(rc == 0 and after == "max 100000", f"SIGTERM put cpu.max back ('{after}')")
        expect(not os.path.exists("/tmp/gstate/cgquota"), "and left no throttle record")

        prom = read("/tmp/guest.prom") if os.path.exists("/tmp/guest.prom") else ""
        m = re.search(r'^virtenergy_cgroup_power_limit_watts\{cgroup="a"\} ([\d.]+)$', prom, re.M)
        expect(m is not None and abs(float(m.group(1)) - limit_w) < 1e-6,
               f"the Prometheus textfile shows a's limit ({m.group(0) if m else prom[:300]})")
        pt = subprocess.run(["promtool", "check", "metrics"], input=prom, capture_output=True,
                            text=True)
        expect(pt.returncode == 0 and not (pt.stdout + pt.stderr).strip(),
               f"promtool check metrics is clean ({(pt.stdout + pt.stderr).strip()[:300]})")

        # 3. the VM's own limit is below the cgroup's: it is scaled down
        write(ZONE + "/constraint_0_power_limit_uw", "3000000\n")
        rc, out, err, tables, _ = run_daemon(2, "--guest-limit", "a=6W")
        lim = tables[-1][2]["a"]["limit"] if tables else None
        expect(lim is not None and abs(lim - 3.0) < 0.01,
               f"a VM limit of 3 W scales a's 6 W limit to {lim} W")
        write(ZONE + "/constraint_0_power_limit_uw", "0\n")

        # 4. bad input
        r = subprocess.run([DAEMON, "--guest", "--guest-source", SRC, "--cgroup-parent", CG,
                            "--state-dir", "/tmp/gstate", "--guest-limit", "a=-3W"],
                           capture_output=True, text=True, timeout=20)
        expect(r.returncode == 2 and "guest limit for 'a'" in r.stderr,
               f"a negative limit is refused with a message (rc {r.returncode}: {r.stderr.strip()})")
        r = subprocess.run([DAEMON, "--guest", "--guest-source", "/tmp/nowhere", "--cgroup-parent", CG,
                            "--state-dir", "/tmp/gstate"], capture_output=True, text=True, timeout=20)
        expect(r.returncode == 2 and "/tmp/nowhere" in r.stderr,
               "a missing export is refused and named")
        expect(read(f"{CG}/a/cpu.max").strip() == "max 100000", "and neither touched cpu.max")
    finally:
        stop.set()
        for p in procs:
            p.kill()
            p.wait()
    return 1 if tap.failures else 0


if __name__ == "__main__":
    sys.exit(main())
