// SPDX-License-Identifier: GPL-2.0-or-later
/*
 * virtenergyctl-out.c: virtenergyctl's output, JSON and figures for people
 * (see virtenergyctl.h).
 */
#include <json-glib/json-glib.h>
#include <stdio.h>
#include <string.h>

#include "virtenergyctl.h"

/* A D-Bus name in snake case: PowerW: power_w, VCPUs: vcpus. */
static char *snake(const char *camel)
{
	GString *out = g_string_new("");

	for (const char *p = camel; *p; p++) {
		if (g_ascii_isupper(*p) && p > camel && g_ascii_islower(p[-1]))
			g_string_append_c(out, '_');
		g_string_append_c(out, g_ascii_tolower(*p));
	}
	return g_string_free(out, FALSE);
}

/* The bus's 0 W for "none" is null in JSON, for these. */
static gboolean none_when_zero(const char *name)
{
	return strcmp(name, "LimitW") == 0 || strcmp(name, "HostCapW") == 0 ||
	       strcmp(name, "AllocationW") == 0;
}

/* @v (a D-Bus value) as the value of the member being built. */
static void add_value(JsonBuilder *b, const char *name, GVariant *v)
{
	if (!v) {
		json_builder_add_null_value(b);
	} else if (g_variant_is_of_type(v, G_VARIANT_TYPE_DOUBLE)) {
		if (none_when_zero(name) && g_variant_get_double(v) == 0.0)
			json_builder_add_null_value(b);
		else
			json_builder_add_double_value(b, g_variant_get_double(v));
	} else if (g_variant_is_of_type(v, G_VARIANT_TYPE_BOOLEAN)) {
		json_builder_add_boolean_value(b, g_variant_get_boolean(v));
	} else if (g_variant_is_of_type(v, G_VARIANT_TYPE_UINT64)) {
		json_builder_add_int_value(b, (gint64)g_variant_get_uint64(v));
	} else if (g_variant_is_of_type(v, G_VARIANT_TYPE_UINT32)) {
		json_builder_add_int_value(b, g_variant_get_uint32(v));
	} else if (g_variant_is_of_type(v, G_VARIANT_TYPE_STRING)) {
		json_builder_add_string_value(b, g_variant_get_string(v, NULL));
	} else if (g_variant_is_of_type(v, G_VARIANT_TYPE("a{ss}"))) {
		GVariantIter it;
		const char *k, *t;

		json_builder_begin_object(b);
		g_variant_iter_init(&it, v);
		while (g_variant_iter_next(&it, "{&s&s}", &k, &t)) {
			json_builder_set_member_name(b, k);
			json_builder_add_string_value(b, t);
		}
		json_builder_end_object(b);
	} else if (g_variant_is_of_type(v, G_VARIANT_TYPE("a{sd}"))) {
		GVariantIter it;
		const char *k;
		double d;

		json_builder_begin_object(b);
		g_variant_iter_init(&it, v);
		while (g_variant_iter_next(&it, "{&sd}", &k, &d)) {
			json_builder_set_member_name(b, k);
			json_builder_add_double_value(b, d);
		}
		json_builder_end_object(b);
	} else if (g_variant_is_of_type(v, G_VARIANT_TYPE("a(sddus)"))) {
		/* Services: name, power, energy passed on, threads, why not found */
		GVariantIter it;
		const char *n, *problem;
		double w, j;
		guint32 threads;

		json_builder_begin_array(b);
		g_variant_iter_init(&it, v);
		while (g_variant_iter_next(&it, "(&sddu&s)", &n, &w, &j, &threads, &problem)) {
			json_builder_begin_object(b);
			json_builder_set_member_name(b, "name");
			json_builder_add_string_value(b, n);
			json_builder_set_member_name(b, "power_w");
			json_builder_add_double_value(b, w);
			json_builder_set_member_name(b, "energy_j");
			json_builder_add_double_value(b, j);
			json_builder_set_member_name(b, "threads");
			json_builder_add_int_value(b, threads);
			json_builder_set_member_name(b, "problem");
			if (problem[0])
				json_builder_add_string_value(b, problem);
			else
				json_builder_add_null_value(b);
			json_builder_end_object(b);
		}
		json_builder_end_array(b);
	} else {
		/* a type this client does not know: its text, rather than nothing */
		g_autofree char *text = g_variant_print(v, FALSE);

		json_builder_add_string_value(b, text);
	}
}

void vc_json_member(JsonBuilder *b, const char *name, GVariant *v)
{
	g_autofree char *key = snake(name);

	json_builder_set_member_name(b, key);
	add_value(b, name, v);
}

void vc_json_print(JsonBuilder *b)
{
	g_autoptr(JsonNode) root = json_builder_get_root(b);
	g_autoptr(JsonGenerator) gen = json_generator_new();
	g_autofree char *text = NULL;

	json_generator_set_root(gen, root);
	text = json_generator_to_data(gen, NULL);
	puts(text);
}

void vc_human(char *buf, size_t len, double v, const char *unit)
{
	const char *prefix = "";

	if (v >= 1e6) {
		v /= 1e6;
		prefix = "M";
	} else if (v >= 1e3) {
		v /= 1e3;
		prefix = "k";
	} else if (v > 0 && v < 1) {
		v *= 1e3;
		prefix = "m";
	}
	snprintf(buf, len, "%.2f %s%s", v, prefix, unit);
}

void vc_say_done(const char *vm, double w)
{
	char buf[32];

	if (opt_json) {
		g_autoptr(JsonBuilder) b = json_builder_new();

		json_builder_begin_object(b);
		if (vm) {
			json_builder_set_member_name(b, "vm");
			json_builder_add_string_value(b, vm);
		}
		json_builder_set_member_name(b, vm ? "limit_w" : "host_cap_w");
		if (w > 0)
			json_builder_add_double_value(b, w);
		else
			json_builder_add_null_value(b);
		json_builder_end_object(b);
		vc_json_print(b);
		return;
	}
	vc_human(buf, sizeof(buf), w, "W");
	if (vm && w > 0)
		printf("VM '%s': power limit %s\n", vm, buf);
	else if (vm)
		printf("VM '%s': power limit cleared\n", vm);
	else if (w > 0)
		printf("host cap %s\n", buf);
	else
		printf("host cap cleared\n");
}
