/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * blkio.h: the disk actuator, libvirt block I/O tuning from a disk power
 * limit.
 *
 * A VM's <disk-power-limit> bounds the dynamic power its I/O costs the
 * host's disks, the "disk" component of its ledger (a disk's idle power is
 * static and split by the idle policy; throttling cannot change it).  By
 * the disk model (model.h) a VM doing ops requests and bytes bytes a second
 * costs ops × op_nj + bytes × byte_pj.  libvirt can bound each term on its
 * own but not their sum, so the limit is split evenly between them and each
 * bound alone holds its half:
 *
 *     total_bytes_sec = (L / 2) / byte_pj        total_iops_sec = (L / 2) / op_nj
 *
 * (all of L to one of them when the model gives the other no cost).  Any
 * mix of requests and bytes that libvirt lets through then costs at most
 * L.  A VM with several disks gives each an equal part of L, each through
 * the model of the host disk its image lives on.  An administrator's own
 * total_bytes_sec or total_iops_sec that is lower is kept.
 *
 * Applied live with virDomainSetBlockIoTune() per disk target, so
 * `virsh blkdeviotune DOMAIN vda` shows it.  Before the first change the
 * six total/read/write bytes and iops values of every disk are recorded in
 * memory and in STATE_DIR/blkiotune (durable, before libvirt is asked) and
 * put back when the limit is lifted or the daemon exits; a VM that stopped
 * took its throttle with its QEMU process.  A record left by a daemon that
 * died is restored by ve_act_reconcile() (act.h).  Dry-run: nothing is written,
 * @log hears what would have been.  Not thread-safe.
 */
#pragma once

#include <glib.h>
#include <libvirt/libvirt.h>
#include <stdbool.h>
#include <stdint.h>

#include "act.h"
#include "model.h"

/* QEMU refuses throttle values above 10^15 (THROTTLE_VALUE_MAX). */
#define VE_BLKIO_VALUE_MAX UINT64_C(1000000000000000)

struct ve_blkio;

/* act.h's disk model: the limiter resolves it through the host's disks; tests give a fixed one. */
typedef ve_act_disk_model_fn ve_blkio_model_fn;

/*
 * Pure: the bounds for one disk allowed @limit_uw of dynamic power under
 * @m.  0 (unbounded) for a term the model gives no cost.  -EINVAL for a
 * zero limit or a model that fails ve_disk_model_check() or costs nothing
 * at all, -ERANGE when a bound would exceed VE_BLKIO_VALUE_MAX; the ret_
 * values are then untouched.
 */
int ve_blkio_derive(const struct ve_disk_model *m, uint64_t limit_uw, uint64_t *ret_bytes_sec,
		    uint64_t *ret_iops_sec);

struct ve_blkio *ve_blkio_new(const char *state_dir, bool dry_run, ve_act_log_fn log, void *ud);
void ve_blkio_free(struct ve_blkio *a);

/*
 * Hold the disks of running @dom to @limit_uw together.  FALSE with @error
 * and nothing changed (disks already written are put back) when the VM has
 * no disk, a model or value is bad, or libvirt refuses.
 */
gboolean ve_blkio_set(struct ve_blkio *a, virDomainPtr dom, uint64_t limit_uw,
		      ve_blkio_model_fn model, void *model_ud, GError **error);

/* The disk power limit applied to the VM in µW, 0 when none. */
uint64_t ve_blkio_current(struct ve_blkio *a, const char *uuid);

/*
 * Put back the VM's recorded values (if it still runs) and forget them.
 * FALSE with @error when libvirt refuses; the record is kept for later.
 */
gboolean ve_blkio_restore(struct ve_blkio *a, virConnectPtr conn, const char *uuid,
			  GError **error);

/* @a behind act.h's interface: value and current in µW; the target's dom, model and model_ud. */
struct ve_actuator ve_blkio_actuator(struct ve_blkio *a);
