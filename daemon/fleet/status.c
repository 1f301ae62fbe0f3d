// SPDX-License-Identifier: GPL-2.0-or-later
/*
 * status.c: the operators' side of the fleet (see status.h).  Reads are
 * one range over the prefix and one election leader query; the leader's
 * absence (no one campaigns) is not an error, it is shown as null.
 */
#include <stdbool.h>
#include <string.h>

#include "error.h"
#include "keys.h"
#include "status.h"

struct op {
	struct ve_etcd *e;
	char *prefix;
	char *path;
	double watts;
	char *tree_json;             /* SetFleetTree's, checked */
	char *host;                  /* ForgetFleetHost's */
	JsonObject *range;           /* the status: the range's answer */
	ve_fleet_status_fn status_fn;
	ve_fleet_done_fn done_fn;
	gpointer ud;
};

static void op_free(struct op *o)
{
	g_free(o->prefix);
	g_free(o->path);
	g_free(o->tree_json);
	g_free(o->host);
	if (o->range)
		json_object_unref(o->range);
	g_free(o);
}

static double w(uint64_t uw)
{
	return (double)uw / 1e6;
}

static void add_w(JsonBuilder *b, const char *m, uint64_t uw)
{
	json_builder_set_member_name(b, m);
	json_builder_add_double_value(b, w(uw));
}

static char *key_value(JsonObject *kv, char **ret_value)
{
	*ret_value = ve_etcd_unb64(json_object_get_string_member_with_default(kv, "value", ""));
	return ve_etcd_unb64(json_object_get_string_member_with_default(kv, "key", NULL));
}

/* The hosts, by name: what each one's report, cap and roster keys say. */
static void add_hosts(JsonBuilder *b, JsonArray *kvs, const char *prefix)
{
	g_autoptr(GHashTable) names = g_hash_table_new_full(g_str_hash, g_str_equal, g_free, NULL);
	g_autofree char *hp = g_strdup_printf("%s/hosts/", prefix), *cp = g_strdup_printf("%s/caps/", prefix);
	g_autofree char *rp = g_strdup_printf("%s/roster/", prefix);
	g_autoptr(GList) sorted = NULL;

	for (guint i = 0; kvs && i < json_array_get_length(kvs); i++) {
		g_autofree char *v = NULL, *k = key_value(json_array_get_object_element(kvs, i), &v);
		const char *pfx[] = { hp, cp, rp };

		for (size_t j = 0; k && j < G_N_ELEMENTS(pfx); j++)
			if (g_str_has_prefix(k, pfx[j]))
				g_hash_table_add(names, g_strdup(k + strlen(pfx[j])));
	}
	sorted = g_list_sort(g_hash_table_get_keys(names), (GCompareFunc)strcmp);
	json_builder_set_member_name(b, "hosts");
	json_builder_begin_array(b);
	for (GList *l = sorted; l; l = l->next) {
		const char *name = l->data;
		struct ve_fleet_report rep = { 0 };
		struct ve_fleet_cap cap = { 0 };
		char *rnode = NULL;
		uint64_t rfb = 0;
		bool have_rep = false, have_cap = false, have_roster = false;
		g_autofree char *err = NULL;

		for (guint i = 0; kvs && i < json_array_get_length(kvs); i++) {
			g_autofree char *v = NULL, *k = key_value(json_array_get_object_element(kvs, i), &v);
			g_autoptr(GError) e = NULL;

			if (!k)
				continue;
			if (g_str_has_prefix(k, hp) && strcmp(k + strlen(hp), name) == 0) {
				have_rep = ve_fleet_report_parse(v, &rep, &e);
				if (!have_rep)
					err = g_strdup(e->message);
			} else if (g_str_has_prefix(k, cp) && strcmp(k + strlen(cp), name) == 0) {
				have_cap = ve_fleet_cap_parse(v, &cap, NULL);
			} else if (g_str_has_prefix(k, rp) && strcmp(k + strlen(rp), name) == 0) {
				have_roster = ve_fleet_roster_parse(v, &rnode, &rfb, NULL);
			}
		}
		json_builder_begin_object(b);
		json_builder_set_member_name(b, "name");
		json_builder_add_string_value(b, name);
		json_builder_set_member_name(b, "live");
		json_builder_add_boolean_value(b, have_rep);
		json_builder_set_member_name(b, "node");
		json_builder_add_string_value(b, have_rep ? rep.node : have_roster ? rnode : "");
		if (have_rep) {
			add_w(b, "demand_w", rep.demand_uw);
			add_w(b, "guarantee_w", rep.guarantee_uw);
			add_w(b, "floor_w", rep.floor_uw);
			add_w(b, "power_w", rep.power_uw);
			add_w(b, "cap_w", rep.cap_uw);
			json_builder_set_member_name(b, "source");
			json_builder_add_string_value(b, ve_fleet_source_name(rep.source));
			add_w(b, "fallback_w", rep.fallback_uw);
		}
		if (have_cap) {
			add_w(b, "given_cap_w", cap.cap_uw);
			add_w(b, "given_fallback_w", cap.fallback_uw);
		}
		if (have_roster)
			add_w(b, "reserved_w", rfb);
		if (err) {
			json_builder_set_member_name(b, "error");
			json_builder_add_string_value(b, err);
		}
		json_builder_end_object(b);
		ve_fleet_report_clear(&rep);
		g_free(cap.leader);
		g_free(rnode);
	}
	json_builder_end_array(b);
}

static void on_leader(JsonObject *r, const GError *err, gpointer ud)
{
	struct op *o = ud;
	g_autoptr(JsonBuilder) b = json_builder_new();
	g_autoptr(JsonGenerator) g = json_generator_new();
	g_autoptr(JsonNode) root = NULL;
	g_autofree char *tree_key = g_strdup_printf("%s/tree", o->prefix), *json = NULL;
	JsonObject *kv = r && json_object_has_member(r, "kv") ? json_object_get_object_member(r, "kv") : NULL;
	g_autofree char *leader = kv ? ve_etcd_unb64(json_object_get_string_member_with_default(kv, "value", NULL)) : NULL;
	JsonArray *kvs = json_object_has_member(o->range, "kvs") ? json_object_get_array_member(o->range, "kvs") : NULL;
	struct ve_fleet_tree t = { 0 };
	g_autoptr(GError) terr = NULL;
	bool tree_seen = false;

	json_builder_begin_object(b);
	json_builder_set_member_name(b, "leader");
	if (leader)
		json_builder_add_string_value(b, leader);
	else
		json_builder_add_null_value(b);
	for (guint i = 0; kvs && i < json_array_get_length(kvs); i++) {
		g_autofree char *v = NULL, *k = key_value(json_array_get_object_element(kvs, i), &v);

		if (k && strcmp(k, tree_key) == 0) {
			tree_seen = true;
			ve_fleet_tree_parse(v, &t, &terr);
		}
	}
	json_builder_set_member_name(b, "nodes");
	json_builder_begin_array(b);
	for (size_t i = 0; i < t.n; i++) {
		g_autofree char *p = ve_fleet_tree_path(&t, i);

		json_builder_begin_object(b);
		json_builder_set_member_name(b, "path");
		json_builder_add_string_value(b, p);
		add_w(b, "budget_w", t.nodes[i].budget_uw);
		json_builder_end_object(b);
	}
	json_builder_end_array(b);
	if (terr || !tree_seen) {
		json_builder_set_member_name(b, "tree_error");
		json_builder_add_string_value(b, terr ? terr->message : "no tree in etcd");
	}
	add_hosts(b, kvs, o->prefix);
	json_builder_end_object(b);
	root = json_builder_get_root(b);
	json_generator_set_root(g, root);
	json = json_generator_to_data(g, NULL);
	ve_fleet_tree_clear(&t);
	o->status_fn(json, NULL, o->ud);
	op_free(o);
}

static void on_status_range(JsonObject *r, const GError *err, gpointer ud)
{
	struct op *o = ud;
	g_autoptr(JsonBuilder) b = json_builder_new();
	g_autofree char *name = g_strdup_printf("%s/election", o->prefix), *n64 = ve_etcd_b64(name);

	if (!r) {
		o->status_fn(NULL, err, o->ud);
		op_free(o);
		return;
	}
	o->range = json_object_ref(r);
	json_builder_begin_object(b);
	json_builder_set_member_name(b, "name");
	json_builder_add_string_value(b, n64);
	json_builder_end_object(b);
	ve_etcd_call(o->e, "/v3/election/leader", json_builder_get_root(b), 0, NULL, on_leader, o);
}

void ve_fleet_status(struct ve_etcd *e, const char *prefix, ve_fleet_status_fn fn, gpointer ud)
{
	struct op *o = g_new0(struct op, 1);
	g_autofree char *pfx = g_strdup_printf("%s/", prefix);

	o->e = e;
	o->prefix = g_strdup(prefix);
	o->status_fn = fn;
	o->ud = ud;
	ve_etcd_call(e, "/v3/kv/range", ve_etcd_range_body(pfx, TRUE), 0, NULL, on_status_range, o);
}

static void on_written(JsonObject *r, const GError *err, gpointer ud)
{
	struct op *o = ud;
	g_autoptr(GError) e = NULL;

	if (r && !json_object_get_boolean_member_with_default(r, "succeeded", FALSE))
		e = g_error_new_literal(VE_ERROR, VE_ERROR_EXISTS,
					"the tree changed in etcd meanwhile; nothing written, try again");
	o->done_fn(r ? e : err, o->ud);
	op_free(o);
}

/* Put @value at the tree key if its mod revision is still @rev (0: it must not exist). */
static void put_tree(struct op *o, gint64 rev, const char *value)
{
	g_autofree char *key = g_strdup_printf("%s/tree", o->prefix);
	JsonArray *a = json_array_new();
	JsonNode *root;

	json_array_add_element(a, ve_etcd_txn_put(key, value, 0));
	root = ve_etcd_txn_body(key, "MOD", rev, a);
	ve_etcd_call(o->e, "/v3/kv/txn", root, 0, NULL, on_written, o);
}

static void on_tree_read(JsonObject *r, const GError *err, gpointer ud)
{
	struct op *o = ud;
	g_autoptr(GError) e = NULL;
	JsonArray *kvs;
	JsonObject *kv = NULL;
	g_autofree char *value = NULL, *json = NULL;
	struct ve_fleet_tree t = { 0 };
	gint64 rev = 0;

	if (!r) {
		o->done_fn(err, o->ud);
		op_free(o);
		return;
	}
	kvs = json_object_has_member(r, "kvs") ? json_object_get_array_member(r, "kvs") : NULL;
	if (kvs && json_array_get_length(kvs)) {
		kv = json_array_get_object_element(kvs, 0);
		rev = ve_etcd_int(kv, "mod_revision", 0);
		value = ve_etcd_unb64(json_object_get_string_member_with_default(kv, "value", NULL));
	}
	if (o->tree_json) {
		put_tree(o, rev, o->tree_json);
		return;
	}
	if (!kv)
		e = g_error_new(VE_ERROR, VE_ERROR_NOT_FOUND, "no tree in etcd: no node '%s' (set one with set-tree)", o->path);
	else if (!ve_fleet_tree_parse(value, &t, &e))
		g_prefix_error(&e, "the tree in etcd is refused, so no budget can be set in it: ");
	else if (ve_fleet_tree_set_budget(&t, o->path, o->watts, &e))
		json = ve_fleet_tree_to_json(&t);
	ve_fleet_tree_clear(&t);
	if (!json) {
		o->done_fn(e, o->ud);
		op_free(o);
		return;
	}
	put_tree(o, rev, json);
}

static void read_tree(struct op *o)
{
	g_autofree char *key = g_strdup_printf("%s/tree", o->prefix);

	ve_etcd_call(o->e, "/v3/kv/range", ve_etcd_range_body(key, FALSE), 0, NULL, on_tree_read, o);
}

void ve_fleet_set_budget(struct ve_etcd *e, const char *prefix, const char *path, double watts,
			 ve_fleet_done_fn fn, gpointer ud)
{
	struct op *o = g_new0(struct op, 1);
	g_autoptr(GError) err = NULL;
	uint64_t uw;

	o->e = e;
	o->prefix = g_strdup(prefix);
	o->path = g_strdup(path);
	o->watts = watts;
	o->done_fn = fn;
	o->ud = ud;
	/* refused before etcd is asked anything */
	if (!ve_fleet_budget_check(watts, &uw, &err)) {
		fn(err, ud);
		op_free(o);
		return;
	}
	read_tree(o);
}

void ve_fleet_set_tree(struct ve_etcd *e, const char *prefix, const char *json, ve_fleet_done_fn fn,
		       gpointer ud)
{
	struct op *o = g_new0(struct op, 1);
	g_autoptr(GError) err = NULL;
	struct ve_fleet_tree t = { 0 };

	o->e = e;
	o->prefix = g_strdup(prefix);
	o->done_fn = fn;
	o->ud = ud;
	if (!ve_fleet_tree_parse(json, &t, &err)) {
		fn(err, ud);
		op_free(o);
		return;
	}
	o->tree_json = ve_fleet_tree_to_json(&t);
	ve_fleet_tree_clear(&t);
	read_tree(o);
}

static void on_forgotten(JsonObject *r, const GError *err, gpointer ud)
{
	struct op *o = ud;
	g_autoptr(GError) e = NULL;

	if (r && !json_object_get_boolean_member_with_default(r, "succeeded", FALSE))
		e = g_error_new(VE_ERROR, VE_ERROR_EXISTS,
				"host '%s' came back (or its roster changed) meanwhile; nothing forgotten", o->host);
	o->done_fn(r ? e : err, o->ud);
	op_free(o);
}

static void on_forget_read(JsonObject *r, const GError *err, gpointer ud)
{
	struct op *o = ud;
	g_autofree char *hk = g_strdup_printf("%s/hosts/%s", o->prefix, o->host);
	g_autofree char *rk = g_strdup_printf("%s/roster/%s", o->prefix, o->host);
	g_autofree char *ck = g_strdup_printf("%s/caps/%s", o->prefix, o->host);
	g_autoptr(GError) e = NULL;
	JsonArray *kvs, *ops;
	JsonNode *txn;
	gint64 roster_rev = 0;
	bool live = false;

	if (!r) {
		o->done_fn(err, o->ud);
		op_free(o);
		return;
	}
	kvs = json_object_has_member(r, "kvs") ? json_object_get_array_member(r, "kvs") : NULL;
	for (guint i = 0; kvs && i < json_array_get_length(kvs); i++) {
		JsonObject *kv = json_array_get_object_element(kvs, i);
		g_autofree char *v = NULL, *k = key_value(kv, &v);

		if (g_strcmp0(k, hk) == 0)
			live = true;
		else if (g_strcmp0(k, rk) == 0)
			roster_rev = ve_etcd_int(kv, "mod_revision", 0);
	}
	if (live)
		e = g_error_new(VE_ERROR, VE_ERROR_INVALID,
				"host '%s' is live (its report is in etcd under its lease): only an absent "
				"host's reserved fallback can be forgotten", o->host);
	else if (!roster_rev)
		e = g_error_new(VE_ERROR, VE_ERROR_NOT_FOUND, "no host '%s' in the fleet (no roster key %s)",
				o->host, rk);
	if (e) {
		o->done_fn(e, o->ud);
		op_free(o);
		return;
	}
	/* only if it is still absent and its roster is the one read */
	ops = json_array_new();
	json_array_add_element(ops, ve_etcd_txn_delete(rk));
	json_array_add_element(ops, ve_etcd_txn_delete(ck));
	txn = ve_etcd_txn_body(hk, "CREATE", 0, ops);
	ve_etcd_txn_add_compare(txn, rk, "MOD", roster_rev);
	ve_etcd_call(o->e, "/v3/kv/txn", txn, 0, NULL, on_forgotten, o);
}

void ve_fleet_forget(struct ve_etcd *e, const char *prefix, const char *host, ve_fleet_done_fn fn,
		     gpointer ud)
{
	struct op *o;
	g_autofree char *pfx = NULL;

	if (!ve_fleet_name_ok(host)) {
		g_autoptr(GError) err = g_error_new(VE_ERROR, VE_ERROR_INVALID,
						    "'%s' is not a host name (1 to 64 of A-Z a-z 0-9 . _ -)", host);

		fn(err, ud);
		return;
	}
	o = g_new0(struct op, 1);
	o->e = e;
	o->prefix = g_strdup(prefix);
	o->host = g_strdup(host);
	o->done_fn = fn;
	o->ud = ud;
	pfx = g_strdup_printf("%s/", prefix);
	ve_etcd_call(e, "/v3/kv/range", ve_etcd_range_body(pfx, TRUE), 0, NULL, on_forget_read, o);
}
