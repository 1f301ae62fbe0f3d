// SPDX-License-Identifier: GPL-2.0-or-later
/*
 * The readers that hold their files open and pread(2) them every period:
 * procfs.h's ve_proc_task_open() and ve_proc_fd_schedstat() (a held fd
 * follows the file's new content, says a thread is gone once it is, and on
 * this machine's /proc reads a live thread and answers -ENOENT after it has
 * exited) and cgroup.h's ve_blkio_files_read() (the files
 * ve_cgroup_read_blkio() would choose, a rewrite seen, a failure closing
 * them so that the next read finds the cgroup anew).  Apart from
 * test_procfs and test_cgroup only to keep each file short.
 */
#include <errno.h>
#include <pthread.h>
#include <stdbool.h>
#include <unistd.h>

#include "cgroup.h"
#include "check.h"
#include "fixture.h"
#include "procfs.h"

static void test_fixture_fd(void **state)
{
	struct fx fx;
	uint64_t run_ns = 7;
	bool live = true;
	int fd;

	(void)state;
	fx_make(&fx);
	fx_write(&fx, "proc/10/task/11/schedstat", "1000 20 3\n");
	fd = ve_proc_task_open(fx.fd, 10, 11, "schedstat", &live);
	check(fd >= 0, "open: %d", fd);
	check(!live, "a fixture file is not procfs");
	check(ve_proc_fd_schedstat(fd, live, &run_ns) == 0, "first read");
	check_u64(run_ns, 1000, "run_ns");
	/* rewritten in place, as the kernel's file changes: the same fd sees it */
	fx_write(&fx, "proc/10/task/11/schedstat", "2500 20 4\n");
	check(ve_proc_fd_schedstat(fd, live, &run_ns) == 0, "second read");
	check_u64(run_ns, 2500, "run_ns after the rewrite");
	/* junk: refused, the result untouched */
	fx_write(&fx, "proc/10/task/11/schedstat", "25x0 20 4\n");
	check(ve_proc_fd_schedstat(fd, live, &run_ns) == -EINVAL, "junk is -EINVAL");
	check_u64(run_ns, 2500, "run_ns untouched");
	/* the thread's directory goes: the fd says so */
	fx_remove(&fx);
	check(ve_proc_fd_schedstat(fd, live, &run_ns) == -ENOENT, "a removed thread is -ENOENT");
	close(fd);

	fx_make(&fx);
	check(ve_proc_task_open(fx.fd, 10, 12, "schedstat", &live) == -ENOENT, "absent: -ENOENT");
	check(ve_proc_task_open(fx.fd, 0, 12, "schedstat", &live) == -EINVAL, "pid 0: -EINVAL");
	fx_remove(&fx);
}

static void *sleeper(void *arg)
{
	int *pipe_fd = arg;
	char c;

	while (read(pipe_fd[0], &c, 1) < 0 && errno == EINTR)
		;
	return NULL;
}

struct tid_box {
	int pipe_fd[2];
	pid_t tid;
	pthread_barrier_t ready;
};

static void *named(void *arg)
{
	struct tid_box *b = arg;

	b->tid = gettid();
	pthread_barrier_wait(&b->ready);
	return sleeper(b->pipe_fd);
}

static void test_host_fd(void **state)
{
	struct tid_box b;
	pthread_t th;
	int root = fx_host_root();
	uint64_t run_ns = 0, again = 0;
	bool live = false;
	int fd, r;

	(void)state;
	check(pipe2(b.pipe_fd, O_CLOEXEC) == 0, "pipe");
	pthread_barrier_init(&b.ready, NULL, 2);
	check(pthread_create(&th, NULL, named, &b) == 0, "pthread_create");
	pthread_barrier_wait(&b.ready);

	fd = ve_proc_task_open(root, getpid(), b.tid, "schedstat", &live);
	if (fd == -ENOENT) {
		/* a kernel without CONFIG_SCHED_INFO */
		check(close(b.pipe_fd[1]) == 0 && pthread_join(th, NULL) == 0, "join");
		close(b.pipe_fd[0]);
		close(root);
		skip();
	}
	check(fd >= 0, "open own thread's schedstat: %d", fd);
	check(live, "/proc is procfs");
	check(ve_proc_fd_schedstat(fd, live, &run_ns) == 0, "read a live thread");
	check(ve_proc_fd_schedstat(fd, live, &again) == 0, "read it again");
	check(again >= run_ns, "run time went back: %llu then %llu", (unsigned long long)run_ns,
	      (unsigned long long)again);

	check(close(b.pipe_fd[1]) == 0 && pthread_join(th, NULL) == 0, "join");
	close(b.pipe_fd[0]);
	r = ve_proc_fd_schedstat(fd, live, &again);
	check(r == -ENOENT, "an exited thread reads -ENOENT, not %d", r);
	close(fd);
	close(root);
}

#define V1 "sys/fs/cgroup/blkio/machine/qemu-1-web.libvirt-qemu"
#define V2 "sys/fs/cgroup/machine.slice/vm"

static void test_blkio_files(void **state)
{
	struct ve_blkio_files f = VE_BLKIO_FILES_INIT;
	struct ve_blkio_dev *devs = NULL;
	size_t n = 0;
	struct fx fx;
	int r;

	(void)state;
	fx_make(&fx);
	fx_write(&fx, V1 "/blkio.throttle.io_service_bytes_recursive", "8:0 Read 1000\n8:0 Write 2000\n");
	fx_write(&fx, V1 "/blkio.throttle.io_serviced_recursive", "8:0 Read 10\n8:0 Write 20\n");
	fx_write(&fx, V2 "/cgroup.threads", "");   /* v2 without the io controller */
	r = ve_blkio_files_read(&f, fx.fd, V1, V2, &devs, &n);
	check(r == 0 && n == 1, "v1 through a v2 without io.stat: %d, %zu devices", r, n);
	check(devs[0].rbytes == 1000 && devs[0].wios == 20, "v1 figures: %llu %llu",
	      (unsigned long long)devs[0].rbytes, (unsigned long long)devs[0].wios);
	free(devs);
	check(f.fd[0] >= 0 && f.fd[1] >= 0, "both v1 files held open");

	/* a longer text than the first buffer, written in place: the same fds read it */
	{
		char text[20000] = "";
		size_t len = 0;

		for (int i = 0; i < 900; i++)
			len += (size_t)snprintf(text + len, sizeof(text) - len, "8:%d Read %d\n", i, i);
		fx_write(&fx, V1 "/blkio.throttle.io_service_bytes_recursive", text);
	}
	r = ve_blkio_files_read(&f, fx.fd, V1, V2, &devs, &n);
	check(r == 0 && n == 900, "a long file: %d, %zu devices", r, n);
	free(devs);

	/* junk: an error, and the files closed to be found anew */
	fx_write(&fx, V1 "/blkio.throttle.io_serviced_recursive", "8:0 Read x\n");
	devs = NULL;
	n = 99;
	r = ve_blkio_files_read(&f, fx.fd, V1, V2, &devs, &n);
	check(r == -EINVAL && devs == NULL && n == 99, "junk: %d, outputs untouched", r);
	check(f.fd[0] < 0 && f.fd[1] < 0, "closed after a failure");

	/* the next read opens v2's io.stat, now there */
	fx_write(&fx, V2 "/io.stat", "8:0 rbytes=5 wbytes=6 rios=7 wios=8\n");
	r = ve_blkio_files_read(&f, fx.fd, V1, V2, &devs, &n);
	check(r == 0 && n == 1 && devs[0].rbytes == 5 && devs[0].wios == 8, "v2 io.stat: %d", r);
	check(f.fd[0] >= 0 && f.fd[1] < 0, "one v2 file held open");
	free(devs);
	ve_blkio_files_close(&f);
	ve_blkio_files_close(&f);   /* closed twice is fine */
	r = ve_blkio_files_read(&f, fx.fd, V1 "/gone", V2 "/gone", &devs, &n);
	check(r == -ENOENT, "a cgroup that is gone: %d", r);
	fx_remove(&fx);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_fixture_fd),
		cmocka_unit_test(test_host_fd),
		cmocka_unit_test(test_blkio_files),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
