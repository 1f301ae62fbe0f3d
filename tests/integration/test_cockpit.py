#!/usr/bin/env python3
# SPDX-License-Identifier: GPL-2.0-or-later
"""The Cockpit page in a real browser, against real guests.

Two TCG guests on qemu:///system (ck-PID-busy spinning its vCPU, ck-PID-idle
sleeping; guests.sh), virtenergyd watching them with its D-Bus on a private
system bus (privbus.py) where polkitd refuses "nobody", and two cockpit-ws
--local-session=cockpit-bridge on loopback ports, one whose bridge runs as
root and one as nobody, both on that bus and both finding the page in the
build tree (XDG_DATA_DIRS=BUILD/daemon:/usr/share, nothing installed).
Headless Chromium (chromium-driver, selenium) checks, as root: the menu has
"Energy" next to "Virtual machines"; the page lists the guests; their power
and graphs update; a limit set in the page lands in the domain's metadata
(virsh metadata) and comes back into the page; the host cap is set and
cleared; a bad number is refused in the page; the limit is cleared.  As
nobody: the page reads, setting a limit is refused by polkit, said in the
page, and leaves the metadata alone, and the host cap wants a password
that the page let polkit ask for (no agent answers).  Last, virtenergyd
stops and the page says it is not on the bus.  Screenshots go to
BUILD/cockpit-virtenergy.png and BUILD/cockpit-virtenergy-refused.png.

virtenergyd runs with --dry-run: other engineers' guests share this libvirtd,
and this test must not throttle them.  Prints one line per check.

usage: test_cockpit.py BUILD_DIR SOURCE_DIR
"""
import os
import pwd
import re
import shutil
import socket
import subprocess
import sys
import tempfile
import time

here = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, here)
import privbus  # noqa: E402
import tap  # noqa: E402
from tap import expect  # noqa: E402

NS = "http://virtenergy.org/xmlns/energy/1"
URI = "qemu:///system"
COCKPIT_WS = "/usr/lib/cockpit/cockpit-ws"
RULES = """
polkit.addRule(function(action, subject) {
    if (action.id == "org.virtenergy.set-limit" && subject.user == "nobody")
        return polkit.Result.NO;
    if (action.id == "org.virtenergy.set-host-cap" && subject.user == "nobody")
        return polkit.Result.AUTH_ADMIN;
    return polkit.Result.NOT_HANDLED;
});
"""


def skip(why):
    print(f"SKIP: {why}")
    sys.exit(77)


def need():
    """What the test needs, or a skip saying what is missing."""
    if os.geteuid() != 0:
        skip("needs root (libvirt guests, polkitd's namespace, a bridge as nobody)")
    for path in (COCKPIT_WS, "/usr/bin/cockpit-bridge", "/usr/bin/chromium", "/usr/bin/chromedriver",
                 "/usr/share/cockpit/shell/manifest.json"):
        if not os.path.exists(path):
            skip(f"no {path} (scripts/setup installs cockpit-ws, cockpit-system, chromium-driver)")
    try:
        import selenium  # noqa: F401
    except ImportError:
        # Debian's python3-selenium, for a python3 that is not Debian's
        sys.path.append("/usr/lib/python3/dist-packages")
        try:
            import selenium  # noqa: F401,F811
        except ImportError:
            skip("no selenium (install python3-selenium)")


def virsh(*args):
    return subprocess.run(["virsh", "-q", "-c", URI] + list(args), capture_output=True, text=True,
                          timeout=60)


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def wait_for(what, probe, seconds=10, every=0.2):
    """Call PROBE until it returns (True, seen) or SECONDS pass; returns (ok, seen)."""
    end = time.monotonic() + seconds
    while True:
        try:
            ok, seen = probe()
        except Exception as ex:  # a page element not there yet, a stale one
            ok, seen = False, f"{type(ex).__name__}: {ex}".strip()
        if ok or time.monotonic() > end:
            break
        time.sleep(every)
    if not ok:
        print(f"# not within {seconds} s: {what}; last seen: {seen}")
    return ok, seen


def start_guests(tmp, names, started):
    """Define and start the guests (guests.sh); returns '' or what failed.

    The daemons guests_up had to start (virtlogd, libvirtd) are added to
    STARTED, for stop_guests() to stop."""
    script = (f'source "{here}/guests.sh" && GUESTS_DIR="{tmp}" && guests_up && '
              'echo "started: ${GUESTS_STARTED_DAEMONS[*]}" && '
              f'guests_define "{names[0]}" busy 1 && guests_define "{names[1]}" idle 1 && '
              f'guests_start "{names[0]}" && guests_start "{names[1]}"')
    r = subprocess.run(["bash", "-c", script], capture_output=True, text=True, timeout=120)
    m = re.search(r"^started: (.*)$", r.stdout, re.M)
    if m:
        started.extend(m.group(1).split())
    return "" if r.returncode == 0 else (r.stdout + r.stderr).strip()


def stop_guests(names, started):
    """Destroy and undefine our guests only, then stop what guests_up started (guests_down)."""
    for n in names:
        virsh("destroy", n)
        virsh("undefine", n)
    if started:
        subprocess.run(["bash", "-c", f'source "{here}/guests.sh" && '
                        f'GUESTS_STARTED_DAEMONS=({" ".join(started)}) && guests_down'], timeout=60)


def cockpit_ws(port, env, user=None, log=None):
    args = [COCKPIT_WS, "--no-tls", "--address", "127.0.0.1", "--port", str(port),
            "--local-session=cockpit-bridge"]
    if user:
        pw = pwd.getpwnam(user)
        args = ["setpriv", f"--reuid={pw.pw_uid}", f"--regid={pw.pw_gid}", "--clear-groups"] + args
    return subprocess.Popen(args, env=env, stdout=log, stderr=subprocess.STDOUT)


def browser():
    from selenium import webdriver
    from selenium.webdriver.chrome.service import Service
    opts = webdriver.ChromeOptions()
    opts.binary_location = "/usr/bin/chromium"
    for a in ("--headless=new", "--no-sandbox", "--disable-dev-shm-usage", "--disable-gpu",
              "--window-size=1600,1100", "--lang=en-US"):
        opts.add_argument(a)
    return webdriver.Chrome(service=Service("/usr/bin/chromedriver"), options=opts)


def main(build, source):
    build, source = os.path.abspath(build), os.path.abspath(source)
    need()
    from selenium.webdriver.common.by import By

    names = [f"ck-{os.getpid()}-busy", f"ck-{os.getpid()}-idle"]
    busy = names[0]
    tmp = tempfile.mkdtemp(prefix="ve-cockpit-")
    os.chmod(tmp, 0o755)   # QEMU reads the guests' initramfs from here
    procs = []
    drivers = []
    started = []
    bus = polkitd = None
    shot = os.path.join(build, "cockpit-virtenergy.png")
    shot_refused = os.path.join(build, "cockpit-virtenergy-refused.png")
    try:
        bus, env = privbus.start_bus(
            tmp, os.path.join(source, "conf", "org.virtenergy.Manager1.conf"), privbus.POLKIT_BUS_POLICY)
        if bus is None:
            expect(False, env)
            return 1
        polkitd, why = privbus.start_polkitd(tmp, env, [os.path.join(source, "conf", "org.virtenergy.policy")],
                                             RULES)
        expect(polkitd is not None, f"polkitd on the private bus ({why or 'it owns its name'})")
        why = start_guests(tmp, names, started)
        if why:
            expect(False, f"two TCG guests start on {URI}: {why}")
            return 1
        expect(True, f"two TCG guests run on {URI}: {', '.join(names)}")

        conf = os.path.join(tmp, "ve.conf")
        with open(conf, "w", encoding="utf-8") as f:
            f.write(f"[daemon]\nuri={URI}\nperiod-ms=100\nstate-dir={tmp}/state\n"
                    "[guests]\nexport-dir=\nvmsr-socket=\n[prometheus]\ntextfile=\n[dbus]\nbus=system\n")
        dlog = open(os.path.join(tmp, "daemon.log"), "w", encoding="utf-8")
        daemon = subprocess.Popen([os.path.join(build, "daemon", "virtenergyd"), "--config", conf,
                                   "--dry-run"], env=env, stdout=dlog, stderr=subprocess.STDOUT)
        procs.append(daemon)

        # Cockpit finds the page in the build tree, its own packages in /usr/share
        wenv = dict(env, XDG_DATA_DIRS=f"{os.path.abspath(build)}/daemon:/usr/share")
        homes = {}
        for user in ("root", "nobody"):
            homes[user] = os.path.join(tmp, "home-" + user)
            os.makedirs(homes[user])
            pw = pwd.getpwnam(user)
            os.chown(homes[user], pw.pw_uid, pw.pw_gid)
        port, port_nobody = free_port(), free_port()
        wlog = open(os.path.join(tmp, "cockpit-ws.log"), "w", encoding="utf-8")
        procs.append(cockpit_ws(port, dict(wenv, HOME=homes["root"]), log=wlog))
        procs.append(cockpit_ws(port_nobody, dict(wenv, HOME=homes["nobody"], USER="nobody"), "nobody", wlog))
        ok, seen = wait_for("cockpit-ws listening", lambda: (all(
            socket.socket().connect_ex(("127.0.0.1", p)) == 0 for p in (port, port_nobody)), "not yet"), 15)
        expect(ok, f"cockpit-ws listens on 127.0.0.1:{port} (root) and :{port_nobody} (nobody)")

        drv = browser()
        drivers.append(drv)
        drv.get(f"http://127.0.0.1:{port}/virtenergy")
        opened = time.monotonic()

        def menu():
            links = [a.text.strip() for a in drv.find_elements(By.CSS_SELECTOR, "nav a")]
            return "Energy" in links and "Virtual machines" in links, links
        ok, seen = wait_for("the shell's menu", menu, 30)
        expect(ok and abs(seen.index("Energy") - seen.index("Virtual machines")) == 1,
               f"Cockpit's menu has Energy next to Virtual machines ({seen})")

        frame = "cockpit1:localhost/virtenergy"
        ok, seen = wait_for("the page's frame", lambda: (
            len(drv.find_elements(By.CSS_SELECTOR, f"iframe[name='{frame}']")) == 1, "no frame"), 20)
        expect(ok, "the shell opens the page in its frame")
        drv.switch_to.frame(drv.find_element(By.CSS_SELECTOR, f"iframe[name='{frame}']"))

        def row(name):
            return drv.find_element(By.CSS_SELECTOR, f"tr[data-vm-name='{name}']")

        def listed():
            have = [r.get_attribute("data-vm-name") for r in drv.find_elements(By.CSS_SELECTOR, "tr.ve-vm")]
            return all(n in have for n in names), have
        ok, seen = wait_for("both guests in the page", listed, 40)
        expect(ok, f"the page lists the guests ({seen})")

        def host_power():
            t = drv.find_element(By.ID, "ve-host-power").text
            s = drv.find_element(By.ID, "ve-host-sensor").text
            return re.match(r"^[0-9.]+ W$", t) is not None and s not in ("", "–"), f"{t}; {s}"
        ok, seen = wait_for("the host's power", host_power, 10)
        expect(ok, f"the host's power and sensor are shown ({seen})")

        # power updates: the busy guest's figure changes and its graph grows
        def busy_power():
            t = row(busy).find_element(By.CSS_SELECTOR, ".ve-power").text
            m = re.match(r"^([0-9.]+) W$", t)
            return m is not None and float(m.group(1)) > 0, t
        ok, first = wait_for("power for the busy guest", busy_power, 30)
        expect(ok, f"the busy guest has a power above 0 ({first})")

        # the row's graph is made with the row and drawn at its first sample: wait for that
        def graph_drawn():
            n = row(busy).find_element(By.CSS_SELECTOR, "svg.ve-graph").get_attribute("data-samples")
            return n is not None, n
        ok, samples0 = wait_for("the busy guest's graph drawn", graph_drawn, 10)
        expect(ok, f"the busy guest's graph is drawn ({samples0} samples)")
        samples0 = int(samples0 or 0)
        seen_texts = {first}

        def changes():
            seen_texts.add(row(busy).find_element(By.CSS_SELECTOR, ".ve-power").text)
            n = int(row(busy).find_element(By.CSS_SELECTOR, "svg.ve-graph").get_attribute("data-samples"))
            return len(seen_texts) >= 3 and n >= samples0 + 3, f"{sorted(seen_texts)}, {n} samples"
        ok, seen = wait_for("the power to change", changes, 20, 0.5)
        expect(ok, f"its power updates and its graph grows ({seen})")
        # the row is redrawn every second: read it through wait_for, which retries an element
        # gone stale between finding it and reading it (check run 38)
        def components():
            c = [li.get_attribute("data-component")
                 for li in row(busy).find_elements(By.CSS_SELECTOR, "li.ve-comp")]
            return "vcpu" in c, c
        ok, comps = wait_for("the busy guest's components", components, 10)
        expect(ok, f"its energy by component is shown ({comps})")

        # a limit set in the page: into the domain's metadata, and back as LimitW
        def fill(scope, selector, text):
            e = scope.find_element(By.CSS_SELECTOR, selector)
            e.clear()
            e.send_keys(text)

        fill(row(busy), ".ve-limit-input", "3.5")
        row(busy).find_element(By.CSS_SELECTOR, ".ve-set-limit").click()

        def metadata(want):
            def probe():
                r = virsh("metadata", busy, NS)
                if want:
                    return want in r.stdout, (r.stdout + r.stderr).strip()
                # no limit: no power-limit element, or (it was the only one) no metadata at all
                gone = ("power-limit" not in r.stdout if r.returncode == 0
                        else "metadata not found" in r.stderr)
                return gone, (r.stdout + r.stderr).strip()
            return probe
        ok, seen = wait_for("the limit in the metadata", metadata("<power-limit>3500000 uW</power-limit>"), 10)
        expect(ok, f"setting 3.5 W in the page writes the domain's metadata (virsh metadata: {seen})")
        ok, seen = wait_for("the limit in the page", lambda: (
            row(busy).find_element(By.CSS_SELECTOR, ".ve-limit").text.startswith("3.50 W"),
            row(busy).find_element(By.CSS_SELECTOR, ".ve-limit").text), 10)
        expect(ok, f"the page shows the limit the daemon took ({seen!r})")
        ok, seen = wait_for("an enforcement state", lambda: (
            row(busy).get_attribute("data-limit-state") != "none",
            row(busy).find_element(By.CSS_SELECTOR, ".ve-state").text), 10)
        expect(ok, f"and its enforcement state ({seen})")
        expect(not drv.find_element(By.ID, "ve-error").is_displayed(), "no error is shown")

        # the host cap: set, shown, and (after the screenshot) cleared
        fill(drv, "#ve-host-cap-input", "20")
        drv.find_element(By.ID, "ve-set-host-cap").click()
        ok, seen = wait_for("the host cap", lambda: (
            drv.find_element(By.ID, "ve-host-cap").text == "20.0 W", drv.find_element(By.ID, "ve-host-cap").text))
        expect(ok, f"the host cap set in the page is the daemon's ({seen})")
        # the screenshot with most of a minute on the graphs
        time.sleep(max(2.0, 45 - (time.monotonic() - opened)))
        drv.switch_to.default_content()
        drv.save_screenshot(shot)
        expect(os.path.getsize(shot) > 10000, f"screenshot: {shot}")
        drv.switch_to.frame(drv.find_element(By.CSS_SELECTOR, f"iframe[name='{frame}']"))
        drv.find_element(By.ID, "ve-clear-host-cap").click()
        ok, seen = wait_for("no host cap", lambda: (
            drv.find_element(By.ID, "ve-host-cap").text == "none", drv.find_element(By.ID, "ve-host-cap").text))
        expect(ok, f"the host cap cleared in the page ({seen})")

        # a bad number: said in the page, nothing sent
        fill(row(busy), ".ve-limit-input", "-2")
        row(busy).find_element(By.CSS_SELECTOR, ".ve-set-limit").click()
        ok, seen = wait_for("the page's refusal", lambda: (
            drv.find_element(By.ID, "ve-error").is_displayed()
            and "not a power above 0 W" in drv.find_element(By.ID, "ve-error").text,
            drv.find_element(By.ID, "ve-error").text))
        expect(ok and metadata("<power-limit>3500000 uW</power-limit>")()[0],
               f"a negative limit is refused in the page and the metadata keeps 3.5 W ({seen})")

        row(busy).find_element(By.CSS_SELECTOR, ".ve-clear-limit").click()
        ok, seen = wait_for("the limit gone from the metadata", metadata(None), 10)
        expect(ok, f"Clear removes it from the metadata ({seen})")
        ok, seen = wait_for("no limit in the page", lambda: (
            row(busy).find_element(By.CSS_SELECTOR, ".ve-limit").text == "none",
            row(busy).find_element(By.CSS_SELECTOR, ".ve-limit").text), 10)
        expect(ok and not drv.find_element(By.ID, "ve-error").is_displayed(),
               f"the page shows no limit and no error ({seen!r})")

        # an unprivileged session reads, and is refused by polkit
        drv.switch_to.default_content()
        drv.get(f"http://127.0.0.1:{port_nobody}/cockpit/@localhost/virtenergy/index.html")
        ok, seen = wait_for("the guests for nobody", listed, 30)
        expect(ok, f"a session as nobody lists the guests ({seen})")
        fill(row(busy), ".ve-limit-input", "2")
        row(busy).find_element(By.CSS_SELECTOR, ".ve-set-limit").click()
        ok, seen = wait_for("the refusal in the page", lambda: (
            drv.find_element(By.ID, "ve-error").is_displayed()
            and "NotAuthorized" in drv.find_element(By.ID, "ve-error").text,
            drv.find_element(By.ID, "ve-error").text), 15)
        expect(ok and "polkit does not authorize uid 65534" in seen,
               f"nobody cannot set a limit, and the page says why ({seen})")
        time.sleep(1)
        ok, seen = metadata(None)()
        expect(ok, f"and the metadata has no limit ({seen})")
        # an administrator's password would do for the host cap: the page lets polkit ask for
        # it (ALLOW_INTERACTIVE_AUTHORIZATION), and no agent answers in this session
        fill(drv, "#ve-host-cap-input", "30")
        drv.find_element(By.ID, "ve-set-host-cap").click()
        ok, seen = wait_for("the host cap's refusal", lambda: (
            "set-host-cap" in drv.find_element(By.ID, "ve-error").text,
            drv.find_element(By.ID, "ve-error").text), 15)
        expect(ok and "no authentication agent answered" in seen
               and drv.find_element(By.ID, "ve-host-cap").text == "none",
               f"nobody's host cap wants a password the page allowed polkit to ask for ({seen})")
        drv.find_element(By.ID, "ve-error-close").click()
        fill(row(busy), ".ve-limit-input", "2")
        row(busy).find_element(By.CSS_SELECTOR, ".ve-set-limit").click()
        wait_for("the limit's refusal again", lambda: ("set-limit" in drv.find_element(By.ID, "ve-error").text,
                                                      drv.find_element(By.ID, "ve-error").text), 15)
        drv.save_screenshot(shot_refused)
        expect(os.path.getsize(shot_refused) > 5000, f"screenshot of the refusal: {shot_refused}")
        expect(daemon.poll() is None, "virtenergyd ran throughout")

        # the daemon goes away: the page says so
        drv.find_element(By.ID, "ve-error-close").click()
        privbus.stop(daemon)
        ok, seen = wait_for("the page to notice", lambda: (
            drv.find_element(By.ID, "ve-error").is_displayed()
            and "virtenergyd" in drv.find_element(By.ID, "ve-error").text,
            drv.find_element(By.ID, "ve-error").text + " | " + drv.find_element(By.ID, "ve-daemon").text), 15)
        expect(ok, f"with virtenergyd stopped the page says so ({seen})")
    finally:
        for d in drivers:
            try:
                d.quit()
            except Exception:  # the browser is gone already
                pass
        for p in reversed(procs):
            privbus.stop(p)
        stop_guests(names, started)
        privbus.stop(polkitd)
        if bus is not None:
            bus.terminate()
            bus.wait(timeout=10)
        if tap.failures:
            for log in ("daemon.log", "cockpit-ws.log", "polkitd.log"):
                path = os.path.join(tmp, log)
                if os.path.exists(path):
                    with open(path, encoding="utf-8", errors="replace") as f:
                        print(f"# {log}:\n# " + f.read()[-3000:].replace("\n", "\n# "))
        shutil.rmtree(tmp, ignore_errors=True)
    return 1 if tap.failures else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1], sys.argv[2]))
