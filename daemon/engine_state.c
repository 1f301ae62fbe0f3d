// SPDX-License-Identifier: GPL-2.0-or-later
/*
 * engine_state.c: the engine's accounts across restarts (see engine_int.h).
 */
#include <errno.h>
#include <gio/gio.h>
#include <stdio.h>
#include <string.h>
#include <fcntl.h>
#include <unistd.h>

#include "blockdev.h"
#include "calib.h"
#include "cgroup.h"
#include "cpustat.h"
#include "diskstats.h"
#include "fileio.h"
#include "budget.h"
#include "engine.h"
#include "powercap.h"
#include "procfs.h"
#include "sampler.h"
#include "statefile.h"
#include "threadmap.h"
#include "engine_int.h"

/* ---- restart safety ---------------------------------------------------- */

gboolean engine_restore(struct ve_engine *e, char **warning, GError **error)
{
	g_autoptr(GError) err = NULL;
	struct ve_state *st = NULL;
	const char *prefix;

	if (!ve_state_load(e->state_dir_fd, STATE_FILE, &st, &err)) {
		if (g_error_matches(err, VE_STATE_ERROR, VE_STATE_ERROR_IO)) {
			g_propagate_error(error, g_steal_pointer(&err));
			return FALSE;
		}
		/* corrupt or from another version: set aside by the loader, start afresh */
		*warning = g_strdup_printf("%s; starting with empty counters", err->message);
		return TRUE;
	}
	e->state_seq = st->seq;
	prefix = e->guest ? "cgroup:" : "vm:";
	for (guint i = 0; i < st->accounts->len; i++) {
		const struct ve_state_account *a = g_ptr_array_index(st->accounts, i);
		uint32_t slot;

		if (strcmp(a->key, "host") == 0) {
			slot = VE_ACCOUNT_HOST;
		} else if (g_str_has_prefix(a->key, prefix)) {
			struct vm *vm = engine_vm_get(e, a->key + strlen(prefix), a->name, e->guest);

			if (!vm)
				continue;
			slot = vm->slot;
		} else {
			if (!e->guest && g_str_has_prefix(a->key, "service:"))
				engine_services_restore(e, a->key + strlen("service:"), &a->e);
			continue;
		}
		ve_ledger_restore(&e->ledger, slot, &a->e);
	}
	memcpy(e->ledger.host_reason_uj, st->host_reason_uj, sizeof(e->ledger.host_reason_uj));
	e->ledger.energy_uj = st->energy_uj;
	e->ledger.periods = st->periods;
	e->retired_uj = st->retired_uj;
	ve_state_free(st);
	return TRUE;
}

/* The counters as a state to save, seq as ve_state_save() takes it; NULL with @error. */
static struct ve_state *engine_state(struct ve_engine *e, GError **error)
{
	g_autoptr(ve_state) st = ve_state_new();

	st->seq = e->state_seq;   /* the save writes seq + 1 */
	st->periods = e->ledger.periods;
	st->energy_uj = e->ledger.energy_uj;
	st->retired_uj = e->retired_uj;
	memcpy(st->host_reason_uj, e->ledger.host_reason_uj, sizeof(st->host_reason_uj));
	if (e->ledger.n && !ve_state_add(st, "host", NULL, &e->ledger.e[VE_ACCOUNT_HOST], error))
		return NULL;
	for (guint i = 0; i < e->vms->len; i++) {
		struct vm *vm = g_ptr_array_index(e->vms, i);
		const char *key = vm->state_key;
		static const struct ve_ledger_entry zero;
		const struct ve_ledger_entry *le = vm->slot < e->ledger.n ? &e->ledger.e[vm->slot] : &zero;


		/*
		 * A cgroup may be named what no key can hold ('[', blanks, beyond
		 * ASCII): its counters are kept as retired, so the sums still hold,
		 * and it starts again from 0 after a restart.
		 */
		if (e->guest && !ve_state_key_valid(key)) {
			st->retired_uj += le->total_uj;
			continue;
		}
		if (!ve_state_add(st, key, vm->name, le, error))
			return NULL;
	}
	if (!engine_services_save(e, st, error))
		return NULL;
	return g_steal_pointer(&st);
}

gboolean ve_engine_save(struct ve_engine *e, GError **error)
{
	g_autoptr(ve_state) st = NULL;

	if (e->state_dir_fd < 0)
		return TRUE;
	st = engine_state(e, error);
	if (!st || !ve_state_save(e->state_dir_fd, STATE_FILE, st, error))
		return FALSE;
	e->state_seq = st->seq;
	return TRUE;
}

struct ve_state *ve_engine_state_next(struct ve_engine *e, GError **error)
{
	struct ve_state *st;

	if (e->state_dir_fd < 0)
		return NULL;
	st = engine_state(e, error);
	if (st)
		e->state_seq++;   /* handed out: the next one is newer, saved or not */
	return st;
}
