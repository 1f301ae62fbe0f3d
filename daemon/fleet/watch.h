/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * watch.h: one etcd key watched through the JSON gateway's /v3/watch, a
 * streamed HTTP answer of one JSON object a line ({"result": {"created":
 * true}}, then {"result": {"events": [...]}} as the key changes), read with
 * libsoup-3.0, GIO's line reader and json-glib.
 *
 * One stream to every endpoint at once: a member that hangs only silences
 * its own stream, the others still deliver; each event is handed on once
 * (by its revision: an event at or below the last one handed on is a
 * duplicate from another stream).  A stream that ends, fails or is
 * cancelled by etcd is opened again a second later from the revision
 * after the last event seen, so no event is lost while another stream is
 * up, nor across a reopening as long as etcd has not compacted them.
 *
 * ve_etcd_watch_up says whether a stream is up (etcd confirmed it was
 * created and it has not broken since); while none is, the caller must
 * read the key itself.  A stream that is up but silent cannot be told
 * from a key that does not change: the caller keeps its own check that
 * etcd answers (the agent's keepalives).
 *
 * @fn gets each event: {"type": "DELETE"} or no type (a put), and "kv"
 * with "key", "value", "mod_revision" as the gateway writes them
 * (borrowed, for the call).  Not thread-safe; GLib's default main context.
 */
#pragma once

#include <stdbool.h>

#include "etcd.h"

struct ve_etcd_watch;

typedef void (*ve_etcd_watch_fn)(JsonObject *event, gpointer ud);

/* Watch @key from revision @start_rev (> 0) on @e's endpoints (@e must outlive it). */
struct ve_etcd_watch *ve_etcd_watch_new(struct ve_etcd *e, const char *key, gint64 start_rev,
					ve_etcd_watch_fn fn, gpointer ud);
/* Cancels the streams; they end in the main loop later, without calling @fn. */
void ve_etcd_watch_free(struct ve_etcd_watch *w);

bool ve_etcd_watch_up(struct ve_etcd_watch *w);
