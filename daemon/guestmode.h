/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * guestmode.h: virtenergyd --guest, the same accounting one level down.
 *
 * Inside a VM the daemon reads the VM's own energy and limit from what the
 * host's virtenergyd exports into it (the powercap-shaped directory shared
 * with 9p or virtiofs, or a real powercap tree: SOURCE/intel-rapl:0/
 * energy_uj, max_energy_range_uj, constraint_0_power_limit_uw) and
 * attributes it every period to the guest's cgroups, the children of one
 * parent cgroup.  That is the host's engine (engine.h, ve_engine_new_guest)
 * with another energy source and cgroups as accounts: one package device
 * measured by the VM's energy, each cgroup an account whose activity is its
 * CPU time (cgroup v2 cpu.stat usage_usec, v1 cpuacct.usage), and the
 * guest's CPU time outside those cgroups (from /proc/stat) the guest's own,
 * on the host account.  So Σ cgroups + own = the VM's energy, exactly.  The
 * counters are kept in the state file, as the host's are, under
 * "cgroup:NAME".  virtenergyd's own loop runs it (virtenergyd.h).
 *
 * Per-cgroup limits ("NAME=POWER") are held by the power controller
 * (daemon/core/powerctl.h) once per control period, acting on the cgroup's
 * CPU bandwidth (daemon/act/cgquota.h).  They are held within the VM's own
 * limit: when the VM's limit is lower than their sum, each is scaled down
 * in proportion.  Everything throttled is restored on exit.
 */
#pragma once

#include <glib.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>

#include "engine.h"

struct ve_guest_opts {
	const char *source;          /* holds intel-rapl:0/ */
	const char *cgroup_parent;   /* accounts: its child cgroups */
	const char *state_dir;       /* the state file and the throttle record (NULL: neither kept) */
	char **limits;               /* NULL-terminated "NAME=POWER" (may be NULL) */
	int root_fd;                 /* for proc/stat */
	bool dry_run;
	unsigned int control_periods; /* periods per control step (default 10) */
	unsigned int ncpus;          /* 0: the machine's online CPUs */
};

struct ve_guest;

/* FALSE with @error for a bad limit, a missing source, an unreadable parent or state directory. */
struct ve_guest *ve_guest_new(const struct ve_guest_opts *o, GError **error);
/* Restores every throttled cgroup. */
void ve_guest_free(struct ve_guest *g);

/* One accounting period at @now_us (monotonic); the first one only primes. */
gboolean ve_guest_period(struct ve_guest *g, uint64_t now_us, GError **error);

struct ve_guest_cg {
	const char *name;
	uint64_t energy_uj;          /* cumulative since the daemon started */
	double power_w;              /* over the last control period */
	uint64_t limit_uw;           /* in force (after scaling to the VM's limit); 0: none */
	double u;                    /* CPU share applied, 0 when not throttled */
};

size_t ve_guest_n_cgroups(const struct ve_guest *g);
void ve_guest_cgroup(const struct ve_guest *g, size_t i, struct ve_guest_cg *ret);
/* The VM's energy since start, and what of it was the guest's own (outside the cgroups). */
uint64_t ve_guest_energy_uj(const struct ve_guest *g);
uint64_t ve_guest_own_uj(const struct ve_guest *g);
uint64_t ve_guest_vm_limit_uw(const struct ve_guest *g);

/* The Prometheus text exposition (prom.h, ve_prom_render_guest) of the guest's ledger; caller frees. */
char *ve_guest_prom_render(const struct ve_guest *g);

/* The table --foreground prints every second. */
void ve_guest_print_table(const struct ve_guest *g, FILE *out);

/* The engine underneath (borrowed): the period, the views, the state file. */
struct ve_engine *ve_guest_engine(struct ve_guest *g);
