// SPDX-License-Identifier: GPL-2.0-or-later
/* The configuration file: the shipped example, every key, and every refusal. */
#include <errno.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "check.h"
#include "config.h"

static void test_power_units(void **state)
{
	static const struct {
		const char *text;
		gboolean ok;
		uint64_t uw;
	} cases[] = {
		{ "40W", TRUE, 40000000 },
		{ " 40 W ", TRUE, 40000000 },
		{ "1.5kW", TRUE, 1500000000 },
		{ "250mW", TRUE, 250000 },
		{ "7uW", TRUE, 7 },
		{ "0W", TRUE, 0 },
		{ "40", FALSE, 0 },
		{ "40 w", FALSE, 0 },
		{ "40 J", FALSE, 0 },
		{ "-3W", FALSE, 0 },
		{ "nanW", FALSE, 0 },
		{ "infW", FALSE, 0 },
		{ "2000000kW", FALSE, 0 },
		{ "W", FALSE, 0 },
		{ "", FALSE, 0 },
		/* decimal only: strtod would take hex, hex floats, inf and nan */
		{ "0x28 W", FALSE, 0 },
		{ "0X28W", FALSE, 0 },
		{ "0x1p5 W", FALSE, 0 },
		{ "0x28", FALSE, 0 },
		{ "inf W", FALSE, 0 },
		{ "1,5 W", FALSE, 0 },
		{ "4e1 W", TRUE, 40000000 },
		{ "+40 W", TRUE, 40000000 },
		{ ".5 W", TRUE, 500000 },
		{ "5. W", TRUE, 5000000 },
		{ "2.5e-3 W", TRUE, 2500 },
		{ "1e W", FALSE, 0 },
		{ ". W", FALSE, 0 },
		/* a positive power does not become 0 ("none") by rounding */
		{ "1e-300 W", FALSE, 0 },
		{ "0.0000001 W", FALSE, 0 },
		{ "0.4uW", FALSE, 0 },
		{ "0.6uW", TRUE, 1 },
	};

	(void)state;
	for (size_t i = 0; i < ARRAY_SIZE(cases); i++) {
		g_autoptr(GError) err = NULL;
		uint64_t uw = 12345;
		gboolean ok = ve_parse_power_uw(cases[i].text, &uw, &err);

		check(ok == cases[i].ok, "'%s': %s", cases[i].text, ok ? "accepted" : err->message);
		check_u64(uw, ok ? cases[i].uw : 12345, cases[i].text);
		if (!ok)
			check(strstr(err->message, cases[i].text) != NULL || !cases[i].text[0],
			      "message names the value: %s", err->message);
	}
}

static void test_shipped_file(void **state)
{
	struct ve_config c, d;
	g_autoptr(GError) err = NULL;
	g_autofree char *path = g_build_filename(SOURCE_ROOT, "conf", "virtenergyd.conf", NULL);

	(void)state;
	ve_config_defaults(&c);
	ve_config_defaults(&d);
	check(ve_config_load(&c, path, &err), "shipped file: %s", err ? err->message : "");
	/* it documents the defaults, so loading it changes nothing */
	check(strcmp(c.uri, d.uri) == 0 && strcmp(c.state_dir, d.state_dir) == 0, "strings");
	check_u64(c.period_us, d.period_us, "period");
	check_u64(c.thread_scan_us, d.thread_scan_us, "thread scan");
	check_u64(c.vm_thread_scan_us, d.vm_thread_scan_us, "VM thread scan");
	check_u64(c.state_interval_us, d.state_interval_us, "state interval");
	check_u64(c.host_idle_power_uw, d.host_idle_power_uw, "idle");
	check_u64(c.host_max_power_uw, d.host_max_power_uw, "max");
	check_u64(c.calib_window_periods, d.calib_window_periods, "window");
	check(strcmp(c.export_dir, d.export_dir) == 0, "export dir");
	check(strcmp(c.vmsr_socket, d.vmsr_socket) == 0, "vmsr socket");
	check(strcmp(c.prom_textfile, d.prom_textfile) == 0, "prometheus textfile");
	check(strcmp(c.dbus_bus, d.dbus_bus) == 0, "dbus bus");
	check_u64(c.host_cap_uw, d.host_cap_uw, "host cap");
	check_u64(c.export_interval_us, d.export_interval_us, "export interval");
	check(c.idle_policy == d.idle_policy && c.sampler == d.sampler, "enums");
	check(g_strv_equal((const char *const *)c.events, (const char *const *)d.events), "events");
	ve_config_clear(&c);
	ve_config_clear(&d);
}

static void test_values(void **state)
{
	static const char text[] = "[daemon]\nuri=qemu+ssh://h/system\nperiod-ms=250\n"
				   "state-dir=/srv/ve\nstate-interval-ms=5000\n"
				   "[accounting]\nidle-policy=usage\nsampler=schedstat\nevents=cycles\n"
				   "[host-model]\nidle-power=60W\nmax-power=0.2kW\n"
				   "[calibration]\nwindow-periods=120\n";
	struct ve_config c;
	g_autoptr(GError) err = NULL;

	(void)state;
	ve_config_defaults(&c);
	check(ve_config_load_data(&c, text, sizeof(text) - 1, "test", &err), "%s",
	      err ? err->message : "");
	check(strcmp(c.uri, "qemu+ssh://h/system") == 0, "uri %s", c.uri);
	check_u64(c.period_us, 250000, "period");
	check(strcmp(c.state_dir, "/srv/ve") == 0, "state dir");
	check_u64(c.state_interval_us, 5000000, "interval");
	check(c.idle_policy == VE_IDLE_USAGE, "policy");
	check(c.sampler == VE_SAMPLER_SCHEDSTAT, "sampler");
	check(g_strv_length(c.events) == 1 && strcmp(c.events[0], "cycles") == 0, "events");
	check_u64(c.host_idle_power_uw, 60000000, "idle");
	check_u64(c.host_max_power_uw, 200000000, "max");
	check_u64(c.calib_window_periods, 120, "window");
	ve_config_clear(&c);
}

/*
 * --config is read with a bound and only when it is a regular file: a FIFO
 * would block start-up, a huge file fill memory.  Each is refused by name.
 */
static void test_file_kinds(void **state)
{
	g_autofree char *dir = g_dir_make_tmp("ve-config-XXXXXX", NULL);
	g_autofree char *fifo = g_build_filename(dir, "fifo.conf", NULL);
	g_autofree char *big = g_build_filename(dir, "big.conf", NULL);
	g_autofree char *ok = g_build_filename(dir, "ok.conf", NULL);
	static const struct {
		const char *which;
		const char *says;
	} cases[] = {
		{ "fifo", "not a regular file" },
		{ "dir", "not a regular file" },
		{ "big", "at most" },
		{ "missing", "cannot open" },
	};
	FILE *f;

	(void)state;
	check(dir != NULL, "a temporary directory");
	check(mkfifo(fifo, 0600) == 0, "mkfifo: %s", g_strerror(errno));
	f = fopen(big, "w");
	check(f != NULL, "big file");
	fputs("[daemon]\n", f);
	for (int i = 0; i < 300000; i++)
		fputs("# filler\n", f);
	fclose(f);
	check(g_file_set_contents(ok, "[limits]\nhost-cap=70W\n", -1, NULL), "ok file");
	for (size_t i = 0; i < ARRAY_SIZE(cases); i++) {
		const char *path = strcmp(cases[i].which, "fifo") == 0  ? fifo
				   : strcmp(cases[i].which, "dir") == 0 ? dir
				   : strcmp(cases[i].which, "big") == 0 ? big
									: "/nonexistent/virtenergyd.conf";
		struct ve_config c;
		g_autoptr(GError) err = NULL;

		ve_config_defaults(&c);
		check(!ve_config_load(&c, path, &err), "%s accepted", cases[i].which);
		check(strstr(err->message, cases[i].says) && strstr(err->message, path),
		      "%s: '%s' should name the file and say '%s'", cases[i].which, err->message,
		      cases[i].says);
		check_u64(c.host_cap_uw, 0, "nothing changed");
		ve_config_clear(&c);
	}
	{
		struct ve_config c;
		g_autoptr(GError) err = NULL;

		ve_config_defaults(&c);
		check(ve_config_load(&c, ok, &err), "a regular file loads: %s", err ? err->message : "");
		check_u64(c.host_cap_uw, 70000000, "its value");
		ve_config_clear(&c);
	}
	unlink(fifo);
	unlink(big);
	unlink(ok);
	rmdir(dir);
}

static void test_refusals(void **state)
{
	static const struct {
		const char *text;
		const char *says;
	} cases[] = {
		{ "[daemon]\nperiod-ms=5\n", "period-ms" },
		{ "[daemon]\nperiod-ms=100ms\n", "period-ms" },
		{ "[daemon]\nperiod-ms=-100\n", "period-ms" },
		{ "[daemon]\nstate-dir=relative/dir\n", "state-dir" },
		{ "[guests]\nexport-dir=run/x\n", "export-dir" },
		{ "[guests]\nvmsr-socket=x.sock\n", "vmsr-socket" },
		{ "[prometheus]\ntextfile=v.prom\n", "textfile" },
		{ "[dbus]\nbus=user\n", "user" },
		{ "[limits]\nhost-cap=300\n", "host-cap" },
		{ "[limits]\nhost-cap=0x64W\n", "decimal" },
		{ "[limits]\nhost-cap=1e-300W\n", "rounds to 0" },
		{ "[guests]\nexport-interval-ms=0\n", "export-interval-ms" },
		{ "[daemon]\nperiode-ms=100\n", "periode-ms" },
		{ "[demon]\n", "[demon]" },
		{ "[accounting]\nidle-policy=fair\n", "fair" },
		{ "[accounting]\nsampler=ebpf\n", "ebpf" },
		{ "[accounting]\nevents=a;b;c;d;e;f;g;h\n", "at most" },
		{ "[host-model]\nidle-power=40\n", "idle-power" },
		{ "[host-model]\nidle-power=100W\nmax-power=50W\n", "below" },
		{ "[host-model]\nidle-power-per-cpu=1W\n", "max-power-per-cpu" },
		{ "[host-model]\nidle-power-per-cpu=3W\nmax-power-per-cpu=2W\n", "max-power-per-cpu" },
		{ "[calibration]\nwindow-periods=2\n", "window-periods" },
		{ "not a key file", "test" },
		/* GKeyFile would keep the last value without a word */
		{ "[limits]\nhost-cap=100W\n# a comment\nhost-cap=50W\n", "set twice, on lines 2 and 4" },
		{ "[daemon]\nperiod-ms=100\n[limits]\n[daemon]\nperiod-ms = 200\n", "lines 2 and 5" },
		/* ... and a value that is not UTF-8 as unset (the fuzzer found the NULL) */
		{ "# v\n[service ng]\ncgroup=cyc\xec\xec-mi\n", "test: line 3 is not UTF-8 text" },
		{ "[daemon]\nuri=qemu:///\xff\n", "line 2 is not UTF-8" },
		/* shared services */
		{ "[service store]\n", "[service store]: say how to find the service" },
		{ "[service store]\nexe=/usr/bin/qsd\npidfile=/run/q.pid\n", "[service store] exe and pidfile" },
		{ "[service store]\nexe=usr/bin/qsd\n", "[service store] exe 'usr/bin/qsd' is not an absolute path" },
		{ "[service store]\npidfile=q.pid\n", "pidfile 'q.pid' is not an absolute path" },
		{ "[service store]\nunit=qsd\n", "unit 'qsd' is not a systemd service unit" },
		{ "[service store]\nunit=a/b.service\n", "not a systemd service unit" },
		{ "[service store]\ncgroup=../x\n", "cgroup '../x' is not a cgroup path" },
		{ "[service store]\nexe=/usr/bin/qsd\nsocket=/run/x\n", "unknown key 'socket' in [service store]" },
		{ "[service st/ore]\nexe=/usr/bin/qsd\n", "a service's name is 1 to 64" },
		{ "[service ]\nexe=/usr/bin/qsd\n", "a service's name is 1 to 64" },
		{ "[service a]\nexe=/usr/bin/qsd\nuses=b\n", "[service a] uses: 'b' is not a service declared" },
		{ "[service a]\nexe=/usr/bin/qsd\nuses=a\n", "[service a] uses: 'a' is the service itself" },
		{ "[service a]\nexe=/usr/bin/a\n[service a]\nexe=/usr/bin/b\n", "set twice" },
		{ "[service a]\nexe=/usr/bin/a\nbridges=br0; bad/name\n", "[service a] bridges: 'bad/name' is not a network interface's name" },
		{ "[service a]\nexe=/usr/bin/a\nbridges=averyveryverylong\n", "bridges: 'averyveryverylong' is not" },
		{ "[service a]\nexe=/usr/bin/a\nbridges=br0;;\n", "bridges: '' is not" },
		{ "[service a]\nexe=/usr/bin/a\nbridges=br0;br0\n", "[service a] bridges: 'br0' is switched by service 'a' already" },
		{ "[service a]\nexe=/usr/bin/a\nbridges=br0\n[service b]\nexe=/usr/bin/b\nbridges=br1;br0\n",
		  "[service b] bridges: 'br0' is switched by service 'a' already" },
		{ "[fleet]\nendpoints=http://e:2379\n", "path" },
		{ "[fleet]\nendpoints=e:2379\npath=a/b\n", "http://" },
		{ "[fleet]\npath=a//b\n", "path" },
		{ "[fleet]\nhost=a b\n", "host" },
		{ "[fleet]\nttl-s=0\n", "ttl-s" },
		{ "[fleet]\nttl-s=2\nperiod-ms=1500\n", "half of ttl-s" },
		{ "[fleet]\nweight=0\n", "weight" },
		{ "[fleet]\ncontroller=yes\n", "controller" },
		{ "[fleet]\nfallback-cap=-1W\n", "fallback-cap" },
		{ "[fleet]\nprefix=nope\n", "prefix" },
		{ "[fleet]\nendpoint=http://e:2379\n", "endpoint" },
	};

	(void)state;
	for (size_t i = 0; i < ARRAY_SIZE(cases); i++) {
		struct ve_config c;
		g_autoptr(GError) err = NULL;

		ve_config_defaults(&c);
		check(!ve_config_load_data(&c, cases[i].text, strlen(cases[i].text), "test", &err),
		      "accepted: %s", cases[i].text);
		check(strstr(err->message, cases[i].says) != NULL, "message '%s' should say '%s'",
		      err->message, cases[i].says);
		check_u64(c.period_us, 100000, cases[i].text);
		check_u64(c.host_idle_power_uw, 40000000, cases[i].text);
		check(c.idle_policy == VE_IDLE_VCPUS && strcmp(c.state_dir, "/var/lib/virtenergy") == 0,
		      "nothing changed by '%s'", cases[i].text);
		ve_config_clear(&c);
	}
}

/* [fleet]: off by default; every key read; the old values freed once the new are in */
static void test_fleet(void **state)
{
	static const char text[] = "[fleet]\nendpoints=http://a:2379, http://b:2379/;http://c:2379\n"
				   "prefix=/x/y\nhost=kvm-07\npath=feed-a/rack-1\nttl-s=6\nperiod-ms=3000\n"
				   "fallback-cap=250W\nfloor=30W\nweight=200\ncontroller=false\n";
	struct ve_config c;
	g_autoptr(GError) err = NULL;

	(void)state;
	ve_config_defaults(&c);
	check(!c.fleet_endpoints && c.fleet_ttl_s == 10 && c.fleet_period_us == 1000000 && c.fleet_controller,
	      "off, TTL 10 s, period 1 s, may lead");
	check(ve_config_load_data(&c, text, strlen(text), "test", &err), "loads: %s", err ? err->message : "");
	check(g_strv_length(c.fleet_endpoints) == 3 && strcmp(c.fleet_endpoints[1], "http://b:2379") == 0,
	      "three endpoints, the trailing slash dropped");
	check(strcmp(c.fleet_prefix, "/x/y") == 0 && strcmp(c.fleet_host, "kvm-07") == 0 &&
	      strcmp(c.fleet_path, "feed-a/rack-1") == 0, "prefix, host, path");
	check_u64(c.fleet_ttl_s, 6, "ttl");
	check_u64(c.fleet_period_us, 3000000, "period");
	check_u64(c.fleet_fallback_cap_uw, 250000000, "fallback cap");
	check_u64(c.fleet_floor_uw, 30000000, "floor");
	check_u64(c.fleet_weight, 200, "weight");
	check(!c.fleet_controller, "controller=false");
	/* loading again replaces (ASan sees the old strings freed) */
	check(ve_config_load_data(&c, text, strlen(text), "test", &err), "loads again");
	ve_config_clear(&c);
}

/* one rule for a guest limit, from the file and from --guest-limit alike */
static void test_guest_limit(void **state)
{
	static const struct {
		const char *text, *name, *says;
		uint64_t uw;
	} cases[] = {
		{ "batch=5W", "batch", NULL, 5000000 },
		{ " web = 2.5 W", "web", NULL, 2500000 },
		{ "a/b=5W", NULL, "not CGROUP=POWER", 0 },
		{ "=5W", NULL, "not CGROUP=POWER", 0 },
		{ "batch", NULL, "not CGROUP=POWER", 0 },
		{ "a=-3W", NULL, "guest limit for 'a'", 0 },
		{ "a=0W", NULL, "above zero", 0 },
		{ "a=0x5W", NULL, "guest limit for 'a'", 0 },
	};

	(void)state;
	for (size_t i = 0; i < ARRAY_SIZE(cases); i++) {
		g_autoptr(GError) err = NULL;
		g_autofree char *name = NULL;
		uint64_t uw = 7;
		gboolean ok = ve_guest_limit_parse(cases[i].text, &name, &uw, &err);

		if (cases[i].name) {
			check(ok && strcmp(name, cases[i].name) == 0 && uw == cases[i].uw,
			      "'%s': %s %" PRIu64, cases[i].text, name ? name : "(none)", uw);
		} else {
			check(!ok && !name && uw == 7 && strstr(err->message, cases[i].says),
			      "'%s' refused: %s", cases[i].text, err ? err->message : "accepted");
		}
	}
}

/* [service NAME] groups: every way to find one, uses, and a reload's replacement */
static void test_services(void **state)
{
	static const char text[] =
		"[service storage]\nexe = /usr/bin/qemu-storage-daemon\nuses = backup; vswitch\n"
		"[service backup]\npidfile=/run/backup.pid\n"
		"[service vswitch]\nunit=ovs-vswitchd.service\nbridges = br-int; br-ex\n"
		"[service nbd.1]\ncgroup=/system.slice/nbd.service\n";
	struct ve_config c;
	g_autoptr(GError) err = NULL;

	(void)state;
	ve_config_defaults(&c);
	check_u64(c.n_services, 0, "none by default");
	check(ve_config_load_data(&c, text, sizeof(text) - 1, "test", &err), "%s",
	      err ? err->message : "");
	check_u64(c.n_services, 4, "four services");
	check(strcmp(c.services[0].name, "storage") == 0 && c.services[0].by == VE_SERVICE_BY_EXE &&
	      strcmp(c.services[0].where, "/usr/bin/qemu-storage-daemon") == 0, "found by exe");
	check(c.services[0].uses && g_strv_length(c.services[0].uses) == 2 &&
	      strcmp(c.services[0].uses[1], "vswitch") == 0, "uses two, blanks stripped");
	check(c.services[1].by == VE_SERVICE_BY_PIDFILE && !c.services[1].uses, "pidfile, no uses");
	check(c.services[2].by == VE_SERVICE_BY_UNIT, "unit");
	check(c.services[2].bridges && g_strv_length(c.services[2].bridges) == 2 &&
	      strcmp(c.services[2].bridges[1], "br-ex") == 0 && !c.services[0].bridges,
	      "bridges, blanks stripped");
	check(c.services[3].by == VE_SERVICE_BY_CGROUP &&
	      strcmp(c.services[3].where, "/system.slice/nbd.service") == 0, "cgroup");
	/* a bad file changes nothing; a good one without services has none */
	check(!ve_config_load_data(&c, "[service x]\n", 12, "test", NULL), "refused");
	check_u64(c.n_services, 4, "kept after a refusal");
	check(ve_config_load_data(&c, "[dbus]\nbus=none\n", 16, "test", NULL), "loads");
	check_u64(c.n_services, 0, "a file without services has none");
	ve_config_clear(&c);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_power_units),
		cmocka_unit_test(test_shipped_file),
		cmocka_unit_test(test_values),
		cmocka_unit_test(test_refusals),
		cmocka_unit_test(test_file_kinds),
		cmocka_unit_test(test_guest_limit),
		cmocka_unit_test(test_services),
		cmocka_unit_test(test_fleet),
	};

	return cmocka_run_group_tests_name("config", tests, NULL, NULL);
}
