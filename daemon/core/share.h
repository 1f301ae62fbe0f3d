/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * share.h: splitting a host-wide power cap among VMs.
 *
 * Guarantees first (a guarantee above the VM's own limit counts only up to
 * that limit); if they alone exceed the cap they are scaled down in
 * proportion and the result says so.  The rest of the cap is shared by
 * weight, water-filling: each VM gets at most its ceiling, the smaller of
 * its own limit and its demand (what it would draw now if nobody held it),
 * and what a VM cannot use goes to the others.  What nobody can use stays
 * unallocated.  Integers throughout: Σ allocations never exceeds the cap.
 *
 * Pure.  Errors: -EINVAL (weights outside 1..10000, more than 2^20 VMs),
 * with the outputs untouched.
 */
#pragma once

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

struct ve_share_vm {
	uint64_t limit_uw;      /* its own limit; 0: none */
	uint64_t guarantee_uw;  /* 0: none */
	uint64_t demand_uw;     /* what it would draw unheld */
	uint32_t weight;        /* 1 .. 10000 */
};

struct ve_share_result {
	bool guarantees_scaled; /* Σ guarantees was above the cap */
	uint64_t unallocated_uw;
};

int ve_share_cap(uint64_t cap_uw, const struct ve_share_vm *vms, size_t n, uint64_t *ret_alloc_uw,
		 struct ve_share_result *ret);
