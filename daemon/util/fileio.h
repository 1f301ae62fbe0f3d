/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * fileio.h: reading the small text files that procfs, sysfs and cgroupfs
 * export, and the files a user hands the daemon; writing a file whole
 * (atomically, durably where asked); and taking text apart.  The one
 * implementation of each: every reader and writer in the daemon uses these.
 *
 * Readers work relative to a directory fd and never follow an absolute
 * path, so a test or `virtenergyd --root` can point them at a fixture tree.
 * They return 0 or a negative errno (the one open(2) or read(2) gave) and
 * write results through ret_ parameters, which are left untouched on
 * failure.  They do not log and keep no state: thread-safe.
 *
 * The text helpers work on spans of a NUL-terminated string and never read
 * past the span, so a parser built on them can be fed arbitrary bytes.
 */
#pragma once

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/*
 * Read all of the file @rel (relative to @dir_fd) into @buf and
 * NUL-terminate it.  *@ret_len (may be NULL) gets the length without the
 * NUL.  -EFBIG when the content does not fit in @len - 1 bytes.  On failure
 * @buf holds unspecified bytes and *@ret_len is untouched.
 */
int ve_read_file_at(int dir_fd, const char *rel, char *buf, size_t len, size_t *ret_len);

/*
 * The same into a buffer allocated with malloc() that the caller frees;
 * for files whose size is not known in advance (procfs reports 0).
 * -EFBIG when the content is longer than @max_len bytes, -ENOMEM.
 */
int ve_read_file_alloc_at(int dir_fd, const char *rel, size_t max_len, char **ret,
			  size_t *ret_len);

/*
 * A file someone else controls (a configuration, a state file), read whole
 * but never blocking and never unbounded: opened O_NONBLOCK (a FIFO under
 * that name must not hang the daemon), refused with -EINVAL before any
 * read when it is not a regular file, -EFBIG when it is or grows past
 * @max_len bytes.  NUL-terminated, malloc()ed, as ve_read_file_alloc_at().
 */
int ve_read_regular_at(int dir_fd, const char *rel, size_t max_len, char **ret, size_t *ret_len);

/* ve_write_file_atomic_at() flags */
#define VE_WRITE_SYNC      1u   /* fsync the new file before the rename */
#define VE_WRITE_SYNC_DIR  2u   /* and the directory after it */

/*
 * Replace @rel under @dir_fd with @len bytes of @data, mode @mode: write
 * "@rel.tmp" (a fresh inode: a stale one is removed, and O_EXCL with
 * O_NOFOLLOW never writes through a link put there), optionally fsync it,
 * rename(2) it over @rel, optionally fsync the directory.  Readers see the
 * old file or the new one, never a part.
 *
 * 0, or a negative errno with *@ret_step (may be NULL) naming the step that
 * failed: "removing the stale", "creating", "writing", "syncing",
 * "closing", "renaming" (in each the temporary file is removed and @rel is
 * as it was), or "syncing the directory of" (the new file is in place but a
 * power cut may bring back the old one).  ve_write_step_kept() tells the
 * two apart.
 */
int ve_write_file_atomic_at(int dir_fd, const char *rel, const void *data, size_t len, unsigned mode,
			    unsigned flags, const char **ret_step);

/* After a failed ve_write_file_atomic_at(): whether @rel still has its old content. */
bool ve_write_step_kept(const char *step);

/*
 * Re-read an fd that was opened once (a per-tick sysfs attribute) from
 * offset 0 into @buf, NUL-terminated, with a single pread(): -EFBIG when
 * that fills @len - 1 bytes, since the rest cannot be read consistently.
 * *@ret_len (may be NULL) as for ve_read_file_at().
 */
int ve_pread_all(int fd, char *buf, size_t len, size_t *ret_len);

/* A piece of a string: @len bytes from @p, not NUL-terminated. */
struct ve_span {
	const char *p;
	size_t len;
};

/*
 * Take the next line, without its '\n', from the text at *@cursor and
 * advance the cursor past it.  false at the terminating NUL.  A final line
 * without '\n' is still a line.
 */
bool ve_next_line(const char **cursor, struct ve_span *ret_line);

/*
 * Take the next field separated by blanks (spaces and tabs) from the front
 * of @line, shrinking @line.  false when only blanks are left.
 */
bool ve_next_field(struct ve_span *line, struct ve_span *ret_field);

/*
 * Split @s at the first @sep: the part before goes to *@ret_head, the part
 * after to *@ret_tail.  false, both untouched, when @sep is absent.
 */
bool ve_span_split(struct ve_span s, char sep, struct ve_span *ret_head, struct ve_span *ret_tail);

/* true when @s is exactly the string @lit. */
bool ve_span_eq(struct ve_span s, const char *lit);

/*
 * A strict unsigned decimal: one or more digits and nothing else (no sign,
 * no blanks, no "0x"), at most @max.  -EINVAL otherwise, *@ret untouched.
 */
int ve_span_u64(struct ve_span s, uint64_t max, uint64_t *ret);

/*
 * Check, without converting, a strict decimal of either signedness: digits
 * that fit in uint64_t, or '-' and digits that fit in int64_t.  For fields
 * that are validated but not used, where the kernel prints some with %ld
 * and others with %lu (RLIM_INFINITY is 18446744073709551615).  0 or
 * -EINVAL.
 */
int ve_span_check_int(struct ve_span s);

/*
 * The whole of a one-number attribute file such as energy_uj: a strict
 * decimal followed by at most one '\n'.  -EINVAL otherwise.
 */
int ve_parse_u64(const char *text, uint64_t *ret);
