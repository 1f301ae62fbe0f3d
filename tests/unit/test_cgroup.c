// SPDX-License-Identifier: GPL-2.0-or-later
/* cgroup thread lists and block I/O statistics, v1 and v2. */
#include <errno.h>
#include <stdbool.h>
#include <unistd.h>

#include "check.h"
#include "cgroup.h"
#include "fixture.h"
#include "procfs.h"

#define OVERFLOW_STR "99999999999999999999999"
#define VM_V1 "sys/fs/cgroup/cpu,cpuacct/machine/qemu-1-web.libvirt-qemu"
#define BLKIO_V1 "sys/fs/cgroup/blkio/machine/qemu-1-web.libvirt-qemu"
#define VM_V2 "sys/fs/cgroup/machine.slice/machine-qemu\\x2d1\\x2dweb.scope"

static void test_parse_tid_list(void **state)
{
	static const struct {
		const char *name, *text;
		int ret;
		size_t n;
		pid_t tids[4];
	} cases[] = {
		{ "sorted", "1\n2\n3\n", 0, 3, { 1, 2, 3 } },
		{ "unsorted", "30\n10\n20\n", 0, 3, { 10, 20, 30 } },
		{ "no final newline", "5\n4", 0, 2, { 4, 5 } },
		{ "largest", "2147483647\n", 0, 1, { 2147483647 } },
		{ "empty", "", 0, 0, { 0 } },
		{ "blank line", "\n", 0, 0, { 0 } },
		{ "junk", "1\nx\n", -EINVAL, 0, { 0 } },
		{ "trailing junk", "12a\n", -EINVAL, 0, { 0 } },
		{ "zero", "0\n", -EINVAL, 0, { 0 } },
		{ "negative", "-1\n", -EINVAL, 0, { 0 } },
		{ "above INT_MAX", "2147483648\n", -EINVAL, 0, { 0 } },
		{ "overflow", OVERFLOW_STR "\n", -EINVAL, 0, { 0 } },
		{ "two per line", "1 2\n", -EINVAL, 0, { 0 } },
		{ "blank before", " 1\n", -EINVAL, 0, { 0 } },
	};

	(void)state;
	for (size_t i = 0; i < ARRAY_SIZE(cases); i++) {
		pid_t sentinel = 0, *tids = &sentinel;
		size_t n = 99;
		int r = ve_parse_tid_list(cases[i].text, &tids, &n);

		check(r == cases[i].ret, "%s: returned %d, want %d", cases[i].name, r,
		      cases[i].ret);
		if (r < 0) {
			check(tids == &sentinel && n == 99, "%s: outputs touched", cases[i].name);
			continue;
		}
		check_u64(n, cases[i].n, cases[i].name);
		check(n || !tids, "%s: empty list must be NULL", cases[i].name);
		for (size_t k = 0; k < n; k++)
			check(tids[k] == cases[i].tids[k], "%s: [%zu] = %d, want %d",
			      cases[i].name, k, (int)tids[k], (int)cases[i].tids[k]);
		free(tids);
	}
}

static void test_read_tids(void **state)
{
	struct fx fx;
	pid_t sentinel = 0, *tids = NULL;
	size_t n = 0;
	int r;

	(void)state;
	fx_make(&fx);
	fx_write(&fx, VM_V1 "/vcpu0/tasks", "1240\n");
	fx_write(&fx, VM_V1 "/emulator/tasks", "1236\n1234\n1235\n");
	fx_write(&fx, VM_V1 "/vcpu1/tasks", "");
	fx_write(&fx, VM_V2 "/vcpu0/cgroup.threads", "1240\n");
	fx_write(&fx, VM_V2 "/vcpu0/cgroup.procs", "1234\n");
	fx_mkdir(&fx, VM_V1 "/neither");

	check(ve_cgroup_read_tids(fx.fd, VM_V1 "/vcpu0", &tids, &n) == 0, "v1 tasks");
	check(n == 1 && tids[0] == 1240, "v1 vcpu0: %zu", n);
	free(tids);
	check(ve_cgroup_read_tids(fx.fd, VM_V1 "/emulator", &tids, &n) == 0, "v1 tasks");
	check(n == 3 && tids[0] == 1234 && tids[2] == 1236, "v1 emulator sorted");
	free(tids);
	check(ve_cgroup_read_tids(fx.fd, VM_V1 "/vcpu1", &tids, &n) == 0, "empty cgroup");
	check(n == 0 && tids == NULL, "empty cgroup: %zu", n);
	check(ve_cgroup_read_tids(fx.fd, VM_V2 "/vcpu0", &tids, &n) == 0, "v2 threads");
	check(n == 1 && tids[0] == 1240, "v2 vcpu0");
	free(tids);
	/* the hierarchy known: only its file is read */
	check(ve_cgroup_read_tids_v(fx.fd, VM_V1 "/emulator", false, &tids, &n) == 0 && n == 3, "v1 known");
	free(tids);
	check(ve_cgroup_read_tids_v(fx.fd, VM_V2 "/vcpu0", true, &tids, &n) == 0 && n == 1, "v2 known");
	free(tids);
	check(ve_cgroup_read_tids_v(fx.fd, VM_V1 "/vcpu0", true, &tids, &n) == -ENOENT, "v1 read as v2");

	tids = &sentinel;
	n = 99;
	r = ve_cgroup_read_tids(fx.fd, VM_V1 "/vcpu7", &tids, &n);
	check(r == -ENOENT, "cgroup gone: %d", r);
	r = ve_cgroup_read_tids(fx.fd, VM_V1 "/neither", &tids, &n);
	check(r == -ENOENT, "no tasks file: %d", r);
	fx_write(&fx, VM_V1 "/vcpu0/tasks", "1240\nnot a tid\n");
	r = ve_cgroup_read_tids(fx.fd, VM_V1 "/vcpu0", &tids, &n);
	check(r == -EINVAL, "malformed tasks: %d", r);
	check(tids == &sentinel && n == 99, "outputs touched");
	fx_remove(&fx);
}

/* cgroup v1 throttle statistics as blkg_prfill_rwstat() prints them. */
static const char v1_bytes[] =
	"8:16 Read 4096\n"
	"8:16 Write 8192\n"
	"8:16 Sync 12288\n"
	"8:16 Async 0\n"
	"8:16 Discard 0\n"
	"8:16 Total 12288\n"
	"8:0 Read 100\n"
	"8:0 Write 200\n"
	"8:0 Sync 300\n"
	"8:0 Async 0\n"
	"8:0 Discard 0\n"
	"8:0 Total 300\n"
	"Total 12588\n";
static const char v1_ios[] =
	"8:0 Read 1\n"
	"8:0 Write 2\n"
	"8:0 Sync 3\n"
	"8:0 Async 0\n"
	"8:0 Discard 0\n"
	"8:0 Total 3\n"
	"8:16 Read 3\n"
	"8:16 Write 4\n"
	"8:16 Sync 7\n"
	"8:16 Async 0\n"
	"8:16 Discard 0\n"
	"8:16 Total 7\n"
	"253:0 Read 9\n"
	"253:0 Write 0\n"
	"253:0 Total 9\n"
	"Total 19\n";

static void check_dev(const struct ve_blkio_dev *d, uint32_t major, uint32_t minor,
		      uint64_t rbytes, uint64_t wbytes, uint64_t rios, uint64_t wios,
		      const char *ctx)
{
	check(d->major == major && d->minor == minor, "%s: device %u:%u, want %u:%u", ctx,
	      d->major, d->minor, major, minor);
	check_u64(d->rbytes, rbytes, ctx);
	check_u64(d->wbytes, wbytes, ctx);
	check_u64(d->rios, rios, ctx);
	check_u64(d->wios, wios, ctx);
}

static void test_parse_blkio_v1(void **state)
{
	struct ve_blkio_dev sentinel, *devs = NULL;
	size_t n = 0;

	(void)state;
	check(ve_parse_blkio_v1(v1_bytes, v1_ios, &devs, &n) == 0, "parse");
	check_u64(n, 3, "devices");
	check_dev(&devs[0], 8, 0, 100, 200, 1, 2, "8:0");
	check_dev(&devs[1], 8, 16, 4096, 8192, 3, 4, "8:16");
	check_dev(&devs[2], 253, 0, 0, 0, 9, 0, "253:0, only in io_serviced");
	free(devs);

	check(ve_parse_blkio_v1(v1_bytes, NULL, &devs, &n) == 0, "bytes only");
	check_u64(n, 2, "devices");
	check_dev(&devs[1], 8, 16, 4096, 8192, 0, 0, "8:16, bytes only");
	free(devs);

	/* a cgroup that did no I/O: the kernel prints the total alone */
	devs = &sentinel;
	check(ve_parse_blkio_v1("Total 0\n", "Total 0\n", &devs, &n) == 0, "idle");
	check(n == 0 && devs == NULL, "idle cgroup: %zu devices", n);
	check(ve_parse_blkio_v1("", NULL, &devs, &n) == 0 && n == 0, "empty");
}

static void test_parse_blkio_v1_malformed(void **state)
{
	static const char *const bad[] = {
		"8:0 Read\n",                        /* missing value */
		"8:0 Read 1 2\n",                    /* extra field */
		"8:0 Read 12x\n",                    /* trailing junk */
		"8:0 Read " OVERFLOW_STR "\n",       /* overflow */
		"8:0 Read -1\n",
		"8 Read 1\n",                        /* no minor */
		"8:0:1 Read 1\n",
		"8:x Read 1\n",
		"4294967296:0 Read 1\n",             /* major beyond 32 bits */
		"8:0 R3ad 1\n",                      /* not an operation name */
		"Total\n",
		"Total x\n",
		"Total 1 2\n",
		"8:0 Read 1\n8:0 Read 2\n",         /* the same counter twice */
		"junk\n",
	};
	struct ve_blkio_dev sentinel, *devs = &sentinel;
	size_t n = 99;

	(void)state;
	for (size_t i = 0; i < ARRAY_SIZE(bad); i++) {
		int r = ve_parse_blkio_v1(bad[i], v1_ios, &devs, &n);

		check(r == -EINVAL, "bytes \"%s\": returned %d", bad[i], r);
		r = ve_parse_blkio_v1(v1_bytes, bad[i], &devs, &n);
		check(r == -EINVAL, "ios \"%s\": returned %d", bad[i], r);
		check(devs == &sentinel && n == 99, "outputs touched");
	}
	/* a future operation name is skipped like Sync and Async */
	check(ve_parse_blkio_v1("8:0 Read 1\n8:0 Zapped 5\nTotal 1\n", NULL, &devs, &n) == 0,
	      "unknown operation");
	check(n == 1 && devs[0].rbytes == 1, "unknown operation");
	free(devs);
}

static void test_parse_io_stat(void **state)
{
	/* iocost and io.latency append keys, some of them not integers */
	static const char text[] =
		"259:0 rbytes=1048576 wbytes=2097152 rios=256 wios=512 dbytes=0 dios=0 "
		"cost.vrate=135.04 cost.usage=4310 cost.wait=0 cost.indebt=0 cost.indelay=0\n"
		"8:0 rbytes=4096 wbytes=0 rios=1 wios=0 dbytes=0 dios=0 depth=max avg_lat=120 "
		"newkey=whatever\n"
		"253:1 wios=4 rios=3 wbytes=2 rbytes=1\n";
	struct ve_blkio_dev sentinel, *devs = NULL;
	size_t n = 0;

	(void)state;
	check(ve_parse_io_stat(text, &devs, &n) == 0, "parse");
	check_u64(n, 3, "devices");
	check_dev(&devs[0], 8, 0, 4096, 0, 1, 0, "8:0");
	check_dev(&devs[1], 253, 1, 1, 2, 3, 4, "253:1, keys in another order");
	check_dev(&devs[2], 259, 0, 1048576, 2097152, 256, 512, "259:0 with iocost keys");
	free(devs);

	devs = &sentinel;
	check(ve_parse_io_stat("", &devs, &n) == 0 && n == 0 && !devs, "empty io.stat");
}

static void test_parse_io_stat_malformed(void **state)
{
	static const char *const bad[] = {
		"8:0 rbytes=1 wbytes=2 rios=3\n",                          /* no wios */
		"8:0 rbytes=1 wbytes=2 rios=3 wios=4 rios=5\n",            /* rios twice */
		"8:0 rbytes=1x wbytes=2 rios=3 wios=4\n",                  /* trailing junk */
		"8:0 rbytes=" OVERFLOW_STR " wbytes=2 rios=3 wios=4\n",   /* overflow */
		"8:0 rbytes= wbytes=2 rios=3 wios=4\n",                    /* no value */
		"8:0 rbytes=-1 wbytes=2 rios=3 wios=4\n",
		"8:0 rbytes=1 wbytes=2 rios=3 wios=4 junk\n",              /* not key=value */
		"8:0 rbytes=1 wbytes=2 rios=3 wios=4 =5\n",                /* empty key */
		"8:x rbytes=1 wbytes=2 rios=3 wios=4\n",
		"sda rbytes=1 wbytes=2 rios=3 wios=4\n",
		"8:0\n",
		"8:0 rbytes=1 wbytes=2 rios=3 wios=4\n8:0 rbytes=1 wbytes=2 rios=3 wios=4\n",
	};
	struct ve_blkio_dev sentinel, *devs = &sentinel;
	size_t n = 99;

	(void)state;
	for (size_t i = 0; i < ARRAY_SIZE(bad); i++) {
		int r = ve_parse_io_stat(bad[i], &devs, &n);

		check(r == -EINVAL, "\"%s\": returned %d", bad[i], r);
		check(devs == &sentinel && n == 99, "\"%s\": outputs touched", bad[i]);
	}
}

static void test_read_blkio(void **state)
{
	struct ve_blkio_dev *devs = NULL;
	size_t n = 0;
	struct fx fx;
	int r;

	(void)state;
	fx_make(&fx);
	/* v1: the recursive files include the child cgroups, so they win */
	fx_write(&fx, BLKIO_V1 "/blkio.throttle.io_service_bytes_recursive",
		 "8:0 Read 1000\n8:0 Write 2000\nTotal 3000\n");
	fx_write(&fx, BLKIO_V1 "/blkio.throttle.io_serviced_recursive",
		 "8:0 Read 10\n8:0 Write 20\nTotal 30\n");
	fx_write(&fx, BLKIO_V1 "/blkio.throttle.io_service_bytes", "8:0 Read 1\n8:0 Write 2\n");
	fx_write(&fx, BLKIO_V1 "/blkio.throttle.io_serviced", "8:0 Read 3\n8:0 Write 4\n");
	/* an old kernel: the plain pair only */
	fx_write(&fx, BLKIO_V1 "/old/blkio.throttle.io_service_bytes", "8:0 Read 1\n8:0 Write 2\n");
	fx_write(&fx, BLKIO_V1 "/old/blkio.throttle.io_serviced", "8:0 Read 3\n8:0 Write 4\n");
	/* a hybrid host: a v2 directory without io.stat */
	fx_write(&fx, VM_V2 "/cgroup.threads", "");
	fx_write(&fx, VM_V2 "/io-on/io.stat", "8:0 rbytes=5 wbytes=6 rios=7 wios=8\n");

	r = ve_cgroup_read_blkio(fx.fd, BLKIO_V1, NULL, &devs, &n);
	check(r == 0, "v1: %d", r);
	check(n == 1, "v1 devices: %zu", n);
	check_dev(&devs[0], 8, 0, 1000, 2000, 10, 20, "v1 recursive");
	free(devs);

	check(ve_cgroup_read_blkio(fx.fd, BLKIO_V1 "/old", NULL, &devs, &n) == 0, "old v1");
	check_dev(&devs[0], 8, 0, 1, 2, 3, 4, "v1 plain");
	free(devs);

	check(ve_cgroup_read_blkio(fx.fd, BLKIO_V1, VM_V2, &devs, &n) == 0, "hybrid");
	check_dev(&devs[0], 8, 0, 1000, 2000, 10, 20, "hybrid falls back to v1");
	free(devs);

	check(ve_cgroup_read_blkio(fx.fd, BLKIO_V1, VM_V2 "/io-on", &devs, &n) == 0, "v2");
	check_dev(&devs[0], 8, 0, 5, 6, 7, 8, "v2 io.stat preferred");
	free(devs);

	devs = NULL;
	n = 99;
	r = ve_cgroup_read_blkio(fx.fd, NULL, VM_V2, &devs, &n);
	check(r == -ENOENT, "v2 without io controller: %d", r);
	r = ve_cgroup_read_blkio(fx.fd, NULL, NULL, &devs, &n);
	check(r == -ENOENT, "nothing given: %d", r);
	r = ve_cgroup_read_blkio(fx.fd, BLKIO_V1 "/gone", VM_V2 "/gone", &devs, &n);
	check(r == -ENOENT, "cgroup gone: %d", r);
	fx_write(&fx, VM_V2 "/io-on/io.stat", "8:0 rbytes=5\n");
	r = ve_cgroup_read_blkio(fx.fd, BLKIO_V1, VM_V2 "/io-on", &devs, &n);
	check(r == -EINVAL, "malformed io.stat is an error, not a fallback: %d", r);
	check(devs == NULL && n == 99, "outputs touched");
	fx_remove(&fx);
}

/*
 * This machine: find this process's cgroup in whichever hierarchy is
 * mounted where systemd mounts it and lists its threads: the directory
 * (relative to /) into @dir.  false when there is none.
 */
static const struct {
	const char *controller, *mount;
} where[] = {
	{ "", "sys/fs/cgroup" },
	{ "", "sys/fs/cgroup/unified" },
	{ "cpu", "sys/fs/cgroup/cpu,cpuacct" },
	{ "cpu", "sys/fs/cgroup/cpu" },
	{ "pids", "sys/fs/cgroup/pids" },
};

static bool own_cgroup(int root, pid_t pid, char *dir, size_t len)
{
	char path[4096];

	for (size_t i = 0; i < ARRAY_SIZE(where); i++) {
		pid_t *tids;
		size_t n;

		if (ve_proc_pid_cgroup(root, pid, where[i].controller, path, sizeof(path)) < 0)
			continue;
		/* "/" is the hierarchy's root: drop it so that the path has no "//" */
		snprintf(dir, len, "%s%s", where[i].mount, strcmp(path, "/") ? path : "");
		if (ve_cgroup_read_tids(root, dir, &tids, &n) == 0) {
			free(tids);
			return true;
		}
	}
	return false;
}

/*
 * The same search, and the block I/O of what it found, on fixture roots
 * laid out as the hosts systemd sets up (with the answer of each):
 *   hybrid     v1 controllers, the v2 tree at unified without controllers
 *              (Debian 11, Ubuntu 20.04): threads from unified, block I/O
 *              from v1 blkio;
 *   unified    v2 only with io enabled for the slice (Debian 12): both from
 *              the one tree, io.stat;
 *   no io      v2 only, io not enabled in the parent: no block I/O, -ENOENT;
 *   v1         v1 only, no 0:: line (CentOS 7): threads from cpu,cpuacct.
 */
#define SCOPE "/machine.slice/machine-qemu\\x2d1\\x2dweb.scope"

static void test_host_layouts(void **state)
{
	static const struct {
		const char *name, *proc_cgroup, *threads_file, *io_stat, *v1_bytes, *v1_ios;
		const char *want_dir, *want_blkio_v1, *want_v2;
		int want_blkio;
		uint64_t rbytes, wbytes, rios, wios;
	} cases[] = {
		{ "hybrid",
		  "12:blkio:" SCOPE "\n11:cpu,cpuacct:" SCOPE "\n1:name=systemd:" SCOPE "\n0::" SCOPE "\n",
		  "sys/fs/cgroup/unified" SCOPE "/cgroup.threads", NULL,
		  "8:0 Read 4096\n8:0 Write 8192\nTotal 12288\n", "8:0 Read 1\n8:0 Write 2\nTotal 3\n",
		  "sys/fs/cgroup/unified" SCOPE, "sys/fs/cgroup/blkio" SCOPE, "sys/fs/cgroup/unified" SCOPE,
		  0, 4096, 8192, 1, 2 },
		{ "unified", "0::" SCOPE "\n", "sys/fs/cgroup" SCOPE "/cgroup.threads",
		  "259:0 rbytes=512 wbytes=1024 rios=3 wios=4 dbytes=0 dios=0\n", NULL, NULL,
		  "sys/fs/cgroup" SCOPE, NULL, "sys/fs/cgroup" SCOPE, 0, 512, 1024, 3, 4 },
		{ "no io", "0::" SCOPE "\n", "sys/fs/cgroup" SCOPE "/cgroup.threads", NULL, NULL, NULL,
		  "sys/fs/cgroup" SCOPE, NULL, "sys/fs/cgroup" SCOPE, -ENOENT, 0, 0, 0, 0 },
		{ "v1", "4:cpuacct,cpu:" SCOPE "\n2:blkio:" SCOPE "\n",
		  "sys/fs/cgroup/cpu,cpuacct" SCOPE "/tasks", NULL,
		  "8:16 Read 7\n8:16 Write 0\nTotal 7\n", "8:16 Read 1\n8:16 Write 0\nTotal 1\n",
		  "sys/fs/cgroup/cpu,cpuacct" SCOPE, "sys/fs/cgroup/blkio" SCOPE, NULL, 0, 7, 0, 1, 0 },
	};

	(void)state;
	for (size_t i = 0; i < ARRAY_SIZE(cases); i++) {
		struct ve_blkio_dev *devs = NULL;
		char dir[8192], rel[8192], path[4096];
		const char *v1 = NULL;
		pid_t *tids = NULL;
		size_t n = 0;
		struct fx fx;
		int r;

		fx_make(&fx);
		fx_write(&fx, "proc/1234/cgroup", cases[i].proc_cgroup);
		snprintf(rel, sizeof(rel), "%s", cases[i].threads_file);
		fx_write(&fx, rel, "1235\n1234\n");
		if (cases[i].io_stat) {
			snprintf(rel, sizeof(rel), "%s/io.stat", cases[i].want_v2);
			fx_write(&fx, rel, cases[i].io_stat);
		}
		if (cases[i].v1_bytes) {
			snprintf(rel, sizeof(rel), "%s/blkio.throttle.io_service_bytes_recursive",
				 cases[i].want_blkio_v1);
			fx_write(&fx, rel, cases[i].v1_bytes);
			snprintf(rel, sizeof(rel), "%s/blkio.throttle.io_serviced_recursive",
				 cases[i].want_blkio_v1);
			fx_write(&fx, rel, cases[i].v1_ios);
		}
		/* the tmpfs that holds the v1 mounts, and the other v1 mounts */
		fx_mkdir(&fx, "sys/fs/cgroup/pids");

		check(own_cgroup(fx.fd, 1234, dir, sizeof(dir)), "%s: no cgroup found", cases[i].name);
		check(strcmp(dir, cases[i].want_dir) == 0, "%s: found %s, want %s", cases[i].name, dir,
		      cases[i].want_dir);
		r = ve_cgroup_read_tids(fx.fd, dir, &tids, &n);
		check(r == 0 && n == 2 && tids[0] == 1234 && tids[1] == 1235,
		      "%s: threads of %s: %d, %zu of them", cases[i].name, dir, r, n);
		free(tids);

		r = ve_proc_pid_cgroup(fx.fd, 1234, "blkio", path, sizeof(path));
		check(r == (cases[i].want_blkio_v1 ? 0 : -ENOENT), "%s: blkio hierarchy: %d",
		      cases[i].name, r);
		if (r == 0) {
			snprintf(rel, sizeof(rel), "sys/fs/cgroup/blkio%s", path);
			check(strcmp(rel, cases[i].want_blkio_v1) == 0, "%s: blkio at %s", cases[i].name,
			      rel);
			v1 = cases[i].want_blkio_v1;
		}
		r = ve_cgroup_read_blkio(fx.fd, v1, cases[i].want_v2, &devs, &n);
		check(r == cases[i].want_blkio, "%s: block I/O: %d, want %d", cases[i].name, r,
		      cases[i].want_blkio);
		if (r == 0) {
			check_u64(n, 1, cases[i].name);
			check_u64(devs[0].rbytes, cases[i].rbytes, cases[i].name);
			check_u64(devs[0].wbytes, cases[i].wbytes, cases[i].name);
			check_u64(devs[0].rios, cases[i].rios, cases[i].name);
			check_u64(devs[0].wios, cases[i].wios, cases[i].name);
			free(devs);
		}
		fx_remove(&fx);
	}
}

/* Does @dir (relative to @root) hold @name? */
static bool has_file(int root, const char *dir, const char *name)
{
	char rel[8192];
	int len = snprintf(rel, sizeof(rel), "%s/%s", dir, name);

	check(len > 0 && (size_t)len < sizeof(rel), "path too long: %s/%s", dir, name);
	return faccessat(root, rel, F_OK, 0) == 0;
}

/*
 * ... and see this thread listed there, and its block I/O read where the
 * kernel keeps the statistics: 0 where the files are, -ENOENT where not.
 */
static void test_host(void **state)
{
	int root = fx_host_root();
	bool seen = false;
	char path[4096], dir[8192];
	struct ve_blkio_dev *devs;
	pid_t *tids;
	size_t n;
	int r, want;

	(void)state;
	check(own_cgroup(root, getpid(), dir, sizeof(dir)), "this process's cgroup is gone");
	r = ve_cgroup_read_tids(root, dir, &tids, &n);
	check(r == 0, "read %s: %d", dir, r);
	for (size_t k = 0; k < n; k++)
		seen |= tids[k] == gettid();
	free(tids);
	check(seen, "this thread is not in %s", dir);

	if (has_file(root, dir, "cgroup.threads")) {
		want = has_file(root, dir, "io.stat") ? 0 : -ENOENT;
		r = ve_cgroup_read_blkio(root, NULL, dir, &devs, &n);
		check(r == want, "read io.stat of %s: %d, want %d", dir, r, want);
		if (r == 0)
			free(devs);
	}
	if (ve_proc_pid_cgroup(root, getpid(), "blkio", path, sizeof(path)) == 0) {
		snprintf(dir, sizeof(dir), "sys/fs/cgroup/blkio%s", strcmp(path, "/") ? path : "");
		want = has_file(root, dir, "blkio.throttle.io_service_bytes_recursive") ||
		       has_file(root, dir, "blkio.throttle.io_service_bytes") ? 0 : -ENOENT;
		r = ve_cgroup_read_blkio(root, dir, NULL, &devs, &n);
		check(r == want, "read blkio of %s: %d, want %d", dir, r, want);
		if (r == 0)
			free(devs);
	}
	close(root);
}

/* a cgroup's CPU time: v1 cpuacct.usage first, else v2 cpu.stat usage_usec, strictly */
static void test_cpu_usage(void **state)
{
	static const struct {
		const char *name, *text;
		int ret;
		uint64_t ns;
	} cases[] = {
		{ "v2", "usage_usec 1500\nuser_usec 1000\nsystem_usec 500\n", 0, 1500000 },
		{ "not first", "nr_periods 0\nusage_usec 7\n", 0, 7000 },
		{ "no final newline", "usage_usec 3", 0, 3000 },
		{ "missing", "user_usec 1\n", -EINVAL, 0 },
		{ "twice", "usage_usec 1\nusage_usec 2\n", -EINVAL, 0 },
		{ "junk value", "usage_usec 12x\n", -EINVAL, 0 },
		{ "hex", "usage_usec 0x10\n", -EINVAL, 0 },
		{ "a third field", "usage_usec 1 2\n", -EINVAL, 0 },
		{ "bad other line", "usage_usec 1\nuser_usec\n", -EINVAL, 0 },
		{ "overflows in ns", "usage_usec 18446744073709552\n", -EINVAL, 0 },
	};
	struct fx fx;
	uint64_t ns;

	(void)state;
	for (size_t i = 0; i < ARRAY_SIZE(cases); i++) {
		ns = 42;
		check(ve_parse_cpu_stat_usage(cases[i].text, &ns) == cases[i].ret, "%s", cases[i].name);
		check(ns == (cases[i].ret ? 42 : cases[i].ns), "%s: %" PRIu64 " ns", cases[i].name, ns);
	}
	fx_make(&fx);
	fx_write(&fx, "v2/cpu.stat", "usage_usec 20\n");
	check(ve_cgroup_read_cpu_usage(fx.fd, "v2", &ns) == 0 && ns == 20000, "v2 read: %" PRIu64, ns);
	fx_write(&fx, "v1/cpuacct.usage", "123456789\n");
	fx_write(&fx, "v1/cpu.stat", "nr_periods 0\n");
	check(ve_cgroup_read_cpu_usage(fx.fd, "v1", &ns) == 0 && ns == 123456789,
	      "v1's cpuacct.usage first: %" PRIu64, ns);
	fx_write(&fx, "bad/cpuacct.usage", "12 34\n");
	check(ve_cgroup_read_cpu_usage(fx.fd, "bad", &ns) == -EINVAL, "a malformed cpuacct.usage");
	fx_mkdir(&fx, "none/x");
	check(ve_cgroup_read_cpu_usage(fx.fd, "none", &ns) == -ENOENT, "neither file: ENOENT");
	fx_remove(&fx);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_parse_tid_list),
		cmocka_unit_test(test_read_tids),
		cmocka_unit_test(test_parse_blkio_v1),
		cmocka_unit_test(test_parse_blkio_v1_malformed),
		cmocka_unit_test(test_parse_io_stat),
		cmocka_unit_test(test_parse_io_stat_malformed),
		cmocka_unit_test(test_read_blkio),
		cmocka_unit_test(test_host_layouts),
		cmocka_unit_test(test_cpu_usage),
	};
	const struct CMUnitTest host_tests[] = {
		cmocka_unit_test(test_host),
	};
	char dir[8192];
	int root, r = cmocka_run_group_tests_name("cgroup", tests, NULL, NULL);
	bool found;

	if (r)
		return r;
	/* this machine's own cgroups, where they are; meson counts 77 as skipped */
	root = open("/", O_PATH | O_DIRECTORY | O_CLOEXEC);
	found = root >= 0 && own_cgroup(root, getpid(), dir, sizeof(dir));
	if (root >= 0)
		close(root);
	if (!found) {
		printf("SKIP: no cgroup hierarchy lists this process where systemd mounts them "
		       "(/sys/fs/cgroup, its unified, cpu,cpuacct, cpu or pids): reading this "
		       "machine's cgroups is not tested\n");
		return 77;
	}
	return cmocka_run_group_tests_name("cgroup of this machine", host_tests, NULL, NULL);
}
