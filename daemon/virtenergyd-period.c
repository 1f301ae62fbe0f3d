// SPDX-License-Identifier: GPL-2.0-or-later
/*
 * virtenergyd-period.c: the period and what it publishes (see virtenergyd.h).
 */
#include "virtenergyd.h"

void vd_save_state(struct daemon *d, bool whole)
{
	g_autoptr(GError) err = NULL;

	if (d->writer) {
		struct ve_state *st = ve_engine_state_next(d->engine, &err);

		if (st)
			ve_disk_writer_state(d->writer, st, whole);
		else if (err)
			ve_log("%s", err->message);
		vd_writer_errors(d);
		return;
	}
	if (!ve_engine_save(d->engine, &err))
		ve_log("%s", err->message);
}

/* Log an export failure once per kind, with the VM it hit. */
static void export_failed(struct daemon *d, const char *uuid, const char *name, const GError *err)
{
	if (g_strcmp0(d->export_error, err->message) == 0)
		return;
	ve_log_vm(uuid, name, "%s; the guest of VM '%s' sees stale figures", err->message, name);
	g_free(d->export_error);
	d->export_error = g_strdup(err->message);
}

/* What the disk writer could not write since the last call. */
void vd_writer_errors(struct daemon *d)
{
	g_autoptr(GError) xerr = NULL;
	g_autoptr(GError) serr = NULL;
	g_autofree char *uuid = NULL;
	g_autofree char *name = NULL;

	ve_disk_writer_take_errors(d->writer, &xerr, &uuid, &name, &serr);
	if (xerr)
		export_failed(d, uuid, name, xerr);
	if (serr)
		ve_log("%s", serr->message);
}

int vd_vmsr_admit(void *ud, pid_t peer, uid_t uid, const char **why)
{
	(void)uid;
	return ve_outputs_vmsr_admit(((struct daemon *)ud)->engine, peer, why);
}

int vd_vmsr_lookup(void *ud, pid_t peer, uid_t uid, uint32_t msr, uint32_t cpu, pid_t tid,
		   uint64_t *ret, const char **why)
{
	struct daemon *d = ud;

	(void)uid, (void)cpu;
	return ve_outputs_vmsr_lookup(d->engine, d->limiter, peer, msr, tid, ret, why);
}


void vd_vmsr_refused(void *ud, pid_t peer, const char *why)
{
	struct daemon *d = ud;

	if (d->foreground)
		ve_log("vmsr helper: refused pid %d: %s", (int)peer, why);
}

/* Every running VM's registers and powercap tree for its guest (guestexport.h). */
void vd_export_guests(struct daemon *d)
{
	struct ve_host_view h;
	size_t n = ve_engine_n_vms(d->engine);

	if (d->export_fd < 0)
		return;
	ve_engine_host(d->engine, &h);
	if (d->writer) {
		GArray *items = ve_export_items_new((guint)n);

		for (size_t i = 0; i < n; i++) {
			struct ve_export_item it = { 0 };
			struct ve_vm_view v;

			ve_engine_vm(d->engine, i, &v);
			if (!v.running)
				continue;
			ve_outputs_vrapl(d->limiter, &v, h.has_dram, &it.regs);
			g_strlcpy(it.uuid, v.uuid, sizeof(it.uuid));
			it.name = g_strdup(v.name);
			g_array_append_val(items, it);
		}
		ve_disk_writer_exports(d->writer, items);
		vd_writer_errors(d);
		return;
	}
	for (size_t i = 0; i < n; i++) {
		g_autoptr(GError) err = NULL;
		struct ve_vm_view v;
		struct ve_vrapl r;

		ve_engine_vm(d->engine, i, &v);
		if (!v.running)
			continue;
		ve_outputs_vrapl(d->limiter, &v, h.has_dram, &r);
		if (!ve_guest_export_write(d->export_fd, v.uuid, &r, &err))
			export_failed(d, v.uuid, v.name, err);
	}
}

/* The host's exposition (prom.h). */
static char *render_host(struct daemon *d)
{
	g_autofree struct ve_prom_vm *vms = NULL;
	g_autofree const char **pairs = NULL;
	g_autofree struct ve_prom_service *svcs = NULL;
	struct ve_host_view h;
	struct ve_prom_host ph;
	size_t n = ve_engine_n_vms(d->engine);

	vms = g_new0(struct ve_prom_vm, n ? n : 1);
	pairs = g_new0(const char *, (n ? n : 1) * VD_IDENTITY_PAIRS);
	for (size_t i = 0; i < n; i++) {
		struct ve_vm_view v;

		ve_engine_vm(d->engine, i, &v);
		vms[i] = (struct ve_prom_vm){
			.uuid = v.uuid, .name = v.name, .running = v.running, .power_uw = v.power_uw,
			.ledger = v.ledger,
			.limit_uw = d->limiter ? ve_limiter_limit_uw(d->limiter, v.uuid) : 0,
			.info = vd_identity_pairs(d, v.uuid, pairs + i * VD_IDENTITY_PAIRS),
		};
		if (d->limiter) {
			enum ve_limit_state st = ve_limiter_state(d->limiter, v.uuid, NULL);

			vms[i].limit_state = st == VE_LIMIT_NONE ? NULL : ve_limit_state_name(st);
			vms[i].alloc_uw = ve_limiter_alloc_uw(d->limiter, v.uuid);
			vms[i].has_budget = ve_limiter_budget_left_uj(d->limiter, v.uuid,
								      &vms[i].budget_left_uj);
		}
	}
	ve_engine_host(d->engine, &h);
	ph = (struct ve_prom_host){ .energy_uj = h.energy_uj, .power_uw = h.power_uw,
				    .ledger = h.ledger, .reason_uj = h.reason_uj,
				    .estimated = h.estimated, .host_cap_uw = d->cfg.host_cap_uw,
				    .fleet_cap_uw = d->fleet_cap_uw,
				    .fleet_source = ve_fleet_source_name(d->fleet_source) };
	ph.n_services = ve_engine_n_services(d->engine);
	svcs = g_new0(struct ve_prom_service, ph.n_services ? ph.n_services : 1);
	for (size_t i = 0; i < ph.n_services; i++) {
		struct ve_service_view sv;

		ve_engine_service(d->engine, i, &sv);
		svcs[i] = (struct ve_prom_service){ sv.name, sv.ledger->passed_on_uj, sv.power_uw,
						    sv.n_threads };
	}
	ph.services = svcs;
	return ve_prom_render(&ph, vms, n);
}

/* The Prometheus textfile (prom.h), every second. */
void vd_write_prom(struct daemon *d)
{
	g_autoptr(GError) err = NULL;
	g_autofree char *text = NULL;

	if (!d->prom_on)
		return;
	text = d->guest ? ve_guest_prom_render(d->guest) : render_host(d);
	if (!ve_prom_write(d->cfg.prom_textfile, text, &err)) {
		/* log each kind of failure once: by the error's domain and code */
		g_autofree char *kind = g_strdup_printf("%s:%d", g_quark_to_string(err->domain), err->code);

		if (g_strcmp0(d->prom_error, kind) != 0)
			ve_log("cannot write the Prometheus textfile %s: %s; Prometheus sees stale figures",
			       d->cfg.prom_textfile, err->message);
		g_free(d->prom_error);
		d->prom_error = g_steal_pointer(&kind);
	} else {
		g_clear_pointer(&d->prom_error, g_free);
	}
}

/* systemd's STATUS= line: "3 VMs (2 running), RAPL (powercap), 2 domains, perf-time: ..." */
void vd_notify_status(struct daemon *d)
{
	struct ve_host_view h;
	size_t n = ve_engine_n_vms(d->engine), running = 0;

	for (size_t i = 0; i < n; i++) {
		struct ve_vm_view v;

		ve_engine_vm(d->engine, i, &v);
		running += v.running;
	}
	ve_engine_host(d->engine, &h);
	sd_notifyf(0, "STATUS=%zu %s (%zu running), %.1f W; %s; %s", n, d->guest ? "cgroups" : "VMs",
		   running, (double)h.power_uw / 1e6, h.sensor, h.sampler);
}

gboolean vd_step(struct daemon *d, uint64_t now_us, GError **error)
{
	if (d->guest)
		return ve_guest_period(d->guest, now_us, error);
	vd_services_step(d, now_us);
	return ve_engine_period(d->engine, now_us, error);
}

void vd_print_table(struct daemon *d)
{
	if (d->guest)
		ve_guest_print_table(d->guest, stdout);
	else
		ve_outputs_table(d->engine, stdout);
}

gboolean vd_on_period(gpointer data)
{
	struct daemon *d = data;
	g_autoptr(GError) err = NULL;
	uint64_t now = vd_now_us();

	if (!vd_step(d, now, &err)) {
		/* log each kind of failure once, not ten times a second */
		if (g_strcmp0(d->last_error, err->message) != 0) {
			ve_log("%s", err->message);
			g_free(d->last_error);
			d->last_error = g_strdup(err->message);
		}
	} else {
		g_clear_pointer(&d->last_error, g_free);
	}
	vd_fleet_tick(d, now);
	if (d->limiter && d->virt)
		ve_limiter_tick(d->limiter, d->engine, ve_virt_conn(d->virt), now);
	if (now - d->last_save_us >= d->cfg.state_interval_us) {
		vd_save_state(d, false);
		d->last_save_us = now;
	}
	if (now - d->last_export_us >= d->cfg.export_interval_us) {
		vd_export_guests(d);
		d->last_export_us = now;
	}
	if (now - d->last_report_us >= 1000000) {
		ve_engine_report_tick(d->engine, now);
		d->last_report_us = now;
		if (d->foreground)
			vd_print_table(d);
		vd_notify_status(d);
		vd_write_prom(d);
		if (d->dbus)
			ve_dbus_tick(d->dbus);
	}
	/*
	 * The watchdog is fed from the accounting loop itself, so systemd
	 * restarts a daemon whose periods stopped, not merely a dead one.
	 */
	if (d->watchdog_us && now - d->last_ping_us >= d->watchdog_us / 2) {
		sd_notify(0, "WATCHDOG=1");
		d->last_ping_us = now;
	}
	/* the next period: on the daemon's rate, or just after the module's (engine.h) */
	{
		uint64_t next = ve_engine_next_period_us(d->engine, now), after = vd_now_us();

		g_timeout_add(next > after ? (guint)((next - after + 999) / 1000) : 0, vd_on_period, d);
	}
	return G_SOURCE_REMOVE;
}
