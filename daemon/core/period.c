// SPDX-License-Identifier: GPL-2.0-or-later
/*
 * period.c: when the daemon's next period runs (see period.h).
 */
#include "period.h"

uint64_t ve_period_next_us(uint64_t now_us, uint64_t period_us, uint64_t grid_end_us,
			   uint64_t grid_us, uint64_t margin_us)
{
	uint64_t want = now_us + period_us, earliest, k;

	if (!grid_us || !grid_end_us)
		return want;
	earliest = want > grid_us / 2 ? want - grid_us / 2 : 0;
	if (earliest < now_us + 1)
		earliest = now_us + 1;
	if (grid_end_us + margin_us >= earliest)
		return grid_end_us + margin_us;
	/* the first grid point (plus the margin) at or after earliest */
	k = (earliest - grid_end_us - margin_us + grid_us - 1) / grid_us;
	return grid_end_us + k * grid_us + margin_us;
}
