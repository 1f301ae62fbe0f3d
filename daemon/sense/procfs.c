// SPDX-License-Identifier: GPL-2.0-or-later
/*
 * procfs.c: per-thread procfs readers.
 *
 * File formats: proc(5) and Documentation/filesystems/proc.rst for stat and
 * cgroup, Documentation/scheduler/sched-stats.rst for schedstat.
 */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <linux/magic.h>
#include <sys/stat.h>
#include <sys/statfs.h>
#include <unistd.h>

#include "fileio.h"
#include "procfs.h"

#define PATH_LEN 96
#define STAT_LEN 1024   /* 52 fields of at most 20 digits, plus the name */
#define SMALL_LEN 256

/* stat field numbers, counting from 1 as proc(5) does. */
#define STAT_STATE 3
#define STAT_UTIME 14
#define STAT_STIME 15
#define STAT_PROCESSOR 39
#define STAT_GUEST_TIME 43

/*
 * A task that exits while its directory is held open makes the kernel's
 * proc_single_show() return -ESRCH where a path lookup a moment later
 * would give -ENOENT.  Callers should not have to know the difference.
 */
static int vanished(int r)
{
	return r == -ESRCH ? -ENOENT : r;
}

static int task_path(char *buf, pid_t pid, pid_t tid, const char *file)
{
	int n;

	if (pid <= 0 || tid <= 0)
		return -EINVAL;
	n = snprintf(buf, PATH_LEN, "proc/%d/task/%d/%s", (int)pid, (int)tid, file);
	if (n < 0 || n >= PATH_LEN)
		return -EINVAL;
	return 0;
}

static int read_task_file(int root_fd, pid_t pid, pid_t tid, const char *file, char *buf,
			  size_t len)
{
	char path[PATH_LEN];
	int r;

	r = task_path(path, pid, tid, file);
	if (r < 0)
		return r;
	return vanished(ve_read_file_at(root_fd, path, buf, len, NULL));
}

static int cmp_pid(const void *a, const void *b)
{
	pid_t x = *(const pid_t *)a, y = *(const pid_t *)b;

	return (x > y) - (x < y);
}

int ve_proc_list_tasks(int root_fd, pid_t pid, pid_t **ret_tids, size_t *ret_n)
{
	char path[PATH_LEN];
	pid_t *tids = NULL, *p;
	size_t n = 0, cap = 0;
	struct dirent *de;
	DIR *dir;
	int fd, r = 0;

	if (pid <= 0)
		return -EINVAL;
	snprintf(path, sizeof(path), "proc/%d/task", (int)pid);
	/* O_PATH fds cannot be read as directories: open one that can. */
	fd = openat(root_fd, path, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (fd < 0)
		return vanished(-errno);
	dir = fdopendir(fd);
	if (!dir) {
		r = -errno;
		close(fd);
		return r;
	}
	for (;;) {
		struct ve_span name;
		uint64_t tid;

		errno = 0;
		de = readdir(dir);
		if (!de) {
			r = vanished(-errno);
			break;
		}
		/* ".", ".." and anything else that is not a thread id */
		name.p = de->d_name;
		name.len = strlen(de->d_name);
		if (ve_span_u64(name, INT_MAX, &tid) < 0 || tid == 0)
			continue;
		if (n == cap) {
			cap = cap ? cap * 2 : 16;
			p = cap < SIZE_MAX / sizeof(*p) ? realloc(tids, cap * sizeof(*p)) : NULL;
			if (!p) {
				r = -ENOMEM;
				break;
			}
			tids = p;
		}
		tids[n++] = (pid_t)tid;
	}
	closedir(dir);
	if (r == 0 && n == 0)
		r = -ENOENT;
	if (r < 0) {
		free(tids);
		return r;
	}
	qsort(tids, n, sizeof(*tids), cmp_pid);
	*ret_tids = tids;
	*ret_n = n;
	return 0;
}

int ve_proc_task_comm(int root_fd, pid_t pid, pid_t tid, char *buf, size_t len)
{
	char tmp[SMALL_LEN];
	size_t n;
	int r;

	r = read_task_file(root_fd, pid, tid, "comm", tmp, sizeof(tmp));
	if (r == -EFBIG)
		return -ENOBUFS;
	if (r < 0)
		return r;
	n = strlen(tmp);
	if (n && tmp[n - 1] == '\n')
		tmp[--n] = '\0';
	if (n >= len)
		return -ENOBUFS;
	memcpy(buf, tmp, n + 1);
	return 0;
}

/* The text as one line: an optional final '\n' and no other. */
static int single_line(const char *text, struct ve_span *ret)
{
	size_t len = strlen(text);

	if (len && text[len - 1] == '\n')
		len--;
	if (memchr(text, '\n', len))
		return -EINVAL;
	ret->p = text;
	ret->len = len;
	return 0;
}

int ve_parse_schedstat(const char *text, uint64_t *ret_run_ns, uint64_t *ret_wait_ns,
		       uint64_t *ret_timeslices)
{
	struct ve_span line, f;
	uint64_t v[3];
	int r;

	/*
	 * "%llu %llu %lu\n": sum_exec_runtime, run_delay, pcount.  A kernel
	 * booted with sched_info off prints "0 0 0".
	 */
	r = single_line(text, &line);
	if (r < 0)
		return r;
	for (size_t i = 0; i < 3; i++) {
		if (!ve_next_field(&line, &f))
			return -EINVAL;
		r = ve_span_u64(f, UINT64_MAX, &v[i]);
		if (r < 0)
			return r;
	}
	if (ve_next_field(&line, &f))
		return -EINVAL;
	if (ret_run_ns)
		*ret_run_ns = v[0];
	if (ret_wait_ns)
		*ret_wait_ns = v[1];
	if (ret_timeslices)
		*ret_timeslices = v[2];
	return 0;
}

int ve_proc_task_schedstat(int root_fd, pid_t pid, pid_t tid, uint64_t *ret_run_ns)
{
	char buf[SMALL_LEN];
	int r;

	r = read_task_file(root_fd, pid, tid, "schedstat", buf, sizeof(buf));
	if (r < 0)
		return r;
	return ve_parse_schedstat(buf, ret_run_ns, NULL, NULL);
}

int ve_proc_task_open(int root_fd, pid_t pid, pid_t tid, const char *file, bool *ret_live)
{
	char path[PATH_LEN];
	struct statfs sfs;
	int fd, r;

	r = task_path(path, pid, tid, file);
	if (r < 0)
		return r;
	fd = openat(root_fd, path, O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		return vanished(-errno);
	if (fstatfs(fd, &sfs) < 0) {
		r = -errno;
		close(fd);
		return r;
	}
	*ret_live = sfs.f_type == PROC_SUPER_MAGIC;
	return fd;
}

int ve_proc_fd_schedstat(int fd, bool live, uint64_t *ret_run_ns)
{
	char buf[SMALL_LEN];
	int r;

	/* procfs answers ESRCH for an exited thread's open file */
	r = vanished(ve_pread_all(fd, buf, sizeof(buf), NULL));
	if (r < 0)
		return r;
	if (!live) {
		struct stat st;

		if (fstat(fd, &st) < 0)
			return -errno;
		if (st.st_nlink == 0)
			return -ENOENT;
	}
	return ve_parse_schedstat(buf, ret_run_ns, NULL, NULL);
}

int ve_parse_stat(const char *text, struct ve_task_stat *ret)
{
	struct ve_task_stat st = { 0 };
	struct ve_span head, tail, f;
	const char *open, *close_paren;
	unsigned int field;
	uint64_t v;
	int r;

	/*
	 * "pid (comm) state ppid ...".  comm is whatever the thread set with
	 * prctl(PR_SET_NAME): spaces, parentheses and newlines included.  No
	 * field after it can hold ')', so the last ')' ends the name.
	 */
	open = strchr(text, '(');
	close_paren = strrchr(text, ')');
	if (!open || !close_paren || close_paren < open || open == text || open[-1] != ' ')
		return -EINVAL;
	head.p = text;
	head.len = (size_t)(open - 1 - text);
	r = ve_span_u64(head, INT_MAX, &v);
	if (r < 0)
		return r;

	r = single_line(close_paren + 1, &tail);
	if (r < 0)
		return r;
	for (field = STAT_STATE; ve_next_field(&tail, &f); field++) {
		switch (field) {
		case STAT_STATE:
			if (f.len != 1)
				return -EINVAL;
			st.state = f.p[0];
			break;
		case STAT_UTIME:
			r = ve_span_u64(f, UINT64_MAX, &st.utime_ticks);
			break;
		case STAT_STIME:
			r = ve_span_u64(f, UINT64_MAX, &st.stime_ticks);
			break;
		case STAT_PROCESSOR:
			r = ve_span_u64(f, UINT_MAX, &v);
			st.processor = (unsigned int)v;
			break;
		case STAT_GUEST_TIME:
			r = ve_span_u64(f, UINT64_MAX, &st.guest_time_ticks);
			break;
		default:
			/* signed (tpgid, priority, nice) or unsigned (rsslim) */
			r = ve_span_check_int(f);
			break;
		}
		if (r < 0)
			return r;
	}
	/* field is now one past the last field seen */
	if (field <= STAT_PROCESSOR)
		return -EINVAL;
	*ret = st;
	return 0;
}

int ve_proc_task_stat(int root_fd, pid_t pid, pid_t tid, struct ve_task_stat *ret)
{
	char buf[STAT_LEN];
	int r;

	r = read_task_file(root_fd, pid, tid, "stat", buf, sizeof(buf));
	if (r < 0)
		return r;
	return ve_parse_stat(buf, ret);
}

static bool list_has(struct ve_span list, const char *item)
{
	struct ve_span head, tail;

	while (ve_span_split(list, ',', &head, &tail)) {
		if (ve_span_eq(head, item))
			return true;
		list = tail;
	}
	return ve_span_eq(list, item);
}

static bool ends_with(struct ve_span s, const char *suffix)
{
	size_t n = strlen(suffix);

	return s.len >= n && memcmp(s.p + s.len - n, suffix, n) == 0;
}

int ve_parse_proc_cgroup(const char *text, const char *controller, char *buf, size_t len)
{
	struct ve_span line, id, rest, ctrls, path, found = { NULL, 0 };
	bool deleted = false;
	uint64_t hier;
	int r;

	while (ve_next_line(&text, &line)) {
		if (line.len == 0)
			continue;
		/* The path may itself hold ':', so split at the first two only. */
		if (!ve_span_split(line, ':', &id, &rest) ||
		    !ve_span_split(rest, ':', &ctrls, &path))
			return -EINVAL;
		r = ve_span_u64(id, INT_MAX, &hier);
		if (r < 0)
			return r;
		if (path.len == 0 || path.p[0] != '/')
			return -EINVAL;
		if (found.p)
			continue;
		if (controller[0] ? list_has(ctrls, controller) : hier == 0 && ctrls.len == 0) {
			found = path;
			/*
			 * cgroup v2 marks a cgroup that was removed while the
			 * process still sat in it (proc_cgroup_show()).
			 */
			deleted = hier == 0 && ends_with(path, " (deleted)");
		}
	}
	if (!found.p || deleted)
		return -ENOENT;
	if (found.len >= len)
		return -ENOBUFS;
	memcpy(buf, found.p, found.len);
	buf[found.len] = '\0';
	return 0;
}

int ve_proc_pid_cgroup(int root_fd, pid_t pid, const char *controller, char *buf, size_t len)
{
	char path[PATH_LEN], *text;
	int r;

	if (pid <= 0)
		return -EINVAL;
	snprintf(path, sizeof(path), "proc/%d/cgroup", (int)pid);
	/* one line per hierarchy, each path at most PATH_MAX */
	r = vanished(ve_read_file_alloc_at(root_fd, path, 1 << 20, &text, NULL));
	if (r < 0)
		return r;
	r = ve_parse_proc_cgroup(text, controller, buf, len);
	free(text);
	return r;
}
