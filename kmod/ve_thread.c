// SPDX-License-Identifier: GPL-2.0-only
/*
 * ve_thread.c: watched threads.
 *
 * Run time is the scheduler's own sum_exec_runtime: one load per thread and
 * period, no perf event needed.  Events are perf kernel counters on the
 * thread; one the machine cannot count is replaced by the software task
 * clock and the reply says so.  A watch holds a reference to the task, so
 * a thread that exits leaves its final counts readable: the next period
 * sends them flagged VE_TS_EXITED and drops the watch.
 *
 * An event's VALUES delta is its raw count in the period scaled by the
 * period's own enabled / running time (ve_scale.h): scaling the totals
 * overflowed u64 and went backwards under multiplexing.
 */
#include <linux/hashtable.h>
#include <linux/list.h>
#include <linux/perf_event.h>
#include <linux/pid.h>
#include <linux/sched.h>
#include <linux/sched/task.h>
#include <linux/slab.h>

#include "ve.h"
#include "ve_scale.h"

struct ve_thread {
	struct hlist_node hnode;	/* ve_threads, by tid */
	struct list_head link;		/* ve_thread_list, in watch order */
	u32 tid;
	u32 portid;			/* the socket that owns the watch */
	u64 account;
	struct task_struct *task;	/* a reference */
	u64 last_run_ns;
	unsigned int nr_events;
	struct perf_event *ev[VE_NL_MAX_EVENTS];
	struct ve_count last[VE_NL_MAX_EVENTS];	/* raw, at the last sample */
};

static DEFINE_HASHTABLE(ve_threads, 10);
static LIST_HEAD(ve_thread_list);
static unsigned int ve_nr_threads;

static struct ve_thread *ve_thread_find(u32 tid)
{
	struct ve_thread *t;

	hash_for_each_possible(ve_threads, t, hnode, tid)
		if (t->tid == tid)
			return t;
	return NULL;
}

static void ve_thread_free(struct ve_thread *t)
{
	unsigned int i;

	hash_del(&t->hnode);
	list_del(&t->link);
	for (i = 0; i < t->nr_events; i++)
		perf_event_release_kernel(t->ev[i]);
	put_task_struct(t->task);
	kfree(t);
	ve_nr_threads--;
}

/* The raw totals: ve_scale_delta() scales one period's part of them. */
static void ve_event_read(struct perf_event *ev, struct ve_count *c)
{
	c->count = perf_event_read_value(ev, &c->enabled_ns, &c->running_ns);
}

static struct perf_event *ve_event_open(struct task_struct *task, u32 type, u64 config)
{
	struct perf_event_attr attr = {
		.size = sizeof(attr),
		.type = type,
		.config = config,
	};

	return perf_event_create_kernel_counter(&attr, -1, task, NULL, NULL);
}

bool ve_hw_events_available(void)
{
	struct perf_event *ev = ve_event_open(current, PERF_TYPE_HARDWARE,
					      PERF_COUNT_HW_CPU_CYCLES);

	if (IS_ERR(ev))
		return false;
	perf_event_release_kernel(ev);
	return true;
}

static const struct nla_policy ve_event_policy[VE_EV_MAX + 1] = {
	[VE_EV_TYPE] = { .type = NLA_U32 },
	[VE_EV_CONFIG] = { .type = NLA_U64 },
};

/* Open one event as asked, else the task clock; record it in @reply. */
static int ve_thread_add_event(struct ve_thread *t, const struct nlattr *spec,
			       struct genl_info *info, struct sk_buff *reply)
{
	struct nlattr *tb[VE_EV_MAX + 1], *nest;
	struct perf_event *ev;
	u32 type, status = VE_EV_COUNTED, error = 0;
	u64 config;
	int r;

	r = nla_parse_nested(tb, VE_EV_MAX, spec, ve_event_policy, info->extack);
	if (r)
		return r;
	if (!tb[VE_EV_TYPE] || !tb[VE_EV_CONFIG]) {
		NL_SET_ERR_MSG_ATTR(info->extack, spec, "an event needs VE_EV_TYPE and VE_EV_CONFIG");
		return -EINVAL;
	}
	type = nla_get_u32(tb[VE_EV_TYPE]);
	config = nla_get_u64(tb[VE_EV_CONFIG]);
	if (type == PERF_TYPE_TRACEPOINT || type == PERF_TYPE_BREAKPOINT) {
		NL_SET_ERR_MSG_ATTR(info->extack, tb[VE_EV_TYPE],
				    "tracepoint and breakpoint events cannot be watched");
		return -EINVAL;
	}
	ev = ve_event_open(t->task, type, config);
	if (IS_ERR(ev)) {
		error = -PTR_ERR(ev);
		status = VE_EV_SUBSTITUTED;
		ev = ve_event_open(t->task, PERF_TYPE_SOFTWARE, PERF_COUNT_SW_TASK_CLOCK);
		if (IS_ERR(ev))
			return PTR_ERR(ev);
	}
	t->ev[t->nr_events] = ev;
	ve_event_read(ev, &t->last[t->nr_events]);
	t->nr_events++;

	nest = nla_nest_start(reply, VE_A_EVENT);
	if (!nest ||
	    nla_put_u32(reply, VE_EV_TYPE, status == VE_EV_COUNTED ? type : PERF_TYPE_SOFTWARE) ||
	    nla_put_u64_64bit(reply, VE_EV_CONFIG,
			      status == VE_EV_COUNTED ? config : PERF_COUNT_SW_TASK_CLOCK,
			      VE_EV_PAD) ||
	    nla_put_u32(reply, VE_EV_STATUS, status) ||
	    nla_put_u32(reply, VE_EV_ERROR, error))
		return -EMSGSIZE;
	nla_nest_end(reply, nest);
	return 0;
}

int ve_thread_watch(struct genl_info *info, u32 tid, u64 account,
		    const struct nlattr *events, struct sk_buff *reply)
{
	struct nlattr *spec, *nest;
	struct ve_thread *t;
	struct pid *pid;
	int rem, r;

	lockdep_assert_held(&ve_lock);
	if (ve_thread_find(tid)) {
		NL_SET_ERR_MSG(info->extack, "thread already watched");
		return -EEXIST;
	}
	if (ve_nr_threads >= ve_max_threads) {
		NL_SET_ERR_MSG(info->extack, "too many watched threads (module parameter max_threads)");
		return -ENOSPC;
	}
	t = kzalloc(sizeof(*t), GFP_KERNEL);
	if (!t)
		return -ENOMEM;
	pid = find_get_pid(tid);
	t->task = get_pid_task(pid, PIDTYPE_PID);
	put_pid(pid);
	if (!t->task) {
		kfree(t);
		NL_SET_ERR_MSG(info->extack, "no such thread");
		return -ESRCH;
	}
	t->tid = tid;
	t->portid = info->snd_portid;
	t->account = account;
	t->last_run_ns = READ_ONCE(t->task->se.sum_exec_runtime);
	INIT_LIST_HEAD(&t->link);
	INIT_HLIST_NODE(&t->hnode);

	nest = nla_nest_start(reply, VE_A_EVENTS);
	if (!nest) {
		r = -EMSGSIZE;
		goto fail;
	}
	if (events) {
		nla_for_each_nested(spec, events, rem) {
			if (t->nr_events == VE_NL_MAX_EVENTS) {
				NL_SET_ERR_MSG_ATTR(info->extack, spec, "more than VE_NL_MAX_EVENTS events");
				r = -E2BIG;
				goto fail;
			}
			r = ve_thread_add_event(t, spec, info, reply);
			if (r)
				goto fail;
		}
	}
	nla_nest_end(reply, nest);

	hash_add(ve_threads, &t->hnode, tid);
	list_add_tail(&t->link, &ve_thread_list);
	ve_nr_threads++;
	return 0;
fail:
	while (t->nr_events)
		perf_event_release_kernel(t->ev[--t->nr_events]);
	put_task_struct(t->task);
	kfree(t);
	return r;
}

int ve_thread_unwatch(u32 tid, u32 portid)
{
	struct ve_thread *t;

	lockdep_assert_held(&ve_lock);
	t = ve_thread_find(tid);
	if (!t || t->portid != portid)
		return -ENOENT;
	ve_thread_free(t);
	return 0;
}

void ve_thread_drop_owner(u32 portid)
{
	struct ve_thread *t, *n;

	lockdep_assert_held(&ve_lock);
	list_for_each_entry_safe(t, n, &ve_thread_list, link)
		if (t->portid == portid)
			ve_thread_free(t);
}

void ve_thread_drop_all(void)
{
	struct ve_thread *t, *n;

	lockdep_assert_held(&ve_lock);
	list_for_each_entry_safe(t, n, &ve_thread_list, link)
		ve_thread_free(t);
}

unsigned int ve_thread_count(void)
{
	return ve_nr_threads;
}

void ve_thread_sample(struct ve_batch *b)
{
	struct ve_thread_rec rec;
	u64 vals[VE_NL_MAX_EVENTS];
	struct ve_thread *t, *n;
	unsigned int i;
	bool exited;
	u64 run;
	u8 *p;

	lockdep_assert_held(&ve_lock);
	list_for_each_entry_safe(t, n, &ve_thread_list, link) {
		exited = READ_ONCE(t->task->exit_state) != 0;
		/* exit_state before the counts: read after it, they are final */
		smp_rmb();
		run = READ_ONCE(t->task->se.sum_exec_runtime);
		for (i = 0; i < t->nr_events; i++) {
			struct ve_count now;

			ve_event_read(t->ev[i], &now);
			vals[i] = ve_scale_delta(&t->last[i], &now);
			t->last[i] = now;
		}
		rec = (struct ve_thread_rec){
			.tid = t->tid,
			.flags = exited ? VE_TS_EXITED : 0,
			.n_values = t->nr_events,
			.account = t->account,
			.run_ns = run - t->last_run_ns,
		};
		p = ve_batch_record(b, VE_A_THREADS, sizeof(rec) + t->nr_events * sizeof(u64));
		if (p) {
			memcpy(p, &rec, sizeof(rec));
			memcpy(p + sizeof(rec), vals, t->nr_events * sizeof(u64));
		}
		t->last_run_ns = run;
		if (exited)
			ve_thread_free(t);
	}
}
