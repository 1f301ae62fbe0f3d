// SPDX-License-Identifier: GPL-2.0-or-later
/* CPU frequency planning (freqplan.h): the frequency chosen for a fraction of full speed. */
#include "check.h"
#include "freqplan.h"

static void test_choose(void **state)
{
	static const uint64_t avail[] = { 800000, 1200000, 1800000, 2400000, 3000000 };
	static const struct {
		const char *name;
		double u;
		uint64_t floor, ceiling;
		int listed;
		uint64_t want;
	} cases[] = {
		{ "half: the listed one at or above 1.5 GHz", 0.5, 800000, 3000000, 1, 1800000 },
		{ "exactly listed", 0.4, 800000, 3000000, 1, 1200000 },
		{ "full speed", 1.0, 800000, 3000000, 1, 3000000 },
		{ "below the floor: the lowest listed above it", 0.1, 1000000, 3000000, 1, 1200000 },
		{ "under a lower ceiling: never above it", 0.95, 800000, 2000000, 1, 2000000 },
		{ "no list: u x ceiling", 0.5, 800000, 3000000, 0, 1500000 },
		{ "no list: clamped to the floor", 0.1, 800000, 3000000, 0, 800000 },
		{ "no list: clamped to the ceiling", 1.5, 800000, 3000000, 0, 3000000 },
	};

	(void)state;
	for (size_t i = 0; i < ARRAY_SIZE(cases); i++) {
		uint64_t got = ve_freq_choose_khz(cases[i].u, cases[i].floor, cases[i].ceiling,
						  cases[i].listed ? avail : NULL,
						  cases[i].listed ? ARRAY_SIZE(avail) : 0);

		check_u64(got, cases[i].want, cases[i].name);
	}
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_choose),
	};

	return cmocka_run_group_tests_name("freqplan", tests, NULL, NULL);
}
