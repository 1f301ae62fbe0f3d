/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * conn.h: the libvirt connection, kept alive and followed.
 *
 * libvirt's default event implementation is built on GLib's default main
 * context (libvirt >= 6.3), so once ve_virt_global_init() has registered it,
 * the daemon's GMainLoop dispatches libvirt's domain events and keepalives.
 *
 * The connection reports the running domains through callbacks: a full list
 * after every (re)connect (sync), then changes as libvirt announces them.
 * When the connection is lost (libvirtd restarted, socket closed, keepalive
 * timeout) it says so and reconnects with exponential back-off from 1 s to
 * 30 s; the daemon meanwhile keeps accounting the domains it knows.
 */
#pragma once

#include <glib.h>
#include <libvirt/libvirt.h>
#include <stdbool.h>

struct ve_domain_info {
	char uuid[VIR_UUID_STRING_BUFLEN];
	char name[256];
	int id;
	unsigned int vcpus;
};

struct ve_virt_ops {
	/* after each (re)connect: every running domain; others are not running */
	void (*sync)(void *ud, const struct ve_domain_info *doms, size_t n);
	void (*started)(void *ud, const struct ve_domain_info *dom);
	void (*stopped)(void *ud, const char *uuid, const char *name);
	/*
	 * The domain stopped or was undefined and libvirt has no domain of
	 * that UUID any more (a transient one destroyed, a persistent one
	 * undefined): instead of stopped.  @transient: it went with its stop.
	 * May be NULL: stopped is called.
	 */
	void (*gone)(void *ud, const char *uuid, const char *name, bool transient);
	/* a domain's definition came or went (it may still run: transient domains) */
	void (*defined)(void *ud, const char *uuid, const char *name, bool defined);
	void (*metadata_changed)(void *ud, const char *uuid, const char *name);
	/*
	 * A device was added or removed, a tunable changed (vCPUs, iothreads,
	 * pinning), the guest rebooted: the domain's threads may have changed.
	 * May be NULL.
	 */
	void (*changed)(void *ud, const char *uuid);
	void (*connection)(void *ud, bool up, const char *why);
};

struct ve_virt;

/*
 * Whether libvirt still has a domain @uuid, running or defined: 1, 0, or a
 * negative errno when it cannot say (not connected, another error).
 */
int ve_virt_domain_exists(struct ve_virt *v, const char *uuid);

/* Register libvirt's event loop; once per process, before ve_virt_new(). */
void ve_virt_global_init(void);

/* Connect to @uri from the main loop's next iteration (and keep trying); never NULL. */
struct ve_virt *ve_virt_new(const char *uri, const struct ve_virt_ops *ops, void *ud);
void ve_virt_free(struct ve_virt *v);

/* The live connection or NULL while disconnected (borrowed). */
virConnectPtr ve_virt_conn(struct ve_virt *v);

#define VE_METADATA_NS "http://virtenergy.org/xmlns/energy/1"
#define VE_METADATA_PREFIX "energy"

/*
 * The live virtenergy metadata element of domain @uuid, or NULL when it has
 * none (or on error: @ret_error, when not NULL, then says why, NULL for
 * "has none").  Caller frees both.
 *
 * "Has none" is checked: `virsh metadata --key energy --set` with a
 * document in another default namespace stores it under our key's prefix
 * but in that namespace, and libvirt then reports no element of ours.
 * Such a document is an error ("stored under the energy key but in
 * namespace ..."), not an absence, so that a limit is never lifted by a
 * document the daemon does not read.
 */
char *ve_virt_get_metadata(struct ve_virt *v, const char *uuid, char **ret_error);

/*
 * The orchestrator's identity of domain @uuid (identity.h: Nova's or
 * oVirt's metadata element), into *@ret (caller clears).  FALSE when the
 * domain has none, or cannot be asked.
 */
struct ve_vm_identity;
gboolean ve_virt_get_identity(struct ve_virt *v, const char *uuid, struct ve_vm_identity *ret);

/* Ask for a fresh sync (the daemon does this now and then to heal missed events). */
void ve_virt_resync(struct ve_virt *v);


