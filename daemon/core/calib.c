/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * calib.c: non-negative least squares fit of event weights over a window.
 *
 * Numerics, in order:
 *
 *  1. Columns (event counts, period_us) are scaled to unit 2-norm.  Raw
 *     columns differ by four or more orders of magnitude (cycles ~1e9 per
 *     100 ms, period_us ~1e5, cache misses ~1e6), and any tolerance or
 *     condition number is only meaningful once that artificial spread is
 *     gone.  The condition reported is therefore that of the scaled design,
 *     which measures real collinearity, not a choice of units.
 *
 *  2. The scaled design is reduced row by row with Givens rotations to a
 *     k×k upper triangle R and c = Q^T b (k = n_events + 1 <= 9).  Since
 *     ||A y - b||^2 = ||R y - c||^2 + const for every y, the NNLS problem on
 *     R is exactly the one on A, and it costs no memory proportional to the
 *     window: nothing here allocates beyond the window itself.  Orthogonal
 *     reduction keeps the error at cond(A) eps, where normal equations
 *     would give cond(A)^2 eps; at the 1e6 refusal threshold that is the
 *     difference between 1e-10 and 1e-4.
 *
 *  3. The condition number is sqrt(lambda_max / lambda_min) of R^T R
 *     (= A^T A, the Gram matrix, whose largest eigenvalue is about 1 after
 *     scaling), eigenvalues by Jacobi.  Forming R^T R rounds at ~1e-16, so
 *     lambda_min is good to ~1e-15 absolute: the number is trustworthy to
 *     about 3e7, well past the 1e6 default threshold, and anything worse
 *     is refused anyway.  The fit refuses before solving, so the NNLS
 *     below only ever sees a design of full rank.
 *
 *  4. Lawson–Hanson active set on (R, c).  Each passive-set subproblem is a
 *     k×p least squares solved by Householder QR of the selected columns of
 *     R, again orthogonal, again no squaring of the condition.
 *
 *  5. Weights are unscaled, and the residual is computed against the raw
 *     rows, so residual_rms_uj is what the daemon actually mispredicts.
 */
#include <errno.h>
#include <float.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "calib.h"
#include "linalg.h"

/* Columns: the events, then period_us for the idle power. */
#define MAX_COLS (VE_MAX_EVENTS + 1)

/*
 * Below this, a^2 + b^2 of doubles of the size of sqrt(a^2 + b^2) would
 * be subnormal and lose digits.  Every quantity squared here is an entry of
 * the unit-norm scaled design or of R, so at most about 1 and never
 * overflowing; only this underflow end needs hypot(), which is several
 * times slower than sqrt and would otherwise be half the cost of a fit.
 */
#define SQRT_SAFE_MIN 0x1p-480

static double pythag(double a, double b)
{
	double h = sqrt(a * a + b * b);

	return h >= SQRT_SAFE_MIN ? h : hypot(a, b);
}

struct ve_calib_window {
	unsigned int n_events;
	size_t capacity;
	size_t head; /* slot of the oldest period */
	size_t len;
	uint64_t *events; /* capacity × n_events, row per slot */
	uint64_t *period_us;
	uint64_t *measured_uj;
};

struct ve_calib_window *ve_calib_window_new(unsigned int n_events, size_t capacity)
{
	struct ve_calib_window *w;

	if (n_events < 1 || n_events > VE_MAX_EVENTS || capacity < 1)
		return NULL;
	if (capacity > SIZE_MAX / sizeof(uint64_t) / n_events)
		return NULL;

	w = calloc(1, sizeof(*w));
	if (!w)
		return NULL;
	w->n_events = n_events;
	w->capacity = capacity;
	w->events = calloc(capacity * n_events, sizeof(*w->events));
	w->period_us = calloc(capacity, sizeof(*w->period_us));
	w->measured_uj = calloc(capacity, sizeof(*w->measured_uj));
	if (!w->events || !w->period_us || !w->measured_uj) {
		ve_calib_window_free(w);
		return NULL;
	}
	return w;
}

void ve_calib_window_free(struct ve_calib_window *w)
{
	if (!w)
		return;
	free(w->events);
	free(w->period_us);
	free(w->measured_uj);
	free(w);
}

size_t ve_calib_window_len(const struct ve_calib_window *w)
{
	return w ? w->len : 0;
}

int ve_calib_window_push(struct ve_calib_window *w, const uint64_t *events, uint64_t period_us,
			 uint64_t measured_uj)
{
	size_t slot;

	if (!w || !events || period_us == 0)
		return -EINVAL;

	if (w->len < w->capacity) {
		slot = (w->head + w->len) % w->capacity;
		w->len++;
	} else {
		/* Full: the oldest slot is reused and the next one becomes oldest. */
		slot = w->head;
		w->head = (w->head + 1) % w->capacity;
	}
	memcpy(w->events + slot * w->n_events, events, w->n_events * sizeof(*events));
	w->period_us[slot] = period_us;
	w->measured_uj[slot] = measured_uj;
	return 0;
}

/* Raw value of column @j in slot @slot (j == n_events: period_us). */
static double raw(const struct ve_calib_window *w, size_t slot, size_t j)
{
	if (j < w->n_events)
		return (double)w->events[slot * w->n_events + j];
	return (double)w->period_us[slot];
}

/*
 * Fold one scaled row (v, beta) into the triangle R (k×k, row-major) and
 * c.  Givens on (R_jj, v_j) zeroes v_j.  What is left of beta is the
 * row's share of the LS residual; it is not kept because the residual is
 * recomputed against the raw rows after unscaling.
 */
static void givens_row(double *r, double *c, size_t k, double *v, double beta)
{
	for (size_t j = 0; j < k; j++) {
		double h, cs, sn, cj;

		if (v[j] == 0.0)
			continue;
		h = pythag(r[j * k + j], v[j]);
		cs = r[j * k + j] / h;
		sn = v[j] / h;
		r[j * k + j] = h;
		v[j] = 0.0;
		for (size_t l = j + 1; l < k; l++) {
			double rl = r[j * k + l];

			r[j * k + l] = cs * rl + sn * v[l];
			v[l] = -sn * rl + cs * v[l];
		}
		cj = c[j];
		c[j] = cs * cj + sn * beta;
		beta = -sn * cj + cs * beta;
	}
}

/*
 * Unconstrained least squares on the columns @cols[0..p) of R (k×k):
 * z = argmin ||R[:, cols] z - c||.  Householder QR of the k×p selection.
 * Returns -EDOM on a zero diagonal; that cannot happen once the condition
 * check passed (any subset of columns is at least as well conditioned as
 * all of them), but a division by zero must not be one assumption away.
 */
static int passive_ls(const double *r, const double *c, size_t k, const size_t *cols, size_t p,
		      double *z)
{
	double a[MAX_COLS * MAX_COLS], b[MAX_COLS];

	for (size_t i = 0; i < k; i++) {
		for (size_t j = 0; j < p; j++)
			a[i * p + j] = r[i * k + cols[j]];
		b[i] = c[i];
	}

	for (size_t j = 0; j < p; j++) {
		double norm = 0.0, alpha, v0, half_vtv, s;

		for (size_t i = j; i < k; i++)
			norm = pythag(norm, a[i * p + j]);
		if (norm == 0.0)
			return -EDOM;

		/*
		 * Reflect x = a[j.., j] onto alpha e_1 with alpha = -sign(a_jj)
		 * ||x||, so that v_1 = a_jj - alpha adds magnitudes and never
		 * cancels.  v = (v0, a[j+1.., j]) is kept in place below the
		 * diagonal; v^T v = -2 alpha v0, and H y = y - v (v^T y) /
		 * (v^T v / 2).
		 */
		alpha = a[j * p + j] >= 0.0 ? -norm : norm;
		v0 = a[j * p + j] - alpha;
		half_vtv = -alpha * v0;
		a[j * p + j] = alpha;
		for (size_t l = j + 1; l < p; l++) {
			s = v0 * a[j * p + l];
			for (size_t i = j + 1; i < k; i++)
				s += a[i * p + j] * a[i * p + l];
			s /= half_vtv;
			a[j * p + l] -= s * v0;
			for (size_t i = j + 1; i < k; i++)
				a[i * p + l] -= s * a[i * p + j];
		}
		s = v0 * b[j];
		for (size_t i = j + 1; i < k; i++)
			s += a[i * p + j] * b[i];
		s /= half_vtv;
		b[j] -= s * v0;
		for (size_t i = j + 1; i < k; i++)
			b[i] -= s * a[i * p + j];
	}

	for (size_t j = p; j-- > 0;) {
		double s = b[j];

		for (size_t l = j + 1; l < p; l++)
			s -= a[j * p + l] * z[l];
		z[j] = s / a[j * p + j];
	}
	return 0;
}

/* Gradient of -1/2 ||R y - c||^2: w = R^T (c - R y). */
static void gradient(const double *r, const double *c, size_t k, const double *y, double *w)
{
	double res[MAX_COLS];

	for (size_t i = 0; i < k; i++) {
		double s = c[i];

		for (size_t j = i; j < k; j++)
			s -= r[i * k + j] * y[j];
		res[i] = s;
	}
	for (size_t j = 0; j < k; j++) {
		double s = 0.0;

		for (size_t i = 0; i <= j; i++)
			s += r[i * k + j] * res[i];
		w[j] = s;
	}
}

/*
 * Lawson–Hanson, "Solving Least Squares Problems" (1974), chapter 23,
 * algorithm NNLS, on the k×k triangle.  @tol is the gradient level treated
 * as zero; with unit-norm columns |w_j| <= ||c - R y||, so a tolerance
 * relative to ||b|| is scale-free.
 */
static int nnls(const double *r, const double *c, size_t k, double tol, double *y)
{
	int passive[MAX_COLS] = { 0 };
	int banned[MAX_COLS] = { 0 };
	double w[MAX_COLS], z[MAX_COLS], zp[MAX_COLS];
	size_t cols[MAX_COLS];
	int err;

	for (size_t j = 0; j < k; j++)
		y[j] = 0.0;

	/*
	 * Each outer step adds one column; the inner loop removes at least
	 * one per pass.  3k outer steps is Lawson and Hanson's own bound in
	 * practice; 10k is generous and still guarantees termination.
	 */
	for (size_t outer = 0; outer < 10 * k; outer++) {
		size_t t = k;
		double best = tol;

		gradient(r, c, k, y, w);
		for (size_t j = 0; j < k; j++) {
			if (!passive[j] && !banned[j] && w[j] > best) {
				best = w[j];
				t = j;
			}
		}
		if (t == k)
			return 0; /* KKT: no inactive column would lower the residual. */

		passive[t] = 1;
		memset(banned, 0, sizeof(banned));

		for (size_t inner = 0;; inner++) {
			double alpha = 2.0;
			size_t p = 0;

			if (inner > k)
				return -EDOM;
			for (size_t j = 0; j < k; j++)
				if (passive[j])
					cols[p++] = j;
			err = passive_ls(r, c, k, cols, p, zp);
			if (err < 0)
				return err;
			for (size_t j = 0; j < k; j++)
				z[j] = 0.0;
			for (size_t i = 0; i < p; i++)
				z[cols[i]] = zp[i];

			/*
			 * The column just added had a positive gradient, so in
			 * exact arithmetic its coefficient comes out positive.
			 * When rounding says otherwise, the gradient was noise:
			 * take it back out and bar it until something else
			 * changes, instead of cycling on it.
			 */
			if (inner == 0 && z[t] <= 0.0) {
				passive[t] = 0;
				banned[t] = 1;
				break;
			}

			for (size_t j = 0; j < k; j++) {
				if (passive[j] && z[j] <= 0.0) {
					double a = y[j] / (y[j] - z[j]);

					if (a < alpha)
						alpha = a;
				}
			}
			if (alpha > 1.0) {
				memcpy(y, z, k * sizeof(*y));
				break;
			}

			/*
			 * Step from y towards z only as far as the first
			 * coefficient reaching zero, then drop every one that
			 * did (<= 0 catches the ones rounding put slightly
			 * below; they are exactly zero in exact arithmetic).
			 */
			for (size_t j = 0; j < k; j++) {
				y[j] += alpha * (z[j] - y[j]);
				if (passive[j] && y[j] <= 0.0) {
					passive[j] = 0;
					y[j] = 0.0;
				}
			}
		}
	}
	return -EDOM;
}

int ve_calib_fit(const struct ve_calib_window *w, double max_condition, struct ve_calib_result *ret)
{
	double norm[MAX_COLS] = { 0.0 }, scale[MAX_COLS] = { 0.0 };
	double r[MAX_COLS * MAX_COLS] = { 0.0 };
	double c[MAX_COLS] = { 0.0 };
	double g[MAX_COLS * MAX_COLS], eig[MAX_COLS], y[MAX_COLS] = { 0.0 };
	double bnorm = 0.0, lmin, lmax, cond, ss = 0.0;
	struct ve_calib_result out = { 0 };
	size_t k, m;
	int err;

	if (!w || !ret || isnan(max_condition))
		return -EINVAL;

	k = (size_t)w->n_events + 1;
	m = w->len;
	if (m < 2 * k)
		return -EAGAIN;

	/*
	 * Plain sums of squares: counts are integers below 2^64, so a square
	 * is at most 2^128 and a sum would need 2^896 rows to overflow; a
	 * nonzero one is at least 1, so nothing underflows either.
	 */
	for (size_t i = 0; i < m; i++) {
		size_t slot = (w->head + i) % w->capacity;

		for (size_t j = 0; j < k; j++) {
			double x = raw(w, slot, j);

			norm[j] += x * x;
		}
		bnorm += (double)w->measured_uj[slot] * (double)w->measured_uj[slot];
	}
	bnorm = sqrt(bnorm);

	/*
	 * An event that never counted in the window has no information in
	 * it; its weight is undetermined, which is infinite condition.
	 */
	for (size_t j = 0; j < k; j++) {
		if (norm[j] == 0.0) {
			ret->condition = HUGE_VAL;
			return -EDOM;
		}
		/*
		 * Multiplying by a reciprocal rounds twice, so the columns
		 * come out unit norm only to an ulp or two; harmless, because
		 * unscaling below uses the very same factor, and any scaling
		 * applied consistently gives the same weights.
		 */
		norm[j] = sqrt(norm[j]);
		scale[j] = 1.0 / norm[j];
	}

	for (size_t i = 0; i < m; i++) {
		size_t slot = (w->head + i) % w->capacity;
		double v[MAX_COLS];

		for (size_t j = 0; j < k; j++)
			v[j] = raw(w, slot, j) * scale[j];
		givens_row(r, c, k, v, (double)w->measured_uj[slot]);
	}

	/* Gram matrix of the scaled design, G = R^T R (= A^T A). */
	for (size_t i = 0; i < k; i++) {
		for (size_t j = i; j < k; j++) {
			double s = 0.0;

			for (size_t l = 0; l <= i; l++)
				s += r[l * k + i] * r[l * k + j];
			g[i * k + j] = s;
			g[j * k + i] = s;
		}
	}
	err = ve_sym_eigenvalues(g, k, eig);
	if (err < 0) {
		ret->condition = HUGE_VAL;
		return -EDOM;
	}
	lmin = lmax = eig[0];
	for (size_t j = 1; j < k; j++) {
		if (eig[j] < lmin)
			lmin = eig[j];
		if (eig[j] > lmax)
			lmax = eig[j];
	}
	/*
	 * Exactly dependent columns give lambda_min at rounding level, of
	 * either sign; a non-positive one means singular to working
	 * precision and is reported as infinite rather than as a NaN or a
	 * random 1e8.
	 */
	cond = lmin > 0.0 ? sqrt(lmax / lmin) : HUGE_VAL; /* HUGE_VAL: INFINITY is a float */
	if (!(cond <= max_condition)) {
		ret->condition = cond;
		return -EDOM;
	}

	/*
	 * Gradient tolerance: a few ulps of ||b|| per column, i.e. below
	 * anything the data could resolve.  b == 0 gives tol 0 and the
	 * trivial y = 0 at once.
	 */
	err = nnls(r, c, k, 16.0 * (double)k * DBL_EPSILON * bnorm, y);
	if (err < 0) {
		ret->condition = cond;
		return err;
	}

	/*
	 * Unscale: measured ≈ Σ y_j scale_j col_j and the model has
	 * weight_j × col_j / 1e6, so weight_j = y_j × 1e6 × scale_j.
	 */
	out.n_events = w->n_events;
	out.condition = cond;
	out.rows = m;
	for (size_t j = 0; j < w->n_events; j++)
		out.weight_pj[j] = y[j] * 1e6 * scale[j];
	out.idle_power_uw = y[w->n_events] * 1e6 * scale[w->n_events];

	for (size_t i = 0; i < m; i++) {
		size_t slot = (w->head + i) % w->capacity;
		double fit = out.idle_power_uw * raw(w, slot, w->n_events), d;

		for (size_t j = 0; j < w->n_events; j++)
			fit += out.weight_pj[j] * raw(w, slot, j);
		d = (double)w->measured_uj[slot] - fit / 1e6;
		ss += d * d;
	}
	out.residual_rms_uj = sqrt(ss / (double)m);

	*ret = out;
	return 0;
}

int ve_calib_apply(const struct ve_calib_result *r, struct ve_cpu_model *m)
{
	if (!r || !m || r->n_events != m->n_events || r->n_events > VE_MAX_EVENTS)
		return -EINVAL;
	for (unsigned int e = 0; e < r->n_events; e++)
		if (!isfinite(r->weight_pj[e]) || r->weight_pj[e] < 0.0)
			return -EINVAL;
	/* 0x1p64 is the first double a uint64_t cannot hold. */
	if (!isfinite(r->idle_power_uw) || r->idle_power_uw < 0.0 || r->idle_power_uw >= 0x1p64)
		return -EINVAL;

	for (unsigned int e = 0; e < r->n_events; e++)
		m->weight_pj[e] = r->weight_pj[e];
	/*
	 * Round to nearest: the fit is a double, the model keeps whole µW.
	 * llround() covers [0, 2^63); doubles from 2^53 up are integers
	 * already, so the plain conversion above that is exact.
	 */
	if (r->idle_power_uw < 0x1p63)
		m->idle_power_uw = (uint64_t)llround(r->idle_power_uw);
	else
		m->idle_power_uw = (uint64_t)r->idle_power_uw;
	return 0;
}
