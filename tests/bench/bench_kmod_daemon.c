// SPDX-License-Identifier: GPL-2.0-or-later
/*
 * bench_kmod_daemon: the daemon's side of kmod mode, natively, without the
 * module (issue 15).  For N VMs of 4 vCPU threads and an emulator thread
 * each, a sender builds every period what virtenergy.ko would multicast
 * (include/virtenergy/uapi.h, protocol 2: messages of 512 records, as the
 * module's default, or VE_BENCH_BATCH, at most VE_MSG_MAX_BYTES; a thread
 * record per watched thread with its run-time delta, a cgroup record per VM
 * with its block I/O, the period's end in the last message) and sends it over a real
 * generic-netlink socket to the kmod sampler's loopback client
 * (ve_sampler_open_kmod_loopback()), at the module's rate (10 Hz).  The
 * daemon's side is then timed in CPU time of its thread
 * (CLOCK_THREAD_CPUTIME_ID), the sender's work left out:
 *
 *   receive  ve_sampler_begin_period(): the socket drained, every message
 *            parsed, every entry handed to its watch;
 *   read     every watch read and every VM's block I/O taken, as the
 *            engine does each period (engine_threads.c, engine_host.c);
 *   core     attribution and ledger (attrib.h, ledger.h) of those samples
 *            on a package domain and a disk, as ve_engine_period() runs it.
 *
 * What the engine does around them (its thread table walk, the views) and
 * the once-a-second work (exports, Prometheus, state saves) are not in it:
 * `scripts/bench scale` measures the whole daemon.  Prints per size the
 * median over the periods of each part and of their sum, and the sum per VM.
 *
 * usage: bench_kmod_daemon [VMS...]      (default 10 100 1000 4000)
 * environment: VE_BENCH_PERIODS (50), VE_BENCH_BATCH (512)
 */
#include <errno.h>
#include <fcntl.h>
#include <netlink/genl/genl.h>
#include <netlink/msg.h>
#include <netlink/netlink.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <virtenergy/uapi.h>

#include "attrib.h"
#include "ledger.h"
#include "sampler.h"

#define THREADS_PER_VM 5
#define PERIOD_NS 100000000ull

static uint64_t clock_ns(clockid_t c)
{
	struct timespec ts;

	clock_gettime(c, &ts);
	return (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
}

static uint64_t rnd(uint64_t *s)
{
	uint64_t z = (*s += UINT64_C(0x9e3779b97f4a7c15));

	z = (z ^ (z >> 30)) * UINT64_C(0xbf58476d1ce4e5b9);
	z = (z ^ (z >> 27)) * UINT64_C(0x94d049bb133111eb);
	return z ^ (z >> 31);
}

static int cmp_u64(const void *a, const void *b)
{
	uint64_t x = *(const uint64_t *)a, y = *(const uint64_t *)b;

	return (x > y) - (x < y);
}

struct sender {
	struct nl_sock *sk;
	struct nl_msg *msg;
	struct nlattr *array;        /* the record array open in msg */
	int array_type;
	unsigned int entries;
	uint64_t seq, time_ns, bytes;
};

static void flush(struct sender *s, bool last)
{
	if (!s->msg)
		return;
	if (s->array)
		nla_nest_end(s->msg, s->array);
	s->array = NULL;
	nla_put_u32(s->msg, VE_A_FLAGS, last ? VE_MSG_LAST : 0);
	s->bytes += nlmsg_hdr(s->msg)->nlmsg_len;
	if (nl_send_auto(s->sk, s->msg) < 0) {
		fprintf(stderr, "bench_kmod_daemon: send failed\n");
		exit(1);
	}
	nlmsg_free(s->msg);
	s->msg = NULL;
	s->entries = 0;
}

static unsigned int batch = 512;   /* records per message: the module's default, VE_BENCH_BATCH */

/* Append one record to the @type array, in a new message when the current one holds batch. */
static void record(struct sender *s, int type, const void *rec, size_t size)
{
	/* as the module: at batch records, or when the message is full */
	if (s->entries == batch ||
	    (s->msg && nlmsg_hdr(s->msg)->nlmsg_len + NLA_HDRLEN + size + 8 > VE_MSG_MAX_BYTES))
		flush(s, false);
	if (!s->msg) {
		s->msg = nlmsg_alloc_size(64 * 1024);
		genlmsg_put(s->msg, NL_AUTO_PORT, NL_AUTO_SEQ, 0x20, 0, 0, VE_CMD_SAMPLES,
			    VE_GENL_VERSION);
		nla_put_u64(s->msg, VE_A_SEQ, s->seq);
		nla_put_u64(s->msg, VE_A_TIME_NS, s->time_ns);
		nla_put_u64(s->msg, VE_A_PERIOD_NS, PERIOD_NS);
	}
	if (s->array && s->array_type != type) {
		nla_nest_end(s->msg, s->array);
		s->array = NULL;
	}
	if (!s->array) {
		/* the module's nla_nest_start_noflag(): a plain attribute of records */
		s->array = nla_reserve(s->msg, type, 0);
		s->array_type = type;
	}
	memcpy(nlmsg_reserve(s->msg, size, 1), rec, size);
	s->entries++;
}

static int run(unsigned int n_vms, int periods, int root_fd)
{
	size_t n_threads = (size_t)n_vms * THREADS_PER_VM;
	struct ve_sampler *smp = NULL;
	struct ve_watch **w = calloc(n_threads, sizeof(*w));
	struct ve_thread_sample *th = calloc(n_threads + 1, sizeof(*th));
	struct ve_io_sample *io = calloc(n_vms, sizeof(*io));
	uint64_t *t_recv = calloc((size_t)periods, 8), *t_read = calloc((size_t)periods, 8);
	uint64_t *t_core = calloc((size_t)periods, 8), *t_all = calloc((size_t)periods, 8);
	uint32_t *vm = calloc(n_vms, sizeof(*vm));
	uint64_t *tags = calloc(n_threads, sizeof(*tags));
	struct ve_account_table *t = ve_account_table_new();
	struct ve_attrib *a = ve_attrib_new();
	const char *const events[] = { "task-clock" };
	struct sender snd = { 0 };
	struct ve_device dev[2];
	struct ve_result res;
	struct ve_ledger l;
	struct ve_error err;
	uint64_t seed = n_vms, next, sent_ns = 0, got_ns = 0;
	uint32_t port = 0;

	if (!w || !th || !io || !t_recv || !t_read || !t_core || !t_all || !vm || !tags || !t || !a)
		return -ENOMEM;
	if (ve_sampler_open_kmod_loopback(root_fd, PERIOD_NS, true, &smp, &port) < 0) {
		fprintf(stderr, "bench_kmod_daemon: no loopback netlink socket\n");
		return -EIO;
	}
	snd.sk = nl_socket_alloc();
	if (!snd.sk || nl_connect(snd.sk, NETLINK_GENERIC) < 0)
		return -EIO;
	nl_socket_set_peer_port(snd.sk, port);
	nl_socket_set_buffer_size(snd.sk, 0, 16 << 20);
	for (unsigned int v = 0; v < n_vms; v++) {
		ve_account_add(t, VE_KIND_VM, 4, &vm[v]);
		smp->ops->watch_cgroup(smp, 1000 + v);
		io[v] = (struct ve_io_sample){ vm[v], 1, VE_COMP_DISK, 0, 0 };
	}
	for (size_t i = 0; i < n_threads; i++) {
		/* tids no root has: the watch's schedstat look-up fails fast, as for a thread gone */
		if (smp->ops->watch(smp, (pid_t)(4000000 + i), (pid_t)(4000000 + i), &w[i]) < 0)
			return -EIO;
		tags[i] = ve_sampler_kmod_tag(smp, w[i]);
		th[i] = (struct ve_thread_sample){ .account = vm[i / THREADS_PER_VM],
						   .comp = i % THREADS_PER_VM == 4 ? VE_COMP_EMULATOR
										   : VE_COMP_VCPU };
	}
	memset(dev, 0, sizeof(dev));
	dev[0].kind = VE_DEV_PKG;
	dev[0].measured = true;
	ve_cpu_model_defaults(&dev[0].cpu, VE_DOMAIN_PKG, events, 0, 60000000);
	dev[1].kind = VE_DEV_DISK;
	ve_disk_model_profile("nvme", &dev[1].disk);
	ve_result_init(&res);
	ve_ledger_init(&l);

	next = clock_ns(CLOCK_MONOTONIC);
	for (int p = -5; p < periods; p++) {
		uint64_t c0, c1, c2, c3;

		/* the module's period: every thread, every cgroup, the end */
		snd.seq++;
		snd.time_ns = clock_ns(CLOCK_MONOTONIC);
		for (size_t i = 0; i < n_threads; i++) {
			struct ve_thread_rec r = {
				.tid = (uint32_t)(4000000 + i),
				.account = tags[i],
				.run_ns = rnd(&seed) % 1000000,
			};

			sent_ns += r.run_ns;
			record(&snd, VE_A_THREADS, &r, sizeof(r));
		}
		for (unsigned int v = 0; v < n_vms; v++) {
			uint64_t ops = rnd(&seed) % 4;
			struct ve_cgroup_rec r = {
				.cgroup_id = 1000 + v,
				.account = 1000 + v,
				.dev = 8u << 8,    /* new_encode_dev(8, 0) */
				.ops[VE_DIR_WRITE] = ops,
				.bytes[VE_DIR_WRITE] = ops * 4096,
			};

			record(&snd, VE_A_CGROUPS, &r, sizeof(r));
		}
		flush(&snd, true);

		/* the daemon's period, on the daemon's thread */
		c0 = clock_ns(CLOCK_THREAD_CPUTIME_ID);
		ve_sampler_begin_period(smp, clock_ns(CLOCK_MONOTONIC));
		c1 = clock_ns(CLOCK_THREAD_CPUTIME_ID);
		for (size_t i = 0; i < n_threads; i++)
			if (smp->ops->read(smp, w[i], th[i].delta) < 0)
				return -EIO;
		for (size_t i = 0; i < n_threads; i++)
			got_ns += th[i].delta[VE_SAMPLER_COL_RUN_NS];
		for (unsigned int v = 0; v < n_vms; v++) {
			struct ve_sampler_io got[VE_SAMPLER_IO_DEVS];
			int n = smp->ops->read_cgroup(smp, 1000 + v, got);

			io[v].ops = n > 0 ? got[0].ops : 0;
			io[v].bytes = n > 0 ? got[0].bytes : 0;
		}
		c2 = clock_ns(CLOCK_THREAD_CPUTIME_ID);
		dev[0].measured_uj = 1500000 + (int64_t)(rnd(&seed) % 1000000);
		dev[1].busy_us = rnd(&seed) % 10000;
		if (ve_attrib_run(a, t, VE_IDLE_VCPUS,
				  &(struct ve_period){ .period_us = PERIOD_NS / 1000,
						       .devices = dev, .n_devices = 2,
						       .threads = th, .n_threads = n_threads,
						       .io = io, .n_io = n_vms },
				  &res, &err) < 0 ||
		    ve_ledger_apply(&l, &res) < 0) {
			fprintf(stderr, "bench_kmod_daemon: period failed: %s\n", err.msg);
			return -EIO;
		}
		c3 = clock_ns(CLOCK_THREAD_CPUTIME_ID);
		if (p >= 0) {
			t_recv[p] = c1 - c0;
			t_read[p] = c2 - c1;
			t_core[p] = c3 - c2;
			t_all[p] = c3 - c0;
		}
		/* at the module's rate */
		next += PERIOD_NS;
		{
			uint64_t now = clock_ns(CLOCK_MONOTONIC);

			if (next > now)
				usleep((useconds_t)((next - now) / 1000));
		}
	}
	if (got_ns != sent_ns) {
		fprintf(stderr, "bench_kmod_daemon: %u VMs: the sampler read %llu ns of run time, %llu were sent (messages lost?)\n",
			n_vms, (unsigned long long)got_ns, (unsigned long long)sent_ns);
		return -EIO;
	}
	qsort(t_recv, (size_t)periods, 8, cmp_u64);
	qsort(t_read, (size_t)periods, 8, cmp_u64);
	qsort(t_core, (size_t)periods, 8, cmp_u64);
	qsort(t_all, (size_t)periods, 8, cmp_u64);
	printf("%5u %7zu %9.1f %9.1f %9.1f %9.1f %8.3f %9.0f\n", n_vms, n_threads,
	       (double)t_recv[periods / 2] / 1e3, (double)t_read[periods / 2] / 1e3,
	       (double)t_core[periods / 2] / 1e3, (double)t_all[periods / 2] / 1e3,
	       (double)t_all[periods / 2] / 1e3 / n_vms,
	       (double)snd.bytes / (double)(periods + 5) / (double)(n_threads + n_vms));
	for (size_t i = 0; i < n_threads; i++)
		smp->ops->unwatch(smp, w[i]);
	ve_sampler_free(smp);
	nl_socket_free(snd.sk);
	ve_ledger_clear(&l);
	ve_result_clear(&res);
	ve_attrib_free(a);
	ve_account_table_free(t);
	free(w), free(th), free(io), free(vm), free(tags);
	free(t_recv), free(t_read), free(t_core), free(t_all);
	return 0;
}

int main(int argc, char **argv)
{
	static const unsigned int defaults[] = { 10, 100, 1000, 4000 };
	const char *env = getenv("VE_BENCH_PERIODS"), *env_batch = getenv("VE_BENCH_BATCH");
	char root[] = "/tmp/ve-kmodbench-XXXXXX";
	int periods = env ? atoi(env) : 50;
	int root_fd;

	if (periods < 5 || periods > 100000) {
		fprintf(stderr, "bench_kmod_daemon: VE_BENCH_PERIODS must be 5..100000\n");
		return 2;
	}
	if (env_batch)
		batch = (unsigned int)atoi(env_batch);
	if (batch < VE_BATCH_MIN || batch > VE_BATCH_MAX) {
		fprintf(stderr, "bench_kmod_daemon: VE_BENCH_BATCH must be %u..%u\n", VE_BATCH_MIN,
			VE_BATCH_MAX);
		return 2;
	}
	if (!mkdtemp(root) || (root_fd = open(root, O_RDONLY | O_DIRECTORY | O_CLOEXEC)) < 0)
		return 1;
	printf("kmod mode, the daemon's side: the module's samples over a loopback netlink socket, "
	       "10 Hz, %u records a message, %d periods per size; CPU of the daemon's thread, medians\n",
	       batch, periods);
	printf("%5s %7s %9s %9s %9s %9s %8s %9s\n", "VMs", "threads", "recv us", "read us", "core us",
	       "total us", "us/VM", "B/entry");
	for (int i = 0; i < (argc > 1 ? argc - 1 : (int)(sizeof(defaults) / sizeof(defaults[0]))); i++) {
		char *end = NULL;
		unsigned long n = argc > 1 ? strtoul(argv[i + 1], &end, 10) : defaults[i];

		if (n < 1 || n > 100000 || (end && *end)) {
			fprintf(stderr, "bench_kmod_daemon: VMs must be 1..100000, not '%s'\n", argv[i + 1]);
			return 2;
		}
		if (run((unsigned int)n, periods, root_fd) < 0)
			return 1;
	}
	close(root_fd);
	rmdir(root);
	return 0;
}
