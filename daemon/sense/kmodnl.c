// SPDX-License-Identifier: GPL-2.0-or-later
/*
 * kmodnl.c: the client of virtenergy.ko's protocol (see kmodnl.h).
 */
#include <errno.h>
#include <netlink/attr.h>
#include <netlink/genl/ctrl.h>
#include <netlink/genl/genl.h>
#include <netlink/msg.h>
#include <netlink/netlink.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>

#include "kmodnl.h"
#include "kmodnl_int.h"

#ifndef SOL_NETLINK
#define SOL_NETLINK 270
#endif
/* from linux/netlink.h, which libnl's headers shadow */
#define VE_NETLINK_CAP_ACK 10
#define VE_NETLINK_EXT_ACK 11
#define VE_NLM_F_CAPPED 0x100
#define VE_NLM_F_ACK_TLVS 0x200
#define VE_NLMSGERR_ATTR_MSG 1
#define VE_NLMSGERR_ATTR_MAX 3


static struct nla_policy attr_policy[VE_A_MAX + 1] = {
	[VE_A_VERSION] = { .type = NLA_U32 },
	[VE_A_CAPS] = { .type = NLA_U32 },
	[VE_A_PERIOD_MS] = { .type = NLA_U32 },
	[VE_A_BATCH] = { .type = NLA_U32 },
	[VE_A_MAX_THREADS] = { .type = NLA_U32 },
	[VE_A_NR_THREADS] = { .type = NLA_U32 },
	[VE_A_MAX_CGROUPS] = { .type = NLA_U32 },
	[VE_A_NR_CGROUPS] = { .type = NLA_U32 },
	[VE_A_MAX_EVENTS] = { .type = NLA_U32 },
	[VE_A_TID] = { .type = NLA_U32 },
	[VE_A_ACCOUNT] = { .type = NLA_U64 },
	[VE_A_EVENTS] = { .type = NLA_NESTED },
	[VE_A_CGROUP_ID] = { .type = NLA_U64 },
	[VE_A_SEQ] = { .type = NLA_U64 },
	[VE_A_TIME_NS] = { .type = NLA_U64 },
	[VE_A_PERIOD_NS] = { .type = NLA_U64 },
	[VE_A_THREADS] = { .type = NLA_UNSPEC },
	[VE_A_CGROUPS] = { .type = NLA_UNSPEC },
	[VE_A_FLAGS] = { .type = NLA_U32 },
	[VE_A_WORK_NS] = { .type = NLA_U64 },
	[VE_A_ENTRIES] = { .type = NLA_U64 },
	[VE_A_BYTES] = { .type = NLA_U64 },
};

static struct nla_policy event_policy[VE_EV_MAX + 1] = {
	[VE_EV_TYPE] = { .type = NLA_U32 },
	[VE_EV_CONFIG] = { .type = NLA_U64 },
	[VE_EV_STATUS] = { .type = NLA_U32 },
	[VE_EV_ERROR] = { .type = NLA_U32 },
};

/* ---- requests ------------------------------------------------------------ */

struct request {
	struct ve_kmod *k;
	int err;
	bool done;
	int (*parse)(struct nlattr **tb, void *ud);
	void *ud;
};

static int on_reply(struct nl_msg *msg, void *arg)
{
	struct request *rq = arg;
	struct nlattr *tb[VE_A_MAX + 1];
	int r;

	r = genlmsg_parse(nlmsg_hdr(msg), 0, tb, VE_A_MAX, attr_policy);
	if (r < 0) {
		snprintf(rq->k->error, sizeof(rq->k->error), "malformed reply: %s", nl_geterror(r));
		rq->err = -EPROTO;
		return NL_STOP;
	}
	if (rq->parse) {
		r = rq->parse(tb, rq->ud);
		if (r < 0) {
			rq->err = r;
			return NL_STOP;
		}
	}
	return NL_OK;
}

static int on_ack(struct nl_msg *msg, void *arg)
{
	struct request *rq = arg;

	(void)msg;
	rq->done = true;
	return NL_STOP;
}

static int on_error(struct sockaddr_nl *nla, struct nlmsgerr *e, void *arg)
{
	struct request *rq = arg;
	struct nlmsghdr *h = (struct nlmsghdr *)((char *)e - NLMSG_HDRLEN);
	struct nlattr *tb[VE_NLMSGERR_ATTR_MAX + 1];
	size_t off, len;

	(void)nla;
	rq->err = e->error;
	rq->done = true;
	if (!(h->nlmsg_flags & VE_NLM_F_ACK_TLVS))
		return NL_STOP;
	off = sizeof(*e);
	if (!(h->nlmsg_flags & VE_NLM_F_CAPPED))
		off += e->msg.nlmsg_len - NLMSG_HDRLEN;
	off = NLMSG_ALIGN(off);
	len = h->nlmsg_len - NLMSG_HDRLEN;
	if (off >= len)
		return NL_STOP;
	if (nla_parse(tb, VE_NLMSGERR_ATTR_MAX, (struct nlattr *)((char *)e + off), (int)(len - off),
		      NULL) == 0 && tb[VE_NLMSGERR_ATTR_MSG])
		snprintf(rq->k->error, sizeof(rq->k->error), "%s",
			 (const char *)nla_data(tb[VE_NLMSGERR_ATTR_MSG]));
	return NL_STOP;
}

static struct nl_msg *new_request(struct ve_kmod *k, uint8_t cmd, uint8_t version)
{
	struct nl_msg *msg = nlmsg_alloc();

	if (!msg)
		return NULL;
	if (!genlmsg_put(msg, NL_AUTO_PORT, NL_AUTO_SEQ, k->family, 0, NLM_F_ACK, cmd, version)) {
		nlmsg_free(msg);
		return NULL;
	}
	return msg;
}

/* Send @msg (consumed), hand the reply's attributes to @parse. */
static int request(struct ve_kmod *k, struct nl_msg *msg, int (*parse)(struct nlattr **, void *),
		   void *ud)
{
	struct request rq = { .k = k, .parse = parse, .ud = ud };
	struct nl_cb *cb;
	int r;

	k->error[0] = '\0';
	if (!k->cmd) {
		nlmsg_free(msg);
		return 0;   /* a loopback client (kmodnl.h): no module to ask */
	}
	cb = nl_cb_alloc(NL_CB_DEFAULT);
	if (!cb) {
		nlmsg_free(msg);
		return -ENOMEM;
	}
	nl_cb_set(cb, NL_CB_VALID, NL_CB_CUSTOM, on_reply, &rq);
	nl_cb_set(cb, NL_CB_ACK, NL_CB_CUSTOM, on_ack, &rq);
	nl_cb_err(cb, NL_CB_CUSTOM, on_error, &rq);
	r = nl_send_auto(k->cmd, msg);
	nlmsg_free(msg);
	if (r < 0) {
		nl_cb_put(cb);
		snprintf(k->error, sizeof(k->error), "send: %s", nl_geterror(r));
		return -EIO;
	}
	while (!rq.done && rq.err == 0) {
		r = nl_recvmsgs(k->cmd, cb);
		if (r < 0 && rq.err == 0) {
			snprintf(k->error, sizeof(k->error), "receive: %s", nl_geterror(r));
			rq.err = -EIO;
		}
	}
	nl_cb_put(cb);
	return rq.err;
}

/* ---- open and close --------------------------------------------------------- */

int kmodnl_set_int_opt(struct nl_sock *sk, int level, int opt, int v)
{
	return setsockopt(nl_socket_get_fd(sk), level, opt, &v, sizeof(v)) < 0 ? -errno : 0;
}

int ve_kmod_open(struct ve_kmod **ret)
{
	struct ve_kmod *k = calloc(1, sizeof(*k));
	int r;

	if (!k)
		return -ENOMEM;
	k->group = -1;
	k->cmd = nl_socket_alloc();
	if (!k->cmd) {
		free(k);
		return -ENOMEM;
	}
	r = genl_connect(k->cmd);
	if (r < 0) {
		ve_kmod_close(k);
		return -EIO;
	}
	kmodnl_set_int_opt(k->cmd, SOL_NETLINK, VE_NETLINK_EXT_ACK, 1);
	kmodnl_set_int_opt(k->cmd, SOL_NETLINK, VE_NETLINK_CAP_ACK, 1);
	k->family = genl_ctrl_resolve(k->cmd, VE_GENL_NAME);
	if (k->family < 0) {
		ve_kmod_close(k);
		return -ENOENT;
	}
	*ret = k;
	return 0;
}

void ve_kmod_close(struct ve_kmod *k)
{
	if (!k)
		return;
	free(k->rx);
	if (k->mc)
		nl_socket_free(k->mc);
	if (k->cmd)
		nl_socket_free(k->cmd);
	free(k);
}

const char *ve_kmod_error(const struct ve_kmod *k)
{
	return k->error;
}

bool ve_kmod_alive(struct ve_kmod *k)
{
	return !k->cmd || genl_ctrl_resolve(k->cmd, VE_GENL_NAME) == k->family;
}

/* ---- commands --------------------------------------------------------------- */

static uint32_t get_u32(struct nlattr **tb, int a)
{
	return tb[a] ? nla_get_u32(tb[a]) : 0;
}

static int parse_info(struct nlattr **tb, void *ud)
{
	struct ve_kmod_info *i = ud;

	i->version = get_u32(tb, VE_A_VERSION);
	i->caps = get_u32(tb, VE_A_CAPS);
	i->period_ms = get_u32(tb, VE_A_PERIOD_MS);
	i->batch = get_u32(tb, VE_A_BATCH);
	i->max_threads = get_u32(tb, VE_A_MAX_THREADS);
	i->nr_threads = get_u32(tb, VE_A_NR_THREADS);
	i->max_cgroups = get_u32(tb, VE_A_MAX_CGROUPS);
	i->nr_cgroups = get_u32(tb, VE_A_NR_CGROUPS);
	i->max_events = get_u32(tb, VE_A_MAX_EVENTS);
	i->work_ns = tb[VE_A_WORK_NS] ? nla_get_u64(tb[VE_A_WORK_NS]) : 0;
	i->entries = tb[VE_A_ENTRIES] ? nla_get_u64(tb[VE_A_ENTRIES]) : 0;
	i->bytes = tb[VE_A_BYTES] ? nla_get_u64(tb[VE_A_BYTES]) : 0;
	return 0;
}

int ve_kmod_info(struct ve_kmod *k, struct ve_kmod_info *ret)
{
	struct nl_msg *msg = new_request(k, VE_CMD_GET_INFO, VE_GENL_VERSION);

	if (!msg)
		return -ENOMEM;
	memset(ret, 0, sizeof(*ret));
	return request(k, msg, parse_info, ret);
}

struct watch_reply {
	struct ve_kmod_event *ev;
	unsigned int n;
};

static int parse_watch(struct nlattr **tb, void *ud)
{
	struct watch_reply *w = ud;
	struct nlattr *a, *eb[VE_EV_MAX + 1];
	unsigned int i = 0;
	int rem;

	if (!tb[VE_A_EVENTS])
		return w->n ? -EPROTO : 0;
	nla_for_each_nested(a, tb[VE_A_EVENTS], rem) {
		if (i >= w->n || nla_parse_nested(eb, VE_EV_MAX, a, event_policy) < 0)
			return -EPROTO;
		w->ev[i].type = get_u32(eb, VE_EV_TYPE);
		w->ev[i].config = eb[VE_EV_CONFIG] ? nla_get_u64(eb[VE_EV_CONFIG]) : 0;
		w->ev[i].status = get_u32(eb, VE_EV_STATUS);
		w->ev[i].error = get_u32(eb, VE_EV_ERROR);
		i++;
	}
	return i == w->n ? 0 : -EPROTO;
}

int ve_kmod_watch_thread(struct ve_kmod *k, pid_t tid, uint64_t account,
			 struct ve_kmod_event *ev, unsigned int n)
{
	struct nl_msg *msg = new_request(k, VE_CMD_WATCH_THREAD, VE_GENL_VERSION);
	struct watch_reply w = { .ev = ev, .n = n };
	struct nlattr *events, *e;

	if (!msg)
		return -ENOMEM;
	if (nla_put_u32(msg, VE_A_TID, (uint32_t)tid) < 0 ||
	    nla_put_u64(msg, VE_A_ACCOUNT, account) < 0)
		goto full;
	if (n) {
		events = nla_nest_start(msg, VE_A_EVENTS);
		if (!events)
			goto full;
		for (unsigned int i = 0; i < n; i++) {
			e = nla_nest_start(msg, VE_A_EVENT);
			if (!e || nla_put_u32(msg, VE_EV_TYPE, ev[i].type) < 0 ||
			    nla_put_u64(msg, VE_EV_CONFIG, ev[i].config) < 0)
				goto full;
			nla_nest_end(msg, e);
		}
		nla_nest_end(msg, events);
	}
	return request(k, msg, parse_watch, &w);
full:
	nlmsg_free(msg);
	return -EMSGSIZE;
}

static int simple(struct ve_kmod *k, uint8_t cmd, int attr, uint64_t v, bool is64, int attr2,
		  uint64_t v2)
{
	struct nl_msg *msg = new_request(k, cmd, VE_GENL_VERSION);
	int r;

	if (!msg)
		return -ENOMEM;
	r = is64 ? nla_put_u64(msg, attr, v) : nla_put_u32(msg, attr, (uint32_t)v);
	if (r == 0 && attr2)
		r = nla_put_u64(msg, attr2, v2);
	if (r < 0) {
		nlmsg_free(msg);
		return -EMSGSIZE;
	}
	return request(k, msg, NULL, NULL);
}

int ve_kmod_unwatch_thread(struct ve_kmod *k, pid_t tid)
{
	return simple(k, VE_CMD_UNWATCH_THREAD, VE_A_TID, (uint32_t)tid, false, 0, 0);
}

int ve_kmod_watch_cgroup(struct ve_kmod *k, uint64_t cgroup_id, uint64_t account)
{
	return simple(k, VE_CMD_WATCH_CGROUP, VE_A_CGROUP_ID, cgroup_id, true, VE_A_ACCOUNT,
		      account);
}

int ve_kmod_unwatch_cgroup(struct ve_kmod *k, uint64_t cgroup_id)
{
	return simple(k, VE_CMD_UNWATCH_CGROUP, VE_A_CGROUP_ID, cgroup_id, true, 0, 0);
}

int ve_kmod_set_config(struct ve_kmod *k, uint32_t period_ms, uint32_t batch)
{
	struct nl_msg *msg = new_request(k, VE_CMD_SET_CONFIG, VE_GENL_VERSION);

	if (!msg)
		return -ENOMEM;
	if ((period_ms && nla_put_u32(msg, VE_A_PERIOD_MS, period_ms) < 0) ||
	    (batch && nla_put_u32(msg, VE_A_BATCH, batch) < 0)) {
		nlmsg_free(msg);
		return -EMSGSIZE;
	}
	return request(k, msg, NULL, NULL);
}

int ve_kmod_send_raw(struct ve_kmod *k, uint8_t cmd, uint8_t version, const void *attrs,
		     size_t len)
{
	struct nl_msg *msg = new_request(k, cmd, version);

	if (!msg)
		return -ENOMEM;
	if (len && nlmsg_append(msg, (void *)attrs, len, 1) < 0) {
		nlmsg_free(msg);
		return -EMSGSIZE;
	}
	return request(k, msg, NULL, NULL);
}
