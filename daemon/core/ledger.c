// SPDX-License-Identifier: GPL-2.0-or-later
/*
 * ledger.c: cumulative energy.  Every apply first proves that nothing will
 * overflow and that the result adds up, then adds: a period is counted
 * whole or not at all.
 */
#include <errno.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>

#include "ledger.h"

void ve_ledger_init(struct ve_ledger *l)
{
	memset(l, 0, sizeof(*l));
}

void ve_ledger_clear(struct ve_ledger *l)
{
	free(l->e);
	ve_ledger_init(l);
}

static int ledger_grow(struct ve_ledger *l, size_t n)
{
	struct ve_ledger_entry *e;
	size_t cap;

	if (n <= l->n)
		return 0;
	if (n > l->cap) {
		cap = l->cap ? l->cap : 16;
		while (cap < n)
			cap *= 2;
		if (cap > SIZE_MAX / sizeof(*e))
			return -ENOMEM;
		e = realloc(l->e, cap * sizeof(*e));
		if (!e)
			return -ENOMEM;
		l->e = e;
		l->cap = cap;
	}
	memset(&l->e[l->n], 0, (n - l->n) * sizeof(*l->e));
	l->n = n;
	return 0;
}

static bool fits(uint64_t acc, uint64_t delta)
{
	return acc <= UINT64_MAX - delta;
}

/* A result whose parts do not add up is corrupt: refuse it. */
static bool result_consistent(const struct ve_result *r)
{
	uint64_t sum = 0, dev_sum = 0, reasons = 0;

	if (!r->n_accounts || !r->acct)
		return false;
	for (size_t s = 0; s < r->n_accounts; s++) {
		const struct ve_account_energy *a = &r->acct[s];
		uint64_t c = 0, d = 0;

		/* each part <= the total keeps the sums below from wrapping */
		for (int i = 0; i < VE_COMP__MAX; i++) {
			if (a->comp_uj[i] > a->total_uj)
				return false;
			c += a->comp_uj[i];
		}
		for (int i = 0; i < VE_DEV__MAX; i++) {
			if (a->dev_uj[i] > a->total_uj)
				return false;
			d += a->dev_uj[i];
		}
		if (d != a->total_uj)
			return false;
		if (s == VE_ACCOUNT_HOST) {
			for (int i = 0; i < VE_REASON__MAX; i++)
				reasons += r->host_reason_uj[i];
			c += reasons;
		}
		if (c != a->total_uj)
			return false;
		sum += a->total_uj;
	}
	for (int i = 0; i < VE_DEV__MAX; i++)
		dev_sum += r->dev_total_uj[i];
	return sum == r->energy_uj && dev_sum == r->energy_uj;
}

int ve_ledger_apply(struct ve_ledger *l, const struct ve_result *r)
{
	size_t n = l->n > r->n_accounts ? l->n : r->n_accounts;
	int ret;

	if (!result_consistent(r))
		return -EINVAL;
	if (!fits(l->energy_uj, r->energy_uj) || l->periods == UINT64_MAX)
		return -EOVERFLOW;
	for (int i = 0; i < VE_REASON__MAX; i++)
		if (!fits(l->host_reason_uj[i], r->host_reason_uj[i]))
			return -EOVERFLOW;
	for (size_t s = 0; s < r->n_accounts && s < l->n; s++) {
		const struct ve_ledger_entry *e = &l->e[s];
		const struct ve_account_energy *a = &r->acct[s];

		if (!fits(e->total_uj, a->total_uj) || !fits(e->passed_on_uj, a->passed_on_uj))
			return -EOVERFLOW;
		/* a restored entry need not keep its parts below its total: check all */
		for (int i = 0; i < VE_COMP__MAX; i++)
			if (!fits(e->comp_uj[i], a->comp_uj[i]))
				return -EOVERFLOW;
		for (int i = 0; i < VE_DEV__MAX; i++)
			if (!fits(e->dev_uj[i], a->dev_uj[i]))
				return -EOVERFLOW;
	}

	ret = ledger_grow(l, n);
	if (ret < 0)
		return ret;
	for (size_t s = 0; s < r->n_accounts; s++) {
		struct ve_ledger_entry *e = &l->e[s];
		const struct ve_account_energy *a = &r->acct[s];

		for (int i = 0; i < VE_COMP__MAX; i++)
			e->comp_uj[i] += a->comp_uj[i];
		for (int i = 0; i < VE_DEV__MAX; i++)
			e->dev_uj[i] += a->dev_uj[i];
		e->total_uj += a->total_uj;
		e->passed_on_uj += a->passed_on_uj;
	}
	for (int i = 0; i < VE_REASON__MAX; i++)
		l->host_reason_uj[i] += r->host_reason_uj[i];
	l->energy_uj += r->energy_uj;
	l->periods++;
	return 0;
}

int ve_ledger_restore(struct ve_ledger *l, size_t slot, const struct ve_ledger_entry *e)
{
	const struct ve_ledger_entry *cur;
	int ret;

	if (slot >= SIZE_MAX)
		return -EINVAL;
	if (slot < l->n) {
		cur = &l->e[slot];
		for (int i = 0; i < VE_COMP__MAX; i++)
			if (e->comp_uj[i] < cur->comp_uj[i])
				return -EINVAL;
		for (int i = 0; i < VE_DEV__MAX; i++)
			if (e->dev_uj[i] < cur->dev_uj[i])
				return -EINVAL;
		if (e->total_uj < cur->total_uj || e->passed_on_uj < cur->passed_on_uj)
			return -EINVAL;
	}
	ret = ledger_grow(l, slot + 1);
	if (ret < 0)
		return ret;
	l->e[slot] = *e;
	return 0;
}

uint64_t ve_ledger_host_own_uj(const struct ve_ledger *l)
{
	const struct ve_ledger_entry *h = l->n ? &l->e[VE_ACCOUNT_HOST] : NULL;

	return h ? h->comp_uj[VE_COMP_CPU] + h->comp_uj[VE_COMP_DISK] : 0;
}

uint64_t ve_ledger_unattributed_uj(const struct ve_ledger *l)
{
	uint64_t sum = 0;

	for (int r = 0; r < VE_REASON__MAX; r++)
		sum += l->host_reason_uj[r];
	return sum;
}
