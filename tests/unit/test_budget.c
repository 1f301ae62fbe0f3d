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

/* A held VM's demand: its dynamic power scaled back up by what it was held to. */
static void test_demand(void **state)
{
	(void)state;
	check_u64(ve_demand_uw(10000000, 2000000, 0.0), 11000000, "free: measured + a tenth");
	check_u64(ve_demand_uw(10000000, 2000000, 1.0), 11000000, "u 1 is free too");
	check_u64(ve_demand_uw(10000000, 2000000, 0.5), 2000000 + 16000000, "static + 8 W / 0.5");
	check_u64(ve_demand_uw(1000000, 2000000, 0.5), 2000000, "below its static share: static");
}

/* Limits within an outer one: scaled in proportion only when their sum is above it. */
static void test_limits_within(void **state)
{
	uint64_t lim[3] = { 6000000, 2000000, 0 }, out[3];

	(void)state;
	ve_limits_within(lim, 3, 4000000, out);
	check_u64(out[0], 3000000, "6 W x 4/8");
	check_u64(out[1], 1000000, "2 W x 4/8");
	check_u64(out[2], 0, "none stays none");
	ve_limits_within(lim, 3, 0, out);
	check_u64(out[0], 6000000, "no outer limit: as configured");
	ve_limits_within(lim, 3, 9000000, out);
	check_u64(out[1], 2000000, "sum below the outer limit: as configured");
	ve_limits_within(lim, 3, 4000000, lim);
	check_u64(lim[0], 3000000, "in place");
	{
		uint64_t big[2] = { UINT64_MAX, UINT64_MAX };

		ve_limits_within(big, 2, 1000000, big);
		check(big[0] <= 1000000 && big[1] <= 1000000, "a sum past 2^64 saturates, never wraps");
	}
	ve_limits_within(NULL, 0, 1000000, NULL);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_budget_power),
		cmocka_unit_test(test_window),
		cmocka_unit_test(test_power),
		cmocka_unit_test(test_demand),
		cmocka_unit_test(test_limits_within),
	};

	return cmocka_run_group_tests_name("budget", tests, NULL, NULL);
}
