// SPDX-License-Identifier: GPL-2.0-or-later
/*
 * threadmap.c: the threads of a domain.  See threadmap.h for the layout
 * this relies on.
 */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "cgroup.h"
#include "fileio.h"
#include "procfs.h"
#include "threadmap.h"

void ve_domain_threads_clear(struct ve_domain_threads *d)
{
	free(d->threads);
	d->threads = NULL;
	d->n_threads = 0;
	d->cap = 0;
}

int ve_domain_read_pid(int root_fd, const char *name, pid_t *ret_pid)
{
	char rel[320], buf[32];
	struct ve_span s;
	uint64_t pid;
	size_t len;
	int r;

	if (strchr(name, '/'))
		return -EINVAL;
	snprintf(rel, sizeof(rel), "run/libvirt/qemu/%s.pid", name);
	r = ve_read_file_at(root_fd, rel, buf, sizeof(buf), &len);
	if (r < 0)
		return r;
	while (len && (buf[len - 1] == '\n' || buf[len - 1] == ' '))
		buf[--len] = 0;
	s = (struct ve_span){ buf, len };
	if (ve_span_u64(s, 4194304, &pid) < 0 || pid < 1)
		return -EINVAL;
	*ret_pid = (pid_t)pid;
	return 0;
}

/* "/a/b/emulator" -> "/a/b": the domain's directory above its role children. */
static void strip_role(char *path)
{
	char *slash = strrchr(path, '/');

	if (slash && (strcmp(slash, "/emulator") == 0 || strncmp(slash, "/vcpu", 5) == 0 ||
		      strncmp(slash, "/iothread", 9) == 0))
		*slash = 0;
}

int ve_domain_locate(int root_fd, pid_t pid, struct ve_domain_threads *d)
{
	char path[400];
	int r;

	d->cgroup_rel[0] = 0;
	d->blkio_rel[0] = 0;
	d->cgroup_v2 = 0;
	r = ve_proc_pid_cgroup(root_fd, pid, "cpu", path, sizeof(path));
	if (r == 0) {
		strip_role(path);
		/* Debian mounts cpu,cpuacct and links cpu to it */
		snprintf(d->cgroup_rel, sizeof(d->cgroup_rel), "sys/fs/cgroup/cpu%s", path);
		if (ve_proc_pid_cgroup(root_fd, pid, "blkio", path, sizeof(path)) == 0) {
			strip_role(path);
			snprintf(d->blkio_rel, sizeof(d->blkio_rel), "sys/fs/cgroup/blkio%s", path);
		}
		return 0;
	}
	if (r != -ENOENT)
		return r;
	r = ve_proc_pid_cgroup(root_fd, pid, "", path, sizeof(path));
	if (r == 0 && strcmp(path, "/") != 0) {
		strip_role(path);
		snprintf(d->cgroup_rel, sizeof(d->cgroup_rel), "sys/fs/cgroup%s", path);
		snprintf(d->blkio_rel, sizeof(d->blkio_rel), "%s", d->cgroup_rel);
		d->cgroup_v2 = 1;
		return 0;
	}
	/* no process any more, or no cgroup: the caller decides */
	if (faccessat(root_fd, "proc", F_OK, 0) == 0) {
		char rel[64];

		snprintf(rel, sizeof(rel), "proc/%d", (int)pid);
		if (faccessat(root_fd, rel, F_OK, 0) < 0)
			return -ENOENT;
	}
	return 0;
}

enum ve_component ve_thread_comp_from_comm(const char *comm)
{
	if (strncmp(comm, "CPU ", 4) == 0 &&
	    (strstr(comm, "/KVM") || strstr(comm, "/TCG") || strstr(comm, "/HVF")))
		return VE_COMP_VCPU;
	if (strncmp(comm, "vhost-", 6) == 0 || strncmp(comm, "IO ", 3) == 0)
		return VE_COMP_IO;
	return VE_COMP_EMULATOR;
}

static int add(struct ve_domain_threads *d, pid_t tid, enum ve_component comp)
{
	/* the same tid twice (moved between cgroups while listed): keep the first */
	for (size_t i = 0; i < d->n_threads; i++)
		if (d->threads[i].tid == tid)
			return 0;
	if (d->n_threads == d->cap) {
		size_t cap = d->cap ? d->cap * 2 : 16;
		struct ve_thread_ref *t = realloc(d->threads, cap * sizeof(*t));

		if (!t)
			return -ENOMEM;
		d->threads = t;
		d->cap = cap;
	}
	d->threads[d->n_threads++] = (struct ve_thread_ref){ tid, comp };
	return 0;
}

/* The threads of cgroup @rel under @dir_fd, as @comp (the emulator's: by name). */
static int add_cgroup(int root_fd, int dir_fd, struct ve_domain_threads *d, const char *rel,
		      enum ve_component comp)
{
	pid_t *tids;
	size_t n;
	int r = ve_cgroup_read_tids_v(dir_fd, rel, d->cgroup_v2, &tids, &n);

	if (r < 0)
		return r == -ENOENT ? 0 : r;
	for (size_t i = 0; i < n && r == 0; i++) {
		enum ve_component c = comp;

		if (comp == VE_COMP_EMULATOR) {
			char comm[VE_TASK_COMM_MAX];

			/* vhost workers live among the emulator threads */
			if (ve_proc_task_comm(root_fd, tids[i], tids[i], comm, sizeof(comm)) == 0)
				c = ve_thread_comp_from_comm(comm) == VE_COMP_IO ? VE_COMP_IO : comp;
		}
		r = add(d, tids[i], c);
	}
	free(tids);
	return r;
}

int ve_domain_scan_threads(int root_fd, struct ve_domain_threads *d)
{
	pid_t *tids = NULL;
	size_t n = 0;
	int r;

	d->n_threads = 0;
	if (d->cgroup_rel[0]) {
		/*
		 * Each child's thread list is opened from the domain's
		 * directory, not walked to from the root: a listing is a
		 * dozen opens, and at 1,000 VMs their path walks were a
		 * third of it (issue 15).
		 */
		int dfd = openat(root_fd, d->cgroup_rel, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
		DIR *dir = dfd >= 0 ? fdopendir(dfd) : NULL;
		struct dirent *de;

		if (!dir) {
			if (dfd >= 0)
				close(dfd);
			/* (then only its own list, which says whether it is gone) */
			r = add_cgroup(root_fd, root_fd, d, d->cgroup_rel, VE_COMP_EMULATOR);
			if (r < 0)
				return r;
		}
		while (dir && (de = readdir(dir))) {
			enum ve_component comp;

			if (strncmp(de->d_name, "vcpu", 4) == 0)
				comp = VE_COMP_VCPU;
			else if (strncmp(de->d_name, "iothread", 8) == 0)
				comp = VE_COMP_IO;
			else if (strcmp(de->d_name, "emulator") == 0)
				comp = VE_COMP_EMULATOR;
			else
				continue;
			r = add_cgroup(root_fd, dirfd(dir), d, de->d_name, comp);
			if (r < 0) {
				closedir(dir);
				return r;
			}
		}
		if (dir) {
			/* threads left in the domain's own directory */
			r = add_cgroup(root_fd, dirfd(dir), d, ".", VE_COMP_EMULATOR);
			closedir(dir);
			if (r < 0)
				return r;
		}
	}

	/* QEMU's own threads that no cgroup listed: classify by name */
	r = ve_proc_list_tasks(root_fd, d->pid, &tids, &n);
	if (r == -ENOENT)
		return d->n_threads ? 0 : -ENOENT;
	if (r < 0)
		return r;
	for (size_t i = 0; i < n && r == 0; i++) {
		char comm[VE_TASK_COMM_MAX];
		bool known = false;

		for (size_t j = 0; j < d->n_threads && !known; j++)
			known = d->threads[j].tid == tids[i];
		if (known || ve_proc_task_comm(root_fd, d->pid, tids[i], comm, sizeof(comm)) < 0)
			continue;
		r = add(d, tids[i], ve_thread_comp_from_comm(comm));
	}
	free(tids);
	return r;
}
