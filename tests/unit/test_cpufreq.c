// SPDX-License-Identifier: GPL-2.0-or-later
/*
 * The CPU frequency actuator against fixture cpufreq trees: lowering within
 * the listed frequencies or the cpuinfo range, the floor, restore, the
 * durable record and reconciliation after a crash, dry-run, CPUs shared with
 * another VM, and bad or missing files (an error, and nothing written).
 */
#include <glib.h>
#include <glib/gstdio.h>

#include "check.h"
#include "cpufreq.h"
#include "freqplan.h"
#include "fixture.h"

#define VM_A "11111111-2222-3333-4444-555555555555"
#define VM_B "66666666-7777-8888-9999-aaaaaaaaaaaa"

struct env {
	struct fx fx;
	char state[PATH_MAX + 16];
	GString *log;
};

static void logger(void *ud, const char *uuid, const char *name, const char *msg)
{
	struct env *e = ud;

	g_string_append_printf(e->log, "%s %s: %s\n", uuid ? uuid : "-", name ? name : "-", msg);
}

/* A CPU like acpi-cpufreq's (with a list) or intel_pstate's (without). */
static void make_cpu(struct env *e, unsigned int cpu, bool listed)
{
	char rel[128];

#define W(attr, val)                                                                   \
	do {                                                                           \
		snprintf(rel, sizeof(rel), "sys/devices/system/cpu/cpu%u/cpufreq/" attr, cpu); \
		fx_write(&e->fx, rel, val);                                             \
	} while (0)
	W("cpuinfo_min_freq", "800000\n");
	W("cpuinfo_max_freq", "3000000\n");
	W("scaling_min_freq", "800000\n");
	W("scaling_max_freq", "3000000\n");
	if (listed)
		W("scaling_available_frequencies", "3000000 2400000 1800000 1200000 800000 \n");
#undef W
}

static uint64_t max_freq(struct env *e, unsigned int cpu)
{
	char path[PATH_MAX + 128];
	g_autofree char *text = NULL;

	snprintf(path, sizeof(path), "%s/sys/devices/system/cpu/cpu%u/cpufreq/scaling_max_freq",
		 e->fx.path, cpu);
	check(g_file_get_contents(path, &text, NULL, NULL), "read %s", path);
	return g_ascii_strtoull(text, NULL, 10);
}

static void env_up(struct env *e)
{
	fx_make(&e->fx);
	snprintf(e->state, sizeof(e->state), "%s/state", e->fx.path);
	check(g_mkdir(e->state, 0700) == 0, "mkdir %s", e->state);
	e->log = g_string_new("");
}

static void env_down(struct env *e)
{
	g_string_free(e->log, TRUE);
	fx_remove(&e->fx);
}

static bool record_exists(struct env *e)
{
	g_autofree char *path = g_build_filename(e->state, "cpufreq", NULL);

	return g_file_test(path, G_FILE_TEST_EXISTS);
}

/* Continuous range: u × ceiling, clamped at the floor; restore puts it back. */
/* Daemon exit through act.h's interface. */
static unsigned int restore_all(struct ve_cpufreq *a)
{
	struct ve_actuator act = ve_cpufreq_actuator(a);

	return ve_act_restore_all(&act, NULL, NULL);
}

static void test_lower_continuous(void **state)
{
	struct env e;
	struct ve_cpufreq *a;
	unsigned int cpus[] = { 2, 3 };
	g_autoptr(GError) err = NULL;
	double ratio = 0.0;

	(void)state;
	env_up(&e);
	make_cpu(&e, 2, false);
	make_cpu(&e, 3, false);
	a = ve_cpufreq_new(e.fx.fd, e.state, false, logger, &e, NULL, NULL);
	check(ve_cpufreq_set(a, VM_A, "a", cpus, 2, 0.5, &ratio, &err), "set: %s", err ? err->message : "");
	check_u64(max_freq(&e, 2), 1500000, "cpu2 at half");
	check_u64(max_freq(&e, 3), 1500000, "cpu3 at half");
	check_near(ratio, 0.5, 1e-9, "ratio");
	check(record_exists(&e), "the record exists before anything is lowered");
	check_near(ve_cpufreq_current(a, VM_A), 0.5, 1e-9, "current");

	/* below the floor: the floor, and the ratio says so (bandwidth makes up the rest) */
	check(ve_cpufreq_set(a, VM_A, "a", cpus, 2, 0.1, &ratio, &err), "set: %s", err ? err->message : "");
	check_u64(max_freq(&e, 2), 800000, "cpu2 at its floor");
	check_near(ratio, 800000.0 / 3000000.0, 1e-9, "ratio at the floor");

	check(ve_cpufreq_restore(a, VM_A, &err), "restore: %s", err ? err->message : "");
	check_u64(max_freq(&e, 2), 3000000, "cpu2 restored");
	check_u64(max_freq(&e, 3), 3000000, "cpu3 restored");
	check(!record_exists(&e), "no record left after restore");
	check_near(ve_cpufreq_current(a, VM_A), 0.0, 0.0, "nothing held");
	ve_cpufreq_free(a);
	env_down(&e);
}

/* Listed frequencies: the lowest listed at or above the target. */
static void test_lower_listed(void **state)
{
	static const struct {
		double u;
		uint64_t khz;
	} cases[] = {
		{ 1.0, 3000000 }, { 0.9, 3000000 }, { 0.8, 2400000 }, { 0.61, 2400000 },
		{ 0.6, 1800000 }, { 0.41, 1800000 }, { 0.3, 1200000 }, { 0.2, 800000 }, { 0.05, 800000 },
	};
	struct env e;
	struct ve_cpufreq *a;
	unsigned int cpu = 1;

	(void)state;
	env_up(&e);
	make_cpu(&e, 1, true);
	a = ve_cpufreq_new(e.fx.fd, e.state, false, logger, &e, NULL, NULL);
	for (size_t i = 0; i < ARRAY_SIZE(cases); i++) {
		g_autoptr(GError) err = NULL;
		double ratio = 0.0;
		char ctx[64];

		snprintf(ctx, sizeof(ctx), "u=%g", cases[i].u);
		check(ve_cpufreq_set(a, VM_A, "a", &cpu, 1, cases[i].u, &ratio, &err), "%s: %s", ctx,
		      err ? err->message : "");
		check_u64(max_freq(&e, 1), cases[i].khz, ctx);
		check_near(ratio, (double)cases[i].khz / 3000000.0, 1e-9, ctx);
		check(ratio >= cases[i].u - 1e-9 || cases[i].khz == 800000, "%s: ratio %g below u", ctx, ratio);
	}
	check_u64(restore_all(a), 0, "restore_all failures");
	check_u64(max_freq(&e, 1), 3000000, "restored");
	ve_cpufreq_free(a);
	env_down(&e);
}

/* An administrator's own cap is the ceiling and is what comes back. */
static void test_admin_cap_and_min(void **state)
{
	struct env e;
	struct ve_cpufreq *a;
	unsigned int cpu = 0;
	g_autoptr(GError) err = NULL;
	double ratio;

	(void)state;
	env_up(&e);
	make_cpu(&e, 0, false);
	fx_write(&e.fx, "sys/devices/system/cpu/cpu0/cpufreq/scaling_max_freq", "2000000\n");
	fx_write(&e.fx, "sys/devices/system/cpu/cpu0/cpufreq/scaling_min_freq", "1200000\n");
	a = ve_cpufreq_new(e.fx.fd, e.state, false, logger, &e, NULL, NULL);
	check(ve_cpufreq_set(a, VM_A, "a", &cpu, 1, 0.75, &ratio, &err), "set: %s", err ? err->message : "");
	check_u64(max_freq(&e, 0), 1500000, "3/4 of the administrator's 2 GHz");
	check(ve_cpufreq_set(a, VM_A, "a", &cpu, 1, 0.2, &ratio, &err), "set: %s", err ? err->message : "");
	check_u64(max_freq(&e, 0), 1200000, "scaling_min_freq is the floor");
	check(ve_cpufreq_restore(a, VM_A, &err), "restore: %s", err ? err->message : "");
	check_u64(max_freq(&e, 0), 2000000, "the administrator's cap comes back, not cpuinfo_max_freq");
	ve_cpufreq_free(a);
	env_down(&e);
}

/* A daemon that dies leaves its record; the next one restores from it. */
static void test_crash_reconcile(void **state)
{
	struct env e;
	struct ve_cpufreq *a;
	g_autoptr(GString) report = g_string_new("");
	unsigned int cpus[] = { 4, 5 }, restored = 99;
	g_autoptr(GError) err = NULL;
	double ratio;

	(void)state;
	env_up(&e);
	make_cpu(&e, 4, true);
	make_cpu(&e, 5, true);
	a = ve_cpufreq_new(e.fx.fd, e.state, false, logger, &e, NULL, NULL);
	check(ve_cpufreq_set(a, VM_A, "a", cpus, 2, 0.4, &ratio, &err), "set: %s", err ? err->message : "");
	check_u64(max_freq(&e, 4), 1200000, "lowered");
	/* "crash": the actuator goes without restoring (free does not restore) */
	ve_cpufreq_free(a);
	check_u64(max_freq(&e, 4), 1200000, "still lowered after the crash");
	check(record_exists(&e), "the record survives the crash");

	a = ve_cpufreq_new(e.fx.fd, e.state, false, logger, &e, report, &restored);
	check_u64(restored, 2, "CPUs restored at start");
	check(report->len == 0, "nothing to report: %s", report->str);
	check_u64(max_freq(&e, 4), 3000000, "cpu4 restored from the record");
	check_u64(max_freq(&e, 5), 3000000, "cpu5 restored from the record");
	check(!record_exists(&e), "record gone once restored");
	ve_cpufreq_free(a);

	/* a damaged record: what is usable is restored, the rest reported */
	fx_write(&e.fx, "sys/devices/system/cpu/cpu4/cpufreq/scaling_max_freq", "900000\n");
	fx_write(&e.fx, "state/cpufreq", "[" VM_A "]\nname=a\ncpu4=3000000\ncpu5=fast\n[not-a-uuid]\ncpu6=1\n");
	g_string_truncate(report, 0);
	a = ve_cpufreq_new(e.fx.fd, e.state, false, logger, &e, report, &restored);
	check_u64(restored, 1, "the good entry restored");
	check_u64(max_freq(&e, 4), 3000000, "cpu4 restored");
	check(strstr(report->str, "cpu5=fast") && strstr(report->str, "not-a-uuid"),
	      "bad entries reported: %s", report->str);
	check(!record_exists(&e), "record gone");
	ve_cpufreq_free(a);
	env_down(&e);
}

/* Dry run: says what it would do, writes nothing, records nothing. */
static void test_dry_run(void **state)
{
	struct env e;
	struct ve_cpufreq *a;
	unsigned int cpu = 1;
	g_autoptr(GError) err = NULL;
	double ratio;

	(void)state;
	env_up(&e);
	make_cpu(&e, 1, false);
	a = ve_cpufreq_new(e.fx.fd, e.state, true, logger, &e, NULL, NULL);
	check(ve_cpufreq_set(a, VM_A, "a", &cpu, 1, 0.5, &ratio, &err), "set: %s", err ? err->message : "");
	check_u64(max_freq(&e, 1), 3000000, "untouched in dry run");
	check(!record_exists(&e), "no record in dry run");
	check(strstr(e.log->str, "would set CPU 1 scaling_max_freq=1500000"), "log: %s", e.log->str);
	check(ve_cpufreq_restore(a, VM_A, &err), "restore");
	check(strstr(e.log->str, "would restore CPU 1 scaling_max_freq=3000000"), "log: %s", e.log->str);
	ve_cpufreq_free(a);
	env_down(&e);
}

/* Which CPUs are a VM's own: a shared one means none. */
static void test_dedicated(void **state)
{
	static const struct {
		const char *what;
		unsigned char own, others;
		size_t n;
		unsigned int first;
	} cases[] = {
		{ "pinned to 2-3, others on 0-1", 0x0c, 0x03, 2, 2 },
		{ "pinned to 2-3, another VM may use 3", 0x0c, 0x0b, 0, 0 },
		{ "unpinned (all 8 CPUs)", 0xff, 0x00, 0, 0 },
		{ "pinned to 7, no other VM", 0x80, 0x00, 1, 7 },
		{ "pinned to 0-6, other on 7", 0x7f, 0x80, 7, 0 },
	};

	(void)state;
	for (size_t i = 0; i < ARRAY_SIZE(cases); i++) {
		unsigned int cpus[8];
		size_t n = ve_freq_dedicated_cpus(&cases[i].own, &cases[i].others, 1, 8, cpus, 8);

		check_u64(n, cases[i].n, cases[i].what);
		if (n)
			check_u64(cpus[0], cases[i].first, cases[i].what);
	}
}

/* One VM's CPU is never taken by another: the second set fails and changes nothing. */
static void test_cpu_of_another_vm(void **state)
{
	struct env e;
	struct ve_cpufreq *a;
	unsigned int a_cpus[] = { 2 }, b_cpus[] = { 2, 3 };
	g_autoptr(GError) err = NULL;
	double ratio;

	(void)state;
	env_up(&e);
	make_cpu(&e, 2, false);
	make_cpu(&e, 3, false);
	a = ve_cpufreq_new(e.fx.fd, e.state, false, logger, &e, NULL, NULL);
	check(ve_cpufreq_set(a, VM_A, "a", a_cpus, 1, 0.5, &ratio, &err), "set A");
	check(!ve_cpufreq_set(a, VM_B, "b", b_cpus, 2, 0.3, &ratio, &err), "B must not take CPU 2");
	check(err && strstr(err->message, "CPU 2"), "error names the CPU: %s", err ? err->message : "");
	check_u64(max_freq(&e, 2), 1500000, "cpu2 as A left it");
	check_u64(max_freq(&e, 3), 3000000, "cpu3 untouched");
	check_near(ve_cpufreq_current(a, VM_B), 0.0, 0.0, "B holds nothing");

	/* A's pinning moves to CPU 3 only: CPU 2 goes back */
	g_clear_error(&err);
	check(ve_cpufreq_set(a, VM_A, "a", &b_cpus[1], 1, 0.5, &ratio, &err), "move A: %s",
	      err ? err->message : "");
	check_u64(max_freq(&e, 2), 3000000, "cpu2 restored when no longer A's");
	check_u64(max_freq(&e, 3), 1500000, "cpu3 lowered");
	check_u64(restore_all(a), 0, "restore_all");
	check_u64(max_freq(&e, 3), 3000000, "cpu3 restored");
	ve_cpufreq_free(a);
	env_down(&e);
}

/* Bad or missing files and bad arguments: an error naming them, nothing written. */
static void test_bad_input(void **state)
{
	static const struct {
		const char *what, *file, *content, *needle;
	} cases[] = {
		{ "missing scaling_max_freq", "scaling_max_freq", NULL, "scaling_max_freq" },
		{ "missing cpuinfo_min_freq", "cpuinfo_min_freq", NULL, "cpuinfo_min_freq" },
		{ "garbage in cpuinfo_max_freq", "cpuinfo_max_freq", "3 GHz\n", "cpuinfo_max_freq" },
		{ "trailing junk", "scaling_max_freq", "3000000x\n", "scaling_max_freq" },
		{ "zero", "cpuinfo_min_freq", "0\n", "cpuinfo_min_freq" },
		{ "bad list", "scaling_available_frequencies", "3000000 fast\n", "fast" },
		{ "max above cpuinfo max", "scaling_max_freq", "4000000\n", "outside" },
	};
	unsigned int cpus[] = { 1, 2 };

	(void)state;
	for (size_t i = 0; i < ARRAY_SIZE(cases); i++) {
		struct env e;
		struct ve_cpufreq *a;
		g_autoptr(GError) err = NULL;
		char rel[128];
		double ratio = -1.0;

		env_up(&e);
		make_cpu(&e, 1, true);
		make_cpu(&e, 2, true);
		/* the bad file is on the second CPU: the first must not be written either */
		snprintf(rel, sizeof(rel), "sys/devices/system/cpu/cpu2/cpufreq/%s", cases[i].file);
		if (cases[i].content)
			fx_write(&e.fx, rel, cases[i].content);
		else
			fx_remove_rel(&e.fx, rel);
		a = ve_cpufreq_new(e.fx.fd, e.state, false, logger, &e, NULL, NULL);
		check(!ve_cpufreq_set(a, VM_A, "a", cpus, 2, 0.5, &ratio, &err), "%s: accepted", cases[i].what);
		check(err && strstr(err->message, cases[i].needle), "%s: error '%s' lacks '%s'", cases[i].what,
		      err ? err->message : "(none)", cases[i].needle);
		check_u64(max_freq(&e, 1), 3000000, cases[i].what);
		check_near(ratio, -1.0, 0.0, cases[i].what);
		check(!record_exists(&e), "%s: a record was left", cases[i].what);
		check_near(ve_cpufreq_current(a, VM_A), 0.0, 0.0, cases[i].what);
		ve_cpufreq_free(a);
		env_down(&e);
	}

	/* bad arguments */
	{
		struct env e;
		struct ve_cpufreq *a;
		unsigned int twice[] = { 1, 1 };
		const double bad_u[] = { 0.0, -0.5, 1.5, NAN };

		env_up(&e);
		make_cpu(&e, 1, false);
		a = ve_cpufreq_new(e.fx.fd, e.state, false, logger, &e, NULL, NULL);
		for (size_t i = 0; i < ARRAY_SIZE(bad_u); i++) {
			g_autoptr(GError) err = NULL;

			check(!ve_cpufreq_set(a, VM_A, "a", cpus, 1, bad_u[i], NULL, &err), "u=%g accepted", bad_u[i]);
		}
		{
			g_autoptr(GError) err = NULL;

			check(!ve_cpufreq_set(a, VM_A, "a", twice, 2, 0.5, NULL, &err), "a CPU twice accepted");
			check(!ve_cpufreq_set(a, VM_A, "a", cpus, 0, 0.5, NULL, NULL), "no CPUs accepted");
		}
		check_u64(max_freq(&e, 1), 3000000, "untouched after bad arguments");
		ve_cpufreq_free(a);
		env_down(&e);
	}
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_lower_continuous), cmocka_unit_test(test_lower_listed),
		cmocka_unit_test(test_admin_cap_and_min), cmocka_unit_test(test_crash_reconcile),
		cmocka_unit_test(test_dry_run),           cmocka_unit_test(test_dedicated),
		cmocka_unit_test(test_cpu_of_another_vm), cmocka_unit_test(test_bad_input),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
