// SPDX-License-Identifier: GPL-2.0-only
/*
 * ve_blkio.c: block I/O completions per cgroup.
 *
 * A probe on the block layer's block_rq_complete tracepoint (found by name
 * with for_each_kernel_tracepoint: the tracepoint itself is not exported
 * to modules) charges each completed request to the cgroup its first bio
 * was issued from, if that cgroup is watched, and to the request's device:
 * bytes as they complete, one operation and its service time when the
 * request is done.  A cgroup counts up to VE_CG_DEVS - 1 devices apart,
 * each claimed by the first I/O to it (cmpxchg, so probes on several CPUs
 * agree), and the rest together in the last slot, reported as device 0.  Service
 * time runs from the request's start (issue to the driver, or allocation
 * where the queue keeps no issue time) to completion.
 *
 * The probe runs in interrupt context on any CPU: it only looks the cgroup
 * up under RCU and adds to atomics.  Watches are freed after an RCU grace
 * period; the period work turns the atomics into deltas.
 */
#include <linux/blk-cgroup.h>
#include <linux/blk-mq.h>
#include <linux/blkdev.h>
#include <linux/cgroup.h>
#include <linux/hashtable.h>
#include <linux/rculist.h>
#include <linux/sched/clock.h>
#include <linux/slab.h>
#include <linux/tracepoint.h>

#include "ve.h"

enum { VE_RD = VE_DIR_READ, VE_WR = VE_DIR_WRITE, VE_DIRS };

#define VE_CG_DEVS 8

/* One device's I/O of a cgroup. */
struct ve_cgdev {
	atomic_t dev;			/* new_encode_dev(); 0: free; U32_MAX: other devices */
	atomic64_t ops[VE_DIRS], bytes[VE_DIRS], ns[VE_DIRS];
	u64 last_ops[VE_DIRS], last_bytes[VE_DIRS], last_ns[VE_DIRS];
};

struct ve_cgroup {
	struct hlist_node hnode;	/* ve_cgroups, by id, RCU */
	struct rcu_head rcu;
	u64 id;
	u64 account;
	u32 portid;
	struct ve_cgdev dev[VE_CG_DEVS];
};

/* The slot of device @dev in @c: its own, a free one it claims, or the last. */
static struct ve_cgdev *ve_cgdev_of(struct ve_cgroup *c, u32 dev)
{
	u32 old;
	int i;

	for (i = 0; i < VE_CG_DEVS - 1; i++) {
		old = (u32)atomic_read(&c->dev[i].dev);
		if (!old)
			old = (u32)atomic_cmpxchg(&c->dev[i].dev, 0, (int)dev);
		if (!old || old == dev)
			return &c->dev[i];
	}
	atomic_set(&c->dev[VE_CG_DEVS - 1].dev, -1);	/* U32_MAX: the rest, in use */
	return &c->dev[VE_CG_DEVS - 1];
}

static DEFINE_HASHTABLE(ve_cgroups, 8);
static unsigned int ve_nr_cgroups;
static struct tracepoint *ve_tp_complete;

static struct ve_cgroup *ve_cgroup_find(u64 id)
{
	struct ve_cgroup *c;

	hash_for_each_possible_rcu(ve_cgroups, c, hnode, id, lockdep_is_held(&ve_lock))
		if (c->id == id)
			return c;
	return NULL;
}

static void ve_probe_rq_complete(void *data, struct request *rq, blk_status_t error,
				 unsigned int nr_bytes)
{
	struct cgroup_subsys_state *css;
	struct ve_cgroup *c;
	u64 start;
	int dir;

	if (!rq->bio)
		return;
	switch (req_op(rq)) {
	case REQ_OP_READ:
		dir = VE_RD;
		break;
	case REQ_OP_WRITE:
		dir = VE_WR;
		break;
	default:
		return;
	}
	css = bio_blkcg_css(rq->bio);
	if (!css)
		return;
	rcu_read_lock();
	c = ve_cgroup_find(cgroup_id(css->cgroup));
	if (c) {
		/* a device number is never 0: MKDEV(0, 0) is no device */
		u32 dev = rq->q->disk ? new_encode_dev(disk_devt(rq->q->disk)) : 0;
		struct ve_cgdev *d = ve_cgdev_of(c, dev ? dev : U32_MAX);

		atomic64_add(nr_bytes, &d->bytes[dir]);
		if (nr_bytes >= blk_rq_bytes(rq)) {
			start = rq->io_start_time_ns ? rq->io_start_time_ns : rq->start_time_ns;
			atomic64_inc(&d->ops[dir]);
			if (start) {
				u64 now = ktime_get_ns();

				if (now > start)
					atomic64_add(now - start, &d->ns[dir]);
			}
		}
	}
	rcu_read_unlock();
}

static void ve_find_tracepoint(struct tracepoint *tp, void *priv)
{
	struct tracepoint **found = priv;

	if (!strcmp(tp->name, "block_rq_complete"))
		*found = tp;
}

int ve_blkio_init(void)
{
	struct tracepoint *tp = NULL;
	int r;

	for_each_kernel_tracepoint(ve_find_tracepoint, &tp);
	if (!tp) {
		pr_warn("virtenergy: no block_rq_complete tracepoint, block I/O is not counted\n");
		return 0;
	}
	r = tracepoint_probe_register(tp, ve_probe_rq_complete, NULL);
	if (r) {
		pr_warn("virtenergy: cannot attach to block_rq_complete (%d), block I/O is not counted\n",
			r);
		return 0;
	}
	ve_tp_complete = tp;
	return 0;
}

void ve_blkio_exit(void)
{
	if (ve_tp_complete) {
		tracepoint_probe_unregister(ve_tp_complete, ve_probe_rq_complete, NULL);
		tracepoint_synchronize_unregister();
		ve_tp_complete = NULL;
	}
}

bool ve_blkio_attached(void)
{
	return ve_tp_complete;
}

int ve_cgroup_watch(struct genl_info *info, u64 id, u64 account)
{
	struct ve_cgroup *c;

	lockdep_assert_held(&ve_lock);
	if (!ve_tp_complete) {
		NL_SET_ERR_MSG(info->extack, "block I/O tracepoint not attached");
		return -EOPNOTSUPP;
	}
	if (ve_cgroup_find(id)) {
		NL_SET_ERR_MSG(info->extack, "cgroup already watched");
		return -EEXIST;
	}
	if (ve_nr_cgroups >= ve_max_cgroups) {
		NL_SET_ERR_MSG(info->extack, "too many watched cgroups (module parameter max_cgroups)");
		return -ENOSPC;
	}
	c = kzalloc(sizeof(*c), GFP_KERNEL);
	if (!c)
		return -ENOMEM;
	c->id = id;
	c->account = account;
	c->portid = info->snd_portid;
	hash_add_rcu(ve_cgroups, &c->hnode, id);
	ve_nr_cgroups++;
	return 0;
}

static void ve_cgroup_free(struct ve_cgroup *c)
{
	hash_del_rcu(&c->hnode);
	kfree_rcu(c, rcu);
	ve_nr_cgroups--;
}

int ve_cgroup_unwatch(u64 id, u32 portid)
{
	struct ve_cgroup *c;

	lockdep_assert_held(&ve_lock);
	c = ve_cgroup_find(id);
	if (!c || c->portid != portid)
		return -ENOENT;
	ve_cgroup_free(c);
	return 0;
}

void ve_cgroup_drop_owner(u32 portid)
{
	struct hlist_node *tmp;
	struct ve_cgroup *c;
	int bkt;

	lockdep_assert_held(&ve_lock);
	hash_for_each_safe(ve_cgroups, bkt, tmp, c, hnode)
		if (c->portid == portid)
			ve_cgroup_free(c);
}

void ve_cgroup_drop_all(void)
{
	struct hlist_node *tmp;
	struct ve_cgroup *c;
	int bkt;

	lockdep_assert_held(&ve_lock);
	hash_for_each_safe(ve_cgroups, bkt, tmp, c, hnode)
		ve_cgroup_free(c);
}

unsigned int ve_cgroup_count(void)
{
	return ve_nr_cgroups;
}

static u64 ve_delta(atomic64_t *now, u64 *last)
{
	u64 v = atomic64_read(now), d = v - *last;

	*last = v;
	return d;
}

/* One record: @d's deltas of @c's I/O, @dev the device to report. */
static void ve_cgdev_sample(struct ve_batch *b, struct ve_cgroup *c, struct ve_cgdev *d, u32 dev)
{
	struct ve_cgroup_rec rec = {
		.cgroup_id = c->id,
		.account = c->account,
		.dev = dev,
	};
	void *p;
	int i;

	for (i = 0; i < VE_DIRS; i++) {
		rec.ops[i] = ve_delta(&d->ops[i], &d->last_ops[i]);
		rec.bytes[i] = ve_delta(&d->bytes[i], &d->last_bytes[i]);
		rec.ns[i] = ve_delta(&d->ns[i], &d->last_ns[i]);
	}
	p = ve_batch_record(b, VE_A_CGROUPS, sizeof(rec));
	if (p)
		memcpy(p, &rec, sizeof(rec));
}

/*
 * One record per device the cgroup's I/O went to; a cgroup that has done
 * none yet still gets one, of device 0 and all zeros, so that a watched
 * cgroup shows in every period.
 */
void ve_cgroup_sample(struct ve_batch *b)
{
	struct ve_cgroup *c;
	int bkt, i;

	lockdep_assert_held(&ve_lock);
	hash_for_each(ve_cgroups, bkt, c, hnode) {
		bool any = false;

		for (i = 0; i < VE_CG_DEVS; i++) {
			u32 dev = (u32)atomic_read(&c->dev[i].dev);

			if (!dev)
				continue;
			ve_cgdev_sample(b, c, &c->dev[i], dev == U32_MAX ? 0 : dev);
			any = true;
		}
		if (!any)
			ve_cgdev_sample(b, c, &c->dev[VE_CG_DEVS - 1], 0);
	}
}
