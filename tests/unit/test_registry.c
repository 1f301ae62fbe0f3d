// SPDX-License-Identifier: GPL-2.0-or-later
/*
 * The registry of VMs (daemon/registry.c): one entry per key across the
 * slots, each slot's data freed by its own function, the entry gone with
 * its last slot, walks that clear as they go.
 */
#include "check.h"
#include "registry.h"

static unsigned int freed_a, freed_b;

static void free_a(gpointer p)
{
	freed_a++;
	g_free(p);
}

static void free_b(gpointer p)
{
	freed_b++;
	g_free(p);
}

static void test_slots(void **state)
{
	struct ve_registry *r = ve_registry_new();
	const char *key;

	(void)state;
	freed_a = freed_b = 0;
	ve_registry_set_free(r, VE_REG_ENGINE, free_a);
	ve_registry_set_free(r, VE_REG_LIMITER, free_b);
	check(ve_registry_get(r, "vm1", VE_REG_ENGINE) == NULL, "empty");
	check(ve_registry_set(r, "vm1", VE_REG_ENGINE, NULL) == NULL, "clearing nothing makes nothing");
	key = ve_registry_set(r, "vm1", VE_REG_ENGINE, g_strdup("e1"));
	check(key && strcmp(key, "vm1") == 0, "the entry's key");
	ve_registry_set(r, "vm1", VE_REG_LIMITER, g_strdup("l1"));
	ve_registry_set(r, "vm2", VE_REG_LIMITER, g_strdup("l2"));
	check(strcmp(ve_registry_get(r, "vm1", VE_REG_ENGINE), "e1") == 0, "engine slot");
	check(strcmp(ve_registry_get(r, "vm1", VE_REG_LIMITER), "l1") == 0, "limiter slot");
	check(ve_registry_get(r, "vm2", VE_REG_ENGINE) == NULL, "vm2 has no engine slot");
	check(ve_registry_get(r, NULL, VE_REG_ENGINE) == NULL, "a NULL key has nothing");
	check_u64(ve_registry_count(r, VE_REG_ENGINE), 1, "one engine entry");
	check_u64(ve_registry_count(r, VE_REG_LIMITER), 2, "two limiter entries");

	/* replacing frees the old data with the slot's function */
	ve_registry_set(r, "vm1", VE_REG_LIMITER, g_strdup("l1b"));
	check_u64(freed_b, 1, "old limiter data freed");
	check_u64(ve_registry_count(r, VE_REG_LIMITER), 2, "still two");

	/* the entry lives while a slot holds something */
	ve_registry_set(r, "vm1", VE_REG_ENGINE, NULL);
	check_u64(freed_a, 1, "engine data freed");
	check(strcmp(ve_registry_get(r, "vm1", VE_REG_LIMITER), "l1b") == 0, "vm1 kept for its limiter");
	{
		char *s = ve_registry_steal(r, "vm1", VE_REG_LIMITER);

		check(s && strcmp(s, "l1b") == 0 && freed_b == 1, "stolen, not freed");
		g_free(s);
	}
	check(ve_registry_get(r, "vm1", VE_REG_LIMITER) == NULL, "vm1 gone with its last slot");
	check(ve_registry_steal(r, "vm1", VE_REG_LIMITER) == NULL, "nothing left to steal");
	check_u64(ve_registry_count(r, VE_REG_LIMITER), 1, "vm2 only");

	/* free frees every slot */
	ve_registry_set(r, "vm3", VE_REG_ENGINE, g_strdup("e3"));
	ve_registry_free(r);
	check_u64(freed_a, 2, "e3 freed at the end");
	check_u64(freed_b, 2, "l2 freed at the end");
}

static void test_walk(void **state)
{
	struct ve_registry *r = ve_registry_new();
	struct ve_registry_iter it;
	const char *k;
	void *v;
	unsigned int seen = 0;

	(void)state;
	freed_a = 0;
	ve_registry_set_free(r, VE_REG_LIMITER, free_a);
	for (unsigned int i = 0; i < 10; i++) {
		g_autofree char *key = g_strdup_printf("vm%u", i);

		ve_registry_set(r, key, VE_REG_LIMITER, g_strdup_printf("%u", i));
		if (i % 2)
			ve_registry_set(r, key, VE_REG_ENGINE, g_strdup("e"));
	}
	ve_registry_set(r, "engine-only", VE_REG_ENGINE, g_strdup("e"));
	/* walk the limiter slot, clearing the even ones */
	ve_registry_iter_init(&it, r, VE_REG_LIMITER);
	while (ve_registry_iter_next(&it, &k, &v)) {
		unsigned int i = (unsigned int)atoi(v);

		check(strcmp(k + 2, v) == 0, "key %s with its data %s", k, (char *)v);
		seen++;
		if (i % 2 == 0)
			ve_registry_iter_clear(&it);
	}
	check_u64(seen, 10, "every limiter entry, not the engine-only one");
	check_u64(freed_a, 5, "five cleared");
	check_u64(ve_registry_count(r, VE_REG_LIMITER), 5, "five left");
	check(ve_registry_get(r, "vm0", VE_REG_ENGINE) == NULL &&
	      ve_registry_get(r, "vm1", VE_REG_ENGINE) != NULL, "entries with other slots stay");
	ve_registry_clear_slot(r, VE_REG_LIMITER);
	check_u64(freed_a, 10, "all cleared");
	check_u64(ve_registry_count(r, VE_REG_LIMITER), 0, "none left");
	check_u64(ve_registry_count(r, VE_REG_ENGINE), 6, "the engine's six kept");
	ve_registry_free(r);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_slots),
		cmocka_unit_test(test_walk),
	};

	return cmocka_run_group_tests_name("registry", tests, NULL, NULL);
}
