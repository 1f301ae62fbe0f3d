// SPDX-License-Identifier: GPL-2.0-or-later
/*
 * A domain's threads from fixture /proc and cgroup trees laid out the way
 * libvirt's QEMU driver lays them out: cgroup v1 (machine/qemu-N-NAME.libvirt-qemu
 * with vcpuN, emulator, iothreadN children), cgroup v2
 * (machine.slice/machine-qemu\x2dN\x2dNAME.scope/libvirt/...), none at all,
 * vhost workers of both forms, and threads that vanish while listed.
 */
#include <errno.h>
#include <string.h>

#include "fixture.h"
#include "threadmap.h"

/* A thread as /proc shows it, under its process and under its own tid. */
static void fx_thread(const struct fx *fx, pid_t pid, pid_t tid, const char *comm)
{
	char rel[256], text[64];

	snprintf(text, sizeof(text), "%s\n", comm);
	snprintf(rel, sizeof(rel), "proc/%d/task/%d/comm", (int)pid, (int)tid);
	fx_write(fx, rel, text);
	snprintf(rel, sizeof(rel), "proc/%d/task/%d/schedstat", (int)pid, (int)tid);
	fx_write(fx, rel, "1000 0 1\n");
	if (pid != tid) {
		snprintf(rel, sizeof(rel), "proc/%d/task/%d/comm", (int)tid, (int)tid);
		fx_write(fx, rel, text);
	}
}

static enum ve_component comp_of(const struct ve_domain_threads *d, pid_t tid)
{
	for (size_t i = 0; i < d->n_threads; i++)
		if (d->threads[i].tid == tid)
			return d->threads[i].comp;
	return VE_COMP__MAX;
}

#define V1_DOM "sys/fs/cgroup/cpu,cpuacct/machine/qemu-1-web.libvirt-qemu"

static void test_v1(void **state)
{
	struct fx fx;
	struct ve_domain_threads d = { 0 };
	pid_t pid = 0;

	(void)state;
	fx_make(&fx);
	fx_write(&fx, "run/libvirt/qemu/web.pid", "4000\n");
	fx_write(&fx, "proc/4000/cgroup",
		 "12:blkio:/machine/qemu-1-web.libvirt-qemu/emulator\n"
		 "4:cpu,cpuacct:/machine/qemu-1-web.libvirt-qemu/emulator\n"
		 "1:name=systemd:/\n0::/\n");
	fx_symlink(&fx, "cpu,cpuacct", "sys/fs/cgroup/cpu");
	fx_write(&fx, V1_DOM "/vcpu0/tasks", "4002\n");
	fx_write(&fx, V1_DOM "/vcpu1/tasks", "4003\n");
	fx_write(&fx, V1_DOM "/iothread1/tasks", "4004\n");
	/* the old vhost form: a kernel thread, in the emulator group, not in QEMU's task list */
	fx_write(&fx, V1_DOM "/emulator/tasks", "4000\n4001\n4100\n");
	fx_write(&fx, V1_DOM "/tasks", "");
	fx_thread(&fx, 4000, 4000, "qemu-system-x86");
	fx_thread(&fx, 4000, 4001, "call_rcu");
	fx_thread(&fx, 4000, 4002, "CPU 0/KVM");
	fx_thread(&fx, 4000, 4003, "CPU 1/KVM");
	fx_thread(&fx, 4000, 4004, "IO iothread1");
	fx_thread(&fx, 4100, 4100, "vhost-4000");
	/* a QEMU thread no cgroup lists (moved meanwhile): classified by name */
	fx_thread(&fx, 4000, 4005, "vhost-4000");

	check(ve_domain_read_pid(fx.fd, "web", &pid) == 0 && pid == 4000, "pid file: %d", (int)pid);
	d.pid = pid;
	check(ve_domain_locate(fx.fd, pid, &d) == 0, "locate");
	check(strcmp(d.cgroup_rel, "sys/fs/cgroup/cpu/machine/qemu-1-web.libvirt-qemu") == 0,
	      "cpu cgroup: %s", d.cgroup_rel);
	check(strcmp(d.blkio_rel, "sys/fs/cgroup/blkio/machine/qemu-1-web.libvirt-qemu") == 0,
	      "blkio cgroup: %s", d.blkio_rel);
	check(!d.cgroup_v2, "v1 layout");
	check(ve_domain_scan_threads(fx.fd, &d) == 0, "scan");
	check_u64(d.n_threads, 7, "threads");
	check(comp_of(&d, 4000) == VE_COMP_EMULATOR, "main loop is emulator");
	check(comp_of(&d, 4001) == VE_COMP_EMULATOR, "call_rcu is emulator");
	check(comp_of(&d, 4002) == VE_COMP_VCPU && comp_of(&d, 4003) == VE_COMP_VCPU, "vcpus");
	check(comp_of(&d, 4004) == VE_COMP_IO, "iothread");
	check(comp_of(&d, 4100) == VE_COMP_IO, "vhost kernel thread is io, saw %d",
	      (int)comp_of(&d, 4100));
	check(comp_of(&d, 4005) == VE_COMP_IO, "in-process vhost worker is io");

	/* a vCPU thread exits between two scans: the map follows */
	fx_write(&fx, V1_DOM "/vcpu1/tasks", "");
	fx_remove_rel(&fx, "proc/4000/task/4003");
	check(ve_domain_scan_threads(fx.fd, &d) == 0, "rescan");
	check_u64(d.n_threads, 6, "threads after one exited");
	check(comp_of(&d, 4003) == VE_COMP__MAX, "exited thread gone");

	/* a tid listed by the cgroup whose /proc entry is already gone is still listed;
	 * the sampler finds it unreadable and drops it */
	fx_write(&fx, V1_DOM "/vcpu1/tasks", "4999\n");
	check(ve_domain_scan_threads(fx.fd, &d) == 0, "rescan with a vanished tid");
	check(comp_of(&d, 4999) == VE_COMP_VCPU, "cgroup says vcpu");

	/* the whole domain goes: process and cgroup */
	fx_remove_rel(&fx, "proc/4000");
	fx_remove_rel(&fx, "sys/fs/cgroup/cpu,cpuacct/machine");
	check(ve_domain_scan_threads(fx.fd, &d) == -ENOENT, "gone domain is -ENOENT");
	check(ve_domain_locate(fx.fd, 4000, &d) == -ENOENT, "locating a gone process");
	ve_domain_threads_clear(&d);
	fx_remove(&fx);
}

#define V2_DOM "sys/fs/cgroup/machine.slice/machine-qemu\\x2d2\\x2ddb.scope/libvirt"

static void test_v2(void **state)
{
	struct fx fx;
	struct ve_domain_threads d = { 0 };

	(void)state;
	fx_make(&fx);
	fx_write(&fx, "run/libvirt/qemu/db.pid", "5000");
	fx_write(&fx, "proc/5000/cgroup",
		 "0::/machine.slice/machine-qemu\\x2d2\\x2ddb.scope/libvirt/emulator\n");
	fx_write(&fx, V2_DOM "/vcpu0/cgroup.threads", "5002\n");
	fx_write(&fx, V2_DOM "/vcpu1/cgroup.threads", "5003\n");
	fx_write(&fx, V2_DOM "/emulator/cgroup.threads", "5000\n5001\n");
	fx_write(&fx, V2_DOM "/cgroup.threads", "");
	fx_thread(&fx, 5000, 5000, "qemu-system-x86");
	fx_thread(&fx, 5000, 5001, "worker");
	fx_thread(&fx, 5000, 5002, "CPU 0/KVM");
	fx_thread(&fx, 5000, 5003, "CPU 1/KVM");

	check(ve_domain_read_pid(fx.fd, "db", &d.pid) == 0 && d.pid == 5000, "pid without newline");
	check(ve_domain_locate(fx.fd, d.pid, &d) == 0, "locate");
	check(d.cgroup_v2, "v2 layout");
	check(strcmp(d.cgroup_rel, V2_DOM) == 0, "v2 cgroup: %s", d.cgroup_rel);
	check(strcmp(d.blkio_rel, d.cgroup_rel) == 0, "io.stat lives in the same cgroup");
	check(ve_domain_scan_threads(fx.fd, &d) == 0, "scan");
	check_u64(d.n_threads, 4, "threads");
	check(comp_of(&d, 5002) == VE_COMP_VCPU && comp_of(&d, 5003) == VE_COMP_VCPU, "vcpus");
	check(comp_of(&d, 5001) == VE_COMP_EMULATOR, "worker");
	ve_domain_threads_clear(&d);
	fx_remove(&fx);
}

/* No cgroup for the domain: QEMU's threads by name alone. */
static void test_no_cgroup(void **state)
{
	struct fx fx;
	struct ve_domain_threads d = { 0 };

	(void)state;
	fx_make(&fx);
	fx_write(&fx, "proc/6000/cgroup", "0::/\n");
	fx_thread(&fx, 6000, 6000, "qemu-system-x86");
	fx_thread(&fx, 6000, 6001, "CPU 0/TCG");
	fx_thread(&fx, 6000, 6002, "IO mon_iothread");
	d.pid = 6000;
	check(ve_domain_locate(fx.fd, 6000, &d) == 0 && d.cgroup_rel[0] == 0, "no cgroup");
	check(ve_domain_scan_threads(fx.fd, &d) == 0, "scan");
	check_u64(d.n_threads, 3, "threads");
	check(comp_of(&d, 6001) == VE_COMP_VCPU, "TCG vcpu by name");
	check(comp_of(&d, 6002) == VE_COMP_IO, "iothread by name");
	ve_domain_threads_clear(&d);
	fx_remove(&fx);
}

static void test_bad_input(void **state)
{
	struct fx fx;
	pid_t pid = 77;
	static const char *const bad[] = { "", "abc\n", "-5\n", "0\n", "12 13\n", "99999999999\n" };

	(void)state;
	fx_make(&fx);
	for (size_t i = 0; i < ARRAY_SIZE(bad); i++) {
		fx_write(&fx, "run/libvirt/qemu/x.pid", bad[i]);
		check(ve_domain_read_pid(fx.fd, "x", &pid) == -EINVAL && pid == 77,
		      "pid file '%s' refused, output untouched", bad[i]);
	}
	check(ve_domain_read_pid(fx.fd, "missing", &pid) == -ENOENT, "no pid file");
	check(ve_domain_read_pid(fx.fd, "../../etc/passwd", &pid) == -EINVAL,
	      "a name with a slash never leaves the directory");
	check(ve_thread_comp_from_comm("CPU 3/KVM") == VE_COMP_VCPU, "KVM vcpu name");
	check(ve_thread_comp_from_comm("CPU fun") == VE_COMP_EMULATOR, "not a vcpu");
	fx_remove(&fx);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_v1),
		cmocka_unit_test(test_v2),
		cmocka_unit_test(test_no_cgroup),
		cmocka_unit_test(test_bad_input),
	};

	return cmocka_run_group_tests_name("threadmap", tests, NULL, NULL);
}
