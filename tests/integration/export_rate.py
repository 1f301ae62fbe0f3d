#!/usr/bin/env python3
# SPDX-License-Identifier: GPL-2.0-or-later
"""Compare the energy a guest reads from its export (over 9p) with the ledger.

usage: export_rate.py CONSOLE STATE_FILE SECTION SECONDS

Polls the guest's serial console for "VE-EXPORT energy_uj=N" lines and, the
moment each new line shows up, reads the VM's total from the daemon's state
file.  Over SECONDS it compares the rate of what the guest read with the rate
the host attributed, both over the same host-clock interval.  Prints the two
rates; exit 0 when they agree within 2 %.
"""
import configparser
import os
import re
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import vestate  # noqa: E402

LINE = re.compile(r"VE-EXPORT energy_uj=(\d+)")


def ledger(path, section):
    """The VM's total as the daemon has it: the state file and its journal."""
    return int(vestate.load(path)[section]["total_uj"])


def main(console, state, section, seconds):
    seen = 0
    obs = []  # (host time, guest-read energy, ledger energy)
    deadline = time.monotonic() + seconds + 30
    while time.monotonic() < deadline:
        with open(console, encoding="utf-8", errors="replace") as f:
            values = LINE.findall(f.read())
        if len(values) > seen:
            now = time.monotonic()
            try:
                obs.append((now, int(values[-1]), ledger(state, section)))
            except (KeyError, configparser.Error):
                pass
            seen = len(values)
            if len(obs) > 2 and obs[-1][0] - obs[1][0] >= seconds:
                break
        time.sleep(0.05)
    if len(obs) < 3 or obs[-1][0] - obs[1][0] < seconds:
        print(f"only {len(obs)} readings from the guest in time")
        return 1
    # skip the first reading: the guest may have printed it before we looked
    t0, g0, l0 = obs[1]
    t1, g1, l1 = obs[-1]
    guest = (g1 - g0) / (t1 - t0)
    host = (l1 - l0) / (t1 - t0)
    print(f"guest read {guest / 1e6:.3f} W, host attributed {host / 1e6:.3f} W over {t1 - t0:.1f} s")
    return 0 if host > 0 and abs(guest - host) <= 0.02 * host else 1


if __name__ == "__main__":
    sys.exit(main(sys.argv[1], sys.argv[2], sys.argv[3], float(sys.argv[4])))
