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
#include "virtenergyctl.h"
#include "ve-vm1.h"

#define BUS_NAME "org.virtenergy.Manager1"
#define OBJECT_PATH "/org/virtenergy/Manager1"
#define VM_ROOT "/org/virtenergy"   /* the ObjectManager of the VM objects */
#define IFACE "org.virtenergy.Manager1"

enum { EXIT_DBUS = 1, EXIT_USAGE = 2, EXIT_NO_VM = 3 };

gboolean opt_json;
static gboolean opt_once, opt_version;
static int opt_iterations;
static char *opt_bus;


/* The daemon's object, through the proxy gdbus-codegen generates from its XML. */
static VeManager1 *connect_daemon(GError **error)
{
	GBusType bus = opt_bus && strcmp(opt_bus, "session") == 0 ? G_BUS_TYPE_SESSION
								   : G_BUS_TYPE_SYSTEM;
	VeManager1 *p = ve_manager1_proxy_new_for_bus_sync(bus, G_DBUS_PROXY_FLAGS_DO_NOT_AUTO_START,
							   BUS_NAME, OBJECT_PATH, NULL, error);

	if (p)
		g_dbus_proxy_set_default_timeout(G_DBUS_PROXY(p), 5000);
	return p;
}

/*
 * A property, from the proxy's cache: filled when it was made, and kept
 * current by the daemon's PropertiesChanged while a main loop runs (top
 * runs one between refreshes).  NULL when the daemon does not answer.
 */
static GVariant *prop(VeManager1 *p, const char *name)
{
	return g_dbus_proxy_get_cached_property(G_DBUS_PROXY(p), name);
}

static const char *const status_props[] = { "PowerW", "EnergyJ", "HostOwnEnergyJ",
					     "UnattributedEnergyJ", "HostCapW", "Estimated", "Sensor",
					     "Sampler", "Periods", "Version", "Services" };

/* The host's properties as a JSON object. */
static void build_status(VeManager1 *p, JsonBuilder *b)
{
	json_builder_begin_object(b);
	for (size_t i = 0; i < G_N_ELEMENTS(status_props); i++) {
		g_autoptr(GVariant) v = prop(p, status_props[i]);

		vc_json_member(b, status_props[i], v);
	}
	json_builder_end_object(b);
}

/* FALSE (and said) when the daemon does not answer. */
static gboolean daemon_there(VeManager1 *p)
{
	g_autofree char *owner = g_dbus_proxy_get_name_owner(G_DBUS_PROXY(p));
	g_autoptr(GVariant) power = owner ? prop(p, "PowerW") : NULL;

	if (!power)
		fprintf(stderr, "virtenergyctl: virtenergyd is not running on this bus (no %s)\n",
			BUS_NAME);
	return power != NULL;
}

/* One line per shared service: what it spends for its clients. */
static void print_services(VeManager1 *p)
{
	g_autoptr(GVariant) svcs = prop(p, "Services");
	GVariantIter it;
	const char *n, *problem;
	double w, j;
	guint32 threads;

	if (!svcs || !g_variant_is_of_type(svcs, G_VARIANT_TYPE("a(sddus)")))
		return;
	g_variant_iter_init(&it, svcs);
	while (g_variant_iter_next(&it, "(&sddu&s)", &n, &w, &j, &threads, &problem)) {
		char pw[32], en[32];

		vc_human(pw, sizeof(pw), w, "W");
		vc_human(en, sizeof(en), j, "J");
		if (problem[0])
			printf("service:      %s: %s\n", n, problem);
		else
			printf("service:      %s %s, %s for its clients, %u threads\n", n, pw, en, threads);
	}
}

static void print_status(VeManager1 *p)
{
	g_autoptr(GVariant) power = prop(p, "PowerW"), energy = prop(p, "EnergyJ");
	g_autoptr(GVariant) own = prop(p, "HostOwnEnergyJ"), un = prop(p, "UnattributedEnergyJ");
	g_autoptr(GVariant) est = prop(p, "Estimated"), sensor = prop(p, "Sensor");
	g_autoptr(GVariant) sampler = prop(p, "Sampler"), version = prop(p, "Version");
	char pw[32], en[32], ow[32], ua[32];

	if (!power || !energy || !own || !un || !est || !sensor || !sampler)
		return;
	vc_human(pw, sizeof(pw), g_variant_get_double(power), "W");
	vc_human(en, sizeof(en), g_variant_get_double(energy), "J");
	vc_human(ow, sizeof(ow), g_variant_get_double(own), "J");
	vc_human(ua, sizeof(ua), g_variant_get_double(un), "J");
	printf("power:        %s%s\n", pw, g_variant_get_boolean(est) ? " (estimated)" : "");
	printf("energy:       %s attributed (host's own work %s, unattributed %s)\n", en, ow, ua);
	printf("sensor:       %s\n", g_variant_get_string(sensor, NULL));
	printf("sampler:      %s\n", g_variant_get_string(sampler, NULL));
	/* a daemon older than the property has none: say nothing rather than guess */
	if (version)
		printf("version:      virtenergyd %s\n", g_variant_get_string(version, NULL));
	print_services(p);
}

static int cmd_status(VeManager1 *p)
{
	if (!daemon_there(p))
		return EXIT_DBUS;
	if (opt_json) {
		g_autoptr(JsonBuilder) b = json_builder_new();

		build_status(p, b);
		vc_json_print(b);
	} else {
		print_status(p);
	}
	return 0;
}

struct vm_row {
	const char *uuid, *name;
	gboolean running;
	double power_w, energy_j;
	double limit_w;              /* 0: none */
	char state[20];              /* the limit's state (GetVM's LimitState) */
};

static int by_power(gconstpointer a, gconstpointer b)
{
	const struct vm_row *x = a, *y = b;

	return (x->power_w < y->power_w) - (x->power_w > y->power_w);
}

static void print_rows(GArray *rows)
{
	printf("%-24s %-8s %12s %14s %12s %s\n", "VM", "STATE", "POWER", "ENERGY", "LIMIT", "LIMIT STATE");
	for (guint i = 0; i < rows->len; i++) {
		const struct vm_row *r = &g_array_index(rows, struct vm_row, i);
		char pw[32], en[32], lim[32] = "-";

		vc_human(pw, sizeof(pw), r->power_w, "W");
		vc_human(en, sizeof(en), r->energy_j, "J");
		if (r->limit_w > 0)
			vc_human(lim, sizeof(lim), r->limit_w, "W");
		printf("%-24.24s %-8s %12s %14s %12s %s\n", r->name, r->running ? "running" : "stopped", pw,
		       en, lim, strcmp(r->state, "none") ? r->state : "-");
	}
}

/*
 * Each row's limit and its state (ListVMs has neither), from the VM
 * objects' properties: one GetManagedObjects for every VM, not a GetVM each.
 */
static void fill_limits(VeManager1 *p, GArray *rows)
{
	GDBusProxy *proxy = G_DBUS_PROXY(p);
	/* uuid (inside its value) -> the VM1 properties */
	g_autoptr(GHashTable) by_uuid = g_hash_table_new_full(g_str_hash, g_str_equal, NULL,
							     (GDestroyNotify)g_variant_unref);
	g_autoptr(GVariant) objects = g_dbus_connection_call_sync(
		g_dbus_proxy_get_connection(proxy), g_dbus_proxy_get_name(proxy),
		VM_ROOT, "org.freedesktop.DBus.ObjectManager",
		"GetManagedObjects", NULL, G_VARIANT_TYPE("(a{oa{sa{sv}}})"), G_DBUS_CALL_FLAGS_NONE, -1,
		NULL, NULL);
	g_autoptr(GVariant) all = objects ? g_variant_get_child_value(objects, 0) : NULL;
	GVariantIter it;
	GVariant *ifaces;

	if (all) {
		g_variant_iter_init(&it, all);
		while (g_variant_iter_next(&it, "{&o@a{sa{sv}}}", NULL, &ifaces)) {
			GVariant *props = g_variant_lookup_value(ifaces, "org.virtenergy.VM1",
								 G_VARIANT_TYPE("a{sv}"));
			const char *uuid;

			if (props && g_variant_lookup(props, "UUID", "&s", &uuid))
				g_hash_table_insert(by_uuid, (gpointer)uuid, props);
			else if (props)
				g_variant_unref(props);
			g_variant_unref(ifaces);
		}
	}
	for (guint i = 0; i < rows->len; i++) {
		struct vm_row *r = &g_array_index(rows, struct vm_row, i);
		GVariant *props = g_hash_table_lookup(by_uuid, r->uuid);
		const char *st = "none";

		r->limit_w = 0;
		if (props) {
			g_variant_lookup(props, "LimitW", "d", &r->limit_w);
			g_variant_lookup(props, "LimitState", "&s", &st);
		}
		g_strlcpy(r->state, st, sizeof(r->state));
	}
}

/* Every VM, into @rows (their strings live as long as *@ret); EXIT_DBUS when the daemon cannot say. */
static int get_rows(VeManager1 *p, gboolean sort, GArray *rows, GVariant **ret)
{
	g_autoptr(GError) err = NULL;
	g_autoptr(GVariantIter) it = NULL;
	struct vm_row r;

	*ret = NULL;
	if (!ve_manager1_call_list_vms_sync(p, ret, NULL, &err)) {
		fprintf(stderr, "virtenergyctl: cannot list VMs: %s\n", err->message);
		return EXIT_DBUS;
	}
	g_variant_get(*ret, "a(ssbdd)", &it);
	while (g_variant_iter_next(it, "(&s&sbdd)", &r.uuid, &r.name, &r.running, &r.power_w,
				   &r.energy_j))
		g_array_append_val(rows, r);
	if (sort)
		g_array_sort(rows, by_power);
	fill_limits(p, rows);
	return 0;
}

static void build_rows(GArray *rows, JsonBuilder *b)
{
	json_builder_begin_array(b);
	for (guint i = 0; i < rows->len; i++) {
		const struct vm_row *v = &g_array_index(rows, struct vm_row, i);

		json_builder_begin_object(b);
		json_builder_set_member_name(b, "uuid");
		json_builder_add_string_value(b, v->uuid);
		json_builder_set_member_name(b, "name");
		json_builder_add_string_value(b, v->name);
		json_builder_set_member_name(b, "running");
		json_builder_add_boolean_value(b, v->running);
		json_builder_set_member_name(b, "power_w");
		json_builder_add_double_value(b, v->power_w);
		json_builder_set_member_name(b, "energy_j");
		json_builder_add_double_value(b, v->energy_j);
		json_builder_set_member_name(b, "limit_w");
		if (v->limit_w > 0)
			json_builder_add_double_value(b, v->limit_w);
		else
			json_builder_add_null_value(b);
		json_builder_set_member_name(b, "limit_state");
		json_builder_add_string_value(b, v->state);
		json_builder_end_object(b);
	}
	json_builder_end_array(b);
}

static int cmd_list(VeManager1 *p)
{
	g_autoptr(GArray) rows = g_array_new(FALSE, FALSE, sizeof(struct vm_row));
	g_autoptr(GVariant) ret = NULL;
	int r = get_rows(p, FALSE, rows, &ret);

	if (r)
		return r;
	if (opt_json) {
		g_autoptr(JsonBuilder) b = json_builder_new();

		build_rows(rows, b);
		vc_json_print(b);
	} else {
		print_rows(rows);
	}
	return 0;
}

static int cmd_show(VeManager1 *p, const char *vm)
{
	g_autoptr(GError) err = NULL;
	g_autoptr(GVariant) info = NULL, comps = NULL;
	gboolean ret = ve_manager1_call_get_vm_sync(p, vm, &info, NULL, &err);
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
	comps = g_variant_lookup_value(info, "ComponentEnergyJ", G_VARIANT_TYPE("a{sd}"));
	if (opt_json) {
		g_autoptr(JsonBuilder) b = json_builder_new();
		GVariant *v;

		json_builder_begin_object(b);
		g_variant_iter_init(&it, info);
		while (g_variant_iter_next(&it, "{&sv}", &key, &v)) {
			vc_json_member(b, key, v);
			g_variant_unref(v);
		}
		json_builder_end_object(b);
		vc_json_print(b);
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
		vc_human(buf, sizeof(buf), power, "W");
		printf("  power     %s\n", buf);
		vc_human(buf, sizeof(buf), energy, "J");
		printf("  energy    %s\n", buf);
		{
			double limit = 0;

			const char *state = NULL, *reason = NULL;

			g_variant_lookup(info, "LimitW", "d", &limit);
			g_variant_lookup(info, "LimitState", "&s", &state);
			g_variant_lookup(info, "LimitReason", "&s", &reason);
			if (limit > 0) {
				vc_human(buf, sizeof(buf), limit, "W");
				printf("  limit     %s\n", buf);
			}
			if (state && strcmp(state, "none") != 0)
				printf("  state     %s%s%s\n", state, reason && reason[0] ? ": " : "",
				       reason ? reason : "");
		}
		g_variant_iter_init(&it, comps);
		while (g_variant_iter_next(&it, "{&sd}", &name, &j)) {
			vc_human(buf, sizeof(buf), j, "J");
			printf("    %-9s %s\n", name, buf);
		}
		{
			g_autoptr(GVariant) id = g_variant_lookup_value(info, "Identity",
									 G_VARIANT_TYPE("a{ss}"));
			const char *k, *t;

			if (id && g_variant_n_children(id)) {
				printf("  identity\n");
				g_variant_iter_init(&it, id);
				while (g_variant_iter_next(&it, "{&s&s}", &k, &t))
					printf("    %-15s %s\n", k, t);
			}
		}
	}
	return 0;
}

enum write { SET_VM_LIMIT, CLEAR_VM_LIMIT, SET_HOST_CAP, CLEAR_HOST_CAP };

/* A write method: its outcome said, errors explained, and the exit code scripts want. */
static int write_call(VeManager1 *p, enum write what, const char *vm, double w)
{
	static const char *const method[] = { "SetVMLimit", "ClearVMLimit", "SetHostCap",
					      "ClearHostCap" };
	g_autoptr(GError) err = NULL;
	g_autofree char *remote = NULL;
	g_autoptr(GVariant) r = NULL;
	GVariant *args = NULL;

	switch (what) {
	case SET_VM_LIMIT:
		args = g_variant_new("(sd)", vm, w);
		break;
	case CLEAR_VM_LIMIT:
		args = g_variant_new("(s)", vm);
		break;
	case SET_HOST_CAP:
		args = g_variant_new("(d)", w);
		break;
	case CLEAR_HOST_CAP:
		break;
	}
	/*
	 * On the generated proxy, but not through its typed calls, which send
	 * no flags: a user polkit wants a password from is asked by their agent
	 * (pkttyagent, a desktop's), for as long as they take to type it.
	 */
	r = g_dbus_proxy_call_sync(G_DBUS_PROXY(p), method[what], args,
				   G_DBUS_CALL_FLAGS_ALLOW_INTERACTIVE_AUTHORIZATION, G_MAXINT, NULL, &err);
	if (r) {
		vc_say_done(vm, w);
		return 0;
	}
	remote = g_dbus_error_get_remote_error(err);
	g_dbus_error_strip_remote_error(err);
	if (g_strcmp0(remote, IFACE ".Error.NoSuchVM") == 0) {
		fprintf(stderr, "virtenergyctl: no VM '%s' (virtenergyctl list shows them)\n", vm);
		return EXIT_NO_VM;
	}
	if (g_strcmp0(remote, IFACE ".Error.NotAuthorized") == 0 ||
	    g_strcmp0(remote, "org.freedesktop.DBus.Error.AccessDenied") == 0) {
		fprintf(stderr, "virtenergyctl: not allowed: %s (run as root, or have polkit "
			"authorize you: org.virtenergy.set-limit, org.virtenergy.set-host-cap)\n",
			err->message);
		return EXIT_DBUS;
	}
	fprintf(stderr, "virtenergyctl: %s failed: %s\n", method[what], err->message);
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

/* One refresh of top: --json, one line {"host": status, "vms": [...]}. */
static int top_once(VeManager1 *p)
{
	g_autoptr(GArray) rows = g_array_new(FALSE, FALSE, sizeof(struct vm_row));
	g_autoptr(GVariant) ret = NULL;
	int r;

	if (!daemon_there(p))
		return EXIT_DBUS;
	r = get_rows(p, TRUE, rows, &ret);
	if (r)
		return r;
	if (opt_json) {
		g_autoptr(JsonBuilder) b = json_builder_new();

		json_builder_begin_object(b);
		json_builder_set_member_name(b, "host");
		build_status(p, b);
		json_builder_set_member_name(b, "vms");
		build_rows(rows, b);
		json_builder_end_object(b);
		vc_json_print(b);
		return 0;
	}
	print_status(p);
	putchar('\n');
	print_rows(rows);
	return 0;
}

static gboolean quit_loop(gpointer loop)
{
	g_main_loop_quit(loop);
	return G_SOURCE_REMOVE;
}

/* A second with the main loop running: the proxy takes in the daemon's PropertiesChanged. */
static void wait_second(void)
{
	g_autoptr(GMainLoop) loop = g_main_loop_new(NULL, FALSE);

	g_timeout_add(1000, quit_loop, loop);
	g_main_loop_run(loop);
}

static int cmd_top(VeManager1 *p)
{
	gboolean refresh = isatty(STDOUT_FILENO) && !opt_json && !opt_once;

	for (int n = 1;; n++) {
		int r;

		if (refresh)
			fputs("\033[H\033[2J", stdout);   /* refresh in place */
		r = top_once(p);
		fflush(stdout);
		if (r || opt_once || (opt_iterations > 0 && n >= opt_iterations))
			return r;
		wait_second();
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
		"status | list | show VM | top | set-limit VM POWER | clear-limit VM | host-cap POWER|none | "
		"fleet [set-budget PATH WATTS, set-tree FILE, forget HOST]");
	g_autoptr(GError) err = NULL;
	g_autoptr(VeManager1) p = NULL;
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
	if (strcmp(cmd, "fleet") == 0) {
		/* "--" lets a negative budget through the option parser; it is no argument */
		int n = 0, r;

		for (int i = 2; i < argc; i++)
			if (strcmp(argv[i], "--") != 0)
				argv[2 + n++] = argv[i];
		argc = 2 + n;
		r = vc_fleet_usage(argc - 2, argv + 2);
		if (r)
			return r;
	} else {
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
			/* its arguments vary (vc_fleet_usage checks them); listed for the usage check of the man page */
			{ "fleet", 0, "nothing, set-budget PATH WATTS, set-tree FILE or forget HOST" },
		};
		size_t i;

		for (i = 0; i < G_N_ELEMENTS(cmds); i++)
			if (strcmp(cmd, cmds[i].cmd) == 0)
				break;
		if (i == G_N_ELEMENTS(cmds)) {
			fprintf(stderr, "virtenergyctl: unknown command '%s' (status, list, show VM, top, "
				"set-limit VM POWER, clear-limit VM, host-cap POWER|none, fleet)\n", cmd);
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
	if (!daemon_there(p))
		return EXIT_DBUS;
	if (strcmp(cmd, "fleet") == 0)
		return vc_fleet(p, argc - 2, argv + 2);
	if (strcmp(cmd, "status") == 0)
		return cmd_status(p);
	if (strcmp(cmd, "list") == 0)
		return cmd_list(p);
	if (strcmp(cmd, "show") == 0)
		return cmd_show(p, argv[2]);
	if (strcmp(cmd, "set-limit") == 0) {
		double w = 0;

		parse_watts(argv[3], &w);
		return write_call(p, SET_VM_LIMIT, argv[2], w);
	}
	if (strcmp(cmd, "clear-limit") == 0)
		return write_call(p, CLEAR_VM_LIMIT, argv[2], 0);
	if (strcmp(cmd, "host-cap") == 0) {
		double w = 0;

		if (strcmp(argv[2], "none") == 0)
			return write_call(p, CLEAR_HOST_CAP, NULL, 0);
		parse_watts(argv[2], &w);
		return write_call(p, SET_HOST_CAP, NULL, w);
	}
	return cmd_top(p);
}
