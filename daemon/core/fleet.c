// SPDX-License-Identifier: GPL-2.0-or-later
/*
 * fleet.c: the fleet's split and books (see fleet.h).
 *
 * Targets go top-down: a node's share is split among its child nodes and
 * the live hosts directly under it by ve_share_cap (share.h), the same
 * algorithm that splits a host cap among VMs.  A child node asks for what
 * is reserved under it (absent hosts' fallbacks) plus its hosts' floors or
 * guarantees as its guarantee, that plus their demands as its demand, its
 * own budget as its limit; an absent host directly under a node is paid
 * off the top.  The targets say where the power should go; the books say
 * how fast it may go there (lower at once, raise from spare), which is
 * what keeps every node's sum within its budget while caps move.
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "fleet.h"
#include "share.h"

__extension__ typedef unsigned __int128 u128;
__extension__ typedef __int128 s128;

static uint64_t max2(uint64_t a, uint64_t b)
{
	return a > b ? a : b;
}

static uint64_t min2(uint64_t a, uint64_t b)
{
	return a < b ? a : b;
}

static uint64_t sat_add(uint64_t a, uint64_t b)
{
	return a > UINT64_MAX - b ? UINT64_MAX : a + b;
}

int ve_fleet_tree_check(const struct ve_fleet_node *nodes, size_t n, size_t *ret_bad)
{
	if (n > VE_FLEET_MAX_NODES)
		return -E2BIG;
	for (size_t i = 0; i < n; i++)
		if (nodes[i].parent < -1 || nodes[i].parent >= (int)n ||
		    nodes[i].budget_uw > VE_FLEET_MAX_BUDGET_UW)
			return -EINVAL;
	/* a walk up from any node reaches a root within n steps, or it is on (or under) a cycle */
	for (size_t i = 0; i < n; i++) {
		int p = (int)i;
		size_t steps = 0;

		while (p >= 0 && steps <= n) {
			p = nodes[p].parent;
			steps++;
		}
		if (p >= 0) {
			if (ret_bad)
				*ret_bad = i;
			return -ELOOP;
		}
	}
	return 0;
}

static size_t depth(const struct ve_fleet_node *nodes, size_t i)
{
	size_t d = 0;

	for (int p = nodes[i].parent; p >= 0; p = nodes[p].parent)
		d++;
	return d;
}

/* Node indices ordered by depth, roots first (a counting sort; the tree is checked). */
static size_t *by_depth(const struct ve_fleet_node *nodes, size_t n)
{
	size_t *order = calloc(n ? n : 1, sizeof(*order)), k = 0;

	if (!order)
		return NULL;
	for (size_t d = 0; k < n && d < n; d++)
		for (size_t i = 0; i < n; i++)
			if (depth(nodes, i) == d)
				order[k++] = i;
	return order;
}

void ve_fleet_static_budgets(const struct ve_fleet_node *nodes, size_t n, uint64_t *ret_static_uw)
{
	size_t *order = by_depth(nodes, n);

	if (!order) {
		/* no memory: nobody gets a static share, the safe answer */
		memset(ret_static_uw, 0, n * sizeof(*ret_static_uw));
		return;
	}
	for (size_t k = 0; k < n; k++) {
		size_t i = order[k];
		int p = nodes[i].parent;
		u128 siblings = 0;

		if (p < 0) {
			ret_static_uw[i] = nodes[i].budget_uw;
			continue;
		}
		for (size_t j = 0; j < n; j++)
			if (nodes[j].parent == p)
				siblings += nodes[j].budget_uw;
		ret_static_uw[i] = siblings ? min2(nodes[i].budget_uw,
						   (uint64_t)((u128)ret_static_uw[p] *
							      nodes[i].budget_uw / siblings))
					    : 0;
	}
	free(order);
}

uint64_t ve_fleet_fallback_uw(uint64_t held_uw, uint64_t fallback_uw, uint64_t since_us,
			      uint64_t now_us, uint64_t raise_after_us)
{
	uint64_t fb = fallback_uw ? fallback_uw : 1;

	if (now_us >= since_us && now_us - since_us >= raise_after_us)
		return fb;
	return held_uw ? min2(held_uw, fb) : fb;
}

uint64_t ve_fleet_effective_uw(uint64_t local_uw, uint64_t fleet_uw)
{
	if (!local_uw)
		return fleet_uw;
	if (!fleet_uw)
		return local_uw;
	return min2(local_uw, fleet_uw);
}

struct scratch {
	uint64_t *share_uw;      /* each node's target share */
	uint64_t *reserved_uw;   /* Σ absent fallbacks under a node */
	uint64_t *guar_uw;       /* Σ live max(floor, guarantee) under it */
	uint64_t *demand_uw;     /* Σ live demands (at least their guarantees) under it */
	uint64_t *static_uw;
	size_t *count;           /* hosts directly under a node */
	s128 *slack_uw;          /* budget - books, per node */
	uint64_t *fb_held_uw, *books_uw;
	uint64_t *hold_uw;       /* per host, nonzero: counted as this much, outside the split */
	uint64_t *first_uw;      /* the first pass's targets */
	uint64_t *goal_uw;       /* per host: the fallback it should hold */
	s128 *plan_uw;           /* budget - the planned split, per node */
	struct ve_share_vm *in;
	uint64_t *alloc;
	size_t *who;             /* per share input: node index, or n_nodes + host index */
	size_t *order;
};

static void scratch_free(struct scratch *s)
{
	free(s->share_uw);
	free(s->reserved_uw);
	free(s->guar_uw);
	free(s->demand_uw);
	free(s->static_uw);
	free(s->count);
	free(s->slack_uw);
	free(s->fb_held_uw);
	free(s->books_uw);
	free(s->hold_uw);
	free(s->first_uw);
	free(s->goal_uw);
	free(s->plan_uw);
	free(s->in);
	free(s->alloc);
	free(s->who);
	free(s->order);
}

static int scratch_alloc(struct scratch *s, const struct ve_fleet_node *nodes, size_t nn, size_t nh)
{
	size_t a = nn ? nn : 1, h = nh ? nh : 1, both = nn + nh ? nn + nh : 1;

	memset(s, 0, sizeof(*s));
	s->share_uw = calloc(a, sizeof(uint64_t));
	s->reserved_uw = calloc(a, sizeof(uint64_t));
	s->guar_uw = calloc(a, sizeof(uint64_t));
	s->demand_uw = calloc(a, sizeof(uint64_t));
	s->static_uw = calloc(a, sizeof(uint64_t));
	s->count = calloc(a, sizeof(size_t));
	s->slack_uw = calloc(a, sizeof(s128));
	s->fb_held_uw = calloc(h, sizeof(uint64_t));
	s->books_uw = calloc(h, sizeof(uint64_t));
	s->hold_uw = calloc(h, sizeof(uint64_t));
	s->first_uw = calloc(h, sizeof(uint64_t));
	s->goal_uw = calloc(h, sizeof(uint64_t));
	s->plan_uw = calloc(a, sizeof(s128));
	s->in = calloc(both, sizeof(*s->in));
	s->alloc = calloc(both, sizeof(uint64_t));
	s->who = calloc(both, sizeof(size_t));
	s->order = by_depth(nodes, nn);
	if (!s->share_uw || !s->reserved_uw || !s->guar_uw || !s->demand_uw || !s->static_uw ||
	    !s->count || !s->slack_uw || !s->fb_held_uw || !s->books_uw || !s->hold_uw ||
	    !s->first_uw || !s->goal_uw || !s->plan_uw || !s->in || !s->alloc || !s->who || !s->order) {
		scratch_free(s);
		return -ENOMEM;
	}
	return 0;
}

static uint64_t host_guarantee(const struct ve_fleet_host *h)
{
	return max2(h->floor_uw, h->guarantee_uw);
}

/* Targets, top-down (the file's opening comment). */
static int targets(const struct ve_fleet_node *nodes, size_t nn, const struct ve_fleet_host *hosts,
		   size_t nh, struct scratch *s, struct ve_fleet_out *out)
{
	memset(s->reserved_uw, 0, nn * sizeof(uint64_t));
	memset(s->guar_uw, 0, nn * sizeof(uint64_t));
	memset(s->demand_uw, 0, nn * sizeof(uint64_t));
	memset(s->share_uw, 0, nn * sizeof(uint64_t));
	for (size_t i = 0; i < nh; i++) {
		const struct ve_fleet_host *h = &hosts[i];

		for (int p = h->node; p >= 0; p = nodes[p].parent) {
			if (s->hold_uw[i]) {
				s->reserved_uw[p] = sat_add(s->reserved_uw[p], s->hold_uw[i]);
				continue;
			}
			s->guar_uw[p] = sat_add(s->guar_uw[p], host_guarantee(h));
			s->demand_uw[p] = sat_add(s->demand_uw[p], max2(h->demand_uw, host_guarantee(h)));
		}
	}
	for (size_t k = 0; k < nn; k++) {
		size_t node = s->order[k], n = 0;
		uint64_t avail = nodes[node].parent < 0 ? nodes[node].budget_uw : s->share_uw[node];
		struct ve_share_result r;

		avail = min2(avail, nodes[node].budget_uw);
		for (size_t c = 0; c < nn; c++) {
			if (nodes[c].parent != (int)node)
				continue;
			s->in[n] = (struct ve_share_vm){
				.limit_uw = nodes[c].budget_uw ? nodes[c].budget_uw : 1,
				.guarantee_uw = min2(nodes[c].budget_uw,
						     sat_add(s->reserved_uw[c], s->guar_uw[c])),
				.demand_uw = sat_add(s->reserved_uw[c], s->demand_uw[c]),
				.weight = 100,
			};
			s->who[n++] = c;
		}
		for (size_t i = 0; i < nh; i++) {
			const struct ve_fleet_host *h = &hosts[i];

			if (h->node != (int)node)
				continue;
			if (s->hold_uw[i]) {
				avail = avail > s->hold_uw[i] ? avail - s->hold_uw[i] : 0;
				continue;
			}
			s->in[n] = (struct ve_share_vm){
				.guarantee_uw = host_guarantee(h),
				.demand_uw = max2(h->demand_uw, host_guarantee(h)),
				.weight = h->weight,
			};
			s->who[n++] = nn + i;
		}
		if (ve_share_cap(avail, s->in, n, s->alloc, &r) < 0)
			return -EINVAL;
		for (size_t j = 0; j < n; j++) {
			if (s->who[j] < nn)
				s->share_uw[s->who[j]] = s->alloc[j];
			else
				out[s->who[j] - nn].target_uw = s->alloc[j];
		}
	}
	return 0;
}

/* The largest raise every node above @node has spare for, taken from them. */
static uint64_t take_slack(const struct ve_fleet_node *nodes, s128 *slack, int node, uint64_t want)
{
	s128 r = want;

	for (int p = node; p >= 0; p = nodes[p].parent)
		if (slack[p] < r)
			r = slack[p];
	if (r <= 0)
		return 0;
	for (int p = node; p >= 0; p = nodes[p].parent)
		slack[p] -= r;
	return (uint64_t)r;
}

static void reset_slack(const struct ve_fleet_node *nodes, size_t nn, s128 *slack)
{
	for (size_t i = 0; i < nn; i++)
		slack[i] = nodes[i].budget_uw;
}

static void charge(const struct ve_fleet_node *nodes, s128 *slack, int node, uint64_t uw)
{
	for (int p = node; p >= 0; p = nodes[p].parent)
		slack[p] -= uw;
}

/*
 * Each live host's fallback goal: the lower of its node's static share
 * over its hosts and its target in the planned split (the first pass's,
 * s->first_uw: the split the caps converge to, not one fitted around
 * lowerings in flight), and then, toward that static share, what the
 * planned split leaves spare under every node above it (hosts in order).
 * Goals and targets together never sum above a budget: with the books'
 * max(cap, fallback) per host (fleet.h), the planned split fits.
 */
static void fallback_goals(const struct ve_fleet_node *nodes, size_t nn,
			   const struct ve_fleet_host *hosts, size_t nh, struct scratch *s)
{
	reset_slack(nodes, nn, s->plan_uw);
	for (size_t i = 0; i < nh; i++)
		charge(nodes, s->plan_uw, hosts[i].node, hosts[i].live ? s->first_uw[i] : s->books_uw[i]);
	for (size_t i = 0; i < nh; i++) {
		const struct ve_fleet_host *h = &hosts[i];
		uint64_t g = s->static_uw[h->node] / s->count[h->node];
		uint64_t base = min2(g, s->first_uw[i]);

		if (!h->live)
			continue;
		s->goal_uw[i] = base + take_slack(nodes, s->plan_uw, h->node, g - base);
	}
}

int ve_fleet_plan(const struct ve_fleet_node *nodes, size_t nn, const struct ve_fleet_host *hosts,
		  size_t nh, bool warm_up, struct ve_fleet_out *out)
{
	struct scratch s;
	int r;

	if (nh > VE_FLEET_MAX_HOSTS || ve_fleet_tree_check(nodes, nn, NULL) < 0)
		return -EINVAL;
	for (size_t i = 0; i < nh; i++)
		if (hosts[i].node < 0 || hosts[i].node >= (int)nn ||
		    (hosts[i].live && (hosts[i].weight < 1 || hosts[i].weight > 10000)))
			return -EINVAL;
	r = scratch_alloc(&s, nodes, nn, nh);
	if (r < 0)
		return r;
	memset(out, 0, nh * sizeof(*out));
	ve_fleet_static_budgets(nodes, nn, s.static_uw);
	/*
	 * The books: what each host may hold in force now or at any time it
	 * is cut off from here on, whoever else is cut off with it.  A live
	 * host may hold any cap or fallback written since it last acknowledged
	 * and the ones it reports; cut off, it goes to the lower of its cap and
	 * fallback and later rises to its fallback, never above the larger of
	 * the two.  An absent host holds at most its fallback.
	 */
	for (size_t i = 0; i < nh; i++) {
		const struct ve_fleet_host *h = &hosts[i];

		s.count[h->node]++;
		s.fb_held_uw[i] = h->live ? max2(h->reported_fb_uw, h->written_fb_uw) : h->written_fb_uw;
		s.books_uw[i] = s.fb_held_uw[i];
		if (h->live)
			s.books_uw[i] = max2(s.books_uw[i], max2(h->reported_cap_uw, h->written_cap_uw));
	}
	/*
	 * Absent hosts are counted at their fallbacks outside the split.  A
	 * second pass does the same for live hosts whose books stay above
	 * their target (a lowering not reported yet, a host that may be cut
	 * off): the others are fitted around what those may still hold, so
	 * the books come back within budget as soon as the others report,
	 * whoever never does.
	 */
	for (size_t i = 0; i < nh; i++)
		s.hold_uw[i] = hosts[i].live ? 0 : max2(s.fb_held_uw[i], 1);
	r = targets(nodes, nn, hosts, nh, &s, out);
	if (r < 0)
		goto done;
	for (size_t i = 0; i < nh; i++) {
		s.first_uw[i] = out[i].target_uw;
		if (hosts[i].live && s.books_uw[i] > out[i].target_uw)
			s.hold_uw[i] = s.books_uw[i];
	}
	r = targets(nodes, nn, hosts, nh, &s, out);
	if (r < 0)
		goto done;
	for (size_t i = 0; i < nh; i++)
		if (hosts[i].live && s.hold_uw[i])
			out[i].target_uw = s.first_uw[i];
	fallback_goals(nodes, nn, hosts, nh, &s);

	/*
	 * Caps, then fallbacks, from one slack: a host's cap and fallback may
	 * move anywhere under its books at once (lowerings, and a cap rising
	 * into the room its own fallback holds); above them, only by what
	 * every node above has spare, caps first.  Σ books never rises above
	 * a budget, so no set of hosts cut off together, in any order, puts
	 * the caps in force above it.
	 */
	reset_slack(nodes, nn, s.slack_uw);
	for (size_t i = 0; i < nh; i++) {
		const struct ve_fleet_host *h = &hosts[i];
		uint64_t t = out[i].target_uw ? out[i].target_uw : 1;

		if (h->live)
			out[i].cap_uw = warm_up ? min2(t, max2(s.fb_held_uw[i], 1)) : min2(t, s.books_uw[i]);
		charge(nodes, s.slack_uw, h->node, s.books_uw[i]);
	}
	for (size_t i = 0; i < nh && !warm_up; i++) {
		uint64_t t = out[i].target_uw ? out[i].target_uw : 1;

		if (hosts[i].live && t > s.books_uw[i])
			out[i].cap_uw += take_slack(nodes, s.slack_uw, hosts[i].node, t - s.books_uw[i]);
	}
	for (size_t i = 0; i < nh; i++) {
		const struct ve_fleet_host *h = &hosts[i];
		uint64_t room = max2(s.books_uw[i], out[i].cap_uw);

		if (!h->live) {
			out[i].fallback_uw = s.fb_held_uw[i];
			continue;
		}
		out[i].fallback_uw = warm_up ? min2(s.goal_uw[i], s.fb_held_uw[i]) : min2(s.goal_uw[i], room);
		if (!warm_up && s.goal_uw[i] > room)
			out[i].fallback_uw += take_slack(nodes, s.slack_uw, h->node, s.goal_uw[i] - room);
	}
	for (size_t i = 0; i < nh; i++)
		out[i].reserved_uw = hosts[i].live ? max2(s.books_uw[i], max2(out[i].cap_uw, out[i].fallback_uw))
						   : s.books_uw[i];
done:
	scratch_free(&s);
	return r;
}
