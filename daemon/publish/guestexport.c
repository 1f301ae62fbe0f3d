// SPDX-License-Identifier: GPL-2.0-or-later
/*
 * guestexport.c: the per-VM export directory (see guestexport.h).
 */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <gio/gio.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "error.h"
#include "fileio.h"
#include "guestexport.h"

/*
 * Register r sits at byte 8·r.  /dev/cpu/N/msr takes the index itself as
 * the offset, but that works only because its read() calls rdmsr: in a
 * plain file MSR 0x610 would occupy bytes 0x610..0x617 and overlap 0x611.
 */
#define MSR_FILE_SIZE (8 * (VE_MSR_PP0_ENERGY_STATUS + 1))

static gboolean set_error(GError **error, int err, const char *uuid, const char *rel,
			  const char *what)
{
	g_set_error(error, VE_ERROR, ve_error_from_errno(err), "guest export %s/%s: %s: %s",
		    uuid, rel, what, g_strerror(err));
	return FALSE;
}

/*
 * What was last written to each file of each export, so that a file whose
 * content did not change is not written again, and the files that change
 * every period are written in place.
 *
 * Of a VM's files only the energies and the msr file change every period.
 * They were replaced atomically (a temporary file and a rename) like the
 * others, and on ext4 every replace allocates an inode: three per VM a
 * second were the daemon's largest cost at 1,000 VMs (issue 15).  They are
 * now created whole once, then held open and rewritten in place: the msr
 * file with one pwrite(2) over the registers that changed, an energy_uj
 * file with one pwrite(2) of its text (and an ftruncate(2) in the rare
 * period its text gets shorter, after a wrap).  The names, ranges, limit
 * and window seldom change and are still replaced atomically when they do.
 *
 * Per UUID.  An export made anew (removed with ve_guest_export_remove(), or
 * its files unlinked under us: the held msr file's link count drops to 0)
 * is written whole again; so is one whose write failed.
 */
#define CACHED_MAX 64
#define N_REGS 6
#define N_ZONES 3
#define ENERGY_TEXT_MAX 24

static const uint32_t regs[N_REGS] = { VE_MSR_RAPL_POWER_UNIT, VE_MSR_PKG_POWER_LIMIT,
				       VE_MSR_PKG_ENERGY_STATUS, VE_MSR_PKG_POWER_INFO,
				       VE_MSR_DRAM_ENERGY_STATUS, VE_MSR_PP0_ENERGY_STATUS };

struct held_text {
	int fd;                        /* -1: not created yet */
	size_t len;
	char text[ENERGY_TEXT_MAX];
};

struct written {
	GHashTable *files;             /* rel -> GBytes, the content last replaced */
	int msr_fd;                    /* -1: not created yet */
	uint64_t msr[N_REGS];          /* as last written, in regs[] order */
	struct held_text energy[N_ZONES];
};

static GHashTable *exports;      /* uuid -> struct written */
static uint64_t n_written, n_kept;

/* Forget everything written: the next write makes every file whole. */
static void written_reset(struct written *w)
{
	g_hash_table_remove_all(w->files);
	if (w->msr_fd >= 0)
		close(w->msr_fd);
	w->msr_fd = -1;
	for (size_t z = 0; z < N_ZONES; z++) {
		if (w->energy[z].fd >= 0)
			close(w->energy[z].fd);
		w->energy[z].fd = -1;
	}
}

static void written_free(gpointer p)
{
	struct written *w = p;

	written_reset(w);
	g_hash_table_destroy(w->files);
	g_free(w);
}

static struct written *written_for(const char *uuid)
{
	struct written *w;

	if (!exports)
		exports = g_hash_table_new_full(g_str_hash, g_str_equal, g_free, written_free);
	w = g_hash_table_lookup(exports, uuid);
	if (!w) {
		w = g_new0(struct written, 1);
		w->files = g_hash_table_new_full(g_str_hash, g_str_equal, g_free,
						 (GDestroyNotify)g_bytes_unref);
		w->msr_fd = -1;
		for (size_t z = 0; z < N_ZONES; z++)
			w->energy[z].fd = -1;
		g_hash_table_insert(exports, g_strdup(uuid), w);
	}
	return w;
}

void ve_guest_export_counts(uint64_t *ret_written, uint64_t *ret_kept)
{
	*ret_written = n_written;
	*ret_kept = n_kept;
}

/* Replace @rel under @dir_fd with @len bytes, atomically (not durably: rewritten every period). */
static gboolean put(int dir_fd, struct written *w, const char *uuid, const char *rel,
		    const void *data, size_t len, GError **error)
{
	g_autofree char *what = NULL;
	GBytes *last = len <= CACHED_MAX ? g_hash_table_lookup(w->files, rel) : NULL;
	const char *step;
	int r;

	if (last && g_bytes_get_size(last) == len && memcmp(g_bytes_get_data(last, NULL), data, len) == 0) {
		n_kept++;
		return TRUE;
	}
	/*
	 * Not written by this process yet (it restarted, the export was there):
	 * a read costs no inode, a replace does, so one that says the same
	 * is kept (a restart at 1,000 VMs replaced 8,000 files on ext4).
	 */
	if (!last && len <= CACHED_MAX) {
		char old[CACHED_MAX + 2];
		size_t old_len = 0;

		if (ve_read_file_at(dir_fd, rel, old, sizeof(old), &old_len) == 0 && old_len == len &&
		    memcmp(old, data, len) == 0) {
			g_hash_table_insert(w->files, g_strdup(rel), g_bytes_new(data, len));
			n_kept++;
			return TRUE;
		}
	}
	r = ve_write_file_atomic_at(dir_fd, rel, data, len, 0644, 0, &step);
	if (r == 0) {
		n_written++;
		if (len <= CACHED_MAX)
			g_hash_table_insert(w->files, g_strdup(rel), g_bytes_new(data, len));
		return TRUE;
	}
	g_hash_table_remove(w->files, rel);
	what = g_strdup_printf("%s the temporary file failed", step);
	return set_error(error, -r, uuid, rel, what);
}

static gboolean put_text(int dir_fd, struct written *w, const char *uuid, const char *rel,
			 const char *text, GError **error)
{
	return put(dir_fd, w, uuid, rel, text, strlen(text), error);
}

static gboolean put_u64(int dir_fd, struct written *w, const char *uuid, const char *rel, uint64_t v,
			GError **error)
{
	char buf[32];

	snprintf(buf, sizeof(buf), "%llu\n", (unsigned long long)v);
	return put_text(dir_fd, w, uuid, rel, buf, error);
}

/*
 * The regular file @rel as it is, to rewrite in place (a restart finds the
 * export there: adopting its files costs no inode), or -1 to make it anew.
 */
static int adopt(int dir_fd, const char *rel, size_t want_size)
{
	int fd = openat(dir_fd, rel, O_WRONLY | O_CLOEXEC | O_NOFOLLOW | O_NONBLOCK);
	struct stat st;

	if (fd < 0)
		return -1;
	if (fstat(fd, &st) < 0 || !S_ISREG(st.st_mode) ||
	    (want_size && (size_t)st.st_size != want_size)) {
		close(fd);
		return -1;
	}
	return fd;
}

/* Open @rel, just made whole, to rewrite it in place from now on. */
static int hold(int dir_fd, const char *uuid, const char *rel, GError **error)
{
	int fd = openat(dir_fd, rel, O_WRONLY | O_CLOEXEC | O_NOFOLLOW);

	if (fd < 0)
		set_error(error, errno, uuid, rel, "cannot open to update in place");
	return fd;
}

/* @len bytes at @off of the held @fd, written whole or failed. */
static gboolean rewrite(int fd, const char *uuid, const char *rel, const void *data, size_t len,
			off_t off, GError **error)
{
	ssize_t n = pwrite(fd, data, len, off);

	if (n == (ssize_t)len)
		return TRUE;
	return set_error(error, n < 0 ? errno : EIO, uuid, rel, "cannot update in place");
}

/* A zone's energy_uj: made whole the first time, rewritten in place after. */
static gboolean put_energy(int *dir_fd, int export_fd, struct written *w, size_t z,
			   const char *uuid, const char *rel, uint64_t energy_uj, GError **error)
{
	struct held_text *h = &w->energy[z];
	char buf[ENERGY_TEXT_MAX];
	int len = snprintf(buf, sizeof(buf), "%llu\n", (unsigned long long)energy_uj);

	if (h->fd >= 0 && (size_t)len == h->len && memcmp(buf, h->text, h->len) == 0) {
		n_kept++;
		return TRUE;
	}
	if (h->fd < 0) {
		if (*dir_fd < 0) {
			*dir_fd = openat(export_fd, uuid, O_RDONLY | O_DIRECTORY | O_CLOEXEC | O_NOFOLLOW);
			if (*dir_fd < 0)
				return set_error(error, errno, uuid, "", "cannot open directory");
		}
		h->fd = adopt(*dir_fd, rel, 0);
		if (h->fd >= 0) {
			/* its old length is not known: write, then cut to this one */
			if (!rewrite(h->fd, uuid, rel, buf, (size_t)len, 0, error))
				return FALSE;
			if (ftruncate(h->fd, len) < 0)
				return set_error(error, errno, uuid, rel, "cannot shorten in place");
		} else {
			const char *step;
			int r = ve_write_file_atomic_at(*dir_fd, rel, buf, (size_t)len, 0644, 0, &step);

			if (r < 0) {
				g_autofree char *what = g_strdup_printf("%s the temporary file failed", step);

				return set_error(error, -r, uuid, rel, what);
			}
			h->fd = hold(*dir_fd, uuid, rel, error);
			if (h->fd < 0)
				return FALSE;
		}
	} else {
		if (!rewrite(h->fd, uuid, rel, buf, (size_t)len, 0, error))
			return FALSE;
		if ((size_t)len < h->len && ftruncate(h->fd, len) < 0)
			return set_error(error, errno, uuid, rel, "cannot shorten in place");
	}
	memcpy(h->text, buf, (size_t)len);
	h->len = (size_t)len;
	n_written++;
	return TRUE;
}

/*
 * A failed mkdirat(2) costs a path walk and the parent's lock, a fifth of an
 * export's time on ext4 when made for every zone of every VM every second
 * (issue 15): a zone whose name file was written (and is remembered) has
 * its directory, until the export is made anew or a write fails, which
 * forgets everything.
 */
static gboolean mkdirs(int dir_fd, const struct written *w, const char *uuid, const char *rel,
		       GError **error)
{
	g_autofree char *name = g_strdup_printf("%s/name", rel);

	if (g_hash_table_contains(w->files, name))
		return TRUE;
	if (mkdirat(dir_fd, rel, 0755) < 0 && errno != EEXIST)
		return set_error(error, errno, uuid, rel, "cannot create directory");
	return TRUE;
}

/* A zone's name and wrap range, which seldom change (its energy: put_energy()). */
static gboolean zone(int dir_fd, struct written *w, const char *uuid, const char *zdir,
		     const char *name, const struct ve_vrapl *v, GError **error)
{
	g_autofree char *p_name = g_strdup_printf("%s/name", zdir);
	g_autofree char *p_range = g_strdup_printf("%s/max_energy_range_uj", zdir);
	uint64_t range_uj = (uint64_t)((UINT64_C(0xffffffff) * UINT64_C(1000000)) >> v->esu);

	return mkdirs(dir_fd, w, uuid, zdir, error) && put_text(dir_fd, w, uuid, p_name, name, error) &&
	       put_u64(dir_fd, w, uuid, p_range, range_uj, error);
}

/* The msr file: made whole the first time, then one pwrite over the registers that changed. */
static gboolean put_msr(int dir_fd, struct written *w, const char *uuid, const uint64_t *val,
			GError **error)
{
	static uint8_t msr[MSR_FILE_SIZE];   /* 14.8 KiB: not on the stack */
	size_t lo = N_REGS, hi = 0;

	if (w->msr_fd < 0) {
		memset(msr, 0, sizeof(msr));
		for (size_t i = 0; i < N_REGS; i++)
			memcpy(&msr[8 * regs[i]], &val[i], 8);   /* native endian, as /dev/cpu/N/msr */
		w->msr_fd = adopt(dir_fd, "msr", sizeof(msr));
		if (w->msr_fd >= 0) {
			if (!rewrite(w->msr_fd, uuid, "msr", msr, sizeof(msr), 0, error))
				return FALSE;
			n_written++;
		} else {
			if (!put(dir_fd, w, uuid, "msr", msr, sizeof(msr), error))
				return FALSE;
			w->msr_fd = hold(dir_fd, uuid, "msr", error);
			if (w->msr_fd < 0)
				return FALSE;
		}
		memcpy(w->msr, val, sizeof(w->msr));
		return TRUE;
	}
	for (size_t i = 0; i < N_REGS; i++) {
		if (val[i] != w->msr[i]) {
			lo = MIN(lo, i);
			hi = i;
		}
	}
	if (lo == N_REGS) {
		n_kept++;
		return TRUE;
	}
	/* regs[] ascend: the span from the first changed to the last, zeros between */
	{
		size_t first = regs[lo], len = 8 * (regs[hi] - first + 1);

		memset(msr, 0, len);
		for (size_t i = lo; i <= hi; i++)
			memcpy(&msr[8 * (regs[i] - first)], &val[i], 8);
		if (!rewrite(w->msr_fd, uuid, "msr", msr, len, (off_t)(8 * first), error))
			return FALSE;
	}
	memcpy(w->msr, val, sizeof(w->msr));
	n_written++;
	return TRUE;
}

/* The export directory, made when absent; -1 with @error. */
static int open_export(int export_fd, const char *uuid, GError **error)
{
	int fd = openat(export_fd, uuid, O_RDONLY | O_DIRECTORY | O_CLOEXEC | O_NOFOLLOW);

	if (fd < 0 && errno == ENOENT) {
		if (mkdirat(export_fd, uuid, 0755) < 0 && errno != EEXIST) {
			set_error(error, errno, uuid, "", "cannot create directory");
			return -1;
		}
		fd = openat(export_fd, uuid, O_RDONLY | O_DIRECTORY | O_CLOEXEC | O_NOFOLLOW);
	}
	if (fd < 0)
		set_error(error, errno, uuid, "", "cannot open directory");
	return fd;
}

/* Whether the held files are still the export's: its msr file not unlinked (removed by hand). */
static bool still_there(const struct written *w)
{
	struct stat st;

	return w->msr_fd >= 0 && fstat(w->msr_fd, &st) == 0 && st.st_nlink > 0;
}

gboolean ve_guest_export_write(int export_fd, const char *uuid, const struct ve_vrapl *v,
			       GError **error)
{
	static const char *const zdir[N_ZONES] = { "intel-rapl:0", "intel-rapl:0/intel-rapl:0:0",
						   "intel-rapl:0/intel-rapl:0:1" };
	static const char *const zname[N_ZONES] = { "package-0", "core", "dram" };
	static const uint32_t zmsr[N_ZONES] = { VE_MSR_PKG_ENERGY_STATUS, VE_MSR_PP0_ENERGY_STATUS,
						VE_MSR_DRAM_ENERGY_STATUS };
	uint64_t val[N_REGS];
	struct written *w;
	size_t n_zones = v->has_dram ? 3 : 2;
	gboolean ok = TRUE;
	bool steady;
	int fd = -1;

	if (!g_uuid_string_is_valid(uuid)) {
		g_set_error(error, VE_ERROR, VE_ERROR_INVALID,
			    "guest export: '%s' is not a UUID", uuid);
		return FALSE;
	}
	w = written_for(uuid);
	for (size_t i = 0; i < N_REGS; i++) {
		val[i] = 0;
		/* an absent register (no DRAM) reads as zero, as an unused MSR would */
		if (ve_vrapl_read(v, regs[i], &val[i]) == -ERANGE)
			val[i] = 0;
	}
	if (w->msr_fd >= 0 && !still_there(w))
		written_reset(w);
	/*
	 * In the steady state nothing but the energies and the msr file
	 * changed, and those are written through held fds: the directory is
	 * opened only when some other file is to be written.
	 */
	steady = w->msr_fd >= 0 && w->energy[0].fd >= 0 && w->energy[1].fd >= 0 &&
		 (!v->has_dram || w->energy[2].fd >= 0);
	if (steady) {
		char lim[32], win[32];
		const char *const rel[4] = { "intel-rapl:0/enabled", "intel-rapl:0/constraint_0_name",
					     "intel-rapl:0/constraint_0_power_limit_uw",
					     "intel-rapl:0/constraint_0_time_window_us" };
		const char *const want[4] = { v->limit_uw ? "1\n" : "0\n", "long_term\n", lim, win };

		snprintf(lim, sizeof(lim), "%llu\n", (unsigned long long)v->limit_uw);
		snprintf(win, sizeof(win), "%llu\n", (unsigned long long)v->window_us);
		for (size_t i = 0; i < 4 && steady; i++) {
			GBytes *last = g_hash_table_lookup(w->files, rel[i]);

			steady = last && g_bytes_get_size(last) == strlen(want[i]) &&
				 memcmp(g_bytes_get_data(last, NULL), want[i], strlen(want[i])) == 0;
		}
		/* those four, and each zone's name and range, are as they were */
		n_kept += steady ? 4 + 2 * n_zones : 0;
	}
	if (!steady) {
		fd = open_export(export_fd, uuid, error);
		if (fd < 0)
			return FALSE;
	}
	ok = put_msr(fd, w, uuid, val, error);
	for (size_t z = 0; ok && z < n_zones; z++) {
		g_autofree char *rel = g_strdup_printf("%s/energy_uj", zdir[z]);
		uint64_t status = 0;

		if (!steady) {
			ok = zone(fd, w, uuid, zdir[z], zname[z], v, error);
			if (ok && z == 0)
				ok = put_text(fd, w, uuid, "intel-rapl:0/enabled",
					      v->limit_uw ? "1\n" : "0\n", error) &&
				     put_text(fd, w, uuid, "intel-rapl:0/constraint_0_name",
					      "long_term\n", error) &&
				     put_u64(fd, w, uuid, "intel-rapl:0/constraint_0_power_limit_uw",
					     v->limit_uw, error) &&
				     put_u64(fd, w, uuid, "intel-rapl:0/constraint_0_time_window_us",
					     v->window_us, error);
		}
		if (ok && ve_vrapl_read(v, zmsr[z], &status) < 0)
			ok = set_error(error, EINVAL, uuid, zdir[z], "register");
		/* as the intel_rapl driver: the raw counter times the energy unit */
		if (ok)
			ok = put_energy(&fd, export_fd, w, z, uuid, rel,
					(uint64_t)((status * UINT64_C(1000000)) >> v->esu), error);
	}
	/* a failure (a directory removed under it?) writes it all anew next time */
	if (!ok)
		written_reset(w);
	if (fd >= 0)
		close(fd);
	return ok;
}

static int remove_tree(int dir_fd, const char *name)
{
	int fd = openat(dir_fd, name, O_RDONLY | O_DIRECTORY | O_CLOEXEC | O_NOFOLLOW);
	DIR *d;
	struct dirent *de;

	if (fd < 0)
		return errno == ENOTDIR ? unlinkat(dir_fd, name, 0) : -1;
	d = fdopendir(fd);
	if (!d) {
		close(fd);
		return -1;
	}
	while ((de = readdir(d))) {
		if (strcmp(de->d_name, ".") == 0 || strcmp(de->d_name, "..") == 0)
			continue;
		if (de->d_type == DT_DIR)
			remove_tree(fd, de->d_name);
		else
			unlinkat(fd, de->d_name, 0);
	}
	closedir(d);
	return unlinkat(dir_fd, name, AT_REMOVEDIR);
}

void ve_guest_export_forget(const char *uuid)
{
	if (exports)
		g_hash_table_remove(exports, uuid);
}

gboolean ve_guest_export_remove(int export_fd, const char *uuid, GError **error)
{
	if (!g_uuid_string_is_valid(uuid)) {
		g_set_error(error, VE_ERROR, VE_ERROR_INVALID,
			    "guest export: '%s' is not a UUID", uuid);
		return FALSE;
	}
	if (exports)
		g_hash_table_remove(exports, uuid);
	if (remove_tree(export_fd, uuid) < 0 && errno != ENOENT)
		return set_error(error, errno, uuid, "", "cannot remove");
	return TRUE;
}
