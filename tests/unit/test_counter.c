// SPDX-License-Identifier: GPL-2.0-or-later
/* Wrapping counter deltas: powercap energy_uj and 32-bit RAPL MSRs. */
#include <errno.h>

#include "check.h"
#include "counter.h"

/* A real package domain: max_energy_range_uj on a Skylake server. */
#define PKG_MAX UINT64_C(262143328850)

static void test_energy_uj_delta(void **state)
{
	static const struct {
		const char *name;
		uint64_t prev, cur, max;
		int ret;
		uint64_t delta;
	} cases[] = {
		{ "steady", 1000, 251000, PKG_MAX, 0, 250000 },
		{ "no change", 5, 5, PKG_MAX, 0, 0 },
		{ "wrap", PKG_MAX - 100, 400, PKG_MAX, 0, 500 },
		{ "wrap from the top", PKG_MAX, 0, PKG_MAX, 0, 0 },
		{ "wrap to just below prev", 10, 9, PKG_MAX, 0, PKG_MAX - 1 },
		{ "no range, rising", 10, 20, 0, 0, 10 },
		{ "no range, falling", 20, 10, 0, -ERANGE, 0 },
		{ "reading above range", 10, PKG_MAX + 1, PKG_MAX, -ERANGE, 0 },
		{ "previous above range", PKG_MAX + 5, 10, PKG_MAX, -ERANGE, 0 },
		{ "64-bit range", UINT64_MAX - 1, 1, UINT64_MAX, 0, 2 },
	};

	(void)state;
	for (size_t i = 0; i < ARRAY_SIZE(cases); i++) {
		uint64_t delta = 0xdeadbeef;
		int r = ve_energy_uj_delta(cases[i].prev, cases[i].cur, cases[i].max, &delta);

		check(r == cases[i].ret, "%s: returned %d, want %d", cases[i].name, r, cases[i].ret);
		if (r == 0)
			check_u64(delta, cases[i].delta, cases[i].name);
		else
			check_u64(delta, 0xdeadbeef, cases[i].name); /* untouched on error */
	}
}

static void test_msr32_delta(void **state)
{
	static const struct {
		const char *name;
		uint64_t prev, cur;
		uint32_t delta;
	} cases[] = {
		{ "steady", 100, 4196, 4096 },
		{ "wrap", 0xfffffff0u, 0x10, 0x20 },
		{ "wrap by one", 0xffffffffu, 0, 1 },
		{ "full circle is zero", 42, 42, 0 },
		{ "high bits ignored", UINT64_C(0xabcd00000010), UINT64_C(0x123400000020), 0x10 },
	};

	(void)state;
	for (size_t i = 0; i < ARRAY_SIZE(cases); i++)
		check_u64(ve_msr32_delta(cases[i].prev, cases[i].cur), cases[i].delta,
			  cases[i].name);
}

static void test_msr_units(void **state)
{
	static const struct {
		const char *name;
		uint64_t units;
		unsigned int esu;
		int ret;
		uint64_t uj;
	} cases[] = {
		/* ESU 14: 61.035 uJ per unit, the common Intel value */
		{ "esu 14, one joule", 16384, 14, 0, 1000000 },
		{ "esu 14, one unit", 1, 14, 0, 61 },
		{ "esu 16, one joule", 65536, 16, 0, 1000000 },
		{ "esu 0, one joule per unit", 3, 0, 0, 3000000 },
		{ "esu 14, a full 32-bit wrap", UINT64_C(0xffffffff), 14, 0, 262143999938 },
		{ "esu 31", UINT64_C(1) << 31, 31, 0, 1000000 },
		{ "esu 32 is invalid", 1, 32, -EINVAL, 0 },
		{ "overflow", UINT64_MAX, 0, -ERANGE, 0 },
	};

	(void)state;
	for (size_t i = 0; i < ARRAY_SIZE(cases); i++) {
		uint64_t uj = 7;
		int r = ve_msr_units_to_uj(cases[i].units, cases[i].esu, &uj);

		check(r == cases[i].ret, "%s: returned %d, want %d", cases[i].name, r, cases[i].ret);
		check_u64(uj, r == 0 ? cases[i].uj : 7, cases[i].name);
	}
}

static void test_counter_add(void **state)
{
	uint64_t acc = UINT64_MAX - 10;

	(void)state;
	check(ve_counter_add(&acc, 10) == 0, "adding up to the maximum must work");
	check_u64(acc, UINT64_MAX, "after add");
	check(ve_counter_add(&acc, 1) == -EOVERFLOW, "one more must overflow");
	check_u64(acc, UINT64_MAX, "after refused add");
	acc = 5;
	check(ve_counter_add(&acc, 0) == 0, "adding 0");
	check_u64(acc, 5, "after adding 0");
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_energy_uj_delta),
		cmocka_unit_test(test_msr32_delta),
		cmocka_unit_test(test_msr_units),
		cmocka_unit_test(test_counter_add),
	};

	return cmocka_run_group_tests_name("counter", tests, NULL, NULL);
}
