// SPDX-License-Identifier: GPL-2.0-or-later
/*
 * bench_control: the power-limit controller on a simulated VM
 * (P = S + G·min(u, d), S = 10 W, G = 60 W), limited from unthrottled to
 * half its power: settle time (periods of 1 s until within ±2 % for good),
 * overshoot below the limit, and steady-state error over the last 20
 * periods, without noise and with ±10 % measurement noise.
 */
#include <math.h>
#include <stdio.h>

#include "powerctl.h"

static uint64_t rnd(uint64_t *s)
{
	uint64_t z = (*s += UINT64_C(0x9e3779b97f4a7c15));

	z = (z ^ (z >> 30)) * UINT64_C(0xbf58476d1ce4e5b9);
	z = (z ^ (z >> 27)) * UINT64_C(0x94d049bb133111eb);
	return z ^ (z >> 31);
}

static void run(double noise)
{
	const double s_w = 10.0, g_w = 60.0, limit = (s_w + g_w) / 2.0;
	struct ve_pctl_params prm;
	struct ve_pctl c;
	double p[60], err = 0.0, rms = 0.0, worst_under = 0.0;
	int settle = 0;
	uint64_t seed = 7;

	ve_pctl_params_default(&prm);
	ve_pctl_init(&c, &prm, 1.0);
	for (int k = 0; k < 60; k++) {
		double truth = s_w + g_w * fmin(c.u, 1.0);
		double meas = truth * (1.0 + noise * (2.0 * (double)(rnd(&seed) >> 11) * 0x1.0p-53 - 1.0));

		p[k] = truth;
		ve_pctl_step(&c, (uint64_t)(limit * 1e6), (uint64_t)(meas * 1e6), (uint64_t)(s_w * 1e6));
	}
	for (int k = 59; k >= 0; k--)
		if (fabs(p[k] - limit) > 0.02 * limit) {
			settle = k + 1;
			break;
		}
	for (int k = 0; k < 60; k++)
		worst_under = fmax(worst_under, (limit - p[k]) / limit);
	for (int k = 40; k < 60; k++) {
		err += (p[k] - limit) / limit / 20.0;
		rms += (p[k] - limit) * (p[k] - limit) / (limit * limit) / 20.0;
	}
	if (noise == 0.0)
		printf("  no noise:   within ±2 %% for good after %d periods (%d s), overshoot %.2f %%, "
		       "steady-state error %+.2f %%\n", settle, settle, 100.0 * worst_under, 100.0 * err);
	else
		printf("  ±%.0f %% measurement noise: mean error %+.2f %% and RMS %.2f %% over the last 20 "
		       "periods, largest excursion below the limit %.2f %%\n", 100.0 * noise, 100.0 * err,
		       100.0 * sqrt(rms), 100.0 * worst_under);
}

int main(void)
{
	printf("power-limit controller, simulated VM (10 W static + 60 W dynamic), limit 35 W from unthrottled:\n");
	run(0.0);
	run(0.10);
	return 0;
}
