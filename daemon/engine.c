// SPDX-License-Identifier: GPL-2.0-or-later
/*
 * engine.c: the daemon's accounting period (see engine.h).
 */
#include <errno.h>
#include <gio/gio.h>
#include <stdio.h>
#include <string.h>
#include <fcntl.h>
#include <unistd.h>

#include "error.h"
#include "blockdev.h"
#include "calib.h"
#include "cgroup.h"
#include "cpustat.h"
#include "diskstats.h"
#include "fileio.h"
#include "budget.h"
#include "engine.h"
#include "period.h"
#include "powercap.h"
#include "procfs.h"
#include "sampler.h"
#include "statefile.h"
#include "threadmap.h"

#include "engine_int.h"

static void vm_free(gpointer p)
{
	struct vm *vm = p;

	ve_domain_threads_clear(&vm->dt);
	ve_blkio_files_close(&vm->io.files);
	g_array_free(vm->io.prev, TRUE);
	g_free(vm->cg_dir);
	g_free(vm->uuid);
	g_free(vm->state_key);
	g_free(vm->name);
	g_free(vm);
}

struct vm *engine_vm_get(struct ve_engine *e, const char *uuid, const char *name,
			 unsigned int vcpus)
{
	struct vm *vm = ve_registry_get(e->reg, uuid, VE_REG_ENGINE);

	if (!vm) {
		vm = g_new0(struct vm, 1);
		vm->uuid = g_strdup(uuid);
		vm->state_key = g_strconcat(e->guest ? "cgroup:" : "vm:", uuid, NULL);
		engine_io_init(&vm->io);
		if (ve_account_add(e->accounts, VE_KIND_VM, vcpus, &vm->slot) < 0) {
			vm_free(vm);
			return NULL;
		}
		ve_account_set_active(e->accounts, vm->slot, false);
		g_ptr_array_add(e->vms, vm);
		ve_registry_set(e->reg, vm->uuid, VE_REG_ENGINE, vm);
	}
	if (name && g_strcmp0(vm->name, name) != 0) {
		g_free(vm->name);
		vm->name = g_strdup(name);
	}
	return vm;
}

bool ve_engine_vm_started(struct ve_engine *e, const char *uuid, const char *name,
			  unsigned int vcpus)
{
	struct vm *vm = engine_vm_get(e, uuid, name, vcpus);

	if (!vm)
		return false;
	vm->vcpus = vcpus;
	vm->undefined = false;
	vm->gone = false;
	e->accounts->slot[vm->slot].vcpus = vcpus;
	ve_account_set_active(e->accounts, vm->slot, true);
	vm->next_scan_us = 0;   /* resumed, or started: list its threads in the next period */
	if (!vm->running) {
		vm->running = true;
		vm->located = false;   /* a new QEMU process: find it again */
		engine_io_unwatch(e, &vm->io);
		return true;
	}
	return false;
}

void ve_engine_vm_rescan(struct ve_engine *e, const char *uuid)
{
	struct vm *vm = ve_registry_get(e->reg, uuid, VE_REG_ENGINE);

	if (vm)
		vm->next_scan_us = 0;
}

void ve_engine_vm_stopped(struct ve_engine *e, const char *uuid)
{
	struct vm *vm = ve_registry_get(e->reg, uuid, VE_REG_ENGINE);

	/*
	 * Keep the slot active until the next period has taken the final
	 * readings of its threads; see retire_stopped().
	 */
	if (vm)
		vm->running = false;
}

void ve_engine_vm_undefined(struct ve_engine *e, const char *uuid)
{
	struct vm *vm = ve_registry_get(e->reg, uuid, VE_REG_ENGINE);

	if (vm)
		vm->undefined = true;
}

/* What both modes start with; NULL only for want of memory (reported as such). */
static struct ve_engine *engine_alloc(int root_fd, const struct ve_config *cfg, int state_dir_fd,
				      GError **error)
{
	struct ve_engine *e = g_new0(struct ve_engine, 1);

	e->root_fd = root_fd;
	e->state_dir_fd = state_dir_fd;
	e->cfg = cfg;
	e->vms = g_ptr_array_new();          /* borrowed from the registry, which frees them */
	e->reg = ve_registry_new();
	ve_registry_set_free(e->reg, VE_REG_ENGINE, vm_free);
	e->threads = g_hash_table_new(g_direct_hash, g_direct_equal);
	e->thread_list = g_ptr_array_new();
	e->samples = g_array_new(FALSE, TRUE, sizeof(struct ve_thread_sample));
	e->io = g_array_new(FALSE, TRUE, sizeof(struct ve_io_sample));
	e->io_bios = g_array_new(FALSE, FALSE, sizeof(guint));
	e->accounts = ve_account_table_new();
	e->attrib = ve_attrib_new();
	engine_services_init(e);
	e->clk_tck = (uint64_t)sysconf(_SC_CLK_TCK);
	ve_result_init(&e->result);
	ve_ledger_init(&e->ledger);
	if (!e->accounts || !e->attrib) {
		g_set_error(error, VE_ERROR, VE_ERROR_FAILED, "out of memory");
		ve_engine_free(e);
		return NULL;
	}
	return e;
}

/* The state file, where there is a state directory. */
static gboolean engine_start(struct ve_engine *e, char **warning, GError **error)
{
	return e->state_dir_fd < 0 || engine_restore(e, warning, error);
}

struct ve_engine *ve_engine_new(int root_fd, const struct ve_config *cfg, int state_dir_fd,
				char **warning, GError **error)
{
	struct ve_engine *e;
	char why[256] = "";
	unsigned int n_events = cfg->events ? g_strv_length(cfg->events) : 0;
	int r;

	*warning = NULL;
	e = engine_alloc(root_fd, cfg, state_dir_fd, error);
	if (!e)
		return NULL;
	r = ve_sampler_open(cfg->sampler, (const char *const *)cfg->events, n_events, root_fd,
			    &e->sampler, why, sizeof(why));
	if (r < 0) {
		g_set_error(error, VE_ERROR, ve_error_from_errno(-r),
			    "cannot sample threads: %s", why[0] ? why : g_strerror(-r));
		goto fail;
	}
	r = ve_read_cpu_sockets(root_fd, 4096, &e->socket_of_cpu, &e->n_cpu_map);
	if (r < 0 || ve_read_proc_stat(root_fd, e->socket_of_cpu, e->n_cpu_map, &e->stat) < 0) {
		g_set_error(error, VE_ERROR, VE_ERROR_FAILED,
			    "cannot read CPU statistics (proc/stat) under the root");
		goto fail;
	}
	e->have_stat = true;
	e->sensor_path = g_strdup("sys/class/powercap");
	r = ve_powercap_open(root_fd, &e->pc);
	if (r < 0)
		e->pc = NULL;   /* no RAPL: the host power model stands in */
	engine_setup_devices(e);
	engine_setup_disks(e);
	if (!engine_services_setup(e, error) || !engine_start(e, warning, error))
		goto fail;
	return e;
fail:
	ve_engine_free(e);
	return NULL;
}

struct ve_engine *ve_engine_new_guest(int root_fd, const struct ve_config *cfg, int state_dir_fd,
				      const char *source, const char *cgroup_parent, char **warning,
				      GError **error)
{
	struct ve_engine *e;

	*warning = NULL;
	e = engine_alloc(root_fd, cfg, state_dir_fd, error);
	if (!e)
		return NULL;
	/* all of the guest's CPUs are the VM's one package: no socket map */
	if (ve_read_proc_stat(root_fd, NULL, 0, &e->stat) < 0) {
		g_set_error(error, VE_ERROR, VE_ERROR_FAILED,
			    "cannot read CPU statistics (proc/stat) under the root");
		goto fail;
	}
	e->have_stat = true;
	if (!engine_guest_setup(e, source, cgroup_parent, error) || !engine_start(e, warning, error))
		goto fail;
	e->first_disk = e->n_dev;   /* no disks: the host charged the VM's */
	return e;
fail:
	ve_engine_free(e);
	return NULL;
}

bool engine_zone_used(const struct ve_engine *e, const struct ve_powercap_zone *zone)
{
	/*
	 * Host: core and uncore are inside the package; psys spans more than
	 * the CPU.  Guest: the top-level zone is all of the VM's energy, its
	 * subzones (core, dram) parts of it.
	 */
	if (e->guest)
		return zone->kind == VE_RAPL_PACKAGE && zone->subzone < 0;
	return zone->kind == VE_RAPL_PACKAGE || zone->kind == VE_RAPL_DRAM;
}

void ve_engine_free(struct ve_engine *e)
{
	if (!e)
		return;
	for (guint i = 0; e->thread_list && i < e->thread_list->len; i++)
		engine_thread_free(e, g_ptr_array_index(e->thread_list, i));
	if (e->thread_list)
		g_ptr_array_free(e->thread_list, TRUE);
	if (e->threads)
		g_hash_table_destroy(e->threads);
	for (guint i = 0; e->vms && i < e->vms->len; i++)
		engine_io_unwatch(e, &((struct vm *)g_ptr_array_index(e->vms, i))->io);
	engine_services_free(e);
	ve_sampler_free(e->sampler);
	ve_powercap_free(e->pc);
	g_free(e->cg_parent);
	g_free(e->sensor_path);
	for (size_t i = 0; i < e->n_freq; i++)
		if (e->freq[i].cur_fd >= 0)
			close(e->freq[i].cur_fd);
	g_free(e->freq);
	for (size_t i = 0; i < G_N_ELEMENTS(e->calib); i++)
		ve_calib_window_free(e->calib[i]);
	if (e->vms)
		g_ptr_array_free(e->vms, TRUE);
	ve_registry_free(e->reg);
	if (e->samples)
		g_array_free(e->samples, TRUE);
	if (e->io)
		g_array_free(e->io, TRUE);
	if (e->io_bios)
		g_array_free(e->io_bios, TRUE);
	ve_disks_clear(&e->disks);
	ve_account_table_free(e->accounts);
	ve_attrib_free(e->attrib);
	ve_result_clear(&e->result);
	ve_ledger_clear(&e->ledger);
	free(e->socket_of_cpu);
	g_free(e);
}

/*
 * A VM that libvirt no longer has (a transient domain destroyed, a
 * persistent one undefined), once its final readings are in: its total
 * goes to retired_uj, which the state file keeps, so Σ accounts + retired
 * still equals the energy measured; the VM leaves the registry and the
 * file.  Its slot's ledger entry is emptied (nothing is attributed to an
 * inactive slot).
 */
static void retire_gone(struct ve_engine *e, guint i)
{
	struct vm *vm = g_ptr_array_index(e->vms, i);
	struct ve_ledger_entry *le = vm->slot < e->ledger.n ? &e->ledger.e[vm->slot] : NULL;
	uint64_t total = le ? le->total_uj : 0;

	e->retired_uj += total;
	if (le)
		memset(le, 0, sizeof(*le));
	if (e->on_retired)
		e->on_retired(e->retired_ud, vm->uuid, vm->name, total);
	g_ptr_array_remove_index(e->vms, i);
	ve_registry_set(e->reg, vm->uuid, VE_REG_ENGINE, NULL);   /* frees it */
}

static void retire_stopped(struct ve_engine *e)
{
	for (guint i = e->vms->len; i-- > 0;) {
		struct vm *vm = g_ptr_array_index(e->vms, i);

		if (!vm->running && !vm->n_threads && ve_account_is_active(e->accounts, vm->slot)) {
			ve_account_set_active(e->accounts, vm->slot, false);
			vm->located = false;
			engine_io_unwatch(e, &vm->io);
			vm->dt.n_threads = 0;
		}
		if (vm->gone && !vm->running && !vm->n_threads &&
		    !ve_account_is_active(e->accounts, vm->slot) &&
		    (vm->retire_now || e->last_us - vm->gone_us >= e->cfg->retain_undefined_us))
			retire_gone(e, i);
	}
}

void ve_engine_vm_gone(struct ve_engine *e, const char *uuid, bool at_once)
{
	struct vm *vm = ve_registry_get(e->reg, uuid, VE_REG_ENGINE);

	if (!vm)
		return;
	vm->running = false;
	if (!vm->gone)
		vm->gone_us = e->last_us;
	vm->gone = true;
	vm->retire_now = vm->retire_now || at_once;
}

void ve_engine_on_retired(struct ve_engine *e, ve_engine_retired_fn fn, void *ud)
{
	e->on_retired = fn;
	e->retired_ud = ud;
}

uint64_t ve_engine_retired_uj(const struct ve_engine *e)
{
	return e->retired_uj;
}

/*
 * A stopped VM with no final readings this period leaves the accounts now,
 * so that it takes no share of static power for a period it did not run.
 */
static void retire_idle_stopped(struct ve_engine *e)
{
	const struct ve_thread_sample *s = (const struct ve_thread_sample *)(void *)e->samples->data;

	for (guint i = 0; i < e->vms->len; i++) {
		struct vm *vm = g_ptr_array_index(e->vms, i);
		bool sampled = false;

		if (vm->running || !ve_account_is_active(e->accounts, vm->slot))
			continue;
		for (guint k = 0; k < e->samples->len && !sampled; k++)
			sampled = s[k].account == vm->slot;
		for (guint k = 0; k < e->io->len && !sampled; k++)
			sampled = g_array_index(e->io, struct ve_io_sample, k).account == vm->slot;
		if (!sampled)
			ve_account_set_active(e->accounts, vm->slot, false);
	}
}

/*
 * Each used zone's energy since the last period.  A zone that cannot be
 * read counts 0 and keeps its last good reading, so the next good one
 * covers both periods; when no zone could be read, FALSE with @error
 * naming the first (there is nothing to attribute: the period is refused,
 * and the next one covers it).
 */
static gboolean sample_zones(struct ve_engine *e, GError **error)
{
	size_t k = 0, good = 0, used = 0;
	const struct ve_powercap_zone *bad = NULL;
	int bad_r = 0;

	if (!e->pc)
		return TRUE;
	for (size_t z = 0; z < ve_powercap_n_zones(e->pc); z++) {
		const struct ve_powercap_zone *zone = ve_powercap_zone(e->pc, z);
		uint64_t delta = 0;
		int r;

		if (!engine_zone_used(e, zone))
			continue;
		used++;
		r = ve_powercap_sample(e->pc, z, &delta);
		if (r < 0) {
			delta = 0;
			if (!bad) {
				bad = zone;
				bad_r = r;
			}
		} else {
			good++;
		}
		if (k < e->n_dev)
			e->dev[k++].measured_uj = (int64_t)delta;
	}
	if (used && !good) {
		g_set_error(error, VE_ERROR, ve_error_from_errno(-bad_r),
			    "cannot read %s/%s/energy_uj: %s; period skipped", e->sensor_path, bad->dir,
			    bad_r == -ERANGE ? "the counter went back, or past its max_energy_range_uj: not a counter"
			    : bad_r == -EINVAL ? "not a number" : g_strerror(-bad_r));
		return FALSE;
	}
	return TRUE;
}

gboolean ve_engine_period(struct ve_engine *e, uint64_t now_us, GError **error)
{
	uint64_t run_ns[VE_MAX_SOCKETS] = { 0 };
	struct ve_cpustat st;
	struct ve_error err = { 0 };
	bool prime = e->last_us == 0;
	uint64_t period_us = prime ? 0 : now_us - e->last_us;
	const struct ve_service_use *uses;
	size_t n_uses;
	int r;

	g_array_set_size(e->samples, 0);
	if (e->guest) {
		if (!engine_guest_sample(e, run_ns, error))
			return FALSE;
	} else {
		engine_sample_vm_threads(e, now_us, run_ns);
		engine_sample_services(e, now_us, run_ns);
	}

	r = ve_read_proc_stat(e->root_fd, e->socket_of_cpu, e->n_cpu_map, &st);
	if (r < 0) {
		g_set_error(error, VE_ERROR, ve_error_from_errno(-r),
			    "cannot read proc/stat: %s; period skipped", g_strerror(-r));
		return FALSE;
	}
	/* the host's own CPU: what was busy and no sampled thread explains */
	for (unsigned int s = 0; s < st.n_sockets; s++) {
		uint64_t busy = st.busy_ticks[s] >= e->stat.busy_ticks[s]
					? st.busy_ticks[s] - e->stat.busy_ticks[s] : 0;
		uint64_t busy_ns = busy * (1000000000u / e->clk_tck);
		struct ve_thread_sample hs = { .account = VE_ACCOUNT_HOST, .comp = VE_COMP_CPU,
					       .package = s };

		hs.delta[VE_SAMPLER_COL_RUN_NS] = busy_ns > run_ns[s] ? busy_ns - run_ns[s] : 0;
		g_array_append_val(e->samples, hs);
	}
	e->stat = st;

	if (!sample_zones(e, error)) {
		e->last_us = now_us;
		retire_stopped(e);
		return FALSE;
	}
	engine_sample_disks(e, now_us);
	engine_scale_by_freq(e);

	if (prime) {
		e->last_us = now_us;
		retire_stopped(e);
		return TRUE;
	}
	e->last_us = now_us;
	if (!period_us)
		return TRUE;

	retire_idle_stopped(e);
	engine_service_uses(e, &uses, &n_uses);
	r = ve_attrib_run(e->attrib, e->accounts, e->cfg->idle_policy,
			  &(struct ve_period){ .period_us = period_us,
					       .devices = e->dev, .n_devices = e->n_dev,
					       .threads = (struct ve_thread_sample *)(void *)e->samples->data,
					       .n_threads = e->samples->len,
					       .io = (struct ve_io_sample *)(void *)e->io->data,
					       .n_io = e->io->len,
					       .uses = uses, .n_uses = n_uses },
			  &e->result, &err);
	if (r < 0) {
		g_set_error(error, VE_ERROR, ve_error_from_errno(-r),
			    "period of %" G_GUINT64_FORMAT " us refused: %s; nothing counted",
			    period_us, err.msg);
		retire_stopped(e);
		return FALSE;
	}
	r = ve_ledger_apply(&e->ledger, &e->result);
	retire_stopped(e);
	if (r == 0)
		engine_calibrate(e, period_us);
	if (r < 0) {
		g_set_error(error, VE_ERROR, ve_error_from_errno(-r),
			    "the ledger refused a period: %s; nothing counted", g_strerror(-r));
		return FALSE;
	}
	return TRUE;
}

/* the module's messages of a period arrive within this after its end (a few ms under TCG) */
#define MODULE_DELIVERY_US 5000u

uint64_t ve_engine_next_period_us(struct ve_engine *e, uint64_t now_us)
{
	const struct ve_sampler *s = e->sampler;

	return ve_period_next_us(now_us, e->cfg->period_us, s ? s->end_ns / 1000u : 0,
				 s ? s->period_ns / 1000u : 0, MODULE_DELIVERY_US);
}

void ve_engine_report_tick(struct ve_engine *e, uint64_t now_us)
{
	uint64_t dt = now_us > e->report_us ? now_us - e->report_us : 0;

	for (guint i = 0; i < e->vms->len; i++) {
		struct vm *vm = g_ptr_array_index(e->vms, i);
		uint64_t total = vm->slot < e->ledger.n ? e->ledger.e[vm->slot].total_uj : 0;

		vm->power_uw = dt && e->report_us && total >= vm->report_total_uj
				       ? ve_power_uw(total - vm->report_total_uj, dt) : 0;
		vm->report_total_uj = total;
	}
	engine_services_report_tick(e, dt);
	e->host_power_uw = e->report_us ? ve_power_uw(e->ledger.energy_uj - e->report_energy_uj, dt) : 0;
	e->report_energy_uj = e->ledger.energy_uj;
	e->report_us = now_us;
}

void ve_engine_host(struct ve_engine *e, struct ve_host_view *ret)
{
	static const struct ve_ledger_entry zero;

	ret->energy_uj = e->ledger.energy_uj;
	ret->power_uw = e->host_power_uw;
	ret->ledger = e->ledger.n ? &e->ledger.e[VE_ACCOUNT_HOST] : &zero;
	ret->reason_uj = e->ledger.host_reason_uj;
	ret->own_uj = ve_ledger_host_own_uj(&e->ledger);
	ret->unattributed_uj = ve_ledger_unattributed_uj(&e->ledger);
	ret->estimated = e->estimated;
	ret->has_dram = false;
	for (size_t d = 0; d < e->n_dev; d++)
		ret->has_dram = ret->has_dram || (e->dev[d].kind == VE_DEV_DRAM && e->dev[d].measured);
	ret->sensor = e->sensor;
	ret->sampler = e->sampler ? ve_sampler_mode(e->sampler) : "cgroup CPU time";
	ret->io_source = e->guest ? "none (the host charged the VM's disks)"
		       : e->sampler && e->sampler->counts_io ? "virtenergy.ko (per cgroup and device)"
							     : "cgroup statistics (io.stat, blkio)";
	ret->periods = e->ledger.periods;
	ret->calibrations = e->calib_fits;
}

size_t ve_engine_n_vms(struct ve_engine *e)
{
	return e->vms->len;
}

static void fill_view(struct ve_engine *e, struct vm *vm, struct ve_vm_view *ret)
{
	static const struct ve_ledger_entry zero;

	ret->uuid = vm->uuid;
	ret->name = vm->name ? vm->name : vm->uuid;
	ret->running = vm->running;
	ret->undefined = vm->undefined;
	ret->gone = vm->gone;
	ret->vcpus = vm->vcpus;
	ret->n_threads = vm->n_threads;
	ret->pid = vm->located ? vm->dt.pid : 0;
	ret->ledger = vm->slot < e->ledger.n ? &e->ledger.e[vm->slot] : &zero;
	ret->power_uw = vm->power_uw;
}

void ve_engine_vm(struct ve_engine *e, size_t i, struct ve_vm_view *ret)
{
	fill_view(e, g_ptr_array_index(e->vms, i), ret);
}

bool ve_engine_vm_find(struct ve_engine *e, const char *uuid, struct ve_vm_view *ret)
{
	struct vm *vm = ve_registry_get(e->reg, uuid, VE_REG_ENGINE);

	if (vm)
		fill_view(e, vm, ret);
	return vm != NULL;
}

ssize_t ve_engine_vm_by_pid(struct ve_engine *e, pid_t pid)
{
	for (guint i = 0; i < e->vms->len; i++) {
		struct vm *vm = g_ptr_array_index(e->vms, i);

		if (vm->running && vm->located && vm->dt.pid == pid)
			return (ssize_t)i;
	}
	return -1;
}

struct ve_registry *ve_engine_registry(struct ve_engine *e)
{
	return e->reg;
}

int ve_engine_root_fd(struct ve_engine *e)
{
	return e->root_fd;
}
