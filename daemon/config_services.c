// SPDX-License-Identifier: GPL-2.0-or-later
/*
 * config_services.c: the [service NAME] groups of the configuration (see
 * config.h): a host's shared services, each found by exactly one of its
 * systemd unit, its cgroup, its executable or its pid file, and the
 * services it uses itself.
 *
 *   [service storage]
 *   exe = /usr/bin/qemu-storage-daemon
 *   uses = backup
 *
 *   [service switch]
 *   unit = ovs-vswitchd.service
 *   bridges = br-int
 *
 * Refused, naming the group and key: a name that is not 1-64 of
 * [A-Za-z0-9._-], none or two of unit/cgroup/exe/pidfile, a relative
 * path, a unit that is not NAME.service, a use of an undeclared service
 * or of itself, a bridge name the kernel would refuse or one that another
 * service switches already, more than VE_MAX_SERVICES services.
 */
#include <string.h>

#include "config.h"

#define SERVICE_GROUP "service "

static const char *const service_keys[] = { "unit", "cgroup", "exe", "pidfile", "uses", "bridges",
					    NULL };
static const char *const find_keys[] = {
	[VE_SERVICE_BY_UNIT] = "unit",
	[VE_SERVICE_BY_CGROUP] = "cgroup",
	[VE_SERVICE_BY_EXE] = "exe",
	[VE_SERVICE_BY_PIDFILE] = "pidfile",
};

const char *ve_service_by_name(enum ve_service_by by)
{
	return (size_t)by < G_N_ELEMENTS(find_keys) ? find_keys[by] : "?";
}

bool ve_config_is_service_group(const char *group)
{
	return g_str_has_prefix(group, SERVICE_GROUP);
}

void ve_service_confs_free(struct ve_service_conf *s, size_t n)
{
	for (size_t i = 0; i < n; i++) {
		g_free(s[i].name);
		g_free(s[i].where);
		g_strfreev(s[i].uses);
		g_strfreev(s[i].bridges);
	}
	g_free(s);
}

static bool name_valid(const char *n)
{
	size_t len = strlen(n);

	if (len == 0 || len > 64)
		return false;
	for (const char *p = n; *p; p++)
		if (!g_ascii_isalnum(*p) && !strchr("._-", *p))
			return false;
	return true;
}

/* What the kernel takes as a network device's name (dev_valid_name). */
static bool ifname_valid(const char *n)
{
	size_t len = strlen(n);

	if (len == 0 || len > 15 || strcmp(n, ".") == 0 || strcmp(n, "..") == 0)
		return false;
	for (const char *p = n; *p; p++)
		if (*p == '/' || *p == ':' || g_ascii_isspace(*p) || !g_ascii_isprint(*p))
			return false;
	return true;
}

static gboolean parse_one(GKeyFile *kf, const char *group, struct ve_service_conf *s,
			  GError **error)
{
	g_auto(GStrv) keys = g_key_file_get_keys(kf, group, NULL, NULL);
	int found = -1;

	s->name = g_strdup(group + strlen(SERVICE_GROUP));
	if (!name_valid(s->name)) {
		g_set_error(error, G_KEY_FILE_ERROR, G_KEY_FILE_ERROR_INVALID_VALUE,
			    "[%s]: a service's name is 1 to 64 letters, digits, '.', '_' or '-'", group);
		return FALSE;
	}
	for (size_t i = 0; keys && keys[i]; i++)
		if (!g_strv_contains(service_keys, keys[i])) {
			g_set_error(error, G_KEY_FILE_ERROR, G_KEY_FILE_ERROR_KEY_NOT_FOUND,
				    "unknown key '%s' in [%s] (want unit, cgroup, exe or pidfile, uses, bridges)",
				    keys[i], group);
			return FALSE;
		}
	for (size_t by = 0; by < G_N_ELEMENTS(find_keys); by++) {
		if (!g_key_file_has_key(kf, group, find_keys[by], NULL))
			continue;
		if (found >= 0) {
			g_set_error(error, G_KEY_FILE_ERROR, G_KEY_FILE_ERROR_INVALID_VALUE,
				    "[%s] %s and %s: a service is found by one of unit, cgroup, exe, pidfile",
				    group, find_keys[found], find_keys[by]);
			return FALSE;
		}
		found = (int)by;
	}
	if (found < 0) {
		g_set_error(error, G_KEY_FILE_ERROR, G_KEY_FILE_ERROR_KEY_NOT_FOUND,
			    "[%s]: say how to find the service: unit, cgroup, exe or pidfile", group);
		return FALSE;
	}
	s->by = (enum ve_service_by)found;
	s->where = g_key_file_get_string(kf, group, find_keys[found], error);
	if (!s->where)
		return FALSE; /* not UTF-8, say, with GKeyFile's message naming the key */
	g_strstrip(s->where);
	switch (s->by) {
	case VE_SERVICE_BY_UNIT:
		if (!g_str_has_suffix(s->where, ".service") || strchr(s->where, '/') ||
		    strlen(s->where) <= strlen(".service")) {
			g_set_error(error, G_KEY_FILE_ERROR, G_KEY_FILE_ERROR_INVALID_VALUE,
				    "[%s] unit '%s' is not a systemd service unit (NAME.service)",
				    group, s->where);
			return FALSE;
		}
		break;
	case VE_SERVICE_BY_CGROUP:
		/* relative to the hierarchy's root; a leading '/' is allowed */
		if (!s->where[0] || strstr(s->where, "..")) {
			g_set_error(error, G_KEY_FILE_ERROR, G_KEY_FILE_ERROR_INVALID_VALUE,
				    "[%s] cgroup '%s' is not a cgroup path (such as system.slice/foo.service)",
				    group, s->where);
			return FALSE;
		}
		break;
	case VE_SERVICE_BY_EXE:
	case VE_SERVICE_BY_PIDFILE:
		if (!g_path_is_absolute(s->where)) {
			g_set_error(error, G_KEY_FILE_ERROR, G_KEY_FILE_ERROR_INVALID_VALUE,
				    "[%s] %s '%s' is not an absolute path", group, find_keys[found],
				    s->where);
			return FALSE;
		}
		break;
	}
	if (g_key_file_has_key(kf, group, "uses", NULL)) {
		s->uses = g_key_file_get_string_list(kf, group, "uses", NULL, NULL);
		for (size_t i = 0; s->uses && s->uses[i]; i++)
			g_strstrip(s->uses[i]);
	}
	if (g_key_file_has_key(kf, group, "bridges", NULL)) {
		s->bridges = g_key_file_get_string_list(kf, group, "bridges", NULL, NULL);
		for (size_t i = 0; s->bridges && s->bridges[i]; i++)
			if (!ifname_valid(g_strstrip(s->bridges[i]))) {
				g_set_error(error, G_KEY_FILE_ERROR, G_KEY_FILE_ERROR_INVALID_VALUE,
					    "[%s] bridges: '%s' is not a network interface's name "
					    "(1 to 15 characters, no '/', ':' or blank)",
					    group, s->bridges[i]);
				return FALSE;
			}
	}
	return TRUE;
}

/* The service before bridge @b of service @i in @s that names the same bridge, or NULL. */
static const char *bridge_switched(const struct ve_service_conf *s, size_t i, size_t b)
{
	for (size_t j = 0; j <= i; j++)
		for (size_t c = 0; s[j].bridges && s[j].bridges[c] && (j < i || c < b); c++)
			if (strcmp(s[j].bridges[c], s[i].bridges[b]) == 0)
				return s[j].name;
	return NULL;
}

gboolean ve_config_load_services(GKeyFile *kf, struct ve_service_conf **ret, size_t *ret_n,
				 GError **error)
{
	g_auto(GStrv) groups = g_key_file_get_groups(kf, NULL);
	struct ve_service_conf *s = NULL;
	size_t n = 0;

	for (size_t g = 0; groups[g]; g++) {
		if (!ve_config_is_service_group(groups[g]))
			continue;
		if (n == VE_MAX_SERVICES) {
			g_set_error(error, G_KEY_FILE_ERROR, G_KEY_FILE_ERROR_INVALID_VALUE,
				    "[%s]: at most %d services", groups[g], VE_MAX_SERVICES);
			goto bad;
		}
		s = g_renew(struct ve_service_conf, s, n + 1);
		memset(&s[n], 0, sizeof(s[n]));
		n++;
		if (!parse_one(kf, groups[g], &s[n - 1], error))
			goto bad;
	}
	for (size_t i = 0; i < n; i++)
		for (size_t u = 0; s[i].uses && s[i].uses[u]; u++) {
			bool known = false;

			for (size_t j = 0; j < n && !known; j++)
				known = strcmp(s[j].name, s[i].uses[u]) == 0;
			if (!known || strcmp(s[i].uses[u], s[i].name) == 0) {
				g_set_error(error, G_KEY_FILE_ERROR, G_KEY_FILE_ERROR_INVALID_VALUE,
					    "[service %s] uses: '%s' %s", s[i].name, s[i].uses[u],
					    known ? "is the service itself"
						  : "is not a service declared in this file");
				goto bad;
			}
		}
	for (size_t i = 0; i < n; i++)
		for (size_t b = 0; s[i].bridges && s[i].bridges[b]; b++) {
			const char *other = bridge_switched(s, i, b);

			if (other) {
				g_set_error(error, G_KEY_FILE_ERROR, G_KEY_FILE_ERROR_INVALID_VALUE,
					    "[service %s] bridges: '%s' is switched by service '%s' already",
					    s[i].name, s[i].bridges[b], other);
				goto bad;
			}
		}
	*ret = s;
	*ret_n = n;
	return TRUE;
bad:
	ve_service_confs_free(s, n);
	return FALSE;
}
