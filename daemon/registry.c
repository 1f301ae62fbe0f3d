// SPDX-License-Identifier: GPL-2.0-or-later
/*
 * registry.c: every VM the daemon knows, once (see registry.h).
 */
#include "registry.h"

struct entry {
	char *key;
	void *data[VE_REG__MAX];
	unsigned int used;           /* slots holding data */
};

struct ve_registry {
	GHashTable *by_key;          /* key (the entry's) -> struct entry */
	GDestroyNotify free_fn[VE_REG__MAX];
	size_t count[VE_REG__MAX];
};

static void slot_free(struct ve_registry *r, struct entry *e, enum ve_reg_slot slot)
{
	if (!e->data[slot])
		return;
	r->free_fn[slot](e->data[slot]);
	e->data[slot] = NULL;
	e->used--;
	r->count[slot]--;
}

static void entry_free(gpointer p)
{
	struct entry *e = p;

	g_free(e->key);
	g_free(e);
}

struct ve_registry *ve_registry_new(void)
{
	struct ve_registry *r = g_new0(struct ve_registry, 1);

	r->by_key = g_hash_table_new_full(g_str_hash, g_str_equal, NULL, entry_free);
	for (size_t i = 0; i < VE_REG__MAX; i++)
		r->free_fn[i] = g_free;
	return r;
}

void ve_registry_free(struct ve_registry *r)
{
	GHashTableIter it;
	gpointer v;

	if (!r)
		return;
	g_hash_table_iter_init(&it, r->by_key);
	while (g_hash_table_iter_next(&it, NULL, &v))
		for (size_t i = 0; i < VE_REG__MAX; i++)
			slot_free(r, v, (enum ve_reg_slot)i);
	g_hash_table_destroy(r->by_key);
	g_free(r);
}

void ve_registry_set_free(struct ve_registry *r, enum ve_reg_slot slot, GDestroyNotify fn)
{
	r->free_fn[slot] = fn ? fn : g_free;
}

void *ve_registry_get(struct ve_registry *r, const char *key, enum ve_reg_slot slot)
{
	struct entry *e = key ? g_hash_table_lookup(r->by_key, key) : NULL;

	return e ? e->data[slot] : NULL;
}

/* The entry goes once no slot holds anything. */
static void drop_if_empty(struct ve_registry *r, struct entry *e)
{
	if (!e->used)
		g_hash_table_remove(r->by_key, e->key);   /* frees e */
}

const char *ve_registry_set(struct ve_registry *r, const char *key, enum ve_reg_slot slot,
			    void *data)
{
	struct entry *e = g_hash_table_lookup(r->by_key, key);

	if (!e) {
		if (!data)
			return NULL;
		e = g_new0(struct entry, 1);
		e->key = g_strdup(key);
		g_hash_table_insert(r->by_key, e->key, e);
	}
	if (e->data[slot] == data)
		return e->key;
	slot_free(r, e, slot);
	if (data) {
		e->data[slot] = data;
		e->used++;
		r->count[slot]++;
		return e->key;
	}
	drop_if_empty(r, e);
	return NULL;
}

void *ve_registry_steal(struct ve_registry *r, const char *key, enum ve_reg_slot slot)
{
	struct entry *e = g_hash_table_lookup(r->by_key, key);
	void *data;

	if (!e || !e->data[slot])
		return NULL;
	data = e->data[slot];
	e->data[slot] = NULL;
	e->used--;
	r->count[slot]--;
	drop_if_empty(r, e);
	return data;
}

size_t ve_registry_count(const struct ve_registry *r, enum ve_reg_slot slot)
{
	return r->count[slot];
}

void ve_registry_clear_slot(struct ve_registry *r, enum ve_reg_slot slot)
{
	GHashTableIter it;
	gpointer v;

	g_hash_table_iter_init(&it, r->by_key);
	while (g_hash_table_iter_next(&it, NULL, &v)) {
		struct entry *e = v;

		slot_free(r, e, slot);
		if (!e->used)
			g_hash_table_iter_remove(&it);
	}
}

void ve_registry_iter_init(struct ve_registry_iter *it, struct ve_registry *r, enum ve_reg_slot slot)
{
	it->r = r;
	it->slot = slot;
	it->cur = NULL;
	g_hash_table_iter_init(&it->it, r->by_key);
}

gboolean ve_registry_iter_next(struct ve_registry_iter *it, const char **ret_key, void **ret_data)
{
	gpointer v;

	while (g_hash_table_iter_next(&it->it, NULL, &v)) {
		struct entry *e = v;

		if (!e->data[it->slot])
			continue;
		it->cur = e;
		if (ret_key)
			*ret_key = e->key;
		if (ret_data)
			*ret_data = e->data[it->slot];
		return TRUE;
	}
	it->cur = NULL;
	return FALSE;
}

void ve_registry_iter_clear(struct ve_registry_iter *it)
{
	struct entry *e = it->cur;

	if (!e)
		return;
	slot_free(it->r, e, it->slot);
	if (!e->used)
		g_hash_table_iter_remove(&it->it);
	it->cur = NULL;
}
