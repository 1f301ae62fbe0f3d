/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * guestexport.h: a VM's energy and limit as files its guest can read.
 *
 * Per VM a directory EXPORT/<uuid>/ shaped like the powercap sysfs tree of
 * a one-package RAPL machine (Documentation/power/powercap/powercap.rst),
 * plus the raw registers:
 *
 *   intel-rapl:0/name                          "package-0"
 *   intel-rapl:0/energy_uj                     the VM's energy, wrapping at
 *   intel-rapl:0/max_energy_range_uj           the range of a 32-bit counter
 *   intel-rapl:0/enabled                       1 when a limit is set
 *   intel-rapl:0/constraint_0_name             "long_term"
 *   intel-rapl:0/constraint_0_power_limit_uw   the VM's limit (0: none)
 *   intel-rapl:0/constraint_0_time_window_us   its window
 *   intel-rapl:0/intel-rapl:0:0/...            "core": the vCPUs' energy
 *   intel-rapl:0/intel-rapl:0:1/...            "dram", where the host has it
 *   msr                                        an 8-byte pread at offset
 *                                              8 × MSR index returns that
 *                                              register (native endian)
 *
 * A file whose content is what was last written there is not written
 * again (the names, ranges and limit seldom change; the energies every
 * period): an export made anew is written whole, and one found in place
 * (the daemon restarted) is adopted: a file that already says the same is
 * left as it is.
 *
 * The values come from the register file (vrapl.h), so energy_uj is the
 * energy-status counter times its unit, exactly what the guest's own RAPL
 * driver would report from the same registers.  Every file is made whole
 * by an atomic replace (write to a temporary name, rename).  The files that
 * change every period, the energy_uj files and msr, are then held open and
 * rewritten in place, each with one pwrite(2) (msr: over the registers that
 * changed; an energy_uj shorter than before, after a wrap, is truncated
 * after it), which costs no inode and no path walk (issue 15).  Linux does
 * not lock a page against readers while a write copies into it, so a read
 * racing that write could see part of the old and part of the new digits
 * of one value; the window is the copy of at most 328 bytes once a period.
 * A reader that must never see that reads twice, or asks the vmsr helper
 * socket (vmsr.h).  The other files are still replaced atomically when they
 * change.  The directory is meant to be shared read-only into the guest
 * (virtiofs or 9p; see conf/guest-export.md).
 *
 * The msr file cannot use the MSR index itself as the offset, as
 * /dev/cpu/N/msr does: that device calls rdmsr for each read, while in a
 * file the 8 bytes of MSR 0x610 would overlap those of 0x611.  Hence 8 × index.
 *
 * Not thread-safe (one static buffer, and the record of what was written,
 * with 3 or 4 held fds per VM exported).  Errors: GError naming the file;
 * on error the previous files stay, and the next write makes every file
 * whole again.
 */
#pragma once

#include <glib.h>
#include <stdint.h>

#include "vrapl.h"

/* Create or update EXPORT/<uuid>/ under the directory @export_fd. */
gboolean ve_guest_export_write(int export_fd, const char *uuid, const struct ve_vrapl *v,
			       GError **error);

/* Files replaced, and files left as they were because unchanged, since the start. */
void ve_guest_export_counts(uint64_t *ret_written, uint64_t *ret_kept);

/*
 * Forget what was written to @uuid's export and close its held files,
 * leaving the files: the next write adopts them as a restarted daemon
 * would (files that say the same are kept, energies and msr rewritten in
 * place).  For a VM that stopped, and for tests.
 */
void ve_guest_export_forget(const char *uuid);

/* Remove EXPORT/<uuid>/ (the VM is gone).  Missing is fine. */
gboolean ve_guest_export_remove(int export_fd, const char *uuid, GError **error);
