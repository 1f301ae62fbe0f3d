// SPDX-License-Identifier: GPL-2.0-or-later
/*
 * statefile.c: the restart-safe state file.
 *
 * Crash safety rests on the usual sequence: write a temporary file, fsync
 * it, rename(2) it over the old one, fsync the directory.  rename is atomic,
 * so after a crash the name holds the old file or the new one, never a mix;
 * the fsync before it puts the new data on disk before the name points at
 * it (with delayed allocation a power cut could otherwise leave the new name
 * on an empty file), the one after it makes the rename itself durable.  A period is counted once because the daemon adds it to
 * its ledger in memory and persists the whole ledger: the file holds either
 * the sums before the period or after it.
 *
 * Integrity is judged on bytes before meaning: the SHA-256 trailer is
 * checked before GKeyFile sees the text, so a flipped bit in a counter,
 * which would parse fine, cannot slip through.  The invariants afterwards
 * catch a writer bug that a checksum faithfully preserves.
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

G_DEFINE_QUARK(ve-state-error-quark, ve_state_error)

#define GROUP_MAIN "virtenergy"
#define KEY_HOST "host"
#define PREFIX_VM "vm:"
#define PREFIX_SERVICE "service:"
#define SERVICE_NAME_MAX 255
#define UUID_LEN 36
/* leaves room for ".corrupt-YYYYmmddTHHMMSSZ-999" within NAME_MAX */
#define FILE_NAME_MAX 200

#define TRAILER_HEAD "[checksum]\nsha256="
#define SHA256_HEX_LEN 64
#define TRAILER_LEN (sizeof(TRAILER_HEAD) - 1 + SHA256_HEX_LEN + 1)

#define HEADER_COMMENT                                                                    \
	" virtenergy state: cumulative energy in µJ per account, written by virtenergyd.\n" \
	" Do not edit: the checksum at the end guards every byte, and a file that fails\n"  \
	" it is set aside as corrupt."

static void account_free(struct ve_state_account *a)
{
	if (!a)
		return;
	g_free(a->key);
	g_free(a->name);
	g_free(a);
}

static void account_destroy(gpointer p)
{
	account_free(p);
}

struct ve_state *ve_state_new(void)
{
	struct ve_state *s = g_new0(struct ve_state, 1);

	s->accounts = g_ptr_array_new_with_free_func(account_destroy);
	s->by_key = g_hash_table_new(g_str_hash, g_str_equal);
	return s;
}

void ve_state_free(struct ve_state *s)
{
	if (!s)
		return;
	/* the index borrows the keys that the accounts own: drop it first */
	g_hash_table_unref(s->by_key);
	g_ptr_array_unref(s->accounts);
	g_free(s);
}

static bool is_lower_hex(char c)
{
	return (c >= '0' && c <= '9') || (c >= 'a' && c <= 'f');
}

/* 8-4-4-4-12 lowercase hex digits, the only spelling libvirt prints. */
static bool uuid_canonical(const char *u)
{
	if (strlen(u) != UUID_LEN)
		return false;
	for (size_t i = 0; i < UUID_LEN; i++) {
		if (i == 8 || i == 13 || i == 18 || i == 23) {
			if (u[i] != '-')
				return false;
		} else if (!is_lower_hex(u[i])) {
			return false;
		}
	}
	return true;
}

/* Printable ASCII without the brackets that would end a GKeyFile group name. */
static bool service_name_valid(const char *n)
{
	size_t len = strlen(n);

	if (len == 0 || len > SERVICE_NAME_MAX)
		return false;
	for (const char *p = n; *p; p++)
		if (*p < 0x21 || *p > 0x7e || *p == '[' || *p == ']')
			return false;
	return true;
}

static bool key_valid(const char *key)
{
	if (strcmp(key, KEY_HOST) == 0)
		return true;
	if (g_str_has_prefix(key, PREFIX_VM))
		return uuid_canonical(key + strlen(PREFIX_VM));
	if (g_str_has_prefix(key, PREFIX_SERVICE))
		return service_name_valid(key + strlen(PREFIX_SERVICE));
	return false;
}

static struct ve_state_account *state_add(struct ve_state *s, const char *key, const char *name,
					  const struct ve_ledger_entry *e, int code,
					  GError **error)
{
	struct ve_state_account *a;

	if (!key_valid(key)) {
		g_set_error(error, VE_STATE_ERROR, code,
			    "invalid account key '%s': want \"host\", \"vm:<lowercase uuid>\" or \"service:<name>\"",
			    key);
		return NULL;
	}
	if (g_hash_table_contains(s->by_key, key)) {
		g_set_error(error, VE_STATE_ERROR, code, "account '%s' is already present", key);
		return NULL;
	}
	if (name && !g_utf8_validate(name, -1, NULL)) {
		g_set_error(error, VE_STATE_ERROR, code, "the name of account '%s' is not UTF-8",
			    key);
		return NULL;
	}
	a = g_new0(struct ve_state_account, 1);
	a->key = g_strdup(key);
	a->name = g_strdup(name);
	if (e)
		a->e = *e;
	g_ptr_array_add(s->accounts, a);
	g_hash_table_insert(s->by_key, a->key, a);
	return a;
}

struct ve_state_account *ve_state_add(struct ve_state *s, const char *key, const char *name,
				      const struct ve_ledger_entry *e, GError **error)
{
	return state_add(s, key, name, e, VE_STATE_ERROR_INVALID, error);
}

struct ve_state_account *ve_state_lookup(const struct ve_state *s, const char *key)
{
	return g_hash_table_lookup(s->by_key, key);
}

/* *acc += v; false, *acc unspecified, when that passes 2^64 - 1. */
static bool add_u64(uint64_t *acc, uint64_t v)
{
	return !__builtin_add_overflow(*acc, v, acc);
}

static gboolean check_account(const struct ve_state_account *a, uint64_t reasons, int code,
			      GError **error)
{
	const struct ve_ledger_entry *e = &a->e;
	uint64_t c = 0, d = 0;
	bool ok_c = true, ok_d = true;

	for (int i = 0; i < VE_COMP__MAX; i++) {
		if (e->comp_uj[i] > e->total_uj) {
			g_set_error(error, VE_STATE_ERROR, code,
				    "account '%s': comp.%s = %" PRIu64 " µJ is more than total_uj = %" PRIu64,
				    a->key, ve_component_name(i), e->comp_uj[i], e->total_uj);
			return FALSE;
		}
		ok_c = ok_c && add_u64(&c, e->comp_uj[i]);
	}
	for (int i = 0; i < VE_DEV__MAX; i++) {
		if (e->dev_uj[i] > e->total_uj) {
			g_set_error(error, VE_STATE_ERROR, code,
				    "account '%s': dev.%s = %" PRIu64 " µJ is more than total_uj = %" PRIu64,
				    a->key, ve_device_kind_name(i), e->dev_uj[i], e->total_uj);
			return FALSE;
		}
		ok_d = ok_d && add_u64(&d, e->dev_uj[i]);
	}
	if (!ok_d || d != e->total_uj) {
		g_set_error(error, VE_STATE_ERROR, code,
			    "account '%s': the devices add up to %s%" PRIu64 " µJ, total_uj is %" PRIu64,
			    a->key, ok_d ? "" : "more than ", ok_d ? d : UINT64_MAX, e->total_uj);
		return FALSE;
	}
	ok_c = ok_c && add_u64(&c, reasons);
	if (!ok_c || c != e->total_uj) {
		g_set_error(error, VE_STATE_ERROR, code,
			    "account '%s': the components%s add up to %s%" PRIu64 " µJ, total_uj is %" PRIu64,
			    a->key, reasons ? " and the host's reasons" : "", ok_c ? "" : "more than ",
			    ok_c ? c : UINT64_MAX, e->total_uj);
		return FALSE;
	}
	return TRUE;
}

static gboolean check_state(const struct ve_state *s, int code, GError **error)
{
	uint64_t reasons = 0, sum = s->retired_uj;
	bool have_host = false;

	for (int i = 0; i < VE_REASON__MAX; i++) {
		if (!add_u64(&reasons, s->host_reason_uj[i])) {
			g_set_error(error, VE_STATE_ERROR, code,
				    "the host's reasons add up to more than 2^64 - 1 µJ");
			return FALSE;
		}
	}
	for (guint i = 0; i < s->accounts->len; i++) {
		const struct ve_state_account *a = g_ptr_array_index(s->accounts, i);
		bool host = strcmp(a->key, KEY_HOST) == 0;

		if (!check_account(a, host ? reasons : 0, code, error))
			return FALSE;
		have_host = have_host || host;
		if (!add_u64(&sum, a->e.total_uj)) {
			g_set_error(error, VE_STATE_ERROR, code,
				    "the accounts' totals add up to more than 2^64 - 1 µJ");
			return FALSE;
		}
	}
	if (reasons && !have_host) {
		g_set_error(error, VE_STATE_ERROR, code,
			    "%" PRIu64 " µJ are charged to the host with a reason, but there is no host account",
			    reasons);
		return FALSE;
	}
	if (sum != s->energy_uj) {
		g_set_error(error, VE_STATE_ERROR, code,
			    "the accounts' totals and retired_uj add up to %" PRIu64 " µJ, energy_uj is %" PRIu64,
			    sum, s->energy_uj);
		return FALSE;
	}
	return TRUE;
}

gboolean ve_state_check(const struct ve_state *s, GError **error)
{
	return check_state(s, VE_STATE_ERROR_INVALID, error);
}

/* A name inside the directory, with room for the set-aside suffix. */
static gboolean file_name_valid(const char *name, GError **error)
{
	if (!name || !*name || strlen(name) > FILE_NAME_MAX || strchr(name, '/') ||
	    strcmp(name, ".") == 0 || strcmp(name, "..") == 0) {
		g_set_error(error, VE_STATE_ERROR, VE_STATE_ERROR_INVALID,
			    "'%s' is not a plain file name of at most %d bytes", name ? name : "(null)",
			    FILE_NAME_MAX);
		return FALSE;
	}
	return TRUE;
}

/* ---- writing ---- */

static void set_u64(GKeyFile *kf, const char *group, const char *key, uint64_t v)
{
	char buf[24];

	g_snprintf(buf, sizeof(buf), "%" PRIu64, v);
	g_key_file_set_value(kf, group, key, buf);
}

static void set_u64_named(GKeyFile *kf, const char *group, const char *prefix, const char *name,
			  uint64_t v)
{
	g_autofree char *key = g_strconcat(prefix, name, NULL);

	set_u64(kf, group, key, v);
}

/* The whole file, trailer included. */
static GString *format_state(const struct ve_state *s, uint64_t seq)
{
	g_autoptr(GKeyFile) kf = g_key_file_new();
	g_autofree char *body = NULL;
	g_autofree char *sum = NULL;
	GString *out;
	gsize len;

	g_key_file_set_comment(kf, NULL, NULL, HEADER_COMMENT, NULL);
	set_u64(kf, GROUP_MAIN, "version", VE_STATE_VERSION);
	set_u64(kf, GROUP_MAIN, "seq", seq);
	set_u64(kf, GROUP_MAIN, "periods", s->periods);
	set_u64(kf, GROUP_MAIN, "energy_uj", s->energy_uj);
	set_u64(kf, GROUP_MAIN, "retired_uj", s->retired_uj);
	for (int i = 0; i < VE_REASON__MAX; i++)
		set_u64_named(kf, GROUP_MAIN, "reason.", ve_reason_name(i), s->host_reason_uj[i]);

	for (guint i = 0; i < s->accounts->len; i++) {
		const struct ve_state_account *a = g_ptr_array_index(s->accounts, i);

		/* set_string escapes newlines, leading blanks and backslashes */
		if (a->name)
			g_key_file_set_string(kf, a->key, "name", a->name);
		for (int c = 0; c < VE_COMP__MAX; c++)
			set_u64_named(kf, a->key, "comp.", ve_component_name(c), a->e.comp_uj[c]);
		for (int d = 0; d < VE_DEV__MAX; d++)
			set_u64_named(kf, a->key, "dev.", ve_device_kind_name(d), a->e.dev_uj[d]);
		set_u64(kf, a->key, "total_uj", a->e.total_uj);
		set_u64(kf, a->key, "passed_on_uj", a->e.passed_on_uj);
	}

	body = g_key_file_to_data(kf, &len, NULL);
	out = g_string_new_len(body, (gssize)len);
	/* the trailer must start a line, and a blank line reads better */
	if (out->len && out->str[out->len - 1] != '\n')
		g_string_append_c(out, '\n');
	if (out->len < 2 || out->str[out->len - 2] != '\n')
		g_string_append_c(out, '\n');
	sum = g_compute_checksum_for_data(G_CHECKSUM_SHA256, (const guchar *)out->str, out->len);
	g_string_append_printf(out, "%s%s\n", TRAILER_HEAD, sum);
	return out;
}

gboolean ve_state_save(int dir_fd, const char *name, struct ve_state *s, GError **error)
{
	g_autoptr(GError) why = NULL;
	g_autoptr(GString) text = NULL;
	const char *step;
	int r;

	if (!file_name_valid(name, error))
		return FALSE;
	if (!check_state(s, VE_STATE_ERROR_INVALID, &why)) {
		g_set_error(error, VE_STATE_ERROR, VE_STATE_ERROR_INVALID,
			    "not saving an inconsistent state to '%s' (%s); the previous file was kept",
			    name, why->message);
		return FALSE;
	}
	if (s->seq == UINT64_MAX) {
		g_set_error(error, VE_STATE_ERROR, VE_STATE_ERROR_INVALID,
			    "not saving '%s': its sequence number would wrap; the previous file was kept",
			    name);
		return FALSE;
	}
	text = format_state(s, s->seq + 1);
	r = ve_write_file_atomic_at(dir_fd, name, text->str, text->len, 0600,
				    VE_WRITE_SYNC | VE_WRITE_SYNC_DIR, &step);
	if (r < 0 && ve_write_step_kept(step)) {
		g_set_error(error, VE_STATE_ERROR, VE_STATE_ERROR_IO,
			    "cannot save state: %s '%s.tmp' failed: %s; the previous state file '%s', if any, was kept unchanged",
			    step, name, g_strerror(-r), name);
		return FALSE;
	}
	/* from here on the new file is the state file, synced or not */
	s->seq++;
	if (r < 0) {
		g_set_error(error, VE_STATE_ERROR, VE_STATE_ERROR_IO,
			    "saved state file '%s' (seq %" PRIu64 ") but syncing its directory failed: %s; a power cut may bring back the previous one",
			    name, s->seq, g_strerror(-r));
		return FALSE;
	}
	return TRUE;
}

/* ---- reading ---- */

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
	return state_add(s, group, name, &e, VE_STATE_ERROR_CORRUPT, error) != NULL;
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
		if (!key_valid(*g))
			return corrupt(error, "unknown group [%s]", *g);
		if (!read_account(kf, *g, s, error))
			return FALSE;
	}
	if (!check_state(s, VE_STATE_ERROR_CORRUPT, error))
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
		if (!is_lower_hex(hex[i]))
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
static int set_aside(int dir_fd, const char *name, const char *tag, char **ret_aside)
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
	int r = set_aside(dir_fd, name, tag, &aside);

	if (r == 0)
		g_set_error(error, VE_STATE_ERROR, code, "state file '%s' %s; moved it aside to '%s'",
			    name, why, aside);
	else
		g_set_error(error, VE_STATE_ERROR, code,
			    "state file '%s' %s; could not move it aside (%s), left it in place",
			    name, why, g_strerror(-r));
}

gboolean ve_state_load(int dir_fd, const char *name, struct ve_state **ret, GError **error)
{
	g_autoptr(GError) why = NULL;
	g_autofree char *tmp = NULL;
	g_autofree char *data = NULL;
	struct ve_state *s = NULL;
	uint64_t version = 0;
	size_t len = 0;

	if (!file_name_valid(name, error))
		return FALSE;

	/*
	 * A temporary file is only ever complete once it has been renamed, so
	 * one still under its temporary name is a save cut short.  Failing to
	 * remove it is harmless: the next save replaces it.
	 */
	tmp = g_strconcat(name, ".tmp", NULL);
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
	*ret = s;
	return TRUE;
}
