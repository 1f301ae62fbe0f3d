/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * config.h: virtenergyd's configuration (conf/virtenergyd.conf, GKeyFile).
 *
 * Every key is optional; ve_config_defaults() gives the values documented
 * in conf/virtenergyd.conf.  Loading is all or nothing: a file with one bad
 * value is refused with a GError naming the group, key and what was wrong,
 * and the configuration passed in is left as it was.
 */
#pragma once

#include <glib.h>
#include <stdint.h>

#include "attrib.h"
#include "model.h"
#include "sampler.h"

struct ve_config {
	char *uri;                      /* libvirt connection */
	uint64_t period_us;             /* accounting period */
	uint64_t thread_scan_us;        /* how often each service's processes and threads are listed */
	uint64_t vm_thread_scan_us;     /* how often each VM's threads are listed besides libvirt's events */
	char *state_dir;                /* cumulative ledgers */
	uint64_t state_interval_us;     /* how often the state file is written */
	uint64_t retain_undefined_us;   /* an undefined VM's counters are kept this long */
	enum ve_idle_policy idle_policy;
	enum ve_sampler_kind sampler;
	char **events;                  /* hardware events, NULL-terminated */
	/*
	 * Host power model where there is no RAPL: per socket, or, when the
	 * per-CPU figures are set (non-zero), per CPU times the socket's CPUs.
	 */
	uint64_t host_idle_power_uw;
	uint64_t host_max_power_uw;
	uint64_t cpu_idle_power_uw;
	uint64_t cpu_max_power_uw;
	/* per-VM export directories for guests (empty: none) */
	char *export_dir;
	uint64_t export_interval_us;
	char *vmsr_socket;              /* qemu-vmsr-helper socket (empty: none) */
	char *vmsr_socket_group;        /* the group that may connect (QEMU's); empty: root only */
	char *prom_textfile;            /* Prometheus exposition file (empty: none) */
	char *dbus_bus;                 /* "system", "session" or "none" */
	uint64_t host_cap_uw;           /* power cap split among VMs; 0: none */
	/* calibration against RAPL */
	unsigned int calib_window_periods;
	/* virtenergyd --guest */
	char *guest_source;             /* the VM's export, shared in (holds intel-rapl:0/) */
	char *guest_cgroup_parent;      /* accounts: its child cgroups */
	char **guest_limits;            /* "CGROUP=POWER", NULL-terminated, NULL: none */
	/* [fleet] (config-fleet.c): off while fleet_endpoints is NULL */
	char **fleet_endpoints;         /* etcd client URLs */
	char *fleet_prefix;             /* the fleet's keys in etcd */
	char *fleet_host;               /* this host's name there */
	char *fleet_path;               /* its node in the tree, "feed-a/rack-1" */
	uint64_t fleet_ttl_s;
	uint64_t fleet_period_us;       /* the controller's period */
	uint64_t fleet_fallback_cap_uw; /* 0: the controller's static share only */
	uint64_t fleet_floor_uw;        /* 0: [host-model] idle-power */
	unsigned int fleet_weight;
	bool fleet_controller;          /* may this daemon lead */
	/* the host's shared services ([service NAME] groups; config_services.c) */
	struct ve_service_conf *services;
	size_t n_services;
};

/* How a shared service's processes are found: the key of its [service NAME] group. */
enum ve_service_by {
	VE_SERVICE_BY_UNIT,      /* a systemd service unit: its cgroup system.slice/UNIT */
	VE_SERVICE_BY_CGROUP,    /* every process of a cgroup (below the hierarchy's root) */
	VE_SERVICE_BY_EXE,       /* every process running that executable */
	VE_SERVICE_BY_PIDFILE,   /* the process whose pid the file holds */
};

#define VE_MAX_SERVICES 64

struct ve_service_conf {
	char *name;
	enum ve_service_by by;
	char *where;             /* the unit, cgroup, executable or pid file */
	char **uses;             /* services it uses itself (declared names), NULL: none */
	char **bridges;          /* bridges it switches: VMs' interfaces on them are its clients' */
};

void ve_config_defaults(struct ve_config *c);
void ve_config_clear(struct ve_config *c);

/* Parse @path over *@c.  FALSE with @error (and *@c unchanged) on any problem. */
/*
 * One guest-mode limit, "CGROUP=POWER" ([guest] limits, --guest-limit):
 * a cgroup name (blanks around it dropped; not empty, no '/') and a power
 * above zero by ve_parse_power_uw's rules.  *@ret_name is g_malloc'ed.
 * FALSE with @error naming the text and what is wrong, nothing set.
 */
gboolean ve_guest_limit_parse(const char *text, char **ret_name, uint64_t *ret_uw, GError **error);

/* config_services.c: the [service NAME] groups of @kf, replacing nothing on error. */
gboolean ve_config_load_services(GKeyFile *kf, struct ve_service_conf **ret, size_t *ret_n,
				 GError **error);
bool ve_config_is_service_group(const char *group);
void ve_service_confs_free(struct ve_service_conf *s, size_t n);
const char *ve_service_by_name(enum ve_service_by by);

gboolean ve_config_load(struct ve_config *c, const char *path, GError **error);

/*
 * config-fleet.c: [fleet] of @kf into @n, a copy of @c (strings in @n that
 * replace @c's are new; @c's are freed only once everything is checked:
 * ve_config_fleet_commit).  FALSE with @error naming the key.
 */
void ve_config_fleet_defaults(struct ve_config *c);
void ve_config_fleet_clear(struct ve_config *c);
gboolean ve_config_load_fleet(GKeyFile *kf, struct ve_config *n, GError **error);
void ve_config_fleet_commit(struct ve_config *n, struct ve_config *c);

/* The same from text in memory (@origin names it in messages): for tests and fuzzing. */
gboolean ve_config_load_data(struct ve_config *c, const char *data, gsize len, const char *origin,
			     GError **error);

#include "units.h"
