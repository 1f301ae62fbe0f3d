// SPDX-License-Identifier: GPL-2.0-or-later
/*
 * budget.c: energy budgets as power limits (see budget.h).
 */
#include "budget.h"

uint64_t ve_power_uw(uint64_t d_uj, uint64_t dt_us)
{
	return dt_us ? d_uj * 1000000u / dt_us : 0;
}

void ve_budget_window_add(struct ve_budget_window *w, uint64_t window_s, uint64_t now_us,
			  uint64_t uj)
{
	if (!w->start_us || now_us < w->start_us || now_us - w->start_us >= window_s * 1000000u) {
		w->start_us = now_us;
		w->used_uj = 0;
	}
	w->used_uj += uj;
}

uint64_t ve_budget_left_s(const struct ve_budget_window *w, uint64_t window_s, uint64_t now_us)
{
	uint64_t end = w->start_us + window_s * 1000000u;

	if (!w->start_us || now_us >= end)
		return 0;
	return (end - now_us) / 1000000u;
}

uint64_t ve_budget_power_uw(uint64_t budget_uj, uint64_t used_uj, uint64_t left_s)
{
	if (!budget_uj)
		return 0;
	if (used_uj >= budget_uj || !left_s)
		return 1;
	return (budget_uj - used_uj) / left_s;
}

uint64_t ve_budget_effective_uw(uint64_t limit_uw, uint64_t budget_uj, uint64_t used_uj,
				uint64_t left_s)
{
	uint64_t b = ve_budget_power_uw(budget_uj, used_uj, left_s);

	if (!limit_uw)
		return b;
	return b && b < limit_uw ? b : limit_uw;
}

uint64_t ve_demand_uw(uint64_t measured_uw, uint64_t static_uw, double u)
{
	uint64_t dyn = measured_uw > static_uw ? measured_uw - static_uw : 0;

	if (u <= 0.0 || u >= 1.0)
		return measured_uw + measured_uw / 10;
	return static_uw + (uint64_t)((double)dyn / u);
}

void ve_limits_within(const uint64_t *limit_uw, size_t n, uint64_t outer_uw, uint64_t *ret_uw)
{
	uint64_t sum = 0;
	double scale = 1.0;

	for (size_t i = 0; i < n; i++)
		sum = limit_uw[i] > UINT64_MAX - sum ? UINT64_MAX : sum + limit_uw[i];
	if (outer_uw && sum > outer_uw)
		scale = (double)outer_uw / (double)sum;
	for (size_t i = 0; i < n; i++)
		ret_uw[i] = (uint64_t)((double)limit_uw[i] * scale);
}
