/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * fleet.h: power budgets over many hosts (feed -> rack -> host), the
 * controller's split and the host's fallback, as pure functions.
 *
 * A tree of nodes, each with a budget; hosts hang under nodes.  The sum of
 * the caps in force under a node must never be above its budget, and that
 * must hold whatever a host does when it cannot hear the controller.  A
 * host's cap in force is one of: its cap (written by the controller), its
 * fallback (when its cap is gone or it lost the store), or the lower of
 * the two (the first moments of a fallback, see ve_fleet_fallback_uw).
 *
 * The controller's books count for each host what MAY be in force now or
 * at any later time it is cut off, whoever else is cut off with it:
 *   - a host it sees (live): the largest of the cap and the fallback it
 *     reported and of every cap and fallback written to it since it last
 *     acknowledged one (cut off, a host goes to the lower of its cap and
 *     fallback and later rises to its fallback: never above the larger);
 *   - a host it does not see (absent: its lease expired, or its report does
 *     not parse): its fallback, as long as it stays absent.  A host that
 *     was cut off sits at its fallback indefinitely, and a dead one cannot
 *     be told from it, so its fallback stays reserved until it comes back
 *     or an operator forgets it.
 * The books under a node never sum above its budget.  A host's cap and
 * fallback may move anywhere within its books at once (lowerings, a cap
 * rising into the room its own fallback holds); above them only by what
 * every node above has spare, caps first.  So any set of hosts may be cut
 * off at once, in any order: what they and the others hold is within the
 * books.  The price is the fallback: a host's fallback is the lower of its
 * node's static share over its hosts and its target, raised toward that
 * static share only by what the targets leave spare (a host held low by
 * its demand falls back near its cap, not to the static share).  Fallbacks
 * alone therefore never sum above a budget either: the case where every
 * host falls back at once (quorum lost).  A new controller starts with a
 * warm-up in which it only lowers caps and fallbacks, bounded by each
 * host's fallback, until the old controller's caps have expired everywhere.
 *
 * Units: µW, µs.  Pure: no I/O, no clock, no allocation beyond the call.
 * Errors: negative errno, outputs untouched.
 */
#pragma once

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define VE_FLEET_MAX_NODES 1024
#define VE_FLEET_MAX_HOSTS 65536
/* A budget above this (1 GW) is a typo. */
#define VE_FLEET_MAX_BUDGET_UW (UINT64_C(1000000000) * 1000000)

struct ve_fleet_node {
	int parent;             /* index into the nodes, -1: a root */
	uint64_t budget_uw;
};

/*
 * Whether @nodes form a forest: every parent in range and no cycle.
 * 0, or -EINVAL (a parent out of range, a budget above the maximum),
 * -ELOOP (a cycle: *@ret_bad, may be NULL, is a node on it), -E2BIG.
 */
int ve_fleet_tree_check(const struct ve_fleet_node *nodes, size_t n, size_t *ret_bad);

/*
 * Each node's static budget: a root's own budget; a child's the smaller of
 * its own budget and its parent's static budget shared in proportion to
 * the budgets of the parent's children.  Static budgets of a node's
 * children never sum above its own.  The tree must have passed
 * ve_fleet_tree_check.
 */
void ve_fleet_static_budgets(const struct ve_fleet_node *nodes, size_t n, uint64_t *ret_static_uw);

struct ve_fleet_host {
	int node;                   /* its node's index */
	bool live;                  /* its report is there and parses */
	/* its report (live hosts) */
	uint64_t demand_uw;         /* what it would draw unheld */
	uint64_t guarantee_uw;      /* Σ of its VMs' guarantees */
	uint64_t floor_uw;          /* what it cannot go below */
	uint32_t weight;            /* 1 .. 10000 */
	uint64_t reported_cap_uw;   /* the cap it says is in force; UINT64_MAX: none */
	uint64_t reported_fb_uw;    /* the fallback it says it holds */
	/*
	 * What this controller wrote (0: nothing yet): the highest cap written
	 * since the host last reported applying the latest one (any of them may
	 * be in force until then), and the highest fallback likewise; for an
	 * absent host, its last known fallback.
	 */
	uint64_t written_cap_uw;
	uint64_t written_fb_uw;
};

struct ve_fleet_out {
	uint64_t target_uw;         /* its share by the algorithm */
	uint64_t cap_uw;            /* the cap to write now (absent hosts: 0) */
	uint64_t fallback_uw;       /* the fallback to write now */
	uint64_t reserved_uw;       /* what the books count for it after this round:
				       the largest of the above and what it may still hold */
};

/*
 * One control round.  @warm_up: this controller has not yet outlived the
 * old one's caps.  Writes @out[0..n_hosts).  -EINVAL for a bad host
 * (node out of range, weight outside 1..10000) or a tree that fails
 * ve_fleet_tree_check; -ENOMEM.
 */
int ve_fleet_plan(const struct ve_fleet_node *nodes, size_t n_nodes,
		  const struct ve_fleet_host *hosts, size_t n_hosts, bool warm_up,
		  struct ve_fleet_out *out);

/*
 * The cap a host holds in fallback: the lower of the cap it held and its
 * fallback until @raise_after_us has passed since @since_us (its last
 * contact with the store, or when its cap vanished), its fallback after.
 * The delay gives the controller the time to see the host gone and to
 * lower the others first (at least the host's lease TTL plus a control
 * period).  A fallback of 0 (none known) and a held cap of 0 (none) read
 * as "the lowest there is", 1 µW, and "no cap".
 */
uint64_t ve_fleet_fallback_uw(uint64_t held_uw, uint64_t fallback_uw, uint64_t since_us,
			      uint64_t now_us, uint64_t raise_after_us);

/* The cap in force from a local cap and a fleet one, 0 meaning none for either: the lower. */
uint64_t ve_fleet_effective_uw(uint64_t local_uw, uint64_t fleet_uw);
