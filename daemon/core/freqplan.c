// SPDX-License-Identifier: GPL-2.0-or-later
/*
 * freqplan.c: which CPUs a VM may be slowed on, and to what frequency (see freqplan.h).
 */
#include <math.h>

#include "freqplan.h"

uint64_t ve_freq_choose_khz(double u, uint64_t floor_khz, uint64_t ceiling_khz,
			    const uint64_t *avail, size_t n_avail)
{
	uint64_t target = (uint64_t)llround(u * (double)ceiling_khz), want = 0;

	if (!n_avail)
		return target < floor_khz ? floor_khz : target > ceiling_khz ? ceiling_khz : target;
	/* the lowest listed frequency at or above the target, within [floor, ceiling] */
	for (size_t i = 0; i < n_avail; i++)
		if (avail[i] >= floor_khz && avail[i] <= ceiling_khz && avail[i] >= target) {
			want = avail[i];
			break;
		}
	if (!want)
		want = ceiling_khz;
	/* the floor itself may not be listed: the lowest listed one above it is */
	for (size_t i = 0; i < n_avail && target <= floor_khz; i++)
		if (avail[i] >= floor_khz) {
			want = avail[i] < ceiling_khz ? avail[i] : ceiling_khz;
			break;
		}
	return want;
}

size_t ve_freq_dedicated_cpus(const unsigned char *own, const unsigned char *others, size_t maplen,
			      size_t host_cpus, unsigned int *ret, size_t max)
{
	size_t n = 0, mine = 0;

	host_cpus = (host_cpus < maplen * 8 ? host_cpus : maplen * 8);
	for (size_t c = 0; c < host_cpus; c++) {
		bool is_own = own[c / 8] & (1u << (c % 8));

		if (!is_own)
			continue;
		mine++;
		if (others[c / 8] & (1u << (c % 8)))
			return 0;   /* one shared CPU and the vCPUs can run there */
	}
	if (mine == host_cpus)
		return 0;           /* unpinned: runs anywhere, nothing is its own */
	for (size_t c = 0; c < host_cpus && n < max; c++) {
		if (own[c / 8] & (1u << (c % 8)))
			ret[n++] = (unsigned int)c;
	}
	return n;
}
