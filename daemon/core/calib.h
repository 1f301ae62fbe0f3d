/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * calib.h: fit CPU event weights against measured energy.
 *
 * Where a sensor (RAPL) exists, the defaults of model.h are replaced by
 * weights fitted over a sliding window of periods.  Each period contributes
 * one row: the event totals of all sampled threads for the device, the
 * period length and the measured energy.  The fit is non-negative least
 * squares (Lawson–Hanson) of
 *
 *     measured_uj ≈ Σ_e weight_pj[e] × events[e] / 10^6
 *                   + idle_power_uw × period_us / 10^6
 *
 * A window whose columns are (nearly) linearly dependent, e.g. a load that
 * keeps cycles and instructions in a fixed ratio, cannot tell the weights
 * apart; the fit then refuses (-EDOM) instead of returning arbitrary
 * weights, and the daemon keeps the weights it had.
 *
 * Pure: no clocks, no I/O.  The window owns its buffers; free accepts NULL.
 */
#pragma once

#include <stddef.h>
#include <stdint.h>

#include "model.h"

struct ve_calib_window;

struct ve_calib_result {
	unsigned int n_events;
	double weight_pj[VE_MAX_EVENTS];
	double idle_power_uw;
	double condition;        /* 2-norm condition number of the column-scaled design */
	double residual_rms_uj;  /* RMS of measured - fitted over the window */
	size_t rows;             /* periods used */
};

/* Default refusal threshold for ve_calib_fit()'s max_condition. */
#define VE_CALIB_MAX_CONDITION 1e6

/*
 * A window of at most @capacity periods for @n_events events
 * (1..VE_MAX_EVENTS).  NULL on bad arguments or out of memory.
 */
struct ve_calib_window *ve_calib_window_new(unsigned int n_events, size_t capacity);
void ve_calib_window_free(struct ve_calib_window *w);

/* Periods currently held. */
size_t ve_calib_window_len(const struct ve_calib_window *w);

/*
 * Append one period, dropping the oldest when full.  @events has n_events
 * entries.  -EINVAL (window unchanged) for period_us == 0.
 */
int ve_calib_window_push(struct ve_calib_window *w, const uint64_t *events, uint64_t period_us,
			 uint64_t measured_uj);

/*
 * Fit the window.  Returns 0 and fills *ret; -EAGAIN when the window holds
 * fewer than 2 × (n_events + 1) periods; -EDOM when the column-scaled design's
 * condition number exceeds @max_condition, infinite for exactly dependent
 * columns or an event that never counted (only ret->condition is written
 * then), or, never seen, when the solver does not converge; -EINVAL for a
 * NULL argument or a NaN @max_condition.  Weights are >= 0.  Allocates
 * nothing.
 *
 * How long a window must be depends on the noise: with ±1 % noise on the
 * measurement, 60 periods leave each weight scattered by 0.95–1.36 % (RMS
 * over 40 seeds), 600 periods (a minute at 100 ms) by 0.29–0.41 %, and
 * bring every weight within 2 % (tests/unit/test_calib.c prints both); the
 * daemon's default window is 600 periods.
 */
int ve_calib_fit(const struct ve_calib_window *w, double max_condition, struct ve_calib_result *ret);

/*
 * Copy a successful fit into @m (weights and idle power).  -EINVAL when the
 * event counts differ or the result is not finite; @m is then unchanged.
 */
int ve_calib_apply(const struct ve_calib_result *r, struct ve_cpu_model *m);
