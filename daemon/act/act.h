/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * act.h: what the actuators share, and the one interface they sit behind.
 *
 * Each actuator records the values it is about to change in a small file
 * in STATE_DIR before it changes them (held.h, so the next start can put
 * them back after a crash), reports what it does through a log callback,
 * and names libvirt's last error when libvirt refuses.
 *
 * struct ve_actuator is the interface: set, current, restore, restore
 * all, reconcile, dry run, free, over a struct ve_act_target that names
 * what is acted on.  The four actuators fill it (ve_cpubw_actuator(),
 * ve_cpufreq_actuator(), ve_blkio_actuator(), ve_cgquota_actuator()); the
 * limiter and guest mode's controller use them through it.  Their own
 * typed calls stay for what is particular to each (the tests use them).
 */
#pragma once

#include <glib.h>
#include <libvirt/libvirt.h>
#include <stdbool.h>
#include <stddef.h>

#include "model.h"

struct ve_held;

typedef void (*ve_act_log_fn)(void *ud, const char *uuid, const char *name, const char *msg);

/*
 * What every actuator holds, as the first member of its struct, so that
 * the interface (act.c) reaches its record and its mode: whether it only
 * reports (dry run), who hears what it does, and its durable record
 * (held.h) keyed by what it acts on.
 */
struct ve_act_base {
	bool dry_run;
	ve_act_log_fn log;          /* (ud, key, name, message); may be NULL */
	void *ud;
	struct ve_held *held;
};

struct ve_held_ops;

/* Fill @b; its record is STATE_DIR/@file with @ops (ve_held_new). */
void ve_act_base_init(struct ve_act_base *b, const char *state_dir, const char *file,
		      const struct ve_held_ops *ops, void *held_ud, bool dry_run, ve_act_log_fn log,
		      void *ud);
void ve_act_base_clear(struct ve_act_base *b);

/*
 * The model of the host disk behind @source (a VM disk's file or block
 * device, NULL for a network disk): fill *@ret and return true.
 */
typedef bool (*ve_act_disk_model_fn)(void *ud, const char *source, struct ve_disk_model *ret);

/* What an actuator acts on.  Each actuator reads the fields it needs. */
struct ve_act_target {
	const char *key;                /* the VM's UUID; guest mode: the cgroup's directory */
	const char *name;               /* for messages (may be NULL) */
	virConnectPtr conn;             /* VM actuators: libvirt, for restore */
	virDomainPtr dom;               /* VM actuators: the running domain, for set */
	const unsigned int *cpus;       /* CPU frequency: the VM's own CPUs */
	size_t n_cpus;
	unsigned int ncpus;             /* cgroup quota: the CPUs the fraction is of */
	ve_act_disk_model_fn model;     /* disk: the model of each disk's host device */
	void *model_ud;
};

struct ve_actuator_ops {
	const char *what;               /* "CPU bandwidth", for messages */
	const char *left;               /* what a failed restore leaves: "the VM stays throttled" */
	/*
	 * Hold @t at @value: a fraction u of full speed (0 < u <= 1) for the
	 * CPU actuators, a power in µW for the disk.  *@ret_applied (may be
	 * NULL) gets what is in force (the CPU frequency: the ratio applied).
	 * FALSE with @error and nothing changed when it cannot.
	 */
	gboolean (*set)(void *impl, const struct ve_act_target *t, double value, double *ret_applied,
			GError **error);
	/* What is applied to @key (the unit of set), 0 when nothing is held. */
	double (*current)(void *impl, const char *key);
	/* Put @t back as it was and forget it; FALSE with @error (kept on record for a later try). */
	gboolean (*restore)(void *impl, const struct ve_act_target *t, GError **error);
	/* its record's name in messages: "bad throttle record for ..." (restore all and reconcile walk the record) */
	const char *record;
	void (*free)(void *impl);
};

/*
 * An actuator: its operations and itself (whose struct begins with a
 * struct ve_act_base).  A NULL @impl holds nothing and does nothing.
 * Where an actuator's own call already has the operation's shape but for
 * the type of @impl, its ops table points at it through a cast, as GLib
 * does with GDestroyNotify; the others get a one-line adapter.
 */
struct ve_actuator {
	const struct ve_actuator_ops *ops;
	void *impl;
};

gboolean ve_act_set(const struct ve_actuator *a, const struct ve_act_target *t, double value,
		    double *ret_applied, GError **error);
double ve_act_current(const struct ve_actuator *a, const char *key);
gboolean ve_act_restore(const struct ve_actuator *a, const struct ve_act_target *t, GError **error);
/*
 * Daemon exit: restore everything the actuator holds.  Returns how many
 * failed; their messages go to @report (may be NULL).
 */
unsigned int ve_act_restore_all(const struct ve_actuator *a, virConnectPtr conn, GString *report);
/*
 * At start: load the record a previous run left and restore everything in
 * it; a record left with nothing usable is removed.  Returns how many were
 * restored; problems are appended to @report (may be NULL).
 */
unsigned int ve_act_reconcile(const struct ve_actuator *a, virConnectPtr conn, GString *report);
bool ve_act_dry_run(const struct ve_actuator *a);
/* Free the actuator itself; *@a then holds nothing. */
void ve_act_free(struct ve_actuator *a);

/* @log(@ud, @uuid, @name, formatted message), when @log is set. */
void ve_act_say(ve_act_log_fn log, void *ud, const char *uuid, const char *name, const char *fmt,
		...) G_GNUC_PRINTF(5, 6);

/* libvirt's last error message, or words saying there is none. */
const char *ve_act_virt_error(void);
