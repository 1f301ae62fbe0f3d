/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * cgroup.h: the threads and the block I/O of a cgroup, v1 or v2.
 *
 * Cgroup directories are given relative to @root_fd, the host's root
 * opened by the caller (O_DIRECTORY with O_PATH or O_RDONLY), for instance
 * "sys/fs/cgroup/cpu,cpuacct/machine/qemu-1-web.libvirt-qemu/vcpu0".
 * Finding that path is the caller's business (procfs.h's
 * ve_proc_pid_cgroup() and the hierarchy's mount point).
 *
 * A cgroup removed between being found and being read (the VM shut down)
 * is normal: the readers then return -ENOENT.  Results go through ret_
 * parameters, untouched on failure.  Arrays are allocated with malloc() and
 * freed by the caller.  The parsers are pure over NUL-terminated strings.
 * Nothing here logs or keeps state: thread-safe.
 */
#pragma once

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

/*
 * Parse a list of thread ids, one decimal per line, as in the v1 "tasks"
 * and v2 "cgroup.threads" files.  Sorted ascending on return.  An empty
 * text is an empty list (*@ret = NULL, *@ret_n = 0).  -EINVAL for anything
 * but positive ids up to INT_MAX, -ENOMEM.
 */
int ve_parse_tid_list(const char *text, pid_t **ret, size_t *ret_n);

/*
 * The threads in the cgroup directory @cgroup_dir_rel: its cgroup.threads
 * (v2) or, where that does not exist, its tasks (v1).  An empty cgroup is
 * an empty list.  -ENOENT when the cgroup does not exist (or has neither
 * file).
 */
int ve_cgroup_read_tids(int root_fd, const char *cgroup_dir_rel, pid_t **ret, size_t *ret_n);

/*
 * The same where the hierarchy is known: cgroup.threads when @v2, tasks
 * otherwise, with one open(2) of the file's path and no probing for the
 * other (a listing of every VM every second was a sixth failed opens).
 */
int ve_cgroup_read_tids_v(int root_fd, const char *cgroup_dir_rel, bool v2, pid_t **ret,
			  size_t *ret_n);

/* Block I/O of a cgroup on one device, cumulative since the cgroup was made. */
struct ve_blkio_dev {
	uint32_t major, minor;
	uint64_t rbytes, wbytes; /* bytes read, written */
	uint64_t rios, wios;     /* read, write requests */
};

/*
 * Parse cgroup v1 throttle statistics
 * (Documentation/admin-guide/cgroup-v1/blkio-controller.rst): @bytes_text
 * from blkio.throttle.io_service_bytes[_recursive], @ios_text from
 * blkio.throttle.io_serviced[_recursive].  Lines are "MAJ:MIN Op N" with Op
 * Read, Write, Sync, Async, Discard or Total, and a last line "Total N".
 * Only Read and Write are used; other lines are checked (a word and a
 * number) and skipped.  Either text may be NULL, leaving its fields 0.
 * Devices come sorted by major, then minor.  An empty result is
 * *@ret = NULL, *@ret_n = 0.  -EINVAL for a malformed line or a device
 * listed twice for the same operation, -ENOMEM.
 */
int ve_parse_blkio_v1(const char *bytes_text, const char *ios_text, struct ve_blkio_dev **ret,
		      size_t *ret_n);

/*
 * Parse a cgroup v2 io.stat (Documentation/admin-guide/cgroup-v2.rst):
 * "MAJ:MIN rbytes=N wbytes=N rios=N wios=N dbytes=N dios=N" per device.
 * Keys other than those four are ignored whatever their value (the kernel
 * adds keys, some with fractions, such as iocost's "cost.vrate=100.00"),
 * but each must be "key=value".  -EINVAL for a malformed line, a missing
 * or repeated one of the four keys, or a device listed twice; -ENOMEM.
 * Devices come sorted; an empty text is an empty result, as above.
 */
int ve_parse_io_stat(const char *text, struct ve_blkio_dev **ret, size_t *ret_n);

/*
 * Read a cgroup's block I/O per device.
 *
 * Either directory may be NULL.  When @v2_dir_rel is given and holds
 * io.stat, that is parsed.  Otherwise, when @v1_blkio_dir_rel is given, the
 * v1 throttle statistics are: the _recursive pair when present, because
 * libvirt may put a VM's threads in child cgroups and only the recursive
 * files include their I/O; the plain pair on kernels that lack it.  The
 * throttle files are used rather than the scheduler's (blkio.io_service_bytes
 * and the like) because they count at the block layer whatever the I/O
 * scheduler; CFQ's went away in 5.0.
 *
 * -ENOENT when neither directory gives statistics: no io controller in the
 * v2 subtree and no v1 blkio hierarchy, or the cgroup is gone.
 */
int ve_cgroup_read_blkio(int root_fd, const char *v1_blkio_dir_rel, const char *v2_dir_rel,
			 struct ve_blkio_dev **ret, size_t *ret_n);

/*
 * The same files as ve_cgroup_read_blkio() chooses, opened once and re-read
 * every period with one pread(2) each: io.stat (v2) or the throttle pair
 * (v1).  Start with VE_BLKIO_FILES_INIT; ve_blkio_files_read() opens them
 * on first use, and closes them again on any failure, so that the next call
 * finds the cgroup anew (a restarted VM's cgroup is a new directory under
 * the old name; the removed one's files read -ENODEV).  Returns what
 * ve_cgroup_read_blkio() returns.  ve_blkio_files_close() accepts closed
 * files.  One owner; not thread-safe.
 */
struct ve_blkio_files {
	int fd[2];        /* v2: io.stat, -1; v1: bytes, ios; -1 when not open */
	char *buf[2];     /* each file's text; grows to the largest read so far */
	size_t buf_len[2];
};

#define VE_BLKIO_FILES_INIT { .fd = { -1, -1 } }

int ve_blkio_files_read(struct ve_blkio_files *f, int root_fd, const char *v1_blkio_dir_rel,
			const char *v2_dir_rel, struct ve_blkio_dev **ret, size_t *ret_n);
void ve_blkio_files_close(struct ve_blkio_files *f);

/*
 * Parse a cgroup v2 cpu.stat: the CPU time of its "usage_usec N" line, in
 * ns.  Other lines are ignored, but each must be "key N".  -EINVAL for a
 * malformed line, a missing or repeated usage_usec, or one that overflows
 * in ns.
 */
int ve_parse_cpu_stat_usage(const char *text, uint64_t *ret_ns);

/*
 * A cgroup's CPU time in ns: v1 cpuacct.usage when the directory has it
 * (a strict decimal in ns), else v2 cpu.stat's usage_usec.  -ENOENT when it
 * has neither; -EINVAL for a malformed file.
 */
int ve_cgroup_read_cpu_usage(int root_fd, const char *dir_rel, uint64_t *ret_ns);
