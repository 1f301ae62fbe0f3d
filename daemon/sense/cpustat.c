// SPDX-License-Identifier: GPL-2.0-or-later
/*
 * cpustat.c: /proc/stat and the CPU topology.  See cpustat.h.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cpustat.h"
#include "fileio.h"

/* Fields of a cpuN line after the name: user nice system idle iowait irq softirq steal ... */
enum { F_USER, F_NICE, F_SYSTEM, F_IDLE, F_IOWAIT, F_IRQ, F_SOFTIRQ, F_STEAL, F_MIN = F_STEAL + 1 };

int ve_parse_proc_stat(const char *text, const unsigned int *socket_of_cpu, size_t n_map,
		       struct ve_cpustat *ret)
{
	struct ve_cpustat st;
	const char *cur = text;
	struct ve_span line;

	memset(&st, 0, sizeof(st));
	st.n_sockets = 1;
	while (ve_next_line(&cur, &line)) {
		struct ve_span name, f;
		uint64_t cpu, v[F_MIN], busy;
		unsigned int socket;
		int i;

		if (!ve_next_field(&line, &name) || name.len < 4 || memcmp(name.p, "cpu", 3) != 0)
			continue;
		/* the aggregate "cpu" line has no number: skip it */
		if (ve_span_u64((struct ve_span){ name.p + 3, name.len - 3 }, 65535, &cpu) < 0)
			return -EINVAL;
		for (i = 0; i < F_MIN; i++) {
			if (!ve_next_field(&line, &f) || ve_span_u64(f, UINT64_MAX / 16, &v[i]) < 0)
				return -EINVAL;
		}
		busy = v[F_USER] + v[F_NICE] + v[F_SYSTEM] + v[F_IRQ] + v[F_SOFTIRQ] + v[F_STEAL];
		socket = cpu < n_map ? socket_of_cpu[cpu] : 0;
		if (socket >= VE_MAX_SOCKETS)
			return -EINVAL;
		if (socket + 1 > st.n_sockets)
			st.n_sockets = socket + 1;
		st.busy_ticks[socket] += busy;
		st.cpus_per_socket[socket]++;
		st.n_cpus++;
	}
	if (!st.n_cpus)
		return -EINVAL;
	*ret = st;
	return 0;
}

int ve_read_cpu_sockets(int root_fd, size_t max, unsigned int **ret, size_t *ret_n)
{
	unsigned int *map = calloc(max ? max : 1, sizeof(*map));
	size_t n = 0;

	if (!map)
		return -ENOMEM;
	for (size_t cpu = 0; cpu < max; cpu++) {
		char rel[96], buf[32];
		struct ve_span s;
		uint64_t pkg;
		size_t len;

		snprintf(rel, sizeof(rel), "sys/devices/system/cpu/cpu%zu", cpu);
		if (ve_read_file_at(root_fd, strcat(rel, "/topology/physical_package_id"), buf,
				    sizeof(buf), &len) < 0) {
			/* a hole in the CPU numbering or no topology: socket 0 */
			map[cpu] = 0;
			continue;
		}
		while (len && (buf[len - 1] == '\n'))
			buf[--len] = 0;
		s = (struct ve_span){ buf, len };
		map[cpu] = ve_span_u64(s, VE_MAX_SOCKETS - 1, &pkg) == 0 ? (unsigned int)pkg : 0;
		n = cpu + 1;
	}
	*ret = map;
	*ret_n = n ? n : max;
	return 0;
}

int ve_read_proc_stat(int root_fd, const unsigned int *socket_of_cpu, size_t n_map,
		      struct ve_cpustat *ret)
{
	char *text;
	int r = ve_read_file_alloc_at(root_fd, "proc/stat", 1 << 22, &text, NULL);

	if (r < 0)
		return r;
	r = ve_parse_proc_stat(text, socket_of_cpu, n_map, ret);
	free(text);
	return r;
}
