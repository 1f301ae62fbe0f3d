// SPDX-License-Identifier: GPL-2.0-or-later
/*
 * vmsr.c: the qemu-vmsr-helper protocol server (see vmsr.h).
 *
 * Plain non-blocking unix sockets watched with g_unix_fd_add(): a request
 * is 12 bytes, which may arrive in pieces, so each client keeps a small
 * buffer.  A reply is 8 bytes on a local stream socket whose send buffer
 * is empty between requests (the client waits for each reply), so it is
 * written at once; if it is not, the client is dropped rather than kept
 * waiting on a half-sent value.
 */
#include <errno.h>
#include <fcntl.h>
#include <gio/gio.h>
#include <glib-unix.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <unistd.h>

#include "vmsr.h"
#include "vrapl.h"

struct client {
	struct ve_vmsr *server;
	int fd;
	guint source;
	pid_t pid;
	uid_t uid;
	uint8_t buf[12];
	size_t got;
};

struct ve_vmsr {
	char *path;
	int fd;
	guint source;
	ve_vmsr_lookup_fn lookup;
	ve_vmsr_refused_fn refused;
	void *ud;
	GPtrArray *clients;
};

gboolean ve_vmsr_msr_allowed(uint32_t msr)
{
	return msr == VE_MSR_RAPL_POWER_UNIT || msr == VE_MSR_PKG_POWER_LIMIT ||
	       msr == VE_MSR_PKG_ENERGY_STATUS || msr == VE_MSR_PKG_POWER_INFO;
}

static void client_close(struct client *c, const char *why)
{
	struct ve_vmsr *s = c->server;

	if (why && s->refused)
		s->refused(s->ud, c->pid, why);
	if (c->source)
		g_source_remove(c->source);
	close(c->fd);
	g_ptr_array_remove_fast(s->clients, c);
	g_free(c);
}

static gboolean on_client(int fd, GIOCondition cond, gpointer data)
{
	struct client *c = data;
	ssize_t n = read(fd, c->buf + c->got, sizeof(c->buf) - c->got);
	uint32_t req[3];
	uint64_t value = 0;
	const char *why = NULL;
	int r;

	if (n < 0 && (errno == EAGAIN || errno == EINTR))
		return G_SOURCE_CONTINUE;
	if (n <= 0) {
		c->source = 0;
		client_close(c, c->got ? "short request: connection closed mid-request" : NULL);
		return G_SOURCE_REMOVE;
	}
	c->got += (size_t)n;
	if (c->got < sizeof(c->buf))
		return G_SOURCE_CONTINUE;
	c->got = 0;
	memcpy(req, c->buf, sizeof(req));
	if (!ve_vmsr_msr_allowed(req[0])) {
		c->source = 0;
		client_close(c, "MSR not served");
		return G_SOURCE_REMOVE;
	}
	r = c->server->lookup(c->server->ud, c->pid, c->uid, req[0], req[1], (pid_t)req[2], &value,
			      &why);
	if (r < 0) {
		c->source = 0;
		client_close(c, why ? why : "refused");
		return G_SOURCE_REMOVE;
	}
	if (write(fd, &value, sizeof(value)) != (ssize_t)sizeof(value)) {
		c->source = 0;
		client_close(c, "cannot write the reply");
		return G_SOURCE_REMOVE;
	}
	return G_SOURCE_CONTINUE;
}

static gboolean on_accept(int fd, GIOCondition cond, gpointer data)
{
	struct ve_vmsr *s = data;

	for (;;) {
		struct ucred cred;
		socklen_t len = sizeof(cred);
		struct client *c;
		int cfd = accept4(fd, NULL, NULL, SOCK_NONBLOCK | SOCK_CLOEXEC);

		if (cfd < 0)
			break;
		if (getsockopt(cfd, SOL_SOCKET, SO_PEERCRED, &cred, &len) < 0 ||
		    s->clients->len >= VE_VMSR_MAX_CLIENTS) {
			if (s->refused)
				s->refused(s->ud, len == sizeof(cred) ? cred.pid : 0,
					   s->clients->len >= VE_VMSR_MAX_CLIENTS ? "too many clients"
										  : "no peer credentials");
			close(cfd);
			continue;
		}
		c = g_new0(struct client, 1);
		c->server = s;
		c->fd = cfd;
		c->pid = cred.pid;
		c->uid = cred.uid;
		c->source = g_unix_fd_add(cfd, G_IO_IN | G_IO_HUP | G_IO_ERR, on_client, c);
		g_ptr_array_add(s->clients, c);
	}
	return G_SOURCE_CONTINUE;
}

struct ve_vmsr *ve_vmsr_new(const char *path, ve_vmsr_lookup_fn lookup, ve_vmsr_refused_fn refused,
			    void *ud, GError **error)
{
	struct sockaddr_un addr = { .sun_family = AF_UNIX };
	struct ve_vmsr *s;
	int fd;

	if (strlen(path) >= sizeof(addr.sun_path)) {
		g_set_error(error, G_IO_ERROR, G_IO_ERROR_FILENAME_TOO_LONG,
			    "vmsr helper socket path '%s' is too long", path);
		return NULL;
	}
	memcpy(addr.sun_path, path, strlen(path) + 1);
	fd = socket(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
	if (fd < 0) {
		g_set_error(error, G_IO_ERROR, g_io_error_from_errno(errno), "socket: %s",
			    g_strerror(errno));
		return NULL;
	}
	unlink(path);
	/* 0600 from the start: no window in which others could connect */
	{
		mode_t old = umask(0177);
		int r = bind(fd, (struct sockaddr *)&addr, sizeof(addr));
		int err = errno;

		umask(old);
		if (r < 0 || listen(fd, 16) < 0) {
			g_set_error(error, G_IO_ERROR, g_io_error_from_errno(r < 0 ? err : errno),
				    "cannot listen on %s: %s", path, g_strerror(r < 0 ? err : errno));
			close(fd);
			return NULL;
		}
	}
	s = g_new0(struct ve_vmsr, 1);
	s->path = g_strdup(path);
	s->fd = fd;
	s->lookup = lookup;
	s->refused = refused;
	s->ud = ud;
	s->clients = g_ptr_array_new();
	s->source = g_unix_fd_add(fd, G_IO_IN, on_accept, s);
	return s;
}

void ve_vmsr_free(struct ve_vmsr *s)
{
	if (!s)
		return;
	while (s->clients->len)
		client_close(g_ptr_array_index(s->clients, 0), NULL);
	g_ptr_array_free(s->clients, TRUE);
	g_source_remove(s->source);
	close(s->fd);
	unlink(s->path);
	g_free(s->path);
	g_free(s);
}

unsigned int ve_vmsr_clients(const struct ve_vmsr *s)
{
	return s->clients->len;
}
