#!/usr/bin/env python3
# SPDX-License-Identifier: GPL-2.0-or-later
"""virtenergyd as a systemd service, without systemd as PID 1.

1. `systemd-analyze verify` accepts the unit (configured to run the built
   daemon), with no warning; its man: pages are not installed here (the
   man pages' own test checks them).
2. sd_notify: with NOTIFY_SOCKET pointing at a socket of this test and a
   1 s watchdog, the daemon says READY=1 and a STATUS= line, and pings
   WATCHDOG=1 from its accounting loop at least twice a second.  Stalled
   on purpose (SIGSTOP) it stops pinging; resumed, it pings again; on
   SIGTERM it says STOPPING=1 and exits 0.
3. SIGHUP (the unit's ExecReload) rereads the configuration: a new host
   cap is taken, with RELOADING=1 then READY=1; a file that no longer
   loads is refused by name and the daemon keeps running on the old one.

usage: test_service.py BUILD_DIR UNIT_FILE
"""
import os
import signal
import socket
import subprocess
import sys
import tempfile
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import tap  # noqa: E402
from tap import expect  # noqa: E402


def collect(sock, seconds):
    """Datagrams received within SECONDS, with their arrival times."""
    out = []
    end = time.monotonic() + seconds
    while time.monotonic() < end:
        sock.settimeout(max(0.01, end - time.monotonic()))
        try:
            out.append((time.monotonic(), sock.recv(4096).decode(errors="replace")))
        except socket.timeout:
            pass
    return out


def main(build, unit):
    r = subprocess.run(["systemd-analyze", "verify", "--man=no", unit], capture_output=True, text=True)
    expect(r.returncode == 0 and not r.stderr.strip() and not r.stdout.strip(),
           f"systemd-analyze verify accepts the unit (rc {r.returncode}) {r.stderr.strip()}")

    daemon = os.path.join(build, "daemon", "virtenergyd")
    with tempfile.TemporaryDirectory() as tmp:
        path = os.path.join(tmp, "notify")
        sock = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
        sock.bind(path)
        root = os.path.join(tmp, "root")
        os.makedirs(os.path.join(root, "proc"))
        with open(os.path.join(root, "proc", "stat"), "w", encoding="ascii") as f:
            f.write("cpu0 1 0 0 1 0 0 0 0 0 0\n")
        conf = os.path.join(tmp, "virtenergyd.conf")
        with open(conf, "w", encoding="ascii") as f:
            f.write("[limits]\nhost-cap=100W\n")
        env = dict(os.environ, NOTIFY_SOCKET=path, WATCHDOG_USEC="1000000")
        # WATCHDOG_PID must name the daemon: the shell's pid becomes the daemon's at exec
        proc = subprocess.Popen(
            ["sh", "-c", 'WATCHDOG_PID=$$ exec "$0" "$@"', daemon, "--config", conf, "--root", root,
             "--uri", "test:///default", "--state-dir", os.path.join(tmp, "state"),
             "--export-dir", "", "--vmsr-socket", ""],
            env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
        try:
            first = collect(sock, 3)
            msgs = "\n".join(m for _, m in first)
            expect("READY=1" in msgs, "READY=1 sent")
            expect("STATUS=" in msgs and "VMs" in msgs, "a STATUS= line: " +
                   next((m for _, m in first if m.startswith("STATUS=")), "none"))
            pings = [t for t, m in first if "WATCHDOG=1" in m]
            expect(len(pings) >= 4, f"pings the watchdog at least twice a second ({len(pings)} in 3 s)")

            os.kill(proc.pid, signal.SIGSTOP)
            stalled = collect(sock, 2.5)
            expect(not any("WATCHDOG=1" in m for _, m in stalled),
                   "a stalled daemon stops pinging (systemd would restart it)")
            os.kill(proc.pid, signal.SIGCONT)
            resumed = collect(sock, 2)
            expect(any("WATCHDOG=1" in m for _, m in resumed), "pings again once it runs")

            with open(conf, "w", encoding="ascii") as f:
                f.write("[limits]\nhost-cap=80W\n")
            os.kill(proc.pid, signal.SIGHUP)
            reloaded = collect(sock, 1.5)
            msgs = [m for _, m in reloaded]
            expect(proc.poll() is None, "SIGHUP does not stop the daemon")
            expect("RELOADING=1" in msgs and "READY=1" in msgs[msgs.index("RELOADING=1"):]
                   if "RELOADING=1" in msgs else False,
                   "SIGHUP: RELOADING=1, then READY=1")
            with open(conf, "w", encoding="ascii") as f:
                f.write("[limits]\nhost-cap=-3W\n")
            os.kill(proc.pid, signal.SIGHUP)
            refused = collect(sock, 1.5)
            expect(proc.poll() is None and any("WATCHDOG=1" in m for _, m in refused),
                   "a configuration that no longer loads leaves the daemon running")

            proc.send_signal(signal.SIGTERM)
            proc.wait(timeout=10)
            log = proc.stderr.read()
            expect("host cap 100.000 W -> 80.000 W" in log,
                   "the reload took the new host cap: " +
                   next((l for l in log.splitlines() if "reloaded" in l), "no 'reloaded' line"))
            expect("reload refused" in log and "host-cap" in log and "configuration in force stays" in log,
                   "the bad file was refused, naming the key: " +
                   next((l for l in log.splitlines() if "refused" in l), "no 'refused' line"))
            last = collect(sock, 0.3)
            expect(any("STOPPING=1" in m for _, m in resumed + last), "STOPPING=1 on SIGTERM")
            expect(proc.returncode == 0, f"exits 0 (rc {proc.returncode})")
        finally:
            if proc.poll() is None:
                proc.kill()
            sock.close()
    return 1 if tap.failures else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1], sys.argv[2]))
