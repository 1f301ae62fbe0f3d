/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * status.h: what operators ask of the fleet, for D-Bus (GetFleet,
 * SetFleetBudget, SetFleetTree) and so for virtenergyctl fleet.
 *
 * Forgetting a host (ForgetFleetHost) drops what the controller reserves
 * for it while it is absent: its roster key and any cap key left, in one
 * transaction that holds only while its report key is still missing and
 * its roster unchanged; a live host (its report is there) or an unknown
 * one (no roster key) is refused.  For a host gone for good: one that
 * comes back holds the fallback it saved until the controller reads its
 * report, and nothing was reserved for it meanwhile.
 *
 * The status is one JSON object: {"leader": NAME or null, "nodes": [{"path",
 * "budget_w"}], "tree_error": text (when the tree in etcd is refused),
 * "hosts": [{"name", "live", "node", "demand_w", "guarantee_w", "floor_w",
 * "power_w", "cap_w", "source", "fallback_w", "given_cap_w",
 * "given_fallback_w", "reserved_w", "error"}]}, watts as numbers.
 * Writes change the tree with a transaction on the revision read, so a
 * concurrent change is refused rather than lost; bad input (a budget that
 * is NaN or negative, an unknown path, a tree with a cycle) is refused
 * with the reason and etcd is not written.  Errors in VE_ERROR.
 */
#pragma once

#include "etcd.h"

typedef void (*ve_fleet_status_fn)(const char *json, const GError *error, gpointer ud);
typedef void (*ve_fleet_done_fn)(const GError *error, gpointer ud);

void ve_fleet_status(struct ve_etcd *e, const char *prefix, ve_fleet_status_fn fn, gpointer ud);
void ve_fleet_set_budget(struct ve_etcd *e, const char *prefix, const char *path, double watts,
			 ve_fleet_done_fn fn, gpointer ud);
void ve_fleet_set_tree(struct ve_etcd *e, const char *prefix, const char *json, ve_fleet_done_fn fn,
		       gpointer ud);
void ve_fleet_forget(struct ve_etcd *e, const char *prefix, const char *host, ve_fleet_done_fn fn,
		     gpointer ud);
