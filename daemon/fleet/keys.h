/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * keys.h: what the fleet keeps in etcd, as JSON text, and its checks.
 *
 * Under the prefix P ([fleet] prefix, default /virtenergy/fleet):
 *   P/tree            the tree: {"NAME": {"parent": "NAME", "budget_w": W}, ...}
 *                     (no parent: a root); written by operators
 *   P/hosts/HOST      a host's report, bound to the host's lease
 *   P/caps/HOST       its cap and fallback, bound to the controller's lease
 *   P/roster/HOST     its node and the fallback it may hold, kept without a
 *                     lease: what a controller reserves for a host it
 *                     cannot see, whoever wrote it
 *   P/election        etcd's election (campaign, leader)
 * Inside the values powers are integer µW ("_uw"); the tree, which people
 * write, has watts.  Parsers are pure over strings and refuse what is not
 * exactly right, with a message; outputs are untouched then.
 */
#pragma once

#include <glib.h>
#include <stdint.h>

#include "fleet.h"

#define VE_FLEET_NAME_MAX 64

enum ve_fleet_source {
	VE_FLEET_SOURCE_LOCAL,      /* no fleet cap (none, or the local cap is lower) */
	VE_FLEET_SOURCE_FLEET,      /* the controller's cap */
	VE_FLEET_SOURCE_FALLBACK,   /* the fallback: cap gone or etcd out of reach */
};
const char *ve_fleet_source_name(enum ve_fleet_source s);

struct ve_fleet_report {
	char *node;                 /* the node's path, "feed-a/rack-1" */
	uint64_t demand_uw, guarantee_uw, floor_uw, power_uw;
	uint32_t weight;
	uint64_t cap_uw;            /* in force; 0: none */
	enum ve_fleet_source source;
	uint64_t fallback_uw;       /* held */
	int64_t cap_rev;            /* the revision of the cap key it applied; 0: none */
};

char *ve_fleet_report_to_json(const struct ve_fleet_report *r);
gboolean ve_fleet_report_parse(const char *json, struct ve_fleet_report *ret, GError **error);
void ve_fleet_report_clear(struct ve_fleet_report *r);

struct ve_fleet_cap {
	uint64_t cap_uw;            /* >= 1 */
	uint64_t fallback_uw;
	char *leader;               /* who wrote it */
	int64_t read_rev;           /* the revision the controller's round read: what it knew */
};
char *ve_fleet_cap_to_json(const struct ve_fleet_cap *c);
gboolean ve_fleet_cap_parse(const char *json, struct ve_fleet_cap *ret, GError **error);

/* P/roster/HOST: {"node": PATH, "fallback_uw": N} */
char *ve_fleet_roster_to_json(const char *node, uint64_t fallback_uw);
gboolean ve_fleet_roster_parse(const char *json, char **ret_node, uint64_t *ret_fallback_uw,
			       GError **error);

struct ve_fleet_tree {
	size_t n;
	char **names;               /* n names */
	struct ve_fleet_node *nodes;
};
/* Names: 1..64 of [A-Za-z0-9._-]; budgets finite, >= 0, at most 1 GW; parents known; no cycle. */
gboolean ve_fleet_tree_parse(const char *json, struct ve_fleet_tree *ret, GError **error);
char *ve_fleet_tree_to_json(const struct ve_fleet_tree *t);
void ve_fleet_tree_clear(struct ve_fleet_tree *t);
/* "root/child/..." of node @i (g_free). */
char *ve_fleet_tree_path(const struct ve_fleet_tree *t, size_t i);
/* The node whose full path is @path, -1 when none. */
int ve_fleet_tree_find(const struct ve_fleet_tree *t, const char *path);
/* Set @path's budget to @watts (finite, >= 0, <= 1 GW); FALSE with @error, @t unchanged. */
gboolean ve_fleet_tree_set_budget(struct ve_fleet_tree *t, const char *path, double watts,
				  GError **error);
/* A budget in watts as the tree takes it: FALSE with @error for NaN, infinities, < 0, > 1 GW. */
gboolean ve_fleet_budget_check(double watts, uint64_t *ret_uw, GError **error);
gboolean ve_fleet_name_ok(const char *name);
