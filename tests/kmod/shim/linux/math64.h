/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * A userspace stand-in for the kernel's <linux/math64.h>, as far as
 * kmod/ve_scale.h uses it: u64, U64_MAX and mul_u64_u64_div_u64(), so that
 * tests/kmod/test_scale.c runs the module's own arithmetic on the host.
 *
 * On x86-64 the kernel's mul_u64_u64_div_u64() is a mulq and a divq, and
 * divq traps (#DE, an oops in the kernel) when the divisor is 0 or the
 * quotient does not fit 64 bits.  This one computes in 128 bits and, in
 * those two cases, raises SIGFPE as the same instruction would in
 * userspace: cmocka reports the test that drove it there as failed.
 */
#pragma once

#include <inttypes.h>
#include <signal.h>
#include <stdio.h>

typedef uint64_t u64;

#define U64_MAX UINT64_MAX

__extension__ typedef unsigned __int128 ve_test_u128;

static inline u64 mul_u64_u64_div_u64(u64 a, u64 mul, u64 div)
{
	ve_test_u128 q;

	if (div == 0) {
		fprintf(stderr, "mul_u64_u64_div_u64(%" PRIu64 ", %" PRIu64 ", 0): divq traps\n",
			a, mul);
		raise(SIGFPE);
		return 0;
	}
	q = (ve_test_u128)a * mul / div;
	if (q > UINT64_MAX) {
		fprintf(stderr,
			"mul_u64_u64_div_u64(%" PRIu64 ", %" PRIu64 ", %" PRIu64
			"): the quotient does not fit 64 bits, divq traps\n",
			a, mul, div);
		raise(SIGFPE);
		return 0;
	}
	return (u64)q;
}
