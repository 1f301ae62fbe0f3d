#!/usr/bin/env python3
# SPDX-License-Identifier: GPL-2.0-or-later
"""The guest export against the ledger, read at the same period.

The daemon writes the state file and the export in the same period, so a
reading of both taken between two periods must agree exactly: the export's
energy_uj is the ledger's total as the 32-bit energy status register holds
it (in energy-status units of 2^-esu J, wrapping; core/vrapl.c), read back
in microjoules; esu follows from max_energy_range_uj.
A reading that straddles a period (the state file read before and after
differ) is taken again.  Comparing two such readings 10 s apart compares
like with like, where reading each file at an arbitrary moment measured
up to a period of skew at each end.

usage: export_sync.py STATE_FILE SECTION ZONE_DIR SECONDS
prints "export +N uJ, ledger +N uJ over S s (K readings straddled a period)"
exit 0 when both readings were in step (so the export equals the ledger,
through the register, at both ends) and the ledger rose, else 1
"""
import configparser
import os
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import vestate  # noqa: E402


def total(path, section):
    """The VM's total as the daemon has it: the state file and its journal."""
    return int(vestate.load(path)[section]["total_uj"])


def read_int(path):
    with open(path, encoding="ascii") as f:
        return int(f.read().strip())


def esu_of(range_uj):
    for esu in range(32):
        if (0xffffffff * 10**6) >> esu == range_uj:
            return esu
    raise ValueError(f"max_energy_range_uj {range_uj} is no energy-status unit's")


def as_exported(uj, esu):
    """The ledger's µJ as energy_uj shows them: through the 32-bit register."""
    status = ((uj << esu) // 10**6) & 0xffffffff
    return (status * 10**6) >> esu


def in_step(state, section, zone, deadline):
    """(export, ledger, straddled): a reading of both from one period."""
    esu = esu_of(read_int(f"{zone}/max_energy_range_uj"))
    straddled = 0
    while time.monotonic() < deadline:
        try:
            before = total(state, section)
            export = read_int(f"{zone}/energy_uj")
            after = total(state, section)
        except (OSError, ValueError, KeyError, configparser.Error):
            straddled += 1      # a file being replaced: read again
            continue
        if before == after and export == as_exported(before, esu):
            return export, before, straddled
        straddled += 1
        time.sleep(0.01)
    return None, None, straddled


def main(state, section, zone, seconds):
    e0, s0, k0 = in_step(state, section, zone, time.monotonic() + 10)
    if e0 is None:
        print(f"no reading of export and ledger in step within 10 s ({k0} tries)")
        return 1
    time.sleep(seconds)
    e1, s1, k1 = in_step(state, section, zone, time.monotonic() + 10)
    if e1 is None:
        print(f"no second reading in step within 10 s ({k1} tries)")
        return 1
    wrap = ((0xffffffff + 1) * 10**6) >> esu_of(read_int(f"{zone}/max_energy_range_uj"))
    de = (e1 - e0) % wrap
    print(f"export +{de} uJ, ledger +{s1 - s0} uJ over {seconds:g} s, both read in step "
          f"({k0 + k1} readings straddled a period and were taken again)")
    return 0 if s1 > s0 else 1


if __name__ == "__main__":
    sys.exit(main(sys.argv[1], sys.argv[2], sys.argv[3], float(sys.argv[4])))
