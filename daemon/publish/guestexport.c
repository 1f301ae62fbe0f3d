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
 * What was last written to each small file of each export, so that a file
 * whose content did not change is not replaced again: of a VM's files the
 * energies change every period, but the names, the wrap ranges, the limit
 * and its window seldom, and a rename per file per VM per second is what
 * made exports the daemon's biggest cost on ext4 (issue 15).  Per UUID,
 * with the inode of its directory: an export made anew (removed, or its
 * directory replaced) is written whole again.  Larger files (msr) change
 * every period and are always written.
 */
#define CACHED_MAX 64

struct written {
	ino_t dir_ino;
	GHashTable *files;       /* rel -> GBytes, the content last written */
};

static GHashTable *exports;      /* uuid -> struct written */
static uint64_t n_written, n_kept;

static void written_free(gpointer p)
{
	struct written *w = p;

	g_hash_table_destroy(w->files);
	g_free(w);
}

/* The record of @uuid's export whose directory is @ino, emptied when the directory is another. */
static struct written *written_for(const char *uuid, ino_t ino)
{
	struct written *w;

	if (!exports)
		exports = g_hash_table_new_full(g_str_hash, g_str_equal, g_free, written_free);
	w = g_hash_table_lookup(exports, uuid);
	if (!w) {
		w = g_new0(struct written, 1);
		w->files = g_hash_table_new_full(g_str_hash, g_str_equal, g_free,
						 (GDestroyNotify)g_bytes_unref);
		g_hash_table_insert(exports, g_strdup(uuid), w);
	} else if (w->dir_ino != ino) {
		g_hash_table_remove_all(w->files);
	}
	w->dir_ino = ino;
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
 * A failed mkdirat(2) costs a path walk and the parent's lock, a fifth of an
 * export's time on ext4 when made for every zone of every VM every second
 * (issue 15): a zone whose name file was written (and is remembered) has
 * its directory, until the export's directory is another (written_for())
 * or a write fails, which forgets everything.
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

/* A zone: energy from a status register, and its wrap range. */
static gboolean zone(int dir_fd, struct written *w, const char *uuid, const char *zdir,
		     const char *name, const struct ve_vrapl *v, uint32_t msr, GError **error)
{
	g_autofree char *p_name = g_strdup_printf("%s/name", zdir);
	g_autofree char *p_energy = g_strdup_printf("%s/energy_uj", zdir);
	g_autofree char *p_range = g_strdup_printf("%s/max_energy_range_uj", zdir);
	uint64_t status = 0, energy_uj, range_uj;

	if (ve_vrapl_read(v, msr, &status) < 0)
		return set_error(error, EINVAL, uuid, zdir, "register");
	/* as the intel_rapl driver: the raw counter times the energy unit */
	energy_uj = (uint64_t)((status * UINT64_C(1000000)) >> v->esu);
	range_uj = (uint64_t)((UINT64_C(0xffffffff) * UINT64_C(1000000)) >> v->esu);
	return mkdirs(dir_fd, w, uuid, zdir, error) && put_text(dir_fd, w, uuid, p_name, name, error) &&
	       put_u64(dir_fd, w, uuid, p_energy, energy_uj, error) &&
	       put_u64(dir_fd, w, uuid, p_range, range_uj, error);
}

gboolean ve_guest_export_write(int export_fd, const char *uuid, const struct ve_vrapl *v,
			       GError **error)
{
	static const uint32_t regs[] = { VE_MSR_RAPL_POWER_UNIT, VE_MSR_PKG_POWER_LIMIT,
					 VE_MSR_PKG_ENERGY_STATUS, VE_MSR_PKG_POWER_INFO,
					 VE_MSR_DRAM_ENERGY_STATUS, VE_MSR_PP0_ENERGY_STATUS };
	static uint8_t msr[MSR_FILE_SIZE];   /* 14.8 KiB: not on the stack */
	struct written *w;
	struct stat st;
	gboolean ok;
	int fd;

	if (!g_uuid_string_is_valid(uuid)) {
		g_set_error(error, VE_ERROR, VE_ERROR_INVALID,
			    "guest export: '%s' is not a UUID", uuid);
		return FALSE;
	}
	/* the directory is there but for the first write: open it, make it only when absent */
	fd = openat(export_fd, uuid, O_RDONLY | O_DIRECTORY | O_CLOEXEC | O_NOFOLLOW);
	if (fd < 0 && errno == ENOENT) {
		if (mkdirat(export_fd, uuid, 0755) < 0 && errno != EEXIST)
			return set_error(error, errno, uuid, "", "cannot create directory");
		fd = openat(export_fd, uuid, O_RDONLY | O_DIRECTORY | O_CLOEXEC | O_NOFOLLOW);
	}
	if (fd < 0)
		return set_error(error, errno, uuid, "", "cannot open directory");
	if (fstat(fd, &st) < 0) {
		set_error(error, errno, uuid, "", "cannot stat directory");
		close(fd);
		return FALSE;
	}
	w = written_for(uuid, st.st_ino);

	memset(msr, 0, sizeof(msr));
	for (size_t i = 0; i < G_N_ELEMENTS(regs); i++) {
		uint64_t val = 0;

		/* an absent register (no DRAM) reads as zero, as an unused MSR would */
		if (ve_vrapl_read(v, regs[i], &val) == -ERANGE)
			val = 0;
		memcpy(&msr[8 * regs[i]], &val, sizeof(val));   /* native endian, as /dev/cpu/N/msr */
	}
	ok = put(fd, w, uuid, "msr", msr, sizeof(msr), error) &&
	     zone(fd, w, uuid, "intel-rapl:0", "package-0", v, VE_MSR_PKG_ENERGY_STATUS, error) &&
	     put_text(fd, w, uuid, "intel-rapl:0/enabled", v->limit_uw ? "1\n" : "0\n", error) &&
	     put_text(fd, w, uuid, "intel-rapl:0/constraint_0_name", "long_term\n", error) &&
	     put_u64(fd, w, uuid, "intel-rapl:0/constraint_0_power_limit_uw", v->limit_uw, error) &&
	     put_u64(fd, w, uuid, "intel-rapl:0/constraint_0_time_window_us", v->window_us, error) &&
	     zone(fd, w, uuid, "intel-rapl:0/intel-rapl:0:0", "core", v, VE_MSR_PP0_ENERGY_STATUS,
		  error) &&
	     (!v->has_dram ||
	      zone(fd, w, uuid, "intel-rapl:0/intel-rapl:0:1", "dram", v, VE_MSR_DRAM_ENERGY_STATUS,
		   error));
	/* a failure (a directory removed under it?) writes it all anew next time */
	if (!ok)
		g_hash_table_remove_all(w->files);
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
