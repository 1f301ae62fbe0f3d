// SPDX-License-Identifier: GPL-2.0-or-later
/*
 * vrapl.c: encoding a VM's figures as RAPL registers (see vrapl.h for the
 * layouts, from the Intel SDM).
 */
#include <errno.h>
#include <math.h>

#include "vrapl.h"

void ve_vrapl_init(struct ve_vrapl *v)
{
	*v = (struct ve_vrapl){ .pu = VE_VRAPL_PU_DEFAULT, .esu = VE_VRAPL_ESU_DEFAULT,
				.tu = VE_VRAPL_TU_DEFAULT, .window_us = 1000000 };
}

int ve_vrapl_energy_status(uint64_t uj, unsigned int esu, uint32_t *ret)
{
	uint64_t whole, rest;

	if (esu > 31)
		return -EINVAL;
	/*
	 * uj · 2^esu / 10^6 without a 128-bit product: whole seconds' worth
	 * and the rest separately.  Only the low 32 bits are kept, as the
	 * hardware counter wraps there, so the whole part may wrap freely.
	 */
	whole = uj / 1000000u;
	rest = uj % 1000000u;
	*ret = (uint32_t)((whole << esu) + ((rest << esu) / 1000000u));
	return 0;
}

int ve_vrapl_power_encode(uint64_t uw, unsigned int pu, uint32_t *ret)
{
	double units;

	if (pu > 15)
		return -EINVAL;
	units = round((double)uw * (double)(1u << pu) / 1e6);
	if (units > 0x7fff)
		return -ERANGE;
	*ret = (uint32_t)units;
	return 0;
}

uint64_t ve_vrapl_power_decode(uint32_t units, unsigned int pu)
{
	return (uint64_t)llround((double)(units & 0x7fff) * 1e6 / (double)(1u << (pu & 15)));
}

uint64_t ve_vrapl_window_decode(uint32_t yz, unsigned int tu)
{
	unsigned int y = yz & 0x1f, z = (yz >> 5) & 0x3;

	/* 2^Y · (1 + Z/4) time units of 1/2^TU s */
	return (uint64_t)llround(ldexp(1.0 + (double)z / 4.0, (int)y - (int)(tu & 15)) * 1e6);
}

int ve_vrapl_window_encode(uint64_t us, unsigned int tu, uint32_t *ret_yz)
{
	double best_err = INFINITY;
	uint32_t best = 0;

	if (tu > 15)
		return -EINVAL;
	for (uint32_t y = 0; y < 32; y++) {
		for (uint32_t z = 0; z < 4; z++) {
			double err = fabs((double)ve_vrapl_window_decode(y | z << 5, tu) - (double)us);

			if (err < best_err) {
				best_err = err;
				best = y | z << 5;
			}
		}
	}
	*ret_yz = best;
	return 0;
}

int ve_vrapl_read(const struct ve_vrapl *v, uint32_t msr, uint64_t *ret)
{
	uint32_t e, p, w;
	int r;

	if (v->pu > 15 || v->esu > 31 || v->tu > 15)
		return -EINVAL;
	switch (msr) {
	case VE_MSR_RAPL_POWER_UNIT:
		*ret = (uint64_t)v->pu | (uint64_t)v->esu << 8 | (uint64_t)v->tu << 16;
		return 0;
	case VE_MSR_PKG_ENERGY_STATUS:
	case VE_MSR_PP0_ENERGY_STATUS:
	case VE_MSR_DRAM_ENERGY_STATUS:
		if (msr == VE_MSR_DRAM_ENERGY_STATUS && !v->has_dram)
			return -ENOENT;
		ve_vrapl_energy_status(msr == VE_MSR_PKG_ENERGY_STATUS ? v->pkg_uj
				       : msr == VE_MSR_PP0_ENERGY_STATUS ? v->pp0_uj
									  : v->dram_uj,
				       v->esu, &e);
		*ret = e;
		return 0;
	case VE_MSR_PKG_POWER_LIMIT:
		/* no limit: PL1 field 0 and not enabled, as on an unconstrained part */
		if (!v->limit_uw) {
			*ret = 0;
			return 0;
		}
		r = ve_vrapl_power_encode(v->limit_uw, v->pu, &p);
		if (r < 0)
			return r;
		ve_vrapl_window_encode(v->window_us, v->tu, &w);
		*ret = (uint64_t)p | UINT64_C(1) << 15 | UINT64_C(1) << 16 | (uint64_t)w << 17;
		return 0;
	case VE_MSR_PKG_POWER_INFO:
		r = ve_vrapl_power_encode(v->alloc_uw, v->pu, &p);
		if (r < 0)
			return r;
		*ret = p;
		return 0;
	default:
		return -ENOENT;
	}
}
