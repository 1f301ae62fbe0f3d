// SPDX-License-Identifier: GPL-2.0-or-later
/* The actuators' durable record (held.h): what is held survives a restart, and only that. */
#include <errno.h>
#include <glib.h>
#include <glib/gstdio.h>
#include <string.h>
#include <unistd.h>

#include "check.h"
#include "held.h"

struct rec {
	long long orig;
};

static bool rec_save(GKeyFile *kf, const char *key, const void *p)
{
	const struct rec *r = p;

	if (r->orig < 0)
		return false;   /* nothing to keep */
	g_key_file_set_int64(kf, key, "orig", r->orig);
	return true;
}

static void *rec_load(GKeyFile *kf, const char *key, void *ud, GString *report, GError **error)
{
	struct rec *r;
	long long v = g_key_file_get_int64(kf, key, "orig", error);

	(*(int *)ud)++;
	if (*error)
		return NULL;
	r = g_new0(struct rec, 1);
	r->orig = v;
	return r;
}

static const struct ve_held_ops ops = {
	.comment = " a test record",
	.save = rec_save,
	.load = rec_load,
	.free = g_free,
};

static struct rec *mk(long long v)
{
	struct rec *r = g_new0(struct rec, 1);

	r->orig = v;
	return r;
}

static void test_round_trip(void **state)
{
	g_autofree char *dir = g_dir_make_tmp("ve-held-XXXXXX", NULL);
	g_autofree char *path = g_build_filename(dir, "rec", NULL);
	g_autoptr(GString) report = g_string_new("");
	g_autoptr(GPtrArray) keys = NULL;
	struct ve_held *h, *h2;
	int loads = 0;
	const char *k;
	void *v;
	guint it = 0;

	(void)state;
	h = ve_held_new(dir, "rec", &ops, &loads);
	check(strcmp(ve_held_path(h), path) == 0, "path %s", ve_held_path(h));
	ve_held_put(h, "b", mk(2));
	ve_held_put(h, "a", mk(1));
	ve_held_put(h, "b", mk(20));   /* replaces */
	check(ve_held_size(h) == 2, "two held");
	check(ve_held_save(h, NULL), "saved");
	check(g_file_test(path, G_FILE_TEST_IS_REGULAR), "the file exists");
	check(ve_held_next(h, &it, &k, &v) && strcmp(k, "b") == 0 && ((struct rec *)v)->orig == 20,
	      "first held first, with its newest record");
	check(ve_held_next(h, &it, &k, &v) && strcmp(k, "a") == 0, "then a");
	check(!ve_held_next(h, &it, &k, &v), "then no more");

	/* a restart: the file brings both back, in order */
	h2 = ve_held_new(dir, "rec", &ops, &loads);
	keys = ve_held_load(h2, "test", report);
	check(keys->len == 2 && strcmp(keys->pdata[0], "b") == 0 && strcmp(keys->pdata[1], "a") == 0,
	      "loaded b, a (%u)", keys->len);
	check(((struct rec *)ve_held_get(h2, "b"))->orig == 20, "b's value");
	check(report->len == 0, "nothing reported: '%s'", report->str);
	ve_held_free(h2);

	/* nothing left to keep: the file goes */
	ve_held_remove(h, "a");
	ve_held_put(h, "b", mk(-1));
	check(ve_held_save(h, NULL), "saved with nothing to keep");
	check(!g_file_test(path, G_FILE_TEST_EXISTS), "the file is removed");
	ve_held_remove(h, "b");
	check(ve_held_size(h) == 0 && !ve_held_get(h, "b"), "empty");
	ve_held_free(h);
	g_rmdir(dir);
}

static void test_bad_groups(void **state)
{
	g_autofree char *dir = g_dir_make_tmp("ve-held-XXXXXX", NULL);
	g_autofree char *path = g_build_filename(dir, "rec", NULL);
	g_autoptr(GString) report = g_string_new("");
	g_autoptr(GPtrArray) keys = NULL;
	struct ve_held *h;
	int loads = 0;

	(void)state;
	check(g_file_set_contents(path, "[good]\norig=5\n[bad]\norig=x\n[none]\nother=1\n", -1, NULL),
	      "a record with bad groups");
	h = ve_held_new(dir, "rec", &ops, &loads);
	keys = ve_held_load(h, "test", report);
	check(loads == 3, "each group given to the actuator (%d)", loads);
	check(keys->len == 1 && strcmp(keys->pdata[0], "good") == 0, "only the good one held");
	check(strstr(report->str, "bad test record for 'bad'") && strstr(report->str, "'none'"),
	      "both bad ones named: '%s'", report->str);
	ve_held_free(h);
	unlink(path);

	/* no file is no record, and nothing to report */
	g_string_truncate(report, 0);
	h = ve_held_new(dir, "rec", &ops, &loads);
	g_ptr_array_unref(ve_held_load(h, "test", report));
	check(ve_held_size(h) == 0 && report->len == 0, "no file: '%s'", report->str);
	ve_held_free(h);
	g_rmdir(dir);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_round_trip),
		cmocka_unit_test(test_bad_groups),
	};

	return cmocka_run_group_tests_name("held", tests, NULL, NULL);
}
