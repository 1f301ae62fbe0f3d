// SPDX-License-Identifier: GPL-2.0-or-later
/*
 * libFuzzer target: the qemu-vmsr-helper request handler (vmsr.h), through
 * a real socket.  The input is what a client sends; the server answers a
 * request with 8 bytes while each one is one of the four MSRs for the tid
 * the lookup accepts (here 1234), and closes at the first that is not or
 * at a short tail.  The replies counted must be exactly that.
 */
#include <errno.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#include "vmsr.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

#define GOOD_TID 1234

static int lookup(void *ud, pid_t peer, uid_t uid, uint32_t msr, uint32_t cpu, pid_t tid,
		  uint64_t *ret, const char **why)
{
	(void)ud, (void)peer, (void)uid, (void)cpu;
	if (tid != GOOD_TID) {
		*why = "foreign tid";
		return -ESRCH;
	}
	*ret = 0x1000000000ull + msr;
	return 0;
}

static char sock_path[108];

static void setup(void)
{
	static struct ve_vmsr *s;
	g_autofree char *dir = NULL;

	if (s)
		return;
	dir = g_dir_make_tmp("ve-fuzz-vmsr-XXXXXX", NULL);
	if (!dir)
		abort();
	snprintf(sock_path, sizeof(sock_path), "%s/s", dir);
	s = ve_vmsr_new(sock_path, (gid_t)-1, NULL, lookup, NULL, NULL, NULL);
	if (!s)
		abort();
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct sockaddr_un addr = { .sun_family = AF_UNIX };
	size_t expect = 0, got = 0;
	bool clean_eof = false;
	uint8_t buf[8 * 64];
	int fd;

	if (size > 12 * 64)
		return 0;
	setup();
	for (size_t off = 0; off + 12 <= size; off += 12) {
		uint32_t req[3];

		memcpy(req, data + off, sizeof(req));
		if (!ve_vmsr_msr_allowed(req[0]) || req[2] != GOOD_TID)
			break;
		expect++;
	}
	memcpy(addr.sun_path, sock_path, strlen(sock_path) + 1);
	fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);
	if (fd < 0 || connect(fd, (struct sockaddr *)&addr, sizeof(addr)) < 0)
		abort();
	if (size && write(fd, data, size) != (ssize_t)size)
		abort();
	shutdown(fd, SHUT_WR);
	for (;;) {
		ssize_t n = read(fd, buf, sizeof(buf));

		if (n > 0) {
			got += (size_t)n;
			continue;
		}
		if (n == 0) {
			clean_eof = true;
			break;
		}
		if (errno != EAGAIN)
			break;     /* ECONNRESET: closed with our bytes unread */
		g_main_context_iteration(NULL, TRUE);
	}
	close(fd);
	/* never more than the valid requests; exactly that when closed cleanly */
	if (got > 8 * expect || (clean_eof && got != 8 * expect && got % 8 != 0))
		abort();
	return 0;
}
