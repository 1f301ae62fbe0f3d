// SPDX-License-Identifier: GPL-2.0-or-later
/*
 * The disk actuator's derivation of block I/O bounds from a disk power
 * limit through the disk model: the profiles' numbers, the split between
 * bytes and requests (any traffic the bounds admit stays within the limit),
 * models that cost only one of them, and refusals.  libvirt's side is
 * tested on a real guest (tests/integration/test_blkio.sh).
 */
#include <errno.h>

#include "blkio.h"
#include "check.h"

static void test_profiles(void **state)
{
	static const struct {
		const char *profile;
		uint64_t limit_uw, bytes, iops;
	} cases[] = {
		/* half of 1 W at 45.614 nJ/B and 10.92 mJ/request */
		{ "hdd", 1000000, 10961546, 45 },
		/* half of 2 W at 4.528 nJ/B and 10 µJ/request */
		{ "ssd", 2000000, 220848056, 100000 },
		/* half of 1 W at 1.406 nJ/B and 5 µJ/request */
		{ "nvme", 1000000, 355618776, 100000 },
		/* the smallest limit still gives bounds of at least 1 */
		{ "hdd", 1000, 10961, 1 },
	};

	(void)state;
	for (size_t i = 0; i < ARRAY_SIZE(cases); i++) {
		struct ve_disk_model m;
		uint64_t b = 0, o = 0;
		double cost_w;

		check(ve_disk_model_profile(cases[i].profile, &m) == 0, "profile %s", cases[i].profile);
		check(ve_blkio_derive(&m, cases[i].limit_uw, &b, &o) == 0, "%s derive", cases[i].profile);
		check_u64(b, cases[i].bytes, cases[i].profile);
		check_u64(o, cases[i].iops, cases[i].profile);
		/* everything the bounds admit at once costs no more than the limit */
		cost_w = ve_disk_model_energy_uj(&m, o, b) / 1e6;
		check(cost_w <= (double)cases[i].limit_uw / 1e6 * 1.000001 ||
			      (cases[i].limit_uw == 1000 && o == 1),
		      "%s: bounds admit %.6f W over a %.6f W limit", cases[i].profile, cost_w,
		      (double)cases[i].limit_uw / 1e6);
	}
}

static void test_one_term(void **state)
{
	struct ve_disk_model bytes_only = { 1000000, 2000000, 0.0, 1000.0 };
	struct ve_disk_model ops_only = { 1000000, 2000000, 1000.0, 0.0 };
	uint64_t b, o;

	(void)state;
	check(ve_blkio_derive(&bytes_only, 1000000, &b, &o) == 0, "bytes only");
	check_u64(b, 1000000000, "all of 1 W at 1 nJ/B");
	check_u64(o, 0, "requests cost nothing: unbounded");
	check(ve_blkio_derive(&ops_only, 1000000, &b, &o) == 0, "ops only");
	check_u64(b, 0, "bytes cost nothing: unbounded");
	check_u64(o, 1000000, "all of 1 W at 1 µJ/request");
}

static void test_refused(void **state)
{
	struct ve_disk_model m, free_disk = { 1, 2, 0.0, 0.0 }, bad = { 5, 1, 1.0, 1.0 },
				nan_m = { 1, 2, NAN, 1.0 }, tiny = { 1, 2, 1e-9, 1e-12 };
	uint64_t b = 7, o = 7;

	(void)state;
	check(ve_disk_model_profile("ssd", &m) == 0, "ssd");
	check(ve_blkio_derive(&m, 0, &b, &o) == -EINVAL, "a zero limit");
	check(ve_blkio_derive(&free_disk, 1000000, &b, &o) == -EINVAL, "a model that costs nothing");
	check(ve_blkio_derive(&bad, 1000000, &b, &o) == -EINVAL, "active below idle");
	check(ve_blkio_derive(&nan_m, 1000000, &b, &o) == -EINVAL, "NaN weight");
	check(ve_blkio_derive(&tiny, 100000000000, &b, &o) == -ERANGE, "beyond what QEMU takes");
	check_u64(b, 7, "untouched on refusal");
	check_u64(o, 7, "untouched on refusal");
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_profiles),
		cmocka_unit_test(test_one_term),
		cmocka_unit_test(test_refused),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
