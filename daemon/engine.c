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

#include "blockdev.h"
#include "calib.h"
#include "cgroup.h"
#include "cpustat.h"
#include "diskstats.h"
#include "fileio.h"
#include "budget.h"
#include "engine.h"
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
	g_array_free(vm->blkio, TRUE);
	g_free(vm->uuid);
	g_free(vm->name);
	g_free(vm);
}

static void thread_free(struct ve_engine *e, struct thread *t)
{
	e->sampler->ops->unwatch(e->sampler, t->w);
	if (t->vm && t->vm->n_threads)
		t->vm->n_threads--;
	g_free(t);
}

struct vm *engine_vm_get(struct ve_engine *e, const char *uuid, const char *name,
			 unsigned int vcpus)
{
	struct vm *vm = g_hash_table_lookup(e->vm_by_uuid, uuid);

	if (!vm) {
		vm = g_new0(struct vm, 1);
		vm->uuid = g_strdup(uuid);
		vm->blkio = g_array_new(FALSE, TRUE, sizeof(struct blkio_prev));
		if (ve_account_add(e->accounts, VE_KIND_VM, vcpus, &vm->slot) < 0) {
			vm_free(vm);
			return NULL;
		}
		ve_account_set_active(e->accounts, vm->slot, false);
		g_ptr_array_add(e->vms, vm);
		g_hash_table_insert(e->vm_by_uuid, vm->uuid, vm);
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
	if (!vm->running) {
		vm->running = true;
		vm->located = false;   /* a new QEMU process: find it again */
		return true;
	}
	return false;
}

void ve_engine_vm_stopped(struct ve_engine *e, const char *uuid)
{
	struct vm *vm = g_hash_table_lookup(e->vm_by_uuid, uuid);

	/*
	 * Keep the slot active until the next period has taken the final
	 * readings of its threads; see retire_stopped().
	 */
	if (vm)
		vm->running = false;
}

void ve_engine_vm_undefined(struct ve_engine *e, const char *uuid)
{
	struct vm *vm = g_hash_table_lookup(e->vm_by_uuid, uuid);

	if (vm)
		vm->undefined = true;
}

struct ve_engine *ve_engine_new(int root_fd, const struct ve_config *cfg, int state_dir_fd,
				char **warning, GError **error)
{
	struct ve_engine *e = g_new0(struct ve_engine, 1);
	char why[256] = "";
	unsigned int n_events = cfg->events ? g_strv_length(cfg->events) : 0;
	int r;

	*warning = NULL;
	e->root_fd = root_fd;
	e->state_dir_fd = state_dir_fd;
	e->cfg = cfg;
	e->vms = g_ptr_array_new_with_free_func(vm_free);
	e->vm_by_uuid = g_hash_table_new(g_str_hash, g_str_equal);
	e->threads = g_hash_table_new(g_direct_hash, g_direct_equal);
	e->samples = g_array_new(FALSE, TRUE, sizeof(struct ve_thread_sample));
	e->io = g_array_new(FALSE, TRUE, sizeof(struct ve_io_sample));
	e->accounts = ve_account_table_new();
	e->attrib = ve_attrib_new();
	e->clk_tck = (uint64_t)sysconf(_SC_CLK_TCK);
	ve_result_init(&e->result);
	ve_ledger_init(&e->ledger);

	r = ve_sampler_open(cfg->sampler, (const char *const *)cfg->events, n_events, root_fd,
			    &e->sampler, why, sizeof(why));
	if (r < 0) {
		g_set_error(error, G_IO_ERROR, g_io_error_from_errno(-r),
			    "cannot sample threads: %s", why[0] ? why : g_strerror(-r));
		goto fail;
	}
	r = ve_read_cpu_sockets(root_fd, 4096, &e->socket_of_cpu, &e->n_cpu_map);
	if (r < 0 || ve_read_proc_stat(root_fd, e->socket_of_cpu, e->n_cpu_map, &e->stat) < 0) {
		g_set_error(error, G_IO_ERROR, G_IO_ERROR_FAILED,
			    "cannot read CPU statistics (proc/stat) under the root");
		goto fail;
	}
	e->have_stat = true;
	r = ve_powercap_open(root_fd, &e->pc);
	if (r < 0)
		e->pc = NULL;   /* no RAPL: the host power model stands in */
	engine_setup_devices(e);
	engine_setup_disks(e);
	if (!engine_restore(e, warning, error))
		goto fail;
	return e;
fail:
	ve_engine_free(e);
	return NULL;
}

void ve_engine_free(struct ve_engine *e)
{
	GHashTableIter it;
	gpointer v;

	if (!e)
		return;
	if (e->threads) {
		g_hash_table_iter_init(&it, e->threads);
		while (g_hash_table_iter_next(&it, NULL, &v))
			thread_free(e, v);
		g_hash_table_destroy(e->threads);
	}
	ve_sampler_free(e->sampler);
	ve_powercap_free(e->pc);
	for (size_t i = 0; i < e->n_freq; i++)
		if (e->freq[i].cur_fd >= 0)
			close(e->freq[i].cur_fd);
	g_free(e->freq);
	for (size_t i = 0; i < G_N_ELEMENTS(e->calib); i++)
		ve_calib_window_free(e->calib[i]);
	if (e->vm_by_uuid)
		g_hash_table_destroy(e->vm_by_uuid);
	if (e->vms)
		g_ptr_array_free(e->vms, TRUE);
	if (e->samples)
		g_array_free(e->samples, TRUE);
	if (e->io)
		g_array_free(e->io, TRUE);
	ve_disks_clear(&e->disks);
	ve_account_table_free(e->accounts);
	ve_attrib_free(e->attrib);
	ve_result_clear(&e->result);
	ve_ledger_clear(&e->ledger);
	free(e->socket_of_cpu);
	g_free(e);
}

/*
 * The process thread @tid of @vm belongs to: QEMU's, or the thread's own
 * for the vhost driver's kernel threads "vhost-<pid>", processes of their
 * own that the driver attaches to QEMU's cgroups.  A live kernel would
 * also resolve proc/TID/task/TID for any thread, but it lists threads only
 * under their process, and so do the tests' fixture roots.
 */
static pid_t thread_pid(const struct ve_engine *e, const struct vm *vm, pid_t tid)
{
	char rel[64];

	snprintf(rel, sizeof(rel), "proc/%d/task/%d", (int)vm->dt.pid, (int)tid);
	return faccessat(e->root_fd, rel, F_OK, 0) == 0 ? vm->dt.pid : tid;
}

/* Follow a VM's threads: watch new ones, mark the ones still there. */
static void scan_vm(struct ve_engine *e, struct vm *vm)
{
	int r;

	if (!vm->located) {
		if (ve_domain_read_pid(e->root_fd, vm->name, &vm->dt.pid) < 0 ||
		    ve_domain_locate(e->root_fd, vm->dt.pid, &vm->dt) < 0)
			return;   /* not up yet, or gone again: try next period */
		vm->located = true;
	}
	r = ve_domain_scan_threads(e->root_fd, &vm->dt);
	if (r < 0) {
		vm->located = false;
		return;
	}
	for (size_t i = 0; i < vm->dt.n_threads; i++) {
		const struct ve_thread_ref *ref = &vm->dt.threads[i];
		struct thread *t = g_hash_table_lookup(e->threads, GINT_TO_POINTER(ref->tid));

		if (t && t->vm != vm) {
			/* a recycled tid now belongs to someone else: start over */
			g_hash_table_remove(e->threads, GINT_TO_POINTER(ref->tid));
			thread_free(e, t);
			t = NULL;
		}
		if (!t) {
			pid_t pid = thread_pid(e, vm, ref->tid);
			struct ve_watch *w;

			if (e->sampler->ops->watch(e->sampler, pid, ref->tid, &w) < 0)
				continue;   /* exited meanwhile */
			t = g_new0(struct thread, 1);
			t->pid = pid;
			t->tid = ref->tid;
			t->w = w;
			t->vm = vm;
			t->slot = vm->slot;
			/* count from now: what it ran before we knew it is not in this period */
			if (e->sampler->ops->read(e->sampler, w, t->prev) < 0) {
				e->sampler->ops->unwatch(e->sampler, w);
				g_free(t);
				continue;
			}
			vm->n_threads++;
			g_hash_table_insert(e->threads, GINT_TO_POINTER(ref->tid), t);
		}
		t->comp = ref->comp;
		t->gen = vm->gen;
	}
}

/* Read one thread; append its sample.  false when it could not be read. */
static bool sample_thread(struct ve_engine *e, struct thread *t, uint64_t *run_ns_by_socket)
{
	uint64_t cur[VE_MAX_EVENTS] = { 0 };
	struct ve_thread_sample s = { .account = t->slot, .comp = t->comp };

	if (e->sampler->ops->read(e->sampler, t->w, cur) < 0)
		return false;
	for (unsigned int i = 0; i < e->sampler->n_cols; i++) {
		/* a counter that went back was reset under us: count nothing, not 2^64 */
		s.delta[i] = cur[i] >= t->prev[i] ? cur[i] - t->prev[i] : 0;
		t->prev[i] = cur[i];
	}
	if (e->stat.n_sockets > 1) {
		struct ve_task_stat ts;

		if (ve_proc_task_stat(e->root_fd, t->pid, t->tid, &ts) == 0 && ts.processor < e->n_cpu_map)
			s.package = e->socket_of_cpu[ts.processor];
	}
	if (s.package < VE_MAX_SOCKETS)
		run_ns_by_socket[s.package] += s.delta[VE_SAMPLER_COL_RUN_NS];
	g_array_append_val(e->samples, s);
	return true;
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
	g_hash_table_remove(e->vm_by_uuid, vm->uuid);
	g_ptr_array_remove_index(e->vms, i);   /* frees it */
}

static void retire_stopped(struct ve_engine *e)
{
	for (guint i = e->vms->len; i-- > 0;) {
		struct vm *vm = g_ptr_array_index(e->vms, i);

		if (!vm->running && !vm->n_threads && ve_account_is_active(e->accounts, vm->slot)) {
			ve_account_set_active(e->accounts, vm->slot, false);
			vm->located = false;
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
	struct vm *vm = g_hash_table_lookup(e->vm_by_uuid, uuid);

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

gboolean ve_engine_period(struct ve_engine *e, uint64_t now_us, GError **error)
{
	uint64_t run_ns[VE_MAX_SOCKETS] = { 0 };
	struct ve_cpustat st;
	struct ve_error err = { 0 };
	GHashTableIter it;
	gpointer v;
	bool prime = e->last_us == 0;
	uint64_t period_us = prime ? 0 : now_us - e->last_us;
	int r;

	g_array_set_size(e->samples, 0);
	/*
	 * Listing a VM's threads costs a dozen file reads; reading a thread's
	 * counters one read(2).  So threads are listed every thread-scan-ms
	 * (and at once for a VM just started) and sampled every period.  A
	 * thread that exits in between keeps its final counts (perf) or fails
	 * to read (schedstat) and goes; a new one waits for the next listing.
	 */
	for (guint i = 0; i < e->vms->len; i++) {
		struct vm *vm = g_ptr_array_index(e->vms, i);

		vm->scanned = false;
		if (!vm->running || !vm->located || now_us >= vm->next_scan_us) {
			vm->gen++;
			vm->scanned = true;
			vm->next_scan_us = now_us + e->cfg->thread_scan_us;
			if (vm->running)
				scan_vm(e, vm);
		}
	}
	/* read every thread, the ones that are gone one last time */
	g_hash_table_iter_init(&it, e->threads);
	while (g_hash_table_iter_next(&it, NULL, &v)) {
		struct thread *t = v;
		bool ok = sample_thread(e, t, run_ns);

		if (!ok || (t->vm->scanned && t->gen != t->vm->gen)) {
			g_hash_table_iter_remove(&it);
			thread_free(e, t);
		}
	}

	r = ve_read_proc_stat(e->root_fd, e->socket_of_cpu, e->n_cpu_map, &st);
	if (r < 0) {
		g_set_error(error, G_IO_ERROR, g_io_error_from_errno(-r),
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

	if (e->pc) {
		size_t k = 0;

		for (size_t z = 0; z < ve_powercap_n_zones(e->pc); z++) {
			const struct ve_powercap_zone *zone = ve_powercap_zone(e->pc, z);
			uint64_t delta = 0;

			if (zone->kind != VE_RAPL_PACKAGE && zone->kind != VE_RAPL_DRAM)
				continue;
			/*
			 * An unreadable zone keeps its previous reading, so the next good
			 * one covers both periods; this period it counts 0.
			 */
			if (ve_powercap_sample(e->pc, z, &delta) < 0)
				delta = 0;
			if (k < e->n_dev)
				e->dev[k++].measured_uj = (int64_t)delta;
		}
	}

	engine_sample_disks(e);
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
	r = ve_attrib_run(e->attrib, e->accounts, e->cfg->idle_policy,
			  &(struct ve_period){ .period_us = period_us,
					       .devices = e->dev, .n_devices = e->n_dev,
					       .threads = (struct ve_thread_sample *)(void *)e->samples->data,
					       .n_threads = e->samples->len,
					       .io = (struct ve_io_sample *)(void *)e->io->data,
					       .n_io = e->io->len },
			  &e->result, &err);
	if (r < 0) {
		g_set_error(error, G_IO_ERROR, g_io_error_from_errno(-r),
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
		g_set_error(error, G_IO_ERROR, g_io_error_from_errno(-r),
			    "the ledger refused a period: %s; nothing counted", g_strerror(-r));
		return FALSE;
	}
	return TRUE;
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
	ret->estimated = e->estimated;
	ret->has_dram = false;
	for (size_t d = 0; d < e->n_dev; d++)
		ret->has_dram = ret->has_dram || (e->dev[d].kind == VE_DEV_DRAM && e->dev[d].measured);
	ret->sensor = e->sensor;
	ret->sampler = ve_sampler_mode(e->sampler);
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
	struct vm *vm = g_hash_table_lookup(e->vm_by_uuid, uuid);

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

int ve_engine_root_fd(struct ve_engine *e)
{
	return e->root_fd;
}
