// SPDX-License-Identifier: GPL-2.0-or-later
/*
 * libFuzzer target: the configuration reader (config.h).  Loading is all
 * or nothing: a refused text must leave the configuration as it was.
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "config.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct ve_config c, d;
	g_autoptr(GError) err = NULL;

	ve_config_defaults(&c);
	ve_config_defaults(&d);
	if (!ve_config_load_data(&c, (const char *)data, size, "fuzz", &err)) {
		if (c.period_us != d.period_us || c.host_cap_uw != d.host_cap_uw ||
		    strcmp(c.state_dir, d.state_dir) != 0 || c.idle_policy != d.idle_policy)
			abort();
	}
	ve_config_clear(&c);
	ve_config_clear(&d);
	return 0;
}
