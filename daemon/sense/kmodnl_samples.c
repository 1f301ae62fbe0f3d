// SPDX-License-Identifier: GPL-2.0-or-later
/*
 * kmodnl_samples.c: the samples side of virtenergy.ko's client (see
 * kmodnl.h): joining the samples group, draining it, parsing each thread's
 * and cgroup's record; and the loopback client that benchmarks feed.
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


/* ---- samples ---------------------------------------------------------------- */

/*
 * A VE_A_THREADS array: packed records, each its header and n_values
 * u64s (uapi.h).  Read with memcpy, as they are only 4-byte aligned.  A
 * record that claims more values than VE_NL_MAX_EVENTS or more bytes than
 * are left ends the array: what follows it cannot be found.
 */
static void parse_threads(struct ve_kmod *k, uint64_t seq, const struct nlattr *a)
{
	const unsigned char *p = nla_data(a);
	size_t left = (size_t)nla_len(a);
	struct ve_kmod_thread_sample s;
	struct ve_thread_rec r;

	while (left >= sizeof(r)) {
		size_t size;

		memcpy(&r, p, sizeof(r));
		size = sizeof(r) + (size_t)r.n_values * 8u;
		if (r.n_values > VE_NL_MAX_EVENTS || size > left)
			return;
		s.tid = r.tid;
		s.flags = r.flags;
		s.account = r.account;
		s.run_ns = r.run_ns;
		s.n = r.n_values;
		memcpy(s.v, p + sizeof(r), (size_t)r.n_values * 8u);
		if (k->h->thread)
			k->h->thread(k->h->ud, seq, &s);
		p += size;
		left -= size;
	}
}

/* A VE_A_CGROUPS array: packed records of one size. */
static void parse_cgroups(struct ve_kmod *k, uint64_t seq, const struct nlattr *a)
{
	const unsigned char *p = nla_data(a);
	size_t left = (size_t)nla_len(a);
	struct ve_kmod_cgroup_sample s;
	struct ve_cgroup_rec r;

	for (; left >= sizeof(r); p += sizeof(r), left -= sizeof(r)) {
		memcpy(&r, p, sizeof(r));
		s.id = r.cgroup_id;
		s.account = r.account;
		s.dev = r.dev;
		for (unsigned int d = 0; d < 2; d++) {
			s.ops[d] = r.ops[d];
			s.bytes[d] = r.bytes[d];
			s.ns[d] = r.ns[d];
		}
		if (k->h->cgroup)
			k->h->cgroup(k->h->ud, seq, &s);
	}
}

static void on_samples(struct ve_kmod *k, struct nlmsghdr *nlh)
{
	struct genlmsghdr *g = nlmsg_data(nlh);
	struct nlattr *a;
	uint64_t seq = 0, period = 0, time_ns = 0;
	uint32_t flags = 0;
	int rem;

	if (nlh->nlmsg_type < NLMSG_MIN_TYPE || !genlmsg_valid_hdr(nlh, 0) ||
	    g->cmd != VE_CMD_SAMPLES)
		return;
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
		case VE_A_THREADS:
			parse_threads(k, seq, a);
			break;
		case VE_A_CGROUPS:
			parse_cgroups(k, seq, a);
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
}

/*
 * The samples socket is read with recv(2) into one buffer held for its
 * life, of VE_MSG_MAX_BYTES (no samples message is longer), and walked
 * with libnl's nlmsg_ok()/nlmsg_next(): libnl's nl_recvmsgs() would peek
 * at every message's size first, then allocate a buffer and copy the
 * message again into an nl_msg, for each of them.
 */
static int rx_alloc(struct ve_kmod *k)
{
	k->rx = malloc(VE_MSG_MAX_BYTES);
	return k->rx ? 0 : -ENOMEM;
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
	if (!k->mc || rx_alloc(k) < 0)
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
	return nl_socket_get_fd(k->mc);
fail:
	if (k->mc)
		nl_socket_free(k->mc);
	k->mc = NULL;
	free(k->rx);
	k->rx = NULL;
	return -EIO;
}

int ve_kmod_receive(struct ve_kmod *k, const struct ve_kmod_handlers *h, unsigned int *ret_lost)
{
	int fd;

	if (!k->mc)
		return -EINVAL;
	fd = nl_socket_get_fd(k->mc);
	k->h = h;
	k->messages = 0;
	for (;;) {
		struct iovec iov = { .iov_base = k->rx, .iov_len = VE_MSG_MAX_BYTES };
		struct sockaddr_nl from = { 0 };
		struct msghdr mh = { .msg_name = &from, .msg_namelen = sizeof(from),
				     .msg_iov = &iov, .msg_iovlen = 1 };
		struct nlmsghdr *nlh = (struct nlmsghdr *)k->rx;
		ssize_t n = recvmsg(fd, &mh, MSG_DONTWAIT);
		int left;

		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK))
			break;
		if (n < 0 && errno == ENOBUFS) {   /* the kernel dropped messages */
			if (ret_lost)
				(*ret_lost)++;
			continue;
		}
		if (n < 0) {
			snprintf(k->error, sizeof(k->error), "receive: %s", strerror(errno));
			return -EIO;
		}
		if (mh.msg_flags & MSG_TRUNC)
			continue;   /* longer than any message of the module's: not one */
		/*
		 * Any process may unicast to this socket's port: only the
		 * kernel's (port 0) are the module's samples.  A loopback
		 * client takes what its benchmark or test sends.
		 */
		if (k->cmd && from.nl_pid != 0)
			continue;
		for (left = (int)n; nlmsg_ok(nlh, left); nlh = nlmsg_next(nlh, &left))
			on_samples(k, nlh);
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
	if (!k->mc || rx_alloc(k) < 0 || nl_connect(k->mc, NETLINK_GENERIC) < 0 ||
	    nl_socket_set_nonblocking(k->mc) < 0) {
		ve_kmod_close(k);
		return -EIO;
	}
	nl_socket_disable_seq_check(k->mc);
	nl_socket_set_buffer_size(k->mc, 16 << 20, 0);
	kmodnl_set_int_opt(k->mc, SOL_SOCKET, SO_RCVBUFFORCE, 16 << 20);
	*ret_port = nl_socket_get_local_port(k->mc);
	*ret = k;
	return 0;
}
