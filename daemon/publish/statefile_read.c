// SPDX-License-Identifier: GPL-2.0-or-later
/*
 * statefile_read.c: reading the state file: the checksum before the text,
 * the text into accounts, the invariants after; a file that fails is set
 * aside, never deleted (see statefile.c for the format and its guarantees).
 */
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <stdbool.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "fileio.h"
#include "statefile.h"
#include "statefile_int.h"
#include "statejournal.h"


struct field {
	const char *key;
	uint64_t *dst;
	bool required;
};

static gboolean corrupt(GError **error, const char *fmt, ...) G_GNUC_PRINTF(2, 3);

static gboolean corrupt(GError **error, const char *fmt, ...)
{
	g_autofree char *msg = NULL;
	va_list ap;

	va_start(ap, fmt);
	msg = g_strdup_vprintf(fmt, ap);
	va_end(ap);
	g_set_error_literal(error, VE_STATE_ERROR, VE_STATE_ERROR_CORRUPT, msg);
	return FALSE;
}

/*
 * Read the counters of @group into @f: every key must be one of @f (or
 * "name" when @name_ok) and appear once, every required field must be
 * present, and an absent optional one is 0.  Values are plain decimal, 0 to
 * 2^64 - 1.  GKeyFile merges repeated groups, so a repeated group shows up
 * here as repeated keys.  (It hides localised keys such as "name[fr]" from
 * g_key_file_get_keys() and from plain lookups: those are ignored.)
 */
static gboolean read_fields(GKeyFile *kf, const char *group, const struct field *f, size_t n,
			    bool name_ok, GError **error)
{
	g_auto(GStrv) keys = g_key_file_get_keys(kf, group, NULL, NULL);
	g_autofree bool *seen = g_new0(bool, n + 1);   /* [n]: "name" */

	for (char **k = keys; k && *k; k++) {
		size_t i = 0;

		while (i < n && strcmp(*k, f[i].key) != 0)
			i++;
		if (i == n && !(name_ok && strcmp(*k, "name") == 0))
			return corrupt(error, "unknown key '%s' in [%s]", *k, group);
		if (seen[i])
			return corrupt(error, "'%s' appears twice in [%s]", *k, group);
		seen[i] = true;
	}
	for (size_t i = 0; i < n; i++) {
		g_autofree char *v = g_key_file_get_value(kf, group, f[i].key, NULL);
		g_autoptr(GError) why = NULL;
		guint64 u;

		if (!v) {
			if (f[i].required)
				return corrupt(error, "[%s] has no %s", group, f[i].key);
			*f[i].dst = 0;
			continue;
		}
		if (!g_ascii_string_to_unsigned(v, 10, 0, UINT64_MAX, &u, &why))
			return corrupt(error, "%s in [%s] is not a counter: %s", f[i].key, group,
				       why->message);
		*f[i].dst = u;
	}
	return TRUE;
}

/* Keys named prefix + the names of an enum, in @names, for read_fields. */
static void named_fields(struct field *f, char **names, const char *prefix,
			 const char *(*name_of)(int), uint64_t *dst, int n)
{
	for (int i = 0; i < n; i++) {
		names[i] = g_strconcat(prefix, name_of(i), NULL);
		f[i] = (struct field){ names[i], &dst[i], false };
	}
}

static const char *reason_name(int i)
{
	return ve_reason_name(i);
}

static const char *component_name(int i)
{
	return ve_component_name(i);
}

static const char *device_kind_name(int i)
{
	return ve_device_kind_name(i);
}

static void free_names(char **names, size_t n)
{
	for (size_t i = 0; i < n; i++)
		g_free(names[i]);
}

static gboolean read_main(GKeyFile *kf, struct ve_state *s, GError **error)
{
	uint64_t version;
	struct field f[5 + VE_REASON__MAX] = {
		{ "version", &version, true },
		{ "seq", &s->seq, true },
		{ "periods", &s->periods, true },
		{ "energy_uj", &s->energy_uj, true },
		{ "retired_uj", &s->retired_uj, true },
	};
	char *names[VE_REASON__MAX];
	gboolean ok;

	named_fields(&f[5], names, "reason.", reason_name, s->host_reason_uj, VE_REASON__MAX);
	ok = read_fields(kf, GROUP_MAIN, f, G_N_ELEMENTS(f), false, error);
	free_names(names, VE_REASON__MAX);
	return ok;
}

static gboolean read_account(GKeyFile *kf, const char *group, struct ve_state *s, GError **error)
{
	struct ve_ledger_entry e = { 0 };
	struct field f[VE_COMP__MAX + VE_DEV__MAX + 2];
	char *names[VE_COMP__MAX + VE_DEV__MAX];
	g_autofree char *name = NULL;
	g_autoptr(GError) why = NULL;
	gboolean ok;

	named_fields(f, names, "comp.", component_name, e.comp_uj, VE_COMP__MAX);
	named_fields(&f[VE_COMP__MAX], &names[VE_COMP__MAX], "dev.", device_kind_name, e.dev_uj,
		     VE_DEV__MAX);
	f[VE_COMP__MAX + VE_DEV__MAX] = (struct field){ "total_uj", &e.total_uj, true };
	f[VE_COMP__MAX + VE_DEV__MAX + 1] = (struct field){ "passed_on_uj", &e.passed_on_uj, true };
	ok = read_fields(kf, group, f, G_N_ELEMENTS(f), true, error);
	free_names(names, VE_COMP__MAX + VE_DEV__MAX);
	if (!ok)
		return FALSE;

	if (g_key_file_has_key(kf, group, "name", NULL)) {
		/* for a bad escape GLib returns a string and sets the error */
		name = g_key_file_get_string(kf, group, "name", &why);
		if (why)
			return corrupt(error, "bad name in [%s]: %s", group, why->message);
	}
	return statefile_add(s, group, name, &e, VE_STATE_ERROR_CORRUPT, error) != NULL;
}

/*
 * The text after its checksum was verified: CORRUPT, or VERSION with the
 * version in *@ret_version; the message does not name the file.
 */
static gboolean parse_body(const char *body, size_t len, struct ve_state **ret,
			   uint64_t *ret_version, GError **error)
{
	g_autoptr(GKeyFile) kf = g_key_file_new();
	g_autoptr(ve_state) s = ve_state_new();
	g_autoptr(GError) why = NULL;
	g_autofree char *v = NULL;
	g_auto(GStrv) groups = NULL;
	guint64 version;

	if (!g_key_file_load_from_data(kf, body, len, G_KEY_FILE_NONE, &why))
		return corrupt(error, "does not parse: %s", why->message);
	v = g_key_file_get_value(kf, GROUP_MAIN, "version", NULL);
	if (!v)
		return corrupt(error, "no version in [" GROUP_MAIN "]");
	if (!g_ascii_string_to_unsigned(v, 10, 0, UINT64_MAX, &version, NULL))
		return corrupt(error, "version '%s' is not a number", v);
	if (version != VE_STATE_VERSION) {
		*ret_version = version;
		g_set_error(error, VE_STATE_ERROR, VE_STATE_ERROR_VERSION,
			    "has version %" G_GUINT64_FORMAT ", this virtenergy reads version %d",
			    version, VE_STATE_VERSION);
		return FALSE;
	}
	if (!read_main(kf, s, error))
		return FALSE;
	if (s->seq == 0)
		return corrupt(error, "seq is 0, which no save writes");
	groups = g_key_file_get_groups(kf, NULL);
	for (char **g = groups; *g; g++) {
		if (strcmp(*g, GROUP_MAIN) == 0)
			continue;
		if (!statefile_key_valid(*g))
			return corrupt(error, "unknown group [%s]", *g);
		if (!read_account(kf, *g, s, error))
			return FALSE;
	}
	if (!statefile_check(s, VE_STATE_ERROR_CORRUPT, error))
		return FALSE;
	*ret = g_steal_pointer(&s);
	return TRUE;
}

/* The whole file as read: trailer, checksum, then the body. */
static gboolean parse_file(const char *data, size_t len, struct ve_state **ret,
			   uint64_t *ret_version, GError **error)
{
	const char *trailer, *hex;
	g_autofree char *want = NULL;
	size_t body_len;

	if (len == 0)
		return corrupt(error, "is empty");
	if (memchr(data, '\0', len))
		return corrupt(error, "holds a NUL byte");
	if (len < TRAILER_LEN)
		return corrupt(error, "is too short to end with its checksum (truncated?)");
	body_len = len - TRAILER_LEN;
	trailer = data + body_len;
	hex = trailer + strlen(TRAILER_HEAD);
	if (memcmp(trailer, TRAILER_HEAD, strlen(TRAILER_HEAD)) != 0 ||
	    (body_len && data[body_len - 1] != '\n') || data[len - 1] != '\n')
		return corrupt(error, "does not end with a [checksum] group (truncated?)");
	for (size_t i = 0; i < SHA256_HEX_LEN; i++)
		if (!statefile_is_lower_hex(hex[i]))
			return corrupt(error, "has a malformed checksum");
	want = g_compute_checksum_for_data(G_CHECKSUM_SHA256, (const guchar *)data, body_len);
	if (memcmp(want, hex, SHA256_HEX_LEN) != 0)
		return corrupt(error, "fails its checksum: the content was changed or damaged");
	return parse_body(data, body_len, ret, ret_version, error);
}

gboolean ve_state_parse(const char *data, size_t len, struct ve_state **ret, GError **error)
{
	uint64_t version = 0;

	return parse_file(data, len, ret, &version, error);
}

enum read_outcome {
	READ_OK,
	READ_MISSING,
	READ_TOO_BIG,
	READ_FAILED,  /* IO error set */
};

static enum read_outcome read_state_file(int dir_fd, const char *name, char **ret, size_t *ret_len,
					 GError **error)
{
	int r = ve_read_regular_at(dir_fd, name, VE_STATE_MAX_BYTES, ret, ret_len);

	switch (r) {
	case 0:
		return READ_OK;
	case -ENOENT:
		return READ_MISSING;
	case -EFBIG:
		return READ_TOO_BIG;
	case -EINVAL:
		g_set_error(error, VE_STATE_ERROR, VE_STATE_ERROR_IO,
			    "state file '%s' is not a regular file; left it in place", name);
		return READ_FAILED;
	default:
		g_set_error(error, VE_STATE_ERROR, VE_STATE_ERROR_IO,
			    "cannot read state file '%s': %s; left it in place", name, g_strerror(-r));
		return READ_FAILED;
	}
}

/* rename that never replaces an existing name; 0 or -errno. */
static int rename_noreplace(int dir_fd, const char *from, const char *to)
{
	if (renameat2(dir_fd, from, dir_fd, to, RENAME_NOREPLACE) == 0)
		return 0;
	if (errno != EINVAL && errno != ENOSYS)
		return -errno;
	/* a file system without RENAME_NOREPLACE: link(2) refuses existing names too */
	if (linkat(dir_fd, from, dir_fd, to, 0) < 0)
		return -errno;
	if (unlinkat(dir_fd, from, 0) < 0) {
		int r = -errno;

		unlinkat(dir_fd, to, 0);
		return r;
	}
	return 0;
}

/*
 * Move @name to "@name.<tag>-<UTC time>", with "-<n>" added when that is
 * taken, so that every file set aside is kept for a person to look at.
 */
int statefile_set_aside(int dir_fd, const char *name, const char *tag, char **ret_aside)
{
	g_autoptr(GDateTime) now = g_date_time_new_from_unix_utc(g_get_real_time() / G_USEC_PER_SEC);
	g_autofree char *stamp = now ? g_date_time_format(now, "%Y%m%dT%H%M%SZ") : NULL;
	int r = -EEXIST;

	for (unsigned int i = 0; i < 1000 && r == -EEXIST; i++) {
		g_autofree char *aside = NULL;

		if (i)
			aside = g_strdup_printf("%s.%s-%s-%u", name, tag, stamp ? stamp : "0", i);
		else
			aside = g_strdup_printf("%s.%s-%s", name, tag, stamp ? stamp : "0");
		r = rename_noreplace(dir_fd, name, aside);
		if (r == 0)
			*ret_aside = g_steal_pointer(&aside);
	}
	return r;
}

/* Set the file aside and say so: "state file '<name>' <why>; moved it ...". */
static void report_aside(int dir_fd, const char *name, int code, const char *tag, const char *why,
			 GError **error)
{
	g_autofree char *aside = NULL;
	int r = statefile_set_aside(dir_fd, name, tag, &aside);

	if (r == 0)
		g_set_error(error, VE_STATE_ERROR, code, "state file '%s' %s; moved it aside to '%s'",
			    name, why, aside);
	else
		g_set_error(error, VE_STATE_ERROR, code,
			    "state file '%s' %s; could not move it aside (%s), left it in place",
			    name, why, g_strerror(-r));
}

/*
 * The saves since the state file was written (statejournal.h), onto *@s.
 * A journal that cannot be read is left alone (the state file holds what
 * it held at its last compaction); one whose records do not apply is set
 * aside and *@s is the state file's again.
 */
static void replay_journal(int dir_fd, const char *name, const char *data, size_t len,
			   struct ve_state **s)
{
	g_autofree char *jname = g_strconcat(name, ".journal", NULL);
	g_autofree char *jdata = NULL;
	g_autofree char *aside = NULL;
	g_autoptr(GError) why = NULL;
	uint64_t version = 0;
	size_t jlen = 0;

	if (ve_read_regular_at(dir_fd, jname, 2 * (size_t)VE_STATE_MAX_BYTES, &jdata, &jlen) < 0)
		return;
	if (ve_state_journal_replay(*s, jdata, jlen, &why))
		return;
	statefile_set_aside(dir_fd, jname, "corrupt", &aside);
	ve_state_free(*s);
	*s = NULL;
	parse_file(data, len, s, &version, NULL);   /* parsed before: parses again */
}

gboolean ve_state_load(int dir_fd, const char *name, struct ve_state **ret, GError **error)
{
	g_autoptr(GError) why = NULL;
	g_autofree char *tmp = NULL;
	g_autofree char *data = NULL;
	struct ve_state *s = NULL;
	uint64_t version = 0;
	size_t len = 0;

	if (!statefile_name_valid(name, error))
		return FALSE;

	/*
	 * A temporary file is only ever complete once it has been renamed, so
	 * one still under its temporary name is a save cut short.  Failing to
	 * remove it is harmless: the next save replaces it.
	 */
	tmp = g_strconcat(name, ".tmp", NULL);
	unlinkat(dir_fd, tmp, 0);
	g_free(tmp);
	tmp = g_strconcat(name, ".journal.tmp", NULL);
	unlinkat(dir_fd, tmp, 0);

	switch (read_state_file(dir_fd, name, &data, &len, error)) {
	case READ_OK:
		break;
	case READ_MISSING:
		*ret = ve_state_new();
		return TRUE;
	case READ_TOO_BIG:
		report_aside(dir_fd, name, VE_STATE_ERROR_CORRUPT, "corrupt",
			     "is corrupt: it is larger than 64 MiB, which no state file can be",
			     error);
		return FALSE;
	case READ_FAILED:
		return FALSE;
	}

	if (!parse_file(data, len, &s, &version, &why)) {
		g_autofree char *what = NULL;
		g_autofree char *tag = NULL;

		/*
		 * A newer daemon's file is set aside too, so that whatever the
		 * caller does next cannot overwrite it; a person can move it
		 * back once that version runs again.
		 */
		if (why->code == VE_STATE_ERROR_VERSION) {
			tag = g_strdup_printf("version-%" PRIu64, version);
			report_aside(dir_fd, name, VE_STATE_ERROR_VERSION, tag, why->message, error);
			return FALSE;
		}
		what = g_strconcat("is corrupt: ", why->message, NULL);
		report_aside(dir_fd, name, VE_STATE_ERROR_CORRUPT, "corrupt", what, error);
		return FALSE;
	}
	replay_journal(dir_fd, name, data, len, &s);
	*ret = s;
	return TRUE;
}
