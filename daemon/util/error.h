/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * error.h: the daemon's error domain.
 *
 * Every GError the daemon makes is in VE_ERROR (the state file's own
 * VE_STATE_ERROR aside, statefile.h), with a code that says what kind of
 * failure it is, so that callers decide by the code (D-Bus maps
 * VE_ERROR_NOT_FOUND to NoSuchVM; the period logs each kind once) and the
 * message says what exactly, for a person.
 */
#pragma once

#include <glib.h>

typedef enum {
	VE_ERROR_FAILED,           /* none of the below */
	VE_ERROR_INVALID,          /* bad input: an argument, a value, a file's content */
	VE_ERROR_NOT_FOUND,        /* no such file, VM, cgroup, device or zone */
	VE_ERROR_EXISTS,           /* already there, or held by someone else */
	VE_ERROR_IO,               /* a read or write of a file or socket failed */
	VE_ERROR_DENIED,           /* not allowed */
	VE_ERROR_UNSUPPORTED,      /* this host or setup cannot do it (no cpufreq, no controller) */
	VE_ERROR_NOT_CONNECTED,    /* libvirt is not there (yet) */
	VE_ERROR_NO_MEMORY,
} VeErrorCode;

#define VE_ERROR (ve_error_quark())
GQuark ve_error_quark(void);

/* The code for a positive errno value. */
VeErrorCode ve_error_from_errno(int errnum);
