// SPDX-License-Identifier: GPL-2.0-or-later
/*
 * virtenergyd: per-VM energy for libvirt/KVM hosts.  Options, the
 * configuration and its overrides, and the wiring: the libvirt connection,
 * the period timer, D-Bus, the vmsr socket, signals.  The daemon's parts
 * are in virtenergyd-*.c (virtenergyd.h), the work in engine.c.
 */
#include "error.h"
#include "virtenergyd.h"

static const struct {
	size_t opt;   /* offset in struct overrides */
	size_t cfg;   /* offset of the char * it replaces in struct ve_config */
} override_fields[] = {
	{ offsetof(struct overrides, uri), offsetof(struct ve_config, uri) },
	{ offsetof(struct overrides, state_dir), offsetof(struct ve_config, state_dir) },
	{ offsetof(struct overrides, export_dir), offsetof(struct ve_config, export_dir) },
	{ offsetof(struct overrides, vmsr_socket), offsetof(struct ve_config, vmsr_socket) },
	{ offsetof(struct overrides, prom_file), offsetof(struct ve_config, prom_textfile) },
	{ offsetof(struct overrides, bus), offsetof(struct ve_config, dbus_bus) },
	{ offsetof(struct overrides, guest_source), offsetof(struct ve_config, guest_source) },
	{ offsetof(struct overrides, cgroup_parent), offsetof(struct ve_config, guest_cgroup_parent) },
};

void vd_apply_overrides(struct ve_config *c, const struct overrides *o)
{
	for (size_t i = 0; i < G_N_ELEMENTS(override_fields); i++) {
		const char *v = *(char *const *)((const char *)o + override_fields[i].opt);
		char **slot = (char **)((char *)c + override_fields[i].cfg);

		if (v) {
			g_free(*slot);
			*slot = g_strdup(v);
		}
	}
}

void vd_overrides_clear(struct overrides *o)
{
	for (size_t i = 0; i < G_N_ELEMENTS(override_fields); i++)
		g_clear_pointer((char **)((char *)o + override_fields[i].opt), g_free);
}

static gboolean on_signal(gpointer data)
{
	struct daemon *d = data;

	sd_notify(0, "STOPPING=1");
	ve_log("stopping: saving counters");
	g_main_loop_quit(d->loop);
	return G_SOURCE_REMOVE;
}

static gboolean on_sighup(gpointer data)
{
	struct daemon *d = data;

	/* SIGHUP must not end guest mode either, leaving its throttles behind */
	if (d->guest)
		ve_log("guest mode has no reload; restart it to apply a changed configuration");
	else
		vd_reload(d);
	return G_SOURCE_CONTINUE;
}

static gboolean on_resync(gpointer data)
{
	struct daemon *d = data;

	ve_virt_resync(d->virt);
	return G_SOURCE_CONTINUE;
}

static int open_dir(const char *path, int flags, GError **error)
{
	int fd = open(path, O_DIRECTORY | O_CLOEXEC | flags);

	if (fd < 0)
		g_set_error(error, VE_ERROR, ve_error_from_errno(errno), "cannot open %s: %s", path,
			    g_strerror(errno));
	return fd;
}

/*
 * Guest mode (guestmode.h): the engine on the VM's export and the guest's
 * cgroups, held by the guest's controller; no libvirt, D-Bus or exports.
 * The host's default textfile path is no guest's: a textfile only when
 * asked.  Exit status 2 when it cannot start (a configuration problem).
 */
static int setup_guest(struct daemon *d, const char *root, char **limits, gboolean dry_run)
{
	g_autoptr(GError) err = NULL;
	struct ve_guest_opts go = {
		.source = d->cfg.guest_source,
		.cgroup_parent = d->cfg.guest_cgroup_parent,
		.state_dir = d->cfg.state_dir,
		.limits = limits ? limits : d->cfg.guest_limits,
		.dry_run = dry_run,
	};

	g_free(d->cfg.prom_textfile);
	d->cfg.prom_textfile = g_strdup(d->ov.prom_file ? d->ov.prom_file : "");
	d->root_fd = go.root_fd = open_dir(root ? root : "/", O_RDONLY, &err);
	if (go.root_fd < 0) {
		ve_log("%s; not starting", err->message);
		return 2;
	}
	if (g_mkdir_with_parents(d->cfg.state_dir, 0755) < 0) {
		ve_log("cannot create %s: %s; not starting", d->cfg.state_dir, g_strerror(errno));
		return 2;
	}
	d->guest = ve_guest_new(&go, &err);
	if (!d->guest) {
		ve_log("%s; not starting", err->message);
		return 2;
	}
	d->engine = ve_guest_engine(d->guest);
	ve_log("guest mode: energy from %s, cgroups under %s%s", go.source, go.cgroup_parent,
	       dry_run ? "; dry run" : "");
	return 0;
}

/* The host: the engine on the host's files, libvirt, the limiter, exports, vmsr, D-Bus. */
static int setup_host(struct daemon *d, const char *root, gboolean dry_run)
{
	g_autoptr(GError) err = NULL;
	g_autofree char *warning = NULL;

	if (d->ov.bus && !g_strv_contains((const char *const[]){ "system", "session", "none", NULL },
					  d->ov.bus)) {
		ve_log("--bus '%s' is not one of system, session, none", d->ov.bus);
		return 2;
	}
	/*
	 * perf counts real threads of this kernel; under a fixture root the
	 * threads exist only as files, so read their run time from there.
	 */
	if (root && strcmp(root, "/") != 0 && d->cfg.sampler == VE_SAMPLER_AUTO)
		d->cfg.sampler = VE_SAMPLER_SCHEDSTAT;
	d->root_fd = open_dir(root ? root : "/", O_PATH, &err);
	if (d->root_fd < 0) {
		ve_log("%s; not starting", err->message);
		return 1;
	}
	if (g_mkdir_with_parents(d->cfg.state_dir, 0755) < 0 ||
	    (d->state_fd = open_dir(d->cfg.state_dir, O_RDONLY, &err)) < 0) {
		ve_log("cannot use state directory %s: %s; not starting", d->cfg.state_dir,
		       err ? err->message : g_strerror(errno));
		return 1;
	}
	if (d->cfg.export_dir && d->cfg.export_dir[0]) {
		g_autoptr(GError) xerr = NULL;

		if (g_mkdir_with_parents(d->cfg.export_dir, 0755) < 0 ||
		    (d->export_fd = open_dir(d->cfg.export_dir, O_RDONLY, &xerr)) < 0)
			ve_log("cannot use guest export directory %s: %s; guests see no virtual RAPL files",
			       d->cfg.export_dir, xerr ? xerr->message : g_strerror(errno));
	}
	d->engine = ve_engine_new(d->root_fd, &d->cfg, d->state_fd, &warning, &err);
	if (!d->engine) {
		ve_log("%s; not starting", err->message);
		return 1;
	}
	/* state saves and guest exports leave the loop (diskwriter.h) */
	d->writer = ve_disk_writer_new(d->export_fd, d->state_fd, VE_ENGINE_STATE_FILE);
	d->reg = ve_engine_registry(d->engine);
	ve_registry_set_free(d->reg, VE_REG_IDENTITY, ve_vm_identity_free);
	ve_registry_set_free(d->reg, VE_REG_BACKING, vd_backed_free);
	if (warning)
		ve_log("%s", warning);
	{
		struct ve_host_view h;

		ve_engine_host(d->engine, &h);
		ve_log("energy from %s; threads sampled by %s; block I/O from %s; idle policy %s%s",
		       h.sensor, h.sampler, h.io_source, ve_idle_policy_name(d->cfg.idle_policy),
		       dry_run ? "; dry run" : "");
		for (size_t k = 0; k < d->cfg.n_services; k++) {
			const struct ve_service_conf *sc = &d->cfg.services[k];
			g_autofree char *uses = sc->uses ? g_strjoinv(", ", sc->uses) : NULL;

			ve_log("shared service '%s': found by %s %s%s%s", sc->name,
			       ve_service_by_name(sc->by), sc->where, uses ? "; uses " : "",
			       uses ? uses : "");
		}
	}
	if (d->cfg.vmsr_socket && d->cfg.vmsr_socket[0] && !d->once) {
		g_autoptr(GError) verr = NULL;
		g_autofree char *dir = g_path_get_dirname(d->cfg.vmsr_socket);
		gid_t gid = (gid_t)-1;

		if (d->cfg.vmsr_socket_group && d->cfg.vmsr_socket_group[0]) {
			struct group *gr = getgrnam(d->cfg.vmsr_socket_group);

			if (gr)
				gid = gr->gr_gid;
			else
				ve_log("no group '%s' ([guests] vmsr-socket-group): the vmsr helper socket is root only, "
				       "QEMU running as another user cannot connect", d->cfg.vmsr_socket_group);
		}
		if (g_mkdir_with_parents(dir, 0755) < 0 ||
		    !(d->vmsr = ve_vmsr_new(d->cfg.vmsr_socket, gid, vd_vmsr_admit, vd_vmsr_lookup,
					    vd_vmsr_refused, d, &verr)))
			ve_log("%s; QEMU guests with rapl=on cannot be served",
			       verr ? verr->message : g_strerror(errno));
	}
	if (!d->once && strcmp(d->cfg.dbus_bus, "none") != 0)
		d->dbus = ve_dbus_new(strcmp(d->cfg.dbus_bus, "session") == 0 ? G_BUS_TYPE_SESSION
									       : G_BUS_TYPE_SYSTEM,
				      d->engine, &vd_dbus_ops, vd_dbus_log, d);
	d->dry_run = dry_run;
	if (!d->once) {
		d->limiter = ve_limiter_new(d->reg, d->cfg.state_dir, dry_run, 1000000, vd_limiter_log, d);
		ve_limiter_set_host_cap(d->limiter, NULL, d->cfg.host_cap_uw);
		ve_limiter_on_event(d->limiter, vd_on_limiter_event);
	}
	vd_fleet_start(d);
	ve_engine_on_retired(d->engine, vd_on_retired, d);
	ve_virt_global_init();
	d->virt = ve_virt_new(d->cfg.uri, &vd_virt_ops, d);
	vd_load_identities(d);   /* its first sync may have come before d->virt was set */
	return 0;
}

/* --once: two readings a period apart, the table, the textfile. */
static void run_once(struct daemon *d)
{
	g_autoptr(GError) perr = NULL;
	uint64_t t;

	/* let the connection deliver its first sync */
	while (g_main_context_iteration(NULL, FALSE))
		;
	t = vd_now_us();
	vd_step(d, t, NULL);
	ve_engine_report_tick(d->engine, t);
	g_usleep(d->cfg.period_us);
	t = vd_now_us();
	if (!vd_step(d, t, &perr)) {
		ve_log("%s", perr->message);
		d->exit_code = 1;
	}
	ve_engine_report_tick(d->engine, t);
	vd_print_table(d);
}

static void run_loop(struct daemon *d)
{
	uint64_t usec = 0;

	d->last_save_us = d->last_report_us = vd_now_us();
	if (d->virt)
		g_timeout_add_seconds(60, on_resync, d);
	g_unix_signal_add(SIGTERM, on_signal, d);
	g_unix_signal_add(SIGINT, on_signal, d);
	g_unix_signal_add(SIGHUP, on_sighup, d);
	vd_on_period(d);
	if (sd_watchdog_enabled(0, &usec) > 0)
		d->watchdog_us = usec;
	sd_notify(0, "READY=1");
	vd_notify_status(d);
	g_main_loop_run(d->loop);
}

static void shut_down(struct daemon *d)
{
	if (d->engine) {
		vd_save_state(d, true);   /* the state file whole, not only its journal */
		vd_export_guests(d);
		vd_write_prom(d);
	}
	if (d->writer) {
		/* everything handed over is on disk before the fds close */
		ve_disk_writer_flush(d->writer);
		vd_writer_errors(d);
		g_clear_pointer(&d->writer, ve_disk_writer_free);
	}
	ve_vmsr_free(d->vmsr);
	vd_fleet_stop(d);
	ve_dbus_free(d->dbus);
	if (d->limiter) {
		unsigned int failed = ve_limiter_restore_all(d->limiter, ve_virt_conn(d->virt));

		if (failed)
			ve_log("could not restore the CPU bandwidth of %u VM(s); the next start will", failed);
		ve_limiter_free(d->limiter);
	}
	ve_virt_free(d->virt);
	if (d->guest) {
		ve_guest_free(d->guest);      /* restores every throttled cgroup */
		if (!d->once)
			ve_log("guest mode stopped; throttles restored");
	} else {
		ve_engine_free(d->engine);
	}
	if (d->loop)
		g_main_loop_unref(d->loop);
	g_free(d->last_error);
	g_free(d->svc_io_said);
	g_free(d->export_error);
	g_free(d->prom_error);
	if (d->export_fd >= 0)
		close(d->export_fd);
	if (d->state_fd >= 0)
		close(d->state_fd);
	if (d->root_fd >= 0)
		close(d->root_fd);
	ve_config_clear(&d->cfg);
	vd_overrides_clear(&d->ov);
}

int main(int argc, char **argv)
{
	g_autofree char *config_path = NULL, *root = NULL;
	gboolean dry_run = FALSE, guest = FALSE, version = FALSE;
	g_auto(GStrv) guest_limits = NULL;
	struct daemon d = { .export_fd = -1, .root_fd = -1, .state_fd = -1 };
	struct overrides *o = &d.ov;
	GOptionEntry entries[] = {
		{ "config", 'c', 0, G_OPTION_ARG_FILENAME, &config_path,
		  "configuration file (default: none, built-in defaults)", "FILE" },
		{ "root", 0, 0, G_OPTION_ARG_FILENAME, &root,
		  "read /proc, /sys and /run under DIR (a fixture tree)", "DIR" },
		{ "uri", 0, 0, G_OPTION_ARG_STRING, &o->uri, "libvirt URI (overrides the configuration)",
		  "URI" },
		{ "export-dir", 0, 0, G_OPTION_ARG_FILENAME, &o->export_dir,
		  "per-VM guest export directories (overrides the configuration; \"\" for none)", "DIR" },
		{ "vmsr-socket", 0, 0, G_OPTION_ARG_FILENAME, &o->vmsr_socket,
		  "qemu-vmsr-helper socket (overrides the configuration; \"\" for none)", "PATH" },
		{ "prom-file", 0, 0, G_OPTION_ARG_FILENAME, &o->prom_file,
		  "Prometheus textfile (overrides the configuration; \"\" for none)", "FILE" },
		{ "bus", 0, 0, G_OPTION_ARG_STRING, &o->bus,
		  "D-Bus bus to serve org.virtenergy.Manager1 on: system, session or none", "BUS" },
		{ "state-dir", 0, 0, G_OPTION_ARG_FILENAME, &o->state_dir,
		  "where cumulative counters are kept (overrides the configuration)", "DIR" },
		{ "foreground", 'f', 0, G_OPTION_ARG_NONE, &d.foreground,
		  "print a per-VM table every second", NULL },
		{ "dry-run", 'n', 0, G_OPTION_ARG_NONE, &dry_run,
		  "change nothing on the host: actuators only log what they would do", NULL },
		{ "once", '1', 0, G_OPTION_ARG_NONE, &d.once, "account one period, print, exit", NULL },
		{ "guest", 'g', 0, G_OPTION_ARG_NONE, &guest,
		  "guest mode: inside a VM, attribute the VM's energy to its cgroups and hold their limits",
		  NULL },
		{ "guest-source", 0, 0, G_OPTION_ARG_FILENAME, &o->guest_source,
		  "guest mode: the VM's export as mounted in the guest (default /mnt/virtenergy)", "DIR" },
		{ "cgroup-parent", 0, 0, G_OPTION_ARG_FILENAME, &o->cgroup_parent,
		  "guest mode: account each child cgroup of DIR (default /sys/fs/cgroup)", "DIR" },
		{ "guest-limit", 0, 0, G_OPTION_ARG_STRING_ARRAY, &guest_limits,
		  "guest mode: hold a cgroup to a power, e.g. batch=5W (repeatable)", "CGROUP=POWER" },
		{ "version", 'V', 0, G_OPTION_ARG_NONE, &version, "print the version and exit", NULL },
		{ NULL, 0, 0, 0, NULL, NULL, NULL },
	};
	g_autoptr(GOptionContext) ctx = g_option_context_new("- per-VM energy accounting");
	g_autoptr(GError) err = NULL;
	int status;

	ve_log_init();
	g_option_context_add_main_entries(ctx, entries, NULL);
	if (!g_option_context_parse(ctx, &argc, &argv, &err)) {
		ve_log("%s (see --help)", err->message);
		return 2;
	}
	if (version) {
		printf("virtenergyd %s\n", VE_VERSION);
		return 0;
	}
	if (argc > 1) {
		ve_log("unexpected argument '%s' (see --help)", argv[1]);
		return 2;
	}
	{
		/*
		 * The perf sampler holds one fd per counter per thread, the
		 * schedstat sampler one per thread (sampler.c): a host with a
		 * thousand VMs needs tens of thousands.  Take what the hard limit
		 * allows.
		 */
		struct rlimit rl;

		if (getrlimit(RLIMIT_NOFILE, &rl) == 0 && rl.rlim_cur < rl.rlim_max) {
			rl.rlim_cur = rl.rlim_max;
			setrlimit(RLIMIT_NOFILE, &rl);
		}
	}
	ve_config_defaults(&d.cfg);
	if (config_path && !ve_config_load(&d.cfg, config_path, &err)) {
		ve_log("%s; not starting", err->message);
		return 2;
	}
	vd_apply_overrides(&d.cfg, o);
	d.config_path = config_path;
	status = guest ? setup_guest(&d, root, guest_limits, dry_run) : setup_host(&d, root, dry_run);
	if (status == 0) {
		if (d.cfg.prom_textfile && d.cfg.prom_textfile[0]) {
			g_autofree char *dir = g_path_get_dirname(d.cfg.prom_textfile);

			d.prom_on = g_file_test(dir, G_FILE_TEST_IS_DIR);
			if (!d.prom_on && o->prom_file)
				ve_log("no directory %s: Prometheus textfile off", dir);
		}
		d.loop = g_main_loop_new(NULL, FALSE);
		if (d.once)
			run_once(&d);
		else
			run_loop(&d);
		status = d.exit_code;
	}
	shut_down(&d);
	return status;
}
