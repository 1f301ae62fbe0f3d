// SPDX-License-Identifier: GPL-2.0-or-later
/*
 * config.c: the configuration file.  GKeyFile does the syntax; this file
 * checks every value strictly and in range, so that a typo is a message
 * and not a default silently taken.
 */
#include <errno.h>
#include <fcntl.h>
#include <math.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "config.h"
#include "fileio.h"
#include "units.h"

#define DEFAULT_URI "qemu:///system"
#define DEFAULT_STATE_DIR "/var/lib/virtenergy"
#define DEFAULT_EXPORT_DIR "/run/virtenergy/guests"
/* where conf/guest-export.md mounts the export inside a guest */
#define DEFAULT_GUEST_SOURCE "/mnt/virtenergy"
#define DEFAULT_VMSR_SOCKET "/run/virtenergy/vmsr-helper.sock"
#define DEFAULT_PROM_TEXTFILE "/var/lib/prometheus/node-exporter/virtenergy.prom"

void ve_config_defaults(struct ve_config *c)
{
	static const char *const events[] = { "cycles", "instructions", "cache-misses", NULL };

	memset(c, 0, sizeof(*c));
	ve_config_fleet_defaults(c);
	c->uri = g_strdup(DEFAULT_URI);
	c->period_us = 100000;
	c->thread_scan_us = 1000000;
	c->vm_thread_scan_us = 10000000;
	c->retain_undefined_us = 720 * G_GUINT64_CONSTANT(3600000000);   /* 30 days */
	c->state_dir = g_strdup(DEFAULT_STATE_DIR);
	c->state_interval_us = 100000;
	c->idle_policy = VE_IDLE_DEFAULT;
	c->sampler = VE_SAMPLER_AUTO;
	c->events = g_strdupv((char **)events);
	/*
	 * A mid-range server socket: some 40 W with every core idle in a
	 * shallow C-state, 150 W flat out (the TDP of a 16–24 core part).
	 */
	c->host_idle_power_uw = 40000000;
	c->host_max_power_uw = 150000000;
	c->calib_window_periods = 600;
	c->export_dir = g_strdup(DEFAULT_EXPORT_DIR);
	c->export_interval_us = 1000000;
	c->vmsr_socket = g_strdup(DEFAULT_VMSR_SOCKET);
	/* Debian's libvirt runs QEMU as libvirt-qemu:libvirt-qemu (qemu.conf's default) */
	c->vmsr_socket_group = g_strdup("libvirt-qemu");
	c->prom_textfile = g_strdup(DEFAULT_PROM_TEXTFILE);
	c->dbus_bus = g_strdup("system");
	c->guest_source = g_strdup(DEFAULT_GUEST_SOURCE);
	c->guest_cgroup_parent = g_strdup("/sys/fs/cgroup");
}

void ve_config_clear(struct ve_config *c)
{
	g_clear_pointer(&c->uri, g_free);
	g_clear_pointer(&c->state_dir, g_free);
	g_clear_pointer(&c->export_dir, g_free);
	g_clear_pointer(&c->vmsr_socket, g_free);
	g_clear_pointer(&c->vmsr_socket_group, g_free);
	g_clear_pointer(&c->prom_textfile, g_free);
	g_clear_pointer(&c->dbus_bus, g_free);
	g_clear_pointer(&c->events, g_strfreev);
	g_clear_pointer(&c->guest_source, g_free);
	g_clear_pointer(&c->guest_cgroup_parent, g_free);
	g_clear_pointer(&c->guest_limits, g_strfreev);
	ve_service_confs_free(c->services, c->n_services);
	c->services = NULL;
	c->n_services = 0;
	ve_config_fleet_clear(c);
}

/* An optional unsigned key in [lo, hi]; missing keys leave *ret alone. */
static gboolean get_uint(GKeyFile *kf, const char *group, const char *key, uint64_t lo,
			 uint64_t hi, uint64_t *ret, GError **error)
{
	g_autofree char *v = g_key_file_get_value(kf, group, key, NULL);
	g_autoptr(GError) e = NULL;
	guint64 n;

	if (!v)
		return TRUE;
	g_strstrip(v);
	if (!g_ascii_string_to_unsigned(v, 10, lo, hi, &n, &e)) {
		g_set_error(error, G_KEY_FILE_ERROR, G_KEY_FILE_ERROR_INVALID_VALUE,
			    "[%s] %s: %s", group, key, e->message);
		return FALSE;
	}
	*ret = n;
	return TRUE;
}

static gboolean get_power(GKeyFile *kf, const char *group, const char *key, uint64_t *ret,
			  GError **error)
{
	g_autofree char *v = g_key_file_get_value(kf, group, key, NULL);
	g_autoptr(GError) e = NULL;

	if (!v)
		return TRUE;
	if (!ve_parse_power_uw(v, ret, &e)) {
		g_set_error(error, G_KEY_FILE_ERROR, G_KEY_FILE_ERROR_INVALID_VALUE, "[%s] %s: %s",
			    group, key, e->message);
		return FALSE;
	}
	return TRUE;
}

/* Every group and key we know; anything else is a typo worth refusing. */
static const char *const known[][12] = {
	{ "daemon", "uri", "period-ms", "thread-scan-ms", "vm-thread-scan-ms", "state-dir",
	  "state-interval-ms", "retain-undefined-hours", NULL },
	{ "accounting", "idle-policy", "sampler", "events", NULL },
	{ "host-model", "idle-power", "max-power", "idle-power-per-cpu", "max-power-per-cpu", NULL },
	{ "calibration", "window-periods", NULL },
	{ "guests", "export-dir", "export-interval-ms", "vmsr-socket", "vmsr-socket-group", NULL },
	{ "prometheus", "textfile", NULL },
	{ "dbus", "bus", NULL },
	{ "limits", "host-cap", NULL },
	{ "guest", "source", "cgroup-parent", "limits", NULL },
	{ "fleet", "endpoints", "prefix", "host", "path", "ttl-s", "period-ms", "fallback-cap", "floor",
	  "weight", "controller", NULL },
};

static gboolean check_known(GKeyFile *kf, const char *origin, GError **error)
{
	g_auto(GStrv) groups = g_key_file_get_groups(kf, NULL);

	for (size_t g = 0; groups[g]; g++) {
		size_t k;
		g_auto(GStrv) keys = NULL;

		if (ve_config_is_service_group(groups[g]))
			continue;   /* config_services.c checks its own */
		for (k = 0; k < G_N_ELEMENTS(known); k++)
			if (strcmp(groups[g], known[k][0]) == 0)
				break;
		if (k == G_N_ELEMENTS(known)) {
			g_set_error(error, G_KEY_FILE_ERROR, G_KEY_FILE_ERROR_GROUP_NOT_FOUND,
				    "%s: unknown group [%s]", origin, groups[g]);
			return FALSE;
		}
		keys = g_key_file_get_keys(kf, groups[g], NULL, NULL);
		for (size_t i = 0; keys && keys[i]; i++) {
			gboolean found = FALSE;

			for (size_t j = 1; known[k][j]; j++)
				found = found || strcmp(keys[i], known[k][j]) == 0;
			if (!found) {
				g_set_error(error, G_KEY_FILE_ERROR, G_KEY_FILE_ERROR_KEY_NOT_FOUND,
					    "%s: unknown key '%s' in [%s]", origin, keys[i], groups[g]);
				return FALSE;
			}
		}
	}
	return TRUE;
}

/*
 * GKeyFile keeps the last of two values of one key without a word; a
 * configuration that says two things is refused here, naming both lines.
 * Only the shape GKeyFile itself accepts is looked at: "[group]" lines and
 * "key=value" lines, comments and blank lines skipped; GKeyFile then
 * parses the text for real.
 */
static gboolean check_duplicates(const char *data, gsize len, const char *origin, GError **error)
{
	g_autoptr(GHashTable) seen = g_hash_table_new_full(g_str_hash, g_str_equal, g_free, NULL);
	g_autofree char *group = g_strdup("");
	const char *p = data, *end = data + len;
	guint line = 0;

	while (p < end) {
		const char *nl = memchr(p, '\n', (size_t)(end - p));
		gsize n = (gsize)((nl ? nl : end) - p);
		g_autofree char *l = g_strndup(p, n);
		char *eq;

		line++;
		/* GKeyFile loads any bytes, then reads a value that is not UTF-8 as unset */
		if (!g_utf8_validate_len(p, n, NULL)) {
			g_set_error(error, G_KEY_FILE_ERROR, G_KEY_FILE_ERROR_PARSE,
				    "%s: line %u is not UTF-8 text", origin, line);
			return FALSE;
		}
		p = nl ? nl + 1 : end;
		g_strstrip(l);
		if (!*l || *l == '#')
			continue;
		if (*l == '[') {
			char *close = strchr(l, ']');

			g_free(group);
			group = g_strndup(l + 1, close ? (gsize)(close - l - 1) : strlen(l + 1));
			continue;
		}
		eq = strchr(l, '=');
		if (!eq)
			continue;     /* GKeyFile says what is wrong with it */
		*eq = '\0';
		g_strchomp(l);
		{
			g_autofree char *k = g_strdup_printf("%s\n%s", group, l);
			gpointer first = g_hash_table_lookup(seen, k);

			if (first) {
				g_set_error(error, G_KEY_FILE_ERROR, G_KEY_FILE_ERROR_INVALID_VALUE,
					    "%s: '%s' in [%s] is set twice, on lines %u and %u", origin, l,
					    group, GPOINTER_TO_UINT(first), line);
				return FALSE;
			}
			g_hash_table_insert(seen, g_steal_pointer(&k), GUINT_TO_POINTER(line));
		}
	}
	return TRUE;
}

gboolean ve_guest_limit_parse(const char *text, char **ret_name, uint64_t *ret_uw, GError **error)
{
	const char *eq = strchr(text, '=');
	g_autofree char *name = NULL;
	g_autoptr(GError) e = NULL;
	uint64_t uw;

	if (eq)
		name = g_strstrip(g_strndup(text, (gsize)(eq - text)));
	if (!eq || !name[0] || strchr(name, '/')) {
		g_set_error(error, G_KEY_FILE_ERROR, G_KEY_FILE_ERROR_INVALID_VALUE,
			    "guest limit '%s' is not CGROUP=POWER (e.g. batch=5W)", text);
		return FALSE;
	}
	if (!ve_parse_power_uw(eq + 1, &uw, &e)) {
		g_set_error(error, G_KEY_FILE_ERROR, G_KEY_FILE_ERROR_INVALID_VALUE,
			    "guest limit for '%s': %s", name, e->message);
		return FALSE;
	}
	if (!uw) {
		g_set_error(error, G_KEY_FILE_ERROR, G_KEY_FILE_ERROR_INVALID_VALUE,
			    "guest limit for '%s': a limit must be above zero", name);
		return FALSE;
	}
	*ret_name = g_steal_pointer(&name);
	*ret_uw = uw;
	return TRUE;
}

gboolean ve_config_load_data(struct ve_config *c, const char *data, gsize len, const char *origin,
			     GError **error)
{
	g_autoptr(GKeyFile) kf = g_key_file_new();
	g_autoptr(GError) e = NULL;
	struct ve_config n = *c;
	g_autofree char *uri = NULL, *state_dir = NULL, *policy = NULL, *sampler = NULL;
	g_auto(GStrv) events = NULL, guest_limits = NULL;
	g_autofree char *guest_source = NULL, *guest_parent = NULL;
	uint64_t period_ms = c->period_us / 1000, interval_ms = c->state_interval_us / 1000;
	uint64_t scan_ms = c->thread_scan_us / 1000, vm_scan_ms = c->vm_thread_scan_us / 1000;
	uint64_t retain_h = c->retain_undefined_us / G_GUINT64_CONSTANT(3600000000);
	uint64_t export_ms = c->export_interval_us / 1000;
	g_autofree char *export_dir = NULL, *vmsr_socket = NULL, *prom = NULL, *bus = NULL;
	g_autofree char *vmsr_group = NULL;
	uint64_t window = c->calib_window_periods;
	struct ve_service_conf *services = NULL;
	size_t n_services = 0;

	if (!check_duplicates(data, len, origin, error))
		return FALSE;
	if (!g_key_file_load_from_data(kf, data, len, G_KEY_FILE_NONE, &e)) {
		g_set_error(error, G_KEY_FILE_ERROR, G_KEY_FILE_ERROR_PARSE, "%s: %s", origin,
			    e->message);
		return FALSE;
	}
	if (!check_known(kf, origin, error))
		return FALSE;
	if (!ve_config_load_services(kf, &services, &n_services, error))
		goto bad;
	if (!get_uint(kf, "daemon", "period-ms", 10, 60000, &period_ms, error) ||
	    !get_uint(kf, "daemon", "state-interval-ms", 10, 3600000, &interval_ms, error) ||
	    !get_uint(kf, "daemon", "thread-scan-ms", 10, 60000, &scan_ms, error) ||
	    !get_uint(kf, "daemon", "vm-thread-scan-ms", 10, 3600000, &vm_scan_ms, error) ||
	    !get_uint(kf, "daemon", "retain-undefined-hours", 0, 87600, &retain_h, error) ||
	    !get_uint(kf, "guests", "export-interval-ms", 10, 3600000, &export_ms, error) ||
	    !get_uint(kf, "calibration", "window-periods", 8, 100000, &window, error) ||
	    !get_power(kf, "host-model", "idle-power", &n.host_idle_power_uw, error) ||
	    !get_power(kf, "host-model", "max-power", &n.host_max_power_uw, error) ||
	    !get_power(kf, "host-model", "idle-power-per-cpu", &n.cpu_idle_power_uw, error) ||
	    !get_power(kf, "host-model", "max-power-per-cpu", &n.cpu_max_power_uw, error) ||
	    !get_power(kf, "limits", "host-cap", &n.host_cap_uw, error))
		goto bad;
	if (n.host_max_power_uw < n.host_idle_power_uw) {
		g_set_error(error, G_KEY_FILE_ERROR, G_KEY_FILE_ERROR_INVALID_VALUE,
			    "[host-model] max-power is below idle-power");
		goto bad;
	}
	if (n.cpu_max_power_uw < n.cpu_idle_power_uw || (!n.cpu_max_power_uw && n.cpu_idle_power_uw)) {
		g_set_error(error, G_KEY_FILE_ERROR, G_KEY_FILE_ERROR_INVALID_VALUE,
			    "[host-model] max-power-per-cpu must be set and not below idle-power-per-cpu");
		goto bad;
	}
	uri = g_key_file_get_string(kf, "daemon", "uri", NULL);
	state_dir = g_key_file_get_string(kf, "daemon", "state-dir", NULL);
	if (state_dir && !g_path_is_absolute(state_dir)) {
		g_set_error(error, G_KEY_FILE_ERROR, G_KEY_FILE_ERROR_INVALID_VALUE,
			    "[daemon] state-dir '%s' is not an absolute path", state_dir);
		goto bad;
	}
	export_dir = g_key_file_get_string(kf, "guests", "export-dir", NULL);
	if (export_dir && export_dir[0] && !g_path_is_absolute(export_dir)) {
		g_set_error(error, G_KEY_FILE_ERROR, G_KEY_FILE_ERROR_INVALID_VALUE,
			    "[guests] export-dir '%s' is not an absolute path (empty turns exports off)",
			    export_dir);
		goto bad;
	}
	vmsr_socket = g_key_file_get_string(kf, "guests", "vmsr-socket", NULL);
	if (vmsr_socket && vmsr_socket[0] && !g_path_is_absolute(vmsr_socket)) {
		g_set_error(error, G_KEY_FILE_ERROR, G_KEY_FILE_ERROR_INVALID_VALUE,
			    "[guests] vmsr-socket '%s' is not an absolute path (empty turns it off)",
			    vmsr_socket);
		goto bad;
	}
	vmsr_group = g_key_file_get_string(kf, "guests", "vmsr-socket-group", NULL);
	if (vmsr_group && !g_regex_match_simple("^([a-z_][a-z0-9_-]*[$]?)?$", g_strstrip(vmsr_group), 0, 0)) {
		g_set_error(error, G_KEY_FILE_ERROR, G_KEY_FILE_ERROR_INVALID_VALUE,
			    "[guests] vmsr-socket-group '%s' is not a group name (empty: root only)",
			    vmsr_group);
		goto bad;
	}
	bus = g_key_file_get_string(kf, "dbus", "bus", NULL);
	if (bus && !g_strv_contains((const char *const[]){ "system", "session", "none", NULL },
				    g_strstrip(bus))) {
		g_set_error(error, G_KEY_FILE_ERROR, G_KEY_FILE_ERROR_INVALID_VALUE,
			    "[dbus] bus '%s' is not one of system, session, none", bus);
		goto bad;
	}
	prom = g_key_file_get_string(kf, "prometheus", "textfile", NULL);
	if (prom && prom[0] && !g_path_is_absolute(prom)) {
		g_set_error(error, G_KEY_FILE_ERROR, G_KEY_FILE_ERROR_INVALID_VALUE,
			    "[prometheus] textfile '%s' is not an absolute path (empty turns it off)",
			    prom);
		goto bad;
	}
	guest_source = g_key_file_get_string(kf, "guest", "source", NULL);
	guest_parent = g_key_file_get_string(kf, "guest", "cgroup-parent", NULL);
	if ((guest_source && !g_path_is_absolute(g_strstrip(guest_source))) ||
	    (guest_parent && !g_path_is_absolute(g_strstrip(guest_parent)))) {
		g_set_error(error, G_KEY_FILE_ERROR, G_KEY_FILE_ERROR_INVALID_VALUE,
			    "[guest] source and cgroup-parent must be absolute paths");
		goto bad;
	}
	guest_limits = g_key_file_get_string_list(kf, "guest", "limits", NULL, NULL);
	for (size_t i = 0; guest_limits && guest_limits[i]; i++) {
		g_autofree char *name = NULL;
		uint64_t uw;

		if (!ve_guest_limit_parse(guest_limits[i], &name, &uw, &e)) {
			g_set_error(error, G_KEY_FILE_ERROR, G_KEY_FILE_ERROR_INVALID_VALUE,
				    "[guest] limits: %s", e->message);
			goto bad;
		}
	}
	policy = g_key_file_get_string(kf, "accounting", "idle-policy", NULL);
	if (policy && ve_idle_policy_from_name(g_strstrip(policy), &n.idle_policy) < 0) {
		g_set_error(error, G_KEY_FILE_ERROR, G_KEY_FILE_ERROR_INVALID_VALUE,
			    "[accounting] idle-policy '%s' is not one of none, equal, vcpus, usage",
			    policy);
		goto bad;
	}
	sampler = g_key_file_get_string(kf, "accounting", "sampler", NULL);
	if (sampler) {
		g_strstrip(sampler);
		if (strcmp(sampler, "auto") == 0)
			n.sampler = VE_SAMPLER_AUTO;
		else if (strcmp(sampler, "perf") == 0)
			n.sampler = VE_SAMPLER_PERF;
		else if (strcmp(sampler, "schedstat") == 0)
			n.sampler = VE_SAMPLER_SCHEDSTAT;
		else if (strcmp(sampler, "kmod") == 0)
			n.sampler = VE_SAMPLER_KMOD;
		else {
			g_set_error(error, G_KEY_FILE_ERROR, G_KEY_FILE_ERROR_INVALID_VALUE,
				    "[accounting] sampler '%s' is not one of auto, kmod, perf, schedstat",
				    sampler);
			goto bad;
		}
	}
	if (g_key_file_has_key(kf, "accounting", "events", NULL)) {
		events = g_key_file_get_string_list(kf, "accounting", "events", NULL, NULL);
		if (events && g_strv_length(events) > VE_MAX_EVENTS - 1) {
			g_set_error(error, G_KEY_FILE_ERROR, G_KEY_FILE_ERROR_INVALID_VALUE,
				    "[accounting] events: at most %d events", VE_MAX_EVENTS - 1);
			goto bad;
		}
		for (size_t i = 0; events && events[i]; i++)
			g_strstrip(events[i]);
	}

	/* last, as it makes strings of its own: nothing may fail after it */
	if (!ve_config_load_fleet(kf, &n, error))
		goto bad;
	/* everything checked: commit */
	ve_config_fleet_commit(&n, c);
	n.period_us = period_ms * 1000;
	n.thread_scan_us = scan_ms * 1000;
	n.vm_thread_scan_us = vm_scan_ms * 1000;
	n.retain_undefined_us = retain_h * G_GUINT64_CONSTANT(3600000000);
	n.export_interval_us = export_ms * 1000;
	if (export_dir) {
		n.export_dir = g_steal_pointer(&export_dir);
		g_free(c->export_dir);
	}
	if (vmsr_socket) {
		n.vmsr_socket = g_steal_pointer(&vmsr_socket);
		g_free(c->vmsr_socket);
	}
	if (vmsr_group) {
		n.vmsr_socket_group = g_steal_pointer(&vmsr_group);
		g_free(c->vmsr_socket_group);
	}
	if (prom) {
		n.prom_textfile = g_steal_pointer(&prom);
		g_free(c->prom_textfile);
	}
	if (bus) {
		n.dbus_bus = g_steal_pointer(&bus);
		g_free(c->dbus_bus);
	}
	n.state_interval_us = interval_ms * 1000;
	n.calib_window_periods = (unsigned int)window;
	if (uri) {
		n.uri = g_steal_pointer(&uri);
		g_free(c->uri);
	}
	if (state_dir) {
		n.state_dir = g_steal_pointer(&state_dir);
		g_free(c->state_dir);
	}
	if (events) {
		n.events = g_steal_pointer(&events);
		g_strfreev(c->events);
	}
	if (guest_source) {
		n.guest_source = g_steal_pointer(&guest_source);
		g_free(c->guest_source);
	}
	if (guest_parent) {
		n.guest_cgroup_parent = g_steal_pointer(&guest_parent);
		g_free(c->guest_cgroup_parent);
	}
	if (guest_limits) {
		n.guest_limits = g_steal_pointer(&guest_limits);
		g_strfreev(c->guest_limits);
	}
	/* the file's services replace the previous ones, none included */
	ve_service_confs_free(c->services, c->n_services);
	n.services = g_steal_pointer(&services);
	n.n_services = n_services;
	*c = n;
	return TRUE;
bad:
	ve_service_confs_free(services, n_services);
	g_prefix_error(error, "%s: ", origin);
	return FALSE;
}

/* A configuration file is small; anything bigger is not one. */
#define CONFIG_MAX_BYTES (1024 * 1024)

gboolean ve_config_load(struct ve_config *c, const char *path, GError **error)
{
	g_autofree char *data = NULL;
	size_t len = 0;
	int r;

	/* a FIFO would block start-up and a huge file fill memory: both refused by name */
	r = ve_read_regular_at(AT_FDCWD, path, CONFIG_MAX_BYTES, &data, &len);
	if (r == -EINVAL) {
		g_set_error(error, G_FILE_ERROR, G_FILE_ERROR_INVAL, "%s is not a regular file", path);
		return FALSE;
	}
	if (r == -EFBIG) {
		g_set_error(error, G_FILE_ERROR, G_FILE_ERROR_FAILED,
			    "%s is larger than a configuration file may be: it is at most %d bytes",
			    path, CONFIG_MAX_BYTES);
		return FALSE;
	}
	if (r < 0) {
		g_set_error(error, G_FILE_ERROR, g_file_error_from_errno(-r), "cannot open %s: %s",
			    path, g_strerror(-r));
		return FALSE;
	}
	return ve_config_load_data(c, data, len, path, error);
}
