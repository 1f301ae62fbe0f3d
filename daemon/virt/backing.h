/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * backing.h: the disks of a domain that a process on the host serves over
 * a unix socket, read from the domain's XML: network disks of protocol
 * nbd with a unix transport (qemu-storage-daemon, qemu-nbd, nbdkit), and
 * vhost-user disks (a vhost-user-blk backend).  Whoever listens on the
 * socket is the disk's backend; virtenergyd charges a shared service for
 * each client by these disks' byte counts (engine.h,
 * ve_engine_service_use).
 *
 * Pure but for libxml2: no libvirt call.  Not thread-safe.
 */
#pragma once

#include <glib.h>

struct ve_backing {
	char *target;    /* the disk's target dev ("vda"), what virDomainBlockStats takes */
	char *socket;    /* the unix socket's absolute path */
	const char *kind;   /* "nbd" or "vhost-user" */
};

/*
 * The socket-backed disks of the domain XML @xml, in document order, as a
 * GArray of struct ve_backing (freed with ve_backings_free).  A disk
 * without a target or with a relative socket path is left out.  NULL when
 * @xml is not a domain's XML.
 */
GArray *ve_backings_parse(const char *xml);
void ve_backings_free(GArray *b);
