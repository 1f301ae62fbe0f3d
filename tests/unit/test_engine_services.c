// SPDX-License-Identifier: GPL-2.0-or-later
/*
 * Shared services in the engine on a fixture root (engine_world.h): a
 * storage service found by its pid file that uses a backup service found
 * by its executable, the socket the storage service listens on, work told
 * for the VM, the chain's energy reaching it, a service idle, the
 * counters across a restart, and a service's own block I/O from its
 * cgroup reaching its client.
 */
#include "engine_world.h"

static void add_services(struct world *w)
{
	static const char *const uses[] = { "backup", NULL };
	static const char *const bridges[] = { "br-ve", NULL };

	w->cfg.services = g_new0(struct ve_service_conf, 3);
	w->cfg.services[0] = (struct ve_service_conf){ g_strdup("storage"), VE_SERVICE_BY_PIDFILE,
						       g_strdup("/run/storage.pid"),
						       g_strdupv((char **)uses), NULL };
	w->cfg.services[1] = (struct ve_service_conf){ g_strdup("backup"), VE_SERVICE_BY_EXE,
						       g_strdup("/usr/sbin/backupd"), NULL,
						       g_strdupv((char **)bridges) };
	w->cfg.services[2] = (struct ve_service_conf){ g_strdup("absent"), VE_SERVICE_BY_UNIT,
						       g_strdup("absent.service"), NULL, NULL };
	w->cfg.n_services = 3;
	fx_write(&w->fx, "run/storage.pid", "5000\n");
	add_thread(w, 5000, 5000, "qemu-storage-d");
	add_thread(w, 5000, 5001, "iothread");
	add_thread(w, 5100, 5100, "backupd");
	fx_symlink(&w->fx, "/usr/sbin/backupd", "proc/5100/exe");
	fx_symlink(&w->fx, "/usr/bin/other", "proc/5000/exe");
	/* storage listens on /run/store.sock (inode 777), holding it as fd 3 */
	fx_write(&w->fx, "proc/net/unix",
		 "Num       RefCount Protocol Flags    Type St Inode Path\n"
		 "0000000000000000: 00000002 00000000 00010000 0001 01 777 /run/store.sock\n"
		 "0000000000000000: 00000003 00000000 00000000 0001 03 778 /run/store.sock\n"
		 "0000000000000000: 00000002 00000000 00010000 0001 01 900 /run/other.sock\n");
	fx_symlink(&w->fx, "socket:[777]", "proc/5000/fd/3");
	fx_symlink(&w->fx, "/dev/null", "proc/5000/fd/0");
}

static void service_view(struct ve_engine *e, const char *name, struct ve_service_view *ret)
{
	for (size_t i = 0; i < ve_engine_n_services(e); i++) {
		ve_engine_service(e, i, ret);
		if (strcmp(ret->name, name) == 0)
			return;
	}
	fail_msg("no service %s", name);
}

/*
 * The model (1 W idle, 11 W busy per socket: 5 µJ per ms of CPU on one
 * of its two CPUs): storage runs 100 ms, backup 50 ms in a second in which
 * storage did 4096 bytes for the VM, so both reach the VM: 0.5 J + 0.25 J
 * as its service component.
 */
static void test_chain(void **state)
{
	struct world w;
	struct ve_engine *e;
	struct ve_vm_view v;
	struct ve_host_view h;
	struct ve_service_view sv;
	uint64_t passed;

	(void)state;
	world_make(&w, false);
	w.cfg.period_us = 1000000;   /* a one-period window: each second stands alone */
	add_services(&w);
	e = engine(&w);
	check_u64(ve_engine_n_services(e), 3, "three services");
	ve_engine_vm_started(e, UUID, "web", 1);
	period(e, 1000000);
	check(ve_engine_service_by_socket(e, "/run/store.sock") == 0, "storage listens on store.sock");
	check(ve_engine_service_by_socket(e, "/run/other.sock") == -1, "nobody declared listens on other.sock");
	check(ve_engine_service_by_socket(e, "/run/none.sock") == -1, "no such socket");
	check(ve_engine_service_by_socket(e, "relative.sock") == -1, "a relative path is nobody's");
	check(ve_engine_service_by_bridge(e, "br-ve") == 1, "backup switches br-ve");
	check(ve_engine_service_by_bridge(e, "virbr0") == -1, "nobody declared switches virbr0");
	service_view(e, "storage", &sv);
	check(sv.n_processes == 1 && sv.n_threads == 2 && !sv.problem, "storage: 1 process, 2 threads");
	service_view(e, "backup", &sv);
	check(sv.n_processes == 1 && sv.n_threads == 1, "backup found by its executable");
	service_view(e, "absent", &sv);
	check(sv.n_processes == 0 && sv.problem && strstr(sv.problem, "absent.service"),
	      "a service not found says why: %s", sv.problem ? sv.problem : "(nothing)");

	check(!ve_engine_service_use(e, 7, UUID, 10), "an unknown service is refused");
	check(!ve_engine_service_use(e, 0, "00000000-0000-0000-0000-000000000000", 10), "an unknown VM");
	check(ve_engine_service_use(e, 0, UUID, 4096), "work for the VM");
	set_run_ns(&w, 5000, 5000, 60000000);
	set_run_ns(&w, 5000, 5001, 40000000);
	set_run_ns(&w, 5100, 5100, 50000000);
	set_busy(&w, w.busy_ticks + 150000000 / w.tick_ns);
	period(e, 2000000);
	vm_view(e, &v);
	check_near(v.ledger->comp_uj[VE_COMP_SERVICE], 750000, 3, "storage's and backup's energy on the VM");
	service_view(e, "storage", &sv);
	check_near(sv.ledger->passed_on_uj, 500000, 2, "storage passed on its own");
	check_u64(sv.ledger->total_uj, 0, "a service keeps nothing");
	service_view(e, "backup", &sv);
	check_near(sv.ledger->passed_on_uj, 250000, 2, "backup passed on its own (to storage)");
	ve_engine_host(e, &h);
	check_u64(h.reason_uj[VE_REASON_SERVICE_NO_CLIENTS], 0, "nothing lost");
	check_u64(h.ledger->total_uj + v.ledger->total_uj, h.energy_uj, "conservation");

	/* a second without work: both services' energy to the host, with the reason */
	set_run_ns(&w, 5000, 5000, 80000000);
	set_run_ns(&w, 5100, 5100, 60000000);
	set_busy(&w, w.busy_ticks + 30000000 / w.tick_ns);
	period(e, 3000000);
	vm_view(e, &v);
	check_near(v.ledger->comp_uj[VE_COMP_SERVICE], 750000, 3, "nothing more for the VM");
	ve_engine_host(e, &h);
	check_near(h.reason_uj[VE_REASON_SERVICE_NO_CLIENTS], 150000, 2, "idle services: no clients");
	check_u64(h.ledger->total_uj + v.ledger->total_uj, h.energy_uj, "conservation");

	/* a thread that goes is dropped at the next listing */
	fx_remove_rel(&w.fx, "proc/5000/task/5001");
	period(e, 4000000);
	service_view(e, "storage", &sv);
	check_u64(sv.n_threads, 1, "its exited thread is no longer watched");

	/* restart: the counters continue */
	service_view(e, "storage", &sv);
	passed = sv.ledger->passed_on_uj;
	{
		g_autoptr(GError) err = NULL;

		check(ve_engine_save(e, &err), "save: %s", err ? err->message : "");
	}
	ve_engine_free(e);
	e = engine(&w);
	service_view(e, "storage", &sv);
	check_u64(sv.ledger->passed_on_uj, passed, "storage's counter restored");
	ve_engine_free(e);
	world_free(&w);
}

/* The window: a period's service energy split by the last second's work. */
static void test_window(void **state)
{
	struct world w;
	struct ve_engine *e;
	struct ve_vm_view v;
	struct ve_host_view h;

	(void)state;
	world_make(&w, false);
	add_services(&w);
	e = engine(&w);   /* 100 ms periods: a window of ten */
	ve_engine_vm_started(e, UUID, "web", 1);
	period(e, 100000);
	ve_engine_service_use(e, 0, UUID, 4096);
	period(e, 200000);
	/* the service works in the next period, with no bytes counted in it */
	set_run_ns(&w, 5000, 5000, 10000000);
	set_busy(&w, w.busy_ticks + 10000000 / w.tick_ns);
	period(e, 300000);
	vm_view(e, &v);
	ve_engine_host(e, &h);
	check_near(v.ledger->comp_uj[VE_COMP_SERVICE], 50000, 2, "the lagging energy reaches the VM");
	check_u64(h.reason_uj[VE_REASON_SERVICE_NO_CLIENTS], 0, "nothing to the host");
	/* a second later the work has left the window */
	for (uint64_t t = 400000; t <= 1300000; t += 100000)
		period(e, t);
	set_run_ns(&w, 5000, 5000, 20000000);
	set_busy(&w, w.busy_ticks + 10000000 / w.tick_ns);
	period(e, 1400000);
	ve_engine_host(e, &h);
	check_near(h.reason_uj[VE_REASON_SERVICE_NO_CLIENTS], 50000, 2, "out of the window: no clients");
	ve_engine_free(e);
	world_free(&w);
}

#define SVC_BLKIO "sys/fs/cgroup/blkio/system.slice/storage.service"

/* diskstats of sda (150 requests, 1.5 MiB, busy 500 ms more than at @base) and storage's cgroup */
static void svc_disk(struct world *w, int at, uint64_t svc_bytes, uint64_t svc_bios)
{
	char text[256];

	snprintf(text, sizeof(text), "   8       0 sda %d 0 %d 0 0 0 0 0 0 %d 0\n", 1000 + 150 * at,
		 8000 + 3072 * at, 10000 + 500 * at);
	fx_write(&w->fx, "proc/diskstats", text);
	set_blkio_reads(w, SVC_BLKIO, "8:0", svc_bytes, svc_bios);
}

/*
 * A service's own block I/O: storage runs in a blkio cgroup of its own and
 * reads 1 MiB of the 1.5 MiB sda moved in a second (sda: an SSD, 0.6 W
 * idle, 3 W active, busy 500 ms: 1.2 J dynamic, split by requests and
 * bytes, storage's 2:1 against the rest).  The VM did no I/O of its own but
 * was storage's only client: storage's 0.8 J of disk energy reach it as its
 * service component.  backup, in the root cgroup, takes none (the whole
 * host's).  Once another process joins storage's cgroup, its I/O is no
 * longer storage's alone and stays the host's.
 */
static void test_service_io(void **state)
{
	struct world w;
	struct ve_engine *e;
	struct ve_vm_view v;
	struct ve_host_view h;
	struct ve_service_view sv;
	uint64_t vm_disk, host_disk;

	(void)state;
	world_make(&w, false);
	w.cfg.period_us = 1000000;
	add_services(&w);
	fx_write(&w.fx, "sys/block/sda/dev", "8:0\n");
	fx_write(&w.fx, "sys/block/sda/queue/rotational", "0\n");
	fx_write(&w.fx, "proc/5000/cgroup", "4:cpu,cpuacct:/system.slice/storage.service\n"
		 "3:blkio:/system.slice/storage.service\n0::/\n");
	fx_write(&w.fx, "proc/5100/cgroup", "4:cpu,cpuacct:/\n3:blkio:/\n0::/\n");
	fx_write(&w.fx, SVC_BLKIO "/cgroup.procs", "5000\n");
	svc_disk(&w, 0, 4000000, 400);
	e = engine(&w);
	ve_engine_vm_started(e, UUID, "web", 1);
	period(e, 1000000);
	service_view(e, "storage", &sv);
	check(sv.io_cgroup && strcmp(sv.io_cgroup, SVC_BLKIO) == 0 && !sv.io_in_module,
	      "storage's I/O from its cgroup's statistics: %s", sv.io_cgroup ? sv.io_cgroup : sv.io_problem);
	service_view(e, "backup", &sv);
	check(!sv.io_cgroup && sv.io_problem && strstr(sv.io_problem, "root cgroup"),
	      "backup, in the root cgroup, takes no I/O: %s", sv.io_problem ? sv.io_problem : "(nothing)");

	check(ve_engine_service_use(e, 0, UUID, 4096), "work for the VM");
	svc_disk(&w, 1, 4000000 + 1048576, 400 + 3);   /* 3 bios, counted as 100 requests */
	period(e, 2000000);
	vm_view(e, &v);
	ve_engine_host(e, &h);
	check_u64(v.ledger->comp_uj[VE_COMP_DISK], 0, "the VM did no I/O of its own");
	check_near(v.ledger->dev_uj[VE_DEV_DISK] - 600000, 800000, 3,
		   "storage's disk energy reached the VM (beyond the disk's 0.6 J idle)");
	check(v.ledger->comp_uj[VE_COMP_SERVICE] >= 800000 - 3, "as its service component");
	check_near(h.ledger->comp_uj[VE_COMP_DISK], 400000, 3, "the rest is the host's own I/O");
	check_u64(h.ledger->total_uj + v.ledger->total_uj, h.energy_uj, "conservation");

	/* another process joins storage's cgroup: not storage's alone, the host's */
	fx_write(&w.fx, SVC_BLKIO "/cgroup.procs", "5000\n5200\n");
	check(ve_engine_service_use(e, 0, UUID, 4096), "more work for the VM");
	svc_disk(&w, 2, 4000000 + 2 * 1048576, 400 + 6);
	vm_disk = v.ledger->dev_uj[VE_DEV_DISK];
	host_disk = h.ledger->comp_uj[VE_COMP_DISK];
	period(e, 3000000);
	service_view(e, "storage", &sv);
	check(!sv.io_cgroup && sv.io_problem && strstr(sv.io_problem, "other processes"),
	      "a shared cgroup is not storage's: %s", sv.io_problem ? sv.io_problem : "(nothing)");
	vm_view(e, &v);
	ve_engine_host(e, &h);
	check_near(v.ledger->dev_uj[VE_DEV_DISK] - vm_disk, 600000, 3, "the VM: the idle share only");
	check_near(h.ledger->comp_uj[VE_COMP_DISK] - host_disk, 1200000, 3, "the host: all the I/O");
	check_u64(h.ledger->total_uj + v.ledger->total_uj, h.energy_uj, "conservation");
	ve_engine_free(e);
	world_free(&w);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_chain),
		cmocka_unit_test(test_window),
		cmocka_unit_test(test_service_io),
	};

	return cmocka_run_group_tests_name("engine-services", tests, NULL, NULL);
}
