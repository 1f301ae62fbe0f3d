// SPDX-License-Identifier: GPL-2.0-or-later
/*
 * guestmode.c: virtenergyd --guest (see guestmode.h): the engine in
 * guest mode (engine.h, ve_engine_new_guest) and the controller that holds
 * cgroups to their limits.  The daemon's loop is virtenergyd's own.
 */
#include <errno.h>
#include <fcntl.h>
#include <gio/gio.h>
#include <stdio.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "error.h"
#include "budget.h"
#include "cgquota.h"
#include "config.h"
#include "engine.h"
#include "guestmode.h"
#include "log.h"
#include "powerctl.h"
#include "prom.h"

/* What the controller keeps of one cgroup (the account itself is the engine's). */
struct cg_ctl {
	uint64_t limit_uw;           /* configured */
	uint64_t eff_limit_uw;       /* in force */
	struct ve_pctl ctl;
	uint64_t ctl_energy_uj;      /* ledger total at the last control step */
	uint64_t power_uw;           /* over the last control period */
};

struct ve_guest {
	struct ve_guest_opts o;
	struct ve_config cfg;        /* the engine's: defaults, no idle charge */
	struct ve_engine *engine;
	int state_fd;
	GHashTable *limits;          /* name -> uint64_t µW */
	GHashTable *ctl;             /* cgroup name -> struct cg_ctl */
	struct ve_actuator quota;    /* the cgroups' CPU bandwidth (cgquota.h) */
	unsigned int ncpus;
	bool primed;
	uint64_t vm_limit_uw;
	unsigned int periods;
	uint64_t ctl_last_us;
};

static gboolean parse_limits(struct ve_guest *g, char **limits, GError **error)
{
	for (size_t i = 0; limits && limits[i]; i++) {
		char *name;
		uint64_t uw;

		if (!ve_guest_limit_parse(limits[i], &name, &uw, error))
			return FALSE;
		g_hash_table_insert(g->limits, name, g_memdup2(&uw, sizeof(uw)));
	}
	return TRUE;
}

static void quota_log(void *ud, const char *cgroup, const char *name, const char *msg)
{
	(void)ud, (void)name;
	ve_log("%s: %s", cgroup, msg);
}

struct ve_guest *ve_guest_new(const struct ve_guest_opts *o, GError **error)
{
	struct ve_guest *g = g_new0(struct ve_guest, 1);
	g_autofree char *warning = NULL;

	g->o = *o;
	g->o.limits = NULL;
	g->state_fd = -1;
	if (!g->o.control_periods)
		g->o.control_periods = 10;
	g->limits = g_hash_table_new_full(g_str_hash, g_str_equal, g_free, g_free);
	g->ctl = g_hash_table_new_full(g_str_hash, g_str_equal, g_free, g_free);
	g->ncpus = o->ncpus ? o->ncpus : (unsigned int)sysconf(_SC_NPROCESSORS_ONLN);
	ve_config_defaults(&g->cfg);
	/* the host charged the VM its share of idle power: nothing idle to split here */
	g->cfg.idle_policy = VE_IDLE_NONE;
	if (!parse_limits(g, o->limits, error))
		goto fail;
	if (o->state_dir) {
		g->state_fd = open(o->state_dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
		if (g->state_fd < 0) {
			g_set_error(error, VE_ERROR, ve_error_from_errno(errno),
				    "cannot use state directory %s: %s", o->state_dir, g_strerror(errno));
			goto fail;
		}
	}
	g->engine = ve_engine_new_guest(o->root_fd, &g->cfg, g->state_fd, o->source,
					o->cgroup_parent, &warning, error);
	if (!g->engine)
		goto fail;
	if (warning)
		ve_log("%s", warning);
	g->quota = ve_cgquota_actuator(ve_cgquota_new(o->state_dir, o->dry_run, quota_log, g));
	{
		g_autoptr(GString) report = g_string_new("");
		unsigned int n = ve_act_reconcile(&g->quota, NULL, report);

		if (n || report->len)
			ve_log("restored the CPU bandwidth of %u cgroup(s) a previous run left throttled%s%s",
			       n, report->len ? ": " : "", report->str);
	}
	return g;
fail:
	ve_guest_free(g);
	return NULL;
}

void ve_guest_free(struct ve_guest *g)
{
	if (!g)
		return;
	if (g->quota.impl) {
		g_autoptr(GString) report = g_string_new("");

		if (ve_act_restore_all(&g->quota, NULL, report))
			ve_log("could not restore every cgroup: %s", report->str);
		ve_act_free(&g->quota);
	}
	ve_engine_free(g->engine);
	if (g->state_fd >= 0)
		close(g->state_fd);
	g_hash_table_destroy(g->ctl);
	g_hash_table_destroy(g->limits);
	ve_config_clear(&g->cfg);
	g_free(g);
}

struct ve_engine *ve_guest_engine(struct ve_guest *g)
{
	return g->engine;
}

/* The CPU bandwidth cgroup @name is held to, 0 when it is not throttled (or not seen yet). */
static double cg_u(const struct ve_guest *g, const char *name)
{
	return ve_act_current(&g->quota, ve_engine_vm_cgroup(g->engine, name));
}

/* The controller's record of cgroup @name, made at first sight with its configured limit. */
static struct cg_ctl *ctl_get(struct ve_guest *g, const char *name)
{
	struct cg_ctl *c = g_hash_table_lookup(g->ctl, name);

	if (!c) {
		struct ve_pctl_params p;
		uint64_t *lim = g_hash_table_lookup(g->limits, name);

		c = g_new0(struct cg_ctl, 1);
		c->limit_uw = lim ? *lim : 0;
		ve_pctl_params_default(&p);
		ve_pctl_init(&c->ctl, &p, 1.0);
		g_hash_table_insert(g->ctl, g_strdup(name), c);
	}
	return c;
}

/*
 * The limits in force: the running cgroups' configured ones, held within
 * the VM's own limit (ve_limits_within).  Every period, so that a change
 * of the VM's limit shows at once, not only at the next control step.  A
 * cgroup that went away has no limit in force, and gets its CPU bandwidth
 * back at once.
 */
static void effective_limits(struct ve_guest *g)
{
	size_t n = ve_engine_n_vms(g->engine);
	g_autofree uint64_t *lim = g_new0(uint64_t, n ? n : 1);

	for (size_t i = 0; i < n; i++) {
		struct ve_vm_view v;

		ve_engine_vm(g->engine, i, &v);
		if (v.running)
			lim[i] = ctl_get(g, v.uuid)->limit_uw;
		else if (cg_u(g, v.uuid) != 0.0)
			ve_act_restore(&g->quota,
				       &(struct ve_act_target){ .key = ve_engine_vm_cgroup(g->engine, v.uuid),
								.name = v.uuid },
				       NULL);
	}
	ve_limits_within(lim, n, g->vm_limit_uw, lim);
	for (size_t i = 0; i < n; i++) {
		struct ve_vm_view v;

		ve_engine_vm(g->engine, i, &v);
		ctl_get(g, v.uuid)->eff_limit_uw = lim[i];
	}
}

/* Hold each limited cgroup to its limit in force. */
static void control(struct ve_guest *g, uint64_t now_us)
{
	uint64_t dt_us = now_us - g->ctl_last_us;
	size_t n = ve_engine_n_vms(g->engine);

	for (size_t i = 0; i < n; i++) {
		struct ve_vm_view v;
		struct cg_ctl *c;
		const char *dir;
		double u;

		ve_engine_vm(g->engine, i, &v);
		c = ctl_get(g, v.uuid);
		c->power_uw = dt_us && v.ledger->total_uj >= c->ctl_energy_uj
				      ? ve_power_uw(v.ledger->total_uj - c->ctl_energy_uj, dt_us) : 0;
		c->ctl_energy_uj = v.ledger->total_uj;
		dir = ve_engine_vm_cgroup(g->engine, v.uuid);
		if (!v.running || !c->limit_uw || !dir)
			continue;
		u = ve_pctl_step(&c->ctl, c->eff_limit_uw, c->power_uw, 0);
		if (u >= 1.0 && ve_act_current(&g->quota, dir) == 0.0)
			continue;        /* under its limit and never throttled */
		{
			g_autoptr(GError) err = NULL;
			const struct ve_act_target t = { .key = dir, .name = v.uuid, .ncpus = g->ncpus };

			if (!ve_act_set(&g->quota, &t, u, NULL, &err))
				ve_log("cgroup %s: %s", v.uuid, err->message);
		}
	}
	g->ctl_last_us = now_us;
}

gboolean ve_guest_period(struct ve_guest *g, uint64_t now_us, GError **error)
{
	uint64_t limit;
	gboolean ok;

	if (ve_engine_source_limit_uw(g->engine, &limit))
		g->vm_limit_uw = limit;
	ok = ve_engine_period(g->engine, now_us, error);
	effective_limits(g);
	if (!ok)
		return FALSE;
	if (!g->primed) {
		g->primed = true;
		g->ctl_last_us = now_us;
		for (size_t i = 0; i < ve_engine_n_vms(g->engine); i++) {
			struct ve_vm_view v;

			ve_engine_vm(g->engine, i, &v);
			ctl_get(g, v.uuid)->ctl_energy_uj = v.ledger->total_uj;
		}
		return TRUE;
	}
	if (++g->periods % g->o.control_periods == 0)
		control(g, now_us);
	return TRUE;
}

size_t ve_guest_n_cgroups(const struct ve_guest *g)
{
	return ve_engine_n_vms(g->engine);
}

void ve_guest_cgroup(const struct ve_guest *g, size_t i, struct ve_guest_cg *ret)
{
	struct ve_vm_view v;
	struct cg_ctl *c;

	ve_engine_vm(g->engine, i, &v);
	c = ctl_get((struct ve_guest *)g, v.uuid);
	ret->name = v.uuid;
	ret->energy_uj = v.ledger->total_uj;
	ret->power_w = (double)c->power_uw / 1e6;
	ret->limit_uw = c->eff_limit_uw;
	ret->u = cg_u(g, v.uuid);
}

uint64_t ve_guest_energy_uj(const struct ve_guest *g)
{
	struct ve_host_view h;

	ve_engine_host(g->engine, &h);
	return h.energy_uj;
}

uint64_t ve_guest_own_uj(const struct ve_guest *g)
{
	struct ve_host_view h;

	ve_engine_host(g->engine, &h);
	return h.ledger->total_uj;
}

uint64_t ve_guest_vm_limit_uw(const struct ve_guest *g)
{
	return g->vm_limit_uw;
}

char *ve_guest_prom_render(const struct ve_guest *g)
{
	size_t n = ve_guest_n_cgroups(g);
	g_autofree struct ve_prom_cgroup *cgs = g_new0(struct ve_prom_cgroup, n ? n : 1);
	struct ve_prom_guest pg = { ve_guest_energy_uj(g), ve_guest_own_uj(g), g->vm_limit_uw };

	for (size_t i = 0; i < n; i++) {
		struct ve_guest_cg c;

		ve_guest_cgroup(g, i, &c);
		cgs[i] = (struct ve_prom_cgroup){ c.name, c.energy_uj,
						  ctl_get((struct ve_guest *)g, c.name)->power_uw,
						  c.limit_uw };
	}
	return ve_prom_render_guest(&pg, cgs, n);
}

void ve_guest_print_table(const struct ve_guest *g, FILE *out)
{
	fprintf(out, "VM %.3f J", (double)ve_guest_energy_uj(g) / 1e6);
	if (ve_guest_vm_limit_uw(g))
		fprintf(out, ", limit %.2f W", (double)ve_guest_vm_limit_uw(g) / 1e6);
	fprintf(out, " | guest's own %.3f J\n", (double)ve_guest_own_uj(g) / 1e6);
	fprintf(out, "%-24s %10s %12s %10s %8s\n", "CGROUP", "POWER_W", "ENERGY_J", "LIMIT_W", "CPU");
	for (size_t i = 0; i < ve_guest_n_cgroups(g); i++) {
		struct ve_guest_cg c;

		ve_guest_cgroup(g, i, &c);
		fprintf(out, "%-24.24s %10.2f %12.3f ", c.name, c.power_w, (double)c.energy_uj / 1e6);
		if (c.limit_uw)
			fprintf(out, "%10.2f ", (double)c.limit_uw / 1e6);
		else
			fprintf(out, "%10s ", "-");
		if (c.u > 0)
			fprintf(out, "%7.1f%%\n", 100 * c.u);
		else
			fprintf(out, "%8s\n", "full");
	}
	fflush(out);
}
