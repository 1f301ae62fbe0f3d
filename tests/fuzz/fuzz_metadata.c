// SPDX-License-Identifier: GPL-2.0-or-later
/*
 * libFuzzer target: the energy metadata reader (energylimits.h).  What it
 * accepts must format back to XML that it accepts again with the same
 * limits; what it refuses leaves the output untouched.
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "energylimits.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	g_autofree char *xml = g_strndup((const char *)data, size);
	struct ve_limits l, marker, back;
	g_autoptr(GError) err = NULL;

	memset(&marker, 0x5a, sizeof(marker));
	l = marker;
	if (!ve_limits_parse(xml, &l, &err)) {
		if (memcmp(&l, &marker, sizeof(l)) != 0)
			abort();   /* a refusal changes nothing */
		return 0;
	}
	{
		g_autofree char *again = ve_limits_format(&l);

		if (again) {
			if (!ve_limits_parse(again, &back, NULL) ||
			    back.power_limit_uw != l.power_limit_uw || back.guarantee_uw != l.guarantee_uw ||
			    back.weight != l.weight || back.disk_power_limit_uw != l.disk_power_limit_uw)
				abort();
		}
	}
	return 0;
}
