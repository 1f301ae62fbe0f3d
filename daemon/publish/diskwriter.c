// SPDX-License-Identifier: GPL-2.0-or-later
/*
 * diskwriter.c: disk writes off the accounting loop (see diskwriter.h).
 *
 * One GThread, one mutex, one condition.  The loop only swaps pointers
 * under the lock; the thread takes a snapshot, drops the lock, writes it,
 * and takes the lock again to say it is done.  "busy" counts the snapshots
 * taken but not finished, so that flush can wait for the disk and not
 * merely for the slots to be empty.
 */
#include <string.h>

#include "diskwriter.h"
#include "guestexport.h"
#include "statejournal.h"

struct ve_disk_writer {
	GThread *thread;
	GMutex lock;
	GCond cond;               /* work handed over, work finished, or stop */
	GArray *exports;          /* pending, or NULL */
	struct ve_state *state;   /* pending, or NULL */
	bool state_whole;         /* the pending one rewrites the state file */
	struct ve_state_journal *journal;   /* the writer thread's */
	unsigned int busy;
	bool stop;
	int export_fd, state_fd;
	char *state_name;
	GError *export_error, *state_error;
	char *export_uuid, *export_name;
};

static void item_clear(gpointer p)
{
	struct ve_export_item *it = p;

	g_free(it->name);
}

GArray *ve_export_items_new(guint reserve)
{
	GArray *a = g_array_sized_new(FALSE, TRUE, sizeof(struct ve_export_item), reserve);

	g_array_set_clear_func(a, item_clear);
	return a;
}

/* Write one export snapshot; keep the first failure of it. */
static void write_exports(struct ve_disk_writer *w, GArray *items)
{
	GError *first = NULL;
	char *uuid = NULL, *name = NULL;

	for (guint i = 0; i < items->len; i++) {
		const struct ve_export_item *it = &g_array_index(items, struct ve_export_item, i);
		GError *err = NULL;

		if (!ve_guest_export_write(w->export_fd, it->uuid, &it->regs, &err)) {
			if (!first) {
				first = err;
				uuid = g_strdup(it->uuid);
				name = g_strdup(it->name);
			} else {
				g_error_free(err);
			}
		}
	}
	if (!first)
		return;
	g_mutex_lock(&w->lock);
	g_clear_error(&w->export_error);
	g_free(w->export_uuid);
	g_free(w->export_name);
	w->export_error = first;
	w->export_uuid = uuid;
	w->export_name = name;
	g_mutex_unlock(&w->lock);
}

/* Save @s (taken over) through the journal (statejournal.h). */
static void write_state(struct ve_disk_writer *w, struct ve_state *s, bool whole)
{
	GError *err = NULL;

	if (!w->journal)
		w->journal = ve_state_journal_new(w->state_fd, w->state_name);
	if (ve_state_journal_save(w->journal, s, whole, &err))
		return;
	g_mutex_lock(&w->lock);
	g_clear_error(&w->state_error);
	w->state_error = err;
	g_mutex_unlock(&w->lock);
}

static gpointer writer_main(gpointer data)
{
	struct ve_disk_writer *w = data;

	g_mutex_lock(&w->lock);
	for (;;) {
		GArray *exports;
		struct ve_state *state;
		bool whole;

		while (!w->exports && !w->state && !w->stop)
			g_cond_wait(&w->cond, &w->lock);
		if (!w->exports && !w->state)
			break;   /* stop, and nothing left to write */
		exports = g_steal_pointer(&w->exports);
		state = g_steal_pointer(&w->state);
		whole = w->state_whole;
		w->state_whole = false;
		w->busy++;
		g_mutex_unlock(&w->lock);
		/* the state first: it is what a restart needs */
		if (state)
			write_state(w, state, whole);
		if (exports) {
			write_exports(w, exports);
			g_array_unref(exports);
		}
		g_mutex_lock(&w->lock);
		w->busy--;
		g_cond_broadcast(&w->cond);
	}
	g_mutex_unlock(&w->lock);
	return NULL;
}

struct ve_disk_writer *ve_disk_writer_new(int export_fd, int state_fd, const char *state_name)
{
	struct ve_disk_writer *w = g_new0(struct ve_disk_writer, 1);

	g_mutex_init(&w->lock);
	g_cond_init(&w->cond);
	w->export_fd = export_fd;
	w->state_fd = state_fd;
	w->state_name = g_strdup(state_name);
	w->thread = g_thread_new("ve-disk", writer_main, w);
	return w;
}

void ve_disk_writer_free(struct ve_disk_writer *w)
{
	if (!w)
		return;
	g_mutex_lock(&w->lock);
	w->stop = true;
	g_cond_broadcast(&w->cond);
	g_mutex_unlock(&w->lock);
	g_thread_join(w->thread);
	ve_state_journal_free(w->journal, NULL);   /* compacts only what the last save left */
	g_mutex_clear(&w->lock);
	g_cond_clear(&w->cond);
	g_clear_error(&w->export_error);
	g_clear_error(&w->state_error);
	g_free(w->export_uuid);
	g_free(w->export_name);
	g_free(w->state_name);
	g_free(w);
}

void ve_disk_writer_exports(struct ve_disk_writer *w, GArray *items)
{
	GArray *old;

	if (w->export_fd < 0) {
		g_array_unref(items);
		return;
	}
	g_mutex_lock(&w->lock);
	old = w->exports;
	w->exports = items;
	g_cond_broadcast(&w->cond);
	g_mutex_unlock(&w->lock);
	if (old)
		g_array_unref(old);   /* replaced unwritten: the new one has it all */
}

void ve_disk_writer_state(struct ve_disk_writer *w, struct ve_state *s, bool whole)
{
	struct ve_state *old;

	if (w->state_fd < 0) {
		ve_state_free(s);
		return;
	}
	g_mutex_lock(&w->lock);
	old = w->state;
	w->state = s;
	w->state_whole = w->state_whole || whole;
	g_cond_broadcast(&w->cond);
	g_mutex_unlock(&w->lock);
	ve_state_free(old);
}

void ve_disk_writer_flush(struct ve_disk_writer *w)
{
	g_mutex_lock(&w->lock);
	while (w->exports || w->state || w->busy)
		g_cond_wait(&w->cond, &w->lock);
	g_mutex_unlock(&w->lock);
}

void ve_disk_writer_take_errors(struct ve_disk_writer *w, GError **ret_export, char **ret_uuid,
				char **ret_name, GError **ret_state)
{
	g_mutex_lock(&w->lock);
	*ret_export = g_steal_pointer(&w->export_error);
	*ret_uuid = g_steal_pointer(&w->export_uuid);
	*ret_name = g_steal_pointer(&w->export_name);
	*ret_state = g_steal_pointer(&w->state_error);
	g_mutex_unlock(&w->lock);
}
