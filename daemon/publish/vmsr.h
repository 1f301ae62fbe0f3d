/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * vmsr.h: a unix socket speaking QEMU's qemu-vmsr-helper protocol, so that
 * QEMU (>= 9.0) guests started with -accel kvm,rapl=on,rapl-helper-socket=PATH
 * read virtual RAPL registers backed by virtenergy instead of the host's.
 *
 * Protocol: the client sends three native-endian u32, {msr, cpu, tid}, and
 * gets one native-endian u64, the register's value; then it may ask again.
 * The peer is identified by SO_PEERCRED.  A request is answered only when
 * the lookup callback accepts it: the peer must be the QEMU process of a VM
 * the daemon manages, the MSR one of the four QEMU asks for, the tid a
 * thread of that process.  Anything else (an unknown peer, another MSR, a
 * foreign tid, a short or garbled request) closes that connection and
 * nothing else: other clients and the daemon go on.  At most
 * VE_VMSR_MAX_CLIENTS connections are open at once; more are closed at
 * accept.
 *
 * Runs on GLib's default main context; not thread-safe.
 */
#pragma once

#include <glib.h>
#include <stdint.h>
#include <sys/types.h>

#define VE_VMSR_MAX_CLIENTS 64

/*
 * Answer one request: 0 and the value in *ret, or a negative errno to
 * refuse (the connection is then closed) with a reason in *ret_why.
 */
typedef int (*ve_vmsr_lookup_fn)(void *ud, pid_t peer_pid, uid_t peer_uid, uint32_t msr,
				 uint32_t cpu, pid_t tid, uint64_t *ret, const char **ret_why);

/* Called once per refused request or dropped client, for the daemon's log. */
typedef void (*ve_vmsr_refused_fn)(void *ud, pid_t peer_pid, const char *why);

struct ve_vmsr;

/*
 * Listen on @path (an existing socket file there is replaced; mode 0600).
 * NULL with @error when it cannot be bound.
 */
struct ve_vmsr *ve_vmsr_new(const char *path, ve_vmsr_lookup_fn lookup, ve_vmsr_refused_fn refused,
			    void *ud, GError **error);
void ve_vmsr_free(struct ve_vmsr *s);

/* Connections open now. */
unsigned int ve_vmsr_clients(const struct ve_vmsr *s);

/* The MSRs QEMU's RAPL emulation reads through the helper. */
gboolean ve_vmsr_msr_allowed(uint32_t msr);
