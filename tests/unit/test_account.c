// SPDX-License-Identifier: GPL-2.0-or-later
/* The account table and the names used in files and labels. */
#include <errno.h>
#include <string.h>

#include "account.h"
#include "check.h"

static void test_table(void **state)
{
	struct ve_account_table *t = ve_account_table_new();
	uint32_t slot = 99;

	(void)state;
	check(t != NULL, "table allocation");
	check_u64(t->n, 1, "new table holds the host");
	check(t->slot[VE_ACCOUNT_HOST].kind == VE_KIND_HOST && ve_account_is_active(t, 0),
	      "slot 0 is an active host");
	check(ve_account_add(t, VE_KIND_HOST, 0, &slot) == -EINVAL, "a second host is refused");
	check(ve_account_add(t, (enum ve_account_kind)7, 0, &slot) == -EINVAL,
	      "an unknown kind is refused");
	check_u64(slot, 99, "slot untouched on failure");
	check_u64(t->n, 1, "table unchanged on failure");

	/* grow past the initial capacity */
	for (uint32_t i = 1; i <= 40; i++) {
		check(ve_account_add(t, i % 2 ? VE_KIND_VM : VE_KIND_SERVICE, i, &slot) == 0,
		      "add %u", i);
		check_u64(slot, i, "slots are handed out in order");
	}
	check_u64(t->slot[33].vcpus, 33, "vcpus kept");
	check(t->slot[33].kind == VE_KIND_VM, "kind kept");

	check(ve_account_set_active(t, 5, false) == 0, "deactivate");
	check(!ve_account_is_active(t, 5), "slot 5 inactive");
	check(ve_account_set_active(t, 5, true) == 0 && ve_account_is_active(t, 5), "reactivate");
	check(ve_account_set_active(t, 41, false) == -ENOENT, "unknown slot");
	check(ve_account_set_active(t, 0, false) == -EINVAL, "the host stays active");
	check(!ve_account_is_active(t, 41) && !ve_account_is_active(t, UINT32_MAX),
	      "out of range is inactive");
	ve_account_table_free(t);
	ve_account_table_free(NULL);
}

static void test_names(void **state)
{
	enum ve_component c = VE_COMP__MAX;

	(void)state;
	for (int i = 0; i < VE_COMP__MAX; i++) {
		const char *n = ve_component_name((enum ve_component)i);

		check(n != NULL, "component %d has a name", i);
		check(ve_component_from_name(n, &c) == 0 && c == (enum ve_component)i,
		      "component %s round-trips", n);
	}
	for (int i = 0; i < VE_REASON__MAX; i++)
		check(ve_reason_name((enum ve_reason)i) != NULL, "reason %d has a name", i);
	check(strcmp(ve_account_kind_name(VE_KIND_VM), "vm") == 0, "kind name");
	check(ve_component_name(VE_COMP__MAX) == NULL, "out of range component");
	check(ve_reason_name(VE_REASON__MAX) == NULL, "out of range reason");
	c = VE_COMP_IO;
	check(ve_component_from_name("vcpus", &c) == -EINVAL && c == VE_COMP_IO,
	      "unknown component name refused, output untouched");
	check(ve_component_from_name(NULL, &c) == -EINVAL, "NULL name refused");
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_table),
		cmocka_unit_test(test_names),
	};

	return cmocka_run_group_tests_name("account", tests, NULL, NULL);
}
