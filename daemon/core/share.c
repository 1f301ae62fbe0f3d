// SPDX-License-Identifier: GPL-2.0-or-later
/*
 * share.c: the host cap split (see share.h).
 *
 * Water-filling by rounds: offer the remaining power to the VMs still
 * below their ceiling in proportion to their weights; those whom the offer
 * would take past their ceiling get exactly their ceiling and leave; repeat
 * until an offer fits everyone left, then give it.  At most n rounds.
 * Offers are rounded down, so the few µW left by rounding go one by one to
 * the VMs still below their ceiling.
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "share.h"

#define MAX_VMS (1u << 20)

/* products of a power and a weight or a guarantee sum can pass 2^64 */
__extension__ typedef unsigned __int128 u128;

static uint64_t ceiling(const struct ve_share_vm *v, uint64_t floor_uw)
{
	uint64_t c = v->demand_uw > floor_uw ? v->demand_uw : floor_uw;

	return v->limit_uw && v->limit_uw < c ? v->limit_uw : c;
}

int ve_share_cap(uint64_t cap_uw, const struct ve_share_vm *vms, size_t n, uint64_t *ret_alloc_uw,
		 struct ve_share_result *ret)
{
	u128 sum_g = 0;
	uint64_t *alloc, remaining = cap_uw, given = 0;
	bool *active, scaled = false;
	size_t n_active = 0;

	if (n > MAX_VMS)
		return -EINVAL;
	for (size_t i = 0; i < n; i++)
		if (vms[i].weight < 1 || vms[i].weight > 10000)
			return -EINVAL;
	alloc = calloc(n ? n : 1, sizeof(*alloc));
	active = calloc(n ? n : 1, sizeof(*active));
	if (!alloc || !active) {
		free(alloc);
		free(active);
		return -ENOMEM;
	}

	/* guarantees, each up to the VM's own limit */
	for (size_t i = 0; i < n; i++) {
		uint64_t g = vms[i].guarantee_uw;

		if (vms[i].limit_uw && g > vms[i].limit_uw)
			g = vms[i].limit_uw;
		alloc[i] = g;
		sum_g += g;
	}
	if (sum_g > cap_uw) {
		scaled = true;
		for (size_t i = 0; i < n; i++)
			alloc[i] = (uint64_t)((u128)alloc[i] * cap_uw / sum_g);
	}
	for (size_t i = 0; i < n; i++)
		given += alloc[i];
	remaining = cap_uw - given;

	/* the rest by weight, up to each ceiling */
	for (size_t i = 0; i < n; i++) {
		active[i] = alloc[i] < ceiling(&vms[i], alloc[i]);
		n_active += active[i];
	}
	while (n_active && remaining) {
		uint64_t w = 0;
		bool someone_full = false;

		for (size_t i = 0; i < n; i++)
			if (active[i])
				w += vms[i].weight;
		for (size_t i = 0; i < n; i++) {
			uint64_t offer, room;

			if (!active[i])
				continue;
			offer = (uint64_t)((u128)remaining * vms[i].weight / w);
			room = ceiling(&vms[i], 0) - alloc[i];
			if (offer >= room) {
				/* it fills up: exactly its ceiling, and it leaves the round */
				alloc[i] += room;
				remaining -= room;
				active[i] = false;
				n_active--;
				someone_full = true;
			}
		}
		if (someone_full)
			continue;   /* the others may now be offered more */
		{
			uint64_t left = remaining;

			for (size_t i = 0; i < n; i++) {
				uint64_t offer;

				if (!active[i])
					continue;
				offer = (uint64_t)((u128)remaining * vms[i].weight / w);
				alloc[i] += offer;
				left -= offer;
			}
			/* rounding leftovers, 1 µW at a time, to those below their ceiling */
			for (size_t i = 0; i < n && left; i++) {
				if (active[i] && alloc[i] < ceiling(&vms[i], 0)) {
					alloc[i]++;
					left--;
				}
			}
			remaining = left;
			break;
		}
	}
	memcpy(ret_alloc_uw, alloc, n * sizeof(*alloc));
	ret->guarantees_scaled = scaled;
	ret->unallocated_uw = remaining;
	free(alloc);
	free(active);
	return 0;
}
