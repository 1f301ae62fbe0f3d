/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * cpubw.h: the CPU bandwidth actuator.
 *
 * A limited VM is throttled through libvirt's scheduler parameters, not by
 * writing libvirt's cgroups behind its back: vcpu_quota = u × vcpu_period
 * (each vCPU thread may run u of every period), set live with
 * virDomainSetSchedulerParametersFlags().  libvirt then writes the vcpuN
 * cgroups itself and `virsh schedinfo` shows what was done.
 *
 * Before the first change to a VM the actuator records the VM's own
 * vcpu_quota and vcpu_period, in memory and in STATE_DIR/throttle (GLib's
 * consistent and durable file replacement), and puts them back when the
 * limit is lifted, the VM stops, or the daemon exits.  If the daemon dies
 * instead, the next start finds the record and restores from it
 * (ve_act_reconcile, act.h), so no throttle is ever left behind.
 *
 * In dry-run mode nothing is written anywhere: the actuator reports through
 * @log what it would have set.  Not thread-safe; the main loop owns it.
 */
#pragma once

#include <glib.h>
#include <libvirt/libvirt.h>
#include <stdbool.h>

#include "act.h"

struct ve_cpubw;

/* @state_dir (copied) holds the record; @log (may be NULL) hears dry-run actions. */
struct ve_cpubw *ve_cpubw_new(const char *state_dir, bool dry_run, ve_act_log_fn log, void *ud);
void ve_cpubw_free(struct ve_cpubw *a);

/*
 * Let each vCPU of @dom run @u (0 < u <= 1) of its period.  Records the
 * original values first.  FALSE with @error (the VM's settings as they
 * were, the record unchanged) when libvirt refuses.
 */
gboolean ve_cpubw_set(struct ve_cpubw *a, virDomainPtr dom, double u, GError **error);

/* The fraction currently applied, or 0 when the VM is not throttled. */
double ve_cpubw_current(struct ve_cpubw *a, const char *uuid);

/*
 * Put back the VM's recorded values (if it still runs) and forget the
 * record.  A VM that no longer runs has nothing left to restore: the
 * record is dropped.  FALSE with @error when libvirt refuses; the record is
 * then kept for a later try.
 */
gboolean ve_cpubw_restore(struct ve_cpubw *a, virConnectPtr conn, const char *uuid,
			  GError **error);

/* @a behind act.h's interface: value u; the target's dom (set), conn and key (restore). */
struct ve_actuator ve_cpubw_actuator(struct ve_cpubw *a);
