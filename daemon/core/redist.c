// SPDX-License-Identifier: GPL-2.0-or-later
/*
 * redist.c: solving the service flows described in redist.h.
 *
 * Services are few (tens), so the flow matrix is dense and solved by LU.
 * The one subtle part is taking out, before the solve, every service whose
 * energy can never reach a client: with those present I − Qᵀ is singular
 * (a closed class has a unit eigenvalue of Q), and a "solution" would
 * be arbitrary.  A service "exits" when it has work for a VM or the host,
 * or for a service that reported no work (which hands its energy to the
 * host); a service exits as well when it serves a service that exits.
 * Services that do not exit form closed classes: trapped.
 */
#include <errno.h>
#include <stdbool.h>
#include <stdlib.h>

#include "linalg.h"
#include "redist.h"

#define NO_SVC UINT32_MAX

struct edge {
	uint32_t svc;     /* service index (not slot) of the server */
	uint32_t client;  /* client slot */
	double frac;      /* share of the server's work */
};

struct svc {
	uint32_t slot;
	uint32_t live;    /* row in the reduced system, or NO_SVC */
	uint64_t work;    /* total work reported */
	bool exits;
};

struct ve_redist {
	bool valid;
	uint32_t *slot_svc;   /* slot -> service index or NO_SVC */
	size_t slot_cap;
	struct svc *svc;
	size_t *perm;         /* LU row swaps, one per live service */
	double *x;            /* energy through each live service */
	size_t n_svc, svc_cap;
	size_t n_live;
	size_t n_trapped;
	struct edge *edges;
	size_t n_edges, edge_cap;
	double *lu;           /* n_live × n_live */
	size_t lu_cap;
};

struct ve_redist *ve_redist_new(void)
{
	return calloc(1, sizeof(struct ve_redist));
}

void ve_redist_free(struct ve_redist *r)
{
	if (!r)
		return;
	free(r->slot_svc);
	free(r->svc);
	free(r->perm);
	free(r->x);
	free(r->edges);
	free(r->lu);
	free(r);
}

size_t ve_redist_trapped(const struct ve_redist *r)
{
	return r->n_trapped;
}

/*
 * realloc() for n elements of sz bytes, or NULL (the old block kept) when
 * that overflows or memory is short.  Callers assign the result to a
 * pointer of the right type, so no pointer is ever written as void *.
 */
static void *resize(void *p, size_t n, size_t sz)
{
	if (n && n > SIZE_MAX / sz)
		return NULL;
	return realloc(p, (n ? n : 1) * sz);
}

static int reserve(struct ve_redist *r, size_t n_slots, size_t n_svc, size_t n_edges)
{
	if (n_slots > r->slot_cap) {
		uint32_t *p = resize(r->slot_svc, n_slots, sizeof(*p));

		if (!p)
			return -ENOMEM;
		r->slot_svc = p;
		r->slot_cap = n_slots;
	}
	if (n_svc > r->svc_cap) {
		struct svc *s = resize(r->svc, n_svc, sizeof(*s));
		size_t *perm;
		double *x;

		if (!s)
			return -ENOMEM;
		r->svc = s;
		perm = resize(r->perm, n_svc, sizeof(*perm));
		if (!perm)
			return -ENOMEM;
		r->perm = perm;
		x = resize(r->x, n_svc, sizeof(*x));
		if (!x)
			return -ENOMEM;
		r->x = x;
		r->svc_cap = n_svc;
	}
	if (n_edges > r->edge_cap) {
		struct edge *e = resize(r->edges, n_edges, sizeof(*e));

		if (!e)
			return -ENOMEM;
		r->edges = e;
		r->edge_cap = n_edges;
	}
	return 0;
}

static int check_uses(const struct ve_account_table *t, const struct ve_service_use *uses,
		      size_t n_uses)
{
	for (size_t i = 0; i < n_uses; i++) {
		if (!ve_account_is_active(t, uses[i].service) ||
		    !ve_account_is_active(t, uses[i].client))
			return -ENOENT;
		if (t->slot[uses[i].service].kind != VE_KIND_SERVICE)
			return -EINVAL;
	}
	return 0;
}

int ve_redist_plan(struct ve_redist *r, const struct ve_account_table *t,
		   const struct ve_service_use *uses, size_t n_uses)
{
	size_t n_svc = 0;
	bool changed;
	int ret;

	r->valid = false;
	ret = check_uses(t, uses, n_uses);
	if (ret < 0)
		return ret;
	for (size_t s = 0; s < t->n; s++)
		if (t->slot[s].active && t->slot[s].kind == VE_KIND_SERVICE)
			n_svc++;
	ret = reserve(r, t->n, n_svc, n_uses);
	if (ret < 0)
		return ret;

	r->n_svc = 0;
	for (size_t s = 0; s < t->n; s++) {
		r->slot_svc[s] = NO_SVC;
		if (t->slot[s].active && t->slot[s].kind == VE_KIND_SERVICE) {
			r->slot_svc[s] = (uint32_t)r->n_svc;
			r->svc[r->n_svc++] = (struct svc){ .slot = (uint32_t)s, .live = NO_SVC };
		}
	}

	/* Total work per service, then each use as a fraction of it. */
	for (size_t i = 0; i < n_uses; i++) {
		uint64_t *w = &r->svc[r->slot_svc[uses[i].service]].work;

		if (*w > UINT64_MAX - uses[i].work)
			return -EINVAL;
		*w += uses[i].work;
	}
	r->n_edges = 0;
	for (size_t i = 0; i < n_uses; i++) {
		uint32_t s = r->slot_svc[uses[i].service];

		if (!uses[i].work)
			continue;
		r->edges[r->n_edges++] = (struct edge){
			.svc = s,
			.client = uses[i].client,
			.frac = (double)uses[i].work / (double)r->svc[s].work,
		};
	}

	/*
	 * Which services exit.  Seeds: no work at all (the host takes it), or
	 * work for a non-service.  Then propagate backwards along edges until
	 * nothing changes; services are few, so the O(S·E) fixpoint is fine.
	 */
	for (size_t s = 0; s < r->n_svc; s++)
		r->svc[s].exits = r->svc[s].work == 0;
	for (size_t e = 0; e < r->n_edges; e++)
		if (r->slot_svc[r->edges[e].client] == NO_SVC)
			r->svc[r->edges[e].svc].exits = true;
	do {
		changed = false;
		for (size_t e = 0; e < r->n_edges; e++) {
			uint32_t to = r->slot_svc[r->edges[e].client];
			struct svc *from = &r->svc[r->edges[e].svc];

			if (to != NO_SVC && r->svc[to].exits && !from->exits) {
				from->exits = true;
				changed = true;
			}
		}
	} while (changed);

	/* The reduced system: services that exit and do have work. */
	r->n_live = 0;
	r->n_trapped = 0;
	for (size_t s = 0; s < r->n_svc; s++) {
		if (!r->svc[s].exits)
			r->n_trapped++;
		else if (r->svc[s].work)
			r->svc[s].live = (uint32_t)r->n_live++;
	}
	if (r->n_live * r->n_live > r->lu_cap) {
		double *lu;

		if (r->n_live > SIZE_MAX / r->n_live)
			return -ENOMEM;
		lu = resize(r->lu, r->n_live * r->n_live, sizeof(*lu));
		if (!lu)
			return -ENOMEM;
		r->lu = lu;
		r->lu_cap = r->n_live * r->n_live;
	}

	/* A = I − Qᵀ over live services: x_i = e_i + Σ_j q[j][i] x_j. */
	for (size_t i = 0; i < r->n_live * r->n_live; i++)
		r->lu[i] = 0.0;
	for (size_t i = 0; i < r->n_live; i++)
		r->lu[i * r->n_live + i] = 1.0;
	for (size_t e = 0; e < r->n_edges; e++) {
		uint32_t from = r->svc[r->edges[e].svc].live;
		uint32_t to_svc = r->slot_svc[r->edges[e].client];
		uint32_t to = to_svc == NO_SVC ? NO_SVC : r->svc[to_svc].live;

		if (from == NO_SVC || to == NO_SVC)
			continue;
		r->lu[(size_t)to * r->n_live + from] -= r->edges[e].frac;
	}
	if (r->n_live && ve_lu_factor(r->lu, r->n_live, r->perm, 1e-12) < 0)
		return -EDOM;
	r->valid = true;
	return 0;
}

int ve_redist_apply(struct ve_redist *r, double *energy_uj, double *to_service_uj,
		    double *host_reason_uj)
{
	if (!r->valid)
		return -ESRCH;

	for (size_t s = 0; s < r->n_svc; s++) {
		const struct svc *sv = &r->svc[s];
		double e = energy_uj[sv->slot];

		energy_uj[sv->slot] = 0.0;
		if (!sv->exits)
			host_reason_uj[VE_REASON_SERVICE_CYCLE] += e;
		else if (!sv->work)
			host_reason_uj[VE_REASON_SERVICE_NO_CLIENTS] += e;
		else
			r->x[sv->live] = e;
	}
	if (r->n_live)
		ve_lu_solve(r->lu, r->n_live, r->perm, r->x);

	/* x now holds what passes through each live service; hand it out. */
	for (size_t e = 0; e < r->n_edges; e++) {
		const struct edge *ed = &r->edges[e];
		uint32_t from = r->svc[ed->svc].live;
		uint32_t to_svc = r->slot_svc[ed->client];
		double amount;

		if (from == NO_SVC)
			continue;
		amount = r->x[from] * ed->frac;
		if (to_svc == NO_SVC) {
			if (ed->client == VE_ACCOUNT_HOST)
				host_reason_uj[VE_REASON_SERVICE_FOR_HOST] += amount;
			else
				to_service_uj[ed->client] += amount;
		} else if (!r->svc[to_svc].exits) {
			host_reason_uj[VE_REASON_SERVICE_CYCLE] += amount;
		} else if (!r->svc[to_svc].work) {
			host_reason_uj[VE_REASON_SERVICE_NO_CLIENTS] += amount;
		}
		/* else: a live service, already part of the solve */
	}
	return 0;
}
