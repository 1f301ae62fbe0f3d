// SPDX-License-Identifier: GPL-2.0-or-later
/*
 * counter.c: wrap-aware deltas.  See counter.h for why one wrap at most.
 */
#include <errno.h>

#include "counter.h"

int ve_energy_uj_delta(uint64_t prev_uj, uint64_t cur_uj, uint64_t max_range_uj,
		       uint64_t *ret_delta_uj)
{
	if (max_range_uj && (prev_uj > max_range_uj || cur_uj > max_range_uj))
		return -ERANGE;
	if (cur_uj >= prev_uj) {
		*ret_delta_uj = cur_uj - prev_uj;
		return 0;
	}
	/*
	 * The counter went down: it wrapped.  powercap counts 0..max_range and
	 * the intel_rapl driver reports max_energy_range_uj as the largest value
	 * energy_uj can take, so the distance to the top plus the new value is
	 * what was consumed.  Without the range a decrease cannot be explained:
	 * refuse rather than invent a figure.
	 */
	if (!max_range_uj)
		return -ERANGE;
	*ret_delta_uj = (max_range_uj - prev_uj) + cur_uj;
	return 0;
}

uint32_t ve_msr32_delta(uint64_t prev, uint64_t cur)
{
	/* Unsigned 32-bit subtraction is exactly one wrap's worth of modulo. */
	return (uint32_t)cur - (uint32_t)prev;
}

int ve_msr_units_to_uj(uint64_t units, unsigned int esu, uint64_t *ret_uj)
{
	uint64_t whole, frac;

	if (esu > 31)
		return -EINVAL;
	/*
	 * units × 10^6 / 2^esu without a 128-bit product: split units into
	 * whole multiples of 2^esu and the rest.  The rest is below 2^31, so
	 * rest × 10^6 fits easily; only whole × 10^6 can overflow.
	 */
	whole = units >> esu;
	frac = units & ((UINT64_C(1) << esu) - 1);
	if (whole > UINT64_MAX / 1000000u)
		return -ERANGE;
	*ret_uj = whole * 1000000u + ((frac * 1000000u) >> esu);
	return 0;
}

int ve_counter_add(uint64_t *acc, uint64_t delta)
{
	if (*acc > UINT64_MAX - delta)
		return -EOVERFLOW;
	*acc += delta;
	return 0;
}
