// SPDX-License-Identifier: GPL-2.0-or-later
/*
 * limiter.c: power limits in a feedback loop (see limiter.h).
 */
#include <math.h>
#include <string.h>

#include "limiter.h"
#include "powerctl.h"
#include "share.h"

struct limited {
	char *name;
	struct ve_limits lim;
	struct ve_pctl ctl;
	bool primed;                 /* a first reading of its ledger exists */
	uint64_t last_total_uj, last_idle_uj, last_us;
	uint64_t window_start_us, window_used_uj;   /* budget accounting */
	bool warned_hold;
	bool measured_now;           /* measured in this control period */
	uint64_t measured_uw, static_uw;            /* over the last control period */
	uint64_t alloc_uw;           /* its share of the host cap */
	uint64_t limit_uw;           /* the limit in force */
	bool throttled;              /* held below full bandwidth, as last reported */
};

struct ve_limiter {
	struct ve_cpubw *bw;
	uint64_t period_us;
	uint64_t last_us;
	ve_limiter_log_fn log;
	void *ud;
	GHashTable *vms;             /* uuid -> struct limited */
	uint64_t host_cap_uw;        /* 0: none */
	ve_limiter_event_fn event;
	bool warned_guarantees;
};

static void limited_free(gpointer p)
{
	struct limited *v = p;

	g_free(v->name);
	g_free(v);
}

static struct limited *new_limited(const char *name)
{
	struct limited *v = g_new0(struct limited, 1);
	struct ve_pctl_params p;

	ve_pctl_params_default(&p);
	ve_pctl_init(&v->ctl, &p, 1.0);
	v->name = g_strdup(name);
	ve_limits_init(&v->lim);
	return v;
}

static void act_log(void *ud, const char *uuid, const char *name, const char *msg)
{
	struct ve_limiter *l = ud;

	if (l->log)
		l->log(l->ud, uuid, name, msg);
}

struct ve_limiter *ve_limiter_new(const char *state_dir, bool dry_run, uint64_t period_us,
				  ve_limiter_log_fn log, void *ud)
{
	struct ve_limiter *l = g_new0(struct ve_limiter, 1);

	l->bw = ve_cpubw_new(state_dir, dry_run, act_log, l);
	l->period_us = period_us;
	l->log = log;
	l->ud = ud;
	l->vms = g_hash_table_new_full(g_str_hash, g_str_equal, g_free, limited_free);
	return l;
}

void ve_limiter_on_event(struct ve_limiter *l, ve_limiter_event_fn fn)
{
	l->event = fn;
}

void ve_limiter_free(struct ve_limiter *l)
{
	if (!l)
		return;
	ve_cpubw_free(l->bw);
	g_hash_table_destroy(l->vms);
	g_free(l);
}

static void say(struct ve_limiter *l, const char *uuid, const char *name, const char *fmt, ...)
	G_GNUC_PRINTF(4, 5);

static void say(struct ve_limiter *l, const char *uuid, const char *name, const char *fmt, ...)
{
	g_autofree char *msg = NULL;
	va_list ap;

	va_start(ap, fmt);
	msg = g_strdup_vprintf(fmt, ap);
	va_end(ap);
	if (l->log)
		l->log(l->ud, uuid, name, msg);
}

static void restore(struct ve_limiter *l, virConnectPtr conn, const char *uuid, const char *name)
{
	g_autoptr(GError) err = NULL;

	if (!ve_cpubw_restore(l->bw, conn, uuid, &err))
		say(l, uuid, name, "%s; the VM stays throttled until the next try", err->message);
}

void ve_limiter_set(struct ve_limiter *l, virConnectPtr conn, const char *uuid, const char *name,
		    const struct ve_limits *lim)
{
	struct limited *v = g_hash_table_lookup(l->vms, uuid);
	uint64_t old = v ? v->lim.power_limit_uw | v->lim.budget_uj : 0;

	if (!lim || (!lim->power_limit_uw && !lim->budget_uj)) {
		if (v && (v->lim.power_limit_uw || v->lim.budget_uj))
			say(l, uuid, name, "VM '%s': power limit lifted%s", name,
			    l->host_cap_uw ? "; it stays under the host cap" : ", its CPU bandwidth restored");
		if (v && !l->host_cap_uw) {
			restore(l, conn, uuid, name);
			g_hash_table_remove(l->vms, uuid);
		} else if (v) {
			ve_limits_init(&v->lim);
			if (lim)
				v->lim = *lim;   /* guarantee and weight still count for the cap */
		} else if (lim && l->host_cap_uw) {
			v = new_limited(name);
			v->lim = *lim;
			g_hash_table_insert(l->vms, g_strdup(uuid), v);
		}
		return;
	}
	if (!v) {
		v = new_limited(name);
		g_hash_table_insert(l->vms, g_strdup(uuid), v);
	}
	g_free(v->name);
	v->name = g_strdup(name);
	if (memcmp(&v->lim, lim, sizeof(*lim)) != 0 || !old)
		say(l, uuid, name, "VM '%s': power limit %.3f W%s", name,
		    (double)lim->power_limit_uw / 1e6, lim->budget_uj ? " and an energy budget" : "");
	if (v->lim.budget_window_s != lim->budget_window_s || v->lim.budget_uj != lim->budget_uj)
		v->window_start_us = 0;   /* a new budget starts a new window */
	v->lim = *lim;
}

void ve_limiter_stopped(struct ve_limiter *l, virConnectPtr conn, const char *uuid)
{
	struct limited *v = g_hash_table_lookup(l->vms, uuid);

	if (!v)
		return;
	/* the quota went with the VM's cgroups; the record goes, the limit stays for its next start */
	restore(l, conn, uuid, v->name);
	v->primed = false;
	ve_pctl_init(&v->ctl, &v->ctl.p, 1.0);
}

static struct ve_vm_view *find_vm(struct ve_engine *e, const char *uuid, struct ve_vm_view *ret)
{
	for (size_t i = 0; i < ve_engine_n_vms(e); i++) {
		ve_engine_vm(e, i, ret);
		if (strcmp(ret->uuid, uuid) == 0)
			return ret;
	}
	return NULL;
}

/* Bring a VM's power over the last control period up to date; false until primed. */
static bool measure(struct limited *v, const struct ve_vm_view *vm, uint64_t now_us)
{
	uint64_t total = vm->ledger->total_uj, idle = vm->ledger->comp_uj[VE_COMP_IDLE], dt;

	if (!v->primed || now_us <= v->last_us || total < v->last_total_uj) {
		v->primed = true;
		v->last_total_uj = total;
		v->last_idle_uj = idle;
		v->last_us = now_us;
		v->measured_uw = 0;
		return false;
	}
	dt = now_us - v->last_us;
	v->measured_uw = (total - v->last_total_uj) * 1000000u / dt;
	v->static_uw = (idle - v->last_idle_uj) * 1000000u / dt;
	if (v->lim.budget_uj) {
		uint64_t window_us = v->lim.budget_window_s * 1000000u;

		if (!v->window_start_us || now_us - v->window_start_us >= window_us) {
			v->window_start_us = now_us;
			v->window_used_uj = 0;
		}
		v->window_used_uj += total - v->last_total_uj;
	}
	v->last_total_uj = total;
	v->last_idle_uj = idle;
	v->last_us = now_us;
	return true;
}

/*
 * What the VM would draw if nobody held it: its measured power when it runs
 * free (with a tenth of headroom so it can grow into a cap), its static
 * share plus its dynamic power scaled back up by the bandwidth it was held
 * to otherwise.
 */
static uint64_t demand(const struct limited *v, double u)
{
	uint64_t dyn = v->measured_uw > v->static_uw ? v->measured_uw - v->static_uw : 0;

	if (u <= 0.0 || u >= 1.0)
		return v->measured_uw + v->measured_uw / 10;
	return v->static_uw + (uint64_t)((double)dyn / u);
}

/* Split the host cap among the VMs measured this period (share.h). */
static void split_cap(struct ve_limiter *l)
{
	g_autofree struct ve_share_vm *in = NULL;
	g_autofree uint64_t *alloc = NULL;
	g_autofree struct limited **who = NULL;
	struct ve_share_result r;
	GHashTableIter it;
	gpointer k, val;
	size_t n = 0, cap = g_hash_table_size(l->vms);

	in = g_new0(struct ve_share_vm, cap ? cap : 1);
	alloc = g_new0(uint64_t, cap ? cap : 1);
	who = g_new0(struct limited *, cap ? cap : 1);
	g_hash_table_iter_init(&it, l->vms);
	while (g_hash_table_iter_next(&it, &k, &val)) {
		struct limited *v = val;

		v->alloc_uw = 0;
		if (!v->measured_now)
			continue;
		in[n] = (struct ve_share_vm){ .limit_uw = v->lim.power_limit_uw,
					      .guarantee_uw = v->lim.guarantee_uw,
					      .demand_uw = demand(v, ve_cpubw_current(l->bw, k)),
					      .weight = v->lim.weight ? v->lim.weight : 100 };
		who[n++] = v;
	}
	if (ve_share_cap(l->host_cap_uw, in, n, alloc, &r) < 0)
		return;
	for (size_t i = 0; i < n; i++)
		who[i]->alloc_uw = alloc[i] ? alloc[i] : 1;
	if (r.guarantees_scaled && !l->warned_guarantees) {
		say(l, NULL, NULL, "the VMs' guarantees exceed the host cap of %.3f W; scaled down in proportion",
		    (double)l->host_cap_uw / 1e6);
		l->warned_guarantees = true;
	} else if (!r.guarantees_scaled) {
		l->warned_guarantees = false;
	}
}

void ve_limiter_tick(struct ve_limiter *l, struct ve_engine *e, virConnectPtr conn, uint64_t now_us)
{
	GHashTableIter it;
	gpointer k, val;

	if (now_us - l->last_us < l->period_us)
		return;
	l->last_us = now_us;

	/* under a host cap every running VM is held, limited by metadata or not */
	if (l->host_cap_uw) {
		for (size_t i = 0; i < ve_engine_n_vms(e); i++) {
			struct ve_vm_view vm;

			ve_engine_vm(e, i, &vm);
			if (vm.running && !g_hash_table_contains(l->vms, vm.uuid))
				g_hash_table_insert(l->vms, g_strdup(vm.uuid), new_limited(vm.name));
		}
	}
	g_hash_table_iter_init(&it, l->vms);
	while (g_hash_table_iter_next(&it, &k, &val)) {
		struct limited *v = val;
		struct ve_vm_view vm;

		v->measured_now = find_vm(e, k, &vm) && vm.running && measure(v, &vm, now_us);
	}
	if (l->host_cap_uw)
		split_cap(l);

	g_hash_table_iter_init(&it, l->vms);
	while (g_hash_table_iter_next(&it, &k, &val)) {
		struct limited *v = val;
		uint64_t limit;
		g_autoptr(GError) err = NULL;
		virDomainPtr dom;
		double u;

		if (!v->measured_now)
			continue;
		limit = ve_limits_effective_uw(&v->lim, v->window_used_uj,
					       v->lim.budget_uj ? (v->window_start_us + v->lim.budget_window_s *
								   1000000u - now_us) / 1000000u : 0);
		if (l->host_cap_uw && (!limit || v->alloc_uw < limit))
			limit = v->alloc_uw;
		v->limit_uw = limit;
		if (!limit)
			continue;
		u = ve_pctl_step(&v->ctl, limit, v->measured_uw, v->static_uw);
		if ((u < 1.0) != v->throttled) {
			v->throttled = u < 1.0;
			if (l->event)
				l->event(l->ud, v->throttled ? VE_LIMITER_THROTTLED : VE_LIMITER_RELEASED, k,
					 v->name, limit, v->measured_uw);
		}
		if (v->ctl.cannot_hold && !v->warned_hold) {
			say(l, k, v->name,
			    "VM '%s' cannot be held to %.3f W: at its CPU floor it still draws %.3f W",
			    v->name, (double)limit / 1e6, (double)v->measured_uw / 1e6);
			if (l->event)
				l->event(l->ud, VE_LIMITER_CANNOT_HOLD, k, v->name, limit, v->measured_uw);
			v->warned_hold = true;
		} else if (!v->ctl.cannot_hold) {
			v->warned_hold = false;
		}
		/* a change below half a percent of bandwidth is not worth a libvirt call */
		if (fabs(u - ve_cpubw_current(l->bw, k)) < 0.005 && ve_cpubw_current(l->bw, k) > 0.0)
			continue;
		if (u >= 1.0 && ve_cpubw_current(l->bw, k) == 0.0)
			continue;   /* unthrottled and staying so */
		dom = conn ? virDomainLookupByUUIDString(conn, k) : NULL;
		if (!dom)
			continue;   /* libvirt away: try again next period */
		if (!ve_cpubw_set(l->bw, dom, u, &err))
			say(l, k, v->name, "VM '%s': %s; its bandwidth is left as it was", v->name,
			    err->message);
		virDomainFree(dom);
	}
}

void ve_limiter_set_host_cap(struct ve_limiter *l, virConnectPtr conn, uint64_t cap_uw)
{
	GHashTableIter it;
	gpointer k, val;

	if (cap_uw == l->host_cap_uw)
		return;
	l->host_cap_uw = cap_uw;
	if (cap_uw) {
		say(l, NULL, NULL, "host cap %.3f W, split among running VMs", (double)cap_uw / 1e6);
		return;
	}
	say(l, NULL, NULL, "host cap lifted");
	/* VMs held only for the cap go free */
	g_hash_table_iter_init(&it, l->vms);
	while (g_hash_table_iter_next(&it, &k, &val)) {
		struct limited *v = val;

		if (!v->lim.power_limit_uw && !v->lim.budget_uj) {
			restore(l, conn, k, v->name);
			g_hash_table_iter_remove(&it);
		}
	}
}

uint64_t ve_limiter_limit_uw(struct ve_limiter *l, const char *uuid)
{
	struct limited *v = g_hash_table_lookup(l->vms, uuid);

	if (!v)
		return 0;
	return v->limit_uw ? v->limit_uw : v->lim.power_limit_uw;
}

uint64_t ve_limiter_alloc_uw(struct ve_limiter *l, const char *uuid)
{
	struct limited *v = g_hash_table_lookup(l->vms, uuid);

	return v && l->host_cap_uw ? v->alloc_uw : 0;
}

unsigned int ve_limiter_reconcile(struct ve_limiter *l, virConnectPtr conn, GString *report)
{
	return ve_cpubw_reconcile(l->bw, conn, report);
}

unsigned int ve_limiter_restore_all(struct ve_limiter *l, virConnectPtr conn)
{
	return ve_cpubw_restore_all(l->bw, conn);
}
