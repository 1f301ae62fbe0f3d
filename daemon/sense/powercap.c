// SPDX-License-Identifier: GPL-2.0-or-later
/*
 * powercap.c: RAPL zones through powercap sysfs.
 *
 * /sys/class/powercap holds one symlink per zone, subzones included, next
 * to the control types themselves ("intel-rapl", "intel-rapl-mmio"), so a
 * flat listing of that directory finds every zone; opening a zone follows
 * its symlink into /sys/devices/virtual/powercap/.
 */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "counter.h"
#include "fileio.h"
#include "powercap.h"

#define POWERCAP_DIR "sys/class/powercap"
#define ZONE_PREFIX "intel-rapl:"
#define NUMBER_LEN 32   /* a u64 in decimal and a newline, with room to spare */

struct ve_powercap {
	size_t n;
	struct ve_powercap_zone *zones;
	int dir_fd;          /* the directory holding the zones */
	unsigned int flags;
};

static void zone_close(struct ve_powercap_zone *z)
{
	if (z->energy_fd >= 0)
		close(z->energy_fd);
	z->energy_fd = -1;
}

void ve_powercap_free(struct ve_powercap *pc)
{
	if (!pc)
		return;
	for (size_t i = 0; i < pc->n; i++)
		zone_close(&pc->zones[i]);
	if (pc->dir_fd >= 0)
		close(pc->dir_fd);
	free(pc->zones);
	free(pc);
}

size_t ve_powercap_n_zones(const struct ve_powercap *pc)
{
	return pc->n;
}

const struct ve_powercap_zone *ve_powercap_zone(const struct ve_powercap *pc, size_t i)
{
	return i < pc->n ? &pc->zones[i] : NULL;
}

/*
 * "intel-rapl:N" or "intel-rapl:N:M".  "intel-rapl-mmio:N" does not match
 * the prefix, deliberately: see powercap.h.
 */
static bool parse_zone_dir(const char *dir, unsigned int *ret_package, int *ret_subzone)
{
	struct ve_span s, n, m;
	uint64_t pkg, sub;
	size_t plen = strlen(ZONE_PREFIX);

	if (strncmp(dir, ZONE_PREFIX, plen) != 0)
		return false;
	s.p = dir + plen;
	s.len = strlen(s.p);
	if (ve_span_split(s, ':', &n, &m)) {
		if (ve_span_u64(n, INT_MAX, &pkg) < 0 || ve_span_u64(m, INT_MAX, &sub) < 0)
			return false;
		*ret_subzone = (int)sub;
	} else {
		if (ve_span_u64(s, INT_MAX, &pkg) < 0)
			return false;
		*ret_subzone = -1;
	}
	*ret_package = (unsigned int)pkg;
	return true;
}

static enum ve_rapl_kind kind_of(const char *name)
{
	/* names from rapl_domain_names[] in drivers/powercap/intel_rapl_common.c */
	if (strncmp(name, "package-", strlen("package-")) == 0)
		return VE_RAPL_PACKAGE;
	if (strcmp(name, "dram") == 0)
		return VE_RAPL_DRAM;
	if (strcmp(name, "core") == 0)
		return VE_RAPL_CORE;
	if (strcmp(name, "uncore") == 0)
		return VE_RAPL_UNCORE;
	if (strcmp(name, "psys") == 0)
		return VE_RAPL_PSYS;
	return VE_RAPL_OTHER;
}

static int read_name(int zone_fd, char *buf)
{
	char tmp[VE_POWERCAP_NAME_MAX + 1];
	size_t n;
	int r;

	r = ve_read_file_at(zone_fd, "name", tmp, sizeof(tmp), &n);
	if (r == -EFBIG)
		return -EINVAL;
	if (r < 0)
		return r;
	if (n && tmp[n - 1] == '\n')
		tmp[--n] = '\0';
	if (n == 0 || n >= VE_POWERCAP_NAME_MAX || strchr(tmp, '\n'))
		return -EINVAL;
	memcpy(buf, tmp, n + 1);
	return 0;
}

static int read_max_range(int zone_fd, uint64_t *ret_uj)
{
	char buf[NUMBER_LEN];
	int r;

	r = ve_read_file_at(zone_fd, "max_energy_range_uj", buf, sizeof(buf), NULL);
	if (r == -ENOENT) {
		/* counter.h takes 0 as "range unknown": a decrease is then an error */
		*ret_uj = 0;
		return 0;
	}
	if (r == -EFBIG)
		return -EINVAL;
	if (r < 0)
		return r;
	return ve_parse_u64(buf, ret_uj);
}

/*
 * Fill @z from the zone directory @dir.  1 when the zone was taken, 0 when
 * it has no name or energy_uj and is left out, or a negative errno.
 */
static int zone_open(int pc_fd, unsigned int flags, const char *dir, unsigned int package,
		     int subzone, struct ve_powercap_zone *z)
{
	int zone_fd, r;

	if (strlen(dir) >= sizeof(z->dir))
		return 0;
	memset(z, 0, sizeof(*z));
	z->energy_fd = -1;
	strcpy(z->dir, dir);
	z->package = package;
	z->subzone = subzone;

	zone_fd = openat(pc_fd, dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (zone_fd < 0)
		return errno == ENOENT ? 0 : -errno;

	r = read_name(zone_fd, z->name);
	if (r == -ENOENT && (flags & VE_POWERCAP_REPLACED) && subzone < 0) {
		/* an export's top-level zone is its VM's package (see powercap.h) */
		snprintf(z->name, sizeof(z->name), "package-%u", package);
		r = 0;
	}
	if (r < 0)
		goto out;
	z->kind = kind_of(z->name);
	r = read_max_range(zone_fd, &z->max_energy_range_uj);
	if (r < 0)
		goto out;
	z->energy_fd = openat(zone_fd, "energy_uj", O_RDONLY | O_CLOEXEC | O_NOCTTY);
	if (z->energy_fd < 0) {
		r = -errno;
	} else {
		r = 1;
		if (flags & VE_POWERCAP_REPLACED)
			zone_close(z);   /* opened at each sample: see powercap.h */
	}
out:
	close(zone_fd);
	/* a zone that vanished or that measures no energy is not an error */
	return r == -ENOENT ? 0 : r;
}

static int cmp_zone(const void *a, const void *b)
{
	const struct ve_powercap_zone *x = a, *y = b;

	if (x->package != y->package)
		return x->package < y->package ? -1 : 1;
	return (x->subzone > y->subzone) - (x->subzone < y->subzone);
}

int ve_powercap_open(int root_fd, struct ve_powercap **ret)
{
	return ve_powercap_open_at(root_fd, POWERCAP_DIR, 0, ret);
}

int ve_powercap_open_at(int dir_fd, const char *path, unsigned int flags, struct ve_powercap **ret)
{
	struct ve_powercap *pc;
	struct ve_powercap_zone *zones;
	struct dirent *de;
	size_t cap = 0;
	DIR *d;
	int fd, r = 0;

	pc = calloc(1, sizeof(*pc));
	if (!pc)
		return -ENOMEM;
	pc->flags = flags;
	pc->dir_fd = openat(dir_fd, path, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (pc->dir_fd < 0) {
		r = -errno;
		goto fail;
	}
	fd = dup(pc->dir_fd);
	if (fd < 0) {
		r = -errno;
		goto fail;
	}
	d = fdopendir(fd);
	if (!d) {
		r = -errno;
		close(fd);
		goto fail;
	}
	for (;;) {
		unsigned int package;
		int subzone;

		errno = 0;
		de = readdir(d);
		if (!de) {
			r = -errno;
			break;
		}
		if (!parse_zone_dir(de->d_name, &package, &subzone))
			continue;
		if (pc->n == cap) {
			cap = cap ? cap * 2 : 8;
			zones = cap < SIZE_MAX / sizeof(*zones) ?
				realloc(pc->zones, cap * sizeof(*zones)) : NULL;
			if (!zones) {
				r = -ENOMEM;
				break;
			}
			pc->zones = zones;
		}
		r = zone_open(dirfd(d), flags, de->d_name, package, subzone, &pc->zones[pc->n]);
		if (r < 0)
			break;
		pc->n += (size_t)r;
		r = 0;
	}
	closedir(d);
	if (r == 0 && pc->n == 0)
		r = -ENOENT;
	if (r < 0)
		goto fail;
	qsort(pc->zones, pc->n, sizeof(*pc->zones), cmp_zone);
	*ret = pc;
	return 0;

fail:
	ve_powercap_free(pc);
	return r;
}

int ve_powercap_sample(struct ve_powercap *pc, size_t zone, uint64_t *ret_delta_uj)
{
	struct ve_powercap_zone *z;
	char buf[NUMBER_LEN];
	uint64_t cur_uj, delta_uj;
	int r;

	if (zone >= pc->n)
		return -EINVAL;
	z = &pc->zones[zone];
	if (pc->flags & VE_POWERCAP_REPLACED) {
		char rel[sizeof(z->dir) + 16];

		snprintf(rel, sizeof(rel), "%s/energy_uj", z->dir);
		r = ve_read_file_at(pc->dir_fd, rel, buf, sizeof(buf), NULL);
	} else {
		r = ve_pread_all(z->energy_fd, buf, sizeof(buf), NULL);
	}
	if (r == -EFBIG)
		r = -EINVAL;
	if (r == 0)
		r = ve_parse_u64(buf, &cur_uj);
	if (r < 0)
		return r;   /* last_uj kept: the next good read covers this period */
	if (!z->primed) {
		z->primed = true;
		z->last_uj = cur_uj;
		*ret_delta_uj = 0;
		return 0;
	}
	r = ve_energy_uj_delta(z->last_uj, cur_uj, z->max_energy_range_uj, &delta_uj);
	/* on -ERANGE too: this reading is the only sound baseline left */
	z->last_uj = cur_uj;
	if (r < 0)
		return r;
	*ret_delta_uj = delta_uj;
	return 0;
}

int ve_powercap_limit_uw(const struct ve_powercap *pc, size_t zone, uint64_t *ret_uw)
{
	char rel[VE_POWERCAP_NAME_MAX + 40], buf[NUMBER_LEN];
	int r;

	if (zone >= pc->n)
		return -EINVAL;
	snprintf(rel, sizeof(rel), "%s/constraint_0_power_limit_uw", pc->zones[zone].dir);
	r = ve_read_file_at(pc->dir_fd, rel, buf, sizeof(buf), NULL);
	if (r == -EFBIG)
		r = -EINVAL;
	return r < 0 ? r : ve_parse_u64(buf, ret_uw);
}
