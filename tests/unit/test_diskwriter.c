// SPDX-License-Identifier: GPL-2.0-or-later
/*
 * The disk writer (diskwriter.h): what is handed over is on disk after a
 * flush, state and exports alike; a newer snapshot supersedes an older one
 * and the file ends up with the newest; a failure is handed out once, with
 * the VM it hit; without a directory nothing is written and nothing fails.
 */
#include <errno.h>
#include <string.h>

#include "diskwriter.h"
#include "fixture.h"

#define UUID "0f8fad5b-d9cb-469f-a165-70867728950e"

static struct ve_state *state_of(uint64_t seq, uint64_t periods)
{
	struct ve_state *s = ve_state_new();

	s->seq = seq;
	s->periods = periods;
	return s;
}

static void test_writes(void **state)
{
	struct fx fx;
	struct ve_disk_writer *w;
	g_autoptr(GError) err = NULL;
	struct ve_state *got = NULL;
	GArray *items;
	struct ve_export_item it = { .uuid = UUID };
	int sfd, xfd;

	(void)state;
	fx_make(&fx);
	fx_mkdir(&fx, "state");
	fx_mkdir(&fx, "guests");
	sfd = openat(fx.fd, "state", O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	xfd = openat(fx.fd, "guests", O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	check(sfd >= 0 && xfd >= 0, "directories: %s", strerror(errno));
	w = ve_disk_writer_new(xfd, sfd, "state");

	/* many saves in a row: whichever are written, the newest is the file */
	for (uint64_t i = 0; i < 50; i++)
		ve_disk_writer_state(w, state_of(i, 10 * i), false);
	ve_vrapl_init(&it.regs);
	it.regs.pkg_uj = 5000000;
	it.name = g_strdup("web1");
	items = ve_export_items_new(1);
	g_array_append_val(items, it);
	ve_disk_writer_exports(w, items);
	ve_disk_writer_flush(w);

	check(ve_state_load(sfd, "state", &got, &err), "load: %s", err ? err->message : "");
	check(got->seq == 50 && got->periods == 490, "the newest state: seq %llu, periods %llu",
	      (unsigned long long)got->seq, (unsigned long long)got->periods);
	ve_state_free(got);
	check(faccessat(xfd, UUID "/intel-rapl:0/energy_uj", F_OK, 0) == 0, "the export written");

	/* a failure: the export directory's entry for the VM is a file */
	{
		g_autoptr(GError) xerr = NULL;
		g_autoptr(GError) serr = NULL;
		g_autofree char *uuid = NULL;
		g_autofree char *name = NULL;
		struct ve_export_item bad = { .uuid = "1f8fad5b-d9cb-469f-a165-70867728950e" };

		fx_write(&fx, "guests/1f8fad5b-d9cb-469f-a165-70867728950e", "not a directory\n");
		ve_vrapl_init(&bad.regs);
		bad.name = g_strdup("db1");
		items = ve_export_items_new(1);
		g_array_append_val(items, bad);
		ve_disk_writer_exports(w, items);
		ve_disk_writer_flush(w);
		ve_disk_writer_take_errors(w, &xerr, &uuid, &name, &serr);
		check(xerr != NULL && serr == NULL, "an export error, no state error");
		check(strcmp(uuid, bad.uuid) == 0 && strcmp(name, "db1") == 0, "named: %s %s", uuid, name);
		g_clear_error(&xerr);
		g_clear_pointer(&uuid, g_free);
		g_clear_pointer(&name, g_free);
		ve_disk_writer_take_errors(w, &xerr, &uuid, &name, &serr);
		check(!xerr && !uuid && !name && !serr, "handed out once");
	}
	ve_disk_writer_free(w);

	/* no directories: nothing to do, nothing failing */
	w = ve_disk_writer_new(-1, -1, "state");
	ve_disk_writer_state(w, state_of(0, 1), false);
	ve_disk_writer_exports(w, ve_export_items_new(0));
	ve_disk_writer_flush(w);
	ve_disk_writer_free(w);
	ve_disk_writer_free(NULL);
	close(sfd);
	close(xfd);
	fx_remove(&fx);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_writes),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
