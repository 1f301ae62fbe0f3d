// SPDX-License-Identifier: GPL-2.0-or-later
/*
 * libFuzzer target: virtenergy.ko's generic netlink policy and commands,
 * from userspace, in the test kernel (tests/fuzz/kernel.sh boots it with
 * scripts/vmtest and loads the module).
 *
 * An input is [command][version][attributes...]: the attribute bytes go to
 * the module as they are, except that a VE_A_TID below NR_HELPERS names one
 * of this program's idle threads and a VE_A_CGROUP_ID below NR_CGROUPS one
 * of the cgroups in $VE_FUZZ_CGROUPS, so that inputs reach the paths that
 * watch something real.
 *
 * The kernel is not built with KCOV, so libFuzzer cannot see its edges.
 * What guides it instead is the module's answer: each distinct (command,
 * errno, extended-ack message) lights its own counter in libFuzzer's extra
 * counters, so an input that draws an answer not seen before is kept; so
 * does the state GET_INFO reports after it (period, batch and watches, by
 * order of magnitude).
 *
 * Oracles, each an abort (a crash libFuzzer keeps):
 *   - the answer is success or one of the errors the module and netlink
 *     give for bad input;
 *   - GET_INFO still answers after every input, with a period and batch
 *     inside their ranges;
 *   - what an input watched is gone once unwatched (and at worst once the
 *     socket is closed);
 *   - the kernel log shows no BUG, WARNING, Oops, UBSAN or KASAN report.
 */
#include <errno.h>
#include <fcntl.h>
#include <linux/netlink.h>
#include <pthread.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <unistd.h>

#include <virtenergy/uapi.h>

#include "kmodnl.h"

int LLVMFuzzerInitialize(int *argc, char ***argv);
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

#define NR_HELPERS 4
#define NR_CGROUPS 4
#define MAX_ATTRS 1024

/* the module's answers, as libFuzzer features (see above) */
__attribute__((used, section("__libfuzzer_extra_counters"))) static uint8_t answers[4096];

static struct ve_kmod *k;
static pid_t helpers[NR_HELPERS];
static uint64_t cgroups[NR_CGROUPS];
static int nr_cgroups;
static int kmsg = -1;
static unsigned long distinct, reopened;
static uint32_t period0, batch0;   /* the module's configuration before any input */
static uint32_t seen[4096 / 32];

static pthread_mutex_t park_mu = PTHREAD_MUTEX_INITIALIZER;
static pthread_cond_t park_cv = PTHREAD_COND_INITIALIZER;

static void *helper_main(void *arg)
{
	*(volatile pid_t *)arg = (pid_t)syscall(SYS_gettid);
	pthread_mutex_lock(&park_mu);
	for (;;)
		pthread_cond_wait(&park_cv, &park_mu);
	return NULL;
}

/* what went wrong, with the module's message (or the kernel log's) and a number */
static _Noreturn void fail(const char *what, const char *detail, int r)
{
	fprintf(stderr, "fuzz_netlink: %s: '%s' (%d)\n", what, detail, r);
	abort();
}

static void report(void)
{
	fprintf(stderr, "fuzz_netlink: distinct answers from the module: %lu; sockets reopened "
		"to drop a watch: %lu\n", distinct, reopened);
}

/* The kernel log since the last look: abort on any report of a kernel bug. */
static void check_kmsg(void)
{
	static const char *const bad[] = {
		"BUG:", "WARNING:", "Oops", "UBSAN:", "KASAN:", "general protection",
		"refcount_t:", "list_add corruption", "list_del corruption", "virtenergy: leak",
	};
	char rec[8192];
	ssize_t n;

	if (kmsg < 0)
		return;
	while ((n = read(kmsg, rec, sizeof(rec) - 1)) != 0) {
		if (n < 0) {
			if (errno == EPIPE || errno == EINTR)
				continue;   /* overwritten records, or a signal: read on */
			break;              /* EAGAIN: nothing new */
		}
		rec[n] = '\0';
		for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++)
			if (strstr(rec, bad[i]))
				fail("the kernel reported a bug", rec, 0);
	}
}

int LLVMFuzzerInitialize(int *argc, char ***argv)
{
	const char *dir = getenv("VE_FUZZ_CGROUPS");
	pthread_t th;
	int r;

	(void)argc, (void)argv;
	if ((r = ve_kmod_open(&k)) < 0) {
		fprintf(stderr, "fuzz_netlink: cannot open the virtenergy family: %s (is "
			"virtenergy.ko loaded? tests/fuzz/kernel.sh loads it in the test kernel)\n",
			strerror(-r));
		exit(2);
	}
	{
		struct ve_kmod_info info;

		if ((r = ve_kmod_info(k, &info)) < 0) {
			fprintf(stderr, "fuzz_netlink: GET_INFO: %s\n", strerror(-r));
			exit(2);
		}
		period0 = info.period_ms;
		batch0 = info.batch;
	}
	for (int i = 0; i < NR_HELPERS; i++) {
		volatile pid_t *tid = &helpers[i];

		if (pthread_create(&th, NULL, helper_main, (void *)tid))
			exit(2);
		while (!*tid)
			usleep(1000);
	}
	for (int i = 0; dir && i < NR_CGROUPS; i++) {
		char path[4096];
		struct stat st;

		snprintf(path, sizeof(path), "%s/c%d", dir, i);
		if (stat(path, &st) == 0)
			cgroups[nr_cgroups++] = (uint64_t)st.st_ino;
	}
	kmsg = open("/dev/kmsg", O_RDONLY | O_NONBLOCK);
	if (kmsg >= 0)
		lseek(kmsg, 0, SEEK_END);
	atexit(report);
	return 0;
}

static int allowed(int r)
{
	switch (-r) {
	case 0:
	case EINVAL:       /* policy: wrong length, unknown or missing attribute */
	case ERANGE:       /* policy: out of range */
	case EOPNOTSUPP:   /* unknown command, or one only the module sends */
	case E2BIG:        /* too many events */
	case EEXIST:       /* watched already */
	case ENOENT:       /* not watched; an event perf does not know */
	case ESRCH:        /* no such thread */
	case ENOSPC:       /* max_threads, max_cgroups */
	case EMSGSIZE:
	case EACCES:       /* perf refuses an event */
	case ENODEV:
		return 1;
	}
	return 0;
}

static void light(uint8_t cmd, uint32_t r, const char *msg)
{
	uint32_t h = 2166136261u;

	h = (h ^ cmd) * 16777619u;
	h = (h ^ r) * 16777619u;
	for (; msg && *msg; msg++)
		h = (h ^ (uint8_t)*msg) * 16777619u;
	h %= sizeof(answers);
	answers[h]++;
	if (!(seen[h / 32] & (1u << (h % 32)))) {
		seen[h / 32] |= 1u << (h % 32);
		distinct++;
	}
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	uint8_t buf[MAX_ATTRS];
	struct ve_kmod_info info;
	uint32_t tid = 0;
	uint64_t cg = 0;
	size_t len, off;
	uint8_t cmd;
	int r;

	if (size < 2 || size - 2 > sizeof(buf))
		return -1;
	cmd = data[0];
	len = size - 2;
	memcpy(buf, data + 2, len);
	/* name real threads and cgroups; the last of each is the one nla_parse keeps */
	for (off = 0; off + 4 <= len;) {
		uint16_t alen, type;

		memcpy(&alen, buf + off, 2);
		memcpy(&type, buf + off + 2, 2);
		if (alen < 4 || off + alen > len)
			break;
		type &= NLA_TYPE_MASK;
		if (type == VE_A_TID && alen == 8) {
			memcpy(&tid, buf + off + 4, 4);
			if (tid < NR_HELPERS) {
				tid = (uint32_t)helpers[tid];
				memcpy(buf + off + 4, &tid, 4);
			}
		} else if (type == VE_A_CGROUP_ID && alen == 12) {
			memcpy(&cg, buf + off + 4, 8);
			if (cg < (uint64_t)nr_cgroups) {
				cg = cgroups[cg];
				memcpy(buf + off + 4, &cg, 8);
			}
		}
		off += (alen + 3u) & ~3u;
	}

	r = ve_kmod_send_raw(k, cmd, data[1], buf, len);
	if (!allowed(r))
		fail("an answer outside the module's errors", ve_kmod_error(k), r);
	light(cmd, (uint32_t)-r, r < 0 ? ve_kmod_error(k) : NULL);

	/* undo what it did, so that every input starts from the same module */
	if (r == 0 && cmd == VE_CMD_WATCH_THREAD && tid)
		ve_kmod_unwatch_thread(k, (pid_t)tid);
	if (r == 0 && cmd == VE_CMD_WATCH_CGROUP && cg)
		ve_kmod_unwatch_cgroup(k, cg);

	if ((r = ve_kmod_info(k, &info)) < 0)
		fail("GET_INFO no longer answers", ve_kmod_error(k), r);
	if (info.period_ms < VE_PERIOD_MS_MIN || info.period_ms > VE_PERIOD_MS_MAX ||
	    info.batch < VE_BATCH_MIN || info.batch > VE_BATCH_MAX)
		fail("the module took a period or batch outside its range", "period_ms", (int)info.period_ms);
	/* and the state it left, by order of magnitude: a new one is a new feature too */
	light(0xff, (uint32_t)(32 - __builtin_clz(info.period_ms | 1)) << 8 |
		    (uint32_t)(32 - __builtin_clz(info.batch | 1)) << 16 |
		    (info.nr_threads ? 1u : 0) | (info.nr_cgroups ? 2u : 0), NULL);
	if (info.nr_threads || info.nr_cgroups) {
		/* watched under a tid or id the input wrote in another form: drop by closing */
		ve_kmod_close(k);
		reopened++;
		if ((r = ve_kmod_open(&k)) < 0 || (r = ve_kmod_info(k, &info)) < 0)
			fail("the family cannot be reopened", "", r);
		if (info.nr_threads || info.nr_cgroups)
			fail("a watch outlived the socket that made it", "watches",
			     (int)(info.nr_threads + info.nr_cgroups));
	}
	if (cmd == VE_CMD_SET_CONFIG)
		ve_kmod_set_config(k, period0, batch0);
	check_kmsg();
	return 0;
}
