// SPDX-License-Identifier: GPL-2.0-or-later
/*
 * virtenergy-sim: run the accounting core on a synthetic host and print
 * what each VM is charged.
 *
 * The host has three VMs, a storage service shared by two of them, which
 * itself uses a backup service, and some host processes.  A hidden "true"
 * energy function (different from the model's default weights) plus noise
 * plays the RAPL sensor.  The core calibrates its weights against that
 * sensor while it attributes, exactly as the daemon does on a RAPL host.
 *
 * usage: virtenergy-sim [--periods N] [--policy none|equal|vcpus|usage] [--seed N]
 */
#include <errno.h>
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "attrib.h"
#include "calib.h"
#include "ledger.h"

#define PERIOD_US 100000u
#define N_EVENTS 3

static const char *const events[N_EVENTS] = { "cycles", "instructions", "cache-misses" };
/* what the simulated silicon really costs: differs from model.c's defaults */
static const double true_pj[N_EVENTS] = { 620.0, 410.0, 31000.0 };
static const double true_idle_uw = 35e6;

enum { WEB, DB, BATCH, N_VMS };
static const char *const vm_names[N_VMS] = { "web", "db", "idle" };
static const uint32_t vm_vcpus[N_VMS] = { 2, 4, 1 };

static uint64_t rnd(uint64_t *s)
{
	uint64_t z = (*s += UINT64_C(0x9e3779b97f4a7c15));

	z = (z ^ (z >> 30)) * UINT64_C(0xbf58476d1ce4e5b9);
	z = (z ^ (z >> 27)) * UINT64_C(0x94d049bb133111eb);
	return z ^ (z >> 31);
}

/* uniform in [lo, hi) */
static double uniform(uint64_t *s, double lo, double hi)
{
	return lo + (hi - lo) * (double)(rnd(s) >> 11) * 0x1.0p-53;
}

static int parse_uint(const char *arg, const char *what, unsigned long max, unsigned long *ret)
{
	char *end;
	unsigned long v;

	errno = 0;
	v = strtoul(arg, &end, 10);
	if (errno || end == arg || *end || arg[0] == '-' || v > max) {
		fprintf(stderr, "virtenergy-sim: %s must be a whole number up to %lu, not '%s'\n",
			what, max, arg);
		return -EINVAL;
	}
	*ret = v;
	return 0;
}

/* One thread's events for a period at a given utilisation and memory intensity. */
static void load(struct ve_thread_sample *s, uint64_t *seed, double util, double mem)
{
	double cycles = util * 3.0e9 * PERIOD_US * 1e-6 * uniform(seed, 0.9, 1.1);

	s->delta[0] = (uint64_t)cycles;
	s->delta[1] = (uint64_t)(cycles * uniform(seed, 0.6, 2.2));
	s->delta[2] = (uint64_t)(cycles * mem * uniform(seed, 0.5, 1.5));
}

int main(int argc, char **argv)
{
	static const struct option opts[] = {
		{ "periods", required_argument, NULL, 'n' },
		{ "policy", required_argument, NULL, 'p' },
		{ "seed", required_argument, NULL, 's' },
		{ "help", no_argument, NULL, 'h' },
		{ NULL, 0, NULL, 0 },
	};
	unsigned long periods = 600, seed_arg = 2007;
	enum ve_idle_policy policy = VE_IDLE_DEFAULT;
	struct ve_account_table *t = ve_account_table_new();
	struct ve_attrib *a = ve_attrib_new();
	struct ve_calib_window *win = ve_calib_window_new(N_EVENTS, 600);
	struct ve_calib_result fit = { 0 };
	uint32_t vm[N_VMS], storage, backup;
	struct ve_device dev[2];
	struct ve_result r;
	struct ve_ledger l;
	struct ve_error err;
	uint64_t seed;
	int c, fits = 0;

	while ((c = getopt_long(argc, argv, "n:p:s:h", opts, NULL)) != -1) {
		switch (c) {
		case 'n':
			if (parse_uint(optarg, "--periods", 10000000, &periods) < 0 || !periods)
				return 2;
			break;
		case 'p':
			if (ve_idle_policy_from_name(optarg, &policy) < 0) {
				fprintf(stderr,
					"virtenergy-sim: unknown idle policy '%s' (none, equal, vcpus, usage)\n",
					optarg);
				return 2;
			}
			break;
		case 's':
			if (parse_uint(optarg, "--seed", ~0ul, &seed_arg) < 0)
				return 2;
			break;
		case 'h':
			printf("usage: virtenergy-sim [--periods N] [--policy none|equal|vcpus|usage] [--seed N]\n");
			return 0;
		default:
			return 2;
		}
	}
	if (!t || !a || !win) {
		fprintf(stderr, "virtenergy-sim: out of memory\n");
		return 1;
	}
	seed = seed_arg;
	for (int i = 0; i < N_VMS; i++)
		ve_account_add(t, VE_KIND_VM, vm_vcpus[i], &vm[i]);
	ve_account_add(t, VE_KIND_SERVICE, 0, &storage);
	ve_account_add(t, VE_KIND_SERVICE, 0, &backup);

	memset(dev, 0, sizeof(dev));
	dev[0].kind = VE_DEV_PKG;
	dev[0].measured = true;
	ve_cpu_model_defaults(&dev[0].cpu, VE_DOMAIN_PKG, events, N_EVENTS, 20000000);
	dev[1].kind = VE_DEV_DISK;
	ve_disk_model_profile("ssd", &dev[1].disk);

	ve_result_init(&r);
	ve_ledger_init(&l);
	for (unsigned long p = 0; p < periods; p++) {
		struct ve_thread_sample th[9];
		struct ve_io_sample io[2];
		uint64_t ops_web = 200 + rnd(&seed) % 100, ops_db = 1500 + rnd(&seed) % 500;
		struct ve_service_use use[4] = {
			{ storage, vm[WEB], ops_web },
			{ storage, vm[DB], ops_db },
			{ storage, backup, 100 },
			{ backup, vm[DB], 1 }, /* db's nightly dump is all the backup serves */
		};
		uint64_t totals[N_EVENTS] = { 0 };
		double true_uj;

		memset(th, 0, sizeof(th));
		/* web: two busy vCPUs; db: four memory-heavy half-busy ones; idle: nearly nothing */
		th[0] = (struct ve_thread_sample){ .account = vm[WEB], .comp = VE_COMP_VCPU };
		load(&th[0], &seed, 0.95, 0.002);
		th[1] = th[0];
		load(&th[1], &seed, 0.9, 0.002);
		th[2] = (struct ve_thread_sample){ .account = vm[DB], .comp = VE_COMP_VCPU };
		load(&th[2], &seed, uniform(&seed, 0.2, 0.8), 0.02);
		th[3] = (struct ve_thread_sample){ .account = vm[DB], .comp = VE_COMP_IO };
		load(&th[3], &seed, 0.15, 0.01);
		th[4] = (struct ve_thread_sample){ .account = vm[BATCH], .comp = VE_COMP_VCPU };
		load(&th[4], &seed, 0.01, 0.001);
		th[5] = (struct ve_thread_sample){ .account = vm[WEB], .comp = VE_COMP_EMULATOR };
		load(&th[5], &seed, 0.05, 0.001);
		th[6] = (struct ve_thread_sample){ .account = storage, .comp = VE_COMP_CPU };
		load(&th[6], &seed, 0.3, 0.01);
		th[7] = (struct ve_thread_sample){ .account = backup, .comp = VE_COMP_CPU };
		load(&th[7], &seed, 0.1, 0.005);
		th[8] = (struct ve_thread_sample){ .account = VE_ACCOUNT_HOST, .comp = VE_COMP_CPU };
		load(&th[8], &seed, uniform(&seed, 0.0, 0.3), 0.001);

		io[0] = (struct ve_io_sample){ storage, 1, VE_COMP_DISK, ops_web + ops_db,
					       (ops_web + ops_db) * 8192 };
		io[1] = (struct ve_io_sample){ vm[DB], 1, VE_COMP_DISK, 50, 50 * 65536 };
		dev[1].busy_us = PERIOD_US / 3;

		/* the sensor: true cost of every event, idle power, 1 % noise */
		true_uj = true_idle_uw * PERIOD_US * 1e-6;
		for (int i = 0; i < 9; i++)
			for (int e = 0; e < N_EVENTS; e++) {
				totals[e] += th[i].delta[e];
				true_uj += true_pj[e] * (double)th[i].delta[e] * 1e-6;
			}
		dev[0].measured_uj = (int64_t)(true_uj * uniform(&seed, 0.99, 1.01));

		if (ve_attrib_run(a, t, policy,
				  &(struct ve_period){ .period_us = PERIOD_US, .devices = dev,
						       .n_devices = 2, .threads = th, .n_threads = 9,
						       .io = io, .n_io = 2, .uses = use, .n_uses = 4 },
				  &r, &err) < 0) {
			fprintf(stderr, "virtenergy-sim: period %lu refused: %s\n", p, err.msg);
			return 1;
		}
		if (ve_ledger_apply(&l, &r) < 0) {
			fprintf(stderr, "virtenergy-sim: ledger refused period %lu\n", p);
			return 1;
		}

		/* calibrate every 10 periods once the window is full enough */
		ve_calib_window_push(win, totals, PERIOD_US, (uint64_t)dev[0].measured_uj);
		if (p % 10 == 9 && ve_calib_fit(win, VE_CALIB_MAX_CONDITION, &fit) == 0 &&
		    ve_calib_apply(&fit, &dev[0].cpu) == 0)
			fits++;
	}

	printf("virtenergy-sim: %lu periods of %u ms, idle policy '%s', package measured by a "
	       "simulated RAPL sensor, disk modelled (estimated)\n\n",
	       periods, PERIOD_US / 1000, ve_idle_policy_name(policy));
	printf("%-8s %5s %9s %9s %9s %9s %9s %9s %9s %9s %8s\n", "VM", "vCPUs", "vcpu J",
	       "emul J", "io J", "disk J", "idle J", "service J", "total J", "pkg J", "avg W");
	for (int i = 0; i < N_VMS; i++) {
		const struct ve_ledger_entry *e = &l.e[vm[i]];

		printf("%-8s %5u %9.2f %9.2f %9.2f %9.2f %9.2f %9.2f %9.2f %9.2f %8.2f\n",
		       vm_names[i], vm_vcpus[i], (double)e->comp_uj[VE_COMP_VCPU] / 1e6,
		       (double)e->comp_uj[VE_COMP_EMULATOR] / 1e6, (double)e->comp_uj[VE_COMP_IO] / 1e6,
		       (double)e->comp_uj[VE_COMP_DISK] / 1e6, (double)e->comp_uj[VE_COMP_IDLE] / 1e6,
		       (double)e->comp_uj[VE_COMP_SERVICE] / 1e6, (double)e->total_uj / 1e6,
		       (double)e->dev_uj[VE_DEV_PKG] / 1e6,
		       (double)e->total_uj / ((double)periods * PERIOD_US));
	}
	printf("\nhost: own work %.2f J", (double)ve_ledger_host_own_uj(&l) / 1e6);
	for (int i = 0; i < VE_REASON__MAX; i++)
		if (l.host_reason_uj[i])
			printf(", %s %.2f J", ve_reason_name((enum ve_reason)i),
			       (double)l.host_reason_uj[i] / 1e6);
	printf("\nservices passed on: storage %.2f J, backup %.2f J\n",
	       (double)l.e[storage].passed_on_uj / 1e6, (double)l.e[backup].passed_on_uj / 1e6);
	{
		uint64_t sum = 0;

		for (size_t s = 0; s < l.n; s++)
			sum += l.e[s].total_uj;
		printf("conservation: sum over accounts %.6f J = measured + modelled %.6f J: %s\n",
		       (double)sum / 1e6, (double)l.energy_uj / 1e6, sum == l.energy_uj ? "exact" : "MISMATCH");
		if (sum != l.energy_uj)
			return 1;
	}
	if (fits)
		printf("calibration (%d fits): cycles %.0f pJ, instructions %.0f pJ, cache-misses %.0f pJ, "
		       "idle %.2f W; true: %.0f, %.0f, %.0f pJ, %.2f W\n",
		       fits, fit.weight_pj[0], fit.weight_pj[1], fit.weight_pj[2],
		       fit.idle_power_uw / 1e6, true_pj[0], true_pj[1], true_pj[2], true_idle_uw / 1e6);
	else
		printf("calibration: no fit yet (too few periods or an ill-conditioned window)\n");

	ve_ledger_clear(&l);
	ve_result_clear(&r);
	ve_calib_window_free(win);
	ve_attrib_free(a);
	ve_account_table_free(t);
	return 0;
}
