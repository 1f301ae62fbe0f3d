#!/usr/bin/env python3
# SPDX-License-Identifier: GPL-2.0-or-later
"""virtenergyd's qemu-vmsr-helper socket, end to end on a fixture root.

This process plays QEMU: it writes its own pid into the fixture's libvirt
pid file for the test driver's domain "test" (libvirt's test:///default),
with a fixture /proc entry for itself, starts the real daemon with
--root FIXTURE, and then speaks the helper protocol over the daemon's
socket: three native-endian u32 {msr, cpu, tid}, one u64 back.  A second
process, not QEMU, must be refused.  Prints one line per check.

usage: test_vmsr_daemon.py BUILD_DIR
"""
import configparser
import os
import socket
import struct
import subprocess
import sys
import tempfile
import time

UUID = "6695eb01-f6a4-8304-79aa-97f2502e193f"
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import tap  # noqa: E402
from tap import expect  # noqa: E402


def write(root, rel, text):
    path = os.path.join(root, rel)
    os.makedirs(os.path.dirname(path), exist_ok=True)
    with open(path, "w", encoding="ascii") as f:
        f.write(text)


def ask(sock_path, msr, tid, cpu=0):
    """The u64 answer, or None when the daemon closed the connection."""
    s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    s.settimeout(5)
    s.connect(sock_path)
    s.sendall(struct.pack("=III", msr, cpu, tid))
    data = b""
    try:
        while len(data) < 8:
            chunk = s.recv(8 - len(data))
            if not chunk:
                break
            data += chunk
    finally:
        s.close()
    return struct.unpack("=Q", data)[0] if len(data) == 8 else None


def main(build):
    daemon = os.path.join(build, "daemon", "virtenergyd")
    with tempfile.TemporaryDirectory() as root:
        pid = os.getpid()
        write(root, "proc/stat", "cpu  10 0 0 100 0 0 0 0 0 0\ncpu0 10 0 0 100 0 0 0 0 0 0\n")
        write(root, "run/libvirt/qemu/test.pid", f"{pid}\n")
        write(root, f"proc/{pid}/cgroup", "0::/\n")
        for tid in (pid, pid + 1):
            write(root, f"proc/{pid}/task/{tid}/comm", "CPU 0/KVM\n")
            write(root, f"proc/{pid}/task/{tid}/schedstat", "1000 0 1\n")
        sock = os.path.join(root, "vmsr.sock")
        state = os.path.join(root, "state")
        proc = subprocess.Popen(
            [daemon, "--root", root, "--uri", "test:///default", "--state-dir", state,
             "--export-dir", "", "--vmsr-socket", sock],
            stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
        try:
            for _ in range(50):
                if os.path.exists(sock) and os.path.exists(os.path.join(state, "state")):
                    break
                time.sleep(0.1)
            time.sleep(1.5)  # the daemon finds the domain's process at its first thread listing
            expect(os.path.exists(sock), "the daemon listens on its vmsr helper socket")
            expect(oct(os.stat(sock).st_mode & 0o777) == "0o600", "the socket is mode 0600")

            unit = ask(sock, 0x606, pid)
            expect(unit == 0xA0E03, f"MSR_RAPL_POWER_UNIT is 0xa0e03 (saw {unit})")
            status = ask(sock, 0x611, pid + 1)
            cp = configparser.ConfigParser(interpolation=None)
            cp.optionxform = str
            cp.read(os.path.join(state, "state"), encoding="utf-8")
            total = int(cp[f"vm:{UUID}"]["total_uj"])
            # the counter in 61 µJ units and the ledger a moment apart: within 2 s of 40 W
            got_uj = None if status is None else status * 1000000 >> 14
            expect(got_uj is not None and got_uj > 0 and abs(got_uj - total) < 80000000,
                   f"MSR_PKG_ENERGY_STATUS carries the VM's energy ({got_uj} uJ vs ledger {total} uJ)")
            expect(ask(sock, 0x610, pid) == 0, "MSR_PKG_POWER_LIMIT: no limit set, 0")
            expect(ask(sock, 0x619, pid) is None, "a fifth MSR (DRAM) is refused")
            expect(ask(sock, 0x611, 999999) is None, "a thread outside the peer is refused")

            # a process that is not the VM's QEMU
            child = subprocess.run(
                [sys.executable, "-c",
                 "import socket,struct,sys;s=socket.socket(socket.AF_UNIX);s.connect(sys.argv[1]);"
                 "s.sendall(struct.pack('=III',0x611,0,0));d=s.recv(8);sys.exit(0 if not d else 1)",
                 sock], timeout=10)
            expect(child.returncode == 0, "another process is refused")
            expect(ask(sock, 0x611, pid) is not None, "the VM's QEMU is still served afterwards")
            expect(proc.poll() is None, "the daemon is still running")
        finally:
            proc.terminate()
            try:
                proc.wait(timeout=10)
            except subprocess.TimeoutExpired:
                proc.kill()
        expect(proc.returncode == 0, f"SIGTERM exits 0 (rc {proc.returncode})")
        expect(not os.path.exists(sock), "the socket is removed on exit")
        if tap.failures:
            print("# daemon log:\n# " + proc.stderr.read().replace("\n", "\n# "))
    return 1 if tap.failures else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1]))
