/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * check.h: what every unit test includes.  cmocka wants its prerequisites
 * in this order; the macros below say what was seen when a check fails.
 */
#pragma once

#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include <inttypes.h>
#include <math.h>
#include <stdio.h>

#define ARRAY_SIZE(a) (sizeof(a) / sizeof((a)[0]))

/* Fail with a message built like printf when cond is false. */
#define check(cond, ...)                                                                  \
	do {                                                                              \
		if (!(cond)) {                                                            \
			print_error(__VA_ARGS__);                                         \
			print_error("\n");                                                \
			fail_msg("%s:%d: check failed: %s", __FILE__, __LINE__, #cond);   \
		}                                                                         \
	} while (0)

#define check_u64(seen, want, ctx)                                                        \
	check((uint64_t)(seen) == (uint64_t)(want), "%s: %s = %" PRIu64 ", want %" PRIu64, \
	      (ctx), #seen, (uint64_t)(seen), (uint64_t)(want))

#define check_near(seen, want, tol, ctx)                                                  \
	check(fabs((double)(seen) - (double)(want)) <= (tol),                             \
	      "%s: %s = %.9g, want %.9g +- %.3g", (ctx), #seen, (double)(seen),           \
	      (double)(want), (double)(tol))

/* splitmix64: a small seeded generator, so property tests are reproducible. */
static inline uint64_t test_rand(uint64_t *state)
{
	uint64_t z = (*state += UINT64_C(0x9e3779b97f4a7c15));

	z = (z ^ (z >> 30)) * UINT64_C(0xbf58476d1ce4e5b9);
	z = (z ^ (z >> 27)) * UINT64_C(0x94d049bb133111eb);
	return z ^ (z >> 31);
}

/* Uniform in [0, n). */
static inline uint64_t test_rand_below(uint64_t *state, uint64_t n)
{
	return n ? test_rand(state) % n : 0;
}
