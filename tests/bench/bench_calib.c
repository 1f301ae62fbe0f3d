/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * bench_calib.c: time of one ve_calib_fit() with 3 events plus idle power,
 * for the daemon's default window of 600 periods ([calibration]
 * window-periods) and a short one of 60; usage: bench_calib [ROWS...].
 *
 * Each fit is timed on its own and the median reported: a fit takes
 * microseconds, so a single preemption or page fault would dominate a
 * mean, and the median is what the daemon sees period after period.
 */
#include <errno.h>
#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/utsname.h>
#include <time.h>

#include "calib.h"

#define EVENTS 3
#define RUNS 2000
#define WARMUP 100

/* splitmix64, as in the unit tests: a fixed, libc-independent trace. */
static uint64_t rng_state = 1;

static double rng_uniform(double lo, double hi)
{
	uint64_t z = (rng_state += 0x9e3779b97f4a7c15ULL);

	z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ULL;
	z = (z ^ (z >> 27)) * 0x94d049bb133111ebULL;
	z ^= z >> 31;
	return lo + (hi - lo) * ((double)(z >> 11) * 0x1p-53);
}

static double now_us(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec * 1e6 + (double)ts.tv_nsec / 1e3;
}

static int cmp_double(const void *a, const void *b)
{
	double x = *(const double *)a, y = *(const double *)b;

	return (x > y) - (x < y);
}

/* "model name" from /proc/cpuinfo (x86); other architectures may lack it. */
static void cpu_model(char *buf, size_t len)
{
	FILE *f = fopen("/proc/cpuinfo", "r");
	char line[512];

	snprintf(buf, len, "unknown CPU");
	if (!f)
		return;
	while (fgets(line, sizeof(line), f)) {
		char *colon = strchr(line, ':');

		if (strncmp(line, "model name", 10) != 0 || !colon)
			continue;
		colon++;
		while (*colon == ' ' || *colon == '\t')
			colon++;
		colon[strcspn(colon, "\n")] = '\0';
		snprintf(buf, len, "%s", colon);
		break;
	}
	fclose(f);
}

/* Fit a window of @rows periods RUNS times; print the median.  0, or 1 on failure. */
static int bench(size_t rows)
{
	static const double weight_pj[EVENTS] = { 300.0, 150.0, 15000.0 };
	static double t_us[RUNS];
	struct ve_calib_window *w = ve_calib_window_new(EVENTS, rows);
	struct ve_calib_result res;
	volatile double sink = 0.0;
	int err;

	if (!w) {
		fprintf(stderr, "bench_calib: out of memory\n");
		return 1;
	}
	/* Same host as test_calib.c: 16 cores at 3 GHz, 100 ms, ±1% noise. */
	for (size_t i = 0; i < rows; i++) {
		double period_us = floor(rng_uniform(98000.0, 102000.0));
		double cycles = rng_uniform(0.0, 1.0) * 16.0 * 3e9 * period_us / 1e6;
		double instructions = cycles * rng_uniform(0.2, 3.0);
		double misses = instructions * rng_uniform(0.0, 15.0) / 1000.0;
		uint64_t ev[EVENTS] = { (uint64_t)cycles, (uint64_t)instructions, (uint64_t)misses };
		double e_uj = 20.0 * period_us;

		for (size_t e = 0; e < EVENTS; e++)
			e_uj += weight_pj[e] * (double)ev[e] / 1e6;
		e_uj *= 1.0 + rng_uniform(-0.01, 0.01);
		ve_calib_window_push(w, ev, (uint64_t)period_us, (uint64_t)llround(e_uj));
	}

	for (size_t i = 0; i < WARMUP + RUNS; i++) {
		double t0, t1;

		t0 = now_us();
		err = ve_calib_fit(w, VE_CALIB_MAX_CONDITION, &res);
		t1 = now_us();
		if (err != 0) {
			fprintf(stderr, "bench_calib: ve_calib_fit: %s\n", strerror(-err));
			ve_calib_window_free(w);
			return 1;
		}
		/* Keep the result observable so the call cannot be elided. */
		sink += res.weight_pj[0];
		if (i >= WARMUP)
			t_us[i - WARMUP] = t1 - t0;
	}
	(void)sink;
	qsort(t_us, RUNS, sizeof(t_us[0]), cmp_double);

	printf("calibration solve, %zu-period window, %d events + idle: %.1f us (median of %d)\n",
	       rows, EVENTS, (t_us[RUNS / 2 - 1] + t_us[RUNS / 2]) / 2.0, RUNS);
	printf("  fit: %.2f %.2f %.2f pJ, idle %.3f W, condition %.1f\n", res.weight_pj[0],
	       res.weight_pj[1], res.weight_pj[2], res.idle_power_uw / 1e6, res.condition);
	ve_calib_window_free(w);
	return 0;
}

int main(int argc, char **argv)
{
	struct utsname uts;
	char model[256];

	if (uname(&uts) != 0)
		snprintf(uts.machine, sizeof(uts.machine), "unknown");
	cpu_model(model, sizeof(model));
	printf("machine: %s, %s\n", uts.machine, model);
	if (argc < 2)
		return bench(600) || bench(60);
	for (int i = 1; i < argc; i++) {
		char *end;
		unsigned long rows;

		errno = 0;
		rows = strtoul(argv[i], &end, 10);
		if (errno || *end || rows < 8 || rows > 100000) {
			fprintf(stderr, "bench_calib: '%s' is not a window of 8 .. 100000 periods\n", argv[i]);
			return 2;
		}
		if (bench(rows))
			return 1;
	}
	return 0;
}
