// SPDX-License-Identifier: GPL-2.0
/*
 * Prometheus text exposition (format 0.0.4) of a snapshot. Names follow the
 * Prometheus conventions: kvmpilot_ prefix, base units (seconds, bytes),
 * _total for counters; one HELP/TYPE block per family, then every series.
 */
#include <math.h>
#include <stddef.h>
#include <stdio.h>
#include <stdio_ext.h>
#include <stdlib.h>
#include <string.h>

#include "http.h"

/*
 * le buckets at the log2 slot edges (hist.h) from 2^10 ns (~1 us) to 2^32 ns
 * (~4.3 s): histogram_quantile() over them interpolates inside the same
 * slots as hist__percentile(), so it gives the p50/p99 of stat and the API.
 */
#define LE_FIRST 10
#define LE_LAST	 32

static void esc(FILE *f, const char *s)
{
	if (!strpbrk(s, "\\\"\n")) {
		fputs(s, f);
		return;
	}
	for (; *s; s++) {
		if (*s == '\\' || *s == '"')
			fputc('\\', f);
		if (*s == '\n')
			fputs("\\n", f);
		else
			fputc(*s, f);
	}
}

static void family(FILE *f, const char *name, const char *type, const char *help)
{
	fprintf(f, "# HELP %s %s\n# TYPE %s %s\n", name, help, name, type);
}

/*
 * One series per label set, or Prometheus refuses the whole scrape: a vCPU
 * index, tap or disk name seen twice in one VM (a process may name its
 * threads "CPU 0/KVM" twice; two images may share a file name) counts once.
 * Exit reason names are unique already: exitreason__top() sums them by name.
 */
static bool dup_vcpu(const struct vm_sample *s, int v)
{
	for (int i = 0; i < v; i++) {
		if (s->vcpus[i].index == s->vcpus[v].index)
			return true;
	}
	return false;
}

static bool dup_net(const struct vm_sample *s, int n)
{
	for (int i = 0; i < n; i++) {
		if (!strcmp(s->nets[i].ifname, s->nets[n].ifname))
			return true;
	}
	return false;
}

static bool dup_disk(const struct vm_sample *s, int d)
{
	for (int i = 0; i < d; i++) {
		if (!strcmp(s->disks[i].name, s->disks[d].name))
			return true;
	}
	return false;
}

static void dom(FILE *f, const char *name, const struct vm_sample *s)
{
	fprintf(f, "%s{domain=\"", name);
	esc(f, s->name);
	fputc('"', f);
}

static void val(FILE *f, double v)
{
	if (isnan(v))
		fputs("} NaN\n", f);
	else
		fprintf(f, "} %.15g\n", v);
}

static void hist(FILE *f, const char *name, const struct vm_sample *s, const char *lname,
		 const char *lval, const struct sample_hist *h)
{
	uint64_t cum = 0;
	int slot = 0;

	for (int e = LE_FIRST; e <= LE_LAST; e++) {
		/* slot i holds [2^i, 2^(i+1)) ns: everything below slot e is <= 2^e ns */
		for (; slot < e && slot < KP_HIST_SLOTS; slot++)
			cum += h->slots[slot];
		dom(f, name, s);
		if (lname) {
			fprintf(f, ",%s=\"", lname);
			esc(f, lval);
			fputc('"', f);
		}
		fprintf(f, ",le=\"%.9g\"} %llu\n", (double)(1ull << e) / 1e9,
			(unsigned long long)cum);
	}
	for (; slot < KP_HIST_SLOTS; slot++)
		cum += h->slots[slot];
	dom(f, name, s);
	if (lname) {
		fprintf(f, ",%s=\"", lname);
		esc(f, lval);
		fputc('"', f);
	}
	fprintf(f, ",le=\"+Inf\"} %llu\n", (unsigned long long)cum);
}

static void hist_family(FILE *f, const struct snapshot *snap, const char *base, const char *help,
			bool by_reason)
{
	char name[128];

	family(f, base, "histogram", help);
	for (int i = 0; i < snap->nvms; i++) {
		const struct vm_sample *s = &snap->vms[i].s;

		if (!s->have_bpf)
			continue;
		for (int r = 0; r < (by_reason ? s->nreasons : 1); r++) {
			const struct sample_hist *h =
				by_reason ? &s->reasons[r].hist : &s->blk_hist;
			const char *rl = by_reason ? "reason" : NULL;
			const char *rv = by_reason ? s->reasons[r].name : NULL;
			uint64_t count = 0;

			for (int k = 0; k < KP_HIST_SLOTS; k++)
				count += h->slots[k];
			snprintf(name, sizeof(name), "%s_bucket", base);
			hist(f, name, s, rl, rv, h);
			snprintf(name, sizeof(name), "%s_sum", base);
			dom(f, name, s);
			if (rl) {
				fputs(",reason=\"", f);
				esc(f, rv);
				fputc('"', f);
			}
			val(f, (double)h->sum_ns / 1e9);
			snprintf(name, sizeof(name), "%s_count", base);
			dom(f, name, s);
			if (rl) {
				fputs(",reason=\"", f);
				esc(f, rv);
				fputc('"', f);
			}
			fprintf(f, "} %llu\n", (unsigned long long)count);
		}
	}
}

/* A per-VM gauge or counter; skip(s) leaves a VM out when the value is unknown. */
#define PER_VM(name, type, help, cond, expr)                          \
	do {                                                          \
		family(f, name, type, help);                          \
		for (int i_ = 0; i_ < snap->nvms; i_++) {             \
			const struct vm_sample *s = &snap->vms[i_].s; \
			if (!(cond))                                  \
				continue;                             \
			dom(f, name, s);                              \
			val(f, (double)(expr));                       \
		}                                                     \
	} while (0)

char *metrics__render(const struct snapshot *snap, size_t *len)
{
	const struct snapshot_health *h = &snap->health;
	char *buf = NULL;
	size_t size = 0;
	FILE *f;

	f = open_memstream(&buf, &size);
	if (!f)
		return NULL;
	/* one thread writes this stream: no locking per character */
	__fsetlocking(f, FSETLOCKING_BYCALLER);

	family(f, "kvmpilot_up", "gauge", "1 while the service runs its tick loop.");
	fputs("kvmpilot_up 1\n", f);
	family(f, "kvmpilot_libvirt_connected", "gauge", "1 when the libvirt connection is up.");
	fprintf(f, "kvmpilot_libvirt_connected %d\n", h->libvirt_connected);
	family(f, "kvmpilot_bpf_loaded", "gauge", "1 when the BPF tracer is loaded and attached.");
	fprintf(f, "kvmpilot_bpf_loaded %d\n", h->bpf_loaded);
	family(f, "kvmpilot_vms", "gauge", "VMs known to the service.");
	fprintf(f, "kvmpilot_vms %d\n", snap->nvms);
	family(f, "kvmpilot_ticks_total", "counter", "Ticks run since the service started.");
	fprintf(f, "kvmpilot_ticks_total %llu\n", (unsigned long long)h->ticks);
	family(f, "kvmpilot_tick_duration_seconds", "gauge", "How long the last tick took.");
	fprintf(f, "kvmpilot_tick_duration_seconds %.9g\n", h->last_tick_ms / 1000.0);

	/* vCPUs, from BPF */
	family(f, "kvmpilot_vcpu_run_seconds_total", "counter",
	       "Time each vCPU thread ran on a host CPU.");
	for (int i = 0; i < snap->nvms; i++) {
		const struct vm_sample *s = &snap->vms[i].s;

		for (int v = 0; s->have_cpu && v < s->nvcpus; v++) {
			if (dup_vcpu(s, v))
				continue;
			dom(f, "kvmpilot_vcpu_run_seconds_total", s);
			fprintf(f, ",vcpu=\"%d\"", s->vcpus[v].index);
			val(f, (double)s->vcpus[v].run_ns / 1e9);
		}
	}
	family(f, "kvmpilot_vcpu_wait_seconds_total", "counter",
	       "Time each vCPU thread was runnable but waited for a host CPU (host steal).");
	for (int i = 0; i < snap->nvms; i++) {
		const struct vm_sample *s = &snap->vms[i].s;

		for (int v = 0; s->have_cpu && v < s->nvcpus; v++) {
			if (dup_vcpu(s, v))
				continue;
			dom(f, "kvmpilot_vcpu_wait_seconds_total", s);
			fprintf(f, ",vcpu=\"%d\"", s->vcpus[v].index);
			val(f, (double)s->vcpus[v].wait_ns / 1e9);
		}
	}
	family(f, "kvmpilot_vcpu_exits_total", "counter", "KVM exits of each vCPU.");
	for (int i = 0; i < snap->nvms; i++) {
		const struct vm_sample *s = &snap->vms[i].s;

		for (int v = 0; s->have_bpf && v < s->nvcpus; v++) {
			if (dup_vcpu(s, v))
				continue;
			dom(f, "kvmpilot_vcpu_exits_total", s);
			fprintf(f, ",vcpu=\"%d\"", s->vcpus[v].index);
			val(f, (double)s->vcpus[v].exits);
		}
	}
	PER_VM("kvmpilot_emulator_run_seconds_total", "counter",
	       "CPU time of the VM's non-vCPU QEMU threads (main loop, I/O threads, workers).",
	       s->have_bpf, s->emulator_run_ns / 1e9);

	/* exits by reason */
	family(f, "kvmpilot_exits_total", "counter", "KVM exits by exit reason.");
	for (int i = 0; i < snap->nvms; i++) {
		const struct vm_sample *s = &snap->vms[i].s;

		for (int r = 0; s->have_bpf && r < s->nreasons; r++) {
			dom(f, "kvmpilot_exits_total", s);
			fputs(",reason=\"", f);
			esc(f, s->reasons[r].name);
			fputc('"', f);
			val(f, (double)s->reasons[r].count);
		}
	}
	hist_family(f, snap, "kvmpilot_exit_handling_seconds",
		    "Time from a KVM exit to the next entry of the same vCPU, by exit reason.",
		    true);

	/* tap I/O, named from the guest's point of view */
	static const struct {
		const char *name, *help;
		size_t off;
	} nets[] = {
		{ "kvmpilot_net_rx_bytes_total", "Bytes delivered to the guest through its tap.",
		  offsetof(struct sample_net, rx_bytes) },
		{ "kvmpilot_net_tx_bytes_total", "Bytes sent by the guest through its tap.",
		  offsetof(struct sample_net, tx_bytes) },
		{ "kvmpilot_net_rx_packets_total",
		  "Packets delivered to the guest through its tap.",
		  offsetof(struct sample_net, rx_packets) },
		{ "kvmpilot_net_tx_packets_total", "Packets sent by the guest through its tap.",
		  offsetof(struct sample_net, tx_packets) },
	};
	for (size_t k = 0; k < sizeof(nets) / sizeof(nets[0]); k++) {
		family(f, nets[k].name, "counter", nets[k].help);
		for (int i = 0; i < snap->nvms; i++) {
			const struct vm_sample *s = &snap->vms[i].s;

			for (int n = 0; s->have_bpf && n < s->nnets; n++) {
				if (dup_net(s, n))
					continue;
				dom(f, nets[k].name, s);
				fputs(",ifname=\"", f);
				esc(f, s->nets[n].ifname);
				fputc('"', f);
				val(f, (double)*(const uint64_t *)((const char *)&s->nets[n] +
								   nets[k].off));
			}
		}
	}

	static const struct {
		const char *name, *help;
		size_t off;
	} blks[] = {
		{ "kvmpilot_block_read_bytes_total", "Bytes read from the VM's disks.",
		  offsetof(struct sample_disk, rd_bytes) },
		{ "kvmpilot_block_write_bytes_total", "Bytes written to the VM's disks.",
		  offsetof(struct sample_disk, wr_bytes) },
		{ "kvmpilot_block_read_ops_total", "Read operations on the VM's disks.",
		  offsetof(struct sample_disk, rd_ops) },
		{ "kvmpilot_block_write_ops_total", "Write operations on the VM's disks.",
		  offsetof(struct sample_disk, wr_ops) },
	};
	for (size_t k = 0; k < sizeof(blks) / sizeof(blks[0]); k++) {
		family(f, blks[k].name, "counter", blks[k].help);
		for (int i = 0; i < snap->nvms; i++) {
			const struct vm_sample *s = &snap->vms[i].s;

			for (int d = 0; s->have_bpf && d < s->ndisks; d++) {
				if (dup_disk(s, d))
					continue;
				dom(f, blks[k].name, s);
				fputs(",disk=\"", f);
				esc(f, s->disks[d].name);
				fputc('"', f);
				val(f, (double)*(const uint64_t *)((const char *)&s->disks[d] +
								   blks[k].off));
			}
		}
	}
	hist_family(f, snap, "kvmpilot_block_latency_seconds",
		    "Latency of the VM's block requests, issue to completion.", false);

	/* memory */
	PER_VM("kvmpilot_memory_guest_used_bytes", "gauge",
	       "Memory in use inside the guest (total - available).",
	       s->mem_source != MEM_SOURCE_NONE, s->mem_used_kib * 1024.0);
	PER_VM("kvmpilot_memory_guest_total_bytes", "gauge", "Memory the guest sees.",
	       s->mem_source != MEM_SOURCE_NONE, s->mem_total_kib * 1024.0);
	PER_VM("kvmpilot_memory_guest_available_bytes", "gauge",
	       "Memory the guest could use without swapping.", s->mem_source != MEM_SOURCE_NONE,
	       s->mem_avail_kib * 1024.0);
	family(f, "kvmpilot_memory_data_age_seconds", "gauge",
	       "Age of the guest memory data, by source (agent or balloon statistics).");
	for (int i = 0; i < snap->nvms; i++) {
		const struct vm_sample *s = &snap->vms[i].s;

		if (s->mem_source == MEM_SOURCE_NONE)
			continue;
		dom(f, "kvmpilot_memory_data_age_seconds", s);
		fprintf(f, ",source=\"%s\"", mem_source__name(s->mem_source));
		val(f, s->mem_age_s);
	}
	PER_VM("kvmpilot_memory_allocation_bytes", "gauge",
	       "Memory currently given to the VM (balloon size).", s->balloon_kib > 0,
	       s->balloon_kib * 1024.0);
	PER_VM("kvmpilot_memory_max_bytes", "gauge", "The domain's maximum memory.",
	       s->mem_max_kib > 0, s->mem_max_kib * 1024.0);
	PER_VM("kvmpilot_memory_floor_bytes", "gauge", "Configured memory floor.", 1,
	       s->mem_floor_kib * 1024.0);
	PER_VM("kvmpilot_memory_forecast_bytes", "gauge",
	       "The policy's forecast of guest memory demand.", s->forecast_kib > 0,
	       s->forecast_kib * 1024.0);
	PER_VM("kvmpilot_memory_forecast_upper_bytes", "gauge", "Upper edge of the forecast band.",
	       s->forecast_kib > 0, s->forecast_hi_kib * 1024.0);
	PER_VM("kvmpilot_memory_target_bytes", "gauge", "The policy's target memory.",
	       s->decided && s->target_mem_kib > 0, s->target_mem_kib * 1024.0);
	PER_VM("kvmpilot_swap_used_bytes", "gauge", "Swap in use inside the guest.",
	       s->mem_source == MEM_SOURCE_AGENT, s->swap_used_kib * 1024.0);

	/* the guest agent */
	PER_VM("kvmpilot_agent_samples_total", "counter",
	       "Valid samples received from the guest agent.", s->agent_channel, s->agent_samples);
	PER_VM("kvmpilot_agent_rejected_lines_total", "counter",
	       "Lines from the guest agent rejected as malformed or hostile.", s->agent_channel,
	       s->agent_rejected);
	PER_VM("kvmpilot_agent_connected", "gauge", "1 while the agent channel is connected.",
	       s->agent_channel, s->agent_connected);

	/* vCPU counts */
	PER_VM("kvmpilot_vcpus_online", "gauge", "vCPUs online in the guest.", s->vcpus_online > 0,
	       s->vcpus_online);
	PER_VM("kvmpilot_vcpus_current", "gauge", "vCPUs plugged into the VM.",
	       s->vcpus_current > 0, s->vcpus_current);
	PER_VM("kvmpilot_vcpus_max", "gauge", "The domain's maximum vCPUs.", s->vcpus_max > 0,
	       s->vcpus_max);
	PER_VM("kvmpilot_vcpus_target", "gauge", "The policy's target vCPUs.",
	       s->decided && s->target_vcpus > 0, s->target_vcpus);

	/* actions */
	family(f, "kvmpilot_actions_total", "counter",
	       "Actions taken (or logged in dry-run) by kind and result.");
	for (int i = 0; i < snap->nvms; i++) {
		static const char *const kinds[2] = { "memory", "vcpus" };
		static const char *const results[3] = { "ok", "error", "dry_run" };
		const struct snapshot_vm *sv = &snap->vms[i];

		for (int k = 0; k < 2; k++) {
			for (int r = 0; r < 3; r++) {
				dom(f, "kvmpilot_actions_total", &sv->s);
				fprintf(f, ",kind=\"%s\",result=\"%s\"", kinds[k], results[r]);
				val(f, (double)sv->actions[k][r]);
			}
		}
	}

	if (fclose(f)) {
		free(buf);
		return NULL;
	}
	*len = size;
	return buf;
}
