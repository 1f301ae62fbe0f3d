/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * backing.h: the devices of a domain that a process on the host serves,
 * read from the domain's XML.  Over a unix socket: network disks of
 * protocol nbd with a unix transport (qemu-storage-daemon, qemu-nbd,
 * nbdkit), vhost-user disks (a vhost-user-blk backend) and vhost-user
 * interfaces (a userspace switch such as OVS-DPDK); whoever listens on
 * the socket is the device's backend.  On a bridge: interfaces of type
 * bridge, or of type network where the live XML names the network's
 * bridge; the service configured to switch that bridge is theirs.
 * virtenergyd charges a shared service for each client by these devices'
 * byte counts (engine.h, ve_engine_service_use).
 *
 * Pure but for libxml2: no libvirt call.  Not thread-safe.
 */
#pragma once

#include <glib.h>
#include <stdbool.h>

struct ve_backing {
	char *target;    /* the target dev ("vda", "vnet0"): what virDomain{Block,Interface}Stats take */
	char *socket;    /* the unix socket's absolute path, or NULL: */
	char *bridge;    /* ...the bridge it is on */
	const char *kind;   /* "nbd", "vhost-user" (disks), "vhost-user-net" or "bridge" (interfaces) */
	bool iface;      /* an interface (interface statistics), not a disk (block statistics) */
};

/*
 * The served disks and interfaces of the domain XML @xml, disks first, in
 * document order, as a GArray of struct ve_backing (freed with
 * ve_backings_free).  A device without a target, with a relative socket
 * path or without a bridge is left out.  NULL when @xml is not a domain's
 * XML.
 */
GArray *ve_backings_parse(const char *xml);
void ve_backings_free(GArray *b);
