/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * engine_world.h: the fixture root the engine's tests run on (test_engine.c,
 * test_engine_services.c): a libvirt-style domain "web" (QEMU pid 4000) in
 * cgroup v1, two CPUs on one socket, RAPL or the host power model, a
 * state directory; threads read by the schedstat sampler.  Static
 * functions: each test binary includes it once.
 */
#pragma once

#include <errno.h>
#include <string.h>

#include "engine.h"
#include "fixture.h"

#define DOM "sys/fs/cgroup/cpu,cpuacct/machine/qemu-1-web.libvirt-qemu"
#define BLKIO "sys/fs/cgroup/blkio/machine/qemu-1-web.libvirt-qemu"
#define UUID "0f8fad5b-d9cb-469f-a165-70867728950e"
#define PKG_MAX 262143328850ull

struct world {
	struct fx fx;
	char state[PATH_MAX + 16];
	int state_fd;
	struct ve_config cfg;
	uint64_t busy_ticks;
	uint64_t tick_ns;
};

/*
 * /proc as the kernel lists it: a thread's files only under its process,
 * proc/PID/task/TID; a thread that is a process of its own (the vhost
 * driver's kernel thread) is proc/TID/task/TID.
 */
static void set_run_ns(struct world *w, pid_t pid, pid_t tid, uint64_t ns)
{
	char rel[128], text[64];

	snprintf(text, sizeof(text), "%llu 0 1\n", (unsigned long long)ns);
	snprintf(rel, sizeof(rel), "proc/%d/task/%d/schedstat", (int)pid, (int)tid);
	fx_write(&w->fx, rel, text);
}

static void add_thread(struct world *w, pid_t pid, pid_t tid, const char *comm)
{
	char rel[128], text[64];

	snprintf(text, sizeof(text), "%s\n", comm);
	snprintf(rel, sizeof(rel), "proc/%d/task/%d/comm", (int)pid, (int)tid);
	fx_write(&w->fx, rel, text);
	set_run_ns(w, pid, tid, 0);
}

/* Two CPUs on one socket; busy ticks grow on cpu0. */
static void set_busy(struct world *w, uint64_t ticks)
{
	char text[256];

	w->busy_ticks = ticks;
	snprintf(text, sizeof(text),
		 "cpu  %llu 0 0 1000 0 0 0 0 0 0\ncpu0 %llu 0 0 500 0 0 0 0 0 0\n"
		 "cpu1 0 0 0 500 0 0 0 0 0 0\nintr 0\nctxt 0\n",
		 (unsigned long long)ticks, (unsigned long long)ticks);
	fx_write(&w->fx, "proc/stat", text);
}

static void set_energy(struct world *w, const char *zone, uint64_t uj)
{
	char rel[128], text[32];

	snprintf(rel, sizeof(rel), "sys/class/powercap/%s/energy_uj", zone);
	snprintf(text, sizeof(text), "%llu\n", (unsigned long long)uj);
	fx_write(&w->fx, rel, text);
}

/* A v1 blkio cgroup DIR's counters for device DEV ("8:1"): @bytes and @ios read, nothing written. */
static void set_blkio_reads(struct world *w, const char *dir, const char *dev, uint64_t bytes,
			    uint64_t ios)
{
	char rel[PATH_MAX], text[256];

	snprintf(rel, sizeof(rel), "%s/blkio.throttle.io_service_bytes_recursive", dir);
	snprintf(text, sizeof(text), "%s Read %llu\n%s Write 0\nTotal %llu\n", dev,
		 (unsigned long long)bytes, dev, (unsigned long long)bytes);
	fx_write(&w->fx, rel, text);
	snprintf(rel, sizeof(rel), "%s/blkio.throttle.io_serviced_recursive", dir);
	snprintf(text, sizeof(text), "%s Read %llu\n%s Write 0\nTotal %llu\n", dev,
		 (unsigned long long)ios, dev, (unsigned long long)ios);
	fx_write(&w->fx, rel, text);
}

static void make_domain(struct world *w, pid_t pid)
{
	char text[64];

	snprintf(text, sizeof(text), "%d\n", (int)pid);
	fx_write(&w->fx, "run/libvirt/qemu/web.pid", text);
	snprintf(text, sizeof(text), "proc/%d/cgroup", (int)pid);
	fx_write(&w->fx, text, "4:cpu,cpuacct:/machine/qemu-1-web.libvirt-qemu/emulator\n0::/\n");
	snprintf(text, sizeof(text), "%d\n", (int)pid + 2);
	fx_write(&w->fx, DOM "/vcpu0/tasks", text);
	snprintf(text, sizeof(text), "%d\n%d\n", (int)pid, (int)pid + 100);
	fx_write(&w->fx, DOM "/emulator/tasks", text);
	add_thread(w, pid, pid, "qemu-system-x86");
	add_thread(w, pid, pid + 2, "CPU 0/KVM");
	add_thread(w, pid + 100, pid + 100, "vhost-4000");
}

static void world_make(struct world *w, bool rapl)
{
	memset(w, 0, sizeof(*w));
	fx_make(&w->fx);
	w->tick_ns = 1000000000ull / (uint64_t)sysconf(_SC_CLK_TCK);
	snprintf(w->state, sizeof(w->state), "%s/state", w->fx.path);
	check(mkdir(w->state, 0755) == 0, "state dir");
	w->state_fd = open(w->state, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	fx_symlink(&w->fx, "cpu,cpuacct", "sys/fs/cgroup/cpu");
	fx_write(&w->fx, "sys/devices/system/cpu/cpu0/topology/physical_package_id", "0\n");
	fx_write(&w->fx, "sys/devices/system/cpu/cpu1/topology/physical_package_id", "0\n");
	set_busy(w, 100);
	make_domain(w, 4000);
	if (rapl) {
		fx_write(&w->fx, "sys/class/powercap/intel-rapl:0/name", "package-0\n");
		fx_write(&w->fx, "sys/class/powercap/intel-rapl:0/max_energy_range_uj", "262143328850\n");
		fx_write(&w->fx, "sys/class/powercap/intel-rapl:0:0/name", "core\n");
		fx_write(&w->fx, "sys/class/powercap/intel-rapl:0:0/max_energy_range_uj", "262143328850\n");
		fx_write(&w->fx, "sys/class/powercap/intel-rapl:0:1/name", "dram\n");
		fx_write(&w->fx, "sys/class/powercap/intel-rapl:0:1/max_energy_range_uj", "65712999613\n");
		set_energy(w, "intel-rapl:0", PKG_MAX - 1000000);
		set_energy(w, "intel-rapl:0:0", 5);
		set_energy(w, "intel-rapl:0:1", 1000);
	}
	ve_config_defaults(&w->cfg);
	w->cfg.sampler = VE_SAMPLER_SCHEDSTAT;
	w->cfg.host_idle_power_uw = 1000000;   /* 1 W per socket: a clear static share */
	w->cfg.host_max_power_uw = 11000000;
}

static void world_free(struct world *w)
{
	close(w->state_fd);
	ve_config_clear(&w->cfg);
	fx_remove(&w->fx);
}

static struct ve_engine *engine(struct world *w)
{
	g_autoptr(GError) err = NULL;
	g_autofree char *warning = NULL;
	struct ve_engine *e = ve_engine_new(w->fx.fd, &w->cfg, w->state_fd, &warning, &err);

	check(e != NULL, "engine: %s", err ? err->message : "");
	check(warning == NULL, "unexpected warning: %s", warning);
	return e;
}

static void period(struct ve_engine *e, uint64_t now_us)
{
	g_autoptr(GError) err = NULL;

	check(ve_engine_period(e, now_us, &err), "period at %llu: %s", (unsigned long long)now_us,
	      err ? err->message : "");
}

static void vm_view(struct ve_engine *e, struct ve_vm_view *v)
{
	check_u64(ve_engine_n_vms(e), 1, "one VM known");
	ve_engine_vm(e, 0, v);
}
