# SPDX-License-Identifier: GPL-2.0-or-later
"""One line per check for the Python integration tests."""

failures = 0


def expect(ok, what):
    """Print the check's line; count it when it failed."""
    global failures
    print(("ok - " if ok else "not ok - ") + what)
    if not ok:
        failures += 1
    return ok
