// SPDX-License-Identifier: GPL-2.0-or-later
/*
 * sampler_kmod.c: the sampler that reads virtenergy.ko (see sampler.h).
 *
 * The module multicasts each watched thread's deltas every period; this
 * sampler drains the socket when a period begins (and when read, at most
 * once per 2 ms, so a period's reads cost one drain, not a system call per
 * thread) and keeps each watch's deltas until they are read: the sampler
 * interface hands out deltas too.  A period covers the module's periods
 * whose ends arrived since the previous one, from the module's TIME_NS.  Events are encoded with libpfm4 and probed once on
 * our own thread: those the module had to replace by the task clock are
 * dropped, and the mode says so.
 *
 * If the module goes away (unloaded, or its family is gone) while threads
 * are watched, the sampler opens the perf sampler, watches the same
 * threads there and continues each watch's counts from where the module
 * left them: the daemon's accounting goes on, and the mode says what
 * happened.  Run time between the module's last period and the switch is
 * not lost: the module's run time is the scheduler's sum_exec_runtime,
 * which /proc/PID/task/TID/schedstat also shows, read once at watch time
 * and once at the switch.  (Hardware event counts of that gap are lost.)
 */
#include <errno.h>
#include <linux/perf_event.h>
#include <perfmon/pfmlib_perf_event.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/syscall.h>
#include <time.h>
#include <unistd.h>

#include "kmodnl.h"
#include "procfs.h"
#include "sampler.h"

/*
 * Watches by tid, cgroups by id: chains of about one at 16,000 threads (1024
 * buckets made chains of 20 at 4,000 VMs, the most of the receive's time).
 */
#define BUCKETS 16384

struct kmod_watch {
	struct kmod_watch *next;     /* in its bucket */
	pid_t pid, tid;
	uint64_t tag;                /* the module's account tag: index << 32 | serial (by_tag) */
	bool exited;
	bool has_sched0;
	uint64_t sched0;             /* schedstat run time when the watch began */
	uint64_t run_total;          /* the module's run time of it so far */
	uint64_t pending[VE_MAX_EVENTS];    /* deltas not read yet */
	struct ve_watch *fb;         /* after a fallback: the perf watch */
};

/* A watched cgroup's block I/O not read yet, per device. */
struct kmod_cgwatch {
	struct kmod_cgwatch *next;   /* in its bucket */
	uint64_t id;
	unsigned int n;
	struct ve_sampler_io pend[VE_SAMPLER_IO_DEVS];
};

struct kmod_sampler {
	struct ve_sampler base;
	struct ve_kmod *k;
	struct ve_kmod_event ev[VE_MAX_EVENTS - 1];
	unsigned int n_ev;
	char *events[VE_MAX_EVENTS - 1];    /* names, for the fallback */
	unsigned int n_names;
	struct kmod_watch *bucket[BUCKETS];
	unsigned int n_watches;
	/*
	 * Watches by the tag's index: a sample finds its watch with one load,
	 * not a hash chain's (the receive is most of kmod mode's cost).  The
	 * serial in the tag's low half tells a reused index's new watch from
	 * the last word of the one before it.
	 */
	struct kmod_watch **by_tag;
	uint32_t n_tags, cap_tags;
	uint32_t *free_tags, n_free;
	uint32_t serial;
	struct kmod_cgwatch *cg_bucket[BUCKETS];
	uint64_t last_drain_ns, last_period_ns;
	unsigned int reads;                 /* since the last look at the clock (read_drain()) */
	uint64_t module_end_ns;             /* TIME_NS of the last module period received */
	unsigned int lost;
	struct ve_sampler *fb;              /* the perf sampler, once the module is gone */
};

static uint64_t now_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
}

static struct kmod_watch **slot(struct kmod_sampler *ks, pid_t tid)
{
	struct kmod_watch **p = &ks->bucket[(unsigned int)tid % BUCKETS];

	while (*p && (*p)->tid != tid)
		p = &(*p)->next;
	return p;
}

static void on_thread(void *ud, uint64_t seq, const struct ve_kmod_thread_sample *s)
{
	struct kmod_sampler *ks = ud;
	uint64_t idx = s->account >> 32;
	struct kmod_watch *w = idx < ks->n_tags ? ks->by_tag[idx] : NULL;

	(void)seq;
	/*
	 * Unwatched since; or the index (or the tid) is another watch's now,
	 * and this is the last word of the one before it (the module sends a
	 * thread's final deltas as it exits): the whole tag says whose.
	 */
	if (!w || w->tag != s->account)
		return;
	w->run_total += s->run_ns;
	w->pending[VE_SAMPLER_COL_RUN_NS] += s->run_ns;
	for (unsigned int i = 0; i < s->n && i + 1 < ks->base.n_cols; i++)
		w->pending[i + 1] += s->v[i];
	if (s->flags & VE_TS_EXITED)
		w->exited = true;
}

static struct kmod_cgwatch **cg_slot(struct kmod_sampler *ks, uint64_t id)
{
	struct kmod_cgwatch **p = &ks->cg_bucket[id % BUCKETS];

	while (*p && (*p)->id != id)
		p = &(*p)->next;
	return p;
}

/* The module's device number (the kernel's new_encode_dev form) as major, minor. */
static void decode_dev(uint32_t dev, uint32_t *major, uint32_t *minor)
{
	*major = (dev & 0xfff00u) >> 8;
	*minor = (dev & 0xffu) | ((dev >> 12) & 0xfff00u);
}

static void on_cgroup(void *ud, uint64_t seq, const struct ve_kmod_cgroup_sample *s)
{
	struct kmod_sampler *ks = ud;
	struct kmod_cgwatch *w = *cg_slot(ks, s->id);
	struct ve_sampler_io *io = NULL;
	uint32_t major, minor;

	(void)seq;
	if (!w)
		return;          /* unwatched since */
	decode_dev(s->dev, &major, &minor);
	for (unsigned int i = 0; i < w->n && !io; i++)
		if (w->pend[i].major == major && w->pend[i].minor == minor)
			io = &w->pend[i];
	if (!io) {
		if (w->n == VE_SAMPLER_IO_DEVS)
			return;  /* the module reports fewer devices a cgroup than this */
		io = &w->pend[w->n++];
		*io = (struct ve_sampler_io){ .major = major, .minor = minor };
	}
	io->ops += s->ops[0] + s->ops[1];
	io->bytes += s->bytes[0] + s->bytes[1];
	io->ns += s->ns[0] + s->ns[1];
}

static void on_period(void *ud, uint64_t seq, uint64_t time_ns, uint64_t period_ns)
{
	struct kmod_sampler *ks = ud;

	(void)seq;
	ks->last_period_ns = now_ns();
	if (time_ns > ks->module_end_ns)
		ks->module_end_ns = time_ns;
	if (period_ns)
		ks->base.period_ns = period_ns;
}

static const struct ve_kmod_handlers handlers_template = {
	.thread = on_thread,
	.cgroup = on_cgroup,
	.period_end = on_period,
};

/* The module is gone: go on with perf from every watch's current counts. */
static void fall_back(struct kmod_sampler *ks)
{
	char why[256] = "";
	int r;

	/*
	 * Not VE_SAMPLER_AUTO: that tries the module first, and while the
	 * module's exit is still running its family can still be resolved,
	 * which gave a sampler on a module about to vanish (seen under
	 * systemd in tests/systemd).  perf, else /proc's schedstat.
	 */
	r = ve_sampler_open(VE_SAMPLER_PERF, (const char *const *)ks->events, ks->n_names,
			    ks->base.root_fd, &ks->fb, why, sizeof(why));
	if (r == -EOPNOTSUPP)
		r = ve_sampler_open(VE_SAMPLER_SCHEDSTAT, (const char *const *)ks->events, ks->n_names,
				    ks->base.root_fd, &ks->fb, why, sizeof(why));
	if (r < 0) {
		snprintf(ks->base.mode, sizeof(ks->base.mode),
			 "kmod: virtenergy.ko went away and no fallback opened (%s)", why);
		return;
	}
	for (unsigned int b = 0; b < BUCKETS; b++)
		for (struct kmod_watch *w = ks->bucket[b]; w; w = w->next) {
			uint64_t c[VE_MAX_EVENTS] = { 0 };

			if (w->exited)
				continue;
			/*
			 * The module's run time is the scheduler's sum_exec_runtime,
			 * which /proc shows too: take what happened between its last
			 * period and now from there, so nothing is lost.
			 */
			if (w->has_sched0 &&
			    ve_proc_task_schedstat(ks->base.root_fd, w->pid, w->tid, &c[0]) == 0 &&
			    c[0] - w->sched0 > w->run_total) {
				w->pending[VE_SAMPLER_COL_RUN_NS] += c[0] - w->sched0 - w->run_total;
				w->run_total = c[0] - w->sched0;
			}
			if (ks->fb->ops->watch(ks->fb, w->pid, w->tid, &w->fb) < 0)
				w->exited = true;       /* gone meanwhile: its last deltas are pending */
		}
	snprintf(ks->base.mode, sizeof(ks->base.mode), "%.400s (fallback: virtenergy.ko went away)",
		 ve_sampler_mode(ks->fb));
	ve_kmod_close(ks->k);
	ks->k = NULL;
	ks->base.counts_io = false;   /* cgroup statistics from here on */
}

/* Take in what the module sent; @force: even within 2 ms of the last drain. */
static void drain(struct kmod_sampler *ks, bool force)
{
	struct ve_kmod_handlers h = handlers_template;
	uint64_t now = now_ns();
	uint64_t quiet;

	if (!force && now - ks->last_drain_ns < 2000000u)
		return;
	ks->last_drain_ns = now;
	h.ud = ks;
	ve_kmod_receive(ks->k, &h, &ks->lost);
	/* no period has ended for 10 periods (at least 1 s): is the module there? */
	quiet = ks->base.period_ns * 10 > 1000000000u ? ks->base.period_ns * 10 : 1000000000u;
	if (ks->n_watches && now - ks->last_period_ns > quiet) {
		if (!ve_kmod_alive(ks->k))
			fall_back(ks);
		else
			ks->last_period_ns = now;   /* alive, only slow: ask again later */
	}
}

/*
 * A read may drain what arrived since the period began, but a period's
 * thousands of reads should not each ask the clock whether 2 ms have
 * passed (a tenth of the daemon's side in kmod mode): every 64th does.
 */
static void read_drain(struct kmod_sampler *ks)
{
	if (ks->k && (++ks->reads & 63) == 0)
		drain(ks, false);
}

/* A tag for @w: a free index (or a new one) and the next serial. */
static int tag_take(struct kmod_sampler *ks, struct kmod_watch *w)
{
	uint32_t idx;

	if (ks->n_free) {
		idx = ks->free_tags[--ks->n_free];
	} else {
		if (ks->n_tags == ks->cap_tags) {
			uint32_t cap = ks->cap_tags ? ks->cap_tags * 2 : 256;
			struct kmod_watch **t = realloc(ks->by_tag, cap * sizeof(*t));
			uint32_t *f;

			if (!t)
				return -ENOMEM;
			ks->by_tag = t;
			f = realloc(ks->free_tags, cap * sizeof(*f));
			if (!f)
				return -ENOMEM;
			ks->free_tags = f;
			ks->cap_tags = cap;
		}
		idx = ks->n_tags++;
	}
	ks->by_tag[idx] = w;
	if (++ks->serial == 0)
		ks->serial = 1;   /* a tag is never 0 (the probes' own) */
	w->tag = (uint64_t)idx << 32 | ks->serial;
	return 0;
}

static void tag_drop(struct kmod_sampler *ks, struct kmod_watch *w)
{
	uint32_t idx = (uint32_t)(w->tag >> 32);

	if (!w->tag || idx >= ks->n_tags || ks->by_tag[idx] != w)
		return;   /* a perf watch after the fallback has no tag */
	ks->by_tag[idx] = NULL;
	ks->free_tags[ks->n_free++] = idx;
}

uint64_t ve_sampler_kmod_tag(const struct ve_sampler *s, const struct ve_watch *vw)
{
	(void)s;
	return vw ? ((const struct kmod_watch *)vw)->tag : 0;
}

static int kmod_watch(struct ve_sampler *s, pid_t pid, pid_t tid, struct ve_watch **ret_w)
{
	struct kmod_sampler *ks = (struct kmod_sampler *)s;
	struct ve_kmod_event ev[VE_MAX_EVENTS - 1];
	struct kmod_watch *w, **p;
	int r;

	if (!ks->k && !ks->fb)
		return -ENODEV;
	p = slot(ks, tid);
	if (*p)
		return -EEXIST;
	w = calloc(1, sizeof(*w));
	if (!w)
		return -ENOMEM;
	w->pid = pid;
	w->tid = tid;
	if (ks->fb) {
		r = ks->fb->ops->watch(ks->fb, pid, tid, &w->fb);
	} else {
		w->has_sched0 = ve_proc_task_schedstat(s->root_fd, pid, tid, &w->sched0) == 0;
		memcpy(ev, ks->ev, sizeof(ev));
		r = tag_take(ks, w);
		if (r == 0) {
			r = ve_kmod_watch_thread(ks->k, tid, w->tag, ev, ks->n_ev);
			if (r < 0)
				tag_drop(ks, w);
		}
	}
	if (r < 0) {
		free(w);
		return r;
	}
	*p = w;
	ks->n_watches++;
	*ret_w = (struct ve_watch *)w;
	return 0;
}

static int kmod_read(struct ve_sampler *s, struct ve_watch *vw, uint64_t *ret_delta)
{
	struct kmod_sampler *ks = (struct kmod_sampler *)s;
	struct kmod_watch *w = (struct kmod_watch *)vw;
	uint64_t c[VE_MAX_EVENTS] = { 0 };

	read_drain(ks);
	if (w->fb) {
		if (ks->fb->ops->read(ks->fb, w->fb, c) < 0)
			return -ESRCH;
	} else if (!ks->k && !w->exited) {
		return -ESRCH;
	}
	for (unsigned int i = 0; i < s->n_cols; i++)
		ret_delta[i] = w->pending[i] + c[i];
	memset(w->pending, 0, sizeof(w->pending));
	return 0;
}

/*
 * A period begins: take in what the module sent.  Its reads cover the
 * module's periods that ended since the last call: up to the last TIME_NS
 * received.  After a fallback, perf's reads are as of now.
 */
static void kmod_begin(struct ve_sampler *s, uint64_t now)
{
	struct kmod_sampler *ks = (struct kmod_sampler *)s;

	if (ks->k)
		drain(ks, true);
	s->start_ns = s->end_ns;
	s->end_ns = ks->k ? ks->module_end_ns : now;
	if (!ks->k)
		s->period_ns = 0;
}

static void kmod_unwatch(struct ve_sampler *s, struct ve_watch *vw)
{
	struct kmod_sampler *ks = (struct kmod_sampler *)s;
	struct kmod_watch *w = (struct kmod_watch *)vw, **p;

	if (!w)
		return;
	if (w->fb)
		ks->fb->ops->unwatch(ks->fb, w->fb);
	else if (ks->k && !w->exited)
		ve_kmod_unwatch_thread(ks->k, w->tid);   /* ENOENT if it just exited */
	p = slot(ks, w->tid);
	if (*p == w) {
		*p = w->next;
		ks->n_watches--;
	}
	tag_drop(ks, w);
	free(w);
}

static int kmod_watch_cgroup(struct ve_sampler *s, uint64_t id)
{
	struct kmod_sampler *ks = (struct kmod_sampler *)s;
	struct kmod_cgwatch **p = cg_slot(ks, id), *w;
	int r;

	if (!ks->k)
		return -ENODEV;
	if (*p)
		return -EEXIST;
	w = calloc(1, sizeof(*w));
	if (!w)
		return -ENOMEM;
	r = ve_kmod_watch_cgroup(ks->k, id, id);
	if (r < 0) {
		free(w);
		return r;
	}
	w->id = id;
	*p = w;
	return 0;
}

static int kmod_read_cgroup(struct ve_sampler *s, uint64_t id, struct ve_sampler_io *ret)
{
	struct kmod_sampler *ks = (struct kmod_sampler *)s;
	struct kmod_cgwatch *w = *cg_slot(ks, id);
	unsigned int n;

	read_drain(ks);
	if (!ks->k)
		return -ENODEV;
	if (!w)
		return -ENOENT;
	n = w->n;
	memcpy(ret, w->pend, n * sizeof(*ret));
	w->n = 0;
	return (int)n;
}

static void kmod_unwatch_cgroup(struct ve_sampler *s, uint64_t id)
{
	struct kmod_sampler *ks = (struct kmod_sampler *)s;
	struct kmod_cgwatch **p = cg_slot(ks, id), *w = *p;

	if (!w)
		return;
	if (ks->k)
		ve_kmod_unwatch_cgroup(ks->k, id);   /* ENOENT if the module dropped it */
	*p = w->next;
	free(w);
}

static void kmod_free(struct ve_sampler *s)
{
	struct kmod_sampler *ks = (struct kmod_sampler *)s;

	for (unsigned int b = 0; b < BUCKETS; b++)
		while (ks->bucket[b])
			kmod_unwatch(s, (struct ve_watch *)ks->bucket[b]);
	for (unsigned int b = 0; b < BUCKETS; b++)
		while (ks->cg_bucket[b])
			kmod_unwatch_cgroup(s, ks->cg_bucket[b]->id);
	ve_sampler_free(ks->fb);
	ve_kmod_close(ks->k);
	for (unsigned int i = 0; i < ks->n_names; i++)
		free(ks->events[i]);
	free(ks->by_tag);
	free(ks->free_tags);
	free(ks);
}

static const struct ve_sampler_ops kmod_ops = {
	.name = "kmod",
	.watch = kmod_watch,
	.read = kmod_read,
	.unwatch = kmod_unwatch,
	.free = kmod_free,
	.begin = kmod_begin,
	.watch_cgroup = kmod_watch_cgroup,
	.read_cgroup = kmod_read_cgroup,
	.unwatch_cgroup = kmod_unwatch_cgroup,
};

int ve_sampler_open_kmod_loopback(int root_fd, uint64_t period_ns, bool counts_io,
				  struct ve_sampler **ret, uint32_t *ret_port)
{
	struct kmod_sampler *ks = calloc(1, sizeof(*ks));
	int r;

	if (!ks)
		return -ENOMEM;
	ks->base.ops = &kmod_ops;
	ks->base.root_fd = root_fd;
	r = ve_kmod_open_loopback(&ks->k, ret_port);
	if (r < 0) {
		free(ks);
		return r;
	}
	ks->base.period_ns = period_ns;
	snprintf(ks->base.col_name[0], VE_EVENT_NAME_MAX, "task-clock");
	ks->base.n_cols = 1;
	ks->base.counts_io = counts_io;
	ks->last_period_ns = now_ns();
	snprintf(ks->base.mode, sizeof(ks->base.mode), "kmod: loopback, run time");
	*ret = &ks->base;
	return 0;
}

int ve_sampler_open_kmod(const char *const *events, unsigned int n, int root_fd,
			 struct ve_sampler **ret, char *ret_why, size_t why_len)
{
	struct kmod_sampler *ks;
	struct ve_kmod_info info;
	char counted[160] = "", dropped[160] = "";
	pid_t self = (pid_t)syscall(SYS_gettid);
	int r;

	ks = calloc(1, sizeof(*ks));
	if (!ks)
		return -ENOMEM;
	ks->base.ops = &kmod_ops;
	ks->base.root_fd = root_fd;
	r = ve_kmod_open(&ks->k);
	if (r < 0) {
		snprintf(ret_why, why_len, r == -ENOENT ? "virtenergy.ko is not loaded"
							: "cannot reach virtenergy.ko: %s",
			 strerror(-r));
		free(ks);
		return r == -ENOENT ? -ENOENT : -EOPNOTSUPP;
	}
	r = ve_kmod_info(ks->k, &info);
	if (r < 0 || info.version != VE_GENL_VERSION) {
		if (r < 0)
			snprintf(ret_why, why_len, "virtenergy.ko refused GET_INFO: %s",
				 ve_kmod_error(ks->k)[0] ? ve_kmod_error(ks->k) : strerror(-r));
		else
			snprintf(ret_why, why_len, "virtenergy.ko speaks protocol %u, not %u",
				 info.version, VE_GENL_VERSION);
		kmod_free(&ks->base);
		return -EOPNOTSUPP;
	}
	ks->base.period_ns = (uint64_t)info.period_ms * 1000000u;
	snprintf(ks->base.col_name[0], VE_EVENT_NAME_MAX, "task-clock");
	ks->base.n_cols = 1;

	if (n && pfm_initialize() != PFM_SUCCESS) {
		snprintf(ret_why, why_len, "libpfm4 cannot start");
		kmod_free(&ks->base);
		return -EINVAL;
	}
	for (unsigned int i = 0; i < n; i++) {
		struct perf_event_attr a = { 0 };
		pfm_perf_encode_arg_t arg = { .attr = &a, .size = sizeof(arg) };
		struct ve_kmod_event probe;

		ks->events[ks->n_names++] = strdup(events[i]);
		r = pfm_get_os_event_encoding(events[i], PFM_PLM0 | PFM_PLM3, PFM_OS_PERF_EVENT, &arg);
		if (r != PFM_SUCCESS) {
			snprintf(ret_why, why_len, "event '%s': %s", events[i], pfm_strerror(r));
			kmod_free(&ks->base);
			return -EINVAL;
		}
		/* does the module count it here?  ask on our own thread */
		probe.type = a.type;
		probe.config = a.config;
		r = ve_kmod_watch_thread(ks->k, self, 0, &probe, 1);
		if (r == 0)
			ve_kmod_unwatch_thread(ks->k, self);
		if (r < 0 || probe.status != VE_EV_COUNTED) {
			snprintf(dropped + strlen(dropped), sizeof(dropped) - strlen(dropped), "%s%s",
				 dropped[0] ? "," : "", events[i]);
			continue;
		}
		ks->ev[ks->n_ev].type = a.type;
		ks->ev[ks->n_ev].config = a.config;
		ks->n_ev++;
		snprintf(ks->base.col_name[ks->base.n_cols++], VE_EVENT_NAME_MAX, "%s", events[i]);
		snprintf(counted + strlen(counted), sizeof(counted) - strlen(counted), ",%s", events[i]);
	}
	r = ve_kmod_subscribe(ks->k);
	if (r < 0) {
		snprintf(ret_why, why_len, "cannot join virtenergy.ko's samples group");
		kmod_free(&ks->base);
		return -EOPNOTSUPP;
	}
	ks->last_period_ns = now_ns();
	ks->base.counts_io = (info.caps & VE_CAP_BLOCK_IO) != 0;
	snprintf(ks->base.mode, sizeof(ks->base.mode),
		 "kmod: virtenergy.ko, run time%s every %u ms%s%s%s", counted, info.period_ms,
		 dropped[0] ? " (not counted here: " : "", dropped, dropped[0] ? ")" : "");
	*ret = &ks->base;
	return 0;
}
