// SPDX-License-Identifier: GPL-2.0-or-later
/* The cumulative ledger: whole periods only, never backwards, restore rules. */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "check.h"
#include "ledger.h"

/* A consistent result: host 10 uJ own CPU + 5 uJ idle-none; VM 1 30 uJ vcpu. */
static void make_result(struct ve_result *r, size_t n)
{
	ve_result_clear(r);
	r->acct = calloc(n, sizeof(*r->acct));
	r->n_accounts = n;
	r->cap = n;
	r->acct[0].comp_uj[VE_COMP_CPU] = 10;
	r->host_reason_uj[VE_REASON_IDLE_POLICY_NONE] = 5;
	r->acct[0].dev_uj[VE_DEV_PKG] = 15;
	r->acct[0].total_uj = 15;
	r->acct[1].comp_uj[VE_COMP_VCPU] = 30;
	r->acct[1].dev_uj[VE_DEV_PKG] = 30;
	r->acct[1].total_uj = 30;
	r->dev_total_uj[VE_DEV_PKG] = 45;
	r->energy_uj = 45;
}

static void test_apply(void **state)
{
	struct ve_ledger l;
	struct ve_result r;

	(void)state;
	ve_ledger_init(&l);
	ve_result_init(&r);
	make_result(&r, 2);
	for (int i = 0; i < 3; i++)
		check(ve_ledger_apply(&l, &r) == 0, "apply %d", i);
	check_u64(l.n, 2, "slots");
	check_u64(l.e[1].comp_uj[VE_COMP_VCPU], 90, "vcpu after 3 periods");
	check_u64(l.e[0].total_uj, 45, "host after 3 periods");
	check_u64(l.host_reason_uj[VE_REASON_IDLE_POLICY_NONE], 15, "reason");
	check_u64(l.energy_uj, 135, "all energy");
	check_u64(l.periods, 3, "periods");

	/* a result for more slots grows the ledger; the new slot starts at 0 + its share */
	make_result(&r, 5);
	r.acct[4].comp_uj[VE_COMP_IDLE] = 7;
	r.acct[4].dev_uj[VE_DEV_PKG] = 7;
	r.acct[4].total_uj = 7;
	r.dev_total_uj[VE_DEV_PKG] += 7;
	r.energy_uj += 7;
	check(ve_ledger_apply(&l, &r) == 0, "grow");
	check_u64(l.n, 5, "grown");
	check_u64(l.e[3].total_uj, 0, "an untouched new slot is zero");
	check_u64(l.e[4].total_uj, 7, "new slot's share");

	/* a result for fewer slots leaves the others alone */
	make_result(&r, 2);
	check(ve_ledger_apply(&l, &r) == 0, "fewer slots");
	check_u64(l.n, 5, "not shrunk");
	check_u64(l.e[4].total_uj, 7, "slot 4 kept");
	ve_result_clear(&r);
	ve_ledger_clear(&l);
}

static void mangle_total(struct ve_result *r) { r->acct[1].total_uj++; }
static void mangle_comp(struct ve_result *r) { r->acct[1].comp_uj[VE_COMP_IO] = 1; }
static void mangle_dev(struct ve_result *r) { r->acct[1].dev_uj[VE_DEV_DISK] = 1; }
static void mangle_energy(struct ve_result *r) { r->energy_uj--; }
static void mangle_reason(struct ve_result *r) { r->host_reason_uj[VE_REASON_SERVICE_CYCLE] = 3; }
static void mangle_dev_total(struct ve_result *r) { r->dev_total_uj[VE_DEV_DRAM] = 2; }
static void mangle_wrap(struct ve_result *r)
{
	/* parts that only add up to the total modulo 2^64 */
	r->acct[1].comp_uj[VE_COMP_VCPU] = UINT64_MAX;
	r->acct[1].comp_uj[VE_COMP_IO] = 31;
}
static void mangle_empty(struct ve_result *r) { r->n_accounts = 0; }

static void test_corrupt(void **state)
{
	static const struct {
		const char *name;
		void (*mangle)(struct ve_result *r);
	} cases[] = {
		{ "total off by one", mangle_total },
		{ "component outside total", mangle_comp },
		{ "device outside total", mangle_dev },
		{ "energy off", mangle_energy },
		{ "reason outside host total", mangle_reason },
		{ "device totals off", mangle_dev_total },
		{ "wrapping parts", mangle_wrap },
		{ "no accounts", mangle_empty },
	};
	struct ve_ledger l;
	struct ve_result r;

	(void)state;
	ve_ledger_init(&l);
	ve_result_init(&r);
	make_result(&r, 2);
	check(ve_ledger_apply(&l, &r) == 0, "first period");
	for (size_t i = 0; i < ARRAY_SIZE(cases); i++) {
		make_result(&r, 2);
		cases[i].mangle(&r);
		check(ve_ledger_apply(&l, &r) == -EINVAL, "%s refused", cases[i].name);
		check_u64(l.energy_uj, 45, cases[i].name);
		check_u64(l.e[1].total_uj, 30, cases[i].name);
		check_u64(l.periods, 1, cases[i].name);
	}
	ve_result_clear(&r);
	ve_ledger_clear(&l);
}

static void test_overflow(void **state)
{
	struct ve_ledger l;
	struct ve_result r;
	struct ve_ledger_entry big = { 0 };

	(void)state;
	ve_ledger_init(&l);
	ve_result_init(&r);
	big.comp_uj[VE_COMP_VCPU] = UINT64_MAX - 20;
	big.total_uj = UINT64_MAX - 20;
	check(ve_ledger_restore(&l, 1, &big) == 0, "restore near the top");
	make_result(&r, 2);
	check(ve_ledger_apply(&l, &r) == -EOVERFLOW, "VM 1 would pass 2^64");
	check_u64(l.e[1].total_uj, UINT64_MAX - 20, "VM 1 unchanged");
	check_u64(l.e[0].total_uj, 0, "host unchanged: all or nothing");
	check_u64(l.energy_uj, 0, "energy unchanged");
	check_u64(l.periods, 0, "no period counted");
	/* a component alone near the top, its total far below */
	big.total_uj = 0;
	big.comp_uj[VE_COMP_VCPU] = 0;
	check(ve_ledger_restore(&l, 1, &big) == -EINVAL, "restore backwards refused");
	ve_ledger_clear(&l);
	big.dev_uj[VE_DEV_PKG] = UINT64_MAX - 1;
	check(ve_ledger_restore(&l, 1, &big) == 0, "restore a device counter near the top");
	check(ve_ledger_apply(&l, &r) == -EOVERFLOW, "the device counter would pass 2^64");
	check_u64(l.e[1].dev_uj[VE_DEV_PKG], UINT64_MAX - 1, "device counter unchanged");
	check_u64(l.periods, 0, "still no period counted");
	ve_result_clear(&r);
	ve_ledger_clear(&l);
}

static void test_restore(void **state)
{
	struct ve_ledger l;
	struct ve_ledger_entry e = { 0 }, less;

	(void)state;
	ve_ledger_init(&l);
	e.comp_uj[VE_COMP_VCPU] = 100;
	e.dev_uj[VE_DEV_PKG] = 100;
	e.total_uj = 100;
	check(ve_ledger_restore(&l, 3, &e) == 0, "restore into a new slot");
	check_u64(l.n, 4, "grown to the slot");
	check_u64(l.e[3].total_uj, 100, "restored");
	less = e;
	less.comp_uj[VE_COMP_VCPU] = 99;
	check(ve_ledger_restore(&l, 3, &less) == -EINVAL, "restoring a smaller counter");
	check_u64(l.e[3].comp_uj[VE_COMP_VCPU], 100, "unchanged after refusal");
	e.total_uj = 150;
	e.comp_uj[VE_COMP_IDLE] = 50;
	e.dev_uj[VE_DEV_PKG] = 150;
	check(ve_ledger_restore(&l, 3, &e) == 0, "restoring a larger one");
	check_u64(l.e[3].total_uj, 150, "advanced");
	ve_ledger_clear(&l);
	ve_ledger_clear(&l); /* clearing twice is harmless */
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_apply),
		cmocka_unit_test(test_corrupt),
		cmocka_unit_test(test_overflow),
		cmocka_unit_test(test_restore),
	};

	return cmocka_run_group_tests_name("ledger", tests, NULL, NULL);
}
