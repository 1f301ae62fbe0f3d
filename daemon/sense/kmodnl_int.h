/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * kmodnl_int.h: what the module client's commands (kmodnl.c) and its
 * samples side (kmodnl_samples.c) share, and nothing else includes.
 */
#pragma once

#include <netlink/netlink.h>

#include "kmodnl.h"

struct ve_kmod {
	struct nl_sock *cmd, *mc;     /* cmd NULL: a loopback client (ve_kmod_open_loopback()) */
	unsigned char *rx;            /* mc's receive buffer, VE_MSG_MAX_BYTES */
	int family;
	int group;
	char error[256];
	/* while receiving */
	const struct ve_kmod_handlers *h;
	int messages;
};

int kmodnl_set_int_opt(struct nl_sock *sk, int level, int opt, int v);
