// SPDX-License-Identifier: GPL-2.0-or-later
/*
 * kmod_test: virtenergy.ko in a real kernel, through the daemon's own client
 * (daemon/sense/kmodnl.c) and sampler.  Run by tests/kmod/run.sh inside
 * scripts/vmtest with the module loaded; prints TAP.
 *
 *   kmod_test threads    run time of a busy and an idle thread, account
 *                        tags, events, a thread that exits, unwatch
 *   kmod_test blkio      direct I/O from a process in its own cgroup to
 *                        /dev/vda: bytes reported within 1 %
 *   kmod_test errors     malformed commands, limits, unprivileged sender
 *   kmod_test fuzz N     N random messages; the module keeps working
 *   kmod_test owner      a watching process killed: its watches go
 *   kmod_test stress     threads exiting while watched, unwatch while
 *                        samples are in flight, at a 10 ms period
 *   kmod_test sampler    the kmod sampler against schedstat and the perf
 *                        sampler on the same threads: run time equal to
 *                        sum_exec_runtime, task clock within 5 % of perf's
 *   kmod_test fallback   the module unloaded under the kmod sampler: it
 *                        continues with perf, nothing lost
 *   kmod_test hold       watch 8 threads and a cgroup, print "holding", wait to
 *                        be killed (the module is unloaded meanwhile)
 *   kmod_test ioload CGROUP  write /dev/vda steadily from inside CGROUP until
 *                        killed (for tests/kmod/daemon_io.sh)
 *   kmod_test bench N    ns per thread-sample, module versus perf, for N
 *                        watched threads (scripts/bench kmod)
 */
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <linux/perf_event.h>
#include <math.h>
#include <poll.h>
#include <pthread.h>
#include <signal.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "kmodnl.h"
#include "procfs.h"
#include "sampler.h"

static int tap_n, tap_failed;

static void ok(int cond, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

static void ok(int cond, const char *fmt, ...)
{
	va_list ap;

	printf("%s %d - ", cond ? "ok" : "not ok", ++tap_n);
	va_start(ap, fmt);
	vprintf(fmt, ap);
	va_end(ap);
	printf("\n");
	fflush(stdout);
	if (!cond)
		tap_failed++;
}

static void diag(const char *fmt, ...) __attribute__((format(printf, 1, 2)));

static void diag(const char *fmt, ...)
{
	va_list ap;

	printf("# ");
	va_start(ap, fmt);
	vprintf(fmt, ap);
	va_end(ap);
	printf("\n");
	fflush(stdout);
}

static _Noreturn void bail(const char *fmt, ...) __attribute__((format(printf, 1, 2)));

static _Noreturn void bail(const char *fmt, ...)
{
	va_list ap;

	printf("Bail out! ");
	va_start(ap, fmt);
	vprintf(fmt, ap);
	va_end(ap);
	printf("\n");
	exit(1);
}

static uint64_t now_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
}

static void sleep_ms(unsigned int ms)
{
	struct timespec ts = { ms / 1000, (long)(ms % 1000) * 1000000L };

	while (nanosleep(&ts, &ts) < 0 && errno == EINTR)
		;
}

static pid_t gettid_(void)
{
	return (pid_t)syscall(SYS_gettid);
}

static struct ve_kmod *open_kmod(void)
{
	struct ve_kmod *k;
	int r = ve_kmod_open(&k);

	if (r < 0)
		bail("cannot open the virtenergy family: %s (is the module loaded?)", strerror(-r));
	return k;
}

/* ---- worker threads ---------------------------------------------------------- */

enum load { LOAD_BUSY, LOAD_IDLE, LOAD_HALF, LOAD_LIGHT, LOAD_SHORT, LOAD_ASLEEP };

struct worker {
	pthread_t th;
	enum load load;
	unsigned int life_ms;        /* LOAD_SHORT: spin this long, then exit */
	_Atomic pid_t tid;
	_Atomic int stop;            /* 1: park (blocked, uses no CPU); 2: exit */
	_Atomic int parked;          /* in pthread_cond_wait, or about to be */
	_Atomic int *go;             /* LOAD_SHORT: wait for *go before spinning */
	pthread_mutex_t mu;
	pthread_cond_t cv;           /* signalled when stop leaves 1 */
};

static void spin_ms(unsigned int ms)
{
	uint64_t end = now_ns() + (uint64_t)ms * 1000000u;

	while (now_ns() < end)
		;
}

static void *worker_main(void *arg)
{
	struct worker *w = arg;

	atomic_store(&w->tid, gettid_());
	for (;;) {
		int stop = atomic_load(&w->stop);

		if (stop == 2)
			break;
		if (stop == 1) {
			/*
			 * Parked: blocked until told otherwise, so that its run time
			 * (sum_exec_runtime, perf's task clock) stands still and
			 * readings taken at different moments compare.
			 */
			pthread_mutex_lock(&w->mu);
			atomic_store(&w->parked, 1);
			while (atomic_load(&w->stop) == 1)
				pthread_cond_wait(&w->cv, &w->mu);
			atomic_store(&w->parked, 0);
			pthread_mutex_unlock(&w->mu);
			continue;
		}
		switch (w->load) {
		case LOAD_BUSY:
			spin_ms(1);
			break;
		case LOAD_IDLE:
			sleep_ms(20);
			break;
		case LOAD_ASLEEP:      /* wakes rarely: a benchmark's watched crowd */
			sleep_ms(500);
			break;
		case LOAD_HALF:
			spin_ms(5);
			sleep_ms(5);
			break;
		case LOAD_LIGHT:
			spin_ms(1);
			sleep_ms(9);
			break;
		case LOAD_SHORT:
			while (w->go && !atomic_load(w->go))
				sleep_ms(1);
			spin_ms(w->life_ms);
			return NULL;
		}
	}
	return NULL;
}

static void worker_start_gated(struct worker *w, enum load load, unsigned int life_ms,
			       _Atomic int *go)
{
	memset(w, 0, sizeof(*w));
	w->load = load;
	w->life_ms = life_ms;
	w->go = go;
	pthread_mutex_init(&w->mu, NULL);
	pthread_cond_init(&w->cv, NULL);
	if (pthread_create(&w->th, NULL, worker_main, w))
		bail("pthread_create failed");
	while (!atomic_load(&w->tid))
		sleep_ms(1);
}

static void worker_start(struct worker *w, enum load load, unsigned int life_ms)
{
	worker_start_gated(w, load, life_ms, NULL);
}

static void worker_set_stop(struct worker *w, int stop)
{
	pthread_mutex_lock(&w->mu);
	atomic_store(&w->stop, stop);
	pthread_cond_broadcast(&w->cv);
	pthread_mutex_unlock(&w->mu);
}

static int proc_root(void)
{
	static int fd = -1;

	if (fd < 0)
		fd = open("/", O_PATH | O_DIRECTORY | O_CLOEXEC);
	if (fd < 0)
		bail("open /: %s", strerror(errno));
	return fd;
}

/* The thread's sum_exec_runtime as /proc shows it (the module reads the same field). */
static uint64_t schedstat_ns(pid_t tid)
{
	uint64_t ns;
	int r = ve_proc_task_schedstat(proc_root(), getpid(), tid, &ns);

	if (r < 0)
		bail("schedstat of thread %d: %s", (int)tid, strerror(-r));
	return ns;
}

/*
 * Park @n workers and return once every one is off the CPU, blocked in
 * pthread_cond_wait (state S in its stat): from then on its run time does
 * not move.
 */
static void workers_park(struct worker *w, unsigned int n)
{
	uint64_t end = now_ns() + 2000000000u;

	for (unsigned int i = 0; i < n; i++)
		atomic_store(&w[i].stop, 1);
	for (unsigned int i = 0; i < n; i++) {
		struct ve_task_stat st = { .state = '?' };

		for (;;) {
			if (atomic_load(&w[i].parked) &&
			    ve_proc_task_stat(proc_root(), getpid(), w[i].tid, &st) == 0 &&
			    st.state == 'S')
				break;
			if (now_ns() > end)
				bail("worker %d not parked after 2 s (parked %d, state '%c')",
				     (int)w[i].tid, atomic_load(&w[i].parked), st.state);
			sleep_ms(1);
		}
	}
}

static void workers_unpark(struct worker *w, unsigned int n)
{
	for (unsigned int i = 0; i < n; i++)
		worker_set_stop(&w[i], 0);
}

static void worker_join(struct worker *w)
{
	worker_set_stop(w, 2);
	pthread_join(w->th, NULL);
	pthread_cond_destroy(&w->cv);
	pthread_mutex_destroy(&w->mu);
}

/* ---- collecting samples ---------------------------------------------------------- */

#define MAX_SEEN 64

struct seen {
	unsigned int n;
	struct {
		uint32_t tid;
		uint64_t account, run_ns, samples, exited;
		uint64_t v[VE_NL_MAX_EVENTS];
		unsigned int nv;
	} t[MAX_SEEN];
	uint64_t periods, period_ns, bad_account;
	struct ve_kmod_cgroup_sample cg[8];
	unsigned int ncg;
	uint64_t busy_in_range, busy_periods, busy_tid, busy_period_run;
	/*
	 * Reference threads: their run time from the module and from their
	 * schedstat, both from the first period end seen to the last, with
	 * schedstat read as each period-end message is handled.  The module
	 * reads sum_exec_runtime at the period's end and /proc shows the same
	 * field, so the two differ only by what ran between the period's end
	 * and the message's handling.
	 */
	unsigned int n_ref;
	pid_t ref_tid[2];
	bool ref_started;
	uint64_t ref_mod_ns[2], ref_sched0_ns[2], ref_sched1_ns[2], ref_period_ns;
};

static void seen_thread(void *ud, uint64_t seq, const struct ve_kmod_thread_sample *s)
{
	struct seen *c = ud;
	unsigned int i;

	for (i = 0; i < c->n && c->t[i].tid != s->tid; i++)
		;
	if (i == c->n) {
		if (c->n == MAX_SEEN)
			return;
		c->n++;
		c->t[i].tid = s->tid;
		c->t[i].account = s->account;
	}
	if (c->t[i].account != s->account)
		c->bad_account++;
	c->t[i].run_ns += s->run_ns;
	c->t[i].samples++;
	c->t[i].nv = s->n;
	for (unsigned int j = 0; j < s->n; j++)
		c->t[i].v[j] += s->v[j];
	if (s->flags & VE_TS_EXITED)
		c->t[i].exited++;
	if (s->tid == c->busy_tid)
		c->busy_period_run = s->run_ns;
	for (unsigned int j = 0; j < c->n_ref && c->ref_started; j++)
		if (s->tid == (uint32_t)c->ref_tid[j])
			c->ref_mod_ns[j] += s->run_ns;
}

static void seen_period(void *ud, uint64_t seq, uint64_t time_ns, uint64_t period_ns)
{
	struct seen *c = ud;

	(void)time_ns;
	c->periods++;
	c->period_ns += period_ns;
	if (c->busy_tid && c->periods > 1) {
		double ratio = (double)c->busy_period_run / (double)period_ns;

		c->busy_periods++;
		if (ratio > 0.8 && ratio < 1.2)
			c->busy_in_range++;
	}
	c->busy_period_run = 0;
	for (unsigned int j = 0; j < c->n_ref; j++)
		*(c->ref_started ? &c->ref_sched1_ns[j] : &c->ref_sched0_ns[j]) =
			schedstat_ns(c->ref_tid[j]);
	if (c->ref_started)
		c->ref_period_ns += period_ns;
	c->ref_started = true;
}

static void seen_cgroup(void *ud, uint64_t seq, const struct ve_kmod_cgroup_sample *s)
{
	struct seen *c = ud;
	unsigned int i;

	for (i = 0; i < c->ncg && c->cg[i].id != s->id; i++)
		;
	if (i == c->ncg) {
		if (c->ncg == 8)
			return;
		c->ncg++;
		memset(&c->cg[i], 0, sizeof(c->cg[i]));
		c->cg[i].id = s->id;
		c->cg[i].account = s->account;
	}
	for (int d = 0; d < 2; d++) {
		c->cg[i].ops[d] += s->ops[d];
		c->cg[i].bytes[d] += s->bytes[d];
		c->cg[i].ns[d] += s->ns[d];
	}
}

static int seen_find(const struct seen *c, pid_t tid)
{
	for (unsigned int i = 0; i < c->n; i++)
		if (c->t[i].tid == (uint32_t)tid)
			return (int)i;
	return -1;
}

/*
 * Receive for @ms milliseconds into @c, handling each message as soon as it
 * arrives (poll), so that what seen_period() reads is close to the period's end.
 */
static uint64_t receive_cpu_ns;   /* this thread's CPU time in collect()'s receives */

static uint64_t thread_cpu_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_THREAD_CPUTIME_ID, &ts);
	return (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
}

static void collect(struct ve_kmod *k, struct seen *c, unsigned int ms)
{
	struct ve_kmod_handlers h = {
		.thread = seen_thread, .cgroup = seen_cgroup, .period_end = seen_period, .ud = c,
	};
	uint64_t now, end = now_ns() + (uint64_t)ms * 1000000u;
	unsigned int lost = 0;
	struct pollfd pfd = { .fd = ve_kmod_subscribe(k), .events = POLLIN };

	if (pfd.fd < 0)
		bail("cannot join the samples group");
	while ((now = now_ns()) < end) {
		uint64_t c0;

		if (poll(&pfd, 1, (int)((end - now) / 1000000u) + 1) < 0 && errno != EINTR)
			bail("poll: %s", strerror(errno));
		c0 = thread_cpu_ns();
		if (ve_kmod_receive(k, &h, &lost) < 0)
			bail("receive: %s", ve_kmod_error(k));
		receive_cpu_ns += thread_cpu_ns() - c0;
	}
	if (lost)
		diag("%u receive-buffer overruns", lost);
}

static void count_period(void *ud, uint64_t seq, uint64_t time_ns, uint64_t period_ns)
{
	(void)seq;
	(void)time_ns;
	(void)period_ns;
	(*(unsigned int *)ud)++;
}

/*
 * Drop every samples message waiting on @k, then wait for @n more periods
 * to end: the last of them was sampled wholly after this call began.
 */
static void wait_periods(struct ve_kmod *k, unsigned int n)
{
	unsigned int seen = 0;
	struct ve_kmod_handlers h = { .period_end = count_period, .ud = &seen };
	struct pollfd pfd = { .fd = ve_kmod_subscribe(k), .events = POLLIN };
	uint64_t end = now_ns() + 5000000000u;

	if (pfd.fd < 0)
		bail("cannot join the samples group");
	if (ve_kmod_receive(k, &h, NULL) < 0)
		bail("receive: %s", ve_kmod_error(k));
	seen = 0;
	while (seen < n) {
		if (now_ns() > end)
			bail("%u of %u period ends in 5 s", seen, n);
		if (poll(&pfd, 1, 100) < 0 && errno != EINTR)
			bail("poll: %s", strerror(errno));
		if (ve_kmod_receive(k, &h, NULL) < 0)
			bail("receive: %s", ve_kmod_error(k));
	}
}

static uint32_t nr_threads(struct ve_kmod *k)
{
	struct ve_kmod_info info;

	if (ve_kmod_info(k, &info) < 0)
		bail("GET_INFO failed: %s", ve_kmod_error(k));
	return info.nr_threads;
}

/* ---- threads --------------------------------------------------------------------- */

static void test_threads(void)
{
	struct ve_kmod *k = open_kmod();
	struct ve_kmod_info info;
	struct ve_kmod_event ev[2] = {
		{ .type = PERF_TYPE_HARDWARE, .config = PERF_COUNT_HW_INSTRUCTIONS },
		{ .type = PERF_TYPE_SOFTWARE, .config = PERF_COUNT_SW_CONTEXT_SWITCHES },
	};
	struct ve_kmod_event ev2[2];
	struct worker busy, idle, shortw;
	struct seen c = { 0 };
	uint32_t before;
	int r, ib, ii, is;

	r = ve_kmod_info(k, &info);
	ok(r == 0 && info.version == VE_GENL_VERSION, "GET_INFO answers protocol version %u", info.version);
	ok(info.period_ms == 100 && info.max_events == VE_NL_MAX_EVENTS,
	   "period %u ms, up to %u events", info.period_ms, info.max_events);
	diag("caps: %s%s", info.caps & VE_CAP_HW_EVENTS ? "hw-events " : "no-hw-events ",
	     info.caps & VE_CAP_BLOCK_IO ? "block-io" : "no-block-io");
	ok(info.caps & VE_CAP_BLOCK_IO, "the block_rq_complete tracepoint is attached");
	before = info.nr_threads;

	worker_start(&busy, LOAD_BUSY, 0);
	worker_start(&idle, LOAD_IDLE, 0);
	memcpy(ev2, ev, sizeof(ev));
	r = ve_kmod_watch_thread(k, busy.tid, 1001, ev, 2);
	ok(r == 0, "watch the busy thread (%s)", r ? ve_kmod_error(k) : "ok");
	ok(ev[1].status == VE_EV_COUNTED, "the software event is counted as asked");
	if (info.caps & VE_CAP_HW_EVENTS)
		ok(ev[0].status == VE_EV_COUNTED, "instructions counted (the machine has a PMU)");
	else
		ok(ev[0].status == VE_EV_SUBSTITUTED && ev[0].error != 0 &&
		   ev[0].type == PERF_TYPE_SOFTWARE && ev[0].config == PERF_COUNT_SW_TASK_CLOCK,
		   "instructions substituted by the task clock, with perf's errno %u", ev[0].error);
	r = ve_kmod_watch_thread(k, idle.tid, 1002, ev2, 2);
	ok(r == 0, "watch the idle thread");
	r = ve_kmod_watch_thread(k, idle.tid, 1002, NULL, 0);
	ok(r == -EEXIST, "watching it twice: EEXIST (%d)", r);
	ok(nr_threads(k) == before + 2, "two watches counted");

	if (ve_kmod_subscribe(k) < 0)
		bail("cannot join the samples group");
	c.busy_tid = (uint64_t)busy.tid;
	c.n_ref = 2;
	c.ref_tid[0] = busy.tid;
	c.ref_tid[1] = idle.tid;
	collect(k, &c, 2000);
	ib = seen_find(&c, busy.tid);
	ii = seen_find(&c, idle.tid);
	ok(c.periods >= 15 && c.periods <= 25, "%" PRIu64 " periods in 2 s", c.periods);
	ok(ib >= 0 && ii >= 0 && c.n == 2, "samples name exactly the two watched threads (%u seen)", c.n);
	ok(c.bad_account == 0 && ib >= 0 && c.t[ib].account == 1001 && ii >= 0 && c.t[ii].account == 1002,
	   "each thread's samples carry its own account tag");
	if (ib >= 0 && ii >= 0) {
		double busy_share = (double)c.t[ib].run_ns / (double)c.period_ns;
		double idle_share = (double)c.t[ii].run_ns / (double)c.period_ns;

		diag("busy: %.3f of the time, idle: %.5f; busy periods within 20 %%: %" PRIu64 "/%" PRIu64,
		     busy_share, idle_share, c.busy_in_range, c.busy_periods);
		ok(busy_share > 0.9 && busy_share < 1.05, "busy thread ran %.1f %% of the periods", 100 * busy_share);
		ok(c.busy_in_range * 10 >= c.busy_periods * 8,
		   "busy thread's run-time delta close to the period in >= 80 %% of periods");
		/*
		 * How long the idle thread runs at each wake-up is the machine's
		 * business (under TCG a wake-up takes a few hundred µs): what the
		 * module must get right is how long it ran, which its schedstat
		 * says over the same periods.  The schedstat readings lag the
		 * periods' ends by the messages' delivery, which for the idle
		 * thread is at most part of one wake-up at either end; the busy
		 * thread runs all through that lag (tens of ms when the receiver
		 * waits for a vCPU), so its figures are only shown.
		 */
		double ref_ns = (double)c.ref_period_ns;
		double busy_mod = (double)c.ref_mod_ns[0] / ref_ns;
		double busy_sched = (double)(c.ref_sched1_ns[0] - c.ref_sched0_ns[0]) / ref_ns;
		double idle_mod = (double)c.ref_mod_ns[1] / ref_ns;
		double idle_sched = (double)(c.ref_sched1_ns[1] - c.ref_sched0_ns[1]) / ref_ns;

		diag("over %.3f s of periods: busy %.3f %% from the module, %.3f %% from its schedstat; "
		     "idle %.3f %% and %.3f %%", ref_ns / 1e9, 100 * busy_mod, 100 * busy_sched,
		     100 * idle_mod, 100 * idle_sched);
		ok(c.ref_period_ns > 1000000000u && fabs(idle_mod - idle_sched) < 0.01,
		   "idle thread: the module's run time within 1 %% of the periods of its schedstat's "
		   "(%+.3f %%; it ran %.3f %% of them)", 100 * (idle_mod - idle_sched),
		   100 * idle_sched);
		ok(c.t[ib].nv == 2 && c.t[ib].v[1] > 0, "event values come with each sample");
		if (ev[0].status == VE_EV_SUBSTITUTED)
			ok(c.t[ib].v[0] > c.t[ib].run_ns / 2 && c.t[ib].v[0] < c.t[ib].run_ns * 2,
			   "the substituted task clock agrees with run time (%" PRIu64 " vs %" PRIu64 " ns)",
			   c.t[ib].v[0], c.t[ib].run_ns);
	}

	/* a thread that exits while watched */
	worker_start(&shortw, LOAD_SHORT, 300);
	r = ve_kmod_watch_thread(k, shortw.tid, 1003, NULL, 0);
	ok(r == 0, "watch a thread that will exit");
	pthread_join(shortw.th, NULL);
	memset(&c, 0, sizeof(c));
	collect(k, &c, 400);
	is = seen_find(&c, shortw.tid);
	ok(is >= 0 && c.t[is].exited == 1, "its last sample says it exited");
	if (is >= 0)
		diag("exited thread: %.1f ms run time reported after watch", c.t[is].run_ns / 1e6);
	ok(nr_threads(k) == before + 2, "and its watch is gone");

	r = ve_kmod_unwatch_thread(k, busy.tid);
	ok(r == 0, "unwatch the busy thread");
	r = ve_kmod_unwatch_thread(k, busy.tid);
	ok(r == -ENOENT, "unwatch it again: ENOENT (%d)", r);
	collect(k, &c, 150);
	memset(&c, 0, sizeof(c));
	collect(k, &c, 400);
	ok(seen_find(&c, busy.tid) < 0 && seen_find(&c, idle.tid) >= 0,
	   "no samples for the unwatched thread, still for the other");
	worker_join(&busy);
	worker_join(&idle);
	ve_kmod_close(k);
}

/* ---- block I/O ---------------------------------------------------------------------- */

#define CG_ROOT "/sys/fs/cgroup"

static int write_file(const char *path, const char *s)
{
	int fd = open(path, O_WRONLY);
	ssize_t n;

	if (fd < 0)
		return -errno;
	n = write(fd, s, strlen(s));
	close(fd);
	return n < 0 ? -errno : 0;
}

/* In a child in cgroup @cg: write @wbytes then read @rbytes of /dev/vda, O_DIRECT. */
static pid_t io_child(const char *cg, size_t wbytes, size_t rbytes, int go_fd)
{
	pid_t pid = fork();

	if (pid)
		return pid;
	char path[256], b;
	void *buf;
	size_t chunk = 1 << 20, done;
	int fd;

	snprintf(path, sizeof(path), "%s/cgroup.procs", cg);
	if (write_file(path, "0") < 0)
		_exit(10);
	if (read(go_fd, &b, 1) != 1)
		_exit(11);
	if (posix_memalign(&buf, 4096, chunk))
		_exit(12);
	memset(buf, 0x5a, chunk);
	fd = open("/dev/vda", O_RDWR | O_DIRECT);
	if (fd < 0)
		_exit(13);
	for (done = 0; done < wbytes;) {
		size_t n = wbytes - done < chunk ? wbytes - done : chunk;

		if (pwrite(fd, buf, n, (off_t)done) != (ssize_t)n)
			_exit(14);
		done += n;
	}
	for (done = 0; done < rbytes;) {
		size_t n = rbytes - done < chunk ? rbytes - done : chunk;

		if (pread(fd, buf, n, (off_t)done) != (ssize_t)n)
			_exit(15);
		done += n;
	}
	close(fd);
	_exit(0);
}

static void test_blkio(void)
{
	struct ve_kmod *k = open_kmod();
	const char *cg = CG_ROOT "/vetest-io", *other = CG_ROOT "/vetest-other";
	const size_t wbytes = (16u << 20) + 7 * 4096, rbytes = (4u << 20) + 3 * 4096;
	struct seen c = { 0 };
	struct stat st;
	int go[2], status, r;
	pid_t a, b;

	if (write_file(CG_ROOT "/cgroup.subtree_control", "+io") < 0)
		bail("cannot enable the io controller: %s", strerror(errno));
	if ((mkdir(cg, 0755) < 0 && errno != EEXIST) || (mkdir(other, 0755) < 0 && errno != EEXIST))
		bail("cannot make test cgroups");
	if (stat(cg, &st) < 0)
		bail("stat %s", cg);
	r = ve_kmod_watch_cgroup(k, (uint64_t)st.st_ino, 77);
	ok(r == 0, "watch cgroup %s (id %llu)", cg, (unsigned long long)st.st_ino);
	ok(ve_kmod_watch_cgroup(k, (uint64_t)st.st_ino, 77) == -EEXIST, "watching it twice: EEXIST");
	if (ve_kmod_subscribe(k) < 0)
		bail("cannot join the samples group");
	if (pipe(go) < 0)
		bail("pipe");
	a = io_child(cg, wbytes, rbytes, go[0]);
	b = io_child(other, 2u << 20, 0, go[0]);   /* not watched */
	sleep_ms(100);
	if (write(go[1], "gg", 2) != 2)
		bail("go");
	waitpid(a, &status, 0);
	ok(WIFEXITED(status) && WEXITSTATUS(status) == 0, "the watched writer finished (%d)",
	   WIFEXITED(status) ? WEXITSTATUS(status) : -1);
	waitpid(b, &status, 0);
	collect(k, &c, 500);
	ok(c.ncg == 1 && c.cg[0].id == (uint64_t)st.st_ino && c.cg[0].account == 77,
	   "samples name only the watched cgroup, with its account");
	if (c.ncg >= 1) {
		double we = (double)c.cg[0].bytes[1] / (double)wbytes - 1.0;
		double re = (double)c.cg[0].bytes[0] / (double)rbytes - 1.0;

		diag("written %" PRIu64 " B in %" PRIu64 " ops, %.1f ms; read %" PRIu64 " B in %" PRIu64
		     " ops, %.1f ms", c.cg[0].bytes[1], c.cg[0].ops[1], c.cg[0].ns[1] / 1e6,
		     c.cg[0].bytes[0], c.cg[0].ops[0], c.cg[0].ns[0] / 1e6);
		ok(we > -0.01 && we < 0.01, "written bytes within 1 %% (%+.3f %%)", 100 * we);
		ok(re > -0.01 && re < 0.01, "read bytes within 1 %% (%+.3f %%)", 100 * re);
		ok(c.cg[0].ops[1] >= 17 && c.cg[0].ops[0] >= 5, "operations counted per direction");
		ok(c.cg[0].ns[1] > 0 && c.cg[0].ns[0] > 0, "service time counted per direction");
	}
	ok(ve_kmod_unwatch_cgroup(k, (uint64_t)st.st_ino) == 0, "unwatch the cgroup");
	ve_kmod_close(k);
	rmdir(cg);
	rmdir(other);
}

/*
 * A steady writer for tests/kmod/daemon_io.sh: join cgroup @cg, then write
 * /dev/vda in 256 KiB O_DIRECT requests, wrapping at 48 MiB, until killed.
 * One open, no close: no flush requests, whose busy time would belong to
 * no request the model counts.
 */
static void io_load(const char *cg)
{
	const size_t chunk = 256u << 10, span = 48u << 20;
	char path[256];
	void *buf;
	off_t off = 0;
	int fd;

	snprintf(path, sizeof(path), "%s/cgroup.procs", cg);
	if (write_file(path, "0") < 0)
		bail("cannot join %s: %s", cg, strerror(errno));
	if (posix_memalign(&buf, 4096, chunk))
		bail("memory");
	memset(buf, 0x5a, chunk);
	fd = open("/dev/vda", O_WRONLY | O_DIRECT);
	if (fd < 0)
		bail("open /dev/vda: %s", strerror(errno));
	printf("writing\n");
	fflush(stdout);
	for (;;) {
		if (pwrite(fd, buf, chunk, off) != (ssize_t)chunk)
			bail("pwrite: %s", strerror(errno));
		off = (off_t)(((size_t)off + chunk) % span);
	}
}

/* ---- errors ---------------------------------------------------------------------------- */

struct raw {
	unsigned char b[512];
	size_t len;
};

static void raw_attr(struct raw *m, uint16_t type, const void *data, uint16_t len)
{
	uint16_t hdr[2] = { (uint16_t)(4 + len), type };
	size_t pad = (4 + len + 3u) & ~3u;

	memset(m->b + m->len, 0, pad);
	memcpy(m->b + m->len, hdr, 4);
	memcpy(m->b + m->len + 4, data, len);
	m->len += pad;
}

static void test_errors(unsigned int max_threads)
{
	struct ve_kmod *k = open_kmod();
	struct ve_kmod_event evs[VE_NL_MAX_EVENTS + 1];
	struct worker many[64];
	struct raw m;
	uint32_t u32;
	uint16_t u16;
	uint64_t u64;
	pid_t self = gettid_();
	int r, pid, status, i;

	/* each command's missing attribute, named in the extended ack's message */
	memset(&m, 0, sizeof(m));
	u64 = 1;
	raw_attr(&m, VE_A_ACCOUNT, &u64, 8);
	r = ve_kmod_send_raw(k, VE_CMD_WATCH_THREAD, 1, m.b, m.len);
	ok(r == -EINVAL, "watch without a tid: EINVAL (%d: %s)", r, ve_kmod_error(k));
	ok(!strcmp(ve_kmod_error(k), "VE_A_TID missing"),
	   "with the message 'VE_A_TID missing' ('%s')", ve_kmod_error(k));

	memset(&m, 0, sizeof(m));
	u32 = (uint32_t)self;
	raw_attr(&m, VE_A_TID, &u32, 4);
	r = ve_kmod_send_raw(k, VE_CMD_WATCH_THREAD, 1, m.b, m.len);
	ok(r == -EINVAL && !strcmp(ve_kmod_error(k), "VE_A_ACCOUNT missing"),
	   "watch without an account: EINVAL, 'VE_A_ACCOUNT missing' (%d: '%s')", r,
	   ve_kmod_error(k));

	r = ve_kmod_send_raw(k, VE_CMD_UNWATCH_THREAD, 1, NULL, 0);
	ok(r == -EINVAL && !strcmp(ve_kmod_error(k), "VE_A_TID missing"),
	   "unwatch without a tid: EINVAL, 'VE_A_TID missing' (%d: '%s')", r, ve_kmod_error(k));

	memset(&m, 0, sizeof(m));
	raw_attr(&m, VE_A_ACCOUNT, &u64, 8);
	r = ve_kmod_send_raw(k, VE_CMD_WATCH_CGROUP, 1, m.b, m.len);
	ok(r == -EINVAL && !strcmp(ve_kmod_error(k), "VE_A_CGROUP_ID missing"),
	   "watch a cgroup without its id: EINVAL, 'VE_A_CGROUP_ID missing' (%d: '%s')", r,
	   ve_kmod_error(k));

	memset(&m, 0, sizeof(m));
	raw_attr(&m, VE_A_CGROUP_ID, &u64, 8);
	r = ve_kmod_send_raw(k, VE_CMD_WATCH_CGROUP, 1, m.b, m.len);
	ok(r == -EINVAL && !strcmp(ve_kmod_error(k), "VE_A_ACCOUNT missing"),
	   "watch a cgroup without an account: EINVAL, 'VE_A_ACCOUNT missing' (%d: '%s')", r,
	   ve_kmod_error(k));

	r = ve_kmod_send_raw(k, VE_CMD_UNWATCH_CGROUP, 1, NULL, 0);
	ok(r == -EINVAL && !strcmp(ve_kmod_error(k), "VE_A_CGROUP_ID missing"),
	   "unwatch a cgroup without its id: EINVAL, 'VE_A_CGROUP_ID missing' (%d: '%s')", r,
	   ve_kmod_error(k));

	memset(&m, 0, sizeof(m));
	u32 = 0;
	raw_attr(&m, VE_A_TID, &u32, 4);
	raw_attr(&m, VE_A_ACCOUNT, &u64, 8);
	r = ve_kmod_send_raw(k, VE_CMD_WATCH_THREAD, 1, m.b, m.len);
	ok(r == -EINVAL || r == -ERANGE, "tid 0: refused (%d: %s)", r, ve_kmod_error(k));

	memset(&m, 0, sizeof(m));
	u16 = (uint16_t)self;
	raw_attr(&m, VE_A_TID, &u16, 2);
	raw_attr(&m, VE_A_ACCOUNT, &u64, 8);
	r = ve_kmod_send_raw(k, VE_CMD_WATCH_THREAD, 1, m.b, m.len);
	ok(r == -EINVAL || r == -ERANGE, "a 2-byte tid: refused (%d: %s)", r, ve_kmod_error(k));

	memset(&m, 0, sizeof(m));
	u32 = (uint32_t)self;
	raw_attr(&m, VE_A_TID, &u32, 4);
	raw_attr(&m, VE_A_ACCOUNT, &u64, 8);
	raw_attr(&m, 200, &u32, 4);
	r = ve_kmod_send_raw(k, VE_CMD_WATCH_THREAD, 1, m.b, m.len);
	ok(r == -EINVAL, "an unknown attribute: EINVAL (%d: %s)", r, ve_kmod_error(k));

	r = ve_kmod_send_raw(k, 99, 1, NULL, 0);
	ok(r == -EOPNOTSUPP, "an unknown command: EOPNOTSUPP (%d)", r);
	r = ve_kmod_send_raw(k, VE_CMD_SAMPLES, 1, NULL, 0);
	ok(r == -EOPNOTSUPP, "SAMPLES sent to the module: EOPNOTSUPP (%d)", r);

	r = ve_kmod_set_config(k, 5, 0);
	ok(r == -EINVAL || r == -ERANGE, "period 5 ms: refused (%d: %s)", r, ve_kmod_error(k));
	r = ve_kmod_set_config(k, 100000, 0);
	ok(r == -EINVAL || r == -ERANGE, "period 100 s: refused (%d)", r);
	r = ve_kmod_set_config(k, 0, 5000);
	ok(r == -EINVAL || r == -ERANGE, "batch 5000: refused (%d)", r);

	memset(&m, 0, sizeof(m));
	u64 = 0;
	raw_attr(&m, VE_A_CGROUP_ID, &u64, 8);
	raw_attr(&m, VE_A_ACCOUNT, &u64, 8);
	r = ve_kmod_send_raw(k, VE_CMD_WATCH_CGROUP, 1, m.b, m.len);
	ok(r == -EINVAL || r == -ERANGE, "cgroup id 0: refused (%d)", r);

	evs[0].type = PERF_TYPE_TRACEPOINT;
	evs[0].config = 1;
	r = ve_kmod_watch_thread(k, self, 1, evs, 1);
	ok(r == -EINVAL, "a tracepoint event: EINVAL (%d: %s)", r, ve_kmod_error(k));
	for (i = 0; i < VE_NL_MAX_EVENTS + 1; i++) {
		evs[i].type = PERF_TYPE_SOFTWARE;
		evs[i].config = PERF_COUNT_SW_CPU_CLOCK;
	}
	r = ve_kmod_watch_thread(k, self, 1, evs, VE_NL_MAX_EVENTS + 1);
	ok(r == -E2BIG, "%d events: E2BIG (%d: %s)", VE_NL_MAX_EVENTS + 1, r, ve_kmod_error(k));
	r = ve_kmod_watch_thread(k, 4000000, 1, NULL, 0);
	ok(r == -ESRCH, "a thread that does not exist: ESRCH (%d)", r);
	ok(nr_threads(k) == 0, "none of that left a watch behind");

	/* the bound */
	for (i = 0; i < (int)max_threads && i < 64; i++)
		worker_start(&many[i], LOAD_IDLE, 0);
	for (i = 0; i < (int)max_threads && i < 64; i++)
		if ((r = ve_kmod_watch_thread(k, many[i].tid, 5, NULL, 0)) < 0)
			break;
	ok(i == (int)max_threads, "max_threads=%u watches accepted (%d)", max_threads, i);
	r = ve_kmod_watch_thread(k, self, 5, NULL, 0);
	ok(r == -ENOSPC && strstr(ve_kmod_error(k), "max_threads"),
	   "one more: ENOSPC, '%s'", ve_kmod_error(k));
	for (i = 0; i < (int)max_threads && i < 64; i++) {
		ve_kmod_unwatch_thread(k, many[i].tid);
		worker_join(&many[i]);
	}
	ok(nr_threads(k) == 0, "all unwatched");

	/* an unprivileged sender */
	pid = fork();
	if (pid == 0) {
		struct ve_kmod *u;
		struct ve_kmod_info info;

		if (setresgid(65534, 65534, 65534) || setresuid(65534, 65534, 65534))
			_exit(20);
		if (ve_kmod_open(&u) < 0)
			_exit(21);
		if (ve_kmod_info(u, &info) != -EPERM)
			_exit(22);
		if (ve_kmod_watch_thread(u, getpid(), 1, NULL, 0) != -EPERM)
			_exit(23);
		if (ve_kmod_set_config(u, 50, 0) != -EPERM)
			_exit(24);
		_exit(0);
	}
	waitpid(pid, &status, 0);
	ok(WIFEXITED(status) && WEXITSTATUS(status) == 0,
	   "an unprivileged sender gets EPERM for info, watch and config (child status %d)",
	   WIFEXITED(status) ? WEXITSTATUS(status) : -1);
	ok(nr_threads(k) == 0, "the module still answers");
	ve_kmod_close(k);
}

/* ---- random messages ------------------------------------------------------------------ */

static void test_fuzz(unsigned int n)
{
	struct ve_kmod *k = open_kmod();
	unsigned int accepted = 0, refused = 0, i;
	unsigned char buf[256];
	pid_t self = gettid_();

	srand(20261124);
	for (i = 0; i < n; i++) {
		size_t len = (size_t)(rand() % 96);
		uint8_t cmd = (uint8_t)(rand() % 10);
		int r;

		for (size_t j = 0; j < len; j++)
			buf[j] = (unsigned char)rand();
		/* often a plausible attribute header, so validation goes deeper */
		if (len >= 8 && rand() % 2) {
			uint16_t alen = (uint16_t)(4 + rand() % (len - 3));
			uint16_t type = (uint16_t)(rand() % (VE_A_MAX + 3));

			memcpy(buf, &alen, 2);
			memcpy(buf + 2, &type, 2);
			if (type == VE_A_TID && alen == 8 && rand() % 2)
				memcpy(buf + 4, &self, 4);
		}
		r = ve_kmod_send_raw(k, cmd, (uint8_t)(rand() % 3), buf, len & ~3u);
		if (r == 0)
			accepted++;
		else
			refused++;
		if (r == 0 && cmd == VE_CMD_SET_CONFIG)
			ve_kmod_set_config(k, 100, 128);  /* keep the period sane */
	}
	diag("%u random messages: %u accepted, %u refused", n, accepted, refused);
	{
		struct ve_kmod_info info;

		ok(ve_kmod_info(k, &info) == 0 && info.version == VE_GENL_VERSION,
		   "after them the module still answers GET_INFO");
	}
	ok(refused > n / 2, "most were refused");
	ve_kmod_set_config(k, 100, 128);
	ve_kmod_close(k);
	k = open_kmod();
	ok(nr_threads(k) == 0, "closing the socket dropped whatever the fuzzer watched");
	ve_kmod_close(k);
}

/* ---- a watching process dies ---------------------------------------------------------- */

static void test_owner(void)
{
	struct ve_kmod *k = open_kmod();
	struct worker w[5];
	struct stat st;
	int ready[2], i;
	char b;
	pid_t pid;
	uint64_t t0;

	for (i = 0; i < 5; i++)
		worker_start(&w[i], LOAD_LIGHT, 0);
	if (pipe(ready) < 0 || stat(CG_ROOT, &st) < 0)
		bail("pipe/stat");
	pid = fork();
	if (pid == 0) {
		struct ve_kmod *c;

		if (ve_kmod_open(&c) < 0)
			_exit(1);
		for (i = 0; i < 5; i++)
			if (ve_kmod_watch_thread(c, w[i].tid, 9, NULL, 0) < 0)
				_exit(2);
		if (ve_kmod_watch_cgroup(c, (uint64_t)st.st_ino, 9) < 0)
			_exit(3);
		if (ve_kmod_subscribe(c) < 0)
			_exit(4);
		if (write(ready[1], "r", 1) != 1)
			_exit(5);
		for (;;)
			pause();
	}
	ok(read(ready[0], &b, 1) == 1, "a second client watches 5 threads and a cgroup");
	ok(nr_threads(k) == 5, "5 watches in the module");
	sleep_ms(300);
	kill(pid, SIGKILL);
	waitpid(pid, NULL, 0);
	t0 = now_ns();
	while (nr_threads(k) != 0 && now_ns() - t0 < 2000000000u)
		sleep_ms(10);
	{
		struct ve_kmod_info info;

		ve_kmod_info(k, &info);
		ok(info.nr_threads == 0 && info.nr_cgroups == 0,
		   "killed: its watches are gone (%u threads, %u cgroups left)", info.nr_threads,
		   info.nr_cgroups);
	}
	for (i = 0; i < 5; i++)
		worker_join(&w[i]);
	ve_kmod_close(k);
}

/* ---- stress ------------------------------------------------------------------------------ */

static void test_stress(void)
{
	struct ve_kmod *k = open_kmod();
	struct worker w[40];
	struct seen c = { 0 };
	unsigned int watched = 0, unwatched = 0, gone = 0, round, i;
	_Atomic int go;

	if (ve_kmod_set_config(k, 10, 8) < 0)
		bail("set_config: %s", ve_kmod_error(k));
	if (ve_kmod_subscribe(k) < 0)
		bail("subscribe");
	srand(7);
	for (round = 0; round < 10; round++) {
		atomic_store(&go, 0);
		for (i = 0; i < 40; i++) {
			worker_start_gated(&w[i], LOAD_SHORT, (unsigned int)(rand() % 40), &go);
		}
		for (i = 0; i < 40; i++) {
			int r = ve_kmod_watch_thread(k, w[i].tid, i, NULL, 0);

			if (r == 0)
				watched++;
			else if (r == -ESRCH)
				gone++;
			else
				bail("watch: %d %s", r, ve_kmod_error(k));
		}
		atomic_store(&go, 1);
		collect(k, &c, 15);
		for (i = 0; i < 40; i += 3)
			if (ve_kmod_unwatch_thread(k, w[i].tid) == 0)
				unwatched++;
		for (i = 0; i < 40; i++)
			pthread_join(w[i].th, NULL);
		collect(k, &c, 5);
	}
	collect(k, &c, 100);
	diag("%u watched (%u had exited before the watch), %u unwatched while running, %" PRIu64
	     " periods", watched, gone, unwatched, c.periods);
	ok(watched == 400, "400 short-lived threads: %u watched while alive", watched);
	ok(nr_threads(k) == 0, "every exited thread's watch ended by itself");
	ve_kmod_set_config(k, 100, 128);
	ve_kmod_close(k);
}

/* ---- the daemon's sampler against the perf fallback --------------------------------------- */

static struct ve_sampler *open_sampler_events(enum ve_sampler_kind kind, const char *const *events,
					      unsigned int n)
{
	struct ve_sampler *s;
	char why[256];
	static int root_fd = -1;
	int r;

	if (root_fd < 0)
		root_fd = open("/", O_DIRECTORY | O_CLOEXEC);
	r = ve_sampler_open(kind, events, n, root_fd, &s, why, sizeof(why));

	if (r < 0)
		bail("sampler %d: %s", kind, why);
	diag("sampler: %s", ve_sampler_mode(s));
	return s;
}

static struct ve_sampler *open_sampler(enum ve_sampler_kind kind)
{
	const char *events[] = { "instructions" };

	return open_sampler_events(kind, events, 1);
}

/*
 * Samplers hand out deltas (sampler.h): add the next one to @total, the
 * thread's counts since it was watched.  Returns the read's result.
 */
static int acc_read(struct ve_sampler *s, struct ve_watch *w, uint64_t *total)
{
	uint64_t d[VE_MAX_EVENTS] = { 0 };
	int r = s->ops->read(s, w, d);

	if (r == 0)
		for (unsigned int i = 0; i < s->n_cols; i++)
			total[i] += d[i];
	return r;
}

/*
 * The kmod sampler against the perf sampler on the same threads.  Two
 * clocks are involved: the module's run time is the scheduler's
 * sum_exec_runtime (column 0), perf's column 0 is the task clock.  They are
 * not the same quantity: at every wake-up the scheduler charges the thread
 * for part of the switch that the task clock does not count, and under TCG
 * that is tens of µs, 5 % of a thread that runs 1 ms every 10 ms.  So each
 * is compared with its like: the module's run time with the thread's
 * schedstat (the same field), the module's task clock (an event it counts,
 * column 1) with perf's.
 */
static void test_sampler(void)
{
	const char *events[] = { "instructions", "PERF_COUNT_SW_TASK_CLOCK" };
	struct ve_sampler *km = open_sampler_events(VE_SAMPLER_KMOD, events, 2);
	struct ve_sampler *pf = open_sampler(VE_SAMPLER_PERF);
	struct ve_kmod *k = open_kmod();
	const char *name[3] = { "busy", "half", "light" };
	struct worker w[3];
	struct ve_watch *wk[3], *wp[3];
	uint64_t k0[3][VE_MAX_EVENTS] = { { 0 } }, p0[3][VE_MAX_EVENTS] = { { 0 } };
	uint64_t k1[3][VE_MAX_EVENTS], p1[3][VE_MAX_EVENTS];
	uint64_t s0[3], s1[3];
	double kt = 0, pt = 0;
	int i;

	ok(strncmp(ve_sampler_mode(km), "kmod", 4) == 0, "the kmod sampler is active");
	ok(km->n_cols == 2 && !strcmp(km->col_name[1], "PERF_COUNT_SW_TASK_CLOCK"),
	   "the module counts the task clock for it (%u columns, column 1 '%s')", km->n_cols,
	   km->n_cols > 1 ? km->col_name[1] : "");
	if (km->n_cols != 2)
		bail("no task clock from the module to compare with perf's");
	ve_kmod_set_config(k, 10, 0);   /* deliveries lag by at most 10 ms */
	worker_start(&w[0], LOAD_BUSY, 0);
	worker_start(&w[1], LOAD_HALF, 0);
	worker_start(&w[2], LOAD_LIGHT, 0);
	for (i = 0; i < 3; i++) {
		if (km->ops->watch(km, getpid(), w[i].tid, &wk[i]) < 0 ||
		    pf->ops->watch(pf, getpid(), w[i].tid, &wp[i]) < 0)
			bail("watch");
	}
	sleep_ms(50);
	/*
	 * The module's counts are as of its last period's end, perf's and
	 * schedstat's as of the read.  So both readings are taken with the
	 * threads parked and a period ended since: all three then count up to
	 * the same moment of each thread's run time.
	 */
	workers_park(w, 3);
	wait_periods(k, 2);
	ve_sampler_begin_period(km, now_ns());   /* as the daemon does before a period's reads */
	for (i = 0; i < 3; i++) {
		acc_read(km, wk[i], k0[i]);
		acc_read(pf, wp[i], p0[i]);
		s0[i] = schedstat_ns(w[i].tid);
	}
	memcpy(k1, k0, sizeof(k1));
	memcpy(p1, p0, sizeof(p1));
	workers_unpark(w, 3);
	for (int t = 0; t < 30; t++) {         /* 3 s, reading like the daemon does */
		sleep_ms(100);
		ve_sampler_begin_period(km, now_ns());
		for (i = 0; i < 3; i++) {
			acc_read(km, wk[i], k1[i]);
			acc_read(pf, wp[i], p1[i]);
		}
	}
	workers_park(w, 3);
	wait_periods(k, 2);
	ve_sampler_begin_period(km, now_ns());
	for (i = 0; i < 3; i++) {
		acc_read(km, wk[i], k1[i]);
		acc_read(pf, wp[i], p1[i]);
		s1[i] = schedstat_ns(w[i].tid);
		kt += (double)(k1[i][1] - k0[i][1]);
		pt += (double)(p1[i][0] - p0[i][0]);
	}
	for (i = 0; i < 3; i++) {
		uint64_t krun = k1[i][0] - k0[i][0], srun = s1[i] - s0[i];
		double kd = (double)(k1[i][1] - k0[i][1]), pd = (double)(p1[i][0] - p0[i][0]);
		double ks = kd / kt, ps = pd / pt;

		diag("%s: run time %.3f ms from the module, %.3f ms from schedstat; task clock "
		     "%.3f ms from the module (share %.4f), %.3f ms from perf (share %.4f)", name[i],
		     (double)krun / 1e6, (double)srun / 1e6, kd / 1e6, ks, pd / 1e6, ps);
		ok(krun == srun,
		   "%s thread: run time from the module is its sum_exec_runtime to the ns "
		   "(%" PRIu64 " vs %" PRIu64 " ns)", name[i], krun, srun);
		ok(kd > 0 && pd > 0 && kd / pd > 0.95 && kd / pd < 1.05,
		   "%s thread: task clock from the module within 5 %% of perf's (%+.2f %%)", name[i],
		   100 * (kd / pd - 1));
		ok(ks - ps < 0.05 * ps + 0.002 && ps - ks < 0.05 * ps + 0.002,
		   "%s thread: its share of the task clock within 5 %% of perf's (%+.2f %%)", name[i],
		   100 * (ks / ps - 1));
	}
	{
		/*
		 * The period's bounds are the module's own: a period starts where
		 * the last one ended and ends at the TIME_NS of the last module
		 * period received, which is in the past (the same monotonic clock).
		 */
		uint64_t first_end, t;

		ve_sampler_begin_period(km, now_ns());
		first_end = km->end_ns;
		sleep_ms(200);
		ve_sampler_begin_period(km, now_ns());
		t = now_ns();       /* after: a period may end while the call drains */
		ok(km->start_ns == first_end && km->end_ns > first_end && km->end_ns <= t,
		   "a period of the kmod sampler runs from the last one's end to the module's last "
		   "period end (%.1f ms long, ended %.1f ms before the call)",
		   (double)(km->end_ns - km->start_ns) / 1e6, (double)(t - km->end_ns) / 1e6);
		ok(km->period_ns > 0 && km->period_ns < 1000000000u,
		   "and it knows the module's period (%.1f ms)", (double)km->period_ns / 1e6);
		ve_sampler_begin_period(pf, t);
		ve_sampler_begin_period(pf, t + 1000);
		ok(pf->start_ns == t && pf->end_ns == t + 1000 && pf->period_ns == 0,
		   "perf's periods are as of each call");
	}
	for (i = 0; i < 3; i++) {
		km->ops->unwatch(km, wk[i]);
		pf->ops->unwatch(pf, wp[i]);
		worker_join(&w[i]);
	}
	ve_kmod_set_config(k, 100, 0);
	ve_kmod_close(k);
	ve_sampler_free(km);
	ve_sampler_free(pf);
}

/* The module is unloaded under the kmod sampler. */
static void test_fallback(void)
{
	struct ve_sampler *km = open_sampler(VE_SAMPLER_KMOD), *pf = open_sampler(VE_SAMPLER_PERF);
	struct ve_kmod *k = open_kmod();
	struct worker w;
	struct ve_watch *wk, *wp;
	uint64_t k0[VE_MAX_EVENTS] = { 0 }, p0[VE_MAX_EVENTS] = { 0 }, k1[VE_MAX_EVENTS], p1[VE_MAX_EVENTS];
	double kd, pd;
	uint64_t t0, t1;
	int r = 0;

	worker_start(&w, LOAD_BUSY, 0);
	if (km->ops->watch(km, getpid(), w.tid, &wk) < 0 || pf->ops->watch(pf, getpid(), w.tid, &wp) < 0)
		bail("watch");
	sleep_ms(150);
	/* as in test_sampler: the first readings parked, after a period's end */
	workers_park(&w, 1);
	wait_periods(k, 2);
	ve_sampler_begin_period(km, now_ns());   /* as the daemon does before a period's reads */
	acc_read(km, wk, k0);
	acc_read(pf, wp, p0);
	memcpy(k1, k0, sizeof(k1));
	memcpy(p1, p0, sizeof(p1));
	ve_kmod_close(k);
	t0 = now_ns();
	workers_unpark(&w, 1);
	for (int t = 0; t < 35; t++) {
		sleep_ms(100);
		if (t == 10)
			r = system("rmmod virtenergy");
		ve_sampler_begin_period(km, now_ns());
		if (acc_read(km, wk, k1) < 0)
			bail("kmod sampler read failed after the unload");
		acc_read(pf, wp, p1);
	}
	ok(r == 0, "the module was unloaded while the sampler watched a thread");
	ok(strstr(ve_sampler_mode(km), "fallback") != NULL, "the sampler says it fell back: %s",
	   ve_sampler_mode(km));
	workers_park(&w, 1);    /* perf from here on: parked, both read the same end */
	t1 = now_ns();
	ve_sampler_begin_period(km, t1);
	acc_read(km, wk, k1);
	acc_read(pf, wp, p1);
	kd = (double)(k1[0] - k0[0]);
	pd = (double)(p1[0] - p0[0]);
	diag("over %.1f s with an unload after 1.1 s: kmod sampler %.1f ms, perf %.1f ms",
	     (double)(t1 - t0) / 1e9, kd / 1e6, pd / 1e6);
	ok(kd / pd > 0.95 && kd / pd < 1.05,
	   "run time across the unload within 5 %% of perf's (%+.2f %%): nothing lost",
	   100 * (kd / pd - 1));
	km->ops->unwatch(km, wk);
	pf->ops->unwatch(pf, wp);
	worker_join(&w);
	ve_sampler_free(km);
	ve_sampler_free(pf);
}

static void hold(void)
{
	struct ve_kmod *k = open_kmod();
	struct worker w[8];
	struct stat st;

	if (stat(CG_ROOT, &st) < 0)
		bail("stat");
	for (int i = 0; i < 8; i++) {
		worker_start(&w[i], LOAD_LIGHT, 0);
		if (ve_kmod_watch_thread(k, w[i].tid, (uint64_t)i, NULL, 0) < 0)
			bail("watch: %s", ve_kmod_error(k));
	}
	if (ve_kmod_watch_cgroup(k, (uint64_t)st.st_ino, 1) < 0 || ve_kmod_subscribe(k) < 0)
		bail("cgroup watch or subscribe: %s", ve_kmod_error(k));
	printf("holding\n");
	fflush(stdout);
	for (;;)
		pause();
}

/* ---- benchmark ------------------------------------------------------------------------------ */

static void bench(unsigned int n)
{
	struct ve_kmod *k = open_kmod();
	struct ve_sampler *pf = open_sampler(VE_SAMPLER_PERF);
	struct ve_kmod_info i0, i1;
	struct worker *w = calloc(n, sizeof(*w));
	struct ve_watch **wp = calloc(n, sizeof(*wp));
	uint64_t c[VE_MAX_EVENTS], t0, perf_ns = 0, perf_reads = 0;
	struct seen s = { 0 };
	unsigned int i;

	for (i = 0; i < n; i++)
		worker_start(&w[i], LOAD_ASLEEP, 0);
	for (i = 0; i < n; i++)
		if (ve_kmod_watch_thread(k, w[i].tid, i, NULL, 0) < 0 ||
		    pf->ops->watch(pf, getpid(), w[i].tid, &wp[i]) < 0)
			bail("watch %u: %s", i, ve_kmod_error(k));
	ve_kmod_subscribe(k);
	collect(k, &s, 250);
	ve_kmod_info(k, &i0);
	receive_cpu_ns = 0;
	collect(k, &s, 2000);
	ve_kmod_info(k, &i1);
	for (int rep = 0; rep < 20; rep++) {
		t0 = now_ns();
		for (i = 0; i < n; i++)
			pf->ops->read(pf, wp[i], c);
		perf_ns += now_ns() - t0;
		perf_reads += n;
	}
	{
		double entries = (double)(i1.entries - i0.entries);
		double kns = (double)(i1.work_ns - i0.work_ns) / entries;
		double rns = (double)receive_cpu_ns / entries;
		double pns = (double)perf_ns / (double)perf_reads;
		double bytes = (double)(i1.bytes - i0.bytes) / entries;

		/* receive: the client's CPU in ve_kmod_receive() (the recvmsg and the parse) */
		printf("threads %5u  module %6.0f + receive %6.0f ns/thread-sample  perf %6.0f ns  "
		       "ratio %5.1fx (module alone %5.1fx)  netlink %5.1f B/sample\n", n, kns, rns,
		       pns, pns / (kns + rns), pns / kns, bytes);
	}
	for (i = 0; i < n; i++) {
		pf->ops->unwatch(pf, wp[i]);
		ve_kmod_unwatch_thread(k, w[i].tid);
		worker_join(&w[i]);
	}
	free(w);
	free(wp);
	ve_sampler_free(pf);
	ve_kmod_close(k);
}

int main(int argc, char **argv)
{
	const char *what = argc > 1 ? argv[1] : "";

	setvbuf(stdout, NULL, _IOLBF, 0);
	if (!strcmp(what, "threads"))
		test_threads();
	else if (!strcmp(what, "blkio"))
		test_blkio();
	else if (!strcmp(what, "errors"))
		test_errors(argc > 2 ? (unsigned int)atoi(argv[2]) : 16);
	else if (!strcmp(what, "fuzz"))
		test_fuzz(argc > 2 ? (unsigned int)atoi(argv[2]) : 10000);
	else if (!strcmp(what, "owner"))
		test_owner();
	else if (!strcmp(what, "stress"))
		test_stress();
	else if (!strcmp(what, "sampler"))
		test_sampler();
	else if (!strcmp(what, "fallback"))
		test_fallback();
	else if (!strcmp(what, "ioload") && argc > 2)
		io_load(argv[2]);
	else if (!strcmp(what, "hold"))
		hold();
	else if (!strcmp(what, "bench")) {
		bench(argc > 2 ? (unsigned int)atoi(argv[2]) : 100);
		return 0;
	} else if (!strcmp(what, "work-ns")) {
		/* the module's own time in its period work since load (bench scale-vm) */
		struct ve_kmod *k = open_kmod();
		struct ve_kmod_info info;

		if (ve_kmod_info(k, &info) < 0)
			bail("GET_INFO: %s", ve_kmod_error(k));
		printf("%llu\n", (unsigned long long)info.work_ns);
		ve_kmod_close(k);
		return 0;
	} else {
		fprintf(stderr, "usage: kmod_test threads|blkio|errors [MAX]|fuzz [N]|owner|stress|"
				"sampler|fallback|hold|ioload CGROUP|bench [N]|work-ns\n");
		return 2;
	}
	printf("1..%d\n", tap_n);
	return tap_failed ? 1 : 0;
}
