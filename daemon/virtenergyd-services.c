// SPDX-License-Identifier: GPL-2.0-or-later
/*
 * virtenergyd-services.c: what each shared service does for each VM (see
 * virtenergyd.h).  A VM's disks and interfaces served over a unix socket
 * or on a bridge (backing.h) are matched, when the VM is first seen
 * running and again every thread-scan-ms while some are not, to the
 * service listening on the socket (ve_engine_service_by_socket) or
 * switching the bridge (ve_engine_service_by_bridge).  Every period, the
 * bytes each such device moved since the last are the service's work for
 * that VM: libvirt's block statistics for a disk (what QEMU asked of the
 * backend), its interface statistics for an interface (received and
 * sent).
 * Where a service's own block I/O comes from, or why it stays the host's,
 * is logged once each time it changes.  Nothing of this runs without a
 * [service] in the configuration.
 */
#include <libvirt/libvirt.h>

#include "backing.h"
#include "virtenergyd.h"

struct backed {
	virDomainPtr dom;
	GArray *disks;          /* struct ve_backing: its served disks and interfaces */
	struct disk_use {
		ssize_t service;    /* -1: no declared service listens on it (yet) */
		bool primed;
		uint64_t bytes;     /* rd_bytes + wr_bytes (rx_bytes + tx_bytes) at the last read */
		bool said;          /* that its statistics cannot be read */
	} *use;
	uint64_t next_resolve_us;
};

void vd_backed_free(gpointer p)
{
	struct backed *b = p;

	if (!b)
		return;
	if (b->dom)
		virDomainFree(b->dom);
	ve_backings_free(b->disks);
	g_free(b->use);
	g_free(b);
}

static struct backed *backed_load(struct daemon *d, virConnectPtr conn, const char *uuid)
{
	struct backed *b = g_new0(struct backed, 1);
	char *xml;

	b->dom = virDomainLookupByUUIDString(conn, uuid);
	xml = b->dom ? virDomainGetXMLDesc(b->dom, 0) : NULL;
	b->disks = xml ? ve_backings_parse(xml) : NULL;
	free(xml);
	if (!b->disks)
		b->disks = g_array_new(FALSE, TRUE, sizeof(struct ve_backing));
	b->use = g_new0(struct disk_use, b->disks->len ? b->disks->len : 1);
	for (guint k = 0; k < b->disks->len; k++)
		b->use[k].service = -1;
	return b;
}

/* What device @disk moved so far, in bytes: read and written, or received and sent. */
static bool device_bytes(virDomainPtr dom, const struct ve_backing *disk, uint64_t *ret)
{
	if (disk->iface) {
		virDomainInterfaceStatsStruct st;

		if (virDomainInterfaceStats(dom, disk->target, &st, sizeof(st)) < 0)
			return false;
		*ret = (uint64_t)(st.rx_bytes > 0 ? st.rx_bytes : 0) +
		       (uint64_t)(st.tx_bytes > 0 ? st.tx_bytes : 0);
	} else {
		virDomainBlockStatsStruct st;

		if (virDomainBlockStats(dom, disk->target, &st, sizeof(st)) < 0)
			return false;
		*ret = (uint64_t)(st.rd_bytes > 0 ? st.rd_bytes : 0) +
		       (uint64_t)(st.wr_bytes > 0 ? st.wr_bytes : 0);
	}
	return true;
}

static void resolve(struct daemon *d, const struct ve_vm_view *v, struct backed *b, uint64_t now_us)
{
	for (guint k = 0; k < b->disks->len; k++) {
		const struct ve_backing *disk = &g_array_index(b->disks, struct ve_backing, k);
		struct ve_service_view sv;

		if (b->use[k].service >= 0)
			continue;
		b->use[k].service = disk->socket ? ve_engine_service_by_socket(d->engine, disk->socket)
						 : ve_engine_service_by_bridge(d->engine, disk->bridge);
		if (b->use[k].service < 0)
			continue;
		ve_engine_service(d->engine, (size_t)b->use[k].service, &sv);
		ve_log_vm(v->uuid, v->name, "VM '%s': %s %s (%s, %s) is served by service '%s'",
			  v->name, disk->iface ? "interface" : "disk", disk->target, disk->kind,
			  disk->socket ? disk->socket : disk->bridge, sv.name);
	}
	b->next_resolve_us = now_us + d->cfg.thread_scan_us;
}

/* Say where each service's own block I/O comes from when that changed. */
static void say_io(struct daemon *d)
{
	size_t n = ve_engine_n_services(d->engine);

	if (!d->svc_io_said)
		d->svc_io_said = g_new0(unsigned int, n);
	for (size_t i = 0; i < n; i++) {
		struct ve_service_view sv;

		ve_engine_service(d->engine, i, &sv);
		if (sv.io_gen == d->svc_io_said[i])
			continue;
		d->svc_io_said[i] = sv.io_gen;
		if (sv.io_cgroup)
			ve_log("service '%s': its own block I/O from /%s (%s)", sv.name, sv.io_cgroup,
			       sv.io_in_module ? "virtenergy.ko" : "cgroup statistics");
		else
			ve_log("service '%s': its own block I/O stays the host's: %s", sv.name,
			       sv.io_problem ? sv.io_problem : "no cgroup");
	}
}

void vd_services_step(struct daemon *d, uint64_t now_us)
{
	virConnectPtr conn = d->virt ? ve_virt_conn(d->virt) : NULL;
	size_t n = d->engine ? ve_engine_n_vms(d->engine) : 0;

	if (d->guest || !d->engine || !ve_engine_n_services(d->engine))
		return;
	say_io(d);
	for (size_t i = 0; i < n; i++) {
		struct ve_vm_view v;
		struct backed *b;
		bool unresolved = false;

		ve_engine_vm(d->engine, i, &v);
		b = ve_registry_get(d->reg, v.uuid, VE_REG_BACKING);
		if (!v.running || !conn) {
			if (b)
				ve_registry_set(d->reg, v.uuid, VE_REG_BACKING, NULL);
			continue;
		}
		if (!b) {
			b = backed_load(d, conn, v.uuid);
			ve_registry_set(d->reg, v.uuid, VE_REG_BACKING, b);
		}
		for (guint k = 0; k < b->disks->len; k++)
			unresolved = unresolved || b->use[k].service < 0;
		if (unresolved && now_us >= b->next_resolve_us)
			resolve(d, &v, b, now_us);
		for (guint k = 0; k < b->disks->len && b->dom; k++) {
			const struct ve_backing *disk = &g_array_index(b->disks, struct ve_backing, k);
			struct disk_use *u = &b->use[k];
			uint64_t bytes;

			if (u->service < 0)
				continue;
			if (!device_bytes(b->dom, disk, &bytes)) {
				if (!u->said)
					ve_log_vm(v.uuid, v.name, "VM '%s': no statistics for %s %s: %s; "
						  "its service's work for it is not counted", v.name,
						  disk->iface ? "interface" : "disk", disk->target,
						  virGetLastErrorMessage());
				u->said = true;
				continue;
			}
			/* a QEMU restarted under the same domain starts again from 0 */
			if (u->primed && bytes > u->bytes)
				ve_engine_service_use(d->engine, (size_t)u->service, v.uuid, bytes - u->bytes);
			u->bytes = bytes;
			u->primed = true;
		}
	}
}

void vd_services_forget(struct daemon *d)
{
	if (d->reg)
		ve_registry_clear_slot(d->reg, VE_REG_BACKING);
	g_clear_pointer(&d->svc_io_said, g_free);
}
