// SPDX-License-Identifier: GPL-2.0-or-later
/*
 * virtenergyd-reload.c: SIGHUP: the configuration and every VM's limits read again (see virtenergyd.h).
 */
#include "virtenergyd.h"

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

/* Whether two configurations declare the same shared services. */
static bool services_same(const struct ve_config *a, const struct ve_config *b)
{
	if (a->n_services != b->n_services)
		return false;
	for (size_t i = 0; i < a->n_services; i++) {
		const struct ve_service_conf *x = &a->services[i], *y = &b->services[i];

		if (strcmp(x->name, y->name) || x->by != y->by || strcmp(x->where, y->where) ||
		    !(x->uses ? y->uses && g_strv_equal((const char *const *)x->uses,
							(const char *const *)y->uses) : !y->uses))
			return false;
	}
	return true;
}

/*
 * SIGHUP (systemctl reload): read the configuration file again and every
 * VM's limits from its metadata.  All or nothing: a file that no longer
 * loads is refused and the configuration in force stays.  Keys read every
 * period take effect at once; the others (the libvirt URI, the period,
 * the sampler and events, directories, sockets, the bus, the host model,
 * the shared services)
 * are named in the log as waiting for a restart, and keep their values.
 * Counters are not touched.
 */
void vd_reload(struct daemon *d)
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
	vd_apply_overrides(&nc, &d->ov);
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
		vd_host_cap_apply(d, vd_now_us());
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
	if (!services_same(&d->cfg, &nc))
		ve_log("reload: the [service] groups changed; they take effect when virtenergyd restarts");
	d->cfg.state_interval_us = nc.state_interval_us;
	d->cfg.export_interval_us = nc.export_interval_us;
	d->cfg.thread_scan_us = nc.thread_scan_us;
	d->cfg.vm_thread_scan_us = nc.vm_thread_scan_us;
	d->cfg.retain_undefined_us = nc.retain_undefined_us;
	ve_config_clear(&nc);

	/* every VM's limits, as its metadata says now */
	ve_registry_clear_slot(d->reg, VE_REG_DAEMON);
	for (size_t i = 0; i < n; i++) {
		struct ve_vm_view v;

		ve_engine_vm(d->engine, i, &v);
		if (v.running) {
			vd_load_limits(d, v.uuid, v.name);
			running++;
		}
	}
	ve_log("configuration reloaded from %s%s; limits reread from the metadata of %zu running VM(s)",
	       d->config_path ? d->config_path : "built-in defaults",
	       changes->len ? changes->str : "; no value in force changed", running);
	sd_notify(0, "READY=1");
	vd_notify_status(d);
}
