// SPDX-License-Identifier: GPL-2.0-or-later
/*
 * When the next period runs (daemon/core/period.c): on its own rate, or
 * just after the module's period ends.
 */
#include "check.h"
#include "period.h"

static void test_next(void **state)
{
	(void)state;
	/* no module: every period_us */
	check_u64(ve_period_next_us(1000000, 100000, 0, 0, 5000), 1100000, "own rate");
	check_u64(ve_period_next_us(1000000, 100000, 950000, 0, 5000), 1100000, "no grid length: own rate");
	/* module periods of 100 ms ending at 0.95 s: the next after 1.0 s ends at 1.05 s */
	check_u64(ve_period_next_us(1000000, 100000, 950000, 100000, 5000), 1055000,
		  "just after the module's period that ends nearest 1.1 s, within half a period");
	/* a daemon period of 1 s over module periods of 100 ms */
	check_u64(ve_period_next_us(1000000, 1000000, 950000, 100000, 5000), 1955000,
		  "its own rate, on the module's grid");
	/* a daemon period shorter than the module's: the module's rate */
	check_u64(ve_period_next_us(1000000, 10000, 990000, 100000, 5000), 1095000,
		  "no faster than the module");
	/* a grid far in the past (the module stalled): still on the grid, never before now */
	{
		uint64_t n = ve_period_next_us(10000000, 100000, 950000, 100000, 5000);

		check(n > 10000000 && n <= 10000000 + 100000 + 50000, "soon after now (%llu)",
		      (unsigned long long)n);
		check_u64((n - 5000 - 950000) % 100000, 0, "on the grid");
	}
	/* a module period ending just ahead is too soon: the one nearest its own time */
	check_u64(ve_period_next_us(1000000, 100000, 1040000, 100000, 5000), 1145000,
		  "not 45 ms after this one: 145 ms, the grid point nearest 100 ms");
	/* never at or before now */
	check(ve_period_next_us(1000000, 0, 1000000, 100000, 0) > 1000000, "after now");
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_next),
	};

	return cmocka_run_group_tests_name("period", tests, NULL, NULL);
}
