// SPDX-License-Identifier: GPL-2.0-or-later
/*
 * config-fleet.c: the [fleet] group of virtenergyd.conf (see config.h and
 * conf/virtenergyd.conf).  Off unless endpoints are given; then the path
 * of the host's node is required.  The control period must be at most
 * half the TTL: a host raises from its cap to its fallback 2 TTL and one
 * period after it lost its cap, and the controller must have seen it gone
 * (one TTL) and lowered the others (a period and their reports) by then.
 */
#include <stdarg.h>
#include <string.h>
#include <unistd.h>

#include "config.h"
#include "keys.h"

void ve_config_fleet_defaults(struct ve_config *c)
{
	c->fleet_ttl_s = 10;
	c->fleet_period_us = 1000000;
	c->fleet_weight = 100;
	c->fleet_controller = true;
}

void ve_config_fleet_clear(struct ve_config *c)
{
	g_clear_pointer(&c->fleet_endpoints, g_strfreev);
	g_clear_pointer(&c->fleet_prefix, g_free);
	g_clear_pointer(&c->fleet_host, g_free);
	g_clear_pointer(&c->fleet_path, g_free);
}

static gboolean bad(GError **error, const char *key, const char *fmt, ...) G_GNUC_PRINTF(3, 4);
static gboolean bad(GError **error, const char *key, const char *fmt, ...)
{
	va_list ap;
	g_autofree char *m = NULL;

	va_start(ap, fmt);
	m = g_strdup_vprintf(fmt, ap);
	va_end(ap);

	g_set_error(error, G_KEY_FILE_ERROR, G_KEY_FILE_ERROR_INVALID_VALUE, "[fleet] %s: %s", key, m);
	return FALSE;
}

static gboolean get_u(GKeyFile *kf, const char *key, uint64_t lo, uint64_t hi, uint64_t *ret,
		      GError **error)
{
	g_autofree char *v = g_key_file_get_value(kf, "fleet", key, NULL);
	g_autoptr(GError) e = NULL;
	guint64 n;

	if (!v)
		return TRUE;
	g_strstrip(v);
	if (!g_ascii_string_to_unsigned(v, 10, lo, hi, &n, &e))
		return bad(error, key, "%s", e->message);
	*ret = n;
	return TRUE;
}

static gboolean get_w(GKeyFile *kf, const char *key, uint64_t *ret, GError **error)
{
	g_autofree char *v = g_key_file_get_value(kf, "fleet", key, NULL);
	g_autoptr(GError) e = NULL;

	if (v && !ve_parse_power_uw(v, ret, &e))
		return bad(error, key, "%s", e->message);
	return TRUE;
}

/* "feed-a/rack-1": names joined by '/', none empty. */
static gboolean path_ok(const char *path)
{
	g_auto(GStrv) parts = g_strsplit(path, "/", -1);

	if (!parts[0])
		return FALSE;
	for (size_t i = 0; parts[i]; i++)
		if (!ve_fleet_name_ok(parts[i]))
			return FALSE;
	return TRUE;
}

gboolean ve_config_load_fleet(GKeyFile *kf, struct ve_config *n, GError **error)
{
	g_auto(GStrv) eps = NULL;
	g_autofree char *prefix = NULL, *host = NULL, *path = NULL, *ctl = NULL;
	uint64_t ttl = n->fleet_ttl_s, period_ms = n->fleet_period_us / 1000, weight = n->fleet_weight;
	uint64_t fb = n->fleet_fallback_cap_uw, floor = n->fleet_floor_uw;
	gboolean controller = n->fleet_controller;

	if (!g_key_file_has_group(kf, "fleet"))
		return TRUE;
	if (!get_u(kf, "ttl-s", 1, 3600, &ttl, error) ||
	    !get_u(kf, "period-ms", 100, 600000, &period_ms, error) ||
	    !get_u(kf, "weight", 1, 10000, &weight, error) || !get_w(kf, "fallback-cap", &fb, error) ||
	    !get_w(kf, "floor", &floor, error))
		return FALSE;
	if (period_ms * 2 > ttl * 1000)
		return bad(error, "period-ms", "%s", "must be at most half of ttl-s");
	ctl = g_key_file_get_value(kf, "fleet", "controller", NULL);
	if (ctl) {
		g_strstrip(ctl);
		if (strcmp(ctl, "true") != 0 && strcmp(ctl, "false") != 0)
			return bad(error, "controller", "'%s' is not true or false", ctl);
		controller = strcmp(ctl, "true") == 0;
	}
	{
		/* "a,b" or "a;b" (GKeyFile's lists) */
		g_autofree char *v = g_key_file_get_value(kf, "fleet", "endpoints", NULL);
		g_auto(GStrv) parts = v ? g_strsplit_set(v, ",;", -1) : NULL;
		g_autoptr(GStrvBuilder) sb = g_strv_builder_new();

		for (size_t i = 0; parts && parts[i]; i++)
			if (*g_strstrip(parts[i]))
				g_strv_builder_add(sb, parts[i]);
		eps = v ? g_strv_builder_end(sb) : NULL;
	}
	for (size_t i = 0; eps && eps[i]; i++) {
		if (!g_str_has_prefix(eps[i], "http://") && !g_str_has_prefix(eps[i], "https://"))
			return bad(error, "endpoints", "'%s' is not an http:// or https:// URL", eps[i]);
		/* "http://h:2379/" and "http://h:2379" are the same endpoint */
		if (g_str_has_suffix(eps[i], "/"))
			eps[i][strlen(eps[i]) - 1] = '\0';
	}
	prefix = g_key_file_get_string(kf, "fleet", "prefix", NULL);
	if (prefix) {
		g_strstrip(prefix);
		if (prefix[0] != '/' || g_str_has_suffix(prefix, "/") || strlen(prefix) > 200)
			return bad(error, "prefix", "'%s' must start with '/' and not end with one", prefix);
	}
	host = g_key_file_get_string(kf, "fleet", "host", NULL);
	if (host && !ve_fleet_name_ok(g_strstrip(host)))
		return bad(error, "host", "'%s' is not 1 to 64 of A-Z a-z 0-9 . _ -", host);
	path = g_key_file_get_string(kf, "fleet", "path", NULL);
	if (path && !path_ok(g_strstrip(path)))
		return bad(error, "path", "'%s' is not a path of node names such as feed-a/rack-1", path);
	if (eps && eps[0] && !path && !n->fleet_path)
		return bad(error, "path", "%s", "must be set with endpoints: the host's node in the tree");
	n->fleet_ttl_s = ttl;
	n->fleet_period_us = period_ms * 1000;
	n->fleet_weight = (unsigned int)weight;
	n->fleet_fallback_cap_uw = fb;
	n->fleet_floor_uw = floor;
	n->fleet_controller = controller;
	/* the new strings; ve_config_fleet_commit frees the old */
	n->fleet_endpoints = eps && eps[0] ? g_steal_pointer(&eps) : g_strdupv(n->fleet_endpoints);
	n->fleet_prefix = prefix ? g_steal_pointer(&prefix) : g_strdup(n->fleet_prefix);
	n->fleet_host = host ? g_steal_pointer(&host) : g_strdup(n->fleet_host);
	n->fleet_path = path ? g_steal_pointer(&path) : g_strdup(n->fleet_path);
	return TRUE;
}

void ve_config_fleet_commit(struct ve_config *n, struct ve_config *c)
{
	/* without a [fleet] group @n shares @c's strings: nothing new */
	if (n->fleet_endpoints == c->fleet_endpoints && n->fleet_prefix == c->fleet_prefix &&
	    n->fleet_host == c->fleet_host && n->fleet_path == c->fleet_path)
		return;
	ve_config_fleet_clear(c);
}
