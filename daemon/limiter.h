/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * limiter.h: holding VMs to their power limits.
 *
 * Each VM with a power limit in its metadata (energylimits.h) gets a
 * controller (powerctl.h) that runs every control period on the VM's
 * power as the accounting measured it over that period.  Its output u (the
 * fraction of its full-speed dynamic power) goes first to the frequency of
 * the host CPUs the VM has to itself (act/cpufreq.h), and only what the
 * frequency cannot do (below its floor, between two listed frequencies, or
 * everything where the VM shares its CPUs) to its CPU bandwidth
 * (act/cpubw.h): bandwidth = u / (frequency applied / top frequency).
 * A disk power limit is turned into block I/O tuning of the VM's disks
 * (act/blkio.h) once, when it is set or the VM starts.  Lifting a limit,
 * the VM stopping and the daemon exiting restore the VM's own settings;
 * records left by a daemon that died are reconciled at the next start
 * (bandwidth and disks when libvirt is first reached, frequencies at the
 * first tick, which knows the engine's sysfs root).
 *
 * Not thread-safe; the main loop owns it.
 */
#pragma once

#include <glib.h>
#include <libvirt/libvirt.h>

#include "blkio.h"
#include "cpubw.h"
#include "cpufreq.h"
#include "energylimits.h"
#include "engine.h"
#include "registry.h"

struct ve_limiter;

/* Reports what it does to a person (VM lifecycle of limits, failures). */
typedef ve_act_log_fn ve_limiter_log_fn;   /* (ud, uuid, name, msg) */

/* A VM started or stopped being throttled (throttled), or cannot be held (!throttled is unused). */
enum ve_limiter_event {
	VE_LIMITER_THROTTLED,
	VE_LIMITER_RELEASED,
	VE_LIMITER_CANNOT_HOLD,
};

typedef void (*ve_limiter_event_fn)(void *ud, enum ve_limiter_event ev, const char *uuid,
				    const char *name, uint64_t limit_uw, uint64_t power_uw);

/* Each VM's limiter state lives in @reg's VE_REG_LIMITER slot (registry.h; borrowed, must outlive it). */
struct ve_limiter *ve_limiter_new(struct ve_registry *reg, const char *state_dir, bool dry_run,
				  uint64_t period_us, ve_limiter_log_fn log, void *ud);

/* Hear about throttling changes (for D-Bus signals); @fn may be NULL. */
void ve_limiter_on_event(struct ve_limiter *l, ve_limiter_event_fn fn);
void ve_limiter_free(struct ve_limiter *l);

/*
 * The VM's limits are now @lim (NULL: none).  A lifted limit restores the
 * VM's bandwidth at once.
 */
void ve_limiter_set(struct ve_limiter *l, virConnectPtr conn, const char *uuid, const char *name,
		    const struct ve_limits *lim);

/*
 * The VM stopped: its quota and disk limits went with its QEMU process;
 * its CPUs' frequencies are put back.
 */
void ve_limiter_stopped(struct ve_limiter *l, virConnectPtr conn, const char *uuid);

/*
 * Run the controllers if a control period has passed.  The first call
 * also brings up the frequency actuator under the engine's root.
 */
void ve_limiter_tick(struct ve_limiter *l, struct ve_engine *e, virConnectPtr conn,
		     uint64_t now_us);

/* The power limit in force for @uuid in µW (its own or its cap share), 0 for none. */
uint64_t ve_limiter_limit_uw(struct ve_limiter *l, const char *uuid);

/*
 * Whether the VM's limit is enforced: none (it has no limit), held (the
 * controller holds it, at or under its limit), at-floor (at its CPU floor
 * and still over its limit) or not-enforceable (an actuator refuses: libvirt
 * would not set its bandwidth or its disks' limits).  *@ret_reason (may be
 * NULL; caller frees) says why for the last two.
 */
enum ve_limit_state {
	VE_LIMIT_NONE,
	VE_LIMIT_HELD,
	VE_LIMIT_AT_FLOOR,
	VE_LIMIT_NOT_ENFORCEABLE,
};
const char *ve_limit_state_name(enum ve_limit_state s);
enum ve_limit_state ve_limiter_state(struct ve_limiter *l, const char *uuid, char **ret_reason);

/* What is left of the VM's energy budget in its window, in µJ; false when it has no budget. */
bool ve_limiter_budget_left_uj(struct ve_limiter *l, const char *uuid, uint64_t *ret_uj);

/* Its share of the host cap in µW, 0 without a cap. */
uint64_t ve_limiter_alloc_uw(struct ve_limiter *l, const char *uuid);

/*
 * A host-wide cap (0: none), split every control period among the running
 * VMs by guarantee and weight up to their limits and demand (share.h).
 */
void ve_limiter_set_host_cap(struct ve_limiter *l, virConnectPtr conn, uint64_t cap_uw);

/*
 * What the running VMs add up to over the last control period, for the
 * fleet's report: Σ guarantees, Σ demands (ve_demand_uw, as the cap split
 * uses them), Σ measured power.
 */
struct ve_limiter_figures {
	uint64_t guarantee_uw, demand_uw, measured_uw;
};
void ve_limiter_figures(struct ve_limiter *l, struct ve_limiter_figures *ret);

/*
 * At start: restore what a previous run left throttled (returns the VMs
 * whose bandwidth was restored; disks are reported in @report).  At exit:
 * restore all; returns how many restores failed.
 */
unsigned int ve_limiter_reconcile(struct ve_limiter *l, virConnectPtr conn, GString *report);
unsigned int ve_limiter_restore_all(struct ve_limiter *l, virConnectPtr conn);
