/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * metadata.h: writing a VM's energy metadata (energylimits.h is its schema).
 */
#pragma once

#include <glib.h>
#include <stdint.h>

#include <libvirt/libvirt.h>

#include "conn.h"

/*
 * Set the power limit of VM @vm (a UUID or a libvirt name) to @uw, 0 to
 * clear it, keeping its other elements: live and, for a persistent domain,
 * persistently (only persistently while it is off).  libvirt's metadata
 * event then brings it to the limiter like a change made with virsh.
 *
 * What is written is first read back by ve_limits_parse(), so nothing is
 * stored that the reader would refuse at the next read or start; a
 * document in a foreign namespace under our key is refused, not written
 * beside.  On success the domain's UUID goes to @ret_uuid.  On failure a
 * GError (error.h) says why and the metadata is unchanged: VE_ERROR_NOT_CONNECTED,
 * _NOT_FOUND (no such VM), _INVALID (the reader's rules),
 * _FAILED (a foreign document; libvirt refused).
 */
gboolean ve_virt_set_power_limit(struct ve_virt *v, const char *vm, uint64_t uw,
				 char ret_uuid[VIR_UUID_STRING_BUFLEN], GError **error);
