// SPDX-License-Identifier: GPL-2.0
/*
 * The tracer's part of a sample and the rates between two samples, with
 * the delta and percentile rules of hist.h and the exit reasons of
 * exitreason__top(), so the API, /metrics and the CSV mean what
 * 'kvmpilot stat' means.
 */
#include <errno.h>
#include <stddef.h>
#include <string.h>

#include "agentproto.h"
#include "config.h"
#include "exitreason.h"
#include "hist.h"
#include "sample.h"
#include "trace.h"
#include "util.h"
#include "vm.h"

#define KIB_PER_MIB 1024ull

const char *mem_source__name(int source)
{
	switch (source) {
	case MEM_SOURCE_AGENT:
		return "agent";
	case MEM_SOURCE_BALLOON:
		return "balloon";
	default:
		return "none";
	}
}

/* count: the tracer's 64-bit event count (the 32-bit slots may wrap) */
static void hist_from(struct sample_hist *h, const uint32_t *slots, uint64_t count, uint64_t sum_ns)
{
	memcpy(h->slots, slots, sizeof(h->slots));
	h->count = count;
	h->sum_ns = sum_ns;
}

void sample__add_trace(struct vm_sample *s, const struct trace_vm *tv)
{
	struct exitreason_sum top[SAMPLE_MAX_REASONS];
	uint64_t exit_sum = 0;

	s->have_bpf = s->have_cpu = true;
	(void)str_copy(s->cpu_source, "bpf", sizeof(s->cpu_source));
	s->nvcpus = 0;
	for (int i = 0; i < tv->nvcpus && i < VM_MAX_VCPUS; i++) {
		struct sample_vcpu *v = &s->vcpus[s->nvcpus++];

		v->index = tv->vcpus[i].index;
		v->tid = tv->vcpus[i].tid;
		v->run_ns = tv->vcpus[i].run_ns;
		v->wait_ns = tv->vcpus[i].wait_ns;
		v->exits = tv->vcpus[i].exits;
		exit_sum += tv->vcpus[i].exit_ns;
	}
	s->emulator_run_ns = tv->emulator_run_ns;
	s->exits_total = tv->exits_total;
	/* ranked by the counts since tracing started, so /metrics keeps its series */
	s->nreasons = exitreason__top(tv->exits, tv->nexits, top, SAMPLE_MAX_REASONS);
	for (int i = 0; i < s->nreasons; i++) {
		struct sample_reason *r = &s->reasons[i];

		(void)str_copy(r->name, top[i].name, sizeof(r->name));
		r->count = top[i].count;
		hist_from(&r->hist, top[i].hist, top[i].count, top[i].sum_ns);
	}
	hist_from(&s->exit_hist, tv->exit_hist, tv->exits_total, exit_sum);
	s->nnets = 0;
	for (int i = 0; i < tv->ntaps && i < VM_MAX_TAPS; i++) {
		struct sample_net *n = &s->nets[s->nnets++];

		(void)str_copy(n->ifname, tv->taps[i].ifname, sizeof(n->ifname));
		n->rx_bytes = tv->taps[i].rx_bytes;
		n->tx_bytes = tv->taps[i].tx_bytes;
		n->rx_packets = tv->taps[i].rx_packets;
		n->tx_packets = tv->taps[i].tx_packets;
	}
	/* per-disk attribution where the tracer has it, else one "all" disk */
	if (tv->ndisks > 0 && tv->ndisks <= s->ndisks) {
		for (int i = 0; i < tv->ndisks; i++) {
			s->disks[i].rd_ops = tv->disks[i].io.read_ops;
			s->disks[i].wr_ops = tv->disks[i].io.write_ops;
			s->disks[i].rd_bytes = tv->disks[i].io.read_bytes;
			s->disks[i].wr_bytes = tv->disks[i].io.write_bytes;
		}
		s->ndisks = tv->ndisks;
	} else {
		s->ndisks = 1;
		(void)str_copy(s->disks[0].name, "all", sizeof(s->disks[0].name));
		s->disks[0].rd_ops = tv->blk.read_ops;
		s->disks[0].wr_ops = tv->blk.write_ops;
		s->disks[0].rd_bytes = tv->blk.read_bytes;
		s->disks[0].wr_bytes = tv->blk.write_bytes;
	}
	hist_from(&s->blk_hist, tv->blk.hist, tv->blk.read_ops + tv->blk.write_ops, tv->blk.sum_ns);
}

static double pct(uint64_t delta_ns, double interval_s)
{
	return interval_s > 0 ? (double)delta_ns / 1e9 / interval_s * 100.0 : 0;
}

static double per_s(uint64_t now, uint64_t before, double interval_s)
{
	return (double)hist__counter_delta(now, before) / interval_s;
}

/* p-th percentile in us of what a histogram gained since before (NULL: all of it). */
static double hist_pct_us(const struct sample_hist *now, const struct sample_hist *before, double p)
{
	static const struct sample_hist zero;
	uint32_t d[KP_HIST_SLOTS];

	if (!before)
		before = &zero;
	hist__delta(d, now->slots, before->slots, KP_HIST_SLOTS, now->count < before->count);
	return (double)hist__percentile(d, KP_HIST_SLOTS, p) / 1000.0;
}

void sample__rates(struct vm_sample *s, const struct vm_sample *p)
{
	double dt = s->interval_s;

	s->exit_p50_us = hist_pct_us(&s->exit_hist, p ? &p->exit_hist : NULL, 50);
	s->exit_p99_us = hist_pct_us(&s->exit_hist, p ? &p->exit_hist : NULL, 99);
	s->blk_p50_us = hist_pct_us(&s->blk_hist, p ? &p->blk_hist : NULL, 50);
	s->blk_p99_us = hist_pct_us(&s->blk_hist, p ? &p->blk_hist : NULL, 99);
	if (!p || dt <= 0)
		return;
	s->cpu_busy_pct = s->cpu_wait_pct = 0;
	for (int i = 0; i < s->nvcpus; i++) {
		struct sample_vcpu *v = &s->vcpus[i];

		for (int j = 0; j < p->nvcpus; j++) {
			const struct sample_vcpu *pv = &p->vcpus[j];

			if (pv->index != v->index)
				continue;
			/* run and wait include an estimate of the open stint */
			v->busy_pct = pct(hist__estimate_delta(v->run_ns, pv->run_ns), dt);
			v->wait_pct = pct(hist__estimate_delta(v->wait_ns, pv->wait_ns), dt);
			v->exits_per_s = per_s(v->exits, pv->exits, dt);
		}
		s->cpu_busy_pct += v->busy_pct;
		s->cpu_wait_pct += v->wait_pct;
	}
	s->emulator_pct = pct(hist__counter_delta(s->emulator_run_ns, p->emulator_run_ns), dt);
	s->exits_per_s = per_s(s->exits_total, p->exits_total, dt);
	for (int i = 0; i < s->nreasons; i++) {
		for (int j = 0; j < p->nreasons; j++) {
			if (!strcmp(s->reasons[i].name, p->reasons[j].name))
				s->reasons[i].per_s =
					per_s(s->reasons[i].count, p->reasons[j].count, dt);
		}
	}
	for (int i = 0; i < s->nnets; i++) {
		struct sample_net *n = &s->nets[i];

		for (int j = 0; j < p->nnets; j++) {
			const struct sample_net *pn = &p->nets[j];

			if (strcmp(n->ifname, pn->ifname))
				continue;
			n->rx_bps = per_s(n->rx_bytes, pn->rx_bytes, dt);
			n->tx_bps = per_s(n->tx_bytes, pn->tx_bytes, dt);
			n->rx_pps = per_s(n->rx_packets, pn->rx_packets, dt);
			n->tx_pps = per_s(n->tx_packets, pn->tx_packets, dt);
		}
	}
	s->blk_rd_bps = s->blk_wr_bps = s->blk_rd_iops = s->blk_wr_iops = 0;
	for (int i = 0; i < s->ndisks; i++) {
		const struct sample_disk *d = &s->disks[i];

		for (int j = 0; j < p->ndisks; j++) {
			const struct sample_disk *pd = &p->disks[j];

			if (strcmp(d->name, pd->name))
				continue;
			s->blk_rd_bps += per_s(d->rd_bytes, pd->rd_bytes, dt);
			s->blk_wr_bps += per_s(d->wr_bytes, pd->wr_bytes, dt);
			s->blk_rd_iops += per_s(d->rd_ops, pd->rd_ops, dt);
			s->blk_wr_iops += per_s(d->wr_ops, pd->wr_ops, dt);
		}
	}
}

void sample__init(struct vm_sample *s, const char *name, const struct vm_desc *d, uint64_t now_ns,
		  double interval_s)
{
	/* s may be in a snapshot fresh from calloc: its arrays are zero already */
	memset(s, 0, offsetof(struct vm_sample, reasons));
	(void)str_copy(s->name, name, sizeof(s->name));
	(void)str_copy(s->uuid, d->uuid, sizeof(s->uuid));
	s->pid = d->pid;
	s->source = d->source;
	s->running = true;
	s->time_ns = now_ns;
	s->interval_s = interval_s;
	s->psi_mem_some = s->psi_cpu_some = s->guest_cpu_pct = -1;
	s->nvcpus = d->nvcpus < VM_MAX_VCPUS ? d->nvcpus : VM_MAX_VCPUS;
	for (int i = 0; i < s->nvcpus; i++) {
		s->vcpus[i].index = d->vcpus[i].index;
		s->vcpus[i].tid = d->vcpus[i].tid;
	}
	s->nnets = d->ntaps < VM_MAX_TAPS ? d->ntaps : VM_MAX_TAPS;
	for (int i = 0; i < s->nnets; i++)
		(void)str_copy(s->nets[i].ifname, d->taps[i].ifname, sizeof(s->nets[i].ifname));
	s->ndisks = d->ndisks < VM_MAX_DISKS ? d->ndisks : VM_MAX_DISKS;
	for (int i = 0; i < s->ndisks; i++) {
		const char *base = strrchr(d->disks[i].path, '/');

		/* the guest-side name, else the image's file name */
		(void)str_copy(s->disks[i].name,
			       d->disks[i].target[0] ? d->disks[i].target
						     : (base ? base + 1 : d->disks[i].path),
			       sizeof(s->disks[i].name));
	}
}

bool sample__agent_silent(const struct vm_sample *s, double silent_after_s)
{
	return s->mem_age_s > silent_after_s;
}

int sample__add_agent(struct vm_sample *s, const struct agent_sample *a, uint64_t age_ns,
		      double silent_after_s)
{
	if (!a->mem_total_kb || a->mem_avail_kb > a->mem_total_kb)
		return -EINVAL; /* parsed within bounds, but inconsistent: not acted upon */
	if (age_ns >= s->time_ns)
		return -ERANGE;
	s->mem_source = MEM_SOURCE_AGENT;
	s->mem_total_kib = a->mem_total_kb;
	s->mem_avail_kib = a->mem_avail_kb;
	s->mem_used_kib = a->mem_total_kb - a->mem_avail_kb;
	s->mem_age_s = (double)age_ns / 1e9;
	/* against the agent_timeout_s in effect: a reload applies to open channels too */
	if (sample__agent_silent(s, silent_after_s))
		return 0;
	if (a->present & AGENT_HAS_SWAP) {
		s->swap_used_kib = a->swap_used_kb;
		s->swap_in_per_s = (double)a->swapin_ps * 4; /* pages of 4 KiB */
		s->swap_out_per_s = (double)a->swapout_ps * 4;
	}
	if (a->present & AGENT_HAS_PSI_MEM)
		s->psi_mem_some = a->psi_mem_some / 100.0;
	if (a->present & AGENT_HAS_PSI_CPU)
		s->psi_cpu_some = a->psi_cpu_some / 100.0;
	if (a->present & AGENT_HAS_CPU)
		s->guest_cpu_pct = a->cpu_busy / 100.0;
	if (a->cpus_online)
		s->vcpus_online = (int)a->cpus_online;
	return 0;
}

bool sample__wants_balloon(const struct vm_sample *s, double silent_after_s)
{
	return s->mem_source != MEM_SOURCE_AGENT || sample__agent_silent(s, silent_after_s);
}

static void virt_sizes(struct vm_sample *s, const struct sample_virt *v)
{
	if (v->have_info) {
		s->mem_max_kib = v->max_memory_kib;
		s->balloon_kib = v->cur_memory_kib;
		s->vcpus_current = v->cur_vcpus;
		s->vcpus_max = v->max_vcpus;
		s->running = v->running;
	}
	if (!v->have_stats)
		return;
	if (v->balloon_current_kib)
		s->balloon_kib = v->balloon_current_kib;
	if (v->balloon_maximum_kib)
		s->mem_max_kib = v->balloon_maximum_kib;
	if (v->vcpu_current > 0)
		s->vcpus_current = v->vcpu_current;
	if (v->vcpu_maximum > 0)
		s->vcpus_max = v->vcpu_maximum;
}

int sample__add_virt(struct vm_sample *s, const struct sample_virt *v, double silent_after_s)
{
	virt_sizes(s, v);
	if (!sample__wants_balloon(s, silent_after_s) || !v->have_mem)
		return 0; /* the agent spoke */
	if (v->mem_avail_kib > v->mem_total_kib)
		return 0; /* inconsistent: the guest is untrusted */
	if (!s->vcpus_online)
		s->vcpus_online = s->vcpus_current;
	/*
	 * As old as the guest's balloon driver last sent them: frozen statistics
	 * (no stats period, a hung guest) age and go stale. Of unknown age: never
	 * taken as fresh, so not taken.
	 */
	if (!v->mem_age_known)
		return 0;
	if (s->mem_source == MEM_SOURCE_AGENT && s->mem_age_s <= v->mem_age_s)
		return 0; /* the silent agent's last sample is still the fresher */
	s->mem_source = MEM_SOURCE_BALLOON;
	s->mem_total_kib = v->mem_total_kib;
	s->mem_avail_kib = v->mem_avail_kib;
	s->mem_used_kib = v->mem_total_kib - v->mem_avail_kib;
	s->mem_age_s = v->mem_age_s;
	return 1;
}

uint64_t sample__mem_time_ns(const struct vm_sample *s)
{
	if (s->mem_source == MEM_SOURCE_NONE || s->mem_age_s >= (double)s->time_ns / 1e9)
		return 0;
	return s->time_ns - (uint64_t)(s->mem_age_s * 1e9);
}

void sample__age_memory(struct vm_sample *s, uint64_t mem_time_ns)
{
	if (s->mem_source == MEM_SOURCE_NONE && mem_time_ns && mem_time_ns <= s->time_ns)
		s->mem_age_s = (double)(s->time_ns - mem_time_ns) / 1e9;
}

void sample__configure(struct vm_sample *s, const struct vm_config *vc)
{
	s->enabled = vc->enabled;
	s->dry_run = vc->dry_run;
	(void)str_copy(s->policy, vc->policy, sizeof(s->policy));
	s->mem_floor_kib = vc->mem_floor_mib * KIB_PER_MIB;
	s->mem_ceiling_kib = vc->mem_ceiling_mib * KIB_PER_MIB;
	if (s->mem_max_kib && (!s->mem_ceiling_kib || s->mem_ceiling_kib > s->mem_max_kib))
		s->mem_ceiling_kib = s->mem_max_kib;
	s->vcpu_min = vc->vcpu_min;
	s->vcpu_max = vc->vcpu_max;
	if (s->vcpus_max && (!s->vcpu_max || s->vcpu_max > s->vcpus_max))
		s->vcpu_max = s->vcpus_max;
}
