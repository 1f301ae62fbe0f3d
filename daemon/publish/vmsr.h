/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * vmsr.h: a unix socket speaking QEMU's qemu-vmsr-helper protocol, so that
 * QEMU (>= 9.0) guests started with -accel kvm,rapl=on,rapl-helper-socket=PATH
 * read virtual RAPL registers backed by virtenergy instead of the host's.
 *
 * Protocol: the client sends three native-endian u32, {msr, cpu, tid}, and
 * gets one native-endian u64, the register's value; then it may ask again.
 * The peer is identified by SO_PEERCRED, at accept: a peer the admit
 * callback refuses (not the QEMU process of a VM the daemon manages) is
 * closed before it can hold a slot.  A request is answered only when the
 * lookup callback accepts it: the MSR one of the four QEMU asks for, the
 * tid a thread of the peer.  Anything else (another MSR, a foreign tid, a
 * short or garbled request) closes that connection and nothing else: other
 * clients and the daemon go on.  A request left half-sent for
 * VE_VMSR_PARTIAL_TIMEOUT_MS, or a connection idle for
 * VE_VMSR_IDLE_TIMEOUT_MS (QEMU asks every second), is closed.  One peer
 * holds at most VE_VMSR_MAX_PER_PEER connections (QEMU keeps one), all
 * peers together VE_VMSR_MAX_CLIENTS.
 *
 * Runs on GLib's default main context; not thread-safe.
 */
#pragma once

#include <glib.h>
#include <stdint.h>
#include <sys/types.h>

#define VE_VMSR_MAX_CLIENTS 4096
#define VE_VMSR_MAX_PER_PEER 4
#define VE_VMSR_IDLE_TIMEOUT_MS 30000
#define VE_VMSR_PARTIAL_TIMEOUT_MS 2000

/*
 * At accept: 0 to let the peer in, or a negative errno with a reason in
 * *ret_why; NULL admits everyone (the lookup still checks each request).
 */
typedef int (*ve_vmsr_admit_fn)(void *ud, pid_t peer_pid, uid_t peer_uid, const char **ret_why);

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
 * Listen on @path (an existing socket file there is replaced).  Mode 0600,
 * or 0660 with group @gid when @gid is not (gid_t)-1: libvirt runs QEMU as
 * an unprivileged user (libvirt-qemu on Debian), which must be able to
 * connect; who it is, is then checked by SO_PEERCRED.  NULL with @error
 * when it cannot be bound or given to the group.
 */
struct ve_vmsr *ve_vmsr_new(const char *path, gid_t gid, ve_vmsr_admit_fn admit,
			    ve_vmsr_lookup_fn lookup, ve_vmsr_refused_fn refused, void *ud,
			    GError **error);

/* For tests: other timeouts than the defaults above (milliseconds). */
void ve_vmsr_set_timeouts(struct ve_vmsr *s, unsigned int idle_ms, unsigned int partial_ms);
void ve_vmsr_free(struct ve_vmsr *s);

/* Connections open now. */
unsigned int ve_vmsr_clients(const struct ve_vmsr *s);

/* The MSRs QEMU's RAPL emulation reads through the helper. */
gboolean ve_vmsr_msr_allowed(uint32_t msr);
