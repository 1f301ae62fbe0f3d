// SPDX-License-Identifier: GPL-2.0-or-later
/*
 * act.c: what the actuators share (see act.h).
 */
#include <errno.h>
#include <gio/gio.h>
#include <glib/gstdio.h>
#include <libvirt/virterror.h>

#include "act.h"

gboolean ve_act_record_save(const char *path, GKeyFile *kf, bool empty, GError **error)
{
	g_autofree char *data = NULL;
	gsize len;

	if (empty) {
		if (g_unlink(path) < 0 && errno != ENOENT) {
			g_set_error(error, G_IO_ERROR, g_io_error_from_errno(errno),
				    "cannot remove %s: %s", path, g_strerror(errno));
			return FALSE;
		}
		return TRUE;
	}
	data = g_key_file_to_data(kf, &len, NULL);
	return g_file_set_contents_full(path, data, (gssize)len,
					G_FILE_SET_CONTENTS_CONSISTENT | G_FILE_SET_CONTENTS_DURABLE,
					0600, error);
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
