// SPDX-License-Identifier: GPL-2.0-or-later
/*
 * Virtual RAPL registers: unit register layout, energy status wrap, power
 * and time-window encodings both ways, and a guest reading the registers
 * the way Linux's intel_rapl driver does getting the VM's power back.
 */
#include <errno.h>

#include "check.h"
#include "counter.h"
#include "vrapl.h"

static void test_units(void **state)
{
	struct ve_vrapl v;
	uint64_t r = 0;

	(void)state;
	ve_vrapl_init(&v);
	check(ve_vrapl_read(&v, VE_MSR_RAPL_POWER_UNIT, &r) == 0, "unit register");
	check_u64(r, 0xA0E03, "PU 3, ESU 14, TU 10 in bits 3:0, 12:8, 19:16");
	v.esu = 32;
	check(ve_vrapl_read(&v, VE_MSR_RAPL_POWER_UNIT, &r) == -EINVAL, "ESU out of range");
	ve_vrapl_init(&v);
	check(ve_vrapl_read(&v, VE_MSR_DRAM_ENERGY_STATUS, &r) == -ENOENT, "no DRAM domain");
	check(ve_vrapl_read(&v, 0x1a0, &r) == -ENOENT, "not a RAPL register");
	v.has_dram = true;
	v.dram_uj = 1000000;
	check(ve_vrapl_read(&v, VE_MSR_DRAM_ENERGY_STATUS, &r) == 0 && r == 16384,
	      "1 J of DRAM = 16384 units, saw %" PRIu64, r);
}

static void test_energy_status(void **state)
{
	static const struct {
		const char *name;
		uint64_t uj;
		unsigned int esu;
		uint32_t want;
	} cases[] = {
		{ "zero", 0, 14, 0 },
		{ "one joule", 1000000, 14, 16384 },
		{ "one unit is 61.035 uJ", 62, 14, 1 },
		{ "just below one unit", 61, 14, 0 },
		/* 2^32 units of 1/2^14 J = 262144 J: the counter is back at 0 */
		{ "exactly one wrap", 262144000000ull, 14, 0 },
		{ "one wrap and one joule", 262145000000ull, 14, 16384 },
		{ "ESU 16", 1000000, 16, 65536 },
		{ "huge energy still wraps right", 262144000000ull * 1000 + 2000000, 14, 32768 },
	};

	(void)state;
	for (size_t i = 0; i < ARRAY_SIZE(cases); i++) {
		uint32_t e = 7;

		check(ve_vrapl_energy_status(cases[i].uj, cases[i].esu, &e) == 0, "%s", cases[i].name);
		check_u64(e, cases[i].want, cases[i].name);
	}
	{
		uint32_t e = 7;

		check(ve_vrapl_energy_status(1, 32, &e) == -EINVAL && e == 7, "ESU 32 refused");
	}
}

static void test_power_and_window(void **state)
{
	static const uint64_t powers_uw[] = { 0, 125000, 1000000, 40000000, 123456789, 4095875000 };
	static const uint64_t windows_us[] = { 976, 1000000, 2500000, 28000000, 40000000 };
	uint32_t u = 9, w;

	(void)state;
	for (size_t i = 0; i < ARRAY_SIZE(powers_uw); i++) {
		check(ve_vrapl_power_encode(powers_uw[i], 3, &u) == 0, "encode %" PRIu64, powers_uw[i]);
		/* within half a unit (1/16 W) of what was asked */
		check_near(ve_vrapl_power_decode(u, 3), powers_uw[i], 62500, "power round trip");
	}
	check(ve_vrapl_power_encode(4096000000, 3, &u) == -ERANGE, "above 0x7fff units");
	check(ve_vrapl_power_encode(1, 16, &u) == -EINVAL, "PU 16 refused");
	for (size_t i = 0; i < ARRAY_SIZE(windows_us); i++) {
		check(ve_vrapl_window_encode(windows_us[i], 10, &w) == 0, "window");
		check(w < 128, "7 bits");
		/* the Y/Z grid is 2^Y·{1, 1.25, 1.5, 1.75}: within 12.5 % */
		check_near(ve_vrapl_window_decode(w, 10), windows_us[i], 0.125 * (double)windows_us[i] + 1,
			   "window round trip");
	}
	/* the SDM's example: Y=0, Z=0 is one time unit */
	check_u64(ve_vrapl_window_decode(0, 10), 977, "one time unit of 976.6 us");
	/* 1 s = 2^10 units: Y = 10, Z = 0 */
	check(ve_vrapl_window_encode(1000000, 10, &w) == 0 && w == 10, "1 s is Y=10, saw %u", w);
}

static void test_limit_register(void **state)
{
	struct ve_vrapl v;
	uint64_t r = 0;

	(void)state;
	ve_vrapl_init(&v);
	check(ve_vrapl_read(&v, VE_MSR_PKG_POWER_LIMIT, &r) == 0 && r == 0, "no limit: 0");
	v.limit_uw = 40000000;
	v.window_us = 1000000;
	check(ve_vrapl_read(&v, VE_MSR_PKG_POWER_LIMIT, &r) == 0, "limit");
	check_u64(r & 0x7fff, 320, "40 W = 320 eighths");
	check(r & (1u << 15), "PL1 enabled");
	check_u64((r >> 17) & 0x7f, 10, "window 1 s");
	check_u64(r >> 32, 0, "no PL2, not locked");
	v.alloc_uw = 25000000;
	check(ve_vrapl_read(&v, VE_MSR_PKG_POWER_INFO, &r) == 0 && (r & 0x7fff) == 200,
	      "allocation 25 W as thermal spec power, saw %" PRIu64, r & 0x7fff);
	v.limit_uw = 5000000000ull;
	check(ve_vrapl_read(&v, VE_MSR_PKG_POWER_LIMIT, &r) == -ERANGE, "5 kW does not fit");
}

/*
 * A guest polls MSR_PKG_ENERGY_STATUS every 100 ms for 10 s, the way the
 * intel_rapl driver does: the 32-bit delta (wrapping) times the energy unit
 * from MSR_RAPL_POWER_UNIT.  The VM draws 37.5 W and its counter starts
 * just below a wrap.  The guest must see 37.5 W, through the wrap.
 */
static void test_guest_reader(void **state)
{
	struct ve_vrapl v;
	uint64_t unit_reg, prev = 0, cur = 0, total_uj = 0;

	(void)state;
	ve_vrapl_init(&v);
	v.pkg_uj = 262144000000ull - 1000000;   /* 1 J before the counter wraps */
	check(ve_vrapl_read(&v, VE_MSR_RAPL_POWER_UNIT, &unit_reg) == 0, "units");
	check(ve_vrapl_read(&v, VE_MSR_PKG_ENERGY_STATUS, &prev) == 0, "first read");
	for (int i = 0; i < 100; i++) {
		uint64_t delta_uj;

		v.pkg_uj += 3750000;   /* 37.5 W × 100 ms */
		check(ve_vrapl_read(&v, VE_MSR_PKG_ENERGY_STATUS, &cur) == 0, "read");
		check(ve_msr_units_to_uj(ve_msr32_delta(prev, cur), (unit_reg >> 8) & 0x1f, &delta_uj) == 0,
		      "convert");
		total_uj += delta_uj;
		prev = cur;
	}
	/* 10 s at 37.5 W = 375 J, within the rounding of one unit per read */
	check_near((double)total_uj / 10.0, 37500000.0, 100 * 62 / 10.0 + 1, "guest sees the VM's power");
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_units),
		cmocka_unit_test(test_energy_status),
		cmocka_unit_test(test_power_and_window),
		cmocka_unit_test(test_limit_register),
		cmocka_unit_test(test_guest_reader),
	};

	return cmocka_run_group_tests_name("vrapl", tests, NULL, NULL);
}
