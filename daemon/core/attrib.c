// SPDX-License-Identifier: GPL-2.0-or-later
/*
 * attrib.c: one accounting period (the steps are listed in attrib.h).
 *
 * Everything is validated before anything is computed, and the result is
 * built in scratch space that is swapped into the caller's only at the end,
 * so a bad period leaves the caller's result, and hence its ledger, alone.
 *
 * Shares are real numbers until the last step.  Rounding each share on its
 * own would create or lose a few µJ per period; instead the shares of one
 * device are rounded as running sums (the k-th integer share is
 * round(S_k) − round(S_{k−1}) with S_k the k-th prefix sum scaled to the
 * device's integer energy).  The integers then add up to the device's
 * energy exactly, none is negative, and none is more than 1 µJ away from
 * its real value.
 */
#include <errno.h>
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "attrib.h"

static const char *const policy_names[VE_IDLE__MAX] = {
	[VE_IDLE_NONE] = "none",
	[VE_IDLE_EQUAL] = "equal",
	[VE_IDLE_VCPUS] = "vcpus",
	[VE_IDLE_USAGE] = "usage",
};

static const char *const device_kind_names[VE_DEV__MAX] = {
	[VE_DEV_PKG] = "package",
	[VE_DEV_DRAM] = "dram",
	[VE_DEV_DISK] = "disk",
};

const char *ve_idle_policy_name(enum ve_idle_policy p)
{
	return (unsigned int)p < VE_IDLE__MAX ? policy_names[p] : NULL;
}

int ve_idle_policy_from_name(const char *name, enum ve_idle_policy *ret_p)
{
	if (!name)
		return -EINVAL;
	for (unsigned int i = 0; i < VE_IDLE__MAX; i++) {
		if (strcmp(name, policy_names[i]) == 0) {
			*ret_p = (enum ve_idle_policy)i;
			return 0;
		}
	}
	return -EINVAL;
}

const char *ve_device_kind_name(enum ve_device_kind k)
{
	return (unsigned int)k < VE_DEV__MAX ? device_kind_names[k] : NULL;
}

void ve_result_init(struct ve_result *r)
{
	memset(r, 0, sizeof(*r));
}

void ve_result_clear(struct ve_result *r)
{
	free(r->acct);
	ve_result_init(r);
}

struct ve_attrib {
	struct ve_redist *redist;
	size_t cap;               /* slots the arrays below hold */
	double *cell;             /* cap × VE_COMP__MAX, one device's shares */
	double *svc;              /* cap: service energy to pass on */
	double *to_svc;           /* cap: energy received from services */
	struct ve_result scratch;
};

struct ve_attrib *ve_attrib_new(void)
{
	struct ve_attrib *a = calloc(1, sizeof(*a));

	if (!a)
		return NULL;
	a->redist = ve_redist_new();
	if (!a->redist) {
		free(a);
		return NULL;
	}
	return a;
}

void ve_attrib_free(struct ve_attrib *a)
{
	if (!a)
		return;
	ve_redist_free(a->redist);
	free(a->cell);
	free(a->svc);
	free(a->to_svc);
	ve_result_clear(&a->scratch);
	free(a);
}

static int fail(struct ve_error *err, int code, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));

static int fail(struct ve_error *err, int code, const char *fmt, ...)
{
	va_list ap;

	if (err) {
		err->code = code;
		va_start(ap, fmt);
		vsnprintf(err->msg, sizeof(err->msg), fmt, ap);
		va_end(ap);
	}
	return code;
}

static int reserve(struct ve_attrib *a, size_t n)
{
	double *cell, *svc, *to_svc;
	struct ve_account_energy *acct;

	if (n <= a->cap && n <= a->scratch.cap)
		return 0;
	if (n > SIZE_MAX / (sizeof(double) * VE_COMP__MAX))
		return -ENOMEM;
	cell = realloc(a->cell, n * VE_COMP__MAX * sizeof(*cell));
	if (!cell)
		return -ENOMEM;
	a->cell = cell;
	svc = realloc(a->svc, n * sizeof(*svc));
	if (!svc)
		return -ENOMEM;
	a->svc = svc;
	to_svc = realloc(a->to_svc, n * sizeof(*to_svc));
	if (!to_svc)
		return -ENOMEM;
	a->to_svc = to_svc;
	acct = realloc(a->scratch.acct, n * sizeof(*acct));
	if (!acct)
		return -ENOMEM;
	a->scratch.acct = acct;
	a->scratch.cap = n;
	a->cap = n;
	return 0;
}

static int check_devices(const struct ve_period *p, struct ve_error *err)
{
	for (size_t d = 0; d < p->n_devices; d++) {
		const struct ve_device *dev = &p->devices[d];

		if ((unsigned int)dev->kind >= VE_DEV__MAX)
			return fail(err, -EINVAL, "device %zu: unknown kind %d", d, (int)dev->kind);
		if (dev->measured && dev->measured_uj < 0)
			return fail(err, -EINVAL, "device %zu: negative measured energy %lld uJ", d,
				    (long long)dev->measured_uj);
		if (dev->measured && (uint64_t)dev->measured_uj > VE_MAX_PERIOD_UJ)
			return fail(err, -ERANGE, "device %zu: measured energy %lld uJ is absurd", d,
				    (long long)dev->measured_uj);
		if (dev->kind == VE_DEV_DISK) {
			if (ve_disk_model_check(&dev->disk) < 0)
				return fail(err, -EINVAL,
					    "device %zu: disk model has a negative or non-finite value or active < idle power",
					    d);
		} else if (ve_cpu_model_check(&dev->cpu) < 0) {
			return fail(err, -EINVAL,
				    "device %zu: CPU model has a negative or non-finite weight or too many events",
				    d);
		}
	}
	return 0;
}

static int check_samples(const struct ve_account_table *t, const struct ve_period *p,
			 struct ve_error *err)
{
	for (size_t i = 0; i < p->n_threads; i++) {
		const struct ve_thread_sample *s = &p->threads[i];

		if (!ve_account_is_active(t, s->account))
			return fail(err, -ENOENT, "thread sample %zu: account %u is not active", i,
				    s->account);
		if (s->comp != VE_COMP_VCPU && s->comp != VE_COMP_EMULATOR &&
		    s->comp != VE_COMP_IO && s->comp != VE_COMP_CPU)
			return fail(err, -EINVAL, "thread sample %zu: component %d cannot be sampled",
				    i, (int)s->comp);
	}
	for (size_t i = 0; i < p->n_io; i++) {
		const struct ve_io_sample *s = &p->io[i];

		if (!ve_account_is_active(t, s->account))
			return fail(err, -ENOENT, "I/O sample %zu: account %u is not active", i,
				    s->account);
		if (s->device >= p->n_devices)
			return fail(err, -ENOENT, "I/O sample %zu: no device %u", i, s->device);
		if (p->devices[s->device].kind != VE_DEV_DISK)
			return fail(err, -EINVAL, "I/O sample %zu: device %u is not a disk", i,
				    s->device);
		if (s->comp != VE_COMP_DISK && s->comp != VE_COMP_IO)
			return fail(err, -EINVAL, "I/O sample %zu: component %d cannot be sampled",
				    i, (int)s->comp);
	}
	return 0;
}

/* Modelled dynamic energy into a->cell; returns the sum, or NAN. */
static double model_device(struct ve_attrib *a, const struct ve_period *p, size_t d)
{
	const struct ve_device *dev = &p->devices[d];
	double sum = 0.0;

	if (dev->kind == VE_DEV_DISK) {
		for (size_t i = 0; i < p->n_io; i++) {
			const struct ve_io_sample *s = &p->io[i];
			double e;

			if (s->device != d)
				continue;
			e = ve_disk_model_energy_uj(&dev->disk, s->ops, s->bytes);
			a->cell[(size_t)s->account * VE_COMP__MAX + s->comp] += e;
			sum += e;
		}
	} else {
		for (size_t i = 0; i < p->n_threads; i++) {
			const struct ve_thread_sample *s = &p->threads[i];
			double e;

			if (s->package != dev->package)
				continue;
			e = ve_cpu_model_eval_uj(&dev->cpu, s->delta); /* checked up front */
			a->cell[(size_t)s->account * VE_COMP__MAX + s->comp] += e;
			sum += e;
		}
	}
	return isfinite(sum) ? sum : (double)NAN;
}

/* The device's energy for the period when no sensor measured it. */
static double model_total_uj(const struct ve_device *dev, double static_uj, double dyn_uj,
			     uint64_t period_us)
{
	if (dev->kind == VE_DEV_DISK && dev->busy_us) {
		/* Two-state model: the surplus of active over idle while busy. */
		uint64_t busy = dev->busy_us < period_us ? dev->busy_us : period_us;

		return static_uj +
		       (double)(dev->disk.active_power_uw - dev->disk.idle_power_uw) *
			       (double)busy * 1e-6;
	}
	return static_uj + dyn_uj;
}

static void split_static(struct ve_attrib *a, const struct ve_account_table *t,
			 enum ve_idle_policy policy, double static_uj, double *reason)
{
	double total_w = 0.0;

	if (static_uj <= 0.0)
		return;
	if (policy == VE_IDLE_NONE) {
		reason[VE_REASON_IDLE_POLICY_NONE] += static_uj;
		return;
	}
	/* Two passes over the VMs: the weights' sum, then the shares. */
	for (int pass = 0; pass < 2; pass++) {
		for (size_t s = 0; s < t->n; s++) {
			const struct ve_account *acc = &t->slot[s];
			double w = 0.0;

			if (!acc->active || acc->kind != VE_KIND_VM)
				continue;
			if (policy == VE_IDLE_EQUAL) {
				w = 1.0;
			} else if (policy == VE_IDLE_VCPUS) {
				w = (double)acc->vcpus;
			} else {
				for (int c = 0; c < VE_COMP__MAX; c++)
					w += a->cell[s * VE_COMP__MAX + c];
			}
			if (pass == 0)
				total_w += w;
			else
				a->cell[s * VE_COMP__MAX + VE_COMP_IDLE] += static_uj * w / total_w;
		}
		if (pass == 0 && total_w <= 0.0) {
			reason[VE_REASON_IDLE_NO_TAKER] += static_uj;
			return;
		}
	}
}

/*
 * Round the shares of one device (cells of every slot, then the host's
 * reasons) to integers adding up to energy_uj, and add them to the scratch
 * result.  See the comment at the top of the file.
 */
static void round_into(struct ve_attrib *a, size_t n, const double *reason, uint64_t energy_uj,
		       enum ve_device_kind kind)
{
	struct ve_result *res = &a->scratch;
	size_t n_cells = n * VE_COMP__MAX;
	double total = 0.0, cum = 0.0, scale;
	uint64_t given = 0;

	for (size_t i = 0; i < n_cells; i++)
		total += a->cell[i] > 0.0 ? a->cell[i] : 0.0;
	for (int r = 0; r < VE_REASON__MAX; r++)
		total += reason[r] > 0.0 ? reason[r] : 0.0;
	if (total <= 0.0) {
		/* Nothing modelled and nothing static: whatever was measured is unexplained. */
		res->host_reason_uj[VE_REASON_UNATTRIBUTED] += energy_uj;
		res->acct[VE_ACCOUNT_HOST].dev_uj[kind] += energy_uj;
		res->acct[VE_ACCOUNT_HOST].total_uj += energy_uj;
		return;
	}
	scale = (double)energy_uj / total;

	for (size_t i = 0; i < n_cells + VE_REASON__MAX; i++) {
		double v = i < n_cells ? a->cell[i] : reason[i - n_cells];
		uint64_t upto, share;

		if (v <= 0.0)
			continue;
		cum += v;
		upto = (uint64_t)llround(cum * scale);
		if (upto > energy_uj)
			upto = energy_uj;
		share = upto - given;
		given = upto;
		if (!share)
			continue;
		if (i < n_cells) {
			struct ve_account_energy *e = &res->acct[i / VE_COMP__MAX];

			e->comp_uj[i % VE_COMP__MAX] += share;
			e->dev_uj[kind] += share;
			e->total_uj += share;
		} else {
			res->host_reason_uj[i - n_cells] += share;
			res->acct[VE_ACCOUNT_HOST].dev_uj[kind] += share;
			res->acct[VE_ACCOUNT_HOST].total_uj += share;
		}
	}
	/*
	 * The last prefix sum is total × scale = energy_uj up to a few ulps,
	 * which llround() turns into energy_uj; should the ulps fall the other
	 * way, the host takes the missing µJ rather than letting it vanish.
	 */
	if (given < energy_uj) {
		res->host_reason_uj[VE_REASON_UNATTRIBUTED] += energy_uj - given;
		res->acct[VE_ACCOUNT_HOST].dev_uj[kind] += energy_uj - given;
		res->acct[VE_ACCOUNT_HOST].total_uj += energy_uj - given;
	}
}

static int run_device(struct ve_attrib *a, const struct ve_account_table *t,
		      enum ve_idle_policy policy, const struct ve_period *p, size_t d,
		      struct ve_error *err)
{
	const struct ve_device *dev = &p->devices[d];
	struct ve_result *res = &a->scratch;
	double reason[VE_REASON__MAX] = { 0 };
	double dyn, static_uj, measured, budget;
	uint64_t energy_uj;
	uint64_t idle_uw = dev->kind == VE_DEV_DISK ? dev->disk.idle_power_uw
						    : dev->cpu.idle_power_uw;

	memset(a->cell, 0, t->n * VE_COMP__MAX * sizeof(*a->cell));
	dyn = model_device(a, p, d);
	if (isnan(dyn))
		return fail(err, -ERANGE, "device %zu: modelled energy is not finite", d);
	static_uj = (double)idle_uw * (double)p->period_us * 1e-6;

	if (dev->measured) {
		energy_uj = (uint64_t)dev->measured_uj;
	} else {
		measured = model_total_uj(dev, static_uj, dyn, p->period_us);
		if (!(measured <= (double)VE_MAX_PERIOD_UJ))
			return fail(err, -ERANGE,
				    "device %zu: modelled energy %g uJ in one period is absurd", d,
				    measured);
		energy_uj = (uint64_t)llround(measured);
		res->estimated = true;
	}

	/* Normalise: static first, the dynamic shares get what is left. */
	if (static_uj > (double)energy_uj) {
		static_uj = (double)energy_uj;
		res->static_clamped = true;
	}
	budget = (double)energy_uj - static_uj;
	if (dyn > 0.0) {
		double scale = budget / dyn;

		for (size_t i = 0; i < t->n * VE_COMP__MAX; i++)
			a->cell[i] *= scale;
	} else {
		reason[VE_REASON_UNATTRIBUTED] += budget;
	}

	/* Recursive part: services pass their energy on. */
	for (size_t s = 0; s < t->n; s++) {
		a->svc[s] = 0.0;
		a->to_svc[s] = 0.0;
		if (t->slot[s].active && t->slot[s].kind == VE_KIND_SERVICE) {
			for (int c = 0; c < VE_COMP__MAX; c++) {
				a->svc[s] += a->cell[s * VE_COMP__MAX + c];
				a->cell[s * VE_COMP__MAX + c] = 0.0;
			}
			res->acct[s].passed_on_uj += (uint64_t)llround(a->svc[s]);
		}
	}
	(void)ve_redist_apply(a->redist, a->svc, a->to_svc, reason);
	for (size_t s = 0; s < t->n; s++)
		a->cell[s * VE_COMP__MAX + VE_COMP_SERVICE] += a->to_svc[s];

	split_static(a, t, policy, static_uj, reason);
	round_into(a, t->n, reason, energy_uj, dev->kind);
	res->dev_total_uj[dev->kind] += energy_uj;
	res->energy_uj += energy_uj;
	return 0;
}

int ve_attrib_run(struct ve_attrib *a, const struct ve_account_table *t,
		  enum ve_idle_policy policy, const struct ve_period *p, struct ve_result *ret,
		  struct ve_error *err)
{
	struct ve_result *res = &a->scratch;
	struct ve_result tmp;
	int r;

	if (!p->period_us)
		return fail(err, -EINVAL, "period of 0 us");
	if ((unsigned int)policy >= VE_IDLE__MAX)
		return fail(err, -EINVAL, "unknown idle policy %d", (int)policy);
	r = check_devices(p, err);
	if (r < 0)
		return r;
	r = check_samples(t, p, err);
	if (r < 0)
		return r;
	r = reserve(a, t->n);
	if (r < 0)
		return fail(err, r, "out of memory for %zu accounts", t->n);
	r = ve_redist_plan(a->redist, t, p->uses, p->n_uses);
	if (r == -ENOENT)
		return fail(err, r, "a service use names an inactive or unknown account");
	if (r == -EINVAL)
		return fail(err, r, "a service use names a non-service as the server, or work overflows");
	if (r < 0)
		return fail(err, r, "service flows cannot be solved");

	res->n_accounts = t->n;
	memset(res->acct, 0, t->n * sizeof(*res->acct));
	memset(res->host_reason_uj, 0, sizeof(res->host_reason_uj));
	memset(res->dev_total_uj, 0, sizeof(res->dev_total_uj));
	res->energy_uj = 0;
	res->estimated = false;
	res->static_clamped = false;
	res->period_us = p->period_us;

	for (size_t d = 0; d < p->n_devices; d++) {
		r = run_device(a, t, policy, p, d, err);
		if (r < 0)
			return r;
	}

	/* Success: hand the scratch result over and keep the old buffer as scratch. */
	tmp = *ret;
	*ret = *res;
	*res = tmp;
	return 0;
}
