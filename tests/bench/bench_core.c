// SPDX-License-Identifier: GPL-2.0-or-later
/*
 * bench_core: the cost of one accounting period in the core, for the host
 * the foundation issue names: 1,000 VMs × 4 vCPUs, 3,000 other threads
 * (emulator, iothreads, vhost, host), 10 services, a package and a DRAM
 * domain and a disk.  Prints ns per thread sample and µs per period.
 *
 * usage: bench_core [PERIODS [SERVICES [SHAPE]]]
 *
 * SERVICES (default 10, up to 4000) each serve 100 VMs; SHAPE says how they
 * serve each other besides: "star" (the default: every other one passes
 * work to service 0), "chain" (each to the next), "dense" (each to 10
 * others at random, so nearly all of them are one strongly connected
 * component, each passing about a third of its work on to services).
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "attrib.h"
#include "ledger.h"

#define N_VMS 1000
#define VCPUS 4
#define OTHER_THREADS 3000
#define MAX_SERVICES 4000

static uint64_t rnd(uint64_t *s)
{
	uint64_t z = (*s += UINT64_C(0x9e3779b97f4a7c15));

	z = (z ^ (z >> 30)) * UINT64_C(0xbf58476d1ce4e5b9);
	z = (z ^ (z >> 27)) * UINT64_C(0x94d049bb133111eb);
	return z ^ (z >> 31);
}

static double now_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec * 1e9 + (double)ts.tv_nsec;
}

static int cmp_double(const void *a, const void *b)
{
	double x = *(const double *)a, y = *(const double *)b;

	return (x > y) - (x < y);
}

int main(int argc, char **argv)
{
	int periods = 300;
	const char *const events[] = { "cycles", "instructions", "cache-misses" };
	struct ve_account_table *t = ve_account_table_new();
	struct ve_attrib *a = ve_attrib_new();
	size_t n_threads = N_VMS * VCPUS + OTHER_THREADS;
	struct ve_thread_sample *th = calloc(n_threads, sizeof(*th));
	struct ve_io_sample *io = calloc(N_VMS, sizeof(*io));
	struct ve_service_use *use;
	double *samples;
	uint32_t vm[N_VMS], *svc;
	long n_svc = 10;
	const char *shape = "star";
	struct ve_device dev[3];
	struct ve_result r;
	struct ve_ledger l;
	struct ve_error err;
	uint64_t seed = 1;
	size_t n_use = 0, k = 0;

	if (argc > 1) {
		char *end;
		long v = strtol(argv[1], &end, 10);

		if (*end || end == argv[1] || v < 1 || v > 1000000) {
			fprintf(stderr, "bench_core: periods must be 1..1000000, not '%s'\n", argv[1]);
			return 2;
		}
		periods = (int)v;
	}
	if (argc > 2) {
		char *end;

		n_svc = strtol(argv[2], &end, 10);
		if (*end || end == argv[2] || n_svc < 1 || n_svc > MAX_SERVICES) {
			fprintf(stderr, "bench_core: services must be 1..%d, not '%s'\n", MAX_SERVICES,
				argv[2]);
			return 2;
		}
	}
	if (argc > 3) {
		shape = argv[3];
		if (strcmp(shape, "star") && strcmp(shape, "chain") && strcmp(shape, "dense")) {
			fprintf(stderr, "bench_core: shape must be star, chain or dense, not '%s'\n", shape);
			return 2;
		}
	}
	use = calloc((size_t)n_svc * 110, sizeof(*use));
	svc = calloc((size_t)n_svc, sizeof(*svc));
	samples = calloc((size_t)periods, sizeof(double));
	if (!t || !a || !th || !io || !use || !svc || !samples)
		return 1;
	for (int i = 0; i < N_VMS; i++)
		ve_account_add(t, VE_KIND_VM, VCPUS, &vm[i]);
	for (long i = 0; i < n_svc; i++)
		ve_account_add(t, VE_KIND_SERVICE, 0, &svc[i]);

	memset(dev, 0, sizeof(dev));
	dev[0].kind = VE_DEV_PKG;
	dev[0].measured = true;
	ve_cpu_model_defaults(&dev[0].cpu, VE_DOMAIN_PKG, events, 3, 60000000);
	dev[1].kind = VE_DEV_DRAM;
	dev[1].measured = true;
	ve_cpu_model_defaults(&dev[1].cpu, VE_DOMAIN_DRAM, events, 3, 5000000);
	dev[2].kind = VE_DEV_DISK;
	ve_disk_model_profile("nvme", &dev[2].disk);

	for (int i = 0; i < N_VMS; i++)
		for (int v = 0; v < VCPUS; v++)
			th[k++] = (struct ve_thread_sample){ .account = vm[i], .comp = VE_COMP_VCPU };
	for (int i = 0; i < OTHER_THREADS; i++) {
		uint64_t pick = rnd(&seed) % 10;

		if (pick < 6)
			th[k++] = (struct ve_thread_sample){ .account = vm[i % N_VMS],
							     .comp = pick < 3 ? VE_COMP_EMULATOR
									      : VE_COMP_IO };
		else if (pick < 8)
			th[k++] = (struct ve_thread_sample){ .account = svc[i % n_svc],
							     .comp = VE_COMP_CPU };
		else
			th[k++] = (struct ve_thread_sample){ .account = VE_ACCOUNT_HOST,
							     .comp = VE_COMP_CPU };
	}
	for (int i = 0; i < N_VMS; i++)
		io[i] = (struct ve_io_sample){ vm[i], 2, VE_COMP_DISK, 0, 0 };
	/* each service serves 100 VMs, and others by the shape */
	for (long s = 0; s < n_svc; s++) {
		for (long c = 0; c < 100; c++)
			use[n_use++] = (struct ve_service_use){ svc[s], vm[(s * 100 + c) % N_VMS],
								1 + rnd(&seed) % 1000 };
		if (!strcmp(shape, "star") && s)
			use[n_use++] = (struct ve_service_use){ svc[s], svc[0], 500 };
		else if (!strcmp(shape, "chain") && s + 1 < n_svc)
			use[n_use++] = (struct ve_service_use){ svc[s], svc[s + 1], 500 };
		else if (!strcmp(shape, "dense") && n_svc > 1)
			for (int o = 0; o < 10; o++) {
				long to = (long)(rnd(&seed) % (uint64_t)(n_svc - 1));

				use[n_use++] = (struct ve_service_use){ svc[s], svc[to >= s ? to + 1 : to],
									2500 };
			}
	}

	ve_result_init(&r);
	ve_ledger_init(&l);
	for (int p = -10; p < periods; p++) {
		double t0, t1;

		for (size_t i = 0; i < n_threads; i++)
			for (int e = 0; e < 3; e++)
				th[i].delta[e] = rnd(&seed) % 300000000;
		for (int i = 0; i < N_VMS; i++) {
			io[i].ops = rnd(&seed) % 100;
			io[i].bytes = io[i].ops * 4096;
		}
		dev[0].measured_uj = 15000000 + (int64_t)(rnd(&seed) % 10000000);
		dev[1].measured_uj = 1000000 + (int64_t)(rnd(&seed) % 1000000);
		dev[2].busy_us = rnd(&seed) % 100000;

		t0 = now_ns();
		if (ve_attrib_run(a, t, VE_IDLE_VCPUS,
				  &(struct ve_period){ .period_us = 100000,
						       .devices = dev, .n_devices = 3,
						       .threads = th, .n_threads = n_threads,
						       .io = io, .n_io = N_VMS,
						       .uses = use, .n_uses = n_use },
				  &r, &err) < 0 ||
		    ve_ledger_apply(&l, &r) < 0) {
			fprintf(stderr, "bench_core: period failed: %s\n", err.msg);
			return 1;
		}
		t1 = now_ns();
		if (p >= 0)
			samples[p] = t1 - t0;
	}
	qsort(samples, (size_t)periods, sizeof(double), cmp_double);
	printf("core period (attribute + ledger), %d VMs x %d vCPUs + %d other threads + %ld services "
	       "(%s, %zu uses), pkg+dram+disk:\n", N_VMS, VCPUS, OTHER_THREADS, n_svc, shape, n_use);
	printf("  median %.1f us per period, %.1f ns per thread sample (%zu samples); p90 %.1f us; "
	       "median of %d periods\n",
	       samples[periods / 2] / 1e3, samples[periods / 2] / (double)n_threads, n_threads,
	       samples[periods * 9 / 10] / 1e3, periods);
	ve_ledger_clear(&l);
	ve_result_clear(&r);
	ve_attrib_free(a);
	ve_account_table_free(t);
	free(th);
	free(io);
	free(use);
	free(svc);
	free(samples);
	return 0;
}
