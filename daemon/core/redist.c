// SPDX-License-Identifier: GPL-2.0-or-later
/*
 * redist.c: solving the service flows described in redist.h.
 *
 * The one subtle part is taking out, before the solve, every service whose
 * energy can never reach a client: with those present I − Qᵀ is singular
 * (a closed class has a unit eigenvalue of Q), and a "solution" would
 * be arbitrary.  A service "exits" when it has work for a VM or the host,
 * or for a service that reported no work (which hands its energy to the
 * host); a service exits as well when it serves a service that exits.
 * Services that do not exit form closed classes: trapped.
 *
 * The rest is solved a strongly connected component at a time (issue 15:
 * one dense LU of every live service was O(S³) each period, 19–27 ms at 400
 * services).  Energy flows from a server to its clients, so with the
 * components in topological order (servers' first) each one's inflow from
 * earlier ones is known when it is solved, and only its own block of
 * I − Qᵀ needs a factorisation.  Chains and trees are then linear in the
 * uses (every component one service); a small cycle costs the cube of its
 * own size, a large one sweeps (below).  Components by Tarjan's algorithm,
 * without recursion.
 */
#include <errno.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>

#include "linalg.h"
#include "redist.h"

#define NO_SVC UINT32_MAX

struct edge {
	uint32_t svc;     /* service index (not slot) of the server */
	uint32_t client;  /* client slot */
	uint32_t to;      /* the client's service index, or NO_SVC */
	double frac;      /* share of the server's work */
};

struct svc {
	uint32_t slot;
	uint32_t live;    /* index among live services, or NO_SVC */
	uint64_t work;    /* total work reported */
	bool exits;
};

/* An edge between live services: by its server (out_start), or by its client (in_start). */
struct flow {
	uint32_t peer;    /* live index of the client service, or of the server */
	double frac;
};

struct ve_redist {
	bool valid;
	uint32_t *slot_svc;   /* slot -> service index or NO_SVC */
	size_t n_slots, slot_cap;
	struct svc *svc;
	size_t n_svc, svc_cap;
	struct edge *edges;
	size_t n_edges, edge_cap;
	/* per service (svc_cap): */
	uint32_t *in_start;   /* n_svc + 1: servers of each service, in in_from */
	uint32_t *queue;      /* services found to exit, to visit */
	/* per edge (edge_cap): */
	uint32_t *in_from;
	uint32_t *between;    /* the edges whose client is a service (n_between) */
	size_t n_between;
	struct flow *flows;
	struct flow *inner;   /* flows within a component, by client (inner_start) */
	/* per live service (svc_cap; n_live of them): */
	size_t n_live;
	size_t n_trapped;
	uint32_t *out_start;  /* n_live + 1, into flows */
	uint32_t *order;      /* live indices, component by component, servers' first */
	uint32_t *comp;       /* component of each live index */
	uint32_t *pos;        /* position of each live index within its component */
	uint32_t *comp_start; /* n_comp + 1, into order */
	uint32_t *inner_start; /* n_live + 1, into inner */
	size_t *lu_at;        /* n_comp: where each component's block starts in lu, or ITERATE */
	size_t *perm;         /* LU row swaps, at comp_start */
	double *x;            /* energy through each live service */
	double *b;            /* one component's right-hand side */
	uint32_t *stack, *low, *index, *walk;   /* Tarjan */
	size_t n_comp, n_swept;
	double *lu;           /* Σ (component size)² */
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
	free(r->edges);
	free(r->in_start);
	free(r->queue);
	free(r->in_from);
	free(r->between);
	free(r->flows);
	free(r->inner);
	free(r->inner_start);
	free(r->out_start);
	free(r->order);
	free(r->comp);
	free(r->pos);
	free(r->comp_start);
	free(r->lu_at);
	free(r->perm);
	free(r->x);
	free(r->b);
	free(r->stack);
	free(r->low);
	free(r->index);
	free(r->walk);
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

/* Grow the array p to n elements; false (p kept) when that fails. */
#define DEFINE_GROW(name, type)                         \
	static bool name(type **p, size_t n)            \
	{                                               \
		type *q = resize(*p, n, sizeof(*q));    \
								\
		if (!q)                                 \
			return false;                   \
		*p = q;                                 \
		return true;                            \
	}
DEFINE_GROW(grow_u32, uint32_t)
DEFINE_GROW(grow_size, size_t)
DEFINE_GROW(grow_double, double)
DEFINE_GROW(grow_svc, struct svc)
DEFINE_GROW(grow_edge, struct edge)
DEFINE_GROW(grow_flow, struct flow)
#define GROW(p, n) _Generic((p), uint32_t *: grow_u32, size_t *: grow_size, double *: grow_double, \
			    struct svc *: grow_svc, struct edge *: grow_edge,                   \
			    struct flow *: grow_flow)(&(p), (n))

static int reserve(struct ve_redist *r, size_t n_slots, size_t n_svc, size_t n_edges)
{
	if (n_slots > r->slot_cap) {
		if (!GROW(r->slot_svc, n_slots))
			return -ENOMEM;
		r->slot_cap = n_slots;
	}
	if (n_svc > r->svc_cap || !r->in_start) {   /* the n + 1 arrays even for none */
		size_t n1 = n_svc + 1;

		if (!GROW(r->svc, n_svc) ||
		    !GROW(r->in_start, n1) ||
		    !GROW(r->queue, n_svc) ||
		    !GROW(r->out_start, n1) ||
		    !GROW(r->order, n_svc) ||
		    !GROW(r->comp, n_svc) ||
		    !GROW(r->pos, n_svc) ||
		    !GROW(r->comp_start, n1) ||
		    !GROW(r->inner_start, n1) ||
		    !GROW(r->lu_at, n_svc) ||
		    !GROW(r->perm, n_svc) ||
		    !GROW(r->x, n_svc) ||
		    !GROW(r->b, n_svc) ||
		    !GROW(r->stack, n_svc) ||
		    !GROW(r->low, n_svc) ||
		    !GROW(r->index, n_svc) ||
		    !GROW(r->walk, n_svc))
			return -ENOMEM;
		r->svc_cap = n_svc;
	}
	if (n_edges > r->edge_cap) {
		if (!GROW(r->edges, n_edges) ||
		    !GROW(r->in_from, n_edges) ||
		    !GROW(r->between, n_edges) ||
		    !GROW(r->flows, n_edges) ||
		    !GROW(r->inner, n_edges))
			return -ENOMEM;
		r->edge_cap = n_edges;
	}
	return 0;
}

/*
 * Every use names active slots, its server a service; and each service's
 * total work, in r->svc (indexed by r->slot_svc, set for the table).
 */
static int check_uses(struct ve_redist *r, const struct ve_account_table *t,
		      const struct ve_service_use *uses, size_t n_uses)
{
	for (size_t i = 0; i < n_uses; i++) {
		uint32_t sv = uses[i].service, cl = uses[i].client;
		uint64_t *w;

		/* (ve_account_is_active(), spelt out: a call per use was a tenth of a plan) */
		if (sv >= t->n || !t->slot[sv].active || cl >= t->n || !t->slot[cl].active)
			return -ENOENT;
		if (t->slot[sv].kind != VE_KIND_SERVICE)
			return -EINVAL;
		w = &r->svc[r->slot_svc[sv]].work;
		if (*w > UINT64_MAX - uses[i].work)
			return -EINVAL;
		*w += uses[i].work;
	}
	return 0;
}

/*
 * Tarjan's strongly connected components of the live flow graph, with an
 * explicit stack (walk[] holds each open node's next flow).  A component
 * is complete when its root is left; every component it reaches is
 * complete by then, so they come out clients' first.  order[] is filled
 * from its end, so it ends up servers' first.
 */
static void find_components(struct ve_redist *r)
{
	const uint32_t unseen = NO_SVC;
	size_t n_stack = 0, next = 0, fill = r->n_live, n_comp = 0;
	uint32_t *open = r->pos;   /* the DFS path; pos is set only once complete */
	size_t n_open = 0;

	for (size_t i = 0; i < r->n_live; i++)
		r->index[i] = unseen;
	for (size_t root = 0; root < r->n_live; root++) {
		if (r->index[root] != unseen)
			continue;
		open[n_open++] = (uint32_t)root;
		r->index[root] = r->low[root] = (uint32_t)next++;
		r->walk[root] = r->out_start[root];
		r->stack[n_stack++] = (uint32_t)root;
		r->comp[root] = unseen;
		while (n_open) {
			uint32_t v = open[n_open - 1];

			if (r->walk[v] < r->out_start[v + 1]) {
				uint32_t w = r->flows[r->walk[v]++].peer;

				if (r->index[w] == unseen) {
					r->index[w] = r->low[w] = (uint32_t)next++;
					r->walk[w] = r->out_start[w];
					r->stack[n_stack++] = w;
					r->comp[w] = unseen;
					open[n_open++] = w;
				} else if (r->comp[w] == unseen && r->index[w] < r->low[v]) {
					r->low[v] = r->index[w];   /* on the stack */
				}
				continue;
			}
			n_open--;
			if (n_open) {
				uint32_t u = open[n_open - 1];

				if (r->low[v] < r->low[u])
					r->low[u] = r->low[v];
			}
			if (r->low[v] != r->index[v])
				continue;
			/* v roots a component: pop it, into order[] from the end */
			do {
				uint32_t w = r->stack[--n_stack];

				r->comp[w] = (uint32_t)n_comp;
				r->order[--fill] = w;
				if (w == v)
					break;
			} while (1);
			r->comp_start[n_comp++] = (uint32_t)fill;
		}
	}
	/*
	 * Components were numbered clients' first and order[] holds them
	 * servers' first: renumber so that component c is order[comp_start[c]..].
	 */
	r->n_comp = n_comp;
	for (size_t c = 0; c < n_comp / 2; c++) {
		uint32_t t = r->comp_start[c];

		r->comp_start[c] = r->comp_start[n_comp - 1 - c];
		r->comp_start[n_comp - 1 - c] = t;
	}
	r->comp_start[n_comp] = (uint32_t)r->n_live;
	for (size_t c = 0; c < n_comp; c++)
		for (uint32_t k = r->comp_start[c]; k < r->comp_start[c + 1]; k++) {
			r->comp[r->order[k]] = (uint32_t)c;
			r->pos[r->order[k]] = k - r->comp_start[c];
		}
}

/*
 * A component of more than DIRECT_MAX services is solved by Gauss-Seidel
 * sweeps over its flows instead, linear in its uses, where every member
 * passes at least 1 − ITERATE_KEEP of its work out of the component: then
 * ‖Qᵀ‖₁ ≤ ITERATE_KEEP on its block, each sweep shrinks the error at least
 * that much, and stopping when a sweep changes Σ x by less than
 * ITERATE_TOL of it leaves an error below ITERATE_TOL × 9.  A component
 * that keeps more of some member's work (a near-closed cycle, where
 * sweeps would crawl) gets its LU.
 */
#define DIRECT_MAX 24
#define ITERATE_KEEP 0.9
#define ITERATE_TOL 1e-15
#define ITERATE_SWEEPS 1000   /* 0.9^1000: never reached; a guard */
#define ITERATE SIZE_MAX

/* Each component's block of I − Qᵀ (x_i = e_i + Σ_j q[j][i] x_j), factored, or left to iterate. */
static int factor_components(struct ve_redist *r)
{
	size_t need = 0;

	r->n_swept = 0;
	/*
	 * The flows within components, by client; and in b (free until
	 * apply) the share of each member's work kept inside its component.
	 */
	memset(r->inner_start, 0, (r->n_live + 1) * sizeof(*r->inner_start));
	for (size_t i = 0; i < r->n_live; i++)
		r->b[i] = 0.0;
	for (size_t from = 0; from < r->n_live; from++)
		for (uint32_t f = r->out_start[from]; f < r->out_start[from + 1]; f++)
			if (r->comp[r->flows[f].peer] == r->comp[from]) {
				r->inner_start[r->flows[f].peer + 1]++;
				r->b[from] += r->flows[f].frac;
			}
	for (size_t i = 0; i < r->n_live; i++)
		r->inner_start[i + 1] += r->inner_start[i];
	for (size_t from = 0; from < r->n_live; from++)
		for (uint32_t f = r->out_start[from]; f < r->out_start[from + 1]; f++)
			if (r->comp[r->flows[f].peer] == r->comp[from])
				r->inner[r->inner_start[r->flows[f].peer]++] =
					(struct flow){ .peer = (uint32_t)from, .frac = r->flows[f].frac };
	for (size_t i = r->n_live; i > 0; i--)
		r->inner_start[i] = r->inner_start[i - 1];
	r->inner_start[0] = 0;

	for (size_t c = 0; c < r->n_comp; c++) {
		size_t k = r->comp_start[c + 1] - r->comp_start[c];
		bool iterate = k > DIRECT_MAX;

		for (uint32_t m = r->comp_start[c]; iterate && m < r->comp_start[c + 1]; m++)
			iterate = r->b[r->order[m]] <= ITERATE_KEEP;
		if (iterate) {
			r->lu_at[c] = ITERATE;
			r->n_swept++;
			continue;
		}
		r->lu_at[c] = need;
		if (k > SIZE_MAX / k || need > SIZE_MAX - k * k)
			return -ENOMEM;
		need += k * k;
	}
	if (need > r->lu_cap) {
		if (!GROW(r->lu, need))
			return -ENOMEM;
		r->lu_cap = need;
	}
	for (size_t c = 0; c < r->n_comp; c++) {
		size_t k = r->comp_start[c + 1] - r->comp_start[c];
		double *a = r->lu + r->lu_at[c];

		if (r->lu_at[c] == ITERATE)
			continue;
		for (size_t i = 0; i < k * k; i++)
			a[i] = 0.0;
		for (size_t i = 0; i < k; i++)
			a[i * k + i] = 1.0;
		for (uint32_t m = r->comp_start[c]; m < r->comp_start[c + 1]; m++) {
			uint32_t to = r->order[m];

			for (uint32_t f = r->inner_start[to]; f < r->inner_start[to + 1]; f++)
				a[(size_t)r->pos[to] * k + r->pos[r->inner[f].peer]] -= r->inner[f].frac;
		}
		if (ve_lu_factor(a, k, r->perm + r->comp_start[c], 1e-12) < 0)
			return -EDOM;
	}
	r->valid = true;
	return 0;
}

/* Component c by sweeps: b[m] its members' own energy and inflow, x their flows. */
static void iterate_component(struct ve_redist *r, size_t c)
{
	uint32_t at = r->comp_start[c], end = r->comp_start[c + 1];

	for (uint32_t m = at; m < end; m++)
		r->x[r->order[m]] = r->b[m - at];
	for (int sweep = 0; sweep < ITERATE_SWEEPS; sweep++) {
		double moved = 0.0, sum = 0.0;

		for (uint32_t m = at; m < end; m++) {
			uint32_t i = r->order[m];
			double v = r->b[m - at];

			for (uint32_t f = r->inner_start[i]; f < r->inner_start[i + 1]; f++)
				v += r->inner[f].frac * r->x[r->inner[f].peer];
			moved += v - r->x[i];   /* never negative: the sweeps rise to x */
			sum += v;
			r->x[i] = v;
		}
		if (moved <= ITERATE_TOL * sum)
			break;
	}
	for (uint32_t m = at; m < end; m++)
		r->b[m - at] = r->x[r->order[m]];
}

int ve_redist_plan(struct ve_redist *r, const struct ve_account_table *t,
		   const struct ve_service_use *uses, size_t n_uses)
{
	size_t n_svc = 0, n_queue;
	int ret;

	r->valid = false;
	for (size_t s = 0; s < t->n; s++)
		if (t->slot[s].active && t->slot[s].kind == VE_KIND_SERVICE)
			n_svc++;
	ret = reserve(r, t->n, n_svc, n_uses);
	if (ret < 0)
		return ret;

	r->n_svc = 0;
	r->n_slots = t->n;
	for (size_t s = 0; s < t->n; s++) {
		r->slot_svc[s] = NO_SVC;
		if (t->slot[s].active && t->slot[s].kind == VE_KIND_SERVICE) {
			r->slot_svc[s] = (uint32_t)r->n_svc;
			r->svc[r->n_svc++] = (struct svc){ .slot = (uint32_t)s, .live = NO_SVC };
		}
	}

	/* Total work per service, then each use as a fraction of it. */
	ret = check_uses(r, t, uses, n_uses);
	if (ret < 0)
		return ret;
	for (size_t s = 0; s < r->n_svc; s++)
		r->x[s] = r->svc[s].work ? 1.0 / (double)r->svc[s].work : 0.0;   /* x: free until apply */
	/*
	 * Work for a VM or the host makes its service exit (below) and is
	 * no flow between services, so only the edges between services are
	 * walked again until apply: at 400 services 399 of 40,399.
	 */
	r->n_edges = 0;
	r->n_between = 0;
	for (size_t s = 0; s < r->n_svc; s++)
		r->svc[s].exits = r->svc[s].work == 0;
	for (size_t i = 0; i < n_uses; i++) {
		uint32_t s = r->slot_svc[uses[i].service], to = r->slot_svc[uses[i].client];

		if (!uses[i].work)
			continue;
		if (to == NO_SVC)
			r->svc[s].exits = true;
		else
			r->between[r->n_between++] = (uint32_t)r->n_edges;
		/* times the reciprocal: a division per use was a sixth of a plan */
		r->edges[r->n_edges++] = (struct edge){
			.svc = s,
			.client = uses[i].client,
			.to = to,
			.frac = (double)uses[i].work * r->x[s],
		};
	}

	/*
	 * Which services exit.  Seeds: no work at all (the host takes it), or
	 * work for a non-service.  Then backwards along edges, from each
	 * service found to exit to the services it serves: O(S + E).
	 */
	memset(r->in_start, 0, (r->n_svc + 1) * sizeof(*r->in_start));
	for (size_t k = 0; k < r->n_between; k++)
		r->in_start[r->edges[r->between[k]].to + 1]++;
	for (size_t s = 0; s < r->n_svc; s++)
		r->in_start[s + 1] += r->in_start[s];
	for (size_t k = 0; k < r->n_between; k++) {
		const struct edge *ed = &r->edges[r->between[k]];

		r->in_from[r->in_start[ed->to]++] = ed->svc;
	}
	for (size_t s = r->n_svc; s > 0; s--)   /* back to the starts */
		r->in_start[s] = r->in_start[s - 1];
	r->in_start[0] = 0;

	n_queue = 0;
	for (size_t s = 0; s < r->n_svc; s++)
		if (r->svc[s].exits)
			r->queue[n_queue++] = (uint32_t)s;
	for (size_t q = 0; q < n_queue; q++) {
		uint32_t to = r->queue[q];

		for (uint32_t i = r->in_start[to]; i < r->in_start[to + 1]; i++) {
			struct svc *from = &r->svc[r->in_from[i]];

			if (!from->exits) {
				from->exits = true;
				r->queue[n_queue++] = r->in_from[i];
			}
		}
	}

	/* The reduced system: services that exit and do have work. */
	r->n_live = 0;
	r->n_trapped = 0;
	for (size_t s = 0; s < r->n_svc; s++) {
		if (!r->svc[s].exits)
			r->n_trapped++;
		else if (r->svc[s].work)
			r->svc[s].live = (uint32_t)r->n_live++;
	}

	/* Flows between live services, by server. */
	memset(r->out_start, 0, (r->n_live + 1) * sizeof(*r->out_start));
	for (size_t k = 0; k < r->n_between; k++) {
		const struct edge *ed = &r->edges[r->between[k]];
		uint32_t from = r->svc[ed->svc].live;

		if (from != NO_SVC && r->svc[ed->to].live != NO_SVC)
			r->out_start[from + 1]++;
	}
	for (size_t i = 0; i < r->n_live; i++)
		r->out_start[i + 1] += r->out_start[i];
	for (size_t k = 0; k < r->n_between; k++) {
		const struct edge *ed = &r->edges[r->between[k]];
		uint32_t from = r->svc[ed->svc].live;

		if (from != NO_SVC && r->svc[ed->to].live != NO_SVC)
			r->flows[r->out_start[from]++] =
				(struct flow){ .peer = r->svc[ed->to].live, .frac = ed->frac };
	}
	for (size_t i = r->n_live; i > 0; i--)
		r->out_start[i] = r->out_start[i - 1];
	r->out_start[0] = 0;

	find_components(r);
	return factor_components(r);
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
	/* components servers' first: each one's inflow is in x when it is solved */
	for (size_t c = 0; c < r->n_comp; c++) {
		uint32_t at = r->comp_start[c];
		size_t k = r->comp_start[c + 1] - at;

		for (size_t m = 0; m < k; m++)
			r->b[m] = r->x[r->order[at + m]];
		if (r->lu_at[c] == ITERATE)
			iterate_component(r, c);
		else
			ve_lu_solve(r->lu + r->lu_at[c], k, r->perm + at, r->b);
		for (size_t m = 0; m < k; m++) {
			uint32_t from = r->order[at + m];

			r->x[from] = r->b[m];
			for (uint32_t f = r->out_start[from]; f < r->out_start[from + 1]; f++)
				if (r->comp[r->flows[f].peer] != c)
					r->x[r->flows[f].peer] += r->b[m] * r->flows[f].frac;
		}
	}

	/* x now holds what passes through each live service; hand it out. */
	for (size_t e = 0; e < r->n_edges; e++) {
		const struct edge *ed = &r->edges[e];
		uint32_t from = r->svc[ed->svc].live;
		uint32_t to_svc = ed->to;
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

void ve_redist_components(const struct ve_redist *r, size_t *ret_n, size_t *ret_largest,
			   size_t *ret_swept)
{
	*ret_n = r->n_comp;
	*ret_largest = 0;
	for (size_t c = 0; c < r->n_comp; c++)
		if (r->comp_start[c + 1] - r->comp_start[c] > *ret_largest)
			*ret_largest = r->comp_start[c + 1] - r->comp_start[c];
	*ret_swept = r->n_swept;
}

bool ve_redist_through(const struct ve_redist *r, uint32_t slot, double *ret_uj)
{
	uint32_t s;

	if (!r->valid || slot >= r->n_slots || (s = r->slot_svc[slot]) == NO_SVC ||
	    r->svc[s].live == NO_SVC)
		return false;
	*ret_uj = r->x[r->svc[s].live];
	return true;
}
