/* SPDX-License-Identifier: GPL-2.0-only */
/*
 * ve_scale.h: one period's count of a perf counter that may be multiplexed.
 *
 * When more events want the PMU than it has counters, perf rotates them:
 * an event counts only for time_running of its time_enabled, and the
 * estimate for the whole time is count * enabled / running
 * (tools/perf/design.txt).  perf_event_read_value() returns all three as
 * totals since the event was opened, which sets two traps:
 *
 * - count * enabled of the totals overflows u64 within seconds: for a
 *   counter at 3e9 cycles/s on the PMU half the time it passes 2^64
 *   after 3.5 s.
 * - a scaled total is not monotonic: the ratio enabled / running of the
 *   life so far moves both ways, so the scaled total can fall from one
 *   sample to the next and the difference of two of them wraps to ~2^64.
 *
 * So a watch keeps the raw count and both times of its last sample, and a
 * period's raw count is scaled by that period's own enabled / running.
 * Each period's estimate is then a count of its own, never negative, and
 * their sum is the estimate over the watch's life, nearer the truth than
 * the life-long ratio because it follows the multiplexing as it changes.
 * The product is taken in 128 bits by mul_u64_u64_div_u64().
 *
 * Kept free of kernel state so that tests/kmod/test_scale.c can build it
 * in userspace with its own u64 and mul_u64_u64_div_u64().
 */
#ifndef VE_SCALE_H
#define VE_SCALE_H

#include <linux/limits.h>
#include <linux/math64.h>
#include <linux/types.h>

/* One sample of one perf event, as perf_event_read_value() gives it. */
struct ve_count {
	u64 count;		/* events counted while on the PMU */
	u64 enabled_ns;		/* time the event was enabled */
	u64 running_ns;		/* of that, time it was on the PMU */
};

/**
 * ve_scale_delta() - events from @last to @now, scaled to the period's
 * enabled time
 * @last: the previous sample of the event
 * @now: this period's sample
 *
 * A raw count that went backwards gives 0, and times that went backwards
 * leave the count unscaled: neither happens to one perf event, they are a
 * defence.  A period that did not reach the PMU (running 0) has no ratio
 * to scale by and keeps its raw count, which is then 0.  A result above
 * U64_MAX saturates to U64_MAX: on x86-64 mul_u64_u64_div_u64() is a divq
 * that traps when the quotient does not fit.
 *
 * Return: the scaled number of events in the period.
 */
static inline u64 ve_scale_delta(const struct ve_count *last, const struct ve_count *now)
{
	u64 count, enabled, running;

	if (now->count <= last->count)
		return 0;
	count = now->count - last->count;
	if (now->enabled_ns < last->enabled_ns || now->running_ns < last->running_ns)
		return count;
	enabled = now->enabled_ns - last->enabled_ns;
	running = now->running_ns - last->running_ns;
	if (!running || running >= enabled)
		return count;
	/*
	 * running < enabled, so the limit below is itself a quotient under
	 * U64_MAX.  Up to it the scaled count fits; above it the true
	 * quotient is at least U64_MAX, which is its value or its saturation.
	 */
	if (count > mul_u64_u64_div_u64(U64_MAX, running, enabled))
		return U64_MAX;
	return mul_u64_u64_div_u64(count, enabled, running);
}

#endif /* VE_SCALE_H */
