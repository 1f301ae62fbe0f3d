// SPDX-License-Identifier: GPL-2.0-or-later
/*
 * virtenergyd --guest (daemon/guestmode.c) and its actuator
 * (daemon/act/cgquota.c) against fixture trees: an export directory, a
 * cgroup parent with a v2-style and a v1-style child, proc/stat.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <unistd.h>

#include <cmocka.h>
#include <glib.h>

#include "cgquota.h"
#include "config.h"
#include "fixture.h"
#include "guestmode.h"

struct env {
	struct fx fx;
	char src[PATH_MAX + 16], cg[PATH_MAX + 16], state[PATH_MAX + 16];
	uint64_t tick_ns;
};

static void env_up(struct env *e)
{
	long hz = sysconf(_SC_CLK_TCK);

	fx_make(&e->fx);
	snprintf(e->src, sizeof(e->src), "%s/export", e->fx.path);
	snprintf(e->cg, sizeof(e->cg), "%s/cgroup", e->fx.path);
	snprintf(e->state, sizeof(e->state), "%s/state", e->fx.path);
	e->tick_ns = 1000000000u / (uint64_t)hz;
	fx_write(&e->fx, "export/intel-rapl:0/energy_uj", "1000\n");
	fx_write(&e->fx, "export/intel-rapl:0/max_energy_range_uj", "1000000\n");
	fx_write(&e->fx, "export/intel-rapl:0/constraint_0_power_limit_uw", "0\n");
	/* a: cgroup v2 files; b: v1 (cpuacct and cpu co-mounted) */
	fx_write(&e->fx, "cgroup/a/cgroup.procs", "");
	fx_write(&e->fx, "cgroup/a/cpu.stat", "usage_usec 0\nuser_usec 0\nsystem_usec 0\n");
	fx_write(&e->fx, "cgroup/a/cpu.max", "max 100000\n");
	fx_write(&e->fx, "cgroup/b/cgroup.procs", "");
	fx_write(&e->fx, "cgroup/b/cpuacct.usage", "0\n");
	fx_write(&e->fx, "cgroup/b/cpu.cfs_quota_us", "-1\n");
	fx_write(&e->fx, "cgroup/notacgroup", "a file\n");
	fx_write(&e->fx, "proc/stat", "cpu  0 0 0 100 0 0 0 0 0 0\ncpu0 0 0 0 100 0 0 0 0 0 0\n");
	fx_mkdir(&e->fx, "state");
}

static void set_busy_ticks(struct env *e, uint64_t ticks)
{
	char text[256];

	snprintf(text, sizeof(text),
		 "cpu  %llu 0 0 100 0 0 0 0 0 0\ncpu0 %llu 0 0 100 0 0 0 0 0 0\n",
		 (unsigned long long)ticks, (unsigned long long)ticks);
	fx_write(&e->fx, "proc/stat", text);
}

static void set_u64(struct env *e, const char *rel, uint64_t v)
{
	char text[32];

	snprintf(text, sizeof(text), "%llu\n", (unsigned long long)v);
	fx_write(&e->fx, rel, text);
}

static char *slurp(struct env *e, const char *rel)
{
	g_autofree char *path = g_build_filename(e->fx.path, rel, NULL);
	char *text = NULL;

	check(g_file_get_contents(path, &text, NULL, NULL), "read %s", path);
	return g_strchomp(text);
}

static struct ve_guest *guest(struct env *e, char **limits, GError **err)
{
	struct ve_guest_opts o = {
		.source = e->src, .cgroup_parent = e->cg, .state_dir = e->state, .limits = limits,
		.root_fd = e->fx.fd, .control_periods = 1, .ncpus = 2,
	};

	return ve_guest_new(&o, err);
}

static const struct ve_guest_cg *cg_named(struct ve_guest *g, const char *name,
					  struct ve_guest_cg *buf)
{
	for (size_t i = 0; i < ve_guest_n_cgroups(g); i++) {
		ve_guest_cgroup(g, i, buf);
		if (strcmp(buf->name, name) == 0)
			return buf;
	}
	return NULL;
}

/* a ran 300 ms, b 100 ms, the guest 500 ms in all: 0.5 J splits 3:1:1. */
static void test_attribution(void **state)
{
	struct env e;
	struct ve_guest *g;
	struct ve_guest_cg a, b;
	g_autoptr(GError) err = NULL;
	uint64_t ticks;

	(void)state;
	env_up(&e);
	g = guest(&e, NULL, &err);
	check(g != NULL, "new: %s", err ? err->message : "");
	check(ve_guest_period(g, 1000000, &err), "prime: %s", err ? err->message : "");
	check_u64(ve_guest_energy_uj(g), 0, "nothing before the second period");
	fx_write(&e.fx, "cgroup/a/cpu.stat", "usage_usec 300000\nuser_usec 0\nsystem_usec 0\n");
	set_u64(&e, "cgroup/b/cpuacct.usage", 100000000u);
	ticks = 500000000u / e.tick_ns;
	set_busy_ticks(&e, ticks);
	fx_write(&e.fx, "export/intel-rapl:0/energy_uj", "501000\n");
	check(ve_guest_period(g, 1100000, &err), "period: %s", err ? err->message : "");
	check_u64(ve_guest_n_cgroups(g), 2, "two cgroups (a file is not one)");
	check(cg_named(g, "a", &a) && cg_named(g, "b", &b), "both named");
	check_u64(ve_guest_energy_uj(g), 500000, "the VM's energy");
	check_u64(a.energy_uj, 300000, "a by CPU time");
	check_u64(b.energy_uj, 100000, "b by CPU time");
	check_u64(ve_guest_own_uj(g), 100000, "the guest's own, outside the cgroups");

	/* the counter wraps at max_energy_range_uj */
	fx_write(&e.fx, "export/intel-rapl:0/energy_uj", "1500\n");   /* 501000 -> 1e6 -> 1500 */
	fx_write(&e.fx, "cgroup/a/cpu.stat", "usage_usec 400000\n");
	check(ve_guest_period(g, 1200000, &err), "wrap: %s", err ? err->message : "");
	check_u64(ve_guest_energy_uj(g), 500000 + 500500, "wrapped delta");
	check(cg_named(g, "a", &a), "a");
	check_u64(ve_guest_energy_uj(g), a.energy_uj + cg_named(g, "b", &b)->energy_uj +
					 ve_guest_own_uj(g), "conservation");

	/* the Prometheus text carries the same figures, in joules */
	{
		g_autofree char *text = ve_guest_prom_render(g);

		check_u64(a.energy_uj, 800500, "a took the whole wrapped period (b and own idle)");
		check(strstr(text, "\nvirtenergy_guest_energy_joules_total 1.000500\n") != NULL,
		      "the VM's energy in J: %s", text);
		check(strstr(text, "\nvirtenergy_cgroup_energy_joules_total{cgroup=\"a\"} 0.800500\n"),
		      "a's energy in J: %s", text);
		check(strstr(text, "\nvirtenergy_guest_own_energy_joules_total 0.100000\n"),
		      "the guest's own in J: %s", text);
		check(strstr(text, "# TYPE virtenergy_cgroup_power_watts gauge\n") != NULL, "a gauge");
		check(strstr(text, "power_limit") == NULL, "no limits, no limit metrics: %s", text);
		check(strstr(text, "\nvirtenergy_build_info{version=\"" VE_VERSION "\"} 1\n"),
		      "build_info, as on the host: %s", text);
	}

	/* a bad reading is refused and counts nothing */
	fx_write(&e.fx, "export/intel-rapl:0/energy_uj", "lots\n");
	check(!ve_guest_period(g, 1300000, &err), "a bad energy_uj is refused");
	check(err && strstr(err->message, "energy_uj"), "naming the file: %s", err->message);
	check_u64(ve_guest_energy_uj(g), 1000500, "and changes nothing");
	ve_guest_free(g);
	fx_remove(&e.fx);
}

/* A limit lowers the cgroup's bandwidth; freeing restores it. */
static void test_limit(void **state)
{
	struct env e;
	struct ve_guest *g;
	struct ve_guest_cg a;
	g_autoptr(GError) err = NULL;
	char *limits[] = { "a=1W", NULL };
	g_autofree char *max = NULL, *after = NULL;

	(void)state;
	env_up(&e);
	fx_write(&e.fx, "export/intel-rapl:0/max_energy_range_uj", "100000000\n");
	g = guest(&e, limits, &err);
	check(g != NULL, "new: %s", err ? err->message : "");
	check(ve_guest_period(g, 1000000, &err), "prime");
	/* over 1 s, a takes all of 4 J: 4 W against 1 W */
	fx_write(&e.fx, "cgroup/a/cpu.stat", "usage_usec 1000000\n");
	set_busy_ticks(&e, 1000000000u / e.tick_ns);
	fx_write(&e.fx, "export/intel-rapl:0/energy_uj", "4001000\n");
	check(ve_guest_period(g, 2000000, &err), "period: %s", err ? err->message : "");
	check(cg_named(g, "a", &a), "a");
	check_near(a.power_w, 4.0, 1e-6, "a's power");
	check_u64(a.limit_uw, 1000000, "a's limit");
	check(a.u > 0 && a.u < 1, "a throttled (u %g)", a.u);
	max = slurp(&e, "cgroup/a/cpu.max");
	check(strcmp(max, "max 100000") != 0 && g_str_has_suffix(max, " 100000"), "cpu.max '%s'", max);
	check(g_file_test(e.state, G_FILE_TEST_IS_DIR), "state dir");
	{
		g_autofree char *text = ve_guest_prom_render(g);

		check(strstr(text, "\nvirtenergy_cgroup_power_limit_watts{cgroup=\"a\"} 1.000000\n") &&
		      !strstr(text, "power_limit_watts{cgroup=\"b\"}"),
		      "a's limit, and only a's, in the Prometheus text: %s", text);
	}
	ve_guest_free(g);
	after = slurp(&e, "cgroup/a/cpu.max");
	check(strcmp(after, "max 100000") == 0, "restored on exit: '%s'", after);
	fx_remove(&e.fx);
}

/* The VM's own limit below the sum of the cgroups' scales them down, from the first period. */
static void test_vm_limit_scales(void **state)
{
	struct env e;
	struct ve_guest *g;
	struct ve_guest_cg a, b;
	g_autoptr(GError) err = NULL;
	char *limits[] = { "a=6W", "b=2W", NULL };

	(void)state;
	env_up(&e);
	fx_write(&e.fx, "export/intel-rapl:0/constraint_0_power_limit_uw", "4000000\n");
	g = guest(&e, limits, &err);
	check(g != NULL, "new: %s", err ? err->message : "");
	check(ve_guest_period(g, 1000000, &err), "prime: %s", err ? err->message : "");
	check_u64(ve_guest_vm_limit_uw(g), 4000000, "the VM's limit");
	check(cg_named(g, "a", &a) && cg_named(g, "b", &b), "both");
	check_u64(a.limit_uw, 3000000, "a: 6 W x 4/8");
	check_u64(b.limit_uw, 1000000, "b: 2 W x 4/8");
	/* lifted: the configured limits again */
	fx_write(&e.fx, "export/intel-rapl:0/constraint_0_power_limit_uw", "0\n");
	fx_write(&e.fx, "export/intel-rapl:0/energy_uj", "2000\n");
	check(ve_guest_period(g, 1100000, &err), "period: %s", err ? err->message : "");
	check(cg_named(g, "a", &a), "a");
	check_u64(a.limit_uw, 6000000, "a: 6 W once the VM's limit is gone");
	ve_guest_free(g);
	fx_remove(&e.fx);
}

/*
 * Guest mode keeps its counters in the state file, as the host does: a
 * restart continues them, the restored totals do not read as a burst of
 * power at the first control step, and Σ cgroups + own = the VM's energy
 * still holds.  A cgroup named what no state key can hold is kept as
 * retired, so the sums still hold after the restart.
 */
static void test_restart_keeps_counters(void **state)
{
	struct env e;
	struct ve_guest *g;
	struct ve_guest_cg a, b;
	g_autoptr(GError) err = NULL;
	char *limits[] = { "a=100W", NULL };
	uint64_t ea, eb, own, vm;

	(void)state;
	env_up(&e);
	fx_write(&e.fx, "cgroup/we[ird]/cgroup.procs", "");
	fx_write(&e.fx, "cgroup/we[ird]/cpu.stat", "usage_usec 0\n");
	g = guest(&e, limits, &err);
	check(g != NULL, "new: %s", err ? err->message : "");
	check(ve_guest_period(g, 1000000, &err), "prime: %s", err ? err->message : "");
	fx_write(&e.fx, "cgroup/a/cpu.stat", "usage_usec 300000\n");
	fx_write(&e.fx, "cgroup/b/cpuacct.usage", "100000000\n");
	fx_write(&e.fx, "cgroup/we[ird]/cpu.stat", "usage_usec 100000\n");
	set_busy_ticks(&e, 600000000u / e.tick_ns);
	set_u64(&e, "export/intel-rapl:0/energy_uj", 601000);
	check(ve_guest_period(g, 1100000, &err), "period: %s", err ? err->message : "");
	check(cg_named(g, "a", &a) && cg_named(g, "b", &b), "a and b");
	ea = a.energy_uj, eb = b.energy_uj, own = ve_guest_own_uj(g), vm = ve_guest_energy_uj(g);
	check_u64(vm, 600000, "the VM's energy");
	check_u64(ea, 300000, "a: 3 of 6 parts");
	check(ve_engine_save(ve_guest_engine(g), &err), "save: %s", err ? err->message : "");
	ve_guest_free(g);

	g = guest(&e, limits, &err);
	check(g != NULL, "again: %s", err ? err->message : "");
	check_u64(ve_guest_energy_uj(g), vm, "the VM's energy kept");
	check(cg_named(g, "a", &a) && cg_named(g, "b", &b), "a and b kept");
	check_u64(a.energy_uj, ea, "a's energy kept");
	check_u64(b.energy_uj, eb, "b's energy kept");
	check_u64(ve_guest_own_uj(g), own, "the guest's own kept");
	check(ve_guest_period(g, 5000000, &err), "prime after the restart: %s", err ? err->message : "");
	fx_write(&e.fx, "cgroup/a/cpu.stat", "usage_usec 400000\n");
	set_busy_ticks(&e, 700000000u / e.tick_ns);
	set_u64(&e, "export/intel-rapl:0/energy_uj", 701000);
	check(ve_guest_period(g, 6000000, &err), "period: %s", err ? err->message : "");
	check(cg_named(g, "a", &a), "a");
	check_u64(a.energy_uj, ea + 100000, "a goes on from its total");
	check_near(a.power_w, 0.1, 1e-6, "and its power is the last second's, not its total's");
	check(a.u == 0.0, "not throttled");
	{
		uint64_t sum = 0;

		for (size_t i = 0; i < ve_guest_n_cgroups(g); i++) {
			ve_guest_cgroup(g, i, &b);
			sum += b.energy_uj;
		}
		check(ve_guest_energy_uj(g) == sum + ve_guest_own_uj(g) +
					       ve_engine_retired_uj(ve_guest_engine(g)),
		      "cgroups + own + retired = the VM's energy");
		check_u64(ve_engine_retired_uj(ve_guest_engine(g)), 100000, "we[ird]'s 1 part, retired");
	}
	ve_guest_free(g);
	fx_remove(&e.fx);
}

/* The [guest] group of the configuration: what it holds reaches guest mode; bad values are named. */
static void test_guest_config(void **state)
{
	static const char *const bad[] = {
		"[guest]\nsource=mnt/virtenergy\n",
		"[guest]\ncgroup-parent=sys/fs/cgroup\n",
		"[guest]\nlimits=batch\n",
		"[guest]\nlimits=batch=0W\n",
		"[guest]\nlimits=batch=5W;web=lots\n",
		"[guest]\nlimits==5W\n",
	};
	struct env e;
	struct ve_config c;
	struct ve_guest *g;
	struct ve_guest_cg a;
	g_autoptr(GError) err = NULL;
	g_autofree char *text = NULL;

	(void)state;
	env_up(&e);
	text = g_strdup_printf("[guest]\nsource=%s\ncgroup-parent=%s\nlimits=a=2W;b=500mW\n", e.src,
			       e.cg);
	ve_config_defaults(&c);
	check(ve_config_load_data(&c, text, strlen(text), "test", &err), "load: %s",
	      err ? err->message : "");
	check(strcmp(c.guest_source, e.src) == 0 && strcmp(c.guest_cgroup_parent, e.cg) == 0,
	      "source and parent");
	check(c.guest_limits && g_strv_length(c.guest_limits) == 2, "two limits");
	{
		struct ve_guest_opts o = {
			.source = c.guest_source, .cgroup_parent = c.guest_cgroup_parent,
			.state_dir = e.state, .limits = c.guest_limits, .root_fd = e.fx.fd, .ncpus = 2,
		};

		g = ve_guest_new(&o, &err);
	}
	check(g != NULL, "new from the configuration: %s", err ? err->message : "");
	check(ve_guest_period(g, 1000000, &err), "prime: %s", err ? err->message : "");
	check(cg_named(g, "a", &a), "a");
	check_u64(a.limit_uw, 2000000, "a's 2 W from the configuration");
	check(cg_named(g, "b", &a), "b");
	check_u64(a.limit_uw, 500000, "b's 500 mW from the configuration");
	ve_guest_free(g);
	ve_config_clear(&c);

	for (size_t i = 0; i < ARRAY_SIZE(bad); i++) {
		g_autoptr(GError) berr = NULL;

		ve_config_defaults(&c);
		check(!ve_config_load_data(&c, bad[i], strlen(bad[i]), "test", &berr),
		      "accepted: %s", bad[i]);
		check(berr && strstr(berr->message, "[guest]"), "names the group: %s",
		      berr ? berr->message : "");
		check(strcmp(c.guest_source, "/mnt/virtenergy") == 0 && c.guest_limits == NULL,
		      "and changes nothing (%s)", bad[i]);
		ve_config_clear(&c);
	}
	fx_remove(&e.fx);
}

static void test_bad_limits(void **state)
{
	static const char *const bad[] = { "a", "=5W", "a=0W", "a=5 parsecs", "a=-1W", "x/y=1W" };
	struct env e;

	(void)state;
	env_up(&e);
	for (size_t i = 0; i < ARRAY_SIZE(bad); i++) {
		g_autoptr(GError) err = NULL;
		char *limits[] = { (char *)bad[i], NULL };
		struct ve_guest *g = guest(&e, limits, &err);

		check(g == NULL && err, "'%s' refused", bad[i]);
		check(strstr(err->message, "limit"), "with a message: %s", err->message);
	}
	{
		g_autoptr(GError) err = NULL;
		struct ve_guest_opts o = { .source = "/nonexistent", .cgroup_parent = e.cg,
					   .state_dir = e.state, .root_fd = e.fx.fd };

		check(ve_guest_new(&o, &err) == NULL && strstr(err->message, "/nonexistent"),
		      "a missing export is named");
	}
	fx_remove(&e.fx);
}

/* cgquota on v1 files; a crash leaves a record that the next start restores. */
static void test_cgquota_v1_and_crash(void **state)
{
	struct env e;
	struct ve_cgquota *q;
	g_autoptr(GError) err = NULL;
	g_autoptr(GString) report = g_string_new("");
	g_autofree char *bdir = NULL, *v = NULL, *back = NULL, *rec = NULL;

	(void)state;
	env_up(&e);
	bdir = g_build_filename(e.cg, "b", NULL);
	rec = g_build_filename(e.state, "cgquota", NULL);
	q = ve_cgquota_new(e.state, false, NULL, NULL);
	check(ve_cgquota_set(q, bdir, 0.25, 2, &err), "set: %s", err ? err->message : "");
	v = slurp(&e, "cgroup/b/cpu.cfs_quota_us");
	check(strcmp(v, "50000") == 0, "quota 0.25 x 2 CPUs x 100 ms: '%s'", v);
	check(g_file_test(rec, G_FILE_TEST_EXISTS), "recorded");
	ve_cgquota_free(q);          /* a crash: nothing restored */
	q = ve_cgquota_new(e.state, false, NULL, NULL);
	{
		struct ve_actuator act = ve_cgquota_actuator(q);

		check_u64(ve_act_reconcile(&act, NULL, report), 1, "one restored from the record");
	}
	back = slurp(&e, "cgroup/b/cpu.cfs_quota_us");
	check(strcmp(back, "-1") == 0, "back to '-1': '%s'", back);
	check(!g_file_test(rec, G_FILE_TEST_EXISTS), "record gone");

	/* bad input changes nothing */
	check(!ve_cgquota_set(q, bdir, 0.0, 2, &err), "u 0 refused");
	g_clear_error(&err);
	check(!ve_cgquota_set(q, bdir, 1.5, 2, &err), "u 1.5 refused");
	g_clear_error(&err);
	check(!ve_cgquota_set(q, e.cg, 0.5, 2, &err) && strstr(err->message, "+cpu"),
	      "no controller: says how to enable it");
	back = (g_free(back), slurp(&e, "cgroup/b/cpu.cfs_quota_us"));
	check(strcmp(back, "-1") == 0, "untouched");
	ve_cgquota_free(q);

	/* dry run writes nothing */
	q = ve_cgquota_new(e.state, true, NULL, NULL);
	check(ve_cgquota_set(q, bdir, 0.5, 2, &err), "dry run");
	back = (g_free(back), slurp(&e, "cgroup/b/cpu.cfs_quota_us"));
	check(strcmp(back, "-1") == 0 && !g_file_test(rec, G_FILE_TEST_EXISTS), "nothing written");
	ve_cgquota_free(q);
	fx_remove(&e.fx);
}

/*
 * act.h's interface over the cgroup quota: set, current, restore, restore
 * all, reconcile, dry run and free reach the actuator; one that holds
 * nothing (NULL) does nothing and refuses a set with its name.
 */
static void test_actuator_interface(void **state)
{
	struct env e;
	g_autofree char *bdir = NULL, *v = NULL;
	g_autoptr(GError) err = NULL;
	g_autoptr(GString) report = g_string_new("");
	struct ve_actuator a, none = ve_cgquota_actuator(NULL);
	struct ve_act_target t = { .ncpus = 2 };
	double applied = 0;

	(void)state;
	env_up(&e);
	bdir = g_build_filename(e.cg, "b", NULL);
	t.key = bdir;
	a = ve_cgquota_actuator(ve_cgquota_new(e.state, false, NULL, NULL));
	check(!ve_act_dry_run(&a), "not a dry run");
	check(ve_act_set(&a, &t, 0.5, &applied, &err), "set: %s", err ? err->message : "");
	check_near(applied, 0.5, 1e-12, "applied");
	check_near(ve_act_current(&a, bdir), 0.5, 1e-12, "current");
	v = slurp(&e, "cgroup/b/cpu.cfs_quota_us");
	check(strcmp(v, "100000") == 0, "0.5 x 2 CPUs x 100 ms: '%s'", v);
	check(ve_act_restore(&a, &t, &err), "restore: %s", err ? err->message : "");
	check(ve_act_current(&a, bdir) == 0.0, "nothing held");
	check(ve_act_set(&a, &t, 0.25, NULL, &err), "set again");
	ve_act_free(&a);                         /* a crash: the record stays */
	check(a.impl == NULL, "freed");
	a = ve_cgquota_actuator(ve_cgquota_new(e.state, false, NULL, NULL));
	check_u64(ve_act_reconcile(&a, NULL, report), 1, "reconciled from the record");
	v = (g_free(v), slurp(&e, "cgroup/b/cpu.cfs_quota_us"));
	check(strcmp(v, "-1") == 0, "back to '-1': '%s'", v);
	check(ve_act_set(&a, &t, 0.25, NULL, &err), "set");
	check_u64(ve_act_restore_all(&a, NULL, NULL), 0, "restore all: none failed");
	v = (g_free(v), slurp(&e, "cgroup/b/cpu.cfs_quota_us"));
	check(strcmp(v, "-1") == 0, "restored: '%s'", v);
	ve_act_free(&a);
	a = ve_cgquota_actuator(ve_cgquota_new(e.state, true, NULL, NULL));
	check(ve_act_dry_run(&a), "a dry run says so");
	ve_act_free(&a);

	check(!ve_act_set(&none, &t, 0.5, NULL, &err) && strstr(err->message, "cgroup CPU bandwidth"),
	      "none: a set is refused, named (%s)", err ? err->message : "");
	check(ve_act_current(&none, bdir) == 0.0 && ve_act_restore(&none, &t, NULL) &&
	      ve_act_restore_all(&none, NULL, NULL) == 0 && ve_act_reconcile(&none, NULL, NULL) == 0 &&
	      !ve_act_dry_run(&none), "none: holds nothing, does nothing");
	fx_remove(&e.fx);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_attribution),
		cmocka_unit_test(test_limit),
		cmocka_unit_test(test_vm_limit_scales),
		cmocka_unit_test(test_restart_keeps_counters),
		cmocka_unit_test(test_guest_config),
		cmocka_unit_test(test_bad_limits),
		cmocka_unit_test(test_cgquota_v1_and_crash),
		cmocka_unit_test(test_actuator_interface),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
