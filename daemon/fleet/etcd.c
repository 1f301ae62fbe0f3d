// SPDX-License-Identifier: GPL-2.0-or-later
/*
 * etcd.c: the JSON gateway client (see etcd.h).
 *
 * libsoup's session timeout counts whole seconds; a call's own timeout is
 * a GCancellable cancelled by a main-loop timer, so a member that takes
 * the connection but never answers (stopped with SIGSTOP, or behind a
 * partition) costs one timeout and the call moves on to the next one.
 */
#include <libsoup/soup.h>
#include <stdbool.h>
#include <string.h>

#include "error.h"
#include "etcd.h"

struct ve_etcd {
	SoupSession *session;
	char **endpoints;
	guint n;
	guint good;              /* the endpoint that answered last */
	gint64 *down_until_us;   /* per endpoint: failed lately, tried last until then */
	unsigned int timeout_ms;
};

/* How long an endpoint that failed is tried only after the others. */
#define DOWN_US (G_USEC_PER_SEC)

struct call;

/* One request to one endpoint. */
struct try {
	struct call *c;
	guint idx;
	SoupMessage *msg;
	GCancellable *cancel;
	guint timer;
	bool timed_out;
};

struct call {
	struct ve_etcd *e;
	char *path;
	GBytes *body;
	unsigned int timeout_ms;
	GCancellable *outer;     /* the caller's; may be NULL */
	bool fan;                /* every endpoint at once, the first answer wins */
	bool done;               /* @fn has been called */
	bool launching;          /* fan: not every try is out yet */
	guint *order;            /* the endpoints in the order they are tried */
	guint next;              /* sequential: the next in @order */
	guint pending;           /* tries in flight */
	GPtrArray *tries;        /* those in flight */
	ve_etcd_done_fn fn;
	gpointer ud;
	char *last_error;
};

struct ve_etcd *ve_etcd_new(const char *const *endpoints, unsigned int timeout_ms)
{
	struct ve_etcd *e = g_new0(struct ve_etcd, 1);

	/*
	 * Room for a try per endpoint of every call in flight: a member that
	 * hangs holds its connections until the tries time out, and a session
	 * out of connections would queue the calls to the live ones behind them.
	 */
	e->session = soup_session_new_with_options("max-conns", 64, "max-conns-per-host", 16, NULL);
	e->endpoints = g_strdupv((char **)endpoints);
	e->n = g_strv_length(e->endpoints);
	e->down_until_us = g_new0(gint64, e->n ? e->n : 1);
	e->timeout_ms = timeout_ms ? timeout_ms : 1000;
	return e;
}

void ve_etcd_free(struct ve_etcd *e)
{
	if (!e)
		return;
	soup_session_abort(e->session);
	g_object_unref(e->session);
	g_strfreev(e->endpoints);
	g_free(e->down_until_us);
	g_free(e);
}

SoupSession *ve_etcd_session(struct ve_etcd *e)
{
	return e->session;
}

guint ve_etcd_n_endpoints(struct ve_etcd *e)
{
	return e->n;
}

const char *ve_etcd_endpoint(struct ve_etcd *e, guint i)
{
	return e->endpoints[i];
}

guint ve_etcd_preferred(struct ve_etcd *e)
{
	return e->good;
}

void ve_etcd_answered(struct ve_etcd *e, guint i)
{
	e->good = i;
	e->down_until_us[i] = 0;
}

void ve_etcd_failed(struct ve_etcd *e, guint i)
{
	e->down_until_us[i] = g_get_monotonic_time() + DOWN_US;
	if (e->good == i)
		e->good = (i + 1) % e->n;
}

static void try_free(struct try *t)
{
	if (t->timer)
		g_source_remove(t->timer);
	g_clear_object(&t->cancel);
	g_clear_object(&t->msg);
	g_free(t);
}

static void call_free(struct call *c)
{
	g_ptr_array_unref(c->tries);
	g_clear_object(&c->outer);
	g_bytes_unref(c->body);
	g_free(c->order);
	g_free(c->path);
	g_free(c->last_error);
	g_free(c);
}

/* Answer the caller once; the tries still in flight are cancelled and end by themselves. */
static void finish(struct call *c, JsonObject *o, const GError *err)
{
	c->done = true;
	c->fn(o, err, c->ud);
	for (guint i = 0; i < c->tries->len; i++)
		g_cancellable_cancel(((struct try *)c->tries->pdata[i])->cancel);
}

static void launch(struct call *c, guint idx);

/* A try failed: the next endpoint (sequential), or none left to wait for. */
static void try_failed(struct call *c)
{
	if (c->done)
		return;
	if (!c->fan && c->next < c->e->n) {
		launch(c, c->order[c->next++]);
		return;
	}
	if (c->pending == 0 && !c->launching) {
		g_autoptr(GError) err = g_error_new(VE_ERROR, VE_ERROR_NOT_CONNECTED,
						    "no etcd endpoint answered (%s)",
						    c->last_error ? c->last_error : "none tried");

		finish(c, NULL, err);
	}
}

static gboolean on_try_timeout(gpointer data)
{
	struct try *t = data;

	t->timer = 0;
	t->timed_out = true;
	g_cancellable_cancel(t->cancel);
	return G_SOURCE_REMOVE;
}

/* The gateway's error object, as a message. */
static char *error_text(JsonObject *o, guint status)
{
	const char *m = o && json_object_has_member(o, "message")
				? json_object_get_string_member_with_default(o, "message", NULL)
				: NULL;

	if (!m && o)
		m = json_object_get_string_member_with_default(o, "error", NULL);
	return g_strdup_printf("etcd answered %u: %s", status, m ? m : "(no message)");
}

static void set_last_error(struct call *c, char *m)
{
	g_free(c->last_error);
	c->last_error = m;
}

static void on_sent(GObject *src, GAsyncResult *res, gpointer data)
{
	struct try *t = data;
	struct call *c = t->c;
	struct ve_etcd *e = c->e;
	g_autoptr(GError) err = NULL;
	g_autoptr(GBytes) body = soup_session_send_and_read_finish(SOUP_SESSION(src), res, &err);
	g_autoptr(JsonParser) p = NULL;
	JsonNode *root;
	guint status, idx = t->idx;

	if (t->timer) {
		g_source_remove(t->timer);
		t->timer = 0;
	}
	status = body ? soup_message_get_status(t->msg) : 0;
	c->pending--;
	g_ptr_array_remove_fast(c->tries, t);
	if (c->done) {
		/* cancelled after another try answered */
	} else if (c->outer && g_cancellable_is_cancelled(c->outer)) {
		g_autoptr(GError) ce = g_error_new_literal(G_IO_ERROR, G_IO_ERROR_CANCELLED, "cancelled");

		finish(c, NULL, ce);
	} else if (!body) {
		set_last_error(c, g_strdup_printf("%s: %s", e->endpoints[idx],
						  t->timed_out ? "no answer in time" : err->message));
		ve_etcd_failed(e, idx);
		try_free(t);
		try_failed(c);
		t = NULL;
	} else {
		p = json_parser_new();
		if (!json_parser_load_from_data(p, g_bytes_get_data(body, NULL), (gssize)g_bytes_get_size(body),
						NULL) ||
		    !(root = json_parser_get_root(p)) || !JSON_NODE_HOLDS_OBJECT(root)) {
			g_autofree char *m = g_strdup_printf("%s%s: HTTP %u with an answer that is not a JSON object",
							     e->endpoints[idx], c->path, status);

			if (c->fan) {
				set_last_error(c, g_steal_pointer(&m));
				try_free(t);
				try_failed(c);
				t = NULL;
			} else {
				g_autoptr(GError) je = g_error_new_literal(VE_ERROR, VE_ERROR_INVALID, m);

				finish(c, NULL, je);
			}
		} else if (status == 503 || status == 502) {
			/* a member without quorum or leader: another may have one */
			set_last_error(c, error_text(json_node_get_object(root), status));
			try_free(t);
			try_failed(c);
			t = NULL;
		} else if (status != 200) {
			g_autofree char *m = error_text(json_node_get_object(root), status);
			g_autoptr(GError) fe = g_error_new_literal(VE_ERROR, VE_ERROR_FAILED, m);

			ve_etcd_answered(e, idx);
			finish(c, NULL, fe);
		} else {
			ve_etcd_answered(e, idx);
			finish(c, json_node_get_object(root), NULL);
		}
	}
	if (t)
		try_free(t);
	if (c->done && c->pending == 0)
		call_free(c);
}

static void launch(struct call *c, guint idx)
{
	g_autofree char *uri = g_strconcat(c->e->endpoints[idx], c->path, NULL);
	struct try *t;
	SoupMessage *msg = soup_message_new(SOUP_METHOD_POST, uri);

	if (!msg) {
		set_last_error(c, g_strdup_printf("%s: not a URI", uri));
		try_failed(c);
		return;
	}
	t = g_new0(struct try, 1);
	t->c = c;
	t->idx = idx;
	t->msg = msg;
	soup_message_set_request_body_from_bytes(msg, "application/json", c->body);
	t->cancel = g_cancellable_new();
	if (c->outer)
		g_signal_connect_object(c->outer, "cancelled", G_CALLBACK(g_cancellable_cancel), t->cancel,
					G_CONNECT_SWAPPED);
	if (c->timeout_ms != G_MAXUINT)
		t->timer = g_timeout_add(c->timeout_ms, on_try_timeout, t);
	c->pending++;
	g_ptr_array_add(c->tries, t);
	soup_session_send_and_read_async(c->e->session, msg, G_PRIORITY_DEFAULT, t->cancel, on_sent, t);
}

void ve_etcd_order(struct ve_etcd *e, guint *ret_order)
{
	gint64 now = g_get_monotonic_time();
	guint k = 0;

	/* from the one that answered last; those that failed lately at the end */
	for (guint pass = 0; pass < 2; pass++)
		for (guint j = 0; j < e->n; j++) {
			guint i = (e->good + j) % e->n;
			bool down = e->down_until_us[i] > now;

			if (down == (pass == 1))
				ret_order[k++] = i;
		}
}

static void call(struct ve_etcd *e, const char *path, JsonNode *body, unsigned int timeout_ms,
		 GCancellable *cancel, bool fan, ve_etcd_done_fn fn, gpointer ud)
{
	struct call *c = g_new0(struct call, 1);
	g_autoptr(JsonGenerator) g = json_generator_new();
	gint64 now = g_get_monotonic_time();
	gsize len = 0;
	guint up = 0;
	char *text;

	json_generator_set_root(g, body);
	text = json_generator_to_data(g, &len);
	json_node_unref(body);
	c->e = e;
	c->path = g_strdup(path);
	c->body = g_bytes_new_take(text, len);
	c->timeout_ms = timeout_ms ? timeout_ms : e->timeout_ms;
	c->outer = cancel ? g_object_ref(cancel) : NULL;
	c->fan = fan;
	c->fn = fn;
	c->ud = ud;
	c->tries = g_ptr_array_new();
	c->order = g_new0(guint, e->n ? e->n : 1);
	ve_etcd_order(e, c->order);
	for (guint i = 0; i < e->n; i++)
		up += e->down_until_us[i] <= now;
	if (!e->n) {
		try_failed(c);
	} else if (fan) {
		/* every endpoint not failed lately (all of them when every one has) */
		c->launching = true;
		c->next = e->n;
		for (guint i = 0; i < (up ? up : e->n); i++)
			launch(c, c->order[i]);
		c->launching = false;
		if (c->pending == 0)
			try_failed(c);
	} else {
		launch(c, c->order[c->next++]);
	}
	if (c->done && c->pending == 0)
		call_free(c);
}

void ve_etcd_call(struct ve_etcd *e, const char *path, JsonNode *body, unsigned int timeout_ms,
		  GCancellable *cancel, ve_etcd_done_fn fn, gpointer ud)
{
	call(e, path, body, timeout_ms, cancel, false, fn, ud);
}

void ve_etcd_call_any(struct ve_etcd *e, const char *path, JsonNode *body, unsigned int timeout_ms,
		      GCancellable *cancel, ve_etcd_done_fn fn, gpointer ud)
{
	call(e, path, body, timeout_ms, cancel, true, fn, ud);
}

char *ve_etcd_b64(const char *text)
{
	return g_base64_encode((const guchar *)text, strlen(text));
}

char *ve_etcd_unb64(const char *b64)
{
	gsize len = 0;
	guchar *raw;
	char *s;

	if (!b64)
		return NULL;
	/* g_base64_decode does not refuse junk: check the alphabet first */
	for (const char *p = b64; *p; p++)
		if (!g_ascii_isalnum(*p) && *p != '+' && *p != '/' && *p != '=')
			return NULL;
	raw = g_base64_decode(b64, &len);
	s = g_strndup((const char *)raw, len);
	g_free(raw);
	if (strlen(s) != len || !g_utf8_validate(s, -1, NULL)) {
		g_free(s);
		return NULL;
	}
	return s;
}

gint64 ve_etcd_int(JsonObject *o, const char *member, gint64 def)
{
	JsonNode *n = o ? json_object_get_member(o, member) : NULL;
	gint64 v;

	if (!n || !JSON_NODE_HOLDS_VALUE(n))
		return def;
	if (json_node_get_value_type(n) == G_TYPE_INT64)
		return json_node_get_int(n);
	if (json_node_get_value_type(n) == G_TYPE_STRING &&
	    g_ascii_string_to_signed(json_node_get_string(n), 10, G_MININT64, G_MAXINT64, &v, NULL))
		return v;
	return def;
}

static JsonBuilder *kv_builder(const char *key)
{
	JsonBuilder *b = json_builder_new();
	g_autofree char *k = ve_etcd_b64(key);

	json_builder_begin_object(b);
	json_builder_set_member_name(b, "key");
	json_builder_add_string_value(b, k);
	return b;
}

static JsonNode *put_node(const char *key, const char *value, gint64 lease)
{
	g_autoptr(JsonBuilder) b = kv_builder(key);
	g_autofree char *v = ve_etcd_b64(value);

	json_builder_set_member_name(b, "value");
	json_builder_add_string_value(b, v);
	if (lease) {
		g_autofree char *l = g_strdup_printf("%" G_GINT64_FORMAT, lease);

		json_builder_set_member_name(b, "lease");
		json_builder_add_string_value(b, l);
	}
	json_builder_end_object(b);
	return json_builder_get_root(b);
}

JsonNode *ve_etcd_put_body(const char *key, const char *value, gint64 lease)
{
	return put_node(key, value, lease);
}

/* The first key after every key that starts with @prefix: its last byte plus one. */
static char *prefix_end(const char *prefix)
{
	char *end = g_strdup(prefix);
	size_t n = strlen(end);

	if (n)
		end[n - 1]++;
	return end;
}

JsonNode *ve_etcd_range_body(const char *key, gboolean prefix)
{
	g_autoptr(JsonBuilder) b = kv_builder(key);

	if (prefix) {
		g_autofree char *end = prefix_end(key);
		g_autofree char *e64 = ve_etcd_b64(end);

		json_builder_set_member_name(b, "range_end");
		json_builder_add_string_value(b, e64);
	}
	json_builder_end_object(b);
	return json_builder_get_root(b);
}

JsonNode *ve_etcd_lease_body(gint64 id, gint64 ttl_s)
{
	g_autoptr(JsonBuilder) b = json_builder_new();
	g_autofree char *s = g_strdup_printf("%" G_GINT64_FORMAT, id);

	json_builder_begin_object(b);
	json_builder_set_member_name(b, "ID");
	json_builder_add_string_value(b, s);
	if (ttl_s) {
		g_autofree char *t = g_strdup_printf("%" G_GINT64_FORMAT, ttl_s);

		json_builder_set_member_name(b, "TTL");
		json_builder_add_string_value(b, t);
	}
	json_builder_end_object(b);
	return json_builder_get_root(b);
}

static JsonNode *wrap(const char *member, JsonNode *inner)
{
	JsonObject *o = json_object_new();
	JsonNode *n = json_node_new(JSON_NODE_OBJECT);

	json_object_set_member(o, member, inner);
	json_node_take_object(n, o);
	return n;
}

JsonNode *ve_etcd_txn_put(const char *key, const char *value, gint64 lease)
{
	return wrap("request_put", put_node(key, value, lease));
}

JsonNode *ve_etcd_txn_delete(const char *key)
{
	return wrap("request_delete_range", ve_etcd_range_body(key, FALSE));
}

JsonNode *ve_etcd_txn_body(const char *key, const char *target, gint64 rev, JsonArray *ops)
{
	g_autoptr(JsonBuilder) b = json_builder_new();
	g_autofree char *k64 = ve_etcd_b64(key);
	g_autofree char *rs = g_strdup_printf("%" G_GINT64_FORMAT, rev);
	JsonNode *root, *opsn = json_node_new(JSON_NODE_ARRAY);

	json_builder_begin_object(b);
	json_builder_set_member_name(b, "compare");
	json_builder_begin_array(b);
	json_builder_begin_object(b);
	json_builder_set_member_name(b, "key");
	json_builder_add_string_value(b, k64);
	json_builder_set_member_name(b, "target");
	json_builder_add_string_value(b, target);
	json_builder_set_member_name(b, "result");
	json_builder_add_string_value(b, "EQUAL");
	json_builder_set_member_name(b, strcmp(target, "CREATE") == 0 ? "create_revision" : "mod_revision");
	json_builder_add_string_value(b, rs);
	json_builder_end_object(b);
	json_builder_end_array(b);
	json_builder_end_object(b);
	root = json_builder_get_root(b);
	json_node_take_array(opsn, ops);
	json_object_set_member(json_node_get_object(root), "success", opsn);
	return root;
}

void ve_etcd_txn_add_compare(JsonNode *txn, const char *key, const char *target, gint64 rev)
{
	JsonArray *cmp = json_object_get_array_member(json_node_get_object(txn), "compare");
	JsonObject *o = json_object_new();
	g_autofree char *k64 = ve_etcd_b64(key);
	g_autofree char *rs = g_strdup_printf("%" G_GINT64_FORMAT, rev);

	json_object_set_string_member(o, "key", k64);
	json_object_set_string_member(o, "target", target);
	json_object_set_string_member(o, "result", "EQUAL");
	json_object_set_string_member(o, strcmp(target, "CREATE") == 0 ? "create_revision" : "mod_revision", rs);
	json_array_add_object_element(cmp, o);
}
