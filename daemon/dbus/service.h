/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * service.h: org.virtenergy.Manager1 on D-Bus (conf/org.virtenergy.Manager1.xml).
 *
 * The host's properties, ListVMs, GetVM, a Changed signal at most once a
 * second, one org.virtenergy.VM1 object per VM, and the write methods.  Values are converted to joules and watts
 * here, at the edge.  Runs on GLib's default main context.
 */
#pragma once

#include <gio/gio.h>
#include <stdbool.h>

#include "engine.h"

struct ve_dbus;

typedef void (*ve_dbus_log_fn)(void *ud, const char *msg);

/* What the write methods and the limit figures need from the daemon. */
struct ve_dbus_ops {
	/* set (uw > 0) or clear (0) a VM's limit in its metadata; @vm a name or UUID */
	gboolean (*set_vm_limit)(void *ud, const char *vm, uint64_t uw, GError **error);
	void (*set_host_cap)(void *ud, uint64_t uw);
	uint64_t (*host_cap)(void *ud);
	uint64_t (*vm_limit)(void *ud, const char *uuid);
	uint64_t (*vm_alloc)(void *ud, const char *uuid);
	/*
	 * The VM's orchestrator identity (GetVM's Identity): label, value, ...,
	 * NULL, in @buf of VE_DBUS_IDENTITY_PAIRS; may be NULL.
	 */
	const char *const *(*vm_identity)(void *ud, const char *uuid, const char **buf);
	/* Whether its limit is enforced (limiter.h's names), *@ret_reason (caller frees) why not. */
	const char *(*vm_limit_state)(void *ud, const char *uuid, char **ret_reason);
	/* What is left of its energy budget; false when it has none. */
	bool (*vm_budget_left)(void *ud, const char *uuid, uint64_t *ret_uj);
	/* The fleet's cap for this host (0: none) and the source of the cap in force (keys.h's names). */
	uint64_t (*fleet_cap)(void *ud, const char **ret_source);
	/*
	 * GetFleet, and SetFleetBudget / SetFleetTree / ForgetFleetHost once
	 * authorized (org.virtenergy.set-fleet): asynchronous
	 * (etcd), each completes @inv itself.
	 */
	void (*fleet_status)(void *ud, GDBusMethodInvocation *inv);
	void (*fleet_write)(void *ud, GDBusMethodInvocation *inv);
};

#define VE_DBUS_IDENTITY_PAIRS 17

/* Error for a VM that does not exist, for set_vm_limit to return. */
#define VE_DBUS_ERROR_NO_SUCH_VM "org.virtenergy.Manager1.Error.NoSuchVM"

/*
 * Own org.virtenergy.Manager1 on @bus.  Failure to reach the bus or to own
 * the name is reported through @log; the daemon goes on without D-Bus.
 * Write methods are allowed for uid 0 and for callers polkit authorizes
 * (org.virtenergy.set-limit, org.virtenergy.set-host-cap: authz.h); others
 * get org.virtenergy.Manager1.Error.NotAuthorized saying why.  The bus
 * policy lets anyone send them, for the daemon to decide.
 */
struct ve_dbus *ve_dbus_new(GBusType bus, struct ve_engine *engine, const struct ve_dbus_ops *ops,
			    ve_dbus_log_fn log, void *ud);
void ve_dbus_free(struct ve_dbus *d);

/* The Throttled and CannotHold signals. */
void ve_dbus_emit_throttled(struct ve_dbus *d, const char *uuid, const char *name, bool throttled,
			    uint64_t limit_uw);
void ve_dbus_emit_cannot_hold(struct ve_dbus *d, const char *uuid, const char *name,
			      uint64_t limit_uw, uint64_t power_uw);

/* Once a second: PropertiesChanged and Changed. */
void ve_dbus_tick(struct ve_dbus *d);
