// SPDX-License-Identifier: GPL-2.0-or-later
/* A domain's disks and interfaces served over unix sockets or on bridges, from its XML (backing.h). */
#include <string.h>

#include "backing.h"
#include "check.h"

static void test_parse(void **state)
{
	static const char xml[] =
		"<domain type='kvm'><name>web</name><devices>"
		"<disk type='file' device='disk'><source file='/var/lib/a.qcow2'/><target dev='vda'/></disk>"
		"<disk type='network' device='disk'><source protocol='nbd' name='g1'>"
		"<host transport='unix' socket='/run/qsd/front.sock'/></source><target dev='vdb' bus='virtio'/></disk>"
		"<disk type='network' device='disk'><source protocol='nbd' name='x'>"
		"<host name='10.0.0.1' port='10809'/></source><target dev='vdc'/></disk>"
		"<disk type='network' device='disk'><source protocol='rbd' name='pool/img'/><target dev='vdd'/></disk>"
		"<disk type='vhostuser' device='disk'><source type='unix' path='/run/vhost/blk0.sock'>"
		"<reconnect enabled='yes' timeout='10'/></source><target dev='vde' bus='virtio'/></disk>"
		"<disk type='network' device='disk'><source protocol='nbd'>"
		"<host transport='unix' socket='relative.sock'/></source><target dev='vdf'/></disk>"
		"<disk type='network' device='disk'><source protocol='nbd'>"
		"<host transport='unix' socket='/run/no-target.sock'/></source></disk>"
		"<interface type='vhostuser'><mac address='52:54:00:00:00:01'/>"
		"<source type='unix' path='/run/ovs/vhu0.sock' mode='server'/><target dev='vhu0'/></interface>"
		"<interface type='bridge'><source bridge='br-int'/><target dev='vnet3'/></interface>"
		"<interface type='network'><source network='default' bridge='virbr0'/><target dev='vnet4'/></interface>"
		"<interface type='network'><source network='default'/><target dev='vnet5'/></interface>"
		"<interface type='bridge'><source bridge='br0'/></interface>"
		"<interface type='user'><target dev='x'/></interface>"
		"</devices></domain>";
	GArray *b = ve_backings_parse(xml);
	const struct ve_backing *d;

	(void)state;
	check(b != NULL, "parsed");
	check_u64(b->len, 5, "an NBD disk on a unix socket, a vhost-user disk, three interfaces");
	d = &g_array_index(b, struct ve_backing, 0);
	check(strcmp(d->target, "vdb") == 0 && strcmp(d->socket, "/run/qsd/front.sock") == 0 &&
	      strcmp(d->kind, "nbd") == 0, "the NBD disk: %s %s", d->target, d->socket);
	d = &g_array_index(b, struct ve_backing, 1);
	check(strcmp(d->target, "vde") == 0 && strcmp(d->socket, "/run/vhost/blk0.sock") == 0 &&
	      strcmp(d->kind, "vhost-user") == 0 && !d->iface, "the vhost-user disk");
	d = &g_array_index(b, struct ve_backing, 2);
	check(strcmp(d->target, "vhu0") == 0 && strcmp(d->socket, "/run/ovs/vhu0.sock") == 0 &&
	      !d->bridge && strcmp(d->kind, "vhost-user-net") == 0 && d->iface, "the vhost-user interface");
	d = &g_array_index(b, struct ve_backing, 3);
	check(strcmp(d->target, "vnet3") == 0 && !d->socket && strcmp(d->bridge, "br-int") == 0 &&
	      strcmp(d->kind, "bridge") == 0 && d->iface, "the interface on bridge br-int");
	d = &g_array_index(b, struct ve_backing, 4);
	check(strcmp(d->target, "vnet4") == 0 && strcmp(d->bridge, "virbr0") == 0 && d->iface,
	      "the network's interface, on the bridge the live XML names");
	ve_backings_free(b);

	b = ve_backings_parse("<domain><devices/></domain>");
	check(b && b->len == 0, "no disks: an empty list");
	ve_backings_free(b);
	check(ve_backings_parse("<network/>") == NULL, "not a domain");
	check(ve_backings_parse("<domain>") == NULL, "not XML");
	check(ve_backings_parse("<!DOCTYPE domain [<!ENTITY x 'y'>]><domain/>") == NULL, "no DTDs");
	check(ve_backings_parse(NULL) == NULL, "NULL");
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_parse),
	};

	return cmocka_run_group_tests_name("backing", tests, NULL, NULL);
}
