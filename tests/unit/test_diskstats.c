// SPDX-License-Identifier: GPL-2.0-or-later
/* /proc/diskstats in its 14-, 18- and 20-field forms. */
#include <errno.h>
#include <unistd.h>

#include "check.h"
#include "diskstats.h"
#include "fixture.h"

#define OVERFLOW_STR "99999999999999999999999"

/* the same three kernels' view of a disk, a partition and a device-mapper volume */
#define LINE14 "   8       0 sda 1 2 3 4 5 6 7 8 9 10 11\n"
#define LINE18 "   8       1 sda1 101 102 103 104 105 106 107 108 109 110 111 112 113 114 115\n"
#define LINE20 " 253       0 dm-0 201 202 203 204 205 206 207 208 209 210 211 212 213 214 215 " \
	       "216 217\n"

static void test_parse_forms(void **state)
{
	struct ve_diskstat *d = NULL;
	size_t n = 0;
	int r;

	(void)state;
	r = ve_parse_diskstats(LINE14 LINE18 LINE20, &d, &n);
	check(r == 0, "parse: %d", r);
	check_u64(n, 3, "devices");

	check(d[0].major == 8 && d[0].minor == 0 && strcmp(d[0].name, "sda") == 0, "sda");
	check_u64(d[0].reads, 1, "14: reads");
	check_u64(d[0].reads_merged, 2, "14: reads merged");
	check_u64(d[0].read_sectors, 3, "14: sectors read");
	check_u64(d[0].read_ms, 4, "14: read ms");
	check_u64(d[0].writes, 5, "14: writes");
	check_u64(d[0].writes_merged, 6, "14: writes merged");
	check_u64(d[0].write_sectors, 7, "14: sectors written");
	check_u64(d[0].write_ms, 8, "14: write ms");
	check_u64(d[0].in_flight, 9, "14: in flight");
	check_u64(d[0].io_ticks_ms, 10, "14: io_ticks (field 13)");
	check_u64(d[0].time_in_queue_ms, 11, "14: weighted");
	check(!d[0].has_discard && !d[0].has_flush, "14 fields: no discard, no flush");
	check_u64(d[0].discards + d[0].discard_sectors + d[0].flushes, 0, "14: absent fields");

	check(d[1].minor == 1 && strcmp(d[1].name, "sda1") == 0, "sda1");
	check(d[1].has_discard && !d[1].has_flush, "18 fields: discard, no flush");
	check_u64(d[1].io_ticks_ms, 110, "18: io_ticks");
	check_u64(d[1].discards, 112, "18: discards");
	check_u64(d[1].discards_merged, 113, "18: discards merged");
	check_u64(d[1].discard_sectors, 114, "18: sectors discarded");
	check_u64(d[1].discard_ms, 115, "18: discard ms");
	check_u64(d[1].flushes, 0, "18: no flushes");

	check(d[2].major == 253 && strcmp(d[2].name, "dm-0") == 0, "dm-0");
	check(d[2].has_discard && d[2].has_flush, "20 fields: discard and flush");
	check_u64(d[2].read_sectors * VE_DISKSTAT_SECTOR_BYTES, 203 * 512, "20: bytes read");
	check_u64(d[2].discard_ms, 215, "20: discard ms");
	check_u64(d[2].flushes, 216, "20: flushes");
	check_u64(d[2].flush_ms, 217, "20: flush ms");
	free(d);
}

static void test_parse_edges(void **state)
{
	static const char largest[] =
		"259 4294967295 nvme0n1 18446744073709551615 0 0 0 0 0 0 0 0 0 0\n";
	struct ve_diskstat *d = NULL, sentinel;
	size_t n = 0;

	(void)state;
	check(ve_parse_diskstats(largest, &d, &n) == 0 && n == 1, "largest values");
	check_u64(d[0].reads, UINT64_MAX, "reads");
	check_u64(d[0].minor, UINT32_MAX, "minor");
	free(d);

	/* a future kernel's extra counters are accepted and ignored */
	check(ve_parse_diskstats("8 0 sda 1 2 3 4 5 6 7 8 9 10 11 12 13 14 15 16 17 18 19 20\n", &d,
				 &n) == 0 && n == 1, "23 fields");
	check(d[0].has_flush && d[0].flush_ms == 17, "23 fields: known ones still read");
	free(d);

	/* tabs, no final newline, blank lines */
	check(ve_parse_diskstats("\n8\t0\tsda 1 2 3 4 5 6 7 8 9 10 11", &d, &n) == 0 && n == 1,
	      "tabs and no newline");
	free(d);

	d = &sentinel;
	check(ve_parse_diskstats("", &d, &n) == 0 && n == 0 && d == NULL, "empty text");
}

static void test_parse_malformed(void **state)
{
	static const struct {
		const char *name, *text;
	} bad[] = {
		{ "13 fields", "8 0 sda 1 2 3 4 5 6 7 8 9 10\n" },
		{ "15 fields", "8 0 sda 1 2 3 4 5 6 7 8 9 10 11 12\n" },
		{ "16 fields", "8 0 sda 1 2 3 4 5 6 7 8 9 10 11 12 13\n" },
		{ "17 fields", "8 0 sda 1 2 3 4 5 6 7 8 9 10 11 12 13 14\n" },
		{ "19 fields", "8 0 sda 1 2 3 4 5 6 7 8 9 10 11 12 13 14 15 16\n" },
		{ "2.4-style partition", "8 1 sda1 1 2 3 4\n" },
		{ "name only", "8 0 sda\n" },
		{ "no name", "8 0\n" },
		{ "trailing junk", "8 0 sda 1 2 3 4 5 6 7 8 9 10 11x\n" },
		{ "junk field", "8 0 sda 1 2 3 4 5 6 7 8 9 10 11 junk\n" },
		{ "overflow", "8 0 sda " OVERFLOW_STR " 2 3 4 5 6 7 8 9 10 11\n" },
		{ "one past the largest", "8 0 sda 18446744073709551616 2 3 4 5 6 7 8 9 10 11\n" },
		{ "negative", "8 0 sda -1 2 3 4 5 6 7 8 9 10 11\n" },
		{ "major not a number", "x 0 sda 1 2 3 4 5 6 7 8 9 10 11\n" },
		{ "minor beyond 32 bits", "8 4294967296 sda 1 2 3 4 5 6 7 8 9 10 11\n" },
		{ "name too long",
		  "8 0 aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa "
		  "1 2 3 4 5 6 7 8 9 10 11\n" },
		{ "good line then a bad one", LINE14 "8 1 sda1 1 2\n" },
	};
	struct ve_diskstat sentinel, *d = &sentinel;
	size_t n = 99;

	(void)state;
	for (size_t i = 0; i < ARRAY_SIZE(bad); i++) {
		int r = ve_parse_diskstats(bad[i].text, &d, &n);

		check(r == -EINVAL, "%s: returned %d, want -EINVAL", bad[i].name, r);
		check(d == &sentinel && n == 99, "%s: outputs touched", bad[i].name);
	}
}

static void test_read_fixture(void **state)
{
	struct ve_diskstat *d = NULL;
	size_t n = 0;
	struct fx fx;
	int r;

	(void)state;
	fx_make(&fx);
	r = ve_read_diskstats(fx.fd, &d, &n);
	check(r == -ENOENT, "no proc/diskstats: %d", r);
	fx_write(&fx, "proc/diskstats", LINE20 LINE18);
	check(ve_read_diskstats(fx.fd, &d, &n) == 0 && n == 2, "read");
	check(strcmp(d[1].name, "sda1") == 0, "second device %s", d[1].name);
	free(d);

	/* a host with many devices: far more than one read's worth of text */
	{
		char *text = malloc(1000 * 80), *p = text;

		check(text != NULL, "malloc");
		for (unsigned int i = 0; i < 1000; i++)
			p += sprintf(p, "   7 %7u loop%u %u 0 0 0 0 0 0 0 0 %u 0 0 0 0 0 0 0\n",
				     i, i, i, 2 * i);
		fx_write(&fx, "proc/diskstats", text);
		free(text);
		check(ve_read_diskstats(fx.fd, &d, &n) == 0, "read a long file");
		check_u64(n, 1000, "devices");
		check(strcmp(d[999].name, "loop999") == 0, "last device %s", d[999].name);
		check_u64(d[999].reads, 999, "reads of the last device");
		check_u64(d[999].io_ticks_ms, 1998, "io_ticks of the last device");
		free(d);
	}
	fx_remove(&fx);
}

static void test_read_host(void **state)
{
	struct ve_diskstat *d = NULL;
	size_t n = 0;
	int root = fx_host_root();
	int r;

	(void)state;
	r = ve_read_diskstats(root, &d, &n);
	close(root);
	check(r == 0, "parse this machine's /proc/diskstats: %d", r);
	for (size_t i = 0; i < n; i++)
		check(d[i].name[0], "device %zu has no name", i);
	free(d);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_parse_forms),
		cmocka_unit_test(test_parse_edges),
		cmocka_unit_test(test_parse_malformed),
		cmocka_unit_test(test_read_fixture),
	};
	const struct CMUnitTest host_tests[] = {
		cmocka_unit_test(test_read_host),
	};
	int r = cmocka_run_group_tests_name("diskstats", tests, NULL, NULL);

	if (r)
		return r;
	/* the machine's own file, where it has one; meson counts 77 as skipped */
	if (access("/proc/diskstats", R_OK) < 0) {
		printf("SKIP: this machine's /proc/diskstats cannot be read (%s): its parse is not "
		       "tested\n", strerror(errno));
		return 77;
	}
	return cmocka_run_group_tests_name("diskstats of this machine", host_tests, NULL, NULL);
}
