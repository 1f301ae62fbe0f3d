// SPDX-License-Identifier: GPL-2.0-or-later
/*
 * bench_scale_host: a host of COUNT idle "QEMU" processes laid out as
 * libvirt's QEMU driver lays them out, on cgroup v1 or v2, for scripts/bench
 * scale.
 *
 * Each VM is one process whose main thread is its emulator thread and which
 * has four vCPU threads named "CPU k/KVM", all sleeping.  The threads sit in
 * real cgroups, cpu and cpuacct: machine/qemu-ID-NAME.libvirt-qemu/{vcpuK,
 * emulator}; blkio: the domain's directory (libvirt makes role children only
 * for the cpu controllers).  On the unified hierarchy (the test kernel's)
 * the same directory is one, machine/qemu-ID-NAME.libvirt-qemu, with its
 * role children threaded cgroups: the process joins the domain's
 * cgroup.procs, each thread its role's cgroup.threads, as libvirt does.  QEMU's pid is written where libvirt keeps it,
 * ROOT/run/libvirt/qemu/NAME.pid, and XML gets a libvirt test-driver node
 * listing the domains with the same names and UUIDs, so that
 * `virtenergyd --root ROOT --uri test://XML` (ROOT/proc and ROOT/sys link to
 * the host's) accounts them as it would accounts a libvirtd's guests.
 *
 * It prints "ready" when everything is in place and then waits for its
 * standard input to close or for SIGTERM/SIGINT; either way, and when
 * setting up fails half-way, it kills its VMs and removes every cgroup and
 * pid file it made, and XML.  Must run as root.
 *
 * usage: bench_scale_host ROOT XML COUNT PREFIX
 */
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <stdbool.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

#define VCPUS 4
#define MAX_VMS 10000
#define CG_BASE "/sys/fs/cgroup"

static const char *const cpu_ctrls[] = { "cpu", "cpuacct" };

struct vm {
	pid_t pid;
	char name[64];
	char uuid[40];
	char dir[128];   /* "machine/qemu-ID-NAME.libvirt-qemu" */
	int made;        /* cgroups made: remove them */
};

static const char *const all_ctrls[] = { "cpu", "cpuacct", "blkio" };
static int made_machine[3];   /* "machine" made here in all_ctrls[i]: remove it if empty */
/*
 * The unified hierarchy: one tree, CG_BASE itself, in place of each
 * controller's (every controller name below is then "").
 */
static bool v2;
static struct vm *vms;
static int n_vms;
static const char *root, *xml_path;
static volatile sig_atomic_t stop;

static void on_signal(int sig)
{
	(void)sig;
	stop = 1;
}

static int write_str(const char *path, const char *text)
{
	int fd = open(path, O_WRONLY | O_CLOEXEC);
	ssize_t n;
	int saved;

	if (fd < 0)
		return -errno;
	n = write(fd, text, strlen(text));
	saved = errno;
	close(fd);
	return n == (ssize_t)strlen(text) ? 0 : -(n < 0 ? saved : EIO);
}

/* CG_BASE/CTRL/DIR[/ROLE] on v1, CG_BASE/DIR[/ROLE] on v2 */
static void cg_path(char *buf, size_t len, const char *ctrl, const char *dir, const char *role)
{
	snprintf(buf, len, CG_BASE "/%s%s%s%s%s", v2 ? "" : ctrl, v2 ? "" : "/", dir,
		 role[0] ? "/" : "", role);
}

/* A thread into @role's cgroup (v1 "tasks"; v2: the domain's process, a role's thread). */
static int join(const char *ctrl, const struct vm *vm, const char *role, pid_t tid)
{
	char path[256], num[16];
	size_t len;

	cg_path(path, sizeof(path), ctrl, vm->dir, role);
	len = strlen(path);
	snprintf(path + len, sizeof(path) - len, "/%s",
		 !v2 ? "tasks" : role[0] ? "cgroup.threads" : "cgroup.procs");
	snprintf(num, sizeof(num), "%d", (int)tid);
	return write_str(path, num);
}

struct vcpu {
	const struct vm *vm;
	int index;
};

static int vcpus_placed;   /* in the VM's process: vCPU threads in their cgroups */

static void *vcpu_main(void *arg)
{
	const struct vcpu *v = arg;
	char role[16], comm[16];

	snprintf(comm, sizeof(comm), "CPU %d/KVM", v->index);
	prctl(PR_SET_NAME, comm);
	snprintf(role, sizeof(role), "vcpu%d", v->index);
	for (size_t i = 0; i < (v2 ? 1 : sizeof(cpu_ctrls) / sizeof(cpu_ctrls[0])); i++)
		if (join(cpu_ctrls[i], v->vm, role, (pid_t)syscall(SYS_gettid)) < 0)
			_exit(3);
	__atomic_add_fetch(&vcpus_placed, 1, __ATOMIC_SEQ_CST);
	for (;;)
		pause();
	return NULL;
}

/* The VM's process: threads into place, then tell the parent over @ready. */
static void vm_main(const struct vm *vm, int ready)
{
	static struct vcpu vcpus[VCPUS];
	pthread_attr_t attr;
	pid_t self = getpid();

	prctl(PR_SET_PDEATHSIG, SIGKILL);
	if (getppid() == 1)
		_exit(2);
	prctl(PR_SET_NAME, "qemu-system-x86");
	/* v2: into the domain first (a process), then the thread into its role */
	if (join("blkio", vm, "", self) < 0)
		_exit(3);
	for (size_t i = 0; i < (v2 ? 1 : sizeof(cpu_ctrls) / sizeof(cpu_ctrls[0])); i++)
		if (join(cpu_ctrls[i], vm, "emulator", self) < 0)
			_exit(3);
	pthread_attr_init(&attr);
	pthread_attr_setstacksize(&attr, 64 << 10);
	for (int k = 0; k < VCPUS; k++) {
		pthread_t th;

		vcpus[k] = (struct vcpu){ vm, k };
		if (pthread_create(&th, &attr, vcpu_main, &vcpus[k]) != 0)
			_exit(4);
	}
	while (__atomic_load_n(&vcpus_placed, __ATOMIC_SEQ_CST) < VCPUS)
		usleep(500);
	if (write(ready, "x", 1) != 1)
		_exit(5);
	close(ready);
	for (;;)
		pause();
}

static int make_cgroups(struct vm *vm)
{
	char path[256];
	const char *roles[VCPUS + 1] = { "emulator", "vcpu0", "vcpu1", "vcpu2", "vcpu3" };

	cg_path(path, sizeof(path), "blkio", vm->dir, "");
	if (mkdir(path, 0755) < 0)
		return -errno;
	vm->made = 1;
	for (size_t c = 0; c < sizeof(cpu_ctrls) / sizeof(cpu_ctrls[0]); c++) {
		if (!v2) {
			cg_path(path, sizeof(path), cpu_ctrls[c], vm->dir, "");
			if (mkdir(path, 0755) < 0)
				return -errno;
		}
		for (int r = 0; r < VCPUS + 1; r++) {
			cg_path(path, sizeof(path), cpu_ctrls[c], vm->dir, roles[r]);
			if (mkdir(path, 0755) < 0)
				return -errno;
			if (v2) {
				size_t len = strlen(path);
				int e;

				snprintf(path + len, sizeof(path) - len, "/cgroup.type");
				e = write_str(path, "threaded");
				if (e < 0)
					return e;
			}
		}
		if (v2)
			break;   /* one tree */
	}
	return 0;
}

/* rmdir, retried while the kernel still counts a task that has just died */
static void remove_dir(const char *path)
{
	for (int tries = 0; tries < 200; tries++) {
		if (rmdir(path) == 0 || errno == ENOENT)
			return;
		if (errno != EBUSY)
			break;
		usleep(10000);
	}
	fprintf(stderr, "bench_scale_host: cannot remove %s: %s\n", path, strerror(errno));
}

static void remove_cgroups(const struct vm *vm)
{
	const char *roles[VCPUS + 1] = { "emulator", "vcpu0", "vcpu1", "vcpu2", "vcpu3" };
	char path[256];

	for (size_t c = 0; c < sizeof(cpu_ctrls) / sizeof(cpu_ctrls[0]); c++) {
		for (int r = 0; r < VCPUS + 1; r++) {
			cg_path(path, sizeof(path), cpu_ctrls[c], vm->dir, roles[r]);
			remove_dir(path);
		}
		if (v2)
			break;
		cg_path(path, sizeof(path), cpu_ctrls[c], vm->dir, "");
		remove_dir(path);
	}
	cg_path(path, sizeof(path), "blkio", vm->dir, "");
	remove_dir(path);
}

/* "machine" where libvirt has not made it yet (cpuacct, on a host with no guest up) */
static int make_machine(void)
{
	char path[128];

	for (int i = 0; i < (v2 ? 1 : 3); i++) {
		cg_path(path, sizeof(path), all_ctrls[i], "machine", "");
		if (mkdir(path, 0755) == 0)
			made_machine[i] = 1;
		else if (errno != EEXIST)
			return -errno;
	}
	return 0;
}

static void remove_machine(void)
{
	char path[128];

	for (int i = 0; i < (v2 ? 1 : 3); i++) {
		cg_path(path, sizeof(path), all_ctrls[i], "machine", "");
		if (made_machine[i] && rmdir(path) < 0 && errno != EBUSY)
			fprintf(stderr, "bench_scale_host: cannot remove %s: %s\n", path, strerror(errno));
	}
}

static void pid_path(const struct vm *vm, char *buf, size_t len)
{
	snprintf(buf, len, "%s/run/libvirt/qemu/%s.pid", root, vm->name);
}

static void teardown(void)
{
	char path[512];

	for (int i = 0; i < n_vms; i++)
		if (vms[i].pid > 0)
			kill(vms[i].pid, SIGKILL);
	for (int i = 0; i < n_vms; i++)
		if (vms[i].pid > 0)
			while (waitpid(vms[i].pid, NULL, 0) < 0 && errno == EINTR)
				;
	for (int i = 0; i < n_vms; i++) {
		if (vms[i].made)
			remove_cgroups(&vms[i]);
		pid_path(&vms[i], path, sizeof(path));
		unlink(path);
	}
	unlink(xml_path);
	remove_machine();
}

static int write_files(void)
{
	char path[512];
	FILE *f;

	for (int i = 0; i < n_vms; i++) {
		pid_path(&vms[i], path, sizeof(path));
		f = fopen(path, "we");
		if (!f || fprintf(f, "%d", (int)vms[i].pid) < 0 || fclose(f) != 0)
			return -1;
	}
	f = fopen(xml_path, "we");
	if (!f)
		return -1;
	fprintf(f, "<node>\n");
	for (int i = 0; i < n_vms; i++)
		fprintf(f,
			"  <domain type='test'><name>%s</name><uuid>%s</uuid><memory>1048576</memory>"
			"<vcpu>%d</vcpu><os><type>hvm</type></os></domain>\n",
			vms[i].name, vms[i].uuid, VCPUS);
	fprintf(f, "</node>\n");
	return fclose(f) == 0 ? 0 : -1;
}

static int build(const char *prefix)
{
	if (make_machine() < 0)
		return -1;
	for (int i = 0; i < n_vms; i++) {
		struct vm *vm = &vms[i];
		int p[2], r;
		char c;

		snprintf(vm->name, sizeof(vm->name), "%s-%d", prefix, i + 1);
		snprintf(vm->uuid, sizeof(vm->uuid), "5ca1e000-0000-4000-8000-%012d", i + 1);
		snprintf(vm->dir, sizeof(vm->dir), "machine/qemu-%d-%s.libvirt-qemu", i + 1, vm->name);
		r = make_cgroups(vm);
		if (r < 0) {
			fprintf(stderr, "bench_scale_host: cgroup for %s: %s\n", vm->name, strerror(-r));
			return -1;
		}
		if (pipe2(p, O_CLOEXEC) < 0)
			return -1;
		vm->pid = fork();
		if (vm->pid < 0)
			return -1;
		if (vm->pid == 0) {
			close(p[0]);
			vm_main(vm, p[1]);
		}
		close(p[1]);
		r = (int)read(p[0], &c, 1);
		close(p[0]);
		if (r != 1) {
			fprintf(stderr, "bench_scale_host: VM %s did not start\n", vm->name);
			return -1;
		}
		if (stop)
			return -1;
	}
	return write_files();
}

int main(int argc, char **argv)
{
	struct sigaction sa = { .sa_handler = on_signal };
	char *end;
	long count;
	int rc = 0;

	if (argc != 5) {
		fprintf(stderr, "usage: bench_scale_host ROOT XML COUNT PREFIX\n");
		return 2;
	}
	root = argv[1];
	xml_path = argv[2];
	v2 = access(CG_BASE "/cgroup.controllers", F_OK) == 0 && access(CG_BASE "/cpu", F_OK) < 0;
	errno = 0;
	count = strtol(argv[3], &end, 10);
	if (errno || *end || count < 1 || count > MAX_VMS || strlen(argv[4]) > 32) {
		fprintf(stderr, "bench_scale_host: COUNT is 1 .. %d, PREFIX at most 32 bytes\n", MAX_VMS);
		return 2;
	}
	sigaction(SIGTERM, &sa, NULL);
	sigaction(SIGINT, &sa, NULL);
	signal(SIGPIPE, SIG_IGN);
	vms = calloc((size_t)count, sizeof(*vms));
	if (!vms)
		return 1;
	n_vms = (int)count;
	if (build(argv[4]) < 0) {
		fprintf(stderr, "bench_scale_host: setting up failed (%s); removing what was made\n",
			strerror(errno));
		rc = 1;
	} else {
		struct pollfd pfd = { .fd = 0, .events = POLLIN };
		char buf[64];

		printf("ready\n");
		fflush(stdout);
		while (!stop) {
			if (poll(&pfd, 1, 1000) > 0 && read(0, buf, sizeof(buf)) <= 0)
				break;
		}
	}
	teardown();
	return rc;
}
