// SPDX-License-Identifier: GPL-2.0-or-later
/*
 * log.c: the daemon's log lines (see log.h).
 */
#include <stdio.h>
#include <string.h>

#include "log.h"

static gboolean journal;

static GLogWriterOutput writer(GLogLevelFlags level, const GLogField *fields, gsize n,
			       gpointer ud)
{
	/*
	 * Libraries' debug messages (libsoup's and GIO's socket client, one per
	 * request of the fleet's etcd client) only when G_MESSAGES_DEBUG asks.
	 */
	if ((level & G_LOG_LEVEL_DEBUG) && !g_getenv("G_MESSAGES_DEBUG"))
		return G_LOG_WRITER_HANDLED;
	if (journal && g_log_writer_journald(level, fields, n, ud) == G_LOG_WRITER_HANDLED)
		return G_LOG_WRITER_HANDLED;
	for (gsize i = 0; i < n; i++)
		if (!strcmp(fields[i].key, "MESSAGE")) {
			fprintf(stderr, "virtenergyd: %s\n", (const char *)fields[i].value);
			break;
		}
	return G_LOG_WRITER_HANDLED;
}

void ve_log_init(void)
{
	static gsize once;

	if (g_once_init_enter(&once)) {
		journal = g_log_writer_is_journald(fileno(stderr));
		g_log_set_writer_func(writer, NULL, NULL);
		g_once_init_leave(&once, 1);
	}
}

gboolean ve_log_to_journal(void)
{
	return journal;
}

void ve_log_full(const char *file, const char *line, const char *func, GLogLevelFlags level,
		 const char *uuid, const char *name, const char *fmt, ...)
{
	g_autofree char *msg = NULL;
	GLogField f[7];
	gsize n = 0;
	va_list ap;

	va_start(ap, fmt);
	msg = g_strdup_vprintf(fmt, ap);
	va_end(ap);
	f[n++] = (GLogField){ "MESSAGE", msg, -1 };
	f[n++] = (GLogField){ "SYSLOG_IDENTIFIER", "virtenergyd", -1 };
	f[n++] = (GLogField){ "CODE_FILE", file, -1 };
	f[n++] = (GLogField){ "CODE_LINE", line, -1 };
	f[n++] = (GLogField){ "CODE_FUNC", func, -1 };
	if (uuid) {
		f[n++] = (GLogField){ "VM_UUID", uuid, -1 };
		f[n++] = (GLogField){ "VM_NAME", name ? name : "", -1 };
	}
	g_log_structured_array(level, f, n);
}
