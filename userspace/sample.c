// SPDX-License-Identifier: GPL-2.0
/*
 * The tracer's part of a sample and the rates between two samples, with
 * the delta and percentile rules of hist.h and the exit reasons of
 * exitreason__top(), so the API, /metrics and the CSV mean what
 * 'kvmpilot stat' means.
 */
#include <string.h>

#include "exitreason.h"
#include "hist.h"
#include "sample.h"
#include "trace.h"
#include "util.h"

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
