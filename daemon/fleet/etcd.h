/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * etcd.h: etcd's v3 API through its JSON gateway (grpc-gateway, /v3/...),
 * over HTTP with libsoup-3.0, asynchronous on GLib's default main context.
 *
 * Why the gateway and not gRPC: etcd 3.4 serves it on the client port with
 * nothing to configure; libsoup and json-glib are in Debian, already in
 * GLib's main loop, and need no generated code or C++ runtime (Debian has
 * no C gRPC client for etcd).  The gateway's rules: keys and values are
 * base64 (GLib's), 64-bit integers are JSON strings, a failure is an HTTP
 * status with {"error", "code", "message"}.
 *
 * Several endpoints: a call goes to the last one that answered, and on a
 * transport failure, a timeout or an unavailable member (HTTP 502/503) to
 * the next at once, each tried once per call, in an order of the call's
 * own.  An endpoint that failed is tried after the others for a second
 * (DOWN_US in etcd.c), so a dead member costs a call nothing after the
 * first that found it dead.  Idempotent requests (reads, lease keepalives)
 * can go to every endpoint at once (ve_etcd_call_any): the first answer
 * wins, so neither a dead nor a hung member delays them at all.
 *
 * Errors (to the callback): VE_ERROR_NOT_CONNECTED (no endpoint answered),
 * VE_ERROR_FAILED (etcd refused: its message), VE_ERROR_INVALID (an answer
 * that is not JSON).  Not thread-safe.
 */
#pragma once

#include <gio/gio.h>
#include <json-glib/json-glib.h>

struct ve_etcd;

/* @result: the answer's object (borrowed, for the call) or NULL with @error. */
typedef void (*ve_etcd_done_fn)(JsonObject *result, const GError *error, gpointer ud);

/* @endpoints: "http://host:port", at least one.  @timeout_ms for each try of a call. */
struct ve_etcd *ve_etcd_new(const char *const *endpoints, unsigned int timeout_ms);
void ve_etcd_free(struct ve_etcd *e);

/*
 * POST @body (taken) to @path ("/v3/kv/range").  @timeout_ms 0: the
 * client's, G_MAXUINT: none (an election campaign waits until it wins).
 * @cancel may be NULL; a cancelled call still calls @fn, with
 * G_IO_ERROR_CANCELLED.
 */
void ve_etcd_call(struct ve_etcd *e, const char *path, JsonNode *body, unsigned int timeout_ms,
		  GCancellable *cancel, ve_etcd_done_fn fn, gpointer ud);

/* As ve_etcd_call, to every endpoint at once (those failed lately only when all have). */
void ve_etcd_call_any(struct ve_etcd *e, const char *path, JsonNode *body, unsigned int timeout_ms,
		      GCancellable *cancel, ve_etcd_done_fn fn, gpointer ud);

/*
 * For streamed calls of their own (watch.h): the client's session, its
 * endpoints, the order a call would try them in (@ret_order: n entries),
 * and telling it an endpoint answered or failed.
 */
typedef struct _SoupSession SoupSession;
SoupSession *ve_etcd_session(struct ve_etcd *e);
guint ve_etcd_n_endpoints(struct ve_etcd *e);
const char *ve_etcd_endpoint(struct ve_etcd *e, guint i);
guint ve_etcd_preferred(struct ve_etcd *e);
void ve_etcd_order(struct ve_etcd *e, guint *ret_order);
void ve_etcd_answered(struct ve_etcd *e, guint i);
void ve_etcd_failed(struct ve_etcd *e, guint i);

/* Request bodies.  Keys and values are text here, base64 on the wire. */
JsonNode *ve_etcd_put_body(const char *key, const char *value, gint64 lease);
JsonNode *ve_etcd_range_body(const char *key, gboolean prefix);
JsonNode *ve_etcd_lease_body(gint64 id, gint64 ttl_s);
/* The same put / delete as a txn operation (request_put / request_delete_range). */
JsonNode *ve_etcd_txn_put(const char *key, const char *value, gint64 lease);
JsonNode *ve_etcd_txn_delete(const char *key);
/*
 * A txn body: if @key's revision field @target ("CREATE" or "MOD") equals
 * @rev, do @ops (a JsonArray of txn operations; taken).
 */
JsonNode *ve_etcd_txn_body(const char *key, const char *target, gint64 rev, JsonArray *ops);
/* One more condition of the same kind on @txn (a ve_etcd_txn_body), all of them to hold. */
void ve_etcd_txn_add_compare(JsonNode *txn, const char *key, const char *target, gint64 rev);

/* Base64 of @text (g_free), and text from base64 (NULL when not base64; g_free). */
char *ve_etcd_b64(const char *text);
char *ve_etcd_unb64(const char *b64);

/* A gateway int64 (a string or a number) member of @o; @def when missing or not one. */
gint64 ve_etcd_int(JsonObject *o, const char *member, gint64 def);
