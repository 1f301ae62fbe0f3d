// SPDX-License-Identifier: GPL-2.0-or-later
/*
 * fileio.c: small-file reads and writes, and strict number parsing.
 */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "fileio.h"

/* Longest decimal that can be a uint64_t: 18446744073709551615. */
#define U64_DIGITS_MAX 20

static int open_at(int dir_fd, const char *rel)
{
	int fd = openat(dir_fd, rel, O_RDONLY | O_CLOEXEC | O_NOCTTY);

	return fd < 0 ? -errno : fd;
}

/*
 * read() until end of file.  procfs and cgroupfs files are seq_files: a
 * sequence of read() calls continues one snapshot, so looping is safe.
 * When @buf is full one more byte is asked for, to tell a file that fills
 * the buffer exactly from one that is too long.
 */
static int read_fd(int fd, char *buf, size_t len, size_t *ret_len)
{
	size_t off = 0;
	ssize_t n;
	char extra;

	if (len == 0)
		return -EINVAL;
	for (;;) {
		if (off == len - 1)
			n = read(fd, &extra, 1);
		else
			n = read(fd, buf + off, len - 1 - off);
		if (n < 0) {
			if (errno == EINTR)
				continue;
			return -errno;
		}
		if (n == 0)
			break;
		if (off == len - 1)
			return -EFBIG;
		off += (size_t)n;
	}
	buf[off] = '\0';
	if (ret_len)
		*ret_len = off;
	return 0;
}

int ve_read_file_at(int dir_fd, const char *rel, char *buf, size_t len, size_t *ret_len)
{
	int fd, r;

	fd = open_at(dir_fd, rel);
	if (fd < 0)
		return fd;
	r = read_fd(fd, buf, len, ret_len);
	close(fd);
	return r;
}

/* read() @fd to its end into a growing buffer of at most @max_len bytes (see the header) */
static int read_alloc_fd(int fd, size_t max_len, char **ret, size_t *ret_len)
{
	size_t cap = 4096, off = 0;
	char *buf = NULL, *p;
	ssize_t n;

	for (;;) {
		if (off + 1 >= cap || !buf) {
			if (buf)
				cap = cap > (max_len + 2) / 2 ? max_len + 2 : cap * 2;
			p = realloc(buf, cap);
			if (!p) {
				free(buf);
				return -ENOMEM;
			}
			buf = p;
		}
		n = read(fd, buf + off, cap - 1 - off);
		if (n < 0) {
			if (errno == EINTR)
				continue;
			free(buf);
			return -errno;
		}
		if (n == 0)
			break;
		off += (size_t)n;
		if (off > max_len) {
			free(buf);
			return -EFBIG;
		}
	}
	buf[off] = '\0';
	*ret = buf;
	if (ret_len)
		*ret_len = off;
	return 0;
}

int ve_read_file_alloc_at(int dir_fd, const char *rel, size_t max_len, char **ret,
			  size_t *ret_len)
{
	int fd, r;

	if (max_len >= SIZE_MAX - 1)
		return -EINVAL;
	fd = open_at(dir_fd, rel);
	if (fd < 0)
		return fd;
	r = read_alloc_fd(fd, max_len, ret, ret_len);
	close(fd);
	return r;
}

int ve_read_regular_at(int dir_fd, const char *rel, size_t max_len, char **ret, size_t *ret_len)
{
	struct stat st;
	int fd, r;

	if (max_len >= SIZE_MAX - 1)
		return -EINVAL;
	fd = openat(dir_fd, rel, O_RDONLY | O_CLOEXEC | O_NOCTTY | O_NONBLOCK);
	if (fd < 0)
		return -errno;
	if (fstat(fd, &st) < 0)
		r = -errno;
	else if (!S_ISREG(st.st_mode))
		r = -EINVAL;
	else if ((unsigned long long)st.st_size > max_len)
		r = -EFBIG;
	else
		r = read_alloc_fd(fd, max_len, ret, ret_len);
	close(fd);
	return r;
}

static int write_all(int fd, const char *p, size_t len)
{
	while (len) {
		ssize_t n = write(fd, p, len);

		if (n < 0) {
			if (errno == EINTR)
				continue;
			return -errno;
		}
		p += n;
		len -= (size_t)n;
	}
	return 0;
}

/*
 * fsync(2) fails with EBADF on an O_PATH fd and cannot take AT_FDCWD: open
 * the directory afresh, which works for every kind of @dir_fd.  @rel's
 * directory, when @rel has a '/'.
 */
static int fsync_dir_of(int dir_fd, const char *rel)
{
	const char *slash = strrchr(rel, '/');
	char dir[4096];
	int fd, r = 0;

	if (!slash) {
		strcpy(dir, ".");
	} else if (slash == rel) {
		strcpy(dir, "/");
	} else {
		size_t n = (size_t)(slash - rel);

		if (n >= sizeof(dir))
			return -ENAMETOOLONG;
		memcpy(dir, rel, n);
		dir[n] = '\0';
	}
	fd = openat(dir_fd, dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (fd < 0)
		return -errno;
	if (fsync(fd) < 0)
		r = -errno;
	close(fd);
	return r;
}

static const char step_dir[] = "syncing the directory of";

int ve_write_file_atomic_at(int dir_fd, const char *rel, const void *data, size_t len, unsigned mode,
			    unsigned flags, const char **ret_step)
{
	const char *step = NULL;
	char tmp[4096];
	int fd = -1, r;

	if ((size_t)snprintf(tmp, sizeof(tmp), "%s.tmp", rel) >= sizeof(tmp)) {
		step = "creating";
		r = -ENAMETOOLONG;
		goto out;
	}
	/*
	 * A fresh inode: O_EXCL with O_NOFOLLOW never writes through a link
	 * someone put there.  A leftover (a crash, a planted link) is removed
	 * and the create tried once more; only then, so that a writer called
	 * every second pays no extra path walk.
	 */
	fd = openat(dir_fd, tmp, O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_NOCTTY | O_CLOEXEC,
		    (mode_t)mode);
	if (fd < 0 && errno == EEXIST) {
		if (unlinkat(dir_fd, tmp, 0) < 0) {
			step = "removing the stale";
			r = -errno;
			goto out;
		}
		fd = openat(dir_fd, tmp, O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_NOCTTY | O_CLOEXEC,
			    (mode_t)mode);
	}
	if (fd < 0) {
		step = "creating";
		r = -errno;
		goto out;
	}
	/* the mode asked for, whatever the umask */
	if (fchmod(fd, (mode_t)mode) < 0) {
		step = "creating";
		r = -errno;
		goto fail;
	}
	if ((r = write_all(fd, data, len)) < 0) {
		step = "writing";
		goto fail;
	}
	if ((flags & (VE_WRITE_SYNC | VE_WRITE_SYNC_DIR)) && fsync(fd) < 0) {
		step = "syncing";
		r = -errno;
		goto fail;
	}
	r = close(fd);
	fd = -1;
	/* on NFS a write error may only show here */
	if (r < 0) {
		step = "closing";
		r = -errno;
		goto fail;
	}
	if (renameat(dir_fd, tmp, dir_fd, rel) < 0) {
		step = "renaming";
		r = -errno;
		goto fail;
	}
	r = 0;
	if ((flags & VE_WRITE_SYNC_DIR) && (r = fsync_dir_of(dir_fd, rel)) < 0)
		step = step_dir;
	goto out;
fail:
	if (fd >= 0)
		close(fd);
	unlinkat(dir_fd, tmp, 0);
out:
	if (ret_step)
		*ret_step = step;
	return r;
}

bool ve_write_step_kept(const char *step)
{
	return step != step_dir;
}

int ve_pread_all(int fd, char *buf, size_t len, size_t *ret_len)
{
	ssize_t n;

	if (len < 2)
		return -EINVAL;
	/*
	 * One pread() only.  A sysfs attribute is produced whole by the first
	 * read (at most a page, Documentation/filesystems/sysfs.rst); reading
	 * on at a later offset makes kernfs run show() again, and a counter
	 * that changed in between would splice two different values.  A full
	 * buffer is therefore "too long", not "read more".
	 */
	do
		n = pread(fd, buf, len - 1, 0);
	while (n < 0 && errno == EINTR);
	if (n < 0)
		return -errno;
	if ((size_t)n == len - 1)
		return -EFBIG;
	buf[n] = '\0';
	if (ret_len)
		*ret_len = (size_t)n;
	return 0;
}

bool ve_next_line(const char **cursor, struct ve_span *ret_line)
{
	const char *s = *cursor, *nl;

	if (!*s)
		return false;
	nl = strchr(s, '\n');
	ret_line->p = s;
	if (nl) {
		ret_line->len = (size_t)(nl - s);
		*cursor = nl + 1;
	} else {
		ret_line->len = strlen(s);
		*cursor = s + ret_line->len;
	}
	return true;
}

static bool is_blank(char c)
{
	return c == ' ' || c == '\t';
}

bool ve_next_field(struct ve_span *line, struct ve_span *ret_field)
{
	size_t i = 0, start;

	while (i < line->len && is_blank(line->p[i]))
		i++;
	if (i == line->len) {
		line->p += i;
		line->len = 0;
		return false;
	}
	start = i;
	while (i < line->len && !is_blank(line->p[i]))
		i++;
	ret_field->p = line->p + start;
	ret_field->len = i - start;
	line->p += i;
	line->len -= i;
	return true;
}

bool ve_span_split(struct ve_span s, char sep, struct ve_span *ret_head, struct ve_span *ret_tail)
{
	const char *at = s.len ? memchr(s.p, sep, s.len) : NULL;

	if (!at)
		return false;
	ret_head->p = s.p;
	ret_head->len = (size_t)(at - s.p);
	ret_tail->p = at + 1;
	ret_tail->len = s.len - ret_head->len - 1;
	return true;
}

bool ve_span_eq(struct ve_span s, const char *lit)
{
	return strlen(lit) == s.len && memcmp(s.p, lit, s.len) == 0;
}

int ve_span_u64(struct ve_span s, uint64_t max, uint64_t *ret)
{
	char tmp[U64_DIGITS_MAX + 1];
	unsigned long long v;
	char *end;

	/*
	 * strtoull() alone is too lenient: it skips blanks, takes a sign
	 * ("-1" is ULLONG_MAX) and stops quietly at junk.  Insist on digits,
	 * and copy so that it cannot read past the span.
	 */
	if (s.len == 0 || s.len > U64_DIGITS_MAX)
		return -EINVAL;
	for (size_t i = 0; i < s.len; i++)
		if (s.p[i] < '0' || s.p[i] > '9')
			return -EINVAL;
	memcpy(tmp, s.p, s.len);
	tmp[s.len] = '\0';
	errno = 0;
	v = strtoull(tmp, &end, 10);
	if (errno || *end || v > max)
		return -EINVAL;
	*ret = v;
	return 0;
}

int ve_span_check_int(struct ve_span s)
{
	uint64_t v;

	if (s.len && s.p[0] == '-') {
		s.p++;
		s.len--;
		/* |INT64_MIN| = INT64_MAX + 1 */
		return ve_span_u64(s, (uint64_t)INT64_MAX + 1, &v);
	}
	return ve_span_u64(s, UINT64_MAX, &v);
}

int ve_parse_u64(const char *text, uint64_t *ret)
{
	struct ve_span s = { text, strlen(text) };

	if (s.len && s.p[s.len - 1] == '\n')
		s.len--;
	return ve_span_u64(s, UINT64_MAX, ret);
}
