/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * threadmap.h: which threads work for a libvirt/QEMU domain, and as what.
 *
 * libvirt's QEMU driver puts a domain in a cgroup of its own with one child
 * per role (docs/cgroups.html in libvirt): vcpuN for the vCPU threads,
 * emulator for QEMU's main loop and helpers, iothreadN for iothreads.
 * vhost workers follow their owner: the older kernel threads "vhost-<pid>"
 * are attached to QEMU's cgroups by the vhost driver, the newer in-process
 * form (Linux 6.4+) are QEMU threads of the same name.  Both land in
 * "emulator" and are told apart by name.
 *
 * The QEMU process is found from libvirt's pid file, run/libvirt/qemu/NAME.pid,
 * and its cgroup from proc/PID/cgroup (v1 "cpu" hierarchy, else v2).  Where
 * the domain has no cgroup (libvirt built without, or a foreign layout), the
 * QEMU process's own threads are classified by name: "CPU n/KVM" and
 * "CPU n/TCG" are vCPUs, "IO ..." iothreads, "vhost-..." vhost workers.
 *
 * All paths are relative to a root fd.  Errors: negative errno; a domain
 * whose process has gone reads -ENOENT.
 */
#pragma once

#include <stddef.h>
#include <sys/types.h>

#include "account.h"

struct ve_thread_ref {
	pid_t tid;
	enum ve_component comp;   /* VCPU, EMULATOR or IO */
};

struct ve_domain_threads {
	pid_t pid;                  /* QEMU's pid */
	char cgroup_rel[512];       /* the domain's cgroup dir relative to root; "" if none */
	char blkio_rel[512];        /* the same in the blkio (v1) or unified (v2) hierarchy */
	int cgroup_v2;              /* 1 when the unified hierarchy is used */
	struct ve_thread_ref *threads;
	size_t n_threads;
	size_t cap;
};

void ve_domain_threads_clear(struct ve_domain_threads *d);

/* QEMU's pid for domain @name from run/libvirt/qemu/NAME.pid. */
int ve_domain_read_pid(int root_fd, const char *name, pid_t *ret_pid);

/*
 * Find the cgroups of @pid (fills cgroup_rel, blkio_rel, cgroup_v2).  -ENOENT
 * when the process has gone; a process without a usable cgroup leaves
 * cgroup_rel empty and returns 0.
 */
int ve_domain_locate(int root_fd, pid_t pid, struct ve_domain_threads *d);

/*
 * Classify a thread by its name alone (used without cgroups, and to find
 * vhost workers among emulator threads).
 */
enum ve_component ve_thread_comp_from_comm(const char *comm);

/*
 * List the domain's threads now, replacing d->threads.  Requires d->pid and,
 * when it has one, d->cgroup_rel from ve_domain_locate().  Threads that
 * vanish while being listed are skipped.  -ENOENT when the domain's process
 * and cgroup are both gone, -ENOMEM.
 */
int ve_domain_scan_threads(int root_fd, struct ve_domain_threads *d);
