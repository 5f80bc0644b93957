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

#include "metrics.h"
#include "procscan.h"
#include "vm.h"

/*
 * le buckets at the log2 slot edges (hist.h) from 2^10 ns (~1 us) to 2^32 ns
 * (~4.3 s): histogram_quantile() over them interpolates inside the same
 * slots as hist__percentile(), so it gives the p50/p99 of stat and the API.
 */
#define LE_FIRST 10
#define LE_LAST	 32

/*
 * A label value: '\\', '"' and newline escaped as the exposition format
 * says, and valid UTF-8 always (vm.h's name rule: the strings are cleaned
 * when published, this holds even for one that was not), or Prometheus
 * refuses the whole scrape.
 */
static void esc(FILE *f, const char *s)
{
	char clean[1024];

	if (!vm_name__valid(s)) {
		(void)vm_name__sanitize(clean, sizeof(clean), s, strlen(s));
		s = clean;
	}
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

/* One more label (,NAME="VALUE"), when lname is set. */
static void label(FILE *f, const char *lname, const char *lval)
{
	if (!lname)
		return;
	fprintf(f, ",%s=\"", lname);
	esc(f, lval);
	fputc('"', f);
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
		label(f, lname, lval);
		fprintf(f, ",le=\"%.9g\"} %llu\n", (double)(1ull << e) / 1e9,
			(unsigned long long)cum);
	}
	for (; slot < KP_HIST_SLOTS; slot++)
		cum += h->slots[slot];
	dom(f, name, s);
	label(f, lname, lval);
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
			label(f, rl, rv);
			val(f, (double)h->sum_ns / 1e9);
			snprintf(name, sizeof(name), "%s_count", base);
			dom(f, name, s);
			label(f, rl, rv);
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

/* The service itself. */
static void render_service(FILE *f, const struct snapshot *snap)
{
	const struct snapshot_health *h = &snap->health;

	family(f, "kvmpilot_up", "gauge", "1 while the service runs its tick loop.");
	fputs("kvmpilot_up 1\n", f);
	family(f, "kvmpilot_libvirt_connected", "gauge", "1 when the libvirt connection is up.");
	fprintf(f, "kvmpilot_libvirt_connected %d\n", h->libvirt_connected);
	family(f, "kvmpilot_bpf_loaded", "gauge", "1 when the BPF tracer is loaded and attached.");
	fprintf(f, "kvmpilot_bpf_loaded %d\n", h->bpf_loaded);
	family(f, "kvmpilot_libvirt_names_refused", "gauge",
	       "Running libvirt domains whose name is too long to keep whole (not watched, "
	       "never cut), at the last re-list.");
	fprintf(f, "kvmpilot_libvirt_names_refused %lu\n", h->libvirt_names_refused);
	family(f, "kvmpilot_vms", "gauge", "VMs known to the service.");
	fprintf(f, "kvmpilot_vms %d\n", snap->nvms);
	family(f, "kvmpilot_ticks_total", "counter", "Ticks run since the service started.");
	fprintf(f, "kvmpilot_ticks_total %llu\n", (unsigned long long)h->ticks);
	family(f, "kvmpilot_tick_duration_seconds", "gauge", "How long the last tick took.");
	fprintf(f, "kvmpilot_tick_duration_seconds %.9g\n", h->last_tick_ms / 1000.0);
	family(f, "kvmpilot_procscan_refused_total", "counter",
	       "QEMU-like processes not taken as VMs: owner (not a 'vm_owners' user), "
	       "limit (over the VMs tracked), counted at each full /proc scan.");
	for (int r = 0; r < SNAPSHOT_REFUSED_NR; r++)
		fprintf(f, "kvmpilot_procscan_refused_total{reason=\"%s\"} %llu\n",
			procscan__refused_name(r), (unsigned long long)h->procscan_refused[r]);
	family(f, "kvmpilot_trace_sync_failures_total", "counter",
	       "BPF tracking entries that could not be written (that VM goes untraced).");
	fprintf(f, "kvmpilot_trace_sync_failures_total %llu\n",
		(unsigned long long)h->trace_sync_failures);
}

/* A per-vCPU counter; vCPU times need have_cpu, exit counts have_bpf. */
enum vcpu_field {
	VCPU_RUN_S,
	VCPU_WAIT_S,
	VCPU_EXITS
};

static void vcpu_family(FILE *f, const struct snapshot *snap, const char *name, const char *help,
			enum vcpu_field field)
{
	family(f, name, "counter", help);
	for (int i = 0; i < snap->nvms; i++) {
		const struct vm_sample *s = &snap->vms[i].s;
		bool known = field == VCPU_EXITS ? s->have_bpf : s->have_cpu;

		for (int v = 0; known && v < s->nvcpus; v++) {
			const struct sample_vcpu *c = &s->vcpus[v];

			if (dup_vcpu(s, v))
				continue;
			dom(f, name, s);
			fprintf(f, ",vcpu=\"%d\"", c->index);
			val(f, field == VCPU_RUN_S    ? (double)c->run_ns / 1e9
			       : field == VCPU_WAIT_S ? (double)c->wait_ns / 1e9
						      : (double)c->exits);
		}
	}
}

/* vCPUs and exits, from BPF (vCPU times also from schedstat). */
static void render_cpu(FILE *f, const struct snapshot *snap)
{
	vcpu_family(f, snap, "kvmpilot_vcpu_run_seconds_total",
		    "Time each vCPU thread ran on a host CPU.", VCPU_RUN_S);
	vcpu_family(f, snap, "kvmpilot_vcpu_wait_seconds_total",
		    "Time each vCPU thread was runnable but waited for a host CPU (host steal).",
		    VCPU_WAIT_S);
	vcpu_family(f, snap, "kvmpilot_vcpu_exits_total", "KVM exits of each vCPU.", VCPU_EXITS);
	PER_VM("kvmpilot_emulator_run_seconds_total", "counter",
	       "CPU time of the VM's non-vCPU QEMU threads (main loop, I/O threads, workers).",
	       s->have_bpf, s->emulator_run_ns / 1e9);

	family(f, "kvmpilot_exits_total", "counter", "KVM exits by exit reason.");
	for (int i = 0; i < snap->nvms; i++) {
		const struct vm_sample *s = &snap->vms[i].s;

		for (int r = 0; s->have_bpf && r < s->nreasons; r++) {
			dom(f, "kvmpilot_exits_total", s);
			label(f, "reason", s->reasons[r].name);
			val(f, (double)s->reasons[r].count);
		}
	}
	hist_family(f, snap, "kvmpilot_exit_handling_seconds",
		    "Time from a KVM exit to the next entry of the same vCPU, by exit reason.",
		    true);
}

/* A counter of struct sample_net or sample_disk at offset off, one series per device. */
struct device_counter {
	const char *name, *help;
	size_t off;
};

static void device_family(FILE *f, const struct snapshot *snap, const struct device_counter *c,
			  bool net)
{
	family(f, c->name, "counter", c->help);
	for (int i = 0; i < snap->nvms; i++) {
		const struct vm_sample *s = &snap->vms[i].s;
		int n = net ? s->nnets : s->ndisks;

		for (int d = 0; s->have_bpf && d < n; d++) {
			const void *dev =
				net ? (const void *)&s->nets[d] : (const void *)&s->disks[d];

			if (net ? dup_net(s, d) : dup_disk(s, d))
				continue;
			dom(f, c->name, s);
			label(f, net ? "ifname" : "disk",
			      net ? s->nets[d].ifname : s->disks[d].name);
			val(f, (double)*(const uint64_t *)((const char *)dev + c->off));
		}
	}
}

/* Tap I/O (named from the guest's point of view) and block I/O. */
static void render_io(FILE *f, const struct snapshot *snap)
{
	static const struct device_counter nets[] = {
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
	static const struct device_counter blks[] = {
		{ "kvmpilot_block_read_bytes_total", "Bytes read from the VM's disks.",
		  offsetof(struct sample_disk, rd_bytes) },
		{ "kvmpilot_block_write_bytes_total", "Bytes written to the VM's disks.",
		  offsetof(struct sample_disk, wr_bytes) },
		{ "kvmpilot_block_read_ops_total", "Read operations on the VM's disks.",
		  offsetof(struct sample_disk, rd_ops) },
		{ "kvmpilot_block_write_ops_total", "Write operations on the VM's disks.",
		  offsetof(struct sample_disk, wr_ops) },
	};

	for (size_t k = 0; k < sizeof(nets) / sizeof(nets[0]); k++)
		device_family(f, snap, &nets[k], true);
	for (size_t k = 0; k < sizeof(blks) / sizeof(blks[0]); k++)
		device_family(f, snap, &blks[k], false);
	hist_family(f, snap, "kvmpilot_block_latency_seconds",
		    "Latency of the VM's block requests, issue to completion.", false);
}

static void render_memory(FILE *f, const struct snapshot *snap)
{
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
}

/* The guest agent and the vCPU counts. */
static void render_agent_vcpus(FILE *f, const struct snapshot *snap)
{
	PER_VM("kvmpilot_agent_samples_total", "counter",
	       "Valid samples received from the guest agent.", s->agent_channel, s->agent_samples);
	PER_VM("kvmpilot_agent_rejected_lines_total", "counter",
	       "Lines from the guest agent rejected as malformed or hostile.", s->agent_channel,
	       s->agent_rejected);
	PER_VM("kvmpilot_agent_connected", "gauge", "1 while the agent channel is connected.",
	       s->agent_channel, s->agent_connected);

	PER_VM("kvmpilot_vcpus_online", "gauge", "vCPUs online in the guest.", s->vcpus_online > 0,
	       s->vcpus_online);
	PER_VM("kvmpilot_vcpus_current", "gauge", "vCPUs plugged into the VM.",
	       s->vcpus_current > 0, s->vcpus_current);
	PER_VM("kvmpilot_vcpus_max", "gauge", "The domain's maximum vCPUs.", s->vcpus_max > 0,
	       s->vcpus_max);
	PER_VM("kvmpilot_vcpus_target", "gauge", "The policy's target vCPUs.",
	       s->decided && s->target_vcpus > 0, s->target_vcpus);
}

static void render_actions(FILE *f, const struct snapshot *snap)
{
	static const char *const kinds[2] = { "memory", "vcpus" };
	static const char *const results[3] = { "ok", "error", "dry_run" };

	family(f, "kvmpilot_actions_total", "counter",
	       "Actions taken (or logged in dry-run) by kind and result.");
	for (int i = 0; i < snap->nvms; i++) {
		const struct snapshot_vm *sv = &snap->vms[i];

		for (int k = 0; k < ACT_KIND_NR; k++) {
			const struct act_counts *n = &sv->actions[k];
			const uint64_t v[3] = { n->ok, n->error, n->dry_run }; /* as results[] */

			for (int r = 0; r < 3; r++) {
				dom(f, "kvmpilot_actions_total", &sv->s);
				fprintf(f, ",kind=\"%s\",result=\"%s\"", kinds[k], results[r]);
				val(f, (double)v[r]);
			}
		}
	}
}

char *metrics__render(const struct snapshot *snap, size_t *len)
{
	char *buf = NULL;
	size_t size = 0;
	FILE *f;

	f = open_memstream(&buf, &size);
	if (!f)
		return NULL;
	/* one thread writes this stream: no locking per character */
	__fsetlocking(f, FSETLOCKING_BYCALLER);
	render_service(f, snap);
	render_cpu(f, snap);
	render_io(f, snap);
	render_memory(f, snap);
	render_agent_vcpus(f, snap);
	render_actions(f, snap);
	if (fclose(f)) {
		free(buf);
		return NULL;
	}
	*len = size;
	return buf;
}
