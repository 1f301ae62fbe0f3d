// SPDX-License-Identifier: GPL-2.0-or-later
/*
 * The daemon's period end to end on fixture roots: a libvirt-style domain
 * in cgroup v1, RAPL through a powercap tree (wrapping), the host power
 * model without RAPL, a VM that stops and starts again, and a restart from
 * the state file.  The sampler reads schedstat from the fixture.
 */
#include "engine_world.h"

/*
 * One second: the vCPU ran 80 ms, the main loop 10 ms, the vhost kernel
 * thread 10 ms; /proc/stat says the CPUs were busy 200 ms in all, so the
 * host's own processes ran the other 100 ms.  RAPL: the package counter
 * wrapped, 1 J before the top plus 3 J after = 4 J; DRAM 0.5 J.
 *
 * Package: static 1 J (idle power 1 W), dynamic 3 J split by run time:
 * vcpu 3 × 80/200 = 1.2 J, emulator 0.15 J, io 0.15 J, host 1.5 J.
 * DRAM: static 1/8 W = 0.125 J, dynamic 0.375 J in the same proportions:
 * vcpu 0.15 J, emulator and io 0.01875 J each, host 0.1875 J.
 * The one running VM takes both static shares (vcpus policy): 1.125 J idle.
 */
static void test_rapl_period(void **state)
{
	struct world w;
	struct ve_engine *e;
	struct ve_vm_view v;
	struct ve_host_view h;

	(void)state;
	world_make(&w, true);
	e = engine(&w);
	ve_engine_vm_started(e, UUID, "web", 1);
	period(e, 1000000);   /* primes */

	set_run_ns(&w, 4000, 4002, 80000000);
	set_run_ns(&w, 4000, 4000, 10000000);
	set_run_ns(&w, 4100, 4100, 10000000);
	set_busy(&w, 100 + 200000000 / w.tick_ns);
	set_energy(&w, "intel-rapl:0", 3000000);
	set_energy(&w, "intel-rapl:0:1", 501000);
	period(e, 2000000);

	ve_engine_host(e, &h);
	check(!h.estimated, "RAPL measured");
	check(strstr(h.sensor, "RAPL") != NULL, "sensor: %s", h.sensor);
	check(strstr(h.sampler, "schedstat") != NULL, "sampler: %s", h.sampler);
	check_u64(h.energy_uj, 4500000, "package 4 J across the wrap + DRAM 0.5 J");
	vm_view(e, &v);
	check_u64(v.n_threads, 3, "threads watched");
	check_near(v.ledger->comp_uj[VE_COMP_VCPU], 1200000 + 150000, 2, "vcpu");
	check_near(v.ledger->comp_uj[VE_COMP_EMULATOR], 150000 + 18750, 2, "emulator");
	check_near(v.ledger->comp_uj[VE_COMP_IO], 150000 + 18750, 2, "vhost is io");
	check_near(v.ledger->comp_uj[VE_COMP_IDLE], 1125000, 2, "idle");
	check_near(v.ledger->dev_uj[VE_DEV_DRAM], 150000 + 2 * 18750 + 125000, 2, "dram");
	check_near(h.ledger->comp_uj[VE_COMP_CPU], 1500000 + 187500, 2, "host's own");
	check_u64(h.ledger->total_uj + v.ledger->total_uj, h.energy_uj, "conservation");
	ve_engine_free(e);
	world_free(&w);
}

/*
 * A zone that cannot be read counts 0 and keeps its last good reading, so
 * the next period has its energy; when none can be read the period is
 * refused, naming the zone, and the next one counts all of it.
 */
static void test_rapl_unreadable(void **state)
{
	struct world w;
	struct ve_engine *e;
	struct ve_host_view h;
	g_autoptr(GError) err = NULL;

	(void)state;
	world_make(&w, true);
	e = engine(&w);
	ve_engine_vm_started(e, UUID, "web", 1);
	period(e, 1000000);
	set_energy(&w, "intel-rapl:0", 3000000);
	fx_write(&w.fx, "sys/class/powercap/intel-rapl:0:1/energy_uj", "garbage\n");
	period(e, 2000000);
	ve_engine_host(e, &h);
	check_u64(h.energy_uj, 4000000, "the package counted, DRAM 0 this period");
	set_energy(&w, "intel-rapl:0:1", 501000);
	period(e, 3000000);
	ve_engine_host(e, &h);
	check_u64(h.energy_uj, 4500000, "DRAM's 0.5 J came with its next good reading");

	fx_write(&w.fx, "sys/class/powercap/intel-rapl:0/energy_uj", "garbage\n");
	fx_write(&w.fx, "sys/class/powercap/intel-rapl:0:1/energy_uj", "garbage\n");
	check(!ve_engine_period(e, 4000000, &err), "no zone readable: refused");
	check(err && strstr(err->message, "intel-rapl:0/energy_uj") && strstr(err->message, "not a number"),
	      "naming the zone: %s", err ? err->message : "");
	ve_engine_host(e, &h);
	check_u64(h.energy_uj, 4500000, "nothing counted");
	set_energy(&w, "intel-rapl:0", 4000000);
	set_energy(&w, "intel-rapl:0:1", 601000);
	period(e, 5000000);
	ve_engine_host(e, &h);
	check_u64(h.energy_uj, 4500000 + 1000000 + 100000, "the next period has both zones' energy");
	ve_engine_free(e);
	world_free(&w);
}

/*
 * Without RAPL: 1 W idle + (11 - 1) W / 2 CPUs = 5 W per busy CPU.  200 ms
 * busy in 1 s: 1 J + 1 J; the VM's 100 ms of threads get 0.5 J, the host's
 * 100 ms 0.5 J, the static 1 J goes to the VM.  Everything is estimated.
 */
static void test_model_and_lifecycle(void **state)
{
	struct world w;
	struct ve_engine *e;
	struct ve_vm_view v;
	struct ve_host_view h;
	uint64_t before;

	(void)state;
	world_make(&w, false);
	e = engine(&w);
	ve_engine_vm_started(e, UUID, "web", 1);
	period(e, 1000000);
	set_run_ns(&w, 4000, 4002, 80000000);
	set_run_ns(&w, 4000, 4000, 10000000);
	set_run_ns(&w, 4100, 4100, 10000000);
	set_busy(&w, 100 + 200000000 / w.tick_ns);
	period(e, 2000000);

	ve_engine_host(e, &h);
	check(h.estimated, "no RAPL: estimated");
	check(strstr(h.sensor, "model") != NULL, "sensor: %s", h.sensor);
	check_u64(h.energy_uj, 2000000, "modelled host energy");
	vm_view(e, &v);
	check_near(v.ledger->comp_uj[VE_COMP_VCPU], 400000, 2, "vcpu");
	check_near(v.ledger->comp_uj[VE_COMP_IDLE], 1000000, 2, "idle");
	check_near(h.ledger->comp_uj[VE_COMP_CPU], 500000, 2, "host");

	/* the VM stops: its process and cgroup go; nothing more is charged to it */
	before = v.ledger->total_uj;
	ve_engine_vm_stopped(e, UUID);
	fx_remove_rel(&w.fx, "proc/4000");
	fx_remove_rel(&w.fx, "proc/4100");
	fx_remove_rel(&w.fx, "sys/fs/cgroup/cpu,cpuacct/machine");
	set_busy(&w, w.busy_ticks + 100000000 / w.tick_ns);
	period(e, 3000000);
	period(e, 4000000);
	vm_view(e, &v);
	check(!v.running, "stopped");
	check_u64(v.n_threads, 0, "no threads left watched");
	check_u64(v.ledger->total_uj, before, "a stopped VM is charged nothing");
	ve_engine_host(e, &h);
	check_u64(h.reason_uj[VE_REASON_IDLE_NO_TAKER], 2000000,
		  "with no VM running, 2 s of idle power stay on the host");
	check_u64(h.ledger->total_uj + v.ledger->total_uj, h.energy_uj, "conservation");

	/* saved, the daemon restarts, the VM starts again as a new process */
	{
		g_autoptr(GError) err = NULL;

		check(ve_engine_save(e, &err), "save: %s", err ? err->message : "");
	}
	ve_engine_free(e);
	e = engine(&w);
	vm_view(e, &v);
	check_u64(v.ledger->total_uj, before, "restored from the state file");
	check(!v.running, "known but not running");
	make_domain(&w, 4200);
	ve_engine_vm_started(e, UUID, "web", 1);
	period(e, 5000000);
	set_run_ns(&w, 4200, 4202, 50000000);
	set_busy(&w, w.busy_ticks + 50000000 / w.tick_ns);
	period(e, 6000000);
	vm_view(e, &v);
	check(v.running && v.n_threads == 3, "running again with its new threads");
	check_near(v.ledger->comp_uj[VE_COMP_VCPU], 400000 + 250000, 2,
		   "the counter continues where it stopped");
	ve_engine_host(e, &h);
	check_u64(h.ledger->total_uj + v.ledger->total_uj, h.energy_uj, "conservation after restart");
	ve_engine_free(e);
	world_free(&w);
}

static void set_disk(struct world *w, uint64_t ios, uint64_t sectors, uint64_t ticks_ms,
		     uint64_t vm_ios, uint64_t vm_bytes)
{
	char text[512];

	/* 14-field lines: reads merged sectors ms writes merged sectors ms inflight ticks queue */
	snprintf(text, sizeof(text),
		 "   8       0 sda %llu 0 %llu 0 0 0 0 0 0 %llu 0\n"
		 "   8       1 sda1 %llu 0 %llu 0 0 0 0 0 0 %llu 0\n"
		 "   7       0 loop0 999 0 999 0 0 0 0 0 0 999 0\n",
		 (unsigned long long)ios, (unsigned long long)sectors, (unsigned long long)ticks_ms,
		 (unsigned long long)ios, (unsigned long long)sectors, (unsigned long long)ticks_ms);
	fx_write(&w->fx, "proc/diskstats", text);
	set_blkio_reads(w, BLKIO, "8:1", vm_bytes, vm_ios);
}

/*
 * A disk world: the VM "web" in blkio v1 cgroups, the SSD sda with a
 * partition (and a loop device, which is no disk), one period primed.
 */
static struct ve_engine *disk_world(struct world *w)
{
	struct ve_engine *e;

	world_make(w, false);
	fx_write(&w->fx, "proc/4000/cgroup",
		 "4:cpu,cpuacct:/machine/qemu-1-web.libvirt-qemu/emulator\n"
		 "3:blkio:/machine/qemu-1-web.libvirt-qemu/emulator\n0::/\n");
	fx_write(&w->fx, "sys/block/sda/dev", "8:0\n");
	fx_write(&w->fx, "sys/block/sda/queue/rotational", "0\n");
	fx_write(&w->fx, "sys/block/sda/sda1/dev", "8:1\n");
	fx_write(&w->fx, "sys/block/sda/sda1/partition", "1\n");
	fx_write(&w->fx, "sys/block/loop0/dev", "7:0\n");
	set_disk(w, 1000, 8000, 10000, 400, 4000000);
	e = engine(w);
	ve_engine_vm_started(e, UUID, "web", 1);
	period(e, 1000000);
	return e;
}

/*
 * A disk: sda (an SSD: 0.6 W idle, 3 W active, 10 µJ per request, 4.528 pJ
 * per byte) with a partition sda1 that the VM's cgroup reports.  In one
 * second the disk was busy 500 ms: 0.6 J + 2.4 W × 0.5 s = 1.8 J.  The VM
 * did 100 requests and 1 MiB on sda1, the disk 150 and 1.5 MiB in all, so
 * the host's own I/O is a third of both and the 1.2 J dynamic split 2:1.
 * loop0 is not a disk.
 */
static void test_disk(void **state)
{
	struct world w;
	struct ve_engine *e;
	struct ve_vm_view v;
	struct ve_host_view h;

	(void)state;
	e = disk_world(&w);
	set_disk(&w, 1150, 8000 + 3072, 10500, 500, 4000000 + 1048576);
	period(e, 2000000);

	vm_view(e, &v);
	ve_engine_host(e, &h);
	check_near(v.ledger->comp_uj[VE_COMP_DISK], 800000, 2, "the VM's share of the disk");
	check_near(h.ledger->comp_uj[VE_COMP_DISK], 400000, 2, "the host's own I/O");
	check_near(v.ledger->dev_uj[VE_DEV_DISK], 800000 + 600000, 2, "disk incl. idle");
	check_u64(h.energy_uj, 1000000 + 1800000, "CPU idle 1 J + disk 1.8 J");
	check_u64(h.ledger->total_uj + v.ledger->total_uj, h.energy_uj, "conservation");
	ve_engine_free(e);
	world_free(&w);
}

/*
 * The host's own I/O is the disk's less the VMs', over their totals, not
 * period by period: cgroup statistics count at submission, diskstats at
 * completion, so a period's VM counts may run ahead of the disk's.  Here
 * the VM is ahead in one period and behind in the next, and all the I/O
 * was the VM's: the host gets none of it (per period, the second period's
 * surplus went to the host).  And io.stat counts bios, diskstats requests:
 * the VM's requests are the disk's in proportion to its bytes.
 */
static void test_disk_remainder(void **state)
{
	struct world w;
	struct ve_engine *e;
	struct ve_vm_view v;
	struct ve_host_view h;

	(void)state;
	e = disk_world(&w);
	/* 1 MiB on the disk, 1.5 MiB (in 3 bios, not 150) submitted by the VM */
	set_disk(&w, 1100, 8000 + 2048, 10500, 403, 4000000 + 1572864);
	period(e, 2000000);
	ve_engine_host(e, &h);
	check_u64(h.ledger->comp_uj[VE_COMP_DISK], 0, "the VM ahead: nothing for the host");
	/* 1 MiB more on the disk, 0.5 MiB more from the VM: it has caught up */
	set_disk(&w, 1200, 8000 + 4096, 11000, 404, 4000000 + 2097152);
	period(e, 3000000);
	vm_view(e, &v);
	ve_engine_host(e, &h);
	check_u64(h.ledger->comp_uj[VE_COMP_DISK], 0, "all of it was the VM's: the host's own is 0");
	check(v.ledger->comp_uj[VE_COMP_DISK] > 0, "the VM has the disk's dynamic energy");
	check_u64(h.ledger->total_uj + v.ledger->total_uj, h.energy_uj, "conservation");
	ve_engine_free(e);
	world_free(&w);
}

/*
 * A VM none of whose threads ran cannot have submitted I/O, so its block I/O
 * statistics are not read every period then, only once a second; a period
 * in which a thread of it ran reads them.  Nothing is lost: the bytes its
 * statistics gained meanwhile are counted by the next read.  Periods of
 * 100 ms here.
 */
static void test_disk_idle_vm(void **state)
{
	struct world w;
	struct ve_engine *e;
	struct ve_vm_view v;
	struct ve_host_view h;
	uint64_t after;

	(void)state;
	e = disk_world(&w);
	/* at 1.1 s: the VM's cgroup gained 1 MiB, but none of its threads ran: not read */
	set_disk(&w, 1100, 8000 + 2048, 10100, 500, 4000000 + 1048576);
	period(e, 1100000);
	vm_view(e, &v);
	check_u64(v.ledger->comp_uj[VE_COMP_DISK], 0, "an idle VM's statistics wait");
	/* at 1.2 s its vCPU ran: read, and the VM has the disk's next I/O */
	set_run_ns(&w, 4000, 4002, 1000000);
	set_disk(&w, 1200, 8000 + 4096, 10200, 500, 4000000 + 1048576);
	period(e, 1200000);
	vm_view(e, &v);
	after = v.ledger->comp_uj[VE_COMP_DISK];
	check(after > 0, "a VM whose thread ran is read");
	/* idle from here: what it gains at 1.3 s is read at 2.2 s, a second after the last read */
	set_disk(&w, 1300, 8000 + 6144, 10300, 600, 4000000 + 2097152);
	for (uint64_t t = 1300000; t <= 2100000; t += 100000) {
		period(e, t);
		vm_view(e, &v);
		check(v.ledger->comp_uj[VE_COMP_DISK] == after, "idle at %llu us: not read",
		      (unsigned long long)t);
	}
	set_disk(&w, 1400, 8000 + 8192, 10400, 600, 4000000 + 2097152);
	period(e, 2200000);
	vm_view(e, &v);
	check(v.ledger->comp_uj[VE_COMP_DISK] > after, "read a second after the last read");
	ve_engine_host(e, &h);
	check_u64(h.ledger->total_uj + v.ledger->total_uj, h.energy_uj, "conservation");
	ve_engine_free(e);
	world_free(&w);
}

/*
 * cpufreq: both CPUs at half their maximum frequency halve the modelled
 * dynamic power: 200 ms busy at 5 W per busy CPU × 0.5 = 0.5 J, plus 1 J
 * idle.  Per-CPU figures instead of per socket: 0.5 W idle and 5.5 W max per
 * CPU, two CPUs, give the same 1 W and 11 W socket.
 */
static void test_cpufreq(void **state)
{
	struct world w;
	struct ve_engine *e;
	struct ve_host_view h;

	(void)state;
	world_make(&w, false);
	w.cfg.host_idle_power_uw = 0;
	w.cfg.host_max_power_uw = 0;
	w.cfg.cpu_idle_power_uw = 500000;
	w.cfg.cpu_max_power_uw = 5500000;
	for (int cpu = 0; cpu < 2; cpu++) {
		char rel[128];

		snprintf(rel, sizeof(rel), "sys/devices/system/cpu/cpu%d/cpufreq/scaling_cur_freq", cpu);
		fx_write(&w.fx, rel, "1500000\n");
		snprintf(rel, sizeof(rel), "sys/devices/system/cpu/cpu%d/cpufreq/cpuinfo_max_freq", cpu);
		fx_write(&w.fx, rel, "3000000\n");
	}
	e = engine(&w);
	ve_engine_host(e, &h);
	check(strstr(h.sensor, "per CPU") != NULL, "sensor: %s", h.sensor);
	ve_engine_vm_started(e, UUID, "web", 1);
	period(e, 1000000);
	set_run_ns(&w, 4000, 4002, 100000000);
	set_busy(&w, 100 + 200000000 / w.tick_ns);
	period(e, 2000000);
	ve_engine_host(e, &h);
	check_u64(h.energy_uj, 1500000, "1 J idle + 0.5 J at half frequency");

	/* back at full speed: the next second costs 1 J idle + 1 J busy */
	fx_write(&w.fx, "sys/devices/system/cpu/cpu0/cpufreq/scaling_cur_freq", "3000000\n");
	fx_write(&w.fx, "sys/devices/system/cpu/cpu1/cpufreq/scaling_cur_freq", "3000000\n");
	set_run_ns(&w, 4000, 4002, 200000000);
	set_busy(&w, w.busy_ticks + 200000000 / w.tick_ns);
	period(e, 3000000);
	ve_engine_host(e, &h);
	check_u64(h.energy_uj, 1500000 + 2000000, "full frequency");
	ve_engine_free(e);
	world_free(&w);
}

/*
 * Calibration against RAPL: a package that really costs 2 W idle plus 4 W
 * per busy CPU-second (4000 pJ per ns of run time), with varying load, and
 * a DRAM domain that counts nothing.  Run times are whole clock ticks, so
 * that /proc/stat's busy time says exactly what ran and the fit has an
 * exact answer.  Fits are tried every ten periods (periods 10, 20 and 30:
 * three per domain).  The defaults (1 W idle) would give the VM a 1 J
 * static share and leave the dynamic energy off by it; the fitted weights
 * give the answer of the package's own law.
 */
static void test_calibration(void **state)
{
	struct world w;
	struct ve_engine *e;
	struct ve_host_view h;
	struct ve_vm_view v;
	uint64_t vcpu_ns = 0, energy = PKG_MAX - 1000000, busy = 100;   /* as world_make() left it */
	uint64_t vcpu0_uj, idle0_uj, host0_uj, run, host;
	uint64_t seed = 7;

	(void)state;
	world_make(&w, true);
	e = engine(&w);
	ve_engine_vm_started(e, UUID, "web", 1);
	period(e, 1000000);
	for (int i = 1; i <= 30; i++) {
		run = w.tick_ns * (10 + test_rand_below(&seed, 80));   /* 0.1 .. 0.9 s */
		host = w.tick_ns * test_rand_below(&seed, 30);

		vcpu_ns += run;
		set_run_ns(&w, 4000, 4002, vcpu_ns);
		busy += (run + host) / w.tick_ns;
		set_busy(&w, busy);
		energy += 2000000 + 4 * (run + host) / 1000;   /* µJ: 2 W idle + 4 W per busy s */
		set_energy(&w, "intel-rapl:0", energy % PKG_MAX);   /* wraps in the first period */
		period(e, 1000000 + (uint64_t)i * 1000000);
	}
	ve_engine_host(e, &h);
	check_u64(h.calibrations, 6, "fits applied: 3 for the package, 3 for DRAM");
	check(!h.estimated, "measured");

	/* one more second: 300 ms of vCPU, 100 ms of the host's own */
	vm_view(e, &v);
	vcpu0_uj = v.ledger->comp_uj[VE_COMP_VCPU];
	idle0_uj = v.ledger->comp_uj[VE_COMP_IDLE];
	host0_uj = h.ledger->comp_uj[VE_COMP_CPU];
	run = 300000000;
	host = 100000000;
	vcpu_ns += run;
	set_run_ns(&w, 4000, 4002, vcpu_ns);
	busy += (run + host) / w.tick_ns;
	set_busy(&w, busy);
	energy += 2000000 + 4 * (run + host) / 1000;
	set_energy(&w, "intel-rapl:0", energy % PKG_MAX);
	period(e, 32000000);
	vm_view(e, &v);
	ve_engine_host(e, &h);
	check_near(v.ledger->comp_uj[VE_COMP_IDLE] - idle0_uj, 2000000, 2,
		   "the fitted idle power, 2 W, is the VM's static share");
	check_near(v.ledger->comp_uj[VE_COMP_VCPU] - vcpu0_uj, 1200000, 2,
		   "4000 pJ/ns x 300 ms of vCPU");
	check_near(h.ledger->comp_uj[VE_COMP_CPU] - host0_uj, 400000, 2,
		   "4000 pJ/ns x 100 ms of the host's own");
	check_u64(h.ledger->total_uj + v.ledger->total_uj, h.energy_uj, "conservation");
	ve_engine_free(e);
	world_free(&w);
}

/* A corrupt state file is set aside with a warning; the daemon starts afresh. */
static void test_corrupt_state(void **state)
{
	struct world w;
	g_autoptr(GError) err = NULL;
	g_autofree char *warning = NULL;
	struct ve_engine *e;
	char path[PATH_MAX + 32];
	FILE *f;

	(void)state;
	world_make(&w, false);
	snprintf(path, sizeof(path), "%s/state", w.state);
	f = fopen(path, "w");
	check(f != NULL, "write state");
	fputs("[virtenergy]\nversion=1\nenergy_uj=12\n", f);
	fclose(f);
	e = ve_engine_new(w.fx.fd, &w.cfg, w.state_fd, &warning, &err);
	check(e != NULL, "engine starts: %s", err ? err->message : "");
	check(warning && strstr(warning, "empty counters"), "warned: %s", warning ? warning : "");
	check(access(path, F_OK) != 0, "the corrupt file was moved aside");
	ve_engine_free(e);
	world_free(&w);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_rapl_period),
		cmocka_unit_test(test_rapl_unreadable),
		cmocka_unit_test(test_model_and_lifecycle),
		cmocka_unit_test(test_disk),
		cmocka_unit_test(test_disk_remainder),
		cmocka_unit_test(test_disk_idle_vm),
		cmocka_unit_test(test_cpufreq),
		cmocka_unit_test(test_calibration),
		cmocka_unit_test(test_corrupt_state),
	};

	return cmocka_run_group_tests_name("engine", tests, NULL, NULL);
}
