# SPDX-License-Identifier: GPL-2.0-or-later
"""A private system bus for the D-Bus and Cockpit tests, with polkitd on it.

bus_config() writes this machine's system bus policy for a socket of the
test; start_bus() runs dbus-daemon on it.  start_polkitd() runs the
distribution's polkitd on that bus (it drops to its own user itself), in a mount namespace
where /usr/share/polkit-1/actions holds only the test's action files and
the two rules.d directories only the test's rules: polkitd reads those
paths and no others (it has no option for them), and the host's own polkit
is neither seen nor touched.  Needs root (unshare, mount).
"""
import os
import re
import shutil
import subprocess
import time

POLKITD = "/usr/lib/polkit-1/polkitd"
POLKIT_BUS_POLICY = "/usr/share/dbus-1/system.d/org.freedesktop.PolicyKit1.conf"


def bus_config(path, *policies):
    """This machine's system bus policy, on our socket, with POLICIES added."""
    with open("/usr/share/dbus-1/system.conf", encoding="utf-8") as f:
        text = f.read()
    text = re.sub(r"<!--.*?-->", "", text, flags=re.S)
    for tag in ("user", "pidfile", "servicehelper", "includedir"):
        text = re.sub(rf"<{tag}>.*?</{tag}>", "", text, flags=re.S)
    for tag in ("fork", "syslog", "standard_system_servicedirs"):
        text = text.replace(f"<{tag}/>", "")
    text = re.sub(r"<include[^>]*>.*?</include>", "", text, flags=re.S)
    text = re.sub(r"<listen>.*?</listen>", f"<listen>unix:path={path}</listen>", text)
    includes = "".join(f"<include>{p}</include>\n" for p in policies)
    return text.replace("</busconfig>", includes + "</busconfig>")


def start_bus(tmp, *policies):
    """dbus-daemon on TMP/bus with POLICIES; returns (process, env) or (None, why)."""
    sock = os.path.join(tmp, "bus")
    conf = os.path.join(tmp, "bus.conf")
    with open(conf, "w", encoding="utf-8") as f:
        f.write(bus_config(sock, *policies))
    bus = subprocess.Popen(["dbus-daemon", "--config-file", conf, "--nofork", "--nopidfile"],
                           stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
    for _ in range(50):
        if os.path.exists(sock) or bus.poll() is not None:
            break
        time.sleep(0.1)
    if not os.path.exists(sock):
        return None, "the private bus did not start: " + bus.communicate()[1]
    os.chmod(sock, 0o777)
    return bus, dict(os.environ, DBUS_SYSTEM_BUS_ADDRESS=f"unix:path={sock}")


def name_has_owner(env, name):
    r = subprocess.run(["gdbus", "call", "--system", "--dest", "org.freedesktop.DBus",
                        "--object-path", "/org/freedesktop/DBus", "--method",
                        "org.freedesktop.DBus.NameHasOwner", name],
                       env=env, capture_output=True, text=True, timeout=10)
    return "true" in r.stdout


def start_polkitd(tmp, env, actions, rules):
    """polkitd on ENV's bus with the action files ACTIONS and the rules text RULES.

    Returns (process, None) once it owns org.freedesktop.PolicyKit1, else
    (None, why).  Its debug output goes to TMP/polkitd.log."""
    if not os.access(POLKITD, os.X_OK) or shutil.which("unshare") is None:
        return None, f"no {POLKITD} (install polkitd) or no unshare"
    adir = os.path.join(tmp, "polkit-actions")
    rdir = os.path.join(tmp, "polkit-rules")
    os.makedirs(adir, exist_ok=True)
    os.makedirs(rdir, exist_ok=True)
    for a in actions:
        shutil.copy(a, adir)
    with open(os.path.join(rdir, "50-virtenergy-test.rules"), "w", encoding="utf-8") as f:
        f.write(rules)
    for p in (adir, rdir):
        os.chmod(p, 0o755)
        for n in os.listdir(p):
            os.chmod(os.path.join(p, n), 0o644)
    script = ('mount --bind "$1" /usr/share/polkit-1/actions && '
              'mount --bind "$2" /etc/polkit-1/rules.d && '
              'mount --bind "$2" /usr/share/polkit-1/rules.d && '
              f'exec {POLKITD}')
    log = open(os.path.join(tmp, "polkitd.log"), "w", encoding="utf-8")
    proc = subprocess.Popen(["unshare", "--mount", "--propagation", "private", "--",
                             "sh", "-c", script, "sh", adir, rdir],
                            env=env, stdout=log, stderr=subprocess.STDOUT, text=True)
    log.close()
    for _ in range(100):
        if proc.poll() is not None:
            break
        if name_has_owner(env, "org.freedesktop.PolicyKit1"):
            return proc, None
        time.sleep(0.1)
    stop(proc)
    with open(os.path.join(tmp, "polkitd.log"), encoding="utf-8") as f:
        return None, "polkitd did not come on the bus: " + f.read()[-2000:]


def stop(proc):
    """SIGTERM, then SIGKILL after 10 s."""
    if proc is None or proc.poll() is not None:
        return
    proc.terminate()
    try:
        proc.wait(timeout=10)
    except subprocess.TimeoutExpired:
        proc.kill()
        proc.wait()
