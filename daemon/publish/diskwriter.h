/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * diskwriter.h: the daemon's disk writes on a thread of their own, so that
 * the accounting loop never waits on a disk (issue 15).  On ext4 an
 * export's atomic replace of a file allocates an inode and a state save
 * fsyncs twice; at 1,000 VMs that stalled the loop for seconds.
 *
 * Two kinds of work, each a whole snapshot handed over by the loop:
 *   - every running VM's register file for its guest export
 *     (guestexport.h), written one VM after another;
 *   - the state file (statefile.h), through its journal (statejournal.h):
 *     each save appended as what changed, the file itself rewritten when
 *     the journal has grown to its size, and when asked for.
 * The thread writes the newest snapshot of each kind.  One handed over
 * while the previous one of its kind is still being written waits; a
 * newer one replaces it unwritten, since it holds everything the older
 * one did: the files lag the loop by at most what the disk takes, and
 * saves are never queued without bound.  The state file therefore keeps
 * its promise (a SIGKILL loses at most one interval) as long as a save
 * takes less than state-interval-ms, and at most one save's time more
 * when the disk is slower.
 *
 * Once a writer exists, the guest exports and the state file under its
 * fds are written by it only (guestexport.c is not thread-safe).  Errors
 * are kept for the loop to log: the last export failure (with its VM) and
 * the last state failure, each handed out once.  The fds stay the
 * caller's and must outlive the writer.
 */
#pragma once

#include <glib.h>
#include <stdbool.h>

#include "statefile.h"
#include "vrapl.h"

/* One VM's export: what ve_guest_export_write() takes, and its name for messages. */
struct ve_export_item {
	char uuid[37];            /* the canonical 36 characters and NUL */
	char *name;               /* owned (g_free) */
	struct ve_vrapl regs;
};

struct ve_disk_writer;

/* A writer for exports under @export_fd (-1: none) and the state file @state_name under @state_fd (-1: none). */
struct ve_disk_writer *ve_disk_writer_new(int export_fd, int state_fd, const char *state_name);

/* Stop after writing what was handed over; NULL is fine. */
void ve_disk_writer_free(struct ve_disk_writer *w);

/* A new snapshot of the exports: a GArray of struct ve_export_item, taken over. */
void ve_disk_writer_exports(struct ve_disk_writer *w, GArray *items);

/*
 * A new state to save (seq as ve_state_save() takes it), taken over;
 * @whole: rewrite the state file itself with it (the last save before an
 * exit, so that the file alone is the truth), not only the journal.
 */
void ve_disk_writer_state(struct ve_disk_writer *w, struct ve_state *s, bool whole);

/* Wait until everything handed over has been written (or has failed). */
void ve_disk_writer_flush(struct ve_disk_writer *w);

/*
 * The last failures not yet handed out, each NULL when none: an export's
 * (*@ret_uuid and *@ret_name name its VM) and the state file's.  All
 * owned by the caller.
 */
void ve_disk_writer_take_errors(struct ve_disk_writer *w, GError **ret_export, char **ret_uuid,
				char **ret_name, GError **ret_state);

/* An array for ve_disk_writer_exports() that frees its items' names. */
GArray *ve_export_items_new(guint reserve);
