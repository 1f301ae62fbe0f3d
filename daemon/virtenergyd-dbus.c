// SPDX-License-Identifier: GPL-2.0-or-later
/*
 * virtenergyd-dbus.c: the D-Bus methods and the limiter's signals (see virtenergyd.h).
 */
#include "virtenergyd.h"

void vd_on_limiter_event(void *ud, enum ve_limiter_event ev, const char *uuid, const char *name,
			 uint64_t limit_uw, uint64_t power_uw)
{
	struct daemon *d = ud;

	if (ev == VE_LIMITER_CANNOT_HOLD)
		ve_dbus_emit_cannot_hold(d->dbus, uuid, name, limit_uw, power_uw);
	else
		ve_dbus_emit_throttled(d->dbus, uuid, name, ev == VE_LIMITER_THROTTLED, limit_uw);
}

void vd_dbus_log(void *ud, const char *msg)
{
	ve_log("%s", msg);
}

/* D-Bus SetVMLimit / ClearVMLimit: into the domain's metadata (ve_virt_set_power_limit). */
static gboolean dbus_set_vm_limit(void *ud, const char *vm, uint64_t uw, GError **error)
{
	struct daemon *d = ud;
	char uuid[VIR_UUID_STRING_BUFLEN];

	if (!ve_virt_set_power_limit(d->virt, vm, uw, uuid, error))
		return FALSE;
	ve_log_vm(uuid, vm, "VM '%s': power limit %s over D-Bus", vm, uw ? "set" : "cleared");
	return TRUE;
}

static void dbus_set_host_cap(void *ud, uint64_t uw)
{
	struct daemon *d = ud;

	d->cfg.host_cap_uw = uw;
	vd_host_cap_apply(d, vd_now_us());   /* with the fleet's, the lower */
}

static uint64_t dbus_host_cap(void *ud)
{
	return ((struct daemon *)ud)->cfg.host_cap_uw;
}

static uint64_t dbus_vm_limit(void *ud, const char *uuid)
{
	struct daemon *d = ud;

	return d->limiter ? ve_limiter_limit_uw(d->limiter, uuid) : 0;
}

static uint64_t dbus_vm_alloc(void *ud, const char *uuid)
{
	struct daemon *d = ud;

	return d->limiter ? ve_limiter_alloc_uw(d->limiter, uuid) : 0;
}

static const char *dbus_vm_limit_state(void *ud, const char *uuid, char **ret_reason)
{
	struct daemon *d = ud;

	*ret_reason = NULL;
	return ve_limit_state_name(d->limiter ? ve_limiter_state(d->limiter, uuid, ret_reason)
					      : VE_LIMIT_NONE);
}

static bool dbus_vm_budget_left(void *ud, const char *uuid, uint64_t *ret_uj)
{
	struct daemon *d = ud;

	return d->limiter && ve_limiter_budget_left_uj(d->limiter, uuid, ret_uj);
}

static const char *const *dbus_vm_identity(void *ud, const char *uuid, const char **buf)
{
	G_STATIC_ASSERT(VE_DBUS_IDENTITY_PAIRS >= VD_IDENTITY_PAIRS);
	return vd_identity_pairs(ud, uuid, buf);
}

const struct ve_dbus_ops vd_dbus_ops = {
	.set_vm_limit = dbus_set_vm_limit,
	.set_host_cap = dbus_set_host_cap,
	.host_cap = dbus_host_cap,
	.fleet_cap = vd_fleet_cap,
	.fleet_status = vd_fleet_status,
	.fleet_write = vd_fleet_write,
	.vm_limit = dbus_vm_limit,
	.vm_alloc = dbus_vm_alloc,
	.vm_identity = dbus_vm_identity,
	.vm_limit_state = dbus_vm_limit_state,
	.vm_budget_left = dbus_vm_budget_left,
};
