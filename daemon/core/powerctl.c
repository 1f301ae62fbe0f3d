// SPDX-License-Identifier: GPL-2.0-or-later
/*
 * powerctl.c: the power-limit controller (see powerctl.h for the plant and
 * why this form).
 */
#include <math.h>

#include "powerctl.h"

void ve_pctl_params_default(struct ve_pctl_params *p)
{
	*p = (struct ve_pctl_params){ .u_min = 0.05, .max_step = 0.5, .hold_periods = 3 };
}

void ve_pctl_init(struct ve_pctl *c, const struct ve_pctl_params *p, double u0)
{
	c->p = *p;
	c->u = fmin(1.0, fmax(p->u_min, u0));
	c->over = 0;
	c->last_sign = 0;
	c->cannot_hold = false;
}

double ve_pctl_step(struct ve_pctl *c, uint64_t limit_uw, uint64_t measured_uw, uint64_t static_uw)
{
	double want = (double)limit_uw - (double)static_uw;   /* dynamic power allowed */
	double dyn = (double)measured_uw - (double)static_uw;  /* dynamic power drawn */
	double target, alpha, next;

	if (want <= 0.0) {
		/* the static share alone is over the limit: nothing bandwidth can do */
		target = c->p.u_min;
	} else if (dyn <= 0.0) {
		/* no dynamic power seen: the VM is idle or starved; open up */
		target = c->u * 2.0;
	} else {
		double ratio = want / dyn;
		int sign = ratio > 1.0 ? 1 : -1;

		/*
		 * A full step while the error keeps its sign (a real change of
		 * limit or load); a third of one when it flips, which is what
		 * measurement noise does around the limit.
		 */
		alpha = fabs(ratio - 1.0) > 0.02 && (c->last_sign == 0 || c->last_sign == sign) ? 1.0 : 0.3;
		c->last_sign = sign;
		target = c->u * (1.0 + alpha * (ratio - 1.0));
	}
	next = fmin(target, c->u + c->p.max_step);
	next = fmax(next, c->u - c->p.max_step);
	next = fmin(1.0, fmax(c->p.u_min, next));

	/* at the floor and still clearly over the limit: it cannot be held */
	if (next <= c->p.u_min && (double)measured_uw > 1.02 * (double)limit_uw) {
		if (c->over < c->p.hold_periods)
			c->over++;
	} else {
		c->over = 0;
	}
	c->cannot_hold = c->over >= c->p.hold_periods;
	c->u = next;
	return next;
}
