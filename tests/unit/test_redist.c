// SPDX-License-Identifier: GPL-2.0-or-later
/*
 * Recursive redistribution.  Expected values are worked out by hand in the
 * comments; slot 0 is always the host.
 */
#include <errno.h>
#include <math.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "check.h"
#include "redist.h"

#define MAXS 8
#define H VE_KIND_HOST
#define V VE_KIND_VM
#define S VE_KIND_SERVICE

struct rcase {
	const char *name;
	enum ve_account_kind kinds[MAXS];   /* slot 1.. (slot 0 is the host) */
	size_t n;                           /* slots including the host */
	struct ve_service_use uses[12];
	size_t n_uses;
	double energy[MAXS];                /* per slot; only services' are read */
	double want_to[MAXS];               /* per slot: received as "service" */
	double want_reason[VE_REASON__MAX];
	size_t want_trapped;
};

static const struct rcase cases[] = {
	{
		/* 3:1 work split of 100 uJ */
		.name = "one service, two VMs",
		.kinds = { V, V, S }, .n = 4,
		.uses = { { 3, 1, 3 }, { 3, 2, 1 } }, .n_uses = 2,
		.energy = { [3] = 100.0 },
		.want_to = { [1] = 75.0, [2] = 25.0 },
	},
	{
		/*
		 * Three levels: storage S3(5) serves only S2(4); S2 serves S1(3)
		 * and VM B(2) equally; S1 serves only VM A(1).
		 * S3: 40 -> S2.  S2: 20 + 40 = 60 -> S1 30, B 30.
		 * S1: 10 + 30 = 40 -> A 40.  A 40 + B 30 = 70 = 10 + 20 + 40.
		 */
		.name = "three-level chain",
		.kinds = { V, V, S, S, S }, .n = 6,
		.uses = { { 5, 4, 7 }, { 4, 3, 2 }, { 4, 2, 2 }, { 3, 1, 9 } }, .n_uses = 4,
		.energy = { [3] = 10.0, [4] = 20.0, [5] = 40.0 },
		.want_to = { [1] = 40.0, [2] = 30.0 },
	},
	{
		/*
		 * A 2-service cycle with exits: S1(3) works 1 for S2 and 1 for A(1);
		 * S2(4) works 1 for S1 and 3 for B(2).  e1 = 30, e2 = 40.
		 * x1 = 30 + x2/4, x2 = 40 + x1/2  =>  x1 = 320/7, x2 = 440/7.
		 * A = x1/2 = 160/7, B = 3 x2/4 = 330/7; 490/7 = 70.
		 */
		.name = "two-service cycle with exits",
		.kinds = { V, V, S, S }, .n = 5,
		.uses = { { 3, 4, 1 }, { 3, 1, 1 }, { 4, 3, 1 }, { 4, 2, 3 } }, .n_uses = 4,
		.energy = { [3] = 30.0, [4] = 40.0 },
		.want_to = { [1] = 160.0 / 7.0, [2] = 330.0 / 7.0 },
	},
	{
		/*
		 * A closed 2-cycle: S1(2) serves only S2(3) and S2 only S1, with 10
		 * and 20 uJ.  S3(4) has 8 uJ, half for S1, half for VM A(1).
		 * A gets 4; the cycle traps 10 + 20 + 4 = 34.
		 */
		.name = "closed cycle",
		.kinds = { V, S, S, S }, .n = 5,
		.uses = { { 2, 3, 5 }, { 3, 2, 5 }, { 4, 2, 1 }, { 4, 1, 1 } }, .n_uses = 4,
		.energy = { [2] = 10.0, [3] = 20.0, [4] = 8.0 },
		.want_to = { [1] = 4.0 },
		.want_reason = { [VE_REASON_SERVICE_CYCLE] = 34.0 },
		.want_trapped = 2,
	},
	{
		/*
		 * S1(2) reported no work: its 12 uJ go to the host.  S2(3) has 10,
		 * half for S1 (so to the host too), half for A(1).
		 */
		.name = "service without clients",
		.kinds = { V, S, S }, .n = 4,
		.uses = { { 3, 2, 4 }, { 3, 1, 4 } }, .n_uses = 2,
		.energy = { [2] = 12.0, [3] = 10.0 },
		.want_to = { [1] = 5.0 },
		.want_reason = { [VE_REASON_SERVICE_NO_CLIENTS] = 17.0 },
	},
	{
		/* work for the host and a zero-work use that must not matter */
		.name = "service working for the host",
		.kinds = { V, S }, .n = 3,
		.uses = { { 2, 0, 1 }, { 2, 1, 3 }, { 2, 1, 0 } }, .n_uses = 3,
		.energy = { [2] = 40.0 },
		.want_to = { [1] = 30.0 },
		.want_reason = { [VE_REASON_SERVICE_FOR_HOST] = 10.0 },
	},
	{
		/* x = e + x/2 => x = 2e; A gets x/2 = e: self-work changes nothing */
		.name = "self-loop",
		.kinds = { V, S }, .n = 3,
		.uses = { { 2, 2, 1 }, { 2, 1, 1 } }, .n_uses = 2,
		.energy = { [2] = 9.0 },
		.want_to = { [1] = 9.0 },
	},
	{
		/* only self-work: a closed class of one */
		.name = "self-loop only",
		.kinds = { V, S }, .n = 3,
		.uses = { { 2, 2, 1 } }, .n_uses = 1,
		.energy = { [2] = 9.0 },
		.want_reason = { [VE_REASON_SERVICE_CYCLE] = 9.0 },
		.want_trapped = 1,
	},
	{
		.name = "zero energy",
		.kinds = { V, V, S, S }, .n = 5,
		.uses = { { 3, 1, 1 }, { 3, 4, 1 }, { 4, 2, 1 } }, .n_uses = 3,
	},
	{
		/* a VM's energy entry is not the solver's business */
		.name = "non-service energy untouched",
		.kinds = { V, S }, .n = 3,
		.uses = { { 2, 1, 1 } }, .n_uses = 1,
		.energy = { [1] = 1000.0, [2] = 1.0 },
		.want_to = { [1] = 1.0 },
	},
};

static struct ve_account_table *make_table(const enum ve_account_kind *kinds, size_t n)
{
	struct ve_account_table *t = ve_account_table_new();
	uint32_t slot;

	check(t != NULL, "table");
	for (size_t i = 1; i < n; i++)
		check(ve_account_add(t, kinds[i - 1], 2, &slot) == 0, "add slot %zu", i);
	return t;
}

static void test_table(void **state)
{
	struct ve_redist *r = ve_redist_new();

	(void)state;
	for (size_t c = 0; c < ARRAY_SIZE(cases); c++) {
		const struct rcase *k = &cases[c];
		struct ve_account_table *t = make_table(k->kinds, k->n);
		double e[MAXS], to[MAXS] = { 0 }, reason[VE_REASON__MAX] = { 0 };
		double in = 0.0, out = 0.0;

		memcpy(e, k->energy, sizeof(e));
		check(ve_redist_plan(r, t, k->uses, k->n_uses) == 0, "%s: plan", k->name);
		check_u64(ve_redist_trapped(r), k->want_trapped, k->name);
		check(ve_redist_apply(r, e, to, reason) == 0, "%s: apply", k->name);
		for (size_t s = 0; s < k->n; s++) {
			if (t->slot[s].kind == VE_KIND_SERVICE) {
				in += k->energy[s];
				check(e[s] == 0.0, "%s: service slot %zu emptied, holds %g", k->name, s,
				      e[s]);
			} else {
				check(e[s] == k->energy[s], "%s: slot %zu untouched", k->name, s);
			}
			check_near(to[s], k->want_to[s], 1e-9, k->name);
			out += to[s];
		}
		for (int i = 0; i < VE_REASON__MAX; i++) {
			check_near(reason[i], k->want_reason[i], 1e-9, k->name);
			out += reason[i];
		}
		check_near(out, in, 1e-9, k->name);
		ve_account_table_free(t);
	}
	ve_redist_free(r);
}

static void test_errors(void **state)
{
	static const enum ve_account_kind kinds[] = { V, S, V };
	struct ve_account_table *t = make_table(kinds, 4);
	struct ve_redist *r = ve_redist_new();
	double e[4] = { 0, 0, 5.0, 0 }, to[4] = { 0 }, reason[VE_REASON__MAX] = { 0 };
	const struct ve_service_use unknown[] = { { 2, 9, 1 } };
	const struct ve_service_use not_service[] = { { 1, 3, 1 } };
	const struct ve_service_use overflow[] = { { 2, 1, UINT64_MAX }, { 2, 3, 2 } };
	const struct ve_service_use inactive[] = { { 2, 3, 1 } };
	const struct ve_service_use good[] = { { 2, 1, 1 } };

	(void)state;
	check(ve_redist_apply(r, e, to, reason) == -ESRCH, "apply before any plan");
	check(ve_redist_plan(r, t, unknown, 1) == -ENOENT, "unknown client slot");
	check(ve_redist_plan(r, t, not_service, 1) == -EINVAL, "a VM as server");
	check(ve_redist_plan(r, t, overflow, 2) == -EINVAL, "work overflow");
	check(ve_redist_plan(r, t, good, 1) == 0, "good plan");
	check(ve_account_set_active(t, 3, false) == 0, "stop VM 3");
	check(ve_redist_plan(r, t, inactive, 1) == -ENOENT, "inactive client");
	check(ve_redist_apply(r, e, to, reason) == -ESRCH, "a failed plan invalidates");
	check(e[2] == 5.0 && to[1] == 0.0, "nothing moved after failures");
	ve_account_table_free(t);
	ve_redist_free(r);
	ve_redist_free(NULL);
}

/*
 * Random service graphs: energy is conserved and nothing is negative,
 * whatever the shape (chains, cycles, closed classes, dead ends).
 */
static void test_random_graphs(void **state)
{
	uint64_t seed = 20261124;
	struct ve_redist *r = ve_redist_new();

	(void)state;
	for (int iter = 0; iter < 2000; iter++) {
		enum ve_account_kind kinds[20];
		size_t n = 2 + test_rand_below(&seed, 20);
		struct ve_account_table *t;
		struct ve_service_use uses[40];
		size_t n_uses = test_rand_below(&seed, 40);
		double e[21], to[21] = { 0 }, reason[VE_REASON__MAX] = { 0 };
		double in = 0.0, out = 0.0;

		for (size_t i = 0; i + 1 < n; i++)
			kinds[i] = test_rand_below(&seed, 3) ? S : V;
		kinds[0] = S;
		t = make_table(kinds, n);
		for (size_t u = 0; u < n_uses; u++) {
			uint32_t s;

			do
				s = (uint32_t)(1 + test_rand_below(&seed, n - 1));
			while (t->slot[s].kind != VE_KIND_SERVICE);
			uses[u] = (struct ve_service_use){ s, (uint32_t)test_rand_below(&seed, n),
							   test_rand_below(&seed, 1000) };
		}
		for (size_t s = 0; s < n; s++) {
			e[s] = (double)test_rand_below(&seed, 1000000);
			if (t->slot[s].kind == VE_KIND_SERVICE)
				in += e[s];
		}
		check(ve_redist_plan(r, t, uses, n_uses) == 0, "iteration %d: plan", iter);
		check(ve_redist_apply(r, e, to, reason) == 0, "iteration %d: apply", iter);
		for (size_t s = 0; s < n; s++) {
			check(to[s] >= -1e-6, "iteration %d: slot %zu received %g", iter, s, to[s]);
			check(t->slot[s].kind == VE_KIND_VM || to[s] == 0.0,
			      "iteration %d: non-VM slot %zu received %g", iter, s, to[s]);
			out += to[s];
		}
		for (int i = 0; i < VE_REASON__MAX; i++) {
			check(reason[i] >= -1e-6, "iteration %d: reason %d = %g", iter, i, reason[i]);
			out += reason[i];
		}
		check_near(out, in, 1e-6 * (in + 1.0), "random graph conservation");
		ve_account_table_free(t);
	}
	ve_redist_free(r);
}

/*
 * The flows themselves, on large random graphs (services a quarter of the
 * slots, cycles among them, chains into each other): every service the plan
 * solved satisfies x_i = e_i + Σ_j x_j × w(j→i)/W_j to rounding, whatever
 * the components it was solved in; one it did not solve is either without
 * work or serves no way out.  The same plan object is reused as sizes shrink
 * and grow.
 */
static void test_flow_residuals(void **state)
{
	uint64_t seed = 20261202;
	struct ve_redist *r = ve_redist_new();
	int n_swept_runs = 0, n_factored_large = 0;

	(void)state;
	for (int iter = 0; iter < 60; iter++) {
		size_t n = 2 + test_rand_below(&seed, 600);
		size_t n_uses = test_rand_below(&seed, 3 * n);
		enum ve_account_kind *kinds = calloc(n, sizeof(*kinds));
		struct ve_service_use *uses = calloc(n_uses + 1, sizeof(*uses));
		double *e = calloc(n, sizeof(*e)), *to = calloc(n, sizeof(*to));
		double *x = calloc(n, sizeof(*x)), *want = calloc(n, sizeof(*want));
		double *own = calloc(n, sizeof(*own));
		double *work = calloc(n, sizeof(*work));
		bool *solved = calloc(n, sizeof(*solved));
		double reason[VE_REASON__MAX] = { 0 };
		struct ve_account_table *t;
		size_t n_svc = 0;

		for (size_t i = 0; i + 1 < n; i++)
			kinds[i] = test_rand_below(&seed, 4) ? V : S;
		kinds[0] = S;
		t = make_table(kinds, n);
		for (size_t u = 0; u < n_uses; u++) {
			uint32_t s, c;

			do
				s = (uint32_t)(1 + test_rand_below(&seed, n - 1));
			while (t->slot[s].kind != VE_KIND_SERVICE);
			/* mostly service to service, so that components get large */
			do
				c = (uint32_t)test_rand_below(&seed, n);
			while (test_rand_below(&seed, 8) && t->slot[c].kind != VE_KIND_SERVICE);
			uses[u] = (struct ve_service_use){ s, c, 1 + test_rand_below(&seed, 1000) };
		}
		if (iter % 2) {
			/*
			 * Leaky: every service also works for a VM, as much as for
			 * everything else, so large components are swept, not factored.
			 */
			uint32_t vm = 0;

			for (uint32_t s = 1; s < n && !vm; s++)
				if (t->slot[s].kind == VE_KIND_VM)
					vm = s;
			for (size_t u = 0; u < n_uses; u++)
				work[uses[u].service] += (double)uses[u].work;
			for (uint32_t s = 1; s < n && vm; s++)
				if (t->slot[s].kind == VE_KIND_SERVICE && work[s] > 0) {
					uses = realloc(uses, (n_uses + 1) * sizeof(*uses));
					uses[n_uses++] = (struct ve_service_use){ s, vm, (uint64_t)work[s] };
				}
			for (uint32_t s = 0; s < n; s++)
				work[s] = 0.0;
		}
		for (size_t u = 0; u < n_uses; u++)
			work[uses[u].service] += (double)uses[u].work;
		for (size_t s = 0; s < n; s++)
			own[s] = e[s] = (double)test_rand_below(&seed, 1000000);
		check(ve_redist_plan(r, t, uses, n_uses) == 0, "iteration %d: plan", iter);
		check(ve_redist_apply(r, e, to, reason) == 0, "iteration %d: apply", iter);
		for (uint32_t s = 0; s < n; s++)
			if (t->slot[s].kind == VE_KIND_SERVICE) {
				n_svc++;
				solved[s] = ve_redist_through(r, s, &x[s]);
				check(!solved[s] || work[s] > 0, "iteration %d: slot %u solved without work", iter, s);
			}
		for (size_t u = 0; u < n_uses; u++)
			if (solved[uses[u].client] && solved[uses[u].service])
				want[uses[u].client] += x[uses[u].service] * (double)uses[u].work /
							work[uses[u].service];
		for (uint32_t s = 0; s < n; s++) {
			if (!solved[s])
				continue;
			check(fabs(x[s] - want[s] - own[s]) <= 1e-9 * (x[s] + 1.0),
			      "iteration %d: the flow through service slot %u is %.9g, but its own %.9g "
			      "and its inflow %.9g make %.9g", iter, s, x[s], own[s], want[s], own[s] + want[s]);
		}
		check(ve_redist_trapped(r) <= n_svc, "iteration %d: trapped", iter);
		{
			size_t n_comp, largest, swept;

			ve_redist_components(r, &n_comp, &largest, &swept);
			if (swept)
				n_swept_runs++;
			if (largest > 24 && !swept)
				n_factored_large++;
		}
		ve_account_table_free(t);
		free(kinds);
		free(uses);
		free(e);
		free(to);
		free(x);
		free(want);
		free(own);
		free(work);
		free(solved);
	}
	/* both ways of solving a large component were taken */
	printf("# runs with a swept component: %d, with a large one factored: %d\n", n_swept_runs,
	       n_factored_large);
	check(n_swept_runs >= 10 && n_factored_large >= 10, "swept %d, large factored %d", n_swept_runs,
	      n_factored_large);
	ve_redist_free(r);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_table),
		cmocka_unit_test(test_errors),
		cmocka_unit_test(test_random_graphs),
		cmocka_unit_test(test_flow_residuals),
	};

	return cmocka_run_group_tests_name("redist", tests, NULL, NULL);
}
