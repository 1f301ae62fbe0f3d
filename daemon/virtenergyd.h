/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * virtenergyd.h: the daemon's state, host or guest mode, shared by its files and nothing
 * else: virtenergyd.c (options, configuration and wiring),
 * virtenergyd-virt.c (libvirt's events: VMs and their limits),
 * virtenergyd-dbus.c (the D-Bus methods), virtenergyd-services.c (shared
 * services' work for each VM), virtenergyd-period.c (the period
 * and what it publishes: state file, guest exports, textfile, systemd
 * status) and virtenergyd-reload.c (SIGHUP).
 */
#pragma once

#include <errno.h>
#include <stddef.h>
#include <fcntl.h>
#include <gio/gio.h>
#include <grp.h>
#include <glib-unix.h>
#include <stdio.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <systemd/sd-daemon.h>
#include <unistd.h>

#include <libvirt/virterror.h>

#include "config.h"
#include "conn.h"
#include "engine.h"
#include "agent.h"
#include "guestmode.h"
#include "energylimits.h"
#include "diskwriter.h"
#include "guestexport.h"
#include "identity.h"
#include "limiter.h"
#include "metadata.h"
#include "outputs.h"
#include "log.h"
#include "service.h"
#include "prom.h"
#include "registry.h"
#include "vmsr.h"
#include "vrapl.h"


/*
 * Options that override the configuration file's values: applied after
 * every load, at start and on reload, by one table (override_fields).
 */
struct overrides {
	char *uri;
	char *state_dir;
	char *export_dir;
	char *vmsr_socket;
	char *prom_file;
	char *bus;
	char *guest_source;
	char *cgroup_parent;
};

struct daemon {
	struct ve_config cfg;
	const char *config_path;     /* NULL: built-in defaults, nothing to reload */
	struct overrides ov;
	struct ve_engine *engine;    /* the guest's, in guest mode */
	struct ve_guest *guest;      /* guest mode: its controller; NULL on the host */
	struct ve_virt *virt;
	GMainLoop *loop;
	gboolean foreground;
	gboolean once;
	uint64_t last_save_us;
	uint64_t last_export_us;
	uint64_t watchdog_us;        /* systemd's watchdog interval, 0 when off */
	uint64_t last_ping_us;
	int export_fd;               /* -1: exports off or unavailable */
	int root_fd;
	int state_fd;
	struct ve_vmsr *vmsr;
	struct ve_dbus *dbus;
	struct ve_limiter *limiter;
	struct ve_disk_writer *writer;   /* host mode: state saves and exports, off the loop */
	struct ve_registry *reg;     /* the engine's; the VE_REG_DAEMON slot: the last metadata error reported */
	bool reconciled;
	bool dry_run;
	char *export_error;          /* the last export failure logged */
	bool prom_on;                /* the textfile's directory exists */
	char *prom_error;
	uint64_t last_report_us;
	char *last_error;            /* the last period error logged, to log each kind once */
	int exit_code;
	struct ve_fleet_agent *fleet;   /* NULL: in no fleet */
	uint64_t fleet_cap_uw;          /* the fleet's cap now, 0: none */
	enum ve_fleet_source fleet_source;   /* of the cap in force */
	uint64_t fleet_written_uw;      /* what <state-dir>/fleet-cap says */
	enum ve_fleet_source fleet_written_src;
	unsigned int *svc_io_said;      /* per service: the io_gen last logged */
};

static inline uint64_t vd_now_us(void)
{
	return (uint64_t)g_get_monotonic_time();
}

/* virtenergyd.c */
void vd_apply_overrides(struct ve_config *c, const struct overrides *o);
void vd_overrides_clear(struct overrides *o);

/* virtenergyd-virt.c */
extern const struct ve_virt_ops vd_virt_ops;
void vd_limiter_log(void *ud, const char *uuid, const char *name, const char *msg);
void vd_load_limits(struct daemon *d, const char *uuid, const char *name);
void vd_on_retired(void *ud, const char *uuid, const char *name, uint64_t total_uj);
/* Each known VM's orchestrator identity, where not read yet (a first sync inside ve_virt_new). */
void vd_load_identities(struct daemon *d);
/* The VM's orchestrator identity as label pairs (name, value, ..., NULL) in @buf. */
#define VD_IDENTITY_PAIRS 17
const char *const *vd_identity_pairs(struct daemon *d, const char *uuid, const char **buf);

/* virtenergyd-dbus.c */
extern const struct ve_dbus_ops vd_dbus_ops;
void vd_on_limiter_event(void *ud, enum ve_limiter_event ev, const char *uuid, const char *name,
			 uint64_t limit_uw, uint64_t power_uw);
void vd_dbus_log(void *ud, const char *msg);

/* virtenergyd-period.c */
void vd_save_state(struct daemon *d, bool whole);
int vd_vmsr_admit(void *ud, pid_t peer, uid_t uid, const char **why);
int vd_vmsr_lookup(void *ud, pid_t peer, uid_t uid, uint32_t msr, uint32_t cpu, pid_t tid,
		   uint64_t *ret, const char **why);
void vd_vmsr_refused(void *ud, pid_t peer, const char *why);
void vd_export_guests(struct daemon *d);
void vd_writer_errors(struct daemon *d);
void vd_write_prom(struct daemon *d);
void vd_notify_status(struct daemon *d);
/* One period: the engine's, and in guest mode the guest's controller after it. */
gboolean vd_step(struct daemon *d, uint64_t now_us, GError **error);
/* The table --foreground prints (the host's VMs, or the guest's cgroups). */
void vd_print_table(struct daemon *d);
/* One period and its outputs; it schedules the next itself (a one-shot timer). */
gboolean vd_on_period(gpointer data);

/* virtenergyd-services.c: each service's work for each VM, told to the engine before its period */
void vd_services_step(struct daemon *d, uint64_t now_us);
/* The connection went: every VM's served disks are looked up again. */
void vd_services_forget(struct daemon *d);
void vd_backed_free(gpointer p);
/* virtenergyd-fleet.c */
void vd_fleet_start(struct daemon *d);
void vd_fleet_stop(struct daemon *d);
/* Each period: the host's figures to the agent, the cap in force to the limiter. */
void vd_fleet_tick(struct daemon *d, uint64_t now_us);
/* The lower of the local cap and the fleet's, to the limiter (the local one changed, or the fleet's). */
void vd_host_cap_apply(struct daemon *d, uint64_t now_us);
uint64_t vd_fleet_cap(void *ud, const char **ret_source);
void vd_fleet_status(void *ud, GDBusMethodInvocation *inv);
void vd_fleet_write(void *ud, GDBusMethodInvocation *inv);

/* virtenergyd-reload.c */
void vd_reload(struct daemon *d);
