/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * diskstats.h: /proc/diskstats, the block layer's per-device counters
 * (Documentation/admin-guide/iostats.rst).
 *
 * Counters are cumulative since the device appeared, except in_flight.
 * The kernel keeps some of them in unsigned long or unsigned int, so on
 * 32-bit hosts they wrap at 2^32; deltas are the caller's business.
 *
 * A "sector" in this file is always 512 bytes, whatever the device's
 * logical or physical block size: the block layer counts in 512-byte
 * units (SECTOR_SHIFT 9).  Multiply by VE_DISKSTAT_SECTOR_BYTES, never by
 * the device's queue/logical_block_size.
 *
 * Results go through ret_ parameters, untouched on failure; the array is
 * allocated with malloc() and freed by the caller.  The parser is pure
 * over a NUL-terminated string.  No logging, no state: thread-safe.
 */
#pragma once

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define VE_DISKSTAT_SECTOR_BYTES 512
#define VE_DISK_NAME_MAX 64

struct ve_diskstat {
	uint32_t major, minor;
	char name[VE_DISK_NAME_MAX];  /* "sda", "nvme0n1p2", "dm-0" */
	uint64_t reads;               /* reads completed */
	uint64_t reads_merged;
	uint64_t read_sectors;        /* 512-byte sectors read */
	uint64_t read_ms;             /* time spent reading, summed over requests */
	uint64_t writes;              /* writes completed */
	uint64_t writes_merged;
	uint64_t write_sectors;       /* 512-byte sectors written */
	uint64_t write_ms;
	uint64_t in_flight;           /* requests in progress now: not cumulative */
	uint64_t io_ticks_ms;         /* wall time the device was busy (had requests) */
	uint64_t time_in_queue_ms;    /* weighted by the number of requests in flight */
	bool has_discard;             /* kernel >= 4.18: the four discard fields */
	uint64_t discards;
	uint64_t discards_merged;
	uint64_t discard_sectors;
	uint64_t discard_ms;
	bool has_flush;               /* kernel >= 5.5: the two flush fields */
	uint64_t flushes;
	uint64_t flush_ms;
};

/*
 * Parse the text of /proc/diskstats.  A line is major, minor, name and 11
 * (kernels before 4.18), 15 (4.18 and later) or 17 (5.5 and later)
 * counters; fields that a later kernel may append are checked to be
 * numbers and ignored.  Absent fields are 0 with has_discard / has_flush
 * false.  Devices come in file order.  An empty text is an empty result
 * (*@ret = NULL, *@ret_n = 0).  -EINVAL for any malformed line (another
 * field count, a non-number, a value above 2^64 - 1, a name longer than
 * VE_DISK_NAME_MAX - 1), -ENOMEM.
 */
int ve_parse_diskstats(const char *text, struct ve_diskstat **ret, size_t *ret_n);

/* ve_parse_diskstats() of proc/diskstats under @root_fd. */
int ve_read_diskstats(int root_fd, struct ve_diskstat **ret, size_t *ret_n);
