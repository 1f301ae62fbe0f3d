// SPDX-License-Identifier: GPL-2.0-or-later
/*
 * test_kmodnl: the daemon's side of virtenergy.ko's samples (protocol 2,
 * packed records, include/virtenergy/uapi.h), over a real generic-netlink
 * socket: messages built here as the module builds them are sent to the
 * client's loopback socket (ve_kmod_open_loopback()) and must reach the
 * handlers record by record; a record that lies about its size ends its
 * array, and nothing after it is handed on.  The module itself is tested in
 * the test kernel (tests/kmod).
 */
#include <errno.h>
#include <netlink/genl/genl.h>
#include <netlink/msg.h>
#include <netlink/netlink.h>
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <string.h>
#include <unistd.h>

#include <cmocka.h>

#include "kmodnl.h"

struct got {
	struct ve_kmod_thread_sample th[16];
	struct ve_kmod_cgroup_sample cg[16];
	unsigned int n_th, n_cg, n_end;
	uint64_t end_time, end_period, seq;
};

static void on_thread(void *ud, uint64_t seq, const struct ve_kmod_thread_sample *s)
{
	struct got *g = ud;

	g->seq = seq;
	if (g->n_th < 16)
		g->th[g->n_th++] = *s;
}

static void on_cgroup(void *ud, uint64_t seq, const struct ve_kmod_cgroup_sample *s)
{
	struct got *g = ud;

	(void)seq;
	if (g->n_cg < 16)
		g->cg[g->n_cg++] = *s;
}

static void on_end(void *ud, uint64_t seq, uint64_t time_ns, uint64_t period_ns)
{
	struct got *g = ud;

	(void)seq;
	g->n_end++;
	g->end_time = time_ns;
	g->end_period = period_ns;
}

struct world {
	struct ve_kmod *k;
	struct nl_sock *tx;
	struct nl_msg *msg;
	struct nlattr *array;
};

static int setup(void **state)
{
	struct world *w = calloc(1, sizeof(*w));
	uint32_t port;

	assert_non_null(w);
	assert_int_equal(ve_kmod_open_loopback(&w->k, &port), 0);
	w->tx = nl_socket_alloc();
	assert_non_null(w->tx);
	assert_int_equal(nl_connect(w->tx, NETLINK_GENERIC), 0);
	nl_socket_set_peer_port(w->tx, port);
	*state = w;
	return 0;
}

static int teardown(void **state)
{
	struct world *w = *state;

	nl_socket_free(w->tx);
	ve_kmod_close(w->k);
	free(w);
	return 0;
}

static void msg_begin(struct world *w, uint64_t seq)
{
	w->msg = nlmsg_alloc_size(16384);
	assert_non_null(w->msg);
	assert_non_null(genlmsg_put(w->msg, NL_AUTO_PORT, NL_AUTO_SEQ, 0x20, 0, 0, VE_CMD_SAMPLES,
				    VE_GENL_VERSION));
	assert_int_equal(nla_put_u64(w->msg, VE_A_SEQ, seq), 0);
	assert_int_equal(nla_put_u64(w->msg, VE_A_TIME_NS, 5000000000u + seq), 0);
	assert_int_equal(nla_put_u64(w->msg, VE_A_PERIOD_NS, 100000000u), 0);
}

static void array_begin(struct world *w, int type)
{
	w->array = nla_reserve(w->msg, type, 0);
	assert_non_null(w->array);
}

static void put(struct world *w, const void *data, size_t len)
{
	void *p = nlmsg_reserve(w->msg, len, 1);

	assert_non_null(p);
	memcpy(p, data, len);
}

static void array_end(struct world *w)
{
	assert_int_equal(nla_nest_end(w->msg, w->array), 0);
}

static void put_thread(struct world *w, uint32_t tid, uint16_t flags, uint64_t run_ns,
		       unsigned int n, const uint64_t *v)
{
	struct ve_thread_rec r = {
		.tid = tid, .flags = flags, .n_values = (uint16_t)n, .account = 1000 + tid,
		.run_ns = run_ns,
	};

	put(w, &r, sizeof(r));
	if (n)
		put(w, v, n * sizeof(*v));
}

static void put_cgroup(struct world *w, uint64_t id, uint32_t dev, uint64_t wr_bytes)
{
	struct ve_cgroup_rec r = {
		.cgroup_id = id, .account = id, .dev = dev,
		.ops = { 1, 2 }, .bytes = { 512, wr_bytes }, .ns = { 30, 40 },
	};

	put(w, &r, sizeof(r));
}

static void msg_send(struct world *w, bool last)
{
	assert_int_equal(nla_put_u32(w->msg, VE_A_FLAGS, last ? VE_MSG_LAST : 0), 0);
	assert_true(nl_send_auto(w->tx, w->msg) >= 0);
	nlmsg_free(w->msg);
	w->msg = NULL;
}

static int receive(struct world *w, struct got *g)
{
	const struct ve_kmod_handlers h = {
		.thread = on_thread, .cgroup = on_cgroup, .period_end = on_end, .ud = g,
	};

	memset(g, 0, sizeof(*g));
	return ve_kmod_receive(w->k, &h, NULL);
}

/* Records of both kinds, with and without values, reach their handlers as sent. */
static void test_records(void **state)
{
	struct world *w = *state;
	const uint64_t v2[2] = { 111, UINT64_MAX };
	const uint64_t v7[7] = { 1, 2, 3, 4, 5, 6, 7 };
	struct got g;

	msg_begin(w, 7);
	array_begin(w, VE_A_THREADS);
	put_thread(w, 10, 0, 1000, 0, NULL);
	put_thread(w, 11, VE_TS_EXITED, 2000, 2, v2);
	put_thread(w, 12, 0, 3000, 7, v7);
	array_end(w);
	array_begin(w, VE_A_CGROUPS);
	put_cgroup(w, 77, 8u << 8, 4096);
	put_cgroup(w, 78, 0, 0);
	array_end(w);
	msg_send(w, true);

	assert_int_equal(receive(w, &g), 1);
	assert_int_equal(g.seq, 7);
	assert_int_equal(g.n_th, 3);
	assert_int_equal(g.th[0].tid, 10);
	assert_int_equal(g.th[0].account, 1010);
	assert_int_equal(g.th[0].run_ns, 1000);
	assert_int_equal(g.th[0].n, 0);
	assert_int_equal(g.th[0].flags, 0);
	assert_int_equal(g.th[1].flags, VE_TS_EXITED);
	assert_int_equal(g.th[1].n, 2);
	assert_int_equal(g.th[1].v[0], 111);
	assert_true(g.th[1].v[1] == UINT64_MAX);
	assert_int_equal(g.th[2].n, 7);
	assert_int_equal(g.th[2].v[6], 7);
	assert_int_equal(g.th[2].run_ns, 3000);
	assert_int_equal(g.n_cg, 2);
	assert_int_equal(g.cg[0].id, 77);
	assert_int_equal(g.cg[0].dev, 8u << 8);
	assert_int_equal(g.cg[0].ops[0], 1);
	assert_int_equal(g.cg[0].ops[1], 2);
	assert_int_equal(g.cg[0].bytes[1], 4096);
	assert_int_equal(g.cg[0].ns[1], 40);
	assert_int_equal(g.cg[1].id, 78);
	assert_int_equal(g.n_end, 1);
	assert_int_equal(g.end_time, 5000000007u);
	assert_int_equal(g.end_period, 100000000u);
}

/* A period in two messages ends once, with the last. */
static void test_two_messages(void **state)
{
	struct world *w = *state;
	struct got g;

	msg_begin(w, 8);
	array_begin(w, VE_A_THREADS);
	put_thread(w, 20, 0, 1, 0, NULL);
	array_end(w);
	msg_send(w, false);
	msg_begin(w, 8);
	array_begin(w, VE_A_THREADS);
	put_thread(w, 21, 0, 2, 0, NULL);
	array_end(w);
	msg_send(w, true);

	assert_int_equal(receive(w, &g), 2);
	assert_int_equal(g.n_th, 2);
	assert_int_equal(g.th[1].tid, 21);
	assert_int_equal(g.n_end, 1);
}

/* More values than VE_NL_MAX_EVENTS: that record and all after it are dropped. */
static void test_too_many_values(void **state)
{
	struct world *w = *state;
	const uint64_t v8[8] = { 0 };
	struct got g;

	msg_begin(w, 9);
	array_begin(w, VE_A_THREADS);
	put_thread(w, 30, 0, 5, 0, NULL);
	put_thread(w, 31, 0, 6, 8, v8);
	put_thread(w, 32, 0, 7, 0, NULL);
	array_end(w);
	msg_send(w, true);

	assert_int_equal(receive(w, &g), 1);
	assert_int_equal(g.n_th, 1);
	assert_int_equal(g.th[0].tid, 30);
	assert_int_equal(g.n_end, 1);
}

/* An array cut short: whole records go on, the piece at the end does not. */
static void test_truncated(void **state)
{
	struct world *w = *state;
	const uint64_t v3[3] = { 9, 9, 9 };
	struct ve_thread_rec half = { .tid = 41, .n_values = 3, .account = 1041, .run_ns = 1 };
	struct ve_cgroup_rec cg = { .cgroup_id = 90 };
	struct got g;

	msg_begin(w, 10);
	array_begin(w, VE_A_THREADS);
	put_thread(w, 40, 0, 8, 3, v3);
	put(w, &half, sizeof(half));     /* says 3 values, has none */
	array_end(w);
	array_begin(w, VE_A_CGROUPS);
	put_cgroup(w, 91, 0, 1);
	put(w, &cg, sizeof(cg) - 8);     /* a cgroup record short of its last field */
	array_end(w);
	msg_send(w, true);

	assert_int_equal(receive(w, &g), 1);
	assert_int_equal(g.n_th, 1);
	assert_int_equal(g.th[0].tid, 40);
	assert_int_equal(g.th[0].v[2], 9);
	assert_int_equal(g.n_cg, 1);
	assert_int_equal(g.cg[0].id, 91);
}

/* An empty last message (a period with nothing watched) only ends the period. */
static void test_empty(void **state)
{
	struct world *w = *state;
	struct got g;

	msg_begin(w, 11);
	msg_send(w, true);
	assert_int_equal(receive(w, &g), 1);
	assert_int_equal(g.n_th + g.n_cg, 0);
	assert_int_equal(g.n_end, 1);
	assert_int_equal(receive(w, &g), 0);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(test_records, setup, teardown),
		cmocka_unit_test_setup_teardown(test_two_messages, setup, teardown),
		cmocka_unit_test_setup_teardown(test_too_many_values, setup, teardown),
		cmocka_unit_test_setup_teardown(test_truncated, setup, teardown),
		cmocka_unit_test_setup_teardown(test_empty, setup, teardown),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
