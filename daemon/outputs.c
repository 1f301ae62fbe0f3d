// SPDX-License-Identifier: GPL-2.0-or-later
/*
 * outputs.c: what the host daemon shows (see outputs.h).
 */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <unistd.h>

#include "outputs.h"

void ve_outputs_table(struct ve_engine *engine, FILE *out)
{
	struct ve_host_view h;
	size_t n = ve_engine_n_vms(engine);

	ve_engine_host(engine, &h);
	fprintf(out, "host %8.2f W %12.3f J%s | %s | %s | block I/O: %s\n", (double)h.power_uw / 1e6,
	       (double)h.energy_uj / 1e6, h.estimated ? " (estimated)" : "", h.sensor, h.sampler,
	       h.io_source);
	fprintf(out, "%-20s %-9s %5s %4s %9s %12s %10s %10s %10s %10s %10s\n", "VM", "STATE", "VCPUS",
	       "THR", "POWER_W", "ENERGY_J", "VCPU_J", "EMUL_J", "IO_J", "IDLE_J", "SERVICE_J");
	for (size_t i = 0; i < n; i++) {
		struct ve_vm_view v;

		ve_engine_vm(engine, i, &v);
		fprintf(out, "%-20.20s %-9s %5u %4u %9.2f %12.3f %10.3f %10.3f %10.3f %10.3f %10.3f\n",
		       v.name, v.running ? "running" : v.undefined ? "undefined" : "stopped", v.vcpus,
		       v.n_threads,
		       (double)v.power_uw / 1e6, (double)v.ledger->total_uj / 1e6,
		       (double)v.ledger->comp_uj[VE_COMP_VCPU] / 1e6,
		       (double)v.ledger->comp_uj[VE_COMP_EMULATOR] / 1e6,
		       (double)v.ledger->comp_uj[VE_COMP_IO] / 1e6,
		       (double)v.ledger->comp_uj[VE_COMP_IDLE] / 1e6,
		       (double)v.ledger->comp_uj[VE_COMP_SERVICE] / 1e6);
	}
	fprintf(out, "%-20s %-9s %5s %4s %9s %12.3f   (own work; unattributed %.3f J)\n", "(host)", "", "",
	       "", "", (double)h.ledger->total_uj / 1e6, (double)h.unattributed_uj / 1e6);
	for (size_t i = 0; i < ve_engine_n_services(engine); i++) {
		struct ve_service_view sv;

		ve_engine_service(engine, i, &sv);
		fprintf(out, "%-20.20s %-9s %5s %4u %9.2f %12.3f   (service: passed on%s%s)\n", sv.name,
			"service", "", sv.n_threads, (double)sv.power_uw / 1e6,
			(double)sv.ledger->passed_on_uj / 1e6, sv.problem ? "; " : "",
			sv.problem ? sv.problem : "");
	}
	fflush(out);
}

/* A VM's virtual RAPL register file from its ledger (vrapl.h). */
static void vrapl_of(const struct ve_vm_view *v, bool has_dram, struct ve_vrapl *r)
{
	ve_vrapl_init(r);
	r->pkg_uj = v->ledger->total_uj;
	r->pp0_uj = v->ledger->comp_uj[VE_COMP_VCPU];
	r->dram_uj = v->ledger->dev_uj[VE_DEV_DRAM];
	r->has_dram = has_dram;
}

void ve_outputs_vrapl(struct ve_limiter *limiter, const struct ve_vm_view *v, bool has_dram,
		      struct ve_vrapl *r)
{
	vrapl_of(v, has_dram, r);
	if (limiter) {
		r->limit_uw = ve_limiter_limit_uw(limiter, v->uuid);
		r->alloc_uw = ve_limiter_alloc_uw(limiter, v->uuid);
	}
}

int ve_outputs_vmsr_admit(struct ve_engine *engine, pid_t peer, const char **why)
{
	if (ve_engine_vm_by_pid(engine, peer) < 0) {
		*why = "the peer is not the QEMU process of a VM virtenergyd accounts";
		return -EPERM;
	}
	return 0;
}

int ve_outputs_vmsr_lookup(struct ve_engine *engine, struct ve_limiter *limiter, pid_t peer,
			   uint32_t msr, pid_t tid, uint64_t *ret, const char **why)
{
	ssize_t i = ve_engine_vm_by_pid(engine, peer);
	struct ve_host_view h;
	struct ve_vm_view v;
	struct ve_vrapl r;
	char rel[64];

	if (i < 0) {
		*why = "the peer is not the QEMU process of a VM virtenergyd accounts";
		return -EPERM;
	}
	snprintf(rel, sizeof(rel), "proc/%d/task/%d", (int)peer, (int)tid);
	if (tid <= 0 || faccessat(ve_engine_root_fd(engine), rel, F_OK, 0) < 0) {
		*why = "the thread asked about is not one of the peer's";
		return -ESRCH;
	}
	ve_engine_host(engine, &h);
	ve_engine_vm(engine, (size_t)i, &v);
	ve_outputs_vrapl(limiter, &v, h.has_dram, &r);
	if (ve_vrapl_read(&r, msr, ret) < 0) {
		*why = "register not available";
		return -ENOENT;
	}
	return 0;
}
