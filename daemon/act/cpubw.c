// SPDX-License-Identifier: GPL-2.0-or-later
/*
 * cpubw.c: CPU bandwidth through libvirt's scheduler parameters (cpubw.h).
 *
 * The record (held.h) has one group per throttled VM keyed by UUID, with
 * the values libvirt reported before the first change.
 */
#include <gio/gio.h>
#include <libvirt/virterror.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "error.h"
#include "cpubw.h"
#include "held.h"

#define RECORD "throttle"

struct held {
	char *name;
	long long quota;          /* vcpu_quota before we touched it (-1: none) */
	unsigned long long period;
	double u;                 /* what we applied last */
};

struct ve_cpubw {
	struct ve_act_base base;   /* first: act.h */
};

G_STATIC_ASSERT(offsetof(struct ve_cpubw, base) == 0);

static void held_free(void *p)
{
	struct held *o = p;

	g_free(o->name);
	g_free(o);
}

static bool held_save(GKeyFile *kf, const char *uuid, const void *rec)
{
	const struct held *o = rec;

	g_key_file_set_string(kf, uuid, "name", o->name ? o->name : "");
	g_key_file_set_int64(kf, uuid, "vcpu_quota", o->quota);
	g_key_file_set_uint64(kf, uuid, "vcpu_period", o->period);
	return true;
}

static void *held_load(GKeyFile *kf, const char *uuid, void *ud, GString *report,
		       GError **error)
{
	struct held *o;
	long long quota;
	unsigned long long period;

	if (!g_uuid_string_is_valid(uuid)) {
		g_set_error(error, G_KEY_FILE_ERROR, G_KEY_FILE_ERROR_INVALID_VALUE, "not a UUID");
		return NULL;
	}
	quota = g_key_file_get_int64(kf, uuid, "vcpu_quota", error);
	if (error && *error)
		return NULL;
	period = g_key_file_get_uint64(kf, uuid, "vcpu_period", error);
	if (error && *error)
		return NULL;
	o = g_new0(struct held, 1);
	o->name = g_key_file_get_string(kf, uuid, "name", NULL);
	o->quota = quota;
	o->period = period;
	return o;
}

static const struct ve_held_ops held_ops = {
	.comment = " CPU throttles virtenergyd applied, with the values it found before.\n"
		   " The next start restores these if the daemon did not exit cleanly.",
	.save = held_save,
	.load = held_load,
	.free = held_free,
};

struct ve_cpubw *ve_cpubw_new(const char *state_dir, bool dry_run, ve_act_log_fn log, void *ud)
{
	struct ve_cpubw *a = g_new0(struct ve_cpubw, 1);

	ve_act_base_init(&a->base, state_dir, RECORD, &held_ops, NULL, dry_run, log, ud);
	return a;
}

void ve_cpubw_free(struct ve_cpubw *a)
{
	if (!a)
		return;
	ve_act_base_clear(&a->base);
	g_free(a);
}

/* The VM's vcpu_quota and vcpu_period as libvirt reports them now. */
static gboolean read_params(virDomainPtr dom, long long *ret_quota, unsigned long long *ret_period,
			    GError **error)
{
	virTypedParameterPtr params = NULL;
	int n = 0;
	long long quota = -1;
	unsigned long long period = 0;
	char *type = virDomainGetSchedulerType(dom, &n);

	free(type);
	if (!type || n <= 0) {
		g_set_error(error, VE_ERROR, VE_ERROR_UNSUPPORTED,
			    "no scheduler parameters: %s", ve_act_virt_error());
		return FALSE;
	}
	params = g_new0(virTypedParameter, n);
	if (virDomainGetSchedulerParametersFlags(dom, params, &n, VIR_DOMAIN_AFFECT_LIVE) < 0) {
		g_set_error(error, VE_ERROR, VE_ERROR_FAILED,
			    "cannot read scheduler parameters: %s", ve_act_virt_error());
		g_free(params);
		return FALSE;
	}
	if (virTypedParamsGetLLong(params, n, VIR_DOMAIN_SCHEDULER_VCPU_QUOTA, &quota) != 1 ||
	    virTypedParamsGetULLong(params, n, VIR_DOMAIN_SCHEDULER_VCPU_PERIOD, &period) != 1 ||
	    !period) {
		g_set_error(error, VE_ERROR, VE_ERROR_UNSUPPORTED,
			    "the hypervisor reports no vcpu_quota/vcpu_period (no CPU bandwidth control)");
		virTypedParamsClear(params, n);
		g_free(params);
		return FALSE;
	}
	virTypedParamsClear(params, n);
	g_free(params);
	*ret_quota = quota;
	*ret_period = period;
	return TRUE;
}

static gboolean write_quota(virDomainPtr dom, long long quota, GError **error)
{
	virTypedParameter p;

	memset(&p, 0, sizeof(p));
	g_strlcpy(p.field, VIR_DOMAIN_SCHEDULER_VCPU_QUOTA, sizeof(p.field));
	p.type = VIR_TYPED_PARAM_LLONG;
	p.value.l = quota;
	if (virDomainSetSchedulerParametersFlags(dom, &p, 1, VIR_DOMAIN_AFFECT_LIVE) < 0) {
		g_set_error(error, VE_ERROR, VE_ERROR_FAILED, "libvirt refused vcpu_quota=%lld: %s",
			    quota, ve_act_virt_error());
		return FALSE;
	}
	return TRUE;
}

gboolean ve_cpubw_set(struct ve_cpubw *a, virDomainPtr dom, double u, GError **error)
{
	char uuid[VIR_UUID_STRING_BUFLEN];
	struct held *o;
	long long quota;

	if (!(u > 0.0 && u <= 1.0) || virDomainGetUUIDString(dom, uuid) < 0) {
		g_set_error(error, VE_ERROR, VE_ERROR_INVALID,
			    "bandwidth fraction %g is not in (0, 1]", u);
		return FALSE;
	}
	o = ve_held_get(a->base.held, uuid);
	if (!o) {
		long long q;
		unsigned long long period;

		if (!read_params(dom, &q, &period, error))
			return FALSE;
		o = g_new0(struct held, 1);
		o->name = g_strdup(virDomainGetName(dom));
		o->quota = q;
		o->period = period;
		if (a->base.dry_run) {
			g_autofree char *msg = g_strdup_printf("dry run: would record vcpu_quota=%lld vcpu_period=%llu",
							       q, period);

			if (a->base.log)
				a->base.log(a->base.ud, uuid, o->name, msg);
		}
		ve_held_put(a->base.held, uuid, o);
		if (!a->base.dry_run && !ve_held_save(a->base.held, error)) {
			ve_held_remove(a->base.held, uuid);
			return FALSE;
		}
	}
	/* libvirt's minimum quota is 1000 us */
	quota = MAX((long long)llround(u * (double)o->period), 1000);
	if (a->base.dry_run) {
		g_autofree char *msg = g_strdup_printf("dry run: would set vcpu_quota=%lld (%.0f %% of %llu us)",
						       quota, 100.0 * u, o->period);

		if (a->base.log)
			a->base.log(a->base.ud, uuid, o->name, msg);
		o->u = u;
		return TRUE;
	}
	if (!write_quota(dom, quota, error))
		return FALSE;
	o->u = u;
	return TRUE;
}

double ve_cpubw_current(struct ve_cpubw *a, const char *uuid)
{
	struct held *o = ve_held_get(a->base.held, uuid);

	return o ? o->u : 0.0;
}

gboolean ve_cpubw_restore(struct ve_cpubw *a, virConnectPtr conn, const char *uuid, GError **error)
{
	struct held *o = ve_held_get(a->base.held, uuid);
	virDomainPtr dom;

	if (!o)
		return TRUE;
	if (a->base.dry_run) {
		g_autofree char *msg = g_strdup_printf("dry run: would restore vcpu_quota=%lld", o->quota);

		if (a->base.log)
			a->base.log(a->base.ud, uuid, o->name, msg);
		ve_held_remove(a->base.held, uuid);
		return TRUE;
	}
	dom = conn ? virDomainLookupByUUIDString(conn, uuid) : NULL;
	if (!conn) {
		g_set_error(error, VE_ERROR, VE_ERROR_NOT_CONNECTED,
			    "not connected to libvirt: throttle of VM '%s' kept on record for later",
			    o->name);
		return FALSE;
	}
	if (dom && virDomainIsActive(dom) == 1 && !write_quota(dom, o->quota, error)) {
		virDomainFree(dom);
		return FALSE;
	}
	/* a VM that stopped took its cgroups and their quota with it */
	if (dom)
		virDomainFree(dom);
	ve_held_remove(a->base.held, uuid);
	return ve_held_save(a->base.held, error);
}

/* ---- act.h's interface ------------------------------------------------- */

static gboolean act_set(void *impl, const struct ve_act_target *t, double value, double *ret_applied,
			GError **error)
{
	if (!ve_cpubw_set(impl, t->dom, value, error))
		return FALSE;
	if (ret_applied)
		*ret_applied = value;
	return TRUE;
}

static gboolean act_restore(void *impl, const struct ve_act_target *t, GError **error)
{
	return ve_cpubw_restore(impl, t->conn, t->key, error);
}

static const struct ve_actuator_ops ops = {
	.what = "CPU bandwidth",
	.left = "the VM stays throttled",
	.set = act_set,
	.current = (double (*)(void *, const char *))ve_cpubw_current,
	.restore = act_restore,
	.record = "throttle",
	.free = (void (*)(void *))ve_cpubw_free,
};

struct ve_actuator ve_cpubw_actuator(struct ve_cpubw *a)
{
	return (struct ve_actuator){ &ops, a };
}
