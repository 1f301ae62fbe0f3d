/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * statefile.h: the restart-safe state file that holds the cumulative
 * ledgers (ledger.h) of the host, every VM and every service, so that a
 * restart or a SIGKILL loses no more than what was counted since the last
 * save (one period, when the daemon saves after every period) and never
 * counts a period twice.
 *
 * Accounts are named by a stable key, not by ledger slot: "host",
 * "vm:<uuid>" (the lowercase form libvirt prints), "service:<name>" or, in
 * guest mode, "cgroup:<name>" (a child of the parent cgroup).  A VM
 * that stops and starts again, or a daemon that restarts and hands out slots
 * in another order, finds its counters under the same key.
 *
 * The file is GKeyFile text, readable with less(1) but not to be edited: it
 * ends with a SHA-256 of every byte before it, and a file whose checksum,
 * values or sums do not hold is refused and set aside, never trusted.
 * Loading never deletes or rewrites a state file: it only renames a bad one.
 *
 *   # virtenergy state: cumulative energy in µJ per account. ...
 *   [virtenergy]
 *   version=1
 *   seq=42                 saves so far; the larger of two files is newer
 *   periods=86400
 *   energy_uj=...          Σ totals of the accounts below + retired_uj
 *   retired_uj=0           totals of accounts dropped from the file
 *   reason.<reason>=...    one per enum ve_reason, ve_reason_name()
 *
 *   [host]                 one group per account, named by its key
 *   comp.<component>=...   one per enum ve_component, ve_component_name()
 *   dev.<device kind>=...  one per enum ve_device_kind, ve_device_kind_name()
 *   total_uj=...
 *   passed_on_uj=...
 *
 *   [vm:0f8fad5b-d9cb-469f-a165-70867728950e]
 *   name=web1              optional, escaped as GKeyFile strings are
 *   ...
 *
 *   [checksum]
 *   sha256=<64 lowercase hex digits over every byte before "[checksum]">
 *
 * Every future version keeps that checksum trailer, so integrity is always
 * judged before the version.  A version-1 reader refuses keys and groups it
 * does not know (a writer that adds a counter must raise the version, or an
 * older daemon would silently drop it on its next save) but reads an absent
 * comp.*, dev.* or reason.* counter as 0, so that a file written before the
 * core gained a component still loads.
 *
 * Invariants checked by ve_state_check(), by ve_state_save() before it
 * writes and by ve_state_load() after it parses (the rules ve_ledger_apply()
 * keeps for every period, summed over all periods):
 *   - every part of an account is at most its total;
 *   - Σ dev.* = total_uj;
 *   - Σ comp.* = total_uj, where the host's sum also counts the reasons;
 *   - reasons other than 0 need a "host" account;
 *   - Σ total_uj of all accounts + retired_uj = energy_uj;
 * all without any sum passing 2^64 - 1.
 *
 * The daemon does not rewrite this file every period: its saves go to a
 * journal beside it, NAME.journal, and the file is rewritten from time to
 * time (statejournal.h).  ve_state_load() replays that journal, so it
 * returns the last save; a tool that reads this file alone sees the state
 * of its last rewrite, consistent but up to a few seconds old while the
 * daemon runs, and whole after it exits.
 *
 * Errors are GErrors in VE_STATE_ERROR that name the file, say what was
 * wrong and what was done with the file.  No logging.  Not thread-safe: one
 * owner per struct ve_state and one writer per state file.
 */
#pragma once

#include <stdint.h>

#include <glib.h>

#include "account.h"
#include "attrib.h"
#include "ledger.h"

#define VE_STATE_VERSION 1

/*
 * An account takes about 450 bytes, so 64 MiB hold over 100000 of them:
 * a larger file is absurd and is refused as corrupt without being read.
 */
#define VE_STATE_MAX_BYTES (64u << 20)

#define VE_STATE_ERROR (ve_state_error_quark())
GQuark ve_state_error_quark(void);

enum ve_state_error {
	VE_STATE_ERROR_CORRUPT,  /* bad checksum, unparsable, truncated, inconsistent */
	VE_STATE_ERROR_VERSION,  /* a valid file of a version this code does not read */
	VE_STATE_ERROR_IO,       /* a system call failed; see the message */
	VE_STATE_ERROR_INVALID,  /* bad argument: key, name, inconsistent state to save */
};

struct ve_state_account {
	char *key;                /* "host", "vm:<uuid>", "service:<name>" or "cgroup:<name>" */
	char *name;               /* human name (a VM's name), may be NULL */
	struct ve_ledger_entry e;
	uint32_t jid;             /* private to statejournal.c: its journal's id + 1, 0 none */
};

struct ve_state {
	uint64_t seq;             /* 0: nothing loaded; the first save writes 1 */
	uint64_t periods;
	uint64_t energy_uj;
	uint64_t retired_uj;      /* totals of accounts dropped: whoever removes an
				     account adds its total_uj here */
	uint64_t host_reason_uj[VE_REASON__MAX];
	GPtrArray *accounts;      /* of struct ve_state_account *, owned, in file order */
	GHashTable *by_key;       /* private: key -> account; use ve_state_add/lookup */
};

/* An empty state (seq 0, no accounts).  Never NULL (GLib aborts on OOM). */
struct ve_state *ve_state_new(void);
void ve_state_free(struct ve_state *s);

/* g_autoptr(ve_state) wants a type name without "struct". */
typedef struct ve_state ve_state;
G_DEFINE_AUTOPTR_CLEANUP_FUNC(ve_state, ve_state_free)

/*
 * Add an account with a copy of @e (NULL: all zero) and a copy of @name
 * (may be NULL).  Returns the account, owned by @s, or NULL with
 * VE_STATE_ERROR_INVALID and @s unchanged when:
 *   - @key is not "host", "vm:" + a UUID in lowercase canonical form, or
 *     "service:" + 1 to 255 printable ASCII characters other than '[' and
 *     ']' (a group name GKeyFile can hold; one spelling per VM, so that a
 *     VM never ends up with two counters), or "cgroup:" + the same without
 *     '/';
 *   - @key is already present;
 *   - @name is not valid UTF-8.
 * The counters are not checked here: see ve_state_check().
 */
struct ve_state_account *ve_state_add(struct ve_state *s, const char *key, const char *name,
				      const struct ve_ledger_entry *e, GError **error);

/* Whether @key is one ve_state_add() takes (the rules above). */
bool ve_state_key_valid(const char *key);

/* The account with @key, owned by @s, or NULL. */
struct ve_state_account *ve_state_lookup(const struct ve_state *s, const char *key);

/* TRUE when the invariants above hold; else VE_STATE_ERROR_INVALID saying which not. */
gboolean ve_state_check(const struct ve_state *s, GError **error);

/*
 * Write @s to @name in the directory @dir_fd (any directory fd, O_PATH
 * included, or AT_FDCWD), with seq set to s->seq + 1: write "@name.tmp"
 * (mode 0600, created afresh), fsync it, rename it over @name, fsync the
 * directory.  A SIGKILL or power cut at any point leaves either the old or
 * the new file under @name, whole.
 *
 * On success s->seq is incremented.  On failure the temporary file is
 * removed and the GError says what failed:
 *   VE_STATE_ERROR_INVALID  @name is not a plain file name, @s is
 *                           inconsistent or seq would wrap; nothing written;
 *   VE_STATE_ERROR_IO       a system call failed.  Before the rename the
 *                           previous file is kept untouched (the message
 *                           says so).  If only the final fsync of the
 *                           directory failed, the new file is in place
 *                           and s->seq is incremented, but a power cut
 *                           may still bring back the previous one.
 */
gboolean ve_state_save(int dir_fd, const char *name, struct ve_state *s, GError **error);

/*
 * Read @name in @dir_fd into a new state in *@ret (untouched on failure),
 * with the saves of "@name.journal" replayed onto it where that journal
 * continues it (statejournal.h; a journal that does not apply is set aside
 * as "@name.journal.corrupt-<UTC time>" and the file alone is returned).
 * A leftover "@name.tmp" or "@name.journal.tmp" (a save cut short) is
 * removed first: the file under @name is the truth.
 *
 * No file under @name (first start) is success with an empty state, which
 * the caller can tell by ret->seq == 0: every saved file has seq >= 1.
 *
 * Errors:
 *   VE_STATE_ERROR_CORRUPT  the file is over VE_STATE_MAX_BYTES, truncated,
 *                           fails its checksum, does not parse, holds a bad
 *                           or unknown key, group or value, or breaks an
 *                           invariant.  It is renamed to
 *                           "@name.corrupt-<UTC time>[-<n>]", never over an
 *                           earlier one, and the message says where it went
 *                           (or that it could not be moved and was left);
 *   VE_STATE_ERROR_VERSION  a file with a valid checksum but another
 *                           version (a newer daemon wrote it).  It is
 *                           renamed to "@name.version-<v>-<UTC time>[-<n>]"
 *                           so that nothing the caller does next overwrites
 *                           it, and can be moved back once a daemon that
 *                           reads it runs again;
 *   VE_STATE_ERROR_IO       open or read failed, or @name is not a regular
 *                           file; the file is left where it is;
 *   VE_STATE_ERROR_INVALID  @name is not a plain file name.
 */
gboolean ve_state_load(int dir_fd, const char *name, struct ve_state **ret, GError **error);

/*
 * The reader's checks on a file's bytes in memory, with no file and no
 * renaming: for fuzzing and tests.  *@ret is a new state on success;
 * VE_STATE_ERROR_CORRUPT or _VERSION as ve_state_load() would say.
 */
gboolean ve_state_parse(const char *data, size_t len, struct ve_state **ret, GError **error);
