#!/usr/bin/env python3
# SPDX-License-Identifier: GPL-2.0-or-later
"""Read virtenergyd's state file for the integration tests.

usage: vestate.py FILE get SECTION KEY     print one counter ("vm:<uuid>" total_uj ...)
       vestate.py FILE has SECTION         exit 0 when the account is there
       vestate.py FILE count PREFIX        print how many accounts' keys start with PREFIX
       vestate.py FILE conserved           exit 0 when every account adds up and
                                           Σ accounts + retired = energy_uj, else print why

Like the daemon, it reads FILE and then the saves since, from FILE.journal
(daemon/publish/statejournal.c) when that continues FILE: a copy of FILE
alone is read as it is.
"""
import configparser
import os
import struct
import sys
import time
import zlib

COMPS = ["vcpu", "emulator", "io", "disk", "idle", "service", "cpu"]
DEVS = ["package", "dram", "disk"]
REASONS = ["idle-policy-none", "idle-no-taker", "unattributed", "service-for-host",
           "service-no-clients", "service-cycle"]
FIELDS = [f"comp.{c}" for c in COMPS] + [f"dev.{d}" for d in DEVS] + ["total_uj", "passed_on_uj"]


def varint(buf, pos):
    v = shift = 0
    while True:
        b = buf[pos]
        pos += 1
        v |= (b & 0x7F) << shift
        shift += 7
        if not b & 0x80:
            return v, pos


def replay(cp, data):
    """Apply the journal's records (statejournal.c) onto the state file's counters."""
    head = cp["virtenergy"]
    if len(data) < 24 or data[:8] != b"VEJRNL02":
        return False
    base, n_fields, crc = struct.unpack_from("<QII", data, 8)
    if crc != zlib.crc32(data[:20]) or n_fields != len(FIELDS) or base != int(head["seq"]):
        return False
    ids, pos = {}, 24
    while len(data) - pos >= 8:
        rlen, rcrc = struct.unpack_from("<II", data, pos)
        rec = data[pos + 8:pos + 8 + rlen]
        if len(rec) != rlen or zlib.crc32(rec) != rcrc:
            break
        pos += 8 + rlen
        p = 0
        vals = []
        for _ in range(4):
            v, p = varint(rec, p)
            vals.append(v)
        head["seq"], head["periods"], head["energy_uj"], head["retired_uj"] = map(str, vals)
        n, p = varint(rec, p)
        for i in range(n):
            v, p = varint(rec, p)
            head[f"reason.{REASONS[i]}"] = str(v)
        while p < len(rec):
            op = rec[p]
            p += 1
            if op == ord("D"):
                i, p = varint(rec, p)
                n, p = varint(rec, p)
                key = rec[p:p + n].decode()
                p += n
                n, p = varint(rec, p)
                if not cp.has_section(key):
                    cp.add_section(key)
                    for f in FIELDS:
                        cp[key][f] = "0"
                if n:
                    cp[key]["name"] = rec[p:p + n - 1].decode()
                    p += n - 1
                ids[i] = key
            elif op == ord("U"):
                i, p = varint(rec, p)
                mask, p = varint(rec, p)
                for f, name in enumerate(FIELDS):
                    if mask & (1 << f):
                        z, p = varint(rec, p)
                        d = (z >> 1) ^ -(z & 1)
                        cp[ids[i]][name] = str((int(cp[ids[i]].get(name, "0")) + d) % 2**64)
            elif op == ord("X"):
                n, p = varint(rec, p)
                cp.remove_section(rec[p:p + n].decode())
                p += n
    return True


def load_once(path):
    """(counters, False when a journal lies beside FILE but does not continue it)."""
    cp = configparser.ConfigParser(interpolation=None, strict=True)
    cp.optionxform = str  # keys are case-sensitive
    with open(path, encoding="utf-8") as f:
        cp.read_file(f)
    try:
        with open(path + ".journal", "rb") as f:
            return cp, replay(cp, f.read())
    except FileNotFoundError:
        return cp, True


def load(path, tries=20):
    """FILE and its journal.  A live daemon compacts now and then (a new FILE,
    then a new journal, each renamed into place), so a reader may take one
    of each: it reads again, a few times, until they match."""
    for _ in range(tries - 1):
        cp, whole = load_once(path)
        if whole:
            return cp
        time.sleep(0.01)
    return load_once(path)[0]


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
    if argv[2] == "has":
        return 0 if cp.has_section(argv[3]) else 1
    if argv[2] == "count":
        print(sum(1 for name in cp.sections() if name.startswith(argv[3])))
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
