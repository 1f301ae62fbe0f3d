/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * attrib.h: one accounting period, from samples and sensors to µJ per
 * account and component.
 *
 * For every device (a RAPL package or DRAM domain, or a disk):
 *
 *  1. model:      each sample's dynamic energy from the device's model
 *                 (model.h);
 *  2. normalise:  static = idle power × period, clamped to the measurement;
 *                 the modelled dynamic energies are scaled so that
 *                 static + dynamic = measured.  A device without a sensor
 *                 uses the model's own total and marks the result estimated.
 *                 Measured dynamic energy that no sample explains goes to
 *                 the host (VE_REASON_UNATTRIBUTED);
 *  3. redistribute: services' energy to their clients (redist.h);
 *  4. static:     split by the idle policy;
 *  5. round:      the real-valued shares are rounded to integer µJ so that
 *                 their sum is exactly the device's energy (each share is
 *                 within 1 µJ of its real value).
 *
 * Nothing is created or lost: Σ over every account's total and the host's
 * reasons = Σ over devices of their energy, exactly, every period.
 *
 * Errors are negative errno; on error *ret is left as it was, so a caller
 * that only applies a result to its ledger on success never counts a bad
 * period.  An optional struct ve_error says what was wrong in words.
 *
 * Pure: time comes in as period_us; no I/O.  Not thread-safe per context.
 */
#pragma once

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "account.h"
#include "model.h"
#include "redist.h"

/*
 * How static (idle) power is split.  The default is VCPUS: the machine is
 * kept powered to hold the capacity that VMs reserve, so a VM pays for idle
 * power in proportion to the vCPUs it reserves, whether it uses them or not.
 * Unlike USAGE it does not make a busy VM's bill depend on how idle its
 * neighbours are, and unlike EQUAL a 1-vCPU VM does not pay as much as a
 * 32-vCPU one.
 */
enum ve_idle_policy {
	VE_IDLE_NONE,   /* static power stays on the host */
	VE_IDLE_EQUAL,  /* equally among running VMs */
	VE_IDLE_VCPUS,  /* by reserved vCPUs of running VMs (default) */
	VE_IDLE_USAGE,  /* by each VM's dynamic energy on the same device */
	VE_IDLE__MAX,
};

#define VE_IDLE_DEFAULT VE_IDLE_VCPUS

const char *ve_idle_policy_name(enum ve_idle_policy p);
/* 0, or -EINVAL for an unknown name. */
int ve_idle_policy_from_name(const char *name, enum ve_idle_policy *ret_p);

/* Largest energy one device may report for one period: 10^15 µJ (1 GJ). */
#define VE_MAX_PERIOD_UJ 1000000000000000ull

enum ve_device_kind {
	VE_DEV_PKG,  /* RAPL package domain; thread samples of its package */
	VE_DEV_DRAM, /* RAPL DRAM domain; thread samples of its package */
	VE_DEV_DISK, /* a block device; I/O samples naming it */
	VE_DEV__MAX,
};

const char *ve_device_kind_name(enum ve_device_kind k);

struct ve_device {
	enum ve_device_kind kind;
	uint32_t package;        /* PKG and DRAM: the socket whose threads it sees */
	bool measured;           /* a sensor reading is in measured_uj */
	int64_t measured_uj;     /* signed so that a bad reading can be refused */
	/* PKG and DRAM */
	struct ve_cpu_model cpu;
	/* DISK */
	struct ve_disk_model disk;
	uint64_t busy_us;        /* time with requests in flight (diskstats io_ticks) */
};

/* Event deltas of one thread in the period. */
struct ve_thread_sample {
	uint32_t account;               /* slot */
	enum ve_component comp;         /* VCPU, EMULATOR, IO or CPU */
	uint32_t package;               /* socket the thread ran on */
	uint64_t delta[VE_MAX_EVENTS];  /* in the order of the devices' models */
};

/* Block I/O completed for one account on one disk in the period. */
struct ve_io_sample {
	uint32_t account;
	uint32_t device;                /* index into ve_period.devices, a DISK */
	enum ve_component comp;         /* DISK normally; IO for an iothread's own */
	uint64_t ops;
	uint64_t bytes;
};

struct ve_period {
	uint64_t period_us;
	const struct ve_device *devices;
	size_t n_devices;
	const struct ve_thread_sample *threads;
	size_t n_threads;
	const struct ve_io_sample *io;
	size_t n_io;
	const struct ve_service_use *uses;
	size_t n_uses;
};

/* Energy of one account in one period. */
struct ve_account_energy {
	uint64_t comp_uj[VE_COMP__MAX];
	uint64_t dev_uj[VE_DEV__MAX];   /* the same energy, by kind of device */
	uint64_t total_uj;
	/* services only: their own energy before it was passed on (not in totals) */
	uint64_t passed_on_uj;
};

struct ve_result {
	size_t n_accounts;              /* slots of the table it was computed for */
	size_t cap;
	struct ve_account_energy *acct;
	uint64_t host_reason_uj[VE_REASON__MAX]; /* also inside acct[0] totals */
	uint64_t energy_uj;             /* Σ of every device's energy */
	uint64_t dev_total_uj[VE_DEV__MAX];
	bool estimated;                 /* some device had no sensor */
	bool static_clamped;            /* some device measured less than its idle power */
	uint64_t period_us;
};

void ve_result_init(struct ve_result *r);
void ve_result_clear(struct ve_result *r);   /* frees; the struct can be reused */

struct ve_error {
	int code;
	char msg[160];
};

struct ve_attrib;

/* A context holding scratch space reused across periods; NULL when out of memory. */
struct ve_attrib *ve_attrib_new(void);
void ve_attrib_free(struct ve_attrib *a);

/*
 * Attribute one period.  @ret is resized to t->n slots and overwritten only
 * on success.
 *
 * Errors (@err, when not NULL, gets the code and a sentence):
 *   -EINVAL  period_us == 0; a negative measurement; a NaN, infinite or
 *            negative weight; an invalid model; a sampled component that is
 *            derived (IDLE, SERVICE) or unknown; an I/O sample naming a
 *            non-disk device; an unknown device kind or idle policy;
 *   -ENOENT  a sample or use naming an inactive or unknown slot, or a device
 *            index out of range;
 *   -ERANGE  a measurement above VE_MAX_PERIOD_UJ or a modelled energy that
 *            is not finite;
 *   -ENOMEM.
 */
int ve_attrib_run(struct ve_attrib *a, const struct ve_account_table *t,
		  enum ve_idle_policy policy, const struct ve_period *p, struct ve_result *ret,
		  struct ve_error *err);
