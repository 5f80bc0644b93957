// SPDX-License-Identifier: GPL-2.0
/* The sources of a tick (see collect.h). */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <unistd.h>

#include "collect.h"
#include "config.h"
#include "procscan.h"
#include "sample.h"
#include "snapshot.h"
#include "trace.h"
#include "util.h"
#include "virt.h"

#define BPF_RETRY_TICKS 60

struct collector {
	struct virt *virt;
	struct virt_stats_list stats;
	unsigned long virt_names_refused; /* as last logged */
	struct ratelimit rl_virt;
	struct vm_list list; /* this tick's VMs, all sources merged */
	struct vm_list proc;
	struct procscan_counts refused; /* cumulative, by enum procscan_refused */
	struct collect_counters counters;
	unsigned long refused_logged; /* the sum as last logged */
	struct ratelimit rl_refused;
	unsigned long sync_failures_logged;
	struct ratelimit rl_sync;
	struct trace *trace;
	struct trace_snapshot tsnap;
	uint64_t bpf_retry_tick;
	bool bpf_loaded;
	char bpf_error[256];
};

static void open_trace(struct collector *c, const struct config *cfg, uint64_t tick);

static void virt_source(struct collector *c, struct vm_list *lv)
{
	struct virt_counters vc;
	int r = virt__poll(c->virt);

	if (r < 0 && r != -ENOTCONN && ratelimit__allow(&c->rl_virt, now_mono_ns()))
		log_warn("libvirt: %s", virt__last_error(c->virt));
	virt__counters(c->virt, &vc);
	if (vc.names_refused != c->virt_names_refused && vc.names_refused)
		log_warn("libvirt: %lu running domain(s) not watched: names of %d bytes or more "
			 "are refused, never cut",
			 vc.names_refused, VM_NAME_MAX);
	c->virt_names_refused = vc.names_refused;
	if (virt__list(c->virt, lv) < 0)
		vm_list__clear(lv);
	if (!virt__connected(c->virt) || virt__stats(c->virt, &c->stats) < 0)
		c->stats.n = 0;
}

static unsigned long refused_sum(const struct collector *c)
{
	unsigned long sum = 0;

	for (int r = 0; r < PROCSCAN_REFUSED_NR; r++)
		sum += c->refused.refused[r];
	return sum;
}

/* Refused QEMUs are said, a few times a minute at most: anyone can start one. */
static void log_refused(struct collector *c, const struct config *cfg)
{
	unsigned long sum = refused_sum(c);

	if (sum == c->refused_logged || !ratelimit__allow(&c->rl_refused, now_mono_ns()))
		return;
	log_warn("/proc scan: %lu QEMU-like process(es) not taken as VMs so far: %lu not owned by "
		 "'vm_owners' ('%s'; the last: pid %d, uid %u), %lu over the limit of %d VMs",
		 sum, c->refused.refused[PROCSCAN_REFUSED_OWNER], cfg->vm_owners,
		 c->refused.last_pid, (unsigned int)c->refused.last_uid,
		 c->refused.refused[PROCSCAN_REFUSED_LIMIT], VM_MAX_TRACKED);
	c->refused_logged = sum;
}

/*
 * At most VM_MAX_TRACKED VMs: libvirt's domains are kept first, QEMUs found
 * only in /proc are left out from the end of the list.
 */
static void cap_list(struct collector *c)
{
	while (c->list.n > VM_MAX_TRACKED) {
		int drop = c->list.n - 1;

		for (int i = c->list.n - 1; i >= 0; i--) {
			if (!(c->list.vms[i].source & VM_SOURCE_LIBVIRT)) {
				drop = i;
				break;
			}
		}
		c->list.vms[drop] = c->list.vms[--c->list.n];
		c->refused.refused[PROCSCAN_REFUSED_LIMIT]++;
	}
}

/* The /proc scan: in full every procscan_ticks, else the last one minus exited processes. */
static void scan_proc(struct collector *c, const struct config *cfg, uint64_t tick,
		      double *phase_ms)
{
	int err;

	if (!cfg->procscan) {
		vm_list__clear(&c->proc);
	} else if (tick % cfg->procscan_ticks == 0) {
		uint64_t t = now_mono_ns();

		uid_t owners[VM_MAX_OWNERS];
		struct procscan_opts o = { .check_owner = true,
					   .owners = owners,
					   .max_vms = VM_MAX_TRACKED };

		/* resolved at each full scan: libvirt's user may be created after us */
		o.nowners = procscan__resolve_owners(cfg->vm_owners, owners, VM_MAX_OWNERS);
		if (o.nowners < 0)
			o.nowners = 0;
		vm_list__clear(&c->proc);
		err = procscan__scan_opts("/proc", &o, NULL, 0, &c->proc, &c->refused);
		phase_ms[TICK_PHASE_PROCSCAN] = (double)(now_mono_ns() - t) / 1e6;
		if (err < 0) {
			log_debug("/proc scan failed: %s", strerror(-err));
			vm_list__clear(&c->proc);
		}
		log_refused(c, cfg);
	} else {
		/*
		 * Between full scans (the costly part of a tick with many
		 * processes) keep the last result, minus processes that exited.
		 */
		for (int i = 0; i < c->proc.n;) {
			char path[32];

			snprintf(path, sizeof(path), "/proc/%d", c->proc.vms[i].pid);
			if (access(path, F_OK)) {
				c->proc.vms[i] = c->proc.vms[--c->proc.n];
				continue;
			}
			i++;
		}
		phase_ms[TICK_PHASE_PROCSCAN] = 0;
	}
}

/* Entries the tracer could not write: those VMs go without BPF data, the others keep it. */
static void log_sync_failures(struct collector *c)
{
	int last = 0;
	unsigned long n = trace__sync_failures(c->trace, &last);

	if (n == c->sync_failures_logged || !ratelimit__allow(&c->rl_sync, now_mono_ns()))
		return;
	log_warn("tracer: %lu tracking entr%s could not be written so far (last: %s); the "
		 "other VMs are traced",
		 n, n == 1 ? "y" : "ies", last ? strerror(-last) : "none in the last tick");
	c->sync_failures_logged = n;
}

/*
 * One list of every VM: libvirt's domains enriched by the /proc scan, then
 * QEMU processes libvirt does not know. A libvirt domain without a pid (the
 * test driver) and a scanned process with the same name are one VM.
 */
int collect__tick(struct collector *c, const struct config *cfg, uint64_t tick, double *phase_ms)
{
	struct vm_list lv = { 0 };
	int err = 0;

	vm_list__clear(&c->list);
	scan_proc(c, cfg, tick, phase_ms);
	uint64_t tv = now_mono_ns();

	virt_source(c, &lv);
	phase_ms[TICK_PHASE_LIBVIRT] = (double)(now_mono_ns() - tv) / 1e6;
	err = virt__merge(&c->list, &lv, &c->proc);
	if (err < 0)
		goto cleanup;
	for (int i = 0; i < c->list.n; i++) {
		struct vm_desc *a = &c->list.vms[i];

		if (a->pid || !(a->source & VM_SOURCE_LIBVIRT))
			continue;
		for (int j = 0; j < c->list.n; j++) {
			struct vm_desc *b = &c->list.vms[j];

			if (j == i || (b->source & VM_SOURCE_LIBVIRT) || strcmp(a->name, b->name))
				continue;
			b->source |= VM_SOURCE_LIBVIRT;
			if (!b->uuid[0])
				(void)str_copy(b->uuid, a->uuid, sizeof(b->uuid));
			if (!b->channel_path[0])
				(void)str_copy(b->channel_path, a->channel_path,
					       sizeof(b->channel_path));
			*a = *b;
			c->list.vms[j] = c->list.vms[--c->list.n];
			break;
		}
	}
	cap_list(c);
	err = 0;

	if (!c->trace && cfg->bpf && tick >= c->bpf_retry_tick)
		open_trace(c, cfg, tick);
	if (c->trace) {
		uint64_t tt = now_mono_ns();
		int r = trace__sync(c->trace, &c->list);

		if (!r)
			r = trace__read(c->trace, &c->tsnap);
		log_sync_failures(c);
		if (r) {
			snprintf(c->bpf_error, sizeof(c->bpf_error), "tracer: %s", strerror(-r));
			c->tsnap.n = 0;
		} else {
			c->bpf_error[0] = '\0';
		}
		phase_ms[TICK_PHASE_BPF] = (double)(now_mono_ns() - tt) / 1e6;
	}
cleanup:
	vm_list__free(&lv);
	return err;
}

/*
 * vCPU run and run-queue wait times from schedstat when the tracer is not
 * there: the kernel's own per-thread counters, same meaning as BPF's.
 */
static void cpu_from_schedstat(struct vm_sample *s)
{
	char path[64], buf[128];
	int got = 0;

	for (int i = 0; s->pid > 0 && i < s->nvcpus; i++) {
		unsigned long long run, wait;

		snprintf(path, sizeof(path), "/proc/%d/task/%d/schedstat", s->pid, s->vcpus[i].tid);
		if (read_file_str(path, buf, sizeof(buf)) <= 0 ||
		    sscanf(buf, "%llu %llu", &run, &wait) != 2)
			continue;
		s->vcpus[i].run_ns = run;
		s->vcpus[i].wait_ns = wait;
		got++;
	}
	if (got) {
		s->have_cpu = true;
		(void)str_copy(s->cpu_source, "schedstat", sizeof(s->cpu_source));
	}
}

static bool known(uint64_t v)
{
	return v != UINT64_MAX;
}

/* libvirt's part of the sample: sizes, and the balloon statistics when they may count. */
void collect__virt(struct collector *c, const struct vm_desc *d, struct vm_sample *s,
		   double silent_s)
{
	const struct virt_dom_stats *ds;
	struct sample_virt in = { 0 };
	struct virt_dom_info info;
	struct virt_memstats ms;

	if (!(d->source & VM_SOURCE_LIBVIRT))
		return;
	if (!virt__info(c->virt, d->name, &info)) {
		in.have_info = true;
		in.running = virt_dom_info__running(&info);
		in.max_memory_kib = info.max_memory_kib;
		in.cur_memory_kib = info.cur_memory_kib;
		in.cur_vcpus = info.cur_vcpus;
		in.max_vcpus = info.max_vcpus;
	}
	ds = virt_stats_list__find(&c->stats, d->name);
	if (ds) {
		in.have_stats = true;
		in.balloon_current_kib = ds->balloon_current_kib;
		in.balloon_maximum_kib = ds->balloon_maximum_kib;
		in.vcpu_current = ds->vcpu_current;
		in.vcpu_maximum = ds->vcpu_maximum;
	}
	/* balloon statistics: MemTotal ("available") and MemAvailable ("usable") */
	if (!sample__wants_balloon(s, silent_s)) {
		/* the agent spoke */
	} else if (ds && known(ds->balloon_available_kib) && known(ds->balloon_usable_kib)) {
		in.have_mem = true;
		ms.available = ds->balloon_available_kib;
		ms.usable = ds->balloon_usable_kib;
		ms.last_update = ds->balloon_last_update;
	} else if (!virt__memstats(c->virt, d->name, &ms) && known(ms.available) &&
		   known(ms.usable)) {
		/* stats groups without balloon figures (the test driver): ask directly */
		in.have_mem = true;
	}
	if (in.have_mem) {
		in.mem_total_kib = ms.available;
		in.mem_avail_kib = ms.usable;
		in.mem_age_known = !virt__memstats_age(ms.last_update, s->time_ns, &in.mem_age_s);
	}
	(void)sample__add_virt(s, &in, silent_s);
}

static void open_trace(struct collector *c, const struct config *cfg, uint64_t tick)
{
	struct trace_opts to = { 0 };
	int err;

	c->bpf_retry_tick = tick + BPF_RETRY_TICKS;
	if (!cfg->bpf) {
		(void)str_copy(c->bpf_error, "disabled in the configuration ('bpf = false')",
			       sizeof(c->bpf_error));
		return;
	}
	err = trace__ensure_fs();
	if (!err) {
		c->trace = trace__open(&to);
		err = c->trace ? 0 : -errno;
	}
	if (err) {
		snprintf(c->bpf_error, sizeof(c->bpf_error), "cannot load the tracer: %s",
			 strerror(-err));
		log_warn("%s (retrying every %d ticks)", c->bpf_error, BPF_RETRY_TICKS);
		return;
	}
	c->bpf_loaded = true;
	c->bpf_error[0] = '\0';
	log_info("BPF tracer loaded, maps pinned under '%s'", trace__pin_root(c->trace));
}

/*
 * Every VM holds files open (its CSV history, its agent channel) and the
 * /proc scan opens more: the soft RLIMIT_NOFILE (often 1024) goes up to the
 * hard limit once, at the start of the service.
 */
static void raise_nofile(void)
{
	struct rlimit rl;

	if (getrlimit(RLIMIT_NOFILE, &rl)) {
		log_warn("cannot read RLIMIT_NOFILE: %s", strerror(errno));
		return;
	}
	if (rl.rlim_cur == rl.rlim_max)
		return;
	rl.rlim_cur = rl.rlim_max;
	if (setrlimit(RLIMIT_NOFILE, &rl))
		log_warn("cannot raise RLIMIT_NOFILE to %llu: %s", (unsigned long long)rl.rlim_max,
			 strerror(errno));
}

struct collector *collect__open(const struct config *cfg)
{
	struct virt_opts vo = { .uri = cfg->uri,
				.backoff_max_ms = cfg->libvirt_retry_max_s * 1000 };
	struct collector *c = calloc(1, sizeof(*c));
	int err;

	if (!c)
		return NULL;
	raise_nofile();
	c->rl_virt = (struct ratelimit)RATELIMIT_INIT(60ull * 1000000000, 3);
	c->rl_refused = (struct ratelimit)RATELIMIT_INIT(60ull * 1000000000, 3);
	c->rl_sync = (struct ratelimit)RATELIMIT_INIT(60ull * 1000000000, 3);
	c->virt = virt__open(&vo);
	if (!c->virt) {
		err = errno;
		free(c);
		errno = err;
		return NULL;
	}
	if (!virt__connected(c->virt))
		log_warn("libvirt '%s' is not reachable (%s): retrying in the background", cfg->uri,
			 virt__last_error(c->virt));
	open_trace(c, cfg, 0);
	return c;
}

void collect__close(struct collector *c)
{
	if (!c)
		return;
	vm_list__free(&c->list);
	vm_list__free(&c->proc);
	trace_snapshot__free(&c->tsnap);
	trace__close(c->trace);
	virt_stats_list__free(&c->stats);
	virt__close(c->virt);
	free(c);
}

const struct vm_list *collect__list(const struct collector *c)
{
	return &c->list;
}

void collect__trace(struct collector *c, struct vm_sample *s)
{
	const struct trace_vm *tv;

	tv = c->trace && s->pid > 0 ? trace_snapshot__find(&c->tsnap, s->pid) : NULL;
	if (tv)
		sample__add_trace(s, tv);
	if (!s->have_cpu)
		cpu_from_schedstat(s);
}

struct virt *collect__virt_handle(const struct collector *c)
{
	return c->virt;
}

bool collect__bpf_loaded(const struct collector *c)
{
	return c->bpf_loaded;
}

const struct collect_counters *collect__counters(struct collector *c)
{
	_Static_assert(COLLECT_REFUSED_NR == PROCSCAN_REFUSED_NR, "one reason list");
	for (int r = 0; r < PROCSCAN_REFUSED_NR; r++)
		c->counters.refused[r] = c->refused.refused[r];
	if (c->trace)
		c->counters.trace_sync_failures = trace__sync_failures(c->trace, NULL);
	return &c->counters;
}

const char *collect__bpf_error(const struct collector *c)
{
	return c->bpf_error;
}
