/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * account.h: who energy is charged to.
 *
 * Every sampled thread and every block I/O request belongs to exactly one
 * account: the host, a VM, or a shared service (a process serving several
 * VMs, whose energy is passed on to its clients by redist.h).  Accounts live
 * in a table of slots.  The daemon keeps a VM's slot for the life of the VM
 * definition, so its ledger (ledger.h) continues across stop and start; a
 * slot that is not active receives nothing and may not be named by samples.
 *
 * Slot 0 is always the host.  It also receives, with a reason, every share
 * of energy that cannot be charged to a VM (enum ve_reason).
 *
 * Ownership: a table owns its slots; ve_account_table_free() accepts NULL.
 * Not thread-safe: one owner at a time.
 */
#pragma once

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define VE_ACCOUNT_HOST 0u

enum ve_account_kind {
	VE_KIND_HOST,
	VE_KIND_VM,
	VE_KIND_SERVICE,
	VE_KIND__MAX,
};

/*
 * Components of an account's energy.  Samples may name VCPU, EMULATOR, IO,
 * DISK and CPU; IDLE (static power, split by enum ve_idle_policy) and SERVICE
 * (energy passed on by services) are derived and never sampled.
 */
enum ve_component {
	VE_COMP_VCPU,     /* a VM's vCPU threads */
	VE_COMP_EMULATOR, /* QEMU main loop and other emulator threads */
	VE_COMP_IO,       /* iothreads and vhost workers */
	VE_COMP_DISK,     /* dynamic disk energy of the account's requests */
	VE_COMP_IDLE,     /* the account's share of static power */
	VE_COMP_SERVICE,  /* energy that services spent on the account's behalf */
	VE_COMP_CPU,      /* CPU of host processes and of service processes */
	VE_COMP__MAX,
};

/*
 * Why energy that is not the host's own work (its components) ended up on
 * the host account: energy that could not reach a VM.
 */
enum ve_reason {
	VE_REASON_IDLE_POLICY_NONE,   /* static power, policy "none" */
	VE_REASON_IDLE_NO_TAKER,      /* static power, no VM eligible under the policy */
	VE_REASON_UNATTRIBUTED,       /* measured activity that no sample explains */
	VE_REASON_SERVICE_FOR_HOST,   /* services' work done for the host */
	VE_REASON_SERVICE_NO_CLIENTS, /* a service that reported no work for anyone */
	VE_REASON_SERVICE_CYCLE,      /* services that only serve each other */
	VE_REASON__MAX,
};

struct ve_account {
	enum ve_account_kind kind;
	bool active;      /* false: a stopped VM or a retired slot */
	uint32_t vcpus;   /* reserved vCPUs (VMs; weight of the "vcpus" policy) */
};

struct ve_account_table {
	size_t n;         /* slots in use, including inactive ones */
	size_t cap;
	struct ve_account *slot;
};

/* Names used in the state file, Prometheus labels and logs. */
const char *ve_component_name(enum ve_component c);
const char *ve_reason_name(enum ve_reason r);
const char *ve_account_kind_name(enum ve_account_kind k);

/* 0 and the component in *ret_c, or -EINVAL for an unknown name. */
int ve_component_from_name(const char *name, enum ve_component *ret_c);

/*
 * Create a table holding the host in slot 0.
 * Returns NULL only when out of memory.
 */
struct ve_account_table *ve_account_table_new(void);
void ve_account_table_free(struct ve_account_table *t);

/*
 * Append an active account.  Returns 0 and its slot in *ret_slot, -EINVAL
 * for a second host or an unknown kind, -ENOMEM.  The table is unchanged on
 * failure.
 */
int ve_account_add(struct ve_account_table *t, enum ve_account_kind kind, uint32_t vcpus,
		   uint32_t *ret_slot);

/* 0, or -ENOENT if the slot does not exist. Deactivating the host is -EINVAL. */
int ve_account_set_active(struct ve_account_table *t, uint32_t slot, bool active);

/* true when slot exists and is active. */
bool ve_account_is_active(const struct ve_account_table *t, uint32_t slot);
