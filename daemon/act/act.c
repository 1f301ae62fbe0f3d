// SPDX-License-Identifier: GPL-2.0-or-later
/*
 * act.c: what the actuators share (see act.h).
 */
#include <gio/gio.h>
#include <libvirt/virterror.h>

#include "error.h"
#include "act.h"
#include "held.h"

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

void ve_act_base_init(struct ve_act_base *b, const char *state_dir, const char *file,
		      const struct ve_held_ops *ops, void *held_ud, bool dry_run, ve_act_log_fn log,
		      void *ud)
{
	b->dry_run = dry_run;
	b->log = log;
	b->ud = ud;
	b->held = ve_held_new(state_dir, file, ops, held_ud);
}

void ve_act_base_clear(struct ve_act_base *b)
{
	ve_held_free(b->held);
	b->held = NULL;
}

/* ---- the interface --------------------------------------------------- */

static const struct ve_act_base *base_of(const struct ve_actuator *a)
{
	return a->impl;
}

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

struct restore_ctx {
	const struct ve_actuator *a;
	virConnectPtr conn;
};

static gboolean restore_key(void *ud, const char *key, GError **error)
{
	struct restore_ctx *c = ud;
	const struct ve_act_target t = { .key = key, .conn = c->conn };

	return c->a->ops->restore(c->a->impl, &t, error);
}

unsigned int ve_act_restore_all(const struct ve_actuator *a, virConnectPtr conn, GString *report)
{
	g_autoptr(GPtrArray) keys = NULL;
	struct restore_ctx c = { a, conn };
	unsigned int failed;

	if (!a->impl)
		return 0;
	keys = ve_held_keys(base_of(a)->held);
	ve_held_restore_each(keys, restore_key, &c, report, &failed);
	return failed;
}

unsigned int ve_act_reconcile(const struct ve_actuator *a, virConnectPtr conn, GString *report)
{
	g_autoptr(GPtrArray) keys = NULL;
	struct restore_ctx c = { a, conn };
	struct ve_held *h;
	unsigned int restored;

	if (!a->impl)
		return 0;
	h = base_of(a)->held;
	keys = ve_held_load(h, a->ops->record, report);
	restored = ve_held_restore_each(keys, restore_key, &c, report, NULL);
	if (!ve_held_size(h) && !base_of(a)->dry_run) {
		/* also a record of malformed groups only: reported, now dropped */
		g_autoptr(GError) e = NULL;

		if (!ve_held_save(h, &e) && report)
			g_string_append_printf(report, "%s; ", e->message);
	}
	return restored;
}

bool ve_act_dry_run(const struct ve_actuator *a)
{
	return a->impl && base_of(a)->dry_run;
}

void ve_act_free(struct ve_actuator *a)
{
	if (a->impl)
		a->ops->free(a->impl);
	a->impl = NULL;
}
