// SPDX-License-Identifier: GPL-2.0-or-later
/*
 * model.c: default weights and the two device models.
 *
 * The default CPU weights are deliberately round figures for a current
 * x86 server core at about 3 GHz: about 1 nJ per cycle of a busy core plus
 * 0.3 nJ per retired instruction gives some 4–5 W per busy core at IPC 2,
 * and a last-level-cache miss costs some 20 nJ in the package (uncore,
 * memory controller) and 15 nJ in DRAM.  They only need to rank threads
 * sensibly until calibration (calib.h) replaces them with fitted values,
 * because attrib.c rescales every period to the measured energy anyway.
 * Where only run time is known, 3 W per running thread in the package and
 * 0.3 W in DRAM stand in.
 */
#include <errno.h>
#include <math.h>
#include <stdbool.h>
#include <string.h>

#include "model.h"

struct default_weight {
	const char *event;
	double pkg_pj;
	double dram_pj;
};

static const struct default_weight default_weights[] = {
	{ "cycles", 1000.0, 0.0 },
	{ "instructions", 300.0, 0.0 },
	{ "cache-misses", 20000.0, 15000.0 },
	{ "task-clock", 3000.0, 300.0 }, /* per ns running: 3 W, 0.3 W */
};

int ve_model_default_weight_pj(const char *event, enum ve_domain domain, double *ret_pj)
{
	if (!event)
		return -ENOENT;
	for (size_t i = 0; i < sizeof(default_weights) / sizeof(default_weights[0]); i++) {
		if (strcmp(event, default_weights[i].event) == 0) {
			*ret_pj = domain == VE_DOMAIN_DRAM ? default_weights[i].dram_pj
							   : default_weights[i].pkg_pj;
			return 0;
		}
	}
	return -ENOENT;
}

int ve_cpu_model_defaults(struct ve_cpu_model *m, enum ve_domain domain, const char *const *events,
			  unsigned int n, uint64_t idle_power_uw)
{
	struct ve_cpu_model tmp = { .n_events = n, .idle_power_uw = idle_power_uw };

	if (n > VE_MAX_EVENTS)
		return -E2BIG;
	for (unsigned int i = 0; i < n; i++) {
		int r = ve_model_default_weight_pj(events[i], domain, &tmp.weight_pj[i]);

		if (r < 0)
			return r;
	}
	*m = tmp;
	return 0;
}

static bool weight_ok(double w)
{
	return isfinite(w) && w >= 0.0;
}

int ve_cpu_model_check(const struct ve_cpu_model *m)
{
	if (m->n_events > VE_MAX_EVENTS)
		return -EINVAL;
	for (unsigned int i = 0; i < m->n_events; i++)
		if (!weight_ok(m->weight_pj[i]))
			return -EINVAL;
	return 0;
}

int ve_cpu_model_energy_uj(const struct ve_cpu_model *m, const uint64_t *delta, double *ret_uj)
{
	if (ve_cpu_model_check(m) < 0)
		return -EINVAL;
	*ret_uj = ve_cpu_model_eval_uj(m, delta);
	return 0;
}

struct disk_profile {
	const char *name;
	struct ve_disk_model m;
};

/* The figures and where they come from are in model.h. */
static const struct disk_profile disk_profiles[] = {
	{ "hdd", { .idle_power_uw = 4100000, .active_power_uw = 6700000,
		   .op_nj = 10920000.0, .byte_pj = 45614.0 } },
	{ "ssd", { .idle_power_uw = 600000, .active_power_uw = 3000000,
		   .op_nj = 10000.0, .byte_pj = 4528.0 } },
	{ "nvme", { .idle_power_uw = 3500000, .active_power_uw = 8000000,
		    .op_nj = 5000.0, .byte_pj = 1406.0 } },
};

int ve_disk_model_profile(const char *name, struct ve_disk_model *ret_m)
{
	if (!name)
		return -ENOENT;
	for (size_t i = 0; i < sizeof(disk_profiles) / sizeof(disk_profiles[0]); i++) {
		if (strcmp(name, disk_profiles[i].name) == 0) {
			*ret_m = disk_profiles[i].m;
			return 0;
		}
	}
	return -ENOENT;
}

int ve_disk_model_check(const struct ve_disk_model *m)
{
	if (!weight_ok(m->op_nj) || !weight_ok(m->byte_pj))
		return -EINVAL;
	if (m->active_power_uw < m->idle_power_uw)
		return -EINVAL;
	return 0;
}

const char *ve_disk_model_profile_for(const char *devname, bool rotational)
{
	if (devname && strncmp(devname, "nvme", 4) == 0)
		return "nvme";
	return rotational ? "hdd" : "ssd";
}

double ve_disk_model_energy_uj(const struct ve_disk_model *m, uint64_t ops, uint64_t bytes)
{
	return (double)ops * m->op_nj * 1e-3 + (double)bytes * m->byte_pj * 1e-6;
}

double ve_model_freq_factor(double ratio_sum, unsigned int n_freq, unsigned int n_cpus)
{
	unsigned int all = n_freq > n_cpus ? n_freq : n_cpus;

	if (!n_freq)
		return 1.0;
	return (ratio_sum + (double)(all - n_freq)) / (double)all;
}
