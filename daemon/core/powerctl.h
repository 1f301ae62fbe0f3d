/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * powerctl.h: the feedback controller that holds a VM to a power limit.
 *
 * Output u is the fraction of its full CPU bandwidth the VM may use
 * (the actuator sets vcpu_quota = u × vcpu_period), in [u_min, 1].  The
 * plant, as the accounting sees it over one control period:
 *
 *     P = S + G · min(u, d)
 *
 * S the VM's static share (idle power charged to it: independent of u),
 * G its dynamic power at full bandwidth, d its own demand.  G and d are
 * unknown and change; S is what the ledger charged as "idle" in the period.
 *
 * The controller is an integral controller on the dynamic part, in
 * multiplicative form: it rescales u by the ratio of wanted to measured
 * dynamic power, u' = u · (1 + α((L − S)/(P − S) − 1)).  For this plant
 * that is an integral controller whose gain is normalised by the plant's
 * own gain, estimated every period as (P − S)/u, so it settles in one or
 * two periods whatever G is (1 W or 200 W), which a fixed-gain PI cannot.
 * α = 1 while the error keeps its sign (the limit or the load changed), 0.3
 * when it flips, which is what measurement noise does around the limit: a
 * full step would pass the noise straight into the quota.  Anti-windup is structural: the
 * state is u itself, clamped to [u_min, 1], so saturation stores nothing.
 * Steps are rate-limited to max_step per period, and u never goes below
 * u_min so a throttled guest stays responsive.
 *
 * Why no proportional term (issue 5 asks for "PI"): in this velocity
 * form a PI controller is Δu/u = α·e + k_p·(e − e_prev), e = (L − S)/(P − S) − 1.
 * The plant has no dynamics of its own within a control period (a quota
 * or frequency set now shows in the next period's power in full), so the
 * integral step with α = 1 is already deadbeat: e is ~0 after one period.
 * A proportional term then only sees e − e_prev = −e_prev, the correction
 * just made: k_p > 0 takes back part of every step (slower settling,
 * beyond the 3 s the tests require for small α), k_p < 0 overshoots, and
 * either way it passes the period-to-period difference of the measurement
 * noise (twice its variance) straight into the quota, which the ±10 %
 * noise requirement rules out.  The noise case is what the reduced α on a
 * sign flip handles instead.  With a lagging plant (a sensor averaging
 * over several periods) a proportional term would earn its place.
 *
 * The limiter applies u to CPU frequency first and bandwidth second
 * (limiter.h); dynamic power then falls faster than u where voltage drops
 * with frequency, which the per-period gain estimate (P − S)/u absorbs:
 * with power ∝ u^k the loop gain is α·k, and the reduced α on a sign flip
 * keeps it stable up to k ≈ 6.
 *
 * Pure: numbers in, numbers out.
 */
#pragma once

#include <stdbool.h>
#include <stdint.h>

struct ve_pctl_params {
	double u_min;          /* floor, default 0.05 */
	double max_step;       /* largest change of u per period, default 0.5 */
	unsigned int hold_periods;  /* at the floor and still over: cannot hold after this many */
};

struct ve_pctl {
	struct ve_pctl_params p;
	double u;              /* current output */
	unsigned int over;     /* periods at the floor above the limit */
	int last_sign;         /* sign of the last error: +1 under, -1 over, 0 none yet */
	bool cannot_hold;      /* the limit is below what the floor allows */
};

void ve_pctl_params_default(struct ve_pctl_params *p);

/* Start at @u0 (1 for an unthrottled VM). */
void ve_pctl_init(struct ve_pctl *c, const struct ve_pctl_params *p, double u0);

/*
 * One control period: the VM drew @measured_uw of which @static_uw was its
 * static share, against @limit_uw.  Returns the new u.
 */
double ve_pctl_step(struct ve_pctl *c, uint64_t limit_uw, uint64_t measured_uw, uint64_t static_uw);
