// SPDX-License-Identifier: GPL-2.0-or-later
/*
 * units.c: strict "number unit" parsing (see units.h).  g_ascii_strtod so
 * that a locale with decimal commas does not change what "1.5" means.
 */
#include <errno.h>
#include <math.h>
#include <string.h>

#include "units.h"

gboolean ve_parse_quantity(const char *text, const struct ve_unit *units, size_t n_units,
			   const char *what, double max, uint64_t *ret, GError **error)
{
	g_autofree char *s = g_strstrip(g_strdup(text ? text : ""));
	g_autoptr(GString) names = g_string_new(NULL);
	char *end;
	double v;

	for (size_t i = 0; i < n_units; i++)
		g_string_append_printf(names, "%s%s", i ? ", " : "", units[i].name);
	errno = 0;
	v = g_ascii_strtod(s, &end);
	if (end == s || errno || !isfinite(v)) {
		g_set_error(error, G_KEY_FILE_ERROR, G_KEY_FILE_ERROR_INVALID_VALUE,
			    "'%s' is not a %s: expected a number and a unit (%s)", text, what, names->str);
		return FALSE;
	}
	while (*end == ' ')
		end++;
	for (size_t i = 0; i < n_units; i++) {
		if (strcmp(end, units[i].name) == 0) {
			double scaled = v * units[i].scale;

			if (v < 0.0 || scaled > max) {
				g_set_error(error, G_KEY_FILE_ERROR, G_KEY_FILE_ERROR_INVALID_VALUE,
					    "%s '%s' is out of range", what, text);
				return FALSE;
			}
			*ret = (uint64_t)llround(scaled);
			return TRUE;
		}
	}
	g_set_error(error, G_KEY_FILE_ERROR, G_KEY_FILE_ERROR_INVALID_VALUE,
		    "%s '%s' has %s unit '%s': use %s", what, text, *end ? "an unknown" : "no", end,
		    names->str);
	return FALSE;
}

gboolean ve_parse_power_uw(const char *text, uint64_t *ret_uw, GError **error)
{
	static const struct ve_unit units[] = { { "W", 1e6 }, { "mW", 1e3 }, { "kW", 1e9 }, { "uW", 1.0 } };

	/* up to 1 GW: a data centre, not a typo */
	return ve_parse_quantity(text, units, G_N_ELEMENTS(units), "power", 1e15, ret_uw, error);
}

