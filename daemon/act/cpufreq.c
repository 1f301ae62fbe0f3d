// SPDX-License-Identifier: GPL-2.0-or-later
/*
 * cpufreq.c: scaling_max_freq of CPUs dedicated to a limited VM (cpufreq.h).
 *
 * The record (held.h) has one group per VM keyed by UUID, with a key
 * cpuN=KHZ per CPU holding the scaling_max_freq found before the first
 * change; restoring a change that did not happen writes the value the CPU
 * already has.  The choice of frequency and of CPUs is core/freqplan.c.
 *
 * About 700 lines: one actuator whose every step is per CPU and checked
 * before anything is written (the plan), undone step by step when a later
 * CPU fails, and whose CPUs come from libvirt's pinning; split further it
 * would scatter one transaction over several files.
 *
 * Writing scaling_max_freq only lowers the policy's upper bound: the
 * governor still picks the frequency below it, and the kernel's QoS
 * aggregation keeps scaling_min_freq in force if it is higher, which is why
 * the floor respects it.  CPUs that share a policy (related_cpus) are
 * written each through their own cpuN link to the same policy; writing the
 * same value twice is harmless, and a VM only gets CPUs no other VM may use.
 */
#include <errno.h>
#include <fcntl.h>
#include <gio/gio.h>
#include <libvirt/virterror.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "error.h"
#include "cpufreq.h"
#include "freqplan.h"
#include "held.h"

#define RECORD "cpufreq"
#define CPUFREQ_DIR "sys/devices/system/cpu/cpu%u/cpufreq/"
/* no CPU runs at more than 100 GHz: anything above is a bad file */
#define KHZ_MAX UINT64_C(100000000)

struct held_cpu {
	unsigned int cpu;
	uint64_t orig_khz;       /* scaling_max_freq before we touched it */
	uint64_t applied_khz;    /* what we wrote last (0: nothing yet) */
};

struct held {
	char *name;
	GArray *cpus;            /* struct held_cpu */
	double ratio;            /* applied / ceiling, last set */
};

struct ve_cpufreq {
	struct ve_act_base base;   /* first: act.h */
	int root_fd;
};

G_STATIC_ASSERT(offsetof(struct ve_cpufreq, base) == 0);

static void held_free(void *p)
{
	struct held *h = p;

	g_free(h->name);
	g_array_unref(h->cpus);
	g_free(h);
}

static struct held *held_new(const char *name)
{
	struct held *h = g_new0(struct held, 1);

	h->name = g_strdup(name ? name : "");
	h->cpus = g_array_new(FALSE, TRUE, sizeof(struct held_cpu));
	return h;
}

/* ---- sysfs ---------------------------------------------------------------- */

/* Read @attr of @cpu's cpufreq directory into @buf: 0 or -errno. */
static int read_attr(int root_fd, unsigned int cpu, const char *attr, char *buf, size_t len)
{
	char rel[128];
	ssize_t r;
	size_t got = 0;
	int fd;

	snprintf(rel, sizeof(rel), CPUFREQ_DIR "%s", cpu, attr);
	fd = openat(root_fd, rel, O_RDONLY | O_CLOEXEC | O_NOFOLLOW);
	if (fd < 0)
		return -errno;
	while (got < len - 1) {
		r = read(fd, buf + got, len - 1 - got);
		if (r < 0 && errno == EINTR)
			continue;
		if (r < 0) {
			r = -errno;
			close(fd);
			return (int)r;
		}
		if (r == 0)
			break;
		got += (size_t)r;
	}
	close(fd);
	if (got == len - 1)
		return -EFBIG;
	buf[got] = '\0';
	return 0;
}

/* A strict kHz figure: digits, at most one trailing '\n', in (0, KHZ_MAX]. */
static int parse_khz(const char *s, size_t n, uint64_t *ret)
{
	uint64_t v = 0;

	if (n && s[n - 1] == '\n')
		n--;
	if (!n || n > 12)
		return -EINVAL;
	for (size_t i = 0; i < n; i++) {
		if (s[i] < '0' || s[i] > '9')
			return -EINVAL;
		v = v * 10 + (uint64_t)(s[i] - '0');
	}
	if (!v || v > KHZ_MAX)
		return -EINVAL;
	*ret = v;
	return 0;
}

static gboolean read_khz(int root_fd, unsigned int cpu, const char *attr, uint64_t *ret,
			 GError **error)
{
	char buf[32];
	int r = read_attr(root_fd, cpu, attr, buf, sizeof(buf));

	if (r == 0)
		r = parse_khz(buf, strlen(buf), ret);
	if (r < 0) {
		g_set_error(error, VE_ERROR, ve_error_from_errno(-r),
			    "cannot read " CPUFREQ_DIR "%s: %s", cpu, attr,
			    r == -EINVAL ? "not a frequency in kHz" : g_strerror(-r));
		return FALSE;
	}
	return TRUE;
}

static int cmp_u64(const void *x, const void *y)
{
	uint64_t a = *(const uint64_t *)x, b = *(const uint64_t *)y;

	return a < b ? -1 : a > b;
}

/*
 * scaling_available_frequencies: kHz values separated by blanks, usually
 * with a trailing blank and newline.  An absent file is no list (0
 * entries); a malformed one is an error.
 */
static gboolean read_available(int root_fd, unsigned int cpu, GArray *ret, GError **error)
{
	char buf[4096];
	g_auto(GStrv) tok = NULL;
	int r = read_attr(root_fd, cpu, "scaling_available_frequencies", buf, sizeof(buf));

	if (r == -ENOENT)
		return TRUE;
	if (r < 0) {
		g_set_error(error, VE_ERROR, ve_error_from_errno(-r),
			    "cannot read " CPUFREQ_DIR "scaling_available_frequencies: %s", cpu,
			    g_strerror(-r));
		return FALSE;
	}
	tok = g_strsplit_set(buf, " \t\n", -1);
	for (size_t i = 0; tok[i]; i++) {
		uint64_t v;

		if (!tok[i][0])
			continue;
		if (parse_khz(tok[i], strlen(tok[i]), &v) < 0) {
			g_set_error(error, VE_ERROR, VE_ERROR_INVALID,
				    CPUFREQ_DIR "scaling_available_frequencies: '%s' is not a frequency in kHz",
				    cpu, tok[i]);
			return FALSE;
		}
		g_array_append_val(ret, v);
	}
	g_array_sort(ret, cmp_u64);
	return TRUE;
}

static gboolean write_khz(int root_fd, unsigned int cpu, uint64_t khz, GError **error)
{
	char rel[128], val[32];
	int fd, n;
	ssize_t w;

	snprintf(rel, sizeof(rel), CPUFREQ_DIR "scaling_max_freq", cpu);
	n = snprintf(val, sizeof(val), "%" G_GUINT64_FORMAT "\n", khz);
	fd = openat(root_fd, rel, O_WRONLY | O_TRUNC | O_CLOEXEC | O_NOFOLLOW);
	if (fd < 0) {
		g_set_error(error, VE_ERROR, ve_error_from_errno(errno), "cannot open %s: %s", rel,
			    g_strerror(errno));
		return FALSE;
	}
	/* sysfs takes one write at offset 0; O_TRUNC (as a shell's '>') empties a fixture file */
	w = write(fd, val, (size_t)n);
	if (w != n) {
		int e = w < 0 ? errno : EIO;

		close(fd);
		g_set_error(error, VE_ERROR, ve_error_from_errno(e),
			    "cannot write %" G_GUINT64_FORMAT " to %s: %s", khz, rel, g_strerror(e));
		return FALSE;
	}
	close(fd);
	return TRUE;
}

/* ---- the record -------------------------------------------------------------- */

static bool held_save(GKeyFile *kf, const char *uuid, const void *rec)
{
	const struct held *h = rec;

	if (!h->cpus->len)
		return false;
	g_key_file_set_string(kf, uuid, "name", h->name);
	for (guint i = 0; i < h->cpus->len; i++) {
		const struct held_cpu *c = &g_array_index(h->cpus, struct held_cpu, i);
		char key[32];

		snprintf(key, sizeof(key), "cpu%u", c->cpu);
		g_key_file_set_uint64(kf, uuid, key, c->orig_khz);
	}
	return true;
}

/* Which VM holds @cpu (NULL: none); *ret_c gets its entry. */
static const char *holder(struct ve_cpufreq *a, unsigned int cpu, struct held_cpu **ret_c)
{
	const char *k;
	void *v;
	guint it = 0;

	while (ve_held_next(a->base.held, &it, &k, &v)) {
		struct held *h = v;

		for (guint i = 0; i < h->cpus->len; i++) {
			struct held_cpu *c = &g_array_index(h->cpus, struct held_cpu, i);

			if (c->cpu == cpu) {
				if (ret_c)
					*ret_c = c;
				return k;
			}
		}
	}
	return NULL;
}

/* A VM's record; a key that is not a CPU's, or a CPU another VM holds, is reported and skipped. */
static void *held_load(GKeyFile *kf, const char *uuid, void *ud, GString *report, GError **error)
{
	struct ve_cpufreq *a = ud;
	g_auto(GStrv) keys = g_key_file_get_keys(kf, uuid, NULL, NULL);
	g_autofree char *name = g_key_file_get_string(kf, uuid, "name", NULL);
	struct held *h;

	if (!g_uuid_string_is_valid(uuid)) {
		g_set_error(error, G_KEY_FILE_ERROR, G_KEY_FILE_ERROR_INVALID_VALUE, "not a UUID");
		return NULL;
	}
	h = held_new(name);
	for (size_t j = 0; keys && keys[j]; j++) {
		g_autofree char *val = NULL;
		struct held_cpu c = { 0 };
		guint64 cpu;

		if (strcmp(keys[j], "name") == 0)
			continue;
		val = g_key_file_get_value(kf, uuid, keys[j], NULL);
		if (!g_str_has_prefix(keys[j], "cpu") ||
		    !g_ascii_string_to_unsigned(keys[j] + 3, 10, 0, 65535, &cpu, NULL) || !val ||
		    parse_khz(val, strlen(val), &c.orig_khz) < 0 || holder(a, (unsigned int)cpu, NULL)) {
			if (report)
				g_string_append_printf(report, "bad cpufreq record %s=%s for '%s' in %s; ",
						       keys[j], val ? val : "", uuid, ve_held_path(a->base.held));
			continue;
		}
		c.cpu = (unsigned int)cpu;
		g_array_append_val(h->cpus, c);
	}
	return h;
}

static const struct ve_held_ops held_ops = {
	.comment = " CPU frequency caps virtenergyd applied, with the scaling_max_freq (kHz)\n"
		   " it found before.  The next start restores these if it did not exit cleanly.",
	.save = held_save,
	.load = held_load,
	.free = held_free,
};

/* ---- the actuator ------------------------------------------------------------ */

struct ve_cpufreq *ve_cpufreq_new(int root_fd, const char *state_dir, bool dry_run,
				  ve_act_log_fn log, void *ud, GString *report,
				  unsigned int *ret_restored)
{
	struct ve_cpufreq *a = g_new0(struct ve_cpufreq, 1);
	g_autoptr(GPtrArray) uuids = NULL;
	const char *k;
	void *v;
	guint it = 0;
	unsigned int restored = 0;

	a->root_fd = root_fd >= 0 ? fcntl(root_fd, F_DUPFD_CLOEXEC, 3) : -1;
	ve_act_base_init(&a->base, state_dir, RECORD, &held_ops, a, dry_run, log, ud);
	uuids = ve_held_load(a->base.held, "cpufreq", report);
	while (ve_held_next(a->base.held, &it, &k, &v))
		restored += ((struct held *)v)->cpus->len;
	for (guint i = 0; i < uuids->len; i++) {
		g_autoptr(GError) err = NULL;

		if (!ve_cpufreq_restore(a, g_ptr_array_index(uuids, i), &err) && report)
			g_string_append_printf(report, "%s; ", err->message);
	}
	/* what is still held could not be put back */
	it = 0;
	while (ve_held_next(a->base.held, &it, &k, &v))
		restored -= ((struct held *)v)->cpus->len;
	if (!uuids->len) {
		/* a record with nothing usable in it: it has been reported, drop it */
		g_autoptr(GError) err = NULL;

		if (!dry_run && !ve_held_save(a->base.held, &err) && report)
			g_string_append_printf(report, "%s; ", err->message);
	}
	if (ret_restored)
		*ret_restored = restored;
	return a;
}

void ve_cpufreq_free(struct ve_cpufreq *a)
{
	if (!a)
		return;
	if (a->root_fd >= 0)
		close(a->root_fd);
	ve_act_base_clear(&a->base);
	g_free(a);
}

double ve_cpufreq_current(struct ve_cpufreq *a, const char *uuid)
{
	struct held *h = a ? ve_held_get(a->base.held, uuid) : NULL;

	return h && h->cpus->len ? h->ratio : 0.0;
}

/* What one CPU can do, read and checked before anything is written. */
struct plan {
	unsigned int cpu;
	bool is_new;             /* not yet on record */
	uint64_t ceiling_khz, floor_khz, want_khz, before_khz;
};

static gboolean plan_cpu(struct ve_cpufreq *a, const char *uuid, unsigned int cpu, double u,
			 struct plan *p, GError **error)
{
	g_autoptr(GArray) avail = g_array_new(FALSE, FALSE, sizeof(uint64_t));
	struct held_cpu *c = NULL;
	const char *who = holder(a, cpu, &c);
	uint64_t cmin, cmax, smin = 0, cur;

	if (who && strcmp(who, uuid) != 0) {
		g_set_error(error, VE_ERROR, VE_ERROR_EXISTS,
			    "CPU %u is already held for VM %s", cpu, who);
		return FALSE;
	}
	if (!read_khz(a->root_fd, cpu, "cpuinfo_min_freq", &cmin, error) ||
	    !read_khz(a->root_fd, cpu, "cpuinfo_max_freq", &cmax, error) ||
	    !read_khz(a->root_fd, cpu, "scaling_max_freq", &cur, error) ||
	    !read_available(a->root_fd, cpu, avail, error))
		return FALSE;
	{
		g_autoptr(GError) e = NULL;

		/* optional: where it exists it must make sense */
		if (!read_khz(a->root_fd, cpu, "scaling_min_freq", &smin, &e) &&
		    !g_error_matches(e, VE_ERROR, VE_ERROR_NOT_FOUND)) {
			g_propagate_error(error, g_steal_pointer(&e));
			return FALSE;
		}
	}
	p->cpu = cpu;
	p->is_new = !c;
	p->before_khz = cur;
	p->ceiling_khz = c ? c->orig_khz : cur;
	if (cmin > cmax || p->ceiling_khz < cmin || p->ceiling_khz > cmax) {
		g_set_error(error, VE_ERROR, VE_ERROR_INVALID,
			    "CPU %u: scaling_max_freq %" G_GUINT64_FORMAT " kHz is outside cpuinfo_min_freq"
			    "..cpuinfo_max_freq %" G_GUINT64_FORMAT "..%" G_GUINT64_FORMAT " kHz",
			    cpu, p->ceiling_khz, cmin, cmax);
		return FALSE;
	}
	p->floor_khz = MIN(MAX(cmin, smin), p->ceiling_khz);
	p->want_khz = ve_freq_choose_khz(u, p->floor_khz, p->ceiling_khz,
					 (const uint64_t *)(void *)avail->data, avail->len);
	return TRUE;
}

static struct held_cpu *find_cpu(struct held *h, unsigned int cpu, guint *ret_i)
{
	for (guint i = 0; h && i < h->cpus->len; i++) {
		struct held_cpu *c = &g_array_index(h->cpus, struct held_cpu, i);

		if (c->cpu == cpu) {
			if (ret_i)
				*ret_i = i;
			return c;
		}
	}
	return NULL;
}

/* Write @cpu's original back (or say so in dry-run) and drop it from @h. */
static gboolean release_cpu(struct ve_cpufreq *a, const char *uuid, struct held *h, guint i,
			    GError **error)
{
	struct held_cpu c = g_array_index(h->cpus, struct held_cpu, i);

	if (a->base.dry_run)
		ve_act_say(a->base.log, a->base.ud, uuid, h->name, "dry run: would restore CPU %u scaling_max_freq=%" G_GUINT64_FORMAT " kHz",
		    c.cpu, c.orig_khz);
	else if (!write_khz(a->root_fd, c.cpu, c.orig_khz, error))
		return FALSE;
	g_array_remove_index(h->cpus, i);
	return TRUE;
}

gboolean ve_cpufreq_set(struct ve_cpufreq *a, const char *uuid, const char *name,
			const unsigned int *cpus, size_t n, double u, double *ret_ratio,
			GError **error)
{
	g_autofree struct plan *plan = NULL;
	struct held *h = ve_held_get(a->base.held, uuid);
	bool created = false, recorded = false;
	double ratio = 0.0;
	size_t written = 0;

	if (!(u > 0.0 && u <= 1.0) || !n || !cpus) {
		g_set_error(error, VE_ERROR, VE_ERROR_INVALID,
			    "frequency fraction %g for %zu CPU(s): need 0 < u <= 1 and at least one CPU", u, n);
		return FALSE;
	}
	if (a->root_fd < 0) {
		g_set_error(error, VE_ERROR, VE_ERROR_UNSUPPORTED, "no sysfs root for cpufreq");
		return FALSE;
	}
	plan = g_new0(struct plan, n);
	for (size_t i = 0; i < n; i++) {
		for (size_t j = 0; j < i; j++) {
			if (cpus[j] == cpus[i]) {
				g_set_error(error, VE_ERROR, VE_ERROR_INVALID,
					    "CPU %u given twice", cpus[i]);
				return FALSE;
			}
		}
		if (!plan_cpu(a, uuid, cpus[i], u, &plan[i], error))
			return FALSE;
		ratio = MAX(ratio, (double)plan[i].want_khz / (double)plan[i].ceiling_khz);
	}

	/* record first: a change is never made without its original on record */
	if (!h) {
		h = held_new(name);
		ve_held_put(a->base.held, uuid, h);
		created = true;
	}
	for (size_t i = 0; i < n; i++) {
		if (plan[i].is_new) {
			struct held_cpu c = { .cpu = plan[i].cpu, .orig_khz = plan[i].ceiling_khz };

			g_array_append_val(h->cpus, c);
			recorded = true;
			if (a->base.dry_run)
				ve_act_say(a->base.log, a->base.ud, uuid, h->name, "dry run: would record CPU %u scaling_max_freq=%" G_GUINT64_FORMAT " kHz",
				    c.cpu, c.orig_khz);
		}
	}
	if (recorded && !a->base.dry_run && !ve_held_save(a->base.held, error))
		goto undo_record;

	for (written = 0; written < n; written++) {
		struct plan *p = &plan[written];
		struct held_cpu *c = find_cpu(h, p->cpu, NULL);

		if (c->applied_khz == p->want_khz && p->before_khz == p->want_khz)
			continue;
		if (a->base.dry_run)
			ve_act_say(a->base.log, a->base.ud, uuid, h->name, "dry run: would set CPU %u scaling_max_freq=%" G_GUINT64_FORMAT
			    " kHz (%.0f %% of %" G_GUINT64_FORMAT ")", p->cpu, p->want_khz,
			    100.0 * (double)p->want_khz / (double)p->ceiling_khz, p->ceiling_khz);
		else if (!write_khz(a->root_fd, p->cpu, p->want_khz, error))
			goto undo_writes;
	}
	for (size_t i = 0; i < n; i++)
		find_cpu(h, plan[i].cpu, NULL)->applied_khz = plan[i].want_khz;
	h->ratio = ratio;
	g_free(h->name);
	h->name = g_strdup(name ? name : "");

	/* CPUs no longer the VM's own go back now */
	for (guint i = h->cpus->len; i-- > 0;) {
		struct held_cpu *c = &g_array_index(h->cpus, struct held_cpu, i);
		bool keep = false;
		g_autoptr(GError) e = NULL;

		for (size_t j = 0; j < n && !keep; j++)
			keep = cpus[j] == c->cpu;
		if (!keep && release_cpu(a, uuid, h, i, &e))
			recorded = true;
		else if (!keep)
			ve_act_say(a->base.log, a->base.ud, uuid, h->name, "%s; kept on record for a later try", e->message);
	}
	if (recorded && !a->base.dry_run) {
		g_autoptr(GError) e = NULL;

		if (!ve_held_save(a->base.held, &e))
			ve_act_say(a->base.log, a->base.ud, uuid, h->name, "%s", e->message);
	}
	if (ret_ratio)
		*ret_ratio = ratio;
	return TRUE;

undo_writes:
	/* put back what this call wrote, then forget what it recorded */
	while (written-- > 0) {
		if (plan[written].before_khz != plan[written].want_khz)
			write_khz(a->root_fd, plan[written].cpu, plan[written].before_khz, NULL);
	}
undo_record:
	for (size_t i = 0; i < n; i++) {
		guint idx;

		if (plan[i].is_new && find_cpu(h, plan[i].cpu, &idx))
			g_array_remove_index(h->cpus, idx);
	}
	if (created && !h->cpus->len)
		ve_held_remove(a->base.held, uuid);
	if (recorded && !a->base.dry_run)
		ve_held_save(a->base.held, NULL);
	return FALSE;
}

gboolean ve_cpufreq_restore(struct ve_cpufreq *a, const char *uuid, GError **error)
{
	struct held *h = a ? ve_held_get(a->base.held, uuid) : NULL;
	g_autoptr(GError) first = NULL;

	if (!h)
		return TRUE;
	if (a->root_fd < 0) {
		g_set_error(error, VE_ERROR, VE_ERROR_UNSUPPORTED,
			    "no sysfs root: CPU frequency of VM '%s' kept on record for later", h->name);
		return FALSE;
	}
	for (guint i = h->cpus->len; i-- > 0;) {
		g_autoptr(GError) e = NULL;

		if (!release_cpu(a, uuid, h, i, &e) && !first)
			first = g_steal_pointer(&e);
	}
	if (!h->cpus->len)
		ve_held_remove(a->base.held, uuid);
	if (!a->base.dry_run && !ve_held_save(a->base.held, first ? NULL : &first)) {
		g_propagate_error(error, g_steal_pointer(&first));
		return FALSE;
	}
	if (first) {
		g_propagate_prefixed_error(error, g_steal_pointer(&first),
					   "cannot restore CPU frequency: ");
		return FALSE;
	}
	return TRUE;
}

/* ---- which CPUs are the VM's own --------------------------------------------- */

/* OR every vCPU (and with @all, emulator and iothread) map of @dom into @map. */
static gboolean union_maps(virDomainPtr dom, bool all, unsigned char *map, size_t maplen,
			   GError **error)
{
	virDomainInfo info;
	g_autofree unsigned char *maps = NULL;
	int n;

	if (virDomainGetInfo(dom, &info) < 0 || !info.nrVirtCpu) {
		g_set_error(error, VE_ERROR, VE_ERROR_FAILED, "cannot read domain '%s': %s",
			    virDomainGetName(dom), ve_act_virt_error());
		return FALSE;
	}
	maps = g_new0(unsigned char, (size_t)info.nrVirtCpu * maplen);
	n = virDomainGetVcpuPinInfo(dom, info.nrVirtCpu, maps, (int)maplen, VIR_DOMAIN_AFFECT_LIVE);
	if (n < 0) {
		g_set_error(error, VE_ERROR, VE_ERROR_FAILED,
			    "cannot read the vCPU pinning of '%s': %s", virDomainGetName(dom), ve_act_virt_error());
		return FALSE;
	}
	for (int v = 0; v < n; v++)
		for (size_t b = 0; b < maplen; b++)
			map[b] |= maps[(size_t)v * maplen + b];
	if (all) {
		g_autofree unsigned char *emu = g_new0(unsigned char, maplen);
		virDomainIOThreadInfoPtr *io = NULL;
		int nio;

		/* a domain whose emulator pinning cannot be read may run anywhere */
		if (virDomainGetEmulatorPinInfo(dom, emu, (int)maplen, VIR_DOMAIN_AFFECT_LIVE) < 0)
			memset(emu, 0xff, maplen);
		for (size_t b = 0; b < maplen; b++)
			map[b] |= emu[b];
		nio = virDomainGetIOThreadInfo(dom, &io, VIR_DOMAIN_AFFECT_LIVE);
		for (int i = 0; i < nio; i++) {
			for (size_t b = 0; b < maplen && b < (size_t)io[i]->cpumaplen; b++)
				map[b] |= io[i]->cpumap[b];
			virDomainIOThreadInfoFree(io[i]);
		}
		free(io);
	}
	return TRUE;
}

gboolean ve_cpufreq_dedicated_cpus(virConnectPtr conn, virDomainPtr dom, unsigned int **ret_cpus,
				   size_t *ret_n, GError **error)
{
	char uuid[VIR_UUID_STRING_BUFLEN];
	virDomainPtr *doms = NULL;
	g_autofree unsigned char *own = NULL, *others = NULL;
	g_autofree unsigned int *cpus = NULL;
	int host_cpus = virNodeGetCPUMap(conn, NULL, NULL, 0);
	size_t maplen;
	int nd;
	gboolean ok = TRUE;

	if (host_cpus <= 0 || virDomainGetUUIDString(dom, uuid) < 0) {
		g_set_error(error, VE_ERROR, VE_ERROR_FAILED, "cannot count host CPUs: %s",
			    ve_act_virt_error());
		return FALSE;
	}
	maplen = VIR_CPU_MAPLEN(host_cpus);
	own = g_new0(unsigned char, maplen);
	others = g_new0(unsigned char, maplen);
	if (!union_maps(dom, false, own, maplen, error))
		return FALSE;
	nd = virConnectListAllDomains(conn, &doms, VIR_CONNECT_LIST_DOMAINS_ACTIVE);
	if (nd < 0) {
		g_set_error(error, VE_ERROR, VE_ERROR_FAILED, "cannot list domains: %s", ve_act_virt_error());
		return FALSE;
	}
	for (int i = 0; i < nd; i++) {
		char other[VIR_UUID_STRING_BUFLEN];

		if (ok && virDomainGetUUIDString(doms[i], other) == 0 && strcmp(other, uuid) != 0 &&
		    !union_maps(doms[i], true, others, maplen, error))
			ok = FALSE;
		virDomainFree(doms[i]);
	}
	free(doms);
	if (!ok)
		return FALSE;
	cpus = g_new0(unsigned int, (size_t)host_cpus);
	*ret_n = ve_freq_dedicated_cpus(own, others, maplen, (size_t)host_cpus, cpus, (size_t)host_cpus);
	*ret_cpus = g_steal_pointer(&cpus);
	return TRUE;
}

/* ---- act.h's interface ------------------------------------------------- */

static gboolean act_set(void *impl, const struct ve_act_target *t, double value, double *ret_applied,
			GError **error)
{
	return ve_cpufreq_set(impl, t->key, t->name, t->cpus, t->n_cpus, value, ret_applied, error);
}

static gboolean act_restore(void *impl, const struct ve_act_target *t, GError **error)
{
	return ve_cpufreq_restore(impl, t->key, error);
}

static const struct ve_actuator_ops ops = {
	.what = "CPU frequency",
	.left = "its CPUs stay slowed",
	.set = act_set,
	.current = (double (*)(void *, const char *))ve_cpufreq_current,
	.restore = act_restore,
	.record = "cpufreq",
	.free = (void (*)(void *))ve_cpufreq_free,
};

struct ve_actuator ve_cpufreq_actuator(struct ve_cpufreq *a)
{
	return (struct ve_actuator){ &ops, a };
}
