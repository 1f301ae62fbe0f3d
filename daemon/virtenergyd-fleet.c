// SPDX-License-Identifier: GPL-2.0-or-later
/*
 * virtenergyd-fleet.c: the daemon in a fleet (see virtenergyd.h and
 * fleet/agent.h): the agent started from [fleet], fed the host's figures
 * every period, its cap combined with the local one (the lower is in
 * force) and handed to the limiter; the D-Bus calls of the operators.
 *
 * The host's figures: its power as the engine measures it; its demand,
 * the power of what no VM limit holds (the host's own and unheld VMs')
 * with the headroom ve_demand_uw gives, plus each held VM's demand; the
 * guarantees of its VMs; its floor, [fleet] floor or else the host
 * model's idle power (what the host draws with nothing running).
 */
#include <math.h>

#include "budget.h"
#include "error.h"
#include "status.h"
#include "virtenergyd.h"

static void fleet_log(void *ud, const char *msg)
{
	ve_log("%s", msg);
}

void vd_fleet_start(struct daemon *d)
{
	struct ve_config *c = &d->cfg;
	g_autofree char *host = NULL;
	struct ve_fleet_opts o;

	if (!c->fleet_endpoints || !c->fleet_endpoints[0] || d->once)
		return;
	if (c->fleet_host) {
		host = g_strdup(c->fleet_host);
	} else {
		host = g_strdup(g_get_host_name());
		g_strdelimit(host, "/ ", '_');
		if (!ve_fleet_name_ok(host)) {
			ve_log("the host name '%s' cannot name this host in the fleet; set [fleet] host. Not joining the fleet", host);
			return;
		}
	}
	o = (struct ve_fleet_opts){
		.endpoints = c->fleet_endpoints,
		.prefix = c->fleet_prefix ? c->fleet_prefix : "/virtenergy/fleet",
		.host = host,
		.node = c->fleet_path,
		.ttl_s = c->fleet_ttl_s,
		.period_us = c->fleet_period_us,
		.fallback_cap_uw = c->fleet_fallback_cap_uw,
		.weight = c->fleet_weight,
		.controller = c->fleet_controller,
		.state_dir = c->state_dir,
	};
	d->fleet = ve_fleet_agent_new(&o, fleet_log, d);
	ve_log("fleet: host '%s' under %s, etcd at %s; %s", host, c->fleet_path,
	       c->fleet_endpoints[0], c->fleet_controller ? "may lead" : "never leads");
	vd_host_cap_apply(d, vd_now_us());
}

void vd_fleet_stop(struct daemon *d)
{
	g_clear_pointer(&d->fleet, ve_fleet_agent_free);
}

/*
 * <state-dir>/fleet-cap: the cap in force and its source ("12.5 fleet"),
 * replaced whenever it changes, after the limiter has it: for scripts and
 * checkers that must see the cap without D-Bus, as often as they like.
 */
static void write_in_force(struct daemon *d, uint64_t cap)
{
	g_autofree char *path = g_build_filename(d->cfg.state_dir, "fleet-cap", NULL);
	g_autofree char *text = g_strdup_printf("%.6f %s\n", (double)cap / 1e6,
						ve_fleet_source_name(d->fleet_source));

	if (g_file_set_contents(path, text, -1, NULL)) {
		d->fleet_written_uw = cap;
		d->fleet_written_src = d->fleet_source;
	}
}

void vd_host_cap_apply(struct daemon *d, uint64_t now)
{
	uint64_t cap = d->cfg.host_cap_uw;

	d->fleet_source = VE_FLEET_SOURCE_LOCAL;
	d->fleet_cap_uw = 0;
	if (d->fleet) {
		enum ve_fleet_source src;
		gint64 rev = 0;
		uint64_t f = ve_fleet_agent_cap(d->fleet, now, &src, &rev);

		d->fleet_cap_uw = f;
		cap = ve_fleet_effective_uw(d->cfg.host_cap_uw, f);
		d->fleet_source = cap == f ? src : VE_FLEET_SOURCE_LOCAL;
		ve_fleet_agent_in_force(d->fleet, cap, d->fleet_source, src == VE_FLEET_SOURCE_FLEET ? rev : 0);
	}
	if (d->limiter)
		ve_limiter_set_host_cap(d->limiter, d->virt ? ve_virt_conn(d->virt) : NULL, cap);
	if (d->fleet && (cap != d->fleet_written_uw || d->fleet_source != d->fleet_written_src))
		write_in_force(d, cap);
}

void vd_fleet_tick(struct daemon *d, uint64_t now)
{
	struct ve_host_view h;
	struct ve_limiter_figures lf = { 0 };
	struct ve_fleet_figures f;
	uint64_t own;

	if (!d->fleet)
		return;
	ve_engine_host(d->engine, &h);
	if (d->limiter)
		ve_limiter_figures(d->limiter, &lf);
	own = h.power_uw > lf.measured_uw ? h.power_uw - lf.measured_uw : 0;
	f = (struct ve_fleet_figures){
		.power_uw = h.power_uw,
		.demand_uw = ve_demand_uw(own, 0, 1.0) + lf.demand_uw,
		.guarantee_uw = lf.guarantee_uw,
		.floor_uw = d->cfg.fleet_floor_uw ? d->cfg.fleet_floor_uw : d->cfg.host_idle_power_uw,
	};
	ve_fleet_agent_set_figures(d->fleet, &f);
	vd_host_cap_apply(d, now);
}

static void on_status(const char *json, const GError *err, gpointer ud)
{
	GDBusMethodInvocation *inv = ud;

	if (json)
		g_dbus_method_invocation_return_value(inv, g_variant_new("(s)", json));
	else
		g_dbus_method_invocation_return_error(inv, G_DBUS_ERROR, G_DBUS_ERROR_FAILED, "%s",
						      err->message);
}

void vd_fleet_status(void *ud, GDBusMethodInvocation *inv)
{
	struct daemon *d = ud;

	if (!d->fleet) {
		g_dbus_method_invocation_return_error(inv, G_DBUS_ERROR, G_DBUS_ERROR_NOT_SUPPORTED,
						      "this daemon is in no fleet ([fleet] endpoints)");
		return;
	}
	ve_fleet_status(ve_fleet_agent_etcd(d->fleet), ve_fleet_agent_opts(d->fleet)->prefix, on_status, inv);
}

static void on_written(const GError *err, gpointer ud)
{
	GDBusMethodInvocation *inv = ud;

	if (!err) {
		g_dbus_method_invocation_return_value(inv, NULL);
		return;
	}
	g_dbus_method_invocation_return_error(inv, G_DBUS_ERROR,
					      err->domain == VE_ERROR && (err->code == VE_ERROR_INVALID ||
									 err->code == VE_ERROR_NOT_FOUND)
						      ? G_DBUS_ERROR_INVALID_ARGS : G_DBUS_ERROR_FAILED,
					      "%s", err->message);
}

void vd_fleet_write(void *ud, GDBusMethodInvocation *inv)
{
	struct daemon *d = ud;
	const char *method = g_dbus_method_invocation_get_method_name(inv);
	GVariant *params = g_dbus_method_invocation_get_parameters(inv);
	const char *s = NULL;
	double w = 0.0;

	if (!d->fleet) {
		g_dbus_method_invocation_return_error(inv, G_DBUS_ERROR, G_DBUS_ERROR_NOT_SUPPORTED,
						      "this daemon is in no fleet ([fleet] endpoints)");
		return;
	}
	if (strcmp(method, "SetFleetBudget") == 0) {
		g_variant_get(params, "(&sd)", &s, &w);
		ve_log("fleet: budget of '%s' set to %g W over D-Bus", s, w);
		ve_fleet_set_budget(ve_fleet_agent_etcd(d->fleet), ve_fleet_agent_opts(d->fleet)->prefix, s, w,
				    on_written, inv);
	} else if (strcmp(method, "ForgetFleetHost") == 0) {
		g_variant_get(params, "(&s)", &s);
		ve_log("fleet: forgetting the absent host '%s' over D-Bus", s);
		ve_fleet_forget(ve_fleet_agent_etcd(d->fleet), ve_fleet_agent_opts(d->fleet)->prefix, s,
				on_written, inv);
	} else {
		g_variant_get(params, "(&s)", &s);
		ve_log("fleet: tree replaced over D-Bus");
		ve_fleet_set_tree(ve_fleet_agent_etcd(d->fleet), ve_fleet_agent_opts(d->fleet)->prefix, s,
				  on_written, inv);
	}
}

uint64_t vd_fleet_cap(void *ud, const char **ret_source)
{
	struct daemon *d = ud;

	*ret_source = ve_fleet_source_name(d->fleet_source);
	return d->fleet_cap_uw;
}
