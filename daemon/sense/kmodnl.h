/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * kmodnl.h: a client of virtenergy.ko's generic netlink protocol
 * (include/virtenergy/uapi.h), with libnl-genl-3.
 *
 * Two sockets: one for commands (request, reply, acknowledgement; the
 * watches it makes belong to it and end when it closes) and one joined to
 * the samples group, non-blocking, drained by ve_kmod_receive().
 * Functions return 0 or a negative errno as the module gave it; the
 * module's extended-ack message, if any, is in ve_kmod_error().
 * Not thread-safe.
 */
#pragma once

#include <stdbool.h>
#include <stdint.h>
#include <sys/types.h>

#include <virtenergy/uapi.h>

struct ve_kmod;

struct ve_kmod_info {
	uint32_t version, caps, period_ms, batch;
	uint32_t max_threads, nr_threads, max_cgroups, nr_cgroups, max_events;
	uint64_t work_ns, entries, bytes;    /* the module's cost since load */
};

struct ve_kmod_event {
	uint32_t type;         /* perf_event_attr.type and .config, asked ... */
	uint64_t config;
	uint32_t status;       /* ... and what the module did: VE_EV_COUNTED or VE_EV_SUBSTITUTED */
	uint32_t error;        /* the errno perf gave, when substituted */
};

struct ve_kmod_thread_sample {
	uint32_t tid, flags;   /* VE_TS_EXITED */
	uint64_t account, run_ns;
	unsigned int n;        /* values */
	uint64_t v[VE_NL_MAX_EVENTS];
};

struct ve_kmod_cgroup_sample {
	uint64_t id, account;
	uint32_t dev;                       /* new_encode_dev() form; 0: other devices */
	uint64_t ops[2], bytes[2], ns[2];   /* [0] read, [1] write */
};

struct ve_kmod_handlers {
	void (*thread)(void *ud, uint64_t seq, const struct ve_kmod_thread_sample *s);
	void (*cgroup)(void *ud, uint64_t seq, const struct ve_kmod_cgroup_sample *s);
	/* A period's last message: its end (TIME_NS, CLOCK_MONOTONIC) and length (PERIOD_NS). */
	void (*period_end)(void *ud, uint64_t seq, uint64_t time_ns, uint64_t period_ns);
	void *ud;
};

/* -ENOENT when the module is not loaded (its family is unknown). */
int ve_kmod_open(struct ve_kmod **ret);

/*
 * A client with no module, for benchmarks and tests: its samples socket
 * (already subscribed, as far as ve_kmod_receive() is concerned) receives
 * what another netlink socket of the generic family sends to *@ret_port,
 * in the module's format; its commands succeed without being sent, and it
 * is always alive.  So the daemon's side of the module (receive, parse,
 * the kmod sampler) runs without the kernel's.
 */
int ve_kmod_open_loopback(struct ve_kmod **ret, uint32_t *ret_port);
void ve_kmod_close(struct ve_kmod *k);

/* The module's last error message for this client ("" if none). */
const char *ve_kmod_error(const struct ve_kmod *k);

int ve_kmod_info(struct ve_kmod *k, struct ve_kmod_info *ret);
/* @ev (n of them, may be NULL with n 0) is filled in with what the module did. */
int ve_kmod_watch_thread(struct ve_kmod *k, pid_t tid, uint64_t account,
			 struct ve_kmod_event *ev, unsigned int n);
int ve_kmod_unwatch_thread(struct ve_kmod *k, pid_t tid);
int ve_kmod_watch_cgroup(struct ve_kmod *k, uint64_t cgroup_id, uint64_t account);
int ve_kmod_unwatch_cgroup(struct ve_kmod *k, uint64_t cgroup_id);
/* 0 leaves a value as it is. */
int ve_kmod_set_config(struct ve_kmod *k, uint32_t period_ms, uint32_t batch);

/* Join the samples group (once) and return the socket's fd, for poll(2). */
int ve_kmod_subscribe(struct ve_kmod *k);
/*
 * Hand every samples message waiting to @h, without blocking.  Returns the
 * number of messages, or a negative errno.  A receive buffer overrun is
 * counted in *@ret_lost (may be NULL) and reading goes on.
 */
int ve_kmod_receive(struct ve_kmod *k, const struct ve_kmod_handlers *h, unsigned int *ret_lost);

/* Is the module's family still registered?  (It may be unloaded under us.) */
bool ve_kmod_alive(struct ve_kmod *k);

/*
 * For tests: send @len bytes of attributes (may be malformed) as command
 * @cmd with generic netlink version @version; the module's answer as -errno.
 */
int ve_kmod_send_raw(struct ve_kmod *k, uint8_t cmd, uint8_t version, const void *attrs,
		     size_t len);
