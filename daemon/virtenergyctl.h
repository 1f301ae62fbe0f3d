/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * virtenergyctl.h: what virtenergyctl.c (the commands) and
 * virtenergyctl-out.c (their output) share.
 *
 * JSON comes from json-glib, one document a line (top prints one a
 * refresh: NDJSON).  Keys are the D-Bus names in snake case (PowerW:
 * power_w, HostOwnEnergyJ: host_own_energy_j, VCPUs: vcpus), and "none"
 * (no limit, no cap: 0 on the bus) is null.
 */
#pragma once

#include <gio/gio.h>
#include <json-glib/json-glib.h>

/* Member @name (a D-Bus name, written in snake case) with the value @v (NULL: null). */
void vc_json_member(JsonBuilder *b, const char *name, GVariant *v);

/* Print the built document on one line. */
void vc_json_print(JsonBuilder *b);

/* Figures for people: @v in @unit with a prefix (m, k, M) and two decimals. */
void vc_human(char *buf, size_t len, double v, const char *unit);

extern gboolean opt_json;

/*
 * The outcome of a write, in words, or with --json an object: {"vm": VM,
 * "limit_w": W or null} for a VM's limit, {"host_cap_w": W or null} for
 * the cap.  @vm NULL: the host cap.  @w 0: none.
 */
void vc_say_done(const char *vm, double w);

/* virtenergyctl-fleet.c: `fleet [set-budget PATH WATTS | set-tree FILE]`, @argv after "fleet". */
struct _VeManager1;
int vc_fleet_usage(int argc, char **argv);
int vc_fleet(struct _VeManager1 *p, int argc, char **argv);
