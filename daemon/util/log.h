/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * log.h: the daemon's log lines, through g_log_structured().
 *
 * Under systemd (stderr is the journal stream, JOURNAL_STREAM matches) a
 * line goes to the journal with its fields: MESSAGE, PRIORITY,
 * SYSLOG_IDENTIFIER=virtenergyd, CODE_FILE/LINE/FUNC, and for a line about
 * a VM also VM_UUID and VM_NAME, so `journalctl VM_NAME=web1` finds it.
 * Otherwise it is "virtenergyd: MESSAGE" on stderr.  ve_log_init() installs
 * the writer; before it GLib's default writer applies.
 */
#pragma once

#include <glib.h>

/* Install the writer; once, at start-up. */
void ve_log_init(void);

/* Whether lines go to the journal (for tests and the start-up line). */
gboolean ve_log_to_journal(void);

void ve_log_full(const char *file, const char *line, const char *func, GLogLevelFlags level,
		 const char *uuid, const char *name, const char *fmt, ...) G_GNUC_PRINTF(7, 8);

/* A line about the host or the daemon, at info level. */
#define ve_log(...) \
	ve_log_full(__FILE__, G_STRINGIFY(__LINE__), G_STRFUNC, G_LOG_LEVEL_INFO, NULL, NULL, __VA_ARGS__)

/* A line about the VM @uuid (its libvirt name @name, may be NULL), at info level. */
#define ve_log_vm(uuid, name, ...) \
	ve_log_full(__FILE__, G_STRINGIFY(__LINE__), G_STRFUNC, G_LOG_LEVEL_INFO, (uuid), (name), \
		    __VA_ARGS__)

/* A warning: something failed and was not done. */
#define ve_log_warning(...) \
	ve_log_full(__FILE__, G_STRINGIFY(__LINE__), G_STRFUNC, G_LOG_LEVEL_WARNING, NULL, NULL, \
		    __VA_ARGS__)
