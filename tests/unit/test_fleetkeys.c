// SPDX-License-Identifier: GPL-2.0-or-later
/*
 * The fleet's values in etcd (daemon/fleet/keys.h): a host's report, a cap,
 * the tree; what does not parse is refused whole, with the reason, and the
 * output is left as it was.
 */
#include <math.h>
#include <string.h>

#include "check.h"
#include "keys.h"

static void test_report(void **state)
{
	struct ve_fleet_report r = { .node = g_strdup("feed/rack"), .demand_uw = 44000000, .floor_uw = 1,
				     .power_uw = 40000000, .weight = 100, .cap_uw = 40000000,
				     .source = VE_FLEET_SOURCE_FLEET, .fallback_uw = 5, .cap_rev = 77 };
	struct ve_fleet_report back = { 0 };
	g_autofree char *json = ve_fleet_report_to_json(&r);
	static const char *const bad[] = {
		"garbage", "[]", "{}", "{\"node\": 5}",
		"{\"node\":\"a\",\"demand_uw\":-1,\"guarantee_uw\":0,\"floor_uw\":0,\"power_uw\":0,\"weight\":1,"
		"\"cap_uw\":0,\"source\":\"fleet\",\"fallback_uw\":0,\"cap_rev\":0}",
		"{\"node\":\"a\",\"demand_uw\":1.5,\"guarantee_uw\":0,\"floor_uw\":0,\"power_uw\":0,\"weight\":1,"
		"\"cap_uw\":0,\"source\":\"fleet\",\"fallback_uw\":0,\"cap_rev\":0}",
		"{\"node\":\"a\",\"demand_uw\":1,\"guarantee_uw\":0,\"floor_uw\":0,\"power_uw\":0,\"weight\":0,"
		"\"cap_uw\":0,\"source\":\"fleet\",\"fallback_uw\":0,\"cap_rev\":0}",
		"{\"node\":\"a\",\"demand_uw\":1,\"guarantee_uw\":0,\"floor_uw\":0,\"power_uw\":0,\"weight\":1,"
		"\"cap_uw\":0,\"source\":\"magic\",\"fallback_uw\":0,\"cap_rev\":0}",
	};

	(void)state;
	check(ve_fleet_report_parse(json, &back, NULL), "its own report parses: %s", json);
	check(strcmp(back.node, "feed/rack") == 0 && back.demand_uw == 44000000 && back.cap_rev == 77 &&
	      back.source == VE_FLEET_SOURCE_FLEET, "and reads back");
	for (size_t i = 0; i < ARRAY_SIZE(bad); i++) {
		g_autoptr(GError) err = NULL;

		check(!ve_fleet_report_parse(bad[i], &back, &err), "refused: %s", bad[i]);
		check(err && strstr(err->message, "report"), "says it is the report: %s", err ? err->message : "");
		check(strcmp(back.node, "feed/rack") == 0, "leaves the output alone");
	}
	ve_fleet_report_clear(&back);
	ve_fleet_report_clear(&r);
}

static void test_tree(void **state)
{
	struct ve_fleet_tree t = { 0 };
	g_autoptr(GError) err = NULL;
	g_autofree char *json = NULL;
	static const struct {
		const char *text, *says;
	} bad[] = {
		{ "{\"a\": {\"parent\": \"b\", \"budget_w\": 1}, \"b\": {\"parent\": \"a\", \"budget_w\": 1}}", "cycle" },
		{ "{\"a\": {\"parent\": \"z\", \"budget_w\": 1}}", "not in the tree" },
		{ "{\"a\": {\"budget_w\": -1}}", "from 0" },
		{ "{\"a\": {\"budget_w\": \"10\"}}", "number" },
		{ "{\"a b\": {\"budget_w\": 1}}", "name" },
		{ "{\"a\": 3}", "not an object" },
		{ "nope", "not JSON" },
	};

	(void)state;
	check(ve_fleet_tree_parse("{\"feed\": {\"budget_w\": 220}, \"rack\": {\"parent\": \"feed\", \"budget_w\": 200.5}}",
				  &t, &err), "a feed and a rack");
	check(ve_fleet_tree_find(&t, "feed/rack") == 1 && ve_fleet_tree_find(&t, "rack") == -1 &&
	      ve_fleet_tree_find(&t, "feed/rack/x") == -1, "found by their full path only");
	check_u64(t.nodes[1].budget_uw, 200500000, "budget in µW");
	check(!ve_fleet_tree_set_budget(&t, "feed/rack", NAN, NULL), "NaN refused");
	check(!ve_fleet_tree_set_budget(&t, "feed/rack", -3, NULL), "negative refused");
	check(!ve_fleet_tree_set_budget(&t, "feed/nope", 3, NULL), "unknown path refused");
	check_u64(t.nodes[1].budget_uw, 200500000, "unchanged by the refusals");
	check(ve_fleet_tree_set_budget(&t, "feed/rack", 150, NULL), "set");
	json = ve_fleet_tree_to_json(&t);
	ve_fleet_tree_clear(&t);
	check(ve_fleet_tree_parse(json, &t, NULL) && t.nodes[ve_fleet_tree_find(&t, "feed/rack")].budget_uw == 150000000,
	      "written and read back: %s", json);
	for (size_t i = 0; i < ARRAY_SIZE(bad); i++) {
		g_autoptr(GError) e = NULL;

		check(!ve_fleet_tree_parse(bad[i].text, &t, &e), "refused: %s", bad[i].text);
		check(strstr(e->message, bad[i].says), "'%s' says '%s'", e->message, bad[i].says);
		check(t.n == 2, "the tree held is left as it was");
	}
	ve_fleet_tree_clear(&t);
}

static void test_cap(void **state)
{
	struct ve_fleet_cap c = { .cap_uw = 5, .fallback_uw = 3, .leader = (char *)"h1", .read_rev = 9 };
	struct ve_fleet_cap back = { 0 };
	g_autofree char *json = ve_fleet_cap_to_json(&c);

	(void)state;
	check(ve_fleet_cap_parse(json, &back, NULL) && back.cap_uw == 5 && back.read_rev == 9, "round trip");
	check(!ve_fleet_cap_parse("{\"cap_uw\":0,\"fallback_uw\":0,\"leader\":\"x\",\"read_rev\":1}", &back, NULL),
	      "a cap of 0 is refused");
	g_free(back.leader);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_report),
		cmocka_unit_test(test_tree),
		cmocka_unit_test(test_cap),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
