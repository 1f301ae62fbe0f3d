// SPDX-License-Identifier: GPL-2.0-or-later
/* A domain's disks served over unix sockets, from its XML (backing.h). */
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
		"</devices></domain>";
	GArray *b = ve_backings_parse(xml);
	const struct ve_backing *d;

	(void)state;
	check(b != NULL, "parsed");
	check_u64(b->len, 2, "an NBD disk on a unix socket and a vhost-user disk");
	d = &g_array_index(b, struct ve_backing, 0);
	check(strcmp(d->target, "vdb") == 0 && strcmp(d->socket, "/run/qsd/front.sock") == 0 &&
	      strcmp(d->kind, "nbd") == 0, "the NBD disk: %s %s", d->target, d->socket);
	d = &g_array_index(b, struct ve_backing, 1);
	check(strcmp(d->target, "vde") == 0 && strcmp(d->socket, "/run/vhost/blk0.sock") == 0 &&
	      strcmp(d->kind, "vhost-user") == 0, "the vhost-user disk");
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
