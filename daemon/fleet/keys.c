// SPDX-License-Identifier: GPL-2.0-or-later
/*
 * keys.c: the fleet's values in etcd (see keys.h), built and read with
 * json-glib.  A host's report is checked member by member: anything
 * missing, of the wrong type or out of range refuses the whole report, and
 * the controller then counts the host as one it cannot see.
 */
#include <json-glib/json-glib.h>
#include <math.h>
#include <string.h>

#include "error.h"
#include "keys.h"

static const char *const source_names[] = { "local", "fleet", "fallback" };

const char *ve_fleet_source_name(enum ve_fleet_source s)
{
	return (unsigned int)s < G_N_ELEMENTS(source_names) ? source_names[s] : "?";
}

gboolean ve_fleet_name_ok(const char *name)
{
	size_t n = name ? strlen(name) : 0;

	if (n < 1 || n > VE_FLEET_NAME_MAX)
		return FALSE;
	for (size_t i = 0; i < n; i++)
		if (!g_ascii_isalnum(name[i]) && !strchr("._-", name[i]))
			return FALSE;
	return TRUE;
}

static JsonObject *parse_object(const char *json, JsonParser *p, const char *what, GError **error)
{
	g_autoptr(GError) e = NULL;
	JsonNode *root;

	if (!json || !json_parser_load_from_data(p, json, -1, &e)) {
		g_set_error(error, VE_ERROR, VE_ERROR_INVALID, "%s is not JSON%s%s", what,
			    e ? ": " : "", e ? e->message : "");
		return NULL;
	}
	root = json_parser_get_root(p);
	if (!root || !JSON_NODE_HOLDS_OBJECT(root)) {
		g_set_error(error, VE_ERROR, VE_ERROR_INVALID, "%s is not a JSON object", what);
		return NULL;
	}
	return json_node_get_object(root);
}

/* An integer member in [0, max]. */
static gboolean get_u64(JsonObject *o, const char *m, uint64_t max, uint64_t *ret, const char *what,
			GError **error)
{
	JsonNode *n = json_object_get_member(o, m);

	if (!n || !JSON_NODE_HOLDS_VALUE(n) || json_node_get_value_type(n) != G_TYPE_INT64 ||
	    json_node_get_int(n) < 0 || (uint64_t)json_node_get_int(n) > max) {
		g_set_error(error, VE_ERROR, VE_ERROR_INVALID,
			    "%s: \"%s\" must be an integer from 0 to %" G_GUINT64_FORMAT, what, m, max);
		return FALSE;
	}
	*ret = (uint64_t)json_node_get_int(n);
	return TRUE;
}

static const char *get_str(JsonObject *o, const char *m, const char *what, GError **error)
{
	JsonNode *n = json_object_get_member(o, m);

	if (!n || !JSON_NODE_HOLDS_VALUE(n) || json_node_get_value_type(n) != G_TYPE_STRING) {
		g_set_error(error, VE_ERROR, VE_ERROR_INVALID, "%s: \"%s\" must be a string", what, m);
		return NULL;
	}
	return json_node_get_string(n);
}

static char *to_json(JsonBuilder *b)
{
	g_autoptr(JsonGenerator) g = json_generator_new();
	g_autoptr(JsonNode) root = json_builder_get_root(b);

	json_generator_set_root(g, root);
	return json_generator_to_data(g, NULL);
}

static void add_u64(JsonBuilder *b, const char *m, uint64_t v)
{
	json_builder_set_member_name(b, m);
	json_builder_add_int_value(b, (gint64)MIN(v, (uint64_t)G_MAXINT64));
}

static void add_str(JsonBuilder *b, const char *m, const char *v)
{
	json_builder_set_member_name(b, m);
	json_builder_add_string_value(b, v);
}

char *ve_fleet_report_to_json(const struct ve_fleet_report *r)
{
	g_autoptr(JsonBuilder) b = json_builder_new();

	json_builder_begin_object(b);
	add_str(b, "node", r->node ? r->node : "");
	add_u64(b, "demand_uw", r->demand_uw);
	add_u64(b, "guarantee_uw", r->guarantee_uw);
	add_u64(b, "floor_uw", r->floor_uw);
	add_u64(b, "power_uw", r->power_uw);
	add_u64(b, "weight", r->weight);
	add_u64(b, "cap_uw", r->cap_uw);
	add_str(b, "source", ve_fleet_source_name(r->source));
	add_u64(b, "fallback_uw", r->fallback_uw);
	add_u64(b, "cap_rev", (uint64_t)r->cap_rev);
	json_builder_end_object(b);
	return to_json(b);
}

void ve_fleet_report_clear(struct ve_fleet_report *r)
{
	g_clear_pointer(&r->node, g_free);
}

gboolean ve_fleet_report_parse(const char *json, struct ve_fleet_report *ret, GError **error)
{
	g_autoptr(JsonParser) p = json_parser_new();
	JsonObject *o = parse_object(json, p, "the host's report", error);
	struct ve_fleet_report r = { 0 };
	uint64_t w = 0, rev = 0;
	const char *node, *src;
	size_t s;

	if (!o)
		return FALSE;
	if (!(node = get_str(o, "node", "the host's report", error)) ||
	    !get_u64(o, "demand_uw", VE_FLEET_MAX_BUDGET_UW, &r.demand_uw, "the host's report", error) ||
	    !get_u64(o, "guarantee_uw", VE_FLEET_MAX_BUDGET_UW, &r.guarantee_uw, "the host's report", error) ||
	    !get_u64(o, "floor_uw", VE_FLEET_MAX_BUDGET_UW, &r.floor_uw, "the host's report", error) ||
	    !get_u64(o, "power_uw", VE_FLEET_MAX_BUDGET_UW, &r.power_uw, "the host's report", error) ||
	    !get_u64(o, "weight", 10000, &w, "the host's report", error) ||
	    !get_u64(o, "cap_uw", VE_FLEET_MAX_BUDGET_UW, &r.cap_uw, "the host's report", error) ||
	    !get_u64(o, "fallback_uw", VE_FLEET_MAX_BUDGET_UW, &r.fallback_uw, "the host's report", error) ||
	    !get_u64(o, "cap_rev", G_MAXINT64, &rev, "the host's report", error) ||
	    !(src = get_str(o, "source", "the host's report", error)))
		return FALSE;
	if (w < 1) {
		g_set_error(error, VE_ERROR, VE_ERROR_INVALID, "the host's report: \"weight\" must be 1 to 10000");
		return FALSE;
	}
	for (s = 0; s < G_N_ELEMENTS(source_names); s++)
		if (strcmp(src, source_names[s]) == 0)
			break;
	if (s == G_N_ELEMENTS(source_names)) {
		g_set_error(error, VE_ERROR, VE_ERROR_INVALID,
			    "the host's report: \"source\" is '%s', not local, fleet or fallback", src);
		return FALSE;
	}
	r.weight = (uint32_t)w;
	r.source = (enum ve_fleet_source)s;
	r.cap_rev = (int64_t)rev;
	r.node = g_strdup(node);
	ve_fleet_report_clear(ret);
	*ret = r;
	return TRUE;
}

char *ve_fleet_cap_to_json(const struct ve_fleet_cap *c)
{
	g_autoptr(JsonBuilder) b = json_builder_new();

	json_builder_begin_object(b);
	add_u64(b, "cap_uw", c->cap_uw);
	add_u64(b, "fallback_uw", c->fallback_uw);
	add_str(b, "leader", c->leader ? c->leader : "");
	add_u64(b, "read_rev", (uint64_t)c->read_rev);
	json_builder_end_object(b);
	return to_json(b);
}

gboolean ve_fleet_cap_parse(const char *json, struct ve_fleet_cap *ret, GError **error)
{
	g_autoptr(JsonParser) p = json_parser_new();
	JsonObject *o = parse_object(json, p, "the cap", error);
	struct ve_fleet_cap c = { 0 };
	const char *leader;
	uint64_t rr = 0;

	if (!o || !get_u64(o, "cap_uw", VE_FLEET_MAX_BUDGET_UW, &c.cap_uw, "the cap", error) ||
	    !get_u64(o, "read_rev", G_MAXINT64, &rr, "the cap", error) ||
	    !get_u64(o, "fallback_uw", VE_FLEET_MAX_BUDGET_UW, &c.fallback_uw, "the cap", error) ||
	    !(leader = get_str(o, "leader", "the cap", error)))
		return FALSE;
	if (!c.cap_uw) {
		g_set_error(error, VE_ERROR, VE_ERROR_INVALID, "the cap: \"cap_uw\" is 0");
		return FALSE;
	}
	g_free(ret->leader);
	c.leader = g_strdup(leader);
	c.read_rev = (int64_t)rr;
	*ret = c;
	return TRUE;
}

char *ve_fleet_roster_to_json(const char *node, uint64_t fallback_uw)
{
	g_autoptr(JsonBuilder) b = json_builder_new();

	json_builder_begin_object(b);
	add_str(b, "node", node);
	add_u64(b, "fallback_uw", fallback_uw);
	json_builder_end_object(b);
	return to_json(b);
}

gboolean ve_fleet_roster_parse(const char *json, char **ret_node, uint64_t *ret_fallback_uw,
			       GError **error)
{
	g_autoptr(JsonParser) p = json_parser_new();
	JsonObject *o = parse_object(json, p, "the roster entry", error);
	const char *node;
	uint64_t fb;

	if (!o || !(node = get_str(o, "node", "the roster entry", error)) ||
	    !get_u64(o, "fallback_uw", VE_FLEET_MAX_BUDGET_UW, &fb, "the roster entry", error))
		return FALSE;
	*ret_node = g_strdup(node);
	*ret_fallback_uw = fb;
	return TRUE;
}

gboolean ve_fleet_budget_check(double watts, uint64_t *ret_uw, GError **error)
{
	if (!isfinite(watts) || watts < 0.0 || watts * 1e6 > (double)VE_FLEET_MAX_BUDGET_UW) {
		g_set_error(error, VE_ERROR, VE_ERROR_INVALID,
			    "a budget must be a number of watts from 0 to 1e9, not %g", watts);
		return FALSE;
	}
	*ret_uw = (uint64_t)llround(watts * 1e6);
	return TRUE;
}

void ve_fleet_tree_clear(struct ve_fleet_tree *t)
{
	if (t->names)
		for (size_t i = 0; i < t->n; i++)
			g_free(t->names[i]);
	g_clear_pointer(&t->names, g_free);
	g_clear_pointer(&t->nodes, g_free);
	t->n = 0;
}

static int find_name(const struct ve_fleet_tree *t, const char *name)
{
	for (size_t i = 0; i < t->n; i++)
		if (strcmp(t->names[i], name) == 0)
			return (int)i;
	return -1;
}

gboolean ve_fleet_tree_parse(const char *json, struct ve_fleet_tree *ret, GError **error)
{
	g_autoptr(JsonParser) p = json_parser_new();
	JsonObject *o = parse_object(json, p, "the tree", error);
	struct ve_fleet_tree t = { 0 };
	g_autoptr(GList) members = NULL;
	size_t i = 0, bad = 0;
	int r;

	if (!o)
		return FALSE;
	members = json_object_get_members(o);
	t.n = g_list_length(members);
	if (t.n > VE_FLEET_MAX_NODES) {
		g_set_error(error, VE_ERROR, VE_ERROR_INVALID, "the tree has %zu nodes, at most %d",
			    t.n, VE_FLEET_MAX_NODES);
		return FALSE;
	}
	t.names = g_new0(char *, t.n + 1);
	t.nodes = g_new0(struct ve_fleet_node, t.n ? t.n : 1);
	for (GList *l = members; l; l = l->next, i++) {
		if (!ve_fleet_name_ok(l->data)) {
			g_set_error(error, VE_ERROR, VE_ERROR_INVALID,
				    "the tree: node name '%s' is not 1 to 64 of A-Z a-z 0-9 . _ -",
				    (const char *)l->data);
			goto bad;
		}
		t.names[i] = g_strdup(l->data);
	}
	i = 0;
	for (GList *l = members; l; l = l->next, i++) {
		JsonNode *n = json_object_get_member(o, l->data), *b;
		JsonObject *no;
		g_autoptr(GError) e = NULL;
		g_autofree char *what = g_strdup_printf("the tree: node '%s'", (const char *)l->data);

		if (!JSON_NODE_HOLDS_OBJECT(n)) {
			g_set_error(error, VE_ERROR, VE_ERROR_INVALID, "%s is not an object", what);
			goto bad;
		}
		no = json_node_get_object(n);
		b = json_object_get_member(no, "budget_w");
		if (!b || !JSON_NODE_HOLDS_VALUE(b) ||
		    (json_node_get_value_type(b) != G_TYPE_INT64 && json_node_get_value_type(b) != G_TYPE_DOUBLE)) {
			g_set_error(error, VE_ERROR, VE_ERROR_INVALID, "%s: \"budget_w\" must be a number", what);
			goto bad;
		}
		if (!ve_fleet_budget_check(json_node_get_double(b), &t.nodes[i].budget_uw, &e)) {
			g_set_error(error, VE_ERROR, VE_ERROR_INVALID, "%s: %s", what, e->message);
			goto bad;
		}
		t.nodes[i].parent = -1;
		if (json_object_has_member(no, "parent")) {
			const char *par = get_str(no, "parent", what, error);

			if (!par)
				goto bad;
			t.nodes[i].parent = find_name(&t, par);
			if (t.nodes[i].parent < 0) {
				g_set_error(error, VE_ERROR, VE_ERROR_INVALID, "%s: parent '%s' is not in the tree",
					    what, par);
				goto bad;
			}
		}
	}
	r = ve_fleet_tree_check(t.nodes, t.n, &bad);
	if (r == -ELOOP) {
		g_set_error(error, VE_ERROR, VE_ERROR_INVALID, "the tree has a cycle through node '%s'",
			    t.names[bad]);
		goto bad;
	}
	if (r < 0) {
		g_set_error(error, VE_ERROR, VE_ERROR_INVALID, "the tree is not a tree");
		goto bad;
	}
	ve_fleet_tree_clear(ret);
	*ret = t;
	return TRUE;
bad:
	ve_fleet_tree_clear(&t);
	return FALSE;
}

char *ve_fleet_tree_to_json(const struct ve_fleet_tree *t)
{
	g_autoptr(JsonBuilder) b = json_builder_new();

	json_builder_begin_object(b);
	for (size_t i = 0; i < t->n; i++) {
		json_builder_set_member_name(b, t->names[i]);
		json_builder_begin_object(b);
		if (t->nodes[i].parent >= 0)
			add_str(b, "parent", t->names[t->nodes[i].parent]);
		json_builder_set_member_name(b, "budget_w");
		json_builder_add_double_value(b, (double)t->nodes[i].budget_uw / 1e6);
		json_builder_end_object(b);
	}
	json_builder_end_object(b);
	return to_json(b);
}

char *ve_fleet_tree_path(const struct ve_fleet_tree *t, size_t i)
{
	g_autoptr(GString) s = g_string_new(t->names[i]);

	for (int p = t->nodes[i].parent; p >= 0; p = t->nodes[p].parent) {
		g_string_prepend_c(s, '/');
		g_string_prepend(s, t->names[p]);
	}
	return g_string_free(g_steal_pointer(&s), FALSE);
}

int ve_fleet_tree_find(const struct ve_fleet_tree *t, const char *path)
{
	for (size_t i = 0; path && i < t->n; i++) {
		g_autofree char *p = ve_fleet_tree_path(t, i);

		if (strcmp(p, path) == 0)
			return (int)i;
	}
	return -1;
}

gboolean ve_fleet_tree_set_budget(struct ve_fleet_tree *t, const char *path, double watts,
				  GError **error)
{
	int i = ve_fleet_tree_find(t, path);
	uint64_t uw;

	if (i < 0) {
		g_set_error(error, VE_ERROR, VE_ERROR_NOT_FOUND, "no node '%s' in the tree", path);
		return FALSE;
	}
	if (!ve_fleet_budget_check(watts, &uw, error))
		return FALSE;
	t->nodes[i].budget_uw = uw;
	return TRUE;
}
