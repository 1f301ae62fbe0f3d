/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * act.h: what the actuators share.
 *
 * Each actuator records the values it is about to change in a small file
 * in STATE_DIR before it changes them (so the next start can put them back
 * after a crash), reports what it does through a log callback, and names
 * libvirt's last error when libvirt refuses.
 */
#pragma once

#include <glib.h>
#include <stdbool.h>

typedef void (*ve_act_log_fn)(void *ud, const char *uuid, const char *name, const char *msg);

/*
 * Replace the record at @path with @kf (GLib's consistent and durable file
 * replacement, mode 0600), or remove it when @empty: nothing is held any
 * more.  FALSE with @error naming the file when either fails.
 */
gboolean ve_act_record_save(const char *path, GKeyFile *kf, bool empty, GError **error);

/* @log(@ud, @uuid, @name, formatted message), when @log is set. */
void ve_act_say(ve_act_log_fn log, void *ud, const char *uuid, const char *name, const char *fmt,
		...) G_GNUC_PRINTF(5, 6);

/* libvirt's last error message, or words saying there is none. */
const char *ve_act_virt_error(void);
