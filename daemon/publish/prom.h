/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * prom.h: the Prometheus text exposition (format 0.0.4) of the ledgers, for
 * node_exporter's textfile collector.  Joules and watts at this edge only;
 * everything inside is µJ and µW.
 *
 *   virtenergy_vm_energy_joules_total{uuid,name,component}  counter
 *   virtenergy_vm_power_watts{uuid,name}                    gauge, last second
 *   virtenergy_vm_running{uuid,name}                        gauge, 0 or 1
 *   virtenergy_vm_info{uuid,name,orchestrator,instance,...} gauge, always 1 (identity.h)
 *   virtenergy_vm_power_limit_watts{uuid,name}              gauge, VMs with a limit only
 *   virtenergy_vm_limit_state{uuid,name,state}              gauge, 1: held, at-floor or
 *                                                           not-enforceable (limited VMs)
 *   virtenergy_vm_allocation_watts{uuid,name}               gauge, its share of the host cap
 *   virtenergy_vm_budget_left_joules{uuid,name}             gauge, VMs with an energy budget
 *   virtenergy_host_cap_watts                               gauge, while there is a host cap
 *   virtenergy_fleet_cap_watts{source}                      gauge, in a fleet: the fleet's cap;
 *                                                           source: fleet, fallback or local
 *                                                           (where the cap in force comes from)
 *   virtenergy_host_energy_joules_total                     counter, all attributed energy
 *   virtenergy_host_own_energy_joules_total{component}      counter, the host's own work
 *   virtenergy_host_unattributed_joules_total{reason}       counter, energy no VM could take
 *   virtenergy_host_power_watts                             gauge
 *   virtenergy_estimated                                    gauge, 1 without an energy sensor
 *   virtenergy_build_info{version}                          gauge, always 1
 *
 * Label values are escaped as the format requires (backslash, double quote,
 * newline), so any VM name is safe.
 */
#pragma once

#include <glib.h>
#include <stdbool.h>
#include <stdint.h>

#include "ledger.h"

struct ve_prom_vm {
	const char *uuid;
	const char *name;
	bool running;
	uint64_t power_uw;
	const struct ve_ledger_entry *ledger;
	uint64_t limit_uw;          /* the limit in force, 0: none */
	/*
	 * Its orchestrator identity for virtenergy_vm_info: label name, value,
	 * ..., NULL (may be NULL).  Names must be valid label names.
	 */
	const char *const *info;
	const char *limit_state;    /* "held", "at-floor", "not-enforceable"; NULL: no limit */
	uint64_t alloc_uw;          /* its share of the host cap, 0: no cap */
	bool has_budget;
	uint64_t budget_left_uj;
};

/* A shared service: what it spent for its clients (passed on to them). */
struct ve_prom_service {
	const char *name;
	uint64_t passed_on_uj;
	uint64_t power_uw;
	unsigned int n_threads;
};

struct ve_prom_host {
	uint64_t energy_uj;
	uint64_t power_uw;
	const struct ve_ledger_entry *ledger;   /* the host account */
	const uint64_t *reason_uj;              /* VE_REASON__MAX entries */
	bool estimated;
	uint64_t host_cap_uw;                   /* 0: none */
	const struct ve_prom_service *services;
	size_t n_services;
	uint64_t fleet_cap_uw;                  /* 0: in no fleet */
	const char *fleet_source;               /* "fleet", "fallback", "local" */
};

/* The exposition text; caller frees. */
char *ve_prom_render(const struct ve_prom_host *h, const struct ve_prom_vm *vms, size_t n);

/*
 * Guest mode's exposition (guestmode.h), from its ledger:
 *
 *   virtenergy_guest_energy_joules_total        counter, the VM's energy
 *   virtenergy_guest_own_energy_joules_total    counter, the part outside the cgroups
 *   virtenergy_guest_power_limit_watts          gauge, only while the VM has a limit
 *   virtenergy_cgroup_energy_joules_total{cgroup}     counter
 *   virtenergy_cgroup_power_watts{cgroup}             gauge, last control period
 *   virtenergy_cgroup_power_limit_watts{cgroup}       gauge, limited cgroups only (in force)
 *
 * The counters are kept across restarts in the guest's state file.
 */
struct ve_prom_cgroup {
	const char *name;
	uint64_t energy_uj;
	uint64_t power_uw;
	uint64_t limit_uw;          /* in force, 0: none */
};

struct ve_prom_guest {
	uint64_t energy_uj;
	uint64_t own_uj;
	uint64_t vm_limit_uw;       /* 0: none */
};

char *ve_prom_render_guest(const struct ve_prom_guest *g, const struct ve_prom_cgroup *cgs, size_t n);

/* Pieces of the expositions: */
/* a label value with \, " and newline escaped (format 0.0.4); NULL as "" */
void ve_prom_label(GString *out, const char *v);
/* µ-units as a decimal with six places, exactly: no rounding through a double */
void ve_prom_micro(GString *out, uint64_t v);
/* the # HELP and # TYPE lines of a metric */
void ve_prom_head(GString *out, const char *name, const char *type, const char *help);
/* virtenergy_build_info{version="VE_VERSION"} 1, with its HELP and TYPE */
void ve_prom_build_info(GString *out);

/* Write it to @path atomically (GLib's consistent replacement). */
gboolean ve_prom_write(const char *path, const char *text, GError **error);
