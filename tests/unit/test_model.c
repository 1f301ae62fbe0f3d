// SPDX-License-Identifier: GPL-2.0-or-later
/* CPU and disk models: defaults, profiles, validation, energy per sample. */
#include <errno.h>
#include <string.h>

#include "check.h"
#include "model.h"

static void test_cpu_defaults(void **state)
{
	const char *const events[] = { "cycles", "instructions", "cache-misses" };
	const char *const bad[] = { "cycles", "branch-misses" };
	const char *const fallback[] = { "task-clock" };
	struct ve_cpu_model m, keep = { .n_events = 1, .weight_pj = { 42.0 } };
	const uint64_t delta[] = { 3000000000u, 6000000000u, 10000000u };
	double uj = 0.0;

	(void)state;
	check(ve_cpu_model_defaults(&m, VE_DOMAIN_PKG, events, 3, 20000000) == 0, "defaults");
	check_u64(m.n_events, 3, "events");
	check_u64(m.idle_power_uw, 20000000, "idle power");
	/* 3e9 cycles × 1 nJ + 6e9 instr × 0.3 nJ + 1e7 misses × 20 nJ = 3 + 1.8 + 0.2 J */
	check(ve_cpu_model_energy_uj(&m, delta, &uj) == 0, "energy");
	check_near(uj, 5000000.0, 1e-3, "one second of a busy core");

	check(ve_cpu_model_defaults(&m, VE_DOMAIN_DRAM, events, 3, 0) == 0, "dram defaults");
	check(ve_cpu_model_energy_uj(&m, delta, &uj) == 0, "dram energy");
	check_near(uj, 150000.0, 1e-6, "DRAM sees only the misses, 15 nJ each");

	m = keep;
	check(ve_cpu_model_defaults(&m, VE_DOMAIN_PKG, bad, 2, 0) == -ENOENT,
	      "an event without a default");
	check(m.n_events == 1 && m.weight_pj[0] == 42.0, "model untouched on failure");
	check(ve_cpu_model_defaults(&m, VE_DOMAIN_PKG, events, VE_MAX_EVENTS + 1, 0) == -E2BIG,
	      "too many events");

	check(ve_cpu_model_defaults(&m, VE_DOMAIN_PKG, fallback, 1, 0) == 0, "task-clock");
	{
		const uint64_t ns[] = { 1000000000u };

		check(ve_cpu_model_energy_uj(&m, ns, &uj) == 0, "time energy");
		check_near(uj, 3000000.0, 1e-6, "a second of running is 3 J by default");
	}
}

static void test_cpu_check(void **state)
{
	static const struct {
		const char *name;
		double w;
		int ret;
	} cases[] = {
		{ "zero", 0.0, 0 },
		{ "positive", 12.5, 0 },
		{ "negative", -1.0, -EINVAL },
		{ "NaN", NAN, -EINVAL },
		{ "infinite", INFINITY, -EINVAL },
	};
	const uint64_t delta[] = { 1, 1 };

	(void)state;
	for (size_t i = 0; i < ARRAY_SIZE(cases); i++) {
		struct ve_cpu_model m = { .n_events = 2, .weight_pj = { 1.0, cases[i].w } };
		double uj = -5.0;

		check(ve_cpu_model_check(&m) == cases[i].ret, "%s", cases[i].name);
		check(ve_cpu_model_energy_uj(&m, delta, &uj) == cases[i].ret, "%s: energy",
		      cases[i].name);
		if (cases[i].ret)
			check(uj == -5.0, "%s: output untouched", cases[i].name);
	}
	{
		struct ve_cpu_model m = { .n_events = VE_MAX_EVENTS + 1 };

		check(ve_cpu_model_check(&m) == -EINVAL, "n_events above the maximum");
	}
}

static void test_disk(void **state)
{
	struct ve_disk_model m;

	(void)state;
	check(ve_disk_model_profile("hdd", &m) == 0, "hdd profile");
	check_u64(m.idle_power_uw, 4100000, "paper's drive idles at 4.1 W");
	check_u64(m.active_power_uw, 6700000, "and is active at 6.7 W");
	/* streaming at 57 MB/s for a second costs the 2.6 W surplus */
	check_near(ve_disk_model_energy_uj(&m, 0, 57000000), 2600000.0, 100.0,
		   "57 MB at the paper's rate");
	check(ve_disk_model_check(&m) == 0, "hdd valid");

	check(ve_disk_model_profile("ssd", &m) == 0 && ve_disk_model_check(&m) == 0, "ssd");
	check(m.byte_pj < 10000.0, "an SSD byte is far cheaper than the paper's");
	check(ve_disk_model_profile("nvme", &m) == 0 && ve_disk_model_check(&m) == 0, "nvme");
	check_near(ve_disk_model_energy_uj(&m, 1000, 0), 5000.0, 1e-9, "1000 NVMe requests");

	memset(&m, 0x5a, sizeof(m));
	{
		struct ve_disk_model before = m;

		check(ve_disk_model_profile("floppy", &m) == -ENOENT, "unknown profile");
		check(memcmp(&before, &m, sizeof(m)) == 0, "untouched on failure");
	}
	m = (struct ve_disk_model){ .idle_power_uw = 5, .active_power_uw = 4 };
	check(ve_disk_model_check(&m) == -EINVAL, "active below idle");
	m = (struct ve_disk_model){ .op_nj = NAN };
	check(ve_disk_model_check(&m) == -EINVAL, "NaN per-op energy");
	m = (struct ve_disk_model){ .byte_pj = -1.0 };
	check(ve_disk_model_check(&m) == -EINVAL, "negative per-byte energy");
}

/* frequency scaling of the busy-time weight: CPUs without cpufreq count at their maximum */
static void test_freq_factor(void **state)
{
	(void)state;
	check(fabs(ve_model_freq_factor(0.0, 0, 4) - 1.0) < 1e-12, "no cpufreq: 1");
	check(fabs(ve_model_freq_factor(1.0, 2, 2) - 0.5) < 1e-12, "2 CPUs at half speed: 0.5");
	check(fabs(ve_model_freq_factor(0.5, 1, 2) - 0.75) < 1e-12,
	      "one at half speed, one without cpufreq: 0.75");
	check(fabs(ve_model_freq_factor(1.5, 3, 2) - 0.5) < 1e-12,
	      "more CPUs seen than the socket said: averaged over those seen");
	check(fabs(ve_model_freq_factor(2.0, 2, 2) - 1.0) < 1e-12, "all at the maximum: 1");
}

/* the disk profile by what sysfs says: one rule for the engine and the limiter */
static void test_profile_for(void **state)
{
	(void)state;
	check(strcmp(ve_disk_model_profile_for("nvme0n1", false), "nvme") == 0, "nvme");
	check(strcmp(ve_disk_model_profile_for("nvme1n1", true), "nvme") == 0, "nvme, whatever it says");
	check(strcmp(ve_disk_model_profile_for("sda", true), "hdd") == 0, "rotational: hdd");
	check(strcmp(ve_disk_model_profile_for("vda", false), "ssd") == 0, "else ssd");
	check(strcmp(ve_disk_model_profile_for(NULL, false), "ssd") == 0, "no name: by rotation");
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_cpu_defaults),
		cmocka_unit_test(test_cpu_check),
		cmocka_unit_test(test_disk),
		cmocka_unit_test(test_freq_factor),
		cmocka_unit_test(test_profile_for),
	};

	return cmocka_run_group_tests_name("model", tests, NULL, NULL);
}
