// SPDX-License-Identifier: GPL-2.0-or-later
/*
 * act.c: what the actuators share (see act.h).
 */
#include <errno.h>
#include <fcntl.h>
#include <gio/gio.h>
#include <glib/gstdio.h>
#include <libvirt/virterror.h>

#include "error.h"
#include "act.h"
#include "fileio.h"

gboolean ve_act_record_save(const char *path, GKeyFile *kf, bool empty, GError **error)
{
	g_autofree char *data = NULL;
	const char *step;
	gsize len;
	int r;

	if (empty) {
		if (g_unlink(path) < 0 && errno != ENOENT) {
			g_set_error(error, VE_ERROR, ve_error_from_errno(errno),
				    "cannot remove %s: %s", path, g_strerror(errno));
			return FALSE;
		}
		return TRUE;
	}
	data = g_key_file_to_data(kf, &len, NULL);
	r = ve_write_file_atomic_at(AT_FDCWD, path, data, len, 0600, VE_WRITE_SYNC | VE_WRITE_SYNC_DIR,
				    &step);
	if (r < 0) {
		g_set_error(error, VE_ERROR, ve_error_from_errno(-r),
			    "cannot save %s: %s %s.tmp failed: %s", path, step, path, g_strerror(-r));
		return FALSE;
	}
	return TRUE;
}

void ve_act_say(ve_act_log_fn log, void *ud, const char *uuid, const char *name, const char *fmt,
		...)
{
	g_autofree char *msg = NULL;
	va_list ap;

	if (!log)
		return;
	va_start(ap, fmt);
	msg = g_strdup_vprintf(fmt, ap);
	va_end(ap);
	log(ud, uuid, name, msg);
}

const char *ve_act_virt_error(void)
{
	virErrorPtr e = virGetLastError();

	return e && e->message ? e->message : "unknown libvirt error";
}

/* ---- the interface --------------------------------------------------- */

gboolean ve_act_set(const struct ve_actuator *a, const struct ve_act_target *t, double value,
		    double *ret_applied, GError **error)
{
	if (!a->impl) {
		g_set_error(error, VE_ERROR, VE_ERROR_UNSUPPORTED, "no %s actuator (yet)",
			    a->ops->what);
		return FALSE;
	}
	return a->ops->set(a->impl, t, value, ret_applied, error);
}

double ve_act_current(const struct ve_actuator *a, const char *key)
{
	return a->impl && key ? a->ops->current(a->impl, key) : 0.0;
}

gboolean ve_act_restore(const struct ve_actuator *a, const struct ve_act_target *t, GError **error)
{
	return !a->impl || a->ops->restore(a->impl, t, error);
}

unsigned int ve_act_restore_all(const struct ve_actuator *a, virConnectPtr conn)
{
	return a->impl ? a->ops->restore_all(a->impl, conn) : 0;
}

unsigned int ve_act_reconcile(const struct ve_actuator *a, virConnectPtr conn, GString *report)
{
	return a->impl && a->ops->reconcile ? a->ops->reconcile(a->impl, conn, report) : 0;
}

bool ve_act_dry_run(const struct ve_actuator *a)
{
	return a->impl && a->ops->dry_run(a->impl);
}

void ve_act_free(struct ve_actuator *a)
{
	if (a->impl)
		a->ops->free(a->impl);
	a->impl = NULL;
}
