// SPDX-License-Identifier: GPL-2.0-or-later
/*
 * sampler.c: the perf and schedstat samplers (see sampler.h).
 *
 * perf: each watched thread gets one event group, led by the software
 * task-clock event (its run time in ns, counted by the scheduler, so it
 * exists on every kernel with perf) with the hardware events as members.
 * PERF_FORMAT_GROUP returns the whole group in one read(2), which is the
 * per-thread cost of a period.  Hardware counters may be multiplexed when
 * more groups want the PMU than it has counters; the group then reports
 * time_running < time_enabled and each period's hardware counts are scaled
 * by that period's enabled/running (tools/perf/design.txt).
 *
 * Which hardware events work is found out once, at open, by opening them
 * on the daemon's own thread: a VM guest without a virtual PMU answers
 * ENOENT or EOPNOTSUPP, a kernel that knows the event but not this PMU
 * ENODEV or EINVAL.  Those events are dropped and the mode says so.
 */
#include <errno.h>
#include <linux/perf_event.h>
#include <perfmon/pfmlib_perf_event.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/syscall.h>
#include <unistd.h>

#include "procfs.h"
#include "sampler.h"

struct ve_watch {
	pid_t pid, tid;
	int fd[VE_MAX_EVENTS];    /* perf: fd[0] leads the group; -1 when not open */
	uint64_t prev[VE_MAX_EVENTS];   /* the cumulative counts at the previous read */
	uint64_t prev_enabled, prev_running;   /* perf: the group's times then */
	bool live;                /* schedstat: fd[0] is on the kernel's procfs */
};

struct perf_sampler {
	struct ve_sampler base;
	struct perf_event_attr attr[VE_MAX_EVENTS];   /* [0] is task-clock */
};

static void why(char *buf, size_t len, const char *fmt, ...) __attribute__((format(printf, 3, 4)));

static void why(char *buf, size_t len, const char *fmt, ...)
{
	va_list ap;

	if (!buf || !len)
		return;
	va_start(ap, fmt);
	vsnprintf(buf, len, fmt, ap);
	va_end(ap);
}

/* A watch with no fd open yet; NULL when out of memory. */
static struct ve_watch *new_watch(pid_t pid, pid_t tid)
{
	struct ve_watch *w = malloc(sizeof(*w));

	if (!w)
		return NULL;
	w->pid = pid;
	w->tid = tid;
	for (unsigned int i = 0; i < VE_MAX_EVENTS; i++) {
		w->fd[i] = -1;
		w->prev[i] = 0;
	}
	w->prev_enabled = w->prev_running = 0;
	w->live = false;
	return w;
}

/* Cumulative @cur into deltas since the previous read; a counter that went back counts 0. */
static void take_delta(struct ve_watch *w, unsigned int n, const uint64_t *cur, uint64_t *ret_delta)
{
	for (unsigned int i = 0; i < n; i++) {
		ret_delta[i] = cur[i] >= w->prev[i] ? cur[i] - w->prev[i] : 0;
		w->prev[i] = cur[i];
	}
}

static int perf_open(struct perf_event_attr *attr, pid_t tid, int group_fd)
{
	long fd = syscall(SYS_perf_event_open, attr, tid, -1, group_fd, PERF_FLAG_FD_CLOEXEC);

	return fd < 0 ? -errno : (int)fd;
}

static void close_watch(struct ve_watch *w, unsigned int n)
{
	for (unsigned int i = 0; i < n; i++)
		if (w->fd[i] >= 0)
			close(w->fd[i]);
	free(w);
}

static int perf_watch(struct ve_sampler *s, pid_t pid, pid_t tid, struct ve_watch **ret_w)
{
	struct perf_sampler *ps = (struct perf_sampler *)s;
	struct ve_watch *w = new_watch(pid, tid);

	if (!w)
		return -ENOMEM;
	for (unsigned int i = 0; i < s->n_cols; i++) {
		int fd = perf_open(&ps->attr[i], tid, i ? w->fd[0] : -1);

		if (fd < 0) {
			close_watch(w, i);
			return fd;
		}
		w->fd[i] = fd;
	}
	*ret_w = w;
	return 0;
}

static int perf_read(struct ve_sampler *s, struct ve_watch *w, uint64_t *ret_delta)
{
	/* PERF_FORMAT_GROUP | TOTAL_TIME_ENABLED | TOTAL_TIME_RUNNING layout */
	uint64_t buf[3 + VE_MAX_EVENTS], cur[VE_MAX_EVENTS];
	ssize_t n = read(w->fd[0], buf, sizeof(buf));

	if (n < 0)
		return -errno;
	if ((size_t)n < 3 * sizeof(uint64_t) || buf[0] != s->n_cols ||
	    (size_t)n < (3 + s->n_cols) * sizeof(uint64_t))
		return -EIO;
	for (unsigned int i = 0; i < s->n_cols; i++)
		cur[i] = buf[3 + i];
	take_delta(w, s->n_cols, cur, ret_delta);
	/*
	 * Multiplexed hardware counters: scale each period's raw count by that
	 * period's own enabled / running time, as the module does (kmod/
	 * ve_scale.h), not the totals by the life-long ratio, which moves both
	 * ways and made deltas drop counts, then overcount.  The task clock
	 * (column 0) is a software event, always running.
	 */
	if (buf[1] >= w->prev_enabled && buf[2] >= w->prev_running) {
		uint64_t enabled = buf[1] - w->prev_enabled, running = buf[2] - w->prev_running;

		for (unsigned int i = 1; i < s->n_cols && running && running < enabled; i++) {
			__extension__ unsigned __int128 v = (unsigned __int128)ret_delta[i] * enabled / running;

			ret_delta[i] = v > UINT64_MAX ? UINT64_MAX : (uint64_t)v;
		}
	}
	w->prev_enabled = buf[1];
	w->prev_running = buf[2];
	return 0;
}

static void perf_unwatch(struct ve_sampler *s, struct ve_watch *w)
{
	if (w)
		close_watch(w, s->n_cols);
}

static void sampler_free(struct ve_sampler *s)
{
	free(s);
}

static const struct ve_sampler_ops perf_ops = {
	.name = "perf",
	.watch = perf_watch,
	.read = perf_read,
	.unwatch = perf_unwatch,
	.free = sampler_free,
};

/*
 * Each thread's schedstat is opened once, when it is first watched, and
 * re-read with pread(2): 5,000 threads are 5,000 fds (the daemon raises
 * RLIMIT_NOFILE as for perf), and a period is one system call per thread
 * instead of an open, a path walk, a read and a close.
 */
static int sched_watch(struct ve_sampler *s, pid_t pid, pid_t tid, struct ve_watch **ret_w)
{
	struct ve_watch *w;
	uint64_t run_ns;
	bool live = false;
	int fd = ve_proc_task_open(s->root_fd, pid, tid, "schedstat", &live);
	int r;

	if (fd < 0)
		return fd;
	r = ve_proc_fd_schedstat(fd, live, &run_ns);
	if (r < 0) {
		close(fd);
		return r;
	}
	w = new_watch(pid, tid);
	if (!w) {
		close(fd);
		return -ENOMEM;
	}
	w->fd[0] = fd;
	w->live = live;
	w->prev[0] = run_ns;     /* count from now */
	*ret_w = w;
	return 0;
}

static int sched_read(struct ve_sampler *s, struct ve_watch *w, uint64_t *ret_delta)
{
	uint64_t cur;
	int r = ve_proc_fd_schedstat(w->fd[0], w->live, &cur);

	(void)s;
	if (r < 0)
		return r;
	take_delta(w, 1, &cur, ret_delta);
	return 0;
}

static void sched_unwatch(struct ve_sampler *s, struct ve_watch *w)
{
	(void)s;
	close_watch(w, 1);
}

static const struct ve_sampler_ops sched_ops = {
	.name = "schedstat",
	.watch = sched_watch,
	.read = sched_read,
	.unwatch = sched_unwatch,
	.free = sampler_free,
};

static void attr_common(struct perf_event_attr *a, bool leader)
{
	a->size = sizeof(*a);
	a->disabled = 0;
	a->inherit = 0;
	if (leader)
		a->read_format = PERF_FORMAT_GROUP | PERF_FORMAT_TOTAL_TIME_ENABLED |
				 PERF_FORMAT_TOTAL_TIME_RUNNING;
}

/* Can this group of attributes be opened on our own thread? 0 or -errno. */
static int probe(struct perf_event_attr *attr, unsigned int n)
{
	int fd[VE_MAX_EVENTS];
	int r = 0;
	unsigned int i;

	for (i = 0; i < n; i++) {
		fd[i] = perf_open(&attr[i], 0, i ? fd[0] : -1);
		if (fd[i] < 0) {
			r = fd[i];
			break;
		}
	}
	while (i-- > 0)
		close(fd[i]);
	return r;
}

static int open_perf(const char *const *events, unsigned int n, int root_fd,
		     struct ve_sampler **ret, char *ret_why, size_t why_len)
{
	struct perf_sampler *ps = calloc(1, sizeof(*ps));
	char dropped[128] = "";
	int r;

	if (!ps)
		return -ENOMEM;
	ps->base.ops = &perf_ops;
	ps->base.root_fd = root_fd;
	ps->attr[0].type = PERF_TYPE_SOFTWARE;
	ps->attr[0].config = PERF_COUNT_SW_TASK_CLOCK;
	attr_common(&ps->attr[0], true);
	snprintf(ps->base.col_name[0], VE_EVENT_NAME_MAX, "task-clock");
	ps->base.n_cols = 1;
	r = probe(ps->attr, 1);
	if (r < 0) {
		why(ret_why, why_len, "perf_event_open(task-clock) failed: %s", strerror(-r));
		free(ps);
		return -EOPNOTSUPP;
	}

	r = pfm_initialize();
	if (r != PFM_SUCCESS && n) {
		why(ret_why, why_len, "libpfm4 cannot start: %s", pfm_strerror(r));
		free(ps);
		return -EINVAL;
	}
	for (unsigned int i = 0; i < n; i++) {
		struct perf_event_attr *a = &ps->attr[ps->base.n_cols];
		pfm_perf_encode_arg_t arg = { .attr = a, .size = sizeof(arg) };

		memset(a, 0, sizeof(*a));
		r = pfm_get_os_event_encoding(events[i], PFM_PLM0 | PFM_PLM3, PFM_OS_PERF_EVENT, &arg);
		if (r != PFM_SUCCESS) {
			why(ret_why, why_len, "event '%s': %s", events[i], pfm_strerror(r));
			free(ps);
			return -EINVAL;
		}
		attr_common(a, false);
		/* the machine decides whether it can count it */
		ps->base.n_cols++;
		r = probe(ps->attr, ps->base.n_cols);
		if (r < 0) {
			ps->base.n_cols--;
			snprintf(dropped + strlen(dropped), sizeof(dropped) - strlen(dropped), "%s%s",
				 dropped[0] ? "," : "", events[i]);
			continue;
		}
		snprintf(ps->base.col_name[ps->base.n_cols - 1], VE_EVENT_NAME_MAX, "%s", events[i]);
	}
	if (ps->base.n_cols > 1) {
		char names[160] = "";

		for (unsigned int i = 1; i < ps->base.n_cols; i++)
			snprintf(names + strlen(names), sizeof(names) - strlen(names), "%s%s",
				 i > 1 ? "," : "", ps->base.col_name[i]);
		snprintf(ps->base.mode, sizeof(ps->base.mode), "perf: task-clock + %s%s%s%s", names,
			 dropped[0] ? " (not counted here: " : "", dropped, dropped[0] ? ")" : "");
	} else {
		ps->base.ops = &perf_ops;
		snprintf(ps->base.mode, sizeof(ps->base.mode),
			 "perf-time: task-clock only%s%s%s", dropped[0] ? ", no hardware PMU for " : "",
			 dropped, dropped[0] ? "" : " (no hardware events configured)");
	}
	*ret = &ps->base;
	return 0;
}

int ve_sampler_open(enum ve_sampler_kind kind, const char *const *events, unsigned int n,
		    int root_fd, struct ve_sampler **ret, char *ret_why, size_t why_len)
{
	struct ve_sampler *s;
	char perf_why[128] = "", kmod_why[128] = "";
	int r;

	if (n > VE_MAX_EVENTS - 1) {
		why(ret_why, why_len, "at most %d events, not %u", VE_MAX_EVENTS - 1, n);
		return -EINVAL;
	}
	if (kind == VE_SAMPLER_KMOD || kind == VE_SAMPLER_AUTO) {
		r = ve_sampler_open_kmod(events, n, root_fd, ret, kmod_why, sizeof(kmod_why));
		if (r == 0 || kind == VE_SAMPLER_KMOD || r == -EINVAL) {
			if (r < 0)
				why(ret_why, why_len, "%s", kmod_why);
			return r;
		}
	}
	if (kind != VE_SAMPLER_SCHEDSTAT) {
		r = open_perf(events, n, root_fd, ret, perf_why, sizeof(perf_why));
		if (r == 0 || r != -EOPNOTSUPP || kind == VE_SAMPLER_PERF) {
			if (r < 0)
				why(ret_why, why_len, "%s", perf_why);
			return r;
		}
	}
	s = calloc(1, sizeof(*s));
	if (!s)
		return -ENOMEM;
	s->ops = &sched_ops;
	s->root_fd = root_fd;
	s->n_cols = 1;
	snprintf(s->col_name[0], VE_EVENT_NAME_MAX, "task-clock");
	snprintf(s->mode, sizeof(s->mode), "schedstat: run time from /proc%s%s",
		 perf_why[0] ? ", because " : "", perf_why);
	*ret = s;
	return 0;
}

void ve_sampler_begin_period(struct ve_sampler *s, uint64_t now_ns)
{
	if (s->ops->begin) {
		s->ops->begin(s, now_ns);
		return;
	}
	s->start_ns = s->end_ns;
	s->end_ns = now_ns;
}

void ve_sampler_free(struct ve_sampler *s)
{
	if (s)
		s->ops->free(s);
}
