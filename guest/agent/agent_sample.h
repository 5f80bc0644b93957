/* SPDX-License-Identifier: GPL-2.0 */
/*
 * What the agent measures, from procfs and sysfs under configurable roots so
 * tests can point it at fixture trees. Each reader returns 0 or -errno.
 */
#ifndef KVMPILOT_AGENT_SAMPLE_H
#define KVMPILOT_AGENT_SAMPLE_H

#include <stdint.h>

#include "agentproto.h"

#define AGENT_PATH_MAX 512

struct meminfo {
	uint64_t total_kb, avail_kb, free_kb, cached_kb, swap_total_kb, swap_free_kb;
};

struct cpu_times {
	uint64_t busy; /* jiffies: everything but idle and iowait */
	uint64_t total;
};

struct io_counters {
	uint64_t rd_bytes, wr_bytes, rd_ios, wr_ios;
};

struct net_counters {
	uint64_t rx_bytes, tx_bytes, rx_pkts, tx_pkts;
};

int agent_read_meminfo(const char *proc_root, struct meminfo *m);
int agent_read_vmstat(const char *proc_root, uint64_t *pswpin, uint64_t *pswpout);
/* avg10 of "some" and "full" in hundredths of a percent; res is "memory", "cpu" or "io". */
int agent_read_psi(const char *proc_root, const char *res, uint32_t *some, uint32_t *full);
int agent_read_cpu_times(const char *proc_root, struct cpu_times *t);
int agent_read_diskstats(const char *proc_root, struct io_counters *io);
int agent_read_netdev(const char *proc_root, struct net_counters *net);
int agent_read_uptime_ms(const char *proc_root, uint64_t *ms);
/* Count the CPUs of a sysfs list file ("0-3,6"); *count is 0 for an empty list. */
int agent_parse_cpu_list(const char *list, uint32_t *count, uint64_t *mask, uint32_t mask_bits);
int agent_read_cpus(const char *sys_root, uint32_t *online, uint32_t *present);

/* Keeps the previous counters so rates and busy % cover one interval. */
struct agent_sampler {
	const char *proc_root;
	const char *sys_root;
	uint32_t interval_ms;
	uint32_t boot;
	uint64_t seq;
	int have_prev;
	uint64_t prev_ms;
	uint64_t prev_pswpin, prev_pswpout;
	struct cpu_times prev_cpu;
};

void agent_sampler__init(struct agent_sampler *sp, const char *proc_root, const char *sys_root,
			 uint32_t interval_ms, uint32_t boot);
/* Take one sample at monotonic time now_ms; fails only when meminfo or the CPU lists do. */
int agent_sampler__take(struct agent_sampler *sp, uint64_t now_ms, struct agent_sample *s);

#endif /* KVMPILOT_AGENT_SAMPLE_H */
