// SPDX-License-Identifier: GPL-2.0-or-later
/*
 * libFuzzer target: the quantity parser (units.h), as metadata, the
 * configuration and virtenergyctl use it.  Whatever it accepts must be a
 * decimal number with a known unit, in range: checked here by formatting
 * the result back and parsing that again to the same value.
 */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>

#include "energylimits.h"
#include "units.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	g_autofree char *text = g_strndup((const char *)data, size);
	g_autoptr(GError) err = NULL;
	uint64_t uw = 0, uj = 0;

	if (ve_parse_power_uw(text, &uw, &err)) {
		char again[64];
		uint64_t back = 0;

		snprintf(again, sizeof(again), "%" G_GUINT64_FORMAT " uW", uw);
		if (!ve_parse_power_uw(again, &back, NULL) || back != uw)
			abort();
	} else if (!err || !err->message[0]) {
		abort();   /* a refusal says why */
	}
	g_clear_error(&err);
	(void)ve_parse_energy_uj(text, &uj, &err);
	return 0;
}
