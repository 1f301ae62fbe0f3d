// SPDX-License-Identifier: GPL-2.0-or-later
/*
 * engine_guest.c: the engine one level down (see engine.h,
 * ve_engine_new_guest): the VM's energy as the host exports it, and the
 * guest's cgroups as accounts.  Everything else, the period, the host's
 * own (here the guest's own) CPU time, attribution, the ledger, the state
 * file and the views, is the engine's, shared with the host.
 */
#include <errno.h>
#include <fcntl.h>
#include <gio/gio.h>
#include <stdio.h>
#include <string.h>

#include "error.h"
#include "cgroup.h"
#include "engine.h"
#include "powercap.h"
#include "engine_int.h"

gboolean engine_guest_setup(struct ve_engine *e, const char *source, const char *cgroup_parent,
			    GError **error)
{
	int r;

	e->guest = true;
	e->sensor_path = g_strdup(source);
	r = ve_powercap_open_at(AT_FDCWD, source, VE_POWERCAP_REPLACED, &e->pc);
	if (r < 0) {
		e->pc = NULL;
		g_set_error(error, VE_ERROR, ve_error_from_errno(-r),
			    "no %s/intel-rapl:0/energy_uj (%s): is the host's export shared into this guest?",
			    source, g_strerror(-r));
		return FALSE;
	}
	if (!g_file_test(cgroup_parent, G_FILE_TEST_IS_DIR)) {
		g_set_error(error, VE_ERROR, VE_ERROR_NOT_FOUND, "cgroup parent %s is not a directory",
			    cgroup_parent);
		return FALSE;
	}
	e->cg_parent = g_strdup(cgroup_parent);
	/*
	 * One package device per top-level zone, measured by the VM's energy
	 * and shared by CPU time: weight 1 on the run-time column, no idle
	 * power (the host charged the VM its share of idle already), nothing
	 * to calibrate (a guest has no events to tell apart).
	 */
	e->n_dev = 0;
	for (size_t z = 0; z < ve_powercap_n_zones(e->pc) && e->n_dev < G_N_ELEMENTS(e->dev); z++) {
		struct ve_device *d = &e->dev[e->n_dev];

		if (!engine_zone_used(e, ve_powercap_zone(e->pc, z)))
			continue;
		memset(d, 0, sizeof(*d));
		d->kind = VE_DEV_PKG;
		d->measured = true;
		d->cpu.n_events = 1;
		d->cpu.weight_pj[VE_SAMPLER_COL_RUN_NS] = 1.0;
		e->n_dev++;
	}
	if (!e->n_dev) {
		g_set_error(error, VE_ERROR, VE_ERROR_NOT_FOUND,
			    "no package zone (intel-rapl:N) under %s", source);
		return FALSE;
	}
	snprintf(e->sensor, sizeof(e->sensor), "the VM's energy (%s)", source);
	e->estimated = false;
	return TRUE;
}

/*
 * List the parent's child cgroups, each an account (a new one from its
 * first listing, one that went away stopped), and read each one's CPU
 * time: its sample for the period.  Listed every period: a cgroup costs
 * one directory entry and one read.
 */
gboolean engine_guest_sample(struct ve_engine *e, uint64_t *run_ns_by_socket, GError **error)
{
	g_autoptr(GDir) d = g_dir_open(e->cg_parent, 0, error);
	const char *name;

	if (!d)
		return FALSE;
	for (guint i = 0; i < e->vms->len; i++)
		((struct vm *)g_ptr_array_index(e->vms, i))->scanned = false;
	while ((name = g_dir_read_name(d))) {
		g_autofree char *dir = g_build_filename(e->cg_parent, name, NULL);
		g_autofree char *procs = g_build_filename(dir, "cgroup.procs", NULL);
		struct vm *vm;

		if (!g_file_test(dir, G_FILE_TEST_IS_DIR) || !g_file_test(procs, G_FILE_TEST_EXISTS))
			continue;
		vm = engine_vm_get(e, name, name, 1);
		if (!vm) {
			g_set_error(error, VE_ERROR, VE_ERROR_FAILED,
				    "no account left for cgroup %s", name);
			return FALSE;
		}
		if (!vm->cg_dir)
			vm->cg_dir = g_steal_pointer(&dir);
		vm->scanned = true;
		ve_engine_vm_started(e, name, name, 1);
	}
	for (guint i = 0; i < e->vms->len; i++) {
		struct vm *vm = g_ptr_array_index(e->vms, i);
		struct ve_thread_sample s = { .account = vm->slot, .comp = VE_COMP_VCPU };
		uint64_t usage;

		if (!vm->scanned) {
			ve_engine_vm_stopped(e, vm->uuid);
			vm->cg_primed = false;
			continue;
		}
		if (ve_cgroup_read_cpu_usage(AT_FDCWD, vm->cg_dir, &usage) < 0)
			continue;   /* gone between the listing and now */
		if (vm->cg_primed && usage >= vm->cg_prev_ns) {
			s.delta[VE_SAMPLER_COL_RUN_NS] = usage - vm->cg_prev_ns;
			run_ns_by_socket[0] += s.delta[VE_SAMPLER_COL_RUN_NS];
			g_array_append_val(e->samples, s);
		}
		vm->cg_prev_ns = usage;
		vm->cg_primed = true;
	}
	return TRUE;
}

gboolean ve_engine_source_limit_uw(struct ve_engine *e, uint64_t *ret_uw)
{
	if (!e->pc)
		return FALSE;
	for (size_t z = 0; z < ve_powercap_n_zones(e->pc); z++)
		if (engine_zone_used(e, ve_powercap_zone(e->pc, z)))
			return ve_powercap_limit_uw(e->pc, z, ret_uw) == 0;
	return FALSE;
}

const char *ve_engine_vm_cgroup(struct ve_engine *e, const char *name)
{
	struct vm *vm = ve_registry_get(e->reg, name, VE_REG_ENGINE);

	return vm ? vm->cg_dir : NULL;
}
