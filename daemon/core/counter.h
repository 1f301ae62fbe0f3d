/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * counter.h: deltas of wrapping hardware energy counters.
 *
 * Two kinds of counter reach the daemon:
 *
 *  - powercap's energy_uj, which counts µJ from 0 up to max_energy_range_uj
 *    and then continues from 0 (Documentation/power/powercap/powercap.rst);
 *  - a RAPL energy-status MSR, whose low 32 bits count energy-status units
 *    (1/2^ESU J, ESU from bits 12:8 of MSR_RAPL_POWER_UNIT) and wrap at 2^32
 *    (Intel SDM vol. 3B, 15.10).
 *
 * Both are sampled often enough that at most one wrap happens between two
 * readings: at 100 ms periods a 32-bit counter in 61 µJ units wraps after
 * about 262 kJ, i.e. never within a period below 2.6 MW.  A reading that went
 * down is therefore one wrap, never several.
 *
 * All functions are pure.  Errors: negative errno, results untouched.
 */
#pragma once

#include <stdint.h>

/*
 * Energy consumed between two energy_uj readings.
 *
 * @max_range_uj is the counter's max_energy_range_uj; 0 means it is unknown,
 * in which case a reading lower than the previous one cannot be explained
 * and is -ERANGE.  A reading above a known max_range_uj is -ERANGE too.
 */
int ve_energy_uj_delta(uint64_t prev_uj, uint64_t cur_uj, uint64_t max_range_uj,
		       uint64_t *ret_delta_uj);

/* Units elapsed between two 32-bit energy-status readings (bits above 31 ignored). */
uint32_t ve_msr32_delta(uint64_t prev, uint64_t cur);

/*
 * Convert energy-status units to µJ: units * 10^6 / 2^esu, rounded down.
 * @esu is the energy-status-unit exponent (0..31); -EINVAL outside.
 */
int ve_msr_units_to_uj(uint64_t units, unsigned int esu, uint64_t *ret_uj);

/*
 * Add @delta to the cumulative counter *@acc.  -EOVERFLOW (and *acc
 * unchanged) when the sum would not fit: a cumulative counter never wraps
 * and never goes backwards.
 */
int ve_counter_add(uint64_t *acc, uint64_t delta);
