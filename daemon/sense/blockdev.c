// SPDX-License-Identifier: GPL-2.0-or-later
/*
 * blockdev.c: disks and partitions from sys/block (see blockdev.h).
 */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "blockdev.h"
#include "fileio.h"

bool ve_disk_name_is_virtual(const char *name)
{
	static const char *const prefixes[] = { "loop", "ram", "zram", "dm-", "md", "nbd", "sr", "fd" };

	for (size_t i = 0; i < sizeof(prefixes) / sizeof(prefixes[0]); i++)
		if (strncmp(name, prefixes[i], strlen(prefixes[i])) == 0)
			return true;
	return false;
}

/* "8:0\n" in @rel under @dir_fd. */
static int read_devno(int dir_fd, const char *rel, uint32_t *ret_major, uint32_t *ret_minor)
{
	char buf[32];
	struct ve_span s, maj, min;
	uint64_t a, b;
	size_t len;
	int r = ve_read_file_at(dir_fd, rel, buf, sizeof(buf), &len);

	if (r < 0)
		return r;
	while (len && buf[len - 1] == '\n')
		buf[--len] = 0;
	s = (struct ve_span){ buf, len };
	if (!ve_span_split(s, ':', &maj, &min) || ve_span_u64(maj, UINT32_MAX, &a) < 0 ||
	    ve_span_u64(min, UINT32_MAX, &b) < 0)
		return -EINVAL;
	*ret_major = (uint32_t)a;
	*ret_minor = (uint32_t)b;
	return 0;
}

static int add_part(struct ve_disks *d, size_t *cap, uint32_t major, uint32_t minor, size_t disk)
{
	if (d->n_part == *cap) {
		size_t n = *cap ? *cap * 2 : 8;
		struct ve_disk_part *p = realloc(d->part, n * sizeof(*p));

		if (!p)
			return -ENOMEM;
		d->part = p;
		*cap = n;
	}
	d->part[d->n_part++] = (struct ve_disk_part){ major, minor, disk };
	return 0;
}

/* The partitions of one disk: subdirectories with a "partition" file. */
static int scan_parts(int disk_fd, struct ve_disks *d, size_t *cap, size_t disk)
{
	int fd = dup(disk_fd);
	DIR *dir = fd >= 0 ? fdopendir(fd) : NULL;
	struct dirent *de;
	int r = 0;

	if (!dir) {
		if (fd >= 0)
			close(fd);
		return 0;
	}
	while (r == 0 && (de = readdir(dir))) {
		char rel[sizeof(de->d_name) + 16];
		uint32_t major, minor;

		if (de->d_name[0] == '.')
			continue;
		snprintf(rel, sizeof(rel), "%s/partition", de->d_name);
		if (faccessat(disk_fd, rel, F_OK, 0) < 0)
			continue;
		snprintf(rel, sizeof(rel), "%s/dev", de->d_name);
		if (read_devno(disk_fd, rel, &major, &minor) == 0)
			r = add_part(d, cap, major, minor, disk);
	}
	closedir(dir);
	return r;
}

int ve_disks_scan(int root_fd, struct ve_disks *ret)
{
	struct ve_disks d = { 0 };
	size_t cap = 0, part_cap = 0;
	int dfd = openat(root_fd, "sys/block", O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	DIR *dir;
	struct dirent *de;
	int r = 0;

	if (dfd < 0) {
		*ret = d;   /* no sysfs block class: no disks */
		return 0;
	}
	dir = fdopendir(dfd);
	if (!dir) {
		close(dfd);
		return -errno;
	}
	while (r == 0 && (de = readdir(dir))) {
		struct ve_disk disk = { 0 };
		char rel[VE_BLOCK_NAME_MAX + 32], buf[8];
		int disk_fd;

		if (de->d_name[0] == '.' || ve_disk_name_is_virtual(de->d_name) ||
		    strlen(de->d_name) >= VE_BLOCK_NAME_MAX)
			continue;
		disk_fd = openat(dfd, de->d_name, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
		if (disk_fd < 0)
			continue;
		if (read_devno(disk_fd, "dev", &disk.major, &disk.minor) < 0) {
			close(disk_fd);
			continue;
		}
		memcpy(disk.name, de->d_name, strlen(de->d_name) + 1);   /* length checked above */
		snprintf(rel, sizeof(rel), "queue/rotational");
		disk.rotational = ve_read_file_at(disk_fd, rel, buf, sizeof(buf), NULL) == 0 &&
				  buf[0] == '1';
		if (d.n == cap) {
			size_t n = cap ? cap * 2 : 4;
			struct ve_disk *p = realloc(d.disk, n * sizeof(*p));

			if (!p) {
				close(disk_fd);
				r = -ENOMEM;
				break;
			}
			d.disk = p;
			cap = n;
		}
		d.disk[d.n] = disk;
		r = add_part(&d, &part_cap, disk.major, disk.minor, d.n);
		if (r == 0)
			r = scan_parts(disk_fd, &d, &part_cap, d.n);
		d.n++;
		close(disk_fd);
	}
	closedir(dir);
	if (r < 0) {
		ve_disks_clear(&d);
		return r;
	}
	*ret = d;
	return 0;
}

void ve_disks_clear(struct ve_disks *d)
{
	free(d->disk);
	free(d->part);
	memset(d, 0, sizeof(*d));
}

int ve_disks_find(const struct ve_disks *d, uint32_t major, uint32_t minor)
{
	for (size_t i = 0; i < d->n_part; i++)
		if (d->part[i].major == major && d->part[i].minor == minor)
			return (int)d->part[i].disk;
	return -1;
}
