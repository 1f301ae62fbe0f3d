/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * model.h: the energy models that turn activity into modelled energy.
 *
 * CPU (a RAPL package or DRAM domain): dynamic energy of a thread in a
 * period = Σ_e weight_pj[e] × delta[e], over a configurable event set of at
 * most VE_MAX_EVENTS events, plus static power idle_power_uw for the whole
 * device.  Where only task clock is available the set is just "task-clock"
 * (nanoseconds of run time) and the weight is energy per ns of running.
 *
 * Disk: a two-state power model.  The device draws idle_power_uw while idle
 * and active_power_uw while busy; each request costs op_nj and each byte
 * byte_pj, which is what divides the dynamic energy among the accounts that
 * issued the requests.
 *
 * The modelled energies are only weights: attrib.h scales them so that, per
 * device, static + dynamic equals what a sensor measured.  Where there is no
 * sensor, the model's own total stands in and is flagged as estimated.
 *
 * Units are in the names: pJ per event, µW, nJ per request, pJ per byte.
 * Weights are doubles because calibration (calib.h) produces them; every
 * function rejects NaN, infinite and negative values with -EINVAL.
 */
#pragma once

#include <stddef.h>
#include <stdbool.h>
#include <stdint.h>

#define VE_MAX_EVENTS 8
#define VE_EVENT_NAME_MAX 48

struct ve_cpu_model {
	unsigned int n_events;
	double weight_pj[VE_MAX_EVENTS]; /* pJ per event; task-clock: pJ per ns */
	uint64_t idle_power_uw;          /* static power of the whole device */
};

struct ve_disk_model {
	uint64_t idle_power_uw;
	uint64_t active_power_uw;        /* >= idle_power_uw */
	double op_nj;                    /* per completed request */
	double byte_pj;                  /* per byte transferred */
};

enum ve_domain {
	VE_DOMAIN_PKG,  /* RAPL package: cores and uncore */
	VE_DOMAIN_DRAM, /* RAPL DRAM */
};

/*
 * Default weight of a named event for a domain, in pJ per event.
 * Known names: "cycles", "instructions", "cache-misses", "task-clock"
 * (per ns).  Returns 0, or -ENOENT for a name without a default.
 */
int ve_model_default_weight_pj(const char *event, enum ve_domain domain, double *ret_pj);

/*
 * Fill @m with the default weights for @events (n <= VE_MAX_EVENTS) and
 * @idle_power_uw.  -E2BIG for too many events, -ENOENT (naming nothing,
 * @m untouched) when an event has no default; the caller then has to give
 * its weight explicitly.
 */
int ve_cpu_model_defaults(struct ve_cpu_model *m, enum ve_domain domain, const char *const *events,
			  unsigned int n, uint64_t idle_power_uw);

/* 0 when every weight is finite and >= 0 and n_events <= VE_MAX_EVENTS, else -EINVAL. */
int ve_cpu_model_check(const struct ve_cpu_model *m);

/*
 * Modelled dynamic energy of one thread sample, in µJ (a double: it is a
 * weight, rounding happens once, in attrib.c).  @delta has m->n_events
 * entries.  -EINVAL for a model that fails ve_cpu_model_check().
 */
int ve_cpu_model_energy_uj(const struct ve_cpu_model *m, const uint64_t *delta, double *ret_uj);

/* The same for a model already checked: the per-sample hot path. */
static inline double ve_cpu_model_eval_uj(const struct ve_cpu_model *m, const uint64_t *delta)
{
	double pj = 0.0;

	for (unsigned int i = 0; i < m->n_events; i++)
		pj += m->weight_pj[i] * (double)delta[i];
	return pj * 1e-6;
}

/*
 * Disk profiles.  "hdd" is the drive Stoess et al. measured (ATC 2007,
 * section 5): 4.1 W idle, 6.7 W active, 57 MB/s, so a byte costs
 * (6.7 - 4.1) W / 57 MB/s = 45.6 nJ, and a request a 4.2 ms rotational
 * latency at the 2.6 W active surplus, about 11 mJ.  "ssd" is a SATA SSD of
 * today: 0.6 W idle, 3.0 W active at 530 MB/s (4.5 nJ per byte), 10 µJ per
 * request.  "nvme": 3.5 W idle (APST off), 8.0 W active at 3.2 GB/s (1.4 nJ
 * per byte), 5 µJ per request.  -ENOENT for another name.
 */
int ve_disk_model_profile(const char *name, struct ve_disk_model *ret_m);

/*
 * The profile for a disk by what sysfs says it is: "nvme" for a device
 * named nvme*, "hdd" for a rotational one, else "ssd".
 */
const char *ve_disk_model_profile_for(const char *devname, bool rotational);

/* 0 when the model is usable (finite, non-negative, active >= idle), else -EINVAL. */
int ve_disk_model_check(const struct ve_disk_model *m);

/* Modelled dynamic energy of @ops requests moving @bytes, in µJ. */
double ve_disk_model_energy_uj(const struct ve_disk_model *m, uint64_t ops, uint64_t bytes);

/*
 * The host model's frequency scaling: a socket whose CPUs run at 60 % of
 * their maximum frequency is taken to draw 60 % of the dynamic power per
 * busy second (linear in frequency: the conservative reading of P = C·V²·f,
 * since voltage drops with frequency only down to a floor).  @ratio_sum is
 * the sum of cur/max (each at most 1) over the @n_freq CPUs that have
 * cpufreq; the socket's other CPUs, up to @n_cpus, count at their maximum.
 * The factor for the socket's busy-time weight, in [0, 1]; 1 when no CPU
 * has cpufreq.
 */
double ve_model_freq_factor(double ratio_sum, unsigned int n_freq, unsigned int n_cpus);
