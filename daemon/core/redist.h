/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * redist.h: recursive energy accounting, the heart of Stoess et al.
 *
 * A shared service (a process serving several VMs: a storage daemon, a
 * network backend, a vhost-user switch) spends energy on behalf of its
 * clients.  Its energy is passed on in proportion to the work it did for
 * each: requests, bytes or CPU time, in whatever unit the service reports,
 * as long as one service uses one unit.  A client may be a VM, the host, or
 * another service, so energy flows through chains and cycles of services.
 *
 * With q[s][t] the fraction of service s's work done for service t and e the
 * services' own energy, the energy passing through the services is the
 * solution x of
 *
 *     x = e + Qᵀ x,   i.e.   (I − Qᵀ) x = e,
 *
 * and a VM c receives Σ_s x[s] × r[s][c], with r[s][c] the fraction of s's
 * work done for c.  That is an absorbing Markov chain whose absorbing states
 * are the VMs and the host.  Two cases have no absorbing state to reach and
 * would make I − Qᵀ singular; they are taken out first and their energy goes
 * to the host with a reason:
 *
 *  - a service that reported no work at all (VE_REASON_SERVICE_NO_CLIENTS);
 *  - services that only ever serve each other, directly or through others:
 *    a closed class of the chain (VE_REASON_SERVICE_CYCLE).  Energy flowing
 *    into such a class from outside is trapped as well.
 *
 * What is left is non-singular and is solved exactly: one strongly connected
 * component of services at a time, servers' first, each by LU with
 * pivoting of its own block, so a chain costs linear time in its uses.
 *
 * Plan once per period (ve_redist_plan), then apply it to one energy vector
 * per device (ve_redist_apply): the flows are the same for every device.
 * Not thread-safe; one plan per thread.
 */
#pragma once

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "account.h"

/* Work that service @service did for @client (an account slot) in the period. */
struct ve_service_use {
	uint32_t service;
	uint32_t client;
	uint64_t work;
};

struct ve_redist;

/* NULL when out of memory. */
struct ve_redist *ve_redist_new(void);
void ve_redist_free(struct ve_redist *r);

/*
 * Build the flow problem for the active services of @t and the uses given.
 *
 * Errors (the previous plan is discarded, apply then fails with -ESRCH):
 *   -ENOENT  a use names an inactive or non-existent slot;
 *   -EINVAL  a use's "service" is not a service account, or a service's
 *            total work overflows 64 bits;
 *   -EDOM    the reduced system is singular to working precision (cannot
 *            happen for valid fractions; kept as a guard);
 *   -ENOMEM.
 */
int ve_redist_plan(struct ve_redist *r, const struct ve_account_table *t,
		   const struct ve_service_use *uses, size_t n_uses);

/*
 * Pass service energy on.  @energy_uj has one entry per slot of the table
 * the plan was made for; on return every service slot holds 0, its energy
 * having been added to its clients' entries in @to_service_uj (same
 * indexing; the VM's "service" component) and to @host_reason_uj
 * (VE_REASON__MAX entries).  @energy_uj of non-service slots is not read.
 * Energy is conserved up to floating-point rounding.
 * Returns 0, or -ESRCH when there is no valid plan.
 */
int ve_redist_apply(struct ve_redist *r, double *energy_uj, double *to_service_uj,
		    double *host_reason_uj);

/* Number of services found trapped in closed classes by the last plan. */
size_t ve_redist_trapped(const struct ve_redist *r);

/*
 * For tests and benchmarks: how the last plan solves its live services:
 * in how many strongly connected components, the largest one's size, and
 * how many are solved by sweeps rather than an LU of their own.
 */
void ve_redist_components(const struct ve_redist *r, size_t *ret_n, size_t *ret_largest,
			  size_t *ret_swept);

/*
 * For tests: the energy that passed through the service in slot @slot in
 * the last apply (x[s] above), or false when the last plan did not solve
 * for it (no such service, no work, or trapped).
 */
bool ve_redist_through(const struct ve_redist *r, uint32_t slot, double *ret_uj);
