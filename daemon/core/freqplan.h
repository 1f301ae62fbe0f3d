/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * freqplan.h: CPU frequency planning, pure: which host CPUs are a VM's own
 * (so that slowing them slows nobody else), and which frequency holds a
 * VM to a fraction of its speed.
 */
#pragma once

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/*
 * The frequency for a fraction @u of @ceiling_khz (the CPU's maximum
 * before any cap): the lowest of @avail (scaling_available_frequencies,
 * ascending, @n_avail of them) at or above u × ceiling within [@floor_khz,
 * @ceiling_khz], the ceiling when none is, and at the floor the lowest
 * listed one above it.  Without a list, u × ceiling clamped to the range.
 */
uint64_t ve_freq_choose_khz(double u, uint64_t floor_khz, uint64_t ceiling_khz,
			    const uint64_t *avail, size_t n_avail);

/*
 * The host CPUs of a VM that no other VM may use.  @own is the union of
 * the VM's vCPU affinity maps, @others the union of every other running
 * VM's vCPU, emulator and iothread maps, both libvirt cpumaps (bit c of
 * byte c / 8 is host CPU c) of @maplen bytes.  When any CPU the VM may run
 * on is in @others (its vCPUs could escape to a shared CPU, or slowing it
 * would slow a neighbour), or the VM may run everywhere, the answer is
 * empty.  Returns the number of CPUs written to @ret (at most @max).
 */
size_t ve_freq_dedicated_cpus(const unsigned char *own, const unsigned char *others, size_t maplen,
			      size_t host_cpus, unsigned int *ret, size_t max);
