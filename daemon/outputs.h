/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * outputs.h: what the host daemon shows of its accounts: the table that
 * --once and the foreground print, each VM's virtual RAPL register file
 * (ledger and the limit in force) for the guest exports and the vmsr
 * helper, and the helper's access policy.
 */
#pragma once

#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <sys/types.h>

#include "engine.h"
#include "limiter.h"
#include "vrapl.h"

/* The host line, one line per VM (energy by component) and the host's own, to @out. */
void ve_outputs_table(struct ve_engine *engine, FILE *out);

/* VM @v's register file: its ledger, with its limit and allocation when @limiter holds it. */
void ve_outputs_vrapl(struct ve_limiter *limiter, const struct ve_vm_view *v, bool has_dram,
		      struct ve_vrapl *r);

/*
 * The vmsr helper's policy.  A connection is admitted only from the QEMU
 * process of a VM the engine accounts (-EPERM, *@why says so); a request
 * also needs @tid to be one of that process's threads (-ESRCH) and a
 * register the file has (-ENOENT).
 */
int ve_outputs_vmsr_admit(struct ve_engine *engine, pid_t peer, const char **why);
int ve_outputs_vmsr_lookup(struct ve_engine *engine, struct ve_limiter *limiter, pid_t peer,
			   uint32_t msr, pid_t tid, uint64_t *ret, const char **why);
