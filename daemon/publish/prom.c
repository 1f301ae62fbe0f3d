// SPDX-License-Identifier: GPL-2.0-or-later
/*
 * prom.c: Prometheus text exposition (see prom.h).
 */
#include <fcntl.h>
#include <string.h>

#include "fileio.h"
#include "prom.h"

void ve_prom_label(GString *out, const char *v)
{
	for (const char *p = v ? v : ""; *p; p++) {
		if (*p == '\\')
			g_string_append(out, "\\\\");
		else if (*p == '"')
			g_string_append(out, "\\\"");
		else if (*p == '\n')
			g_string_append(out, "\\n");
		else
			g_string_append_c(out, *p);
	}
}

void ve_prom_micro(GString *out, uint64_t v)
{
	g_string_append_printf(out, "%" G_GUINT64_FORMAT ".%06" G_GUINT64_FORMAT, v / 1000000,
			       v % 1000000);
}

void ve_prom_head(GString *out, const char *name, const char *type, const char *help)
{
	g_string_append_printf(out, "# HELP %s %s\n# TYPE %s %s\n", name, help, name, type);
}

static void vm_labels(GString *out, const struct ve_prom_vm *vm)
{
	g_string_append(out, "uuid=\"");
	ve_prom_label(out, vm->uuid);
	g_string_append(out, "\",name=\"");
	ve_prom_label(out, vm->name);
	g_string_append_c(out, '"');
}

/* Shared services: each one's energy, all passed on to its clients (or to the host, with a reason). */
static void render_services(GString *out, const struct ve_prom_host *h)
{
	static const char *const m[][3] = {
		{ "virtenergy_service_energy_joules_total", "counter",
		  "Energy a shared service spent, passed on to its clients (the VMs' service "
		  "component) or to the host with a reason." },
		{ "virtenergy_service_power_watts", "gauge", "A shared service's power over the last second." },
		{ "virtenergy_service_threads", "gauge", "Threads of a shared service being sampled." },
	};

	for (size_t k = 0; k < G_N_ELEMENTS(m) && h->n_services; k++) {
		ve_prom_head(out, m[k][0], m[k][1], m[k][2]);
		for (size_t i = 0; i < h->n_services; i++) {
			const struct ve_prom_service *s = &h->services[i];

			g_string_append_printf(out, "%s{service=\"", m[k][0]);
			ve_prom_label(out, s->name);
			g_string_append(out, "\"} ");
			if (k == 2)
				g_string_append_printf(out, "%u", s->n_threads);
			else
				ve_prom_micro(out, k == 0 ? s->passed_on_uj : s->power_uw);
			g_string_append_c(out, '\n');
		}
	}
}

char *ve_prom_render(const struct ve_prom_host *h, const struct ve_prom_vm *vms, size_t n)
{
	GString *out = g_string_new(NULL);

	ve_prom_head(out, "virtenergy_vm_energy_joules_total", "counter",
	     "Energy attributed to a VM since it was first seen, by component.");
	for (size_t i = 0; i < n; i++)
		for (int c = 0; c < VE_COMP__MAX; c++) {
			if (c == VE_COMP_CPU)
				continue;   /* host and service processes only */
			g_string_append(out, "virtenergy_vm_energy_joules_total{");
			vm_labels(out, &vms[i]);
			g_string_append_printf(out, ",component=\"%s\"} ",
					       ve_component_name((enum ve_component)c));
			ve_prom_micro(out, vms[i].ledger->comp_uj[c]);
			g_string_append_c(out, '\n');
		}
	ve_prom_head(out, "virtenergy_vm_power_watts", "gauge", "A VM's power over the last second.");
	for (size_t i = 0; i < n; i++) {
		g_string_append(out, "virtenergy_vm_power_watts{");
		vm_labels(out, &vms[i]);
		g_string_append(out, "} ");
		ve_prom_micro(out, vms[i].power_uw);
		g_string_append_c(out, '\n');
	}
	ve_prom_head(out, "virtenergy_vm_running", "gauge", "1 while libvirt runs the VM.");
	for (size_t i = 0; i < n; i++) {
		g_string_append(out, "virtenergy_vm_running{");
		vm_labels(out, &vms[i]);
		g_string_append_printf(out, "} %d\n", vms[i].running ? 1 : 0);
	}
	ve_prom_head(out, "virtenergy_vm_info", "gauge",
	     "Always 1: who each VM is to its orchestrator (Nova, oVirt), to join on uuid.");
	for (size_t i = 0; i < n; i++) {
		g_string_append(out, "virtenergy_vm_info{");
		vm_labels(out, &vms[i]);
		for (const char *const *kv = vms[i].info; kv && kv[0] && kv[1]; kv += 2) {
			g_string_append_printf(out, ",%s=\"", kv[0]);
			ve_prom_label(out, kv[1]);
			g_string_append_c(out, '"');
		}
		g_string_append(out, "} 1\n");
	}
	ve_prom_head(out, "virtenergy_vm_power_limit_watts", "gauge",
	     "The power limit a VM is held to (its own or its share of the host cap).");
	for (size_t i = 0; i < n; i++) {
		if (!vms[i].limit_uw)
			continue;
		g_string_append(out, "virtenergy_vm_power_limit_watts{");
		vm_labels(out, &vms[i]);
		g_string_append(out, "} ");
		ve_prom_micro(out, vms[i].limit_uw);
		g_string_append_c(out, '\n');
	}
	ve_prom_head(out, "virtenergy_vm_limit_state", "gauge",
	     "1 for the state of a limited VM's limit: held, at-floor (at its CPU floor and over "
	     "its limit) or not-enforceable (an actuator refuses).");
	for (size_t i = 0; i < n; i++) {
		if (!vms[i].limit_state)
			continue;
		g_string_append(out, "virtenergy_vm_limit_state{");
		vm_labels(out, &vms[i]);
		g_string_append(out, ",state=\"");
		ve_prom_label(out, vms[i].limit_state);
		g_string_append(out, "\"} 1\n");
	}
	ve_prom_head(out, "virtenergy_vm_allocation_watts", "gauge",
	     "A VM's share of the host cap, while there is one.");
	for (size_t i = 0; i < n && h->host_cap_uw; i++) {
		if (!vms[i].alloc_uw)
			continue;
		g_string_append(out, "virtenergy_vm_allocation_watts{");
		vm_labels(out, &vms[i]);
		g_string_append(out, "} ");
		ve_prom_micro(out, vms[i].alloc_uw);
		g_string_append_c(out, '\n');
	}
	ve_prom_head(out, "virtenergy_vm_budget_left_joules", "gauge",
	     "What is left of a VM's energy budget in its window.");
	for (size_t i = 0; i < n; i++) {
		if (!vms[i].has_budget)
			continue;
		g_string_append(out, "virtenergy_vm_budget_left_joules{");
		vm_labels(out, &vms[i]);
		g_string_append(out, "} ");
		ve_prom_micro(out, vms[i].budget_left_uj);
		g_string_append_c(out, '\n');
	}
	if (h->host_cap_uw) {
		ve_prom_head(out, "virtenergy_host_cap_watts", "gauge",
		     "The host-wide power cap split among the VMs.");
		g_string_append(out, "virtenergy_host_cap_watts ");
		ve_prom_micro(out, h->host_cap_uw);
		g_string_append_c(out, '\n');
	}
	render_services(out, h);
	if (h->fleet_cap_uw) {
		ve_prom_head(out, "virtenergy_fleet_cap_watts", "gauge",
		     "The cap the fleet gives this host; source: where the cap in force comes from.");
		g_string_append_printf(out, "virtenergy_fleet_cap_watts{source=\"%s\"} ",
				       h->fleet_source ? h->fleet_source : "fleet");
		ve_prom_micro(out, h->fleet_cap_uw);
		g_string_append_c(out, '\n');
	}
	ve_prom_head(out, "virtenergy_host_energy_joules_total", "counter",
	     "All energy attributed: VMs and the host.");
	g_string_append(out, "virtenergy_host_energy_joules_total ");
	ve_prom_micro(out, h->energy_uj);
	g_string_append_c(out, '\n');
	ve_prom_head(out, "virtenergy_host_own_energy_joules_total", "counter",
	     "Energy of the host's own processes and I/O.");
	for (int c = 0; c < VE_COMP__MAX; c++) {
		if (c != VE_COMP_CPU && c != VE_COMP_DISK)
			continue;
		g_string_append_printf(out, "virtenergy_host_own_energy_joules_total{component=\"%s\"} ",
				       ve_component_name((enum ve_component)c));
		ve_prom_micro(out, h->ledger->comp_uj[c]);
		g_string_append_c(out, '\n');
	}
	ve_prom_head(out, "virtenergy_host_unattributed_joules_total", "counter",
	     "Energy that could not be charged to a VM, by reason.");
	for (int r = 0; r < VE_REASON__MAX; r++) {
		g_string_append_printf(out, "virtenergy_host_unattributed_joules_total{reason=\"%s\"} ",
				       ve_reason_name((enum ve_reason)r));
		ve_prom_micro(out, h->reason_uj[r]);
		g_string_append_c(out, '\n');
	}
	ve_prom_head(out, "virtenergy_host_power_watts", "gauge", "The host's power over the last second.");
	g_string_append(out, "virtenergy_host_power_watts ");
	ve_prom_micro(out, h->power_uw);
	g_string_append_c(out, '\n');
	ve_prom_head(out, "virtenergy_estimated", "gauge",
	     "1 when CPU energy comes from the host power model rather than a sensor.");
	g_string_append_printf(out, "virtenergy_estimated %d\n", h->estimated ? 1 : 0);
	ve_prom_build_info(out);
	return g_string_free(out, FALSE);
}

/* NAME{cgroup="C"} V, a line of a guest's metric */
static void cgroup_line(GString *out, const char *metric, const char *cgroup, uint64_t micro)
{
	g_string_append(out, metric);
	g_string_append(out, "{cgroup=\"");
	ve_prom_label(out, cgroup);
	g_string_append(out, "\"} ");
	ve_prom_micro(out, micro);
	g_string_append_c(out, '\n');
}

static void plain_line(GString *out, const char *metric, uint64_t micro)
{
	g_string_append(out, metric);
	g_string_append_c(out, ' ');
	ve_prom_micro(out, micro);
	g_string_append_c(out, '\n');
}

char *ve_prom_render_guest(const struct ve_prom_guest *g, const struct ve_prom_cgroup *cgs, size_t n)
{
	GString *out = g_string_new("");
	bool any_limit = false;

	ve_prom_head(out, "virtenergy_guest_energy_joules_total", "counter",
		     "Energy of this VM as the host attributes it, since the guest's counters began.");
	plain_line(out, "virtenergy_guest_energy_joules_total", g->energy_uj);
	ve_prom_head(out, "virtenergy_guest_own_energy_joules_total", "counter",
		     "The part of the VM's energy spent outside the accounted cgroups.");
	plain_line(out, "virtenergy_guest_own_energy_joules_total", g->own_uj);
	if (g->vm_limit_uw) {
		ve_prom_head(out, "virtenergy_guest_power_limit_watts", "gauge",
			     "The VM's own power limit, set on the host.");
		plain_line(out, "virtenergy_guest_power_limit_watts", g->vm_limit_uw);
	}
	ve_prom_head(out, "virtenergy_cgroup_energy_joules_total", "counter",
		     "Energy attributed to each cgroup.");
	for (size_t i = 0; i < n; i++) {
		cgroup_line(out, "virtenergy_cgroup_energy_joules_total", cgs[i].name, cgs[i].energy_uj);
		any_limit |= cgs[i].limit_uw != 0;
	}
	ve_prom_head(out, "virtenergy_cgroup_power_watts", "gauge",
		     "Power of each cgroup over the last control period.");
	for (size_t i = 0; i < n; i++)
		cgroup_line(out, "virtenergy_cgroup_power_watts", cgs[i].name, cgs[i].power_uw);
	if (any_limit) {
		ve_prom_head(out, "virtenergy_cgroup_power_limit_watts", "gauge",
			     "The power limit in force for each limited cgroup.");
		for (size_t i = 0; i < n; i++)
			if (cgs[i].limit_uw)
				cgroup_line(out, "virtenergy_cgroup_power_limit_watts", cgs[i].name,
					    cgs[i].limit_uw);
	}
	ve_prom_build_info(out);
	return g_string_free(out, FALSE);
}

void ve_prom_build_info(GString *out)
{
	ve_prom_head(out, "virtenergy_build_info", "gauge",
		     "Always 1; the version label is virtenergyd's.");
	g_string_append(out, "virtenergy_build_info{version=\"");
	ve_prom_label(out, VE_VERSION);
	g_string_append(out, "\"} 1\n");
}

gboolean ve_prom_write(const char *path, const char *text, GError **error)
{
	const char *step;
	int r = ve_write_file_atomic_at(AT_FDCWD, path, text, strlen(text), 0644, 0, &step);

	if (r < 0) {
		g_set_error(error, G_FILE_ERROR, g_file_error_from_errno(-r),
			    "%s %s.tmp failed: %s", step, path, g_strerror(-r));
		return FALSE;
	}
	return TRUE;
}
