// SPDX-License-Identifier: GPL-2.0-or-later
/*
 * The per-VM export directory: the powercap-shaped tree and the msr file
 * say what the register file says, updates write what changed (the energies
 * in place, the rest replaced whole), removal
 * clears the directory, and a bad UUID never becomes a path.
 */
#include <errno.h>
#include <string.h>

#include "fixture.h"
#include "guestexport.h"

#define UUID "0f8fad5b-d9cb-469f-a165-70867728950e"

static uint64_t read_u64(const struct fx *fx, const char *rel)
{
	char path[PATH_MAX * 2], buf[64] = "";
	FILE *f;

	snprintf(path, sizeof(path), "%s/%s/%s", fx->path, UUID, rel);
	f = fopen(path, "r");
	check(f != NULL, "open %s", rel);
	check(fgets(buf, sizeof(buf), f) != NULL, "read %s", rel);
	fclose(f);
	return strtoull(buf, NULL, 10);
}

static uint64_t read_msr(const struct fx *fx, uint32_t msr)
{
	char path[PATH_MAX * 2];
	uint64_t v = 0;
	int fd;

	snprintf(path, sizeof(path), "%s/%s/msr", fx->path, UUID);
	fd = open(path, O_RDONLY | O_CLOEXEC);
	check(fd >= 0, "open msr");
	check(pread(fd, &v, 8, 8 * (off_t)msr) == 8, "8 bytes at offset 8 x 0x%x", msr);
	close(fd);
	return v;
}

static ino_t ino(struct fx *fx, const char *rel)
{
	char path[PATH_MAX * 2];
	struct stat st;

	snprintf(path, sizeof(path), "%s/%s/%s", fx->path, UUID, rel);
	return stat(path, &st) == 0 ? st.st_ino : 0;
}

static void test_export(void **state)
{
	struct fx fx;
	struct ve_vrapl v;
	g_autoptr(GError) err = NULL;
	int dir;
	uint64_t want = 0;

	(void)state;
	fx_make(&fx);
	dir = open(fx.path, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	ve_vrapl_init(&v);
	v.pkg_uj = 5000000;     /* 5 J */
	v.pp0_uj = 3000000;
	v.limit_uw = 40000000;
	v.window_us = 1000000;
	v.alloc_uw = 30000000;
	check(ve_guest_export_write(dir, UUID, &v, &err), "%s", err ? err->message : "");

	/* energy_uj is the 32-bit counter times its unit: 81920 units of 61.03515625 µJ */
	check_u64(read_u64(&fx, "intel-rapl:0/energy_uj"), 5000000, "package energy");
	check_u64(read_u64(&fx, "intel-rapl:0/intel-rapl:0:0/energy_uj"), 3000000, "core energy");
	check_u64(read_u64(&fx, "intel-rapl:0/max_energy_range_uj"), 262143999938, "wrap range");
	check_u64(read_u64(&fx, "intel-rapl:0/constraint_0_power_limit_uw"), 40000000, "limit");
	check_u64(read_u64(&fx, "intel-rapl:0/constraint_0_time_window_us"), 1000000, "window");
	check_u64(read_u64(&fx, "intel-rapl:0/enabled"), 1, "enabled");
	{
		static const uint32_t regs[] = { VE_MSR_RAPL_POWER_UNIT, VE_MSR_PKG_POWER_LIMIT,
						 VE_MSR_PKG_ENERGY_STATUS, VE_MSR_PKG_POWER_INFO,
						 VE_MSR_DRAM_ENERGY_STATUS, VE_MSR_PP0_ENERGY_STATUS };

		for (size_t i = 0; i < ARRAY_SIZE(regs); i++) {
			if (ve_vrapl_read(&v, regs[i], &want) < 0)
				want = 0;
			check_u64(read_msr(&fx, regs[i]), want, "msr file agrees with the register file");
		}
	}
	check_u64(read_msr(&fx, VE_MSR_PKG_ENERGY_STATUS), 81920, "5 J in energy units");

	/*
	 * The same figures again but a new energy: only the files that changed
	 * are written, the energy in place (the same inode, issue 15), the
	 * others are left as they were.
	 */
	{
		uint64_t w0, k0, w1, k1;
		ino_t name0 = ino(&fx, "intel-rapl:0/name"), limit0 = ino(&fx, "intel-rapl:0/constraint_0_power_limit_uw");
		ino_t energy0 = ino(&fx, "intel-rapl:0/energy_uj");

		ve_guest_export_counts(&w0, &k0);
		v.pkg_uj += 1000000;
		check(ve_guest_export_write(dir, UUID, &v, &err), "same figures, more energy");
		ve_guest_export_counts(&w1, &k1);
		check(ino(&fx, "intel-rapl:0/name") == name0 &&
		      ino(&fx, "intel-rapl:0/constraint_0_power_limit_uw") == limit0,
		      "the name and the limit left as they were");
		check(ino(&fx, "intel-rapl:0/energy_uj") == energy0, "the energy written in place");
		check_u64(read_u64(&fx, "intel-rapl:0/energy_uj"), 6000000, "and right");
		printf("# files written in a second period: %llu of %llu (the others unchanged)\n",
		       (unsigned long long)(w1 - w0), (unsigned long long)(w1 - w0 + k1 - k0));
		check(w1 - w0 == 2 && k1 - k0 == 9, "msr and the package energy written; 9 kept");
	}

	/* an update replaces values whole and leaves no temporary files */
	v.pkg_uj = 262144000000ull + 1000000;   /* past one wrap: the counter shows 1 J */
	v.limit_uw = 0;
	v.has_dram = true;
	v.dram_uj = 2000000;
	check(ve_guest_export_write(dir, UUID, &v, &err), "update");
	check_u64(read_u64(&fx, "intel-rapl:0/energy_uj"), 1000000, "wrapped like the hardware");
	check_u64(read_u64(&fx, "intel-rapl:0/enabled"), 0, "no limit");
	check_u64(read_u64(&fx, "intel-rapl:0/intel-rapl:0:1/energy_uj"), 2000000, "dram zone");
	{
		char path[PATH_MAX * 2];

		snprintf(path, sizeof(path), "%s/%s/intel-rapl:0/energy_uj.tmp", fx.path, UUID);
		check(access(path, F_OK) != 0, "no temporary file left");
	}

	check(!ve_guest_export_write(dir, "../../etc", &v, &err) && err, "a bad UUID is refused");
	g_clear_error(&err);
	check(ve_guest_export_remove(dir, UUID, &err), "remove");
	{
		char path[PATH_MAX * 2];

		snprintf(path, sizeof(path), "%s/%s", fx.path, UUID);
		check(access(path, F_OK) != 0, "removed");
	}
	check(ve_guest_export_remove(dir, UUID, &err), "removing again is fine");
	/* an export made anew after its removal is written whole */
	check(ve_guest_export_write(dir, UUID, &v, &err), "written again");
	check_u64(read_u64(&fx, "intel-rapl:0/constraint_0_time_window_us"), 1000000,
		  "every file back, the unchanged ones too");
	{
		/* a restart finds the export in place: nothing replaced, the energy updated in place */
		ino_t name0 = ino(&fx, "intel-rapl:0/name"), energy0 = ino(&fx, "intel-rapl:0/energy_uj");
		ino_t msr0 = ino(&fx, "msr");
		uint64_t w0, k0, w1, k1;

		ve_guest_export_forget(UUID);
		ve_guest_export_counts(&w0, &k0);
		v.pkg_uj += 1000000;
		check(ve_guest_export_write(dir, UUID, &v, &err), "after a restart: %s",
		      err ? err->message : "");
		ve_guest_export_counts(&w1, &k1);
		check(ino(&fx, "intel-rapl:0/name") == name0 && ino(&fx, "intel-rapl:0/energy_uj") == energy0 &&
		      ino(&fx, "msr") == msr0, "every file adopted, none replaced");
		check_u64(read_u64(&fx, "intel-rapl:0/energy_uj"), 2000000, "the energy updated");
		printf("# after a restart: %llu files written in place, %llu kept\n",
		       (unsigned long long)(w1 - w0), (unsigned long long)(k1 - k0));
		v.pkg_uj -= 1000000;
	}
	{
		/* removed by hand under the held fds: noticed, and made whole again */
		char cmd[PATH_MAX * 2 + 16];

		snprintf(cmd, sizeof(cmd), "rm -rf '%s/%s'", fx.path, UUID);
		check(system(cmd) == 0, "rm -rf the export");
		v.pkg_uj += 2000000;
		check(ve_guest_export_write(dir, UUID, &v, &err), "written after rm -rf: %s",
		      err ? err->message : "");
		check_u64(read_u64(&fx, "intel-rapl:0/energy_uj"), 3000000, "the energy back, in a new file");
		check_u64(read_u64(&fx, "intel-rapl:0/name"), 0, "the name back");
		check_u64(read_msr(&fx, VE_MSR_PKG_ENERGY_STATUS), 49152, "the msr file back: 3 J in units");
	}
	check(ve_guest_export_remove(dir, UUID, &err), "removed");
	close(dir);
	fx_remove(&fx);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_export),
	};

	return cmocka_run_group_tests_name("guestexport", tests, NULL, NULL);
}
