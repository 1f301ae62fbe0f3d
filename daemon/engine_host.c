// SPDX-License-Identifier: GPL-2.0-or-later
/*
 * engine_host.c: the host's devices for the engine (see engine_int.h).
 */
#include <errno.h>
#include <gio/gio.h>
#include <stdio.h>
#include <string.h>
#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include "blockdev.h"
#include "calib.h"
#include "cgroup.h"
#include "cpustat.h"
#include "diskstats.h"
#include "fileio.h"
#include "budget.h"
#include "engine.h"
#include "powercap.h"
#include "procfs.h"
#include "sampler.h"
#include "statefile.h"
#include "threadmap.h"
#include "engine_int.h"

/* ---- sensing --------------------------------------------------------- */

/*
 * intel-rapl:N numbers packages in the order the driver registered them;
 * the physical package id, which the CPU topology uses, is K of the
 * top-level zone's name "package-K".  Fall back to N.
 */
static unsigned int physical_package(const struct ve_powercap *pc, unsigned int n)
{
	for (size_t z = 0; z < ve_powercap_n_zones(pc); z++) {
		const struct ve_powercap_zone *zone = ve_powercap_zone(pc, z);
		unsigned int k;

		if (zone->kind == VE_RAPL_PACKAGE && zone->subzone < 0 && zone->package == n &&
		    sscanf(zone->name, "package-%u", &k) == 1 && k < VE_MAX_SOCKETS)
			return k;
	}
	return n;
}

void engine_setup_devices(struct ve_engine *e)
{
	const struct ve_config *c = e->cfg;
	const char *names[VE_MAX_EVENTS];
	unsigned int n = e->sampler->n_cols;

	for (unsigned int i = 0; i < n; i++)
		names[i] = e->sampler->col_name[i];
	e->n_dev = 0;
	if (e->pc) {
		size_t zones = ve_powercap_n_zones(e->pc);

		for (size_t z = 0; z < zones && e->n_dev < G_N_ELEMENTS(e->dev); z++) {
			const struct ve_powercap_zone *zone = ve_powercap_zone(e->pc, z);
			struct ve_device *d = &e->dev[e->n_dev];

			/* core and uncore are inside the package; psys spans more than the CPU */
			if (zone->kind != VE_RAPL_PACKAGE && zone->kind != VE_RAPL_DRAM)
				continue;
			memset(d, 0, sizeof(*d));
			d->kind = zone->kind == VE_RAPL_DRAM ? VE_DEV_DRAM : VE_DEV_PKG;
			d->package = physical_package(e->pc, zone->package);
			d->measured = true;
			/* defaults rank threads until calibration fits the weights */
			ve_cpu_model_defaults(&d->cpu, d->kind == VE_DEV_DRAM ? VE_DOMAIN_DRAM : VE_DOMAIN_PKG,
					      names, n,
					      d->kind == VE_DEV_DRAM ? c->host_idle_power_uw / 8
								     : c->host_idle_power_uw);
			e->calib[e->n_dev] = ve_calib_window_new(n, c->calib_window_periods);
			e->n_dev++;
		}
		snprintf(e->sensor, sizeof(e->sensor), "RAPL (powercap), %zu domains", e->n_dev);
		e->estimated = false;
		return;
	}
	/*
	 * The host power model: per socket, idle power plus (max - idle) shared
	 * linearly by busy CPU time, i.e. (max - idle) / CPUs per busy ns.
	 * µW per CPU / 1000 = pJ per ns.  With per-CPU figures, a socket's idle
	 * and maximum are those times its CPUs.  Where cpufreq is present the
	 * weight follows the socket's frequency each period (scale_by_freq).
	 */
	for (unsigned int s = 0; s < e->stat.n_sockets && s < VE_MAX_SOCKETS; s++) {
		struct ve_device *d = &e->dev[e->n_dev++];
		unsigned int cpus = e->stat.cpus_per_socket[s] ? e->stat.cpus_per_socket[s] : 1;
		uint64_t idle = c->cpu_max_power_uw ? c->cpu_idle_power_uw * cpus : c->host_idle_power_uw;
		uint64_t max = c->cpu_max_power_uw ? c->cpu_max_power_uw * cpus : c->host_max_power_uw;

		memset(d, 0, sizeof(*d));
		d->kind = VE_DEV_PKG;
		d->package = s;
		d->measured = false;
		d->cpu.n_events = n;
		e->busy_weight_pj[s] = (double)(max - idle) / cpus / 1000.0;
		d->cpu.weight_pj[VE_SAMPLER_COL_RUN_NS] = e->busy_weight_pj[s];
		d->cpu.idle_power_uw = idle;
	}
	if (c->cpu_max_power_uw)
		snprintf(e->sensor, sizeof(e->sensor), "host power model (%.1f-%.1f W per CPU), estimated",
			 (double)c->cpu_idle_power_uw / 1e6, (double)c->cpu_max_power_uw / 1e6);
	else
		snprintf(e->sensor, sizeof(e->sensor), "host power model (%.0f-%.0f W per socket), estimated",
			 (double)c->host_idle_power_uw / 1e6, (double)c->host_max_power_uw / 1e6);
	e->estimated = true;
}

/*
 * Disks have no energy sensor: each is modelled (model.h) by a profile that
 * follows from what sysfs says it is, NVMe, rotational or not.
 */
void engine_setup_disks(struct ve_engine *e)
{
	e->first_disk = e->n_dev;
	if (ve_disks_scan(e->root_fd, &e->disks) < 0)
		return;   /* no disks known: CPU accounting goes on */
	for (size_t i = 0; i < e->disks.n && i < MAX_DISKS && e->n_dev < MAX_DEV; i++) {
		struct ve_device *d = &e->dev[e->n_dev++];
		const char *profile = ve_disk_model_profile_for(e->disks.disk[i].name,
								e->disks.disk[i].rotational);

		memset(d, 0, sizeof(*d));
		d->kind = VE_DEV_DISK;
		ve_disk_model_profile(profile, &d->disk);
	}
}

/*
 * Fit each measured device's weights to its sensor over the sliding window
 * (calib.h).  The window's rows are the period's event totals of the
 * threads that ran on the device's socket.  A fit is tried every ten
 * periods; a refused one (too few periods, events that cannot be told
 * apart) keeps the weights in use.
 */
void engine_calibrate(struct ve_engine *e, uint64_t period_us)
{
	const struct ve_thread_sample *s = (const struct ve_thread_sample *)(void *)e->samples->data;

	for (size_t d = 0; d < e->n_dev; d++) {
		struct ve_calib_result fit;
		uint64_t totals[VE_MAX_EVENTS] = { 0 };

		if (!e->calib[d] || !e->dev[d].measured)
			continue;
		for (guint i = 0; i < e->samples->len; i++)
			if (s[i].package == e->dev[d].package)
				for (unsigned int c = 0; c < e->dev[d].cpu.n_events; c++)
					totals[c] += s[i].delta[c];
		ve_calib_window_push(e->calib[d], totals, period_us, (uint64_t)e->dev[d].measured_uj);
		if (e->ledger.periods % 10 == 0 &&
		    ve_calib_fit(e->calib[d], VE_CALIB_MAX_CONDITION, &fit) == 0 &&
		    ve_calib_apply(&fit, &e->dev[d].cpu) == 0)
			e->calib_fits++;
	}
}

void engine_io_init(struct io_src *io)
{
	io->rel[0] = 0;
	io->v2 = false;
	io->cg_id = 0;
	io->files = (struct ve_blkio_files)VE_BLKIO_FILES_INIT;
	io->prev = g_array_new(FALSE, TRUE, sizeof(struct blkio_prev));
}

void engine_io_free(struct ve_engine *e, struct io_src *io)
{
	engine_io_unwatch(e, io);
	ve_blkio_files_close(&io->files);
	g_array_free(io->prev, TRUE);
}

void engine_io_watch(struct ve_engine *e, struct io_src *io, const char *rel, bool v2)
{
	struct stat st;

	if (strcmp(io->rel, rel) != 0 || io->v2 != v2) {
		engine_io_unwatch(e, io);   /* its files too */
		g_strlcpy(io->rel, rel, sizeof(io->rel));
		io->v2 = v2;
	}
	if (io->cg_id || !e->sampler || !e->sampler->counts_io || !io->rel[0] ||
	    fstatat(e->root_fd, io->rel, &st, 0) < 0)
		return;
	/* a cgroup's id is the inode of its directory (kernfs) */
	if (e->sampler->ops->watch_cgroup(e->sampler, (uint64_t)st.st_ino) == 0)
		io->cg_id = (uint64_t)st.st_ino;
}

void engine_io_unwatch(struct ve_engine *e, struct io_src *io)
{
	ve_blkio_files_close(&io->files);
	if (!io->cg_id)
		return;
	if (e->sampler && e->sampler->ops->unwatch_cgroup)
		e->sampler->ops->unwatch_cgroup(e->sampler, io->cg_id);
	io->cg_id = 0;
}

/*
 * Count @ios and @bytes of account @slot on disk @disk (an index in
 * e->disks), if the engine models it.  @bios: the count is of bios (cgroup
 * statistics), not of requests as diskstats and the module count them (see
 * below).
 */
static void add_io(struct ve_engine *e, uint32_t slot, int disk, uint64_t ios, uint64_t bytes,
		   bool bios, uint64_t *vm_ios, uint64_t *vm_bytes)
{
	struct ve_io_sample s = { .account = slot, .comp = VE_COMP_DISK, .ops = ios, .bytes = bytes };
	guint at = e->io->len;

	if (disk < 0 || (size_t)disk >= MAX_DISKS || e->first_disk + (size_t)disk >= e->n_dev ||
	    (!ios && !bytes))
		return;
	s.device = (uint32_t)(e->first_disk + (size_t)disk);
	vm_ios[disk] += ios;
	vm_bytes[disk] += bytes;
	g_array_append_val(e->io, s);
	if (bios)
		g_array_append_val(e->io_bios, at);
}

/*
 * The cgroups' io.stat counts bios, diskstats requests (the block layer
 * splits and merges bios into requests), so the two cannot be taken one
 * from the other.  Where a VM's count is of bios, its requests are taken
 * to be the disk's of the period in proportion to its bytes; the module
 * counts requests and needs none of this.
 */
static void bios_to_requests(struct ve_engine *e, int disk, uint64_t disk_ios, uint64_t disk_bytes,
			     uint64_t *vm_ios)
{
	uint32_t device = (uint32_t)(e->first_disk + (size_t)disk);

	for (guint k = 0; k < e->io_bios->len; k++) {
		struct ve_io_sample *s = &g_array_index(e->io, struct ve_io_sample,
						       g_array_index(e->io_bios, guint, k));
		uint64_t ops;

		if (s->device != device)
			continue;
		ops = disk_bytes ? (uint64_t)((double)s->bytes * (double)disk_ios / (double)disk_bytes
					      + 0.5) : 0;
		vm_ios[disk] = vm_ios[disk] - s->ops + ops;
		s->ops = ops;
	}
}

/*
 * An account's block I/O of the period from the module, per device; false
 * when the module does not count it (any more), and the cgroup statistics
 * are to be read instead.
 */
static bool sample_io_module(struct ve_engine *e, struct io_src *io, uint32_t slot, uint64_t *ios,
			     uint64_t *bytes)
{
	struct ve_sampler_io dev[VE_SAMPLER_IO_DEVS];
	int n;

	if (!io->cg_id)
		return false;
	n = e->sampler->ops->read_cgroup(e->sampler, io->cg_id, dev);
	if (n < 0) {
		engine_io_unwatch(e, io);     /* the module went away: cgroup statistics */
		return false;
	}
	for (int i = 0; i < n; i++)
		add_io(e, slot, ve_disks_find(&e->disks, dev[i].major, dev[i].minor), dev[i].ops,
		       dev[i].bytes, false, ios, bytes);
	return true;
}

void engine_sample_io(struct ve_engine *e, struct io_src *io, uint32_t slot, uint64_t *acct_ios,
		      uint64_t *acct_bytes)
{
	struct ve_blkio_dev *dev = NULL;
	size_t n = 0;

	if (sample_io_module(e, io, slot, acct_ios, acct_bytes))
		return;
	if (!io->rel[0] || ve_blkio_files_read(&io->files, e->root_fd, io->v2 ? NULL : io->rel,
					       io->v2 ? io->rel : NULL, &dev, &n) < 0)
		return;
	for (size_t i = 0; i < n; i++) {
		int disk = ve_disks_find(&e->disks, dev[i].major, dev[i].minor);
		uint64_t ios = dev[i].rios + dev[i].wios, bytes = dev[i].rbytes + dev[i].wbytes;
		struct blkio_prev *p = NULL;

		if (disk < 0 || (size_t)disk >= MAX_DISKS || e->first_disk + (size_t)disk >= e->n_dev)
			continue;
		for (guint k = 0; k < io->prev->len && !p; k++) {
			struct blkio_prev *q = &g_array_index(io->prev, struct blkio_prev, k);

			if (q->major == dev[i].major && q->minor == dev[i].minor)
				p = q;
		}
		if (!p) {
			/* first sight: what it did before is not this period's */
			struct blkio_prev np = { dev[i].major, dev[i].minor, ios, bytes };

			g_array_append_val(io->prev, np);
			continue;
		}
		if (ios >= p->ios && bytes >= p->bytes)
			add_io(e, slot, disk, ios - p->ios, bytes - p->bytes, true, acct_ios, acct_bytes);
		p->ios = ios;
		p->bytes = bytes;
	}
	free(dev);
}

/*
 * Disk activity: busy time and totals per disk from diskstats, each VM's
 * and each service's share from its cgroup, and what none of them issued
 * as the host's own.
 */
/*
 * A VM's block I/O statistics count bios when they are submitted, by the
 * thread that submits them (blkio v1 and io.stat alike), so while none of
 * its threads ran they cannot have moved, save for page-cache writeback,
 * which cgroup v2 charges to the cgroup whose pages it writes.  Reading
 * them anyway was a quarter of the daemon's time at 1,000 idle VMs (two
 * pread(2)s per VM per period, issue 15): a VM none of whose threads ran
 * is read at least this often, so what writeback did is counted within
 * it, and nothing is lost, only counted in a later period.
 */
#define IO_IDLE_READ_US 1000000u

void engine_sample_disks(struct ve_engine *e, uint64_t now_us)
{
	uint64_t vm_ios[MAX_DISKS] = { 0 }, vm_bytes[MAX_DISKS] = { 0 };
	struct ve_diskstat *st = NULL;
	size_t n = 0;

	g_array_set_size(e->io, 0);
	g_array_set_size(e->io_bios, 0);
	if (e->first_disk >= e->n_dev)
		return;
	for (guint i = 0; i < e->vms->len; i++) {
		struct vm *vm = g_ptr_array_index(e->vms, i);

		if (!vm->running || !vm->located)
			continue;
		if (!vm->ran && !vm->io.cg_id && now_us - vm->io_read_us < IO_IDLE_READ_US)
			continue;
		vm->io_read_us = now_us;
		engine_sample_io(e, &vm->io, vm->slot, vm_ios, vm_bytes);
	}
	engine_sample_services_io(e, vm_ios, vm_bytes);
	if (ve_read_diskstats(e->root_fd, &st, &n) < 0)
		return;
	for (size_t i = 0; i < n; i++) {
		int disk = ve_disks_find(&e->disks, st[i].major, st[i].minor);
		struct disk_prev *p;
		uint64_t ios, bytes;
		struct ve_device *dev;

		/* partitions repeat their disk's I/O in diskstats: count disks only */
		if (disk < 0 || (size_t)disk >= MAX_DISKS || e->disks.disk[disk].major != st[i].major ||
		    e->disks.disk[disk].minor != st[i].minor || e->first_disk + (size_t)disk >= e->n_dev)
			continue;
		p = &e->disk_prev[disk];
		dev = &e->dev[e->first_disk + (size_t)disk];
		ios = st[i].reads + st[i].writes;
		bytes = (st[i].read_sectors + st[i].write_sectors) * VE_DISKSTAT_SECTOR_BYTES;
		if (p->primed && ios >= p->ios && bytes >= p->bytes && st[i].io_ticks_ms >= p->ticks_ms) {
			struct ve_io_sample hs = { .account = VE_ACCOUNT_HOST,
						   .device = (uint32_t)(e->first_disk + (size_t)disk),
						   .comp = VE_COMP_DISK };
			uint64_t own_ios, own_bytes;

			dev->busy_us = (st[i].io_ticks_ms - p->ticks_ms) * 1000;
			bios_to_requests(e, disk, ios - p->ios, bytes - p->bytes, vm_ios);
			p->disk_ios += ios - p->ios;
			p->disk_bytes += bytes - p->bytes;
			p->vm_ios += vm_ios[disk];
			p->vm_bytes += vm_bytes[disk];
			/* the host's own so far, less what it was given already */
			own_ios = p->disk_ios > p->vm_ios ? p->disk_ios - p->vm_ios : 0;
			own_bytes = p->disk_bytes > p->vm_bytes ? p->disk_bytes - p->vm_bytes : 0;
			hs.ops = own_ios > p->host_ios ? own_ios - p->host_ios : 0;
			hs.bytes = own_bytes > p->host_bytes ? own_bytes - p->host_bytes : 0;
			p->host_ios += hs.ops;
			p->host_bytes += hs.bytes;
			if (hs.ops || hs.bytes)
				g_array_append_val(e->io, hs);
		} else {
			dev->busy_us = 0;
		}
		p->primed = true;
		p->ios = ios;
		p->bytes = bytes;
		p->ticks_ms = st[i].io_ticks_ms;
	}
	free(st);
}

/* Each CPU's cpufreq files, opened once: the maximum is read then, the current one each period. */
static void engine_open_freq(struct ve_engine *e)
{
	e->freq = g_new(struct cpu_freq, e->n_cpu_map);
	for (size_t cpu = 0; cpu < e->n_cpu_map; cpu++) {
		char rel[96], buf[32];

		e->freq[cpu].cur_fd = -1;
		e->freq[cpu].max_khz = 0;
		snprintf(rel, sizeof(rel), "sys/devices/system/cpu/cpu%zu/cpufreq/cpuinfo_max_freq", cpu);
		if (ve_read_file_at(e->root_fd, rel, buf, sizeof(buf), NULL) < 0 ||
		    ve_parse_u64(buf, &e->freq[cpu].max_khz) < 0 || !e->freq[cpu].max_khz)
			continue;
		snprintf(rel, sizeof(rel), "sys/devices/system/cpu/cpu%zu/cpufreq/scaling_cur_freq", cpu);
		e->freq[cpu].cur_fd = openat(e->root_fd, rel, O_RDONLY | O_CLOEXEC | O_NOCTTY);
	}
	e->n_freq = e->n_cpu_map;
}

/* The host model's busy-time weight follows the CPU frequency (ve_model_freq_factor). */
void engine_scale_by_freq(struct ve_engine *e)
{
	double ratio_sum[VE_MAX_SOCKETS] = { 0 };
	unsigned int n[VE_MAX_SOCKETS] = { 0 };

	if (e->pc)
		return;
	if (!e->freq)
		engine_open_freq(e);
	for (size_t cpu = 0; cpu < e->n_freq; cpu++) {
		char buf[32];
		uint64_t cur, max = e->freq[cpu].max_khz;
		unsigned int s = e->socket_of_cpu[cpu];

		if (s >= VE_MAX_SOCKETS || e->freq[cpu].cur_fd < 0 ||
		    ve_pread_all(e->freq[cpu].cur_fd, buf, sizeof(buf), NULL) < 0 ||
		    ve_parse_u64(buf, &cur) < 0)
			continue;
		ratio_sum[s] += cur >= max ? 1.0 : (double)cur / (double)max;
		n[s]++;
	}
	for (size_t d = 0; d < e->n_dev; d++) {
		unsigned int s = e->dev[d].package;

		if (e->dev[d].kind != VE_DEV_PKG || e->dev[d].measured || s >= VE_MAX_SOCKETS)
			continue;
		e->dev[d].cpu.weight_pj[VE_SAMPLER_COL_RUN_NS] =
			e->busy_weight_pj[s] *
			ve_model_freq_factor(ratio_sum[s], n[s], e->stat.cpus_per_socket[s]);
	}
}
