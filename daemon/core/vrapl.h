/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * vrapl.h: a VM's virtual RAPL registers (Intel SDM vol. 3B, 15.10
 * "Platform Specific Power Management Support").
 *
 * Each VM gets the register file a RAPL package would have, with its own
 * figures: the energy it was attributed (including what services spent for
 * it), the energy of its vCPUs, its DRAM energy where the host measures
 * DRAM, its power limit and its share of the host cap.  A guest's intel_rapl
 * driver, or any tool reading MSRs, then sees the VM as its package.
 *
 *   MSR_RAPL_POWER_UNIT   0x606  power unit 1/2^PU W (bits 3:0), energy
 *                                unit 1/2^ESU J (12:8), time unit 1/2^TU s
 *                                (19:16)
 *   MSR_PKG_POWER_LIMIT   0x610  PL1 in power units (14:0), enable (15),
 *                                clamp (16), window 2^Y·(1+Z/4)·TU with Y
 *                                in 21:17 and Z in 23:22
 *   MSR_PKG_ENERGY_STATUS 0x611  energy in energy units, 32 bits, wrapping
 *   MSR_DRAM_ENERGY_STATUS 0x619 likewise, for DRAM
 *   MSR_PKG_POWER_INFO    0x614  thermal spec power (14:0): the VM's
 *                                allocation
 *   MSR_PP0_ENERGY_STATUS 0x639  energy of the cores: the VM's vCPUs
 *
 * Pure: values in, register contents out.  Errors: negative errno with
 * ret_ untouched.
 */
#pragma once

#include <stdbool.h>
#include <stdint.h>

#define VE_MSR_RAPL_POWER_UNIT 0x606u
#define VE_MSR_PKG_POWER_LIMIT 0x610u
#define VE_MSR_PKG_ENERGY_STATUS 0x611u
#define VE_MSR_PKG_POWER_INFO 0x614u
#define VE_MSR_DRAM_ENERGY_STATUS 0x619u
#define VE_MSR_PP0_ENERGY_STATUS 0x639u

/* The units of most Intel server parts: 1/8 W, 61.04 µJ, 976.6 µs. */
#define VE_VRAPL_PU_DEFAULT 3u
#define VE_VRAPL_ESU_DEFAULT 14u
#define VE_VRAPL_TU_DEFAULT 10u

struct ve_vrapl {
	unsigned int pu, esu, tu;       /* unit exponents (PU, TU <= 15; ESU <= 31) */
	uint64_t pkg_uj;                /* cumulative, the VM's attributed energy */
	uint64_t pp0_uj;                /* cumulative, its vCPUs */
	uint64_t dram_uj;               /* cumulative, its DRAM share */
	bool has_dram;
	uint64_t limit_uw;              /* its power limit, 0 = none */
	uint64_t window_us;             /* the limit's averaging window */
	uint64_t alloc_uw;              /* its allocation of the host cap, 0 = none */
};

/* A register file with the default units and nothing counted yet. */
void ve_vrapl_init(struct ve_vrapl *v);

/*
 * The content of register @msr.  -ENOENT for a register the file does not
 * have (including DRAM where has_dram is false), -EINVAL for units out of
 * range, -ERANGE for a limit or allocation that does not fit 15 bits of
 * power units.
 */
int ve_vrapl_read(const struct ve_vrapl *v, uint32_t msr, uint64_t *ret);

/* Energy in µJ as a 32-bit energy-status value: floor(uj·2^esu/10^6) mod 2^32. */
int ve_vrapl_energy_status(uint64_t uj, unsigned int esu, uint32_t *ret);

/* Power in µW as a count of 1/2^pu W, rounded to nearest; -ERANGE above 0x7fff. */
int ve_vrapl_power_encode(uint64_t uw, unsigned int pu, uint32_t *ret);
uint64_t ve_vrapl_power_decode(uint32_t units, unsigned int pu);

/*
 * A time window in µs as the 7-bit Y/Z field (bits 23:17 of a limit,
 * shifted down): the representable window nearest to @us.
 */
int ve_vrapl_window_encode(uint64_t us, unsigned int tu, uint32_t *ret_yz);
uint64_t ve_vrapl_window_decode(uint32_t yz, unsigned int tu);
