/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * agent.h: a host's part in the fleet (keys.h for what it writes).
 *
 * Grants itself a lease of [fleet] ttl-s, keeps it alive (every sixth of
 * it), puts its report under P/hosts/HOST bound to that lease, and watches
 * P/caps/HOST (watch.h), reading it a few times a control period only while
 * no stream of the watch is up or while in fallback.  A lease whose
 * keepalives went unanswered for two thirds of a TTL is given up (no more
 * keepalives on it) and a new one granted.  The cap the daemon should
 * hold (ve_fleet_agent_cap):
 *   - the controller's cap while the key is there and etcd answers;
 *   - its fallback (fleet.h's ve_fleet_fallback_uw: the lower of the cap
 *     it held and the fallback at once, the fallback itself once 2 TTL +
 *     one control period have passed) when the key is gone, or when etcd
 *     has not answered a keepalive for two thirds of a TTL (its lease may
 *     expire a third later, and the controller then counts it at its
 *     fallback);
 *   - its fallback from the start, until a controller gives it a cap.
 * The fallback is the one the controller last gave it (the lower of the
 * static share, the node's budget over its hosts, and this host's share
 * of the split: core/fleet.h), kept in the state directory across
 * restarts, never above [fleet] fallback-cap where that is set; before any
 * controller has given one, fallback-cap, else the lowest cap there is.
 * A lease that expired is replaced and the host registers again.
 *
 * With [fleet] controller, the agent also runs a controller
 * (controller.h) on the same lease: a daemon cut off loses both together.
 * Not thread-safe; GLib's default main context.
 */
#pragma once

#include <glib.h>
#include <stdbool.h>
#include <stdint.h>

#include "etcd.h"
#include "keys.h"

struct ve_fleet_opts {
	char **endpoints;           /* NULL-terminated */
	const char *prefix;         /* "/virtenergy/fleet" */
	const char *host;           /* this host's name */
	const char *node;           /* its node's path in the tree */
	uint64_t ttl_s;
	uint64_t period_us;         /* the controller's period */
	uint64_t fallback_cap_uw;   /* 0: none configured */
	uint32_t weight;
	bool controller;            /* may this daemon lead */
	const char *state_dir;      /* where the fallback is kept; NULL: nowhere */
};

/* Figures for the report, each control period. */
struct ve_fleet_figures {
	uint64_t demand_uw, guarantee_uw, floor_uw, power_uw;
};

typedef void (*ve_fleet_log_fn)(void *ud, const char *msg);

struct ve_fleet_agent;

/* @o is copied. */
struct ve_fleet_agent *ve_fleet_agent_new(const struct ve_fleet_opts *o, ve_fleet_log_fn log, void *ud);
void ve_fleet_agent_free(struct ve_fleet_agent *a);

void ve_fleet_agent_set_figures(struct ve_fleet_agent *a, const struct ve_fleet_figures *f);

/*
 * The fleet's cap for now (>= 1 µW), whether it is the controller's or the
 * fallback, and the revision of the cap key it comes from (0: none).
 */
uint64_t ve_fleet_agent_cap(struct ve_fleet_agent *a, uint64_t now_us, enum ve_fleet_source *ret_source,
			    gint64 *ret_rev);

/*
 * The cap the daemon holds now, where it came from and the revision of the
 * fleet cap applied (what ve_fleet_agent_cap said), for the report: the
 * controller takes the revision as the host's word that it applied it.
 */
void ve_fleet_agent_in_force(struct ve_fleet_agent *a, uint64_t cap_uw, enum ve_fleet_source src,
			     gint64 rev);

/* For the operators' calls (status.h) and the controller. */
struct ve_etcd *ve_fleet_agent_etcd(struct ve_fleet_agent *a);
const struct ve_fleet_opts *ve_fleet_agent_opts(struct ve_fleet_agent *a);
/* Whether this daemon's controller leads now. */
bool ve_fleet_agent_leads(struct ve_fleet_agent *a);
