/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * linalg.h: the small dense solves the core needs (service flows in
 * redist.c, least squares in calib.c).  Matrices are row-major doubles,
 * n at most a few hundred; nothing here allocates.
 */
#pragma once

#include <stddef.h>

/*
 * LU factorisation with partial pivoting, in place: @a (n×n) becomes L and U,
 * @perm (n entries) the row swaps in the order they were made (perm[k] is
 * the row exchanged with row k at step k), opaque to callers beyond passing
 * it to ve_lu_solve().  Returns 0, or -EDOM when a pivot is below @tiny times
 * the largest entry of its column as it stands at that step (singular to
 * working precision) or the input is not finite; @a is then garbage.
 */
int ve_lu_factor(double *a, size_t n, size_t *perm, double tiny);

/* Solve A x = b with the factors from ve_lu_factor(); @b is overwritten by x. */
void ve_lu_solve(const double *lu, size_t n, const size_t *perm, double *b);

/*
 * Eigenvalues of the symmetric n×n matrix @a (cyclic Jacobi), returned in
 * @ret_eig in no particular order.  @a is destroyed.  Returns 0, or -EDOM
 * if it did not converge (never for finite input in practice).
 */
int ve_sym_eigenvalues(double *a, size_t n, double *ret_eig);
