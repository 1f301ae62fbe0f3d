// SPDX-License-Identifier: GPL-2.0-or-later
/*
 * kmodnl_samples.c: the samples side of virtenergy.ko's client (see
 * kmodnl.h): joining the samples group, draining it, parsing each thread's
 * and cgroup's entry; and the loopback client that benchmarks feed.
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


static struct nla_policy cs_policy[VE_CS_MAX + 1] = {
	[VE_CS_CGROUP_ID] = { .type = NLA_U64 },
	[VE_CS_ACCOUNT] = { .type = NLA_U64 },
	[VE_CS_READ_OPS] = { .type = NLA_U64 },
	[VE_CS_READ_BYTES] = { .type = NLA_U64 },
	[VE_CS_READ_NS] = { .type = NLA_U64 },
	[VE_CS_WRITE_OPS] = { .type = NLA_U64 },
	[VE_CS_WRITE_BYTES] = { .type = NLA_U64 },
	[VE_CS_WRITE_NS] = { .type = NLA_U64 },
	[VE_CS_DEV] = { .type = NLA_U32 },
};

/* ---- samples ---------------------------------------------------------------- */

/*
 * A thread's entry, the one per watched thread and period: walked once by
 * hand rather than through nla_parse_nested(), which zeroes and fills a
 * table and checks each attribute against the policy by its type, a third
 * of the daemon's cost of a period in kmod mode (bench_kmod_daemon).  The
 * rules a policy table of their types would keep: every attribute the exact size of its type, a
 * value array of whole u64s, TID and RUN_NS present; an entry that breaks
 * one is dropped; of a repeated attribute the last counts.
 */
static void parse_thread(struct ve_kmod *k, uint64_t seq, struct nlattr *a)
{
	struct ve_kmod_thread_sample s = { 0 };
	bool have_tid = false, have_run = false;
	struct nlattr *x;
	int rem, len;

	nla_for_each_nested(x, a, rem) {
		len = nla_len(x);
		switch (nla_type(x)) {
		case VE_TS_TID:
			if (len != 4)
				return;
			s.tid = nla_get_u32(x);
			have_tid = true;
			break;
		case VE_TS_FLAGS:
			if (len != 4)
				return;
			s.flags = nla_get_u32(x);
			break;
		case VE_TS_ACCOUNT:
			if (len != 8)
				return;
			s.account = nla_get_u64(x);
			break;
		case VE_TS_RUN_NS:
			if (len != 8)
				return;
			s.run_ns = nla_get_u64(x);
			have_run = true;
			break;
		case VE_TS_VALUES:
			if (len % 8 || len / 8 > VE_NL_MAX_EVENTS)
				return;
			s.n = (unsigned int)len / 8;
			memcpy(s.v, nla_data(x), (size_t)len);
			break;
		default:
			if (nla_type(x) > VE_TS_MAX)
				return;   /* nla_parse_nested() refuses those too */
			break;
		}
	}
	if (rem != 0 || !have_tid || !have_run)
		return;
	if (k->h->thread)
		k->h->thread(k->h->ud, seq, &s);
}

static uint64_t get_u64(struct nlattr **tb, int a)
{
	return tb[a] ? nla_get_u64(tb[a]) : 0;
}

static void parse_cgroup(struct ve_kmod *k, uint64_t seq, struct nlattr *a)
{
	struct nlattr *tb[VE_CS_MAX + 1];
	struct ve_kmod_cgroup_sample s;

	if (nla_parse_nested(tb, VE_CS_MAX, a, cs_policy) < 0 || !tb[VE_CS_CGROUP_ID])
		return;
	s.id = get_u64(tb, VE_CS_CGROUP_ID);
	s.account = get_u64(tb, VE_CS_ACCOUNT);
	s.ops[0] = get_u64(tb, VE_CS_READ_OPS);
	s.bytes[0] = get_u64(tb, VE_CS_READ_BYTES);
	s.ns[0] = get_u64(tb, VE_CS_READ_NS);
	s.ops[1] = get_u64(tb, VE_CS_WRITE_OPS);
	s.bytes[1] = get_u64(tb, VE_CS_WRITE_BYTES);
	s.ns[1] = get_u64(tb, VE_CS_WRITE_NS);
	s.dev = tb[VE_CS_DEV] ? nla_get_u32(tb[VE_CS_DEV]) : 0;
	if (k->h->cgroup)
		k->h->cgroup(k->h->ud, seq, &s);
}

static int no_seq_check(struct nl_msg *msg, void *arg)
{
	(void)msg;
	(void)arg;
	return NL_OK;
}

static int on_samples(struct nl_msg *msg, void *arg)
{
	struct ve_kmod *k = arg;
	struct nlmsghdr *nlh = nlmsg_hdr(msg);
	struct genlmsghdr *g = nlmsg_data(nlh);
	struct nlattr *a;
	uint64_t seq = 0, period = 0, time_ns = 0;
	uint32_t flags = 0;
	int rem;

	if (!genlmsg_valid_hdr(nlh, 0) || g->cmd != VE_CMD_SAMPLES)
		return NL_SKIP;
	k->messages++;
	nla_for_each_attr(a, genlmsg_attrdata(g, 0), genlmsg_attrlen(g, 0), rem) {
		switch (nla_type(a)) {
		case VE_A_SEQ:
			if (nla_len(a) == 8)
				seq = nla_get_u64(a);
			break;
		case VE_A_PERIOD_NS:
			if (nla_len(a) == 8)
				period = nla_get_u64(a);
			break;
		case VE_A_TIME_NS:
			if (nla_len(a) == 8)
				time_ns = nla_get_u64(a);
			break;
		case VE_A_THREAD:
			parse_thread(k, seq, a);
			break;
		case VE_A_CGROUP:
			parse_cgroup(k, seq, a);
			break;
		case VE_A_FLAGS:
			if (nla_len(a) == 4)
				flags = nla_get_u32(a);
			break;
		default:
			break;
		}
	}
	if ((flags & VE_MSG_LAST) && k->h->period_end)
		k->h->period_end(k->h->ud, seq, time_ns, period);
	return NL_OK;
}

int ve_kmod_subscribe(struct ve_kmod *k)
{
	int r;

	if (k->mc)
		return nl_socket_get_fd(k->mc);
	k->group = genl_ctrl_resolve_grp(k->cmd, VE_GENL_NAME, VE_MCGRP_SAMPLES);
	if (k->group < 0)
		return -ENOENT;
	k->mc = nl_socket_alloc();
	k->mc_cb = nl_cb_alloc(NL_CB_DEFAULT);
	if (!k->mc || !k->mc_cb)
		goto fail;
	nl_socket_disable_seq_check(k->mc);
	if (genl_connect(k->mc) < 0)
		goto fail;
	/* a period of 1,000 threads is about 100 KiB: room for many periods */
	nl_socket_set_buffer_size(k->mc, 4 << 20, 0);
	kmodnl_set_int_opt(k->mc, SOL_SOCKET, SO_RCVBUFFORCE, 4 << 20);
	r = nl_socket_add_membership(k->mc, k->group);
	if (r < 0 || nl_socket_set_nonblocking(k->mc) < 0)
		goto fail;
	nl_cb_set(k->mc_cb, NL_CB_VALID, NL_CB_CUSTOM, on_samples, k);
	/* multicast messages carry no sequence numbers of ours */
	nl_cb_set(k->mc_cb, NL_CB_SEQ_CHECK, NL_CB_CUSTOM, no_seq_check, NULL);
	return nl_socket_get_fd(k->mc);
fail:
	if (k->mc_cb)
		nl_cb_put(k->mc_cb);
	if (k->mc)
		nl_socket_free(k->mc);
	k->mc = NULL;
	k->mc_cb = NULL;
	return -EIO;
}

int ve_kmod_receive(struct ve_kmod *k, const struct ve_kmod_handlers *h, unsigned int *ret_lost)
{
	int r;

	if (!k->mc)
		return -EINVAL;
	k->h = h;
	k->messages = 0;
	for (;;) {
		r = nl_recvmsgs(k->mc, k->mc_cb);
		if (r == -NLE_AGAIN)
			break;
		if (r == -NLE_NOMEM) {       /* ENOBUFS: the kernel dropped messages */
			if (ret_lost)
				(*ret_lost)++;
			continue;
		}
		if (r < 0) {
			snprintf(k->error, sizeof(k->error), "receive: %s", nl_geterror(r));
			return -EIO;
		}
	}
	return k->messages;
}

int ve_kmod_open_loopback(struct ve_kmod **ret, uint32_t *ret_port)
{
	struct ve_kmod *k = calloc(1, sizeof(*k));

	if (!k)
		return -ENOMEM;
	k->group = -1;
	k->mc = nl_socket_alloc();
	k->mc_cb = nl_cb_alloc(NL_CB_DEFAULT);
	if (!k->mc || !k->mc_cb || nl_connect(k->mc, NETLINK_GENERIC) < 0 ||
	    nl_socket_set_nonblocking(k->mc) < 0) {
		ve_kmod_close(k);
		return -EIO;
	}
	nl_socket_disable_seq_check(k->mc);
	nl_socket_set_buffer_size(k->mc, 16 << 20, 0);
	kmodnl_set_int_opt(k->mc, SOL_SOCKET, SO_RCVBUFFORCE, 16 << 20);
	nl_cb_set(k->mc_cb, NL_CB_VALID, NL_CB_CUSTOM, on_samples, k);
	nl_cb_set(k->mc_cb, NL_CB_SEQ_CHECK, NL_CB_CUSTOM, no_seq_check, NULL);
	*ret_port = nl_socket_get_local_port(k->mc);
	*ret = k;
	return 0;
}
