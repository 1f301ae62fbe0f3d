/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * identity.h: who a VM is to the orchestrator that made it, from what the
 * orchestrator writes into the domain's libvirt metadata.
 *
 * OpenStack Nova (namespace http://openstack.org/xmlns/libvirt/nova/1.1,
 * or 1.0 in older releases) writes <nova:instance> with the instance's
 * display name, its flavor and its owner (user and project, each with a
 * uuid attribute).  oVirt (http://ovirt.org/vm/1.0) writes <ovirt-vm:vm>,
 * whose clusterVersion says which oVirt; the VM's name there is libvirt's.
 * Proxmox keeps its metadata outside libvirt.  Operators join these to the
 * energy metrics (prom.h, virtenergy_vm_info).
 *
 * The parser reads only what it names and ignores everything else in the
 * element; a value is plain text, at most VE_IDENTITY_MAX bytes of UTF-8
 * without control characters, else it is left out.  Not thread-safe
 * (libxml2's error state).
 */
#pragma once

#include <glib.h>

#define VE_NOVA_NS "http://openstack.org/xmlns/libvirt/nova/1.1"
#define VE_NOVA_NS_1_0 "http://openstack.org/xmlns/libvirt/nova/1.0"
#define VE_OVIRT_NS "http://ovirt.org/vm/1.0"
#define VE_IDENTITY_MAX 256

/* Every field may be NULL: not given. */
struct ve_vm_identity {
	char *orchestrator;          /* "nova", "ovirt" */
	char *instance;              /* nova:name */
	char *flavor;                /* nova:flavor name= */
	char *project, *project_id;  /* nova:owner/nova:project, its uuid= */
	char *user, *user_id;        /* nova:owner/nova:user, its uuid= */
	char *cluster_version;       /* ovirt-vm:clusterVersion */
};

void ve_vm_identity_clear(struct ve_vm_identity *id);
void ve_vm_identity_free(gpointer id);   /* a g_new'd one, for GDestroyNotify */

/*
 * Fill *@ret (cleared first) from @xml, the element an orchestrator wrote.
 * @ns: the namespace it was asked under (virDomainGetMetadata hands the
 * element out without its namespace), or NULL: then the element must carry
 * one of the three itself.  FALSE when @xml is not one of the elements
 * above, is in another namespace than @ns, or is not well-formed; *@ret is
 * then empty.
 */
gboolean ve_vm_identity_parse(const char *xml, const char *ns, struct ve_vm_identity *ret);
