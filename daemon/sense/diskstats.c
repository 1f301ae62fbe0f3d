// SPDX-License-Identifier: GPL-2.0-or-later
/*
 * diskstats.c: /proc/diskstats parser.
 *
 * diskstats_show() in block/genhd.c prints "%4d %7d %s" and then the
 * counters (Documentation/ABI/testing/procfs-diskstats).  Their number
 * grew twice: four discard counters in 4.18 ("block: Track DISCARD
 * statistics and output them in stat and diskstat"), two flush counters in
 * 5.5 (commit b68663186577, "block: add iostat counters for flush
 * requests").  More have been proposed since, so counters beyond the known
 * ones are accepted and ignored.  Before 2.6.25 partitions had a short
 * 4-counter form; no kernel this daemon runs on prints it: rejected.
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "diskstats.h"
#include "fileio.h"

#define N_BASIC 11      /* counters in every kernel */
#define N_DISCARD 15    /* with the discard fields */
#define N_FLUSH 17      /* with the flush fields */
#define DISKSTATS_MAX_LEN (16u << 20)

static int parse_line(struct ve_span line, struct ve_diskstat *ret)
{
	struct ve_diskstat d = { 0 };
	uint64_t *const field[N_FLUSH] = {
		&d.reads, &d.reads_merged, &d.read_sectors, &d.read_ms,
		&d.writes, &d.writes_merged, &d.write_sectors, &d.write_ms,
		&d.in_flight, &d.io_ticks_ms, &d.time_in_queue_ms,
		&d.discards, &d.discards_merged, &d.discard_sectors, &d.discard_ms,
		&d.flushes, &d.flush_ms,
	};
	struct ve_span f;
	uint64_t v;
	size_t n = 0;
	int r;

	if (!ve_next_field(&line, &f) || ve_span_u64(f, UINT32_MAX, &v) < 0)
		return -EINVAL;
	d.major = (uint32_t)v;
	if (!ve_next_field(&line, &f) || ve_span_u64(f, UINT32_MAX, &v) < 0)
		return -EINVAL;
	d.minor = (uint32_t)v;
	if (!ve_next_field(&line, &f) || f.len >= sizeof(d.name))
		return -EINVAL;
	memcpy(d.name, f.p, f.len);

	for (; ve_next_field(&line, &f); n++) {
		/* beyond what is known: a number, not ours */
		r = ve_span_u64(f, UINT64_MAX, n < N_FLUSH ? field[n] : &v);
		if (r < 0)
			return r;
	}
	if (n != N_BASIC && n != N_DISCARD && n < N_FLUSH)
		return -EINVAL;
	d.has_discard = n >= N_DISCARD;
	d.has_flush = n >= N_FLUSH;
	*ret = d;
	return 0;
}

int ve_parse_diskstats(const char *text, struct ve_diskstat **ret, size_t *ret_n)
{
	struct ve_diskstat *devs = NULL, *p;
	struct ve_span line, probe;
	size_t n = 0, cap = 0;
	int r = 0;

	while (ve_next_line(&text, &line)) {
		probe = line;
		if (!ve_next_field(&probe, &probe))
			continue;   /* blank line */
		if (n == cap) {
			cap = cap ? cap * 2 : 32;
			p = cap < SIZE_MAX / sizeof(*p) ? realloc(devs, cap * sizeof(*p)) : NULL;
			if (!p) {
				r = -ENOMEM;
				break;
			}
			devs = p;
		}
		r = parse_line(line, &devs[n]);
		if (r < 0)
			break;
		n++;
	}
	if (r < 0) {
		free(devs);
		return r;
	}
	if (n == 0) {
		free(devs);
		devs = NULL;
	}
	*ret = devs;
	*ret_n = n;
	return 0;
}

int ve_read_diskstats(int root_fd, struct ve_diskstat **ret, size_t *ret_n)
{
	char *text;
	int r;

	r = ve_read_file_alloc_at(root_fd, "proc/diskstats", DISKSTATS_MAX_LEN, &text, NULL);
	if (r < 0)
		return r;
	r = ve_parse_diskstats(text, ret, ret_n);
	free(text);
	return r;
}
