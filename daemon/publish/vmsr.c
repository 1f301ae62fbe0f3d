// SPDX-License-Identifier: GPL-2.0-or-later
/*
 * vmsr.c: the qemu-vmsr-helper protocol server (see vmsr.h).
 *
 * Plain non-blocking unix sockets watched with g_unix_fd_add(): a request
 * is 12 bytes, which may arrive in pieces, so each client keeps a small
 * buffer.  A reply is 8 bytes on a local stream socket whose send buffer
 * is empty between requests (the client waits for each reply), so it is
 * written at once; if it is not, the client is dropped rather than kept
 * waiting on a half-sent value.  Idle and half-sent connections are swept
 * by a timer once a second (or sooner, for tests with short timeouts), so
 * nobody can keep slots by connecting and saying nothing.
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

#include "error.h"
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
	gint64 last_us;      /* accept or the last complete request */
	gint64 partial_us;   /* when the first byte of a request came */
};

struct ve_vmsr {
	char *path;
	int fd;
	guint source;
	guint sweep;
	ve_vmsr_admit_fn admit;
	ve_vmsr_lookup_fn lookup;
	ve_vmsr_refused_fn refused;
	void *ud;
	GPtrArray *clients;
	gint64 idle_us, partial_us;
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
	if (!c->got)
		c->partial_us = g_get_monotonic_time();
	c->got += (size_t)n;
	if (c->got < sizeof(c->buf))
		return G_SOURCE_CONTINUE;
	c->got = 0;
	c->last_us = g_get_monotonic_time();
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

static unsigned int peer_clients(const struct ve_vmsr *s, pid_t pid)
{
	unsigned int n = 0;

	for (guint i = 0; i < s->clients->len; i++)
		n += ((const struct client *)g_ptr_array_index(s->clients, i))->pid == pid;
	return n;
}

static gboolean on_accept(int fd, GIOCondition cond, gpointer data)
{
	struct ve_vmsr *s = data;

	for (;;) {
		struct ucred cred = { 0 };
		socklen_t len = sizeof(cred);
		struct client *c;
		const char *why = NULL;
		int cfd = accept4(fd, NULL, NULL, SOCK_NONBLOCK | SOCK_CLOEXEC);

		if (cfd < 0)
			break;
		/* who it is, before it may hold anything */
		if (getsockopt(cfd, SOL_SOCKET, SO_PEERCRED, &cred, &len) < 0 || len != sizeof(cred))
			why = "no peer credentials";
		else if (s->admit && s->admit(s->ud, cred.pid, cred.uid, &why) < 0)
			why = why ? why : "refused";
		else if (peer_clients(s, cred.pid) >= VE_VMSR_MAX_PER_PEER)
			why = "too many connections from this peer";
		else if (s->clients->len >= VE_VMSR_MAX_CLIENTS)
			why = "too many clients";
		if (why) {
			if (s->refused)
				s->refused(s->ud, cred.pid, why);
			close(cfd);
			continue;
		}
		c = g_new0(struct client, 1);
		c->server = s;
		c->fd = cfd;
		c->pid = cred.pid;
		c->uid = cred.uid;
		c->last_us = g_get_monotonic_time();
		c->source = g_unix_fd_add(cfd, G_IO_IN | G_IO_HUP | G_IO_ERR, on_client, c);
		g_ptr_array_add(s->clients, c);
	}
	return G_SOURCE_CONTINUE;
}

/* Close what has been half-sent or silent for too long. */
static gboolean on_sweep(gpointer data)
{
	struct ve_vmsr *s = data;
	gint64 now = g_get_monotonic_time();

	for (guint i = s->clients->len; i-- > 0;) {
		struct client *c = g_ptr_array_index(s->clients, i);

		if (c->got && now - c->partial_us >= s->partial_us)
			client_close(c, "request not completed in time");
		else if (!c->got && now - c->last_us >= s->idle_us)
			client_close(c, "idle for too long");
	}
	return G_SOURCE_CONTINUE;
}

static void arm_sweep(struct ve_vmsr *s)
{
	gint64 step_ms = MIN(s->idle_us, s->partial_us) / 4000;

	if (s->sweep)
		g_source_remove(s->sweep);
	s->sweep = g_timeout_add((guint)CLAMP(step_ms, 10, 1000), on_sweep, s);
}

void ve_vmsr_set_timeouts(struct ve_vmsr *s, unsigned int idle_ms, unsigned int partial_ms)
{
	s->idle_us = (gint64)idle_ms * 1000;
	s->partial_us = (gint64)partial_ms * 1000;
	arm_sweep(s);
}

struct ve_vmsr *ve_vmsr_new(const char *path, gid_t gid, ve_vmsr_admit_fn admit,
			    ve_vmsr_lookup_fn lookup, ve_vmsr_refused_fn refused, void *ud,
			    GError **error)
{
	struct sockaddr_un addr = { .sun_family = AF_UNIX };
	struct ve_vmsr *s;
	int fd;

	if (strlen(path) >= sizeof(addr.sun_path)) {
		g_set_error(error, VE_ERROR, VE_ERROR_INVALID,
			    "vmsr helper socket path '%s' is too long", path);
		return NULL;
	}
	memcpy(addr.sun_path, path, strlen(path) + 1);
	fd = socket(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
	if (fd < 0) {
		g_set_error(error, VE_ERROR, ve_error_from_errno(errno), "socket: %s",
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
			g_set_error(error, VE_ERROR, ve_error_from_errno(r < 0 ? err : errno),
				    "cannot listen on %s: %s", path, g_strerror(r < 0 ? err : errno));
			close(fd);
			return NULL;
		}
	}
	/* QEMU's group may connect; SO_PEERCRED tells who it is */
	if (gid != (gid_t)-1 && (chown(path, (uid_t)-1, gid) < 0 || chmod(path, 0660) < 0)) {
		int err = errno;

		g_set_error(error, VE_ERROR, ve_error_from_errno(err),
			    "cannot give %s to group %u: %s", path, (unsigned int)gid, g_strerror(err));
		close(fd);
		unlink(path);
		return NULL;
	}
	s = g_new0(struct ve_vmsr, 1);
	s->path = g_strdup(path);
	s->fd = fd;
	s->admit = admit;
	s->lookup = lookup;
	s->refused = refused;
	s->ud = ud;
	s->clients = g_ptr_array_new();
	s->source = g_unix_fd_add(fd, G_IO_IN, on_accept, s);
	s->idle_us = VE_VMSR_IDLE_TIMEOUT_MS * G_GINT64_CONSTANT(1000);
	s->partial_us = VE_VMSR_PARTIAL_TIMEOUT_MS * G_GINT64_CONSTANT(1000);
	arm_sweep(s);
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
	if (s->sweep)
		g_source_remove(s->sweep);
	close(s->fd);
	unlink(s->path);
	g_free(s->path);
	g_free(s);
}

unsigned int ve_vmsr_clients(const struct ve_vmsr *s)
{
	return s->clients->len;
}
