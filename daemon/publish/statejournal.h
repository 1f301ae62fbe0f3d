/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * statejournal.h: saving the state file (statefile.h) every period without
 * rewriting it every period (issue 15).
 *
 * Beside the state file NAME lies NAME.journal: a header naming the seq of
 * the state file it continues, then one record per save holding only what
 * changed since the save before: the header counters, and for each account
 * that changed the differences of its counters (an account new to the
 * journal is defined first by its key and name; one dropped is named).  At
 * 1,000 VMs a record is some 15 bytes per VM against some 450 bytes of
 * text per VM that a full rewrite formats, checksums and fsyncs twice.
 *
 * The state file itself is rewritten ("compacted") at the first save, and
 * again whenever the journal has grown to the state file's own size, so
 * the journal never holds more than one state file's worth of records:
 * the bytes written are at most twice the journal's, a load reads at most
 * twice a state file, and the state file that tools and people read lags
 * the daemon by at most the periods that take to fill (about 3 s at 1,000
 * VMs, a second or two with a handful).  ve_state_journal_free() compacts
 * once more, so after a clean exit the state file is the whole truth.
 *
 * Crash safety: a record is one write(2), then fdatasync(2), so a SIGKILL
 * or power cut loses at most the record being written (the one period
 * the daemon promises); every record carries its length and a CRC-32 (zlib's), and
 * loading stops at the first that is short or fails it, which is where a
 * cut-short write ends.  A new journal is made under a temporary name and
 * renamed into place after the state file it continues, so a crash between
 * the two leaves a journal whose header names an older seq, which loading
 * ignores (the state file already holds all of it).
 *
 * ve_state_load() (statefile.h) replays the journal; a journal whose
 * records check out but break an invariant once applied is set aside as
 * NAME.journal.corrupt-<UTC time> and the state file alone is loaded.
 *
 * Not thread-safe: one owner (the disk writer's thread), one journal per
 * state file.  Errors: GErrors in VE_STATE_ERROR saying what was kept.
 */
#pragma once

#include <glib.h>
#include <stdbool.h>

#include "statefile.h"

struct ve_state_journal;

/* A journal for the state file @name in @dir_fd (borrowed, must outlive it); nothing is written yet. */
struct ve_state_journal *ve_state_journal_new(int dir_fd, const char *name);

/*
 * Save @s (taken over): append its differences from the previous save to
 * the journal, or compact (ve_state_save() of @s and a new, empty
 * journal) when @whole, at the first save, when the journal has reached
 * the state file's size, or after a failed append.  Either way the saved seq is
 * s->seq + 1, as ve_state_save() writes it.  FALSE with @error when
 * nothing could be saved; the next save compacts.
 */
gboolean ve_state_journal_save(struct ve_state_journal *j, struct ve_state *s, bool whole,
			       GError **error);

/* Compact the last state saved into the state file when the journal holds records, then free; NULL is fine. */
void ve_state_journal_free(struct ve_state_journal *j, GError **error);

/* Free without writing anything (the files stay as they are); NULL is fine. */
void ve_state_journal_discard(struct ve_state_journal *j);

/* Records appended and compactions since the start (for tests and benchmarks). */
void ve_state_journal_counts(const struct ve_state_journal *j, uint64_t *ret_appended,
			     uint64_t *ret_compacted);

/*
 * Replay the journal @data (@len bytes) onto @s, the state file it
 * continues: FALSE with VE_STATE_ERROR_CORRUPT when a record that checks
 * out cannot be applied or the result breaks an invariant (@s is then
 * unusable); TRUE when it was applied up to its first short or damaged
 * record, or ignored because its header names another seq or layout.
 */
gboolean ve_state_journal_replay(struct ve_state *s, const char *data, size_t len, GError **error);
