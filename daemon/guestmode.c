// SPDX-License-Identifier: GPL-2.0-or-later
/*
 * guestmode.c: virtenergyd --guest (see guestmode.h).
 */
#include <errno.h>
#include <fcntl.h>
#include <gio/gio.h>
#include <glib-unix.h>
#include <math.h>
#include <stdio.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "account.h"
#include "attrib.h"
#include "cgquota.h"
#include "cgroup.h"
#include "config.h"
#include "counter.h"
#include "cpustat.h"
#include "fileio.h"
#include "guestmode.h"
#include "log.h"
#include "ledger.h"
#include "powerctl.h"
#include "prom.h"
#include "units.h"

#define PERIOD_US 100000u

struct cg {
	char *name, *dir;
	uint32_t slot;
	bool present;                /* seen in this period's listing */
	bool primed;
	uint64_t prev_usage_ns;
	uint64_t limit_uw;           /* configured */
	uint64_t eff_limit_uw;       /* in force */
	struct ve_pctl ctl;
	uint64_t ctl_energy_uj;      /* ledger total at the last control step */
	double power_w;
};

struct ve_guest {
	struct ve_guest_opts o;
	char *source, *parent;
	GHashTable *limits;          /* name -> uint64_t µW */
	struct ve_account_table *accounts;
	struct ve_attrib *attrib;
	struct ve_ledger ledger;
	struct ve_result result;
	GPtrArray *cgs;              /* struct cg */
	struct ve_cgquota *quota;
	unsigned int ncpus;
	uint64_t tick_ns;
	bool primed;
	uint64_t prev_energy_uj, max_range_uj, prev_busy_ticks, last_us;
	uint64_t vm_limit_uw;
	unsigned int periods;
	uint64_t ctl_last_us;
	GArray *samples;             /* struct ve_thread_sample */
};

static void cg_free(gpointer p)
{
	struct cg *c = p;

	g_free(c->name);
	g_free(c->dir);
	g_free(c);
}

/* A one-number file (energy_uj, max_energy_range_uj, the export's): a strict decimal. */
static gboolean read_u64(const char *path, uint64_t *ret, GError **error)
{
	char buf[64];
	int r = ve_read_file_at(AT_FDCWD, path, buf, sizeof(buf), NULL);

	if (r == 0 && (r = ve_parse_u64(buf, ret)) < 0) {
		g_strchomp(buf);
		g_set_error(error, G_IO_ERROR, G_IO_ERROR_INVALID_DATA, "%s: '%s' is not a number",
			    path, buf);
		return FALSE;
	}
	if (r < 0) {
		g_set_error(error, G_IO_ERROR, g_io_error_from_errno(-r), "cannot read %s: %s", path,
			    g_strerror(-r));
		return FALSE;
	}
	return TRUE;
}

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

static void quota_log(void *ud, const char *cgroup, const char *msg)
{
	(void)ud;
	ve_log("%s: %s", cgroup, msg);
}

struct ve_guest *ve_guest_new(const struct ve_guest_opts *o, GError **error)
{
	struct ve_guest *g = g_new0(struct ve_guest, 1);
	g_autofree char *zone = NULL;
	long hz = sysconf(_SC_CLK_TCK);

	g->o = *o;
	g->source = g_strdup(o->source);
	g->parent = g_strdup(o->cgroup_parent);
	g->o.source = g->source;
	g->o.cgroup_parent = g->parent;
	g->o.limits = NULL;
	if (!g->o.control_periods)
		g->o.control_periods = 10;
	g->limits = g_hash_table_new_full(g_str_hash, g_str_equal, g_free, g_free);
	g->cgs = g_ptr_array_new_with_free_func(cg_free);
	g->samples = g_array_new(FALSE, TRUE, sizeof(struct ve_thread_sample));
	g->accounts = ve_account_table_new();
	g->attrib = ve_attrib_new();
	ve_ledger_init(&g->ledger);
	ve_result_init(&g->result);
	g->tick_ns = hz > 0 ? 1000000000u / (uint64_t)hz : 10000000u;
	g->ncpus = o->ncpus ? o->ncpus : (unsigned int)sysconf(_SC_NPROCESSORS_ONLN);
	/* the table starts with the host's slot: here, the guest's own */
	if (!g->accounts || !g->attrib) {
		g_set_error(error, G_IO_ERROR, G_IO_ERROR_FAILED, "out of memory");
		goto fail;
	}
	if (!parse_limits(g, o->limits, error))
		goto fail;
	zone = g_build_filename(g->source, "intel-rapl:0", "energy_uj", NULL);
	if (!g_file_test(zone, G_FILE_TEST_EXISTS)) {
		g_set_error(error, G_IO_ERROR, G_IO_ERROR_NOT_FOUND,
			    "no %s: is the host's export shared into this guest?", zone);
		goto fail;
	}
	if (!g_file_test(g->parent, G_FILE_TEST_IS_DIR)) {
		g_set_error(error, G_IO_ERROR, G_IO_ERROR_NOT_FOUND, "cgroup parent %s is not a directory",
			    g->parent);
		goto fail;
	}
	g->quota = ve_cgquota_new(o->state_dir, o->dry_run, quota_log, g);
	{
		g_autoptr(GString) report = g_string_new("");
		unsigned int n = ve_cgquota_reconcile(g->quota, report);

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
	if (g->quota) {
		ve_cgquota_restore_all(g->quota);
		ve_cgquota_free(g->quota);
	}
	g_ptr_array_free(g->cgs, TRUE);
	g_array_free(g->samples, TRUE);
	g_hash_table_destroy(g->limits);
	ve_result_clear(&g->result);
	ve_ledger_clear(&g->ledger);
	ve_attrib_free(g->attrib);
	ve_account_table_free(g->accounts);
	g_free(g->source);
	g_free(g->parent);
	g_free(g);
}

static struct cg *find_cg(struct ve_guest *g, const char *name)
{
	for (guint i = 0; i < g->cgs->len; i++) {
		struct cg *c = g->cgs->pdata[i];

		if (strcmp(c->name, name) == 0)
			return c;
	}
	return NULL;
}

/* List the parent's child cgroups: new ones become accounts, gone ones inactive. */
static gboolean scan_cgroups(struct ve_guest *g, GError **error)
{
	g_autoptr(GDir) d = g_dir_open(g->parent, 0, error);
	const char *name;

	if (!d)
		return FALSE;
	for (guint i = 0; i < g->cgs->len; i++)
		((struct cg *)g->cgs->pdata[i])->present = false;
	while ((name = g_dir_read_name(d))) {
		g_autofree char *dir = g_build_filename(g->parent, name, NULL);
		g_autofree char *procs = g_build_filename(dir, "cgroup.procs", NULL);
		struct cg *c;

		if (!g_file_test(dir, G_FILE_TEST_IS_DIR) || !g_file_test(procs, G_FILE_TEST_EXISTS))
			continue;
		c = find_cg(g, name);
		if (!c) {
			struct ve_pctl_params p;
			uint64_t *lim = g_hash_table_lookup(g->limits, name);

			c = g_new0(struct cg, 1);
			if (ve_account_add(g->accounts, VE_KIND_VM, 1, &c->slot) < 0) {
				g_free(c);
				g_set_error(error, G_IO_ERROR, G_IO_ERROR_FAILED, "out of memory");
				return FALSE;
			}
			c->name = g_strdup(name);
			c->dir = g_steal_pointer(&dir);
			c->limit_uw = lim ? *lim : 0;
			ve_pctl_params_default(&p);
			ve_pctl_init(&c->ctl, &p, 1.0);
			g_ptr_array_add(g->cgs, c);
		}
		c->present = true;
		ve_account_set_active(g->accounts, c->slot, true);
	}
	for (guint i = 0; i < g->cgs->len; i++) {
		struct cg *c = g->cgs->pdata[i];

		if (!c->present) {
			ve_account_set_active(g->accounts, c->slot, false);
			c->primed = false;
			ve_cgquota_restore(g->quota, c->dir, NULL);
		}
	}
	return TRUE;
}

/*
 * The limits in force: each configured one, scaled down in proportion when
 * their sum is above the VM's own limit.  Every period, so that a change of
 * the VM's limit shows at once, not only at the next control step.
 */
static void effective_limits(struct ve_guest *g)
{
	uint64_t sum = 0;
	double scale = 1.0;

	for (guint i = 0; i < g->cgs->len; i++) {
		struct cg *c = g->cgs->pdata[i];

		if (c->present && c->limit_uw)
			sum += c->limit_uw;
	}
	if (g->vm_limit_uw && sum > g->vm_limit_uw)
		scale = (double)g->vm_limit_uw / (double)sum;
	for (guint i = 0; i < g->cgs->len; i++) {
		struct cg *c = g->cgs->pdata[i];

		c->eff_limit_uw = (uint64_t)((double)c->limit_uw * scale);
	}
}

/* Hold each limited cgroup to its limit in force. */
static void control(struct ve_guest *g, uint64_t now_us)
{
	double dt = (double)(now_us - g->ctl_last_us) / 1e6;

	for (guint i = 0; i < g->cgs->len; i++) {
		struct cg *c = g->cgs->pdata[i];
		uint64_t total = c->slot < g->ledger.n ? g->ledger.e[c->slot].total_uj : 0;
		uint64_t measured;
		double u;

		c->power_w = dt > 0 ? (double)(total - c->ctl_energy_uj) / 1e6 / dt : 0.0;
		c->ctl_energy_uj = total;
		if (!c->present || !c->limit_uw)
			continue;
		measured = (uint64_t)(c->power_w * 1e6);
		u = ve_pctl_step(&c->ctl, c->eff_limit_uw, measured, 0);
		if (u >= 1.0 && ve_cgquota_current(g->quota, c->dir) == 0.0)
			continue;        /* under its limit and never throttled */
		{
			g_autoptr(GError) err = NULL;

			if (!ve_cgquota_set(g->quota, c->dir, u, g->ncpus, &err))
				ve_log("cgroup %s: %s", c->name, err->message);
		}
	}
	g->ctl_last_us = now_us;
}

gboolean ve_guest_period(struct ve_guest *g, uint64_t now_us, GError **error)
{
	g_autofree char *energy_path = g_build_filename(g->source, "intel-rapl:0", "energy_uj", NULL);
	g_autofree char *range_path = g_build_filename(g->source, "intel-rapl:0",
						       "max_energy_range_uj", NULL);
	g_autofree char *limit_path = g_build_filename(g->source, "intel-rapl:0",
						       "constraint_0_power_limit_uw", NULL);
	struct ve_cpustat st;
	struct ve_device dev = { .kind = VE_DEV_PKG, .measured = true };
	struct ve_period p = { 0 };
	struct ve_error err = { 0 };
	uint64_t energy, delta = 0, busy_ns, inside_ns = 0, limit = 0;
	int r;

	if (!read_u64(energy_path, &energy, error) || !read_u64(range_path, &g->max_range_uj, error))
		return FALSE;
	if (g_file_test(limit_path, G_FILE_TEST_EXISTS) && read_u64(limit_path, &limit, NULL))
		g->vm_limit_uw = limit;
	r = ve_read_proc_stat(g->o.root_fd, NULL, 0, &st);
	if (r < 0) {
		g_set_error(error, G_IO_ERROR, g_io_error_from_errno(-r), "cannot read proc/stat: %s",
			    g_strerror(-r));
		return FALSE;
	}
	if (!scan_cgroups(g, error))
		return FALSE;
	effective_limits(g);
	g_array_set_size(g->samples, 0);
	for (guint i = 0; i < g->cgs->len; i++) {
		struct cg *c = g->cgs->pdata[i];
		struct ve_thread_sample s = { .account = c->slot, .comp = VE_COMP_VCPU };
		uint64_t usage;

		if (!c->present || ve_cgroup_read_cpu_usage(AT_FDCWD, c->dir, &usage) < 0)
			continue;       /* gone between the listing and now */
		if (c->primed && usage >= c->prev_usage_ns) {
			s.delta[0] = usage - c->prev_usage_ns;
			inside_ns += s.delta[0];
			g_array_append_val(g->samples, s);
		}
		c->prev_usage_ns = usage;
		c->primed = true;
	}
	if (!g->primed) {
		g->primed = true;
		g->prev_energy_uj = energy;
		g->prev_busy_ticks = st.busy_ticks[0];
		g->last_us = g->ctl_last_us = now_us;
		return TRUE;
	}
	r = ve_energy_uj_delta(g->prev_energy_uj, energy, g->max_range_uj, &delta);
	if (r < 0) {
		g_set_error(error, G_IO_ERROR, G_IO_ERROR_INVALID_DATA,
			    "%s went from %" G_GUINT64_FORMAT " to %" G_GUINT64_FORMAT
			    " µJ with a range of %" G_GUINT64_FORMAT ": not a counter", energy_path,
			    g->prev_energy_uj, energy, g->max_range_uj);
		g->prev_energy_uj = energy;
		return FALSE;
	}
	/* the guest's CPU time outside the cgroups: its own */
	busy_ns = (st.busy_ticks[0] - g->prev_busy_ticks) * g->tick_ns;
	if (busy_ns > inside_ns) {
		struct ve_thread_sample s = { .account = VE_ACCOUNT_HOST, .comp = VE_COMP_CPU };

		s.delta[0] = busy_ns - inside_ns;
		g_array_append_val(g->samples, s);
	}
	dev.measured_uj = (int64_t)delta;
	dev.cpu.n_events = 1;
	dev.cpu.weight_pj[0] = 1.0;          /* by CPU time */
	dev.cpu.idle_power_uw = 0;           /* the host charged the VM's idle share already */
	p.period_us = now_us > g->last_us ? now_us - g->last_us : 1;
	p.devices = &dev;
	p.n_devices = 1;
	p.threads = (const struct ve_thread_sample *)(void *)g->samples->data;
	p.n_threads = g->samples->len;
	r = ve_attrib_run(g->attrib, g->accounts, VE_IDLE_NONE, &p, &g->result, &err);
	if (r == 0)
		r = ve_ledger_apply(&g->ledger, &g->result);
	g->prev_energy_uj = energy;
	g->prev_busy_ticks = st.busy_ticks[0];
	g->last_us = now_us;
	if (r < 0) {
		g_set_error(error, G_IO_ERROR, G_IO_ERROR_FAILED, "period refused: %s",
			    err.msg[0] ? err.msg : g_strerror(-r));
		return FALSE;
	}
	if (++g->periods % g->o.control_periods == 0)
		control(g, now_us);
	return TRUE;
}

size_t ve_guest_n_cgroups(const struct ve_guest *g)
{
	return g->cgs->len;
}

void ve_guest_cgroup(const struct ve_guest *g, size_t i, struct ve_guest_cg *ret)
{
	const struct cg *c = g->cgs->pdata[i];

	ret->name = c->name;
	ret->energy_uj = c->slot < g->ledger.n ? g->ledger.e[c->slot].total_uj : 0;
	ret->power_w = c->power_w;
	ret->limit_uw = c->eff_limit_uw;
	ret->u = ve_cgquota_current(g->quota, c->dir);
}

uint64_t ve_guest_energy_uj(const struct ve_guest *g)
{
	return g->ledger.energy_uj;
}

uint64_t ve_guest_own_uj(const struct ve_guest *g)
{
	return g->ledger.n ? g->ledger.e[VE_ACCOUNT_HOST].total_uj : 0;
}

uint64_t ve_guest_vm_limit_uw(const struct ve_guest *g)
{
	return g->vm_limit_uw;
}

/* ---- Prometheus ------------------------------------------------------------ */

/* {cgroup="NAME"} and the space before the value */
static void prom_cgroup(GString *out, const char *name)
{
	g_string_append(out, "{cgroup=\"");
	ve_prom_label(out, name);
	g_string_append(out, "\"} ");
}

char *ve_guest_prom_render(const struct ve_guest *g)
{
	GString *out = g_string_new("");
	struct ve_guest_cg c;
	size_t n = ve_guest_n_cgroups(g);
	bool any_limit = false;

	ve_prom_head(out, "virtenergy_guest_energy_joules_total", "counter",
		  "Energy of this VM since the guest daemon started, as the host attributes it.");
	g_string_append(out, "virtenergy_guest_energy_joules_total ");
	ve_prom_micro(out, ve_guest_energy_uj(g));
	g_string_append_c(out, '\n');
	ve_prom_head(out, "virtenergy_guest_own_energy_joules_total", "counter",
		  "The part of the VM's energy spent outside the accounted cgroups.");
	g_string_append(out, "virtenergy_guest_own_energy_joules_total ");
	ve_prom_micro(out, ve_guest_own_uj(g));
	g_string_append_c(out, '\n');
	if (g->vm_limit_uw) {
		ve_prom_head(out, "virtenergy_guest_power_limit_watts", "gauge",
			  "The VM's own power limit, set on the host.");
		g_string_append(out, "virtenergy_guest_power_limit_watts ");
		ve_prom_micro(out, g->vm_limit_uw);
		g_string_append_c(out, '\n');
	}
	ve_prom_head(out, "virtenergy_cgroup_energy_joules_total", "counter",
		  "Energy attributed to each cgroup since the guest daemon started.");
	for (size_t i = 0; i < n; i++) {
		ve_guest_cgroup(g, i, &c);
		g_string_append(out, "virtenergy_cgroup_energy_joules_total");
		prom_cgroup(out, c.name);
		ve_prom_micro(out, c.energy_uj);
		g_string_append_c(out, '\n');
		any_limit |= c.limit_uw != 0;
	}
	ve_prom_head(out, "virtenergy_cgroup_power_watts", "gauge",
		  "Power of each cgroup over the last control period.");
	for (size_t i = 0; i < n; i++) {
		ve_guest_cgroup(g, i, &c);
		g_string_append(out, "virtenergy_cgroup_power_watts");
		prom_cgroup(out, c.name);
		g_string_append_printf(out, "%.6f\n", c.power_w);
	}
	if (any_limit) {
		ve_prom_head(out, "virtenergy_cgroup_power_limit_watts", "gauge",
			  "The power limit in force for each limited cgroup.");
		for (size_t i = 0; i < n; i++) {
			ve_guest_cgroup(g, i, &c);
			if (!c.limit_uw)
				continue;
			g_string_append(out, "virtenergy_cgroup_power_limit_watts");
			prom_cgroup(out, c.name);
			ve_prom_micro(out, c.limit_uw);
			g_string_append_c(out, '\n');
		}
	}
	ve_prom_build_info(out);
	return g_string_free(out, FALSE);
}

/* ---- the daemon ------------------------------------------------------------ */

struct loop {
	struct ve_guest *g;
	GMainLoop *main;
	bool foreground;
	unsigned int ticks;
	int status;
	const char *prom_file;
	char *prom_error;            /* the last one logged, so it is logged once */
};

static void write_prom(struct loop *l)
{
	g_autofree char *text = NULL;
	g_autoptr(GError) err = NULL;

	if (!l->prom_file)
		return;
	text = ve_guest_prom_render(l->g);
	if (!ve_prom_write(l->prom_file, text, &err)) {
		if (g_strcmp0(l->prom_error, err->message) != 0)
			ve_log("%s; the Prometheus textfile is stale",
				err->message);
		g_free(l->prom_error);
		l->prom_error = g_strdup(err->message);
	} else {
		g_clear_pointer(&l->prom_error, g_free);
	}
}

static uint64_t mono_us(void)
{
	return (uint64_t)g_get_monotonic_time();
}

static void print_table(struct ve_guest *g)
{
	printf("VM %.3f J", (double)ve_guest_energy_uj(g) / 1e6);
	if (ve_guest_vm_limit_uw(g))
		printf(", limit %.2f W", (double)ve_guest_vm_limit_uw(g) / 1e6);
	printf(" | guest's own %.3f J\n", (double)ve_guest_own_uj(g) / 1e6);
	printf("%-24s %10s %12s %10s %8s\n", "CGROUP", "POWER_W", "ENERGY_J", "LIMIT_W", "CPU");
	for (size_t i = 0; i < ve_guest_n_cgroups(g); i++) {
		struct ve_guest_cg c;

		ve_guest_cgroup(g, i, &c);
		printf("%-24.24s %10.2f %12.3f ", c.name, c.power_w, (double)c.energy_uj / 1e6);
		if (c.limit_uw)
			printf("%10.2f ", (double)c.limit_uw / 1e6);
		else
			printf("%10s ", "-");
		if (c.u > 0)
			printf("%7.1f%%\n", 100 * c.u);
		else
			printf("%8s\n", "full");
	}
	fflush(stdout);
}

static gboolean on_tick(gpointer data)
{
	struct loop *l = data;
	g_autoptr(GError) err = NULL;

	if (!ve_guest_period(l->g, mono_us(), &err))
		ve_log("%s", err->message);
	if (++l->ticks % 10 == 0) {
		if (l->foreground)
			print_table(l->g);
		write_prom(l);
	}
	return G_SOURCE_CONTINUE;
}

static gboolean on_signal(gpointer data)
{
	struct loop *l = data;

	g_main_loop_quit(l->main);
	return G_SOURCE_CONTINUE;
}

/*
 * SIGHUP must not end guest mode (its default action would, leaving the
 * cgroups it throttles as they are until the next start): guest mode has
 * no reload yet, so say so and go on.
 */
static gboolean on_sighup(gpointer data)
{
	(void)data;
	ve_log("guest mode has no reload; restart it to apply a changed configuration");
	return G_SOURCE_CONTINUE;
}

int ve_guest_main(const struct ve_guest_opts *o, bool foreground, bool once)
{
	g_autoptr(GError) err = NULL;
	struct loop l = { .foreground = foreground,
			  .prom_file = o->prom_file && o->prom_file[0] ? o->prom_file : NULL };
	guint sigterm, sigint, sighup;

	l.g = ve_guest_new(o, &err);
	if (!l.g) {
		ve_log("%s; not starting", err->message);
		return 2;
	}
	ve_log("guest mode: energy from %s, cgroups under %s%s", o->source,
		o->cgroup_parent, o->dry_run ? "; dry run" : "");
	if (once) {
		struct timespec ts = { 0, PERIOD_US * 1000 };

		if (!ve_guest_period(l.g, mono_us(), &err) ||
		    (nanosleep(&ts, NULL), !ve_guest_period(l.g, mono_us(), &err))) {
			ve_log("%s", err->message);
			ve_guest_free(l.g);
			return 1;
		}
		print_table(l.g);
		write_prom(&l);
		g_free(l.prom_error);
		ve_guest_free(l.g);
		return 0;
	}
	l.main = g_main_loop_new(NULL, FALSE);
	g_timeout_add(PERIOD_US / 1000, on_tick, &l);
	sigterm = g_unix_signal_add(SIGTERM, on_signal, &l);
	sigint = g_unix_signal_add(SIGINT, on_signal, &l);
	sighup = g_unix_signal_add(SIGHUP, on_sighup, &l);
	g_main_loop_run(l.main);
	g_source_remove(sigterm);
	g_source_remove(sigint);
	g_source_remove(sighup);
	g_main_loop_unref(l.main);
	write_prom(&l);
	g_free(l.prom_error);
	ve_guest_free(l.g);      /* restores every throttled cgroup */
	ve_log("guest mode stopped; throttles restored");
	return 0;
}
