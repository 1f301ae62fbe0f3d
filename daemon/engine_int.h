/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * engine_int.h: the engine's own state, shared by its files only:
 * engine.c (the VM registry and the period), engine_threads.c (the VMs'
 * threads),
 * engine_host.c (the host's devices: RAPL zones to packages, disks, the
 * host power model with frequency scaling, calibration, block I/O),
 * engine_guest.c (guest mode's energy source and cgroup accounts),
 * engine_services.c and engine_service_find.c (shared services) and
 * engine_state.c (saving and restoring the accounts).  Nothing outside the
 * engine includes it.
 */
#pragma once

#include <gio/gio.h>

#include "blockdev.h"
#include "calib.h"
#include "cgroup.h"
#include "cpustat.h"
#include "diskstats.h"
#include "engine.h"
#include "powercap.h"
#include "registry.h"
#include "sampler.h"
#include "threadmap.h"

#define STATE_FILE VE_ENGINE_STATE_FILE
#define MAX_DISKS 64
#define MAX_DEV (2 * VE_MAX_SOCKETS + MAX_DISKS)

/* cumulative block I/O of one VM on one device, as its cgroup reported it */
struct blkio_prev {
	uint32_t major, minor;
	uint64_t ios, bytes;
};

/* cumulative counters of one disk from diskstats */
struct disk_prev {
	bool primed;
	uint64_t ios, bytes, ticks_ms;
	/*
	 * What the disk did and the VMs' share of it, since it was primed: the
	 * host's own is the difference of these totals, not of each period's,
	 * so a period whose VM counts run ahead of the disk's (io.stat counts
	 * at submission, diskstats at completion; the module at its own period
	 * end) takes back what the next one gives the host, and no sign of the
	 * difference is rounded away.
	 */
	uint64_t disk_ios, disk_bytes, vm_ios, vm_bytes, host_ios, host_bytes;
};

/*
 * One account's block I/O (a VM's, a service's), from its cgroup: counted
 * by the module where the sampler is the module, else read from the
 * cgroup's statistics.
 */
struct io_src {
	char rel[512];                 /* its blkio (v1) or unified (v2) cgroup dir; "" none */
	bool v2;
	GArray *prev;                  /* struct blkio_prev: cumulative, per device */
	uint64_t cg_id;                /* its cgroup, watched in the sampler (the module), or 0 */
	struct ve_blkio_files files;   /* its cgroup's block I/O statistics, held open */
};

struct vm {
	char *uuid;
	char *state_key;               /* its account's key in the state file ("vm:UUID", "cgroup:NAME") */
	char *name;
	uint32_t slot;
	bool running;
	bool undefined;
	bool gone;                     /* libvirt has no such domain any more: retire it */
	bool retire_now;               /* gone with its stop (transient): no retention */
	uint64_t gone_us;              /* when we learnt it (e->last_us then) */
	unsigned int vcpus;
	bool located;
	struct ve_domain_threads dt;
	unsigned int n_threads;        /* threads watched for it */
	struct io_src io;              /* its block I/O, from its cgroup (dt.blkio_rel) */
	uint64_t gen;                  /* bumped by every listing of its threads */
	uint64_t next_scan_us;
	bool scanned;                  /* listed this period */
	bool ran;                      /* a thread of it ran this period: its block I/O may have moved */
	uint64_t io_read_us;           /* its block I/O statistics last read (engine_sample_disks()) */
	uint64_t report_total_uj;      /* ledger total at the last report tick */
	uint64_t power_uw;
	/* guest mode: the account is the cgroup cg_dir, its activity its CPU time */
	char *cg_dir;
	bool cg_primed;
	uint64_t cg_prev_ns;
};

struct thread {
	pid_t pid, tid;                /* its process (proc/PID/task/TID) and itself */
	uint32_t slot;
	enum ve_component comp;
	struct vm *vm;
	struct ve_watch *w;
	uint64_t gen;
	guint idx;                     /* its place in e->thread_list */
};

struct ve_engine {
	int root_fd;
	int state_dir_fd;
	const struct ve_config *cfg;
	struct ve_sampler *sampler;
	struct ve_powercap *pc;
	struct ve_account_table *accounts;
	struct ve_attrib *attrib;
	struct ve_result result;
	struct ve_ledger ledger;
	GPtrArray *vms;                /* struct vm*, in slot order of creation (the registry's) */
	struct ve_registry *reg;       /* every VM, once: its VE_REG_ENGINE slot is its struct vm */
	GHashTable *threads;           /* tid -> struct thread* */
	GPtrArray *thread_list;        /* the same, in the order they came (thread.idx) */
	unsigned int *socket_of_cpu;
	size_t n_cpu_map;
	struct ve_cpustat stat;
	bool have_stat;
	uint64_t last_us;              /* end of the last period, 0 before the first */
	uint64_t clk_tck;
	GArray *samples;               /* struct ve_thread_sample */
	struct ve_device dev[MAX_DEV];
	struct ve_calib_window *calib[MAX_DEV];   /* measured devices only */
	size_t n_dev;
	size_t first_disk;             /* dev[first_disk ..] are disks.disk[0 ..] */
	struct ve_disks disks;
	struct disk_prev disk_prev[MAX_DISKS];
	GArray *io;                    /* struct ve_io_sample */
	GArray *io_bios;               /* guint: the samples of e->io that count bios */
	unsigned int calib_fits;
	double busy_weight_pj[VE_MAX_SOCKETS];   /* host model at maximum frequency */
	struct cpu_freq {
		int cur_fd;                      /* scaling_cur_freq, -1: none */
		uint64_t max_khz;
	} *freq;                                 /* per CPU, opened at the first period */
	size_t n_freq;
	char sensor[96];
	uint64_t report_us, report_energy_uj, host_power_uw;
	uint64_t state_seq;
	uint64_t retired_uj;           /* totals of retired VMs, kept in the state file */
	bool estimated;
	bool guest;                    /* guest mode (engine_guest.c) */
	char *cg_parent;               /* guest mode: accounts are its child cgroups */
	char *sensor_path;             /* where the zones are, for messages */
	ve_engine_retired_fn on_retired;
	void *retired_ud;
	/* engine_services.c */
	GPtrArray *services;           /* struct service*, in configuration order */
	GArray *pending_uses;          /* uses told since the last period */
	GArray *uses;                  /* struct ve_service_use: the period's */
	GArray *window_uses;           /* the told uses of the window, summed per service and client */
	GArray *use_ring[64];          /* the told uses of each of the window's periods */
	guint use_len, use_pos;
};

/* Services' energy is split by their clients' work over this long (engine_services.c). */
#define VE_USE_WINDOW_US 1000000u

/* engine.c: the VM @uuid, added (inactive, with a fresh account) when new; NULL when no account is left */
struct vm *engine_vm_get(struct ve_engine *e, const char *uuid, const char *name,
			 unsigned int vcpus);

/* engine_threads.c */
void engine_thread_free(struct ve_engine *e, struct thread *t);
/*
 * Read thread @tid of @pid, watched as @w, and append its sample for
 * account @slot as @comp, adding its run time to its socket's; false when
 * it could not be read.
 */
bool engine_sample_thread(struct ve_engine *e, struct ve_watch *w, pid_t pid, pid_t tid,
			  uint32_t slot, enum ve_component comp, uint64_t *run_ns_by_socket);
/* List the running VMs' threads (every thread-scan-ms), read every watched one into e->samples. */
void engine_sample_vm_threads(struct ve_engine *e, uint64_t now_us, uint64_t *run_ns_by_socket);

/* engine_host.c */
void engine_setup_devices(struct ve_engine *e);
void engine_setup_disks(struct ve_engine *e);
void engine_calibrate(struct ve_engine *e, uint64_t period_us);
void engine_sample_disks(struct ve_engine *e, uint64_t now_us);
void engine_io_init(struct io_src *io);
void engine_io_free(struct ve_engine *e, struct io_src *io);
/*
 * Take block I/O from cgroup @rel (v2 when @v2) from now, in the module
 * where the sampler counts I/O; unwatch: no longer in the module (the
 * cgroup's statistics stay open until the next watch or free).
 */
void engine_io_watch(struct ve_engine *e, struct io_src *io, const char *rel, bool v2);
void engine_io_unwatch(struct ve_engine *e, struct io_src *io);
/*
 * The period's block I/O of @io as account @slot's, per modelled disk, added
 * to @acct_ios and @acct_bytes (MAX_DISKS each: every account's).
 */
void engine_sample_io(struct ve_engine *e, struct io_src *io, uint32_t slot, uint64_t *acct_ios,
		      uint64_t *acct_bytes);
void engine_scale_by_freq(struct ve_engine *e);

/* engine_guest.c */
gboolean engine_guest_setup(struct ve_engine *e, const char *source, const char *cgroup_parent,
			    GError **error);
gboolean engine_guest_sample(struct ve_engine *e, uint64_t *run_ns_by_socket, GError **error);
/* Whether powercap zone @zone is one of the engine's devices. */
bool engine_zone_used(const struct ve_engine *e, const struct ve_powercap_zone *zone);

/* engine_service_find.c */
/* The processes of the service found by @by at @where into @pids; with none, *@problem says why. */
int engine_service_find_pids(struct ve_engine *e, enum ve_service_by by, const char *where,
			     GArray *pids, char **problem);
/*
 * The blkio (v1) or unified (v2) cgroup of the service whose processes are
 * @pids, into @rel, when it is the service's own; false with *@why.
 */
bool engine_service_io_cgroup(struct ve_engine *e, const GArray *pids, char *rel, size_t len,
			      bool *v2, char **why);

/* engine_services.c */
struct ve_state;
void engine_services_init(struct ve_engine *e);
/* The configuration's services as accounts (host mode). */
gboolean engine_services_setup(struct ve_engine *e, GError **error);
void engine_services_free(struct ve_engine *e);
/* List the services' threads (every thread-scan-ms), read every watched one into e->samples. */
void engine_sample_services(struct ve_engine *e, uint64_t now_us, uint64_t *run_ns_by_socket);
/* The period's uses: those told, and each using service's work for what it uses; clears the told. */
void engine_service_uses(struct ve_engine *e, const struct ve_service_use **ret, size_t *ret_n);
/* Each service's block I/O of the period (engine_sample_io), when it has a cgroup of its own. */
void engine_sample_services_io(struct ve_engine *e, uint64_t *acct_ios, uint64_t *acct_bytes);
void engine_services_report_tick(struct ve_engine *e, uint64_t dt_us);
/* The state file's "service:NAME" entry onto the configured service; false when there is none. */
bool engine_services_restore(struct ve_engine *e, const char *name, const struct ve_ledger_entry *le);
gboolean engine_services_save(struct ve_engine *e, struct ve_state *st, GError **error);

/* engine_state.c */
gboolean engine_restore(struct ve_engine *e, char **warning, GError **error);
