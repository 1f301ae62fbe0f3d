// SPDX-License-Identifier: GPL-2.0-or-later
/*
 * One accounting period: hand-computed tables for every idle policy, edge
 * periods, randomised conservation properties and bad input.
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "attrib.h"
#include "check.h"
#include "ledger.h"

#define SEC_US 1000000u
#define NS_PER_S 1000000000u

enum { HOST = 0, VM_A = 1, VM_B = 2, SVC = 3 };

/* host, A (2 vCPUs), B (6 vCPUs), one service */
static struct ve_account_table *fixture_table(void)
{
	struct ve_account_table *t = ve_account_table_new();
	uint32_t s;

	check(t && ve_account_add(t, VE_KIND_VM, 2, &s) == 0 && s == VM_A, "VM A");
	check(ve_account_add(t, VE_KIND_VM, 6, &s) == 0 && s == VM_B, "VM B");
	check(ve_account_add(t, VE_KIND_SERVICE, 0, &s) == 0 && s == SVC, "service");
	return t;
}

/*
 * Package: 1 J per second of running (task clock, 1000 pJ/ns), 4 W idle,
 * 10 J measured in 1 s.  Run time: A vcpu 0.5 s, A emulator 0.1 s, B vcpu
 * 1 s, the service 0.2 s, the host 0.2 s: 2 J modelled.  Static 4 J leaves
 * 6 J dynamic, so every modelled joule becomes 3: A vcpu 1.5 J, A emulator
 * 0.3 J, B vcpu 3 J, service 0.6 J, host 0.6 J.  The service works 1:2 for
 * A and B: A gets 0.2 J, B 0.4 J as "service".
 *
 * Disk (no sensor): 0.6 W idle, 3.0 W active, busy 0.5 s: 0.6 + 1.2 J.
 * 1 uJ per request, 1 nJ per byte: A 100 + 100 uJ, B 200 + 400 uJ, so the
 * 1.2 J dynamic split 1:3: A 0.3 J, B 0.9 J.  Static 0.6 J.
 */
static const struct ve_thread_sample fixture_threads[] = {
	{ VM_A, VE_COMP_VCPU, 0, { NS_PER_S / 2 } },
	{ VM_A, VE_COMP_EMULATOR, 0, { NS_PER_S / 10 } },
	{ VM_B, VE_COMP_VCPU, 0, { NS_PER_S } },
	{ SVC, VE_COMP_CPU, 0, { NS_PER_S / 5 } },
	{ HOST, VE_COMP_CPU, 0, { NS_PER_S / 5 } },
	/* another socket: no device here sees it */
	{ VM_B, VE_COMP_VCPU, 1, { NS_PER_S } },
};

static const struct ve_io_sample fixture_io[] = {
	{ VM_A, 1, VE_COMP_DISK, 100, 100000 },
	{ VM_B, 1, VE_COMP_DISK, 200, 400000 },
};

static const struct ve_service_use fixture_uses[] = {
	{ SVC, VM_A, 10 },
	{ SVC, VM_B, 20 },
};

static void fixture_devices(struct ve_device dev[2])
{
	memset(dev, 0, 2 * sizeof(*dev));
	dev[0].kind = VE_DEV_PKG;
	dev[0].measured = true;
	dev[0].measured_uj = 10000000;
	dev[0].cpu = (struct ve_cpu_model){ .n_events = 1, .weight_pj = { 1000.0 },
					    .idle_power_uw = 4000000 };
	dev[1].kind = VE_DEV_DISK;
	dev[1].disk = (struct ve_disk_model){ .idle_power_uw = 600000, .active_power_uw = 3000000,
					      .op_nj = 1000.0, .byte_pj = 1000.0 };
	dev[1].busy_us = SEC_US / 2;
}

static struct ve_period fixture_period(const struct ve_device *dev)
{
	return (struct ve_period){
		.period_us = SEC_US,
		.devices = dev, .n_devices = 2,
		.threads = fixture_threads, .n_threads = ARRAY_SIZE(fixture_threads),
		.io = fixture_io, .n_io = ARRAY_SIZE(fixture_io),
		.uses = fixture_uses, .n_uses = ARRAY_SIZE(fixture_uses),
	};
}

struct policy_case {
	enum ve_idle_policy policy;
	/* idle component of A and B, host reasons, in uJ (pkg static 4 J + disk 0.6 J) */
	double idle_a, idle_b, none, no_taker;
};

static const struct policy_case policy_cases[] = {
	{ VE_IDLE_NONE, 0, 0, 4600000, 0 },
	{ VE_IDLE_EQUAL, 2300000, 2300000, 0, 0 },
	/* 2:6 vCPUs */
	{ VE_IDLE_VCPUS, 1150000, 3450000, 0, 0 },
	/*
	 * By use per device.  Package: A 1.5 + 0.3 + 0.2 = 2.0 J, B 3.4 J, so
	 * A gets 4 × 2/5.4 J.  Disk: A 0.3, B 0.9, so A gets 0.6/4.
	 */
	{ VE_IDLE_USAGE, 4000000.0 * 2.0 / 5.4 + 150000, 4000000.0 * 3.4 / 5.4 + 450000, 0, 0 },
};

static void check_fixture_common(const struct ve_result *r, const char *ctx)
{
	const struct ve_account_energy *a = &r->acct[VM_A], *b = &r->acct[VM_B];

	check_u64(r->n_accounts, 4, ctx);
	check_u64(r->energy_uj, 11800000, ctx);
	check_u64(r->dev_total_uj[VE_DEV_PKG], 10000000, ctx);
	check_u64(r->dev_total_uj[VE_DEV_DISK], 1800000, ctx);
	check(r->estimated, "%s: the disk had no sensor", ctx);
	check(!r->static_clamped, "%s: nothing clamped", ctx);
	check_near(a->comp_uj[VE_COMP_VCPU], 1500000, 1, ctx);
	check_near(a->comp_uj[VE_COMP_EMULATOR], 300000, 1, ctx);
	check_near(a->comp_uj[VE_COMP_SERVICE], 200000, 1, ctx);
	check_near(a->comp_uj[VE_COMP_DISK], 300000, 1, ctx);
	check_near(b->comp_uj[VE_COMP_VCPU], 3000000, 1, ctx);
	check_near(b->comp_uj[VE_COMP_SERVICE], 400000, 1, ctx);
	check_near(b->comp_uj[VE_COMP_DISK], 900000, 1, ctx);
	check_near(r->acct[HOST].comp_uj[VE_COMP_CPU], 600000, 1, ctx);
	check_u64(r->acct[SVC].total_uj, 0, ctx);
	check_near(r->acct[SVC].passed_on_uj, 600000, 1, ctx);
	check_u64(r->host_reason_uj[VE_REASON_UNATTRIBUTED], 0, ctx);
}

static uint64_t sum_totals(const struct ve_result *r)
{
	uint64_t sum = 0;

	for (size_t s = 0; s < r->n_accounts; s++)
		sum += r->acct[s].total_uj;
	return sum;
}

static void test_policies(void **state)
{
	struct ve_account_table *t = fixture_table();
	struct ve_attrib *a = ve_attrib_new();
	struct ve_device dev[2];
	struct ve_period p;
	struct ve_result r;

	(void)state;
	fixture_devices(dev);
	p = fixture_period(dev);
	ve_result_init(&r);
	for (size_t i = 0; i < ARRAY_SIZE(policy_cases); i++) {
		const struct policy_case *c = &policy_cases[i];
		const char *ctx = ve_idle_policy_name(c->policy);
		struct ve_error err = { 0 };

		check(ve_attrib_run(a, t, c->policy, &p, &r, &err) == 0, "%s: %s", ctx, err.msg);
		check_fixture_common(&r, ctx);
		check_near(r.acct[VM_A].comp_uj[VE_COMP_IDLE], c->idle_a, 1, ctx);
		check_near(r.acct[VM_B].comp_uj[VE_COMP_IDLE], c->idle_b, 1, ctx);
		check_u64(r.host_reason_uj[VE_REASON_IDLE_POLICY_NONE], c->none, ctx);
		check_u64(r.host_reason_uj[VE_REASON_IDLE_NO_TAKER], c->no_taker, ctx);
		check_u64(sum_totals(&r), r.energy_uj, ctx);
	}
	ve_result_clear(&r);
	ve_attrib_free(a);
	ve_account_table_free(t);
}

/* Edge periods on the package alone. */
static void test_edges(void **state)
{
	struct ve_account_table *t = fixture_table();
	struct ve_attrib *a = ve_attrib_new();
	struct ve_device dev[2];
	struct ve_period p;
	struct ve_result r;
	struct ve_error err = { 0 };

	(void)state;
	fixture_devices(dev);
	p = fixture_period(dev);
	p.n_devices = 1;
	p.n_io = 0;
	ve_result_init(&r);

	/* A zero-energy period: nothing for anyone, the idle model clamped to 0. */
	dev[0].measured_uj = 0;
	check(ve_attrib_run(a, t, VE_IDLE_VCPUS, &p, &r, &err) == 0, "zero: %s", err.msg);
	check_u64(r.energy_uj, 0, "zero period");
	check_u64(sum_totals(&r), 0, "zero period totals");
	check(r.static_clamped, "zero period clamps the idle power");
	check(!r.estimated, "the package was measured");

	/* Below idle power: 3 J is all static, split 2:6 by vCPUs. */
	dev[0].measured_uj = 3000000;
	check(ve_attrib_run(a, t, VE_IDLE_VCPUS, &p, &r, &err) == 0, "clamped: %s", err.msg);
	check(r.static_clamped, "3 J < 4 J idle");
	check_u64(r.acct[VM_A].total_uj, 750000, "clamped A");
	check_u64(r.acct[VM_B].total_uj, 2250000, "clamped B");

	/* No samples at all: 4 J static, the other 1 J is unexplained. */
	dev[0].measured_uj = 5000000;
	p.n_threads = 0;
	p.n_uses = 0;
	check(ve_attrib_run(a, t, VE_IDLE_EQUAL, &p, &r, &err) == 0, "no samples: %s", err.msg);
	check_u64(r.host_reason_uj[VE_REASON_UNATTRIBUTED], 1000000, "no samples");
	check_u64(r.acct[VM_A].comp_uj[VE_COMP_IDLE], 2000000, "no samples, A idle");
	check_u64(r.acct[HOST].total_uj, 1000000, "no samples, host");

	/* No sensor: the model's own total, 4 J static + 2 J dynamic. */
	p.n_threads = ARRAY_SIZE(fixture_threads);
	p.n_uses = ARRAY_SIZE(fixture_uses);
	dev[0].measured = false;
	check(ve_attrib_run(a, t, VE_IDLE_VCPUS, &p, &r, &err) == 0, "estimated: %s", err.msg);
	check(r.estimated, "no sensor means estimated");
	check_u64(r.energy_uj, 6000000, "model total");
	check_u64(r.acct[VM_B].comp_uj[VE_COMP_VCPU], 1000000, "unscaled model");

	/* No VM running: vcpus policy has nobody to charge. */
	dev[0].measured = true;
	dev[0].measured_uj = 10000000;
	p.n_threads = 1;
	p.threads = &fixture_threads[4]; /* the host's own */
	p.n_uses = 0;
	check(ve_attrib_run(a, t, VE_IDLE_VCPUS, &p, &r, &err) == 0, "stop: %s", err.msg);
	check(ve_account_set_active(t, VM_A, false) == 0 && ve_account_set_active(t, VM_B, false) == 0,
	      "stop both VMs");
	check(ve_attrib_run(a, t, VE_IDLE_VCPUS, &p, &r, &err) == 0, "no VMs: %s", err.msg);
	check_u64(r.host_reason_uj[VE_REASON_IDLE_NO_TAKER], 4000000, "no VMs: static to host");
	check_u64(r.acct[HOST].comp_uj[VE_COMP_CPU], 6000000, "host's own work");
	check_u64(r.acct[VM_A].total_uj + r.acct[VM_B].total_uj, 0, "stopped VMs get nothing");

	ve_result_clear(&r);
	ve_attrib_free(a);
	ve_account_table_free(t);
}

/* Two sockets: each package only sees the threads that ran on it. */
static void test_packages(void **state)
{
	struct ve_account_table *t = fixture_table();
	struct ve_attrib *a = ve_attrib_new();
	struct ve_device dev[2];
	struct ve_period p;
	struct ve_result r;
	struct ve_error err = { 0 };

	(void)state;
	fixture_devices(dev);
	dev[0].cpu.idle_power_uw = 0;
	dev[1] = dev[0];
	dev[1].package = 1;
	dev[1].measured_uj = 7000000;
	dev[1].kind = VE_DEV_DRAM;
	p = fixture_period(dev);
	p.n_io = 0;
	p.n_uses = 0;
	ve_result_init(&r);
	check(ve_attrib_run(a, t, VE_IDLE_NONE, &p, &r, &err) == 0, "%s", err.msg);
	/* socket 1 saw only B's second thread: all 7 J of the DRAM domain */
	check_u64(r.acct[VM_B].dev_uj[VE_DEV_DRAM], 7000000, "DRAM of socket 1");
	check_u64(r.acct[VM_A].dev_uj[VE_DEV_DRAM], 0, "A never ran on socket 1");
	/* socket 0: 10 J over 2 s of modelled running; B had 1 s */
	check_u64(r.acct[VM_B].dev_uj[VE_DEV_PKG], 5000000, "package of socket 0");
	check_u64(r.acct[VM_B].comp_uj[VE_COMP_VCPU], 12000000, "B's vcpu over both");
	ve_result_clear(&r);
	ve_attrib_free(a);
	ve_account_table_free(t);
}

struct bad_case {
	const char *name;
	int ret;
	void (*mangle)(struct ve_period *p, struct ve_device *dev, struct ve_thread_sample *th,
		       struct ve_io_sample *io, struct ve_service_use *use,
		       enum ve_idle_policy *policy);
};

#define MANGLE(fn, body)                                                                    \
	static void fn(struct ve_period *p, struct ve_device *dev, struct ve_thread_sample *th, \
		       struct ve_io_sample *io, struct ve_service_use *use,                     \
		       enum ve_idle_policy *policy)                                             \
	{                                                                                       \
		(void)p, (void)dev, (void)th, (void)io, (void)use, (void)policy;                \
		body;                                                                           \
	}

MANGLE(zero_period, p->period_us = 0)
MANGLE(negative_measure, dev[0].measured_uj = -1)
MANGLE(absurd_measure, dev[0].measured_uj = (int64_t)VE_MAX_PERIOD_UJ + 1)
MANGLE(nan_weight, dev[0].cpu.weight_pj[0] = NAN)
MANGLE(negative_weight, dev[0].cpu.weight_pj[0] = -3.0)
MANGLE(inf_weight, dev[0].cpu.weight_pj[0] = INFINITY)
MANGLE(too_many_events, dev[0].cpu.n_events = VE_MAX_EVENTS + 1)
MANGLE(nan_disk, dev[1].disk.byte_pj = NAN)
MANGLE(disk_active_below_idle, dev[1].disk.active_power_uw = 1)
MANGLE(huge_product, dev[0].cpu.weight_pj[0] = 1e300; th[0].delta[0] = UINT64_MAX)
MANGLE(huge_idle, dev[1].disk.idle_power_uw = UINT64_MAX; dev[1].disk.active_power_uw = UINT64_MAX)
MANGLE(unknown_kind, dev[1].kind = (enum ve_device_kind)9)
MANGLE(unknown_account, th[2].account = 77)
MANGLE(derived_component, th[0].comp = VE_COMP_IDLE)
MANGLE(service_component, th[0].comp = VE_COMP_SERVICE)
MANGLE(unknown_component, th[0].comp = (enum ve_component)42)
MANGLE(io_unknown_device, io[0].device = 5)
MANGLE(io_to_package, io[0].device = 0)
MANGLE(io_unknown_account, io[1].account = 4)
MANGLE(io_vcpu_component, io[1].comp = VE_COMP_VCPU)
MANGLE(use_unknown_client, use[0].client = 40)
MANGLE(use_vm_as_server, use[0].service = VM_A)
MANGLE(unknown_policy, *policy = VE_IDLE__MAX)

static const struct bad_case bad_cases[] = {
	{ "zero-length period", -EINVAL, zero_period },
	{ "negative measurement", -EINVAL, negative_measure },
	{ "absurd measurement", -ERANGE, absurd_measure },
	{ "NaN weight", -EINVAL, nan_weight },
	{ "negative weight", -EINVAL, negative_weight },
	{ "infinite weight", -EINVAL, inf_weight },
	{ "too many events", -EINVAL, too_many_events },
	{ "NaN disk weight", -EINVAL, nan_disk },
	{ "disk active below idle", -EINVAL, disk_active_below_idle },
	{ "overflowing product", -ERANGE, huge_product },
	{ "overflowing idle power", -ERANGE, huge_idle },
	{ "unknown device kind", -EINVAL, unknown_kind },
	{ "unknown account", -ENOENT, unknown_account },
	{ "sampled idle", -EINVAL, derived_component },
	{ "sampled service", -EINVAL, service_component },
	{ "unknown component", -EINVAL, unknown_component },
	{ "I/O on no device", -ENOENT, io_unknown_device },
	{ "I/O on a package", -EINVAL, io_to_package },
	{ "I/O of an unknown account", -ENOENT, io_unknown_account },
	{ "I/O as vcpu", -EINVAL, io_vcpu_component },
	{ "use of an unknown client", -ENOENT, use_unknown_client },
	{ "a VM as server", -EINVAL, use_vm_as_server },
	{ "unknown policy", -EINVAL, unknown_policy },
};

/*
 * Each bad period is refused with the right code and a message, the
 * previous result is left as it was, and the ledger the caller keeps is
 * exactly what the good periods made it.
 */
static void test_bad_input(void **state)
{
	struct ve_account_table *t = fixture_table();
	struct ve_attrib *a = ve_attrib_new();
	struct ve_result r, good;
	struct ve_ledger l;

	(void)state;
	ve_result_init(&r);
	ve_result_init(&good);
	ve_ledger_init(&l);
	for (size_t i = 0; i < ARRAY_SIZE(bad_cases); i++) {
		const struct bad_case *c = &bad_cases[i];
		struct ve_device dev[2];
		struct ve_thread_sample th[ARRAY_SIZE(fixture_threads)];
		struct ve_io_sample io[ARRAY_SIZE(fixture_io)];
		struct ve_service_use use[ARRAY_SIZE(fixture_uses)];
		enum ve_idle_policy policy = VE_IDLE_VCPUS;
		struct ve_period p;
		struct ve_error err = { 0 };
		uint64_t before_energy, before_a;
		int ret;

		fixture_devices(dev);
		memcpy(th, fixture_threads, sizeof(th));
		memcpy(io, fixture_io, sizeof(io));
		memcpy(use, fixture_uses, sizeof(use));
		p = fixture_period(dev);
		p.threads = th;
		p.io = io;
		p.uses = use;

		check(ve_attrib_run(a, t, policy, &p, &r, NULL) == 0, "%s: good period first", c->name);
		check(ve_ledger_apply(&l, &r) == 0, "%s: apply good", c->name);
		before_energy = l.energy_uj;
		before_a = l.e[VM_A].total_uj;

		c->mangle(&p, dev, th, io, use, &policy);
		ret = ve_attrib_run(a, t, policy, &p, &r, &err);
		check(ret == c->ret, "%s: returned %d, want %d (%s)", c->name, ret, c->ret, err.msg);
		check(err.code == c->ret && err.msg[0], "%s: error explained", c->name);
		/* the previous good result is still what the caller holds */
		check_u64(r.energy_uj, 11800000, c->name);
		check_fixture_common(&r, c->name);
		if (ret == 0)
			check(ve_ledger_apply(&l, &r) == 0, "%s", c->name);
		check_u64(l.energy_uj, before_energy, c->name);
		check_u64(l.e[VM_A].total_uj, before_a, c->name);
	}
	check_u64(l.periods, ARRAY_SIZE(bad_cases), "one good period per case");
	ve_ledger_clear(&l);
	ve_result_clear(&r);
	ve_result_clear(&good);
	ve_attrib_free(a);
	ve_account_table_free(t);
}

/*
 * Randomised periods (seeded): whatever the accounts, devices, samples,
 * services and policy, Σ accounts = Σ devices exactly, measured devices
 * keep their measurement, stopped accounts get nothing, and the ledger
 * only grows.
 */
static void test_random_periods(void **state)
{
	uint64_t seed = 0x5eed2007;
	struct ve_attrib *a = ve_attrib_new();
	struct ve_result r;
	struct ve_ledger l;
	struct ve_ledger_entry *prev = NULL;
	uint64_t prev_reason[VE_REASON__MAX] = { 0 };
	struct ve_account_table *t = ve_account_table_new();
	uint32_t slot;

	(void)state;
	ve_result_init(&r);
	ve_ledger_init(&l);
	for (int i = 0; i < 40; i++)
		check(ve_account_add(t, test_rand_below(&seed, 5) ? VE_KIND_VM : VE_KIND_SERVICE,
				     (uint32_t)test_rand_below(&seed, 9), &slot) == 0, "add");
	prev = calloc(t->n, sizeof(*prev));

	for (int iter = 0; iter < 3000; iter++) {
		struct ve_device dev[4];
		struct ve_thread_sample th[120];
		struct ve_io_sample io[30];
		struct ve_service_use use[30];
		size_t n_dev = 1 + test_rand_below(&seed, 4);
		size_t n_th = test_rand_below(&seed, 120), n_io = test_rand_below(&seed, 30);
		size_t n_use = test_rand_below(&seed, 30);
		uint32_t active[41], n_active = 0, services[41], n_svc = 0;
		uint64_t measured_sum = 0;
		enum ve_idle_policy policy = (enum ve_idle_policy)test_rand_below(&seed, VE_IDLE__MAX);
		struct ve_period p;
		struct ve_error err = { 0 };
		char ctx[64];

		snprintf(ctx, sizeof(ctx), "iteration %d", iter);
		/* VMs come and go */
		for (uint32_t s = 1; s < t->n; s++)
			if (test_rand_below(&seed, 10) == 0)
				ve_account_set_active(t, s, !t->slot[s].active);
		for (uint32_t s = 0; s < t->n; s++) {
			if (!t->slot[s].active)
				continue;
			active[n_active++] = s;
			if (t->slot[s].kind == VE_KIND_SERVICE)
				services[n_svc++] = s;
		}

		memset(dev, 0, sizeof(dev));
		for (size_t d = 0; d < n_dev; d++) {
			dev[d].kind = (enum ve_device_kind)test_rand_below(&seed, VE_DEV__MAX);
			dev[d].package = (uint32_t)test_rand_below(&seed, 2);
			dev[d].measured = test_rand_below(&seed, 3) != 0;
			/* include periods far below idle power and zero periods */
			dev[d].measured_uj = (int64_t)test_rand_below(&seed, 5) *
					     (int64_t)test_rand_below(&seed, 3000000);
			dev[d].cpu.n_events = 3;
			for (int e = 0; e < 3; e++)
				dev[d].cpu.weight_pj[e] = (double)test_rand_below(&seed, 2000);
			dev[d].cpu.idle_power_uw = test_rand_below(&seed, 30000000);
			dev[d].disk.idle_power_uw = test_rand_below(&seed, 5000000);
			dev[d].disk.active_power_uw = dev[d].disk.idle_power_uw +
						      test_rand_below(&seed, 5000000);
			dev[d].disk.op_nj = (double)test_rand_below(&seed, 100000);
			dev[d].disk.byte_pj = (double)test_rand_below(&seed, 50000);
			dev[d].busy_us = test_rand_below(&seed, 200000);
			if (dev[d].measured)
				measured_sum += (uint64_t)dev[d].measured_uj;
		}
		for (size_t i = 0; i < n_th; i++) {
			static const enum ve_component comps[] = { VE_COMP_VCPU, VE_COMP_EMULATOR,
								   VE_COMP_IO, VE_COMP_CPU };

			th[i].account = active[test_rand_below(&seed, n_active)];
			th[i].comp = comps[test_rand_below(&seed, 4)];
			th[i].package = (uint32_t)test_rand_below(&seed, 2);
			for (int e = 0; e < VE_MAX_EVENTS; e++)
				th[i].delta[e] = test_rand_below(&seed, 400000000);
		}
		for (size_t i = 0; i < n_io; i++) {
			uint32_t d = (uint32_t)test_rand_below(&seed, n_dev);

			io[i] = (struct ve_io_sample){ active[test_rand_below(&seed, n_active)], d,
						       VE_COMP_DISK, test_rand_below(&seed, 500),
						       test_rand_below(&seed, 50000000) };
			dev[d].kind = VE_DEV_DISK;
		}
		if (!n_svc)
			n_use = 0;
		for (size_t i = 0; i < n_use; i++)
			use[i] = (struct ve_service_use){ services[test_rand_below(&seed, n_svc)],
							  active[test_rand_below(&seed, n_active)],
							  test_rand_below(&seed, 100) };

		p = (struct ve_period){ .period_us = 1 + test_rand_below(&seed, 2 * SEC_US),
					.devices = dev, .n_devices = n_dev,
					.threads = th, .n_threads = n_th,
					.io = io, .n_io = n_io,
					.uses = use, .n_uses = n_use };
		check(ve_attrib_run(a, t, policy, &p, &r, &err) == 0, "%s: %s", ctx, err.msg);

		check_u64(sum_totals(&r), r.energy_uj, ctx);
		{
			uint64_t dev_sum = 0, meas = 0;

			for (int k = 0; k < VE_DEV__MAX; k++)
				dev_sum += r.dev_total_uj[k];
			check_u64(dev_sum, r.energy_uj, ctx);
			for (size_t d = 0; d < n_dev; d++)
				if (dev[d].measured)
					meas += (uint64_t)dev[d].measured_uj;
			check_u64(meas, measured_sum, ctx);
			if (!r.estimated)
				check_u64(r.energy_uj, measured_sum, ctx);
			else
				check(r.energy_uj >= measured_sum, "%s: estimated total below measured",
				      ctx);
		}
		for (uint32_t s = 0; s < t->n; s++) {
			if (!t->slot[s].active || t->slot[s].kind == VE_KIND_SERVICE)
				check_u64(r.acct[s].total_uj, 0, ctx);
			check(r.acct[s].total_uj <= r.energy_uj, "%s: slot %u has %" PRIu64
			      " of %" PRIu64, ctx, s, r.acct[s].total_uj, r.energy_uj);
		}

		check(ve_ledger_apply(&l, &r) == 0, "%s: ledger", ctx);
		for (uint32_t s = 0; s < t->n; s++) {
			for (int c = 0; c < VE_COMP__MAX; c++)
				check(l.e[s].comp_uj[c] >= prev[s].comp_uj[c], "%s: ledger went back",
				      ctx);
			check(l.e[s].total_uj >= prev[s].total_uj, "%s: total went back", ctx);
			prev[s] = l.e[s];
		}
		for (int k = 0; k < VE_REASON__MAX; k++) {
			check(l.host_reason_uj[k] >= prev_reason[k], "%s: reason went back", ctx);
			prev_reason[k] = l.host_reason_uj[k];
		}
	}
	{
		uint64_t sum = 0;

		for (size_t s = 0; s < l.n; s++)
			sum += l.e[s].total_uj;
		check_u64(sum, l.energy_uj, "cumulative conservation");
	}
	free(prev);
	ve_ledger_clear(&l);
	ve_result_clear(&r);
	ve_attrib_free(a);
	ve_account_table_free(t);
}

static void test_names(void **state)
{
	enum ve_idle_policy p = VE_IDLE_NONE;

	(void)state;
	for (int i = 0; i < VE_IDLE__MAX; i++)
		check(ve_idle_policy_from_name(ve_idle_policy_name((enum ve_idle_policy)i), &p) == 0 &&
		      p == (enum ve_idle_policy)i, "policy %d round-trips", i);
	check(ve_idle_policy_from_name("fair", &p) == -EINVAL && p == VE_IDLE__MAX - 1,
	      "unknown policy refused, output untouched");
	check(strcmp(ve_idle_policy_name(VE_IDLE_DEFAULT), "vcpus") == 0, "default is vcpus");
	check(strcmp(ve_device_kind_name(VE_DEV_DRAM), "dram") == 0, "device kind name");
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_policies),
		cmocka_unit_test(test_edges),
		cmocka_unit_test(test_packages),
		cmocka_unit_test(test_bad_input),
		cmocka_unit_test(test_random_periods),
		cmocka_unit_test(test_names),
	};

	return cmocka_run_group_tests_name("attrib", tests, NULL, NULL);
}
