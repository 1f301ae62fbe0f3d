/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * sampler.h: per-thread event counters behind one small interface.
 *
 * A sampler follows threads and reads their cumulative counters.  Column 0
 * is always the thread's run time in ns; columns 1.. are the configured
 * hardware events, where the machine has them.  Three implementations, tried
 * in this order by ve_sampler_open():
 *
 *   perf       perf_event_open(2) per thread, a group led by the software
 *              task-clock event with the hardware events (named through
 *              libpfm4) as members: one read(2) per thread and period;
 *   perf-time  the same without hardware events, where the PMU is absent or
 *              refuses them (VMs, these CI machines): task clock only;
 *   schedstat  /proc/<pid>/task/<tid>/schedstat run time, where
 *              perf_event_open is not allowed at all.
 *
 *   kmod       virtenergy.ko (kmod/): the module samples every watched
 *              thread in the kernel each period and multicasts the deltas
 *              over generic netlink; tried first when it is loaded, and
 *              if it goes away at run time the sampler continues with
 *              perf from the counts it had (sampler_kmod.c).
 *
 * ve_sampler_mode() says in words which one is active.
 *
 * A sampler hands out per-period deltas: each read gives a thread's
 * counts since its previous read (since watch() for the first), and
 * ve_sampler_begin_period(), called before a period's reads, says what
 * time they cover.  perf and schedstat read cumulative counters and take
 * the deltas themselves (a counter that went back was reset: it counts 0,
 * never 2^64), so their period is [the previous call, now].  The module
 * sends deltas already; its period is [the end of the last module period
 * handed out before, the end of the last one handed out now], the
 * module's own TIME_NS, so module periods and the daemon's line up: the
 * daemon can time its periods just after the module's (period_ns says
 * how long the module's are).  A thread that has exited reads -ESRCH (or
 * its final counts, for perf and the module, then zeros until unwatched):
 * normal, not an error.  Not thread-safe.  ve_sampler_free() accepts
 * NULL; unwatch every watch first.
 */
#pragma once

#include <stdbool.h>
#include <stdint.h>
#include <sys/types.h>

#include "model.h"

#define VE_SAMPLER_COL_RUN_NS 0

struct ve_sampler;
struct ve_watch;

/* One cgroup's block I/O on one device over a period (the module's). */
struct ve_sampler_io {
	uint32_t major, minor;        /* 0:0 for the devices the module does not count apart */
	uint64_t ops, bytes, ns;      /* reads and writes together; ns: their service time */
};

#define VE_SAMPLER_IO_DEVS 8

struct ve_sampler_ops {
	const char *name;
	/* Start following @tid of process @pid; -ESRCH when it is gone. */
	int (*watch)(struct ve_sampler *s, pid_t pid, pid_t tid, struct ve_watch **ret_w);
	/* The counts since the previous read, n_cols of them, into @ret_delta; untouched on error. */
	int (*read)(struct ve_sampler *s, struct ve_watch *w, uint64_t *ret_delta);
	void (*unwatch)(struct ve_sampler *s, struct ve_watch *w);
	void (*free)(struct ve_sampler *s);
	/* Optional: take in what arrived and set start_ns, end_ns (ve_sampler_begin_period). */
	void (*begin)(struct ve_sampler *s, uint64_t now_ns);
	/*
	 * Optional, where the sampler counts block I/O (counts_io: the
	 * module): follow cgroup @id (the inode of its directory, in the
	 * unified or the v1 blkio hierarchy); read hands out its I/O since the
	 * previous read, per device, up to VE_SAMPLER_IO_DEVS of them, and
	 * returns how many, or -ENODEV once the sampler no longer counts I/O
	 * (the module went away: cgroup statistics take over).
	 */
	int (*watch_cgroup)(struct ve_sampler *s, uint64_t id);
	int (*read_cgroup)(struct ve_sampler *s, uint64_t id, struct ve_sampler_io *ret);
	void (*unwatch_cgroup)(struct ve_sampler *s, uint64_t id);
};

struct ve_sampler {
	const struct ve_sampler_ops *ops;
	unsigned int n_cols;                          /* 1 + hardware events in use */
	char col_name[VE_MAX_EVENTS][VE_EVENT_NAME_MAX];
	char mode[512];                               /* e.g. "perf-time: ..." */
	int root_fd;                                  /* for procfs readers */
	/* what this period's reads cover, CLOCK_MONOTONIC ns (ve_sampler_begin_period) */
	uint64_t start_ns, end_ns;
	uint64_t period_ns;                           /* the module's period; 0: reads are as of now */
	bool counts_io;                               /* watch_cgroup works now */
};

enum ve_sampler_kind {
	VE_SAMPLER_AUTO,      /* kmod, else perf, else perf-time, else schedstat */
	VE_SAMPLER_PERF,      /* perf or perf-time, fail otherwise */
	VE_SAMPLER_SCHEDSTAT,
	VE_SAMPLER_KMOD,      /* virtenergy.ko, fail when it is not loaded */
};

/*
 * Open a sampler.  @events (n <= VE_MAX_EVENTS - 1) are libpfm4 event names
 * for columns 1..; hardware events the machine does not count are dropped,
 * and the mode string says which and why.  @root_fd is the root that procfs
 * paths are relative to (borrowed, must outlive the sampler).
 * Returns 0, -EINVAL (too many events, an event libpfm4 does not know: the
 * message in @ret_why), -EOPNOTSUPP (perf or kmod asked for and not available),
 * -ENOMEM.  @ret_why (may be NULL, @why_len bytes) explains a failure.
 */
int ve_sampler_open(enum ve_sampler_kind kind, const char *const *events, unsigned int n,
		    int root_fd, struct ve_sampler **ret, char *ret_why, size_t why_len);

void ve_sampler_free(struct ve_sampler *s);

/* The kmod sampler alone; -ENOENT when the module is not loaded. */
int ve_sampler_open_kmod(const char *const *events, unsigned int n, int root_fd,
			 struct ve_sampler **ret, char *ret_why, size_t why_len);

/*
 * The kmod sampler over a loopback client (kmodnl.h), for benchmarks: no
 * module, no hardware events (run time only), the module's period taken to
 * be @period_ns; what is sent to *@ret_port in the module's format is what
 * it samples.  @counts_io: it reads the cgroups' block I/O from there too.
 */
int ve_sampler_open_kmod_loopback(int root_fd, uint64_t period_ns, bool counts_io,
				  struct ve_sampler **ret, uint32_t *ret_port);
/* The account tag a kmod sampler's watch gave the module, for what feeds a loopback one. */
uint64_t ve_sampler_kmod_tag(const struct ve_sampler *s, const struct ve_watch *w);

/*
 * A period's reads begin at @now_ns (CLOCK_MONOTONIC): the module's
 * samples that arrived are taken in, and start_ns, end_ns say what time the
 * reads that follow cover (start_ns is the previous end_ns; 0 before the
 * first call).
 */
void ve_sampler_begin_period(struct ve_sampler *s, uint64_t now_ns);

static inline const char *ve_sampler_mode(const struct ve_sampler *s)
{
	return s->mode;
}
