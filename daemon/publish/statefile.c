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
#include "statefile_int.h"

G_DEFINE_QUARK(ve-state-error-quark, ve_state_error)


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

bool statefile_is_lower_hex(char c)
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
		} else if (!statefile_is_lower_hex(u[i])) {
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

bool statefile_key_valid(const char *key)
{
	if (strcmp(key, KEY_HOST) == 0)
		return true;
	if (g_str_has_prefix(key, PREFIX_VM))
		return uuid_canonical(key + strlen(PREFIX_VM));
	if (g_str_has_prefix(key, PREFIX_SERVICE))
		return service_name_valid(key + strlen(PREFIX_SERVICE));
	if (g_str_has_prefix(key, PREFIX_CGROUP))
		return service_name_valid(key + strlen(PREFIX_CGROUP)) &&
		       !strchr(key + strlen(PREFIX_CGROUP), '/');
	return false;
}

bool ve_state_key_valid(const char *key)
{
	return statefile_key_valid(key);
}

struct ve_state_account *statefile_add(struct ve_state *s, const char *key, const char *name,
				       const struct ve_ledger_entry *e, int code,
				       GError **error)
{
	struct ve_state_account *a;

	if (!statefile_key_valid(key)) {
		g_set_error(error, VE_STATE_ERROR, code,
			    "invalid account key '%s': want \"host\", \"vm:<lowercase uuid>\", \"service:<name>\" or \"cgroup:<name>\"",
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
	return statefile_add(s, key, name, e, VE_STATE_ERROR_INVALID, error);
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

gboolean statefile_check(const struct ve_state *s, int code, GError **error)
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
	return statefile_check(s, VE_STATE_ERROR_INVALID, error);
}

/* A name inside the directory, with room for the set-aside suffix. */
gboolean statefile_name_valid(const char *name, GError **error)
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
	return statefile_save(dir_fd, name, s, NULL, error);
}

gboolean statefile_save(int dir_fd, const char *name, struct ve_state *s, size_t *ret_len,
			GError **error)
{
	g_autoptr(GError) why = NULL;
	g_autoptr(GString) text = NULL;
	const char *step;
	int r;

	if (!statefile_name_valid(name, error))
		return FALSE;
	if (!statefile_check(s, VE_STATE_ERROR_INVALID, &why)) {
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
	if (ret_len)
		*ret_len = text->len;
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
