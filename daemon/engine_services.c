// SPDX-License-Identifier: GPL-2.0-or-later
/*
 * engine_services.c: the host's shared services for the engine (see
 * engine.h and engine_int.h).  Each [service NAME] of the configuration
 * is an account of kind service.  Its processes are found every
 * thread-scan-ms by its unit's or its cgroup's cgroup.procs, by their
 * executable, or by its pid file; their threads are watched and read by
 * the engine's sampler like a VM's, as the service's CPU component.
 *
 * What it does for each client comes from outside (ve_engine_service_use:
 * the daemon's per-disk byte counts of VMs whose disk socket the service
 * listens on).  A service that uses another is that one's client, and
 * its work for it is the work it did itself in the period: a storage
 * daemon that serves an export from another's passes its clients'
 * requests on.  The core (redist.h) then passes each service's energy on
 * to its clients, through chains and cycles, with what reaches no VM on
 * the host with its reason.
 *
 * A period's energy is split by the work of the last second
 * (VE_USE_WINDOW_US), not of the period alone: what a client's request
 * costs the service and when its disk counts the bytes fall into
 * different 100 ms periods often enough (a burst of one client's requests
 * against another's steady stream) to skew the split by a fifth; over a
 * second, what each client asked for is what the service worked on.
 * When no client did any work in the window, the service's energy goes to
 * the host (service-no-clients).
 */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <gio/gio.h>
#include <inttypes.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include "budget.h"
#include "cgroup.h"
#include "error.h"
#include "engine.h"
#include "fileio.h"
#include "procfs.h"
#include "sampler.h"
#include "statefile.h"
#include "engine_int.h"

struct svc_thread {
	pid_t pid, tid;
	struct ve_watch *w;
	uint64_t gen;
};

struct service {
	char *name;
	enum ve_service_by by;
	char *where;                 /* relative to the root: no leading '/' */
	char **uses;                 /* names, resolved at each period */
	uint32_t slot;
	GHashTable *threads;         /* tid -> struct svc_thread* */
	GArray *pids;                /* pid_t: its processes at the last listing */
	uint64_t gen;
	uint64_t next_scan_us;
	uint64_t work;               /* this period: Σ of its uses (memo for chains) */
	int visiting;                /* 0 new, 1 in the walk, 2 done */
	uint64_t report_passed_uj;
	uint64_t power_uw;
	char *last_error;            /* why it was not found, for the view */
	struct io_src io;            /* its own block I/O: its cgroup's, where it has one */
	char *io_problem;            /* why it has none */
	unsigned int io_gen;
};

/* A use queued for the next period. */
struct pending_use {
	uint32_t service;            /* index into e->services */
	uint32_t client;             /* account slot */
	uint64_t work;
};

static void svc_thread_free(struct ve_engine *e, struct svc_thread *t)
{
	e->sampler->ops->unwatch(e->sampler, t->w);
	g_free(t);
}

static void service_free(struct ve_engine *e, struct service *s)
{
	GHashTableIter it;
	gpointer v;

	g_hash_table_iter_init(&it, s->threads);
	while (g_hash_table_iter_next(&it, NULL, &v))
		svc_thread_free(e, v);
	g_hash_table_destroy(s->threads);
	g_array_free(s->pids, TRUE);
	engine_io_free(e, &s->io);
	g_free(s->io_problem);
	g_free(s->name);
	g_free(s->where);
	g_strfreev(s->uses);
	g_free(s->last_error);
	g_free(s);
}

void engine_services_init(struct ve_engine *e)
{
	e->services = g_ptr_array_new();
	e->pending_uses = g_array_new(FALSE, FALSE, sizeof(struct pending_use));
	e->uses = g_array_new(FALSE, FALSE, sizeof(struct ve_service_use));
	e->window_uses = g_array_new(FALSE, FALSE, sizeof(struct pending_use));
	e->use_len = (guint)CLAMP((VE_USE_WINDOW_US + e->cfg->period_us - 1) / e->cfg->period_us, 1,
				  G_N_ELEMENTS(e->use_ring));
	for (guint r = 0; r < e->use_len; r++)
		e->use_ring[r] = g_array_new(FALSE, FALSE, sizeof(struct pending_use));
}

gboolean engine_services_setup(struct ve_engine *e, GError **error)
{
	for (size_t i = 0; i < e->cfg->n_services; i++) {
		const struct ve_service_conf *c = &e->cfg->services[i];
		struct service *s = g_new0(struct service, 1);

		s->name = g_strdup(c->name);
		s->by = c->by;
		s->where = g_strdup(c->where + (c->where[0] == '/'));
		s->uses = g_strdupv(c->uses);
		s->threads = g_hash_table_new(g_direct_hash, g_direct_equal);
		s->pids = g_array_new(FALSE, FALSE, sizeof(pid_t));
		engine_io_init(&s->io);
		g_ptr_array_add(e->services, s);
		if (ve_account_add(e->accounts, VE_KIND_SERVICE, 0, &s->slot) < 0) {
			g_set_error(error, VE_ERROR, VE_ERROR_FAILED, "out of memory");
			return FALSE;
		}
	}
	return TRUE;
}

void engine_services_free(struct ve_engine *e)
{
	for (guint i = 0; e->services && i < e->services->len; i++)
		service_free(e, g_ptr_array_index(e->services, i));
	if (e->services)
		g_ptr_array_free(e->services, TRUE);
	if (e->pending_uses)
		g_array_free(e->pending_uses, TRUE);
	if (e->uses)
		g_array_free(e->uses, TRUE);
	if (e->window_uses)
		g_array_free(e->window_uses, TRUE);
	for (guint r = 0; r < e->use_len; r++)
		g_array_free(e->use_ring[r], TRUE);
}

/* ---- finding a service's processes (engine_service_find.c) ------------- */

static void find_pids(struct ve_engine *e, struct service *s)
{
	g_clear_pointer(&s->last_error, g_free);
	engine_service_find_pids(e, s->by, s->where, s->pids, &s->last_error);
}

/*
 * The service's block I/O from the cgroup its processes are in, where that
 * cgroup is its own (engine_service_io_cgroup); said in the view, its
 * change counted in io_gen.
 */
static void locate_io(struct ve_engine *e, struct service *s)
{
	char rel[sizeof(s->io.rel)];
	bool v2 = false;
	g_autofree char *why = NULL;

	if (!engine_service_io_cgroup(e, s->pids, rel, sizeof(rel), &v2, &why)) {
		if (s->io.rel[0] || g_strcmp0(why, s->io_problem) != 0) {
			engine_io_unwatch(e, &s->io);
			s->io.rel[0] = 0;
			g_free(s->io_problem);
			s->io_problem = g_steal_pointer(&why);
			s->io_gen++;
		}
		return;
	}
	if (strcmp(rel, s->io.rel) != 0 || v2 != s->io.v2 || s->io_problem) {
		g_clear_pointer(&s->io_problem, g_free);
		s->io_gen++;
	}
	engine_io_watch(e, &s->io, rel, v2);
}

/* Watch the service's threads that are new, mark those still there. */
static void scan_service(struct ve_engine *e, struct service *s)
{
	s->gen++;
	find_pids(e, s);
	locate_io(e, s);
	for (guint p = 0; p < s->pids->len; p++) {
		pid_t pid = g_array_index(s->pids, pid_t, p);
		pid_t *tids = NULL;
		size_t n = 0;

		if (ve_proc_list_tasks(e->root_fd, pid, &tids, &n) < 0)
			continue;
		for (size_t i = 0; i < n; i++) {
			struct svc_thread *t = g_hash_table_lookup(s->threads, GINT_TO_POINTER(tids[i]));
			uint64_t since_watch[VE_MAX_EVENTS];
			struct ve_watch *w;

			if (t && t->pid != pid) {
				g_hash_table_remove(s->threads, GINT_TO_POINTER(tids[i]));
				svc_thread_free(e, t);
				t = NULL;
			}
			/* a thread already counted for a VM (a service inside a VM's cgroup) stays the VM's */
			if (!t && !g_hash_table_contains(e->threads, GINT_TO_POINTER(tids[i]))) {
				if (e->sampler->ops->watch(e->sampler, pid, tids[i], &w) < 0)
					continue;
				/* count from now, as for a VM's thread */
				if (e->sampler->ops->read(e->sampler, w, since_watch) < 0) {
					e->sampler->ops->unwatch(e->sampler, w);
					continue;
				}
				t = g_new0(struct svc_thread, 1);
				t->pid = pid;
				t->tid = tids[i];
				t->w = w;
				g_hash_table_insert(s->threads, GINT_TO_POINTER(tids[i]), t);
			}
			if (t)
				t->gen = s->gen;
		}
		free(tids);
	}
}

void engine_sample_services(struct ve_engine *e, uint64_t now_us, uint64_t *run_ns)
{
	for (guint i = 0; i < e->services->len; i++) {
		struct service *s = g_ptr_array_index(e->services, i);
		bool scanned = now_us >= s->next_scan_us;
		GHashTableIter it;
		gpointer v;

		if (scanned) {
			scan_service(e, s);
			s->next_scan_us = now_us + e->cfg->thread_scan_us;
		}
		g_hash_table_iter_init(&it, s->threads);
		while (g_hash_table_iter_next(&it, NULL, &v)) {
			struct svc_thread *t = v;
			bool ok = engine_sample_thread(e, t->w, t->pid, t->tid, s->slot, VE_COMP_CPU, run_ns);

			if (!ok || (scanned && t->gen != s->gen)) {
				g_hash_table_iter_remove(&it);
				svc_thread_free(e, t);
			}
		}
	}
}

void engine_sample_services_io(struct ve_engine *e, uint64_t *acct_ios, uint64_t *acct_bytes)
{
	for (guint i = 0; e->services && i < e->services->len; i++) {
		struct service *s = g_ptr_array_index(e->services, i);

		if (s->io.rel[0])
			engine_sample_io(e, &s->io, s->slot, acct_ios, acct_bytes);
	}
}

/* ---- work for clients -------------------------------------------------- */

gboolean ve_engine_service_use(struct ve_engine *e, size_t service, const char *uuid,
			       uint64_t work)
{
	struct vm *vm = ve_registry_get(e->reg, uuid, VE_REG_ENGINE);
	struct pending_use u;

	if (service >= e->services->len || !vm || !vm->running || !work)
		return FALSE;
	u = (struct pending_use){ (uint32_t)service, vm->slot, work };
	g_array_append_val(e->pending_uses, u);
	return TRUE;
}

ssize_t ve_engine_service_by_bridge(struct ve_engine *e, const char *bridge)
{
	for (size_t i = 0; i < e->cfg->n_services && i < e->services->len; i++) {
		const char *const *b = (const char *const *)e->cfg->services[i].bridges;

		if (b && g_strv_contains(b, bridge))
			return (ssize_t)i;
	}
	return -1;
}

static ssize_t service_index(struct ve_engine *e, const char *name)
{
	for (guint i = 0; i < e->services->len; i++)
		if (strcmp(((struct service *)g_ptr_array_index(e->services, i))->name, name) == 0)
			return (ssize_t)i;
	return -1;
}

/*
 * Service @i's work this period: its own uses, and for each service that
 * uses it, that one's work.  A cycle contributes nothing on the way back
 * (the core sends services that only serve each other to the host).
 */
static uint64_t service_work(struct ve_engine *e, guint i)
{
	struct service *s = g_ptr_array_index(e->services, i);
	uint64_t w = 0;

	if (s->visiting)
		return s->visiting == 2 ? s->work : 0;
	s->visiting = 1;
	for (guint k = 0; k < e->window_uses->len; k++) {
		const struct pending_use *u = &g_array_index(e->window_uses, struct pending_use, k);

		if (u->service == i)
			w = w + u->work < w ? UINT64_MAX / 2 : w + u->work;
	}
	for (guint c = 0; c < e->services->len; c++) {
		struct service *client = g_ptr_array_index(e->services, c);

		if (c != i && client->uses && g_strv_contains((const char *const *)client->uses, s->name))
			w = MIN(w + service_work(e, c), UINT64_MAX / 2);
	}
	s->work = w;
	s->visiting = 2;
	return w;
}

/*
 * The window's uses: the told ones of this period and of the periods
 * before it, VE_USE_WINDOW_US in all, summed per service and client.
 */
static void window_add(struct ve_engine *e)
{
	GArray *slot = e->use_ring[e->use_pos];
	GHashTable *at = g_hash_table_new(g_int64_hash, g_int64_equal);
	g_autofree gint64 *keys = NULL;
	guint n = 0;

	g_array_set_size(slot, 0);
	g_array_append_vals(slot, e->pending_uses->data, e->pending_uses->len);
	g_array_set_size(e->pending_uses, 0);
	e->use_pos = (e->use_pos + 1) % e->use_len;
	g_array_set_size(e->window_uses, 0);
	for (guint r = 0; r < e->use_len; r++)
		n += e->use_ring[r]->len;
	keys = g_new(gint64, n ? n : 1);
	n = 0;
	for (guint r = 0; r < e->use_len; r++)
		for (guint k = 0; k < e->use_ring[r]->len; k++) {
			const struct pending_use *u = &g_array_index(e->use_ring[r], struct pending_use, k);
			gpointer idx;

			keys[n] = ((gint64)u->service << 32) | u->client;
			if (g_hash_table_lookup_extended(at, &keys[n], NULL, &idx)) {
				struct pending_use *w = &g_array_index(e->window_uses, struct pending_use,
								       GPOINTER_TO_UINT(idx));

				w->work = MIN(w->work + u->work, UINT64_MAX / 4);
			} else {
				g_hash_table_insert(at, &keys[n], GUINT_TO_POINTER(e->window_uses->len));
				g_array_append_val(e->window_uses, *u);
			}
			n++;
		}
	g_hash_table_destroy(at);
}

void engine_service_uses(struct ve_engine *e, const struct ve_service_use **ret, size_t *ret_n)
{
	g_array_set_size(e->uses, 0);
	*ret = NULL;
	*ret_n = 0;
	if (!e->services->len)
		return;   /* guest mode, or a host without [service] groups */
	window_add(e);
	for (guint i = 0; i < e->services->len; i++)
		((struct service *)g_ptr_array_index(e->services, i))->visiting = 0;
	for (guint k = 0; k < e->window_uses->len; k++) {
		const struct pending_use *p = &g_array_index(e->window_uses, struct pending_use, k);
		struct ve_service_use u = { ((struct service *)g_ptr_array_index(e->services, p->service))->slot,
					    p->client, p->work };

		/* a client that left the accounts (stopped, not sampled) is skipped */
		if (ve_account_is_active(e->accounts, p->client))
			g_array_append_val(e->uses, u);
	}
	for (guint c = 0; c < e->services->len; c++) {
		struct service *client = g_ptr_array_index(e->services, c);
		uint64_t w;

		if (!client->uses)
			continue;
		w = service_work(e, c);
		for (size_t k = 0; client->uses[k] && w; k++) {
			ssize_t used = service_index(e, client->uses[k]);

			if (used >= 0) {
				struct ve_service_use u = {
					((struct service *)g_ptr_array_index(e->services, used))->slot,
					client->slot, w };

				g_array_append_val(e->uses, u);
			}
		}
	}
	*ret = (const struct ve_service_use *)(void *)e->uses->data;
	*ret_n = e->uses->len;
}

/* ---- sockets ----------------------------------------------------------- */

/* Inodes of the listening unix sockets bound to @path, from proc/net/unix. */
static GArray *listening_inodes(struct ve_engine *e, const char *path)
{
	g_autofree char *text = NULL;
	GArray *out = g_array_new(FALSE, FALSE, sizeof(uint64_t));
	g_auto(GStrv) lines = NULL;

	if (ve_read_file_alloc_at(e->root_fd, "proc/net/unix", 64u << 20, &text, NULL) < 0)
		return out;
	lines = g_strsplit(text, "\n", -1);
	/* "Num: RefCount Protocol Flags Type St Inode Path"; __SO_ACCEPTCON = 0x10000 */
	for (size_t i = 1; lines[i]; i++) {
		unsigned long flags = 0, type = 0, st = 0;
		uint64_t inode = 0;
		char num[32], sock[4096];
		unsigned long ref = 0, proto = 0;

		if (sscanf(lines[i], "%31s %lx %lx %lx %lx %lx %" SCNu64 " %4095s", num, &ref, &proto,
			   &flags, &type, &st, &inode, sock) != 8)
			continue;
		if ((flags & 0x10000) && strcmp(sock, path) == 0)
			g_array_append_val(out, inode);
	}
	return out;
}

/* Whether process @pid holds one of @inodes among its file descriptors. */
static bool holds_socket(struct ve_engine *e, pid_t pid, const GArray *inodes)
{
	char rel[64];
	int fd;
	DIR *d;
	struct dirent *de;
	bool found = false;

	snprintf(rel, sizeof(rel), "proc/%d/fd", (int)pid);
	fd = openat(e->root_fd, rel, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (fd < 0)
		return false;
	d = fdopendir(fd);
	if (!d) {
		close(fd);
		return false;
	}
	while (!found && (de = readdir(d))) {
		char link[64];
		uint64_t ino;
		ssize_t n = readlinkat(fd, de->d_name, link, sizeof(link) - 1);

		if (n <= 0)
			continue;
		link[n] = '\0';
		if (sscanf(link, "socket:[%" SCNu64 "]", &ino) != 1)
			continue;
		for (guint k = 0; k < inodes->len && !found; k++)
			found = g_array_index(inodes, uint64_t, k) == ino;
	}
	closedir(d);
	return found;
}

ssize_t ve_engine_service_by_socket(struct ve_engine *e, const char *path)
{
	g_autoptr(GArray) inodes = NULL;

	if (!e->services->len || !path || path[0] != '/')
		return -1;
	inodes = listening_inodes(e, path);
	if (!inodes->len)
		return -1;
	for (guint i = 0; i < e->services->len; i++) {
		struct service *s = g_ptr_array_index(e->services, i);

		if (!s->pids->len)
			find_pids(e, s);
		for (guint p = 0; p < s->pids->len; p++)
			if (holds_socket(e, g_array_index(s->pids, pid_t, p), inodes))
				return (ssize_t)i;
	}
	return -1;
}

/* ---- views, state ------------------------------------------------------ */

size_t ve_engine_n_services(struct ve_engine *e)
{
	return e->services ? e->services->len : 0;
}

void ve_engine_service(struct ve_engine *e, size_t i, struct ve_service_view *ret)
{
	static const struct ve_ledger_entry zero;
	struct service *s = g_ptr_array_index(e->services, i);

	ret->name = s->name;
	ret->found_by = ve_service_by_name(s->by);
	ret->n_processes = s->pids->len;
	ret->n_threads = g_hash_table_size(s->threads);
	ret->problem = s->last_error;
	ret->ledger = s->slot < e->ledger.n ? &e->ledger.e[s->slot] : &zero;
	ret->power_uw = s->power_uw;
	ret->io_cgroup = s->io.rel[0] ? s->io.rel : NULL;
	ret->io_problem = s->io_problem;
	ret->io_in_module = s->io.cg_id != 0;
	ret->io_gen = s->io_gen;
}

void engine_services_report_tick(struct ve_engine *e, uint64_t dt_us)
{
	for (guint i = 0; e->services && i < e->services->len; i++) {
		struct service *s = g_ptr_array_index(e->services, i);
		uint64_t passed = s->slot < e->ledger.n ? e->ledger.e[s->slot].passed_on_uj : 0;

		s->power_uw = dt_us && e->report_us && passed >= s->report_passed_uj
				      ? ve_power_uw(passed - s->report_passed_uj, dt_us) : 0;
		s->report_passed_uj = passed;
	}
}

bool engine_services_restore(struct ve_engine *e, const char *name, const struct ve_ledger_entry *le)
{
	ssize_t i = service_index(e, name);

	if (i < 0)
		return false;   /* no longer configured: what it passed on is in its clients' totals */
	ve_ledger_restore(&e->ledger, ((struct service *)g_ptr_array_index(e->services, i))->slot, le);
	return true;
}

gboolean engine_services_save(struct ve_engine *e, struct ve_state *st, GError **error)
{
	static const struct ve_ledger_entry zero;

	for (guint i = 0; e->services && i < e->services->len; i++) {
		struct service *s = g_ptr_array_index(e->services, i);
		g_autofree char *key = g_strdup_printf("service:%s", s->name);

		if (!ve_state_add(st, key, s->name, s->slot < e->ledger.n ? &e->ledger.e[s->slot] : &zero,
				  error))
			return FALSE;
	}
	return TRUE;
}
