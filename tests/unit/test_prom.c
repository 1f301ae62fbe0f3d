// SPDX-License-Identifier: GPL-2.0-or-later
/* Prometheus exposition: metric lines, exact µ-unit decimals, label escaping. */
#include <string.h>

#include "check.h"
#include "prom.h"

static void test_render(void **state)
{
	struct ve_ledger_entry vm = { 0 }, host = { 0 };
	uint64_t reasons[VE_REASON__MAX] = { 0 };
	static const char *const nova[] = { "orchestrator", "nova", "instance", "web \"one\"",
					    "project", "demo", NULL };
	struct ve_prom_vm vms[] = {
		{ .uuid = "0f8fad5b-d9cb-469f-a165-70867728950e", .name = "web1", .running = true,
		  .power_uw = 12500000, .ledger = &vm, .limit_uw = 40000000, .info = nova,
		  .limit_state = "at-floor", .alloc_uw = 40000000, .has_budget = true,
		  .budget_left_uj = 3600000000 },
		{ .uuid = "11111111-2222-3333-4444-555555555555", .name = "we\"ird\\name\nx",
		  .ledger = &vm },
	};
	static const struct ve_prom_service svcs[] = { { "storage", 2500000, 1250000, 3 } };
	struct ve_prom_host h = { .energy_uj = 123456789, .power_uw = 40000001, .ledger = &host,
				  .reason_uj = reasons, .estimated = true, .host_cap_uw = 100000000,
				  .services = svcs, .n_services = 1,
				  .fleet_cap_uw = 12500000, .fleet_source = "fallback" };
	g_autofree char *text = NULL;

	(void)state;
	vm.comp_uj[VE_COMP_VCPU] = 1500000;
	vm.comp_uj[VE_COMP_IDLE] = 7;
	host.comp_uj[VE_COMP_CPU] = 2000000;
	reasons[VE_REASON_SERVICE_CYCLE] = 3000000;
	text = ve_prom_render(&h, vms, 2);
	check(strstr(text, "virtenergy_vm_energy_joules_total{uuid=\"0f8fad5b-d9cb-469f-a165-70867728950e\","
			   "name=\"web1\",component=\"vcpu\"} 1.500000\n") != NULL, "vcpu line:\n%s", text);
	check(strstr(text, ",component=\"idle\"} 0.000007\n") != NULL, "7 uJ exactly");
	check(!strstr(text, "name=\"web1\",component=\"cpu\""), "no cpu component for VMs");
	check(strstr(text, "virtenergy_host_own_energy_joules_total{component=\"cpu\"} 2.000000\n"),
	      "the host's own CPU");
	check(strstr(text, "name=\"we\\\"ird\\\\name\\nx\"") != NULL, "label escaping");
	check(strstr(text, "virtenergy_vm_power_watts{uuid=\"0f8fad5b-d9cb-469f-a165-70867728950e\",name=\"web1\"} 12.500000\n"), "power");
	check(strstr(text, "virtenergy_vm_running{uuid=\"11111111-2222-3333-4444-555555555555\""), "running line");
	check(strstr(text, "virtenergy_host_energy_joules_total 123.456789\n"), "host energy");
	check(strstr(text, "virtenergy_host_power_watts 40.000001\n"), "host power");
	check(strstr(text, "virtenergy_host_unattributed_joules_total{reason=\"service-cycle\"} 3.000000\n"),
	      "reason");
	check(strstr(text, "virtenergy_estimated 1\n"), "estimated");
	check(strstr(text, "virtenergy_vm_power_limit_watts{uuid=\"0f8fad5b-d9cb-469f-a165-70867728950e\","
			   "name=\"web1\"} 40.000000\n"), "limit of a limited VM");
	check(!strstr(text, "virtenergy_vm_power_limit_watts{uuid=\"11111111"), "no line without a limit");
	check(strstr(text, "# TYPE virtenergy_vm_energy_joules_total counter\n"), "TYPE line");
	check(strstr(text, "# HELP virtenergy_build_info ") &&
	      strstr(text, "# TYPE virtenergy_build_info gauge\n"), "build_info's HELP and TYPE");
	check(strstr(text, "\nvirtenergy_build_info{version=\"" VE_VERSION "\"} 1\n"),
	      "build_info with the project's version " VE_VERSION ":\n%s", text);
	check(strcmp(VE_VERSION, "") != 0, "VE_VERSION is not empty");
	check(text[strlen(text) - 1] == '\n', "ends with a newline");
	check(strstr(text, "\nvirtenergy_vm_info{uuid=\"0f8fad5b-d9cb-469f-a165-70867728950e\",name=\"web1\","
			   "orchestrator=\"nova\",instance=\"web \\\"one\\\"\",project=\"demo\"} 1\n"),
	      "the VM's identity, escaped:\n%s", text);
	check(strstr(text, "\nvirtenergy_vm_info{uuid=\"11111111-2222-3333-4444-555555555555\","
			   "name=\"we\\\"ird\\\\name\\nx\"} 1\n"), "a VM without one: uuid and name only");
	check(strstr(text, "# TYPE virtenergy_vm_info gauge\n"), "info is a gauge");
	check(strstr(text, "\nvirtenergy_vm_limit_state{uuid=\"0f8fad5b-d9cb-469f-a165-70867728950e\","
			   "name=\"web1\",state=\"at-floor\"} 1\n"), "the limit's state");
	check(!strstr(text, "virtenergy_vm_limit_state{uuid=\"11111111"), "no state without a limit");
	check(strstr(text, "\nvirtenergy_vm_allocation_watts{uuid=\"0f8fad5b-d9cb-469f-a165-70867728950e\","
			   "name=\"web1\"} 40.000000\n"), "its share of the cap");
	check(strstr(text, "\nvirtenergy_vm_budget_left_joules{uuid=\"0f8fad5b-d9cb-469f-a165-70867728950e\","
			   "name=\"web1\"} 3600.000000\n"), "the budget left");
	check(strstr(text, "\nvirtenergy_host_cap_watts 100.000000\n"), "the host cap");
	check(strstr(text, "# TYPE virtenergy_service_energy_joules_total counter\n"
			   "virtenergy_service_energy_joules_total{service=\"storage\"} 2.500000\n"),
	      "a service's energy, under its own TYPE line");
	check(strstr(text, "# TYPE virtenergy_service_power_watts gauge\n"
			   "virtenergy_service_power_watts{service=\"storage\"} 1.250000\n"), "its power");
	check(strstr(text, "\nvirtenergy_service_threads{service=\"storage\"} 3\n"), "its threads");
	check(strstr(text, "\nvirtenergy_fleet_cap_watts{source=\"fallback\"} 12.500000\n"),
	      "the fleet's cap and its source");
	h.host_cap_uw = 0;
	h.n_services = 0;
	h.fleet_cap_uw = 0;
	g_free(text);
	text = ve_prom_render(&h, vms, 2);
	check(!strstr(text, "virtenergy_host_cap_watts ") && !strstr(text, "virtenergy_vm_allocation_watts{") &&
	      !strstr(text, "virtenergy_fleet_cap_watts"),
	      "no cap, no cap lines");
	check(!strstr(text, "virtenergy_service_"), "no services, no service lines");
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_render),
	};

	return cmocka_run_group_tests_name("prom", tests, NULL, NULL);
}
