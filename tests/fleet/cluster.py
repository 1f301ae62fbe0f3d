# SPDX-License-Identifier: GPL-2.0-or-later
"""The fleet test's world: a real 3-member etcd cluster on loopback ports,
one TCP relay per (host, member) so a host can be cut off from etcd without
touching the others, and virtenergyd hosts on fixture roots with libvirt's
test driver.  Everything is started and stopped here, under one temporary
directory.  Talks to etcd only through etcdctl and the JSON gateway."""
import base64
import json
import multiprocessing
import os
import signal
import socket
import subprocess
import threading
import time
import urllib.request


def free_ports(n):
    """N loopback TCP ports nobody listens on now."""
    socks, ports = [], []
    for _ in range(n):
        s = socket.socket()
        s.bind(("127.0.0.1", 0))
        socks.append(s)
        ports.append(s.getsockname()[1])
    for s in socks:
        s.close()
    return ports


class Relay:
    """Forwards a loopback port to an etcd member; cut() closes every
    connection through it and closes new ones as they come (a host cut off:
    every request fails), mend() lets them through again.  The listening
    socket stays, so no one else can take its port meanwhile."""

    def __init__(self, target):
        self.target = target
        self.conns = []
        self.lock = threading.Lock()
        self.is_cut = False
        self.sock = socket.socket()
        self.sock.bind(("127.0.0.1", 0))
        self.port = self.sock.getsockname()[1]
        self.sock.listen(64)
        threading.Thread(target=self._accept, args=(self.sock,), daemon=True).start()

    def mend(self):
        self.is_cut = False

    def cut(self):
        with self.lock:
            self.is_cut = True
            for c in self.conns:
                try:
                    c.shutdown(socket.SHUT_RDWR)
                except OSError:
                    pass
                c.close()
            self.conns = []

    def _accept(self, ls):
        while True:
            try:
                c, _ = ls.accept()
            except OSError:
                return
            if self.is_cut:
                c.close()
                continue
            try:
                u = socket.create_connection(("127.0.0.1", self.target), timeout=2)
                u.settimeout(None)
            except OSError:
                c.close()
                continue
            with self.lock:
                self.conns += [c, u]
            for a, b in ((c, u), (u, c)):
                threading.Thread(target=self._pump, args=(a, b), daemon=True).start()

    @staticmethod
    def _pump(a, b):
        try:
            while True:
                d = a.recv(65536)
                if not d:
                    break
                b.sendall(d)
        except OSError:
            pass
        for s in (a, b):
            try:
                s.shutdown(socket.SHUT_RDWR)
            except OSError:
                pass


class Etcd:
    """Three members; kill(i) SIGKILLs one, start(i) brings it back with its data."""

    def __init__(self, tmp):
        self.tmp = tmp
        ports = free_ports(6)
        self.client = ports[:3]
        self.peer = ports[3:]
        self.procs = [None] * 3
        self.cluster = ",".join(f"e{i}=http://127.0.0.1:{self.peer[i]}" for i in range(3))
        for i in range(3):
            self.start(i, "new")

    def start(self, i, state="existing"):
        log = open(os.path.join(self.tmp, f"etcd{i}.log"), "a")
        self.procs[i] = subprocess.Popen(
            ["etcd", "--name", f"e{i}", "--data-dir", os.path.join(self.tmp, f"etcd{i}"),
             "--listen-client-urls", f"http://127.0.0.1:{self.client[i]}",
             "--advertise-client-urls", f"http://127.0.0.1:{self.client[i]}",
             "--listen-peer-urls", f"http://127.0.0.1:{self.peer[i]}",
             "--initial-advertise-peer-urls", f"http://127.0.0.1:{self.peer[i]}",
             "--initial-cluster", self.cluster, "--initial-cluster-state", state,
             # etcd's own failover well inside half a TTL (the test's is 3 s)
             "--heartbeat-interval", "50", "--election-timeout", "500"],
            stdout=log, stderr=log)

    def kill(self, i):
        self.procs[i].send_signal(signal.SIGKILL)
        self.procs[i].wait()
        self.procs[i] = None

    def endpoints(self):
        return ",".join(f"http://127.0.0.1:{p}" for i, p in enumerate(self.client) if self.procs[i])

    def ctl(self, *args, check=True):
        r = subprocess.run(["etcdctl", "--endpoints", self.endpoints(), "--command-timeout=3s"] + list(args),
                           env=dict(os.environ, ETCDCTL_API="3"), capture_output=True, text=True, timeout=20)
        if check and r.returncode != 0:
            raise RuntimeError(f"etcdctl {' '.join(args)}: {r.stderr.strip()}")
        return r

    def gateway(self, path, body):
        """One call to the JSON gateway of the first live member; None when it fails."""
        for i, p in enumerate(self.client):
            if not self.procs[i]:
                continue
            try:
                req = urllib.request.Request(f"http://127.0.0.1:{p}{path}", data=json.dumps(body).encode(),
                                             headers={"Content-Type": "application/json"})
                with urllib.request.urlopen(req, timeout=2) as r:
                    return json.loads(r.read())
            except (OSError, ValueError):
                continue
        return None

    def leader(self, prefix):
        """The elected controller's name, None when none."""
        b64 = base64.b64encode(f"{prefix}/election".encode()).decode()
        r = self.gateway("/v3/election/leader", {"name": b64})
        try:
            return base64.b64decode(r["kv"]["value"]).decode()
        except (TypeError, KeyError):
            return None

    def raft_leader(self):
        """The index of the member etcd's raft leader is, None when none is known."""
        r = self.ctl("endpoint", "status", "-w", "json", check=False)
        try:
            for st in json.loads(r.stdout):
                if st["Status"]["header"]["member_id"] == st["Status"]["leader"]:
                    return self.client.index(int(st["Endpoint"].rsplit(":", 1)[1]))
        except (ValueError, KeyError, TypeError):
            pass
        return None

    def metric(self, i, name, match=""):
        """The sum of member I's Prometheus samples NAME{...MATCH...}; None when it does not answer."""
        try:
            with urllib.request.urlopen(f"http://127.0.0.1:{self.client[i]}/metrics", timeout=2) as r:
                text = r.read().decode()
        except OSError:
            return None
        total = 0.0
        for line in text.splitlines():
            if line.startswith(name) and line[len(name):len(name) + 1] in ("{", " ") and match in line:
                total += float(line.rsplit(" ", 1)[1])
        return total

    def healthy(self):
        r = self.ctl("endpoint", "health", check=False)
        return r.returncode == 0

    def stop(self):
        for i in range(3):
            if self.procs[i]:
                self.kill(i)


CONF = """[host-model]
idle-power={idle}W
max-power=200W
[fleet]
endpoints={endpoints}
prefix={prefix}
host={name}
path={path}
ttl-s={ttl}
period-ms={period_ms}
floor=10W
"""


class Host:
    """One virtenergyd on its own fixture root (idle power = its measured
    power; no load), through its own relays to the members."""

    def __init__(self, tmp, daemon, etcd, name, path, idle, prefix, ttl, period_ms, bus_env=None):
        self.name, self.path, self.idle = name, path, idle
        self.daemon, self.etcd, self.bus_env = daemon, etcd, bus_env
        self.dir = os.path.join(tmp, name)
        self.state = os.path.join(self.dir, "state")
        root = os.path.join(self.dir, "root", "proc")
        os.makedirs(root, exist_ok=True)
        os.makedirs(self.state, exist_ok=True)
        with open(os.path.join(root, "stat"), "w", encoding="ascii") as f:
            f.write("cpu0 1 0 0 1 0 0 0 0 0 0\n")
        self.relays = [Relay(p) for p in etcd.client]
        self.conf = os.path.join(self.dir, "virtenergyd.conf")
        with open(self.conf, "w", encoding="ascii") as f:
            f.write(CONF.format(idle=idle, name=name, path=path, prefix=prefix, ttl=ttl, period_ms=period_ms,
                                endpoints=",".join(f"http://127.0.0.1:{r.port}" for r in self.relays)))
        self.proc = None
        self.start()

    def start(self):
        log = open(os.path.join(self.dir, "daemon.log"), "a")
        self.proc = subprocess.Popen(
            [self.daemon, "-c", self.conf, "--root", os.path.join(self.dir, "root"), "--uri", "test:///default",
             "--state-dir", self.state, "--export-dir", "", "--vmsr-socket", "",
             "--prom-file", os.path.join(self.dir, "virtenergy.prom"),
             "--bus", "system" if self.bus_env else "none"],
            env=self.bus_env or os.environ, stdout=log, stderr=log)

    def kill(self, sig=signal.SIGKILL):
        if self.proc:
            self.proc.send_signal(sig)
            try:
                self.proc.wait(10)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
            self.proc = None

    def cut(self):
        for r in self.relays:
            r.cut()

    def mend(self):
        for r in self.relays:
            r.mend()

    def cap(self):
        """(watts, source) in force now, from <state-dir>/fleet-cap; None before the first."""
        try:
            with open(os.path.join(self.state, "fleet-cap"), encoding="ascii") as f:
                w, src = f.read().split()
            return float(w), src
        except (OSError, ValueError):
            return None

    def log(self):
        with open(os.path.join(self.dir, "daemon.log"), encoding="utf-8", errors="replace") as f:
            return f.read()


class Checker:
    """Reads every host's cap in force every 100 ms, in a process of its own
    (the relays' threads would hold it back in this one), and checks each
    node's sum against its budget in force.  A host whose daemon is dead is
    counted by its model: its last cap as long as its key (its lease) is in
    etcd, its fallback after (what systemd's restart brings it back to).
    The key is looked up after the caps are read, so a key seen there was
    there when they were read: no raise it paid for had landed yet."""

    def __init__(self, hosts, nodes, etcd=None):
        self.mgr = multiprocessing.Manager()
        self.nodes = self.mgr.dict(nodes)     # path -> budget W in force
        self.model = self.mgr.dict()          # host name -> watts to count instead of its file
        self.out = self.mgr.dict(samples=0, worst={p: -1e18 for p in nodes}, bad=[], sources={})
        self.phase = self.mgr.dict(name="start")
        self.stop_ev = multiprocessing.Event()
        paths = [(h.name, h.path, os.path.join(h.state, "fleet-cap")) for h in hosts]
        gw = [f"http://127.0.0.1:{p}" for p in etcd.client] if etcd else []
        self.proc = multiprocessing.Process(target=_check, args=(paths, self.nodes, self.model, self.out,
                                                                 self.phase, self.stop_ev, gw), daemon=True)
        self.proc.start()

    def set_budget(self, path, w):
        self.nodes[path] = w

    def set_phase(self, name):
        self.phase["name"] = name

    def finish(self):
        self.stop_ev.set()
        self.proc.join(10)
        o = dict(self.out)
        self.mgr.shutdown()
        return o


def _read_cap(path):
    try:
        with open(path, encoding="ascii") as f:
            w, src = f.read().split()
        return float(w), src
    except (OSError, ValueError):
        return None


def _key_there(gw, key):
    """Whether KEY is in etcd; True when no member answers (the safe side: the larger count)."""
    body = json.dumps({"key": base64.b64encode(key.encode()).decode()}).encode()
    for url in gw:
        try:
            req = urllib.request.Request(url + "/v3/kv/range", data=body, headers={"Content-Type": "application/json"})
            with urllib.request.urlopen(req, timeout=0.5) as r:
                return bool(json.loads(r.read()).get("kvs"))
        except (OSError, ValueError):
            continue
    return True


def _check(paths, nodes, model, out, phase, stop_ev, gw):
    worst = dict(out["worst"])
    bad, sources, samples = [], {}, 0
    last_push = time.monotonic()
    while not stop_ev.is_set():
        t = time.monotonic()
        seen = {n: _read_cap(f) for n, _, f in paths}
        budgets, counted, ph = dict(nodes), dict(model), phase["name"]
        for n, m in counted.items():
            if isinstance(m, dict):
                counted[n] = m["last"] if _key_there(gw, m["key"]) else m["fallback"]
        for path, budget in budgets.items():
            total = 0.0
            for n, hp, _ in paths:
                if not (hp == path or hp.startswith(path + "/")):
                    continue
                if n in counted:
                    total += counted[n]
                elif seen[n]:
                    total += seen[n][0]
            if total - budget > worst[path]:
                worst[path] = total - budget
                if total - budget > 1e-6:
                    bad.append((ph, path, budget, total, seen, counted))
        sources.setdefault(ph, set()).update(v[1] for v in seen.values() if v)
        samples += 1
        if time.monotonic() - last_push > 1 or stop_ev.is_set():
            out.update(samples=samples, worst=worst, bad=bad[:20],
                       sources={k: sorted(v) for k, v in sources.items()})
            last_push = time.monotonic()
        time.sleep(max(0.0, 0.1 - (time.monotonic() - t)))
    out.update(samples=samples, worst=worst, bad=bad[:20], sources={k: sorted(v) for k, v in sources.items()})
