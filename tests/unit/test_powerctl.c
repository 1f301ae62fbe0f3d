// SPDX-License-Identifier: GPL-2.0-or-later
/*
 * The power-limit controller on a simulated VM: P = S + G·min(u, d), with
 * optional multiplicative measurement noise.  Settling, overshoot, windup,
 * the floor, demand changes, noise and the rate limit, across plants whose
 * gains differ 200-fold.
 */
#include "check.h"
#include "powerctl.h"

struct plant {
	double s_w, g_w, d;      /* static share, dynamic power at full bandwidth, demand */
};

static uint64_t uw(double w)
{
	return (uint64_t)llround(w * 1e6);
}

static double power(const struct plant *pl, double u)
{
	return pl->s_w + pl->g_w * fmin(u, pl->d);
}

/* Run @n periods against limit @l_w from the controller's state; P per period into @p. */
static void run(struct ve_pctl *c, const struct plant *pl, double l_w, int n, double *p,
		uint64_t *seed, double noise)
{
	for (int k = 0; k < n; k++) {
		double prev_u = c->u;
		double truth = power(pl, c->u);
		double meas = truth;

		if (noise > 0.0)
			meas *= 1.0 + noise * (2.0 * (double)(test_rand(seed) >> 11) * 0x1.0p-53 - 1.0);
		p[k] = truth;
		ve_pctl_step(c, uw(l_w), uw(meas), uw(pl->s_w));
		check(fabs(c->u - prev_u) <= c->p.max_step + 1e-12, "rate limit: %g -> %g", prev_u, c->u);
		check(c->u >= c->p.u_min - 1e-12 && c->u <= 1.0 + 1e-12, "u in range: %g", c->u);
	}
}

static const struct plant plants[] = {
	{ 0.0, 1.0, 1.0 }, { 10.0, 60.0, 1.0 }, { 50.0, 200.0, 1.0 }, { 5.0, 200.0, 1.0 },
	{ 30.0, 20.0, 1.0 },
};

/* From unthrottled to half the unthrottled power (or S + G/2 where that is not feasible). */
static void test_step_down(void **state)
{
	struct ve_pctl_params prm;

	(void)state;
	ve_pctl_params_default(&prm);
	for (size_t i = 0; i < ARRAY_SIZE(plants); i++) {
		const struct plant *pl = &plants[i];
		double full = power(pl, 1.0);
		double l = full / 2.0 >= pl->s_w + prm.u_min * pl->g_w ? full / 2.0 : pl->s_w + pl->g_w / 2.0;
		struct ve_pctl c;
		double p[12];

		ve_pctl_init(&c, &prm, 1.0);
		run(&c, pl, l, 12, p, NULL, 0.0);
		for (int k = 3; k < 12; k++)
			check(fabs(p[k] - l) <= 0.02 * l, "plant %zu: period %d: %.3f W vs limit %.3f W", i,
			      k, p[k], l);
		for (int k = 0; k < 12; k++)
			check(p[k] >= 0.95 * l, "plant %zu: undershoot %.3f W below %.3f W", i, p[k], l);
		check(!c.cannot_hold, "plant %zu: holds", i);
	}
}

/* The limit is raised from a throttled state: no overshoot above 5 %. */
static void test_step_up(void **state)
{
	struct ve_pctl_params prm;

	(void)state;
	ve_pctl_params_default(&prm);
	for (size_t i = 0; i < ARRAY_SIZE(plants); i++) {
		const struct plant *pl = &plants[i];
		double l1 = pl->s_w + 0.3 * pl->g_w, l2 = pl->s_w + 0.8 * pl->g_w;
		struct ve_pctl c;
		double p[12];

		ve_pctl_init(&c, &prm, 1.0);
		run(&c, pl, l1, 12, p, NULL, 0.0);
		run(&c, pl, l2, 12, p, NULL, 0.0);
		for (int k = 0; k < 12; k++)
			check(p[k] <= 1.05 * l2, "plant %zu: overshoot %.3f W over %.3f W", i, p[k], l2);
		for (int k = 3; k < 12; k++)
			check(fabs(p[k] - l2) <= 0.02 * l2, "plant %zu: settled %.3f vs %.3f", i, p[k], l2);
	}
}

/*
 * Windup: 30 periods with the limit above what the VM can draw (u goes to
 * 1 and stays), then the limit drops: it must settle as fast as from rest.
 * Then the floor: a limit below S + u_min·G holds u at u_min and reports it
 * cannot hold; raised again, it recovers within three periods.
 */
static void test_windup_and_floor(void **state)
{
	struct ve_pctl_params prm;
	const struct plant pl = { 10.0, 60.0, 1.0 };
	struct ve_pctl c;
	double p[30];

	(void)state;
	ve_pctl_params_default(&prm);
	ve_pctl_init(&c, &prm, 1.0);
	run(&c, &pl, 500.0, 30, p, NULL, 0.0);
	check(c.u == 1.0, "saturated at 1, u = %g", c.u);
	run(&c, &pl, 40.0, 6, p, NULL, 0.0);
	for (int k = 3; k < 6; k++)
		check(fabs(p[k] - 40.0) <= 0.8, "after saturation: period %d %.3f W", k, p[k]);

	run(&c, &pl, 11.0, 10, p, NULL, 0.0);   /* S + u_min·G = 13 W > 11 W */
	check(c.u == prm.u_min, "held at the floor: %g", c.u);
	check(c.cannot_hold, "reports that it cannot hold 11 W");
	run(&c, &pl, 40.0, 6, p, NULL, 0.0);
	check(!c.cannot_hold, "holds again");
	for (int k = 3; k < 6; k++)
		check(fabs(p[k] - 40.0) <= 0.8, "recovered from the floor: period %d %.3f W", k, p[k]);
}

/* The VM's own demand drops below its allowance and comes back. */
static void test_demand(void **state)
{
	struct ve_pctl_params prm;
	struct plant pl = { 10.0, 60.0, 1.0 };
	struct ve_pctl c;
	double p[20];

	(void)state;
	ve_pctl_params_default(&prm);
	ve_pctl_init(&c, &prm, 1.0);
	run(&c, &pl, 40.0, 8, p, NULL, 0.0);
	pl.d = 0.2;                         /* the guest idles: 22 W, under the limit */
	run(&c, &pl, 40.0, 20, p, NULL, 0.0);
	check(fabs(p[19] - 22.0) < 1e-6, "demand-limited at 22 W");
	pl.d = 1.0;                         /* busy again */
	run(&c, &pl, 40.0, 8, p, NULL, 0.0);
	/* one period over the limit at most (the demand jump itself), then held */
	for (int k = 2; k < 8; k++)
		check(fabs(p[k] - 40.0) <= 0.8, "after the demand came back: period %d %.3f W", k, p[k]);
}

/* ±10 % measurement noise: stable, and the average stays at the limit. */
static void test_noise(void **state)
{
	struct ve_pctl_params prm;
	uint64_t seed = 42;

	(void)state;
	ve_pctl_params_default(&prm);
	for (size_t i = 0; i < ARRAY_SIZE(plants); i++) {
		const struct plant *pl = &plants[i];
		double l = pl->s_w + 0.5 * pl->g_w;
		struct ve_pctl c;
		double p[200], avg = 0.0, dev_early = 0.0, dev_late = 0.0;

		ve_pctl_init(&c, &prm, 1.0);
		run(&c, pl, l, 200, p, &seed, 0.10);
		for (int k = 190; k < 200; k++)
			avg += p[k] / 10.0;
		for (int k = 20; k < 60; k++)
			dev_early += fabs(p[k] - l);
		for (int k = 160; k < 200; k++)
			dev_late += fabs(p[k] - l);
		check(fabs(avg - l) <= 0.05 * l, "plant %zu: 10-period average %.3f W vs %.3f W", i, avg, l);
		check(dev_late <= 1.5 * dev_early + 1e-9, "plant %zu: no growing oscillation (%g, %g)", i,
		      dev_early, dev_late);
	}
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_step_down),
		cmocka_unit_test(test_step_up),
		cmocka_unit_test(test_windup_and_floor),
		cmocka_unit_test(test_demand),
		cmocka_unit_test(test_noise),
	};

	return cmocka_run_group_tests_name("powerctl", tests, NULL, NULL);
}
