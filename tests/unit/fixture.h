/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * fixture.h: fake /proc, /sys and cgroup trees for the sense tests.
 *
 * A test makes a fresh directory with fx_make(), writes the files it wants
 * relative to it (parents are created), opens it as the readers' root_fd
 * and removes it with fx_remove() at the end.  Failures to build a fixture
 * fail the test: a missing fixture file must not pass for "vanished".
 */
#pragma once

#include <errno.h>
#include <fcntl.h>
#include <ftw.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "check.h"

struct fx {
	char path[PATH_MAX];
	int fd;   /* the root, O_PATH | O_DIRECTORY */
};

/* mkdir -p of @rel's parent directories under @fx (not @rel itself). */
static inline void fx_mkdir_parents(const struct fx *fx, const char *rel)
{
	char buf[PATH_MAX];

	check(strlen(rel) < sizeof(buf), "fixture path too long: %s", rel);
	strcpy(buf, rel);
	for (char *p = strchr(buf, '/'); p; p = strchr(p + 1, '/')) {
		*p = '\0';
		check(mkdirat(fx->fd, buf, 0755) == 0 || errno == EEXIST, "mkdir %s: %s", buf,
		      strerror(errno));
		*p = '/';
	}
}

/* mkdir -p @rel. */
static inline void fx_mkdir(const struct fx *fx, const char *rel)
{
	char buf[PATH_MAX];

	snprintf(buf, sizeof(buf), "%s/", rel);
	fx_mkdir_parents(fx, buf);
}

/*
 * Write @text to @rel, truncating it in place: an fd the code under test
 * holds open sees the new content, as with a sysfs attribute.
 */
static inline void fx_write(const struct fx *fx, const char *rel, const char *text)
{
	size_t len = strlen(text);
	int fd;

	fx_mkdir_parents(fx, rel);
	fd = openat(fx->fd, rel, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
	check(fd >= 0, "create %s: %s", rel, strerror(errno));
	check(write(fd, text, len) == (ssize_t)len, "write %s: %s", rel, strerror(errno));
	close(fd);
}

/* Symlink @rel to @target (which is relative to @rel's directory). */
static inline void fx_symlink(const struct fx *fx, const char *target, const char *rel)
{
	fx_mkdir_parents(fx, rel);
	check(symlinkat(target, fx->fd, rel) == 0, "symlink %s: %s", rel, strerror(errno));
}

static inline int fx_remove_one(const char *path, const struct stat *st, int type, struct FTW *ftw)
{
	(void)st;
	(void)ftw;
	return type == FTW_DP ? rmdir(path) : unlink(path);
}

/* rm -rf of @rel under @fx. */
static inline void fx_remove_rel(const struct fx *fx, const char *rel)
{
	char buf[PATH_MAX * 2];

	snprintf(buf, sizeof(buf), "%s/%s", fx->path, rel);
	check(nftw(buf, fx_remove_one, 16, FTW_DEPTH | FTW_PHYS) == 0, "remove %s: %s", buf,
	      strerror(errno));
}

static inline void fx_make(struct fx *fx)
{
	const char *tmp = getenv("TMPDIR");

	snprintf(fx->path, sizeof(fx->path), "%s/ve-sense-XXXXXX", tmp && *tmp ? tmp : "/tmp");
	check(mkdtemp(fx->path), "mkdtemp %s: %s", fx->path, strerror(errno));
	fx->fd = open(fx->path, O_PATH | O_DIRECTORY | O_CLOEXEC);
	check(fx->fd >= 0, "open %s: %s", fx->path, strerror(errno));
}

static inline void fx_remove(struct fx *fx)
{
	close(fx->fd);
	fx->fd = -1;
	check(nftw(fx->path, fx_remove_one, 16, FTW_DEPTH | FTW_PHYS) == 0, "remove %s: %s",
	      fx->path, strerror(errno));
}

/* The machine's own root, for the tests that read the real /proc. */
static inline int fx_host_root(void)
{
	int fd = open("/", O_PATH | O_DIRECTORY | O_CLOEXEC);

	check(fd >= 0, "open /: %s", strerror(errno));
	return fd;
}
