// SPDX-License-Identifier: GPL-2.0
/* Sampling parsers for /proc and /sys inside the guest. */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "agent_sample.h"

/* Big enough for /proc/stat and /proc/diskstats of a small guest; longer files are cut. */
#define READ_MAX (64 * 1024)

static int read_rel(const char *root, const char *rel, char *buf, size_t size)
{
	char path[AGENT_PATH_MAX];
	size_t len = 0;
	int fd, n;

	n = snprintf(path, sizeof(path), "%s%s", root, rel);
	if (n < 0 || (size_t)n >= sizeof(path))
		return -ENAMETOOLONG;
	fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		return -errno;
	while (len < size - 1) {
		ssize_t r = read(fd, buf + len, size - 1 - len);

		if (r < 0) {
			if (errno == EINTR)
				continue;
			n = -errno;
			(void)close(fd);
			return n;
		}
		if (r == 0)
			break;
		len += (size_t)r;
	}
	buf[len] = '\0';
	(void)close(fd);
	return (int)len;
}

static int parse_u64_word(const char *s, char **end, uint64_t *v)
{
	unsigned long long x;

	while (*s == ' ' || *s == '\t')
		s++;
	if (*s < '0' || *s > '9')
		return -EINVAL;
	errno = 0;
	x = strtoull(s, end, 10);
	if (errno)
		return -ERANGE;
	*v = x;
	return 0;
}

/*
 * n counters of a /proc line: digits only (scanf's %llu takes "-6" as
 * 2^64 - 6), each at most what the wire format carries. A line that does
 * not parse is left out rather than summed into every other device's.
 */
static int parse_counters(const char *s, uint64_t *v, int n)
{
	char *end;

	for (int i = 0; i < n; i++) {
		if (parse_u64_word(s, &end, &v[i]) || v[i] > AGENTPROTO_COUNTER_MAX)
			return -EINVAL;
		s = end;
	}
	return 0;
}

/* Sums of devices stay within the wire format's range. */
static void add_counter(uint64_t *sum, uint64_t v)
{
	*sum = v > AGENTPROTO_COUNTER_MAX - *sum ? AGENTPROTO_COUNTER_MAX : *sum + v;
}

int agent_read_meminfo(const char *proc_root, struct meminfo *m)
{
	static const struct {
		const char *key;
		size_t off;
	} keys[] = {
		{ "MemTotal:", offsetof(struct meminfo, total_kb) },
		{ "MemAvailable:", offsetof(struct meminfo, avail_kb) },
		{ "MemFree:", offsetof(struct meminfo, free_kb) },
		{ "Cached:", offsetof(struct meminfo, cached_kb) },
		{ "SwapTotal:", offsetof(struct meminfo, swap_total_kb) },
		{ "SwapFree:", offsetof(struct meminfo, swap_free_kb) },
	};
	unsigned int found = 0;
	char buf[8192], *line, *save = NULL;
	int n;

	n = read_rel(proc_root, "/meminfo", buf, sizeof(buf));
	if (n < 0)
		return n;
	memset(m, 0, sizeof(*m));
	for (line = strtok_r(buf, "\n", &save); line; line = strtok_r(NULL, "\n", &save)) {
		for (size_t i = 0; i < sizeof(keys) / sizeof(keys[0]); i++) {
			size_t kl = strlen(keys[i].key);
			uint64_t v;
			char *end;

			if (strncmp(line, keys[i].key, kl))
				continue;
			if (parse_u64_word(line + kl, &end, &v))
				return -EINVAL;
			*(uint64_t *)((char *)m + keys[i].off) = v;
			found |= 1u << i;
		}
	}
	/* MemTotal and MemFree are required; MemAvailable exists since Linux 3.14. */
	if ((found & 5) != 5)
		return -ENODATA;
	if (!(found & 2))
		m->avail_kb = m->free_kb + m->cached_kb;
	return 0;
}

int agent_read_vmstat(const char *proc_root, uint64_t *pswpin, uint64_t *pswpout)
{
	char buf[READ_MAX], *line, *save = NULL;
	int n, found = 0;

	n = read_rel(proc_root, "/vmstat", buf, sizeof(buf));
	if (n < 0)
		return n;
	for (line = strtok_r(buf, "\n", &save); line; line = strtok_r(NULL, "\n", &save)) {
		uint64_t *dst = NULL;
		char *end;

		if (!strncmp(line, "pswpin ", 7))
			dst = pswpin;
		else if (!strncmp(line, "pswpout ", 8))
			dst = pswpout;
		if (!dst)
			continue;
		if (parse_u64_word(strchr(line, ' '), &end, dst))
			return -EINVAL;
		found++;
	}
	return found == 2 ? 0 : -ENODATA;
}

/* "avg10=12.34" -> 1234 */
static int parse_avg10(const char *line, uint32_t *out)
{
	const char *p = strstr(line, "avg10=");
	unsigned long ip, fp = 0;
	char *end;

	if (!p)
		return -EINVAL;
	p += 6;
	if (*p < '0' || *p > '9')
		return -EINVAL;
	ip = strtoul(p, &end, 10);
	if (*end == '.') {
		const char *f = end + 1;

		if (f[0] >= '0' && f[0] <= '9') {
			fp = (unsigned long)(f[0] - '0') * 10;
			if (f[1] >= '0' && f[1] <= '9')
				fp += (unsigned long)(f[1] - '0');
		}
	}
	if (ip > 100)
		return -ERANGE;
	*out = (uint32_t)(ip * 100 + fp);
	if (*out > 10000)
		*out = 10000;
	return 0;
}

int agent_read_psi(const char *proc_root, const char *res, uint32_t *some, uint32_t *full)
{
	char rel[64], buf[1024], *line, *save = NULL;
	int n, found = 0;

	(void)snprintf(rel, sizeof(rel), "/pressure/%s", res);
	n = read_rel(proc_root, rel, buf, sizeof(buf));
	if (n < 0)
		return n;
	*some = *full = 0;
	for (line = strtok_r(buf, "\n", &save); line; line = strtok_r(NULL, "\n", &save)) {
		if (!strncmp(line, "some ", 5)) {
			if (parse_avg10(line, some))
				return -EINVAL;
			found |= 1;
		} else if (!strncmp(line, "full ", 5)) {
			if (parse_avg10(line, full))
				return -EINVAL;
			found |= 2;
		}
	}
	/* Before Linux 5.13 the cpu file has no "full" line. */
	return found & 1 ? 0 : -ENODATA;
}

int agent_read_cpu_times(const char *proc_root, struct cpu_times *t)
{
	char buf[READ_MAX], *p, *end;
	uint64_t v[10] = { 0 };
	int n, i;

	n = read_rel(proc_root, "/stat", buf, sizeof(buf));
	if (n < 0)
		return n;
	if (strncmp(buf, "cpu ", 4))
		return -EINVAL;
	p = buf + 4;
	/* user nice system idle iowait irq softirq steal guest guest_nice */
	for (i = 0; i < 10; i++) {
		if (parse_u64_word(p, &end, &v[i]))
			break;
		p = end;
	}
	if (i < 4)
		return -EINVAL;
	/* guest and guest_nice are already in user and nice. */
	t->total = v[0] + v[1] + v[2] + v[3] + v[4] + v[5] + v[6] + v[7];
	t->busy = t->total - v[3] - v[4];
	return 0;
}

/* Whole disks only (vda, sda, xvdb, nvme0n1, mmcblk0), so partitions don't count twice. */
static int is_whole_disk(const char *name)
{
	size_t n = strlen(name);
	const char *p;

	if (!strncmp(name, "nvme", 4) || !strncmp(name, "mmcblk", 6))
		return !strchr(name + 4, 'p');
	if (!strncmp(name, "vd", 2) || !strncmp(name, "sd", 2) || !strncmp(name, "hd", 2))
		p = name + 2;
	else if (!strncmp(name, "xvd", 3))
		p = name + 3;
	else
		return 0;
	if (!*p)
		return 0;
	for (; *p; p++) {
		if (*p < 'a' || *p > 'z')
			return 0;
	}
	return n > 0;
}

int agent_read_diskstats(const char *proc_root, struct io_counters *io)
{
	char buf[READ_MAX], *line, *save = NULL;
	int n;

	n = read_rel(proc_root, "/diskstats", buf, sizeof(buf));
	if (n < 0)
		return n;
	memset(io, 0, sizeof(*io));
	for (line = strtok_r(buf, "\n", &save); line; line = strtok_r(NULL, "\n", &save)) {
		/* reads, merged, sectors, ms, writes, merged, sectors */
		enum {
			RD_IOS,
			RD_MERGES,
			RD_SEC,
			RD_MS,
			WR_IOS,
			WR_MERGES,
			WR_SEC,
			NV
		};
		unsigned int major, minor;
		uint64_t v[NV];
		char name[64];
		int off = 0;

		if (sscanf(line, "%u %u %63s%n", &major, &minor, name, &off) != 3 || !off ||
		    parse_counters(line + off, v, NV))
			continue;
		/* diskstats sectors are always 512 bytes. */
		if (!is_whole_disk(name) || v[RD_SEC] > AGENTPROTO_COUNTER_MAX / 512 ||
		    v[WR_SEC] > AGENTPROTO_COUNTER_MAX / 512)
			continue;
		add_counter(&io->rd_ios, v[RD_IOS]);
		add_counter(&io->wr_ios, v[WR_IOS]);
		add_counter(&io->rd_bytes, v[RD_SEC] * 512);
		add_counter(&io->wr_bytes, v[WR_SEC] * 512);
	}
	return 0;
}

int agent_read_netdev(const char *proc_root, struct net_counters *net)
{
	char buf[READ_MAX], *line, *save = NULL;
	int n, lineno = 0;

	n = read_rel(proc_root, "/net/dev", buf, sizeof(buf));
	if (n < 0)
		return n;
	memset(net, 0, sizeof(*net));
	for (line = strtok_r(buf, "\n", &save); line; line = strtok_r(NULL, "\n", &save)) {
		uint64_t v[16];
		char *colon, *name = line;

		if (++lineno <= 2) /* two header lines */
			continue;
		colon = strchr(line, ':');
		if (!colon)
			continue;
		*colon = '\0';
		while (*name == ' ')
			name++;
		if (!strcmp(name, "lo"))
			continue;
		if (parse_counters(colon + 1, v, 16))
			continue;
		add_counter(&net->rx_bytes, v[0]);
		add_counter(&net->rx_pkts, v[1]);
		add_counter(&net->tx_bytes, v[8]);
		add_counter(&net->tx_pkts, v[9]);
	}
	return 0;
}

int agent_read_uptime_ms(const char *proc_root, uint64_t *ms)
{
	char buf[128], *end;
	unsigned long long s;
	unsigned long frac = 0;
	int n;

	n = read_rel(proc_root, "/uptime", buf, sizeof(buf));
	if (n < 0)
		return n;
	if (buf[0] < '0' || buf[0] > '9')
		return -EINVAL;
	s = strtoull(buf, &end, 10);
	if (*end == '.' && end[1] >= '0' && end[1] <= '9') {
		frac = (unsigned long)(end[1] - '0') * 100;
		if (end[2] >= '0' && end[2] <= '9')
			frac += (unsigned long)(end[2] - '0') * 10;
	}
	*ms = s * 1000 + frac;
	return 0;
}

int agent_parse_cpu_list(const char *list, uint32_t *count, uint64_t *mask, uint32_t mask_bits)
{
	uint64_t seen[AGENTPROTO_MAX_CPUS / 64] = { 0 }; /* a CPU listed twice counts once */
	const char *p = list;
	uint32_t total = 0;

	if (mask)
		memset(mask, 0, (mask_bits + 63) / 64 * sizeof(uint64_t));
	while (*p == ' ')
		p++;
	while (*p && *p != '\n') {
		unsigned long a, b;
		char *end;

		if (*p < '0' || *p > '9')
			return -EINVAL;
		a = strtoul(p, &end, 10);
		b = a;
		if (*end == '-') {
			if (end[1] < '0' || end[1] > '9')
				return -EINVAL;
			b = strtoul(end + 1, &end, 10);
		}
		if (b < a || b >= AGENTPROTO_MAX_CPUS)
			return -ERANGE;
		for (unsigned long c = a; c <= b; c++) {
			if (!(seen[c / 64] & 1ull << (c % 64)))
				total++;
			seen[c / 64] |= 1ull << (c % 64);
			if (mask && c < mask_bits)
				mask[c / 64] |= 1ull << (c % 64);
		}
		p = end;
		if (*p == ',')
			p++;
		else if (*p && *p != '\n')
			return -EINVAL;
	}
	*count = total;
	return 0;
}

int agent_read_cpus(const char *sys_root, uint32_t *online, uint32_t *present)
{
	char buf[1024];
	int n;

	n = read_rel(sys_root, "/devices/system/cpu/online", buf, sizeof(buf));
	if (n < 0)
		return n;
	n = agent_parse_cpu_list(buf, online, NULL, 0);
	if (n)
		return n;
	n = read_rel(sys_root, "/devices/system/cpu/present", buf, sizeof(buf));
	if (n < 0)
		return n;
	return agent_parse_cpu_list(buf, present, NULL, 0);
}

void agent_sampler__init(struct agent_sampler *sp, const char *proc_root, const char *sys_root,
			 uint32_t interval_ms, uint32_t boot)
{
	memset(sp, 0, sizeof(*sp));
	sp->proc_root = proc_root;
	sp->sys_root = sys_root;
	sp->interval_ms = interval_ms;
	sp->boot = boot ? boot : 1;
}

static uint64_t rate(uint64_t now, uint64_t prev, uint64_t dt_ms)
{
	if (now < prev || !dt_ms)
		return 0;
	return (now - prev) * 1000 / dt_ms;
}

int agent_sampler__take(struct agent_sampler *sp, uint64_t now_ms, struct agent_sample *s)
{
	struct meminfo m;
	struct cpu_times ct;
	struct io_counters io;
	struct net_counters net;
	uint64_t pswpin, pswpout;
	int err;

	memset(s, 0, sizeof(*s));
	err = agent_read_meminfo(sp->proc_root, &m);
	if (err)
		return err;
	err = agent_read_cpus(sp->sys_root, &s->cpus_online, &s->cpus_present);
	if (err)
		return err;
	if (!s->cpus_online || s->cpus_online > s->cpus_present)
		return -EINVAL;
	s->seq = ++sp->seq;
	s->boot = sp->boot;
	memcpy(s->version, AGENT_VERSION, sizeof(AGENT_VERSION));
	s->interval_ms = sp->interval_ms;
	(void)agent_read_uptime_ms(sp->proc_root, &s->uptime_ms);
	s->mem_total_kb = m.total_kb;
	s->mem_avail_kb = m.avail_kb < m.total_kb ? m.avail_kb : m.total_kb;
	s->mem_free_kb = m.free_kb < m.total_kb ? m.free_kb : m.total_kb;
	s->cached_kb = m.cached_kb < m.total_kb ? m.cached_kb : m.total_kb;
	s->swap_total_kb = m.swap_total_kb;
	s->swap_used_kb = m.swap_free_kb < m.swap_total_kb ? m.swap_total_kb - m.swap_free_kb : 0;
	s->present |= AGENT_HAS_CACHED;

	if (!agent_read_vmstat(sp->proc_root, &pswpin, &pswpout)) {
		if (sp->have_prev) {
			s->swapin_ps = rate(pswpin, sp->prev_pswpin, now_ms - sp->prev_ms);
			s->swapout_ps = rate(pswpout, sp->prev_pswpout, now_ms - sp->prev_ms);
		}
		sp->prev_pswpin = pswpin;
		sp->prev_pswpout = pswpout;
		s->present |= AGENT_HAS_SWAP;
	}
	if (!agent_read_psi(sp->proc_root, "memory", &s->psi_mem_some, &s->psi_mem_full))
		s->present |= AGENT_HAS_PSI_MEM;
	if (!agent_read_psi(sp->proc_root, "cpu", &s->psi_cpu_some, &s->psi_cpu_full))
		s->present |= AGENT_HAS_PSI_CPU;
	if (!agent_read_cpu_times(sp->proc_root, &ct)) {
		/*
		 * Busy % needs two readings: the first sample leaves it out
		 * (since-boot figures say 100% on a TCG guest that just booted).
		 */
		if (sp->have_prev && ct.total > sp->prev_cpu.total &&
		    ct.busy >= sp->prev_cpu.busy) {
			uint64_t busy = ct.busy - sp->prev_cpu.busy;
			uint64_t total = ct.total - sp->prev_cpu.total;

			s->cpu_busy = (uint32_t)(busy * 10000 / total);
			if (s->cpu_busy > 10000)
				s->cpu_busy = 10000;
			s->present |= AGENT_HAS_CPU;
		}
		sp->prev_cpu = ct;
	}
	if (!agent_read_diskstats(sp->proc_root, &io)) {
		s->disk_rd_bytes = io.rd_bytes;
		s->disk_wr_bytes = io.wr_bytes;
		s->disk_rd_ios = io.rd_ios;
		s->disk_wr_ios = io.wr_ios;
		s->present |= AGENT_HAS_DISK;
	}
	if (!agent_read_netdev(sp->proc_root, &net)) {
		s->net_rx_bytes = net.rx_bytes;
		s->net_tx_bytes = net.tx_bytes;
		s->net_rx_pkts = net.rx_pkts;
		s->net_tx_pkts = net.tx_pkts;
		s->present |= AGENT_HAS_NET;
	}
	sp->prev_ms = now_ms;
	sp->have_prev = 1;
	return 0;
}
