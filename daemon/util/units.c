// SPDX-License-Identifier: GPL-2.0-or-later
/*
 * units.c: strict "number unit" parsing (see units.h).  g_ascii_strtod so
 * that a locale with decimal commas does not change what "1.5" means; but
 * only after the text was seen to be a decimal number, because strtod also
 * takes hexadecimal ("0x28" is 40), hex floats ("0x1p5"), "inf" and "nan".
 */
#include <errno.h>
#include <math.h>
#include <string.h>

#include "units.h"

/*
 * Length of the decimal number at the start of @s: [+-] digits [. digits]
 * [e [+-] digits], with at least one digit before the exponent; 0 if
 * there is none.
 */
static size_t decimal_len(const char *s)
{
	size_t i = 0, digits = 0;

	if (s[i] == '+' || s[i] == '-')
		i++;
	while (g_ascii_isdigit(s[i]))
		i++, digits++;
	if (s[i] == '.') {
		i++;
		while (g_ascii_isdigit(s[i]))
			i++, digits++;
	}
	if (!digits)
		return 0;
	if (s[i] == 'e' || s[i] == 'E') {
		size_t j = i + 1;

		if (s[j] == '+' || s[j] == '-')
			j++;
		if (g_ascii_isdigit(s[j])) {
			while (g_ascii_isdigit(s[j]))
				j++;
			i = j;
		}
	}
	return i;
}

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
	if (end == s || (size_t)(end - s) != decimal_len(s) || errno || !isfinite(v)) {
		g_set_error(error, G_KEY_FILE_ERROR, G_KEY_FILE_ERROR_INVALID_VALUE,
			    "'%s' is not a %s: expected a decimal number and a unit (%s)", text, what,
			    names->str);
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
			/*
			 * A positive value must stay positive: "1e-300 W" is not
			 * "0 W", which often means "none".
			 */
			if (v > 0.0 && llround(scaled) == 0) {
				g_set_error(error, G_KEY_FILE_ERROR, G_KEY_FILE_ERROR_INVALID_VALUE,
					    "%s '%s' is out of range: above 0 but rounds to 0", what, text);
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

