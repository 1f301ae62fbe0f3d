// SPDX-License-Identifier: GPL-2.0-or-later
/*
 * account.c: the account table.  Slots are never reused by this code: a VM
 * keeps its slot (and thereby its ledger entry) until the daemon decides it
 * is gone for good.
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "account.h"

static const char *const comp_names[VE_COMP__MAX] = {
	[VE_COMP_VCPU] = "vcpu",
	[VE_COMP_EMULATOR] = "emulator",
	[VE_COMP_IO] = "io",
	[VE_COMP_DISK] = "disk",
	[VE_COMP_IDLE] = "idle",
	[VE_COMP_SERVICE] = "service",
	[VE_COMP_CPU] = "cpu",
};

static const char *const reason_names[VE_REASON__MAX] = {
	[VE_REASON_IDLE_POLICY_NONE] = "idle-policy-none",
	[VE_REASON_IDLE_NO_TAKER] = "idle-no-taker",
	[VE_REASON_UNATTRIBUTED] = "unattributed",
	[VE_REASON_SERVICE_FOR_HOST] = "service-for-host",
	[VE_REASON_SERVICE_NO_CLIENTS] = "service-no-clients",
	[VE_REASON_SERVICE_CYCLE] = "service-cycle",
};

static const char *const kind_names[VE_KIND__MAX] = {
	[VE_KIND_HOST] = "host",
	[VE_KIND_VM] = "vm",
	[VE_KIND_SERVICE] = "service",
};

const char *ve_component_name(enum ve_component c)
{
	return (unsigned int)c < VE_COMP__MAX ? comp_names[c] : NULL;
}

const char *ve_reason_name(enum ve_reason r)
{
	return (unsigned int)r < VE_REASON__MAX ? reason_names[r] : NULL;
}

const char *ve_account_kind_name(enum ve_account_kind k)
{
	return (unsigned int)k < VE_KIND__MAX ? kind_names[k] : NULL;
}

int ve_component_from_name(const char *name, enum ve_component *ret_c)
{
	if (!name)
		return -EINVAL;
	for (unsigned int i = 0; i < VE_COMP__MAX; i++) {
		if (strcmp(name, comp_names[i]) == 0) {
			*ret_c = (enum ve_component)i;
			return 0;
		}
	}
	return -EINVAL;
}

struct ve_account_table *ve_account_table_new(void)
{
	struct ve_account_table *t = calloc(1, sizeof(*t));

	if (!t)
		return NULL;
	t->cap = 16;
	t->slot = calloc(t->cap, sizeof(*t->slot));
	if (!t->slot) {
		free(t);
		return NULL;
	}
	t->slot[VE_ACCOUNT_HOST] = (struct ve_account){ .kind = VE_KIND_HOST, .active = true };
	t->n = 1;
	return t;
}

void ve_account_table_free(struct ve_account_table *t)
{
	if (!t)
		return;
	free(t->slot);
	free(t);
}

int ve_account_add(struct ve_account_table *t, enum ve_account_kind kind, uint32_t vcpus,
		   uint32_t *ret_slot)
{
	if (kind != VE_KIND_VM && kind != VE_KIND_SERVICE)
		return -EINVAL;
	if (t->n >= UINT32_MAX)
		return -ENOMEM;
	if (t->n == t->cap) {
		size_t cap = t->cap * 2;
		struct ve_account *s = realloc(t->slot, cap * sizeof(*s));

		if (!s)
			return -ENOMEM;
		t->slot = s;
		t->cap = cap;
	}
	t->slot[t->n] = (struct ve_account){ .kind = kind, .active = true, .vcpus = vcpus };
	*ret_slot = (uint32_t)t->n++;
	return 0;
}

int ve_account_set_active(struct ve_account_table *t, uint32_t slot, bool active)
{
	if (slot >= t->n)
		return -ENOENT;
	if (slot == VE_ACCOUNT_HOST && !active)
		return -EINVAL;
	t->slot[slot].active = active;
	return 0;
}

bool ve_account_is_active(const struct ve_account_table *t, uint32_t slot)
{
	return slot < t->n && t->slot[slot].active;
}
