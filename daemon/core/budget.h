/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * budget.h: energy budgets over a window (an hour, a day, a week) as a
 * power limit, power from energy differences, a held VM's demand, and
 * limits within an outer limit.  Pure arithmetic in µJ, µW, µs and s.
 */
#pragma once

#include <stddef.h>
#include <stdint.h>

/* Average power of @d_uj over @dt_us, in µW; 0 when @dt_us is 0. */
uint64_t ve_power_uw(uint64_t d_uj, uint64_t dt_us);

/* A budget's window: when it started (0: not yet) and what was used in it. */
struct ve_budget_window {
	uint64_t start_us, used_uj;
};

/*
 * Count @uj used at @now_us against a window of @window_s: a window that
 * has not started or has run out starts afresh at @now_us first.
 */
void ve_budget_window_add(struct ve_budget_window *w, uint64_t window_s, uint64_t now_us,
			  uint64_t uj);

/* Whole seconds left of the window at @now_us; 0 when it has run out or not started. */
uint64_t ve_budget_left_s(const struct ve_budget_window *w, uint64_t window_s, uint64_t now_us);

/*
 * The budget as a power limit for the rest of its window: what is left of
 * it spread over the time left.  0 when there is no budget (@budget_uj 0);
 * 1 µW (the floor) when it is spent or its time is up.
 */
uint64_t ve_budget_power_uw(uint64_t budget_uj, uint64_t used_uj, uint64_t left_s);

/* The limit in force: the smaller of @limit_uw and the budget's, either 0 meaning none. */
uint64_t ve_budget_effective_uw(uint64_t limit_uw, uint64_t budget_uj, uint64_t used_uj,
				uint64_t left_s);

/*
 * What a VM would draw if nobody held it, in µW: its measured power when
 * it runs free (@u 0 or >= 1), with a tenth of headroom so it can grow
 * into a cap; else its static share plus its dynamic power (@measured_uw
 * minus @static_uw) scaled back up by the fraction @u it was held to.
 */
uint64_t ve_demand_uw(uint64_t measured_uw, uint64_t static_uw, double u);

/*
 * Limits held within one above them: each of @limit_uw[0..n) (0: none)
 * into @ret_uw, scaled down in proportion when their sum is above
 * @outer_uw (0: no outer limit), as guest mode holds its cgroups within
 * the VM's own limit.  @ret_uw may be @limit_uw.
 */
void ve_limits_within(const uint64_t *limit_uw, size_t n, uint64_t outer_uw, uint64_t *ret_uw);
