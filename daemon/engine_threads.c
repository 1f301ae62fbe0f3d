// SPDX-License-Identifier: GPL-2.0-or-later
/*
 * engine_threads.c: the host's VM threads for the engine (see
 * engine_int.h): finding each VM's QEMU threads, watching them with the
 * sampler and reading them every period.
 */
#include <fcntl.h>
#include <gio/gio.h>
#include <stdio.h>
#include <unistd.h>

#include "engine.h"
#include "procfs.h"
#include "sampler.h"
#include "threadmap.h"
#include "engine_int.h"

void engine_thread_free(struct ve_engine *e, struct thread *t)
{
	e->sampler->ops->unwatch(e->sampler, t->w);
	if (t->vm && t->vm->n_threads)
		t->vm->n_threads--;
	g_free(t);
}

static void thread_add(struct ve_engine *e, struct thread *t)
{
	t->idx = e->thread_list->len;
	g_ptr_array_add(e->thread_list, t);
	g_hash_table_insert(e->threads, GINT_TO_POINTER(t->tid), t);
}

/* Forget @t: the last of the list takes its place. */
static void thread_drop(struct ve_engine *e, struct thread *t)
{
	struct thread *last = g_ptr_array_index(e->thread_list, e->thread_list->len - 1);

	g_ptr_array_index(e->thread_list, t->idx) = last;
	last->idx = t->idx;
	g_ptr_array_set_size(e->thread_list, e->thread_list->len - 1);
	g_hash_table_remove(e->threads, GINT_TO_POINTER(t->tid));
	engine_thread_free(e, t);
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
		engine_io_watch(e, &vm->io, vm->dt.blkio_rel, vm->dt.cgroup_v2);
	}
	r = ve_domain_scan_threads(e->root_fd, &vm->dt);
	if (r < 0) {
		vm->located = false;
		engine_io_unwatch(e, &vm->io);
		return;
	}
	for (size_t i = 0; i < vm->dt.n_threads; i++) {
		const struct ve_thread_ref *ref = &vm->dt.threads[i];
		struct thread *t = g_hash_table_lookup(e->threads, GINT_TO_POINTER(ref->tid));

		if (t && t->vm != vm) {
			/* a recycled tid now belongs to someone else: start over */
			thread_drop(e, t);
			t = NULL;
		}
		if (!t) {
			pid_t pid = thread_pid(e, vm, ref->tid);
			uint64_t since_watch[VE_MAX_EVENTS];
			struct ve_watch *w;

			if (e->sampler->ops->watch(e->sampler, pid, ref->tid, &w) < 0)
				continue;   /* exited meanwhile */
			t = g_new0(struct thread, 1);
			t->pid = pid;
			t->tid = ref->tid;
			t->w = w;
			t->vm = vm;
			t->slot = vm->slot;
			/*
			 * Count from now: what it ran before we knew it is not in
			 * this period.  (A read now also says it can be read.)
			 */
			if (e->sampler->ops->read(e->sampler, w, since_watch) < 0) {
				e->sampler->ops->unwatch(e->sampler, w);
				g_free(t);
				continue;
			}
			vm->n_threads++;
			thread_add(e, t);
		}
		t->comp = ref->comp;
		t->gen = vm->gen;
	}
}

bool engine_sample_thread(struct ve_engine *e, struct ve_watch *w, pid_t pid, pid_t tid,
			  uint32_t slot, enum ve_component comp, uint64_t *run_ns_by_socket)
{
	struct ve_thread_sample s = { .account = slot, .comp = comp };

	/* the sampler hands out the period's deltas (sampler.h) */
	if (e->sampler->ops->read(e->sampler, w, s.delta) < 0)
		return false;
	if (e->stat.n_sockets > 1) {
		struct ve_task_stat ts;

		if (ve_proc_task_stat(e->root_fd, pid, tid, &ts) == 0 && ts.processor < e->n_cpu_map)
			s.package = e->socket_of_cpu[ts.processor];
	}
	if (s.package < VE_MAX_SOCKETS)
		run_ns_by_socket[s.package] += s.delta[VE_SAMPLER_COL_RUN_NS];
	g_array_append_val(e->samples, s);
	return true;
}

/* The host's threads: list them (every thread-scan-ms), read every one. */
void engine_sample_vm_threads(struct ve_engine *e, uint64_t now_us, uint64_t *run_ns)
{
	ve_sampler_begin_period(e->sampler, now_us * 1000u);
	/*
	 * Listing a VM's threads costs a dozen file reads; reading a thread's
	 * counters one read(2).  So threads are sampled every period but
	 * listed only when libvirt says the VM started, resumed, rebooted or
	 * changed a device or tunable (ve_engine_vm_rescan()), and otherwise
	 * every vm-thread-scan-ms (10 s by default; listing every VM every
	 * second was a tenth of the daemon's time at 1,000 VMs, issue 15).  A
	 * thread that exits in between keeps its final counts (perf) or fails
	 * to read (schedstat) and goes; a new one waits for the next listing.
	 */
	for (guint i = 0; i < e->vms->len; i++) {
		struct vm *vm = g_ptr_array_index(e->vms, i);

		vm->scanned = false;
		vm->ran = false;
		if (!vm->running || !vm->located || now_us >= vm->next_scan_us) {
			uint64_t every = e->cfg->vm_thread_scan_us;

			vm->gen++;
			vm->scanned = true;
			/*
			 * After a listing that an event asked for (or the first),
			 * the next comes within the interval but not at its end:
			 * somewhere in its second half, by slot, so that VMs
			 * started together (every VM, when the daemon starts) are
			 * not all listed again in one period (at 1,000 VMs that
			 * period took 17 % of a 4 s profile, issue 15).
			 */
			vm->next_scan_us = now_us + (vm->next_scan_us ? every
						     : every / 2 + every / 2 * ((vm->slot * 2654435761u) % 1024u) / 1024u);
			if (vm->running)
				scan_vm(e, vm);
		}
	}
	/*
	 * Read every thread, the ones that are gone one last time: in the
	 * order they came, which is their VM's and, mostly, their memory's
	 * (in the hash table's order, two cache misses per thread were 5 % of
	 * the daemon at 1,000 VMs, issue 15).
	 */
	for (guint i = 0; i < e->thread_list->len;) {
		struct thread *t = g_ptr_array_index(e->thread_list, i);
		bool ok = engine_sample_thread(e, t->w, t->pid, t->tid, t->slot, t->comp, run_ns);

		if (ok && g_array_index(e->samples, struct ve_thread_sample,
					e->samples->len - 1).delta[VE_SAMPLER_COL_RUN_NS])
			t->vm->ran = true;
		if (!ok || (t->vm->scanned && t->gen != t->vm->gen))
			thread_drop(e, t);   /* the last takes place i: read it next */
		else
			i++;
	}
}
