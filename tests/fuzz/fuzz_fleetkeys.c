// SPDX-License-Identifier: GPL-2.0-or-later
/*
 * libFuzzer target: the fleet's values as read from etcd (fleet/keys.h):
 * a host's report, a cap, a roster entry and the tree, all from the same
 * input.  What parses must survive a round trip; a refusal leaves the
 * output as it was.
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "keys.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	g_autofree char *text = g_strndup((const char *)data, size);
	struct ve_fleet_report r = { 0 };
	struct ve_fleet_cap c = { 0 };
	struct ve_fleet_tree t = { 0 };
	g_autofree char *node = NULL;
	uint64_t fb = 0;

	if (ve_fleet_report_parse(text, &r, NULL)) {
		g_autofree char *again = ve_fleet_report_to_json(&r);
		struct ve_fleet_report r2 = { 0 };

		if (!ve_fleet_report_parse(again, &r2, NULL) || r2.demand_uw != r.demand_uw)
			abort();
		ve_fleet_report_clear(&r2);
	} else if (r.node) {
		abort();
	}
	ve_fleet_report_clear(&r);
	if (ve_fleet_cap_parse(text, &c, NULL) && !c.cap_uw)
		abort();
	g_free(c.leader);
	ve_fleet_roster_parse(text, &node, &fb, NULL);
	if (ve_fleet_tree_parse(text, &t, NULL)) {
		g_autofree char *again = ve_fleet_tree_to_json(&t);
		struct ve_fleet_tree t2 = { 0 };

		if (ve_fleet_tree_check(t.nodes, t.n, NULL) != 0 || !ve_fleet_tree_parse(again, &t2, NULL) ||
		    t2.n != t.n)
			abort();
		for (size_t i = 0; i < t.n; i++) {
			g_autofree char *p = ve_fleet_tree_path(&t, i);

			if (ve_fleet_tree_find(&t, p) != (int)i)
				abort();
		}
		ve_fleet_tree_clear(&t2);
	} else if (t.n) {
		abort();
	}
	ve_fleet_tree_clear(&t);
	return 0;
}
