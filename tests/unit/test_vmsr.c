// SPDX-License-Identifier: GPL-2.0-or-later
/*
 * The qemu-vmsr-helper socket: a client speaking QEMU's byte format gets the
 * register file's values; an unknown peer, a disallowed MSR, a tid outside
 * the peer, a short request, garbage and a flood of connections are refused
 * or closed without disturbing other clients or the server.
 *
 * The server runs on this thread's main loop; clients run in a second
 * thread (same process: an allowed peer) or a forked child (another
 * process: an unknown peer).
 */
#include <errno.h>
#include <signal.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/syscall.h>
#include <sys/un.h>
#include <sys/wait.h>

#include "fixture.h"
#include "vmsr.h"
#include "vrapl.h"

static struct ve_vrapl regs;
static char sock_path[PATH_MAX + 16];
static int refusals;

/* The test process is the one "QEMU" the daemon manages. */
static int lookup(void *ud, pid_t peer, uid_t uid, uint32_t msr, uint32_t cpu, pid_t tid,
		  uint64_t *ret, const char **why)
{
	char rel[64];

	(void)ud;
	(void)uid;
	(void)cpu;
	if (peer != getpid()) {
		*why = "not the QEMU process of a managed VM";
		return -EPERM;
	}
	snprintf(rel, sizeof(rel), "/proc/%d/task/%d", (int)peer, (int)tid);
	if (tid <= 0 || access(rel, F_OK) != 0) {
		*why = "thread is not in the peer";
		return -ESRCH;
	}
	return ve_vrapl_read(&regs, msr, ret);
}

static void refused(void *ud, pid_t peer, const char *why)
{
	(void)ud;
	(void)peer;
	(void)why;
	refusals++;
}

static int client_connect(void)
{
	struct sockaddr_un a = { .sun_family = AF_UNIX };
	int fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);

	memcpy(a.sun_path, sock_path, strlen(sock_path) + 1);
	if (fd < 0 || connect(fd, (struct sockaddr *)&a, sizeof(a)) < 0) {
		if (fd >= 0)
			close(fd);
		return -1;
	}
	return fd;
}

/* One request; 0 and the value, or -1 when the server closed on us. */
static int ask(int fd, uint32_t msr, uint32_t cpu, uint32_t tid, uint64_t *ret)
{
	uint32_t req[3] = { msr, cpu, tid };

	if (write(fd, req, sizeof(req)) != (ssize_t)sizeof(req))
		return -1;
	return read(fd, ret, sizeof(*ret)) == (ssize_t)sizeof(*ret) ? 0 : -1;
}

struct job {
	int result;     /* bit per failed step, 0 = all as expected */
	gint done;
};

static uint32_t self_tid(void)
{
	return (uint32_t)syscall(SYS_gettid);
}

static gpointer good_client(gpointer data)
{
	struct job *j = data;
	int fd = client_connect();
	uint64_t v = 0, want = 0;

	if (fd < 0) {
		j->result |= 1;
		goto out;
	}
	ve_vrapl_read(&regs, VE_MSR_PKG_ENERGY_STATUS, &want);
	if (ask(fd, VE_MSR_PKG_ENERGY_STATUS, 0, self_tid(), &v) < 0 || v != want)
		j->result |= 2;
	ve_vrapl_read(&regs, VE_MSR_RAPL_POWER_UNIT, &want);
	if (ask(fd, VE_MSR_RAPL_POWER_UNIT, 3, self_tid(), &v) < 0 || v != want)
		j->result |= 4;   /* a second request on the same connection */
	ve_vrapl_read(&regs, VE_MSR_PKG_POWER_LIMIT, &want);
	if (ask(fd, VE_MSR_PKG_POWER_LIMIT, 0, self_tid(), &v) < 0 || v != want || !(v & 0x7fff))
		j->result |= 8;   /* the VM's own limit */
	close(fd);
out:
	g_atomic_int_set(&j->done, 1);
	return NULL;
}

/* A client that must be refused: the connection ends without a reply. */
struct bad {
	struct job job;
	uint32_t req[3];
	size_t len;    /* bytes to send */
};

static gpointer bad_client(gpointer data)
{
	struct bad *b = data;
	int fd = client_connect();
	uint64_t v;

	if (fd < 0 || write(fd, b->req, b->len) != (ssize_t)b->len) {
		b->job.result |= 1;
	} else if (b->len < sizeof(b->req)) {
		shutdown(fd, SHUT_WR);   /* a short request, then nothing more */
		if (read(fd, &v, sizeof(v)) > 0)
			b->job.result |= 2;
	} else if (read(fd, &v, sizeof(v)) > 0) {
		b->job.result |= 4;      /* it answered: it should have closed */
	}
	if (fd >= 0)
		close(fd);
	g_atomic_int_set(&b->job.done, 1);
	return NULL;
}

static void run_until(struct job *j)
{
	while (!g_atomic_int_get(&j->done))
		g_main_context_iteration(NULL, FALSE);
}

static struct ve_vmsr *server(struct fx *fx)
{
	g_autoptr(GError) err = NULL;
	struct ve_vmsr *s;

	fx_make(fx);
	snprintf(sock_path, sizeof(sock_path), "%s/vmsr.sock", fx->path);
	ve_vrapl_init(&regs);
	regs.pkg_uj = 123456789;
	regs.limit_uw = 30000000;
	s = ve_vmsr_new(sock_path, (gid_t)-1, NULL, lookup, refused, NULL, &err);
	check(s != NULL, "server: %s", err ? err->message : "");
	return s;
}

static void test_good(void **state)
{
	struct fx fx;
	struct ve_vmsr *s = server(&fx);
	struct job j = { 0 };
	GThread *t = g_thread_new("client", good_client, &j);
	struct stat st;

	(void)state;
	run_until(&j);
	g_thread_join(t);
	check(j.result == 0, "good client: failures 0x%x", j.result);
	check(stat(sock_path, &st) == 0 && (st.st_mode & 0777) == 0600, "socket mode 0600");
	ve_vmsr_free(s);
	check(access(sock_path, F_OK) != 0, "socket removed on free");
	fx_remove(&fx);
}

static void test_refusals(void **state)
{
	struct fx fx;
	struct ve_vmsr *s = server(&fx);
	struct bad cases[] = {
		{ .req = { VE_MSR_DRAM_ENERGY_STATUS, 0, 0 }, .len = 12 },  /* not one of the four */
		{ .req = { 0x10, 0, 0 }, .len = 12 },                        /* the TSC */
		{ .req = { VE_MSR_PKG_ENERGY_STATUS, 0, 1 }, .len = 12 },    /* init's tid */
		{ .req = { VE_MSR_PKG_ENERGY_STATUS, 0, 0 }, .len = 5 },     /* short */
		{ .req = { 0xdeadbeef, 0xffffffff, 0xffffffff }, .len = 12 },/* garbage */
	};

	(void)state;
	refusals = 0;
	for (size_t i = 0; i < ARRAY_SIZE(cases); i++) {
		GThread *t = g_thread_new("bad", bad_client, &cases[i]);

		run_until(&cases[i].job);
		g_thread_join(t);
		check(cases[i].job.result == 0, "case %zu: failures 0x%x", i, cases[i].job.result);
	}
	/* let the server notice the last close */
	for (int i = 0; i < 100 && ve_vmsr_clients(s); i++) {
		g_main_context_iteration(NULL, FALSE);
		usleep(1000);
	}
	check(refusals == (int)ARRAY_SIZE(cases), "each refusal reported once, saw %d", refusals);
	check(ve_vmsr_clients(s) == 0, "no connection left open");

	/* and a good client is still served */
	{
		struct job j = { 0 };
		GThread *t = g_thread_new("client", good_client, &j);

		run_until(&j);
		g_thread_join(t);
		check(j.result == 0, "served after refusals: 0x%x", j.result);
	}
	ve_vmsr_free(s);
	fx_remove(&fx);
}

/*
 * Idle and half-sent connections do not keep their slots: with short
 * timeouts, a connection that says nothing and one that stops after 4
 * bytes are both closed by the server, each reported once.
 */
static void test_timeouts(void **state)
{
	struct fx fx;
	struct ve_vmsr *s = server(&fx);
	struct sockaddr_un addr = { .sun_family = AF_UNIX };
	int idle, half;
	uint32_t msr = VE_MSR_PKG_ENERGY_STATUS;
	gint64 end;
	char c;

	(void)state;
	refusals = 0;
	/* far above the 100 ms looked at first: a loaded machine's stalls do not close them early */
	ve_vmsr_set_timeouts(s, 1500, 800);
	memcpy(addr.sun_path, sock_path, strlen(sock_path) + 1);
	idle = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
	half = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
	check(connect(idle, (struct sockaddr *)&addr, sizeof(addr)) == 0, "connect idle");
	check(connect(half, (struct sockaddr *)&addr, sizeof(addr)) == 0, "connect half");
	check(write(half, &msr, sizeof(msr)) == (ssize_t)sizeof(msr), "half a request");
	end = g_get_monotonic_time() + 100000;
	while (g_get_monotonic_time() < end) {      /* both accepted, neither closed yet */
		g_main_context_iteration(NULL, FALSE);
		usleep(1000);
	}
	check(ve_vmsr_clients(s) == 2, "both held before their timeouts (%u)", ve_vmsr_clients(s));
	end = g_get_monotonic_time() + 6000000;
	while (ve_vmsr_clients(s) && g_get_monotonic_time() < end) {
		g_main_context_iteration(NULL, FALSE);
		usleep(1000);
	}
	check(ve_vmsr_clients(s) == 0, "both closed after their timeouts (%u left)", ve_vmsr_clients(s));
	check(refusals == 2, "each reported once, saw %d", refusals);
	check(read(idle, &c, 1) == 0 && read(half, &c, 1) == 0, "the peers see the close");
	close(idle);
	close(half);
	ve_vmsr_free(s);
	fx_remove(&fx);
}

/* Another process asking for the right MSR and its own tid is still refused. */
static void test_unknown_peer(void **state)
{
	struct fx fx;
	struct ve_vmsr *s = server(&fx);
	int status = 0;
	pid_t child;

	(void)state;
	refusals = 0;
	child = fork();
	if (child == 0) {
		int fd = client_connect();
		uint64_t v;
		int rc = fd < 0 ? 3 : ask(fd, VE_MSR_PKG_ENERGY_STATUS, 0, (uint32_t)getpid(), &v) == 0 ? 1 : 0;

		_exit(rc);
	}
	while (waitpid(child, &status, WNOHANG) == 0)
		g_main_context_iteration(NULL, FALSE);
	check(WIFEXITED(status) && WEXITSTATUS(status) == 0, "foreign peer was answered (status %d)",
	      status);
	for (int i = 0; i < 100 && !refusals; i++) {
		g_main_context_iteration(NULL, FALSE);
		usleep(1000);
	}
	check(refusals == 1, "refusal reported, saw %d", refusals);
	ve_vmsr_free(s);
	fx_remove(&fx);
}

/* 100 idle connections: the excess is closed at accept, the server keeps serving. */
static void test_flood(void **state)
{
	struct fx fx;
	struct ve_vmsr *s = server(&fx);
	int fds[100];
	struct job j = { 0 };
	GThread *t;

	(void)state;
	refusals = 0;
	/* connect in this thread, letting the server accept between connects */
	for (int i = 0; i < 100; i++) {
		fds[i] = client_connect();
		for (int k = 0; k < 5; k++)
			g_main_context_iteration(NULL, FALSE);
	}
	for (int i = 0; i < 200; i++)
		g_main_context_iteration(NULL, FALSE);
	/* one peer: at most VE_VMSR_MAX_PER_PEER of its connections are held */
	check(ve_vmsr_clients(s) == VE_VMSR_MAX_PER_PEER, "%d clients of one peer, saw %u",
	      VE_VMSR_MAX_PER_PEER, ve_vmsr_clients(s));
	check(refusals == 100 - VE_VMSR_MAX_PER_PEER, "the excess was refused (%d)", refusals);
	for (int i = 0; i < 100; i++)
		if (fds[i] >= 0)
			close(fds[i]);
	for (int i = 0; i < 500 && ve_vmsr_clients(s); i++) {
		g_main_context_iteration(NULL, FALSE);
		usleep(1000);
	}
	check(ve_vmsr_clients(s) == 0, "flood drained, %u left", ve_vmsr_clients(s));
	t = g_thread_new("client", good_client, &j);
	run_until(&j);
	g_thread_join(t);
	check(j.result == 0, "served after the flood: 0x%x", j.result);
	ve_vmsr_free(s);
	fx_remove(&fx);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_good),
		cmocka_unit_test(test_refusals),
		cmocka_unit_test(test_timeouts),
		cmocka_unit_test(test_unknown_peer),
		cmocka_unit_test(test_flood),
	};

	signal(SIGPIPE, SIG_IGN);
	return cmocka_run_group_tests_name("vmsr", tests, NULL, NULL);
}
