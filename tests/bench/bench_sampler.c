// SPDX-License-Identifier: GPL-2.0-or-later
/*
 * bench_sampler: what one thread sample costs with each userspace sampler
 * (sampler.h), for 10, 100 and 1,000 watched threads of this process.
 * Prints ns per thread-sample, the median over rounds of reading every
 * thread once.
 */
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/syscall.h>
#include <time.h>
#include <unistd.h>
#include <fcntl.h>

#include "sampler.h"

#define MAX_THREADS 1000
#define ROUNDS 50

static pid_t tids[MAX_THREADS];
static volatile int stop;
static pthread_mutex_t lock = PTHREAD_MUTEX_INITIALIZER;
static int started;

static void *idle_thread(void *arg)
{
	int i = (int)(long)arg;

	tids[i] = (pid_t)syscall(SYS_gettid);
	pthread_mutex_lock(&lock);
	started++;
	pthread_mutex_unlock(&lock);
	while (!stop)
		usleep(20000);
	return NULL;
}

static double now_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec * 1e9 + (double)ts.tv_nsec;
}

static int cmp(const void *a, const void *b)
{
	double x = *(const double *)a, y = *(const double *)b;

	return (x > y) - (x < y);
}

static void run(struct ve_sampler *s, int n)
{
	struct ve_watch **w = calloc((size_t)n, sizeof(*w));
	double t[ROUNDS];
	uint64_t counts[VE_MAX_EVENTS];
	int watched = 0;

	for (int i = 0; i < n; i++)
		if (s->ops->watch(s, getpid(), tids[i], &w[i]) == 0)
			watched++;
	for (int r = 0; r < ROUNDS; r++) {
		double t0 = now_ns();

		for (int i = 0; i < n; i++)
			if (w[i])
				s->ops->read(s, w[i], counts);
		t[r] = (now_ns() - t0) / (watched ? watched : 1);
	}
	qsort(t, ROUNDS, sizeof(double), cmp);
	printf("  %-10s %5d threads: %8.0f ns per thread-sample (median of %d rounds)\n",
	       s->ops->name, n, t[ROUNDS / 2], ROUNDS);
	for (int i = 0; i < n; i++)
		if (w[i])
			s->ops->unwatch(s, w[i]);
	free(w);
}

int main(void)
{
	static const int sizes[] = { 10, 100, 1000 };
	const char *const events[] = { "cycles", "instructions", "cache-misses" };
	pthread_t th[MAX_THREADS];
	int root = open("/", O_PATH | O_DIRECTORY | O_CLOEXEC);
	char why[256];

	for (long i = 0; i < MAX_THREADS; i++)
		if (pthread_create(&th[i], NULL, idle_thread, (void *)i) != 0) {
			fprintf(stderr, "bench_sampler: cannot create thread %ld\n", i);
			return 1;
		}
	while (started < MAX_THREADS)
		usleep(1000);

	printf("per-thread sampling cost of the userspace samplers:\n");
	for (int kind = VE_SAMPLER_PERF; kind <= VE_SAMPLER_SCHEDSTAT; kind++) {
		struct ve_sampler *s = NULL;

		if (ve_sampler_open((enum ve_sampler_kind)kind, events, 3, root, &s, why, sizeof(why)) < 0) {
			printf("  %s sampler unavailable: %s\n", kind == VE_SAMPLER_PERF ? "perf" : "schedstat", why);
			continue;
		}
		printf(" mode: %s\n", ve_sampler_mode(s));
		for (size_t k = 0; k < sizeof(sizes) / sizeof(sizes[0]); k++)
			run(s, sizes[k]);
		ve_sampler_free(s);
	}
	stop = 1;
	for (int i = 0; i < MAX_THREADS; i++)
		pthread_join(th[i], NULL);
	close(root);
	return 0;
}
