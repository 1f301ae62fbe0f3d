/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * blockdev.h: the host's disks, and which disk a partition is on.
 *
 * Disks are the entries of sys/block that are real devices: loop, ram,
 * zram, device-mapper, md, nbd, optical and floppy devices are left out,
 * because their I/O reaches (or never reaches) a physical disk that is
 * counted on its own.  A partition is a subdirectory of its disk in
 * sys/block with a "partition" attribute (Documentation/ABI/testing/
 * sysfs-block); cgroup I/O statistics name partitions and disks alike by
 * major:minor, so both map to the disk.
 *
 * Readers take a root fd; errors are negative errno with ret_ untouched.
 */
#pragma once

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define VE_BLOCK_NAME_MAX 64

struct ve_disk {
	char name[VE_BLOCK_NAME_MAX];
	uint32_t major, minor;
	bool rotational;              /* queue/rotational: a spinning disk */
};

struct ve_disk_part {
	uint32_t major, minor;
	size_t disk;                  /* index into ve_disks.disk */
};

struct ve_disks {
	struct ve_disk *disk;
	size_t n;
	struct ve_disk_part *part;    /* partitions and the disks themselves */
	size_t n_part;
};

/* Scan sys/block.  An empty list is not an error (a diskless host). */
int ve_disks_scan(int root_fd, struct ve_disks *ret);
void ve_disks_clear(struct ve_disks *d);

/* The disk of device major:minor (a disk or one of its partitions), or -1. */
int ve_disks_find(const struct ve_disks *d, uint32_t major, uint32_t minor);

/* Whether a sys/block name is a virtual device that is not counted. */
bool ve_disk_name_is_virtual(const char *name);
