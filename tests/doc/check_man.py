#!/usr/bin/env python3
# SPDX-License-Identifier: GPL-2.0-or-later
"""The man pages and the completion cover what the programs accept.

Every long option that `virtenergyd --help-all` and `virtenergyctl --help-all`
print (from the built binaries) has a term line in its page, with its short
form where it has one; every virtenergyctl command (the usage line of its
--help and the command table in virtenergyctl.c, which must agree) has a term
line under COMMANDS; every configuration key of config.c's table and every key
conf/virtenergyd.conf shows (commented-out ones too) has a "*key=*" term line
under its group's "## [group]" heading of virtenergyd.conf(5), and the sample
file shows every key of the table.  Pages that document what does not exist
fail too.  The bash completion names every command and long option of
virtenergyctl.  Where scdoc built the pages, each is a page of its section.

usage: check_man.py SOURCE_ROOT VIRTENERGYD VIRTENERGYCTL [BUILT_PAGE...]
"""
import os
import re
import subprocess
import sys

failed = 0


def expect(ok, what):
    global failed
    print(("ok - " if ok else "not ok - ") + what)
    if not ok:
        failed = 1


def help_options(binary):
    """{long: short or None} from --help-all, and the whole text."""
    out = subprocess.run([binary, "--help-all"], capture_output=True, text=True, check=True).stdout
    opts = {}
    for m in re.finditer(r"^\s+(?:-(\w), )?--([a-z0-9][a-z0-9-]*)", out, re.M):
        opts[m.group(2)] = m.group(1)
    # GLib accepts --help-all without listing it where there are no option groups
    opts.setdefault("help-all", None)
    return opts, out


def read(path):
    with open(path, encoding="utf-8") as f:
        return f.read()


def term_lines(scd, section=None):
    """The definition terms of an scdoc page: lines that start with '*', from
    the '# SECTION' named (or the whole page), not inside ``` blocks."""
    terms, current, literal = [], None, False
    for line in scd.splitlines():
        if line.startswith("```"):
            literal = not literal
            continue
        if literal:
            continue
        if line.startswith("# "):
            current = line[2:].strip()
        elif line.startswith("*") and (section is None or current == section):
            terms.append(line)
    return terms


def check_options(name, binary, page_path):
    opts, _ = help_options(binary)
    page = read(page_path)
    terms = term_lines(page, "OPTIONS")
    expect(len(opts) > 3, f"{name} --help-all lists its options ({', '.join(sorted(opts))})")
    for long, short in sorted(opts.items()):
        lines = [t for t in terms if f"*--{long}*" in t]
        expect(bool(lines), f"{os.path.basename(page_path)} documents --{long} under OPTIONS")
        if short and lines:
            expect(any(f"*-{short}*" in t for t in lines),
                   f"{os.path.basename(page_path)} gives --{long} its short form -{short}")
    documented = {m for t in terms for m in re.findall(r"\*--([a-z0-9-]+)\*", t)}
    stale = sorted(documented - set(opts))
    expect(not stale, f"{os.path.basename(page_path)} documents no option {name} lacks"
           + (f" (it has --{', --'.join(stale)})" if stale else ""))
    return opts


def ctl_commands(src, binary):
    """The commands, from --help's usage line and from virtenergyctl.c."""
    _, out = help_options(binary)
    usage = re.search(r"virtenergyctl \[OPTION.*?\] (.*)", out)
    from_help = set()
    if usage:
        from_help = {part.split()[0] for part in usage.group(1).split(" | ") if part.split()}
    table = re.search(r"\} cmds\[\] = \{(.*?)\};", read(os.path.join(src, "daemon", "virtenergyctl.c")),
                      re.S)
    from_source = set(re.findall(r'\{ "([a-z][a-z-]*)", [0-9]+, "', table.group(1))) if table else set()
    expect(len(from_source) >= 7, f"virtenergyctl.c's command table read ({', '.join(sorted(from_source))})")
    expect(from_help == from_source,
           f"--help's usage line names the commands of the table (help: {sorted(from_help)})")
    return from_help | from_source


def config_table(src):
    """{group: [keys]} from config.c's table of known groups and keys."""
    text = read(os.path.join(src, "daemon", "config.c"))
    table = re.search(r"known\[\]\[[0-9]+\] = \{(.*?)\n\};", text, re.S)
    groups = {}
    for row in re.findall(r"\{([^{}]*)\}", table.group(1) if table else ""):
        names = re.findall(r'"([^"]+)"', row)
        if names:
            groups[names[0]] = names[1:]
    # [service NAME] groups: the keys config_services.c checks
    svc = re.search(r"service_keys\[\] = \{(.*?)\};", read(os.path.join(src, "daemon", "config_services.c")), re.S)
    if svc:
        groups["service"] = re.findall(r'"([^"]+)"', svc.group(1))
    return groups


def sample_keys(src):
    """{group: [keys]} that conf/virtenergyd.conf sets or shows commented out."""
    groups, group = {}, None
    for line in read(os.path.join(src, "conf", "virtenergyd.conf")).splitlines():
        m = re.match(r"^\[([a-z][a-z-]*)\]\s*$", line) or \
            re.match(r"^#?\[(service) [A-Za-z0-9._-]+\]\s*$", line)
        if m:
            group = m.group(1)
            groups.setdefault(group, [])
            continue
        m = re.match(r"^#?([a-z][a-z0-9-]*)=", line)
        if m and group:
            groups[group].append(m.group(1))
    return groups


def page_keys(scd):
    """{group: [keys]} of virtenergyd.conf(5): "*key=*" terms under "## [group]"."""
    groups, group, literal = {}, None, False
    for line in scd.splitlines():
        if line.startswith("```"):
            literal = not literal
            continue
        if literal:
            continue
        if line.startswith("# "):
            group = None
        m = re.match(r"^## \[([a-z][a-z-]*)\]\s*$", line) or re.match(r"^## \[(service) NAME\]\s*$", line)
        if m:
            group = m.group(1)
            groups.setdefault(group, [])
            continue
        m = re.match(r"^\*([a-z][a-z0-9-]*)=\*", line)
        if m and group:
            groups[group].append(m.group(1))
    return groups


def pairs(groups):
    return {(g, k) for g, keys in groups.items() for k in keys}


def main():
    src, daemon, ctl = sys.argv[1:4]
    built = sys.argv[4:]
    man8 = os.path.join(src, "daemon", "virtenergyd.8.scd")
    man1 = os.path.join(src, "daemon", "virtenergyctl.1.scd")
    man5 = os.path.join(src, "conf", "virtenergyd.conf.5.scd")

    check_options("virtenergyd", daemon, man8)
    ctl_opts = check_options("virtenergyctl", ctl, man1)

    commands = ctl_commands(src, ctl)
    cmd_terms = term_lines(read(man1), "COMMANDS")
    for c in sorted(commands):
        expect(any(re.match(rf"^\*{re.escape(c)}\*", t) for t in cmd_terms),
               f"virtenergyctl.1 documents the command {c} under COMMANDS")
    stale = sorted({m.group(1) for t in cmd_terms if (m := re.match(r"^\*([a-z-]+)\*", t))} - commands)
    expect(not stale, "virtenergyctl.1 documents no command virtenergyctl lacks"
           + (f" ({', '.join(stale)})" if stale else ""))

    table, sample = config_table(src), sample_keys(src)
    page = page_keys(read(man5))
    expect(len(pairs(table)) >= 20, f"config.c's key table read ({len(pairs(table))} keys)")
    expect(set(table) == set(sample),
           f"conf/virtenergyd.conf has the groups of config.c (sample {sorted(sample)})")
    for g, k in sorted(pairs(table) | pairs(sample)):
        expect((g, k) in pairs(page), f"virtenergyd.conf.5 documents [{g}] {k}")
    for g, k in sorted(pairs(table) - pairs(sample)):
        expect(False, f"conf/virtenergyd.conf shows [{g}] {k}, a key config.c accepts")
    for g, k in sorted(pairs(sample) - pairs(table)):
        expect(False, f"conf/virtenergyd.conf shows [{g}] {k}, a key config.c refuses")
    for g, k in sorted(pairs(page) - pairs(table)):
        expect(False, f"virtenergyd.conf.5 documents [{g}] {k}, a key config.c refuses")

    # the words the completion offers: its commands='...' and options='...'
    comp = read(os.path.join(src, "conf", "virtenergyctl.bash-completion"))
    offered = {}
    for var in ("commands", "options"):
        m = re.search(rf"\blocal {var}='([^']*)'", comp)
        offered[var] = set(m.group(1).split()) if m else set()
    expect(offered["commands"] and offered["options"],
           "the bash completion's commands= and options= lists read")
    for c in sorted(commands):
        expect(c in offered["commands"], f"the bash completion offers the command {c}")
    for o in sorted(ctl_opts):
        expect(f"--{o}" in offered["options"], f"the bash completion offers --{o}")
    extra = sorted((offered["commands"] - commands) | (offered["options"] - {f"--{o}" for o in ctl_opts}))
    expect(not extra, "the bash completion offers nothing virtenergyctl lacks"
           + (f" ({', '.join(extra)})" if extra else ""))

    for path in built:
        name = os.path.basename(path)
        title, section = name.rsplit(".", 1)
        text = read(path) if os.path.exists(path) else ""
        expect(f'.TH "{title}" "{section}"' in text, f"scdoc built {name} as {title}({section})")
    return failed


if __name__ == "__main__":
    sys.exit(main())
