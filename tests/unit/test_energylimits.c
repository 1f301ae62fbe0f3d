// SPDX-License-Identifier: GPL-2.0-or-later
/* The energy metadata element: every element and unit, and every refusal. */
#include <string.h>

#include "check.h"
#include "energylimits.h"

#define NS "xmlns=\"http://virtenergy.org/xmlns/energy/1\""

static void test_good(void **state)
{
	static const struct {
		const char *xml;
		uint64_t limit, guarantee, disk, budget, window;
		uint32_t weight;
	} cases[] = {
		{ "<energy " NS "><power-limit>40 W</power-limit></energy>", 40000000, 0, 0, 0, 0, 100 },
		{ "<energy " NS "><power-limit> 1.5kW </power-limit></energy>", 1500000000, 0, 0, 0, 0, 100 },
		{ "<energy " NS "><power-limit>250mW</power-limit></energy>", 250000, 0, 0, 0, 0, 100 },
		/* what libvirt hands back for --key energy */
		{ "<energy:energy xmlns:energy=\"http://virtenergy.org/xmlns/energy/1\">"
		  "<energy:power-limit>40W</energy:power-limit><energy:weight>200</energy:weight>"
		  "</energy:energy>", 40000000, 0, 0, 0, 0, 200 },
		{ "<energy " NS ">\n  <power-limit>60 W</power-limit>\n  <guarantee>10 W</guarantee>\n"
		  "  <weight>300</weight>\n  <disk-power-limit>3 W</disk-power-limit>\n"
		  "  <budget window=\"day\">1.2 kWh</budget>\n</energy>",
		  60000000, 10000000, 3000000, 4320000000000ull, 86400, 300 },
		{ "<energy " NS "><budget window=\"hour\">3600 J</budget></energy>", 0, 0, 0, 3600000000ull, 3600, 100 },
		{ "<energy " NS "><budget window=\"week\">2 kJ</budget></energy>", 0, 0, 0, 2000000000ull, 604800, 100 },
		{ "<energy " NS "><budget window=\"day\">5 Wh</budget></energy>", 0, 0, 0, 18000000000ull, 86400, 100 },
		{ "<energy " NS "/>", 0, 0, 0, 0, 0, 100 },
		/* exactly what virDomainGetMetadata returns */
		{ "<energy>\n  <power-limit>40 W</power-limit>\n</energy>", 40000000, 0, 0, 0, 0, 100 },
	};

	(void)state;
	for (size_t i = 0; i < ARRAY_SIZE(cases); i++) {
		struct ve_limits l;
		g_autoptr(GError) err = NULL;

		check(ve_limits_parse(cases[i].xml, &l, &err), "case %zu: %s", i, err ? err->message : "");
		check_u64(l.power_limit_uw, cases[i].limit, cases[i].xml);
		check_u64(l.guarantee_uw, cases[i].guarantee, cases[i].xml);
		check_u64(l.disk_power_limit_uw, cases[i].disk, cases[i].xml);
		check_u64(l.budget_uj, cases[i].budget, cases[i].xml);
		check_u64(l.budget_window_s, cases[i].window, cases[i].xml);
		check_u64(l.weight, cases[i].weight, cases[i].xml);
	}
}

static void test_bad(void **state)
{
	static const struct {
		const char *xml;
		const char *says;
	} cases[] = {
		{ "<energy " NS "><power-limit>40 J</power-limit></energy>", "unit" },
		{ "<energy " NS "><power-limit>40</power-limit></energy>", "no unit" },
		{ "<energy " NS "><power-limit>40 w</power-limit></energy>", "unit" },
		{ "<energy " NS "><power-limit>40 W x</power-limit></energy>", "unit" },
		{ "<energy " NS "><power-limit>-5 W</power-limit></energy>", "range" },
		{ "<energy " NS "><power-limit>0 W</power-limit></energy>", "range" },
		{ "<energy " NS "><power-limit>200 kW</power-limit></energy>", "range" },
		{ "<energy " NS "><power-limit>nan W</power-limit></energy>", "power-limit" },
		{ "<energy " NS "><power-limit>1e400 W</power-limit></energy>", "power-limit" },
		{ "<energy " NS "><power-limit>0x28 W</power-limit></energy>", "decimal" },
		{ "<energy " NS "><power-limit>0x1p5 W</power-limit></energy>", "decimal" },
		{ "<energy " NS "><guarantee>0x10 W</guarantee></energy>", "decimal" },
		{ "<energy " NS "><budget window=\"day\">0x10 kWh</budget></energy>", "decimal" },
		{ "<energy " NS "><power-limit>1e-300 W</power-limit></energy>", "rounds to 0" },
		{ "<energy " NS "><power-limit>40 W</power-limit><power-limit>50 W</power-limit></energy>",
		  "more than once" },
		{ "<energy " NS "><power-limt>40 W</power-limt></energy>", "unknown element <power-limt>" },
		{ "<energy " NS "><power-limit unit=\"W\">40</power-limit></energy>", "unknown attribute" },
		{ "<energy " NS "><weight>0</weight></energy>", "weight" },
		{ "<energy " NS "><weight>20000</weight></energy>", "weight" },
		{ "<energy " NS "><weight>1.5</weight></energy>", "weight" },
		{ "<energy " NS "><guarantee>50 W</guarantee><power-limit>40 W</power-limit></energy>",
		  "above" },
		{ "<energy " NS "><budget>1 kWh</budget></energy>", "window" },
		{ "<energy " NS "><budget window=\"month\">1 kWh</budget></energy>", "month" },
		{ "<energy " NS "><budget window=\"day\">1 kW</budget></energy>", "unit" },
		{ "<energy " NS "><budget window=\"day\">0 Wh</budget></energy>", "range" },
		{ "<energy " NS "><x:power-limit xmlns:x=\"urn:other\">4 W</x:power-limit></energy>",
		  "unknown element" },
		{ "<energy xmlns=\"http://example.org/other\"/>", "namespace" },
		{ "<power " NS "/>", "root" },
		{ "<energy " NS "><power-limit>40 W</power-limit>", "malformed" },
		{ "not xml at all", "malformed" },
		{ "<energy " NS ">hello</energy>", "stray text" },
		{ "<energy " NS "><power-limit><b>4</b> W</power-limit></energy>", "takes a value" },
		{ "<?xml version=\"1.0\"?><!DOCTYPE energy [<!ENTITY a \"40 W\">]>"
		  "<energy " NS "><power-limit>&a;</power-limit></energy>", "DOCTYPE" },
		{ "<?xml version=\"1.0\"?><!DOCTYPE energy [<!ENTITY x SYSTEM \"file:///etc/passwd\">]>"
		  "<energy " NS "><power-limit>&x;</power-limit></energy>", "DOCTYPE" },
	};

	(void)state;
	for (size_t i = 0; i < ARRAY_SIZE(cases); i++) {
		struct ve_limits l = { .power_limit_uw = 777 };
		g_autoptr(GError) err = NULL;

		check(!ve_limits_parse(cases[i].xml, &l, &err), "accepted: %s", cases[i].xml);
		check(err && strstr(err->message, cases[i].says), "'%s' should say '%s', said '%s'",
		      cases[i].xml, cases[i].says, err ? err->message : "nothing");
		check_u64(l.power_limit_uw, 777, "untouched on error");
	}
}

/* Formatting round-trips exactly; nothing set formats as nothing. */
static void test_format(void **state)
{
	struct ve_limits a, b;
	g_autofree char *xml = NULL;
	g_autoptr(GError) err = NULL;

	(void)state;
	ve_limits_init(&a);
	check(ve_limits_format(&a) == NULL, "nothing to say");
	a.power_limit_uw = 40123457;
	a.guarantee_uw = 5000000;
	a.weight = 250;
	a.disk_power_limit_uw = 2500000;
	a.budget_uj = 3600000000123ull;
	a.budget_window_s = 604800;
	xml = ve_limits_format(&a);
	check(ve_limits_parse(xml, &b, &err), "%s: %s", xml, err ? err->message : "");
	check(memcmp(&a, &b, sizeof(a)) == 0, "round trip of %s", xml);
}

/* The example shipped in conf/ parses, with every element. */
static void test_shipped_example(void **state)
{
	g_autofree char *path = g_build_filename(SOURCE_ROOT, "conf", "energy-metadata.xml", NULL);
	g_autofree char *xml = NULL;
	g_autoptr(GError) err = NULL;
	struct ve_limits l;

	(void)state;
	check(g_file_get_contents(path, &xml, NULL, &err), "read %s", path);
	check(ve_limits_parse(xml, &l, &err), "%s: %s", path, err ? err->message : "");
	check_u64(l.power_limit_uw, 40000000, "example limit");
	check_u64(l.guarantee_uw, 10000000, "example guarantee");
	check_u64(l.weight, 200, "example weight");
	check_u64(l.disk_power_limit_uw, 3000000, "example disk limit");
	check_u64(l.budget_uj, 4320000000000ull, "example budget");
	check_u64(l.budget_window_s, 86400, "example window");
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_good),
		cmocka_unit_test(test_bad),
		cmocka_unit_test(test_shipped_example),
		cmocka_unit_test(test_format),
	};

	return cmocka_run_group_tests_name("energylimits", tests, NULL, NULL);
}
