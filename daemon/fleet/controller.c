// SPDX-License-Identifier: GPL-2.0-or-later
/*
 * controller.c: the elected controller (see controller.h, fleet.h).
 *
 * The books that fleet.h asks for, per host, in memory: the last cap and
 * fallback written, the highest of each written since the host last
 * reported applying the latest, and the revision of that write.  A host
 * acknowledges a write by the revision of the cap key it applied (the
 * revision of our transaction), never by the value: a value written twice
 * would read as acknowledged while the host still holds a write between.
 * A new controller has no books: its warm-up (one TTL and one period from
 * its election) writes nothing above what each host may already hold at
 * its fallback, since the old controller's caps are gone from etcd (its
 * lease expired before we could be elected) but a host may take up to half
 * a TTL to notice.
 */
#include <string.h>

#include "controller.h"
#include "error.h"
#include "fleet.h"

struct book {
	uint64_t last_cap, max_cap, last_fb, max_fb;
	gint64 rev;
	bool acked;                  /* this round's report acknowledges our latest write */
	bool in_fallback;            /* its report says it holds no cap (cap_rev 0) */
	char *roster;                /* the roster value last written */
};

struct ve_fleet_controller {
	struct ve_etcd *etcd;        /* borrowed */
	const struct ve_fleet_opts *o;  /* borrowed (the agent's) */
	ve_fleet_log_fn log;
	void *ud;
	gint64 lease;
	GCancellable *cancel;        /* this lease's campaign and rounds */
	bool campaigning, leads, busy;
	char *leader_key;
	gint64 leader_rev;
	uint64_t elected_us;         /* when its warm-up began: the election, or etcd back */
	uint64_t last_read_us;       /* the last round that could read etcd */
	guint timer, retry, reread;
	GHashTable *books;           /* host -> struct book */
	struct ve_fleet_tree tree;   /* the last good one */
	char *tree_error;            /* the last refusal logged */
	GHashTable *warned;          /* host -> the last message about it */
};

static uint64_t now_us(void)
{
	return (uint64_t)g_get_monotonic_time();
}

static void book_free(gpointer p)
{
	struct book *b = p;

	g_free(b->roster);
	g_free(b);
}

static void say(struct ve_fleet_controller *c, const char *fmt, ...) G_GNUC_PRINTF(2, 3);
static void say(struct ve_fleet_controller *c, const char *fmt, ...)
{
	va_list ap;
	g_autofree char *m = NULL;

	va_start(ap, fmt);
	m = g_strdup_vprintf(fmt, ap);
	va_end(ap);
	c->log(c->ud, m);
}

/* Once per host and message. */
static void warn_host(struct ve_fleet_controller *c, const char *host, const char *msg)
{
	if (g_strcmp0(g_hash_table_lookup(c->warned, host), msg) == 0)
		return;
	g_hash_table_insert(c->warned, g_strdup(host), g_strdup(msg));
	say(c, "fleet controller: host '%s': %s", host, msg);
}

static void campaign(struct ve_fleet_controller *c);
static gboolean on_reread(gpointer data);

static void step_down(struct ve_fleet_controller *c, const char *why)
{
	if (c->leads)
		say(c, "fleet controller: no longer leading (%s)", why);
	c->leads = false;
	c->busy = false;
	g_clear_pointer(&c->leader_key, g_free);
	if (c->timer) {
		g_source_remove(c->timer);
		c->timer = 0;
	}
	if (c->reread) {
		g_source_remove(c->reread);
		c->reread = 0;
	}
	g_hash_table_remove_all(c->books);
}

static gboolean on_retry(gpointer data)
{
	struct ve_fleet_controller *c = data;

	c->retry = 0;
	campaign(c);
	return G_SOURCE_REMOVE;
}

struct host_in {
	char *name;
	struct ve_fleet_report rep;
	bool have_rep;
	char *roster_node;
	uint64_t roster_fb;
	bool have_caps_key;
};

static void host_in_free(gpointer p)
{
	struct host_in *h = p;

	g_free(h->name);
	ve_fleet_report_clear(&h->rep);
	g_free(h->roster_node);
	g_free(h);
}

static struct host_in *host_get(GHashTable *t, const char *name)
{
	struct host_in *h = g_hash_table_lookup(t, name);

	if (!h) {
		h = g_new0(struct host_in, 1);
		h->name = g_strdup(name);
		g_hash_table_insert(t, h->name, h);
	}
	return h;
}

struct txn {
	struct ve_fleet_controller *c;
	GPtrArray *written;          /* the hosts whose cap key this transaction writes */
};

static void on_txn(JsonObject *r, const GError *err, gpointer ud)
{
	struct txn *t = ud;
	struct ve_fleet_controller *c = t->c;
	g_autoptr(GPtrArray) written = t->written;

	g_free(t);
	if (g_error_matches(err, G_IO_ERROR, G_IO_ERROR_CANCELLED))
		return;
	c->busy = false;
	if (!r) {
		/* nothing written, or not known: the books keep the higher of old and new */
		return;
	}
	if (!json_object_get_boolean_member_with_default(r, "succeeded", FALSE)) {
		step_down(c, "the election key is no longer ours");
		campaign(c);
		return;
	}
	/* every put of one transaction has its revision */
	for (guint i = 0; i < written->len; i++) {
		struct book *bk = g_hash_table_lookup(c->books, written->pdata[i]);

		if (bk)
			bk->rev = ve_etcd_int(json_object_get_object_member(r, "header"), "revision", 0);
	}
}

/* Write the round: caps and roster in a transaction guarded by our election key. */
static void write_round(struct ve_fleet_controller *c, JsonArray *ops, GPtrArray *written)
{
	struct txn *t = g_new0(struct txn, 1);
	JsonNode *root = ve_etcd_txn_body(c->leader_key, "CREATE", c->leader_rev, json_array_ref(ops));

	t->c = c;
	t->written = g_ptr_array_ref(written);
	ve_etcd_call(c->etcd, "/v3/kv/txn", root, 0, c->cancel, on_txn, t);
}

static void plan_round(struct ve_fleet_controller *c, GHashTable *hosts, gint64 read_rev)
{
	g_autoptr(GPtrArray) written = g_ptr_array_new_with_free_func(g_free);
	g_autofree struct ve_fleet_host *in = NULL;
	g_autofree struct ve_fleet_out *out = NULL;
	g_autofree struct host_in **who = NULL;
	g_autoptr(JsonArray) ops = json_array_new();
	GHashTableIter it;
	gpointer v;
	size_t n = 0, cap = g_hash_table_size(hosts) + 1;
	uint64_t now = now_us();
	bool warm = now < c->elected_us + c->o->ttl_s * 1000000 + c->o->period_us;
	int r;

	in = g_new0(struct ve_fleet_host, cap);
	out = g_new0(struct ve_fleet_out, cap);
	who = g_new0(struct host_in *, cap);
	g_hash_table_iter_init(&it, hosts);
	while (g_hash_table_iter_next(&it, NULL, &v)) {
		struct host_in *h = v;
		struct book *bk = g_hash_table_lookup(c->books, h->name);
		const char *node_path = h->have_rep ? h->rep.node : h->roster_node;
		int node = ve_fleet_tree_find(&c->tree, node_path);
		struct ve_fleet_host *x = &in[n];

		if (node < 0 && h->have_rep && h->roster_node)
			node = ve_fleet_tree_find(&c->tree, h->roster_node);
		if (node < 0) {
			g_autofree char *m = g_strdup_printf("its node '%s' is not in the tree; it gets no cap",
							     node_path ? node_path : "?");

			warn_host(c, h->name, m);
			continue;
		}
		x->node = node;
		x->live = h->have_rep && ve_fleet_tree_find(&c->tree, h->rep.node) == node;
		if (x->live) {
			/*
			 * cap_rev is 0 while the host holds no cap of a controller (its
			 * fallback).  Acknowledged: it applied our latest write, cap and
			 * fallback, which supersedes anything written to it before.
			 */
			bool acked = bk && bk->rev > 0 && h->rep.cap_rev == bk->rev;

			if (bk)
				bk->acked = acked;
			if (acked) {
				bk->max_cap = bk->last_cap;
				bk->max_fb = bk->last_fb;
			}
			/*
			 * A host in its fallback takes only caps written after we read
			 * its fallback report (agent.c): what we wrote before is void for
			 * it, and a cap above what it holds now is a raise to be paid for
			 * from the spare, like any other.
			 */
			if (bk && h->rep.cap_rev == 0 && !bk->in_fallback)
				bk->max_cap = 0;
			if (bk)
				bk->in_fallback = h->rep.cap_rev == 0;
			x->demand_uw = h->rep.demand_uw;
			x->guarantee_uw = h->rep.guarantee_uw;
			x->floor_uw = h->rep.floor_uw;
			x->weight = h->rep.weight;
			x->reported_cap_uw = h->rep.cap_uw ? h->rep.cap_uw : UINT64_MAX;
			x->reported_fb_uw = h->rep.fallback_uw;
			x->written_cap_uw = bk ? bk->max_cap : 0;
			/* acknowledged: the roster's is no longer held (it comes down below) */
			x->written_fb_uw = acked ? bk->max_fb : MAX(bk ? bk->max_fb : 0, h->roster_fb);
		} else {
			x->written_fb_uw = MAX(bk ? bk->max_fb : 0, h->roster_fb);
		}
		who[n++] = h;
	}
	r = ve_fleet_plan(c->tree.nodes, c->tree.n, in, n, warm, out);
	if (r < 0) {
		say(c, "fleet controller: the split failed (%s); caps stay as they are", g_strerror(-r));
		c->busy = false;
		return;
	}
	for (size_t i = 0; i < n; i++) {
		struct host_in *h = who[i];
		struct book *bk = g_hash_table_lookup(c->books, h->name);
		g_autofree char *path = ve_fleet_tree_path(&c->tree, (size_t)in[i].node);
		g_autofree char *roster = NULL;
		uint64_t fb_books;

		if (!bk) {
			bk = g_new0(struct book, 1);
			g_hash_table_insert(c->books, g_strdup(h->name), bk);
		}
		if (in[i].live) {
			struct ve_fleet_cap cp = { .cap_uw = out[i].cap_uw, .fallback_uw = out[i].fallback_uw,
						   .leader = (char *)c->o->host, .read_rev = read_rev };
			g_autofree char *key = g_strdup_printf("%s/caps/%s", c->o->prefix, h->name);
			g_autofree char *val = ve_fleet_cap_to_json(&cp);

			/*
			 * Unchanged caps are not written again (a new revision would void
			 * the host's acknowledgement), but for a host in fallback: it takes
			 * a cap above what it holds only from a round that read its
			 * fallback report (agent.c), so it needs one written since.
			 */
			if (out[i].cap_uw != bk->last_cap || out[i].fallback_uw != bk->last_fb ||
			    !h->have_caps_key || h->rep.cap_rev == 0) {
				json_array_add_element(ops, ve_etcd_txn_put(key, val, c->lease));
				g_ptr_array_add(written, g_strdup(h->name));
				bk->rev = -1;   /* until the transaction says */
			}
			bk->last_cap = out[i].cap_uw;
			bk->last_fb = out[i].fallback_uw;
			bk->max_cap = MAX(bk->max_cap, out[i].cap_uw);
			bk->max_fb = MAX(bk->max_fb, out[i].fallback_uw);
			fb_books = MAX(bk->max_fb, h->rep.fallback_uw);
			g_hash_table_remove(c->warned, h->name);
		} else {
			/* it cannot see a cap it should not hold; its fallback stays reserved */
			if (h->have_caps_key) {
				g_autofree char *key = g_strdup_printf("%s/caps/%s", c->o->prefix, h->name);

				json_array_add_element(ops, ve_etcd_txn_delete(key));
			}
			fb_books = in[i].written_fb_uw;
			if (h->have_rep)
				warn_host(c, h->name, "its report does not parse or names another node; "
						      "counted at its fallback");
		}
		/*
		 * The roster is what any controller reserves for the host when it
		 * cannot see it: the most it may hold as its fallback.  It comes
		 * down only with an acknowledgement (fleet.h: fallbacks move with
		 * demand, and a roster that only rose would hold every host's
		 * books at the highest fallback it ever had).
		 */
		if (!(in[i].live && bk->acked))
			fb_books = MAX(fb_books, h->roster_fb);
		roster = ve_fleet_roster_to_json(path, fb_books);
		if (!h->roster_node || g_strcmp0(roster, bk->roster) != 0) {
			g_autofree char *key = g_strdup_printf("%s/roster/%s", c->o->prefix, h->name);

			json_array_add_element(ops, ve_etcd_txn_put(key, roster, 0));
			g_free(bk->roster);
			bk->roster = g_strdup(roster);
		}
	}
	if (json_array_get_length(ops) == 0) {
		c->busy = false;
		return;
	}
	write_round(c, ops, written);
}

static void on_read(JsonObject *r, const GError *err, gpointer ud)
{
	struct ve_fleet_controller *c = ud;
	g_autoptr(GHashTable) hosts = NULL;
	g_autofree char *hosts_pfx = NULL, *caps_pfx = NULL, *roster_pfx = NULL, *tree_key = NULL;
	JsonArray *kvs;
	bool tree_seen = false;

	if (g_error_matches(err, G_IO_ERROR, G_IO_ERROR_CANCELLED))
		return;
	if (!r) {
		/* etcd electing a leader, say: again soon rather than a period later */
		c->busy = false;
		if (!c->reread)
			c->reread = g_timeout_add(100, on_reread, c);
		return;
	}
	/*
	 * etcd was out of reach for a TTL (quorum lost: no lease expires then,
	 * so no host was seen gone, while every host went to its fallback): the
	 * reports read now may be from before.  Start over as a new controller
	 * would, with a warm-up, until every host has reported again.  Shorter
	 * gaps (a member's death, etcd's leader election) need none: a host that
	 * fell back holds at most the cap it had until 2 TTL + a period after it
	 * lost etcd (fleet.h), which leaves it more than a TTL after etcd is back
	 * to report its fallback, and from that report on it is counted at it.
	 */
	if (c->last_read_us && now_us() - c->last_read_us > c->o->ttl_s * 1000000) {
		say(c, "fleet controller: etcd was out of reach for %.1f s; raising no cap for %" G_GUINT64_FORMAT " s",
		    (double)(now_us() - c->last_read_us) / 1e6, c->o->ttl_s + c->o->period_us / 1000000);
		c->elected_us = now_us();
		g_hash_table_remove_all(c->books);
	}
	c->last_read_us = now_us();
	hosts = g_hash_table_new_full(g_str_hash, g_str_equal, NULL, host_in_free);
	hosts_pfx = g_strdup_printf("%s/hosts/", c->o->prefix);
	caps_pfx = g_strdup_printf("%s/caps/", c->o->prefix);
	roster_pfx = g_strdup_printf("%s/roster/", c->o->prefix);
	tree_key = g_strdup_printf("%s/tree", c->o->prefix);
	kvs = json_object_has_member(r, "kvs") ? json_object_get_array_member(r, "kvs") : NULL;
	for (guint i = 0; kvs && i < json_array_get_length(kvs); i++) {
		JsonObject *kv = json_array_get_object_element(kvs, i);
		g_autofree char *k = ve_etcd_unb64(json_object_get_string_member_with_default(kv, "key", NULL));
		g_autofree char *val = ve_etcd_unb64(json_object_get_string_member_with_default(kv, "value", ""));
		g_autoptr(GError) e = NULL;

		if (!k)
			continue;
		if (strcmp(k, tree_key) == 0) {
			struct ve_fleet_tree t = { 0 };

			tree_seen = true;
			if (ve_fleet_tree_parse(val, &t, &e)) {
				ve_fleet_tree_clear(&c->tree);
				c->tree = t;
				g_clear_pointer(&c->tree_error, g_free);
			} else if (g_strcmp0(e->message, c->tree_error) != 0) {
				say(c, "fleet controller: %s; %s", e->message,
				    c->tree.n ? "the last good tree stays in use" : "no caps are written");
				g_free(c->tree_error);
				c->tree_error = g_strdup(e->message);
			}
		} else if (g_str_has_prefix(k, hosts_pfx) && ve_fleet_name_ok(k + strlen(hosts_pfx))) {
			struct host_in *h = host_get(hosts, k + strlen(hosts_pfx));

			h->have_rep = ve_fleet_report_parse(val, &h->rep, &e);
			if (!h->have_rep)
				warn_host(c, h->name, e->message);
		} else if (g_str_has_prefix(k, roster_pfx) && ve_fleet_name_ok(k + strlen(roster_pfx))) {
			struct host_in *h = host_get(hosts, k + strlen(roster_pfx));

			if (!ve_fleet_roster_parse(val, &h->roster_node, &h->roster_fb, &e))
				warn_host(c, h->name, e->message);
		} else if (g_str_has_prefix(k, caps_pfx) && ve_fleet_name_ok(k + strlen(caps_pfx))) {
			host_get(hosts, k + strlen(caps_pfx))->have_caps_key = true;
		}
	}
	if (!tree_seen && !c->tree_error) {
		say(c, "fleet controller: no tree under %s; no caps are written", tree_key);
		c->tree_error = g_strdup("none");
	}
	/* a host with no key left (forgotten, virtenergyctl fleet forget) has no books either */
	{
		GHashTableIter it;
		gpointer name;

		g_hash_table_iter_init(&it, c->books);
		while (g_hash_table_iter_next(&it, &name, NULL))
			if (!g_hash_table_contains(hosts, name))
				g_hash_table_iter_remove(&it);
	}
	if (!c->tree.n) {
		c->busy = false;
		return;
	}
	plan_round(c, hosts, ve_etcd_int(json_object_get_object_member(r, "header"), "revision", 0));
}

static gboolean on_round(gpointer data)
{
	struct ve_fleet_controller *c = data;
	g_autofree char *pfx = g_strdup_printf("%s/", c->o->prefix);

	if (!c->leads || c->busy)
		return G_SOURCE_CONTINUE;
	c->busy = true;
	ve_etcd_call_any(c->etcd, "/v3/kv/range", ve_etcd_range_body(pfx, TRUE), 0, c->cancel, on_read, c);
	return G_SOURCE_CONTINUE;
}

static gboolean on_reread(gpointer data)
{
	struct ve_fleet_controller *c = data;

	c->reread = 0;
	on_round(c);
	return G_SOURCE_REMOVE;
}

static void on_elected(JsonObject *r, const GError *err, gpointer ud)
{
	struct ve_fleet_controller *c = ud;
	JsonObject *l;

	if (g_error_matches(err, G_IO_ERROR, G_IO_ERROR_CANCELLED))
		return;
	c->campaigning = false;
	l = r && json_object_has_member(r, "leader") ? json_object_get_object_member(r, "leader") : NULL;
	if (!l || !json_object_has_member(l, "key")) {
		if (c->lease && !c->retry)
			c->retry = g_timeout_add((guint)(c->o->period_us / 1000), on_retry, c);
		return;
	}
	c->leader_key = ve_etcd_unb64(json_object_get_string_member_with_default(l, "key", NULL));
	c->leader_rev = ve_etcd_int(l, "rev", 0);
	c->leads = c->leader_key != NULL;
	c->elected_us = c->last_read_us = now_us();
	g_hash_table_remove_all(c->books);
	say(c, "fleet controller: leading (the host '%s'); raising no cap for %" G_GUINT64_FORMAT " s",
	    c->o->host, c->o->ttl_s + c->o->period_us / 1000000);
	c->timer = g_timeout_add((guint)(c->o->period_us / 1000), on_round, c);
	on_round(c);
}

static void campaign(struct ve_fleet_controller *c)
{
	g_autoptr(JsonBuilder) b = json_builder_new();
	g_autofree char *name = g_strdup_printf("%s/election", c->o->prefix);
	g_autofree char *n64 = ve_etcd_b64(name), *v64 = ve_etcd_b64(c->o->host);
	g_autofree char *lease = g_strdup_printf("%" G_GINT64_FORMAT, c->lease);

	if (!c->lease || c->campaigning || c->leads)
		return;
	json_builder_begin_object(b);
	json_builder_set_member_name(b, "name");
	json_builder_add_string_value(b, n64);
	json_builder_set_member_name(b, "lease");
	json_builder_add_string_value(b, lease);
	json_builder_set_member_name(b, "value");
	json_builder_add_string_value(b, v64);
	json_builder_end_object(b);
	c->campaigning = true;
	ve_etcd_call(c->etcd, "/v3/election/campaign", json_builder_get_root(b), G_MAXUINT, c->cancel,
		     on_elected, c);
}

struct ve_fleet_controller *ve_fleet_controller_new(struct ve_etcd *e, const struct ve_fleet_opts *o,
						    ve_fleet_log_fn log, void *ud)
{
	struct ve_fleet_controller *c = g_new0(struct ve_fleet_controller, 1);

	c->etcd = e;
	c->o = o;
	c->log = log;
	c->ud = ud;
	c->cancel = g_cancellable_new();
	c->books = g_hash_table_new_full(g_str_hash, g_str_equal, g_free, book_free);
	c->warned = g_hash_table_new_full(g_str_hash, g_str_equal, g_free, g_free);
	return c;
}

void ve_fleet_controller_free(struct ve_fleet_controller *c)
{
	if (!c)
		return;
	step_down(c, "stopping");
	if (c->retry)
		g_source_remove(c->retry);
	g_cancellable_cancel(c->cancel);
	g_object_unref(c->cancel);
	g_hash_table_destroy(c->books);
	g_hash_table_destroy(c->warned);
	ve_fleet_tree_clear(&c->tree);
	g_free(c->tree_error);
	g_free(c);
}

void ve_fleet_controller_set_lease(struct ve_fleet_controller *c, gint64 lease)
{
	if (lease == c->lease)
		return;
	/* a new lease: whatever ran on the old one is over */
	step_down(c, "its lease expired");
	g_cancellable_cancel(c->cancel);
	g_object_unref(c->cancel);
	c->cancel = g_cancellable_new();
	c->campaigning = false;
	c->lease = lease;
	campaign(c);
}

bool ve_fleet_controller_leads(struct ve_fleet_controller *c)
{
	return c->leads;
}
