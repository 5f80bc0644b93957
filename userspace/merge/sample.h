/* SPDX-License-Identifier: GPL-2.0 */
/*
 * The merged per-VM sample of one tick: what BPF, libvirt and the guest
 * agent said about a VM, the rates derived from the previous tick, the
 * configured bounds and the policy's decision. The history, the snapshot
 * (API, dashboard, /metrics) and the CSV read it.
 *
 * The builder below is pure: plain structs in, the wall clock passed in, no
 * libvirt, BPF handle or global. The service calls, per VM and tick:
 * sample__init(), sample__add_trace(), sample__add_agent(),
 * sample__add_virt(), sample__rates(), sample__configure(); the controller
 * then writes the decision fields.
 */
#ifndef KVMPILOT_SAMPLE_H
#define KVMPILOT_SAMPLE_H

#include <stdbool.h>
#include <stdint.h>

#include "exitreason.h"
#include "hist.h"
#include "vm.h"

#define SAMPLE_MAX_REASONS EXITREASON_TOP
#define SAMPLE_REASON_MAX  EXITREASON_NAME_MAX
#define SAMPLE_REASON_LEN  160

struct trace_vm;
struct vm_desc;
struct vm_config;
struct agent_sample;

enum mem_source {
	MEM_SOURCE_NONE = 0,	/* nothing known about guest memory */
	MEM_SOURCE_AGENT = 1,	/* the in-guest agent (fresh) */
	MEM_SOURCE_BALLOON = 2, /* libvirt balloon statistics (fallback) */
};

const char *mem_source__name(int source);

/* A log2 histogram (hist.h) as the BPF maps keep it, cumulative. */
struct sample_hist {
	uint32_t slots[KP_HIST_SLOTS];
	uint64_t count;	 /* events, from the tracer's 64-bit counter (slots may wrap) */
	uint64_t sum_ns; /* exact when the tracer provides it, else bucket midpoints */
};

struct sample_vcpu {
	int index;
	int tid;
	uint64_t run_ns; /* cumulative, from BPF */
	uint64_t wait_ns;
	uint64_t exits;
	double busy_pct; /* of one host CPU over the last tick */
	double wait_pct;
	double exits_per_s;
};

struct sample_reason {
	char name[SAMPLE_REASON_MAX];
	uint64_t count; /* cumulative */
	double per_s;
	struct sample_hist hist; /* exit handling time */
};

struct sample_net {
	char ifname[VM_IFNAME_MAX];
	uint64_t rx_bytes, tx_bytes, rx_packets, tx_packets; /* guest's view, cumulative */
	double rx_bps, tx_bps, rx_pps, tx_pps;
};

struct sample_disk {
	char name[32];
	uint64_t rd_ops, wr_ops, rd_bytes, wr_bytes; /* cumulative */
};

struct vm_sample {
	char name[VM_NAME_MAX];
	char uuid[VM_UUID_LEN];
	int pid;
	unsigned int source; /* mask of enum vm_source */
	bool running;
	uint64_t time_ns; /* wall clock of the tick */
	double interval_s;

	/* BPF: exits, tap and block I/O, and (with have_cpu) vCPU times */
	bool have_bpf;
	/*
	 * vCPU run/wait times: from BPF, else /proc/PID/task/TID/schedstat
	 * (same meaning, read per tick) so they are known without the tracer
	 */
	bool have_cpu;
	char cpu_source[12]; /* "bpf", "schedstat" or "" */
	int nvcpus;	     /* vcpus[] */
	uint64_t emulator_run_ns;
	double emulator_pct;
	double cpu_busy_pct; /* sum over vCPUs, % of one host CPU */
	double cpu_wait_pct;
	uint64_t exits_total;
	double exits_per_s;
	int nreasons;		      /* reasons[] */
	struct sample_hist exit_hist; /* all reasons */
	double exit_p50_us, exit_p99_us;
	int nnets;
	struct sample_net nets[VM_MAX_TAPS];
	int ndisks;
	struct sample_disk disks[VM_MAX_DISKS];
	struct sample_hist blk_hist;
	double blk_rd_bps, blk_wr_bps, blk_rd_iops, blk_wr_iops;
	double blk_p50_us, blk_p99_us;

	/* Memory, in KiB; the guest's view comes from mem_source */
	int mem_source;
	double mem_age_s; /* age of the guest memory data */
	uint64_t mem_total_kib, mem_used_kib, mem_avail_kib;
	uint64_t balloon_kib; /* current allocation */
	uint64_t mem_max_kib; /* the domain's maximum */
	uint64_t swap_used_kib;
	double swap_in_per_s, swap_out_per_s;
	double psi_mem_some, psi_cpu_some; /* avg10, -1 when unknown */
	double guest_cpu_pct;		   /* guest-reported, -1 when unknown */

	/* the guest agent's channel (counters since the service started) */
	bool agent_channel; /* the VM has one */
	bool agent_connected;
	uint64_t agent_samples, agent_rejected;

	/* vCPUs */
	int vcpus_online; /* in the guest (agent), else libvirt's count */
	int vcpus_current;
	int vcpus_max;

	/* Configuration in effect */
	bool enabled;
	bool dry_run;
	char policy[16];
	uint64_t mem_floor_kib, mem_ceiling_kib;
	int vcpu_min, vcpu_max;

	/* Policy decision of this tick */
	bool decided;
	bool changed;
	uint64_t target_mem_kib;
	int target_vcpus;
	double forecast_kib, forecast_lo_kib, forecast_hi_kib; /* 0 when none */
	double mem_lag_s; /* memory growths land this late beyond a tick; < 0: unknown */
	char reason[SAMPLE_REASON_LEN];

	/*
	 * Sized for the largest VM, last: only the first n entries are
	 * written, so in a freshly allocated snapshot most of their pages are
	 * never touched (not resident).
	 */
	struct sample_reason reasons[SAMPLE_MAX_REASONS];
	struct sample_vcpu vcpus[VM_MAX_VCPUS];
};

/* One entry of the action log as the API shows it. */
struct action_rec {
	uint64_t time_ns;
	char vm[VM_NAME_MAX];
	char what[16]; /* "memory" or "vcpus" */
	int64_t from, to;
	char unit[8]; /* "MiB" or "" */
	char reason[SAMPLE_REASON_LEN];
	char result[64]; /* "ok", "dry-run", or an error */
	bool dry_run;
};

/*
 * Start the sample of VM name (the VM table's key) from its description:
 * identity, vCPU threads, taps and disks; everything else unknown.
 * interval_s: since the previous sample.
 */
void sample__init(struct vm_sample *s, const char *name, const struct vm_desc *d, uint64_t now_ns,
		  double interval_s);

/*
 * An agent whose last sample is older than silent_after_s
 * (agent_timeout_s): its memory data stays, with its real age, until
 * fresher balloon statistics replace it; its rates and pressure are not used.
 */
bool sample__agent_silent(const struct vm_sample *s, double silent_after_s);

/*
 * The guest agent's latest sample, age_ns old: memory, and unless silent,
 * swap, PSI, CPU and online CPUs. Returns 0, -EINVAL (inconsistent: not
 * taken) or -ERANGE (older than the clock).
 */
int sample__add_agent(struct vm_sample *s, const struct agent_sample *a, uint64_t age_ns,
		      double silent_after_s);

/* What libvirt said about a VM: any part may be missing. KiB. */
struct sample_virt {
	bool have_info; /* the domain definition */
	bool running;
	uint64_t max_memory_kib, cur_memory_kib;
	int cur_vcpus, max_vcpus;
	bool have_stats; /* the bulk statistics (0: not reported) */
	uint64_t balloon_current_kib, balloon_maximum_kib;
	int vcpu_current, vcpu_maximum;
	/* the balloon driver's view of the guest: MemTotal, MemAvailable */
	bool have_mem;
	uint64_t mem_total_kib, mem_avail_kib;
	bool mem_age_known; /* of unknown age (never updated, in the future): not taken */
	double mem_age_s;
};

/*
 * Whether balloon statistics could still change the sample's memory (no
 * agent, or a silent one): the caller reads them only then.
 */
bool sample__wants_balloon(const struct vm_sample *s, double silent_after_s);

/*
 * libvirt's sizes, and its balloon statistics as the guest memory when the
 * agent does not speak and they are fresher than its last sample. Returns 1
 * when the memory came from the balloon, else 0.
 */
int sample__add_virt(struct vm_sample *s, const struct sample_virt *v, double silent_after_s);

/* Wall clock of the sample's guest memory data, 0 when none. */
uint64_t sample__mem_time_ns(const struct vm_sample *s);

/* No memory source this tick: the age of the last data (mem_time_ns, 0: none). */
void sample__age_memory(struct vm_sample *s, uint64_t mem_time_ns);

/*
 * The VM's configuration in effect: enabled, dry-run, policy, bounds (the
 * domain's maxima cap the configured ones). After sample__add_virt().
 */
void sample__configure(struct vm_sample *s, const struct vm_config *vc);

/*
 * The tracer's cumulative counters of one VM into s: vCPUs, exits (the top
 * SAMPLE_MAX_REASONS of exitreason__top()), taps, disks (per disk when the
 * tracer has as many as s->ndisks names, else one "all"), histograms.
 */
void sample__add_trace(struct vm_sample *s, const struct trace_vm *tv);

/*
 * Rates over the tick from the previous sample p (NULL: none yet) and the
 * tick's p50/p99 (histogram deltas; without p, of everything counted), with
 * the delta and percentile rules of hist.h.
 */
void sample__rates(struct vm_sample *s, const struct vm_sample *p);

#endif /* KVMPILOT_SAMPLE_H */
