/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * units.h: quantities as people write them ("40 W", "1.5 kWh") into the
 * integer micro-units used inside (µW, µJ).  Shared by the configuration,
 * the metadata element and virtenergyctl.
 */
#pragma once

#include <glib.h>
#include <stddef.h>
#include <stdint.h>

/* A unit and how many base units (µW, µJ) it is. */
struct ve_unit {
	const char *name;
	double scale;
};

/*
 * Strict "number unit" parsing: a finite, non-negative decimal, optional
 * blanks, exactly one of @units; the scaled value, rounded, at most @max.
 * FALSE with @error naming @what, the text and the units allowed.
 */
gboolean ve_parse_quantity(const char *text, const struct ve_unit *units, size_t n_units,
			   const char *what, double max, uint64_t *ret, GError **error);

/* "40W", "1.5 kW", "250mW" -> µW (0 .. 1 GW). */
gboolean ve_parse_power_uw(const char *text, uint64_t *ret_uw, GError **error);
