/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * procfs.h: the per-thread files of /proc that the samplers need.
 *
 * Every reader takes @root_fd, a directory fd for the host's root (opened
 * by the caller with O_DIRECTORY and O_PATH or O_RDONLY), and reads
 * "proc/..." relative to it.  Results go through ret_ parameters, which are
 * left untouched on failure; errors are negative errnos.
 *
 * A thread or process that exits between being listed and being read is
 * normal, not a fault: the readers then return -ENOENT (the kernel's -ESRCH
 * for a task that died with its directory open is folded into -ENOENT), and
 * the caller drops the thread quietly.
 *
 * The ve_parse_* functions are pure over a NUL-terminated string, so they
 * can be fed anything.  Nothing here logs or keeps state: thread-safe.
 */
#pragma once

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

/* Room for what /proc/.../comm prints, kernel workers' long names included. */
#define VE_TASK_COMM_MAX 64

/*
 * The thread ids of process @pid (the entries of proc/<pid>/task), in
 * ascending order.  *@ret_tids is allocated with malloc() and the caller
 * frees it.  -ENOENT when the process is gone: a live process always has
 * at least one thread, so an empty list means it exited while being read.
 * -ENOMEM.
 */
int ve_proc_list_tasks(int root_fd, pid_t pid, pid_t **ret_tids, size_t *ret_n);

/*
 * The name of thread @tid of @pid (proc/<pid>/task/<tid>/comm) without its
 * newline, NUL-terminated in @buf of @len bytes (VE_TASK_COMM_MAX is always
 * enough).  -ENOBUFS when it does not fit, @buf untouched.
 */
int ve_proc_task_comm(int root_fd, pid_t pid, pid_t tid, char *buf, size_t len);

/*
 * Parse a schedstat file, "run_ns wait_ns timeslices\n": time spent on a
 * CPU, time spent runnable waiting for one (both ns) and the number of
 * times the thread ran.  Any ret_ pointer may be NULL.  -EINVAL for
 * anything but three strict decimals and an optional newline.
 */
int ve_parse_schedstat(const char *text, uint64_t *ret_run_ns, uint64_t *ret_wait_ns,
		       uint64_t *ret_timeslices);

/*
 * Run time of thread @tid in ns, from proc/<pid>/task/<tid>/schedstat.
 * -ENOENT also when the kernel lacks CONFIG_SCHED_INFO (no such file).
 */
int ve_proc_task_schedstat(int root_fd, pid_t pid, pid_t tid, uint64_t *ret_run_ns);

/*
 * Open proc/<pid>/task/<tid>/@file once, to be re-read every period with
 * ve_proc_fd_schedstat() and closed by the caller: a path walk and an
 * open(2) per read cost more than the read itself.  The fd stays bound to
 * the thread, so a recycled tid never reads as the old thread.  *@ret_live
 * says whether it is the kernel's procfs; a fixture tree's regular file
 * outlives its thread and is judged gone when it has been unlinked.
 * Returns the fd, or a negative errno (-ENOENT for a thread that is gone).
 */
int ve_proc_task_open(int root_fd, pid_t pid, pid_t tid, const char *file, bool *ret_live);

/*
 * Run time in ns from a schedstat @fd of ve_proc_task_open() (with its
 * @live), one pread(2) at offset 0.  -ENOENT once the thread has exited.
 */
int ve_proc_fd_schedstat(int fd, bool live, uint64_t *ret_run_ns);

/* The fields of proc/<pid>/task/<tid>/stat that the daemon uses. */
struct ve_task_stat {
	char state;                 /* 'R', 'S', 'D', 'Z', ... */
	uint64_t utime_ticks;       /* user time, in clock ticks (sysconf(_SC_CLK_TCK)) */
	uint64_t stime_ticks;       /* system time, in clock ticks */
	uint64_t guest_time_ticks;  /* time running a guest (a vCPU thread in KVM_RUN) */
	unsigned int processor;     /* CPU the thread last ran on */
};

/*
 * Parse a stat line (proc(5)).  The name in parentheses may hold any byte
 * but NUL, ')' and newlines included, so the fields are taken after the
 * last ')'.  Every field after the name must be an integer (the state a
 * single character) and there must be at least 39 fields, up to
 * "processor"; guest_time is 0 on kernels that predate it.  -EINVAL
 * otherwise, *@ret untouched.
 */
int ve_parse_stat(const char *text, struct ve_task_stat *ret);

/* ve_parse_stat() of proc/<pid>/task/<tid>/stat. */
int ve_proc_task_stat(int root_fd, pid_t pid, pid_t tid, struct ve_task_stat *ret);

/*
 * Find the cgroup of a process for one hierarchy in the text of
 * /proc/<pid>/cgroup, whose lines are "hierarchy-ID:controller-list:path"
 * (Documentation/admin-guide/cgroup-v1/cgroups.rst, cgroup-v2.rst).
 *
 * @controller names a cgroup v1 controller ("cpu", "blkio", or a named
 * hierarchy as listed, "name=systemd") and matches one element of a
 * comma-separated list, so "cpu" finds "4:cpu,cpuacct:/machine/...".  The
 * empty string selects the cgroup v2 line, "0::/path".
 *
 * The path (starting with '/', relative to the hierarchy's mount point and
 * to the reader's cgroup namespace) goes to @buf of @len bytes.  -ENOENT
 * when there is no such hierarchy, or when the v2 cgroup is marked
 * " (deleted)"; -ENOBUFS when the path does not fit; -EINVAL for a
 * malformed line anywhere in the text.  @buf is untouched on failure.
 */
int ve_parse_proc_cgroup(const char *text, const char *controller, char *buf, size_t len);

/* ve_parse_proc_cgroup() of proc/<pid>/cgroup. */
int ve_proc_pid_cgroup(int root_fd, pid_t pid, const char *controller, char *buf, size_t len);
