// SPDX-License-Identifier: GPL-2.0-or-later
/*
 * The state file: round trip, corruption and truncation (refused and set
 * aside), a save cut short, version and key rules, and saves that fail
 * without touching the previous file.  Each test works in its own mkdtemp
 * directory, removed afterwards.
 */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <ftw.h>
#include <signal.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <unistd.h>

#include <glib.h>

#include "check.h"
#include "statefile.h"

#define NAME "virtenergy.state"
#define VM1 "vm:0f8fad5b-d9cb-469f-a165-70867728950e"
#define VM2 "vm:6ba7b810-9dad-11d1-80b4-00c04fd430c8"
#define VM3 "vm:a3bb189e-8bf9-3888-9912-ace4e6543002"
#define SVC "service:virtiofsd"
#define ODD_NAME " lead\tspace\nnew line [br] = équipe\\"

struct tdir {
	char path[64];
	int fd;
};

static int setup(void **state)
{
	struct tdir *t = calloc(1, sizeof(*t));

	if (!t)
		return -1;
	snprintf(t->path, sizeof(t->path), "/tmp/ve-statefile-XXXXXX");
	if (!mkdtemp(t->path)) {
		free(t);
		return -1;
	}
	t->fd = open(t->path, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (t->fd < 0) {
		rmdir(t->path);
		free(t);
		return -1;
	}
	*state = t;
	return 0;
}

static int rm_entry(const char *path, const struct stat *st, int flag, struct FTW *ftw)
{
	(void)st;
	(void)flag;
	(void)ftw;
	return remove(path);
}

static int teardown(void **state)
{
	struct tdir *t = *state;
	int r;

	close(t->fd);
	r = nftw(t->path, rm_entry, 16, FTW_DEPTH | FTW_PHYS);
	free(t);
	return r;
}

static char *path_of(const struct tdir *t, const char *name)
{
	return g_build_filename(t->path, name, NULL);
}

/* The file's bytes, or NULL when it does not exist. */
static char *slurp(const struct tdir *t, const char *name, gsize *ret_len)
{
	g_autofree char *p = path_of(t, name);
	char *data = NULL;

	if (!g_file_get_contents(p, &data, ret_len, NULL))
		return NULL;
	return data;
}

static void put(const struct tdir *t, const char *name, const char *data, gsize len)
{
	g_autofree char *p = path_of(t, name);

	check(g_file_set_contents(p, data, (gssize)len, NULL), "writing %s", name);
}

static bool exists(const struct tdir *t, const char *name)
{
	struct stat st;

	return fstatat(t->fd, name, &st, AT_SYMLINK_NOFOLLOW) == 0;
}

/* Names in the directory that start with @prefix; the first one in *ret_first. */
static unsigned int count_prefixed(const struct tdir *t, const char *prefix, char **ret_first)
{
	g_autoptr(GDir) d = g_dir_open(t->path, 0, NULL);
	unsigned int n = 0;
	const char *e;

	check(d != NULL, "opening %s", t->path);
	while ((e = g_dir_read_name(d))) {
		if (!g_str_has_prefix(e, prefix))
			continue;
		if (n++ == 0 && ret_first)
			*ret_first = g_strdup(e);
	}
	return n;
}

/* Replace the checksum trailer of @text by one that fits its (changed) body. */
static char *reseal(const char *text)
{
	const char *trailer = g_strrstr(text, "[checksum]\n");
	g_autofree char *body = NULL;
	g_autofree char *sum = NULL;

	check(trailer != NULL, "no trailer in\n%s", text);
	body = g_strndup(text, (gsize)(trailer - text));
	sum = g_compute_checksum_for_string(G_CHECKSUM_SHA256, body, -1);
	return g_strdup_printf("%s[checksum]\nsha256=%s\n", body, sum);
}

/* @text with the first @find replaced by @repl. */
static char *replace_once(const char *text, const char *find, const char *repl)
{
	const char *at = strstr(text, find);

	if (!at)
		fail_msg("'%s' is not in the file", find);
	return g_strdup_printf("%.*s%s%s", (int)(at - text), text, repl, at + strlen(find));
}

static void add(struct ve_state *s, const char *key, const char *name,
		const struct ve_ledger_entry *e)
{
	g_autoptr(GError) err = NULL;

	check(ve_state_add(s, key, name, e, &err) != NULL, "add %s: %s", key,
	      err ? err->message : "?");
}

/*
 * Host, three VMs and a service whose counters add up, with a VM and the
 * grand total near 2^64 - 1.
 */
static struct ve_state *make_state(void)
{
	struct ve_state *s = ve_state_new();
	struct ve_ledger_entry host = { 0 }, vm1 = { 0 }, vm2 = { 0 }, vm3 = { 0 }, svc = { 0 };
	uint64_t big;

	s->host_reason_uj[VE_REASON_IDLE_POLICY_NONE] = 500;
	s->host_reason_uj[VE_REASON_UNATTRIBUTED] = 7;
	host.comp_uj[VE_COMP_CPU] = 1000;
	host.dev_uj[VE_DEV_PKG] = 1000;
	host.dev_uj[VE_DEV_DRAM] = 507;
	host.total_uj = 1507;

	vm2.comp_uj[VE_COMP_VCPU] = 1500;
	vm2.comp_uj[VE_COMP_IDLE] = 400;
	vm2.comp_uj[VE_COMP_SERVICE] = 100;
	vm2.dev_uj[VE_DEV_PKG] = 1600;
	vm2.dev_uj[VE_DEV_DRAM] = 300;
	vm2.dev_uj[VE_DEV_DISK] = 100;
	vm2.total_uj = 2000;

	vm3.comp_uj[VE_COMP_VCPU] = 1000;
	vm3.dev_uj[VE_DEV_PKG] = 1000;
	vm3.total_uj = 1000;

	svc.comp_uj[VE_COMP_CPU] = 200;
	svc.dev_uj[VE_DEV_PKG] = 200;
	svc.total_uj = 200;
	svc.passed_on_uj = UINT64_MAX - 5;

	s->retired_uj = 12345;
	big = UINT64_MAX - 1507 - 2000 - 1000 - 200 - 12345;
	vm1.comp_uj[VE_COMP_VCPU] = big - 600;
	vm1.comp_uj[VE_COMP_EMULATOR] = 100;
	vm1.comp_uj[VE_COMP_IO] = 200;
	vm1.comp_uj[VE_COMP_DISK] = 100;
	vm1.comp_uj[VE_COMP_IDLE] = 150;
	vm1.comp_uj[VE_COMP_SERVICE] = 50;
	vm1.dev_uj[VE_DEV_PKG] = big - 1000;
	vm1.dev_uj[VE_DEV_DRAM] = 700;
	vm1.dev_uj[VE_DEV_DISK] = 300;
	vm1.total_uj = big;
	vm1.passed_on_uj = 0;

	add(s, "host", NULL, &host);
	add(s, VM1, "web1", &vm1);
	add(s, VM2, ODD_NAME, &vm2);
	add(s, VM3, NULL, &vm3);
	add(s, SVC, "virtiofsd", &svc);
	s->energy_uj = UINT64_MAX;
	s->periods = UINT64_MAX - 1;
	return s;
}

static void save_ok(const struct tdir *t, struct ve_state *s)
{
	g_autoptr(GError) err = NULL;

	check(ve_state_save(t->fd, NAME, s, &err), "save: %s", err ? err->message : "?");
}

/* A saved make_state(), as text. */
static char *saved_text(const struct tdir *t)
{
	g_autoptr(ve_state) s = make_state();

	save_ok(t, s);
	return slurp(t, NAME, NULL);
}

static void check_same_entry(const struct ve_ledger_entry *a, const struct ve_ledger_entry *b,
			     const char *key)
{
	for (int i = 0; i < VE_COMP__MAX; i++)
		check(a->comp_uj[i] == b->comp_uj[i], "%s comp.%s: %" PRIu64 " != %" PRIu64, key,
		      ve_component_name(i), a->comp_uj[i], b->comp_uj[i]);
	for (int i = 0; i < VE_DEV__MAX; i++)
		check(a->dev_uj[i] == b->dev_uj[i], "%s dev.%s: %" PRIu64 " != %" PRIu64, key,
		      ve_device_kind_name(i), a->dev_uj[i], b->dev_uj[i]);
	check_u64(a->total_uj, b->total_uj, key);
	check_u64(a->passed_on_uj, b->passed_on_uj, key);
}

static void test_round_trip(void **state)
{
	struct tdir *t = *state;
	g_autoptr(ve_state) s = make_state();
	g_autoptr(ve_state) r = NULL;
	g_autoptr(GError) err = NULL;
	g_autofree char *text = NULL;
	gsize len;

	save_ok(t, s);
	check_u64(s->seq, 1, "seq after the first save");
	check(!exists(t, NAME ".tmp"), "no temporary file left");

	text = slurp(t, NAME, &len);
	check(text != NULL, "file written");
	check(g_utf8_validate(text, (gssize)len, NULL), "the file is UTF-8 text");
	for (gsize i = 0; i < len; i++)
		check(text[i] == '\n' || text[i] == '\t' || !g_ascii_iscntrl(text[i]),
		      "control byte 0x%02x at %zu",
		      (unsigned char)text[i], (size_t)i);
	for (const char *const *want = (const char *const[]){
		     "\n[virtenergy]\nversion=1\nseq=1\n", "\nenergy_uj=18446744073709551615\n",
		     "\nreason.idle-policy-none=500\n", "\n[" VM1 "]\nname=web1\n",
		     "\npassed_on_uj=18446744073709551610\n", "\n[" SVC "]\n", "\ndev.dram=507\n",
		     "\n\n[checksum]\nsha256=", NULL };
	     *want; want++)
		check(strstr(text, *want), "'%s' missing from\n%s", *want, text);

	check(ve_state_load(t->fd, NAME, &r, &err), "load: %s", err ? err->message : "?");
	check_u64(r->seq, 1, "seq");
	check_u64(r->periods, s->periods, "periods");
	check_u64(r->energy_uj, s->energy_uj, "energy_uj");
	check_u64(r->retired_uj, s->retired_uj, "retired_uj");
	for (int i = 0; i < VE_REASON__MAX; i++)
		check_u64(r->host_reason_uj[i], s->host_reason_uj[i], ve_reason_name(i));
	check_u64(r->accounts->len, s->accounts->len, "accounts");
	for (guint i = 0; i < s->accounts->len; i++) {
		const struct ve_state_account *a = g_ptr_array_index(s->accounts, i);
		const struct ve_state_account *b = g_ptr_array_index(r->accounts, i);

		check(strcmp(a->key, b->key) == 0, "account %u: %s, want %s (file order)", i, b->key,
		      a->key);
		check(g_strcmp0(a->name, b->name) == 0, "%s: name '%s', want '%s'", a->key,
		      b->name ? b->name : "(null)", a->name ? a->name : "(null)");
		check_same_entry(&a->e, &b->e, a->key);
		check(ve_state_lookup(r, a->key) == b, "lookup %s", a->key);
	}
	check(ve_state_lookup(r, "vm:00000000-0000-0000-0000-000000000000") == NULL,
	      "lookup of an absent VM");

	/* a VM that stopped and started again continues: same key, same counters on */
	save_ok(t, r);
	g_clear_pointer(&r, ve_state_free);
	check(ve_state_load(t->fd, NAME, &r, &err), "reload: %s", err ? err->message : "?");
	check_u64(ve_state_lookup(r, VM3)->e.total_uj, 1000, "vm3 after a second round");
	check_u64(r->seq, 2, "seq after the second round");
}

static void test_missing_file(void **state)
{
	struct tdir *t = *state;
	g_autoptr(ve_state) r = NULL;
	g_autoptr(GError) err = NULL;

	check(ve_state_load(t->fd, NAME, &r, &err), "load of nothing: %s",
	      err ? err->message : "?");
	check(r != NULL, "an empty state");
	check_u64(r->seq, 0, "seq 0 says nothing was loaded");
	check_u64(r->accounts->len, 0, "no accounts");
	check_u64(r->energy_uj, 0, "no energy");
	check(count_prefixed(t, NAME, NULL) == 0, "nothing created by a load");
}

static void test_seq_increases(void **state)
{
	struct tdir *t = *state;
	g_autoptr(ve_state) s = make_state();
	g_autoptr(ve_state) r = NULL;
	g_autoptr(GError) err = NULL;
	g_autofree char *text = NULL;

	save_ok(t, s);
	save_ok(t, s);
	check_u64(s->seq, 2, "seq after two saves");
	text = slurp(t, NAME, NULL);
	check(strstr(text, "\nseq=2\n"), "file says seq=2:\n%s", text);
	check(ve_state_load(t->fd, NAME, &r, &err), "load: %s", err ? err->message : "?");
	check_u64(r->seq, 2, "loaded seq");
}

/* Load @text from the main file: CORRUPT, moved aside intact, error says where. */
static void expect_corrupt(const struct tdir *t, const char *text, gsize len, const char *ctx)
{
	g_autoptr(ve_state) r = NULL;
	g_autoptr(GError) err = NULL;
	g_autofree char *aside = NULL;
	g_autofree char *kept = NULL;
	gsize kept_len = 0;

	put(t, NAME, text, len);
	check(!ve_state_load(t->fd, NAME, &r, &err), "%s: loaded", ctx);
	check(r == NULL, "%s: *ret set on failure", ctx);
	check(err && err->domain == VE_STATE_ERROR && err->code == VE_STATE_ERROR_CORRUPT,
	      "%s: want CORRUPT, got %s", ctx, err ? err->message : "no error");
	check(!exists(t, NAME), "%s: the corrupt file is still under its name", ctx);
	check(count_prefixed(t, NAME ".corrupt-", &aside) == 1, "%s: one set-aside file", ctx);
	check(strstr(err->message, NAME) && strstr(err->message, aside),
	      "%s: message names the file and where it went: %s", ctx, err->message);
	kept = slurp(t, aside, &kept_len);
	check(kept && kept_len == len && memcmp(kept, text, len) == 0,
	      "%s: set-aside contents changed", ctx);
	check(unlinkat(t->fd, aside, 0) == 0, "removing %s", aside);
}

static void test_corrupt_byte(void **state)
{
	struct tdir *t = *state;
	g_autofree char *text = saved_text(t);
	gsize len = strlen(text);
	/* a digit of a counter, a key, a group name, the checksum, the comment */
	const char *where[] = { "\ncomp.vcpu=1844", "\ntotal_uj=", "[vm:0f8f", "sha256=",
				"# virtenergy" };

	for (size_t i = 0; i < ARRAY_SIZE(where); i++) {
		g_autofree char *bad = g_strdup(text);
		char *at = strstr(bad, where[i]);
		size_t off;

		check(at != NULL, "'%s' not in the file", where[i]);
		off = (size_t)(at - bad) + strlen(where[i]) - 1;
		/* the same class of byte, so that only the checksum can tell */
		bad[off] = g_ascii_isdigit(bad[off]) ? (bad[off] == '9' ? '8' : bad[off] + 1) :
			   bad[off] == 'a' ? 'b' : 'a';
		expect_corrupt(t, bad, len, where[i]);
	}
}

static void test_truncated(void **state)
{
	struct tdir *t = *state;
	g_autofree char *text = saved_text(t);
	gsize len = strlen(text);
	size_t trailer = (size_t)(strstr(text, "[checksum]") - text);
	size_t mid = (size_t)(strstr(text, "\ntotal_uj=") - text) + 5;
	size_t cuts[] = { 0, 1, mid, mid - 4, trailer, trailer - 1, trailer + 5,
			  len - 30, len - 1 };

	for (size_t i = 0; i < ARRAY_SIZE(cuts); i++) {
		char ctx[32];

		snprintf(ctx, sizeof(ctx), "cut at %zu of %zu", cuts[i], (size_t)len);
		expect_corrupt(t, text, cuts[i], ctx);
	}
	/* trailing garbage after the checksum (a torn append) is no better */
	{
		g_autofree char *longer = g_strconcat(text, "x\n", NULL);

		expect_corrupt(t, longer, strlen(longer), "appended line");
	}
}

static void test_partial_write(void **state)
{
	struct tdir *t = *state;
	g_autofree char *text = saved_text(t);
	const char garbage[] = "[virtenergy]\nversion=1\nseq=99\nperio";
	g_autoptr(ve_state) r = NULL;
	g_autoptr(GError) err = NULL;

	/* killed while writing the next save: the renamed file is the truth */
	put(t, NAME ".tmp", garbage, sizeof(garbage) - 1);
	check(ve_state_load(t->fd, NAME, &r, &err), "load beside a torn .tmp: %s",
	      err ? err->message : "?");
	check_u64(r->seq, 1, "seq of the intact file");
	check_u64(r->accounts->len, 5, "accounts of the intact file");
	check(!exists(t, NAME ".tmp"), "the torn .tmp was removed");
	check(count_prefixed(t, NAME ".corrupt-", NULL) == 0, "nothing set aside");

	/* killed during the very first save: no state yet */
	g_clear_pointer(&r, ve_state_free);
	check(unlinkat(t->fd, NAME, 0) == 0, "removing the state file");
	put(t, NAME ".tmp", garbage, sizeof(garbage) - 1);
	check(ve_state_load(t->fd, NAME, &r, &err), "load of a lone .tmp: %s",
	      err ? err->message : "?");
	check_u64(r->seq, 0, "a lone .tmp is not a state");
	check(!exists(t, NAME ".tmp"), "the lone .tmp was removed");
}

/* Checksum-valid files that are still wrong. */
static void test_inconsistent(void **state)
{
	struct tdir *t = *state;
	g_autofree char *text = saved_text(t);
	static const struct {
		const char *find, *repl, *what;
	} cases[] = {
		{ "\ncomp.emulator=100\n", "\ncomp.emulator=101\n", "components do not add up" },
		{ "\ndev.disk=300\n", "\ndev.disk=301\n", "devices do not add up" },
		{ "\nreason.unattributed=7\n", "\nreason.unattributed=8\n", "host reasons do not add up" },
		{ "\nretired_uj=12345\n", "\nretired_uj=12344\n", "grand total does not add up" },
		{ "\nperiods=", "\nbogus=1\nperiods=", "unknown key in [virtenergy]" },
		{ "\ntotal_uj=1507\n", "\ntotal_uj=1507\nfuture_uj=0\n", "unknown key in an account" },
		{ "\n[" SVC "]", "\n[gpu:0]\ntotal_uj=0\n\n[" SVC "]", "unknown group" },
		{ "[" VM3 "]\ncomp.vcpu=1000\ncomp.emulator=0\n",
		  "[" VM3 "]\ncomp.vcpu=18446744073709551615\ncomp.emulator=1001\n",
		  "parts that add up only modulo 2^64" },
		{ "[" VM1 "]", "[vm:0F8FAD5B-D9CB-469F-A165-70867728950E]", "uppercase uuid" },
		{ "\ntotal_uj=1507\n", "\n", "missing total_uj" },
		{ "\nseq=1\n", "\n", "missing seq" },
		{ "\nseq=1\n", "\nseq=0\n", "seq 0" },
		{ "\nversion=1\n", "\n", "missing version" },
		{ "\nversion=1\n", "\nversion=one\n", "version not a number" },
		{ "[virtenergy]", "[other]", "no [virtenergy] group" },
		{ "\ncomp.io=200\n", "\ncomp.io=+200\n", "sign" },
		{ "\ncomp.io=200\n", "\ncomp.io=0x200\n", "hex" },
		{ "\ncomp.io=200\n", "\ncomp.io=200 µJ\n", "trailing junk" },
		{ "\ncomp.io=200\n", "\ncomp.io=-200\n", "negative" },
		{ "\ncomp.io=200\n", "\ncomp.io=\n", "empty value" },
		{ "\nenergy_uj=18446744073709551615\n", "\nenergy_uj=18446744073709551616\n",
		  "2^64" },
		{ "\ncomp.io=200\n", "\ncomp.io=200\ncomp.io=200\n", "a key twice" },
		{ "[" SVC "]", "[" VM3 "]", "a group twice (GKeyFile merges them)" },
		{ "\nname=web1\n", "\nname=web1\\q\n", "bad escape in a name" },
		{ "\nname=web1\n", "\nname=web\xff\n", "a name not in UTF-8" },
		{ "\nversion=1\n", "\nversion=1\nlost line\n", "a line without '='" },
	};

	for (size_t i = 0; i < ARRAY_SIZE(cases); i++) {
		g_autofree char *edited = replace_once(text, cases[i].find, cases[i].repl);
		g_autofree char *sealed = reseal(edited);

		expect_corrupt(t, sealed, strlen(sealed), cases[i].what);
	}
}

/* Counters may be absent (a file from before a component existed): they read as 0. */
static void test_absent_counter(void **state)
{
	struct tdir *t = *state;
	g_autofree char *text = saved_text(t);
	g_autofree char *e1 = replace_once(text, "\ncomp.vcpu=0\n", "\n");
	g_autofree char *e2 = replace_once(e1, "\nreason.service-cycle=0\n", "\n");
	g_autofree char *sealed = reseal(e2);
	g_autoptr(ve_state) r = NULL;
	g_autoptr(GError) err = NULL;

	put(t, NAME, sealed, strlen(sealed));
	check(ve_state_load(t->fd, NAME, &r, &err), "load: %s", err ? err->message : "?");
	check_u64(ve_state_lookup(r, "host")->e.comp_uj[VE_COMP_VCPU], 0, "absent comp.vcpu");
	check_u64(r->host_reason_uj[VE_REASON_SERVICE_CYCLE], 0, "absent reason");
}

static void test_version(void **state)
{
	struct tdir *t = *state;
	g_autofree char *text = saved_text(t);
	static const struct {
		const char *line, *aside;
	} cases[] = {
		{ "\nversion=2\n", NAME ".version-2-" },
		{ "\nversion=0\n", NAME ".version-0-" },
	};

	for (size_t i = 0; i < ARRAY_SIZE(cases); i++) {
		g_autofree char *edited = replace_once(text, "\nversion=1\n", cases[i].line);
		g_autofree char *sealed = reseal(edited);
		g_autofree char *aside = NULL;
		g_autofree char *kept = NULL;
		g_autoptr(ve_state) r = NULL;
		g_autoptr(GError) err = NULL;

		put(t, NAME, sealed, strlen(sealed));
		check(!ve_state_load(t->fd, NAME, &r, &err), "%s loaded", cases[i].line);
		check(err && err->domain == VE_STATE_ERROR && err->code == VE_STATE_ERROR_VERSION,
		      "want VERSION, got %s", err ? err->message : "no error");
		check(!exists(t, NAME), "a newer file is set aside, out of a save's way");
		check(count_prefixed(t, cases[i].aside, &aside) == 1, "set aside as %s*",
		      cases[i].aside);
		check(count_prefixed(t, NAME ".corrupt-", NULL) == 0, "not called corrupt");
		check(strstr(err->message, NAME) && strstr(err->message, aside),
		      "message names the file and where it went: %s", err->message);
		kept = slurp(t, aside, NULL);
		check(kept && strcmp(kept, sealed) == 0, "set-aside contents changed");
	}
}

static char *stamp_at(gint64 unix_s)
{
	g_autoptr(GDateTime) dt = g_date_time_new_from_unix_utc(unix_s);

	return g_date_time_format(dt, "%Y%m%dT%H%M%SZ");
}

/* Earlier set-aside files are never overwritten, even within one second. */
static void test_aside_keeps_earlier(void **state)
{
	struct tdir *t = *state;
	gint64 now = g_get_real_time() / G_USEC_PER_SEC;
	const char sentinel[] = "an earlier corrupt file\n";
	g_autofree char *s0 = stamp_at(now);
	g_autofree char *s1 = stamp_at(now + 1);
	g_autofree char *n0 = g_strdup_printf(NAME ".corrupt-%s", s0);
	g_autofree char *n1 = g_strdup_printf(NAME ".corrupt-%s", s1);

	put(t, n0, sentinel, sizeof(sentinel) - 1);
	put(t, n1, sentinel, sizeof(sentinel) - 1);
	for (int round = 0; round < 3; round++) {
		g_autoptr(ve_state) r = NULL;
		g_autoptr(GError) err = NULL;

		put(t, NAME, "garbage\n", 8);
		check(!ve_state_load(t->fd, NAME, &r, &err), "round %d: garbage loaded", round);
		check(err->code == VE_STATE_ERROR_CORRUPT, "round %d: %s", round, err->message);
		check(!exists(t, NAME), "round %d: moved away", round);
	}
	check(count_prefixed(t, NAME ".corrupt-", NULL) == 5, "two sentinels and three set aside");
	for (int i = 0; i < 2; i++) {
		g_autofree char *c = slurp(t, i ? n1 : n0, NULL);

		check(c && strcmp(c, sentinel) == 0, "earlier set-aside file %d overwritten", i);
	}
}

static void test_too_big(void **state)
{
	struct tdir *t = *state;
	g_autoptr(ve_state) r = NULL;
	g_autoptr(GError) err = NULL;
	int fd;

	/* sparse: costs no disk, and the loader must not read it all */
	fd = openat(t->fd, NAME, O_WRONLY | O_CREAT | O_CLOEXEC, 0600);
	check(fd >= 0, "create: %s", g_strerror(errno));
	check(ftruncate(fd, (off_t)VE_STATE_MAX_BYTES + 1) == 0, "ftruncate");
	close(fd);
	check(!ve_state_load(t->fd, NAME, &r, &err), "a 64 MiB + 1 file loaded");
	check(err->code == VE_STATE_ERROR_CORRUPT, "want CORRUPT: %s", err->message);
	check(!exists(t, NAME) && count_prefixed(t, NAME ".corrupt-", NULL) == 1,
	      "set aside: %s", err->message);
}

static void test_not_regular(void **state)
{
	struct tdir *t = *state;
	g_autoptr(ve_state) r = NULL;
	g_autoptr(GError) err = NULL;

	/* a FIFO must neither hang the load nor be moved */
	check(mkfifoat(t->fd, NAME, 0600) == 0, "mkfifo: %s", g_strerror(errno));
	check(!ve_state_load(t->fd, NAME, &r, &err), "a FIFO loaded");
	check(err->code == VE_STATE_ERROR_IO, "want IO: %s", err->message);
	check(exists(t, NAME), "left in place");
}

/* The previous file is byte for byte what it was, no .tmp is left, seq kept. */
static void expect_save_fails(const struct tdir *t, int dir_fd, struct ve_state *s,
			      const char *old, const char *ctx)
{
	g_autoptr(GError) err = NULL;
	g_autofree char *after = NULL;
	uint64_t seq = s->seq;

	check(!ve_state_save(dir_fd, NAME, s, &err), "%s: saved", ctx);
	check(err && err->domain == VE_STATE_ERROR && err->code == VE_STATE_ERROR_IO,
	      "%s: want IO, got %s", ctx, err ? err->message : "no error");
	check(strstr(err->message, NAME) && strstr(err->message, "kept"),
	      "%s: message says what failed and what was kept: %s", ctx, err->message);
	check_u64(s->seq, seq, ctx);
	after = slurp(t, NAME, NULL);
	check(after && strcmp(after, old) == 0, "%s: the previous file changed", ctx);
}

static void test_save_fails(void **state)
{
	struct tdir *t = *state;
	g_autoptr(ve_state) s = make_state();
	g_autofree char *old = NULL;
	g_autofree char *file = path_of(t, NAME);
	struct rlimit lim, small;
	int opath;

	save_ok(t, s);
	old = slurp(t, NAME, NULL);

	/* not a directory fd at all */
	expect_save_fails(t, -1, s, old, "fd -1");
	opath = open(file, O_PATH | O_CLOEXEC);
	check(opath >= 0, "O_PATH open");
	expect_save_fails(t, opath, s, old, "O_PATH fd of a file");
	close(opath);

	/* the temporary name is taken by something that is not ours to remove */
	check(mkdirat(t->fd, NAME ".tmp", 0700) == 0, "mkdir .tmp");
	put(t, NAME ".tmp/keep", "x", 1);
	expect_save_fails(t, t->fd, s, old, "a directory on the .tmp name");
	check(exists(t, NAME ".tmp/keep"), "a foreign .tmp directory was touched");
	check(unlinkat(t->fd, NAME ".tmp/keep", 0) == 0 &&
	      unlinkat(t->fd, NAME ".tmp", AT_REMOVEDIR) == 0, "cleanup");

	/* out of space in the middle of the write */
	check(getrlimit(RLIMIT_FSIZE, &lim) == 0, "getrlimit");
	small = lim;
	small.rlim_cur = 100;
	signal(SIGXFSZ, SIG_IGN);
	check(setrlimit(RLIMIT_FSIZE, &small) == 0, "setrlimit");
	{
		g_autoptr(GError) err = NULL;
		bool saved = ve_state_save(t->fd, NAME, s, &err);

		check(setrlimit(RLIMIT_FSIZE, &lim) == 0, "restoring the limit");
		check(!saved, "saved past RLIMIT_FSIZE");
		check(err->code == VE_STATE_ERROR_IO && strstr(err->message, "writing"),
		      "want a write error: %s", err->message);
	}
	signal(SIGXFSZ, SIG_DFL);
	check(!exists(t, NAME ".tmp"), "the partial .tmp was removed");
	{
		g_autofree char *after = slurp(t, NAME, NULL);

		check(after && strcmp(after, old) == 0, "the previous file changed");
	}
	check_u64(s->seq, 1, "seq after a failed write");
	save_ok(t, s);
	check_u64(s->seq, 2, "the next save works");
}

/* The rename fails (a non-empty directory on the name): the .tmp goes away. */
static void test_save_rename_fails(void **state)
{
	struct tdir *t = *state;
	g_autoptr(ve_state) s = make_state();
	g_autoptr(GError) err = NULL;

	check(mkdirat(t->fd, NAME, 0700) == 0, "mkdir");
	put(t, NAME "/keep", "x", 1);
	check(!ve_state_save(t->fd, NAME, s, &err), "renamed over a directory");
	check(err->code == VE_STATE_ERROR_IO && strstr(err->message, "renaming"),
	      "want a rename error: %s", err->message);
	check(!exists(t, NAME ".tmp"), "the .tmp was removed");
	check(exists(t, NAME "/keep"), "the directory was touched");
	check_u64(s->seq, 0, "seq unchanged");
}

static void test_save_refuses_inconsistent(void **state)
{
	struct tdir *t = *state;
	g_autoptr(ve_state) s = make_state();
	g_autoptr(GError) err = NULL;

	ve_state_lookup(s, VM2)->e.comp_uj[VE_COMP_IO] += 1;
	check(!ve_state_check(s, NULL), "check passes an inconsistent state");
	check(!ve_state_save(t->fd, NAME, s, &err), "saved an inconsistent state");
	check(err->code == VE_STATE_ERROR_INVALID && strstr(err->message, VM2),
	      "want INVALID naming the account: %s", err->message);
	check(count_prefixed(t, NAME, NULL) == 0, "nothing written");
	check_u64(s->seq, 0, "seq unchanged");

	/* reasons with no host to carry them */
	g_clear_pointer(&s, ve_state_free);
	g_clear_error(&err);
	s = ve_state_new();
	s->host_reason_uj[VE_REASON_SERVICE_CYCLE] = 1;
	s->retired_uj = 1;
	s->energy_uj = 1;
	check(!ve_state_save(t->fd, NAME, s, &err), "saved reasons without a host");
	check(err->code == VE_STATE_ERROR_INVALID, "want INVALID: %s", err->message);

	/* an empty state is consistent and round-trips */
	g_clear_pointer(&s, ve_state_free);
	s = ve_state_new();
	save_ok(t, s);
}

static void test_keys(void **state)
{
	static const struct {
		const char *key;
		bool ok;
	} cases[] = {
		{ "host", true },
		{ VM1, true },
		{ SVC, true },
		{ "service:vhost-user-blk@1", true },
		{ "Host", false },
		{ "hosts", false },
		{ "", false },
		{ "vm:", false },
		{ "vm:0F8FAD5B-D9CB-469F-A165-70867728950E", false },
		{ "vm:0f8fad5bd9cb469fa16570867728950e", false },
		{ "vm:0f8fad5b-d9cb-469f-a165-70867728950", false },
		{ "vm:0f8fad5b-d9cb-469f-a165-70867728950e0", false },
		{ "vm:web1", false },
		{ "service:", false },
		{ "service:a b", false },
		{ "service:a]b", false },
		{ "service:a[b", false },
		{ "service:a\nb", false },
		{ "virtenergy", false },
		{ "checksum", false },
	};
	g_autoptr(ve_state) s = ve_state_new();
	g_autofree char *long_ok = g_strnfill(255, 's');
	g_autofree char *long_bad = g_strnfill(256, 's');
	g_autofree char *k_ok = g_strconcat("service:", long_ok, NULL);
	g_autofree char *k_bad = g_strconcat("service:", long_bad, NULL);
	g_autoptr(GError) err = NULL;

	(void)state;
	for (size_t i = 0; i < ARRAY_SIZE(cases); i++) {
		g_autoptr(GError) e = NULL;
		struct ve_state_account *a = ve_state_add(s, cases[i].key, NULL, NULL, &e);

		check((a != NULL) == cases[i].ok, "key '%s': %s", cases[i].key,
		      a ? "accepted" : e->message);
		if (!a)
			check(e->code == VE_STATE_ERROR_INVALID, "key '%s': code %d", cases[i].key,
			      e->code);
	}
	check(ve_state_add(s, k_ok, NULL, NULL, NULL) != NULL, "255-byte service name");
	check(ve_state_add(s, k_bad, NULL, NULL, NULL) == NULL, "256-byte service name");
	check(ve_state_add(s, VM1, "again", NULL, &err) == NULL, "a second " VM1);
	check(err->code == VE_STATE_ERROR_INVALID, "duplicate: %s", err->message);
	check(ve_state_add(s, VM2, "bad \xff utf-8", NULL, NULL) == NULL, "a name not in UTF-8");
	check_u64(s->accounts->len, 5, "accounts after the failures");
	check(ve_state_lookup(s, VM2) == NULL, "a refused add left a trace");
	check(ve_state_lookup(s, "host") == g_ptr_array_index(s->accounts, 0), "lookup host");
}

static void test_file_names(void **state)
{
	struct tdir *t = *state;
	const char *names[] = { "", "a/b", ".", "..", "/abs" };
	g_autoptr(ve_state) s = ve_state_new();

	for (size_t i = 0; i < ARRAY_SIZE(names); i++) {
		g_autoptr(ve_state) r = NULL;
		g_autoptr(GError) e1 = NULL;
		g_autoptr(GError) e2 = NULL;

		check(!ve_state_save(t->fd, names[i], s, &e1), "saved to '%s'", names[i]);
		check(e1->code == VE_STATE_ERROR_INVALID, "save '%s': %s", names[i], e1->message);
		check(!ve_state_load(t->fd, names[i], &r, &e2), "loaded '%s'", names[i]);
		check(e2->code == VE_STATE_ERROR_INVALID, "load '%s': %s", names[i], e2->message);
	}
	ve_state_free(NULL);
}

#define T(f) cmocka_unit_test_setup_teardown(f, setup, teardown)

int main(void)
{
	const struct CMUnitTest tests[] = {
		T(test_round_trip),
		T(test_missing_file),
		T(test_seq_increases),
		T(test_corrupt_byte),
		T(test_truncated),
		T(test_partial_write),
		T(test_inconsistent),
		T(test_absent_counter),
		T(test_version),
		T(test_aside_keeps_earlier),
		T(test_too_big),
		T(test_not_regular),
		T(test_save_fails),
		T(test_save_rename_fails),
		T(test_save_refuses_inconsistent),
		T(test_keys),
		T(test_file_names),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
