// SPDX-License-Identifier: GPL-2.0-or-later
/*
 * conn.c: the libvirt connection (see conn.h).
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include <libvirt/virterror.h>
#include <libxml/parser.h>
#include <libxml/tree.h>

#include "conn.h"
#include "identity.h"

#define BACKOFF_MIN_MS 1000
#define BACKOFF_MAX_MS 30000

struct ve_virt {
	char *uri;
	const struct ve_virt_ops *ops;
	void *ud;
	virConnectPtr conn;
	int event_id[6];            /* one per entry of events[], -1: not registered */
	guint retry_source;
	guint backoff_ms;
	bool closing;
};

static void schedule_connect(struct ve_virt *v);

void ve_virt_global_init(void)
{
	static gsize done;

	if (g_once_init_enter(&done)) {
		virEventRegisterDefaultImpl();
		g_once_init_leave(&done, 1);
	}
}

static bool domain_info(virDomainPtr d, struct ve_domain_info *ret)
{
	virDomainInfo info;
	const char *name = virDomainGetName(d);

	memset(ret, 0, sizeof(*ret));
	if (virDomainGetUUIDString(d, ret->uuid) < 0 || !name || virDomainGetInfo(d, &info) < 0)
		return false;
	g_strlcpy(ret->name, name, sizeof(ret->name));
	ret->id = virDomainGetID(d) == (unsigned int)-1 ? -1 : (int)virDomainGetID(d);
	ret->vcpus = info.nrVirtCpu;
	return true;
}

static void do_sync(struct ve_virt *v)
{
	virDomainPtr *doms = NULL;
	int n = virConnectListAllDomains(v->conn, &doms, VIR_CONNECT_LIST_DOMAINS_ACTIVE);
	g_autofree struct ve_domain_info *info = NULL;
	size_t k = 0;

	if (n < 0)
		return;
	info = g_new0(struct ve_domain_info, n ? n : 1);
	for (int i = 0; i < n; i++) {
		if (domain_info(doms[i], &info[k]))
			k++;
		virDomainFree(doms[i]);
	}
	free(doms);
	v->ops->sync(v->ud, info, k);
}

void ve_virt_resync(struct ve_virt *v)
{
	if (v->conn)
		do_sync(v);
}

int ve_virt_domain_exists(struct ve_virt *v, const char *uuid)
{
	virDomainPtr d;
	virErrorPtr e;

	if (!v->conn)
		return -ENOTCONN;
	d = virDomainLookupByUUIDString(v->conn, uuid);
	if (d) {
		virDomainFree(d);
		return 1;
	}
	e = virGetLastError();
	return e && e->code == VIR_ERR_NO_DOMAIN ? 0 : -EIO;
}

static int on_lifecycle(virConnectPtr conn, virDomainPtr dom, int event, int detail, void *opaque)
{
	struct ve_virt *v = opaque;
	struct ve_domain_info info;
	char uuid[VIR_UUID_STRING_BUFLEN];

	switch (event) {
	case VIR_DOMAIN_EVENT_STARTED:
	case VIR_DOMAIN_EVENT_RESUMED:
		if (domain_info(dom, &info))
			v->ops->started(v->ud, &info);
		break;
	case VIR_DOMAIN_EVENT_STOPPED:
	case VIR_DOMAIN_EVENT_CRASHED:
	case VIR_DOMAIN_EVENT_SHUTDOWN:
		/* SHUTDOWN "finished" and CRASHED precede STOPPED; stopping twice is harmless */
		if (event == VIR_DOMAIN_EVENT_SHUTDOWN && detail != VIR_DOMAIN_EVENT_SHUTDOWN_FINISHED)
			break;
		if (virDomainGetUUIDString(dom, uuid) != 0)
			break;
		/* a transient domain is gone with its stop */
		if (v->ops->gone && ve_virt_domain_exists(v, uuid) == 0)
			v->ops->gone(v->ud, uuid, virDomainGetName(dom), true);
		else
			v->ops->stopped(v->ud, uuid, virDomainGetName(dom));
		break;
	case VIR_DOMAIN_EVENT_DEFINED:
	case VIR_DOMAIN_EVENT_UNDEFINED:
		if (virDomainGetUUIDString(dom, uuid) != 0)
			break;
		if (v->ops->defined)
			v->ops->defined(v->ud, uuid, virDomainGetName(dom),
					event == VIR_DOMAIN_EVENT_DEFINED);
		/* undefined while stopped: nothing of it is left in libvirt */
		if (event == VIR_DOMAIN_EVENT_UNDEFINED && v->ops->gone &&
		    ve_virt_domain_exists(v, uuid) == 0)
			v->ops->gone(v->ud, uuid, virDomainGetName(dom), false);
		break;
	default:
		break;
	}
	return 0;
}

static void on_metadata(virConnectPtr conn, virDomainPtr dom, int type, const char *nsuri,
			void *opaque)
{
	struct ve_virt *v = opaque;
	char uuid[VIR_UUID_STRING_BUFLEN];

	if (v->ops->metadata_changed && virDomainGetUUIDString(dom, uuid) == 0)
		v->ops->metadata_changed(v->ud, uuid, virDomainGetName(dom));
}

/* A device came or went, a tunable changed, the guest rebooted: its threads may have too. */
static void changed(virDomainPtr dom, struct ve_virt *v)
{
	char uuid[VIR_UUID_STRING_BUFLEN];

	if (v->ops->changed && virDomainGetUUIDString(dom, uuid) == 0)
		v->ops->changed(v->ud, uuid);
}

/* each event has its own callback type, with opaque last */
static void on_device(virConnectPtr conn, virDomainPtr dom, const char *alias, void *opaque)
{
	changed(dom, opaque);
}

static void on_tunable(virConnectPtr conn, virDomainPtr dom, virTypedParameterPtr params,
		       int n_params, void *opaque)
{
	changed(dom, opaque);
}

static void on_reboot(virConnectPtr conn, virDomainPtr dom, void *opaque)
{
	changed(dom, opaque);
}

/* The domain events taken, each with its handler. */
static const struct {
	int id;
	virConnectDomainEventGenericCallback cb;
} events[] = {
	{ VIR_DOMAIN_EVENT_ID_LIFECYCLE, VIR_DOMAIN_EVENT_CALLBACK(on_lifecycle) },
	{ VIR_DOMAIN_EVENT_ID_METADATA_CHANGE, VIR_DOMAIN_EVENT_CALLBACK(on_metadata) },
	/* what may change a VM's threads or devices */
	{ VIR_DOMAIN_EVENT_ID_DEVICE_ADDED, VIR_DOMAIN_EVENT_CALLBACK(on_device) },
	{ VIR_DOMAIN_EVENT_ID_DEVICE_REMOVED, VIR_DOMAIN_EVENT_CALLBACK(on_device) },
	{ VIR_DOMAIN_EVENT_ID_TUNABLE, VIR_DOMAIN_EVENT_CALLBACK(on_tunable) },
	{ VIR_DOMAIN_EVENT_ID_REBOOT, VIR_DOMAIN_EVENT_CALLBACK(on_reboot) },
};
G_STATIC_ASSERT(G_N_ELEMENTS(events) == G_N_ELEMENTS(((struct ve_virt *)0)->event_id));

static void drop_conn(struct ve_virt *v)
{
	if (!v->conn)
		return;
	for (size_t i = 0; i < G_N_ELEMENTS(v->event_id); i++) {
		if (v->event_id[i] >= 0)
			virConnectDomainEventDeregisterAny(v->conn, v->event_id[i]);
		v->event_id[i] = -1;
	}
	virConnectClose(v->conn);
	v->conn = NULL;
}

static gboolean reconnect_later(gpointer data)
{
	struct ve_virt *v = data;

	v->retry_source = 0;
	drop_conn(v);
	schedule_connect(v);
	return G_SOURCE_REMOVE;
}

static void on_close(virConnectPtr conn, int reason, void *opaque)
{
	struct ve_virt *v = opaque;
	static const char *const why[] = { "error", "end of file", "keepalive timeout", "client" };

	if (v->closing)
		return;
	v->ops->connection(v->ud, false,
			   reason >= 0 && reason < (int)G_N_ELEMENTS(why) ? why[reason] : "closed");
	/* never close a connection from inside its own callback */
	if (!v->retry_source)
		v->retry_source = g_idle_add(reconnect_later, v);
}

static gboolean try_connect(gpointer data)
{
	struct ve_virt *v = data;
	virErrorPtr err;

	v->retry_source = 0;
	v->conn = virConnectOpen(v->uri);
	if (!v->conn) {
		g_autofree char *msg = NULL;

		err = virGetLastError();
		msg = g_strdup_printf("cannot connect to %s: %s; retrying in %u s", v->uri,
				      err && err->message ? err->message : "unknown error",
				      v->backoff_ms / 1000);
		v->ops->connection(v->ud, false, msg);
		v->retry_source = g_timeout_add(v->backoff_ms, try_connect, v);
		v->backoff_ms = MIN(v->backoff_ms * 2, BACKOFF_MAX_MS);
		return G_SOURCE_REMOVE;
	}
	v->backoff_ms = BACKOFF_MIN_MS;
	/* keepalive notices a hung or vanished libvirtd: 5 s interval, 3 misses */
	virConnectSetKeepAlive(v->conn, 5, 3);
	virConnectRegisterCloseCallback(v->conn, on_close, v, NULL);
	for (size_t i = 0; i < G_N_ELEMENTS(events); i++)
		v->event_id[i] = virConnectDomainEventRegisterAny(v->conn, NULL, events[i].id,
								   events[i].cb, v, NULL);
	v->ops->connection(v->ud, true, v->uri);
	do_sync(v);
	return G_SOURCE_REMOVE;
}

static void schedule_connect(struct ve_virt *v)
{
	if (!v->retry_source && !v->closing)
		v->retry_source = g_idle_add(try_connect, v);
}

static void silence(void *ud, virErrorPtr err)
{
	/* errors are reported where they matter, with what they mean */
}

struct ve_virt *ve_virt_new(const char *uri, const struct ve_virt_ops *ops, void *ud)
{
	struct ve_virt *v = g_new0(struct ve_virt, 1);

	virSetErrorFunc(NULL, silence);
	v->uri = g_strdup(uri);
	v->ops = ops;
	v->ud = ud;
	for (size_t i = 0; i < G_N_ELEMENTS(v->event_id); i++)
		v->event_id[i] = -1;
	v->backoff_ms = BACKOFF_MIN_MS;
	/* from the main loop, so that callbacks never run before the caller has v */
	schedule_connect(v);
	return v;
}

void ve_virt_free(struct ve_virt *v)
{
	if (!v)
		return;
	v->closing = true;
	if (v->retry_source)
		g_source_remove(v->retry_source);
	if (v->conn)
		virConnectUnregisterCloseCallback(v->conn, on_close);
	drop_conn(v);
	g_free(v->uri);
	g_free(v);
}

/*
 * libvirt keeps a metadata element set under our key with our prefix
 * declared on it (xmlns:energy="our URI") even when the element itself is
 * in another namespace.  NULL when there is no such element.
 */
static char *foreign_under_our_key(virDomainPtr dom)
{
	char *desc = virDomainGetXMLDesc(dom, 0);
	xmlDoc *doc;
	xmlNode *root, *md = NULL;
	char *why = NULL;

	if (!desc)
		return NULL;
	doc = xmlReadMemory(desc, (int)strlen(desc), "domain.xml", NULL,
			    XML_PARSE_NONET | XML_PARSE_NOERROR | XML_PARSE_NOWARNING);
	free(desc);
	if (!doc)
		return NULL;
	root = xmlDocGetRootElement(doc);
	for (xmlNode *n = root ? root->children : NULL; n && !md; n = n->next)
		if (n->type == XML_ELEMENT_NODE && strcmp((const char *)n->name, "metadata") == 0)
			md = n;
	for (xmlNode *n = md ? md->children : NULL; n && !why; n = n->next) {
		if (n->type != XML_ELEMENT_NODE)
			continue;
		for (xmlNs *ns = n->nsDef; ns && !why; ns = ns->next) {
			if (ns->prefix && strcmp((const char *)ns->prefix, VE_METADATA_PREFIX) == 0 &&
			    ns->href && strcmp((const char *)ns->href, VE_METADATA_NS) == 0 &&
			    (!n->ns || !n->ns->href || strcmp((const char *)n->ns->href, VE_METADATA_NS) != 0))
				why = g_strdup_printf("<%s> is stored under the energy key but in namespace '%s', "
						      "not %s (remove it with: virsh metadata DOMAIN %s --remove)",
						      n->name,
						      n->ns && n->ns->href ? (const char *)n->ns->href : "(none)",
						      VE_METADATA_NS,
						      n->ns && n->ns->href ? (const char *)n->ns->href : "URI");
		}
	}
	xmlFreeDoc(doc);
	return why;
}

char *ve_virt_get_metadata(struct ve_virt *v, const char *uuid, char **ret_error)
{
	virDomainPtr dom;
	char *xml, *out = NULL;

	if (ret_error)
		*ret_error = NULL;
	if (!v->conn || !(dom = virDomainLookupByUUIDString(v->conn, uuid))) {
		if (ret_error)
			*ret_error = g_strdup("domain not found");
		return NULL;
	}
	xml = virDomainGetMetadata(dom, VIR_DOMAIN_METADATA_ELEMENT, VE_METADATA_NS,
				   VIR_DOMAIN_AFFECT_LIVE);
	if (!xml) {
		virErrorPtr e = virGetLastError();

		if (ret_error && (!e || e->code != VIR_ERR_NO_DOMAIN_METADATA))
			*ret_error = g_strdup(e && e->message ? e->message : "unknown error");
		else if (ret_error)
			*ret_error = foreign_under_our_key(dom);
	} else {
		out = g_strdup(xml);
		free(xml);
	}
	virDomainFree(dom);
	return out;
}

gboolean ve_virt_get_identity(struct ve_virt *v, const char *uuid, struct ve_vm_identity *ret)
{
	static const char *const ns[] = { VE_NOVA_NS, VE_NOVA_NS_1_0, VE_OVIRT_NS };
	virDomainPtr dom;
	gboolean found = FALSE;

	memset(ret, 0, sizeof(*ret));
	if (!v->conn || !(dom = virDomainLookupByUUIDString(v->conn, uuid)))
		return FALSE;
	for (size_t i = 0; i < G_N_ELEMENTS(ns) && !found; i++) {
		char *xml = virDomainGetMetadata(dom, VIR_DOMAIN_METADATA_ELEMENT, ns[i],
						 VIR_DOMAIN_AFFECT_LIVE);

		if (xml) {
			found = ve_vm_identity_parse(xml, ns[i], ret);
			free(xml);
		}
	}
	virResetLastError();    /* "no metadata" is the common answer, not an error */
	virDomainFree(dom);
	return found;
}

virConnectPtr ve_virt_conn(struct ve_virt *v)
{
	return v->conn;
}
