/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * period.h: when the daemon's next period runs.
 *
 * Every @period_us after the last, or, where the threads are sampled by
 * virtenergy.ko, which ends its own periods on its own clock, just after
 * one of the module's period ends: then the deltas the module sent and the
 * energy and CPU time the daemon reads then cover the same time.  The
 * module's periods are a grid: @grid_end_us (the end of the last one
 * received) plus multiples of @grid_us.  The next period is the first
 * point of that grid, plus @margin_us for the delivery, at or after
 * @now_us + @period_us - @grid_us / 2, so the daemon keeps its own rate
 * (within half a module period) and runs no earlier than @now_us.
 */
#pragma once

#include <stdint.h>

/*
 * @now_us: when this period ran.  Without a grid (@grid_us 0 or
 * @grid_end_us 0): @now_us + @period_us.
 */
uint64_t ve_period_next_us(uint64_t now_us, uint64_t period_us, uint64_t grid_end_us,
			   uint64_t grid_us, uint64_t margin_us);
