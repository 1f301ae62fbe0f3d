/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * held.h: the one durable record of what an actuator holds.
 *
 * Every actuator keeps, per thing it changed (a VM, a cgroup), the values
 * it found before its first change, in memory and in a small GKeyFile in
 * STATE_DIR, one group per key.  The file is written (held.c's writer:
 * atomic and durable) before the change is made, so a crash between the
 * two leaves a record of a change that may not have happened, which
 * restores harmlessly, and never a change without a record; it is removed
 * when nothing is held.  The next start loads it (ve_held_load) and puts
 * every value back.
 *
 * The actuator supplies how one record is written to and read from its
 * group; this file does the rest: the table, the file, its loading with
 * each bad group reported and skipped, and the snapshot of keys that
 * restoring everything iterates over.
 */
#pragma once

#include <glib.h>
#include <stdbool.h>

struct ve_held_ops {
	const char *comment;    /* the file's opening comment */
	/* write @rec as group @key of @kf; false when it has nothing to keep */
	bool (*save)(GKeyFile *kf, const char *key, const void *rec);
	/*
	 * The record in group @key, or NULL with @error saying what is wrong.
	 * Parts it skips it may name in @report (may be NULL); @ud is
	 * ve_held_new's.
	 */
	void *(*load)(GKeyFile *kf, const char *key, void *ud, GString *report, GError **error);
	void (*free)(void *rec);
};

struct ve_held;

/* The records in STATE_DIR/@file (nothing is read until ve_held_load). */
struct ve_held *ve_held_new(const char *state_dir, const char *file, const struct ve_held_ops *ops,
			    void *ud);
void ve_held_free(struct ve_held *h);

const char *ve_held_path(const struct ve_held *h);
guint ve_held_size(const struct ve_held *h);

/* The record of @key, or NULL. */
void *ve_held_get(struct ve_held *h, const char *key);

/* Hold @rec under @key (in memory; replaces and frees an older one). */
void ve_held_put(struct ve_held *h, const char *key, void *rec);

/* Drop @key's record (in memory), freeing it. */
void ve_held_remove(struct ve_held *h, const char *key);

/* Write the file from memory, or remove it when no record has anything to keep. */
gboolean ve_held_save(struct ve_held *h, GError **error);

/*
 * Walk the records in the order they were first held: start with *@i = 0;
 * false after the last.  Nothing may be put or removed during the walk.
 */
bool ve_held_next(struct ve_held *h, guint *i, const char **ret_key, void **ret_rec);

/* The keys held now, a copy: restoring may remove records while it walks them. */
GPtrArray *ve_held_keys(const struct ve_held *h);

/*
 * Read the file into memory; records of the same keys are replaced.  A
 * group the actuator's load refuses is named in @report ("bad @what record
 * for 'KEY' in PATH: why; ") and skipped, as is a file that cannot be read
 * (no file is no record).  The keys loaded, in the file's order.
 */
GPtrArray *ve_held_load(struct ve_held *h, const char *what, GString *report);

/*
 * Put back each of @keys (ve_held_keys at exit, ve_held_load at start)
 * with the actuator's @fn.  A failure's message goes to @report (may be
 * NULL) as "MESSAGE; ".  *@ret_failed (may be NULL) gets how many failed;
 * returns how many were put back.
 */
typedef gboolean (*ve_held_restore_fn)(void *ud, const char *key, GError **error);
unsigned int ve_held_restore_each(GPtrArray *keys, ve_held_restore_fn fn, void *ud,
				  GString *report, unsigned int *ret_failed);
