// SPDX-License-Identifier: GPL-2.0-or-later
/*
 * A VM's orchestrator identity from its libvirt metadata (daemon/virt/
 * identity.c): Nova's element as Nova writes it, oVirt's, and what is not
 * one of them or not to be trusted.
 */
#include <string.h>

#include "check.h"
#include "identity.h"

/* As Nova's libvirt driver writes it (nova/virt/libvirt/config.py), trimmed. */
static const char nova_xml[] =
	"<nova:instance xmlns:nova=\"http://openstack.org/xmlns/libvirt/nova/1.1\">\n"
	"  <nova:package version=\"27.1.0\"/>\n"
	"  <nova:name>web-1</nova:name>\n"
	"  <nova:creationTime>2026-11-30 10:00:00</nova:creationTime>\n"
	"  <nova:flavor name=\"m1.small\">\n"
	"    <nova:memory>2048</nova:memory><nova:vcpus>1</nova:vcpus>\n"
	"  </nova:flavor>\n"
	"  <nova:owner>\n"
	"    <nova:user uuid=\"5a3e\">alice</nova:user>\n"
	"    <nova:project uuid=\"9f1c\">demo</nova:project>\n"
	"  </nova:owner>\n"
	"  <nova:root type=\"image\" uuid=\"0d1b\"/>\n"
	"</nova:instance>\n";

static void test_nova(void **state)
{
	struct ve_vm_identity id;

	(void)state;
	check(ve_vm_identity_parse(nova_xml, NULL, &id), "Nova's element");
	check(strcmp(id.orchestrator, "nova") == 0, "orchestrator");
	check(strcmp(id.instance, "web-1") == 0, "instance name");
	check(strcmp(id.flavor, "m1.small") == 0, "flavor");
	check(strcmp(id.project, "demo") == 0 && strcmp(id.project_id, "9f1c") == 0, "project");
	check(strcmp(id.user, "alice") == 0 && strcmp(id.user_id, "5a3e") == 0, "user");
	check(id.cluster_version == NULL, "no oVirt field");
	ve_vm_identity_clear(&id);
	check(id.instance == NULL, "cleared");

	/* the older namespace, with fields left out */
	check(ve_vm_identity_parse("<n:instance xmlns:n=\"http://openstack.org/xmlns/libvirt/nova/1.0\">"
				   "<n:name> old </n:name></n:instance>", VE_NOVA_NS_1_0, &id), "Nova 1.0");
	check(strcmp(id.instance, "old") == 0 && !id.flavor && !id.project, "trimmed, the rest absent");
	ve_vm_identity_clear(&id);

	/* as libvirt hands it out: the element without its namespace, asked under Nova's */
	check(ve_vm_identity_parse("<instance><name>bare</name><owner><project uuid=\"p1\">q</project>"
				   "</owner></instance>", VE_NOVA_NS, &id), "libvirt's bare form");
	check(strcmp(id.orchestrator, "nova") == 0 && strcmp(id.instance, "bare") == 0 &&
	      strcmp(id.project_id, "p1") == 0, "read as Nova's");
	ve_vm_identity_clear(&id);
	check(!ve_vm_identity_parse(nova_xml, VE_OVIRT_NS, &id), "Nova's element asked as oVirt's: refused");
}

static void test_ovirt(void **state)
{
	struct ve_vm_identity id;

	(void)state;
	check(ve_vm_identity_parse("<ovirt-vm:vm xmlns:ovirt-vm=\"http://ovirt.org/vm/1.0\">"
				   "<ovirt-vm:clusterVersion>4.5</ovirt-vm:clusterVersion>"
				   "<ovirt-vm:resumeBehavior>auto_resume</ovirt-vm:resumeBehavior>"
				   "</ovirt-vm:vm>", NULL, &id), "oVirt's element");
	check(strcmp(id.orchestrator, "ovirt") == 0 && strcmp(id.cluster_version, "4.5") == 0,
	      "orchestrator and cluster version");
	check(!id.instance, "oVirt names the VM as libvirt does: no instance");
	ve_vm_identity_clear(&id);
}

static void test_refused(void **state)
{
	static const char *const bad[] = {
		NULL,
		"",
		"<nova:instance xmlns:nova=\"http://example.org/other\"><nova:name>x</nova:name></nova:instance>",
		"<instance><name>no namespace</name></instance>",
		"<nova:other xmlns:nova=\"http://openstack.org/xmlns/libvirt/nova/1.1\"/>",
		"<nova:instance xmlns:nova=\"http://openstack.org/xmlns/libvirt/nova/1.1\"><nova:name>x",
		"<!DOCTYPE x [<!ENTITY e \"boom\">]><nova:instance "
		"xmlns:nova=\"http://openstack.org/xmlns/libvirt/nova/1.1\"><nova:name>&e;</nova:name>"
		"</nova:instance>",
	};
	struct ve_vm_identity id;

	(void)state;
	for (size_t i = 0; i < G_N_ELEMENTS(bad); i++) {
		check(!ve_vm_identity_parse(bad[i], NULL, &id), "refused: %s", bad[i] ? bad[i] : "(null)");
		check(!id.orchestrator && !id.instance, "and nothing set: %s", bad[i] ? bad[i] : "(null)");
	}
	/* a value with a control character, or too long, is left out; the rest stays */
	{
		g_autofree char *longname = g_strnfill(VE_IDENTITY_MAX + 1, 'a');
		g_autofree char *xml = g_strdup_printf(
			"<nova:instance xmlns:nova=\"http://openstack.org/xmlns/libvirt/nova/1.1\">"
			"<nova:name>a&#x9;b</nova:name><nova:flavor name=\"%s\"/>"
			"<nova:owner><nova:project uuid=\"p\">ok</nova:project></nova:owner></nova:instance>",
			longname);

		check(ve_vm_identity_parse(xml, NULL, &id), "parsed");
		check(!id.instance && !id.flavor, "too long and a control character: left out");
		check(strcmp(id.project, "ok") == 0, "the rest stays");
		ve_vm_identity_clear(&id);
	}
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_nova),
		cmocka_unit_test(test_ovirt),
		cmocka_unit_test(test_refused),
	};

	return cmocka_run_group_tests_name("identity", tests, NULL, NULL);
}
