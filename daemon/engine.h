/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * engine.h: one accounting period of the daemon, from the host's files to
 * the ledger.  It owns the accounts, the sampler and every watched thread;
 * it knows nothing of libvirt beyond what it is told (domain started,
 * stopped), so it runs the same against a live host and a fixture root.
 *
 * Per period (ve_engine_period):
 *   1. list the threads of the running VMs due for it (threadmap.h: when
 *      started or told to rescan, else every vm-thread-scan-ms), watch new
 *      ones, take a last reading of threads that are gone, then forget them;
 *   2. read every thread's counters (sampler.h) and take deltas;
 *   3. the host's own CPU time = busy time of /proc/stat minus what the
 *      sampled threads ran, per socket;
 *   4. the host's energy: RAPL package and DRAM domains through powercap,
 *      or, without RAPL, the host power model (idle and maximum power per
 *      socket, linear in busy time), flagged estimated;
 *   5. attribute (attrib.h) and add to the ledger.
 *
 * A VM that stops keeps its account slot, inactive, so its ledger entry
 * continues when it starts again; its threads' final counts are still
 * charged to it in the period that notices them gone.
 *
 * Errors are GError for what a person reads (the daemon logs them).  Not
 * thread-safe: the main loop owns it.
 */
#pragma once

#include <glib.h>
#include <stdbool.h>
#include <sys/types.h>

#include "attrib.h"
#include "config.h"
#include "ledger.h"

struct ve_engine;

struct ve_vm_view {
	const char *uuid;
	const char *name;
	bool running;
	bool undefined;             /* libvirt no longer knows it */
	bool gone;                  /* ...at all: to be retired (ve_engine_vm_gone) */
	unsigned int vcpus;
	unsigned int n_threads;
	pid_t pid;                  /* QEMU's pid once found, else 0 */
	const struct ve_ledger_entry *ledger;
	uint64_t power_uw;          /* over the last report interval */
};

struct ve_host_view {
	uint64_t energy_uj;         /* cumulative, everything attributed */
	uint64_t power_uw;          /* over the last report interval */
	const struct ve_ledger_entry *ledger;  /* the host account */
	const uint64_t *reason_uj;  /* VE_REASON__MAX entries */
	uint64_t own_uj;            /* the host's own work (ve_ledger_host_own_uj) */
	uint64_t unattributed_uj;   /* what no VM could take: Σ reason_uj */
	bool estimated;
	bool has_dram;              /* a DRAM domain is measured */
	const char *sensor;         /* "RAPL (powercap): 2 zones" or "host power model" */
	const char *sampler;        /* the sampler's mode */
	const char *io_source;      /* where each VM's block I/O comes from */
	uint64_t periods;
	unsigned int calibrations;  /* weight fits applied so far */
};

/* A shared service ([service NAME] of the configuration; engine_services.c). */
struct ve_service_view {
	const char *name;
	const char *found_by;       /* "unit", "cgroup", "exe" or "pidfile" */
	unsigned int n_processes;   /* found at the last listing */
	unsigned int n_threads;     /* watched */
	const char *problem;        /* why none was found, NULL when found */
	const struct ve_ledger_entry *ledger;   /* passed_on_uj: what it spent for its clients */
	uint64_t power_uw;          /* passed on, over the last report interval */
	const char *io_cgroup;      /* its own block I/O is this cgroup's (under the root), or NULL: */
	const char *io_problem;     /* ...why not (it stays the host's own) */
	bool io_in_module;          /* counted by virtenergy.ko, else the cgroup's statistics */
	unsigned int io_gen;        /* bumped when any of these three changes */
};

/*
 * Create an engine over @root_fd (borrowed) with @cfg (borrowed, must
 * outlive it).  Opens the sampler and looks for RAPL.  Restores the ledger
 * from @state_dir_fd's state file when there is one (a corrupt one is set
 * aside and reported in *@warning, which the caller frees).
 */
struct ve_engine *ve_engine_new(int root_fd, const struct ve_config *cfg, int state_dir_fd,
				char **warning, GError **error);

/*
 * The same engine inside a guest (guestmode.h): energy from the
 * powercap-shaped tree @source (the host's export of this VM as shared
 * in, or the guest kernel's own sys/class/powercap), one package device
 * split by CPU time; accounts the child cgroups of @cgroup_parent (those
 * with a cgroup.procs), listed every period, their activity their CPU time
 * (ve_cgroup_read_cpu_usage); the guest's CPU time outside them, from
 * @root_fd's proc/stat, on the host account as the guest's own.  A VM
 * view's uuid and name are then the cgroup's name.  @state_dir_fd < 0:
 * no state file.  A missing source or parent is an error naming it.
 */
struct ve_engine *ve_engine_new_guest(int root_fd, const struct ve_config *cfg, int state_dir_fd,
				      const char *source, const char *cgroup_parent, char **warning,
				      GError **error);

/* Guest mode: the source's power limit now (the VM's own), FALSE when it has none or it cannot be read. */
gboolean ve_engine_source_limit_uw(struct ve_engine *e, uint64_t *ret_uw);

/* Guest mode: the directory of the cgroup account @name, NULL when unknown. */
const char *ve_engine_vm_cgroup(struct ve_engine *e, const char *name);
void ve_engine_free(struct ve_engine *e);

/*
 * libvirt told us a domain runs / stopped.  Idempotent: vm_started returns
 * true only when the VM was not running before (libvirt's STARTED and the
 * RESUMED that follows every start both land here).
 */
bool ve_engine_vm_started(struct ve_engine *e, const char *uuid, const char *name,
			  unsigned int vcpus);
void ve_engine_vm_stopped(struct ve_engine *e, const char *uuid);

/*
 * The VM's threads may have changed (libvirt said a device was added or
 * removed, a tunable changed, the guest rebooted): list them in the next
 * period rather than at the next vm-thread-scan-ms.  Unknown UUIDs are ignored.
 */
void ve_engine_vm_rescan(struct ve_engine *e, const char *uuid);

/*
 * libvirt no longer has the domain at all (a transient domain that was
 * destroyed, a persistent one undefined while stopped, one that vanished
 * while the daemon was away).  Once its final readings are in, and with
 * @at_once false once the configuration's retain-undefined time has also
 * passed (counted from this call), the VM is retired: its counters are
 * folded into the host's retired total (the state file's retired_uj), so
 * Σ accounts + retired = energy still holds, and it leaves the views and
 * the state file.  A domain that comes back before then is kept.  @fn (may
 * be NULL) hears of each retirement, with the VM's total.
 */
typedef void (*ve_engine_retired_fn)(void *ud, const char *uuid, const char *name, uint64_t total_uj);
void ve_engine_vm_gone(struct ve_engine *e, const char *uuid, bool at_once);
void ve_engine_on_retired(struct ve_engine *e, ve_engine_retired_fn fn, void *ud);
uint64_t ve_engine_retired_uj(const struct ve_engine *e);

/*
 * A domain's definition was removed from libvirt.  Its counters are kept
 * (and stay in the state file) for whoever bills it; the view says so.
 */
void ve_engine_vm_undefined(struct ve_engine *e, const char *uuid);

/*
 * Run one period ending at @now_us (CLOCK_MONOTONIC).  The first call only
 * primes the counters.  FALSE with @error when the period was refused; the
 * ledger is then unchanged and the next period covers the gap.
 */
gboolean ve_engine_period(struct ve_engine *e, uint64_t now_us, GError **error);

/*
 * When the period after the one run at @now_us should run: the
 * configuration's period later, or, where virtenergy.ko samples the
 * threads, just after the module period that ends nearest that time
 * (period.h), so the module's deltas and the energy read cover the same
 * time.
 */
uint64_t ve_engine_next_period_us(struct ve_engine *e, uint64_t now_us);

/* Write the state file now (nothing without a state directory).  FALSE with @error (the old file is kept). */
/* The state file's name in the state directory. */
#define VE_ENGINE_STATE_FILE "state"

struct ve_state;
gboolean ve_engine_save(struct ve_engine *e, GError **error);

/*
 * The state ve_engine_save() would write, for a writer that saves it
 * elsewhere (diskwriter.h): its seq is one past the last one handed out, so
 * that the files it becomes go up even where some are never written.  NULL
 * without a state directory, or with @error.  The caller owns it.
 */
struct ve_state *ve_engine_state_next(struct ve_engine *e, GError **error);

/* Recompute per-VM power over the time since the last call. */
void ve_engine_report_tick(struct ve_engine *e, uint64_t now_us);

/* Views for output (valid until the next engine call). */
void ve_engine_host(struct ve_engine *e, struct ve_host_view *ret);
size_t ve_engine_n_vms(struct ve_engine *e);
void ve_engine_vm(struct ve_engine *e, size_t i, struct ve_vm_view *ret);

/* The VM @uuid's view, by the registry's index (not a scan); false when it has none. */
bool ve_engine_vm_find(struct ve_engine *e, const char *uuid, struct ve_vm_view *ret);

/* The running VM whose QEMU process is @pid: its index, or -1. */
ssize_t ve_engine_vm_by_pid(struct ve_engine *e, pid_t pid);

/* Shared services (host mode; none in guest mode). */
size_t ve_engine_n_services(struct ve_engine *e);
void ve_engine_service(struct ve_engine *e, size_t i, struct ve_service_view *ret);

/*
 * The service that listens on the unix socket @path (an absolute path:
 * proc/net/unix under the root, and the services' file descriptors), or
 * -1.  Costs a read of proc/net/unix and of the services' fd directories:
 * ask when a VM starts, not every period.
 */
ssize_t ve_engine_service_by_socket(struct ve_engine *e, const char *path);

/* The service that switches bridge @bridge (its configuration's bridges=), or -1. */
ssize_t ve_engine_service_by_bridge(struct ve_engine *e, const char *bridge);

/*
 * Service @service did @work (bytes) for the running VM @uuid since the
 * last period: counted in the next.  FALSE (nothing counted) for an
 * unknown service or VM, a VM not running, or no work.
 */
gboolean ve_engine_service_use(struct ve_engine *e, size_t service, const char *uuid,
			       uint64_t work);

/* The registry of VMs (registry.h), made and freed by the engine; others borrow it. */
struct ve_registry *ve_engine_registry(struct ve_engine *e);

/* The root the engine reads under (borrowed; `--root`), for actuators that write sysfs. */
int ve_engine_root_fd(struct ve_engine *e);
