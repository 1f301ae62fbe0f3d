/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * controller.h: the fleet's controller (fleet.h for the rules it keeps).
 *
 * Campaigns in etcd's election P/election on the lease it is given; once
 * it leads, every control period it reads everything under P, splits each
 * budget of the tree (ve_fleet_plan) and writes the caps (under its lease)
 * and the roster in one transaction that holds only while its election
 * key is the one it created: a controller that lost its lease, or was
 * replaced, writes nothing.  A tree that does not parse (a cycle, a bad
 * budget) is refused with a message and the last good one is used; a
 * host's report that does not parse makes the host one it cannot see.
 */
#pragma once

#include "agent.h"

struct ve_fleet_controller;

struct ve_fleet_controller *ve_fleet_controller_new(struct ve_etcd *e, const struct ve_fleet_opts *o,
						    ve_fleet_log_fn log, void *ud);
void ve_fleet_controller_free(struct ve_fleet_controller *c);
/* The lease to campaign on (0: none, step down). */
void ve_fleet_controller_set_lease(struct ve_fleet_controller *c, gint64 lease);
bool ve_fleet_controller_leads(struct ve_fleet_controller *c);
