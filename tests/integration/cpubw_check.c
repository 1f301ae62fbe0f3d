// SPDX-License-Identifier: GPL-2.0-or-later
/*
 * cpubw_check: the CPU bandwidth actuator against a real libvirtd and a
 * running guest.  Throttles the guest to half, restores it, then throttles
 * it again and "crashes" (drops the actuator without restoring): a new
 * actuator must find the record and restore the guest's own quota.  In
 * dry-run mode nothing may change.  Prints one line per check; exit 0 when
 * all pass.
 *
 * usage: cpubw_check URI DOMAIN STATE_DIR
 */
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include "cpubw.h"

static int failures;

static void expect(int ok, const char *what)
{
	printf("%s - cpubw: %s\n", ok ? "ok" : "not ok", what);
	if (!ok)
		failures++;
}

static long long quota(virDomainPtr dom)
{
	virTypedParameter p[16];
	int n = 16;
	long long q = -2;

	if (virDomainGetSchedulerParametersFlags(dom, p, &n, VIR_DOMAIN_AFFECT_LIVE) < 0 ||
	    virTypedParamsGetLLong(p, n, VIR_DOMAIN_SCHEDULER_VCPU_QUOTA, &q) != 1)
		return -2;
	return q;
}

static void on_log(void *ud, const char *uuid, const char *name, const char *msg)
{
	int *lines = ud;

	(*lines)++;
}

int main(int argc, char **argv)
{
	virConnectPtr conn;
	virDomainPtr dom;
	struct ve_cpubw *a;
	struct ve_actuator act;
	g_autoptr(GError) err = NULL;
	g_autoptr(GString) report = g_string_new("");
	g_autofree char *record = NULL;
	char uuid[VIR_UUID_STRING_BUFLEN];
	long long orig;
	int dry_lines = 0;

	if (argc != 4) {
		fprintf(stderr, "usage: cpubw_check URI DOMAIN STATE_DIR\n");
		return 2;
	}
	record = g_build_filename(argv[3], "throttle", NULL);
	conn = virConnectOpen(argv[1]);
	dom = conn ? virDomainLookupByName(conn, argv[2]) : NULL;
	if (!dom || virDomainGetUUIDString(dom, uuid) < 0) {
		printf("not ok - cpubw: cannot find domain %s\n", argv[2]);
		return 1;
	}
	orig = quota(dom);
	expect(orig == -1, "the guest starts unthrottled (vcpu_quota -1)");

	a = ve_cpubw_new(argv[3], false, NULL, NULL);
	expect(ve_cpubw_set(a, dom, 0.5, &err), "set half the bandwidth");
	expect(quota(dom) == 50000, "virsh schedinfo shows vcpu_quota 50000 of 100000");
	expect(access(record, F_OK) == 0, "the original is on record before the change");
	expect(ve_cpubw_set(a, dom, 0.25, &err) && quota(dom) == 25000, "a second step");
	expect(!ve_cpubw_set(a, dom, 1.5, &err), "a fraction above 1 is refused");
	g_clear_error(&err);
	expect(quota(dom) == 25000, "and changes nothing");
	expect(ve_cpubw_restore(a, conn, uuid, &err), "restore");
	expect(quota(dom) == orig, "the guest's own quota is back");
	expect(access(record, F_OK) != 0, "no record left");

	/* throttle, then die without restoring */
	expect(ve_cpubw_set(a, dom, 0.3, &err) && quota(dom) == 30000, "throttle before a crash");
	ve_cpubw_free(a);
	a = ve_cpubw_new(argv[3], false, NULL, NULL);
	act = ve_cpubw_actuator(a);
	expect(ve_act_reconcile(&act, conn, report) == 1 && report->len == 0,
	       "the next start finds the record and restores");
	expect(quota(dom) == orig, "no throttle left behind after a crash");
	expect(access(record, F_OK) != 0, "and the record is gone");
	ve_cpubw_free(a);

	/* dry run: reports, changes nothing, writes nothing */
	a = ve_cpubw_new(argv[3], true, on_log, &dry_lines);
	expect(ve_cpubw_set(a, dom, 0.5, &err), "dry run set");
	expect(quota(dom) == orig && access(record, F_OK) != 0, "dry run changed nothing");
	expect(dry_lines >= 2, "dry run said what it would do");
	ve_cpubw_free(a);

	virDomainFree(dom);
	virConnectClose(conn);
	return failures ? 1 : 0;
}
