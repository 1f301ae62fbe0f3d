// SPDX-License-Identifier: GPL-2.0-or-later
/*
 * powercap RAPL zones: discovery, wrap, unknown range, bad reads, no RAPL,
 * and a two-socket server's whole tree, all against fixture trees.
 */
#include <errno.h>
#include <unistd.h>

#include "check.h"
#include "fixture.h"
#include "powercap.h"

/* max_energy_range_uj of a real package domain (Skylake server) */
#define PKG_MAX UINT64_C(262143328850)
#define PKG_MAX_STR "262143328850\n"
#define DRAM_MAX_STR "65712999613\n"

#define DEVDIR "sys/devices/virtual/powercap/"
#define CONTROL_TYPE_LINK "../../devices/virtual/powercap/intel-rapl"

/*
 * One zone laid out as sysfs does: the attributes under
 * devices/virtual/powercap/<type>/<parents...>/<zone>, and a symlink in
 * class/powercap.  @max NULL leaves max_energy_range_uj out.
 */
static void make_zone(struct fx *fx, const char *devpath, const char *name, const char *energy,
		      const char *max)
{
	const char *zone = strrchr(devpath, '/') + 1;
	char rel[512], target[512];

	snprintf(rel, sizeof(rel), DEVDIR "%s/name", devpath);
	fx_write(fx, rel, name);
	if (energy) {
		snprintf(rel, sizeof(rel), DEVDIR "%s/energy_uj", devpath);
		fx_write(fx, rel, energy);
	}
	if (max) {
		snprintf(rel, sizeof(rel), DEVDIR "%s/max_energy_range_uj", devpath);
		fx_write(fx, rel, max);
	}
	snprintf(rel, sizeof(rel), "sys/class/powercap/%s", zone);
	snprintf(target, sizeof(target), "../../devices/virtual/powercap/%s", devpath);
	fx_symlink(fx, target, rel);
}

/*
 * A one-socket client machine: package with core, uncore and dram, a psys
 * zone, the MMIO twin of the package that must be ignored, and the control
 * type directories themselves.
 */
static void make_rapl(struct fx *fx)
{
	fx_make(fx);
	fx_write(fx, DEVDIR "intel-rapl/enabled", "1\n");
	fx_symlink(fx, CONTROL_TYPE_LINK, "sys/class/powercap/intel-rapl");
	make_zone(fx, "intel-rapl/intel-rapl:0", "package-0\n", "1000\n", PKG_MAX_STR);
	make_zone(fx, "intel-rapl/intel-rapl:0/intel-rapl:0:0", "core\n", "500\n", PKG_MAX_STR);
	make_zone(fx, "intel-rapl/intel-rapl:0/intel-rapl:0:1", "uncore\n", "10\n", PKG_MAX_STR);
	make_zone(fx, "intel-rapl/intel-rapl:0/intel-rapl:0:2", "dram\n", "300\n", DRAM_MAX_STR);
	make_zone(fx, "intel-rapl/intel-rapl:1", "psys\n", "7000\n", PKG_MAX_STR);
	make_zone(fx, "intel-rapl-mmio/intel-rapl-mmio:0", "package-0\n", "1000\n", PKG_MAX_STR);
}

static void test_open_scan(void **state)
{
	static const struct {
		const char *dir, *name;
		enum ve_rapl_kind kind;
		unsigned int package;
		int subzone;
		uint64_t max;
	} want[] = {
		{ "intel-rapl:0", "package-0", VE_RAPL_PACKAGE, 0, -1, PKG_MAX },
		{ "intel-rapl:0:0", "core", VE_RAPL_CORE, 0, 0, PKG_MAX },
		{ "intel-rapl:0:1", "uncore", VE_RAPL_UNCORE, 0, 1, PKG_MAX },
		{ "intel-rapl:0:2", "dram", VE_RAPL_DRAM, 0, 2, UINT64_C(65712999613) },
		{ "intel-rapl:1", "psys", VE_RAPL_PSYS, 1, -1, PKG_MAX },
	};
	struct ve_powercap *pc = NULL;
	struct fx fx;
	int r;

	(void)state;
	make_rapl(&fx);
	r = ve_powercap_open(fx.fd, &pc);
	check(r == 0, "open: %d", r);
	check_u64(ve_powercap_n_zones(pc), ARRAY_SIZE(want), "zones (mmio must be ignored)");
	for (size_t i = 0; i < ARRAY_SIZE(want); i++) {
		const struct ve_powercap_zone *z = ve_powercap_zone(pc, i);

		check(strcmp(z->dir, want[i].dir) == 0, "zone %zu is %s, want %s", i, z->dir,
		      want[i].dir);
		check(strcmp(z->name, want[i].name) == 0, "%s: name %s", z->dir, z->name);
		check(z->kind == want[i].kind, "%s: kind %d", z->dir, z->kind);
		check_u64(z->package, want[i].package, z->dir);
		check(z->subzone == want[i].subzone, "%s: subzone %d", z->dir, z->subzone);
		check_u64(z->max_energy_range_uj, want[i].max, z->dir);
	}
	check(ve_powercap_zone(pc, ARRAY_SIZE(want)) == NULL, "zone past the end");
	ve_powercap_free(pc);
	ve_powercap_free(NULL);
	fx_remove(&fx);
}

static void test_sample(void **state)
{
	struct ve_powercap *pc = NULL;
	struct fx fx;
	uint64_t d = 99;

	(void)state;
	make_rapl(&fx);
	check(ve_powercap_open(fx.fd, &pc) == 0, "open");
	check(ve_powercap_sample(pc, 0, &d) == 0, "first sample");
	check_u64(d, 0, "first sample primes");
	fx_write(&fx, DEVDIR "intel-rapl/intel-rapl:0/energy_uj", "251000\n");
	check(ve_powercap_sample(pc, 0, &d) == 0, "second sample");
	check_u64(d, 250000, "steady");
	check(ve_powercap_sample(pc, 0, &d) == 0, "no change");
	check_u64(d, 0, "no change");
	/* zones are independent: dram has not been primed yet */
	check(ve_powercap_sample(pc, 3, &d) == 0 && d == 0, "dram primes");
	d = 99;
	check(ve_powercap_sample(pc, 5, &d) == -EINVAL, "zone out of range");
	check_u64(d, 99, "delta touched");
	ve_powercap_free(pc);
	fx_remove(&fx);
}

static void test_sample_wrap(void **state)
{
	struct ve_powercap *pc = NULL;
	struct fx fx;
	char buf[64];
	uint64_t d = 99;

	(void)state;
	make_rapl(&fx);
	snprintf(buf, sizeof(buf), "%" PRIu64 "\n", PKG_MAX - 100);
	fx_write(&fx, DEVDIR "intel-rapl/intel-rapl:0/energy_uj", buf);
	check(ve_powercap_open(fx.fd, &pc) == 0, "open");
	check(ve_powercap_sample(pc, 0, &d) == 0 && d == 0, "prime near the top");
	fx_write(&fx, DEVDIR "intel-rapl/intel-rapl:0/energy_uj", "400\n");
	check(ve_powercap_sample(pc, 0, &d) == 0, "sample after wrap");
	check_u64(d, 500, "100 to the top, 400 after");
	fx_write(&fx, DEVDIR "intel-rapl/intel-rapl:0/energy_uj", "1400\n");
	check(ve_powercap_sample(pc, 0, &d) == 0, "after the wrap");
	check_u64(d, 1000, "counting on");
	ve_powercap_free(pc);
	fx_remove(&fx);
}

/* Without max_energy_range_uj a decrease cannot be explained: error, no guess. */
static void test_sample_no_range(void **state)
{
	struct ve_powercap *pc = NULL;
	struct fx fx;
	uint64_t d = 99;

	(void)state;
	fx_make(&fx);
	make_zone(&fx, "intel-rapl/intel-rapl:0", "package-0\n", "1000\n", NULL);
	check(ve_powercap_open(fx.fd, &pc) == 0, "open");
	check_u64(ve_powercap_zone(pc, 0)->max_energy_range_uj, 0, "missing range is 0");
	check(ve_powercap_sample(pc, 0, &d) == 0 && d == 0, "prime");
	fx_write(&fx, DEVDIR "intel-rapl/intel-rapl:0/energy_uj", "2000\n");
	check(ve_powercap_sample(pc, 0, &d) == 0 && d == 1000, "rising: %" PRIu64, d);
	fx_write(&fx, DEVDIR "intel-rapl/intel-rapl:0/energy_uj", "500\n");
	d = 99;
	check(ve_powercap_sample(pc, 0, &d) == -ERANGE, "a decrease must be refused");
	check_u64(d, 99, "no bogus delta");
	/* the reading that could not be explained is the new baseline */
	fx_write(&fx, DEVDIR "intel-rapl/intel-rapl:0/energy_uj", "700\n");
	check(ve_powercap_sample(pc, 0, &d) == 0, "after the refusal");
	check_u64(d, 200, "counting from the new baseline");
	ve_powercap_free(pc);
	fx_remove(&fx);
}

/* A reading above max_energy_range_uj is refused too. */
static void test_sample_above_range(void **state)
{
	struct ve_powercap *pc = NULL;
	struct fx fx;
	uint64_t d = 99;

	(void)state;
	fx_make(&fx);
	make_zone(&fx, "intel-rapl/intel-rapl:0", "package-0\n", "10\n", "1000\n");
	check(ve_powercap_open(fx.fd, &pc) == 0, "open");
	check(ve_powercap_sample(pc, 0, &d) == 0 && d == 0, "prime");
	fx_write(&fx, DEVDIR "intel-rapl/intel-rapl:0/energy_uj", "1001\n");
	check(ve_powercap_sample(pc, 0, &d) == -ERANGE, "above range");
	check_u64(d, 0, "delta touched");
	ve_powercap_free(pc);
	fx_remove(&fx);
}

/*
 * A read that fails keeps the last good reading: the next good read spans
 * both periods and nothing is lost.
 */
static void test_sample_bad_read(void **state)
{
	static const char *const bad[] = {
		"12x\n", "", "\n", "-5\n", "99999999999999999999999\n", "1 2\n",
		"18446744073709551616\n", "1\n\n",
		"0000000000000000000000000000000000000000001\n", /* longer than any number */
	};
	struct ve_powercap *pc = NULL;
	struct fx fx;
	uint64_t d;

	(void)state;
	make_rapl(&fx);
	check(ve_powercap_open(fx.fd, &pc) == 0, "open");
	check(ve_powercap_sample(pc, 0, &d) == 0 && d == 0, "prime at 1000");
	for (size_t i = 0; i < ARRAY_SIZE(bad); i++) {
		int r;

		fx_write(&fx, DEVDIR "intel-rapl/intel-rapl:0/energy_uj", bad[i]);
		d = 99;
		r = ve_powercap_sample(pc, 0, &d);
		check(r == -EINVAL, "\"%s\": returned %d, want -EINVAL", bad[i], r);
		check_u64(d, 99, "delta touched");
	}
	fx_write(&fx, DEVDIR "intel-rapl/intel-rapl:0/energy_uj", "5000\n");
	check(ve_powercap_sample(pc, 0, &d) == 0, "good again");
	check_u64(d, 4000, "spans the failed periods");
	ve_powercap_free(pc);
	fx_remove(&fx);
}

/*
 * A read error from the kernel is passed on.  Running as root, chmod 000
 * does not stop a read, so the fixture puts a directory where energy_uj
 * should be: open(O_RDONLY) succeeds and pread() fails with EISDIR.
 */
static void test_sample_read_error(void **state)
{
	struct ve_powercap *pc = NULL;
	struct fx fx;
	uint64_t d = 99;
	int r;

	(void)state;
	fx_make(&fx);
	make_zone(&fx, "intel-rapl/intel-rapl:0", "package-0\n", NULL, PKG_MAX_STR);
	fx_mkdir(&fx, DEVDIR "intel-rapl/intel-rapl:0/energy_uj");
	check(ve_powercap_open(fx.fd, &pc) == 0, "open");
	r = ve_powercap_sample(pc, 0, &d);
	check(r == -EISDIR, "returned %d, want -EISDIR", r);
	check_u64(d, 99, "delta touched");
	ve_powercap_free(pc);
	fx_remove(&fx);
}

static void test_no_rapl(void **state)
{
	struct ve_powercap *pc = (struct ve_powercap *)&pc;
	struct fx fx;
	int r;

	(void)state;
	fx_make(&fx);
	r = ve_powercap_open(fx.fd, &pc);
	check(r == -ENOENT, "no powercap directory: %d", r);

	/* the class exists but holds only the MMIO twin and a control type */
	fx_write(&fx, DEVDIR "intel-rapl/enabled", "1\n");
	fx_symlink(&fx, CONTROL_TYPE_LINK, "sys/class/powercap/intel-rapl");
	make_zone(&fx, "intel-rapl-mmio/intel-rapl-mmio:0", "package-0\n", "1\n", PKG_MAX_STR);
	r = ve_powercap_open(fx.fd, &pc);
	check(r == -ENOENT, "no RAPL zone: %d", r);

	/* a zone without energy_uj measures nothing and is left out */
	make_zone(&fx, "intel-rapl/intel-rapl:0", "package-0\n", NULL, PKG_MAX_STR);
	r = ve_powercap_open(fx.fd, &pc);
	check(r == -ENOENT, "zone without energy_uj: %d", r);
	check(pc == (struct ve_powercap *)&pc, "output touched");
	fx_remove(&fx);
}

static void test_open_malformed(void **state)
{
	static const char *const bad_max[] = { "12x\n", "\n", "-1\n", "99999999999999999999999\n" };
	struct ve_powercap *pc = NULL;
	struct fx fx;
	int r;

	(void)state;
	for (size_t i = 0; i < ARRAY_SIZE(bad_max); i++) {
		fx_make(&fx);
		make_zone(&fx, "intel-rapl/intel-rapl:0", "package-0\n", "1\n", bad_max[i]);
		r = ve_powercap_open(fx.fd, &pc);
		check(r == -EINVAL, "max_energy_range_uj \"%s\": %d", bad_max[i], r);
		fx_remove(&fx);
	}

	fx_make(&fx);
	make_zone(&fx, "intel-rapl/intel-rapl:0", "\n", "1\n", PKG_MAX_STR);
	r = ve_powercap_open(fx.fd, &pc);
	check(r == -EINVAL, "empty name: %d", r);
	fx_remove(&fx);

	/* zone names that are not intel-rapl:N[:M] are not RAPL zones */
	fx_make(&fx);
	make_zone(&fx, "intel-rapl/intel-rapl:x", "package-0\n", "1\n", PKG_MAX_STR);
	make_zone(&fx, "intel-rapl/intel-rapl:0:1:2", "package-0\n", "1\n", PKG_MAX_STR);
	make_zone(&fx, "intel-rapl/intel-rapl:-1", "package-0\n", "1\n", PKG_MAX_STR);
	r = ve_powercap_open(fx.fd, &pc);
	check(r == -ENOENT, "odd names: %d", r);
	make_zone(&fx, "intel-rapl/intel-rapl:0", "weird-domain\n", "1\n", PKG_MAX_STR);
	check(ve_powercap_open(fx.fd, &pc) == 0, "open");
	check_u64(ve_powercap_n_zones(pc), 1, "zones");
	check(ve_powercap_zone(pc, 0)->kind == VE_RAPL_OTHER, "unknown name is OTHER");
	ve_powercap_free(pc);
	fx_remove(&fx);
}

/*
 * A host's whole powercap tree as the kernel lays it out, with the known
 * answer of each zone: a two-socket server (intel_rapl_msr: package and
 * DRAM per socket, numbered in registration order, package-1 registered
 * first), every attribute of a zone (power constraints, enabled, uevent,
 * the power/ directory, the subsystem link back to the class), and the
 * MMIO twins that must be ignored.  Replaces reading this machine's tree,
 * which has no RAPL on most of the machines these tests run on.
 */
static void server_zone(struct fx *fx, const char *devpath, const char *name, const char *energy,
			const char *max)
{
	static const char *const attrs[][2] = {
		{ "enabled", "1\n" },
		{ "uevent", "" },
		{ "constraint_0_name", "long_term\n" },
		{ "constraint_0_power_limit_uw", "205000000\n" },
		{ "constraint_0_time_window_us", "999424\n" },
		{ "constraint_0_max_power_uw", "205000000\n" },
		{ "constraint_1_name", "short_term\n" },
		{ "constraint_1_power_limit_uw", "246000000\n" },
		{ "constraint_1_time_window_us", "2440\n" },
		{ "power/control", "auto\n" },
		{ "power/runtime_status", "unsupported\n" },
	};
	char rel[512], target[512];
	int depth = 0;

	make_zone(fx, devpath, name, energy, max);
	for (size_t i = 0; i < ARRAY_SIZE(attrs); i++) {
		snprintf(rel, sizeof(rel), DEVDIR "%s/%s", devpath, attrs[i][0]);
		fx_write(fx, rel, attrs[i][1]);
	}
	/* subsystem -> ../../../../class/powercap, one more ../ per level */
	for (const char *p = devpath; *p; p++)
		depth += *p == '/';
	snprintf(target, sizeof(target), "../../../..");
	for (int i = 0; i < depth; i++)
		strcat(target, "/..");
	strcat(target, "/class/powercap");
	snprintf(rel, sizeof(rel), DEVDIR "%s/subsystem", devpath);
	fx_symlink(fx, target, rel);
}

static void test_server_tree(void **state)
{
	static const struct {
		const char *devpath, *name, *energy0, *energy1;
		enum ve_rapl_kind kind;
		unsigned int package;
		int subzone;
		uint64_t delta_uj;
	} want[] = {
		/* sorted by package, then subzone: the order ve_powercap_zone() gives */
		{ "intel-rapl/intel-rapl:0", "package-1\n", "123456789\n", "173456789\n",
		  VE_RAPL_PACKAGE, 0, -1, 50000000 },
		{ "intel-rapl/intel-rapl:0/intel-rapl:0:0", "dram\n", "5000\n", "6005000\n",
		  VE_RAPL_DRAM, 0, 0, 6000000 },
		/* wraps: 1 J to the top of max_energy_range_uj, 44 J after */
		{ "intel-rapl/intel-rapl:1", "package-0\n", "262142328850\n", "44000000\n",
		  VE_RAPL_PACKAGE, 1, -1, 45000000 },
		{ "intel-rapl/intel-rapl:1/intel-rapl:1:0", "dram\n", "65712999613\n", "7000000\n",
		  VE_RAPL_DRAM, 1, 0, 7000000 },
	};
	struct ve_powercap *pc = NULL;
	struct fx fx;
	char rel[512];
	uint64_t d;
	int r;

	(void)state;
	fx_make(&fx);
	fx_write(&fx, DEVDIR "intel-rapl/enabled", "1\n");
	fx_write(&fx, DEVDIR "intel-rapl/uevent", "");
	fx_symlink(&fx, "../../../../class/powercap", DEVDIR "intel-rapl/subsystem");
	fx_symlink(&fx, CONTROL_TYPE_LINK, "sys/class/powercap/intel-rapl");
	fx_write(&fx, DEVDIR "intel-rapl-mmio/enabled", "1\n");
	fx_symlink(&fx, "../../devices/virtual/powercap/intel-rapl-mmio",
		   "sys/class/powercap/intel-rapl-mmio");
	for (size_t i = 0; i < ARRAY_SIZE(want); i++)
		server_zone(&fx, want[i].devpath, want[i].name, want[i].energy0,
			    want[i].kind == VE_RAPL_DRAM ? DRAM_MAX_STR : PKG_MAX_STR);
	server_zone(&fx, "intel-rapl-mmio/intel-rapl-mmio:0", "package-0\n", "1\n", PKG_MAX_STR);
	server_zone(&fx, "intel-rapl-mmio/intel-rapl-mmio:1", "package-1\n", "1\n", PKG_MAX_STR);

	r = ve_powercap_open(fx.fd, &pc);
	check(r == 0, "open: %d", r);
	check_u64(ve_powercap_n_zones(pc), ARRAY_SIZE(want), "zones (the MMIO twins ignored)");
	for (size_t i = 0; i < ARRAY_SIZE(want); i++) {
		const struct ve_powercap_zone *z = ve_powercap_zone(pc, i);
		const char *dir = strrchr(want[i].devpath, '/') + 1;

		check(strcmp(z->dir, dir) == 0, "zone %zu is %s, want %s", i, z->dir, dir);
		check(z->kind == want[i].kind, "%s: kind %d, want %d", z->dir, z->kind, want[i].kind);
		check_u64(z->package, want[i].package, z->dir);
		check(z->subzone == want[i].subzone, "%s: subzone %d", z->dir, z->subzone);
		check(ve_powercap_sample(pc, i, &d) == 0, "prime %s", z->dir);
		check_u64(d, 0, "the first sample primes");
		snprintf(rel, sizeof(rel), DEVDIR "%s/energy_uj", want[i].devpath);
		fx_write(&fx, rel, want[i].energy1);
	}
	for (size_t i = 0; i < ARRAY_SIZE(want); i++) {
		const struct ve_powercap_zone *z = ve_powercap_zone(pc, i);

		d = 99;
		r = ve_powercap_sample(pc, i, &d);
		check(r == 0, "sample %s: %d", z->dir, r);
		check_u64(d, want[i].delta_uj, z->dir);
	}
	check(strcmp(ve_powercap_zone(pc, 0)->name, "package-1") == 0,
	      "intel-rapl:0 keeps its name, package-1: %s", ve_powercap_zone(pc, 0)->name);
	ve_powercap_free(pc);
	fx_remove(&fx);
}

/*
 * An export (guestexport.h) replaces its files by rename: a zone opened
 * with VE_POWERCAP_REPLACED follows the new file, where an fd opened once
 * would keep reading the old one; its top-level zone needs no name; its
 * limit is read as it is now.
 */
static void test_replaced_export(void **state)
{
	struct ve_powercap *pc = NULL;
	struct fx fx;
	uint64_t d = 99, uw = 0;

	(void)state;
	fx_make(&fx);
	fx_write(&fx, "x/intel-rapl:0/energy_uj", "1000\n");
	fx_write(&fx, "x/intel-rapl:0/max_energy_range_uj", "1000000\n");
	fx_write(&fx, "x/intel-rapl:0/constraint_0_power_limit_uw", "2500000\n");
	fx_write(&fx, "x/msr", "");
	check(ve_powercap_open_at(fx.fd, "x", VE_POWERCAP_REPLACED, &pc) == 0, "open the export");
	check_u64(ve_powercap_n_zones(pc), 1, "one zone (msr is none)");
	check(strcmp(ve_powercap_zone(pc, 0)->name, "package-0") == 0 &&
	      ve_powercap_zone(pc, 0)->kind == VE_RAPL_PACKAGE, "unnamed: package-0 (%s)",
	      ve_powercap_zone(pc, 0)->name);
	check(ve_powercap_sample(pc, 0, &d) == 0 && d == 0, "primes");
	fx_write(&fx, "x/intel-rapl:0/energy_uj.tmp", "5000\n");
	check(renameat(fx.fd, "x/intel-rapl:0/energy_uj.tmp", fx.fd, "x/intel-rapl:0/energy_uj") == 0,
	      "replace energy_uj");
	check(ve_powercap_sample(pc, 0, &d) == 0, "sample after the rename");
	check_u64(d, 4000, "the new file's value");
	check(ve_powercap_limit_uw(pc, 0, &uw) == 0, "limit");
	check_u64(uw, 2500000, "the VM's limit");
	fx_write(&fx, "x/intel-rapl:0/constraint_0_power_limit_uw", "lots\n");
	check(ve_powercap_limit_uw(pc, 0, &uw) == -EINVAL, "a bad limit is refused");
	check_u64(uw, 2500000, "and left as it was");
	ve_powercap_free(pc);

	/* without the flag a zone still needs its name: a host's sysfs always has one */
	check(ve_powercap_open_at(fx.fd, "x", 0, &pc) == -ENOENT, "no named zone: no RAPL");
	check(ve_powercap_open_at(fx.fd, "nowhere", VE_POWERCAP_REPLACED, &pc) == -ENOENT,
	      "a missing directory");
	fx_remove(&fx);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_open_scan),
		cmocka_unit_test(test_sample),
		cmocka_unit_test(test_sample_wrap),
		cmocka_unit_test(test_sample_no_range),
		cmocka_unit_test(test_sample_above_range),
		cmocka_unit_test(test_sample_bad_read),
		cmocka_unit_test(test_sample_read_error),
		cmocka_unit_test(test_no_rapl),
		cmocka_unit_test(test_open_malformed),
		cmocka_unit_test(test_server_tree),
		cmocka_unit_test(test_replaced_export),
	};

	return cmocka_run_group_tests_name("powercap", tests, NULL, NULL);
}
