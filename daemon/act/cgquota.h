/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * cgquota.h: CPU bandwidth of a cgroup, the actuator of guest mode.
 *
 * Inside a guest there is no libvirt: virtenergyd --guest throttles the
 * guest's own cgroups directly.  cgroup v2: cpu.max ("QUOTA PERIOD");
 * v1: cpu.cfs_quota_us with cpu.cfs_period_us.  u is the fraction of the
 * whole machine (all its CPUs) the cgroup may use: quota = u × ncpus ×
 * period.
 *
 * Before the first change to a cgroup the actuator records the file's
 * original text, in memory and in STATE_DIR/cgquota (GLib's consistent
 * file replacement), and writes it back when the limit is lifted, the
 * cgroup goes, or the daemon exits; after a crash ve_act_reconcile() (act.h)
 * restores from the record.  Dry run: nothing is written, @log hears what
 * would have been.  Not thread-safe.
 */
#pragma once

#include <glib.h>
#include <stdbool.h>

#include "act.h"

struct ve_cgquota;

struct ve_cgquota *ve_cgquota_new(const char *state_dir, bool dry_run, ve_act_log_fn log,
				  void *ud);
void ve_cgquota_free(struct ve_cgquota *q);

/*
 * Let cgroup directory @dir use @u (0 < u <= 1) of @ncpus CPUs.  FALSE with
 * @error when @u or @ncpus is out of range, or the cgroup has no CPU
 * controller (cpu.max / cpu.cfs_quota_us), or the write fails; the cgroup
 * is then as it was.
 */
gboolean ve_cgquota_set(struct ve_cgquota *q, const char *dir, double u, unsigned int ncpus,
			GError **error);

/* The fraction last set, 0 when the cgroup is not throttled. */
double ve_cgquota_current(struct ve_cgquota *q, const char *dir);

/* Write back @dir's original value and forget it.  A cgroup that is gone has nothing to restore. */
gboolean ve_cgquota_restore(struct ve_cgquota *q, const char *dir, GError **error);

/* @q behind act.h's interface: value u; the target's key (the cgroup's directory) and ncpus. */
struct ve_actuator ve_cgquota_actuator(struct ve_cgquota *q);
