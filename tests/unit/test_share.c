// SPDX-License-Identifier: GPL-2.0-or-later
/* Host cap split: hand-computed tables and randomised properties. */
#include <errno.h>
#include <string.h>

#include "check.h"
#include "share.h"

#define W 1000000ull   /* 1 W in µW */

struct scase {
	const char *name;
	uint64_t cap;
	size_t n;
	struct ve_share_vm vms[4];
	uint64_t want[4];
	bool scaled;
	uint64_t unallocated;
};

static const struct scase cases[] = {
	/* room for everyone's demand: each gets its demand, the rest stays */
	{ "cap above demand", 300 * W, 3,
	  { { 0, 0, 50 * W, 100 }, { 0, 0, 60 * W, 100 }, { 0, 0, 70 * W, 100 } },
	  { 50 * W, 60 * W, 70 * W }, false, 120 * W },
	/* equal weights, all hungry: equal shares */
	{ "equal split", 90 * W, 3,
	  { { 0, 0, 100 * W, 100 }, { 0, 0, 100 * W, 100 }, { 0, 0, 100 * W, 100 } },
	  { 30 * W, 30 * W, 30 * W }, false, 0 },
	/* 1:2:1 by weight; the first needs only 10 W, its slack goes to the others 2:1 */
	{ "weights and water-filling", 100 * W, 3,
	  { { 0, 0, 10 * W, 100 }, { 0, 0, 100 * W, 200 }, { 0, 0, 100 * W, 100 } },
	  { 10 * W, 60 * W, 30 * W }, false, 0 },
	/* guarantees first: 40 + 10, then 50 W by weight 1:1; the first's own limit is 45 W */
	{ "guarantees and own limits", 100 * W, 2,
	  { { 45 * W, 40 * W, 100 * W, 100 }, { 0, 10 * W, 100 * W, 100 } },
	  { 45 * W, 55 * W }, false, 0 },
	/* over-committed guarantees 80 + 40 on 60 W: scaled 2:1 to 40 + 20 */
	{ "over-committed guarantees", 60 * W, 2,
	  { { 0, 80 * W, 100 * W, 100 }, { 0, 40 * W, 100 * W, 100 } },
	  { 40 * W, 20 * W }, true, 0 },
	/* a guarantee above the VM's own limit counts up to the limit */
	{ "guarantee above own limit", 100 * W, 2,
	  { { 20 * W, 50 * W, 100 * W, 100 }, { 0, 0, 100 * W, 100 } },
	  { 20 * W, 80 * W }, false, 0 },
	/* a guaranteed VM that needs less keeps its guarantee */
	{ "guarantee above demand", 100 * W, 2,
	  { { 0, 30 * W, 5 * W, 100 }, { 0, 0, 100 * W, 100 } },
	  { 30 * W, 70 * W }, false, 0 },
	{ "one VM", 50 * W, 1, { { 0, 0, 80 * W, 7 } }, { 50 * W }, false, 0 },
	{ "no VM", 50 * W, 0, { { 0 } }, { 0 }, false, 50 * W },
	/* rounding: 100 µW over three equal VMs: 34, 33, 33 */
	{ "rounding", 100, 3,
	  { { 0, 0, 1000, 1 }, { 0, 0, 1000, 1 }, { 0, 0, 1000, 1 } }, { 34, 33, 33 }, false, 0 },
};

static void test_table(void **state)
{
	(void)state;
	for (size_t c = 0; c < ARRAY_SIZE(cases); c++) {
		const struct scase *k = &cases[c];
		uint64_t alloc[4] = { 0 };
		struct ve_share_result r = { 0 };

		check(ve_share_cap(k->cap, k->vms, k->n, alloc, &r) == 0, "%s", k->name);
		for (size_t i = 0; i < k->n; i++)
			check_u64(alloc[i], k->want[i], k->name);
		check(r.guarantees_scaled == k->scaled, "%s: scaled flag", k->name);
		check_u64(r.unallocated_uw, k->unallocated, k->name);
	}
}

static void test_bad(void **state)
{
	struct ve_share_vm v[2] = { { 0, 0, 1, 100 }, { 0, 0, 1, 0 } };
	uint64_t alloc[2] = { 7, 7 };
	struct ve_share_result r = { .unallocated_uw = 9 };

	(void)state;
	check(ve_share_cap(100, v, 2, alloc, &r) == -EINVAL, "weight 0");
	v[1].weight = 10001;
	check(ve_share_cap(100, v, 2, alloc, &r) == -EINVAL, "weight above 10000");
	check(alloc[0] == 7 && alloc[1] == 7 && r.unallocated_uw == 9, "outputs untouched");
}

/* Random VMs: Σ = cap − unallocated ≤ cap, each ≤ its own limit, nothing
 * left unallocated while some VM is still below its ceiling. */
static void test_random(void **state)
{
	uint64_t seed = 99;

	(void)state;
	for (int iter = 0; iter < 5000; iter++) {
		struct ve_share_vm v[12];
		uint64_t alloc[12], sum = 0, cap = test_rand_below(&seed, 1000 * W);
		size_t n = 1 + test_rand_below(&seed, 12);
		struct ve_share_result r;
		bool below = false;

		for (size_t i = 0; i < n; i++) {
			v[i].limit_uw = test_rand_below(&seed, 3) ? 0 : test_rand_below(&seed, 200 * W);
			v[i].guarantee_uw = test_rand_below(&seed, 3) ? 0 : test_rand_below(&seed, 100 * W);
			v[i].demand_uw = test_rand_below(&seed, 300 * W);
			v[i].weight = 1 + (uint32_t)test_rand_below(&seed, 10000);
		}
		check(ve_share_cap(cap, v, n, alloc, &r) == 0, "iteration %d", iter);
		for (size_t i = 0; i < n; i++) {
			uint64_t ceil = v[i].demand_uw;

			sum += alloc[i];
			check(!v[i].limit_uw || alloc[i] <= v[i].limit_uw, "iteration %d: VM %zu over its limit",
			      iter, i);
			if (v[i].limit_uw && ceil > v[i].limit_uw)
				ceil = v[i].limit_uw;
			below = below || alloc[i] < ceil;
		}
		check(sum + r.unallocated_uw == cap, "iteration %d: %" PRIu64 " + %" PRIu64 " != cap",
		      iter, sum, r.unallocated_uw);
		check(!below || r.unallocated_uw == 0,
		      "iteration %d: %" PRIu64 " uW unallocated while a VM wants more", iter,
		      r.unallocated_uw);
	}
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_table),
		cmocka_unit_test(test_bad),
		cmocka_unit_test(test_random),
	};

	return cmocka_run_group_tests_name("share", tests, NULL, NULL);
}
