// SPDX-License-Identifier: GPL-2.0-or-later
/*
 * virtenergyd-virt.c: libvirt's events: VMs coming and going, and their limits (see virtenergyd.h).
 */
#include "virtenergyd.h"

void vd_limiter_log(void *ud, const char *uuid, const char *name, const char *msg)
{
	ve_log_vm(uuid, name, "%s", msg);
}

/*
 * Read a VM's energy metadata and hand its limits to the limiter.  Bad
 * metadata is reported once per distinct problem, and the VM keeps the
 * limits it had.
 */
void vd_load_limits(struct daemon *d, const char *uuid, const char *name)
{
	g_autofree char *why = NULL;
	g_autofree char *xml = ve_virt_get_metadata(d->virt, uuid, &why);
	g_autoptr(GError) err = NULL;
	struct ve_limits lim;

	if (!d->limiter)
		return;
	if (!xml) {
		if (!why) {
			ve_limiter_set(d->limiter, ve_virt_conn(d->virt), uuid, name, NULL);
			ve_registry_set(d->reg, uuid, VE_REG_DAEMON, NULL);
		} else if (strcmp(why, "domain not found") != 0 &&
			   g_strcmp0(ve_registry_get(d->reg, uuid, VE_REG_DAEMON), why) != 0) {
			/* a lookup that failed, or a document we do not read, changes nothing */
			ve_log_vm(uuid, name, "VM '%s': energy metadata refused: %s; its previous limits stay",
			      name, why);
			ve_registry_set(d->reg, uuid, VE_REG_DAEMON, g_strdup(why));
		}
		return;
	}
	if (!ve_limits_parse(xml, &lim, &err)) {
		const char *last = ve_registry_get(d->reg, uuid, VE_REG_DAEMON);

		if (g_strcmp0(last, err->message) != 0) {
			ve_log_vm(uuid, name, "VM '%s': energy metadata refused: %s; its previous limits stay",
			      name, err->message);
			ve_registry_set(d->reg, uuid, VE_REG_DAEMON, g_strdup(err->message));
		}
		return;
	}
	ve_registry_set(d->reg, uuid, VE_REG_DAEMON, NULL);
	ve_limiter_set(d->limiter, ve_virt_conn(d->virt), uuid, name, &lim);
}

static void load_identity(struct daemon *d, const char *uuid, bool force);

static void on_metadata(void *ud, const char *uuid, const char *name)
{
	vd_load_limits(ud, uuid, name);
	load_identity(ud, uuid, true);
}

static void on_gone(void *ud, const char *uuid, const char *name, bool transient);

/*
 * The VM's orchestrator identity into the registry (VE_REG_IDENTITY): at
 * its first sight, and again when it starts or its metadata changes
 * (@force).  A VM without one gets an empty one, so that the minutely
 * resync does not ask libvirt again.
 */
static void load_identity(struct daemon *d, const char *uuid, bool force)
{
	struct ve_vm_identity *id;

	if (!d->reg || !d->virt || (!force && ve_registry_get(d->reg, uuid, VE_REG_IDENTITY)))
		return;
	id = g_new0(struct ve_vm_identity, 1);
	ve_virt_get_identity(d->virt, uuid, id);
	ve_registry_set(d->reg, uuid, VE_REG_IDENTITY, id);
}

void vd_load_identities(struct daemon *d)
{
	for (size_t i = 0; i < ve_engine_n_vms(d->engine); i++) {
		struct ve_vm_view v;

		ve_engine_vm(d->engine, i, &v);
		load_identity(d, v.uuid, false);
	}
}

const char *const *vd_identity_pairs(struct daemon *d, const char *uuid, const char **buf)
{
	const struct ve_vm_identity *id = d->reg ? ve_registry_get(d->reg, uuid, VE_REG_IDENTITY)
						 : NULL;
	const struct {
		const char *label;
		const char *value;
	} f[] = {
		{ "orchestrator", id ? id->orchestrator : NULL },
		{ "instance", id ? id->instance : NULL },
		{ "flavor", id ? id->flavor : NULL },
		{ "project", id ? id->project : NULL },
		{ "project_id", id ? id->project_id : NULL },
		{ "user", id ? id->user : NULL },
		{ "user_id", id ? id->user_id : NULL },
		{ "cluster_version", id ? id->cluster_version : NULL },
	};
	size_t k = 0;

	G_STATIC_ASSERT(2 * G_N_ELEMENTS(f) + 1 <= VD_IDENTITY_PAIRS);
	for (size_t i = 0; i < G_N_ELEMENTS(f); i++)
		if (f[i].value) {
			buf[k++] = f[i].label;
			buf[k++] = f[i].value;
		}
	buf[k] = NULL;
	return buf;
}

static void on_sync(void *ud, const struct ve_domain_info *doms, size_t n)
{
	struct daemon *d = ud;
	struct ve_vm_view view;
	size_t n_vms = ve_engine_n_vms(d->engine);

	/* domains we think run but libvirt does not list have stopped meanwhile */
	for (size_t i = 0; i < n_vms; i++) {
		bool listed = false;

		ve_engine_vm(d->engine, i, &view);
		for (size_t k = 0; k < n && !listed; k++)
			listed = strcmp(doms[k].uuid, view.uuid) == 0;
		if (listed)
			continue;
		if (view.running)
			ve_engine_vm_stopped(d->engine, view.uuid);
		/* from the state file, or stopped meanwhile: does libvirt still have it? */
		if (!view.gone && ve_virt_domain_exists(d->virt, view.uuid) == 0)
			on_gone(d, view.uuid, view.name, false);
	}
	for (size_t k = 0; k < n; k++) {
		ve_engine_vm_started(d->engine, doms[k].uuid, doms[k].name, doms[k].vcpus);
		vd_load_limits(d, doms[k].uuid, doms[k].name);
		load_identity(d, doms[k].uuid, false);
	}
}

static void on_started(void *ud, const struct ve_domain_info *dom)
{
	struct daemon *d = ud;

	/* every start is STARTED then RESUMED (QEMU starts paused): say it once */
	if (ve_engine_vm_started(d->engine, dom->uuid, dom->name, dom->vcpus))
		ve_log_vm(dom->uuid, dom->name, "VM '%s' started, %u vCPUs: accounting it", dom->name,
		      dom->vcpus);
	vd_load_limits(d, dom->uuid, dom->name);
	load_identity(d, dom->uuid, true);
}

static void on_stopped(void *ud, const char *uuid, const char *name)
{
	struct daemon *d = ud;

	ve_engine_vm_stopped(d->engine, uuid);
	if (d->limiter)
		ve_limiter_stopped(d->limiter, ve_virt_conn(d->virt), uuid);
	ve_log_vm(uuid, name, "VM '%s' stopped: its counters are kept for its next start", name);
}

static void on_defined(void *ud, const char *uuid, const char *name, bool defined)
{
	struct daemon *d = ud;

	if (!defined)
		ve_engine_vm_undefined(d->engine, uuid);
	ve_log_vm(uuid, name, "VM '%s' %s", name, defined ? "defined" : "undefined");
}

/*
 * libvirt has no such domain any more (transient and destroyed, undefined
 * while stopped, or gone while we were away): retire it once its final
 * readings are in (engine.h).  Retention rule, README "State file".
 */
static void on_gone(void *ud, const char *uuid, const char *name, bool transient)
{
	struct daemon *d = ud;

	ve_engine_vm_gone(d->engine, uuid, transient);
	if (d->limiter)
		ve_limiter_stopped(d->limiter, ve_virt_conn(d->virt), uuid);
	if (transient)
		ve_log_vm(uuid, name, "VM '%s' (transient) stopped and is gone from libvirt: its counters go "
		      "to the host's retired total", name ? name : uuid);
	else
		ve_log_vm(uuid, name, "VM '%s' is gone from libvirt: its counters are kept for %.0f h "
		      "([daemon] retain-undefined-hours), then go to the host's retired total",
		      name ? name : uuid, (double)d->cfg.retain_undefined_us / 3.6e9);
}

void vd_on_retired(void *ud, const char *uuid, const char *name, uint64_t total_uj)
{
	struct daemon *d = ud;

	ve_registry_set(d->reg, uuid, VE_REG_DAEMON, NULL);
	ve_registry_set(d->reg, uuid, VE_REG_IDENTITY, NULL);
	ve_log_vm(uuid, name, "VM '%s' retired: its %.6f J are now in the host's retired total",
	      name ? name : uuid, (double)total_uj / 1e6);
}

static void on_connection(void *ud, bool up, const char *why)
{
	struct daemon *d = ud;

	/* the first connection: put back what a daemon that died left throttled */
	if (up && d->limiter && !d->reconciled && d->virt) {
		g_autoptr(GString) report = g_string_new("");
		unsigned int n = ve_limiter_reconcile(d->limiter, ve_virt_conn(d->virt), report);

		d->reconciled = true;
		if (n)
			ve_log("restored the CPU bandwidth of %u VM(s) a previous run left throttled", n);
		if (report->len)
			ve_log("%s", report->str);
	}
	vd_services_forget(d);
	if (up)
		ve_log("connected to %s", why);
	else
		ve_log("libvirt connection down (%s): still accounting the VMs already known", why);
}

static void on_changed(void *ud, const char *uuid)
{
	ve_engine_vm_rescan(((struct daemon *)ud)->engine, uuid);
}

const struct ve_virt_ops vd_virt_ops = {
	.sync = on_sync,
	.started = on_started,
	.stopped = on_stopped,
	.gone = on_gone,
	.defined = on_defined,
	.metadata_changed = on_metadata,
	.changed = on_changed,
	.connection = on_connection,
};
