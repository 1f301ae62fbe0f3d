// SPDX-License-Identifier: GPL-2.0-or-later
/*
 * held.c: the actuators' durable record (see held.h).
 */
#include <errno.h>
#include <fcntl.h>
#include <gio/gio.h>
#include <glib/gstdio.h>

#include "error.h"
#include "fileio.h"
#include "held.h"

struct ve_held {
	char *path;
	const struct ve_held_ops *ops;
	void *ud;
	GHashTable *recs;       /* key -> record */
	GPtrArray *order;       /* keys in the order they were first held, for the file */
};

struct ve_held *ve_held_new(const char *state_dir, const char *file, const struct ve_held_ops *ops,
			    void *ud)
{
	struct ve_held *h = g_new0(struct ve_held, 1);

	h->ud = ud;
	h->path = g_build_filename(state_dir, file, NULL);
	h->ops = ops;
	h->recs = g_hash_table_new_full(g_str_hash, g_str_equal, g_free, ops->free);
	h->order = g_ptr_array_new_with_free_func(g_free);
	return h;
}

void ve_held_free(struct ve_held *h)
{
	if (!h)
		return;
	g_hash_table_destroy(h->recs);
	g_ptr_array_free(h->order, TRUE);
	g_free(h->path);
	g_free(h);
}

const char *ve_held_path(const struct ve_held *h)
{
	return h->path;
}

guint ve_held_size(const struct ve_held *h)
{
	return g_hash_table_size(h->recs);
}

void *ve_held_get(struct ve_held *h, const char *key)
{
	return g_hash_table_lookup(h->recs, key);
}

void ve_held_put(struct ve_held *h, const char *key, void *rec)
{
	if (!g_hash_table_contains(h->recs, key))
		g_ptr_array_add(h->order, g_strdup(key));
	g_hash_table_replace(h->recs, g_strdup(key), rec);
}

void ve_held_remove(struct ve_held *h, const char *key)
{
	for (guint i = 0; i < h->order->len; i++)
		if (g_str_equal(h->order->pdata[i], key)) {
			g_ptr_array_remove_index(h->order, i);
			break;
		}
	g_hash_table_remove(h->recs, key);
}

/*
 * Replace the record at @path with @kf (consistent and durable: the
 * atomic writer with both fsyncs, mode 0600), or remove it when @empty:
 * nothing is held any more.  FALSE with @error naming the file.
 */
static gboolean record_save(const char *path, GKeyFile *kf, bool empty, GError **error)
{
	g_autofree char *data = NULL;
	const char *step;
	gsize len;
	int r;

	if (empty) {
		if (g_unlink(path) < 0 && errno != ENOENT) {
			g_set_error(error, VE_ERROR, ve_error_from_errno(errno),
				    "cannot remove %s: %s", path, g_strerror(errno));
			return FALSE;
		}
		return TRUE;
	}
	data = g_key_file_to_data(kf, &len, NULL);
	r = ve_write_file_atomic_at(AT_FDCWD, path, data, len, 0600, VE_WRITE_SYNC | VE_WRITE_SYNC_DIR,
				    &step);
	if (r < 0) {
		g_set_error(error, VE_ERROR, ve_error_from_errno(-r),
			    "cannot save %s: %s %s.tmp failed: %s", path, step, path, g_strerror(-r));
		return FALSE;
	}
	return TRUE;
}


gboolean ve_held_save(struct ve_held *h, GError **error)
{
	g_autoptr(GKeyFile) kf = g_key_file_new();
	bool any = false;

	g_key_file_set_comment(kf, NULL, NULL, h->ops->comment, NULL);
	for (guint i = 0; i < h->order->len; i++) {
		const char *key = h->order->pdata[i];

		if (h->ops->save(kf, key, g_hash_table_lookup(h->recs, key)))
			any = true;
	}
	return record_save(h->path, kf, !any, error);
}

bool ve_held_next(struct ve_held *h, guint *i, const char **ret_key, void **ret_rec)
{
	if (*i >= h->order->len)
		return false;
	*ret_key = h->order->pdata[*i];
	*ret_rec = g_hash_table_lookup(h->recs, *ret_key);
	(*i)++;
	return true;
}

GPtrArray *ve_held_keys(const struct ve_held *h)
{
	GPtrArray *keys = g_ptr_array_new_with_free_func(g_free);

	for (guint i = 0; i < h->order->len; i++)
		g_ptr_array_add(keys, g_strdup(h->order->pdata[i]));
	return keys;
}

GPtrArray *ve_held_load(struct ve_held *h, const char *what, GString *report)
{
	g_autoptr(GKeyFile) kf = g_key_file_new();
	g_autoptr(GError) err = NULL;
	g_auto(GStrv) groups = NULL;
	GPtrArray *keys = g_ptr_array_new_with_free_func(g_free);

	if (!g_key_file_load_from_file(kf, h->path, G_KEY_FILE_NONE, &err)) {
		if (!g_error_matches(err, G_FILE_ERROR, G_FILE_ERROR_NOENT) && report)
			g_string_append_printf(report, "cannot read %s: %s; ", h->path, err->message);
		return keys;
	}
	groups = g_key_file_get_groups(kf, NULL);
	for (size_t i = 0; groups[i]; i++) {
		g_autoptr(GError) e = NULL;
		void *rec = h->ops->load(kf, groups[i], h->ud, report, &e);

		if (!rec) {
			if (report)
				g_string_append_printf(report, "bad %s record for '%s' in %s: %s; ", what,
						       groups[i], h->path, e ? e->message : "unreadable");
			continue;
		}
		ve_held_put(h, groups[i], rec);
		g_ptr_array_add(keys, g_strdup(groups[i]));
	}
	return keys;
}

unsigned int ve_held_restore_each(GPtrArray *keys, ve_held_restore_fn fn, void *ud,
				  GString *report, unsigned int *ret_failed)
{
	unsigned int restored = 0, failed = 0;

	for (guint i = 0; i < keys->len; i++) {
		g_autoptr(GError) e = NULL;

		if (fn(ud, keys->pdata[i], &e)) {
			restored++;
			continue;
		}
		failed++;
		if (report)
			g_string_append_printf(report, "%s; ", e ? e->message : "failed");
	}
	if (ret_failed)
		*ret_failed = failed;
	return restored;
}
