/* SPDX-License-Identifier: GPL-2.0-only */
/*
 * ve.h: what the parts of virtenergy.ko share.
 *
 * ve_main.c   the generic netlink family, module parameters, the period work
 * ve_thread.c watched threads: run time and perf kernel counters
 * ve_blkio.c  watched cgroups: block I/O completions from the tracepoint
 * ve_scale.h  a multiplexed perf counter's scaled delta (pure, tested in
 *             userspace by tests/kmod/test_scale.c)
 *
 * ve_lock serialises commands, the period work and socket release; the
 * block I/O tracepoint probe takes no lock (RCU and atomics only).
 */
#ifndef VE_H
#define VE_H

#include <linux/types.h>
#include <linux/mutex.h>
#include <net/genetlink.h>
#include <virtenergy/uapi.h>

extern struct mutex ve_lock;
extern struct genl_family ve_family;
extern unsigned int ve_max_threads;
extern unsigned int ve_max_cgroups;

/* One period's samples, cut into messages of at most ve_batch records. */
struct ve_batch {
	struct sk_buff *skb;
	void *hdr;
	struct nlattr *array;	/* the record array open in skb, of array_type */
	int array_type;		/* VE_A_THREADS or VE_A_CGROUPS */
	unsigned int entries;	/* records in the current message */
	unsigned int limit;	/* records per message */
	u64 seq, time_ns, period_ns;
	unsigned int sent, dropped;	/* messages, or records */
};

/*
 * Room for one record of @size bytes in the @type array (uapi.h), in a new
 * message when the current one holds @limit records or has no room; NULL
 * (counted as dropped) when no message can be had.  The caller fills it
 * with memcpy: records are only 4-byte aligned.
 */
void *ve_batch_record(struct ve_batch *b, int type, size_t size);

int ve_thread_watch(struct genl_info *info, u32 tid, u64 account,
		    const struct nlattr *events, struct sk_buff *reply);
int ve_thread_unwatch(u32 tid, u32 portid);
void ve_thread_drop_owner(u32 portid);
void ve_thread_drop_all(void);
unsigned int ve_thread_count(void);
void ve_thread_sample(struct ve_batch *b);
bool ve_hw_events_available(void);

int ve_blkio_init(void);
void ve_blkio_exit(void);
bool ve_blkio_attached(void);
int ve_cgroup_watch(struct genl_info *info, u64 id, u64 account);
int ve_cgroup_unwatch(u64 id, u32 portid);
void ve_cgroup_drop_owner(u32 portid);
void ve_cgroup_drop_all(void);
unsigned int ve_cgroup_count(void);
void ve_cgroup_sample(struct ve_batch *b);

#endif /* VE_H */
