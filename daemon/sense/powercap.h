/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * powercap.h: RAPL energy counters through the powercap sysfs class
 * (Documentation/power/powercap/powercap.rst), under
 * <root>/sys/class/powercap.
 *
 * The intel_rapl driver registers one top-level zone "intel-rapl:N" per
 * package (die, on multi-die parts) and, on client platforms, one more for
 * the platform ("psys"); packages have subzones "intel-rapl:N:M" for the core,
 * uncore (graphics) and DRAM domains.  AMD processors use the same driver
 * and the same names.  Zones of other control types are ignored:
 * "intel-rapl-mmio:N" counts the same package energy as "intel-rapl:N"
 * through MMIO (it is there for power limits), so adding it would count
 * that energy twice; amd_energy is a hwmon driver, not powercap.
 *
 * Each zone's energy_uj is opened once and re-read with pread() at every
 * sample.  Since Linux 5.10 energy_uj is readable by root only (CVE-2020-
 * 8694, the PLATYPUS side channel): unprivileged, ve_powercap_open() fails
 * with -EACCES.
 *
 * Ownership: struct ve_powercap owns its zones and their fds; free accepts
 * NULL.  Zones are read-only to callers.  Not thread-safe: one sampler.
 */
#pragma once

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

enum ve_rapl_kind {
	VE_RAPL_PACKAGE, /* "package-K" (or "package-K-die-D") */
	VE_RAPL_DRAM,    /* "dram" */
	VE_RAPL_CORE,    /* "core": the cores only, part of the package */
	VE_RAPL_UNCORE,  /* "uncore": integrated graphics, part of the package */
	VE_RAPL_PSYS,    /* "psys": the whole platform (SoC and more) */
	VE_RAPL_OTHER,   /* a name this code does not know */
};

#define VE_POWERCAP_NAME_MAX 64

struct ve_powercap_zone {
	char dir[VE_POWERCAP_NAME_MAX];   /* "intel-rapl:0:1" */
	char name[VE_POWERCAP_NAME_MAX];  /* the name attribute: "package-0", "dram" */
	enum ve_rapl_kind kind;
	/*
	 * N of intel-rapl:N.  The driver numbers top-level zones in the order
	 * it registered them, which is usually but not always the physical
	 * package id; "package-K" in @name of the top-level zone gives K.
	 */
	unsigned int package;
	int subzone;                      /* M of intel-rapl:N:M, -1 for a top-level zone */
	uint64_t max_energy_range_uj;     /* 0: not reported, wrap unknown */

	/* Private to powercap.c. */
	int energy_fd;
	bool primed;
	uint64_t last_uj;
};

struct ve_powercap;

/*
 * Find and open the RAPL zones under @root_fd: sys/class/powercap.  Zones
 * come sorted by package, then subzone (the top-level zone first).  A zone
 * without energy_uj or name (powercap allows zones that only report power)
 * is left out.  -ENOENT when there is no powercap directory or no RAPL zone
 * in it (no RAPL on this host), -EACCES when energy_uj may not be read,
 * -EINVAL for a malformed name or max_energy_range_uj, -ENOMEM.
 */
int ve_powercap_open(int root_fd, struct ve_powercap **ret);

/*
 * The same for the zones in the directory @path under @dir_fd (AT_FDCWD
 * for a path of this process): a guest's view of its VM (guestmode.h),
 * the host's export (guestexport.h) as shared in, or a guest kernel's own
 * sys/class/powercap.
 *
 * VE_POWERCAP_REPLACED: the files are replaced, not rewritten (the host
 * writes its exports to a temporary name and renames it), so an fd opened
 * once would keep reading the first value: energy_uj is opened at each
 * sample instead.  A top-level zone there without a name file counts as
 * package N, as guest mode's source needs only energy_uj and
 * max_energy_range_uj.
 */
#define VE_POWERCAP_REPLACED 1u
int ve_powercap_open_at(int dir_fd, const char *path, unsigned int flags, struct ve_powercap **ret);

/* Close every fd and free.  NULL is fine. */
void ve_powercap_free(struct ve_powercap *pc);

size_t ve_powercap_n_zones(const struct ve_powercap *pc);

/* Zone @i, owned by @pc; NULL when @i >= ve_powercap_n_zones(). */
const struct ve_powercap_zone *ve_powercap_zone(const struct ve_powercap *pc, size_t i);

/*
 * Energy used by zone @zone since its previous sample, in µJ, with one
 * wrap at max_energy_range_uj handled by ve_energy_uj_delta() (counter.h).
 *
 * The first good sample only primes the counter and gives 0.
 *
 * A failed read (the negative errno of pread(), -EINVAL for content that
 * is not a number) keeps the previous reading, so the next good sample
 * spans both periods and no energy is lost; at most one wrap may happen
 * in that span, which the caller ensures by sampling again soon.
 *
 * -ERANGE when the counter went down and max_energy_range_uj is unknown,
 * or a reading is above it: the energy of that period cannot be known.
 * The new reading then becomes the baseline, so one bad period does not
 * poison the following ones.
 *
 * -EINVAL for @zone out of range.  *@ret_delta_uj is untouched on error.
 */
int ve_powercap_sample(struct ve_powercap *pc, size_t zone, uint64_t *ret_delta_uj);

/*
 * Zone @zone's first constraint, constraint_0_power_limit_uw, read now
 * (it changes: for a guest it is the VM's limit).  -ENOENT when the zone
 * has none, -EINVAL for a malformed value or @zone out of range.
 */
int ve_powercap_limit_uw(const struct ve_powercap *pc, size_t zone, uint64_t *ret_uw);
