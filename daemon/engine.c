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

#define STATE_FILE "state"
#define MAX_DISKS 64
#define MAX_DEV (2 * VE_MAX_SOCKETS + MAX_DISKS)

/* cumulative block I/O of one VM on one device, as its cgroup reported it */
struct blkio_prev {
	uint32_t major, minor;
	uint64_t ios, bytes;
};

/* cumulative counters of one disk from diskstats */
struct disk_prev {
	bool primed;
	uint64_t ios, bytes, ticks_ms;
};

struct vm {
	char *uuid;
	char *name;
	uint32_t slot;
	bool running;
	bool undefined;
	bool gone;                     /* libvirt has no such domain any more: retire it */
	bool retire_now;               /* gone with its stop (transient): no retention */
	uint64_t gone_us;              /* when we learnt it (e->last_us then) */
	unsigned int vcpus;
	bool located;
	struct ve_domain_threads dt;
	unsigned int n_threads;        /* threads watched for it */
	GArray *blkio;                 /* struct blkio_prev */
	uint64_t gen;                  /* bumped by every listing of its threads */
	uint64_t next_scan_us;
	bool scanned;                  /* listed this period */
	uint64_t report_total_uj;      /* ledger total at the last report tick */
	uint64_t power_uw;
};

struct thread {
	pid_t pid, tid;                /* its process (proc/PID/task/TID) and itself */
	uint32_t slot;
	enum ve_component comp;
	struct vm *vm;
	struct ve_watch *w;
	uint64_t prev[VE_MAX_EVENTS];
	uint64_t gen;
};

struct ve_engine {
	int root_fd;
	int state_dir_fd;
	const struct ve_config *cfg;
	struct ve_sampler *sampler;
	struct ve_powercap *pc;
	struct ve_account_table *accounts;
	struct ve_attrib *attrib;
	struct ve_result result;
	struct ve_ledger ledger;
	GPtrArray *vms;                /* struct vm*, in slot order of creation */
	GHashTable *vm_by_uuid;        /* borrowed keys */
	GHashTable *threads;           /* tid -> struct thread* */
	unsigned int *socket_of_cpu;
	size_t n_cpu_map;
	struct ve_cpustat stat;
	bool have_stat;
	uint64_t last_us;              /* end of the last period, 0 before the first */
	uint64_t clk_tck;
	GArray *samples;               /* struct ve_thread_sample */
	struct ve_device dev[MAX_DEV];
	struct ve_calib_window *calib[MAX_DEV];   /* measured devices only */
	size_t n_dev;
	size_t first_disk;             /* dev[first_disk ..] are disks.disk[0 ..] */
	struct ve_disks disks;
	struct disk_prev disk_prev[MAX_DISKS];
	GArray *io;                    /* struct ve_io_sample */
	unsigned int calib_fits;
	double busy_weight_pj[VE_MAX_SOCKETS];   /* host model at maximum frequency */
	struct cpu_freq {
		int cur_fd;                      /* scaling_cur_freq, -1: none */
		uint64_t max_khz;
	} *freq;                                 /* per CPU, opened at the first period */
	size_t n_freq;
	char sensor[96];
	uint64_t report_us, report_energy_uj, host_power_uw;
	uint64_t state_seq;
	uint64_t retired_uj;           /* totals of retired VMs, kept in the state file */
	bool estimated;
	ve_engine_retired_fn on_retired;
	void *retired_ud;
};

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

static struct vm *vm_get(struct ve_engine *e, const char *uuid, const char *name,
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
	struct vm *vm = vm_get(e, uuid, name, vcpus);

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

/* ---- restart safety ---------------------------------------------------- */

static gboolean restore(struct ve_engine *e, char **warning, GError **error)
{
	g_autoptr(GError) err = NULL;
	struct ve_state *st = NULL;

	if (!ve_state_load(e->state_dir_fd, STATE_FILE, &st, &err)) {
		if (g_error_matches(err, VE_STATE_ERROR, VE_STATE_ERROR_IO)) {
			g_propagate_error(error, g_steal_pointer(&err));
			return FALSE;
		}
		/* corrupt or from another version: set aside by the loader, start afresh */
		*warning = g_strdup_printf("%s; starting with empty counters", err->message);
		return TRUE;
	}
	e->state_seq = st->seq;
	for (guint i = 0; i < st->accounts->len; i++) {
		const struct ve_state_account *a = g_ptr_array_index(st->accounts, i);
		uint32_t slot;

		if (strcmp(a->key, "host") == 0) {
			slot = VE_ACCOUNT_HOST;
		} else if (g_str_has_prefix(a->key, "vm:")) {
			struct vm *vm = vm_get(e, a->key + 3, a->name, 0);

			if (!vm)
				continue;
			slot = vm->slot;
		} else {
			continue;   /* services come with their configuration */
		}
		ve_ledger_restore(&e->ledger, slot, &a->e);
	}
	memcpy(e->ledger.host_reason_uj, st->host_reason_uj, sizeof(e->ledger.host_reason_uj));
	e->ledger.energy_uj = st->energy_uj;
	e->ledger.periods = st->periods;
	e->retired_uj = st->retired_uj;
	ve_state_free(st);
	return TRUE;
}

gboolean ve_engine_save(struct ve_engine *e, GError **error)
{
	g_autoptr(ve_state) st = ve_state_new();

	st->seq = e->state_seq;   /* the save writes seq + 1 */
	st->periods = e->ledger.periods;
	st->energy_uj = e->ledger.energy_uj;
	st->retired_uj = e->retired_uj;
	memcpy(st->host_reason_uj, e->ledger.host_reason_uj, sizeof(st->host_reason_uj));
	if (e->ledger.n && !ve_state_add(st, "host", NULL, &e->ledger.e[VE_ACCOUNT_HOST], error))
		return FALSE;
	for (guint i = 0; i < e->vms->len; i++) {
		struct vm *vm = g_ptr_array_index(e->vms, i);
		g_autofree char *key = g_strdup_printf("vm:%s", vm->uuid);
		static const struct ve_ledger_entry zero;

		if (!ve_state_add(st, key, vm->name,
				  vm->slot < e->ledger.n ? &e->ledger.e[vm->slot] : &zero, error))
			return FALSE;
	}
	if (!ve_state_save(e->state_dir_fd, STATE_FILE, st, error))
		return FALSE;
	e->state_seq = st->seq;
	return TRUE;
}

/* ---- sensing --------------------------------------------------------- */

/*
 * intel-rapl:N numbers packages in the order the driver registered them;
 * the physical package id, which the CPU topology uses, is K of the
 * top-level zone's name "package-K".  Fall back to N.
 */
static unsigned int physical_package(const struct ve_powercap *pc, unsigned int n)
{
	for (size_t z = 0; z < ve_powercap_n_zones(pc); z++) {
		const struct ve_powercap_zone *zone = ve_powercap_zone(pc, z);
		unsigned int k;

		if (zone->kind == VE_RAPL_PACKAGE && zone->subzone < 0 && zone->package == n &&
		    sscanf(zone->name, "package-%u", &k) == 1 && k < VE_MAX_SOCKETS)
			return k;
	}
	return n;
}

static void setup_devices(struct ve_engine *e)
{
	const struct ve_config *c = e->cfg;
	const char *names[VE_MAX_EVENTS];
	unsigned int n = e->sampler->n_cols;

	for (unsigned int i = 0; i < n; i++)
		names[i] = e->sampler->col_name[i];
	e->n_dev = 0;
	if (e->pc) {
		size_t zones = ve_powercap_n_zones(e->pc);

		for (size_t z = 0; z < zones && e->n_dev < G_N_ELEMENTS(e->dev); z++) {
			const struct ve_powercap_zone *zone = ve_powercap_zone(e->pc, z);
			struct ve_device *d = &e->dev[e->n_dev];

			/* core and uncore are inside the package; psys spans more than the CPU */
			if (zone->kind != VE_RAPL_PACKAGE && zone->kind != VE_RAPL_DRAM)
				continue;
			memset(d, 0, sizeof(*d));
			d->kind = zone->kind == VE_RAPL_DRAM ? VE_DEV_DRAM : VE_DEV_PKG;
			d->package = physical_package(e->pc, zone->package);
			d->measured = true;
			/* defaults rank threads until calibration fits the weights */
			ve_cpu_model_defaults(&d->cpu, d->kind == VE_DEV_DRAM ? VE_DOMAIN_DRAM : VE_DOMAIN_PKG,
					      names, n,
					      d->kind == VE_DEV_DRAM ? c->host_idle_power_uw / 8
								     : c->host_idle_power_uw);
			e->calib[e->n_dev] = ve_calib_window_new(n, c->calib_window_periods);
			e->n_dev++;
		}
		snprintf(e->sensor, sizeof(e->sensor), "RAPL (powercap), %zu domains", e->n_dev);
		e->estimated = false;
		return;
	}
	/*
	 * The host power model: per socket, idle power plus (max - idle) shared
	 * linearly by busy CPU time, i.e. (max - idle) / CPUs per busy ns.
	 * µW per CPU / 1000 = pJ per ns.  With per-CPU figures, a socket's idle
	 * and maximum are those times its CPUs.  Where cpufreq is present the
	 * weight follows the socket's frequency each period (scale_by_freq).
	 */
	for (unsigned int s = 0; s < e->stat.n_sockets && s < VE_MAX_SOCKETS; s++) {
		struct ve_device *d = &e->dev[e->n_dev++];
		unsigned int cpus = e->stat.cpus_per_socket[s] ? e->stat.cpus_per_socket[s] : 1;
		uint64_t idle = c->cpu_max_power_uw ? c->cpu_idle_power_uw * cpus : c->host_idle_power_uw;
		uint64_t max = c->cpu_max_power_uw ? c->cpu_max_power_uw * cpus : c->host_max_power_uw;

		memset(d, 0, sizeof(*d));
		d->kind = VE_DEV_PKG;
		d->package = s;
		d->measured = false;
		d->cpu.n_events = n;
		e->busy_weight_pj[s] = (double)(max - idle) / cpus / 1000.0;
		d->cpu.weight_pj[VE_SAMPLER_COL_RUN_NS] = e->busy_weight_pj[s];
		d->cpu.idle_power_uw = idle;
	}
	if (c->cpu_max_power_uw)
		snprintf(e->sensor, sizeof(e->sensor), "host power model (%.1f-%.1f W per CPU), estimated",
			 (double)c->cpu_idle_power_uw / 1e6, (double)c->cpu_max_power_uw / 1e6);
	else
		snprintf(e->sensor, sizeof(e->sensor), "host power model (%.0f-%.0f W per socket), estimated",
			 (double)c->host_idle_power_uw / 1e6, (double)c->host_max_power_uw / 1e6);
	e->estimated = true;
}

/*
 * Disks have no energy sensor: each is modelled (model.h) by a profile that
 * follows from what sysfs says it is, NVMe, rotational or not.
 */
static void setup_disks(struct ve_engine *e)
{
	e->first_disk = e->n_dev;
	if (ve_disks_scan(e->root_fd, &e->disks) < 0)
		return;   /* no disks known: CPU accounting goes on */
	for (size_t i = 0; i < e->disks.n && i < MAX_DISKS && e->n_dev < MAX_DEV; i++) {
		struct ve_device *d = &e->dev[e->n_dev++];
		const char *profile = g_str_has_prefix(e->disks.disk[i].name, "nvme") ? "nvme"
				      : e->disks.disk[i].rotational                 ? "hdd"
										    : "ssd";

		memset(d, 0, sizeof(*d));
		d->kind = VE_DEV_DISK;
		ve_disk_model_profile(profile, &d->disk);
	}
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
	setup_devices(e);
	setup_disks(e);
	if (!restore(e, warning, error))
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
 * Fit each measured device's weights to its sensor over the sliding window
 * (calib.h).  The window's rows are the period's event totals of the
 * threads that ran on the device's socket.  A fit is tried every ten
 * periods; a refused one (too few periods, events that cannot be told
 * apart) keeps the weights in use.
 */
static void calibrate(struct ve_engine *e, uint64_t period_us)
{
	const struct ve_thread_sample *s = (const struct ve_thread_sample *)(void *)e->samples->data;

	for (size_t d = 0; d < e->n_dev; d++) {
		struct ve_calib_result fit;
		uint64_t totals[VE_MAX_EVENTS] = { 0 };

		if (!e->calib[d] || !e->dev[d].measured)
			continue;
		for (guint i = 0; i < e->samples->len; i++)
			if (s[i].package == e->dev[d].package)
				for (unsigned int c = 0; c < e->dev[d].cpu.n_events; c++)
					totals[c] += s[i].delta[c];
		ve_calib_window_push(e->calib[d], totals, period_us, (uint64_t)e->dev[d].measured_uj);
		if (e->ledger.periods % 10 == 0 &&
		    ve_calib_fit(e->calib[d], VE_CALIB_MAX_CONDITION, &fit) == 0 &&
		    ve_calib_apply(&fit, &e->dev[d].cpu) == 0)
			e->calib_fits++;
	}
}

/* One VM's block I/O since the last period, per disk, from its cgroup. */
static void sample_vm_io(struct ve_engine *e, struct vm *vm, uint64_t *vm_ios, uint64_t *vm_bytes)
{
	struct ve_blkio_dev *dev = NULL;
	size_t n = 0;

	if (!vm->located || !vm->dt.blkio_rel[0] ||
	    ve_cgroup_read_blkio(e->root_fd, vm->dt.cgroup_v2 ? NULL : vm->dt.blkio_rel,
				 vm->dt.cgroup_v2 ? vm->dt.blkio_rel : NULL, &dev, &n) < 0)
		return;
	for (size_t i = 0; i < n; i++) {
		int disk = ve_disks_find(&e->disks, dev[i].major, dev[i].minor);
		uint64_t ios = dev[i].rios + dev[i].wios, bytes = dev[i].rbytes + dev[i].wbytes;
		struct blkio_prev *p = NULL;

		if (disk < 0 || (size_t)disk >= MAX_DISKS || e->first_disk + (size_t)disk >= e->n_dev)
			continue;
		for (guint k = 0; k < vm->blkio->len && !p; k++) {
			struct blkio_prev *q = &g_array_index(vm->blkio, struct blkio_prev, k);

			if (q->major == dev[i].major && q->minor == dev[i].minor)
				p = q;
		}
		if (!p) {
			/* first sight: what it did before is not this period's */
			struct blkio_prev np = { dev[i].major, dev[i].minor, ios, bytes };

			g_array_append_val(vm->blkio, np);
			continue;
		}
		if (ios >= p->ios && bytes >= p->bytes && (ios > p->ios || bytes > p->bytes)) {
			struct ve_io_sample s = { .account = vm->slot,
						  .device = (uint32_t)(e->first_disk + (size_t)disk),
						  .comp = VE_COMP_DISK,
						  .ops = ios - p->ios,
						  .bytes = bytes - p->bytes };

			vm_ios[disk] += s.ops;
			vm_bytes[disk] += s.bytes;
			g_array_append_val(e->io, s);
		}
		p->ios = ios;
		p->bytes = bytes;
	}
	free(dev);
}

/*
 * Disk activity: busy time and totals per disk from diskstats, each VM's
 * share from its cgroup, and what no VM issued as the host's own.
 */
static void sample_disks(struct ve_engine *e)
{
	uint64_t vm_ios[MAX_DISKS] = { 0 }, vm_bytes[MAX_DISKS] = { 0 };
	struct ve_diskstat *st = NULL;
	size_t n = 0;

	g_array_set_size(e->io, 0);
	if (e->first_disk >= e->n_dev)
		return;
	for (guint i = 0; i < e->vms->len; i++) {
		struct vm *vm = g_ptr_array_index(e->vms, i);

		if (vm->running)
			sample_vm_io(e, vm, vm_ios, vm_bytes);
	}
	if (ve_read_diskstats(e->root_fd, &st, &n) < 0)
		return;
	for (size_t i = 0; i < n; i++) {
		int disk = ve_disks_find(&e->disks, st[i].major, st[i].minor);
		struct disk_prev *p;
		uint64_t ios, bytes;
		struct ve_device *dev;

		/* partitions repeat their disk's I/O in diskstats: count disks only */
		if (disk < 0 || (size_t)disk >= MAX_DISKS || e->disks.disk[disk].major != st[i].major ||
		    e->disks.disk[disk].minor != st[i].minor || e->first_disk + (size_t)disk >= e->n_dev)
			continue;
		p = &e->disk_prev[disk];
		dev = &e->dev[e->first_disk + (size_t)disk];
		ios = st[i].reads + st[i].writes;
		bytes = (st[i].read_sectors + st[i].write_sectors) * VE_DISKSTAT_SECTOR_BYTES;
		if (p->primed && ios >= p->ios && bytes >= p->bytes && st[i].io_ticks_ms >= p->ticks_ms) {
			struct ve_io_sample hs = { .account = VE_ACCOUNT_HOST,
						   .device = (uint32_t)(e->first_disk + (size_t)disk),
						   .comp = VE_COMP_DISK };

			dev->busy_us = (st[i].io_ticks_ms - p->ticks_ms) * 1000;
			hs.ops = ios - p->ios > vm_ios[disk] ? ios - p->ios - vm_ios[disk] : 0;
			hs.bytes = bytes - p->bytes > vm_bytes[disk] ? bytes - p->bytes - vm_bytes[disk] : 0;
			if (hs.ops || hs.bytes)
				g_array_append_val(e->io, hs);
		} else {
			dev->busy_us = 0;
		}
		p->primed = true;
		p->ios = ios;
		p->bytes = bytes;
		p->ticks_ms = st[i].io_ticks_ms;
	}
	free(st);
}

/* Each CPU's cpufreq files, opened once: the maximum is read then, the current one each period. */
static void open_freq(struct ve_engine *e)
{
	e->freq = g_new(struct cpu_freq, e->n_cpu_map);
	for (size_t cpu = 0; cpu < e->n_cpu_map; cpu++) {
		char rel[96], buf[32];

		e->freq[cpu].cur_fd = -1;
		e->freq[cpu].max_khz = 0;
		snprintf(rel, sizeof(rel), "sys/devices/system/cpu/cpu%zu/cpufreq/cpuinfo_max_freq", cpu);
		if (ve_read_file_at(e->root_fd, rel, buf, sizeof(buf), NULL) < 0 ||
		    ve_parse_u64(buf, &e->freq[cpu].max_khz) < 0 || !e->freq[cpu].max_khz)
			continue;
		snprintf(rel, sizeof(rel), "sys/devices/system/cpu/cpu%zu/cpufreq/scaling_cur_freq", cpu);
		e->freq[cpu].cur_fd = openat(e->root_fd, rel, O_RDONLY | O_CLOEXEC | O_NOCTTY);
	}
	e->n_freq = e->n_cpu_map;
}

/* The host model's busy-time weight follows the CPU frequency (ve_model_freq_factor). */
static void scale_by_freq(struct ve_engine *e)
{
	double ratio_sum[VE_MAX_SOCKETS] = { 0 };
	unsigned int n[VE_MAX_SOCKETS] = { 0 };

	if (e->pc)
		return;
	if (!e->freq)
		open_freq(e);
	for (size_t cpu = 0; cpu < e->n_freq; cpu++) {
		char buf[32];
		uint64_t cur, max = e->freq[cpu].max_khz;
		unsigned int s = e->socket_of_cpu[cpu];

		if (s >= VE_MAX_SOCKETS || e->freq[cpu].cur_fd < 0 ||
		    ve_pread_all(e->freq[cpu].cur_fd, buf, sizeof(buf), NULL) < 0 ||
		    ve_parse_u64(buf, &cur) < 0)
			continue;
		ratio_sum[s] += cur >= max ? 1.0 : (double)cur / (double)max;
		n[s]++;
	}
	for (size_t d = 0; d < e->n_dev; d++) {
		unsigned int s = e->dev[d].package;

		if (e->dev[d].kind != VE_DEV_PKG || e->dev[d].measured || s >= VE_MAX_SOCKETS)
			continue;
		e->dev[d].cpu.weight_pj[VE_SAMPLER_COL_RUN_NS] =
			e->busy_weight_pj[s] *
			ve_model_freq_factor(ratio_sum[s], n[s], e->stat.cpus_per_socket[s]);
	}
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

	sample_disks(e);
	scale_by_freq(e);

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
		calibrate(e, period_us);
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
