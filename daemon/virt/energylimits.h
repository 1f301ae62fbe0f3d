/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * energylimits.h: a VM's energy limits as stated in its libvirt metadata.
 *
 * Namespace http://virtenergy.org/xmlns/energy/1, prefix "energy", set with
 *
 *   virsh metadata DOMAIN http://virtenergy.org/xmlns/energy/1 --key energy \
 *     --set '<energy><power-limit>40 W</power-limit></energy>' --live --config
 *
 * Elements (each at most once, all optional, units required):
 *
 *   <power-limit>40 W</power-limit>        W, mW or kW; 1 mW .. 100 kW
 *   <guarantee>10 W</guarantee>            share of a host cap it always gets
 *   <weight>200</weight>                   1 .. 10000 (default 100): host-cap share
 *   <disk-power-limit>3 W</disk-power-limit>
 *   <budget window="day">1.5 kWh</budget>  J, kJ, Wh or kWh over hour, day or
 *                                          week: a power limit for the rest of
 *                                          the window
 *
 * libvirt returns the element without its namespace (it was looked up by
 * it); elements with no namespace or this one are accepted, any other is
 * not ours.  Parsed with libxml2 without network access or entity expansion.  Bad
 * input (malformed XML, another namespace or root, unknown or repeated
 * elements or attributes, missing or unknown units, zero, negative or
 * absurd values, a guarantee above the limit) is refused with a GError
 * naming the element and the value, and *ret is left as it was.
 */
#pragma once

#include <glib.h>
#include <stdint.h>

#define VE_ENERGY_NS "http://virtenergy.org/xmlns/energy/1"

struct ve_limits {
	uint64_t power_limit_uw;       /* 0: none */
	uint64_t guarantee_uw;         /* 0: none */
	uint32_t weight;               /* 100 unless set */
	uint64_t disk_power_limit_uw;  /* 0: none */
	uint64_t budget_uj;            /* 0: none */
	uint64_t budget_window_s;      /* 3600, 86400 or 604800 with a budget */
};

void ve_limits_init(struct ve_limits *l);

gboolean ve_limits_parse(const char *xml, struct ve_limits *ret, GError **error);

/*
 * The element for @l, as virDomainSetMetadata() takes it (no namespace on
 * the element: libvirt adds it), such that ve_limits_parse() returns @l.
 * NULL when @l sets nothing (the metadata should then be removed).
 */
char *ve_limits_format(const struct ve_limits *l);

/* Strict energy parsing: "1.5 kWh", "200 J" -> µJ. */
gboolean ve_parse_energy_uj(const char *text, uint64_t *ret_uj, GError **error);

/* The budget as a power limit: ve_budget_effective_uw() (core/budget.h). */
