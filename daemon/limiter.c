// SPDX-License-Identifier: GPL-2.0-or-later
/*
 * limiter.c: power limits in a feedback loop (see limiter.h).
 */
#include <math.h>
#include <string.h>

#include "limiter.h"
#include "powerctl.h"

struct limited {
	char *name;
	struct ve_limits lim;
	struct ve_pctl ctl;
	bool primed;                 /* a first reading of its ledger exists */
	uint64_t last_total_uj, last_idle_uj, last_us;
	uint64_t window_start_us, window_used_uj;   /* budget accounting */
	bool warned_hold;
};

struct ve_limiter {
	struct ve_cpubw *bw;
	uint64_t period_us;
	uint64_t last_us;
	ve_limiter_log_fn log;
	void *ud;
	GHashTable *vms;             /* uuid -> struct limited */
};

static void limited_free(gpointer p)
{
	struct limited *v = p;

	g_free(v->name);
	g_free(v);
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
		if (v) {
			say(l, uuid, name, "VM '%s': power limit lifted, its CPU bandwidth restored", name);
			restore(l, conn, uuid, name);
			g_hash_table_remove(l->vms, uuid);
		}
		return;
	}
	if (!v) {
		struct ve_pctl_params p;

		v = g_new0(struct limited, 1);
		ve_pctl_params_default(&p);
		ve_pctl_init(&v->ctl, &p, 1.0);
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

void ve_limiter_tick(struct ve_limiter *l, struct ve_engine *e, virConnectPtr conn, uint64_t now_us)
{
	GHashTableIter it;
	gpointer k, val;

	if (now_us - l->last_us < l->period_us)
		return;
	l->last_us = now_us;
	g_hash_table_iter_init(&it, l->vms);
	while (g_hash_table_iter_next(&it, &k, &val)) {
		struct limited *v = val;
		struct ve_vm_view vm;
		uint64_t dt, measured, stat, limit, total, idle;
		g_autoptr(GError) err = NULL;
		virDomainPtr dom;
		double u;

		if (!find_vm(e, k, &vm) || !vm.running)
			continue;
		total = vm.ledger->total_uj;
		idle = vm.ledger->comp_uj[VE_COMP_IDLE];
		if (!v->primed || now_us <= v->last_us) {
			v->primed = true;
			v->last_total_uj = total;
			v->last_idle_uj = idle;
			v->last_us = now_us;
			continue;
		}
		dt = now_us - v->last_us;
		measured = (total - v->last_total_uj) * 1000000u / dt;
		stat = (idle - v->last_idle_uj) * 1000000u / dt;
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
		limit = ve_limits_effective_uw(&v->lim, v->window_used_uj,
					       v->lim.budget_uj ? (v->window_start_us + v->lim.budget_window_s *
								   1000000u - now_us) / 1000000u : 0);
		u = ve_pctl_step(&v->ctl, limit, measured, stat);
		if (v->ctl.cannot_hold && !v->warned_hold) {
			say(l, k, v->name,
			    "VM '%s' cannot be held to %.3f W: at its CPU floor it still draws %.3f W",
			    v->name, (double)limit / 1e6, (double)measured / 1e6);
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

uint64_t ve_limiter_limit_uw(struct ve_limiter *l, const char *uuid)
{
	struct limited *v = g_hash_table_lookup(l->vms, uuid);

	return v ? v->lim.power_limit_uw : 0;
}

unsigned int ve_limiter_reconcile(struct ve_limiter *l, virConnectPtr conn, GString *report)
{
	return ve_cpubw_reconcile(l->bw, conn, report);
}

unsigned int ve_limiter_restore_all(struct ve_limiter *l, virConnectPtr conn)
{
	return ve_cpubw_restore_all(l->bw, conn);
}
