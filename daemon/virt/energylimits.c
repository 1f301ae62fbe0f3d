// SPDX-License-Identifier: GPL-2.0-or-later
/*
 * energylimits.c: the energy metadata element (see energylimits.h).
 */
#include <errno.h>
#include <libxml/parser.h>
#include <libxml/tree.h>
#include <math.h>
#include <string.h>

#include "energylimits.h"
#include "units.h"

#define MAX_POWER_UW 100000000000ull   /* 100 kW: no VM draws more */

void ve_limits_init(struct ve_limits *l)
{
	*l = (struct ve_limits){ .weight = 100 };
}

gboolean ve_parse_energy_uj(const char *text, uint64_t *ret_uj, GError **error)
{
	static const struct ve_unit units[] = { { "J", 1e6 }, { "kJ", 1e9 }, { "Wh", 3.6e9 },
						{ "kWh", 3.6e12 } };
	uint64_t uj;

	/* up to 277 MWh; a budget of nothing is a mistake, not a limit */
	if (!ve_parse_quantity(text, units, G_N_ELEMENTS(units), "energy", 1e18, &uj, error))
		return FALSE;
	if (!uj) {
		g_set_error(error, G_MARKUP_ERROR, G_MARKUP_ERROR_INVALID_CONTENT,
			    "energy '%s' is out of range: a budget must be above 0", text);
		return FALSE;
	}
	*ret_uj = uj;
	return TRUE;
}

/*
 * virDomainGetMetadata() hands the element back without its namespace (it
 * was looked up by it), virsh --set without one; what is written by hand
 * may carry it.  Any other namespace is someone else's element.
 */
static gboolean ours(const xmlNode *n)
{
	return !n->ns || strcmp((const char *)n->ns->href, VE_ENERGY_NS) == 0;
}

static gboolean power(xmlNode *n, const char *text, uint64_t *ret, GError **error)
{
	g_autoptr(GError) e = NULL;
	uint64_t uw;

	if (!ve_parse_power_uw(text, &uw, &e)) {
		g_set_error(error, G_MARKUP_ERROR, G_MARKUP_ERROR_INVALID_CONTENT, "<%s>: %s", n->name,
			    e->message);
		return FALSE;
	}
	if (uw < 1000 || uw > MAX_POWER_UW) {
		g_set_error(error, G_MARKUP_ERROR, G_MARKUP_ERROR_INVALID_CONTENT,
			    "<%s>: '%s' is out of range (1 mW to 100 kW)", n->name, text);
		return FALSE;
	}
	*ret = uw;
	return TRUE;
}

static gboolean no_attributes(xmlNode *n, const char *allowed, GError **error)
{
	for (xmlAttr *a = n->properties; a; a = a->next) {
		if (!allowed || strcmp((const char *)a->name, allowed) != 0) {
			g_set_error(error, G_MARKUP_ERROR, G_MARKUP_ERROR_UNKNOWN_ATTRIBUTE,
				    "<%s> has an unknown attribute '%s'", n->name, a->name);
			return FALSE;
		}
	}
	return TRUE;
}

static gboolean parse_element(xmlNode *n, struct ve_limits *l, unsigned int *seen, GError **error)
{
	static const char *const names[] = { "power-limit", "guarantee", "weight", "disk-power-limit",
					     "budget" };
	g_autofree char *text = NULL;
	xmlChar *raw;
	unsigned int i;

	for (i = 0; i < G_N_ELEMENTS(names); i++)
		if (strcmp((const char *)n->name, names[i]) == 0)
			break;
	if (i == G_N_ELEMENTS(names) || !ours(n)) {
		g_set_error(error, G_MARKUP_ERROR, G_MARKUP_ERROR_UNKNOWN_ELEMENT,
			    "unknown element <%s> (known: power-limit, guarantee, weight, "
			    "disk-power-limit, budget)", n->name);
		return FALSE;
	}
	if (*seen & (1u << i)) {
		g_set_error(error, G_MARKUP_ERROR, G_MARKUP_ERROR_INVALID_CONTENT,
			    "<%s> appears more than once", n->name);
		return FALSE;
	}
	*seen |= 1u << i;
	for (xmlNode *c = n->children; c; c = c->next) {
		if (c->type == XML_ELEMENT_NODE) {
			g_set_error(error, G_MARKUP_ERROR, G_MARKUP_ERROR_INVALID_CONTENT,
				    "<%s> holds an element <%s>; it takes a value", n->name, c->name);
			return FALSE;
		}
	}
	raw = xmlNodeGetContent(n);
	text = g_strdup(raw ? (const char *)raw : "");
	xmlFree(raw);
	if (!no_attributes(n, i == 4 ? "window" : NULL, error))
		return FALSE;

	switch (i) {
	case 0:
		return power(n, text, &l->power_limit_uw, error);
	case 1:
		return power(n, text, &l->guarantee_uw, error);
	case 3:
		return power(n, text, &l->disk_power_limit_uw, error);
	case 2: {
		guint64 w;
		g_autoptr(GError) e = NULL;

		if (!g_ascii_string_to_unsigned(g_strstrip(text), 10, 1, 10000, &w, &e)) {
			g_set_error(error, G_MARKUP_ERROR, G_MARKUP_ERROR_INVALID_CONTENT,
				    "<weight>: '%s' is not a whole number from 1 to 10000", text);
			return FALSE;
		}
		l->weight = (uint32_t)w;
		return TRUE;
	}
	default: {
		static const struct {
			const char *name;
			uint64_t s;
		} windows[] = { { "hour", 3600 }, { "day", 86400 }, { "week", 604800 } };
		xmlChar *win = xmlGetProp(n, (const xmlChar *)"window");
		g_autoptr(GError) e = NULL;
		size_t k;

		for (k = 0; win && k < G_N_ELEMENTS(windows); k++)
			if (strcmp((const char *)win, windows[k].name) == 0)
				break;
		if (!win || k == G_N_ELEMENTS(windows)) {
			g_set_error(error, G_MARKUP_ERROR, G_MARKUP_ERROR_INVALID_CONTENT,
				    "<budget> needs window=\"hour\", \"day\" or \"week\"%s%s%s",
				    win ? ", not \"" : "", win ? (const char *)win : "", win ? "\"" : "");
			xmlFree(win);
			return FALSE;
		}
		xmlFree(win);
		if (!ve_parse_energy_uj(text, &l->budget_uj, &e)) {
			g_set_error(error, G_MARKUP_ERROR, G_MARKUP_ERROR_INVALID_CONTENT, "<budget>: %s",
				    e->message);
			return FALSE;
		}
		l->budget_window_s = windows[k].s;
		return TRUE;
	}
	}
}

gboolean ve_limits_parse(const char *xml, struct ve_limits *ret, GError **error)
{
	struct ve_limits l;
	xmlDoc *doc;
	xmlNode *root;
	unsigned int seen = 0;
	gboolean ok = TRUE;

	ve_limits_init(&l);
	/* no network, no entity substitution, no DTD loading: inert input */
	doc = xmlReadMemory(xml, (int)strlen(xml), "metadata.xml", NULL,
			    XML_PARSE_NONET | XML_PARSE_NOERROR | XML_PARSE_NOWARNING);
	if (!doc) {
		const xmlError *e = xmlGetLastError();

		g_set_error(error, G_MARKUP_ERROR, G_MARKUP_ERROR_PARSE,
			    "malformed XML%s%s (line %d)", e && e->message ? ": " : "",
			    e && e->message ? g_strstrip(e->message) : "", e ? e->line : 0);
		return FALSE;
	}
	root = xmlDocGetRootElement(doc);
	if (doc->intSubset || doc->extSubset) {
		g_set_error(error, G_MARKUP_ERROR, G_MARKUP_ERROR_PARSE,
			    "a DOCTYPE is not allowed in energy metadata");
		ok = FALSE;
	} else if (!root || strcmp((const char *)root->name, "energy") != 0 || !ours(root)) {
		g_set_error(error, G_MARKUP_ERROR, G_MARKUP_ERROR_UNKNOWN_ELEMENT,
			    "the root must be <energy> in namespace %s", VE_ENERGY_NS);
		ok = FALSE;
	} else {
		ok = no_attributes(root, NULL, error);
		for (xmlNode *n = root->children; ok && n; n = n->next) {
			if (n->type == XML_ELEMENT_NODE) {
				ok = parse_element(n, &l, &seen, error);
			} else if (n->type == XML_TEXT_NODE) {
				xmlChar *t = xmlNodeGetContent(n);
				g_autofree char *s = g_strstrip(g_strdup((const char *)t));

				xmlFree(t);
				if (*s) {
					g_set_error(error, G_MARKUP_ERROR, G_MARKUP_ERROR_INVALID_CONTENT,
						    "stray text '%s' in <energy>", s);
					ok = FALSE;
				}
			} else if (n->type == XML_ENTITY_REF_NODE) {
				g_set_error(error, G_MARKUP_ERROR, G_MARKUP_ERROR_PARSE,
					    "entities are not allowed in energy metadata");
				ok = FALSE;
			}
		}
	}
	xmlFreeDoc(doc);
	if (ok && l.guarantee_uw && l.power_limit_uw && l.guarantee_uw > l.power_limit_uw) {
		g_set_error(error, G_MARKUP_ERROR, G_MARKUP_ERROR_INVALID_CONTENT,
			    "<guarantee> is above <power-limit>");
		ok = FALSE;
	}
	if (ok)
		*ret = l;
	return ok;
}

char *ve_limits_format(const struct ve_limits *l)
{
	GString *x;

	if (!l->power_limit_uw && !l->guarantee_uw && l->weight == 100 && !l->disk_power_limit_uw &&
	    !l->budget_uj)
		return NULL;
	/* integers in the smallest unit: exact, and parse back to the same µW */
	x = g_string_new("<energy>");
	if (l->power_limit_uw)
		g_string_append_printf(x, "<power-limit>%" G_GUINT64_FORMAT " uW</power-limit>",
				       l->power_limit_uw);
	if (l->guarantee_uw)
		g_string_append_printf(x, "<guarantee>%" G_GUINT64_FORMAT " uW</guarantee>", l->guarantee_uw);
	if (l->weight != 100)
		g_string_append_printf(x, "<weight>%u</weight>", l->weight);
	if (l->disk_power_limit_uw)
		g_string_append_printf(x, "<disk-power-limit>%" G_GUINT64_FORMAT " uW</disk-power-limit>",
				       l->disk_power_limit_uw);
	if (l->budget_uj)
		g_string_append_printf(x, "<budget window=\"%s\">%.6f J</budget>",
				       l->budget_window_s == 3600 ? "hour"
				       : l->budget_window_s == 604800 ? "week" : "day",
				       (double)l->budget_uj / 1e6);
	g_string_append(x, "</energy>");
	return g_string_free(x, FALSE);
}
