/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * registry.h: every VM the daemon knows, once, by its key (the libvirt
 * UUID; in guest mode the cgroup's name).
 *
 * Each part of the daemon keeps its per-VM state in the VM's entry, in a
 * slot of its own, instead of in a table of its own: the engine (the
 * account, the threads, the power), the limiter (the limits and the
 * controller), the daemon (the last metadata error it reported, the VM's
 * orchestrator identity).  One
 * lookup finds all of them, and a VM that leaves leaves every part at once.
 * The actuators' durable records (held.h) stay keyed on disk by the same
 * key: they must be read back at start, before any VM is known.
 *
 * An entry lives while any slot holds something: clearing its last slot
 * removes it.  Each slot has its own free function.  The engine makes the
 * registry (ve_engine_registry()); the others borrow it.  Not thread-safe:
 * the main loop owns it.
 */
#pragma once

#include <glib.h>
#include <stddef.h>

enum ve_reg_slot {
	VE_REG_ENGINE,      /* engine_int.h: struct vm */
	VE_REG_LIMITER,     /* limiter.c: struct limited */
	VE_REG_DAEMON,      /* virtenergyd: char *, the last metadata error reported */
	VE_REG_IDENTITY,    /* virtenergyd: struct ve_vm_identity (identity.h) */
	VE_REG_BACKING,     /* virtenergyd-services.c: its disks served by a shared service */
	VE_REG__MAX,
};

struct ve_registry;

struct ve_registry *ve_registry_new(void);
/* Frees every slot's data with its free function, then the entries. */
void ve_registry_free(struct ve_registry *r);

/* How @slot's data is freed (g_free when not set). */
void ve_registry_set_free(struct ve_registry *r, enum ve_reg_slot slot, GDestroyNotify fn);

/* @key's data in @slot, NULL when it has none (or no entry). */
void *ve_registry_get(struct ve_registry *r, const char *key, enum ve_reg_slot slot);

/*
 * Put @data in @key's @slot, making the entry when new; what the slot held
 * is freed.  NULL @data clears the slot (and the entry with its last slot).
 * Returns the entry's copy of @key, valid while the entry lives.
 */
const char *ve_registry_set(struct ve_registry *r, const char *key, enum ve_reg_slot slot,
			    void *data);

/* Take @key's @slot data out without freeing it (NULL when none). */
void *ve_registry_steal(struct ve_registry *r, const char *key, enum ve_reg_slot slot);

/* Entries with data in @slot. */
size_t ve_registry_count(const struct ve_registry *r, enum ve_reg_slot slot);

/* Clear @slot in every entry (freeing the data). */
void ve_registry_clear_slot(struct ve_registry *r, enum ve_reg_slot slot);

/*
 * Walk the entries with data in @slot.  The walk may clear the current
 * entry's slot (ve_registry_iter_clear), nothing else.
 */
struct ve_registry_iter {
	struct ve_registry *r;
	enum ve_reg_slot slot;
	GHashTableIter it;
	void *cur;
};

void ve_registry_iter_init(struct ve_registry_iter *it, struct ve_registry *r, enum ve_reg_slot slot);
gboolean ve_registry_iter_next(struct ve_registry_iter *it, const char **ret_key, void **ret_data);
/* Clear the current entry's slot (its data freed; the entry goes with its last slot). */
void ve_registry_iter_clear(struct ve_registry_iter *it);
