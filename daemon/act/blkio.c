// SPDX-License-Identifier: GPL-2.0-or-later
/*
 * blkio.c: block I/O tuning through libvirt from a disk power limit
 * (blkio.h).
 *
 * libvirt's SetBlockIoTune merges a change with what the disk has: a call
 * that sets any bytes value resets the other bytes values it does not name
 * (total and read/write exclude each other), likewise for iops, and leaves
 * the *_max, size and group settings alone.  So a change names
 * total_bytes_sec and total_iops_sec, and a restore names all six
 * total/read/write values the disk had, which puts back whichever of the
 * two styles the administrator used.
 *
 * The record is a GKeyFile, one group per VM keyed by UUID, made durable
 * before libvirt is asked (as in cpubw.c): a crash in between leaves a
 * record whose restore rewrites the values the disk still has.
 */
#include <gio/gio.h>
#include <libvirt/virterror.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "error.h"
#include "blkio.h"
#include "held.h"

#define RECORD "blkiotune"
#define TARGET_MAX 64

enum { T_BYTES, R_BYTES, W_BYTES, T_IOPS, R_IOPS, W_IOPS, N_FIELDS };

static const char *const field[N_FIELDS] = {
	VIR_DOMAIN_BLOCK_IOTUNE_TOTAL_BYTES_SEC, VIR_DOMAIN_BLOCK_IOTUNE_READ_BYTES_SEC,
	VIR_DOMAIN_BLOCK_IOTUNE_WRITE_BYTES_SEC, VIR_DOMAIN_BLOCK_IOTUNE_TOTAL_IOPS_SEC,
	VIR_DOMAIN_BLOCK_IOTUNE_READ_IOPS_SEC,   VIR_DOMAIN_BLOCK_IOTUNE_WRITE_IOPS_SEC,
};

struct disk {
	char target[TARGET_MAX];
	uint64_t orig[N_FIELDS];
};

struct tune {
	uint64_t v[N_FIELDS];
};

struct held {
	char *name;
	uint64_t limit_uw;       /* applied last */
	GArray *disks;           /* struct disk */
};

struct ve_blkio {
	struct ve_act_base base;   /* first: act.h */
};

G_STATIC_ASSERT(offsetof(struct ve_blkio, base) == 0);

int ve_blkio_derive(const struct ve_disk_model *m, uint64_t limit_uw, uint64_t *ret_bytes_sec,
		    uint64_t *ret_iops_sec)
{
	double share, bytes = 0.0, iops = 0.0;

	if (!limit_uw || ve_disk_model_check(m) < 0 || (m->byte_pj <= 0.0 && m->op_nj <= 0.0))
		return -EINVAL;
	/* each bound alone may spend its share; together never more than the limit */
	share = (m->byte_pj > 0.0 && m->op_nj > 0.0) ? (double)limit_uw / 2.0 : (double)limit_uw;
	if (m->byte_pj > 0.0)
		bytes = floor(share * 1e6 / m->byte_pj);     /* µW = 10^6 pJ/s */
	if (m->op_nj > 0.0)
		iops = floor(share * 1e3 / m->op_nj);        /* µW = 10^3 nJ/s */
	if (bytes > (double)VE_BLKIO_VALUE_MAX || iops > (double)VE_BLKIO_VALUE_MAX)
		return -ERANGE;
	/* 0 would mean "unbounded" to libvirt: the smallest bound is 1 */
	*ret_bytes_sec = m->byte_pj > 0.0 ? MAX((uint64_t)bytes, 1) : 0;
	*ret_iops_sec = m->op_nj > 0.0 ? MAX((uint64_t)iops, 1) : 0;
	return 0;
}

static void held_free(void *p)
{
	struct held *h = p;

	g_free(h->name);
	g_array_unref(h->disks);
	g_free(h);
}

static struct held *held_new(const char *name)
{
	struct held *h = g_new0(struct held, 1);

	h->name = g_strdup(name ? name : "");
	h->disks = g_array_new(FALSE, TRUE, sizeof(struct disk));
	return h;
}

/* The record: per VM its name, its disks, and each disk's six values before. */
static bool held_save(GKeyFile *kf, const char *uuid, const void *rec)
{
	const struct held *h = rec;
	g_autoptr(GPtrArray) targets = g_ptr_array_new();

	g_key_file_set_string(kf, uuid, "name", h->name);
	for (guint i = 0; i < h->disks->len; i++) {
		const struct disk *d = &g_array_index(h->disks, struct disk, i);

		g_ptr_array_add(targets, (gpointer)d->target);
		for (int f = 0; f < N_FIELDS; f++) {
			g_autofree char *key = g_strdup_printf("%s.%s", d->target, field[f]);

			g_key_file_set_uint64(kf, uuid, key, d->orig[f]);
		}
	}
	g_key_file_set_string_list(kf, uuid, "disks", (const char *const *)targets->pdata,
				   targets->len);
	return true;
}

static void *held_load(GKeyFile *kf, const char *uuid, void *ud, GString *report,
		       GError **error)
{
	g_autofree char *name = g_key_file_get_string(kf, uuid, "name", NULL);
	g_auto(GStrv) disks = g_key_file_get_string_list(kf, uuid, "disks", NULL, NULL);
	struct held *h;

	if (!g_uuid_string_is_valid(uuid) || !disks) {
		g_set_error(error, G_KEY_FILE_ERROR, G_KEY_FILE_ERROR_INVALID_VALUE,
			    !disks ? "no disks list" : "not a UUID");
		return NULL;
	}
	h = held_new(name);
	for (size_t j = 0; disks[j]; j++) {
		struct disk d = { 0 };

		if (!disks[j][0] || strlen(disks[j]) >= TARGET_MAX)
			continue;
		g_strlcpy(d.target, disks[j], sizeof(d.target));
		for (int f = 0; f < N_FIELDS; f++) {
			g_autofree char *key = g_strdup_printf("%s.%s", d.target, field[f]);

			d.orig[f] = g_key_file_get_uint64(kf, uuid, key, error);
			if (*error) {
				held_free(h);
				return NULL;
			}
		}
		g_array_append_val(h->disks, d);
	}
	return h;
}

static const struct ve_held_ops held_ops = {
	.comment = " Disk I/O limits virtenergyd applied, with each disk's values before.\n"
		   " The next start restores these if the daemon did not exit cleanly.",
	.save = held_save,
	.load = held_load,
	.free = held_free,
};

struct ve_blkio *ve_blkio_new(const char *state_dir, bool dry_run, ve_act_log_fn log, void *ud)
{
	struct ve_blkio *a = g_new0(struct ve_blkio, 1);

	ve_act_base_init(&a->base, state_dir, RECORD, &held_ops, NULL, dry_run, log, ud);
	return a;
}

void ve_blkio_free(struct ve_blkio *a)
{
	if (!a)
		return;
	ve_act_base_clear(&a->base);
	g_free(a);
}

/* The disk's six values as libvirt reports them now. */
static gboolean read_tune(virDomainPtr dom, const char *target, uint64_t ret[N_FIELDS],
			  GError **error)
{
	virTypedParameterPtr params = NULL;
	int n = 0;

	if (virDomainGetBlockIoTune(dom, target, NULL, &n, VIR_DOMAIN_AFFECT_LIVE) < 0 || n <= 0) {
		g_set_error(error, VE_ERROR, VE_ERROR_UNSUPPORTED,
			    "cannot read the I/O tuning of disk %s: %s", target, ve_act_virt_error());
		return FALSE;
	}
	params = g_new0(virTypedParameter, n);
	if (virDomainGetBlockIoTune(dom, target, params, &n, VIR_DOMAIN_AFFECT_LIVE) < 0) {
		g_set_error(error, VE_ERROR, VE_ERROR_FAILED,
			    "cannot read the I/O tuning of disk %s: %s", target, ve_act_virt_error());
		g_free(params);
		return FALSE;
	}
	for (int f = 0; f < N_FIELDS; f++) {
		unsigned long long v = 0;

		if (virTypedParamsGetULLong(params, n, field[f], &v) != 1) {
			g_set_error(error, VE_ERROR, VE_ERROR_UNSUPPORTED,
				    "disk %s reports no %s", target, field[f]);
			virTypedParamsClear(params, n);
			g_free(params);
			return FALSE;
		}
		ret[f] = v;
	}
	virTypedParamsClear(params, n);
	g_free(params);
	return TRUE;
}

/* Set the fields of @v named in @mask (bits of 1 << field). */
static gboolean write_tune(virDomainPtr dom, const char *target, const uint64_t v[N_FIELDS],
			   unsigned int mask, GError **error)
{
	virTypedParameter p[N_FIELDS];
	int n = 0;

	memset(p, 0, sizeof(p));
	for (int f = 0; f < N_FIELDS; f++) {
		if (!(mask & (1u << f)))
			continue;
		g_strlcpy(p[n].field, field[f], sizeof(p[n].field));
		p[n].type = VIR_TYPED_PARAM_ULLONG;
		p[n].value.ul = v[f];
		n++;
	}
	if (virDomainSetBlockIoTune(dom, target, p, n, VIR_DOMAIN_AFFECT_LIVE) < 0) {
		g_set_error(error, VE_ERROR, VE_ERROR_FAILED,
			    "libvirt refused I/O tuning of disk %s (total_bytes_sec=%" G_GUINT64_FORMAT
			    " total_iops_sec=%" G_GUINT64_FORMAT "): %s",
			    target, v[T_BYTES], v[T_IOPS], ve_act_virt_error());
		return FALSE;
	}
	return TRUE;
}

#define ALL_FIELDS ((1u << N_FIELDS) - 1)
#define TOTALS ((1u << T_BYTES) | (1u << T_IOPS))

/* The VM's disks: target names and sources (NULL for a network disk), from libvirt's block stats. */
static gboolean list_disks(virDomainPtr dom, GPtrArray *targets, GPtrArray *sources,
			   GError **error)
{
	virDomainPtr doms[2] = { dom, NULL };
	virDomainStatsRecordPtr *rec = NULL;
	unsigned int count = 0;
	int n = virDomainListGetStats(doms, VIR_DOMAIN_STATS_BLOCK, &rec, 0);

	if (n < 1) {
		g_set_error(error, VE_ERROR, VE_ERROR_FAILED, "cannot list the disks: %s",
			    ve_act_virt_error());
		if (rec)
			virDomainStatsRecordListFree(rec);
		return FALSE;
	}
	virTypedParamsGetUInt(rec[0]->params, rec[0]->nparams, "block.count", &count);
	for (unsigned int i = 0; i < count; i++) {
		char key[64];
		const char *name = NULL, *path = NULL;

		snprintf(key, sizeof(key), "block.%u.name", i);
		if (virTypedParamsGetString(rec[0]->params, rec[0]->nparams, key, &name) != 1 || !name ||
		    strlen(name) >= TARGET_MAX)
			continue;
		snprintf(key, sizeof(key), "block.%u.path", i);
		virTypedParamsGetString(rec[0]->params, rec[0]->nparams, key, &path);
		g_ptr_array_add(targets, g_strdup(name));
		g_ptr_array_add(sources, g_strdup(path));
	}
	virDomainStatsRecordListFree(rec);
	if (!targets->len) {
		g_set_error(error, VE_ERROR, VE_ERROR_NOT_FOUND, "the VM has no disk to throttle");
		return FALSE;
	}
	return TRUE;
}

static struct disk *find_disk(struct held *h, const char *target)
{
	for (guint i = 0; h && i < h->disks->len; i++) {
		struct disk *d = &g_array_index(h->disks, struct disk, i);

		if (strcmp(d->target, target) == 0)
			return d;
	}
	return NULL;
}

gboolean ve_blkio_set(struct ve_blkio *a, virDomainPtr dom, uint64_t limit_uw,
		      ve_blkio_model_fn model, void *model_ud, GError **error)
{
	g_autoptr(GPtrArray) targets = g_ptr_array_new_with_free_func(g_free);
	g_autoptr(GPtrArray) sources = g_ptr_array_new_with_free_func(g_free);
	g_autofree struct tune *want = NULL, *before = NULL;
	g_autofree bool *is_new = NULL;
	char uuid[VIR_UUID_STRING_BUFLEN];
	const char *name = virDomainGetName(dom);
	struct held *h;
	bool created = false, recorded = false;
	guint done = 0;

	if (!limit_uw || virDomainGetUUIDString(dom, uuid) < 0) {
		g_set_error(error, VE_ERROR, VE_ERROR_INVALID,
			    "disk power limit %" G_GUINT64_FORMAT " uW: must be above 0", limit_uw);
		return FALSE;
	}
	if (!list_disks(dom, targets, sources, error))
		return FALSE;
	h = ve_held_get(a->base.held, uuid);
	want = g_new0(struct tune, targets->len);
	before = g_new0(struct tune, targets->len);
	is_new = g_new0(bool, targets->len);

	/* read and derive everything before changing anything */
	for (guint i = 0; i < targets->len; i++) {
		const char *t = g_ptr_array_index(targets, i);
		struct disk *d = find_disk(h, t);
		struct ve_disk_model m;
		uint64_t bytes, iops;
		int r;

		if (!read_tune(dom, t, before[i].v, error))
			return FALSE;
		if (!model(model_ud, g_ptr_array_index(sources, i), &m)) {
			g_set_error(error, VE_ERROR, VE_ERROR_NOT_FOUND,
				    "no disk model for disk %s (%s)", t,
				    g_ptr_array_index(sources, i) ? (char *)g_ptr_array_index(sources, i)
								  : "network");
			return FALSE;
		}
		r = ve_blkio_derive(&m, limit_uw / targets->len, &bytes, &iops);
		if (r < 0) {
			g_set_error(error, VE_ERROR, VE_ERROR_INVALID,
				    "disk %s: %.6f W under its disk model gives no usable I/O limit (%s)",
				    t, (double)(limit_uw / targets->len) / 1e6,
				    r == -ERANGE ? "above what QEMU takes" : "bad model or zero limit");
			return FALSE;
		}
		is_new[i] = !d;
		memcpy(want[i].v, d ? d->orig : before[i].v, sizeof(want[i].v));
		/* an administrator's lower total bound stays */
		if (bytes && (!want[i].v[T_BYTES] || bytes < want[i].v[T_BYTES]))
			want[i].v[T_BYTES] = bytes;
		if (iops && (!want[i].v[T_IOPS] || iops < want[i].v[T_IOPS]))
			want[i].v[T_IOPS] = iops;
	}

	if (!h) {
		h = held_new(name);
		ve_held_put(a->base.held, uuid, h);
		created = true;
	}
	for (guint i = 0; i < targets->len; i++) {
		struct disk d = { 0 };

		if (!is_new[i])
			continue;
		g_strlcpy(d.target, g_ptr_array_index(targets, i), sizeof(d.target));
		memcpy(d.orig, before[i].v, sizeof(d.orig));
		g_array_append_val(h->disks, d);
		recorded = true;
		if (a->base.dry_run)
			ve_act_say(a->base.log, a->base.ud, uuid, name, "dry run: would record disk %s total_bytes_sec=%" G_GUINT64_FORMAT
			    " total_iops_sec=%" G_GUINT64_FORMAT, d.target, d.orig[T_BYTES], d.orig[T_IOPS]);
	}
	if (recorded && !a->base.dry_run && !ve_held_save(a->base.held, error))
		goto undo;
	for (done = 0; done < targets->len; done++) {
		const char *t = g_ptr_array_index(targets, done);

		if (before[done].v[T_BYTES] == want[done].v[T_BYTES] &&
		    before[done].v[T_IOPS] == want[done].v[T_IOPS])
			continue;
		if (a->base.dry_run)
			ve_act_say(a->base.log, a->base.ud, uuid, name, "dry run: would set disk %s total_bytes_sec=%" G_GUINT64_FORMAT
			    " total_iops_sec=%" G_GUINT64_FORMAT, t, want[done].v[T_BYTES], want[done].v[T_IOPS]);
		else if (!write_tune(dom, t, want[done].v, TOTALS, error))
			goto undo;
	}
	h->limit_uw = limit_uw;
	return TRUE;

undo:
	while (done-- > 0)
		write_tune(dom, g_ptr_array_index(targets, done), before[done].v, ALL_FIELDS, NULL);
	for (guint i = 0; i < targets->len; i++) {
		for (guint j = 0; is_new[i] && j < h->disks->len; j++) {
			if (strcmp(g_array_index(h->disks, struct disk, j).target,
				   (char *)g_ptr_array_index(targets, i)) == 0) {
				g_array_remove_index(h->disks, j);
				break;
			}
		}
	}
	if (created)
		ve_held_remove(a->base.held, uuid);
	if (recorded && !a->base.dry_run)
		ve_held_save(a->base.held, NULL);
	return FALSE;
}

uint64_t ve_blkio_current(struct ve_blkio *a, const char *uuid)
{
	struct held *h = ve_held_get(a->base.held, uuid);

	return h ? h->limit_uw : 0;
}

gboolean ve_blkio_restore(struct ve_blkio *a, virConnectPtr conn, const char *uuid, GError **error)
{
	struct held *h = ve_held_get(a->base.held, uuid);
	virDomainPtr dom;

	if (!h)
		return TRUE;
	if (a->base.dry_run) {
		for (guint i = 0; i < h->disks->len; i++) {
			const struct disk *d = &g_array_index(h->disks, struct disk, i);

			ve_act_say(a->base.log, a->base.ud, uuid, h->name, "dry run: would restore disk %s total_bytes_sec=%" G_GUINT64_FORMAT
			    " total_iops_sec=%" G_GUINT64_FORMAT, d->target, d->orig[T_BYTES], d->orig[T_IOPS]);
		}
		ve_held_remove(a->base.held, uuid);
		return TRUE;
	}
	if (!conn) {
		g_set_error(error, VE_ERROR, VE_ERROR_NOT_CONNECTED,
			    "not connected to libvirt: disk limits of VM '%s' kept on record for later",
			    h->name);
		return FALSE;
	}
	dom = virDomainLookupByUUIDString(conn, uuid);
	if (dom && virDomainIsActive(dom) == 1) {
		for (guint i = h->disks->len; i-- > 0;) {
			const struct disk *d = &g_array_index(h->disks, struct disk, i);

			if (!write_tune(dom, d->target, d->orig, ALL_FIELDS, error)) {
				virDomainFree(dom);
				ve_held_save(a->base.held, NULL);
				return FALSE;
			}
			g_array_remove_index(h->disks, i);
		}
	}
	/* a VM that stopped took its throttle with its QEMU process */
	if (dom)
		virDomainFree(dom);
	ve_held_remove(a->base.held, uuid);
	return ve_held_save(a->base.held, error);
}

/* ---- act.h's interface ------------------------------------------------- */

static gboolean act_set(void *impl, const struct ve_act_target *t, double value, double *ret_applied,
			GError **error)
{
	if (value < 1.0 || value > (double)UINT64_MAX) {
		g_set_error(error, VE_ERROR, VE_ERROR_INVALID,
			    "disk power limit %g µW out of range", value);
		return FALSE;
	}
	if (!ve_blkio_set(impl, t->dom, (uint64_t)value, t->model, t->model_ud, error))
		return FALSE;
	if (ret_applied)
		*ret_applied = value;
	return TRUE;
}

static double act_current(void *impl, const char *key)
{
	return (double)ve_blkio_current(impl, key);
}

static gboolean act_restore(void *impl, const struct ve_act_target *t, GError **error)
{
	return ve_blkio_restore(impl, t->conn, t->key, error);
}

static const struct ve_actuator_ops ops = {
	.what = "disk throughput",
	.left = "its disks stay throttled",
	.set = act_set,
	.current = act_current,
	.restore = act_restore,
	.record = "disk I/O",
	.free = (void (*)(void *))ve_blkio_free,
};

struct ve_actuator ve_blkio_actuator(struct ve_blkio *a)
{
	return (struct ve_actuator){ &ops, a };
}
