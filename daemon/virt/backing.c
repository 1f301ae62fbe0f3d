// SPDX-License-Identifier: GPL-2.0-or-later
/*
 * backing.c: served disks and interfaces from a domain's XML (see backing.h).
 */
#include <libxml/parser.h>
#include <libxml/xpath.h>
#include <string.h>

#include "backing.h"

static void backing_clear(gpointer p)
{
	struct ve_backing *b = p;

	g_free(b->target);
	g_free(b->socket);
	g_free(b->bridge);
}

void ve_backings_free(GArray *b)
{
	if (b)
		g_array_free(b, TRUE);
}

static char *xpath_string(xmlXPathContext *ctx, xmlNode *node, const char *expr)
{
	xmlXPathObject *o;
	char *out = NULL;

	ctx->node = node;
	o = xmlXPathEvalExpression((const xmlChar *)expr, ctx);
	if (o && o->type == XPATH_STRING && o->stringval && o->stringval[0])
		out = g_strdup((const char *)o->stringval);
	xmlXPathFreeObject(o);
	return out;
}

/*
 * The devices matching @expr, their socket at @socket_expr, or their
 * bridge at @bridge_expr (relative to the device).
 */
static void collect(xmlXPathContext *ctx, GArray *out, const char *expr, const char *socket_expr,
		    const char *bridge_expr, const char *kind, bool iface)
{
	xmlXPathObject *o;

	ctx->node = xmlDocGetRootElement(ctx->doc);
	o = xmlXPathEvalExpression((const xmlChar *)expr, ctx);
	if (!o)
		return;
	for (int i = 0; o->nodesetval && i < o->nodesetval->nodeNr; i++) {
		xmlNode *dev = o->nodesetval->nodeTab[i];
		struct ve_backing b = {
			.target = xpath_string(ctx, dev, "string(target/@dev)"),
			.socket = socket_expr ? xpath_string(ctx, dev, socket_expr) : NULL,
			.bridge = bridge_expr ? xpath_string(ctx, dev, bridge_expr) : NULL,
			.kind = kind,
			.iface = iface,
		};

		if (b.target && ((b.socket && b.socket[0] == '/') || b.bridge))
			g_array_append_val(out, b);
		else
			backing_clear(&b);
	}
	xmlXPathFreeObject(o);
}

GArray *ve_backings_parse(const char *xml)
{
	xmlDoc *doc;
	xmlXPathContext *ctx;
	GArray *out;
	xmlNode *root;

	if (!xml)
		return NULL;
	doc = xmlReadMemory(xml, (int)strlen(xml), "domain.xml", NULL,
			    XML_PARSE_NONET | XML_PARSE_NOERROR | XML_PARSE_NOWARNING);
	if (!doc)
		return NULL;
	root = xmlDocGetRootElement(doc);
	if (!root || doc->intSubset || strcmp((const char *)root->name, "domain") != 0) {
		xmlFreeDoc(doc);
		return NULL;
	}
	ctx = xmlXPathNewContext(doc);
	if (!ctx) {
		xmlFreeDoc(doc);
		return NULL;
	}
	out = g_array_new(FALSE, TRUE, sizeof(struct ve_backing));
	g_array_set_clear_func(out, backing_clear);
	collect(ctx, out, "/domain/devices/disk[@type='network'][source/@protocol='nbd']",
		"string(source/host[@transport='unix']/@socket)", NULL, "nbd", false);
	collect(ctx, out, "/domain/devices/disk[@type='vhostuser']",
		"string(source[@type='unix']/@path)", NULL, "vhost-user", false);
	collect(ctx, out, "/domain/devices/interface[@type='vhostuser']",
		"string(source[@type='unix']/@path)", NULL, "vhost-user-net", true);
	collect(ctx, out, "/domain/devices/interface[@type='bridge' or @type='network']", NULL,
		"string(source/@bridge)", "bridge", true);
	xmlXPathFreeContext(ctx);
	xmlFreeDoc(doc);
	return out;
}
