// SPDX-License-Identifier: GPL-2.0-or-later
/*
 * virtenergyctl-fleet.c: virtenergyctl fleet, fleet set-budget PATH WATTS,
 * fleet set-tree FILE, fleet forget HOST (see virtenergyctl.1).
 *
 * Through the daemon's D-Bus, like every other command, not to etcd
 * directly: the daemon already holds the endpoints, the prefix and a
 * client, the bus policy already says who may write (root), and the
 * checks on a budget or a tree are the daemon's own, so a refusal reads
 * the same from D-Bus, from here and in the daemon's log.  The price: a
 * host must run a virtenergyd in the fleet to be asked.
 */
#include <math.h>
#include <stdio.h>
#include <string.h>

#include "ve-vm1.h"
#include "virtenergyctl.h"

enum { EXIT_DBUS = 1, EXIT_USAGE = 2 };

/* A budget as typed: a number, "W" after it or not.  Range and NaN are the daemon's to judge. */
static int parse_budget(const char *text, double *ret)
{
	char *end = NULL;
	double v = g_ascii_strtod(text, &end);

	if (end == text || (*end && strcmp(end, "W") != 0 && strcmp(end, " W") != 0)) {
		fprintf(stderr, "virtenergyctl: '%s' is not a number of watts\n", text);
		return EXIT_USAGE;
	}
	*ret = v;
	return 0;
}

static int refused(const char *what, GError *err)
{
	gboolean invalid = g_error_matches(err, G_DBUS_ERROR, G_DBUS_ERROR_INVALID_ARGS);
	g_autofree char *remote = g_dbus_error_get_remote_error(err);

	g_dbus_error_strip_remote_error(err);
	if (g_strcmp0(remote, "org.virtenergy.Manager1.Error.NotAuthorized") == 0 ||
	    g_strcmp0(remote, "org.freedesktop.DBus.Error.AccessDenied") == 0) {
		fprintf(stderr, "virtenergyctl: not allowed: %s (run as root)\n", err->message);
		return EXIT_DBUS;
	}
	fprintf(stderr, "virtenergyctl: %s refused: %s; nothing changed\n", what, err->message);
	return invalid ? EXIT_USAGE : EXIT_DBUS;
}

static double num(JsonObject *o, const char *m)
{
	return json_object_has_member(o, m) ? json_object_get_double_member(o, m) : (double)NAN;
}

static const char *watts(char *buf, size_t len, double w)
{
	if (isnan(w))
		return "-";
	vc_human(buf, len, w, "W");
	return buf;
}

static int show(const char *json)
{
	g_autoptr(JsonParser) p = json_parser_new();
	JsonObject *o;
	JsonArray *nodes, *hosts;
	JsonNode *leader;

	if (opt_json) {
		printf("%s\n", json);
		return 0;
	}
	if (!json_parser_load_from_data(p, json, -1, NULL) || !JSON_NODE_HOLDS_OBJECT(json_parser_get_root(p))) {
		fprintf(stderr, "virtenergyctl: the daemon's answer is not a JSON object\n");
		return EXIT_DBUS;
	}
	o = json_node_get_object(json_parser_get_root(p));
	leader = json_object_get_member(o, "leader");
	printf("leader: %s\n", leader && !JSON_NODE_HOLDS_NULL(leader) ? json_node_get_string(leader)
								   : "none (no controller leads: hosts hold their fallbacks)");
	if (json_object_has_member(o, "tree_error"))
		printf("tree:   %s\n", json_object_get_string_member(o, "tree_error"));
	nodes = json_object_get_array_member(o, "nodes");
	printf("\n%-32s %12s\n", "NODE", "BUDGET");
	for (guint i = 0; nodes && i < json_array_get_length(nodes); i++) {
		JsonObject *n = json_array_get_object_element(nodes, i);
		char b[32];

		printf("%-32s %12s\n", json_object_get_string_member(n, "path"),
		       watts(b, sizeof(b), num(n, "budget_w")));
	}
	hosts = json_object_get_array_member(o, "hosts");
	printf("\n%-16s %-20s %10s %-8s %10s %10s %10s %10s\n", "HOST", "NODE", "CAP", "SOURCE", "DEMAND",
	       "POWER", "FALLBACK", "RESERVED");
	for (guint i = 0; hosts && i < json_array_get_length(hosts); i++) {
		JsonObject *h = json_array_get_object_element(hosts, i);
		gboolean live = json_object_get_boolean_member(h, "live");
		char c[32], d[32], pw[32], f[32], r[32];

		printf("%-16s %-20s %10s %-8s %10s %10s %10s %10s%s%s\n",
		       json_object_get_string_member(h, "name"), json_object_get_string_member(h, "node"),
		       watts(c, sizeof(c), num(h, "cap_w")),
		       live ? json_object_get_string_member(h, "source") : "gone",
		       watts(d, sizeof(d), num(h, "demand_w")), watts(pw, sizeof(pw), num(h, "power_w")),
		       watts(f, sizeof(f), num(h, "fallback_w")), watts(r, sizeof(r), num(h, "reserved_w")),
		       json_object_has_member(h, "error") ? "  bad report: " : "",
		       json_object_has_member(h, "error") ? json_object_get_string_member(h, "error") : "");
	}
	return 0;
}

int vc_fleet(VeManager1 *p, int argc, char **argv)
{
	g_autoptr(GError) err = NULL;

	if (argc == 0) {
		g_autofree char *json = NULL;

		if (!ve_manager1_call_get_fleet_sync(p, &json, NULL, &err)) {
			g_dbus_error_strip_remote_error(err);
			fprintf(stderr, "virtenergyctl: cannot show the fleet: %s\n", err->message);
			return EXIT_DBUS;
		}
		return show(json);
	}
	if (strcmp(argv[0], "set-budget") == 0) {
		double w = 0;

		if (!ve_manager1_call_set_fleet_budget_sync(p, argv[1], (parse_budget(argv[2], &w), w), NULL, &err))
			return refused("the budget", err);
		printf("budget of %s set to %g W\n", argv[1], w);
		return 0;
	}
	if (strcmp(argv[0], "forget") == 0) {
		if (!ve_manager1_call_forget_fleet_host_sync(p, argv[1], NULL, &err))
			return refused("forgetting the host", err);
		printf("host %s forgotten: its fallback is no longer reserved\n", argv[1]);
		return 0;
	}
	{
		g_autofree char *text = NULL;

		if (!g_file_get_contents(argv[1], &text, NULL, &err)) {
			fprintf(stderr, "virtenergyctl: %s\n", err->message);
			return EXIT_USAGE;
		}
		if (!ve_manager1_call_set_fleet_tree_sync(p, text, NULL, &err))
			return refused("the tree", err);
		printf("tree set from %s\n", argv[1]);
		return 0;
	}
}

int vc_fleet_usage(int argc, char **argv)
{
	double w;

	if (argc == 0)
		return 0;
	if (strcmp(argv[0], "set-budget") == 0 && argc == 3)
		return parse_budget(argv[2], &w);
	if ((strcmp(argv[0], "set-tree") == 0 || strcmp(argv[0], "forget") == 0) && argc == 2)
		return 0;
	fprintf(stderr, "virtenergyctl: 'fleet' takes nothing, set-budget PATH WATTS, set-tree FILE or forget HOST\n");
	return EXIT_USAGE;
}
