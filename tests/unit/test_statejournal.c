// SPDX-License-Identifier: GPL-2.0-or-later
/*
 * The state file's journal (statejournal.h): a load after any number of
 * saves gives the last one; a record cut short is where the saves end; a
 * journal that continues an older state file is ignored; accounts come,
 * change names and go; the state file is compacted once the journal has
 * grown to its size, and on free; a journal whose records check out but do
 * not add up is set aside and the state file alone is loaded.
 */
#include <errno.h>
#include <string.h>

#include "fixture.h"
#include "statejournal.h"

#define NAME "state"
#define VM1 "vm:0f8fad5b-d9cb-469f-a165-70867728950e"
#define VM2 "vm:1f8fad5b-d9cb-469f-a165-70867728950e"

/* A state of @n VMs, each with @k µJ of vCPU on the package, and the host's reasons. */
static struct ve_state *state_of(uint64_t seq, unsigned int n, uint64_t k)
{
	struct ve_state *s = ve_state_new();
	struct ve_ledger_entry host = { 0 };

	s->seq = seq;
	s->periods = seq * 10;
	host.comp_uj[VE_COMP_CPU] = k;
	host.dev_uj[VE_DEV_PKG] = 2 * k;
	host.total_uj = 2 * k;
	s->host_reason_uj[VE_REASON_IDLE_NO_TAKER] = k;
	check(ve_state_add(s, "host", NULL, &host, NULL) != NULL, "host");
	s->energy_uj = 2 * k;
	for (unsigned int i = 0; i < n; i++) {
		char key[64];
		struct ve_ledger_entry e = { 0 };

		snprintf(key, sizeof(key), "vm:%08x-d9cb-469f-a165-70867728950e", i);
		e.comp_uj[VE_COMP_VCPU] = k + i;
		e.dev_uj[VE_DEV_PKG] = k + i;
		e.total_uj = k + i;
		check(ve_state_add(s, key, i % 2 ? "odd" : NULL, &e, NULL) != NULL, "vm %u", i);
		s->energy_uj += k + i;
	}
	return s;
}

static struct ve_state *load(int fd)
{
	g_autoptr(GError) err = NULL;
	struct ve_state *s = NULL;

	check(ve_state_load(fd, NAME, &s, &err), "load: %s", err ? err->message : "");
	return s;
}

static void check_state(const struct ve_state *s, uint64_t seq, unsigned int n, uint64_t k)
{
	const struct ve_state_account *a;

	check_u64(s->seq, seq, "seq");
	check_u64(s->periods, seq * 10 - 10, "periods");   /* saved as seq + 1 */
	check_u64(s->accounts->len, n + 1, "accounts");
	check_u64(s->host_reason_uj[VE_REASON_IDLE_NO_TAKER], k, "a reason");
	a = ve_state_lookup(s, "vm:00000001-d9cb-469f-a165-70867728950e");
	if (n > 1) {
		check(a != NULL, "vm 1 there");
		check_u64(a->e.total_uj, k + 1, "vm 1's total");
		check(g_strcmp0(a->name, "odd") == 0, "vm 1's name: %s", a->name ? a->name : "(none)");
	}
}

/*
 * @n VMs of state_of(seq, n, k) in reverse order, without VM @drop, and
 * with its total moved to retired_uj: accounts that change places and go
 * within appended records.
 */
static struct ve_state *reordered(uint64_t seq, unsigned int n, uint64_t k, unsigned int drop)
{
	g_autoptr(ve_state) src = state_of(seq, n, k);
	struct ve_state *s = ve_state_new();

	s->seq = src->seq;
	s->periods = src->periods;
	s->energy_uj = src->energy_uj;
	memcpy(s->host_reason_uj, src->host_reason_uj, sizeof(s->host_reason_uj));
	for (guint i = src->accounts->len; i-- > 0;) {
		const struct ve_state_account *a = g_ptr_array_index(src->accounts, i);

		if (i == drop + 1)
			s->retired_uj += a->e.total_uj;
		else
			check(ve_state_add(s, a->key, a->name, &a->e, NULL) != NULL, "%s", a->key);
	}
	return s;
}

/* @got holds what @want does, account by account, in any order */
static void check_same(const struct ve_state *got, const struct ve_state *want)
{
	check_u64(got->accounts->len, want->accounts->len, "accounts");
	check_u64(got->energy_uj, want->energy_uj, "energy");
	check_u64(got->retired_uj, want->retired_uj, "retired");
	for (guint i = 0; i < want->accounts->len; i++) {
		const struct ve_state_account *w = g_ptr_array_index(want->accounts, i);
		const struct ve_state_account *a = ve_state_lookup(got, w->key);

		check(a != NULL, "%s there", w->key);
		check(memcmp(&a->e, &w->e, sizeof(a->e)) == 0, "%s's counters", w->key);
		check(g_strcmp0(a->name, w->name) == 0, "%s's name", w->key);
	}
}

static size_t file_size(int fd, const char *rel)
{
	struct stat st;

	return fstatat(fd, rel, &st, 0) == 0 ? (size_t)st.st_size : 0;
}

static void test_saves(void **state)
{
	struct fx fx;
	struct ve_state_journal *j;
	g_autoptr(GError) err = NULL;
	struct ve_state *s;
	uint64_t appended, compacted;

	(void)state;
	fx_make(&fx);
	j = ve_state_journal_new(fx.fd, NAME);
	/* the first save compacts; the next ones append */
	for (uint64_t i = 0; i < 5; i++)
		check(ve_state_journal_save(j, state_of(i, 20, 1000 * (i + 1)), false, &err), "save %llu: %s",
		      (unsigned long long)i, err ? err->message : "");
	ve_state_journal_counts(j, &appended, &compacted);
	check(compacted == 1 && appended == 4, "1 compaction, 4 records: %llu, %llu",
	      (unsigned long long)compacted, (unsigned long long)appended);
	printf("# state file %zu bytes, journal %zu bytes for 4 saves of 21 accounts\n",
	       file_size(fx.fd, NAME), file_size(fx.fd, NAME ".journal"));
	s = load(fx.fd);
	check_state(s, 5, 20, 5000);
	ve_state_free(s);

	/* a record cut short: the saves end with the one before */
	{
		size_t len = file_size(fx.fd, NAME ".journal");
		int jfd = openat(fx.fd, NAME ".journal", O_WRONLY | O_CLOEXEC);

		check(jfd >= 0 && ftruncate(jfd, (off_t)len - 3) == 0, "cut the journal short");
		close(jfd);
		s = load(fx.fd);
		check_state(s, 4, 20, 4000);
		ve_state_free(s);
	}
	/* (a writer appends after what it wrote, not after a cut it does not know of: start anew) */
	ve_state_journal_free(j, NULL);
	j = ve_state_journal_new(fx.fd, NAME);

	/* accounts come, are renamed and go; after a failed append the next save compacts */
	check(ve_state_journal_save(j, state_of(10, 3, 7000), false, &err), "fewer VMs: %s",
	      err ? err->message : "");
	s = state_of(11, 4, 8000);
	g_free(ve_state_lookup(s, "vm:00000001-d9cb-469f-a165-70867728950e")->name);
	ve_state_lookup(s, "vm:00000001-d9cb-469f-a165-70867728950e")->name = g_strdup("renamed");
	check(ve_state_journal_save(j, s, false, &err), "renamed: %s", err ? err->message : "");
	s = load(fx.fd);
	check_u64(s->accounts->len, 5, "host and 4 VMs");
	check(strcmp(ve_state_lookup(s, "vm:00000001-d9cb-469f-a165-70867728950e")->name, "renamed") == 0,
	      "the new name");
	check(ve_state_lookup(s, "vm:00000013-d9cb-469f-a165-70867728950e") == NULL, "a dropped VM gone");
	check_u64(s->seq, 12, "seq");
	ve_state_free(s);

	/* the accounts in another order, one gone, in appended records (no compaction) */
	{
		uint64_t a0, c0, a1, c1;
		g_autoptr(ve_state) want = NULL;

		ve_state_journal_counts(j, &a0, &c0);
		check(ve_state_journal_save(j, reordered(12, 4, 8100, 2), false, &err), "reordered: %s",
		      err ? err->message : "");
		check(ve_state_journal_save(j, reordered(13, 4, 8200, 2), false, &err), "again: %s",
		      err ? err->message : "");
		ve_state_journal_counts(j, &a1, &c1);
		check(a1 == a0 + 2 && c1 == c0, "appended, not compacted");
		want = reordered(13, 4, 8200, 2);
		s = load(fx.fd);
		check_same(s, want);
		check(ve_state_lookup(s, "vm:00000002-d9cb-469f-a165-70867728950e") == NULL, "VM 2 gone");
		ve_state_free(s);
	}

	/* the journal grows to the state file's size: compacted */
	ve_state_journal_counts(j, &appended, &compacted);
	for (uint64_t i = 0; i < 200; i++)
		check(ve_state_journal_save(j, state_of(20 + i, 4, 9000 + i * 100000), false, &err),
		      "save: %s", err ? err->message : "");
	{
		uint64_t a1, c1;

		ve_state_journal_counts(j, &a1, &c1);
		check(c1 > compacted && file_size(fx.fd, NAME ".journal") <= 2 * file_size(fx.fd, NAME),
		      "compacted again (%llu), the journal (%zu bytes) within twice the state file (%zu)",
		      (unsigned long long)(c1 - compacted), file_size(fx.fd, NAME ".journal"),
		      file_size(fx.fd, NAME));
	}
	s = load(fx.fd);
	check_state(s, 220, 4, 9000 + 199 * 100000);
	ve_state_free(s);

	/* freed: the state file alone holds the last save */
	ve_state_journal_free(j, NULL);
	check(unlinkat(fx.fd, NAME ".journal", 0) == 0, "remove the journal");
	s = load(fx.fd);
	check_state(s, 220, 4, 9000 + 199 * 100000);
	ve_state_free(s);
	fx_remove(&fx);
}

static void test_stale_and_bad(void **state)
{
	struct fx fx;
	struct ve_state_journal *j;
	g_autoptr(GError) err = NULL;
	struct ve_state *s;

	(void)state;
	fx_make(&fx);

	/*
	 * A journal whose records check out but do not add up on the state
	 * file beside it (here: another file of the same seq): set aside, the
	 * state file alone loaded.
	 */
	j = ve_state_journal_new(fx.fd, NAME);
	check(ve_state_journal_save(j, state_of(0, 2, 100), false, &err), "save");
	check(ve_state_journal_save(j, state_of(1, 2, 200), false, &err), "save");
	ve_state_journal_free(j, NULL);
	check(unlinkat(fx.fd, NAME ".journal", 0) == 0 || errno == ENOENT, "no journal");
	j = ve_state_journal_new(fx.fd, NAME);
	check(ve_state_journal_save(j, state_of(0, 2, 100), false, &err), "save");
	check(ve_state_journal_save(j, state_of(1, 2, 200), false, &err), "save");
	s = state_of(0, 2, 150);
	check(ve_state_save(fx.fd, NAME, s, &err), "another state file of seq 1");
	ve_state_free(s);
	s = load(fx.fd);
	check_state(s, 1, 2, 150);
	ve_state_free(s);
	check(faccessat(fx.fd, NAME ".journal", F_OK, 0) != 0, "the journal set aside");
	ve_state_journal_free(j, NULL);

	/* a state file newer than the journal (its rename never came): the journal is ignored */
	j = ve_state_journal_new(fx.fd, NAME);
	check(ve_state_journal_save(j, state_of(2, 2, 300), false, &err), "save");
	check(ve_state_journal_save(j, state_of(3, 2, 400), false, &err), "save");
	s = state_of(7, 2, 5000);
	check(ve_state_save(fx.fd, NAME, s, &err), "a newer state file");
	ve_state_free(s);
	s = load(fx.fd);
	check_state(s, 8, 2, 5000);
	ve_state_free(s);
	check(faccessat(fx.fd, NAME ".journal", F_OK, 0) == 0, "that journal left where it is");
	fx_remove(&fx);
	ve_state_journal_discard(j);   /* not _free(): it would compact over the newer file */
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_saves),
		cmocka_unit_test(test_stale_and_bad),
	};

	return cmocka_run_group_tests_name("statejournal", tests, NULL, NULL);
}
