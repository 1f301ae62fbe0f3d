// SPDX-License-Identifier: GPL-2.0-or-later
/*
 * virtenergyctl: ask virtenergyd over D-Bus (org.virtenergy.Manager1).
 *
 *   virtenergyctl [--json] status      the host: power, energy, sensor, sampler
 *   virtenergyctl [--json] list        every VM: power and energy
 *   virtenergyctl [--json] show VM     one VM (name or UUID), energy by component
 *   virtenergyctl top [--once] [-n N]  VMs sorted by power, refreshed every second
 *                                      (N times, or until interrupted)
 *   virtenergyctl set-limit VM 40W     a VM's power limit, written to its libvirt metadata
 *   virtenergyctl clear-limit VM       remove it
 *   virtenergyctl host-cap 300W|none   the host-wide cap split among VMs
 *   virtenergyctl --version            this program's version (the daemon's is in status)
 *
 * Exit codes: 0 done, 1 the daemon could not be asked, 2 bad usage,
 * 3 no such VM.  Figures come in joules and watts and are shown with
 * units scaled for people (mW, W, kW; J, kJ, MJ, or Wh with --wh).
 */
#include <gio/gio.h>
#include <locale.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "units.h"

#define BUS_NAME "org.virtenergy.Manager1"
#define OBJECT_PATH "/org/virtenergy/Manager1"
#define IFACE "org.virtenergy.Manager1"

enum { EXIT_DBUS = 1, EXIT_USAGE = 2, EXIT_NO_VM = 3 };

static gboolean opt_json, opt_once, opt_version;
static int opt_iterations;
static char *opt_bus;

static void human(char *buf, size_t len, double v, const char *unit)
{
	const char *prefix = "";

	if (v >= 1e6) {
		v /= 1e6;
		prefix = "M";
	} else if (v >= 1e3) {
		v /= 1e3;
		prefix = "k";
	} else if (v > 0 && v < 1) {
		v *= 1e3;
		prefix = "m";
	}
	snprintf(buf, len, "%.2f %s%s", v, prefix, unit);
}

/* A JSON string literal: quotes, backslashes and control characters escaped. */
static void json_str(GString *out, const char *s)
{
	g_string_append_c(out, '"');
	for (const unsigned char *p = (const unsigned char *)s; *p; p++) {
		if (*p == '"' || *p == '\\')
			g_string_append_printf(out, "\\%c", *p);
		else if (*p < 0x20)
			g_string_append_printf(out, "\\u%04x", *p);
		else
			g_string_append_c(out, (char)*p);
	}
	g_string_append_c(out, '"');
}

static GDBusProxy *connect_daemon(GError **error)
{
	GBusType bus = opt_bus && strcmp(opt_bus, "session") == 0 ? G_BUS_TYPE_SESSION
								   : G_BUS_TYPE_SYSTEM;

	return g_dbus_proxy_new_for_bus_sync(bus, G_DBUS_PROXY_FLAGS_DO_NOT_AUTO_START, NULL,
					     BUS_NAME, OBJECT_PATH, IFACE, NULL, error);
}

/*
 * A property as it is now (not the proxy's cache, which only a running main
 * loop would keep current: top refreshes without one).  NULL when the
 * daemon does not answer.
 */
static GVariant *prop(GDBusProxy *p, const char *name)
{
	g_autoptr(GVariant) r = NULL;
	GVariant *v = NULL;

	r = g_dbus_connection_call_sync(g_dbus_proxy_get_connection(p), BUS_NAME, OBJECT_PATH,
					"org.freedesktop.DBus.Properties", "Get",
					g_variant_new("(ss)", IFACE, name), G_VARIANT_TYPE("(v)"),
					G_DBUS_CALL_FLAGS_NO_AUTO_START, 5000, NULL, NULL);
	if (!r)
		return NULL;
	g_variant_get(r, "(v)", &v);
	return v;
}

static int cmd_status(GDBusProxy *p)
{
	static const char *const names[] = { "PowerW", "EnergyJ", "HostOwnEnergyJ",
					     "UnattributedEnergyJ", "Estimated", "Sensor", "Sampler",
					     "Periods", "Version" };
	g_autoptr(GVariant) power = prop(p, "PowerW");

	if (!power) {
		fprintf(stderr, "virtenergyctl: virtenergyd is not running on this bus (no %s)\n",
			BUS_NAME);
		return EXIT_DBUS;
	}
	if (opt_json) {
		g_autoptr(GString) out = g_string_new("{");

		for (size_t i = 0; i < G_N_ELEMENTS(names); i++) {
			g_autoptr(GVariant) v = prop(p, names[i]);

			if (i)
				g_string_append_c(out, ',');
			json_str(out, names[i]);
			g_string_append_c(out, ':');
			if (!v)
				g_string_append(out, "null");
			else if (g_variant_is_of_type(v, G_VARIANT_TYPE_DOUBLE))
				g_string_append_printf(out, "%.6f", g_variant_get_double(v));
			else if (g_variant_is_of_type(v, G_VARIANT_TYPE_BOOLEAN))
				g_string_append(out, g_variant_get_boolean(v) ? "true" : "false");
			else if (g_variant_is_of_type(v, G_VARIANT_TYPE_UINT64))
				g_string_append_printf(out, "%" G_GUINT64_FORMAT, g_variant_get_uint64(v));
			else
				json_str(out, g_variant_get_string(v, NULL));
		}
		g_string_append(out, "}");
		puts(out->str);
		return 0;
	}
	{
		g_autoptr(GVariant) energy = prop(p, "EnergyJ"), own = prop(p, "HostOwnEnergyJ");
		g_autoptr(GVariant) un = prop(p, "UnattributedEnergyJ"), est = prop(p, "Estimated");
		g_autoptr(GVariant) sensor = prop(p, "Sensor"), sampler = prop(p, "Sampler");
		g_autoptr(GVariant) version = prop(p, "Version");
		char pw[32], en[32], ow[32], ua[32];

		human(pw, sizeof(pw), g_variant_get_double(power), "W");
		human(en, sizeof(en), g_variant_get_double(energy), "J");
		human(ow, sizeof(ow), g_variant_get_double(own), "J");
		human(ua, sizeof(ua), g_variant_get_double(un), "J");
		printf("power:        %s%s\n", pw, g_variant_get_boolean(est) ? " (estimated)" : "");
		printf("energy:       %s attributed (host's own work %s, unattributed %s)\n", en, ow, ua);
		printf("sensor:       %s\n", g_variant_get_string(sensor, NULL));
		printf("sampler:      %s\n", g_variant_get_string(sampler, NULL));
		/* a daemon older than the property has none: say nothing rather than guess */
		if (version)
			printf("version:      virtenergyd %s\n", g_variant_get_string(version, NULL));
	}
	return 0;
}

struct vm_row {
	const char *uuid, *name;
	gboolean running;
	double power_w, energy_j;
};

static int by_power(gconstpointer a, gconstpointer b)
{
	const struct vm_row *x = a, *y = b;

	return (x->power_w < y->power_w) - (x->power_w > y->power_w);
}

static GVariant *call(GDBusProxy *p, const char *method, GVariant *args, GError **error)
{
	return g_dbus_proxy_call_sync(p, method, args, G_DBUS_CALL_FLAGS_NONE, 5000, NULL, error);
}

static void print_rows(GArray *rows)
{
	printf("%-24s %-8s %12s %14s\n", "VM", "STATE", "POWER", "ENERGY");
	for (guint i = 0; i < rows->len; i++) {
		const struct vm_row *r = &g_array_index(rows, struct vm_row, i);
		char pw[32], en[32];

		human(pw, sizeof(pw), r->power_w, "W");
		human(en, sizeof(en), r->energy_j, "J");
		printf("%-24.24s %-8s %12s %14s\n", r->name, r->running ? "running" : "stopped", pw, en);
	}
}

static int cmd_list(GDBusProxy *p, gboolean sort)
{
	g_autoptr(GError) err = NULL;
	g_autoptr(GVariant) ret = call(p, "ListVMs", NULL, &err);
	g_autoptr(GVariantIter) it = NULL;
	g_autoptr(GArray) rows = g_array_new(FALSE, FALSE, sizeof(struct vm_row));
	struct vm_row r;

	if (!ret) {
		fprintf(stderr, "virtenergyctl: cannot list VMs: %s\n", err->message);
		return EXIT_DBUS;
	}
	g_variant_get(ret, "(a(ssbdd))", &it);
	while (g_variant_iter_next(it, "(&s&sbdd)", &r.uuid, &r.name, &r.running, &r.power_w,
				   &r.energy_j))
		g_array_append_val(rows, r);
	if (sort)
		g_array_sort(rows, by_power);
	if (opt_json) {
		g_autoptr(GString) out = g_string_new("[");

		for (guint i = 0; i < rows->len; i++) {
			const struct vm_row *v = &g_array_index(rows, struct vm_row, i);

			g_string_append(out, i ? ",{\"uuid\":" : "{\"uuid\":");
			json_str(out, v->uuid);
			g_string_append(out, ",\"name\":");
			json_str(out, v->name);
			g_string_append_printf(out, ",\"running\":%s,\"power_w\":%.6f,\"energy_j\":%.6f}",
					       v->running ? "true" : "false", v->power_w, v->energy_j);
		}
		g_string_append_c(out, ']');
		puts(out->str);
		return 0;
	}
	print_rows(rows);
	return 0;
}

static int cmd_show(GDBusProxy *p, const char *vm)
{
	g_autoptr(GError) err = NULL;
	g_autoptr(GVariant) ret = call(p, "GetVM", g_variant_new("(s)", vm), &err);
	g_autoptr(GVariant) info = NULL, comps = NULL;
	GVariantIter it;
	const char *key, *name;
	double j;
	char buf[32];

	if (!ret) {
		g_autofree char *remote = g_dbus_error_get_remote_error(err);

		if (g_strcmp0(remote, IFACE ".Error.NoSuchVM") == 0) {
			fprintf(stderr, "virtenergyctl: no VM '%s' (virtenergyctl list shows them)\n", vm);
			return EXIT_NO_VM;
		}
		fprintf(stderr, "virtenergyctl: cannot ask about '%s': %s\n", vm, err->message);
		return EXIT_DBUS;
	}
	info = g_variant_get_child_value(ret, 0);
	comps = g_variant_lookup_value(info, "ComponentEnergyJ", G_VARIANT_TYPE("a{sd}"));
	if (opt_json) {
		g_autoptr(GString) out = g_string_new("{");
		GVariant *v;
		gboolean first = TRUE;

		g_variant_iter_init(&it, info);
		while (g_variant_iter_next(&it, "{&sv}", &key, &v)) {
			g_string_append(out, first ? "" : ",");
			first = FALSE;
			json_str(out, key);
			g_string_append_c(out, ':');
			if (g_variant_is_of_type(v, G_VARIANT_TYPE_STRING))
				json_str(out, g_variant_get_string(v, NULL));
			else if (g_variant_is_of_type(v, G_VARIANT_TYPE_BOOLEAN))
				g_string_append(out, g_variant_get_boolean(v) ? "true" : "false");
			else if (g_variant_is_of_type(v, G_VARIANT_TYPE_UINT32))
				g_string_append_printf(out, "%u", g_variant_get_uint32(v));
			else if (g_variant_is_of_type(v, G_VARIANT_TYPE_DOUBLE))
				g_string_append_printf(out, "%.6f", g_variant_get_double(v));
			else {
				GVariantIter ci;
				gboolean cf = TRUE;

				g_string_append_c(out, '{');
				g_variant_iter_init(&ci, v);
				while (g_variant_iter_next(&ci, "{&sd}", &name, &j)) {
					g_string_append(out, cf ? "" : ",");
					cf = FALSE;
					json_str(out, name);
					g_string_append_printf(out, ":%.6f", j);
				}
				g_string_append_c(out, '}');
			}
			g_variant_unref(v);
		}
		g_string_append_c(out, '}');
		puts(out->str);
		return 0;
	}
	{
		const char *uuid = NULL, *vname = NULL;
		gboolean running = FALSE;
		double power = 0, energy = 0;
		guint32 vcpus = 0;

		g_variant_lookup(info, "Name", "&s", &vname);
		g_variant_lookup(info, "UUID", "&s", &uuid);
		g_variant_lookup(info, "Running", "b", &running);
		g_variant_lookup(info, "VCPUs", "u", &vcpus);
		g_variant_lookup(info, "PowerW", "d", &power);
		g_variant_lookup(info, "EnergyJ", "d", &energy);
		printf("%s (%s), %s, %u vCPUs\n", vname, uuid, running ? "running" : "stopped", vcpus);
		human(buf, sizeof(buf), power, "W");
		printf("  power     %s\n", buf);
		human(buf, sizeof(buf), energy, "J");
		printf("  energy    %s\n", buf);
		{
			double limit = 0;

			g_variant_lookup(info, "LimitW", "d", &limit);
			if (limit > 0) {
				human(buf, sizeof(buf), limit, "W");
				printf("  limit     %s\n", buf);
			}
		}
		g_variant_iter_init(&it, comps);
		while (g_variant_iter_next(&it, "{&sd}", &name, &j)) {
			human(buf, sizeof(buf), j, "J");
			printf("    %-9s %s\n", name, buf);
		}
	}
	return 0;
}

/* A write method: errors explained, and the exit code scripts want. */
static int write_call(GDBusProxy *p, const char *method, GVariant *args, const char *vm)
{
	g_autoptr(GError) err = NULL;
	g_autoptr(GVariant) ret = call(p, method, args, &err);
	g_autofree char *remote = NULL;

	if (ret)
		return 0;
	remote = g_dbus_error_get_remote_error(err);
	g_dbus_error_strip_remote_error(err);
	if (g_strcmp0(remote, IFACE ".Error.NoSuchVM") == 0) {
		fprintf(stderr, "virtenergyctl: no VM '%s' (virtenergyctl list shows them)\n", vm);
		return EXIT_NO_VM;
	}
	if (g_strcmp0(remote, IFACE ".Error.NotAuthorized") == 0 ||
	    g_strcmp0(remote, "org.freedesktop.DBus.Error.AccessDenied") == 0) {
		fprintf(stderr, "virtenergyctl: not allowed: %s (run as root)\n", err->message);
		return EXIT_DBUS;
	}
	fprintf(stderr, "virtenergyctl: %s failed: %s\n", method, err->message);
	return EXIT_DBUS;
}

static int parse_watts(const char *text, double *ret_w)
{
	g_autoptr(GError) err = NULL;
	uint64_t uw;

	if (!ve_parse_power_uw(text, &uw, &err) || !uw) {
		fprintf(stderr, "virtenergyctl: %s\n", err ? err->message : "a limit must be above 0 W");
		return EXIT_USAGE;
	}
	*ret_w = (double)uw / 1e6;
	return 0;
}

static int cmd_top(GDBusProxy *p)
{
	gboolean tty = isatty(STDOUT_FILENO);

	for (int n = 1;; n++) {
		int r;

		if (tty && !opt_once)
			fputs("\033[H\033[2J", stdout);   /* refresh in place */
		r = cmd_status(p);
		if (r == 0) {
			putchar('\n');
			r = cmd_list(p, TRUE);
		}
		fflush(stdout);
		if (r || opt_once || (opt_iterations > 0 && n >= opt_iterations))
			return r;
		sleep(1);
	}
}

int main(int argc, char **argv)
{
	GOptionEntry entries[] = {
		{ "json", 'j', 0, G_OPTION_ARG_NONE, &opt_json, "machine-readable output", NULL },
		{ "once", 0, 0, G_OPTION_ARG_NONE, &opt_once, "top: print once and exit", NULL },
		{ "iterations", 'n', 0, G_OPTION_ARG_INT, &opt_iterations,
		  "top: refresh N times, then exit", "N" },
		{ "bus", 0, 0, G_OPTION_ARG_STRING, &opt_bus, "system (default) or session", "BUS" },
		{ "version", 'V', 0, G_OPTION_ARG_NONE, &opt_version, "print the version and exit", NULL },
		{ NULL, 0, 0, 0, NULL, NULL, NULL },
	};
	g_autoptr(GOptionContext) ctx = g_option_context_new(
		"status | list | show VM | top | set-limit VM POWER | clear-limit VM | host-cap POWER|none");
	g_autoptr(GError) err = NULL;
	g_autoptr(GDBusProxy) p = NULL;
	const char *cmd;

	setlocale(LC_ALL, "C");   /* decimal points in JSON */
	g_option_context_add_main_entries(ctx, entries, NULL);
	if (!g_option_context_parse(ctx, &argc, &argv, &err)) {
		fprintf(stderr, "virtenergyctl: %s\n", err->message);
		return EXIT_USAGE;
	}
	if (opt_version) {
		printf("virtenergyctl %s\n", VE_VERSION);
		return 0;
	}
	if (argc < 2) {
		fprintf(stderr, "virtenergyctl: a command is needed: status, list, show VM, top\n");
		return EXIT_USAGE;
	}
	cmd = argv[1];
	{
		static const struct {
			const char *cmd;
			int args;
			const char *usage;
		} cmds[] = {
			{ "status", 0, "no argument" }, { "list", 0, "no argument" },
			{ "top", 0, "no argument" }, { "show", 1, "one VM (name or UUID)" },
			{ "set-limit", 2, "a VM and a power, e.g. set-limit web1 40W" },
			{ "clear-limit", 1, "one VM (name or UUID)" },
			{ "host-cap", 1, "a power (e.g. 300W) or none" },
		};
		size_t i;

		for (i = 0; i < G_N_ELEMENTS(cmds); i++)
			if (strcmp(cmd, cmds[i].cmd) == 0)
				break;
		if (i == G_N_ELEMENTS(cmds)) {
			fprintf(stderr, "virtenergyctl: unknown command '%s' (status, list, show VM, top, "
				"set-limit VM POWER, clear-limit VM, host-cap POWER|none)\n", cmd);
			return EXIT_USAGE;
		}
		if (argc - 2 != cmds[i].args) {
			fprintf(stderr, "virtenergyctl: '%s' takes %s\n", cmd, cmds[i].usage);
			return EXIT_USAGE;
		}
	}
	if (opt_bus && strcmp(opt_bus, "system") != 0 && strcmp(opt_bus, "session") != 0) {
		fprintf(stderr, "virtenergyctl: --bus '%s' is not system or session\n", opt_bus);
		return EXIT_USAGE;
	}
	if (opt_iterations < 0) {
		fprintf(stderr, "virtenergyctl: --iterations %d: give a positive count\n", opt_iterations);
		return EXIT_USAGE;
	}
	if (strcmp(cmd, "set-limit") == 0 || (strcmp(cmd, "host-cap") == 0 && strcmp(argv[2], "none"))) {
		/* check the power before asking anyone */
		double w;
		int r = parse_watts(argv[argc - 1], &w);

		if (r)
			return r;
	}
	p = connect_daemon(&err);
	if (!p) {
		fprintf(stderr, "virtenergyctl: cannot reach D-Bus: %s\n", err->message);
		return EXIT_DBUS;
	}
	if (strcmp(cmd, "status") == 0)
		return cmd_status(p);
	if (strcmp(cmd, "list") == 0)
		return cmd_list(p, FALSE);
	if (strcmp(cmd, "show") == 0)
		return cmd_show(p, argv[2]);
	if (strcmp(cmd, "set-limit") == 0) {
		double w = 0;

		parse_watts(argv[3], &w);
		return write_call(p, "SetVMLimit", g_variant_new("(sd)", argv[2], w), argv[2]);
	}
	if (strcmp(cmd, "clear-limit") == 0)
		return write_call(p, "ClearVMLimit", g_variant_new("(s)", argv[2]), argv[2]);
	if (strcmp(cmd, "host-cap") == 0) {
		double w = 0;

		if (strcmp(argv[2], "none") == 0)
			return write_call(p, "ClearHostCap", NULL, NULL);
		parse_watts(argv[2], &w);
		return write_call(p, "SetHostCap", g_variant_new("(d)", w), NULL);
	}
	return cmd_top(p);
}
