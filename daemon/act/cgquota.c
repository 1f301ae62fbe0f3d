// SPDX-License-Identifier: GPL-2.0-or-later
/*
 * cgquota.c: cgroup CPU bandwidth (see cgquota.h).
 */
#include <errno.h>
#include <fcntl.h>
#include <gio/gio.h>
#include <math.h>
#include <stdio.h>
#include <string.h>

#include "error.h"
#include "act.h"
#include "cgquota.h"
#include "fileio.h"
#include "held.h"

#define CFS_PERIOD_US 100000u

struct held {
	char *orig;        /* the file's text before our first change */
	char *file;        /* cpu.max or cpu.cfs_quota_us */
	double u;
};

struct ve_cgquota {
	struct ve_act_base base;   /* first: act.h */
};

G_STATIC_ASSERT(offsetof(struct ve_cgquota, base) == 0);

static void held_free(void *p)
{
	struct held *t = p;

	g_free(t->orig);
	g_free(t->file);
	g_free(t);
}

/* The record: one group per cgroup directory, its file and original text. */
static bool held_save(GKeyFile *kf, const char *dir, const void *rec)
{
	const struct held *t = rec;

	g_key_file_set_string(kf, dir, "file", t->file);
	g_key_file_set_string(kf, dir, "original", t->orig);
	return true;
}

static void *held_load(GKeyFile *kf, const char *dir, void *ud, GString *report,
			    GError **error)
{
	g_autofree char *file = g_key_file_get_string(kf, dir, "file", NULL);
	g_autofree char *orig = g_key_file_get_string(kf, dir, "original", NULL);
	struct held *t;

	if (!file || !orig) {
		g_set_error(error, G_KEY_FILE_ERROR, G_KEY_FILE_ERROR_KEY_NOT_FOUND,
			    "it lacks file or original");
		return NULL;
	}
	t = g_new0(struct held, 1);
	t->file = g_steal_pointer(&file);
	t->orig = g_steal_pointer(&orig);
	return t;
}

static const struct ve_held_ops held_ops = {
	.comment = " cgroup CPU quotas virtenergyd --guest applied, with the text it found before.\n"
		   " The next start restores these if the daemon did not exit cleanly.",
	.save = held_save,
	.load = held_load,
	.free = held_free,
};

struct ve_cgquota *ve_cgquota_new(const char *state_dir, bool dry_run, ve_act_log_fn log,
				  void *ud)
{
	struct ve_cgquota *q = g_new0(struct ve_cgquota, 1);

	ve_act_base_init(&q->base, state_dir, "cgquota", &held_ops, NULL, dry_run, log, ud);
	return q;
}

void ve_cgquota_free(struct ve_cgquota *q)
{
	if (!q)
		return;
	ve_act_base_clear(&q->base);
	g_free(q);
}

static gboolean write_text(const char *path, const char *text, GError **error)
{
	FILE *f = fopen(path, "we");
	int r;

	if (!f) {
		g_set_error(error, VE_ERROR, ve_error_from_errno(errno), "cannot open %s: %s",
			    path, g_strerror(errno));
		return FALSE;
	}
	r = fputs(text, f);
	if (fclose(f) != 0 || r < 0) {
		g_set_error(error, VE_ERROR, ve_error_from_errno(errno),
			    "cannot write '%s' to %s: %s", text, path, g_strerror(errno));
		return FALSE;
	}
	return TRUE;
}

gboolean ve_cgquota_set(struct ve_cgquota *q, const char *dir, double u, unsigned int ncpus,
			GError **error)
{
	g_autofree char *v2 = g_build_filename(dir, "cpu.max", NULL);
	g_autofree char *v1 = g_build_filename(dir, "cpu.cfs_quota_us", NULL);
	g_autofree char *orig = NULL, *text = NULL, *path = NULL;
	struct held *t = ve_held_get(q->base.held, dir);
	long long quota;

	if (!(u > 0 && u <= 1) || ncpus == 0 || ncpus > 65536) {
		g_set_error(error, VE_ERROR, VE_ERROR_INVALID,
			    "%s: CPU share %g of %u CPUs is out of range", dir, u, ncpus);
		return FALSE;
	}
	quota = llround(u * ncpus * CFS_PERIOD_US);
	if (quota < 1000)
		quota = 1000;           /* the kernel's minimum is 1 ms */
	if (g_file_test(v2, G_FILE_TEST_EXISTS)) {
		path = g_steal_pointer(&v2);
		text = g_strdup_printf("%lld %u\n", quota, CFS_PERIOD_US);
	} else if (g_file_test(v1, G_FILE_TEST_EXISTS)) {
		path = g_steal_pointer(&v1);
		text = g_strdup_printf("%lld\n", quota * 100000 / CFS_PERIOD_US);
	} else {
		g_set_error(error, VE_ERROR, VE_ERROR_UNSUPPORTED,
			    "%s has no CPU controller (no cpu.max or cpu.cfs_quota_us): enable it "
			    "with '+cpu' in its parent's cgroup.subtree_control", dir);
		return FALSE;
	}
	if (!t) {
		char buf[256];
		int r = ve_read_file_at(AT_FDCWD, path, buf, sizeof(buf), NULL);

		if (r < 0) {
			g_set_error(error, VE_ERROR, ve_error_from_errno(-r), "cannot read %s: %s",
				    path, g_strerror(-r));
			return FALSE;
		}
		orig = g_strchomp(g_strdup(buf));
	}
	if (q->base.dry_run) {
		if (q->base.log) {
			g_autofree char *msg = g_strdup_printf("dry run: would write '%s' to %s",
							       g_strchomp(text), path);
			q->base.log(q->base.ud, dir, NULL, msg);
		}
		return TRUE;
	}
	if (!t) {
		t = g_new0(struct held, 1);
		t->orig = g_steal_pointer(&orig);
		t->file = g_strdup(path);
		ve_held_put(q->base.held, dir, t);
		if (!ve_held_save(q->base.held, error)) {
			ve_held_remove(q->base.held, dir);
			return FALSE;
		}
	}
	if (!write_text(path, text, error))
		return FALSE;
	t->u = u;
	return TRUE;
}

double ve_cgquota_current(struct ve_cgquota *q, const char *dir)
{
	struct held *t = ve_held_get(q->base.held, dir);

	return t ? t->u : 0.0;
}

gboolean ve_cgquota_restore(struct ve_cgquota *q, const char *dir, GError **error)
{
	struct held *t = ve_held_get(q->base.held, dir);
	g_autofree char *text = NULL;

	if (!t)
		return TRUE;
	if (g_file_test(t->file, G_FILE_TEST_EXISTS)) {
		text = g_strdup_printf("%s\n", t->orig);
		if (!write_text(t->file, text, error))
			return FALSE;
	}
	ve_held_remove(q->base.held, dir);
	return ve_held_save(q->base.held, error);
}

/* ---- act.h's interface ------------------------------------------------- */

static gboolean act_set(void *impl, const struct ve_act_target *t, double value, double *ret_applied,
			GError **error)
{
	if (!ve_cgquota_set(impl, t->key, value, t->ncpus, error))
		return FALSE;
	if (ret_applied)
		*ret_applied = value;
	return TRUE;
}

static gboolean act_restore(void *impl, const struct ve_act_target *t, GError **error)
{
	return ve_cgquota_restore(impl, t->key, error);
}

static const struct ve_actuator_ops ops = {
	.what = "cgroup CPU bandwidth",
	.left = "the cgroup stays throttled",
	.set = act_set,
	.current = (double (*)(void *, const char *))ve_cgquota_current,
	.restore = act_restore,
	.record = "cgroup quota",
	.free = (void (*)(void *))ve_cgquota_free,
};

struct ve_actuator ve_cgquota_actuator(struct ve_cgquota *q)
{
	return (struct ve_actuator){ &ops, q };
}
