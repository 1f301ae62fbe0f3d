// SPDX-License-Identifier: GPL-2.0-or-later
/*
 * virtenergyd: per-VM energy for libvirt/KVM hosts.  Main loop wiring only:
 * options and configuration, the libvirt connection, the period timer, the
 * state file, signals and the foreground table.  The work is in engine.c.
 */
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
#include "guestmode.h"
#include "energylimits.h"
#include "guestexport.h"
#include "limiter.h"
#include "metadata.h"
#include "outputs.h"
#include "log.h"
#include "service.h"
#include "prom.h"
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
};

static const struct {
	size_t opt;   /* offset in struct overrides */
	size_t cfg;   /* offset of the char * it replaces in struct ve_config */
} override_fields[] = {
	{ offsetof(struct overrides, uri), offsetof(struct ve_config, uri) },
	{ offsetof(struct overrides, state_dir), offsetof(struct ve_config, state_dir) },
	{ offsetof(struct overrides, export_dir), offsetof(struct ve_config, export_dir) },
	{ offsetof(struct overrides, vmsr_socket), offsetof(struct ve_config, vmsr_socket) },
	{ offsetof(struct overrides, prom_file), offsetof(struct ve_config, prom_textfile) },
	{ offsetof(struct overrides, bus), offsetof(struct ve_config, dbus_bus) },
};

static void apply_overrides(struct ve_config *c, const struct overrides *o)
{
	for (size_t i = 0; i < G_N_ELEMENTS(override_fields); i++) {
		const char *v = *(char *const *)((const char *)o + override_fields[i].opt);
		char **slot = (char **)((char *)c + override_fields[i].cfg);

		if (v) {
			g_free(*slot);
			*slot = g_strdup(v);
		}
	}
}

static void overrides_clear(struct overrides *o)
{
	for (size_t i = 0; i < G_N_ELEMENTS(override_fields); i++)
		g_clear_pointer((char **)((char *)o + override_fields[i].opt), g_free);
}

struct daemon {
	struct ve_config cfg;
	const char *config_path;     /* NULL: built-in defaults, nothing to reload */
	struct overrides ov;
	struct ve_engine *engine;
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
	struct ve_vmsr *vmsr;
	struct ve_dbus *dbus;
	struct ve_limiter *limiter;
	GHashTable *meta_errors;     /* uuid -> the last metadata error reported */
	bool reconciled;
	bool dry_run;
	char *export_error;          /* the last export failure logged */
	bool prom_on;                /* the textfile's directory exists */
	char *prom_error;
	uint64_t last_report_us;
	char *last_error;            /* the last period error logged, to log each kind once */
	int exit_code;
};

static uint64_t now_us(void)
{
	return (uint64_t)g_get_monotonic_time();
}

/* ---- libvirt callbacks -------------------------------------------------- */

static void limiter_log(void *ud, const char *uuid, const char *name, const char *msg)
{
	ve_log_vm(uuid, name, "%s", msg);
}

/*
 * Read a VM's energy metadata and hand its limits to the limiter.  Bad
 * metadata is reported once per distinct problem, and the VM keeps the
 * limits it had.
 */
static void load_limits(struct daemon *d, const char *uuid, const char *name)
{
	g_autofree char *why = NULL;
	g_autofree char *xml = ve_virt_get_metadata(d->virt, uuid, &why);
	g_autoptr(GError) err = NULL;
	struct ve_limits lim;

	if (!d->limiter)
		return;
	if (!xml) {
		if (!why) {
			ve_limiter_set(d->limiter, ve_virt_conn(d->virt), uuid, name, NULL);
			g_hash_table_remove(d->meta_errors, uuid);
		} else if (strcmp(why, "domain not found") != 0 &&
			   g_strcmp0(g_hash_table_lookup(d->meta_errors, uuid), why) != 0) {
			/* a lookup that failed, or a document we do not read, changes nothing */
			ve_log_vm(uuid, name, "VM '%s': energy metadata refused: %s; its previous limits stay",
			      name, why);
			g_hash_table_replace(d->meta_errors, g_strdup(uuid), g_strdup(why));
		}
		return;
	}
	if (!ve_limits_parse(xml, &lim, &err)) {
		const char *last = g_hash_table_lookup(d->meta_errors, uuid);

		if (g_strcmp0(last, err->message) != 0) {
			ve_log_vm(uuid, name, "VM '%s': energy metadata refused: %s; its previous limits stay",
			      name, err->message);
			g_hash_table_replace(d->meta_errors, g_strdup(uuid), g_strdup(err->message));
		}
		return;
	}
	g_hash_table_remove(d->meta_errors, uuid);
	ve_limiter_set(d->limiter, ve_virt_conn(d->virt), uuid, name, &lim);
}

static void on_metadata(void *ud, const char *uuid, const char *name)
{
	load_limits(ud, uuid, name);
}

static void on_gone(void *ud, const char *uuid, const char *name, bool transient);

static void on_sync(void *ud, const struct ve_domain_info *doms, size_t n)
{
	struct daemon *d = ud;
	struct ve_vm_view view;
	size_t n_vms = ve_engine_n_vms(d->engine);

	/* domains we think run but libvirt does not list have stopped meanwhile */
	for (size_t i = 0; i < n_vms; i++) {
		bool listed = false;

		ve_engine_vm(d->engine, i, &view);
		for (size_t k = 0; k < n && !listed; k++)
			listed = strcmp(doms[k].uuid, view.uuid) == 0;
		if (listed)
			continue;
		if (view.running)
			ve_engine_vm_stopped(d->engine, view.uuid);
		/* from the state file, or stopped meanwhile: does libvirt still have it? */
		if (!view.gone && ve_virt_domain_exists(d->virt, view.uuid) == 0)
			on_gone(d, view.uuid, view.name, false);
	}
	for (size_t k = 0; k < n; k++) {
		ve_engine_vm_started(d->engine, doms[k].uuid, doms[k].name, doms[k].vcpus);
		load_limits(d, doms[k].uuid, doms[k].name);
	}
}

static void on_started(void *ud, const struct ve_domain_info *dom)
{
	struct daemon *d = ud;

	/* every start is STARTED then RESUMED (QEMU starts paused): say it once */
	if (ve_engine_vm_started(d->engine, dom->uuid, dom->name, dom->vcpus))
		ve_log_vm(dom->uuid, dom->name, "VM '%s' started, %u vCPUs: accounting it", dom->name,
		      dom->vcpus);
	load_limits(d, dom->uuid, dom->name);
}

static void on_stopped(void *ud, const char *uuid, const char *name)
{
	struct daemon *d = ud;

	ve_engine_vm_stopped(d->engine, uuid);
	if (d->limiter)
		ve_limiter_stopped(d->limiter, ve_virt_conn(d->virt), uuid);
	ve_log_vm(uuid, name, "VM '%s' stopped: its counters are kept for its next start", name);
}

static void on_defined(void *ud, const char *uuid, const char *name, bool defined)
{
	struct daemon *d = ud;

	if (!defined)
		ve_engine_vm_undefined(d->engine, uuid);
	ve_log_vm(uuid, name, "VM '%s' %s", name, defined ? "defined" : "undefined");
}

/*
 * libvirt has no such domain any more (transient and destroyed, undefined
 * while stopped, or gone while we were away): retire it once its final
 * readings are in (engine.h).  Retention rule, README "State file".
 */
static void on_gone(void *ud, const char *uuid, const char *name, bool transient)
{
	struct daemon *d = ud;

	ve_engine_vm_gone(d->engine, uuid, transient);
	if (d->limiter)
		ve_limiter_stopped(d->limiter, ve_virt_conn(d->virt), uuid);
	if (transient)
		ve_log_vm(uuid, name, "VM '%s' (transient) stopped and is gone from libvirt: its counters go "
		      "to the host's retired total", name ? name : uuid);
	else
		ve_log_vm(uuid, name, "VM '%s' is gone from libvirt: its counters are kept for %.0f h "
		      "([daemon] retain-undefined-hours), then go to the host's retired total",
		      name ? name : uuid, (double)d->cfg.retain_undefined_us / 3.6e9);
}

static void on_retired(void *ud, const char *uuid, const char *name, uint64_t total_uj)
{
	(void)ud;
	ve_log_vm(uuid, name, "VM '%s' retired: its %.6f J are now in the host's retired total",
	      name ? name : uuid, (double)total_uj / 1e6);
}

static void on_connection(void *ud, bool up, const char *why)
{
	struct daemon *d = ud;

	/* the first connection: put back what a daemon that died left throttled */
	if (up && d->limiter && !d->reconciled && d->virt) {
		g_autoptr(GString) report = g_string_new("");
		unsigned int n = ve_limiter_reconcile(d->limiter, ve_virt_conn(d->virt), report);

		d->reconciled = true;
		if (n)
			ve_log("restored the CPU bandwidth of %u VM(s) a previous run left throttled", n);
		if (report->len)
			ve_log("%s", report->str);
	}
	if (up)
		ve_log("connected to %s", why);
	else
		ve_log("libvirt connection down (%s): still accounting the VMs already known", why);
}

static const struct ve_virt_ops virt_ops = {
	.sync = on_sync,
	.started = on_started,
	.stopped = on_stopped,
	.gone = on_gone,
	.defined = on_defined,
	.metadata_changed = on_metadata,
	.connection = on_connection,
};

/* ---- output ------------------------------------------------------------ */

/* ---- the period -------------------------------------------------------- */

static void save_state(struct daemon *d)
{
	g_autoptr(GError) err = NULL;

	if (!ve_engine_save(d->engine, &err))
		ve_log("%s", err->message);
}

static int vmsr_admit(void *ud, pid_t peer, uid_t uid, const char **why)
{
	(void)uid;
	return ve_outputs_vmsr_admit(((struct daemon *)ud)->engine, peer, why);
}

static int vmsr_lookup(void *ud, pid_t peer, uid_t uid, uint32_t msr, uint32_t cpu, pid_t tid,
		       uint64_t *ret, const char **why)
{
	struct daemon *d = ud;

	(void)uid, (void)cpu;
	return ve_outputs_vmsr_lookup(d->engine, d->limiter, peer, msr, tid, ret, why);
}

static void on_limiter_event(void *ud, enum ve_limiter_event ev, const char *uuid, const char *name,
			     uint64_t limit_uw, uint64_t power_uw)
{
	struct daemon *d = ud;

	if (ev == VE_LIMITER_CANNOT_HOLD)
		ve_dbus_emit_cannot_hold(d->dbus, uuid, name, limit_uw, power_uw);
	else
		ve_dbus_emit_throttled(d->dbus, uuid, name, ev == VE_LIMITER_THROTTLED, limit_uw);
}

static void dbus_log(void *ud, const char *msg)
{
	ve_log("%s", msg);
}

/* D-Bus SetVMLimit / ClearVMLimit: into the domain's metadata (ve_virt_set_power_limit). */
static gboolean dbus_set_vm_limit(void *ud, const char *vm, uint64_t uw, GError **error)
{
	struct daemon *d = ud;
	char uuid[VIR_UUID_STRING_BUFLEN];

	if (!ve_virt_set_power_limit(d->virt, vm, uw, uuid, error))
		return FALSE;
	ve_log_vm(uuid, vm, "VM '%s': power limit %s over D-Bus", vm, uw ? "set" : "cleared");
	return TRUE;
}

static void dbus_set_host_cap(void *ud, uint64_t uw)
{
	struct daemon *d = ud;

	d->cfg.host_cap_uw = uw;
	if (d->limiter)
		ve_limiter_set_host_cap(d->limiter, ve_virt_conn(d->virt), uw);
}

static uint64_t dbus_host_cap(void *ud)
{
	return ((struct daemon *)ud)->cfg.host_cap_uw;
}

static uint64_t dbus_vm_limit(void *ud, const char *uuid)
{
	struct daemon *d = ud;

	return d->limiter ? ve_limiter_limit_uw(d->limiter, uuid) : 0;
}

static uint64_t dbus_vm_alloc(void *ud, const char *uuid)
{
	struct daemon *d = ud;

	return d->limiter ? ve_limiter_alloc_uw(d->limiter, uuid) : 0;
}

static const struct ve_dbus_ops dbus_ops = {
	.set_vm_limit = dbus_set_vm_limit,
	.set_host_cap = dbus_set_host_cap,
	.host_cap = dbus_host_cap,
	.vm_limit = dbus_vm_limit,
	.vm_alloc = dbus_vm_alloc,
};

static void vmsr_refused(void *ud, pid_t peer, const char *why)
{
	struct daemon *d = ud;

	if (d->foreground)
		ve_log("vmsr helper: refused pid %d: %s", (int)peer, why);
}

/* Every running VM's registers and powercap tree for its guest (guestexport.h). */
static void export_guests(struct daemon *d)
{
	struct ve_host_view h;
	size_t n = ve_engine_n_vms(d->engine);

	if (d->export_fd < 0)
		return;
	ve_engine_host(d->engine, &h);
	for (size_t i = 0; i < n; i++) {
		g_autoptr(GError) err = NULL;
		struct ve_vm_view v;
		struct ve_vrapl r;

		ve_engine_vm(d->engine, i, &v);
		if (!v.running)
			continue;
		ve_outputs_vrapl(d->limiter, &v, h.has_dram, &r);
		if (!ve_guest_export_write(d->export_fd, v.uuid, &r, &err) &&
		    g_strcmp0(d->export_error, err->message) != 0) {
			ve_log_vm(v.uuid, v.name, "%s; the guest of VM '%s' sees stale figures", err->message,
			      v.name);
			g_free(d->export_error);
			d->export_error = g_strdup(err->message);
		}
	}
}

/* The Prometheus textfile (prom.h), every second. */
static void write_prom(struct daemon *d)
{
	g_autoptr(GError) err = NULL;
	g_autofree struct ve_prom_vm *vms = NULL;
	g_autofree char *text = NULL;
	struct ve_host_view h;
	struct ve_prom_host ph;
	size_t n = ve_engine_n_vms(d->engine);

	if (!d->prom_on)
		return;
	vms = g_new0(struct ve_prom_vm, n ? n : 1);
	for (size_t i = 0; i < n; i++) {
		struct ve_vm_view v;

		ve_engine_vm(d->engine, i, &v);
		vms[i] = (struct ve_prom_vm){ v.uuid, v.name, v.running, v.power_uw, v.ledger,
					      d->limiter ? ve_limiter_limit_uw(d->limiter, v.uuid) : 0 };
	}
	ve_engine_host(d->engine, &h);
	ph = (struct ve_prom_host){ h.energy_uj, h.power_uw, h.ledger, h.reason_uj, h.estimated };
	text = ve_prom_render(&ph, vms, n);
	if (!ve_prom_write(d->cfg.prom_textfile, text, &err)) {
		/* log each kind of failure once: by the error's domain and code */
		g_autofree char *kind = g_strdup_printf("%s:%d", g_quark_to_string(err->domain), err->code);

		if (g_strcmp0(d->prom_error, kind) != 0)
			ve_log("cannot write the Prometheus textfile %s: %s; Prometheus sees stale figures",
			       d->cfg.prom_textfile, err->message);
		g_free(d->prom_error);
		d->prom_error = g_steal_pointer(&kind);
	} else {
		g_clear_pointer(&d->prom_error, g_free);
	}
}

/* systemd's STATUS= line: "3 VMs (2 running), RAPL (powercap), 2 domains, perf-time: ..." */
static void notify_status(struct daemon *d)
{
	struct ve_host_view h;
	size_t n = ve_engine_n_vms(d->engine), running = 0;

	for (size_t i = 0; i < n; i++) {
		struct ve_vm_view v;

		ve_engine_vm(d->engine, i, &v);
		running += v.running;
	}
	ve_engine_host(d->engine, &h);
	sd_notifyf(0, "STATUS=%zu VMs (%zu running), %.1f W; %s; %s", n, running,
		   (double)h.power_uw / 1e6, h.sensor, h.sampler);
}

static gboolean on_period(gpointer data)
{
	struct daemon *d = data;
	g_autoptr(GError) err = NULL;
	uint64_t now = now_us();

	if (!ve_engine_period(d->engine, now, &err)) {
		/* log each kind of failure once, not ten times a second */
		if (g_strcmp0(d->last_error, err->message) != 0) {
			ve_log("%s", err->message);
			g_free(d->last_error);
			d->last_error = g_strdup(err->message);
		}
	} else {
		g_clear_pointer(&d->last_error, g_free);
	}
	if (d->limiter && d->virt)
		ve_limiter_tick(d->limiter, d->engine, ve_virt_conn(d->virt), now);
	if (now - d->last_save_us >= d->cfg.state_interval_us) {
		save_state(d);
		d->last_save_us = now;
	}
	if (now - d->last_export_us >= d->cfg.export_interval_us) {
		export_guests(d);
		d->last_export_us = now;
	}
	if (now - d->last_report_us >= 1000000) {
		ve_engine_report_tick(d->engine, now);
		d->last_report_us = now;
		if (d->foreground)
			ve_outputs_table(d->engine, stdout);
		notify_status(d);
		write_prom(d);
		if (d->dbus)
			ve_dbus_tick(d->dbus);
	}
	/*
	 * The watchdog is fed from the accounting loop itself, so systemd
	 * restarts a daemon whose periods stopped, not merely a dead one.
	 */
	if (d->watchdog_us && now - d->last_ping_us >= d->watchdog_us / 2) {
		sd_notify(0, "WATCHDOG=1");
		d->last_ping_us = now;
	}
	return G_SOURCE_CONTINUE;
}

static gboolean on_signal(gpointer data)
{
	struct daemon *d = data;

	sd_notify(0, "STOPPING=1");
	ve_log("stopping: saving counters");
	g_main_loop_quit(d->loop);
	return G_SOURCE_REMOVE;
}

static void describe_power(GString *s, const char *what, uint64_t old_uw, uint64_t new_uw)
{
	g_string_append_printf(s, "; %s ", what);
	if (old_uw)
		g_string_append_printf(s, "%.3f W", (double)old_uw / 1e6);
	else
		g_string_append(s, "none");
	g_string_append(s, " -> ");
	if (new_uw)
		g_string_append_printf(s, "%.3f W", (double)new_uw / 1e6);
	else
		g_string_append(s, "none");
}

/*
 * SIGHUP (systemctl reload): read the configuration file again and every
 * VM's limits from its metadata.  All or nothing: a file that no longer
 * loads is refused and the configuration in force stays.  Keys read every
 * period take effect at once; the others (the libvirt URI, the period,
 * the sampler and events, directories, sockets, the bus, the host model)
 * are named in the log as waiting for a restart, and keep their values.
 * Counters are not touched.
 */
static void reload(struct daemon *d)
{
	g_autoptr(GError) err = NULL;
	g_autoptr(GString) changes = g_string_new("");
	struct ve_config nc;
	size_t n = ve_engine_n_vms(d->engine), running = 0;
	static const struct {
		const char *key;
		size_t off;
		bool is_string;
	} restart_only[] = {
		{ "[daemon] uri", offsetof(struct ve_config, uri), true },
		{ "[daemon] state-dir", offsetof(struct ve_config, state_dir), true },
		{ "[guests] export-dir", offsetof(struct ve_config, export_dir), true },
		{ "[guests] vmsr-socket", offsetof(struct ve_config, vmsr_socket), true },
		{ "[guests] vmsr-socket-group", offsetof(struct ve_config, vmsr_socket_group), true },
		{ "[dbus] bus", offsetof(struct ve_config, dbus_bus), true },
		{ "[daemon] period-ms", offsetof(struct ve_config, period_us), false },
		{ "[host-model] idle-power", offsetof(struct ve_config, host_idle_power_uw), false },
		{ "[host-model] max-power", offsetof(struct ve_config, host_max_power_uw), false },
		{ "[host-model] idle-power-per-cpu", offsetof(struct ve_config, cpu_idle_power_uw), false },
		{ "[host-model] max-power-per-cpu", offsetof(struct ve_config, cpu_max_power_uw), false },
	};
	static const struct {
		const char *key;
		size_t off;
	} restart_only_uint[] = {
		{ "[calibration] window-periods", offsetof(struct ve_config, calib_window_periods) },
	};

	sd_notify(0, "RELOADING=1");
	ve_config_defaults(&nc);
	if (d->config_path && !ve_config_load(&nc, d->config_path, &err)) {
		ve_log("reload refused: %s; the configuration in force stays", err->message);
		ve_config_clear(&nc);
		sd_notify(0, "READY=1");
		return;
	}
	apply_overrides(&nc, &d->ov);
	for (size_t i = 0; i < G_N_ELEMENTS(restart_only); i++) {
		const char *a = (const char *)&d->cfg + restart_only[i].off;
		const char *b = (const char *)&nc + restart_only[i].off;
		bool same = restart_only[i].is_string
				    ? g_strcmp0(*(char *const *)a, *(char *const *)b) == 0
				    : *(const uint64_t *)a == *(const uint64_t *)b;

		if (!same)
			ve_log("reload: %s changed; it takes effect when virtenergyd restarts",
			       restart_only[i].key);
	}
	for (size_t i = 0; i < G_N_ELEMENTS(restart_only_uint); i++)
		if (*(const unsigned int *)((const char *)&d->cfg + restart_only_uint[i].off) !=
		    *(const unsigned int *)((const char *)&nc + restart_only_uint[i].off))
			ve_log("reload: %s changed; it takes effect when virtenergyd restarts",
			       restart_only_uint[i].key);
	if (nc.sampler != d->cfg.sampler ||
	    !g_strv_equal((const char *const *)(d->cfg.events ? d->cfg.events : (char *[]){ NULL }),
			  (const char *const *)(nc.events ? nc.events : (char *[]){ NULL })))
		ve_log("reload: [accounting] sampler or events changed; they take effect when virtenergyd restarts");

	/* what is read every period or every second changes now */
	if (nc.host_cap_uw != d->cfg.host_cap_uw) {
		describe_power(changes, "host cap", d->cfg.host_cap_uw, nc.host_cap_uw);
		d->cfg.host_cap_uw = nc.host_cap_uw;
		if (d->limiter)
			ve_limiter_set_host_cap(d->limiter, ve_virt_conn(d->virt), nc.host_cap_uw);
	}
	if (nc.idle_policy != d->cfg.idle_policy) {
		g_string_append_printf(changes, "; idle policy %s -> %s",
				       ve_idle_policy_name(d->cfg.idle_policy),
				       ve_idle_policy_name(nc.idle_policy));
		d->cfg.idle_policy = nc.idle_policy;
	}
	if (g_strcmp0(nc.prom_textfile, d->cfg.prom_textfile) != 0) {
		g_autofree char *dir = nc.prom_textfile && nc.prom_textfile[0]
					       ? g_path_get_dirname(nc.prom_textfile) : NULL;

		g_string_append_printf(changes, "; Prometheus textfile %s -> %s",
				       d->cfg.prom_textfile && d->cfg.prom_textfile[0] ? d->cfg.prom_textfile : "none",
				       nc.prom_textfile && nc.prom_textfile[0] ? nc.prom_textfile : "none");
		g_free(d->cfg.prom_textfile);
		d->cfg.prom_textfile = g_strdup(nc.prom_textfile);
		d->prom_on = dir && g_file_test(dir, G_FILE_TEST_IS_DIR);
		g_clear_pointer(&d->prom_error, g_free);
	}
	d->cfg.state_interval_us = nc.state_interval_us;
	d->cfg.export_interval_us = nc.export_interval_us;
	d->cfg.thread_scan_us = nc.thread_scan_us;
	d->cfg.retain_undefined_us = nc.retain_undefined_us;
	ve_config_clear(&nc);

	/* every VM's limits, as its metadata says now */
	g_hash_table_remove_all(d->meta_errors);
	for (size_t i = 0; i < n; i++) {
		struct ve_vm_view v;

		ve_engine_vm(d->engine, i, &v);
		if (v.running) {
			load_limits(d, v.uuid, v.name);
			running++;
		}
	}
	ve_log("configuration reloaded from %s%s; limits reread from the metadata of %zu running VM(s)",
	       d->config_path ? d->config_path : "built-in defaults",
	       changes->len ? changes->str : "; no value in force changed", running);
	sd_notify(0, "READY=1");
	notify_status(d);
}

static gboolean on_sighup(gpointer data)
{
	reload(data);
	return G_SOURCE_CONTINUE;
}

static gboolean on_resync(gpointer data)
{
	struct daemon *d = data;

	ve_virt_resync(d->virt);
	return G_SOURCE_CONTINUE;
}

static int open_dir(const char *path, int flags, GError **error)
{
	int fd = open(path, O_DIRECTORY | O_CLOEXEC | flags);

	if (fd < 0)
		g_set_error(error, G_IO_ERROR, g_io_error_from_errno(errno), "cannot open %s: %s", path,
			    g_strerror(errno));
	return fd;
}

int main(int argc, char **argv)
{
	g_autofree char *config_path = NULL, *root = NULL;
	gboolean dry_run = FALSE, guest = FALSE, version = FALSE;
	g_autofree char *guest_source = NULL, *cgroup_parent = NULL;
	g_auto(GStrv) guest_limits = NULL;
	struct daemon d = { .export_fd = -1, .root_fd = -1 };
	struct overrides *o = &d.ov;
	GOptionEntry entries[] = {
		{ "config", 'c', 0, G_OPTION_ARG_FILENAME, &config_path,
		  "configuration file (default: none, built-in defaults)", "FILE" },
		{ "root", 0, 0, G_OPTION_ARG_FILENAME, &root,
		  "read /proc, /sys and /run under DIR (a fixture tree)", "DIR" },
		{ "uri", 0, 0, G_OPTION_ARG_STRING, &o->uri, "libvirt URI (overrides the configuration)",
		  "URI" },
		{ "export-dir", 0, 0, G_OPTION_ARG_FILENAME, &o->export_dir,
		  "per-VM guest export directories (overrides the configuration; \"\" for none)", "DIR" },
		{ "vmsr-socket", 0, 0, G_OPTION_ARG_FILENAME, &o->vmsr_socket,
		  "qemu-vmsr-helper socket (overrides the configuration; \"\" for none)", "PATH" },
		{ "prom-file", 0, 0, G_OPTION_ARG_FILENAME, &o->prom_file,
		  "Prometheus textfile (overrides the configuration; \"\" for none)", "FILE" },
		{ "bus", 0, 0, G_OPTION_ARG_STRING, &o->bus,
		  "D-Bus bus to serve org.virtenergy.Manager1 on: system, session or none", "BUS" },
		{ "state-dir", 0, 0, G_OPTION_ARG_FILENAME, &o->state_dir,
		  "where cumulative counters are kept (overrides the configuration)", "DIR" },
		{ "foreground", 'f', 0, G_OPTION_ARG_NONE, &d.foreground,
		  "print a per-VM table every second", NULL },
		{ "dry-run", 'n', 0, G_OPTION_ARG_NONE, &dry_run,
		  "change nothing on the host: actuators only log what they would do", NULL },
		{ "once", '1', 0, G_OPTION_ARG_NONE, &d.once, "account one period, print, exit", NULL },
		{ "guest", 'g', 0, G_OPTION_ARG_NONE, &guest,
		  "guest mode: inside a VM, attribute the VM's energy to its cgroups and hold their limits",
		  NULL },
		{ "guest-source", 0, 0, G_OPTION_ARG_FILENAME, &guest_source,
		  "guest mode: the VM's export as mounted in the guest (default /mnt/virtenergy)", "DIR" },
		{ "cgroup-parent", 0, 0, G_OPTION_ARG_FILENAME, &cgroup_parent,
		  "guest mode: account each child cgroup of DIR (default /sys/fs/cgroup)", "DIR" },
		{ "guest-limit", 0, 0, G_OPTION_ARG_STRING_ARRAY, &guest_limits,
		  "guest mode: hold a cgroup to a power, e.g. batch=5W (repeatable)", "CGROUP=POWER" },
		{ "version", 'V', 0, G_OPTION_ARG_NONE, &version, "print the version and exit", NULL },
		{ NULL, 0, 0, 0, NULL, NULL, NULL },
	};
	g_autoptr(GOptionContext) ctx = g_option_context_new("- per-VM energy accounting");
	g_autoptr(GError) err = NULL;
	g_autofree char *warning = NULL;
	int root_fd = -1, state_fd = -1;

	ve_log_init();
	g_option_context_add_main_entries(ctx, entries, NULL);
	if (!g_option_context_parse(ctx, &argc, &argv, &err)) {
		ve_log("%s (see --help)", err->message);
		return 2;
	}
	if (version) {
		printf("virtenergyd %s\n", VE_VERSION);
		return 0;
	}
	if (argc > 1) {
		ve_log("unexpected argument '%s' (see --help)", argv[1]);
		return 2;
	}
	{
		/*
		 * The perf sampler holds one fd per counter per thread: a host with
		 * a thousand VMs needs tens of thousands.  Take what the hard limit
		 * allows.
		 */
		struct rlimit rl;

		if (getrlimit(RLIMIT_NOFILE, &rl) == 0 && rl.rlim_cur < rl.rlim_max) {
			rl.rlim_cur = rl.rlim_max;
			setrlimit(RLIMIT_NOFILE, &rl);
		}
	}
	ve_config_defaults(&d.cfg);
	if (config_path && !ve_config_load(&d.cfg, config_path, &err)) {
		ve_log("%s; not starting", err->message);
		return 2;
	}
	if (o->state_dir) {
		g_free(d.cfg.state_dir);
		d.cfg.state_dir = g_strdup(o->state_dir);
	}
	if (guest) {
		struct ve_guest_opts go = {
			.source = guest_source ? guest_source : d.cfg.guest_source,
			.cgroup_parent = cgroup_parent ? cgroup_parent : d.cfg.guest_cgroup_parent,
			.state_dir = d.cfg.state_dir,
			.limits = guest_limits ? guest_limits : d.cfg.guest_limits,
			.dry_run = dry_run,
			/* the host's default textfile path is no guest's: only when asked */
			.prom_file = o->prom_file,
		};
		int status;

		go.root_fd = open_dir(root ? root : "/", O_RDONLY, &err);
		if (go.root_fd < 0) {
			ve_log("%s", err->message);
			return 2;
		}
		if (g_mkdir_with_parents(d.cfg.state_dir, 0755) < 0) {
			ve_log("cannot create %s: %s", d.cfg.state_dir, g_strerror(errno));
			return 2;
		}
		status = ve_guest_main(&go, d.foreground, d.once);
		close(go.root_fd);
		ve_config_clear(&d.cfg);
		return status;
	}
	if (o->bus && !g_strv_contains((const char *const[]){ "system", "session", "none", NULL }, o->bus)) {
		ve_log("--bus '%s' is not one of system, session, none", o->bus);
		return 2;
	}
	apply_overrides(&d.cfg, o);
	d.config_path = config_path;

	/*
	 * perf counts real threads of this kernel; under a fixture root the
	 * threads exist only as files, so read their run time from there.
	 */
	if (root && strcmp(root, "/") != 0 && d.cfg.sampler == VE_SAMPLER_AUTO)
		d.cfg.sampler = VE_SAMPLER_SCHEDSTAT;
	root_fd = open_dir(root ? root : "/", O_PATH, &err);
	if (root_fd < 0) {
		ve_log("%s; not starting", err->message);
		return 1;
	}
	if (g_mkdir_with_parents(d.cfg.state_dir, 0755) < 0 ||
	    (state_fd = open_dir(d.cfg.state_dir, O_RDONLY, &err)) < 0) {
		ve_log("cannot use state directory %s: %s; not starting", d.cfg.state_dir,
		       err ? err->message : g_strerror(errno));
		return 1;
	}
	if (d.cfg.export_dir && d.cfg.export_dir[0]) {
		g_autoptr(GError) xerr = NULL;

		if (g_mkdir_with_parents(d.cfg.export_dir, 0755) < 0 ||
		    (d.export_fd = open_dir(d.cfg.export_dir, O_RDONLY, &xerr)) < 0)
			ve_log("cannot use guest export directory %s: %s; guests see no virtual RAPL files",
			       d.cfg.export_dir, xerr ? xerr->message : g_strerror(errno));
	}
	d.engine = ve_engine_new(root_fd, &d.cfg, state_fd, &warning, &err);
	if (!d.engine) {
		ve_log("%s; not starting", err->message);
		return 1;
	}
	if (warning)
		ve_log("%s", warning);
	{
		struct ve_host_view h;

		ve_engine_host(d.engine, &h);
		ve_log("energy from %s; threads sampled by %s; idle policy %s%s", h.sensor, h.sampler,
		       ve_idle_policy_name(d.cfg.idle_policy), dry_run ? "; dry run" : "");
	}

	d.root_fd = root_fd;
	if (d.cfg.prom_textfile && d.cfg.prom_textfile[0]) {
		g_autofree char *dir = g_path_get_dirname(d.cfg.prom_textfile);

		d.prom_on = g_file_test(dir, G_FILE_TEST_IS_DIR);
		if (!d.prom_on && o->prom_file)
			ve_log("no directory %s: Prometheus textfile off", dir);
	}
	if (d.cfg.vmsr_socket && d.cfg.vmsr_socket[0] && !d.once) {
		g_autoptr(GError) verr = NULL;
		g_autofree char *dir = g_path_get_dirname(d.cfg.vmsr_socket);

		gid_t gid = (gid_t)-1;

		if (d.cfg.vmsr_socket_group && d.cfg.vmsr_socket_group[0]) {
			struct group *gr = getgrnam(d.cfg.vmsr_socket_group);

			if (gr)
				gid = gr->gr_gid;
			else
				ve_log("no group '%s' ([guests] vmsr-socket-group): the vmsr helper socket is root only, "
				       "QEMU running as another user cannot connect", d.cfg.vmsr_socket_group);
		}
		if (g_mkdir_with_parents(dir, 0755) < 0 ||
		    !(d.vmsr = ve_vmsr_new(d.cfg.vmsr_socket, gid, vmsr_admit, vmsr_lookup, vmsr_refused,
					   &d, &verr)))
			ve_log("%s; QEMU guests with rapl=on cannot be served",
			       verr ? verr->message : g_strerror(errno));
	}
	if (!d.once && strcmp(d.cfg.dbus_bus, "none") != 0)
		d.dbus = ve_dbus_new(strcmp(d.cfg.dbus_bus, "session") == 0 ? G_BUS_TYPE_SESSION
									    : G_BUS_TYPE_SYSTEM,
				     d.engine, &dbus_ops, dbus_log, &d);
	d.meta_errors = g_hash_table_new_full(g_str_hash, g_str_equal, g_free, g_free);
	d.dry_run = dry_run;
	if (!d.once) {
		d.limiter = ve_limiter_new(d.cfg.state_dir, dry_run, 1000000, limiter_log, &d);
		ve_limiter_set_host_cap(d.limiter, NULL, d.cfg.host_cap_uw);
		ve_limiter_on_event(d.limiter, on_limiter_event);
	}
	ve_engine_on_retired(d.engine, on_retired, &d);
	ve_virt_global_init();
	d.loop = g_main_loop_new(NULL, FALSE);
	d.virt = ve_virt_new(d.cfg.uri, &virt_ops, &d);

	if (d.once) {
		g_autoptr(GError) perr = NULL;

		/* let the connection deliver its first sync, then two readings a period apart */
		uint64_t t;

		while (g_main_context_iteration(NULL, FALSE))
			;
		t = now_us();
		ve_engine_period(d.engine, t, NULL);
		ve_engine_report_tick(d.engine, t);
		g_usleep(d.cfg.period_us);
		t = now_us();
		if (!ve_engine_period(d.engine, t, &perr)) {
			ve_log("%s", perr->message);
			d.exit_code = 1;
		}
		ve_engine_report_tick(d.engine, t);
		ve_outputs_table(d.engine, stdout);
	} else {
		d.last_save_us = d.last_report_us = now_us();
		g_timeout_add(MAX(d.cfg.period_us / 1000, 1), on_period, &d);
		g_timeout_add_seconds(60, on_resync, &d);
		g_unix_signal_add(SIGTERM, on_signal, &d);
		g_unix_signal_add(SIGINT, on_signal, &d);
		g_unix_signal_add(SIGHUP, on_sighup, &d);
		on_period(&d);
		{
			uint64_t usec = 0;

			if (sd_watchdog_enabled(0, &usec) > 0)
				d.watchdog_us = usec;
		}
		sd_notify(0, "READY=1");
		notify_status(&d);
		g_main_loop_run(d.loop);
	}

	save_state(&d);
	export_guests(&d);
	write_prom(&d);
	ve_vmsr_free(d.vmsr);
	ve_dbus_free(d.dbus);
	if (d.limiter) {
		unsigned int failed = ve_limiter_restore_all(d.limiter, ve_virt_conn(d.virt));

		if (failed)
			ve_log("could not restore the CPU bandwidth of %u VM(s); the next start will", failed);
		ve_limiter_free(d.limiter);
	}
	g_hash_table_destroy(d.meta_errors);
	ve_virt_free(d.virt);
	ve_engine_free(d.engine);
	g_main_loop_unref(d.loop);
	g_free(d.last_error);
	g_free(d.export_error);
	g_free(d.prom_error);
	if (d.export_fd >= 0)
		close(d.export_fd);
	ve_config_clear(&d.cfg);
	overrides_clear(&d.ov);
	close(state_fd);
	close(root_fd);
	return d.exit_code;
}
