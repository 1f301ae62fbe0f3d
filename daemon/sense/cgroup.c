// SPDX-License-Identifier: GPL-2.0-or-later
/*
 * cgroup.c: cgroup thread lists and block I/O statistics.
 *
 * Formats: Documentation/admin-guide/cgroup-v1/cgroups.rst ("tasks"),
 * cgroup-v1/blkio-controller.rst (the throttle statistics) and
 * Documentation/admin-guide/cgroup-v2.rst (cgroup.threads, io.stat).
 */
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "cgroup.h"
#include "fileio.h"

/* pid_max is at most 2^22: 4M ids of up to 8 bytes with their newline. */
#define TIDS_MAX_LEN (32u << 20)
#define BLKIO_MAX_LEN (4u << 20)

/*
 * A cgroup removed while we hold its directory open answers -ENODEV
 * (kernfs has deactivated its files); by path it is -ENOENT.  Same thing.
 */
static int vanished(int r)
{
	return r == -ENODEV ? -ENOENT : r;
}

static int cmp_pid(const void *a, const void *b)
{
	pid_t x = *(const pid_t *)a, y = *(const pid_t *)b;

	return (x > y) - (x < y);
}

int ve_parse_tid_list(const char *text, pid_t **ret, size_t *ret_n)
{
	const char *cur = text;
	struct ve_span line;
	pid_t *tids = NULL;
	size_t n = 0, lines = 0;
	uint64_t tid;
	int r;

	/* Count and check first, then allocate once. */
	while (ve_next_line(&cur, &line)) {
		if (line.len == 0)
			continue;
		r = ve_span_u64(line, INT_MAX, &tid);
		if (r < 0)
			return r;
		if (tid == 0)
			return -EINVAL;
		lines++;
	}
	if (lines) {
		tids = malloc(lines * sizeof(*tids));
		if (!tids)
			return -ENOMEM;
		cur = text;
		while (ve_next_line(&cur, &line))
			if (line.len && ve_span_u64(line, INT_MAX, &tid) == 0)
				tids[n++] = (pid_t)tid;
		qsort(tids, n, sizeof(*tids), cmp_pid);
	}
	*ret = tids;
	*ret_n = n;
	return 0;
}

int ve_cgroup_read_tids(int root_fd, const char *cgroup_dir_rel, pid_t **ret, size_t *ret_n)
{
	char *text;
	int dir_fd, r;

	dir_fd = openat(root_fd, cgroup_dir_rel, O_PATH | O_DIRECTORY | O_CLOEXEC);
	if (dir_fd < 0)
		return -errno;
	/*
	 * v2 has cgroup.threads and no tasks; v1 has tasks and no
	 * cgroup.threads.  Both list thread ids, not processes.
	 */
	r = ve_read_file_alloc_at(dir_fd, "cgroup.threads", TIDS_MAX_LEN, &text, NULL);
	if (r == -ENOENT)
		r = ve_read_file_alloc_at(dir_fd, "tasks", TIDS_MAX_LEN, &text, NULL);
	close(dir_fd);
	r = vanished(r);
	if (r < 0)
		return r;
	r = ve_parse_tid_list(text, ret, ret_n);
	free(text);
	return r;
}

int ve_cgroup_read_tids_v(int root_fd, const char *cgroup_dir_rel, bool v2, pid_t **ret,
			  size_t *ret_n)
{
	char path[PATH_MAX];
	char *text;
	int n, r;

	n = snprintf(path, sizeof(path), "%s/%s", cgroup_dir_rel, v2 ? "cgroup.threads" : "tasks");
	if (n < 0 || (size_t)n >= sizeof(path))
		return -ENAMETOOLONG;
	r = vanished(ve_read_file_alloc_at(root_fd, path, TIDS_MAX_LEN, &text, NULL));
	if (r < 0)
		return r;
	r = ve_parse_tid_list(text, ret, ret_n);
	free(text);
	return r;
}

enum blk_field {
	BLK_RBYTES,
	BLK_WBYTES,
	BLK_RIOS,
	BLK_WIOS,
	BLK__MAX,
};

/* One number about one device, before devices are gathered. */
struct blk_rec {
	uint32_t major, minor;
	enum blk_field field;
	uint64_t value;
};

struct blk_recs {
	size_t n, cap;
	struct blk_rec *r;
};

static int recs_add(struct blk_recs *rs, uint32_t major, uint32_t minor, enum blk_field field,
		    uint64_t value)
{
	struct blk_rec *p;
	size_t cap;

	if (rs->n == rs->cap) {
		cap = rs->cap ? rs->cap * 2 : 16;
		if (cap > SIZE_MAX / sizeof(*p))
			return -ENOMEM;
		p = realloc(rs->r, cap * sizeof(*p));
		if (!p)
			return -ENOMEM;
		rs->r = p;
		rs->cap = cap;
	}
	rs->r[rs->n++] = (struct blk_rec){ major, minor, field, value };
	return 0;
}

static int cmp_rec(const void *a, const void *b)
{
	const struct blk_rec *x = a, *y = b;

	if (x->major != y->major)
		return x->major < y->major ? -1 : 1;
	if (x->minor != y->minor)
		return x->minor < y->minor ? -1 : 1;
	return (x->field > y->field) - (x->field < y->field);
}

/*
 * Sort the records and gather them per device.  A device with the same
 * field twice is -EINVAL: the kernel prints each once.
 */
static int recs_gather(struct blk_recs *rs, struct ve_blkio_dev **ret, size_t *ret_n)
{
	struct ve_blkio_dev *devs = NULL, *d = NULL;
	size_t n = 0;

	if (rs->n) {
		qsort(rs->r, rs->n, sizeof(*rs->r), cmp_rec);
		for (size_t i = 1; i < rs->n; i++)
			if (cmp_rec(&rs->r[i - 1], &rs->r[i]) == 0)
				return -EINVAL;
		devs = calloc(rs->n, sizeof(*devs));
		if (!devs)
			return -ENOMEM;
	}
	for (size_t i = 0; i < rs->n; i++) {
		const struct blk_rec *r = &rs->r[i];

		if (!d || d->major != r->major || d->minor != r->minor) {
			d = &devs[n++];
			d->major = r->major;
			d->minor = r->minor;
		}
		switch (r->field) {
		case BLK_RBYTES:
			d->rbytes = r->value;
			break;
		case BLK_WBYTES:
			d->wbytes = r->value;
			break;
		case BLK_RIOS:
			d->rios = r->value;
			break;
		case BLK_WIOS:
			d->wios = r->value;
			break;
		case BLK__MAX:
			break;
		}
	}
	*ret = devs;
	*ret_n = n;
	return 0;
}

/* "MAJ:MIN" */
static int parse_devno(struct ve_span s, uint32_t *ret_major, uint32_t *ret_minor)
{
	struct ve_span ma, mi;
	uint64_t major, minor;

	if (!ve_span_split(s, ':', &ma, &mi) || ve_span_u64(ma, UINT32_MAX, &major) < 0 ||
	    ve_span_u64(mi, UINT32_MAX, &minor) < 0)
		return -EINVAL;
	*ret_major = (uint32_t)major;
	*ret_minor = (uint32_t)minor;
	return 0;
}

static bool is_word(struct ve_span s)
{
	if (!s.len)
		return false;
	for (size_t i = 0; i < s.len; i++)
		if (!((s.p[i] >= 'A' && s.p[i] <= 'Z') || (s.p[i] >= 'a' && s.p[i] <= 'z')))
			return false;
	return true;
}

/*
 * One v1 statistics file: "MAJ:MIN Op N" lines and "Total N" (the sum over
 * devices, printed by blkg_prfill_rwstat() and blkcg_print_blkgs()).
 */
static int parse_v1_file(const char *text, enum blk_field read_field,
			 enum blk_field write_field, struct blk_recs *rs)
{
	struct ve_span line, f[4];
	uint32_t major, minor;
	uint64_t v;
	size_t n;
	int r;

	while (ve_next_line(&text, &line)) {
		for (n = 0; n < 4 && ve_next_field(&line, &f[n]); n++)
			;
		if (n == 0)
			continue;
		if (n == 2 && ve_span_eq(f[0], "Total")) {
			r = ve_span_u64(f[1], UINT64_MAX, &v);
			if (r < 0)
				return r;
			continue;
		}
		if (n != 3)
			return -EINVAL;
		r = parse_devno(f[0], &major, &minor);
		if (r < 0)
			return r;
		if (!is_word(f[1]))
			return -EINVAL;
		r = ve_span_u64(f[2], UINT64_MAX, &v);
		if (r < 0)
			return r;
		/* Sync, Async, Discard and the per-device Total overlap Read and Write. */
		if (ve_span_eq(f[1], "Read"))
			r = recs_add(rs, major, minor, read_field, v);
		else if (ve_span_eq(f[1], "Write"))
			r = recs_add(rs, major, minor, write_field, v);
		if (r < 0)
			return r;
	}
	return 0;
}

int ve_parse_blkio_v1(const char *bytes_text, const char *ios_text, struct ve_blkio_dev **ret,
		      size_t *ret_n)
{
	struct blk_recs rs = { 0 };
	int r = 0;

	if (bytes_text)
		r = parse_v1_file(bytes_text, BLK_RBYTES, BLK_WBYTES, &rs);
	if (r == 0 && ios_text)
		r = parse_v1_file(ios_text, BLK_RIOS, BLK_WIOS, &rs);
	if (r == 0)
		r = recs_gather(&rs, ret, ret_n);
	free(rs.r);
	return r;
}

int ve_parse_io_stat(const char *text, struct ve_blkio_dev **ret, size_t *ret_n)
{
	static const char *const keys[BLK__MAX] = {
		[BLK_RBYTES] = "rbytes",
		[BLK_WBYTES] = "wbytes",
		[BLK_RIOS] = "rios",
		[BLK_WIOS] = "wios",
	};
	struct blk_recs rs = { 0 };
	struct ve_span line, f, key, val;
	uint32_t major = 0, minor = 0;   /* set by parse_devno; -O3 cannot tell */
	int r = 0;

	while (r == 0 && ve_next_line(&text, &line)) {
		uint64_t v[BLK__MAX] = { 0 };
		unsigned int seen = 0;

		if (!ve_next_field(&line, &f))
			continue;
		r = parse_devno(f, &major, &minor);
		while (r == 0 && ve_next_field(&line, &f)) {
			if (!ve_span_split(f, '=', &key, &val) || key.len == 0) {
				r = -EINVAL;
				break;
			}
			for (unsigned int k = 0; k < BLK__MAX; k++) {
				if (!ve_span_eq(key, keys[k]))
					continue;
				if (seen & (1u << k))
					r = -EINVAL;
				else
					r = ve_span_u64(val, UINT64_MAX, &v[k]);
				seen |= 1u << k;
				break;
			}
			/* other keys (dbytes, dios, cost.*, io.latency's ...) are not ours */
		}
		if (r == 0 && seen != (1u << BLK__MAX) - 1)
			r = -EINVAL;
		for (unsigned int k = 0; r == 0 && k < BLK__MAX; k++)
			r = recs_add(&rs, major, minor, (enum blk_field)k, v[k]);
	}
	if (r == 0)
		r = recs_gather(&rs, ret, ret_n);
	free(rs.r);
	return r;
}

static int read_v2(int root_fd, const char *dir_rel, struct ve_blkio_dev **ret, size_t *ret_n)
{
	char *text;
	int dir_fd, r;

	dir_fd = openat(root_fd, dir_rel, O_PATH | O_DIRECTORY | O_CLOEXEC);
	if (dir_fd < 0)
		return -errno;
	r = vanished(ve_read_file_alloc_at(dir_fd, "io.stat", BLKIO_MAX_LEN, &text, NULL));
	close(dir_fd);
	if (r < 0)
		return r;
	r = ve_parse_io_stat(text, ret, ret_n);
	free(text);
	return r;
}

static int read_v1(int root_fd, const char *dir_rel, struct ve_blkio_dev **ret, size_t *ret_n)
{
	char *bytes = NULL, *ios = NULL;
	int dir_fd, r;

	dir_fd = openat(root_fd, dir_rel, O_PATH | O_DIRECTORY | O_CLOEXEC);
	if (dir_fd < 0)
		return -errno;
	/* older kernels have no _recursive throttle files */
	r = ve_read_file_alloc_at(dir_fd, "blkio.throttle.io_service_bytes_recursive",
				  BLKIO_MAX_LEN, &bytes, NULL);
	if (r == 0)
		r = ve_read_file_alloc_at(dir_fd, "blkio.throttle.io_serviced_recursive",
					  BLKIO_MAX_LEN, &ios, NULL);
	else if (r == -ENOENT) {
		r = ve_read_file_alloc_at(dir_fd, "blkio.throttle.io_service_bytes",
					  BLKIO_MAX_LEN, &bytes, NULL);
		if (r == 0)
			r = ve_read_file_alloc_at(dir_fd, "blkio.throttle.io_serviced",
						  BLKIO_MAX_LEN, &ios, NULL);
	}
	close(dir_fd);
	r = vanished(r);
	if (r == 0)
		r = ve_parse_blkio_v1(bytes, ios, ret, ret_n);
	free(bytes);
	free(ios);
	return r;
}

int ve_cgroup_read_blkio(int root_fd, const char *v1_blkio_dir_rel, const char *v2_dir_rel,
			 struct ve_blkio_dev **ret, size_t *ret_n)
{
	int r = -ENOENT;

	/*
	 * io.stat exists only where the io controller is enabled in the
	 * parent's cgroup.subtree_control; on a hybrid host the v2 tree has
	 * no controllers and v1 blkio is where the numbers are.
	 */
	if (v2_dir_rel)
		r = read_v2(root_fd, v2_dir_rel, ret, ret_n);
	if (r == -ENOENT && v1_blkio_dir_rel)
		r = read_v1(root_fd, v1_blkio_dir_rel, ret, ret_n);
	return r;
}

void ve_blkio_files_close(struct ve_blkio_files *f)
{
	for (int i = 0; i < 2; i++) {
		if (f->fd[i] >= 0)
			close(f->fd[i]);
		f->fd[i] = -1;
		free(f->buf[i]);
		f->buf[i] = NULL;
		f->buf_len[i] = 0;
	}
}

static int open_in(int dir_fd, const char *name)
{
	int fd = openat(dir_fd, name, O_RDONLY | O_CLOEXEC);

	return fd < 0 ? -errno : fd;
}

/* The files ve_cgroup_read_blkio() would read, in the same order of preference. */
static int blkio_open(struct ve_blkio_files *f, int root_fd, const char *v1, const char *v2)
{
	int dir_fd, r = -ENOENT;

	if (v2 && (dir_fd = openat(root_fd, v2, O_PATH | O_DIRECTORY | O_CLOEXEC)) >= 0) {
		r = open_in(dir_fd, "io.stat");
		close(dir_fd);
		if (r >= 0) {
			f->fd[0] = r;
			return 0;
		}
	}
	if (r != -ENOENT || !v1)
		return r;
	dir_fd = openat(root_fd, v1, O_PATH | O_DIRECTORY | O_CLOEXEC);
	if (dir_fd < 0)
		return -errno;
	r = open_in(dir_fd, "blkio.throttle.io_service_bytes_recursive");
	if (r >= 0) {
		f->fd[0] = r;
		r = open_in(dir_fd, "blkio.throttle.io_serviced_recursive");
	} else if (r == -ENOENT && (r = open_in(dir_fd, "blkio.throttle.io_service_bytes")) >= 0) {
		f->fd[0] = r;
		r = open_in(dir_fd, "blkio.throttle.io_serviced");
	}
	close(dir_fd);
	if (r < 0)
		return r;
	f->fd[1] = r;
	return 0;
}

/* All of file @i at offset 0 into its buffer, growing it as far as BLKIO_MAX_LEN. */
static int blkio_pread(struct ve_blkio_files *f, int i)
{
	for (;;) {
		int r;

		if (!f->buf[i]) {
			f->buf_len[i] = f->buf_len[i] ? f->buf_len[i] : 4096;
			f->buf[i] = malloc(f->buf_len[i]);
			if (!f->buf[i])
				return -ENOMEM;
		}
		r = vanished(ve_pread_all(f->fd[i], f->buf[i], f->buf_len[i], NULL));
		if (r != -EFBIG || f->buf_len[i] >= BLKIO_MAX_LEN)
			return r;
		free(f->buf[i]);
		f->buf[i] = NULL;
		f->buf_len[i] *= 2;
	}
}

int ve_blkio_files_read(struct ve_blkio_files *f, int root_fd, const char *v1_blkio_dir_rel,
			const char *v2_dir_rel, struct ve_blkio_dev **ret, size_t *ret_n)
{
	int r = 0;

	if (f->fd[0] < 0)
		r = blkio_open(f, root_fd, v1_blkio_dir_rel, v2_dir_rel);
	if (r == 0)
		r = blkio_pread(f, 0);
	if (r == 0 && f->fd[1] >= 0)
		r = blkio_pread(f, 1);
	if (r == 0)
		r = f->fd[1] >= 0 ? ve_parse_blkio_v1(f->buf[0], f->buf[1], ret, ret_n)
				  : ve_parse_io_stat(f->buf[0], ret, ret_n);
	if (r < 0)
		ve_blkio_files_close(f);
	return r;
}

int ve_parse_cpu_stat_usage(const char *text, uint64_t *ret_ns)
{
	const char *cur = text;
	struct ve_span line, key, val, extra;
	uint64_t us = 0;
	bool seen = false;

	while (ve_next_line(&cur, &line)) {
		if (!line.len)
			continue;
		if (!ve_next_field(&line, &key) || !ve_next_field(&line, &val) ||
		    ve_next_field(&line, &extra) || ve_span_check_int(val) < 0)
			return -EINVAL;
		if (!ve_span_eq(key, "usage_usec"))
			continue;
		if (seen || ve_span_u64(val, UINT64_MAX / 1000u, &us) < 0)
			return -EINVAL;
		seen = true;
	}
	if (!seen)
		return -EINVAL;
	*ret_ns = us * 1000u;
	return 0;
}

int ve_cgroup_read_cpu_usage(int root_fd, const char *dir_rel, uint64_t *ret_ns)
{
	char path[PATH_MAX], buf[4096];
	uint64_t ns;
	int r;

	if ((size_t)snprintf(path, sizeof(path), "%s/cpuacct.usage", dir_rel) >= sizeof(path))
		return -ENAMETOOLONG;
	r = ve_read_file_at(root_fd, path, buf, sizeof(buf), NULL);
	if (r == 0) {
		if ((r = ve_parse_u64(buf, &ns)) < 0)
			return r;
		*ret_ns = ns;
		return 0;
	}
	if (r != -ENOENT)
		return r;
	snprintf(path, sizeof(path), "%s/cpu.stat", dir_rel);
	r = ve_read_file_at(root_fd, path, buf, sizeof(buf), NULL);
	if (r < 0)
		return r;
	return ve_parse_cpu_stat_usage(buf, ret_ns);
}
