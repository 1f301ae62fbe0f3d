/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * cpustat.h: how busy the host's CPUs were, per socket, for the host power
 * model and for the host's share of the CPU that no sampled thread explains.
 *
 * Busy time comes from the per-CPU lines of /proc/stat (proc(5)): user,
 * nice, system, irq, softirq and steal, in USER_HZ ticks (guest time is
 * already inside user).  The socket of a CPU is
 * sys/devices/system/cpu/cpuN/topology/physical_package_id; a CPU without
 * it (some VMs) is on socket 0.
 *
 * Readers take a root fd; errors are negative errno with ret_ untouched.
 */
#pragma once

#include <stddef.h>
#include <stdint.h>

#define VE_MAX_SOCKETS 16

struct ve_cpustat {
	unsigned int n_cpus;                     /* CPUs listed in /proc/stat */
	unsigned int n_sockets;                  /* highest socket + 1 */
	unsigned int cpus_per_socket[VE_MAX_SOCKETS];
	uint64_t busy_ticks[VE_MAX_SOCKETS];     /* cumulative */
};

/*
 * Parse /proc/stat text into per-socket busy ticks.  @socket_of_cpu maps a
 * CPU number to its socket (n_map entries; CPUs beyond it are socket 0).
 * -EINVAL for a malformed cpuN line or a socket >= VE_MAX_SOCKETS.
 */
int ve_parse_proc_stat(const char *text, const unsigned int *socket_of_cpu, size_t n_map,
		       struct ve_cpustat *ret);

/*
 * Socket of every possible CPU (up to @max), read once at start.  Returns
 * the number of CPUs mapped in *@ret_n; *@ret is malloc()ed.
 */
int ve_read_cpu_sockets(int root_fd, size_t max, unsigned int **ret, size_t *ret_n);

/* ve_parse_proc_stat() of proc/stat. */
int ve_read_proc_stat(int root_fd, const unsigned int *socket_of_cpu, size_t n_map,
		      struct ve_cpustat *ret);
