// SPDX-License-Identifier: GPL-2.0-or-later
/*
 * engine_service_find.c: where a shared service is (see engine_services.c).
 * Its processes are those of its unit's or its cgroup's cgroup.procs, those
 * whose executable is the one named, or the one its pid file names.  Its
 * own block I/O is that of the cgroup its processes are in, but only where
 * that cgroup is the service's alone: not the root (the whole host's),
 * not a VM's or inside one (the VM's I/O already), and holding no process
 * that is not the service's (two services started from one shell share
 * their shell's cgroup, and neither may take the other's I/O).  What is
 * not taken stays the host's own, as before.
 */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <gio/gio.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include "config.h"
#include "fileio.h"
#include "procfs.h"
#include "threadmap.h"
#include "engine_int.h"

/* ---- finding a service's processes ------------------------------------- */

/* The processes of cgroup @rel (below sys/fs/cgroup's hierarchies): 0, or -ENOENT. */
static int pids_of_cgroup(struct ve_engine *e, const char *rel, GArray *out)
{
	/* v2 (or hybrid), then the v1 hierarchies systemd and the cpu controller keep it in */
	static const char *const roots[] = { "sys/fs/cgroup", "sys/fs/cgroup/unified",
					     "sys/fs/cgroup/systemd", "sys/fs/cgroup/cpu,cpuacct",
					     "sys/fs/cgroup/cpu" };

	for (size_t i = 0; i < G_N_ELEMENTS(roots); i++) {
		g_autofree char *path = g_strdup_printf("%s/%s/cgroup.procs", roots[i], rel);
		g_autofree char *text = NULL;
		pid_t *pids = NULL;
		size_t n = 0;

		if (ve_read_file_alloc_at(e->root_fd, path, 1 << 20, &text, NULL) < 0)
			continue;
		if (ve_parse_tid_list(text, &pids, &n) < 0)
			continue;
		/* v2 lists the unit's processes in its leaves too: an empty v2 dir falls through */
		if (n == 0 && i + 1 < G_N_ELEMENTS(roots)) {
			free(pids);
			continue;
		}
		g_array_append_vals(out, pids, (guint)n);
		free(pids);
		return 0;
	}
	return -ENOENT;
}

/* Every process whose proc/PID/exe is @exe (also after an upgrade replaced it: " (deleted)"). */
static int pids_of_exe(struct ve_engine *e, const char *exe, GArray *out)
{
	int fd = openat(e->root_fd, "proc", O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	size_t len = strlen(exe);
	DIR *d;
	struct dirent *de;

	if (fd < 0)
		return -errno;
	d = fdopendir(fd);
	if (!d) {
		close(fd);
		return -ENOMEM;
	}
	while ((de = readdir(d))) {
		char rel[300], link[4096];
		uint64_t pid;
		ssize_t n;

		if (ve_parse_u64(de->d_name, &pid) < 0 || pid == 0 || pid > INT32_MAX)
			continue;
		snprintf(rel, sizeof(rel), "%s/exe", de->d_name);
		n = readlinkat(fd, rel, link, sizeof(link) - 1);
		if (n <= 0)
			continue;
		link[n] = '\0';
		/* the root's own view: "/usr/bin/x" under --root is the fixture's usr/bin/x */
		if (link[0] == '/' && strncmp(link + 1, exe, len) == 0 &&
		    (link[1 + len] == '\0' || strcmp(link + 1 + len, " (deleted)") == 0)) {
			pid_t p = (pid_t)pid;

			g_array_append_val(out, p);
		}
	}
	closedir(d);
	return 0;
}

static int pid_of_pidfile(struct ve_engine *e, const char *rel, GArray *out)
{
	char buf[32];
	uint64_t pid;
	int r = ve_read_file_at(e->root_fd, rel, buf, sizeof(buf), NULL);

	if (r < 0)
		return r;
	if (ve_parse_u64(g_strstrip(buf), &pid) < 0 || pid == 0 || pid > INT32_MAX)
		return -EINVAL;
	{
		pid_t p = (pid_t)pid;
		char proc[32];

		snprintf(proc, sizeof(proc), "proc/%d", (int)p);
		if (faccessat(e->root_fd, proc, F_OK, 0) < 0)
			return -ESRCH;   /* a stale pid file */
		g_array_append_val(out, p);
	}
	return 0;
}

int engine_service_find_pids(struct ve_engine *e, enum ve_service_by by, const char *where,
			     GArray *pids, char **problem)
{
	int r = 0;

	g_array_set_size(pids, 0);
	switch (by) {
	case VE_SERVICE_BY_UNIT: {
		g_autofree char *rel = g_strdup_printf("system.slice/%s", where);

		r = pids_of_cgroup(e, rel, pids);
		break;
	}
	case VE_SERVICE_BY_CGROUP:
		r = pids_of_cgroup(e, where, pids);
		break;
	case VE_SERVICE_BY_EXE:
		r = pids_of_exe(e, where, pids);
		break;
	case VE_SERVICE_BY_PIDFILE:
		r = pid_of_pidfile(e, where, pids);
		break;
	}
	if (r < 0)
		*problem = g_strdup_printf("%s /%s: %s", ve_service_by_name(by), where,
					   r == -EINVAL ? "not a pid" : g_strerror(-r));
	else if (!pids->len)
		*problem = g_strdup_printf("no process found by %s /%s", ve_service_by_name(by), where);
	return r;
}

/* @rel is @dir or below it. */
static bool within(const char *rel, const char *dir)
{
	size_t n = strlen(dir);

	return n && strncmp(rel, dir, n) == 0 && (rel[n] == '\0' || rel[n] == '/');
}

static bool has_pid(const GArray *pids, pid_t pid)
{
	for (guint i = 0; i < pids->len; i++)
		if (g_array_index(pids, pid_t, i) == pid)
			return true;
	return false;
}

bool engine_service_io_cgroup(struct ve_engine *e, const GArray *pids, char *rel, size_t len,
			      bool *v2, char **why)
{
	struct ve_domain_threads dt = { 0 };
	g_autofree char *procs_rel = NULL, *text = NULL;
	pid_t *procs = NULL;
	size_t n = 0;
	const char *cut;

	if (!pids->len) {
		*why = g_strdup("no process");
		return false;
	}
	if (ve_domain_locate(e->root_fd, g_array_index(pids, pid_t, 0), &dt) < 0) {
		ve_domain_threads_clear(&dt);
		*why = g_strdup("its process went away");
		return false;
	}
	/* "sys/fs/cgroup/blkio/" (v1) or "" (v2): the root cgroup, every process's */
	cut = strrchr(dt.blkio_rel, '/');
	if (!dt.blkio_rel[0] || !cut || cut[1] == '\0') {
		*why = g_strdup("it runs in the root cgroup");
		return false;
	}
	for (guint i = 0; i < e->vms->len; i++) {
		struct vm *vm = g_ptr_array_index(e->vms, i);

		/* v2's io.stat of a parent holds its children's */
		if (vm->io.rel[0] && (within(dt.blkio_rel, vm->io.rel) || within(vm->io.rel, dt.blkio_rel))) {
			*why = g_strdup_printf("its cgroup /%s holds or is in VM '%s''s", dt.blkio_rel,
					       vm->name ? vm->name : vm->uuid);
			return false;
		}
	}
	procs_rel = g_strdup_printf("%s/cgroup.procs", dt.blkio_rel);
	if (ve_read_file_alloc_at(e->root_fd, procs_rel, 1 << 20, &text, NULL) < 0 ||
	    ve_parse_tid_list(text, &procs, &n) < 0) {
		*why = g_strdup_printf("/%s cannot be read", procs_rel);
		return false;
	}
	for (size_t i = 0; i < n; i++)
		if (!has_pid(pids, procs[i])) {
			*why = g_strdup_printf("its cgroup /%s has other processes (pid %d)", dt.blkio_rel,
					       (int)procs[i]);
			free(procs);
			return false;
		}
	free(procs);
	g_strlcpy(rel, dt.blkio_rel, len);
	*v2 = dt.cgroup_v2;
	return true;
}
