// SPDX-License-Identifier: GPL-2.0-or-later
/*
 * limiter.c: power limits in a feedback loop (see limiter.h).
 *
 * About 620 lines: one loop over the VMs' struct limited, whose steps
 * (measure, split the cap, the controller, frequency then bandwidth, disks,
 * the limit's state) all read and write the same per-VM state; split, each
 * part would need that struct exported.  The maths is in core/ (budget.h,
 * powerctl.h, share.h).
 */
#include <fcntl.h>
#include <math.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/sysmacros.h>
#include <unistd.h>

#include "blockdev.h"
#include "budget.h"
#include "limiter.h"
#include "model.h"
#include "powerctl.h"
#include "share.h"

struct limited {
	char *name;
	struct ve_limits lim;
	struct ve_pctl ctl;
	bool primed;                 /* a first reading of its ledger exists */
	uint64_t last_total_uj, last_idle_uj, last_us;
	struct ve_budget_window win;                /* budget accounting */
	bool warned_hold;
	bool measured_now;           /* measured in this control period */
	uint64_t measured_uw, static_uw;            /* over the last control period */
	uint64_t alloc_uw;           /* its share of the host cap */
	uint64_t limit_uw;           /* the limit in force */
	bool throttled;              /* held below full bandwidth, as last reported */
	bool freq_warned;            /* told why its frequency cannot be lowered */
	uint64_t disk_failed_uw;     /* the disk limit that could not be applied (told once) */
	char *cpu_fail, *disk_fail;  /* why the limit cannot be enforced now, NULL: it can */
};

/* The actuators, in the order a VM is restored: frequency, bandwidth, disks. */
enum { ACT_FREQ, ACT_BW, ACT_DISK, N_ACT };

struct ve_limiter {
	/* act.h's interface; the frequency's is made at the first tick, when the engine's root is known */
	struct ve_actuator act[N_ACT];
	char *state_dir;
	bool dry_run;
	int root_fd;                 /* the engine's, borrowed; -1 before the first tick */
	bool have_cpufreq;           /* the root has cpu0/cpufreq */
	uint64_t period_us;
	uint64_t last_us;
	ve_limiter_log_fn log;
	void *ud;
	struct ve_registry *reg;     /* borrowed; each VM's VE_REG_LIMITER slot: its struct limited */
	uint64_t host_cap_uw;        /* 0: none */
	ve_limiter_event_fn event;
	bool warned_guarantees;
};

static void limited_free(gpointer p)
{
	struct limited *v = p;

	g_free(v->cpu_fail);
	g_free(v->disk_fail);
	g_free(v->name);
	g_free(v);
}

static struct limited *new_limited(const char *name)
{
	struct limited *v = g_new0(struct limited, 1);
	struct ve_pctl_params p;

	ve_pctl_params_default(&p);
	ve_pctl_init(&v->ctl, &p, 1.0);
	v->name = g_strdup(name);
	ve_limits_init(&v->lim);
	return v;
}

static void act_log(void *ud, const char *uuid, const char *name, const char *msg)
{
	struct ve_limiter *l = ud;

	if (l->log)
		l->log(l->ud, uuid, name, msg);
}

struct ve_limiter *ve_limiter_new(struct ve_registry *reg, const char *state_dir, bool dry_run,
				  uint64_t period_us, ve_limiter_log_fn log, void *ud)
{
	struct ve_limiter *l = g_new0(struct ve_limiter, 1);

	l->act[ACT_BW] = ve_cpubw_actuator(ve_cpubw_new(state_dir, dry_run, act_log, l));
	l->act[ACT_FREQ] = ve_cpufreq_actuator(NULL);
	l->act[ACT_DISK] = ve_blkio_actuator(ve_blkio_new(state_dir, dry_run, act_log, l));
	l->state_dir = g_strdup(state_dir);
	l->dry_run = dry_run;
	l->root_fd = -1;
	l->period_us = period_us;
	l->log = log;
	l->ud = ud;
	l->reg = reg;
	ve_registry_set_free(reg, VE_REG_LIMITER, limited_free);
	return l;
}

void ve_limiter_on_event(struct ve_limiter *l, ve_limiter_event_fn fn)
{
	l->event = fn;
}

void ve_limiter_free(struct ve_limiter *l)
{
	if (!l)
		return;
	for (size_t i = 0; i < N_ACT; i++)
		ve_act_free(&l->act[i]);
	g_free(l->state_dir);
	ve_registry_clear_slot(l->reg, VE_REG_LIMITER);
	g_free(l);
}

/* Actuators [@from, @to) give the VM back what they hold; a failure is told and kept for the next try. */
static void restore_range(struct ve_limiter *l, size_t from, size_t to, virConnectPtr conn,
			  const char *uuid, const char *name)
{
	const struct ve_act_target t = { .key = uuid, .name = name, .conn = conn };

	for (size_t i = from; i < to; i++) {
		g_autoptr(GError) err = NULL;

		if (!ve_act_restore(&l->act[i], &t, &err))
			ve_act_say(l->log, l->ud, uuid, name, "%s; %s until the next try", err->message,
				   l->act[i].ops->left);
	}
}

/* The VM's CPU back to its own: frequency and bandwidth. */
static void restore_cpu(struct ve_limiter *l, virConnectPtr conn, const char *uuid, const char *name)
{
	restore_range(l, ACT_FREQ, ACT_BW + 1, conn, uuid, name);
}

static void restore_disk(struct ve_limiter *l, virConnectPtr conn, const char *uuid, const char *name)
{
	restore_range(l, ACT_DISK, ACT_DISK + 1, conn, uuid, name);
}

static void restore(struct ve_limiter *l, virConnectPtr conn, const char *uuid, const char *name)
{
	restore_range(l, 0, N_ACT, conn, uuid, name);
}

static bool cpu_limited(const struct ve_limits *lim)
{
	return lim && (lim->power_limit_uw || lim->budget_uj);
}

void ve_limiter_set(struct ve_limiter *l, virConnectPtr conn, const char *uuid, const char *name,
		    const struct ve_limits *lim)
{
	struct limited *v = ve_registry_get(l->reg, uuid, VE_REG_LIMITER);
	bool cpu_before = v && cpu_limited(&v->lim), cpu_now = cpu_limited(lim);
	uint64_t disk_before = v ? v->lim.disk_power_limit_uw : 0;
	uint64_t disk_now = lim ? lim->disk_power_limit_uw : 0;

	if (cpu_before && !cpu_now) {
		ve_act_say(l->log, l->ud, uuid, name, "VM '%s': power limit lifted%s", name,
		    l->host_cap_uw ? "; it stays under the host cap" : ", its CPU restored");
		if (!l->host_cap_uw) {
			restore_cpu(l, conn, uuid, name);
			ve_pctl_init(&v->ctl, &v->ctl.p, 1.0);
			v->limit_uw = 0;
			v->throttled = false;
			g_clear_pointer(&v->cpu_fail, g_free);
		}
	}
	if (disk_before && disk_before != disk_now) {
		if (!disk_now)
			ve_act_say(l->log, l->ud, uuid, name, "VM '%s': disk power limit lifted, its disks' I/O limits restored",
			    name);
		restore_disk(l, conn, uuid, name);
		v->disk_failed_uw = 0;
		g_clear_pointer(&v->disk_fail, g_free);
	}
	if (!cpu_now && !disk_now) {
		if (v && !l->host_cap_uw) {
			ve_registry_set(l->reg, uuid, VE_REG_LIMITER, NULL);
		} else if (v) {
			ve_limits_init(&v->lim);
			if (lim)
				v->lim = *lim;   /* guarantee and weight still count for the cap */
		} else if (lim && l->host_cap_uw) {
			v = new_limited(name);
			v->lim = *lim;
			ve_registry_set(l->reg, uuid, VE_REG_LIMITER, v);
		}
		return;
	}
	if (!v) {
		v = new_limited(name);
		ve_registry_set(l->reg, uuid, VE_REG_LIMITER, v);
	}
	g_free(v->name);
	v->name = g_strdup(name);
	if (cpu_now && (memcmp(&v->lim, lim, sizeof(*lim)) != 0 || !cpu_before))
		ve_act_say(l->log, l->ud, uuid, name, "VM '%s': power limit %.3f W%s", name,
		    (double)lim->power_limit_uw / 1e6, lim->budget_uj ? " and an energy budget" : "");
	if (disk_now && disk_now != disk_before)
		ve_act_say(l->log, l->ud, uuid, name, "VM '%s': disk power limit %.3f W", name, (double)disk_now / 1e6);
	if (v->lim.budget_window_s != lim->budget_window_s || v->lim.budget_uj != lim->budget_uj)
		v->win.start_us = 0;   /* a new budget starts a new window */
	v->lim = *lim;
}

void ve_limiter_stopped(struct ve_limiter *l, virConnectPtr conn, const char *uuid)
{
	struct limited *v = ve_registry_get(l->reg, uuid, VE_REG_LIMITER);

	if (!v)
		return;
	/* the quota went with the VM's cgroups; the record goes, the limit stays for its next start */
	restore(l, conn, uuid, v->name);
	v->primed = false;
	ve_pctl_init(&v->ctl, &v->ctl.p, 1.0);
}

/* Bring a VM's power over the last control period up to date; false until primed. */
static bool measure(struct limited *v, const struct ve_vm_view *vm, uint64_t now_us)
{
	uint64_t total = vm->ledger->total_uj, idle = vm->ledger->comp_uj[VE_COMP_IDLE], dt;

	if (!v->primed || now_us <= v->last_us || total < v->last_total_uj) {
		v->primed = true;
		v->last_total_uj = total;
		v->last_idle_uj = idle;
		v->last_us = now_us;
		v->measured_uw = 0;
		return false;
	}
	dt = now_us - v->last_us;
	v->measured_uw = ve_power_uw(total - v->last_total_uj, dt);
	v->static_uw = ve_power_uw(idle - v->last_idle_uj, dt);
	if (v->lim.budget_uj)
		ve_budget_window_add(&v->win, v->lim.budget_window_s, now_us, total - v->last_total_uj);
	v->last_total_uj = total;
	v->last_idle_uj = idle;
	v->last_us = now_us;
	return true;
}

/* The fraction of its full speed a VM is held to (frequency × bandwidth), 0 when free. */
static double held_fraction(struct ve_limiter *l, const char *uuid)
{
	double f = ve_act_current(&l->act[ACT_FREQ], uuid), b = ve_act_current(&l->act[ACT_BW], uuid);

	if (f <= 0.0 && b <= 0.0)
		return 0.0;
	return (f > 0.0 ? f : 1.0) * (b > 0.0 ? b : 1.0);
}

/* Split the host cap among the VMs measured this period (share.h). */
static void split_cap(struct ve_limiter *l)
{
	g_autofree struct ve_share_vm *in = NULL;
	g_autofree uint64_t *alloc = NULL;
	g_autofree struct limited **who = NULL;
	struct ve_share_result r;
	struct ve_registry_iter it;
	const char *k;
	void *val;
	size_t n = 0, cap = ve_registry_count(l->reg, VE_REG_LIMITER);

	in = g_new0(struct ve_share_vm, cap ? cap : 1);
	alloc = g_new0(uint64_t, cap ? cap : 1);
	who = g_new0(struct limited *, cap ? cap : 1);
	ve_registry_iter_init(&it, l->reg, VE_REG_LIMITER);
	while (ve_registry_iter_next(&it, &k, &val)) {
		struct limited *v = val;

		v->alloc_uw = 0;
		if (!v->measured_now)
			continue;
		in[n] = (struct ve_share_vm){ .limit_uw = v->lim.power_limit_uw,
					      .guarantee_uw = v->lim.guarantee_uw,
					      .demand_uw = ve_demand_uw(v->measured_uw, v->static_uw,
									held_fraction(l, k)),
					      .weight = v->lim.weight ? v->lim.weight : 100 };
		who[n++] = v;
	}
	if (ve_share_cap(l->host_cap_uw, in, n, alloc, &r) < 0)
		return;
	for (size_t i = 0; i < n; i++)
		who[i]->alloc_uw = alloc[i] ? alloc[i] : 1;
	if (r.guarantees_scaled && !l->warned_guarantees) {
		ve_act_say(l->log, l->ud, NULL, NULL, "the VMs' guarantees exceed the host cap of %.3f W; scaled down in proportion",
		    (double)l->host_cap_uw / 1e6);
		l->warned_guarantees = true;
	} else if (!r.guarantees_scaled) {
		l->warned_guarantees = false;
	}
}

/*
 * The disk model of the host disk a VM disk's image lives on, chosen as
 * the engine chooses its disks' profiles (NVMe, rotational, else SSD).
 * Images on a file system with no disk of its own (tmpfs, overlay, NFS)
 * and network disks get the SSD profile; the log says which was used.
 */
static bool disk_model_for(void *ud, const char *source, struct ve_disk_model *ret)
{
	struct ve_limiter *l = ud;
	struct ve_disks disks = { 0 };
	const char *profile = "ssd", *host = NULL;
	struct stat st;
	int i = -1;

	if (source && source[0] == '/' && l->root_fd >= 0 &&
	    fstatat(l->root_fd, source + 1, &st, 0) == 0 && ve_disks_scan(l->root_fd, &disks) == 0) {
		dev_t dev = S_ISBLK(st.st_mode) ? st.st_rdev : st.st_dev;

		i = ve_disks_find(&disks, major(dev), minor(dev));
		if (i >= 0) {
			host = disks.disk[i].name;
			profile = ve_disk_model_profile_for(host, disks.disk[i].rotational);
		}
	}
	ve_act_say(l->log, l->ud, NULL, NULL, "disk image %s: %s%s, %s disk model", source ? source : "(network)",
	    host ? "on host disk " : "no host disk found", host ? host : "", profile);
	ve_disks_clear(&disks);
	return ve_disk_model_profile(profile, ret) == 0;
}

/* The first tick knows the engine's root: bring up cpufreq and restore what a previous run left. */
static void ensure_freq(struct ve_limiter *l, struct ve_engine *e)
{
	g_autoptr(GString) report = g_string_new("");
	unsigned int n = 0;

	if (l->act[ACT_FREQ].impl)
		return;
	l->root_fd = ve_engine_root_fd(e);
	l->have_cpufreq = faccessat(l->root_fd, "sys/devices/system/cpu/cpu0/cpufreq", F_OK, 0) == 0;
	l->act[ACT_FREQ] = ve_cpufreq_actuator(ve_cpufreq_new(l->root_fd, l->state_dir, l->dry_run,
							      act_log, l, report, &n));
	if (n)
		ve_act_say(l->log, l->ud, NULL, NULL, "restored the frequency of %u CPU(s) a previous run left lowered", n);
	if (report->len)
		ve_act_say(l->log, l->ud, NULL, NULL, "%s", report->str);
}

/*
 * Frequency first: where the VM has CPUs of its own, run them at u of
 * their top frequency and return the ratio applied (bandwidth makes up the
 * rest: at the floor, or between two listed frequencies).  0 where the
 * frequency cannot be used; what it held is then given back.
 */
static double apply_freq(struct ve_limiter *l, virConnectPtr conn, virDomainPtr dom,
			 const char *uuid, struct limited *v, double u)
{
	g_autoptr(GError) err = NULL;
	g_autofree unsigned int *cpus = NULL;
	size_t n = 0;
	double ratio = 0.0;
	const struct ve_actuator *freq = &l->act[ACT_FREQ];
	bool held = ve_act_current(freq, uuid) > 0.0;

	if (!freq->impl || (u >= 1.0 && !held))
		return 0.0;
	if (!l->have_cpufreq && !held) {
		/* no libvirt calls every second for a host that cannot scale */
		if (!v->freq_warned)
			ve_act_say(l->log, l->ud, uuid, v->name, "VM '%s': the host has no cpufreq; holding it by CPU bandwidth alone",
			    v->name);
		v->freq_warned = true;
		return 0.0;
	}
	if (u < 1.0 && ve_cpufreq_dedicated_cpus(conn, dom, &cpus, &n, &err) && n &&
	    ve_act_set(freq, &(struct ve_act_target){ .key = uuid, .name = v->name, .cpus = cpus,
						      .n_cpus = n },
		       u, &ratio, &err)) {
		v->freq_warned = false;
		return ratio;
	}
	if (u < 1.0 && !v->freq_warned) {
		ve_act_say(l->log, l->ud, uuid, v->name, "VM '%s': %s; holding it by CPU bandwidth alone", v->name,
		    err ? err->message : "its vCPUs have no host CPUs of their own (vcpupin), so no CPU frequency is lowered");
		v->freq_warned = true;
	}
	if (held)
		restore_range(l, ACT_FREQ, ACT_FREQ + 1, conn, uuid, v->name);
	return 0.0;
}

/* Hold the VM's disks to its disk power limit when that is not done yet. */
static void apply_disk(struct ve_limiter *l, virConnectPtr conn, const char *uuid, struct limited *v)
{
	uint64_t want = v->lim.disk_power_limit_uw;
	g_autoptr(GError) err = NULL;
	virDomainPtr dom;

	if (!want || ve_act_current(&l->act[ACT_DISK], uuid) == (double)want || v->disk_failed_uw == want ||
	    !conn)
		return;
	dom = virDomainLookupByUUIDString(conn, uuid);
	if (!dom)
		return;   /* libvirt away: try again next period */
	if (!ve_act_set(&l->act[ACT_DISK],
			&(struct ve_act_target){ .key = uuid, .name = v->name, .conn = conn, .dom = dom,
						 .model = disk_model_for, .model_ud = l },
			(double)want, NULL, &err)) {
		ve_act_say(l->log, l->ud, uuid, v->name, "VM '%s': disk power limit %.3f W not applied: %s; its disks are left as they were",
		    v->name, (double)want / 1e6, err->message);
		v->disk_failed_uw = want;
		g_free(v->disk_fail);
		v->disk_fail = g_strdup_printf("disk power limit: %s", err->message);
	} else {
		g_clear_pointer(&v->disk_fail, g_free);
		ve_act_say(l->log, l->ud, uuid, v->name, "VM '%s': its disks held to %.3f W by block I/O tuning", v->name,
		    (double)want / 1e6);
	}
	virDomainFree(dom);
}

void ve_limiter_tick(struct ve_limiter *l, struct ve_engine *e, virConnectPtr conn, uint64_t now_us)
{
	struct ve_registry_iter it;
	const char *k;
	void *val;

	ensure_freq(l, e);
	if (now_us - l->last_us < l->period_us)
		return;
	l->last_us = now_us;

	/* under a host cap every running VM is held, limited by metadata or not */
	if (l->host_cap_uw) {
		for (size_t i = 0; i < ve_engine_n_vms(e); i++) {
			struct ve_vm_view vm;

			ve_engine_vm(e, i, &vm);
			if (vm.running && !ve_registry_get(l->reg, vm.uuid, VE_REG_LIMITER))
				ve_registry_set(l->reg, vm.uuid, VE_REG_LIMITER, new_limited(vm.name));
		}
	}
	ve_registry_iter_init(&it, l->reg, VE_REG_LIMITER);
	while (ve_registry_iter_next(&it, &k, &val)) {
		struct limited *v = val;
		struct ve_vm_view vm;
		bool running = ve_engine_vm_find(e, k, &vm) && vm.running;

		v->measured_now = running && measure(v, &vm, now_us);
		if (running)
			apply_disk(l, conn, k, v);
	}
	if (l->host_cap_uw)
		split_cap(l);

	ve_registry_iter_init(&it, l->reg, VE_REG_LIMITER);
	while (ve_registry_iter_next(&it, &k, &val)) {
		struct limited *v = val;
		uint64_t limit;
		g_autoptr(GError) err = NULL;
		virDomainPtr dom;
		double u, ratio, bw, held;

		if (!v->measured_now)
			continue;
		limit = ve_budget_effective_uw(v->lim.power_limit_uw, v->lim.budget_uj, v->win.used_uj,
					       ve_budget_left_s(&v->win, v->lim.budget_window_s, now_us));
		if (l->host_cap_uw && (!limit || v->alloc_uw < limit))
			limit = v->alloc_uw;
		v->limit_uw = limit;
		if (!limit)
			continue;
		u = ve_pctl_step(&v->ctl, limit, v->measured_uw, v->static_uw);
		if ((u < 1.0) != v->throttled) {
			v->throttled = u < 1.0;
			if (l->event)
				l->event(l->ud, v->throttled ? VE_LIMITER_THROTTLED : VE_LIMITER_RELEASED, k,
					 v->name, limit, v->measured_uw);
		}
		if (v->ctl.cannot_hold && !v->warned_hold) {
			ve_act_say(l->log, l->ud, k, v->name,
			    "VM '%s' cannot be held to %.3f W: at its CPU floor it still draws %.3f W",
			    v->name, (double)limit / 1e6, (double)v->measured_uw / 1e6);
			if (l->event)
				l->event(l->ud, VE_LIMITER_CANNOT_HOLD, k, v->name, limit, v->measured_uw);
			v->warned_hold = true;
		} else if (!v->ctl.cannot_hold) {
			v->warned_hold = false;
		}
		dom = conn ? virDomainLookupByUUIDString(conn, k) : NULL;
		if (!dom)
			continue;   /* libvirt away: try again next period */
		ratio = apply_freq(l, conn, dom, k, v, u);
		bw = ratio > 0.0 ? fmin(1.0, u / ratio) : u;
		/* a change below half a percent of bandwidth is not worth a libvirt call */
		held = ve_act_current(&l->act[ACT_BW], k);
		if ((fabs(bw - held) < 0.005 && held > 0.0) || (bw >= 1.0 && held == 0.0)) {
			virDomainFree(dom);
			continue;
		}
		if (!ve_act_set(&l->act[ACT_BW],
				&(struct ve_act_target){ .key = k, .name = v->name, .conn = conn, .dom = dom },
				bw, NULL, &err)) {
			/* told once per reason; the state says it while it lasts */
			if (g_strcmp0(v->cpu_fail, err->message) != 0)
				ve_act_say(l->log, l->ud, k, v->name, "VM '%s': %s; its bandwidth is left as it was",
					   v->name, err->message);
			g_free(v->cpu_fail);
			v->cpu_fail = g_strdup(err->message);
		} else {
			g_clear_pointer(&v->cpu_fail, g_free);
		}
		virDomainFree(dom);
	}
}

void ve_limiter_set_host_cap(struct ve_limiter *l, virConnectPtr conn, uint64_t cap_uw)
{
	struct ve_registry_iter it;
	const char *k;
	void *val;

	if (cap_uw == l->host_cap_uw)
		return;
	l->host_cap_uw = cap_uw;
	if (cap_uw) {
		ve_act_say(l->log, l->ud, NULL, NULL, "host cap %.3f W, split among running VMs", (double)cap_uw / 1e6);
		return;
	}
	ve_act_say(l->log, l->ud, NULL, NULL, "host cap lifted");
	/* VMs held only for the cap go free */
	ve_registry_iter_init(&it, l->reg, VE_REG_LIMITER);
	while (ve_registry_iter_next(&it, &k, &val)) {
		struct limited *v = val;

		if (!v->lim.power_limit_uw && !v->lim.budget_uj) {
			restore(l, conn, k, v->name);
			ve_registry_iter_clear(&it);
		}
	}
}

uint64_t ve_limiter_limit_uw(struct ve_limiter *l, const char *uuid)
{
	struct limited *v = ve_registry_get(l->reg, uuid, VE_REG_LIMITER);

	if (!v)
		return 0;
	return v->limit_uw ? v->limit_uw : v->lim.power_limit_uw;
}

void ve_limiter_figures(struct ve_limiter *l, struct ve_limiter_figures *ret)
{
	struct ve_registry_iter it;
	const char *k;
	void *val;

	memset(ret, 0, sizeof(*ret));
	ve_registry_iter_init(&it, l->reg, VE_REG_LIMITER);
	while (ve_registry_iter_next(&it, &k, &val)) {
		struct limited *v = val;

		if (!v->measured_now)
			continue;
		ret->guarantee_uw += v->lim.guarantee_uw;
		ret->measured_uw += v->measured_uw;
		ret->demand_uw += ve_demand_uw(v->measured_uw, v->static_uw, held_fraction(l, k));
	}
}

uint64_t ve_limiter_alloc_uw(struct ve_limiter *l, const char *uuid)
{
	struct limited *v = ve_registry_get(l->reg, uuid, VE_REG_LIMITER);

	return v && l->host_cap_uw ? v->alloc_uw : 0;
}

unsigned int ve_limiter_reconcile(struct ve_limiter *l, virConnectPtr conn, GString *report)
{
	unsigned int n = ve_act_reconcile(&l->act[ACT_BW], conn, report);
	unsigned int d = ve_act_reconcile(&l->act[ACT_DISK], conn, report);

	/* the CPU frequency record is restored at the first tick, which knows the sysfs root */
	if (d)
		g_string_append_printf(report, "restored the disk I/O limits of %u VM(s) a previous run left throttled; ",
				       d);
	return n;
}

unsigned int ve_limiter_restore_all(struct ve_limiter *l, virConnectPtr conn)
{
	unsigned int failed = 0;

	for (size_t i = 0; i < N_ACT; i++)
		failed += ve_act_restore_all(&l->act[i], conn, NULL);
	return failed;
}

const char *ve_limit_state_name(enum ve_limit_state s)
{
	static const char *const names[] = { "none", "held", "at-floor", "not-enforceable" };

	return (unsigned int)s < G_N_ELEMENTS(names) ? names[s] : "none";
}

enum ve_limit_state ve_limiter_state(struct ve_limiter *l, const char *uuid, char **ret_reason)
{
	struct limited *v = ve_registry_get(l->reg, uuid, VE_REG_LIMITER);

	if (ret_reason)
		*ret_reason = NULL;
	if (!v || !(v->limit_uw || v->lim.power_limit_uw || v->lim.budget_uj ||
		    v->lim.disk_power_limit_uw))
		return VE_LIMIT_NONE;
	if (v->cpu_fail || v->disk_fail) {
		if (ret_reason)
			*ret_reason = v->cpu_fail ? g_strdup_printf("CPU bandwidth: %s", v->cpu_fail)
						  : g_strdup(v->disk_fail);
		return VE_LIMIT_NOT_ENFORCEABLE;
	}
	if (v->ctl.cannot_hold) {
		if (ret_reason)
			*ret_reason = g_strdup_printf("at its CPU floor it still draws %.3f W against %.3f W",
						      (double)v->measured_uw / 1e6, (double)v->limit_uw / 1e6);
		return VE_LIMIT_AT_FLOOR;
	}
	return VE_LIMIT_HELD;
}

bool ve_limiter_budget_left_uj(struct ve_limiter *l, const char *uuid, uint64_t *ret_uj)
{
	struct limited *v = ve_registry_get(l->reg, uuid, VE_REG_LIMITER);

	if (!v || !v->lim.budget_uj)
		return false;
	*ret_uj = v->win.used_uj < v->lim.budget_uj ? v->lim.budget_uj - v->win.used_uj : 0;
	return true;
}
