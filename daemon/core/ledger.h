/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * ledger.h: cumulative energy per account, by component and by kind of
 * device, in µJ.  Monotonic: entries only ever grow, and a period is added
 * whole or not at all.  The daemon persists it so that a restart neither
 * loses nor double counts (daemon/publish).
 *
 * Indexed by account slot (account.h), so a VM that stops and starts again
 * keeps its slot and continues its counters.  Owns its entries; free
 * accepts NULL.  Not thread-safe.
 */
#pragma once

#include <stddef.h>
#include <stdint.h>

#include "account.h"
#include "attrib.h"

struct ve_ledger_entry {
	uint64_t comp_uj[VE_COMP__MAX];
	uint64_t dev_uj[VE_DEV__MAX];
	uint64_t total_uj;
	uint64_t passed_on_uj;   /* services: energy passed on to clients */
};

struct ve_ledger {
	size_t n;
	size_t cap;
	struct ve_ledger_entry *e;
	uint64_t host_reason_uj[VE_REASON__MAX];
	uint64_t energy_uj;      /* everything ever attributed */
	uint64_t periods;
};

void ve_ledger_init(struct ve_ledger *l);
void ve_ledger_clear(struct ve_ledger *l);

/*
 * Add one period's result.  The ledger grows to r->n_accounts slots.
 * -EOVERFLOW when any counter would pass 2^64 - 1, -EINVAL for a result
 * whose totals do not add up (a corrupt result), -ENOMEM; in every error
 * case the ledger is unchanged.
 */
int ve_ledger_apply(struct ve_ledger *l, const struct ve_result *r);

/*
 * Set slot @slot to a previously persisted entry (restart).  Only allowed
 * while the slot is still all zero or when @e is >= the current entry in
 * every counter; -EINVAL otherwise (counters never go backwards), -ENOMEM.
 */
int ve_ledger_restore(struct ve_ledger *l, size_t slot, const struct ve_ledger_entry *e);

/*
 * The host's own work, its CPU and disk components (its account also holds
 * static power when the idle policy gives it the host, and what no account
 * could take), and what no account could take: Σ reasons.  0 for an empty
 * ledger.
 */
uint64_t ve_ledger_host_own_uj(const struct ve_ledger *l);
uint64_t ve_ledger_unattributed_uj(const struct ve_ledger *l);
