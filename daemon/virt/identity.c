// SPDX-License-Identifier: GPL-2.0-or-later
/*
 * identity.c: a VM's orchestrator identity from its metadata (see identity.h).
 */
#include <libxml/parser.h>
#include <libxml/tree.h>
#include <string.h>

#include "identity.h"

void ve_vm_identity_clear(struct ve_vm_identity *id)
{
	g_clear_pointer(&id->orchestrator, g_free);
	g_clear_pointer(&id->instance, g_free);
	g_clear_pointer(&id->flavor, g_free);
	g_clear_pointer(&id->project, g_free);
	g_clear_pointer(&id->project_id, g_free);
	g_clear_pointer(&id->user, g_free);
	g_clear_pointer(&id->user_id, g_free);
	g_clear_pointer(&id->cluster_version, g_free);
}

void ve_vm_identity_free(gpointer p)
{
	if (!p)
		return;
	ve_vm_identity_clear(p);
	g_free(p);
}

/* @text as a value: trimmed, UTF-8, no control characters, not too long; else NULL. */
static char *value(const xmlChar *text)
{
	g_autofree char *v = text ? g_strstrip(g_strdup((const char *)text)) : NULL;

	if (!v || !v[0] || strlen(v) > VE_IDENTITY_MAX || !g_utf8_validate(v, -1, NULL))
		return NULL;
	for (const char *p = v; *p; p++)
		if ((unsigned char)*p < 0x20 || *p == 0x7f)
			return NULL;
	return g_steal_pointer(&v);
}

static char *node_text(xmlNode *n)
{
	xmlChar *t = xmlNodeGetContent(n);
	char *v = value(t);

	xmlFree(t);
	return v;
}

static char *node_attr(xmlNode *n, const char *name)
{
	xmlChar *t = xmlGetProp(n, (const xmlChar *)name);
	char *v = value(t);

	xmlFree(t);
	return v;
}

/* The first child element of @n named @name in @n's namespace. */
static xmlNode *child(xmlNode *n, const char *name)
{
	for (xmlNode *c = n->children; c; c = c->next)
		if (c->type == XML_ELEMENT_NODE && c->ns == n->ns &&
		    strcmp((const char *)c->name, name) == 0)
			return c;
	return NULL;
}

static void parse_nova(xmlNode *root, struct ve_vm_identity *id)
{
	xmlNode *n, *owner = child(root, "owner");

	id->orchestrator = g_strdup("nova");
	if ((n = child(root, "name")))
		id->instance = node_text(n);
	if ((n = child(root, "flavor")))
		id->flavor = node_attr(n, "name");
	if (owner && (n = child(owner, "project"))) {
		id->project = node_text(n);
		id->project_id = node_attr(n, "uuid");
	}
	if (owner && (n = child(owner, "user"))) {
		id->user = node_text(n);
		id->user_id = node_attr(n, "uuid");
	}
}

gboolean ve_vm_identity_parse(const char *xml, const char *ns, struct ve_vm_identity *ret)
{
	xmlDoc *doc;
	xmlNode *root;
	const char *in;
	gboolean ok = TRUE;

	memset(ret, 0, sizeof(*ret));
	if (!xml)
		return FALSE;
	/* no network, no entities, no DTD: inert input */
	doc = xmlReadMemory(xml, (int)strlen(xml), "identity.xml", NULL,
			    XML_PARSE_NONET | XML_PARSE_NOERROR | XML_PARSE_NOWARNING);
	if (!doc)
		return FALSE;
	root = xmlDocGetRootElement(doc);
	/* the element's own namespace, or, as libvirt hands it out bare, the one asked under */
	in = root && root->ns && root->ns->href ? (const char *)root->ns->href : ns;
	if (!root || doc->intSubset || doc->extSubset || !in || (ns && strcmp(in, ns) != 0)) {
		ok = FALSE;
	} else if ((strcmp(in, VE_NOVA_NS) == 0 || strcmp(in, VE_NOVA_NS_1_0) == 0) &&
		   strcmp((const char *)root->name, "instance") == 0) {
		parse_nova(root, ret);
	} else if (strcmp(in, VE_OVIRT_NS) == 0 && strcmp((const char *)root->name, "vm") == 0) {
		xmlNode *n = child(root, "clusterVersion");

		ret->orchestrator = g_strdup("ovirt");
		if (n)
			ret->cluster_version = node_text(n);
	} else {
		ok = FALSE;
	}
	xmlFreeDoc(doc);
	return ok;
}
