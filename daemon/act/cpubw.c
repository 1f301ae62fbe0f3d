// SPDX-License-Identifier: GPL-2.0-or-later
/*
 * cpubw.c: CPU bandwidth through libvirt's scheduler parameters (cpubw.h).
 *
 * The record is a GKeyFile, one group per throttled VM keyed by UUID, with
 * the values libvirt reported before the first change.  It is rewritten
 * with G_FILE_SET_CONTENTS_CONSISTENT | DURABLE (write, fsync, rename)
 * before libvirt is asked to change anything, so a crash between the two
 * leaves a record of a change that may not have happened, which restores
 * harmlessly, and never a change without a record.
 */
#include <gio/gio.h>
#include <libvirt/virterror.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cpubw.h"

#define RECORD "throttle"

struct orig {
	char *name;
	long long quota;          /* vcpu_quota before we touched it (-1: none) */
	unsigned long long period;
	double u;                 /* what we applied last */
};

struct ve_cpubw {
	char *path;
	bool dry_run;
	ve_act_log_fn log;
	void *ud;
	GHashTable *orig;         /* uuid -> struct orig */
};

static void orig_free(gpointer p)
{
	struct orig *o = p;

	g_free(o->name);
	g_free(o);
}

struct ve_cpubw *ve_cpubw_new(const char *state_dir, bool dry_run, ve_act_log_fn log, void *ud)
{
	struct ve_cpubw *a = g_new0(struct ve_cpubw, 1);

	a->path = g_build_filename(state_dir, RECORD, NULL);
	a->dry_run = dry_run;
	a->log = log;
	a->ud = ud;
	a->orig = g_hash_table_new_full(g_str_hash, g_str_equal, g_free, orig_free);
	return a;
}

void ve_cpubw_free(struct ve_cpubw *a)
{
	if (!a)
		return;
	g_hash_table_destroy(a->orig);
	g_free(a->path);
	g_free(a);
}

static gboolean save_record(struct ve_cpubw *a, GError **error)
{
	g_autoptr(GKeyFile) kf = g_key_file_new();
	GHashTableIter it;
	gpointer k, v;

	g_key_file_set_comment(kf, NULL, NULL,
			       " CPU throttles virtenergyd applied, with the values it found before.\n"
			       " The next start restores these if the daemon did not exit cleanly.",
			       NULL);
	g_hash_table_iter_init(&it, a->orig);
	while (g_hash_table_iter_next(&it, &k, &v)) {
		const struct orig *o = v;

		g_key_file_set_string(kf, k, "name", o->name ? o->name : "");
		g_key_file_set_int64(kf, k, "vcpu_quota", o->quota);
		g_key_file_set_uint64(kf, k, "vcpu_period", o->period);
	}
	return ve_act_record_save(a->path, kf, g_hash_table_size(a->orig) == 0, error);
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
		g_set_error(error, G_IO_ERROR, G_IO_ERROR_NOT_SUPPORTED,
			    "no scheduler parameters: %s", ve_act_virt_error());
		return FALSE;
	}
	params = g_new0(virTypedParameter, n);
	if (virDomainGetSchedulerParametersFlags(dom, params, &n, VIR_DOMAIN_AFFECT_LIVE) < 0) {
		g_set_error(error, G_IO_ERROR, G_IO_ERROR_FAILED,
			    "cannot read scheduler parameters: %s", ve_act_virt_error());
		g_free(params);
		return FALSE;
	}
	if (virTypedParamsGetLLong(params, n, VIR_DOMAIN_SCHEDULER_VCPU_QUOTA, &quota) != 1 ||
	    virTypedParamsGetULLong(params, n, VIR_DOMAIN_SCHEDULER_VCPU_PERIOD, &period) != 1 ||
	    !period) {
		g_set_error(error, G_IO_ERROR, G_IO_ERROR_NOT_SUPPORTED,
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
		g_set_error(error, G_IO_ERROR, G_IO_ERROR_FAILED, "libvirt refused vcpu_quota=%lld: %s",
			    quota, ve_act_virt_error());
		return FALSE;
	}
	return TRUE;
}

gboolean ve_cpubw_set(struct ve_cpubw *a, virDomainPtr dom, double u, GError **error)
{
	char uuid[VIR_UUID_STRING_BUFLEN];
	struct orig *o;
	long long quota;

	if (!(u > 0.0 && u <= 1.0) || virDomainGetUUIDString(dom, uuid) < 0) {
		g_set_error(error, G_IO_ERROR, G_IO_ERROR_INVALID_ARGUMENT,
			    "bandwidth fraction %g is not in (0, 1]", u);
		return FALSE;
	}
	o = g_hash_table_lookup(a->orig, uuid);
	if (!o) {
		long long q;
		unsigned long long period;

		if (!read_params(dom, &q, &period, error))
			return FALSE;
		o = g_new0(struct orig, 1);
		o->name = g_strdup(virDomainGetName(dom));
		o->quota = q;
		o->period = period;
		if (a->dry_run) {
			g_autofree char *msg = g_strdup_printf("dry run: would record vcpu_quota=%lld vcpu_period=%llu",
							       q, period);

			if (a->log)
				a->log(a->ud, uuid, o->name, msg);
		}
		g_hash_table_insert(a->orig, g_strdup(uuid), o);
		if (!a->dry_run && !save_record(a, error)) {
			g_hash_table_remove(a->orig, uuid);
			return FALSE;
		}
	}
	/* libvirt's minimum quota is 1000 us */
	quota = MAX((long long)llround(u * (double)o->period), 1000);
	if (a->dry_run) {
		g_autofree char *msg = g_strdup_printf("dry run: would set vcpu_quota=%lld (%.0f %% of %llu us)",
						       quota, 100.0 * u, o->period);

		if (a->log)
			a->log(a->ud, uuid, o->name, msg);
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
	struct orig *o = g_hash_table_lookup(a->orig, uuid);

	return o ? o->u : 0.0;
}

gboolean ve_cpubw_restore(struct ve_cpubw *a, virConnectPtr conn, const char *uuid, GError **error)
{
	struct orig *o = g_hash_table_lookup(a->orig, uuid);
	virDomainPtr dom;

	if (!o)
		return TRUE;
	if (a->dry_run) {
		g_autofree char *msg = g_strdup_printf("dry run: would restore vcpu_quota=%lld", o->quota);

		if (a->log)
			a->log(a->ud, uuid, o->name, msg);
		g_hash_table_remove(a->orig, uuid);
		return TRUE;
	}
	dom = conn ? virDomainLookupByUUIDString(conn, uuid) : NULL;
	if (!conn) {
		g_set_error(error, G_IO_ERROR, G_IO_ERROR_NOT_CONNECTED,
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
	g_hash_table_remove(a->orig, uuid);
	return save_record(a, error);
}

unsigned int ve_cpubw_restore_all(struct ve_cpubw *a, virConnectPtr conn)
{
	g_autoptr(GPtrArray) uuids = g_ptr_array_new_with_free_func(g_free);
	GHashTableIter it;
	gpointer k;
	unsigned int failed = 0;

	g_hash_table_iter_init(&it, a->orig);
	while (g_hash_table_iter_next(&it, &k, NULL))
		g_ptr_array_add(uuids, g_strdup(k));
	for (guint i = 0; i < uuids->len; i++) {
		g_autoptr(GError) err = NULL;

		if (!ve_cpubw_restore(a, conn, g_ptr_array_index(uuids, i), &err))
			failed++;
	}
	return failed;
}

unsigned int ve_cpubw_reconcile(struct ve_cpubw *a, virConnectPtr conn, GString *report)
{
	g_autoptr(GKeyFile) kf = g_key_file_new();
	g_autoptr(GError) err = NULL;
	g_auto(GStrv) groups = NULL;
	unsigned int restored = 0;

	if (!g_key_file_load_from_file(kf, a->path, G_KEY_FILE_NONE, &err)) {
		if (!g_error_matches(err, G_FILE_ERROR, G_FILE_ERROR_NOENT))
			g_string_append_printf(report, "cannot read %s: %s; ", a->path, err->message);
		return 0;
	}
	groups = g_key_file_get_groups(kf, NULL);
	for (size_t i = 0; groups[i]; i++) {
		g_autoptr(GError) e = NULL;
		struct orig *o = g_new0(struct orig, 1);

		o->name = g_key_file_get_string(kf, groups[i], "name", NULL);
		o->quota = g_key_file_get_int64(kf, groups[i], "vcpu_quota", &e);
		if (!e)
			o->period = g_key_file_get_uint64(kf, groups[i], "vcpu_period", &e);
		if (e || !g_uuid_string_is_valid(groups[i])) {
			g_string_append_printf(report, "bad throttle record for '%s' in %s: %s; ",
					       groups[i], a->path, e ? e->message : "not a UUID");
			orig_free(o);
			continue;
		}
		g_hash_table_replace(a->orig, g_strdup(groups[i]), o);
	}
	for (size_t i = 0; groups[i]; i++) {
		g_autoptr(GError) e = NULL;

		if (!g_hash_table_contains(a->orig, groups[i]))
			continue;
		if (ve_cpubw_restore(a, conn, groups[i], &e))
			restored++;
		else
			g_string_append_printf(report, "%s; ", e->message);
	}
	return restored;
}
