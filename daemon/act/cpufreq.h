/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * cpufreq.h: the CPU frequency actuator.
 *
 * Where a limited VM's vCPUs may only run on host CPUs that no other
 * running VM may use (libvirt vcpupin, emulatorpin), the limiter lowers
 * those CPUs' cpufreq/scaling_max_freq before it throttles bandwidth:
 * running slower at a lower voltage costs less energy per instruction than
 * running at full speed part of the time (README, "Power limits").
 *
 * Files, relative to the root fd given at creation (`virtenergyd --root`):
 *
 *   sys/devices/system/cpu/cpuN/cpufreq/scaling_max_freq   read, written
 *   sys/devices/system/cpu/cpuN/cpufreq/cpuinfo_min_freq   read
 *   sys/devices/system/cpu/cpuN/cpufreq/cpuinfo_max_freq   read
 *   sys/devices/system/cpu/cpuN/cpufreq/scaling_min_freq   read if present
 *   sys/devices/system/cpu/cpuN/cpufreq/scaling_available_frequencies
 *                                                         read if present
 *
 * all in kHz (Documentation/admin-guide/pm/cpufreq.rst).  A CPU's ceiling
 * is the scaling_max_freq found before the first change (an administrator's
 * own cap is never raised), its floor the larger of cpuinfo_min_freq and
 * scaling_min_freq.  With scaling_available_frequencies (acpi-cpufreq) the
 * actuator picks the lowest listed frequency at or above the one wanted;
 * without it (intel_pstate, amd-pstate) any value in [floor, ceiling].
 *
 * Before the first change to a CPU its original scaling_max_freq is
 * recorded, in memory and in STATE_DIR/cpufreq (GLib's consistent and
 * durable replacement), before anything is written.  ve_cpufreq_restore()
 * puts a VM's CPUs back; a record left by a daemon that died is restored
 * when the actuator is created.  Unlike a CPU quota, a frequency does not go
 * away with the VM: stopping it must restore too.
 *
 * Every operation reads and checks all it needs first: a missing or
 * malformed file, or a CPU another VM's record holds, is an error naming
 * the file and nothing is written.  A write that fails half way puts back
 * the CPUs already written.  In dry-run mode nothing is written anywhere:
 * @log hears what would have been.  Not thread-safe; the main loop owns it.
 */
#pragma once

#include <glib.h>
#include <libvirt/libvirt.h>
#include <stdbool.h>
#include <stdint.h>

#include "cpubw.h"

struct ve_cpufreq;

/*
 * @root_fd is duplicated; @state_dir (copied) holds the record.  A record
 * a previous run left is restored now; what could not be restored is
 * appended to @report (may be NULL) and kept on record.  *@ret_restored
 * (may be NULL) gets the number of CPUs put back.
 */
struct ve_cpufreq *ve_cpufreq_new(int root_fd, const char *state_dir, bool dry_run,
				  ve_act_log_fn log, void *ud, GString *report,
				  unsigned int *ret_restored);
void ve_cpufreq_free(struct ve_cpufreq *a);

/*
 * Run the @n CPUs in @cpus (the VM's dedicated CPUs) at @u (0 < u <= 1) of
 * their ceiling, no lower than their floor.  CPUs this VM held before and
 * not in @cpus are restored.  *@ret_ratio (may be NULL) gets the frequency
 * applied over the ceiling, the largest over the CPUs (>= @u, and above it
 * at the floor or between two listed frequencies), so that bandwidth
 * u / ratio makes up the rest.  FALSE with @error, nothing changed, on bad
 * input or files.
 */
gboolean ve_cpufreq_set(struct ve_cpufreq *a, const char *uuid, const char *name,
			const unsigned int *cpus, size_t n, double u, double *ret_ratio,
			GError **error);

/* The ratio last applied to the VM's CPUs, 0 when it holds none. */
double ve_cpufreq_current(struct ve_cpufreq *a, const char *uuid);

/*
 * Put the VM's CPUs back to their recorded scaling_max_freq and forget
 * them.  FALSE with @error when a write fails; what failed stays on record
 * for a later try.
 */
gboolean ve_cpufreq_restore(struct ve_cpufreq *a, const char *uuid, GError **error);

/*
 * @a behind act.h's interface: value u, *ret_applied the ratio applied;
 * the target's key, name and cpus.  It reconciles when made.
 */
struct ve_actuator ve_cpufreq_actuator(struct ve_cpufreq *a);

/* Which CPUs are a VM's own: ve_freq_dedicated_cpus() (core/freqplan.h). */

/*
 * A VM's own CPUs from libvirt: @dom's vCPU pinning against every other active
 * domain of @conn.  0 CPUs (and no error) where nothing is dedicated; FALSE
 * with @error when libvirt cannot say.  *@ret_cpus is a g_new array.
 */
gboolean ve_cpufreq_dedicated_cpus(virConnectPtr conn, virDomainPtr dom, unsigned int **ret_cpus,
				   size_t *ret_n, GError **error);
