// SPDX-License-Identifier: GPL-2.0-or-later
/* Energy budgets over a window as a power limit, and power from energy differences. */
#include "budget.h"
#include "check.h"

static void test_budget_power(void **state)
{
	(void)state;
	check_u64(ve_budget_power_uw(0, 0, 100), 0, "no budget");
	/* 1 Wh, half used, half an hour left: 0.5 Wh over 1800 s = 1 W */
	check_u64(ve_budget_power_uw(3600000000ull, 1800000000ull, 1800), 1000000, "1 W left");
	check_u64(ve_budget_power_uw(3600000000ull, 3600000000ull, 1800), 1, "spent: the floor");
	check_u64(ve_budget_power_uw(3600000000ull, 0, 0), 1, "window over");
	check_u64(ve_budget_effective_uw(500000, 3600000000ull, 1800000000ull, 1800), 500000,
		  "the tighter: the limit");
	check_u64(ve_budget_effective_uw(5000000, 3600000000ull, 1800000000ull, 1800), 1000000,
		  "the tighter: the budget");
	check_u64(ve_budget_effective_uw(5000000, 0, 0, 0), 5000000, "no budget: the limit");
	check_u64(ve_budget_effective_uw(0, 0, 0, 0), 0, "neither: none");
}

static void test_window(void **state)
{
	struct ve_budget_window w = { 0 };

	(void)state;
	check_u64(ve_budget_left_s(&w, 3600, 5000000), 0, "not started: nothing left");
	ve_budget_window_add(&w, 3600, 10000000, 7);
	check_u64(w.start_us, 10000000, "starts at the first use");
	check_u64(w.used_uj, 7, "counts it");
	ve_budget_window_add(&w, 3600, 20000000, 3);
	check_u64(w.used_uj, 10, "adds up within the window");
	check_u64(ve_budget_left_s(&w, 3600, 20000000), 3590, "seconds left");
	/* at the end of the hour a new window starts with what is added then */
	ve_budget_window_add(&w, 3600, 10000000 + 3600000000ull, 5);
	check_u64(w.start_us, 10000000 + 3600000000ull, "a new window");
	check_u64(w.used_uj, 5, "only the new use");
	check_u64(ve_budget_left_s(&w, 3600, 10000000 + 7200000000ull), 0, "run out: 0");
}

static void test_power(void **state)
{
	(void)state;
	check_u64(ve_power_uw(2000000, 1000000), 2000000, "2 J in 1 s: 2 W");
	check_u64(ve_power_uw(1, 0), 0, "no time: 0");
	check_u64(ve_power_uw(150, 100000), 1500, "150 µJ in 100 ms");
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_budget_power),
		cmocka_unit_test(test_window),
		cmocka_unit_test(test_power),
	};

	return cmocka_run_group_tests_name("budget", tests, NULL, NULL);
}
