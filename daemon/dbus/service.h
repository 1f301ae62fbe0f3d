/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * service.h: org.virtenergy.Manager1 on D-Bus (conf/org.virtenergy.Manager1.xml).
 *
 * Read side only for now: host properties, ListVMs, GetVM and a Changed
 * signal at most once a second.  Values are converted to joules and watts
 * here, at the edge.  Runs on GLib's default main context.
 */
#pragma once

#include <gio/gio.h>

#include "engine.h"

struct ve_dbus;

typedef void (*ve_dbus_log_fn)(void *ud, const char *msg);

/*
 * Own org.virtenergy.Manager1 on @bus.  Failure to reach the bus or to own
 * the name is reported through @log; the daemon goes on without D-Bus.
 */
struct ve_dbus *ve_dbus_new(GBusType bus, struct ve_engine *engine, ve_dbus_log_fn log, void *ud);
void ve_dbus_free(struct ve_dbus *d);

/* Once a second: PropertiesChanged and Changed. */
void ve_dbus_tick(struct ve_dbus *d);
