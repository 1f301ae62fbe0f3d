/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * statefile_int.h: what the state file's writer (statefile.c: the model,
 * its invariants, saving) and reader (statefile_read.c: parsing, loading,
 * setting a bad file aside) share, and nothing else includes.
 */
#pragma once

#include <stdbool.h>
#include <stdint.h>

#include "statefile.h"

#define GROUP_MAIN "virtenergy"
#define KEY_HOST "host"
#define PREFIX_VM "vm:"
#define PREFIX_SERVICE "service:"
#define PREFIX_CGROUP "cgroup:"
#define SERVICE_NAME_MAX 255
#define UUID_LEN 36
/* leaves room for ".corrupt-YYYYmmddTHHMMSSZ-999" within NAME_MAX */
#define FILE_NAME_MAX 200

#define TRAILER_HEAD "[checksum]\nsha256="
#define SHA256_HEX_LEN 64
#define TRAILER_LEN (sizeof(TRAILER_HEAD) - 1 + SHA256_HEX_LEN + 1)

#define HEADER_COMMENT                                                                    \
	" virtenergy state: cumulative energy in µJ per account, written by virtenergyd.\n" \
	" Do not edit: the checksum at the end guards every byte, and a file that fails\n"  \
	" it is set aside as corrupt."

bool statefile_is_lower_hex(char c);
bool statefile_key_valid(const char *key);
struct ve_state_account *statefile_add(struct ve_state *s, const char *key, const char *name,
				       const struct ve_ledger_entry *e, int code,
				       GError **error);
gboolean statefile_check(const struct ve_state *s, int code, GError **error);
gboolean statefile_name_valid(const char *name, GError **error);
/* ve_state_save(), telling the length of the file it wrote in *@ret_len (may be NULL). */
gboolean statefile_save(int dir_fd, const char *name, struct ve_state *s, size_t *ret_len,
			GError **error);
/* Move @name to "@name.<tag>-<UTC time>[-<n>]"; 0 or -errno (statefile_read.c). */
int statefile_set_aside(int dir_fd, const char *name, const char *tag, char **ret_aside);
