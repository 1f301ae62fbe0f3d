/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * test_calib.c: event-weight calibration against synthetic traces.
 *
 * Traces come from a 16-core 3 GHz host sampled every 100 ms: per period an
 * independent utilisation, IPC and miss rate, so cycles, instructions and
 * cache misses move together loosely (as on a real host) but never in a
 * fixed ratio.  Measured energy is the model's own value, either exact
 * (events quantised so that it is an integer number of µJ) or times
 * (1 + u), u uniform in ±1%, from a seeded splitmix64: deterministic, and
 * independent of libc's rand().
 */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include <errno.h>
#include <float.h>
#include <math.h>
#include <stdbool.h>
#include <stdio.h>
#include <string.h>

#include "calib.h"
#include "linalg.h"
#include "model.h"

/* ---- deterministic trace generator ------------------------------------- */

struct rng {
	uint64_t s;
};

/* splitmix64: Weyl sequence through a 64-bit finaliser; passes BigCrush. */
static uint64_t rng_next(struct rng *r)
{
	uint64_t z = (r->s += 0x9e3779b97f4a7c15ULL);

	z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ULL;
	z = (z ^ (z >> 27)) * 0x94d049bb133111ebULL;
	return z ^ (z >> 31);
}

/* Top 53 bits: every value in [0, 1) a multiple of 2^-53, none rounded. */
static double rng_uniform(struct rng *r, double lo, double hi)
{
	return lo + (hi - lo) * ((double)(rng_next(r) >> 11) * 0x1p-53);
}

struct truth {
	double weight_pj[VE_MAX_EVENTS];
	double idle_uw;
};

/*
 * cycles, instructions, cache-misses, then five made-up events for the
 * VE_MAX_EVENTS case.  Integer weights and an idle power in whole watts
 * keep exact traces exact.
 */
static const struct truth host = {
	.weight_pj = { 300.0, 150.0, 15000.0, 50.0, 1000.0, 2000.0, 10.0, 500.0 },
	.idle_uw = 20e6,
};

struct row {
	uint64_t ev[VE_MAX_EVENTS];
	uint64_t period_us;
	uint64_t measured_uj;
};

/* Quantising events to whole millions makes weight × events / 1e6 an integer. */
static uint64_t quantise(double x, bool exact)
{
	if (exact)
		return (uint64_t)llround(x / 1e6) * 1000000u;
	return (uint64_t)llround(x);
}

static void gen_row(struct rng *r, const struct truth *t, unsigned int n, double noise, bool exact,
		    struct row *out)
{
	double period_us = floor(rng_uniform(r, 98000.0, 102000.0));
	double cycles = rng_uniform(r, 0.0, 1.0) * 16.0 * 3e9 * period_us / 1e6;
	double instructions = cycles * rng_uniform(r, 0.2, 3.0);
	double misses = instructions * rng_uniform(r, 0.0, 15.0) / 1000.0;
	double e_uj;

	memset(out, 0, sizeof(*out));
	out->period_us = (uint64_t)period_us;
	out->ev[0] = quantise(cycles, exact);
	if (n > 1)
		out->ev[1] = quantise(instructions, exact);
	if (n > 2)
		out->ev[2] = quantise(misses, exact);
	for (unsigned int e = 3; e < n; e++)
		out->ev[e] = quantise(rng_uniform(r, 0.0, 1e8), exact);

	/* Exact: every term is an integer below 2^53, so the sum is exact. */
	e_uj = t->idle_uw * (double)out->period_us / 1e6;
	for (unsigned int e = 0; e < n; e++)
		e_uj += t->weight_pj[e] * ((double)out->ev[e] / 1e6);
	if (noise > 0.0)
		e_uj *= 1.0 + rng_uniform(r, -noise, noise);
	out->measured_uj = (uint64_t)llround(e_uj);
}

static void push_rows(struct ve_calib_window *w, const struct row *rows, size_t n_rows)
{
	for (size_t i = 0; i < n_rows; i++) {
		int err = ve_calib_window_push(w, rows[i].ev, rows[i].period_us,
					       rows[i].measured_uj);

		if (err != 0)
			fail_msg("push of row %zu returned %d", i, err);
	}
}

/* Window of @n_rows generated rows (the rows are also returned in @rows). */
static struct ve_calib_window *make_window(uint64_t seed, const struct truth *t, unsigned int n,
					   size_t capacity, size_t n_rows, double noise, bool exact,
					   struct row *rows)
{
	struct ve_calib_window *w = ve_calib_window_new(n, capacity);
	struct rng r = { seed };

	assert_non_null(w);
	for (size_t i = 0; i < n_rows; i++)
		gen_row(&r, t, n, noise, exact, &rows[i]);
	push_rows(w, rows, n_rows);
	return w;
}

/* ---- checking helpers --------------------------------------------------- */

static double rel_err(double got, double want)
{
	return fabs(got - want) / fabs(want);
}

/* Largest relative error of the fitted weights and idle power; names the worst. */
static double worst_error(const struct ve_calib_result *res, const struct truth *t, unsigned int n,
			  const char *what)
{
	double worst = rel_err(res->idle_power_uw, t->idle_uw);

	print_message("%s: idle %.6g uW (want %.6g), cond %.3g, rms %.4g uJ\n", what,
		      res->idle_power_uw, t->idle_uw, res->condition, res->residual_rms_uj);
	for (unsigned int e = 0; e < n; e++) {
		double d = rel_err(res->weight_pj[e], t->weight_pj[e]);

		print_message("%s: weight[%u] %.8g pJ (want %.8g), rel err %.3g\n", what, e,
			      res->weight_pj[e], t->weight_pj[e], d);
		if (d > worst)
			worst = d;
	}
	return worst;
}

static bool check_fit(int err, const struct ve_calib_result *res, const struct truth *t,
		      unsigned int n, size_t rows, double tol, const char *what, double *ret_worst)
{
	double worst;

	if (err != 0) {
		/* Only -EDOM writes anything (the condition). */
		print_error("%s: ve_calib_fit returned %d (condition %g)\n", what, err,
			    err == -EDOM ? res->condition : (double)NAN);
		return false;
	}
	if (res->n_events != n || res->rows != rows) {
		print_error("%s: n_events %u rows %zu, want %u and %zu\n", what, res->n_events,
			    res->rows, n, rows);
		return false;
	}
	if (!(res->condition >= 1.0 && res->condition <= VE_CALIB_MAX_CONDITION)) {
		print_error("%s: condition %g outside [1, %g]\n", what, res->condition,
			    VE_CALIB_MAX_CONDITION);
		return false;
	}
	worst = worst_error(res, t, n, what);
	if (ret_worst)
		*ret_worst = worst;
	if (!(worst <= tol)) {
		print_error("%s: worst relative error %.4g > %.4g\n", what, worst, tol);
		return false;
	}
	return true;
}

/* ---- window management -------------------------------------------------- */

static void test_window_new_args(void **state)
{
	static const struct {
		unsigned int n_events;
		size_t capacity;
		bool ok;
	} cases[] = {
		{ 0, 10, false },
		{ VE_MAX_EVENTS + 1, 10, false },
		{ 3, 0, false },
		{ 3, SIZE_MAX, false },
		{ 1, 1, true },
		{ VE_MAX_EVENTS, 600, true },
	};

	(void)state;
	for (size_t c = 0; c < sizeof(cases) / sizeof(cases[0]); c++) {
		struct ve_calib_window *w = ve_calib_window_new(cases[c].n_events, cases[c].capacity);

		if ((w != NULL) != cases[c].ok)
			fail_msg("ve_calib_window_new(%u, %zu) = %p, want %s", cases[c].n_events,
				 cases[c].capacity, (void *)w, cases[c].ok ? "a window" : "NULL");
		assert_int_equal(ve_calib_window_len(w), 0);
		ve_calib_window_free(w);
	}
	ve_calib_window_free(NULL);
}

static void test_fit_args(void **state)
{
	struct row rows[8];
	struct ve_calib_window *w = make_window(1, &host, 3, 8, 8, 0.0, true, rows);
	struct ve_calib_result res;

	(void)state;
	assert_int_equal(ve_calib_fit(NULL, VE_CALIB_MAX_CONDITION, &res), -EINVAL);
	assert_int_equal(ve_calib_fit(w, VE_CALIB_MAX_CONDITION, NULL), -EINVAL);
	assert_int_equal(ve_calib_fit(w, (double)NAN, &res), -EINVAL);
	assert_int_equal(ve_calib_window_push(NULL, rows[0].ev, 1, 1), -EINVAL);
	assert_int_equal(ve_calib_window_push(w, NULL, 1, 1), -EINVAL);
	assert_int_equal(ve_calib_window_len(w), 8);
	ve_calib_window_free(w);
}

/*
 * period_us == 0 is refused and leaves the window as it was, also when
 * full (where a push would otherwise have dropped the oldest row): the fit
 * afterwards is bit-for-bit the fit before.
 */
static void test_push_period_zero(void **state)
{
	struct row rows[20];
	struct ve_calib_result before, after;
	struct ve_calib_window *w;
	uint64_t ev[3] = { 1000000, 2000000, 3000000 };

	(void)state;
	for (size_t fill = 0; fill <= 20; fill += 10) {
		w = make_window(7, &host, 3, 20, fill, 0.01, false, rows);
		if (fill >= 8)
			assert_int_equal(ve_calib_fit(w, VE_CALIB_MAX_CONDITION, &before), 0);
		assert_int_equal(ve_calib_window_push(w, ev, 0, 123456), -EINVAL);
		assert_int_equal(ve_calib_window_len(w), fill);
		if (fill >= 8) {
			assert_int_equal(ve_calib_fit(w, VE_CALIB_MAX_CONDITION, &after), 0);
			assert_memory_equal(&before, &after, sizeof(before));
		}
		ve_calib_window_free(w);
	}
}

/* -EAGAIN below 2 (n_events + 1) rows, *ret untouched; a fit from there on. */
static void test_too_few_rows(void **state)
{
	static const unsigned int n_events[] = { 1, 2, 3, VE_MAX_EVENTS };
	struct row rows[2 * (VE_MAX_EVENTS + 1)];

	(void)state;
	for (size_t c = 0; c < sizeof(n_events) / sizeof(n_events[0]); c++) {
		unsigned int n = n_events[c];
		size_t need = 2 * ((size_t)n + 1);
		struct ve_calib_window *w = make_window(11 + c, &host, n, 100, need - 1, 0.0, true,
							rows);
		struct ve_calib_result res, sentinel;
		int err;

		memset(&res, 0xa5, sizeof(res));
		memcpy(&sentinel, &res, sizeof(res));
		err = ve_calib_fit(w, VE_CALIB_MAX_CONDITION, &res);
		if (err != -EAGAIN)
			fail_msg("%u events, %zu rows: got %d, want -EAGAIN", n, need - 1, err);
		assert_memory_equal(&res, &sentinel, sizeof(res));

		gen_row(&(struct rng){ 99 }, &host, n, 0.0, true, &rows[need - 1]);
		push_rows(w, &rows[need - 1], 1);
		err = ve_calib_fit(w, VE_CALIB_MAX_CONDITION, &res);
		if (err != 0)
			fail_msg("%u events, %zu rows: got %d, want 0", n, need, err);
		ve_calib_window_free(w);
	}
}

/* ---- recovery ----------------------------------------------------------- */

#define MAX_ROWS 600

/*
 * Noise-free integer traces: the fit is a plain least-squares solve of a
 * consistent system, so anything beyond rounding is a numerical defect.
 * 1e-6 is the requirement; the observed error is around 1e-13.
 */
static void test_exact_recovery(void **state)
{
	static const struct {
		unsigned int n_events;
		size_t rows;
		uint64_t seed;
	} cases[] = {
		{ 1, 4, 1 }, { 3, 8, 2 }, { 3, 60, 3 }, { 3, 600, 4 }, { VE_MAX_EVENTS, 60, 5 },
	};
	static struct row rows[MAX_ROWS];
	double worst_all = 0.0;

	(void)state;
	for (size_t c = 0; c < sizeof(cases) / sizeof(cases[0]); c++) {
		unsigned int n = cases[c].n_events;
		struct ve_calib_window *w = make_window(cases[c].seed, &host, n, cases[c].rows,
							cases[c].rows, 0.0, true, rows);
		struct ve_calib_result res;
		char what[64];
		double worst = 0.0;
		int err = ve_calib_fit(w, VE_CALIB_MAX_CONDITION, &res);

		snprintf(what, sizeof(what), "exact %u events %zu rows", n, cases[c].rows);
		assert_true(check_fit(err, &res, &host, n, cases[c].rows, 1e-6, what, &worst));
		/* Consistent data: residual is rounding of the µJ integers only. */
		if (!(res.residual_rms_uj < 1e-3))
			fail_msg("%s: residual_rms_uj %g, want < 1e-3", what, res.residual_rms_uj);
		if (worst > worst_all)
			worst_all = worst;
		ve_calib_window_free(w);
	}
	print_message("exact recovery: worst relative error %.3g\n", worst_all);
}

/*
 * ±1% multiplicative noise, 600 periods (one minute at 100 ms).  Window
 * length is what makes 2% attainable: the weights' standard errors fall
 * as 1/sqrt(rows), and at 60 periods they are about 1% each for this
 * trace (so 2% on all four would fail for roughly one seed in five),
 * at 600 about 0.3-0.4%.
 */
static void test_noisy_recovery(void **state)
{
	static const uint64_t seeds[] = { 1, 2, 3, 42, 1234, 0xdeadbeef };
	static struct row rows[MAX_ROWS];
	double worst_all = 0.0;

	(void)state;
	for (size_t c = 0; c < sizeof(seeds) / sizeof(seeds[0]); c++) {
		struct ve_calib_window *w = make_window(seeds[c], &host, 3, MAX_ROWS, MAX_ROWS, 0.01,
							false, rows);
		struct ve_calib_result res;
		char what[64];
		double worst = 0.0, mean_uj = 0.0, rel_rms;
		int err = ve_calib_fit(w, VE_CALIB_MAX_CONDITION, &res);

		snprintf(what, sizeof(what), "noisy seed %llu", (unsigned long long)seeds[c]);
		assert_true(check_fit(err, &res, &host, 3, MAX_ROWS, 0.02, what, &worst));
		if (worst > worst_all)
			worst_all = worst;

		/*
		 * The residual is the noise: uniform ±1% has an RMS of
		 * 1%/sqrt(3) = 0.58% of the row's energy.  Between 0.4% and
		 * 0.8% of the mean catches a residual computed on the wrong
		 * scale or against the wrong rows.
		 */
		for (size_t i = 0; i < MAX_ROWS; i++)
			mean_uj += (double)rows[i].measured_uj / MAX_ROWS;
		rel_rms = res.residual_rms_uj / mean_uj;
		if (!(rel_rms > 0.004 && rel_rms < 0.008))
			fail_msg("%s: residual rms %.4g uJ is %.3g%% of the mean %.4g uJ", what,
				 res.residual_rms_uj, 100.0 * rel_rms, mean_uj);
		ve_calib_window_free(w);
	}
	print_message("noisy recovery: worst relative error %.4f%% (limit 2%%)\n", 100.0 * worst_all);
}

/*
 * How the window's length sets the scatter: the same 40 seeds with ±1 %
 * noise, fitted over 60 and over 600 periods.  Prints each weight's RMS
 * relative error at both lengths (the figure calib.h quotes); the longer
 * window must scatter less for every weight.
 */
static void test_window_length_scatter(void **state)
{
	static struct row rows[MAX_ROWS];
	static const size_t lens[2] = { 60, 600 };
	double sq[2][4] = { { 0 } };
	const unsigned int n_seeds = 40;

	(void)state;
	for (int l = 0; l < 2; l++)
		for (unsigned int seed = 1; seed <= n_seeds; seed++) {
			struct ve_calib_window *w = make_window(1000 + seed, &host, 3, lens[l], lens[l],
								0.01, false, rows);
			struct ve_calib_result res;
			int err = ve_calib_fit(w, VE_CALIB_MAX_CONDITION, &res);

			if (err != 0)
				fail_msg("%zu periods, seed %u: ve_calib_fit returned %d", lens[l], seed, err);
			for (unsigned int e = 0; e < 3; e++)
				sq[l][e] += pow(rel_err(res.weight_pj[e], host.weight_pj[e]), 2) / n_seeds;
			sq[l][3] += pow(rel_err(res.idle_power_uw, host.idle_uw), 2) / n_seeds;
			ve_calib_window_free(w);
		}
	for (int l = 0; l < 2; l++)
		print_message("scatter over %u seeds, %zu periods, +-1%% noise: RMS relative error "
			      "%.2f%% %.2f%% %.2f%% (weights), %.2f%% (idle)\n", n_seeds, lens[l],
			      100 * sqrt(sq[l][0]), 100 * sqrt(sq[l][1]), 100 * sqrt(sq[l][2]),
			      100 * sqrt(sq[l][3]));
	for (unsigned int e = 0; e < 4; e++)
		if (!(sq[1][e] < sq[0][e]))
			fail_msg("weight %u: 600 periods scatter no less than 60", e);
}

/* ---- refusal on collinear columns --------------------------------------- */

enum spoil {
	SPOIL_PROPORTIONAL, /* instructions = 2 × cycles exactly */
	SPOIL_NEARLY,       /* ... plus a few counts of jitter */
	SPOIL_ZERO_COLUMN,  /* cache misses never counted */
	SPOIL_NONE,         /* healthy; refused only by max_condition 1 */
};

static void test_collinear_refused(void **state)
{
	static const struct {
		const char *name;
		enum spoil spoil;
		double max_condition;
		double min_reported; /* condition must be at least this */
		bool finite;         /* and finite */
	} cases[] = {
		{ "proportional", SPOIL_PROPORTIONAL, VE_CALIB_MAX_CONDITION, 1e8, false },
		{ "nearly proportional", SPOIL_NEARLY, VE_CALIB_MAX_CONDITION, 1e7, true },
		{ "zero column", SPOIL_ZERO_COLUMN, VE_CALIB_MAX_CONDITION, HUGE_VAL, false },
		{ "healthy, max_condition 1", SPOIL_NONE, 1.0, 1.0, true },
	};
	static struct row rows[60];

	(void)state;
	for (size_t c = 0; c < sizeof(cases) / sizeof(cases[0]); c++) {
		struct ve_calib_window *w = ve_calib_window_new(3, 60);
		struct rng r = { 77 };
		struct ve_calib_result res, sentinel;
		int err;

		assert_non_null(w);
		for (size_t i = 0; i < 60; i++) {
			gen_row(&r, &host, 3, 0.01, false, &rows[i]);
			switch (cases[c].spoil) {
			case SPOIL_PROPORTIONAL:
				rows[i].ev[1] = 2 * rows[i].ev[0];
				break;
			case SPOIL_NEARLY:
				/*
				 * 0..2000 counts on ~1e9: relative ~1e-6, far
				 * below anything a load could vary, yet enough to
				 * keep the Gram matrix's smallest eigenvalue
				 * (~1e-13) above its rounding (~1e-15): the
				 * condition comes out finite and large.
				 */
				rows[i].ev[1] = 2 * rows[i].ev[0] + rng_next(&r) % 2001;
				break;
			case SPOIL_ZERO_COLUMN:
				rows[i].ev[2] = 0;
				break;
			case SPOIL_NONE:
				break;
			}
		}
		push_rows(w, rows, 60);

		memset(&res, 0x5a, sizeof(res));
		memcpy(&sentinel, &res, sizeof(res));
		err = ve_calib_fit(w, cases[c].max_condition, &res);
		print_message("%s: err %d, condition %g\n", cases[c].name, err, res.condition);
		if (err != -EDOM)
			fail_msg("%s: ve_calib_fit returned %d, want -EDOM", cases[c].name, err);
		if (!(res.condition >= cases[c].min_reported && res.condition > cases[c].max_condition))
			fail_msg("%s: reported condition %g, want >= %g and > %g", cases[c].name,
				 res.condition, cases[c].min_reported, cases[c].max_condition);
		if (cases[c].finite && !isfinite(res.condition))
			fail_msg("%s: condition %g, want finite", cases[c].name, res.condition);
		/* Only condition is written on -EDOM. */
		res.condition = sentinel.condition;
		assert_memory_equal(&res, &sentinel, sizeof(res));
		ve_calib_window_free(w);
	}
}

/* ---- ring buffer ------------------------------------------------------- */

/*
 * 40 rows of garbage (energy unrelated to events), then 60 clean rows into
 * a 60-row window.  Halfway the garbage still spoils the fit, which shows
 * that it would matter; once 60 clean rows are in, the oldest 40 must be
 * gone and the fit exact again.
 */
static void test_ring_drops_oldest(void **state)
{
	struct ve_calib_window *w = ve_calib_window_new(3, 60);
	struct rng r = { 2024 };
	struct row garbage, clean[60];
	struct ve_calib_result res;
	double worst = 0.0;

	(void)state;
	assert_non_null(w);
	for (size_t i = 0; i < 40; i++) {
		gen_row(&r, &host, 3, 0.0, false, &garbage);
		garbage.measured_uj = rng_next(&r) % 50000000u;
		push_rows(w, &garbage, 1);
	}
	for (size_t i = 0; i < 60; i++)
		gen_row(&r, &host, 3, 0.0, true, &clean[i]);

	push_rows(w, clean, 20);
	assert_int_equal(ve_calib_window_len(w), 60);
	assert_int_equal(ve_calib_fit(w, VE_CALIB_MAX_CONDITION, &res), 0);
	worst = worst_error(&res, &host, 3, "20 garbage + 40 clean");
	if (!(worst > 0.1))
		fail_msg("garbage rows had no effect (worst error %g): test proves nothing", worst);

	push_rows(w, clean + 20, 40);
	assert_int_equal(ve_calib_window_len(w), 60);
	assert_true(check_fit(ve_calib_fit(w, VE_CALIB_MAX_CONDITION, &res), &res, &host, 3, 60,
			      1e-6, "after wrap", NULL));
	ve_calib_window_free(w);
}

/* ---- non-negativity ---------------------------------------------------- */

/*
 * Plain least squares on the scaled normal equations over the columns
 * (events, then period) whose bit is set in @cols; the others get weight 0.
 * The reference for what an unconstrained fit would say.  Normal equations
 * are good enough here: the design is well conditioned (condition ~7,
 * squared ~50), so they lose two digits of sixteen.
 */
static void ols_reference(const struct row *rows, size_t n_rows, unsigned int n, unsigned int cols,
			  double *ret_w)
{
	size_t idx[VE_MAX_EVENTS + 1], k = 0;
	double g[(VE_MAX_EVENTS + 1) * (VE_MAX_EVENTS + 1)] = { 0.0 };
	double rhs[VE_MAX_EVENTS + 1] = { 0.0 }, norm[VE_MAX_EVENTS + 1] = { 0.0 };
	size_t perm[VE_MAX_EVENTS + 1];

	for (size_t j = 0; j <= n; j++)
		if (cols & (1u << j))
			idx[k++] = j;
	for (size_t i = 0; i < n_rows; i++)
		for (size_t j = 0; j < k; j++) {
			double x = idx[j] < n ? (double)rows[i].ev[idx[j]] : (double)rows[i].period_us;

			norm[j] += x * x;
		}
	for (size_t j = 0; j < k; j++)
		norm[j] = sqrt(norm[j]);
	for (size_t i = 0; i < n_rows; i++) {
		double x[VE_MAX_EVENTS + 1];

		for (size_t j = 0; j < k; j++)
			x[j] = (idx[j] < n ? (double)rows[i].ev[idx[j]] : (double)rows[i].period_us) /
			       norm[j];
		for (size_t a = 0; a < k; a++) {
			rhs[a] += x[a] * (double)rows[i].measured_uj;
			for (size_t b = 0; b < k; b++)
				g[a * k + b] += x[a] * x[b];
		}
	}
	assert_int_equal(ve_lu_factor(g, k, perm, 1e-12), 0);
	ve_lu_solve(g, k, perm, rhs);
	for (size_t j = 0; j <= n; j++)
		ret_w[j] = 0.0;
	for (size_t j = 0; j < k; j++)
		ret_w[idx[j]] = rhs[j] * 1e6 / norm[j];
}

static double rms_of(const struct row *rows, size_t n_rows, unsigned int n, const double *w)
{
	double ss = 0.0;

	for (size_t i = 0; i < n_rows; i++) {
		double fit = w[n] * (double)rows[i].period_us;

		for (unsigned int e = 0; e < n; e++)
			fit += w[e] * (double)rows[i].ev[e];
		ss += pow((double)rows[i].measured_uj - fit / 1e6, 2.0);
	}
	return sqrt(ss / (double)n_rows);
}

/*
 * Cache misses cost nothing in this trace.  With noise, unconstrained
 * least squares puts their weight below zero about half the time; the
 * seed below is one such, at -99 pJ (checked first, so a generator change
 * cannot quietly turn this into a test of nothing).  The NNLS fit must
 * hold it at exactly 0 and refit the others, not merely clip: on that
 * face the optimum is least squares without the miss column, which the
 * fit must match, and the others stay within 2% of the truth.
 */
#define ZERO_WEIGHT_SEED 5

static void test_zero_weight_nonnegative(void **state)
{
	struct truth t = host;
	static struct row rows[MAX_ROWS];
	struct ve_calib_window *w;
	struct ve_calib_result res;
	double ols[VE_MAX_EVENTS + 1], face[VE_MAX_EVENTS + 1], nnls[VE_MAX_EVENTS + 1];
	double rms_ols, rms_nnls, worst = 0.0;

	(void)state;
	t.weight_pj[2] = 0.0;
	w = make_window(ZERO_WEIGHT_SEED, &t, 3, MAX_ROWS, MAX_ROWS, 0.01, false, rows);
	ols_reference(rows, MAX_ROWS, 3, 0xf, ols);
	ols_reference(rows, MAX_ROWS, 3, 0xb, face);
	print_message("unconstrained: %.6g %.6g %.6g pJ, idle %.6g uW\n", ols[0], ols[1], ols[2],
		      ols[3]);
	if (!(ols[2] < 0.0))
		fail_msg("precondition: unconstrained cache-miss weight %g is not negative; "
			 "choose another ZERO_WEIGHT_SEED", ols[2]);

	assert_int_equal(ve_calib_fit(w, VE_CALIB_MAX_CONDITION, &res), 0);
	if (!(res.weight_pj[2] == 0.0))
		fail_msg("cache-miss weight %.17g, want exactly 0 (active constraint)",
			 res.weight_pj[2]);
	for (unsigned int e = 0; e < 3; e++)
		if (!(res.weight_pj[e] >= 0.0))
			fail_msg("weight[%u] = %g < 0", e, res.weight_pj[e]);

	/* worst_error() divides by the truth; skip the zero weight. */
	for (unsigned int e = 0; e < 2; e++) {
		double d = rel_err(res.weight_pj[e], t.weight_pj[e]);

		print_message("weight[%u] %.8g pJ (want %.8g)\n", e, res.weight_pj[e],
			      t.weight_pj[e]);
		worst = fmax(worst, d);
	}
	worst = fmax(worst, rel_err(res.idle_power_uw, t.idle_uw));
	if (!(worst <= 0.02))
		fail_msg("remaining weights off by %.3g%% > 2%%", 100.0 * worst);

	memcpy(nnls, res.weight_pj, 3 * sizeof(double));
	nnls[3] = res.idle_power_uw;
	for (unsigned int j = 0; j < 4; j++) {
		if (!(fabs(nnls[j] - face[j]) <= 1e-9 * fabs(face[j])))
			fail_msg("column %u: NNLS %.17g, least squares without misses %.17g", j,
				 nnls[j], face[j]);
	}
	rms_ols = rms_of(rows, MAX_ROWS, 3, ols);
	rms_nnls = rms_of(rows, MAX_ROWS, 3, nnls);
	if (!(fabs(rms_nnls - res.residual_rms_uj) <= 1e-9 * rms_nnls))
		fail_msg("reported residual %.17g, recomputed %.17g", res.residual_rms_uj, rms_nnls);
	/* A constrained optimum is never better than the unconstrained one. */
	if (!(rms_nnls >= rms_ols * (1.0 - 1e-12)))
		fail_msg("NNLS residual %.10g below unconstrained %.10g", rms_nnls, rms_ols);
	print_message("residual: NNLS %.8g uJ, unconstrained %.8g uJ\n", rms_nnls, rms_ols);
	ve_calib_window_free(w);
}

/*
 * The NNLS optimum by exhaustion: least squares on every subset of columns
 * (2^4 - 1 of them), keep the subsets whose solution is all non-negative,
 * take the one with the smallest residual.  Exponential, but independent
 * of any active-set bookkeeping, which is what it checks.
 */
static void nnls_brute_force(const struct row *rows, size_t n_rows, unsigned int n, double *ret_w)
{
	double best = HUGE_VAL, w[VE_MAX_EVENTS + 1];

	for (unsigned int cols = 1; cols < (1u << (n + 1)); cols++) {
		double rms;
		bool feasible = true;

		ols_reference(rows, n_rows, n, cols, w);
		for (unsigned int j = 0; j <= n; j++)
			feasible = feasible && w[j] >= 0.0;
		if (!feasible)
			continue;
		rms = rms_of(rows, n_rows, n, w);
		if (rms < best) {
			best = rms;
			memcpy(ret_w, w, ((size_t)n + 1) * sizeof(*w));
		}
	}
	assert_true(best < HUGE_VAL);
}

/*
 * Traces where the active set has to change its mind.  The third event
 * costs nothing but follows instructions to within ±5% ("proxy"), so it
 * correlates with the energy about as well as the real drivers do and
 * can be taken into the passive set early, then has to leave once
 * instructions is in and its coefficient turns negative.  Whether it
 * enters depends on the noise: of the 60-row seeds below, 3, 11, 12, 14,
 * 15 and 18 take that path (seen in a build that logged removals; about
 * one seed in four does), 1 and 2 do not.  "misses" is the plain trace
 * with a zero cache-miss weight for comparison.
 */
static void test_nnls_matches_brute_force(void **state)
{
	static const struct {
		bool proxy;
		uint64_t seed;
		size_t rows;
	} cases[] = {
		{ true, 1, 60 },   { true, 2, 60 },   { true, 3, 60 },  { true, 11, 60 },
		{ true, 12, 60 },  { true, 14, 60 },  { true, 15, 60 }, { true, 18, 60 },
		{ true, 11, 600 }, { false, 5, 600 }, { false, 6, 60 }, { false, 7, 60 },
	};
	static struct row rows[MAX_ROWS];
	struct truth t = host;

	(void)state;
	t.weight_pj[2] = 0.0;
	for (size_t c = 0; c < sizeof(cases) / sizeof(cases[0]); c++) {
		struct ve_calib_window *w = ve_calib_window_new(3, cases[c].rows);
		struct rng r = { cases[c].seed };
		struct ve_calib_result res;
		double want[VE_MAX_EVENTS + 1], got[VE_MAX_EVENTS + 1];
		const char *name = cases[c].proxy ? "proxy" : "misses";

		assert_non_null(w);
		for (size_t i = 0; i < cases[c].rows; i++) {
			gen_row(&r, &t, 3, 0.01, false, &rows[i]);
			/* Weight 0: overwriting the column leaves the energy right. */
			if (cases[c].proxy)
				rows[i].ev[2] = (uint64_t)llround((double)rows[i].ev[1] *
								  rng_uniform(&r, 0.95, 1.05));
		}
		push_rows(w, rows, cases[c].rows);
		nnls_brute_force(rows, cases[c].rows, 3, want);
		assert_int_equal(ve_calib_fit(w, VE_CALIB_MAX_CONDITION, &res), 0);
		memcpy(got, res.weight_pj, 3 * sizeof(double));
		got[3] = res.idle_power_uw;
		print_message("%s seed %llu: cond %.3g, fit %.6g %.6g %.6g %.6g, brute force "
			      "%.6g %.6g %.6g %.6g\n",
			      name, (unsigned long long)cases[c].seed, res.condition, got[0], got[1],
			      got[2], got[3], want[0], want[1], want[2], want[3]);
		for (unsigned int j = 0; j < 4; j++) {
			/* Zeros must be exact: they are the active constraints. */
			bool ok = want[j] == 0.0 ? got[j] == 0.0
						 : fabs(got[j] - want[j]) <= 1e-8 * want[j];

			if (!ok)
				fail_msg("%s seed %llu column %u: fit %.17g, brute force %.17g", name,
					 (unsigned long long)cases[c].seed, j, got[j], want[j]);
		}
		ve_calib_window_free(w);
	}
}

/* ---- apply --------------------------------------------------------------- */

static void test_apply(void **state)
{
	static const struct {
		const char *name;
		unsigned int model_events;
		double weight1; /* replaces weight_pj[1] of the result */
		double idle_uw;
		int want;
		uint64_t want_idle_uw;
	} cases[] = {
		{ "ok", 3, 150.5, 20e6 + 0.4, 0, 20000000 },
		{ "ok, rounds up", 3, 150.5, 20e6 + 0.6, 0, 20000001 },
		{ "ok, zero", 3, 0.0, 0.0, 0, 0 },
		{ "mismatched n_events", 2, 150.5, 20e6, -EINVAL, 0 },
		{ "NaN weight", 3, (double)NAN, 20e6, -EINVAL, 0 },
		{ "infinite weight", 3, HUGE_VAL, 20e6, -EINVAL, 0 },
		{ "negative weight", 3, -1e-9, 20e6, -EINVAL, 0 },
		{ "NaN idle", 3, 150.5, (double)NAN, -EINVAL, 0 },
		{ "negative idle", 3, 150.5, -1.0, -EINVAL, 0 },
		{ "idle beyond uint64", 3, 150.5, 0x1p64, -EINVAL, 0 },
	};

	(void)state;
	for (size_t c = 0; c < sizeof(cases) / sizeof(cases[0]); c++) {
		struct ve_calib_result res = {
			.n_events = 3,
			.weight_pj = { 300.25, 0.0, 15000.0 },
			.condition = 8.0,
			.rows = 60,
		};
		struct ve_cpu_model m = {
			.n_events = cases[c].model_events,
			.weight_pj = { 1.0, 2.0, 3.0, 4.0 },
			.idle_power_uw = 7,
		};
		struct ve_cpu_model before = m;
		int err;

		res.weight_pj[1] = cases[c].weight1;
		res.idle_power_uw = cases[c].idle_uw;
		err = ve_calib_apply(&res, &m);
		if (err != cases[c].want)
			fail_msg("%s: ve_calib_apply returned %d, want %d", cases[c].name, err,
				 cases[c].want);
		if (err != 0) {
			assert_memory_equal(&m, &before, sizeof(m));
			continue;
		}
		for (unsigned int e = 0; e < 3; e++)
			if (memcmp(&m.weight_pj[e], &res.weight_pj[e], sizeof(double)) != 0)
				fail_msg("%s: weight[%u] %.17g, want %.17g", cases[c].name, e,
					 m.weight_pj[e], res.weight_pj[e]);
		assert_int_equal(m.n_events, 3);
		assert_int_equal(m.idle_power_uw, cases[c].want_idle_uw);
	}
	assert_int_equal(ve_calib_apply(NULL, &(struct ve_cpu_model){ .n_events = 3 }), -EINVAL);
	assert_int_equal(ve_calib_apply(&(struct ve_calib_result){ .n_events = 3 }, NULL), -EINVAL);
}

/* A real fit applied end to end. */
static void test_fit_then_apply(void **state)
{
	struct row rows[60];
	struct ve_calib_window *w = make_window(5, &host, 3, 60, 60, 0.0, true, rows);
	struct ve_calib_result res;
	struct ve_cpu_model m = { .n_events = 3 };

	(void)state;
	assert_int_equal(ve_calib_fit(w, VE_CALIB_MAX_CONDITION, &res), 0);
	assert_int_equal(ve_calib_apply(&res, &m), 0);
	for (unsigned int e = 0; e < 3; e++)
		if (!(rel_err(m.weight_pj[e], host.weight_pj[e]) < 1e-6))
			fail_msg("model weight[%u] %.10g, want %.10g", e, m.weight_pj[e],
				 host.weight_pj[e]);
	assert_int_equal(m.idle_power_uw, 20000000);
	ve_calib_window_free(w);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_window_new_args),
		cmocka_unit_test(test_fit_args),
		cmocka_unit_test(test_push_period_zero),
		cmocka_unit_test(test_too_few_rows),
		cmocka_unit_test(test_exact_recovery),
		cmocka_unit_test(test_noisy_recovery),
		cmocka_unit_test(test_window_length_scatter),
		cmocka_unit_test(test_collinear_refused),
		cmocka_unit_test(test_ring_drops_oldest),
		cmocka_unit_test(test_zero_weight_nonnegative),
		cmocka_unit_test(test_nnls_matches_brute_force),
		cmocka_unit_test(test_apply),
		cmocka_unit_test(test_fit_then_apply),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
