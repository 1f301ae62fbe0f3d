// SPDX-License-Identifier: GPL-2.0-or-later
/*
 * service.c: the D-Bus service (see service.h).  The introspection XML is
 * compiled in as a GResource from conf/, so the interface the daemon serves
 * is the one installed for clients to read.
 */
#include <math.h>
#include <string.h>

#include "error.h"
#include "manager1-resources.h"
#include "ve-vm1.h"
#include "service.h"

#define BUS_NAME "org.virtenergy.Manager1"
#define OBJECT_PATH "/org/virtenergy/Manager1"
#define IFACE "org.virtenergy.Manager1"
#define VM_ROOT "/org/virtenergy"
#define ERR_NO_SUCH_VM VE_DBUS_ERROR_NO_SUCH_VM
#define ERR_NOT_AUTHORIZED "org.virtenergy.Manager1.Error.NotAuthorized"

struct ve_dbus {
	struct ve_engine *engine;
	const struct ve_dbus_ops *ops;
	ve_dbus_log_fn log;
	void *ud;
	GDBusNodeInfo *info;
	GDBusConnection *conn;
	guint owner_id;
	guint object_id;
	GVariant *last[16];          /* each property as PropertiesChanged last carried it */
	GCancellable *cancel;        /* the callers' uids being asked for; cancelled at free */
	GDBusObjectManagerServer *om;   /* /org/virtenergy: one object per VM */
	GHashTable *vm_objs;         /* uuid -> VeObjectSkeleton, those exported */
};

/* The properties, in the order of the introspection XML. */
static const char *const props[] = { "PowerW", "EnergyJ", "HostOwnEnergyJ", "UnattributedEnergyJ",
				     "Estimated", "Sensor", "Sampler", "Periods", "HostCapW",
				     "Version" };

static double joules(uint64_t uj)
{
	return (double)uj / 1e6;
}

static double watts(uint64_t uw)
{
	return (double)uw / 1e6;
}

static GVariant *get_property(GDBusConnection *conn, const char *sender, const char *path,
			      const char *iface, const char *name, GError **error, gpointer data)
{
	struct ve_dbus *d = data;
	struct ve_host_view h;

	ve_engine_host(d->engine, &h);
	if (strcmp(name, "PowerW") == 0)
		return g_variant_new_double(watts(h.power_uw));
	if (strcmp(name, "EnergyJ") == 0)
		return g_variant_new_double(joules(h.energy_uj));
	if (strcmp(name, "HostOwnEnergyJ") == 0)
		return g_variant_new_double(joules(h.own_uj));
	if (strcmp(name, "UnattributedEnergyJ") == 0)
		return g_variant_new_double(joules(h.unattributed_uj));
	if (strcmp(name, "Estimated") == 0)
		return g_variant_new_boolean(h.estimated);
	if (strcmp(name, "Sensor") == 0)
		return g_variant_new_string(h.sensor);
	if (strcmp(name, "Sampler") == 0)
		return g_variant_new_string(h.sampler);
	if (strcmp(name, "Periods") == 0)
		return g_variant_new_uint64(h.periods);
	if (strcmp(name, "HostCapW") == 0)
		return g_variant_new_double(watts(d->ops ? d->ops->host_cap(d->ud) : 0));
	if (strcmp(name, "Version") == 0)
		return g_variant_new_string(VE_VERSION);
	g_set_error(error, G_DBUS_ERROR, G_DBUS_ERROR_UNKNOWN_PROPERTY, "no property %s", name);
	return NULL;
}

/* A VM's energy by component, a{sd}. */
static GVariant *components(const struct ve_vm_view *v)
{
	GVariantBuilder comps;

	g_variant_builder_init(&comps, G_VARIANT_TYPE("a{sd}"));
	for (int c = 0; c < VE_COMP__MAX; c++)
		if (c != VE_COMP_CPU)
			g_variant_builder_add(&comps, "{sd}", ve_component_name((enum ve_component)c),
					      joules(v->ledger->comp_uj[c]));
	return g_variant_builder_end(&comps);
}

/* A VM's orchestrator identity, a{ss}. */
static GVariant *identity(struct ve_dbus *d, const char *uuid)
{
	const char *buf[VE_DBUS_IDENTITY_PAIRS];
	const char *const *kv = d->ops && d->ops->vm_identity ? d->ops->vm_identity(d->ud, uuid, buf)
							      : NULL;
	GVariantBuilder id;

	g_variant_builder_init(&id, G_VARIANT_TYPE("a{ss}"));
	for (; kv && kv[0] && kv[1]; kv += 2)
		g_variant_builder_add(&id, "{ss}", kv[0], kv[1]);
	return g_variant_builder_end(&id);
}

static GVariant *vm_info(struct ve_dbus *d, const struct ve_vm_view *v)
{
	GVariantBuilder b;

	g_variant_builder_init(&b, G_VARIANT_TYPE("a{sv}"));
	g_variant_builder_add(&b, "{sv}", "Name", g_variant_new_string(v->name));
	g_variant_builder_add(&b, "{sv}", "UUID", g_variant_new_string(v->uuid));
	g_variant_builder_add(&b, "{sv}", "Running", g_variant_new_boolean(v->running));
	g_variant_builder_add(&b, "{sv}", "Undefined", g_variant_new_boolean(v->undefined));
	g_variant_builder_add(&b, "{sv}", "VCPUs", g_variant_new_uint32(v->vcpus));
	g_variant_builder_add(&b, "{sv}", "Threads", g_variant_new_uint32(v->n_threads));
	g_variant_builder_add(&b, "{sv}", "PowerW", g_variant_new_double(watts(v->power_uw)));
	g_variant_builder_add(&b, "{sv}", "EnergyJ", g_variant_new_double(joules(v->ledger->total_uj)));
	g_variant_builder_add(&b, "{sv}", "LimitW",
			      g_variant_new_double(watts(d->ops ? d->ops->vm_limit(d->ud, v->uuid) : 0)));
	g_variant_builder_add(&b, "{sv}", "AllocationW",
			      g_variant_new_double(watts(d->ops ? d->ops->vm_alloc(d->ud, v->uuid) : 0)));
	g_variant_builder_add(&b, "{sv}", "ComponentEnergyJ", components(v));
	{
		g_autofree char *reason = NULL;
		const char *state = d->ops && d->ops->vm_limit_state ?
				    d->ops->vm_limit_state(d->ud, v->uuid, &reason) : "none";
		uint64_t left;

		g_variant_builder_add(&b, "{sv}", "LimitState", g_variant_new_string(state));
		g_variant_builder_add(&b, "{sv}", "LimitReason", g_variant_new_string(reason ? reason : ""));
		if (d->ops && d->ops->vm_budget_left && d->ops->vm_budget_left(d->ud, v->uuid, &left))
			g_variant_builder_add(&b, "{sv}", "BudgetLeftJ", g_variant_new_double(joules(left)));
	}
	g_variant_builder_add(&b, "{sv}", "Identity", identity(d, v->uuid));
	return g_variant_builder_end(&b);
}

/* A power in W from a caller, checked: finite, above 0, at most @max_w. */
static gboolean watts_arg(GDBusMethodInvocation *inv, double w, double max_w, uint64_t *ret_uw)
{
	if (!isfinite(w) || w <= 0.0 || w > max_w) {
		g_dbus_method_invocation_return_error(inv, G_DBUS_ERROR, G_DBUS_ERROR_INVALID_ARGS,
						      "%g W is not a power above 0 and at most %g W", w,
						      max_w);
		return FALSE;
	}
	/* a positive power must not round to 0, which means "none" */
	if (llround(w * 1e6) == 0) {
		g_dbus_method_invocation_return_error(inv, G_DBUS_ERROR, G_DBUS_ERROR_INVALID_ARGS,
						      "%g W is above 0 but rounds to 0 uW", w);
		return FALSE;
	}
	*ret_uw = (uint64_t)llround(w * 1e6);
	return TRUE;
}

/* A write method from a caller known to be root. */
static void do_write(struct ve_dbus *d, GDBusMethodInvocation *inv)
{
	g_autoptr(GError) err = NULL;
	const char *method = g_dbus_method_invocation_get_method_name(inv);
	GVariant *params = g_dbus_method_invocation_get_parameters(inv);
	const char *vm = NULL;
	double w = 0.0;
	uint64_t uw = 0;

	if (!d->ops) {
		g_dbus_method_invocation_return_error(inv, G_DBUS_ERROR, G_DBUS_ERROR_NOT_SUPPORTED,
						      "limits are not managed by this daemon");
		return;
	}
	if (strcmp(method, "SetHostCap") == 0 || strcmp(method, "ClearHostCap") == 0) {
		if (strcmp(method, "SetHostCap") == 0) {
			g_variant_get(params, "(d)", &w);
			if (!watts_arg(inv, w, 1e9, &uw))
				return;
		}
		d->ops->set_host_cap(d->ud, uw);
		g_dbus_method_invocation_return_value(inv, NULL);
		return;
	}
	if (strcmp(method, "SetVMLimit") == 0) {
		g_variant_get(params, "(&sd)", &vm, &w);
		if (!watts_arg(inv, w, 1e5, &uw))
			return;
	} else {
		g_variant_get(params, "(&s)", &vm);
	}
	if (!d->ops->set_vm_limit(d->ud, vm, uw, &err)) {
		if (g_dbus_error_is_remote_error(err) || err->domain == VE_ERROR) {
			g_autofree char *name = g_dbus_error_get_remote_error(err);

			if (g_strcmp0(name, ERR_NO_SUCH_VM) == 0 || g_error_matches(err, VE_ERROR, VE_ERROR_NOT_FOUND)) {
				g_dbus_method_invocation_return_dbus_error(inv, ERR_NO_SUCH_VM, err->message);
				return;
			}
		}
		g_dbus_method_invocation_return_error(inv, G_DBUS_ERROR, G_DBUS_ERROR_FAILED, "%s",
						      err->message);
		return;
	}
	g_dbus_method_invocation_return_value(inv, NULL);
}

/* The bus's answer to who the caller is: root goes on, anyone else is refused. */
static void on_caller_uid(GObject *src, GAsyncResult *res, gpointer data)
{
	GDBusMethodInvocation *inv = data;
	g_autoptr(GError) err = NULL;
	g_autoptr(GVariant) r = g_dbus_connection_call_finish(G_DBUS_CONNECTION(src), res, &err);
	guint32 uid = 1;

	if (g_error_matches(err, G_IO_ERROR, G_IO_ERROR_CANCELLED)) {
		/* the daemon is going away: d is no more */
		g_dbus_method_invocation_return_error(inv, G_DBUS_ERROR, G_DBUS_ERROR_FAILED,
						      "virtenergyd is stopping");
		g_object_unref(inv);
		return;
	}
	if (r)
		g_variant_get(r, "(u)", &uid);
	if (uid != 0)
		g_dbus_method_invocation_return_dbus_error(inv, ERR_NOT_AUTHORIZED,
							   "only root may change limits");
	else
		do_write(g_object_get_data(G_OBJECT(inv), "ve-dbus"), inv);
	g_object_unref(inv);
}

/*
 * Writes are for root: the bus says who the caller is (GetConnectionUnixUser),
 * asked without blocking the main loop, whose periods go on meanwhile.
 */
static void write_call(struct ve_dbus *d, GDBusConnection *conn, const char *sender,
		       GDBusMethodInvocation *inv)
{
	g_object_set_data(G_OBJECT(inv), "ve-dbus", d);
	g_dbus_connection_call(conn, "org.freedesktop.DBus", "/org/freedesktop/DBus",
			       "org.freedesktop.DBus", "GetConnectionUnixUser",
			       g_variant_new("(s)", sender), G_VARIANT_TYPE("(u)"),
			       G_DBUS_CALL_FLAGS_NONE, 5000, d->cancel, on_caller_uid,
			       g_object_ref(inv));
}

static void method_call(GDBusConnection *conn, const char *sender, const char *path,
			const char *iface, const char *method, GVariant *params,
			GDBusMethodInvocation *inv, gpointer data)
{
	struct ve_dbus *d = data;
	size_t n = ve_engine_n_vms(d->engine);

	if (strcmp(method, "ListVMs") == 0) {
		GVariantBuilder b;

		g_variant_builder_init(&b, G_VARIANT_TYPE("a(ssbdd)"));
		for (size_t i = 0; i < n; i++) {
			struct ve_vm_view v;

			ve_engine_vm(d->engine, i, &v);
			g_variant_builder_add(&b, "(ssbdd)", v.uuid, v.name, v.running, watts(v.power_uw),
					      joules(v.ledger->total_uj));
		}
		g_dbus_method_invocation_return_value(inv, g_variant_new("(a(ssbdd))", &b));
		return;
	}
	if (strcmp(method, "GetVM") == 0) {
		const char *which;

		g_variant_get(params, "(&s)", &which);
		for (size_t i = 0; i < n; i++) {
			struct ve_vm_view v;

			ve_engine_vm(d->engine, i, &v);
			if (strcmp(v.uuid, which) == 0 || strcmp(v.name, which) == 0) {
				g_dbus_method_invocation_return_value(inv, g_variant_new("(@a{sv})", vm_info(d, &v)));
				return;
			}
		}
		g_dbus_method_invocation_return_dbus_error(inv, ERR_NO_SUCH_VM,
							   "no VM with that name or UUID");
		return;
	}
	if (strcmp(method, "SetVMLimit") == 0 || strcmp(method, "ClearVMLimit") == 0 ||
	    strcmp(method, "SetHostCap") == 0 || strcmp(method, "ClearHostCap") == 0) {
		write_call(d, conn, sender, inv);
		return;
	}
	g_dbus_method_invocation_return_error(inv, G_DBUS_ERROR, G_DBUS_ERROR_UNKNOWN_METHOD,
					      "no method %s", method);
}

static const GDBusInterfaceVTable vtable = { method_call, get_property, NULL, { 0 } };

static void say(struct ve_dbus *d, const char *fmt, ...) G_GNUC_PRINTF(2, 3);

static void say(struct ve_dbus *d, const char *fmt, ...)
{
	g_autofree char *msg = NULL;
	va_list ap;

	va_start(ap, fmt);
	msg = g_strdup_vprintf(fmt, ap);
	va_end(ap);
	if (d->log)
		d->log(d->ud, msg);
}

static void on_bus(GDBusConnection *conn, const char *name, gpointer data)
{
	struct ve_dbus *d = data;
	g_autoptr(GError) err = NULL;

	d->conn = conn;
	d->object_id = g_dbus_connection_register_object(conn, OBJECT_PATH, d->info->interfaces[0],
							 &vtable, d, NULL, &err);
	if (!d->object_id)
		say(d, "cannot register %s on D-Bus: %s", OBJECT_PATH, err->message);
	g_dbus_object_manager_server_set_connection(d->om, conn);
}

static void on_name(GDBusConnection *conn, const char *name, gpointer data)
{
	say(data, "D-Bus name %s acquired", name);
}

static void on_lost(GDBusConnection *conn, const char *name, gpointer data)
{
	struct ve_dbus *d = data;

	say(d, conn ? "D-Bus name %s not available (another daemon, or the bus policy refuses it); "
		      "going on without D-Bus"
		    : "no D-Bus bus to own %s on; going on without D-Bus",
	    name);
	if (d->object_id && d->conn)
		g_dbus_connection_unregister_object(d->conn, d->object_id);
	d->object_id = 0;
	d->conn = NULL;
	g_dbus_object_manager_server_set_connection(d->om, NULL);
}

struct ve_dbus *ve_dbus_new(GBusType bus, struct ve_engine *engine, const struct ve_dbus_ops *ops,
			    ve_dbus_log_fn log, void *ud)
{
	struct ve_dbus *d = g_new0(struct ve_dbus, 1);
	/* looked up in our own resource: a static library's constructor may be dropped */
	g_autoptr(GBytes) xml = g_resource_lookup_data(ve_manager1_get_resource(),
						       "/org/virtenergy/Manager1.xml",
						       G_RESOURCE_LOOKUP_FLAGS_NONE, NULL);
	g_autoptr(GError) err = NULL;

	d->cancel = g_cancellable_new();
	d->om = g_dbus_object_manager_server_new(VM_ROOT);
	d->vm_objs = g_hash_table_new_full(g_str_hash, g_str_equal, g_free, g_object_unref);
	d->engine = engine;
	d->ops = ops;
	d->log = log;
	d->ud = ud;
	d->info = xml ? g_dbus_node_info_new_for_xml(g_bytes_get_data(xml, NULL), &err) : NULL;
	if (!d->info) {
		say(d, "D-Bus interface description unusable: %s", err ? err->message : "missing");
		return d;
	}
	d->owner_id = g_bus_own_name(bus, BUS_NAME, G_BUS_NAME_OWNER_FLAGS_NONE, on_bus, on_name,
				     on_lost, d, NULL);
	return d;
}

void ve_dbus_free(struct ve_dbus *d)
{
	if (!d)
		return;
	if (d->object_id && d->conn)
		g_dbus_connection_unregister_object(d->conn, d->object_id);
	if (d->owner_id)
		g_bus_unown_name(d->owner_id);
	if (d->info)
		g_dbus_node_info_unref(d->info);
	g_cancellable_cancel(d->cancel);
	g_object_unref(d->cancel);
	g_hash_table_destroy(d->vm_objs);
	g_object_unref(d->om);
	for (size_t i = 0; i < G_N_ELEMENTS(d->last); i++)
		if (d->last[i])
			g_variant_unref(d->last[i]);
	g_free(d);
}

/* /org/virtenergy/vm/UUID, the UUID's dashes as underscores (object path characters). */
static char *vm_path(const char *uuid)
{
	g_autofree char *id = g_strdup(uuid);

	g_strcanon(id, "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789", '_');
	return g_strdup_printf(VM_ROOT "/vm/%s", id);
}

/* One VM's object: its properties now (the skeleton sends what changed). */
static void update_vm_object(struct ve_dbus *d, VeVM1 *o, const struct ve_vm_view *v)
{
	g_autofree char *reason = NULL;
	const char *state = d->ops && d->ops->vm_limit_state ?
			    d->ops->vm_limit_state(d->ud, v->uuid, &reason) : "none";

	ve_vm1_set_uuid(o, v->uuid);
	ve_vm1_set_name(o, v->name);
	ve_vm1_set_running(o, v->running);
	ve_vm1_set_vcpus(o, v->vcpus);
	ve_vm1_set_power_w(o, watts(v->power_uw));
	ve_vm1_set_energy_j(o, joules(v->ledger->total_uj));
	ve_vm1_set_component_energy_j(o, components(v));
	ve_vm1_set_limit_w(o, watts(d->ops ? d->ops->vm_limit(d->ud, v->uuid) : 0));
	ve_vm1_set_allocation_w(o, watts(d->ops ? d->ops->vm_alloc(d->ud, v->uuid) : 0));
	ve_vm1_set_limit_state(o, state);
	ve_vm1_set_limit_reason(o, reason ? reason : "");
	ve_vm1_set_identity(o, identity(d, v->uuid));
}

/*
 * The objects follow the engine's VMs: a new VM is exported (InterfacesAdded),
 * a retired one unexported (InterfacesRemoved), the others updated.
 */
static void sync_vm_objects(struct ve_dbus *d)
{
	g_autoptr(GHashTable) seen = g_hash_table_new(g_str_hash, g_str_equal);
	size_t n = ve_engine_n_vms(d->engine);
	GHashTableIter it;
	gpointer k;

	for (size_t i = 0; i < n; i++) {
		struct ve_vm_view v;
		VeObjectSkeleton *obj;
		g_autoptr(VeVM1) vm1 = NULL;

		ve_engine_vm(d->engine, i, &v);
		g_hash_table_add(seen, (gpointer)v.uuid);
		obj = g_hash_table_lookup(d->vm_objs, v.uuid);
		if (obj) {
			vm1 = ve_object_get_vm1(VE_OBJECT(obj));
			update_vm_object(d, vm1, &v);
			continue;
		}
		{
			g_autofree char *path = vm_path(v.uuid);

			obj = ve_object_skeleton_new(path);
			vm1 = ve_vm1_skeleton_new();
			update_vm_object(d, vm1, &v);
			ve_object_skeleton_set_vm1(obj, vm1);
			g_dbus_object_manager_server_export(d->om, G_DBUS_OBJECT_SKELETON(obj));
			g_hash_table_insert(d->vm_objs, g_strdup(v.uuid), obj);
		}
	}
	g_hash_table_iter_init(&it, d->vm_objs);
	while (g_hash_table_iter_next(&it, &k, NULL)) {
		g_autofree char *path = NULL;

		if (g_hash_table_contains(seen, k))
			continue;
		path = vm_path(k);
		g_dbus_object_manager_server_unexport(d->om, path);
		g_hash_table_iter_remove(&it);
	}
}

/*
 * Once a second: PropertiesChanged with every property whose value changed
 * since the last one (all of them the first time), so that a caching
 * proxy (Cockpit's, GDBusProxy) never holds a stale one, and Changed.
 */
void ve_dbus_tick(struct ve_dbus *d)
{
	struct ve_host_view h;
	GVariantBuilder changed;
	bool any = false;

	G_STATIC_ASSERT(G_N_ELEMENTS(props) <= G_N_ELEMENTS(((struct ve_dbus *)0)->last));
	if (!d->conn || !d->object_id)
		return;
	ve_engine_host(d->engine, &h);
	g_variant_builder_init(&changed, G_VARIANT_TYPE("a{sv}"));
	for (size_t i = 0; i < G_N_ELEMENTS(props); i++) {
		GVariant *v = get_property(d->conn, NULL, OBJECT_PATH, IFACE, props[i], NULL, d);

		if (!v)
			continue;
		g_variant_ref_sink(v);
		if (d->last[i] && g_variant_equal(d->last[i], v)) {
			g_variant_unref(v);
			continue;
		}
		g_variant_builder_add(&changed, "{sv}", props[i], v);
		if (d->last[i])
			g_variant_unref(d->last[i]);
		d->last[i] = v;
		any = true;
	}
	if (any)
		g_dbus_connection_emit_signal(d->conn, NULL, OBJECT_PATH, "org.freedesktop.DBus.Properties",
					      "PropertiesChanged",
					      g_variant_new("(sa{sv}as)", IFACE, &changed, NULL), NULL);
	else
		g_variant_builder_clear(&changed);
	g_dbus_connection_emit_signal(d->conn, NULL, OBJECT_PATH, IFACE, "Changed",
				      g_variant_new("(dd)", watts(h.power_uw), joules(h.energy_uj)),
				      NULL);
	sync_vm_objects(d);
}

void ve_dbus_emit_throttled(struct ve_dbus *d, const char *uuid, const char *name, bool throttled,
			    uint64_t limit_uw)
{
	if (!d || !d->conn || !d->object_id)
		return;
	g_dbus_connection_emit_signal(d->conn, NULL, OBJECT_PATH, IFACE, "Throttled",
				      g_variant_new("(ssbd)", uuid, name ? name : "", throttled,
						    watts(limit_uw)),
				      NULL);
}

void ve_dbus_emit_cannot_hold(struct ve_dbus *d, const char *uuid, const char *name,
			      uint64_t limit_uw, uint64_t power_uw)
{
	if (!d || !d->conn || !d->object_id)
		return;
	g_dbus_connection_emit_signal(d->conn, NULL, OBJECT_PATH, IFACE, "CannotHold",
				      g_variant_new("(ssdd)", uuid, name ? name : "", watts(limit_uw),
						    watts(power_uw)),
				      NULL);
}
