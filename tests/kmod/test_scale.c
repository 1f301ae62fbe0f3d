// SPDX-License-Identifier: GPL-2.0-or-later
/*
 * kmod/ve_scale.h on the host: one period's count of a multiplexed perf
 * counter, as virtenergy.ko sends it in VE_TS_VALUES.  The cases are the
 * ones real PMUs make and the test guest (TCG, no PMU) cannot: totals
 * whose product with the enabled time passes 2^64, and a life-long scaled
 * total that falls from one sample to the next.  shim/linux/math64.h
 * stands in for the kernel's mul_u64_u64_div_u64() and raises SIGFPE where
 * x86-64's divq would trap, so a case that would oops the kernel fails.
 */
#include "check.h"
#include "ve_scale.h"

#define P63 (UINT64_C(1) << 63)
#define P62 (UINT64_C(1) << 62)

struct sample {
	uint64_t count, enabled_ns, running_ns;
};

static uint64_t scale_delta(struct sample last, struct sample now)
{
	const struct ve_count l = { last.count, last.enabled_ns, last.running_ns };
	const struct ve_count n = { now.count, now.enabled_ns, now.running_ns };

	return ve_scale_delta(&l, &n);
}

static void test_period(void **state)
{
	static const struct {
		const char *name;
		struct sample last, now;
		uint64_t delta;
	} cases[] = {
		{ "on the PMU all the time: the raw count",
		  { 1000, 5000, 5000 }, { 3000, 6000, 6000 }, 2000 },
		{ "on the PMU half the time: doubled",
		  { 0, 0, 0 }, { 1000, 2000, 1000 }, 2000 },
		{ "the period's own ratio, not the life-long one",
		  { 100, 1000, 400 }, { 400, 1900, 700 }, 900 },
		{ "a third of the time: tripled", { 0, 0, 0 }, { 7, 3, 1 }, 21 },
		{ "rounds down", { 0, 0, 0 }, { 7, 3, 2 }, 10 },
		/* the totals' count * enabled is 1.5e20: it wrapped before */
		{ "10 s of a 3 GHz counter on the PMU half the time",
		  { 15000000000, 10000000000, 5000000000 },
		  { 15150000000, 10100000000, 5050000000 }, 300000000 },
		{ "totals near 2^63 after 1000 s enabled",
		  { P63, 1000000000000, 500000000000 },
		  { P63 + 300000000, 1000100000000, 500050000000 }, 600000000 },
		{ "a period's product past 2^64: taken in 128 bits",
		  { 0, 0, 0 }, { P62, 3000000000, 2000000000 }, 3 * (P62 / 2) },
		{ "just fits", { 0, 0, 0 }, { P63 - 1, 2, 1 }, UINT64_MAX - 1 },
		{ "2^64 saturates", { 0, 0, 0 }, { P63, 2, 1 }, UINT64_MAX },
		/* 0xaa..aa * 3 / 2 is U64_MAX exactly; one more is 2^64 */
		{ "a quotient of U64_MAX exactly",
		  { 0, 0, 0 }, { UINT64_C(0xaaaaaaaaaaaaaaaa), 3, 2 }, UINT64_MAX },
		{ "one past U64_MAX saturates",
		  { 0, 0, 0 }, { UINT64_C(0xaaaaaaaaaaaaaaab), 3, 2 }, UINT64_MAX },
		{ "far past U64_MAX saturates",
		  { 0, 0, 0 }, { UINT64_MAX, 1000000000, 1 }, UINT64_MAX },
		{ "nothing happened", { 500, 1000, 400 }, { 500, 1000, 400 }, 0 },
		{ "enabled, never on the PMU", { 500, 1000, 400 }, { 500, 2000, 400 }, 0 },
		{ "a count without running time: raw",
		  { 0, 0, 0 }, { 7, 100, 0 }, 7 },
		{ "running ahead of enabled: raw", { 0, 0, 0 }, { 100, 1000, 1001 }, 100 },
		{ "count went backwards: 0", { 1000, 100, 50 }, { 999, 200, 100 }, 0 },
		{ "count from U64_MAX to 0: 0", { UINT64_MAX, 100, 50 }, { 0, 200, 100 }, 0 },
		{ "enabled went backwards: raw", { 0, 2000, 1000 }, { 50, 1000, 1500 }, 50 },
		{ "running went backwards: raw", { 0, 1000, 1000 }, { 50, 3000, 500 }, 50 },
	};

	(void)state;
	for (size_t i = 0; i < ARRAY_SIZE(cases); i++)
		check_u64(scale_delta(cases[i].last, cases[i].now), cases[i].delta, cases[i].name);
}

/* The life-long estimate the module used to difference: count * enabled / running. */
static ve_test_u128 scaled_total(struct sample s)
{
	if (!s.running_ns || s.running_ns >= s.enabled_ns)
		return s.count;
	return (ve_test_u128)s.count * s.enabled_ns / s.running_ns;
}

/*
 * A thread's samples over four periods while the PMU's multiplexing
 * changes: the life-long scaled total goes 2000, 1320, 1866, 1866, so
 * differencing it gave 2^64 - 680 in the second period.
 */
static void test_series(void **state)
{
	static const struct sample s[] = {
		{ 0, 0, 0 },
		{ 1000, 100, 50 },	/* half the time on the PMU */
		{ 1100, 300, 250 },	/* all of it */
		{ 1400, 400, 300 },	/* half again */
		{ 1400, 400, 300 },	/* not scheduled */
	};
	static const uint64_t want[] = { 2000, 100, 600, 0 };
	uint64_t sum = 0;

	(void)state;
	check(scaled_total(s[2]) < scaled_total(s[1]),
	      "the case itself: the scaled total must fall from sample 1 to 2 (%" PRIu64
	      " to %" PRIu64 ")", (uint64_t)scaled_total(s[1]), (uint64_t)scaled_total(s[2]));
	for (size_t i = 1; i < ARRAY_SIZE(s); i++) {
		uint64_t d = scale_delta(s[i - 1], s[i]);
		char ctx[32];

		snprintf(ctx, sizeof(ctx), "period %zu", i);
		check_u64(d, want[i - 1], ctx);
		sum += d;
	}
	check_u64(sum, 2700, "the periods' sum");
}

/* A value of a random width, so that small, middling and huge all occur. */
static uint64_t rand_wide(uint64_t *st)
{
	return test_rand(st) >> test_rand_below(st, 64);
}

/*
 * Random samples over the whole u64 range: the result is never below the
 * raw count, it is the exact 128-bit quotient or U64_MAX when that does
 * not fit, and mul_u64_u64_div_u64() is never asked for a quotient that
 * would trap (the shim raises SIGFPE).
 */
static void test_random(void **state)
{
	uint64_t st = 20260301;

	(void)state;
	for (int i = 0; i < 200000; i++) {
		struct sample last, now;
		uint64_t dc, de, dr, d;
		ve_test_u128 want;
		char ctx[160];

		/* count < U64_MAX and 0 < enabled < U64_MAX, so that nothing below wraps */
		last.count = rand_wide(&st) % UINT64_MAX;
		last.enabled_ns = rand_wide(&st) % (UINT64_MAX - 1) + 1;
		last.running_ns = test_rand_below(&st, last.enabled_ns + 1);
		dc = rand_wide(&st) % (UINT64_MAX - last.count) + 1;
		de = rand_wide(&st) % (UINT64_MAX - last.enabled_ns + 1);
		/* one period in 8 not multiplexed */
		dr = test_rand_below(&st, 8) ? rand_wide(&st) % (de + 1) : de;
		now = (struct sample){ last.count + dc, last.enabled_ns + de, last.running_ns + dr };
		d = scale_delta(last, now);

		want = dr && dr < de ? (ve_test_u128)dc * de / dr : dc;
		if (want > UINT64_MAX)
			want = UINT64_MAX;
		snprintf(ctx, sizeof(ctx), "case %d: count +%" PRIu64 ", enabled +%" PRIu64
			 ", running +%" PRIu64, i, dc, de, dr);
		check_u64(d, (uint64_t)want, ctx);
		check(d >= dc, "%s: %" PRIu64 " is below the raw count", ctx, d);
	}
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_period),
		cmocka_unit_test(test_series),
		cmocka_unit_test(test_random),
	};

	return cmocka_run_group_tests_name("scale", tests, NULL, NULL);
}
