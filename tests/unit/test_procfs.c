// SPDX-License-Identifier: GPL-2.0-or-later
/* procfs readers: schedstat, stat, comm, task lists and /proc/<pid>/cgroup. */
#include <errno.h>
#include <pthread.h>
#include <stdbool.h>
#include <sys/prctl.h>
#include <unistd.h>

#include "check.h"
#include "fixture.h"
#include "procfs.h"

#define U64_MAX_STR "18446744073709551615"
#define OVERFLOW_STR "99999999999999999999999"

static void test_parse_schedstat(void **state)
{
	static const struct {
		const char *name, *text;
		int ret;
		uint64_t run, wait, slices;
	} cases[] = {
		{ "usual", "123456789 2345 67\n", 0, 123456789, 2345, 67 },
		{ "no newline", "1 2 3", 0, 1, 2, 3 },
		{ "sched_info off", "0 0 0\n", 0, 0, 0, 0 },
		{ "largest", U64_MAX_STR " 0 0\n", 0, UINT64_MAX, 0, 0 },
		{ "one past largest", "18446744073709551616 0 0\n", -EINVAL, 0, 0, 0 },
		{ "overflow", OVERFLOW_STR " 1 1\n", -EINVAL, 0, 0, 0 },
		{ "missing field", "1 2\n", -EINVAL, 0, 0, 0 },
		{ "extra field", "1 2 3 4\n", -EINVAL, 0, 0, 0 },
		{ "trailing junk", "1 2 3x\n", -EINVAL, 0, 0, 0 },
		{ "junk after newline", "1 2 3\nx", -EINVAL, 0, 0, 0 },
		{ "two newlines", "1 2 3\n\n", -EINVAL, 0, 0, 0 },
		{ "negative", "-1 2 3\n", -EINVAL, 0, 0, 0 },
		{ "plus sign", "+1 2 3\n", -EINVAL, 0, 0, 0 },
		{ "hex", "0x10 2 3\n", -EINVAL, 0, 0, 0 },
		{ "empty", "", -EINVAL, 0, 0, 0 },
		{ "newline only", "\n", -EINVAL, 0, 0, 0 },
	};

	(void)state;
	for (size_t i = 0; i < ARRAY_SIZE(cases); i++) {
		uint64_t run = 7, wait = 8, slices = 9;
		int r = ve_parse_schedstat(cases[i].text, &run, &wait, &slices);

		check(r == cases[i].ret, "%s: returned %d, want %d", cases[i].name, r,
		      cases[i].ret);
		check_u64(run, r == 0 ? cases[i].run : 7, cases[i].name);
		check_u64(wait, r == 0 ? cases[i].wait : 8, cases[i].name);
		check_u64(slices, r == 0 ? cases[i].slices : 9, cases[i].name);
	}
	/* outputs the caller does not want may be NULL */
	check(ve_parse_schedstat("5 6 7\n", NULL, NULL, NULL) == 0, "all NULL outputs");
}

/*
 * A stat line as the kernel prints it (do_task_stat()): @n fields in all,
 * the ones the parser uses set, the rest numbered by position, with the
 * signed ones negative as they are for a real-time thread and rsslim at
 * its unsigned maximum.
 */
static void make_stat(char *buf, size_t len, const char *comm, unsigned int n,
		      const char *utime, const char *stime, const char *processor,
		      const char *guest)
{
	size_t off;

	off = (size_t)snprintf(buf, len, "4242 (%s) S", comm);
	for (unsigned int f = 4; f <= n && off < len; f++) {
		char num[16];
		const char *v = num;

		snprintf(num, sizeof(num), "%u", f);
		if (f == 8)
			v = "-1";       /* tpgid: no controlling terminal */
		else if (f == 18)
			v = "-2";       /* priority of an RT thread */
		else if (f == 19)
			v = "-20";      /* nice */
		else if (f == 25)
			v = "18446744073709551615"; /* rsslim: RLIM_INFINITY, unsigned */
		else if (f == 14)
			v = utime;
		else if (f == 15)
			v = stime;
		else if (f == 39)
			v = processor;
		else if (f == 43)
			v = guest;
		off += (size_t)snprintf(buf + off, len - off, " %s", v);
	}
	snprintf(buf + off, len - off, "\n");
}

static void test_parse_stat(void **state)
{
	static const struct {
		const char *name, *comm;
		unsigned int n;
		const char *utime, *stime, *processor, *guest;
		int ret;
		uint64_t want_utime, want_stime, want_guest;
		unsigned int want_cpu;
	} cases[] = {
		{ "qemu vcpu", "CPU 0/KVM", 52, "100", "20", "3", "90", 0, 100, 20, 90, 3 },
		{ "spaces and parens", "a) b (c", 52, "1", "2", "7", "0", 0, 1, 2, 0, 7 },
		{ "name is a paren", ")", 52, "1", "2", "0", "0", 0, 1, 2, 0, 0 },
		{ "fake fields in the name", "x) R 1 2 3 (y", 52, "5", "6", "1", "2", 0,
		  5, 6, 2, 1 },
		{ "newline in the name", "a\nb", 52, "5", "6", "1", "2", 0, 5, 6, 2, 1 },
		{ "empty name", "", 52, "5", "6", "1", "2", 0, 5, 6, 2, 1 },
		{ "old kernel: up to processor", "old", 39, "5", "6", "4", "", 0, 5, 6, 0, 4 },
		{ "largest times", "t", 44, U64_MAX_STR, U64_MAX_STR, "4095", "0", 0,
		  UINT64_MAX, UINT64_MAX, 0, 4095 },
		{ "truncated before processor", "t", 38, "5", "6", "1", "2", -EINVAL, 0, 0, 0, 0 },
		{ "utime overflow", "t", 52, OVERFLOW_STR, "6", "1", "2", -EINVAL, 0, 0, 0, 0 },
		{ "negative utime", "t", 52, "-5", "6", "1", "2", -EINVAL, 0, 0, 0, 0 },
		{ "junk in stime", "t", 52, "5", "6x", "1", "2", -EINVAL, 0, 0, 0, 0 },
		{ "processor above UINT_MAX", "t", 52, "5", "6", "4294967296", "2", -EINVAL,
		  0, 0, 0, 0 },
		{ "junk in guest_time", "t", 52, "5", "6", "1", "2.0", -EINVAL, 0, 0, 0, 0 },
	};
	char buf[2048];

	(void)state;
	for (size_t i = 0; i < ARRAY_SIZE(cases); i++) {
		struct ve_task_stat st = { .state = '?', .utime_ticks = 77 };
		int r;

		make_stat(buf, sizeof(buf), cases[i].comm, cases[i].n, cases[i].utime,
			  cases[i].stime, cases[i].processor, cases[i].guest);
		r = ve_parse_stat(buf, &st);
		check(r == cases[i].ret, "%s: returned %d, want %d for \"%s\"", cases[i].name, r,
		      cases[i].ret, buf);
		if (r < 0) {
			check(st.state == '?', "%s: state touched on error", cases[i].name);
			check_u64(st.utime_ticks, 77, cases[i].name);
			continue;
		}
		check(st.state == 'S', "%s: state '%c'", cases[i].name, st.state);
		check_u64(st.utime_ticks, cases[i].want_utime, cases[i].name);
		check_u64(st.stime_ticks, cases[i].want_stime, cases[i].name);
		check_u64(st.guest_time_ticks, cases[i].want_guest, cases[i].name);
		check_u64(st.processor, cases[i].want_cpu, cases[i].name);
	}
}

static void test_parse_stat_malformed(void **state)
{
	static const char *const bad[] = {
		"",
		"\n",
		"4242 comm S 1\n",                   /* no parentheses */
		"4242 (comm S 1\n",                  /* no ')' */
		"4242 )comm( S 1\n",                 /* ')' before '(' */
		"(comm) S 1\n",                      /* no pid */
		"x42 (comm) S 1\n",                  /* pid not a number */
		"4242(comm) S 1\n",                  /* no blank before '(' */
		"4242 (comm) SS 1\n",                /* state of two characters */
		"4242 (comm)\n",                     /* nothing after the name */
	};
	char buf[2048];
	struct ve_task_stat st = { .state = '?' };

	(void)state;
	for (size_t i = 0; i < ARRAY_SIZE(bad); i++) {
		int r = ve_parse_stat(bad[i], &st);

		check(r == -EINVAL, "\"%s\": returned %d, want -EINVAL", bad[i], r);
		check(st.state == '?', "\"%s\": output touched", bad[i]);
	}
	/* junk after the last field, and a second line */
	make_stat(buf, sizeof(buf), "c", 52, "1", "2", "3", "4");
	buf[strlen(buf) - 1] = '\0';
	strcat(buf, " junk\n");
	check(ve_parse_stat(buf, &st) == -EINVAL, "trailing word must be rejected");
	make_stat(buf, sizeof(buf), "c", 52, "1", "2", "3", "4");
	strcat(buf, "5\n");
	check(ve_parse_stat(buf, &st) == -EINVAL, "a second line must be rejected");
	/* an unused field below INT64_MIN */
	make_stat(buf, sizeof(buf), "c", 52, "1", "2", "3", "4");
	buf[strlen(buf) - 1] = '\0';
	strcat(buf, " -9223372036854775809\n");
	check(ve_parse_stat(buf, &st) == -EINVAL, "below INT64_MIN must be rejected");
	make_stat(buf, sizeof(buf), "c", 52, "1", "2", "3", "4");
	buf[strlen(buf) - 1] = '\0';
	strcat(buf, " -9223372036854775808\n");
	check(ve_parse_stat(buf, &st) == 0, "INT64_MIN is a valid field");
	check(st.state == 'S', "state after INT64_MIN");
}

static void test_parse_proc_cgroup(void **state)
{
	/* a libvirt QEMU emulator thread on a cgroup v1 host, systemd hybrid */
	static const char *const v1 =
		"12:pids:/machine/qemu-1-web.libvirt-qemu\n"
		"11:blkio:/machine/qemu-1-web.libvirt-qemu\n"
		"4:cpu,cpuacct:/machine/qemu-1-web.libvirt-qemu/emulator\n"
		"3:cpuset:/machine/qemu-1-web.libvirt-qemu/emulator\n"
		"1:name=systemd:/machine.slice/machine-qemu\\x2d1\\x2dweb.scope\n"
		"0::/machine.slice/machine-qemu\\x2d1\\x2dweb.scope\n";
	static const struct {
		const char *name, *text, *controller;
		int ret;
		const char *path;
	} cases[] = {
		{ "cpu in a list", v1, "cpu", 0, "/machine/qemu-1-web.libvirt-qemu/emulator" },
		{ "cpuacct in a list", v1, "cpuacct", 0,
		  "/machine/qemu-1-web.libvirt-qemu/emulator" },
		{ "blkio", v1, "blkio", 0, "/machine/qemu-1-web.libvirt-qemu" },
		{ "named hierarchy", v1, "name=systemd", 0,
		  "/machine.slice/machine-qemu\\x2d1\\x2dweb.scope" },
		{ "unified", v1, "", 0, "/machine.slice/machine-qemu\\x2d1\\x2dweb.scope" },
		{ "absent controller", v1, "memory", -ENOENT, NULL },
		{ "no prefix match", "3:cpuset:/a\n", "cpu", -ENOENT, NULL },
		{ "no suffix match", "3:cpuacct:/a\n", "cpu", -ENOENT, NULL },
		{ "v2 only", "0::/user.slice\n", "", 0, "/user.slice" },
		{ "v2 only, asking v1", "0::/user.slice\n", "cpu", -ENOENT, NULL },
		{ "v1 only, asking v2", "4:cpu:/\n", "", -ENOENT, NULL },
		{ "colon in path", "4:cpu:/a:b\n", "cpu", 0, "/a:b" },
		{ "no final newline", "4:cpu:/x", "cpu", 0, "/x" },
		{ "removed v2 cgroup", "0::/gone (deleted)\n", "", -ENOENT, NULL },
		{ "empty text", "", "cpu", -ENOENT, NULL },
		{ "id not a number", "x:cpu:/\n", "cpu", -EINVAL, NULL },
		{ "missing colon", "4cpu/\n", "cpu", -EINVAL, NULL },
		{ "one colon", "4:cpu/\n", "cpu", -EINVAL, NULL },
		{ "relative path", "4:cpu:machine\n", "cpu", -EINVAL, NULL },
		{ "empty path", "4:cpu:\n", "cpu", -EINVAL, NULL },
		{ "malformed line after the match", "4:cpu:/a\njunk\n", "cpu", -EINVAL, NULL },
		{ "id overflow", OVERFLOW_STR ":cpu:/\n", "cpu", -EINVAL, NULL },
	};

	(void)state;
	for (size_t i = 0; i < ARRAY_SIZE(cases); i++) {
		char buf[128] = "untouched";
		int r = ve_parse_proc_cgroup(cases[i].text, cases[i].controller, buf, sizeof(buf));

		check(r == cases[i].ret, "%s: returned %d, want %d", cases[i].name, r,
		      cases[i].ret);
		check(strcmp(buf, r == 0 ? cases[i].path : "untouched") == 0, "%s: path \"%s\"",
		      cases[i].name, buf);
	}
}

static void test_parse_proc_cgroup_small_buffer(void **state)
{
	char buf[4] = "abc";

	(void)state;
	check(ve_parse_proc_cgroup("0::/abcd\n", "", buf, sizeof(buf)) == -ENOBUFS,
	      "a path longer than the buffer");
	check(strcmp(buf, "abc") == 0, "buffer touched: %s", buf);
	check(ve_parse_proc_cgroup("0::/ab\n", "", buf, sizeof(buf)) == 0, "exact fit");
	check(strcmp(buf, "/ab") == 0, "exact fit: %s", buf);
}

/*
 * proc/1234: a QEMU process with a main thread, a vCPU thread and a worker;
 * junk in the task directory that the lister must skip.
 */
static void make_proc(struct fx *fx)
{
	char stat[2048];

	fx_make(fx);
	fx_write(fx, "proc/1234/task/1234/comm", "qemu-system-x86\n");
	fx_write(fx, "proc/1234/task/1234/schedstat", "1000 20 3\n");
	make_stat(stat, sizeof(stat), "qemu-system-x86", 52, "10", "5", "0", "0");
	fx_write(fx, "proc/1234/task/1234/stat", stat);

	fx_write(fx, "proc/1234/task/1240/comm", "CPU 0/KVM\n");
	fx_write(fx, "proc/1234/task/1240/schedstat", "987654321 1234 5678\n");
	make_stat(stat, sizeof(stat), "CPU 0/KVM", 52, "300", "40", "2", "250");
	fx_write(fx, "proc/1234/task/1240/stat", stat);

	fx_write(fx, "proc/1234/task/1235/comm", "worker (x)\n");
	fx_write(fx, "proc/1234/task/1235/schedstat", "5 6 7\n");
	make_stat(stat, sizeof(stat), "worker (x)", 52, "1", "1", "1", "0");
	fx_write(fx, "proc/1234/task/1235/stat", stat);

	fx_mkdir(fx, "proc/1234/task/not-a-tid");
	fx_mkdir(fx, "proc/1234/task/0");
	fx_write(fx, "proc/1234/cgroup", "4:cpu,cpuacct:/machine/qemu-1-web.libvirt-qemu/emulator\n"
					 "0::/machine.slice\n");
	fx_mkdir(fx, "proc/77/task");   /* a process with no threads left */
}

static void test_fixture_tasks(void **state)
{
	struct fx fx;
	pid_t *tids = NULL;
	size_t n = 0;
	char comm[VE_TASK_COMM_MAX];
	uint64_t run_ns;
	struct ve_task_stat st;
	int r;

	(void)state;
	make_proc(&fx);

	r = ve_proc_list_tasks(fx.fd, 1234, &tids, &n);
	check(r == 0, "list: %d", r);
	check_u64(n, 3, "number of threads");
	check(tids[0] == 1234 && tids[1] == 1235 && tids[2] == 1240, "sorted: %d %d %d",
	      (int)tids[0], (int)tids[1], (int)tids[2]);
	free(tids);

	check(ve_proc_task_comm(fx.fd, 1234, 1240, comm, sizeof(comm)) == 0, "comm");
	check(strcmp(comm, "CPU 0/KVM") == 0, "comm \"%s\"", comm);
	check(ve_proc_task_comm(fx.fd, 1234, 1235, comm, sizeof(comm)) == 0, "comm");
	check(strcmp(comm, "worker (x)") == 0, "comm \"%s\"", comm);

	check(ve_proc_task_schedstat(fx.fd, 1234, 1240, &run_ns) == 0, "schedstat");
	check_u64(run_ns, 987654321, "run_ns");

	check(ve_proc_task_stat(fx.fd, 1234, 1240, &st) == 0, "stat");
	check_u64(st.utime_ticks, 300, "utime");
	check_u64(st.stime_ticks, 40, "stime");
	check_u64(st.guest_time_ticks, 250, "guest_time");
	check_u64(st.processor, 2, "processor");
	check(ve_proc_task_stat(fx.fd, 1234, 1235, &st) == 0, "stat, parens in comm");
	check_u64(st.utime_ticks, 1, "utime");

	/* an O_RDONLY root works as well as an O_PATH one */
	{
		int ro = openat(fx.fd, ".", O_RDONLY | O_DIRECTORY | O_CLOEXEC);

		check(ro >= 0, "reopen root: %s", strerror(errno));
		check(ve_proc_task_schedstat(ro, 1234, 1234, &run_ns) == 0, "O_RDONLY root");
		check_u64(run_ns, 1000, "run_ns");
		close(ro);
	}
	fx_remove(&fx);
}

static void test_fixture_comm_buffer(void **state)
{
	struct fx fx;
	char comm[4] = "abc";

	(void)state;
	make_proc(&fx);
	check(ve_proc_task_comm(fx.fd, 1234, 1240, comm, sizeof(comm)) == -ENOBUFS,
	      "a name longer than the buffer");
	check(strcmp(comm, "abc") == 0, "buffer touched");
	fx_write(&fx, "proc/1234/task/1240/comm", "abc\n");
	check(ve_proc_task_comm(fx.fd, 1234, 1240, comm, sizeof(comm)) == 0, "exact fit");
	check(strcmp(comm, "abc") == 0, "exact fit: %s", comm);

	/* the file read itself: 255 bytes fit its 256-byte buffer, 256 do not */
	{
		char text[300], big[300];

		memset(text, 'x', sizeof(text));
		text[254] = '\n';
		text[255] = '\0';
		fx_write(&fx, "proc/1234/task/1240/comm", text);
		check(ve_proc_task_comm(fx.fd, 1234, 1240, big, sizeof(big)) == 0, "255 bytes");
		check_u64(strlen(big), 254, "255 bytes less the newline");
		text[255] = 'x';
		text[256] = '\0';
		fx_write(&fx, "proc/1234/task/1240/comm", text);
		check(ve_proc_task_comm(fx.fd, 1234, 1240, big, sizeof(big)) == -ENOBUFS,
		      "256 bytes");
	}
	fx_remove(&fx);
}

/* A thread listed, then gone before its files are read: -ENOENT, quietly. */
static void test_fixture_vanished(void **state)
{
	struct fx fx;
	pid_t *tids = NULL;
	size_t n = 0;
	char comm[VE_TASK_COMM_MAX] = "untouched";
	uint64_t run_ns = 42;
	struct ve_task_stat st = { .state = '?' };
	pid_t sentinel = 0;
	int r;

	(void)state;
	make_proc(&fx);
	check(ve_proc_list_tasks(fx.fd, 1234, &tids, &n) == 0 && n == 3, "list");
	free(tids);
	fx_remove_rel(&fx, "proc/1234/task/1240");

	r = ve_proc_task_comm(fx.fd, 1234, 1240, comm, sizeof(comm));
	check(r == -ENOENT, "comm of a vanished thread: %d", r);
	check(strcmp(comm, "untouched") == 0, "comm touched");
	r = ve_proc_task_schedstat(fx.fd, 1234, 1240, &run_ns);
	check(r == -ENOENT, "schedstat of a vanished thread: %d", r);
	check_u64(run_ns, 42, "run_ns touched");
	r = ve_proc_task_stat(fx.fd, 1234, 1240, &st);
	check(r == -ENOENT, "stat of a vanished thread: %d", r);
	check(st.state == '?', "stat touched");

	/* the whole process gone, or one with an empty task directory */
	tids = &sentinel;
	n = 99;
	check(ve_proc_list_tasks(fx.fd, 999, &tids, &n) == -ENOENT, "no such process");
	check(ve_proc_list_tasks(fx.fd, 77, &tids, &n) == -ENOENT, "no threads left");
	check(tids == &sentinel && n == 99, "outputs touched");
	check(ve_proc_pid_cgroup(fx.fd, 999, "", comm, sizeof(comm)) == -ENOENT, "cgroup");
	fx_remove(&fx);
}

static void test_fixture_malformed(void **state)
{
	struct fx fx;
	uint64_t run_ns = 42;
	struct ve_task_stat st = { .state = '?' };

	(void)state;
	make_proc(&fx);
	fx_write(&fx, "proc/1234/task/1240/schedstat", "1 2 3 junk\n");
	check(ve_proc_task_schedstat(fx.fd, 1234, 1240, &run_ns) == -EINVAL, "junk schedstat");
	fx_write(&fx, "proc/1234/task/1240/schedstat", OVERFLOW_STR " 2 3\n");
	check(ve_proc_task_schedstat(fx.fd, 1234, 1240, &run_ns) == -EINVAL, "overflow");
	check_u64(run_ns, 42, "run_ns touched");
	fx_write(&fx, "proc/1234/task/1240/stat", "1240 (x) S 1 2 3\n");
	check(ve_proc_task_stat(fx.fd, 1234, 1240, &st) == -EINVAL, "short stat");
	check(st.state == '?', "stat touched");
	check(ve_proc_task_schedstat(fx.fd, 0, 1240, &run_ns) == -EINVAL, "pid 0");
	check(ve_proc_task_schedstat(fx.fd, 1234, -1, &run_ns) == -EINVAL, "tid -1");
	fx_remove(&fx);
}

static void test_fixture_cgroup(void **state)
{
	struct fx fx;
	char buf[128];

	(void)state;
	make_proc(&fx);
	check(ve_proc_pid_cgroup(fx.fd, 1234, "cpu", buf, sizeof(buf)) == 0, "cpu");
	check(strcmp(buf, "/machine/qemu-1-web.libvirt-qemu/emulator") == 0, "cpu: %s", buf);
	check(ve_proc_pid_cgroup(fx.fd, 1234, "", buf, sizeof(buf)) == 0, "unified");
	check(strcmp(buf, "/machine.slice") == 0, "unified: %s", buf);
	check(ve_proc_pid_cgroup(fx.fd, 1234, "blkio", buf, sizeof(buf)) == -ENOENT, "blkio");
	fx_remove(&fx);
}

/*
 * What the host test meets on the machines it runs on, with the answer of
 * each: a kernel without CONFIG_SCHED_INFO (no schedstat file: -ENOENT,
 * output untouched), and the cgroup file of a v2-only host (Debian 12), a
 * hybrid one (v1 controllers and "0::", Debian 11) and a v1-only one
 * (CentOS 7: no "0::" line, so no v2 cgroup: -ENOENT).
 */
static void test_fixture_host_kinds(void **state)
{
	static const struct {
		const char *name, *text, *controller;
		int ret;
		const char *path;
	} cases[] = {
		{ "v2 only", "0::/user.slice/user-0.slice/session-1.scope\n", "",
		  0, "/user.slice/user-0.slice/session-1.scope" },
		{ "v2 only, cpu", "0::/user.slice/user-0.slice/session-1.scope\n", "cpu", -ENOENT, NULL },
		{ "hybrid", "12:blkio:/user.slice\n4:cpu,cpuacct:/user.slice\n1:name=systemd:/user.slice/"
		  "session-1.scope\n0::/user.slice/session-1.scope\n", "", 0, "/user.slice/session-1.scope" },
		{ "hybrid, blkio", "12:blkio:/user.slice\n4:cpu,cpuacct:/user.slice\n0::/\n", "blkio", 0,
		  "/user.slice" },
		{ "v1 only", "11:cpuacct,cpu:/user.slice\n1:name=systemd:/user.slice/session-1.scope\n", "",
		  -ENOENT, NULL },
	};
	struct fx fx;
	uint64_t run_ns = 42;
	char buf[128];
	int r;

	(void)state;
	make_proc(&fx);
	fx_remove_rel(&fx, "proc/1234/task/1240/schedstat");
	r = ve_proc_task_schedstat(fx.fd, 1234, 1240, &run_ns);
	check(r == -ENOENT && run_ns == 42, "no schedstat file: %d, run_ns %" PRIu64, r, run_ns);
	for (size_t i = 0; i < ARRAY_SIZE(cases); i++) {
		strcpy(buf, "untouched");
		fx_write(&fx, "proc/1234/cgroup", cases[i].text);
		r = ve_proc_pid_cgroup(fx.fd, 1234, cases[i].controller, buf, sizeof(buf));
		check(r == cases[i].ret, "%s: returned %d, want %d", cases[i].name, r, cases[i].ret);
		check(strcmp(buf, cases[i].path ? cases[i].path : "untouched") == 0, "%s: \"%s\"",
		      cases[i].name, buf);
	}
	fx_remove(&fx);
}

/* ---- this machine's own /proc ---- */

struct named_thread {
	pid_t tid;
	int pipe_fd[2];
	pthread_barrier_t ready;
};

static void *named_thread_main(void *arg)
{
	struct named_thread *t = arg;
	char c;

	/* a name with every character that trips naive stat parsers */
	prctl(PR_SET_NAME, "a) b (c", 0, 0, 0);
	t->tid = gettid();
	pthread_barrier_wait(&t->ready);
	while (read(t->pipe_fd[0], &c, 1) < 0 && errno == EINTR)
		;
	return NULL;
}

/* The text of @rel under @root into @buf; false when it cannot be opened. */
static bool read_text(int root, const char *rel, char *buf, size_t len)
{
	int fd = openat(root, rel, O_RDONLY | O_CLOEXEC);
	ssize_t n;

	if (fd < 0)
		return false;
	n = read(fd, buf, len - 1);
	close(fd);
	check(n >= 0 && (size_t)n < len - 1, "read %s: %zd bytes", rel, n);
	buf[n] = '\0';
	return true;
}

static void test_host_proc(void **state)
{
	struct named_thread t = { 0 };
	pthread_t th;
	int root = fx_host_root();
	pid_t *tids = NULL;
	size_t n = 0;
	bool found_self = false, found_other = false;
	char comm[VE_TASK_COMM_MAX], cg[4096], rel[64], text[4096], *v2;
	struct ve_task_stat st;
	uint64_t run_ns = 0;
	int r;

	(void)state;
	check(pipe2(t.pipe_fd, O_CLOEXEC) == 0, "pipe");
	pthread_barrier_init(&t.ready, NULL, 2);
	check(pthread_create(&th, NULL, named_thread_main, &t) == 0, "pthread_create");
	pthread_barrier_wait(&t.ready);

	r = ve_proc_list_tasks(root, getpid(), &tids, &n);
	check(r == 0, "list own tasks: %d", r);
	for (size_t i = 0; i < n; i++) {
		found_self |= tids[i] == gettid();
		found_other |= tids[i] == t.tid;
		if (i)
			check(tids[i - 1] < tids[i], "not sorted at %zu", i);
	}
	free(tids);
	check(found_self && found_other, "own threads not listed (%d %d)", found_self,
	      found_other);

	check(ve_proc_task_comm(root, getpid(), t.tid, comm, sizeof(comm)) == 0, "comm");
	check(strcmp(comm, "a) b (c") == 0, "comm \"%s\"", comm);
	r = ve_proc_task_stat(root, getpid(), t.tid, &st);
	check(r == 0, "stat of a thread named \"a) b (c\": %d", r);
	check(st.state == 'S' || st.state == 'R', "state '%c'", st.state);
	check(ve_proc_task_stat(root, getpid(), gettid(), &st) == 0, "own stat");
	check(st.state == 'R', "running thread in state '%c'", st.state);

	/*
	 * schedstat exists where the kernel has CONFIG_SCHED_INFO: then the
	 * sleeping thread's run time is the first number of its file, which
	 * stands still while it sleeps; without, the answer is -ENOENT.
	 */
	for (int i = 0; i < 2000; i++) {   /* until it sleeps in read(2): 2 s at most */
		if (ve_proc_task_stat(root, getpid(), t.tid, &st) == 0 && st.state == 'S')
			break;
		usleep(1000);
	}
	check(st.state == 'S', "the named thread does not sleep: state '%c'", st.state);
	snprintf(rel, sizeof(rel), "proc/%d/task/%d/schedstat", (int)getpid(), (int)t.tid);
	if (read_text(root, rel, text, sizeof(text))) {
		unsigned long long want;

		check(sscanf(text, "%llu ", &want) == 1, "%s: \"%s\"", rel, text);
		r = ve_proc_task_schedstat(root, getpid(), t.tid, &run_ns);
		check(r == 0 && run_ns == want, "the sleeping thread's schedstat: %d, run_ns %" PRIu64
		      ", its file says %llu", r, run_ns, want);
		r = ve_proc_task_schedstat(root, getpid(), gettid(), &run_ns);
		check(r == 0 && run_ns > 0, "own schedstat: %d, run_ns %" PRIu64, r, run_ns);
	} else {
		run_ns = 42;
		r = ve_proc_task_schedstat(root, getpid(), gettid(), &run_ns);
		check(r == -ENOENT && run_ns == 42, "no %s (no CONFIG_SCHED_INFO): %d, want -ENOENT",
		      rel, r);
	}

	/* the v2 cgroup: the rest of the "0::" line of its cgroup file, or -ENOENT without one */
	snprintf(rel, sizeof(rel), "proc/%d/cgroup", (int)getpid());
	check(read_text(root, rel, text, sizeof(text)), "read %s", rel);
	v2 = !strncmp(text, "0::", 3) ? text + 3 : strstr(text, "\n0::");
	if (v2 && v2 != text + 3)
		v2 += 4;
	if (v2)
		v2[strcspn(v2, "\n")] = '\0';
	r = ve_proc_pid_cgroup(root, getpid(), "", cg, sizeof(cg));
	if (v2) {
		check(r == 0 && strcmp(cg, v2) == 0, "own v2 cgroup: %d, \"%s\", the file says \"%s\"",
		      r, r == 0 ? cg : "", v2);
	} else {
		check(r == -ENOENT, "no v2 line in %s: %d, want -ENOENT", rel, r);
	}

	check(write(t.pipe_fd[1], "x", 1) == 1, "wake thread");
	pthread_join(th, NULL);
	pthread_barrier_destroy(&t.ready);
	close(t.pipe_fd[0]);
	close(t.pipe_fd[1]);
	close(root);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_parse_schedstat),
		cmocka_unit_test(test_parse_stat),
		cmocka_unit_test(test_parse_stat_malformed),
		cmocka_unit_test(test_parse_proc_cgroup),
		cmocka_unit_test(test_parse_proc_cgroup_small_buffer),
		cmocka_unit_test(test_fixture_tasks),
		cmocka_unit_test(test_fixture_comm_buffer),
		cmocka_unit_test(test_fixture_vanished),
		cmocka_unit_test(test_fixture_malformed),
		cmocka_unit_test(test_fixture_cgroup),
		cmocka_unit_test(test_fixture_host_kinds),
		cmocka_unit_test(test_host_proc),
	};

	return cmocka_run_group_tests_name("procfs", tests, NULL, NULL);
}
