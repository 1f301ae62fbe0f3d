// SPDX-License-Identifier: GPL-2.0-or-later
/*
 * virtenergyd: per-VM energy for libvirt/KVM hosts.  Options, the
 * configuration and its overrides, and the wiring: the libvirt connection,
 * the period timer, D-Bus, the vmsr socket, signals.  The daemon's parts
 * are in virtenergyd-*.c (virtenergyd.h), the work in engine.c.
 */
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
	vd_reload(data);
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
		g_set_error(error, G_IO_ERROR, g_io_error_from_errno(errno), "cannot open %s: %s", path,
			    g_strerror(errno));
	return fd;
}

int main(int argc, char **argv)
{
	g_autofree char *config_path = NULL, *root = NULL;
	gboolean dry_run = FALSE, guest = FALSE, version = FALSE;
	g_autofree char *guest_source = NULL, *cgroup_parent = NULL;
	g_auto(GStrv) guest_limits = NULL;
	struct daemon d = { .export_fd = -1, .root_fd = -1 };
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
		{ "guest-source", 0, 0, G_OPTION_ARG_FILENAME, &guest_source,
		  "guest mode: the VM's export as mounted in the guest (default /mnt/virtenergy)", "DIR" },
		{ "cgroup-parent", 0, 0, G_OPTION_ARG_FILENAME, &cgroup_parent,
		  "guest mode: account each child cgroup of DIR (default /sys/fs/cgroup)", "DIR" },
		{ "guest-limit", 0, 0, G_OPTION_ARG_STRING_ARRAY, &guest_limits,
		  "guest mode: hold a cgroup to a power, e.g. batch=5W (repeatable)", "CGROUP=POWER" },
		{ "version", 'V', 0, G_OPTION_ARG_NONE, &version, "print the version and exit", NULL },
		{ NULL, 0, 0, 0, NULL, NULL, NULL },
	};
	g_autoptr(GOptionContext) ctx = g_option_context_new("- per-VM energy accounting");
	g_autoptr(GError) err = NULL;
	g_autofree char *warning = NULL;
	int root_fd = -1, state_fd = -1;

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
		 * The perf sampler holds one fd per counter per thread: a host with
		 * a thousand VMs needs tens of thousands.  Take what the hard limit
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
	if (o->state_dir) {
		g_free(d.cfg.state_dir);
		d.cfg.state_dir = g_strdup(o->state_dir);
	}
	if (guest) {
		struct ve_guest_opts go = {
			.source = guest_source ? guest_source : d.cfg.guest_source,
			.cgroup_parent = cgroup_parent ? cgroup_parent : d.cfg.guest_cgroup_parent,
			.state_dir = d.cfg.state_dir,
			.limits = guest_limits ? guest_limits : d.cfg.guest_limits,
			.dry_run = dry_run,
			/* the host's default textfile path is no guest's: only when asked */
			.prom_file = o->prom_file,
		};
		int status;

		go.root_fd = open_dir(root ? root : "/", O_RDONLY, &err);
		if (go.root_fd < 0) {
			ve_log("%s", err->message);
			return 2;
		}
		if (g_mkdir_with_parents(d.cfg.state_dir, 0755) < 0) {
			ve_log("cannot create %s: %s", d.cfg.state_dir, g_strerror(errno));
			return 2;
		}
		status = ve_guest_main(&go, d.foreground, d.once);
		close(go.root_fd);
		ve_config_clear(&d.cfg);
		return status;
	}
	if (o->bus && !g_strv_contains((const char *const[]){ "system", "session", "none", NULL }, o->bus)) {
		ve_log("--bus '%s' is not one of system, session, none", o->bus);
		return 2;
	}
	vd_apply_overrides(&d.cfg, o);
	d.config_path = config_path;

	/*
	 * perf counts real threads of this kernel; under a fixture root the
	 * threads exist only as files, so read their run time from there.
	 */
	if (root && strcmp(root, "/") != 0 && d.cfg.sampler == VE_SAMPLER_AUTO)
		d.cfg.sampler = VE_SAMPLER_SCHEDSTAT;
	root_fd = open_dir(root ? root : "/", O_PATH, &err);
	if (root_fd < 0) {
		ve_log("%s; not starting", err->message);
		return 1;
	}
	if (g_mkdir_with_parents(d.cfg.state_dir, 0755) < 0 ||
	    (state_fd = open_dir(d.cfg.state_dir, O_RDONLY, &err)) < 0) {
		ve_log("cannot use state directory %s: %s; not starting", d.cfg.state_dir,
		       err ? err->message : g_strerror(errno));
		return 1;
	}
	if (d.cfg.export_dir && d.cfg.export_dir[0]) {
		g_autoptr(GError) xerr = NULL;

		if (g_mkdir_with_parents(d.cfg.export_dir, 0755) < 0 ||
		    (d.export_fd = open_dir(d.cfg.export_dir, O_RDONLY, &xerr)) < 0)
			ve_log("cannot use guest export directory %s: %s; guests see no virtual RAPL files",
			       d.cfg.export_dir, xerr ? xerr->message : g_strerror(errno));
	}
	d.engine = ve_engine_new(root_fd, &d.cfg, state_fd, &warning, &err);
	if (!d.engine) {
		ve_log("%s; not starting", err->message);
		return 1;
	}
	if (warning)
		ve_log("%s", warning);
	{
		struct ve_host_view h;

		ve_engine_host(d.engine, &h);
		ve_log("energy from %s; threads sampled by %s; idle policy %s%s", h.sensor, h.sampler,
		       ve_idle_policy_name(d.cfg.idle_policy), dry_run ? "; dry run" : "");
	}

	d.root_fd = root_fd;
	if (d.cfg.prom_textfile && d.cfg.prom_textfile[0]) {
		g_autofree char *dir = g_path_get_dirname(d.cfg.prom_textfile);

		d.prom_on = g_file_test(dir, G_FILE_TEST_IS_DIR);
		if (!d.prom_on && o->prom_file)
			ve_log("no directory %s: Prometheus textfile off", dir);
	}
	if (d.cfg.vmsr_socket && d.cfg.vmsr_socket[0] && !d.once) {
		g_autoptr(GError) verr = NULL;
		g_autofree char *dir = g_path_get_dirname(d.cfg.vmsr_socket);

		gid_t gid = (gid_t)-1;

		if (d.cfg.vmsr_socket_group && d.cfg.vmsr_socket_group[0]) {
			struct group *gr = getgrnam(d.cfg.vmsr_socket_group);

			if (gr)
				gid = gr->gr_gid;
			else
				ve_log("no group '%s' ([guests] vmsr-socket-group): the vmsr helper socket is root only, "
				       "QEMU running as another user cannot connect", d.cfg.vmsr_socket_group);
		}
		if (g_mkdir_with_parents(dir, 0755) < 0 ||
		    !(d.vmsr = ve_vmsr_new(d.cfg.vmsr_socket, gid, vd_vmsr_admit, vd_vmsr_lookup, vd_vmsr_refused,
					   &d, &verr)))
			ve_log("%s; QEMU guests with rapl=on cannot be served",
			       verr ? verr->message : g_strerror(errno));
	}
	if (!d.once && strcmp(d.cfg.dbus_bus, "none") != 0)
		d.dbus = ve_dbus_new(strcmp(d.cfg.dbus_bus, "session") == 0 ? G_BUS_TYPE_SESSION
									    : G_BUS_TYPE_SYSTEM,
				     d.engine, &vd_dbus_ops, vd_dbus_log, &d);
	d.meta_errors = g_hash_table_new_full(g_str_hash, g_str_equal, g_free, g_free);
	d.dry_run = dry_run;
	if (!d.once) {
		d.limiter = ve_limiter_new(d.cfg.state_dir, dry_run, 1000000, vd_limiter_log, &d);
		ve_limiter_set_host_cap(d.limiter, NULL, d.cfg.host_cap_uw);
		ve_limiter_on_event(d.limiter, vd_on_limiter_event);
	}
	ve_engine_on_retired(d.engine, vd_on_retired, &d);
	ve_virt_global_init();
	d.loop = g_main_loop_new(NULL, FALSE);
	d.virt = ve_virt_new(d.cfg.uri, &vd_virt_ops, &d);

	if (d.once) {
		g_autoptr(GError) perr = NULL;

		/* let the connection deliver its first sync, then two readings a period apart */
		uint64_t t;

		while (g_main_context_iteration(NULL, FALSE))
			;
		t = vd_now_us();
		ve_engine_period(d.engine, t, NULL);
		ve_engine_report_tick(d.engine, t);
		g_usleep(d.cfg.period_us);
		t = vd_now_us();
		if (!ve_engine_period(d.engine, t, &perr)) {
			ve_log("%s", perr->message);
			d.exit_code = 1;
		}
		ve_engine_report_tick(d.engine, t);
		ve_outputs_table(d.engine, stdout);
	} else {
		d.last_save_us = d.last_report_us = vd_now_us();
		g_timeout_add(MAX(d.cfg.period_us / 1000, 1), vd_on_period, &d);
		g_timeout_add_seconds(60, on_resync, &d);
		g_unix_signal_add(SIGTERM, on_signal, &d);
		g_unix_signal_add(SIGINT, on_signal, &d);
		g_unix_signal_add(SIGHUP, on_sighup, &d);
		vd_on_period(&d);
		{
			uint64_t usec = 0;

			if (sd_watchdog_enabled(0, &usec) > 0)
				d.watchdog_us = usec;
		}
		sd_notify(0, "READY=1");
		vd_notify_status(&d);
		g_main_loop_run(d.loop);
	}

	vd_save_state(&d);
	vd_export_guests(&d);
	vd_write_prom(&d);
	ve_vmsr_free(d.vmsr);
	ve_dbus_free(d.dbus);
	if (d.limiter) {
		unsigned int failed = ve_limiter_restore_all(d.limiter, ve_virt_conn(d.virt));

		if (failed)
			ve_log("could not restore the CPU bandwidth of %u VM(s); the next start will", failed);
		ve_limiter_free(d.limiter);
	}
	g_hash_table_destroy(d.meta_errors);
	ve_virt_free(d.virt);
	ve_engine_free(d.engine);
	g_main_loop_unref(d.loop);
	g_free(d.last_error);
	g_free(d.export_error);
	g_free(d.prom_error);
	if (d.export_fd >= 0)
		close(d.export_fd);
	ve_config_clear(&d.cfg);
	vd_overrides_clear(&d.ov);
	close(state_fd);
	close(root_fd);
	return d.exit_code;
}
