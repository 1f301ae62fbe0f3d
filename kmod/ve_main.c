// SPDX-License-Identifier: GPL-2.0-only
/*
 * virtenergy.ko: per-thread perf events and per-cgroup block I/O
 * completions for virtenergyd, over generic netlink.
 *
 * The protocol is include/virtenergy/uapi.h.  This file holds the family,
 * its commands, the module parameters, the period work that multicasts
 * samples, and the clean-up when a watching socket closes.
 */
#include <linux/jiffies.h>
#include <linux/math64.h>
#include <linux/module.h>
#include <linux/netlink.h>
#include <linux/notifier.h>
#include <linux/workqueue.h>
#include <net/genetlink.h>
#include <net/netlink.h>

#include "ve.h"

unsigned int ve_max_threads = 8192;
module_param_named(max_threads, ve_max_threads, uint, 0444);
MODULE_PARM_DESC(max_threads, "Most threads watched at once (default 8192)");

unsigned int ve_max_cgroups = 1024;
module_param_named(max_cgroups, ve_max_cgroups, uint, 0444);
MODULE_PARM_DESC(max_cgroups, "Most cgroups watched for block I/O at once (default 1024)");

static unsigned int ve_period_ms = 100;
module_param_named(period_ms, ve_period_ms, uint, 0444);
MODULE_PARM_DESC(period_ms, "Sampling period in ms at load (default 100; VE_CMD_SET_CONFIG changes it)");

static unsigned int ve_batch_max = 512;
module_param_named(batch, ve_batch_max, uint, 0444);
MODULE_PARM_DESC(batch, "Records per samples message at load (default 512)");

DEFINE_MUTEX(ve_lock);

static u64 ve_seq;
static u64 ve_work_ns, ve_entries, ve_bytes;	/* our own cost, since load */
static bool ve_hw_events;	/* a hardware counter opened at load */
static u64 ve_last_ns;
static u64 ve_due_ns;		/* when the period work is due; 0: from its next run */
static bool ve_unloading;
static void ve_period_work(struct work_struct *work);
static DECLARE_DELAYED_WORK(ve_work, ve_period_work);

enum { VE_MCGRP_SAMPLES_ID };

static const struct genl_multicast_group ve_mcgrps[] = {
	[VE_MCGRP_SAMPLES_ID] = { .name = VE_MCGRP_SAMPLES },
};

/* ---- samples ---------------------------------------------------------- */

static void ve_batch_flush(struct ve_batch *b, bool last)
{
	int r;

	if (!b->skb)
		return;
	if (b->array)
		nla_nest_end(b->skb, b->array);
	b->array = NULL;
	if (nla_put_u32(b->skb, VE_A_FLAGS, last ? VE_MSG_LAST : 0)) {
		/* room for the flags is kept by ve_batch_record: cannot happen */
		nlmsg_free(b->skb);
		b->dropped++;
		goto out;
	}
	genlmsg_end(b->skb, b->hdr);
	ve_bytes += b->skb->len;
	ve_entries += b->entries;
	r = genlmsg_multicast(&ve_family, b->skb, 0, VE_MCGRP_SAMPLES_ID, GFP_KERNEL);
	if (r && r != -ESRCH)
		b->dropped++;
	else
		b->sent++;
out:
	b->skb = NULL;
	b->entries = 0;
}

/* A header, the two arrays' headers and the trailing flags, beside the records. */
#define VE_MSG_OVERHEAD (GENL_HDRLEN + 3 * nla_total_size_64bit(sizeof(u64)) + \
			 2 * NLA_HDRLEN + nla_total_size(sizeof(u32)))

static int ve_batch_begin(struct ve_batch *b, size_t record)
{
	size_t size = VE_MSG_OVERHEAD + record * b->limit;

	b->skb = genlmsg_new(min_t(size_t, size, VE_MSG_MAX_BYTES - NLMSG_HDRLEN - GENL_HDRLEN),
			     GFP_KERNEL);
	if (!b->skb)
		return -ENOMEM;
	b->hdr = genlmsg_put(b->skb, 0, 0, &ve_family, 0, VE_CMD_SAMPLES);
	if (!b->hdr ||
	    nla_put_u64_64bit(b->skb, VE_A_SEQ, b->seq, VE_A_PAD) ||
	    nla_put_u64_64bit(b->skb, VE_A_TIME_NS, b->time_ns, VE_A_PAD) ||
	    nla_put_u64_64bit(b->skb, VE_A_PERIOD_NS, b->period_ns, VE_A_PAD)) {
		nlmsg_free(b->skb);
		b->skb = NULL;
		return -EMSGSIZE;
	}
	return 0;
}

/* Does @skb take @room more bytes, within VE_MSG_MAX_BYTES? (kmalloc may give it more tailroom.) */
static bool ve_batch_room(const struct sk_buff *skb, size_t room)
{
	return skb_tailroom(skb) >= room && skb->len + room <= VE_MSG_MAX_BYTES;
}

void *ve_batch_record(struct ve_batch *b, int type, size_t size)
{
	/* what this record may add: itself, a new array's header; then the flags */
	size_t room = size + NLA_HDRLEN + nla_total_size(sizeof(u32));

	if (b->skb && (b->entries >= b->limit || !ve_batch_room(b->skb, room)))
		ve_batch_flush(b, false);
	if (!b->skb && ve_batch_begin(b, size))
		goto lost;
	if (!ve_batch_room(b->skb, room))
		goto lost;	/* not even in a message of its own */
	if (b->array && b->array_type != type) {
		nla_nest_end(b->skb, b->array);
		b->array = NULL;
	}
	if (!b->array) {
		/* a plain attribute whose length nla_nest_end() sets: not NLA_F_NESTED */
		b->array = nla_nest_start_noflag(b->skb, type);
		b->array_type = type;
	}
	b->entries++;
	return __nla_reserve_nohdr(b->skb, size);
lost:
	b->dropped++;
	return NULL;
}

/*
 * The delay to the next period: a period after this one was due, not after
 * it ran, so that the work's own time and the timer's rounding up to a
 * jiffy do not add up period after period (they made 100 ms periods 104 ms
 * long under TCG, issue 15).  A run late by more than a period, or the
 * first after SET_CONFIG, starts the count again from now.
 */
static unsigned long ve_next_delay(u64 now, u64 step)
{
	u64 end;

	if (!ve_due_ns || now > ve_due_ns + step)
		ve_due_ns = now;
	ve_due_ns += step;
	end = ktime_get_ns();
	return ve_due_ns > end ? usecs_to_jiffies(div_u64(ve_due_ns - end, NSEC_PER_USEC)) : 0;
}

static void ve_period_work(struct work_struct *work)
{
	struct ve_batch b = {};
	unsigned int period;
	u64 now;

	mutex_lock(&ve_lock);
	now = ktime_get_ns();
	if (ve_thread_count() || ve_cgroup_count()) {
		b.limit = ve_batch_max;
		b.seq = ++ve_seq;
		b.time_ns = now;
		b.period_ns = now - ve_last_ns;
		ve_thread_sample(&b);
		ve_cgroup_sample(&b);
		/* an empty last message still marks the period's end */
		if (!b.skb && ve_batch_begin(&b, 0))
			b.dropped++;
		ve_batch_flush(&b, true);
		ve_work_ns += ktime_get_ns() - now;
		if (b.dropped)
			pr_warn_ratelimited("virtenergy: period %llu: %u records or messages lost\n",
					    b.seq, b.dropped);
	}
	ve_last_ns = now;
	period = ve_period_ms;
	if (!ve_unloading)
		schedule_delayed_work(&ve_work, ve_next_delay(now, (u64)period * NSEC_PER_MSEC));
	mutex_unlock(&ve_lock);
}

/*
 * True when the request lacks @attr: GENL_REQ_ATTR_CHECK reports the
 * missing type to the client, and the message is "<attr's name> missing"
 * for people who read it.  A macro because GENL_SET_ERR_MSG keeps its
 * message in static storage and so takes a string literal; @attr must be
 * the attribute's enum name, as written, for #attr to make that literal.
 */
#define ve_missing(info, attr) ({					\
	struct genl_info *__ve_info = (info);				\
	bool __ve_miss = GENL_REQ_ATTR_CHECK(__ve_info, attr);		\
									\
	if (__ve_miss)							\
		GENL_SET_ERR_MSG(__ve_info, #attr " missing");		\
	__ve_miss;							\
})

/* ---- commands --------------------------------------------------------- */

static int ve_reply(struct genl_info *info, struct sk_buff **ret, void **hdr, u8 cmd)
{
	*ret = genlmsg_new(NLMSG_DEFAULT_SIZE, GFP_KERNEL);
	if (!*ret)
		return -ENOMEM;
	*hdr = genlmsg_put_reply(*ret, info, &ve_family, 0, cmd);
	if (!*hdr) {
		nlmsg_free(*ret);
		return -EMSGSIZE;
	}
	return 0;
}

static int ve_cmd_get_info(struct sk_buff *skb, struct genl_info *info)
{
	struct sk_buff *msg;
	void *hdr;
	u32 caps = 0;
	int r;

	r = ve_reply(info, &msg, &hdr, VE_CMD_GET_INFO);
	if (r)
		return r;
	mutex_lock(&ve_lock);
	if (ve_hw_events)
		caps |= VE_CAP_HW_EVENTS;
	if (ve_blkio_attached())
		caps |= VE_CAP_BLOCK_IO;
	r = nla_put_u32(msg, VE_A_VERSION, VE_GENL_VERSION) ||
	    nla_put_u32(msg, VE_A_CAPS, caps) ||
	    nla_put_u32(msg, VE_A_PERIOD_MS, ve_period_ms) ||
	    nla_put_u32(msg, VE_A_BATCH, ve_batch_max) ||
	    nla_put_u32(msg, VE_A_MAX_THREADS, ve_max_threads) ||
	    nla_put_u32(msg, VE_A_NR_THREADS, ve_thread_count()) ||
	    nla_put_u32(msg, VE_A_MAX_CGROUPS, ve_max_cgroups) ||
	    nla_put_u32(msg, VE_A_NR_CGROUPS, ve_cgroup_count()) ||
	    nla_put_u32(msg, VE_A_MAX_EVENTS, VE_NL_MAX_EVENTS) ||
	    nla_put_u64_64bit(msg, VE_A_WORK_NS, ve_work_ns, VE_A_PAD) ||
	    nla_put_u64_64bit(msg, VE_A_ENTRIES, ve_entries, VE_A_PAD) ||
	    nla_put_u64_64bit(msg, VE_A_BYTES, ve_bytes, VE_A_PAD);
	mutex_unlock(&ve_lock);
	if (r) {
		nlmsg_free(msg);
		return -EMSGSIZE;
	}
	genlmsg_end(msg, hdr);
	return genlmsg_reply(msg, info);
}

static int ve_cmd_watch_thread(struct sk_buff *skb, struct genl_info *info)
{
	struct sk_buff *msg;
	void *hdr;
	u32 tid;
	int r;

	if (ve_missing(info, VE_A_TID) || ve_missing(info, VE_A_ACCOUNT))
		return -EINVAL;
	tid = nla_get_u32(info->attrs[VE_A_TID]);
	r = ve_reply(info, &msg, &hdr, VE_CMD_WATCH_THREAD);
	if (r)
		return r;
	if (nla_put_u32(msg, VE_A_TID, tid)) {
		nlmsg_free(msg);
		return -EMSGSIZE;
	}
	mutex_lock(&ve_lock);
	r = ve_thread_watch(info, tid, nla_get_u64(info->attrs[VE_A_ACCOUNT]),
			    info->attrs[VE_A_EVENTS], msg);
	mutex_unlock(&ve_lock);
	if (r) {
		nlmsg_free(msg);
		return r;
	}
	genlmsg_end(msg, hdr);
	return genlmsg_reply(msg, info);
}

static int ve_cmd_unwatch_thread(struct sk_buff *skb, struct genl_info *info)
{
	int r;

	if (ve_missing(info, VE_A_TID))
		return -EINVAL;
	mutex_lock(&ve_lock);
	r = ve_thread_unwatch(nla_get_u32(info->attrs[VE_A_TID]), info->snd_portid);
	mutex_unlock(&ve_lock);
	if (r)
		NL_SET_ERR_MSG(info->extack, "thread not watched by this socket");
	return r;
}

static int ve_cmd_watch_cgroup(struct sk_buff *skb, struct genl_info *info)
{
	int r;

	if (ve_missing(info, VE_A_CGROUP_ID) || ve_missing(info, VE_A_ACCOUNT))
		return -EINVAL;
	mutex_lock(&ve_lock);
	r = ve_cgroup_watch(info, nla_get_u64(info->attrs[VE_A_CGROUP_ID]),
			    nla_get_u64(info->attrs[VE_A_ACCOUNT]));
	mutex_unlock(&ve_lock);
	return r;
}

static int ve_cmd_unwatch_cgroup(struct sk_buff *skb, struct genl_info *info)
{
	int r;

	if (ve_missing(info, VE_A_CGROUP_ID))
		return -EINVAL;
	mutex_lock(&ve_lock);
	r = ve_cgroup_unwatch(nla_get_u64(info->attrs[VE_A_CGROUP_ID]), info->snd_portid);
	mutex_unlock(&ve_lock);
	if (r)
		NL_SET_ERR_MSG(info->extack, "cgroup not watched by this socket");
	return r;
}

static int ve_cmd_set_config(struct sk_buff *skb, struct genl_info *info)
{
	mutex_lock(&ve_lock);
	if (info->attrs[VE_A_PERIOD_MS])
		ve_period_ms = nla_get_u32(info->attrs[VE_A_PERIOD_MS]);
	if (info->attrs[VE_A_BATCH])
		ve_batch_max = nla_get_u32(info->attrs[VE_A_BATCH]);
	ve_due_ns = 0;	/* the run below starts the count again */
	/*
	 * The new period takes effect now, not after the old one ran out.
	 * Under ve_lock, and not while unloading: ve_exit() stops the work
	 * before the family goes, and must not see it armed again.
	 */
	if (!ve_unloading)
		mod_delayed_work(system_wq, &ve_work, 0);
	mutex_unlock(&ve_lock);
	return 0;
}

static struct netlink_range_validation ve_period_range = {
	.min = VE_PERIOD_MS_MIN, .max = VE_PERIOD_MS_MAX,
};

static struct netlink_range_validation ve_batch_range = {
	.min = VE_BATCH_MIN, .max = VE_BATCH_MAX,
};

static const struct nla_policy ve_policy[VE_A_MAX + 1] = {
	[VE_A_PERIOD_MS] = NLA_POLICY_FULL_RANGE(NLA_U32, &ve_period_range),
	[VE_A_BATCH] = NLA_POLICY_FULL_RANGE(NLA_U32, &ve_batch_range),
	[VE_A_TID] = NLA_POLICY_MIN(NLA_U32, 1),
	[VE_A_ACCOUNT] = { .type = NLA_U64 },
	[VE_A_EVENTS] = { .type = NLA_NESTED_ARRAY },
	[VE_A_CGROUP_ID] = NLA_POLICY_MIN(NLA_U64, 1),
};

static const struct genl_ops ve_ops[] = {
	{ .cmd = VE_CMD_GET_INFO, .doit = ve_cmd_get_info, .flags = GENL_ADMIN_PERM },
	{ .cmd = VE_CMD_WATCH_THREAD, .doit = ve_cmd_watch_thread, .flags = GENL_ADMIN_PERM },
	{ .cmd = VE_CMD_UNWATCH_THREAD, .doit = ve_cmd_unwatch_thread, .flags = GENL_ADMIN_PERM },
	{ .cmd = VE_CMD_WATCH_CGROUP, .doit = ve_cmd_watch_cgroup, .flags = GENL_ADMIN_PERM },
	{ .cmd = VE_CMD_UNWATCH_CGROUP, .doit = ve_cmd_unwatch_cgroup, .flags = GENL_ADMIN_PERM },
	{ .cmd = VE_CMD_SET_CONFIG, .doit = ve_cmd_set_config, .flags = GENL_ADMIN_PERM },
};

struct genl_family ve_family __ro_after_init = {
	.name = VE_GENL_NAME,
	.version = VE_GENL_VERSION,
	.maxattr = VE_A_MAX,
	.policy = ve_policy,
	.module = THIS_MODULE,
	.ops = ve_ops,
	.n_ops = ARRAY_SIZE(ve_ops),
	.mcgrps = ve_mcgrps,
	.n_mcgrps = ARRAY_SIZE(ve_mcgrps),
};

/* ---- a watching socket closed: its watches end with it ----------------- */

static int ve_netlink_event(struct notifier_block *nb, unsigned long state, void *ptr)
{
	struct netlink_notify *n = ptr;

	if (state != NETLINK_URELEASE || n->protocol != NETLINK_GENERIC || !n->portid)
		return NOTIFY_DONE;
	mutex_lock(&ve_lock);
	ve_thread_drop_owner(n->portid);
	ve_cgroup_drop_owner(n->portid);
	mutex_unlock(&ve_lock);
	return NOTIFY_DONE;
}

static struct notifier_block ve_netlink_nb = {
	.notifier_call = ve_netlink_event,
};

/* ---- load and unload ---------------------------------------------------- */

static int __init ve_init(void)
{
	int r;

	if (ve_period_ms < VE_PERIOD_MS_MIN || ve_period_ms > VE_PERIOD_MS_MAX ||
	    ve_batch_max < VE_BATCH_MIN || ve_batch_max > VE_BATCH_MAX) {
		pr_err("virtenergy: period_ms must be %u..%u and batch %u..%u\n",
		       VE_PERIOD_MS_MIN, VE_PERIOD_MS_MAX, VE_BATCH_MIN, VE_BATCH_MAX);
		return -EINVAL;
	}
	ve_hw_events = ve_hw_events_available();
	r = ve_blkio_init();
	if (r)
		return r;
	r = netlink_register_notifier(&ve_netlink_nb);
	if (r)
		goto err_blkio;
	r = genl_register_family(&ve_family);
	if (r)
		goto err_notifier;
	ve_last_ns = ktime_get_ns();
	schedule_delayed_work(&ve_work, msecs_to_jiffies(ve_period_ms));
	pr_info("virtenergy: protocol %u, period %u ms, up to %u threads and %u cgroups\n",
		VE_GENL_VERSION, ve_period_ms, ve_max_threads, ve_max_cgroups);
	return 0;

err_notifier:
	netlink_unregister_notifier(&ve_netlink_nb);
err_blkio:
	ve_blkio_exit();
	return r;
}

/*
 * Unload stops every way into the module before it frees what they use:
 *
 * 1. The period work.  Only the work itself and VE_CMD_SET_CONFIG arm it,
 *    both under ve_lock and only while !ve_unloading.  Once ve_unloading
 *    is set under that lock, cancel_delayed_work_sync() removes a pending
 *    run and waits for a running one, and nothing can arm it again.  It
 *    stops before the family goes, so no sample is multicast on a family
 *    id or group that genetlink has released and may hand to another.
 * 2. Commands.  genl_unregister_family() takes genetlink's cb_lock for
 *    writing, which every command's doit runs under for reading: it waits
 *    for commands in flight, and removes the family id, so a command that
 *    arrives after it returns finds no family and gets ENOENT without
 *    reaching our code.  Commands in between may still add watches; they
 *    are freed at step 5.
 * 3. Socket release.  netlink_unregister_notifier() waits for a
 *    ve_netlink_event() in progress, and none starts after it.
 * 4. The block I/O probe.  ve_blkio_exit() unregisters it and waits in
 *    tracepoint_synchronize_unregister() for the RCU grace period, so no
 *    CPU is still inside it, looking up or adding to a watched cgroup.
 * 5. Only now the watches go, under ve_lock for lockdep's sake: nothing
 *    else can reach them.  A thread's perf events were opened with no
 *    overflow handler, so perf_event_release_kernel() leaves no callback
 *    into this module.  Cgroup watches go by kfree_rcu(), which runs no
 *    code of ours and may finish after the module text is gone.  The
 *    rcu_barrier() is for call_rcu() callbacks, which would be module
 *    code: none is queued today, and it keeps a future one safe.
 */
static void __exit ve_exit(void)
{
	mutex_lock(&ve_lock);
	ve_unloading = true;
	mutex_unlock(&ve_lock);
	cancel_delayed_work_sync(&ve_work);
	genl_unregister_family(&ve_family);
	netlink_unregister_notifier(&ve_netlink_nb);
	ve_blkio_exit();
	mutex_lock(&ve_lock);
	ve_thread_drop_all();
	ve_cgroup_drop_all();
	mutex_unlock(&ve_lock);
	rcu_barrier();
}

module_init(ve_init);
module_exit(ve_exit);

MODULE_LICENSE("GPL");
MODULE_DESCRIPTION("virtenergy: per-thread perf events and block I/O completions for virtenergyd");
MODULE_AUTHOR("The virtenergy team");
MODULE_VERSION("0.1");
MODULE_ALIAS_GENL_FAMILY(VE_GENL_NAME);
