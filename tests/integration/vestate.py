#!/usr/bin/env python3
# SPDX-License-Identifier: GPL-2.0-or-later
"""Read virtenergyd's state file for the integration tests.

usage: vestate.py FILE get SECTION KEY     print one counter ("vm:<uuid>" total_uj ...)
       vestate.py FILE conserved           exit 0 when every account adds up and
                                           Σ accounts + retired = energy_uj, else print why
"""
import configparser
import sys


def load(path):
    cp = configparser.ConfigParser(interpolation=None, strict=True)
    cp.optionxform = str  # keys are case-sensitive
    with open(path, encoding="utf-8") as f:
        cp.read_file(f)
    return cp


def conserved(cp):
    head = cp["virtenergy"]
    energy = int(head["energy_uj"])
    retired = int(head.get("retired_uj", "0"))
    reasons = sum(int(v) for k, v in head.items() if k.startswith("reason."))
    total = 0
    for name in cp.sections():
        if name in ("virtenergy", "checksum"):
            continue
        sec = cp[name]
        t = int(sec["total_uj"])
        comps = sum(int(v) for k, v in sec.items() if k.startswith("comp."))
        devs = sum(int(v) for k, v in sec.items() if k.startswith("dev."))
        if name == "host":
            comps += reasons
        if comps != t or devs != t:
            return f"{name}: components {comps}, devices {devs}, total {t}"
        total += t
    if total + retired != energy:
        return f"accounts {total} + retired {retired} != energy {energy}"
    return None


def main(argv):
    cp = load(argv[1])
    if argv[2] == "get":
        print(cp[argv[3]][argv[4]] if cp.has_option(argv[3], argv[4]) else 0)
        return 0
    if argv[2] == "conserved":
        why = conserved(cp)
        if why:
            print(why)
            return 1
        return 0
    print(__doc__, file=sys.stderr)
    return 2


if __name__ == "__main__":
    sys.exit(main(sys.argv))
