// SPDX-License-Identifier: GPL-2.0-or-later
/*
 * watch.c: the streamed watch of one key (see watch.h).
 *
 * The gateway (grpc-gateway, etcd 3.4) answers POST /v3/watch with a
 * chunked body that stays open, one JSON object and a newline per
 * WatchResponse; libsoup undoes the chunking, GDataInputStream cuts the
 * lines.  A stream's state lives in struct stream until its last
 * asynchronous call has come back: freeing the watch only cancels, and
 * each callback that finds its watch gone frees its stream.
 */
#include <libsoup/soup.h>
#include <string.h>

#include "watch.h"

/* A line longer than this is no WatchResponse for one small key: the stream is dropped. */
#define MAX_LINE (1024 * 1024)
#define REOPEN_MS 1000

struct stream {
	struct ve_etcd_watch *w;     /* NULL: the watch is gone, free at the next callback */
	guint idx;
	SoupMessage *msg;
	GDataInputStream *in;
	GCancellable *cancel;
	bool up;                     /* etcd said created */
	guint reopen;
};

struct ve_etcd_watch {
	struct ve_etcd *e;
	char *key;
	gint64 next_rev;             /* the first revision not handed on yet */
	ve_etcd_watch_fn fn;
	gpointer ud;
	struct stream **streams;
	guint n;
};

static void stream_open(struct stream *s);

static void stream_close(struct stream *s)
{
	s->up = false;
	g_clear_object(&s->in);
	g_clear_object(&s->msg);
	g_clear_object(&s->cancel);
}

static void stream_free(struct stream *s)
{
	if (s->reopen)
		g_source_remove(s->reopen);
	stream_close(s);
	g_free(s);
}

static gboolean on_reopen(gpointer data)
{
	struct stream *s = data;

	s->reopen = 0;
	stream_open(s);
	return G_SOURCE_REMOVE;
}

/* The stream broke (or etcd cancelled the watch): again in a second. */
static void stream_broke(struct stream *s)
{
	stream_close(s);
	ve_etcd_failed(s->w->e, s->idx);
	if (!s->reopen)
		s->reopen = g_timeout_add(REOPEN_MS, on_reopen, s);
}

/* One WatchResponse; false when the stream should be dropped. */
static bool take_line(struct stream *s, const char *line, gsize len)
{
	struct ve_etcd_watch *w = s->w;
	g_autoptr(JsonParser) p = json_parser_new();
	JsonNode *root, *rn;
	JsonObject *res;
	JsonArray *events;

	if (len == 0)
		return true;
	if (!json_parser_load_from_data(p, line, (gssize)len, NULL) || !(root = json_parser_get_root(p)) ||
	    !JSON_NODE_HOLDS_OBJECT(root))
		return false;
	rn = json_object_get_member(json_node_get_object(root), "result");
	if (!rn || !JSON_NODE_HOLDS_OBJECT(rn))
		return false;   /* {"error": ...}: the gateway lost its own stream */
	res = json_node_get_object(rn);
	if (json_object_get_boolean_member_with_default(res, "canceled", FALSE)) {
		gint64 compact = ve_etcd_int(res, "compact_revision", 0);

		/* compacted: what is left from there (the caller reads the key while no stream is up) */
		if (compact > w->next_rev)
			w->next_rev = compact;
		return false;
	}
	if (json_object_get_boolean_member_with_default(res, "created", FALSE))
		s->up = true;
	rn = json_object_get_member(res, "events");
	events = rn && JSON_NODE_HOLDS_ARRAY(rn) ? json_node_get_array(rn) : NULL;
	for (guint i = 0; events && i < json_array_get_length(events); i++) {
		JsonNode *en = json_array_get_element(events, i);
		JsonObject *ev, *kv;
		gint64 rev;

		if (!JSON_NODE_HOLDS_OBJECT(en))
			continue;
		ev = json_node_get_object(en);
		rn = json_object_get_member(ev, "kv");
		kv = rn && JSON_NODE_HOLDS_OBJECT(rn) ? json_node_get_object(rn) : NULL;
		rev = kv ? ve_etcd_int(kv, "mod_revision", 0) : 0;
		if (rev < w->next_rev)
			continue;   /* another stream handed it on already */
		w->next_rev = rev + 1;
		w->fn(ev, w->ud);
		if (!s->w)
			return true;   /* freed by the callback */
	}
	return true;
}

static void on_line(GObject *src, GAsyncResult *res, gpointer data)
{
	struct stream *s = data;
	g_autoptr(GError) err = NULL;
	gsize len = 0;
	g_autofree char *line = g_data_input_stream_read_line_finish_utf8(G_DATA_INPUT_STREAM(src), res, &len,
									  &err);

	if (!s->w) {
		stream_free(s);
		return;
	}
	if (!line || len > MAX_LINE || !take_line(s, line, len)) {
		if (s->w)
			stream_broke(s);
		else
			stream_free(s);
		return;
	}
	if (!s->w) {
		stream_free(s);
		return;
	}
	g_data_input_stream_read_line_async(s->in, G_PRIORITY_DEFAULT, s->cancel, on_line, s);
}

static void on_sent(GObject *src, GAsyncResult *res, gpointer data)
{
	struct stream *s = data;
	g_autoptr(GError) err = NULL;
	g_autoptr(GInputStream) body = soup_session_send_finish(SOUP_SESSION(src), res, &err);

	if (!s->w) {
		stream_free(s);
		return;
	}
	if (!body || soup_message_get_status(s->msg) != 200) {
		stream_broke(s);
		return;
	}
	s->in = g_data_input_stream_new(body);
	g_data_input_stream_set_newline_type(s->in, G_DATA_STREAM_NEWLINE_TYPE_LF);
	g_data_input_stream_read_line_async(s->in, G_PRIORITY_DEFAULT, s->cancel, on_line, s);
}

static JsonNode *create_body(const char *key, gint64 start_rev)
{
	g_autoptr(JsonBuilder) b = json_builder_new();
	g_autofree char *k64 = ve_etcd_b64(key);
	g_autofree char *rev = g_strdup_printf("%" G_GINT64_FORMAT, start_rev);

	json_builder_begin_object(b);
	json_builder_set_member_name(b, "create_request");
	json_builder_begin_object(b);
	json_builder_set_member_name(b, "key");
	json_builder_add_string_value(b, k64);
	json_builder_set_member_name(b, "start_revision");
	json_builder_add_string_value(b, rev);
	json_builder_end_object(b);
	json_builder_end_object(b);
	return json_builder_get_root(b);
}

static void stream_open(struct stream *s)
{
	struct ve_etcd_watch *w = s->w;
	g_autofree char *uri = g_strconcat(ve_etcd_endpoint(w->e, s->idx), "/v3/watch", NULL);
	g_autoptr(JsonGenerator) g = json_generator_new();
	g_autoptr(JsonNode) body = create_body(w->key, w->next_rev);
	g_autoptr(GBytes) bytes = NULL;
	char *text;
	gsize len = 0;

	s->msg = soup_message_new(SOUP_METHOD_POST, uri);
	if (!s->msg)
		return;   /* not a URI: the client's calls say so; this stream stays shut */
	json_generator_set_root(g, body);
	text = json_generator_to_data(g, &len);
	bytes = g_bytes_new_take(text, len);
	soup_message_set_request_body_from_bytes(s->msg, "application/json", bytes);
	s->cancel = g_cancellable_new();
	soup_session_send_async(ve_etcd_session(w->e), s->msg, G_PRIORITY_DEFAULT, s->cancel, on_sent, s);
}

struct ve_etcd_watch *ve_etcd_watch_new(struct ve_etcd *e, const char *key, gint64 start_rev,
					ve_etcd_watch_fn fn, gpointer ud)
{
	struct ve_etcd_watch *w = g_new0(struct ve_etcd_watch, 1);

	w->e = e;
	w->key = g_strdup(key);
	w->next_rev = MAX(start_rev, 1);
	w->fn = fn;
	w->ud = ud;
	w->n = ve_etcd_n_endpoints(e);
	w->streams = g_new0(struct stream *, w->n ? w->n : 1);
	for (guint i = 0; i < w->n; i++) {
		struct stream *s = g_new0(struct stream, 1);

		s->w = w;
		s->idx = i;
		w->streams[i] = s;
		stream_open(s);
	}
	return w;
}

void ve_etcd_watch_free(struct ve_etcd_watch *w)
{
	if (!w)
		return;
	for (guint i = 0; i < w->n; i++) {
		struct stream *s = w->streams[i];

		s->w = NULL;
		if (s->reopen) {
			g_source_remove(s->reopen);
			s->reopen = 0;
		}
		if (s->cancel) {
			/* a call in flight: its callback frees the stream */
			g_cancellable_cancel(s->cancel);
		} else {
			stream_free(s);
		}
	}
	g_free(w->streams);
	g_free(w->key);
	g_free(w);
}

bool ve_etcd_watch_up(struct ve_etcd_watch *w)
{
	for (guint i = 0; w && i < w->n; i++)
		if (w->streams[i]->up)
			return true;
	return false;
}
