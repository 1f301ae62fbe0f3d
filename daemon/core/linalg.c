/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * linalg.c: LU with partial pivoting and cyclic Jacobi eigenvalues.
 *
 * The permutation is kept in interchange form (LAPACK's ipiv): perm[k] is
 * the row that was swapped with row k at step k.  That lets ve_lu_solve()
 * permute b in place with n swaps instead of needing a scratch vector,
 * which matters because nothing here may allocate.
 */
#include <errno.h>
#include <float.h>
#include <math.h>

#include "linalg.h"

static void swap_rows(double *a, size_t n, size_t i, size_t j)
{
	double *ri = a + i * n, *rj = a + j * n;

	for (size_t c = 0; c < n; c++) {
		double t = ri[c];

		ri[c] = rj[c];
		rj[c] = t;
	}
}

int ve_lu_factor(double *a, size_t n, size_t *perm, double tiny)
{
	/*
	 * A NaN or infinity above the diagonal of a column would never be
	 * looked at as a pivot yet poison every solve; refuse it up front
	 * (O(n^2) against the O(n^3) elimination).
	 */
	for (size_t i = 0; i < n * n; i++)
		if (!isfinite(a[i]))
			return -EDOM;

	for (size_t k = 0; k < n; k++) {
		size_t p = k;
		double pmax = 0.0, cmax = 0.0, piv;

		/*
		 * The pivot is the largest of the active part of column k; the
		 * yardstick is the largest of the whole column as it stands,
		 * i.e. including the already final U entries above row k.  A
		 * column that cancels to rounding noise below the diagonal is
		 * then caught relative to the magnitudes it started from,
		 * whereas comparing only within the active part would accept
		 * noise as a pivot (it is always its own maximum).
		 */
		for (size_t i = 0; i < n; i++) {
			double v = fabs(a[i * n + k]);

			if (i >= k && v > pmax) {
				pmax = v;
				p = i;
			}
			if (v > cmax)
				cmax = v;
		}
		/* Written with ! so that an all-zero column fails too. */
		if (!(pmax > tiny * cmax) || !(pmax > 0.0))
			return -EDOM;

		perm[k] = p;
		if (p != k)
			swap_rows(a, n, p, k);

		piv = a[k * n + k];
		for (size_t i = k + 1; i < n; i++) {
			double l = a[i * n + k] / piv;

			a[i * n + k] = l;
			if (l == 0.0)
				continue;
			for (size_t c = k + 1; c < n; c++)
				a[i * n + c] -= l * a[k * n + c];
		}
	}
	return 0;
}

void ve_lu_solve(const double *lu, size_t n, const size_t *perm, double *b)
{
	/* Same interchanges, same order as during factorisation. */
	for (size_t k = 0; k < n; k++) {
		if (perm[k] != k) {
			double t = b[k];

			b[k] = b[perm[k]];
			b[perm[k]] = t;
		}
	}
	/* L has a unit diagonal that is not stored. */
	for (size_t i = 1; i < n; i++) {
		double s = b[i];

		for (size_t j = 0; j < i; j++)
			s -= lu[i * n + j] * b[j];
		b[i] = s;
	}
	for (size_t i = n; i-- > 0;) {
		double s = b[i];

		for (size_t j = i + 1; j < n; j++)
			s -= lu[i * n + j] * b[j];
		b[i] = s / lu[i * n + i];
	}
}

/*
 * Sweeps before giving up.  Cyclic Jacobi converges quadratically once the
 * off-diagonal mass is small; for n up to a few hundred 6 to 10 sweeps
 * suffice, so 64 is only a guard against looping forever.
 */
#define JACOBI_MAX_SWEEPS 64

/*
 * An off-diagonal a_pq is treated as zero when it is below eps times the
 * geometric mean of |a_pp| and |a_qq|, not eps times ||A||.  With that
 * relative test Jacobi finds the small eigenvalues of a positive definite
 * matrix D H D (H well conditioned, D diagonal) to high relative accuracy
 * (Demmel and Veselić, SIAM J. Matrix Anal. Appl. 13(4), 1992), where an
 * absolute test would stop while they are still wrong in the leading
 * digits; the calibration's condition number hangs on the smallest one.
 * Entries in the underflow range are dropped regardless, so a zero
 * eigenvalue cannot keep rotations going forever.
 */
static int negligible(double apq, double app, double aqq)
{
	double x = fabs(apq);

	return x <= DBL_EPSILON * sqrt(fabs(app)) * sqrt(fabs(aqq)) || x < DBL_MIN / DBL_EPSILON;
}

static void rotate(double *a, size_t n, size_t p, size_t q)
{
	double apq = a[p * n + q];
	double theta = (a[q * n + q] - a[p * n + p]) / (2.0 * apq);
	/*
	 * t = tan(phi) is the smaller root of t^2 + 2 theta t - 1 = 0, i.e.
	 * the rotation by at most pi/4, which is what makes the cyclic
	 * method converge.  hypot() keeps theta^2 from overflowing when
	 * a_pq is tiny against the diagonal difference.
	 */
	double t = copysign(1.0 / (fabs(theta) + hypot(theta, 1.0)), theta);
	double c = 1.0 / sqrt(t * t + 1.0);
	double s = t * c;

	/*
	 * The diagonal update a_pp - t a_pq instead of the expanded
	 * c^2 a_pp - 2cs a_pq + s^2 a_qq: fewer roundings and no
	 * cancellation when a_pp is the small eigenvalue.
	 */
	a[p * n + p] -= t * apq;
	a[q * n + q] += t * apq;
	a[p * n + q] = 0.0;
	a[q * n + p] = 0.0;

	for (size_t r = 0; r < n; r++) {
		double arp = a[r * n + p], arq = a[r * n + q], nrp, nrq;

		if (r == p || r == q)
			continue;
		nrp = c * arp - s * arq;
		nrq = s * arp + c * arq;

		/* Both triangles, so rows and columns read alike later. */
		a[r * n + p] = nrp;
		a[p * n + r] = nrp;
		a[r * n + q] = nrq;
		a[q * n + r] = nrq;
	}
}

int ve_sym_eigenvalues(double *a, size_t n, double *ret_eig)
{
	for (size_t i = 0; i < n * n; i++)
		if (!isfinite(a[i]))
			return -EDOM;

	for (int sweep = 0; sweep < JACOBI_MAX_SWEEPS; sweep++) {
		int rotated = 0;

		for (size_t p = 0; p + 1 < n; p++) {
			for (size_t q = p + 1; q < n; q++) {
				double apq = a[p * n + q];

				if (apq == 0.0)
					continue;
				if (negligible(apq, a[p * n + p], a[q * n + q])) {
					a[p * n + q] = 0.0;
					a[q * n + p] = 0.0;
					continue;
				}
				rotate(a, n, p, q);
				rotated = 1;
			}
		}
		if (!rotated) {
			for (size_t i = 0; i < n; i++)
				ret_eig[i] = a[i * n + i];
			return 0;
		}
	}
	return -EDOM;
}
