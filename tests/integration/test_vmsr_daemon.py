#!/usr/bin/env python3
# SPDX-License-Identifier: GPL-2.0-or-later
"""virtenergyd's qemu-vmsr-helper socket, end to end on a fixture root.

This process plays QEMU: it writes its own pid into the fixture's libvirt
pid file for the test driver's domain "test" (libvirt's test:///default),
with a fixture /proc entry for itself, starts the real daemon with
--root FIXTURE, and then speaks the helper protocol over the daemon's
socket: three native-endian u32 {msr, cpu, tid}, one u64 back.  A second
process, not QEMU, must be refused at accept, so that holding 70 idle
connections takes no slot from QEMU; one peer holds at most 4; a request
left half-sent is closed.  Then the same with a QEMU that runs as
libvirt-qemu, as Debian's libvirt runs it: the socket is group
libvirt-qemu, mode 0660, so it can connect.  Prints one line per check.

usage: test_vmsr_daemon.py BUILD_DIR
"""
import grp
import os
import pwd
import socket
import struct
import subprocess
import sys
import tempfile
import time

UUID = "6695eb01-f6a4-8304-79aa-97f2502e193f"
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import tap  # noqa: E402
import vestate  # noqa: E402
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
    data = b""
    try:
        s.sendall(struct.pack("=III", msr, cpu, tid))
        while len(data) < 8:
            chunk = s.recv(8 - len(data))
            if not chunk:
                break
            data += chunk
    except (ConnectionResetError, BrokenPipeError):
        pass    # closed by the daemon: refused
    finally:
        s.close()
    return struct.unpack("=Q", data)[0] if len(data) == 8 else None


# Opens N connections, checks each is closed by the daemon within 2 s without
# a byte sent: exit 0 then, 1 if any stayed open.
HOLDER = """
import socket, sys, time
path, n = sys.argv[1], int(sys.argv[2])
socks = []
for _ in range(n):
    s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    s.connect(path)
    s.settimeout(2)
    socks.append(s)
open_ = 0
for s in socks:
    try:
        if s.recv(1) != b"":
            open_ += 1
    except ConnectionResetError:
        pass
    except socket.timeout:
        open_ += 1
print(f"{n - open_} of {n} closed at accept")
sys.exit(0 if open_ == 0 else 1)
"""

# As libvirt-qemu: say the pid, wait for a line, ask MSR_RAPL_POWER_UNIT for
# its own thread, print the answer (or "refused" / the error).
AS_QEMU = """
import os, socket, struct, sys
print(os.getpid(), flush=True)
sys.stdin.readline()
try:
    s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    s.settimeout(5)
    s.connect(sys.argv[1])
    s.sendall(struct.pack("=III", 0x606, 0, os.getpid()))
    d = s.recv(8)
    print(struct.unpack("=Q", d)[0] if len(d) == 8 else "refused", flush=True)
except OSError as e:
    print(f"error: {e}", flush=True)
"""


def qemu_as_libvirt_qemu(build):
    """A QEMU peer running as libvirt-qemu, against a daemon of its own."""
    daemon = os.path.join(build, "daemon", "virtenergyd")
    try:
        pw = pwd.getpwnam("libvirt-qemu")
    except KeyError:
        expect(False, "user libvirt-qemu exists (libvirt-daemon-system creates it)")
        return
    with tempfile.TemporaryDirectory() as root:
        os.chmod(root, 0o755)

        # as libvirt starts QEMU: qemu.conf's user and group (Debian's
        # defaults: libvirt-qemu and libvirt-qemu), no other groups
        gid = grp.getgrnam("libvirt-qemu").gr_gid

        def drop():
            os.setgid(gid)
            os.setgroups([])
            os.setuid(pw.pw_uid)
        # Debian's interpreter: one under /root would not be libvirt-qemu's to run
        peer = subprocess.Popen(["/usr/bin/python3", "-c", AS_QEMU, os.path.join(root, "vmsr.sock")],
                                stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True,
                                preexec_fn=drop)
        qpid = int(peer.stdout.readline())
        write(root, "proc/stat", "cpu  10 0 0 100 0 0 0 0 0 0\ncpu0 10 0 0 100 0 0 0 0 0 0\n")
        write(root, "run/libvirt/qemu/test.pid", f"{qpid}\n")
        write(root, f"proc/{qpid}/cgroup", "0::/\n")
        write(root, f"proc/{qpid}/task/{qpid}/comm", "CPU 0/KVM\n")
        write(root, f"proc/{qpid}/task/{qpid}/schedstat", "1000 0 1\n")
        sock = os.path.join(root, "vmsr.sock")
        state = os.path.join(root, "state")
        proc = subprocess.Popen(
            [daemon, "--root", root, "--uri", "test:///default", "--state-dir", state,
             "--export-dir", "", "--vmsr-socket", sock],
            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        try:
            for _ in range(50):
                if os.path.exists(sock) and os.path.exists(os.path.join(state, "state")):
                    break
                time.sleep(0.1)
            time.sleep(1.5)
            peer.stdin.write("go\n")
            peer.stdin.flush()
            got = peer.stdout.readline().strip()
            expect(got == str(0xA0E03),
                   f"a QEMU running as libvirt-qemu connects and is served ({got})")
        finally:
            peer.kill()
            proc.terminate()
            try:
                proc.wait(timeout=10)
            except subprocess.TimeoutExpired:
                proc.kill()


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
            st = os.stat(sock)
            expect(oct(st.st_mode & 0o777) == "0o660" and st.st_gid == grp.getgrnam("libvirt-qemu").gr_gid,
                   f"the socket is mode 0660, group libvirt-qemu (saw {oct(st.st_mode & 0o777)}, gid {st.st_gid})")

            unit = ask(sock, 0x606, pid)
            expect(unit == 0xA0E03, f"MSR_RAPL_POWER_UNIT is 0xa0e03 (saw {unit})")
            status = ask(sock, 0x611, pid + 1)
            total = int(vestate.load(os.path.join(state, "state"))[f"vm:{UUID}"]["total_uj"])
            # the counter in 61 µJ units and the ledger a moment apart: within 2 s of 40 W
            got_uj = None if status is None else status * 1000000 >> 14
            expect(got_uj is not None and got_uj > 0 and abs(got_uj - total) < 80000000,
                   f"MSR_PKG_ENERGY_STATUS carries the VM's energy ({got_uj} uJ vs ledger {total} uJ)")
            expect(ask(sock, 0x610, pid) == 0, "MSR_PKG_POWER_LIMIT: no limit set, 0")
            expect(ask(sock, 0x619, pid) is None, "a fifth MSR (DRAM) is refused")
            expect(ask(sock, 0x611, 999999) is None, "a thread outside the peer is refused")

            # a process that is not the VM's QEMU: closed at accept, before it says anything
            child = subprocess.run(
                [sys.executable, "-c", HOLDER, sock, "70"], timeout=30, capture_output=True, text=True)
            expect(child.returncode == 0,
                   f"another process is refused at accept: {child.stdout.strip()} {child.stderr.strip()[-200:]}")
            expect(ask(sock, 0x611, pid) is not None, "the VM's QEMU is still served afterwards")

            # one peer holds at most 4 connections.  The daemon may not yet
            # have seen the earlier asks' connections close, and counts them
            # until it does: hold 4 and make sure the daemon kept all 4
            # (none closed at accept) before the fifth
            def hold4():
                hs = [socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) for _ in range(4)]
                for h in hs:
                    h.connect(sock)
                time.sleep(0.5)
                kept = 0
                for h in hs:
                    try:
                        kept += h.recv(1, socket.MSG_DONTWAIT) != b""
                    except BlockingIOError:
                        kept += 1       # open, nothing to read: held
                    except ConnectionResetError:
                        pass
                return hs, kept
            for _ in range(10):
                held, kept = hold4()
                if kept == 4:
                    break
                for h in held:
                    h.close()
                time.sleep(0.5)
            fifth = ask(sock, 0x611, pid)
            for h in held:
                h.close()
            time.sleep(0.3)
            again = None
            for _ in range(25):     # once the daemon has seen the 4 close
                again = ask(sock, 0x611, pid)
                if again is not None:
                    break
                time.sleep(0.2)
            expect(kept == 4 and fifth is None and again is not None,
                   f"with 4 connections held ({kept} kept), a fifth from the same peer is refused "
                   f"({fifth}); served again once it closed the others ({again})")

            # half a request: closed after the 2 s partial timeout, not kept
            half = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
            half.connect(sock)
            half.sendall(struct.pack("=I", 0x611))
            half.settimeout(6)
            t0 = time.monotonic()
            try:
                gone = half.recv(8) == b""
            except (socket.timeout, ConnectionResetError):
                gone = False
            waited = time.monotonic() - t0
            half.close()
            expect(gone and 1.5 <= waited <= 5,
                   f"a request left half-sent is closed after the partial timeout ({waited:.1f} s)")
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
    qemu_as_libvirt_qemu(build)
    return 1 if tap.failures else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1]))
