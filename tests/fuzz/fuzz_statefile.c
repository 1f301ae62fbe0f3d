// SPDX-License-Identifier: GPL-2.0-or-later
/*
 * libFuzzer target: the state-file reader (statefile.h).  The input is the
 * body; the target appends the checksum trailer the file must end with,
 * so the fuzzer reaches the parser and the invariant checks instead of
 * stopping at the checksum.  What loads must pass ve_state_check().
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "statefile.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	g_autoptr(GString) file = g_string_new_len((const char *)data, (gssize)size);
	g_autofree char *sum = g_compute_checksum_for_data(G_CHECKSUM_SHA256, data, size);
	struct ve_state *st = NULL;
	g_autoptr(GError) err = NULL;

	g_string_append_printf(file, "[checksum]\nsha256=%s\n", sum);
	if (ve_state_parse(file->str, file->len, &st, &err)) {
		if (!ve_state_check(st, NULL))
			abort();   /* loaded, yet inconsistent */
		ve_state_free(st);
	}
	return 0;
}
