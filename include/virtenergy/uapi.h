/* SPDX-License-Identifier: GPL-2.0-only WITH Linux-syscall-note */
/*
 * uapi.h: the generic netlink protocol of virtenergy.ko.
 *
 * Family VE_GENL_NAME, version VE_GENL_VERSION.  Every command needs
 * CAP_NET_ADMIN (EPERM otherwise) and is validated strictly against the
 * policy below: unknown attributes, wrong sizes and out-of-range values are
 * refused with EINVAL and an extended-ack message.
 *
 * Commands (request attributes -> reply attributes):
 *
 *   VE_CMD_GET_INFO        -> VERSION, CAPS, PERIOD_MS, BATCH, MAX_THREADS,
 *                             NR_THREADS, MAX_CGROUPS, NR_CGROUPS, MAX_EVENTS,
 *                             WORK_NS, ENTRIES, BYTES (the module's own cost:
 *                             time in the period work, entries and bytes
 *                             multicast since load)
 *   VE_CMD_WATCH_THREAD    TID, ACCOUNT, [EVENTS] -> TID, EVENTS
 *       Follow thread TID (in the caller's pid namespace), tagging its
 *       samples with ACCOUNT.  EVENTS nests up to VE_NL_MAX_EVENTS VE_A_EVENT
 *       entries of perf type and config (as perf_event_open(2) takes them;
 *       the daemon encodes them with libpfm4).  The reply lists the events
 *       in use: an event the machine cannot count is replaced by the
 *       software task clock and its entry carries VE_EV_SUBSTITUTED, with
 *       the errno perf gave in VE_EV_ERROR.  EEXIST if TID is watched,
 *       ESRCH if it does not exist, ENOSPC past max_threads.
 *   VE_CMD_UNWATCH_THREAD  TID
 *   VE_CMD_WATCH_CGROUP    CGROUP_ID, ACCOUNT
 *       Count block I/O completions issued from that cgroup (its id: the
 *       inode number of its directory in the cgroup file system, v2 or the
 *       v1 blkio hierarchy).  ENOSPC past max_cgroups.
 *   VE_CMD_UNWATCH_CGROUP  CGROUP_ID
 *   VE_CMD_SET_CONFIG      [PERIOD_MS], [BATCH]
 *
 * Samples: every PERIOD_MS the module multicasts VE_CMD_SAMPLES messages to
 * the group VE_MCGRP_SAMPLES.  Each message has SEQ (the period's number),
 * TIME_NS (monotonic), PERIOD_NS (since the previous period), up to BATCH
 * records in VE_A_THREADS and VE_A_CGROUPS arrays, and VE_A_FLAGS; the
 * last message of a period carries VE_MSG_LAST.  The arrays are packed
 * records, not nested attributes (version 2: a nested entry per thread
 * cost 41 bytes and most of the daemon's receive, issue 15); a record's
 * size is in its own header, records follow each other with no padding,
 * and are 4-byte aligned in the message (read them with memcpy).
 *
 * A thread record (struct ve_thread_rec) holds deltas over the period:
 * run time (ns, the scheduler's own sum_exec_runtime) and one u64 per
 * event in watch order; a thread that exited sends its last deltas with
 * VE_TS_EXITED and is unwatched.  A cgroup record (struct ve_cgroup_rec)
 * holds the operations, bytes and service time (ns, from the request's
 * start to its completion) of the block I/O that completed in the period,
 * per direction, one record per device the cgroup's I/O went to (dev; up
 * to 7 devices a cgroup, the rest together as device 0), from the first
 * I/O on.
 *
 * Watches belong to the netlink socket that made them and end when it
 * closes (the daemon died), when the module unloads, or on UNWATCH.
 */
#ifndef _UAPI_VIRTENERGY_H
#define _UAPI_VIRTENERGY_H

#include <linux/types.h>

#define VE_GENL_NAME		"virtenergy"
#define VE_GENL_VERSION		2
#define VE_MCGRP_SAMPLES	"samples"

/* Events per thread besides run time. */
#define VE_NL_MAX_EVENTS	7

#define VE_PERIOD_MS_MIN	10
#define VE_PERIOD_MS_MAX	60000
#define VE_BATCH_MIN		1
#define VE_BATCH_MAX		4096

/* A samples message is never longer (netlink header included): a receive buffer this size holds any. */
#define VE_MSG_MAX_BYTES	65536

enum ve_cmd {
	VE_CMD_UNSPEC,
	VE_CMD_GET_INFO,
	VE_CMD_WATCH_THREAD,
	VE_CMD_UNWATCH_THREAD,
	VE_CMD_WATCH_CGROUP,
	VE_CMD_UNWATCH_CGROUP,
	VE_CMD_SET_CONFIG,
	VE_CMD_SAMPLES,
	__VE_CMD_MAX,
};
#define VE_CMD_MAX (__VE_CMD_MAX - 1)

/* VE_A_CAPS bits */
#define VE_CAP_HW_EVENTS	(1U << 0)	/* a hardware cycles counter opened */
#define VE_CAP_BLOCK_IO		(1U << 1)	/* the completion tracepoint is attached */

/* VE_A_FLAGS bits of a samples message */
#define VE_MSG_LAST		(1U << 0)	/* last message of this period */

enum ve_attr {
	VE_A_UNSPEC,
	VE_A_PAD,
	VE_A_VERSION,		/* u32 */
	VE_A_CAPS,		/* u32, VE_CAP_* */
	VE_A_PERIOD_MS,		/* u32 */
	VE_A_BATCH,		/* u32, entries per samples message */
	VE_A_MAX_THREADS,	/* u32 */
	VE_A_NR_THREADS,	/* u32 */
	VE_A_MAX_CGROUPS,	/* u32 */
	VE_A_NR_CGROUPS,	/* u32 */
	VE_A_MAX_EVENTS,	/* u32 */
	VE_A_TID,		/* u32 */
	VE_A_ACCOUNT,		/* u64, the daemon's tag */
	VE_A_EVENTS,		/* nested: VE_A_EVENT... */
	VE_A_EVENT,		/* nested: VE_EV_* */
	VE_A_CGROUP_ID,		/* u64 */
	VE_A_SEQ,		/* u64 */
	VE_A_TIME_NS,		/* u64 */
	VE_A_PERIOD_NS,		/* u64 */
	VE_A_THREADS,		/* binary: struct ve_thread_rec, packed */
	VE_A_CGROUPS,		/* binary: struct ve_cgroup_rec, packed */
	VE_A_FLAGS,		/* u32, VE_MSG_* */
	VE_A_WORK_NS,		/* u64 */
	VE_A_ENTRIES,		/* u64 */
	VE_A_BYTES,		/* u64 */
	__VE_A_MAX,
};
#define VE_A_MAX (__VE_A_MAX - 1)

/* VE_EV_STATUS values */
#define VE_EV_COUNTED		0
#define VE_EV_SUBSTITUTED	1

enum ve_event_attr {
	VE_EV_UNSPEC,
	VE_EV_PAD,
	VE_EV_TYPE,		/* u32, perf_event_attr.type */
	VE_EV_CONFIG,		/* u64, perf_event_attr.config */
	VE_EV_STATUS,		/* u32, reply only: VE_EV_COUNTED or VE_EV_SUBSTITUTED */
	VE_EV_ERROR,		/* u32, reply only: the errno perf gave */
	__VE_EV_MAX,
};
#define VE_EV_MAX (__VE_EV_MAX - 1)

/* struct ve_thread_rec flags */
#define VE_TS_EXITED		(1U << 0)	/* final deltas; the watch is gone */

/* A thread's record: sizeof(struct ve_thread_rec) + 8 * n_values bytes. */
struct ve_thread_rec {
	__u32 tid;
	__u16 flags;		/* VE_TS_* */
	__u16 n_values;		/* the events watched, <= VE_NL_MAX_EVENTS */
	__u64 account;		/* the tag WATCH_THREAD gave */
	__u64 run_ns;		/* delta */
	__u64 values[];		/* n_values deltas, in watch order */
};

#define VE_DIR_READ		0
#define VE_DIR_WRITE		1

/* A watched cgroup's block I/O on one device: sizeof(struct ve_cgroup_rec) bytes. */
struct ve_cgroup_rec {
	__u64 cgroup_id;
	__u64 account;
	__u32 dev;		/* the device, new_encode_dev(); 0 for other devices */
	__u32 reserved;		/* 0 */
	__u64 ops[2];		/* deltas, [VE_DIR_READ], [VE_DIR_WRITE] */
	__u64 bytes[2];
	__u64 ns[2];
};

#endif /* _UAPI_VIRTENERGY_H */
