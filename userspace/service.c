// SPDX-License-Identifier: GPL-2.0
#include <errno.h>
#include <stddef.h>
#include <malloc.h>
#include <math.h>
#include <poll.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "api.h"
#include "config.h"
#include "history.h"
#include "http.h"
#include "metrics.h"
#include "sample.h"
#include "service.h"
#include "snapshot.h"
#include "util.h"
#include "vm.h"

#include "actuate.h"
#include "channel.h"
#include "policy.h"
#include "procscan.h"
#include "trace.h"
#include "virt.h"

#define ACTION_RING	256
#define KIB_PER_MIB	1024ull
#define BPF_RETRY_TICKS 60
#define MEM_RESERVE_MIB 128 /* headroom kept above guest used (policy and actuator) */

/* How long a balloon target that grew counts before the balloon reaches it. */
#define MEM_GROW_SETTLE_NS (10 * 1000000000ull)
/* a growth has landed when the balloon is this close to its target */
#define MEM_LANDED_SLACK_KIB 2048

struct vmstate {
	char name[VM_NAME_MAX];
	struct history *hist;
	/* last tick's sample, for rates: in svc->prev_snap, or NULL */
	const struct vm_sample *prev;
	bool seen; /* in this tick's list */
	uint64_t actions[2][3];
	uint64_t mem_time_ns;	  /* wall clock of the guest memory data */
	struct policy_state *pol; /* what the policy remembers about this VM */
	struct channel *ch;	  /* the guest agent's channel, when the VM has one */
	uint64_t agent_rejected_logged;
	char pol_kind[CONFIG_POLICY_MAX];
	/* a set-cpus command sent to the agent, confirmed by a later tick */
	bool cpus_cmd_pending;
	uint32_t cpus_cmd_id;
	int cpus_cmd_n;
	int cpus_cmd_tries;
	/* the last memory growth set, while the balloon may still be deflating */
	uint64_t mem_grow_kib;
	uint64_t mem_grow_ns;
	bool mem_grow_landed;
	double mem_lag_s; /* how long growths take to land beyond a tick; < 0: none yet */
	/* balloon - guest MemTotal: what the guest kernel keeps for itself */
	uint64_t kernel_kib;
};

/* An agent channel watched between ticks. */
struct agent_watch {
	struct vmstate *st;
	unsigned int reads; /* since the tick */
};

struct service {
	struct service_opts opts;
	struct config *cfg;
	struct snapshot_slot *slot;
	/* the last tick's snapshot: the vmstate prev samples live in it */
	struct snapshot *prev_snap;
	struct http_server *http;
	struct vmstate *vms;
	int nvms, capvms;
	struct vm_list list; /* this tick's VMs, all sources merged */
	struct vm_list proc;
	uint64_t ticks, overruns, early_ticks;
	struct pollfd *pfds;	   /* the agent channels watched between ticks */
	struct agent_watch *watch; /* watch[i] is pfds[i]'s */
	int cap_pfds;
	double last_tick_ms;
	double phase_ms[TICK_PHASES]; /* of the last tick */
	double start_time;
	char config_error[CONFIG_ERR_MAX];
	uint64_t reloads;
	struct action_rec actions[ACTION_RING];
	int nactions, action_head;
	uint64_t actions_total;
	char bpf_error[256];
	bool bpf_loaded;
	struct trace *trace;
	struct trace_snapshot tsnap;
	uint64_t bpf_retry_tick;
	struct virt *virt;
	struct actuate *act; /* one rate limit per VM and kind, one action log */
	struct virt_stats_list stats;
	unsigned long virt_names_refused; /* as last logged */
	struct ratelimit rl_virt;
	struct ratelimit rl_agent;
};

static void apply_overrides(struct service *svc, struct config *cfg)
{
	const struct service_opts *o = &svc->opts;

	if (o->uri)
		(void)str_copy(cfg->uri, o->uri, sizeof(cfg->uri));
	if (o->listen)
		(void)str_copy(cfg->listen, o->listen, sizeof(cfg->listen));
	if (o->data_dir)
		(void)str_copy(cfg->data_dir, o->data_dir, sizeof(cfg->data_dir));
	if (o->dry_run)
		cfg->defaults.dry_run = true;
	if (o->tick_ms)
		cfg->tick_ms = o->tick_ms;
}

static int mkdir_p(const char *path)
{
	char buf[VM_PATH_MAX];

	if (str_copy(buf, path, sizeof(buf)))
		return -ENAMETOOLONG;
	for (char *p = buf + 1; *p; p++) {
		if (*p != '/')
			continue;
		*p = '\0';
		if (mkdir(buf, 0755) && errno != EEXIST)
			return -errno;
		*p = '/';
	}
	if (mkdir(buf, 0755) && errno != EEXIST)
		return -errno;
	return 0;
}

/* ---- the VM table ---- */

static struct vmstate *vm_find(struct service *svc, const char *name)
{
	for (int i = 0; i < svc->nvms; i++) {
		if (!strcmp(svc->vms[i].name, name))
			return &svc->vms[i];
	}
	return NULL;
}

static struct vmstate *vm_get(struct service *svc, const char *name)
{
	struct vmstate *st = vm_find(svc, name);
	int err;

	if (st)
		return st;
	if (svc->nvms == svc->capvms) {
		int cap = svc->capvms ? svc->capvms * 2 : 16;
		struct vmstate *n = realloc(svc->vms, (size_t)cap * sizeof(*n));

		if (!n)
			return NULL;
		svc->vms = n;
		svc->capvms = cap;
	}
	st = &svc->vms[svc->nvms];
	memset(st, 0, sizeof(*st));
	(void)str_copy(st->name, name, sizeof(st->name));
	st->mem_lag_s = -1;
	st->hist = history__new(name);
	st->pol = malloc(sizeof(*st->pol));
	if (!st->hist || !st->pol) {
		history__put(st->hist);
		free(st->pol);
		return NULL;
	}
	policy_state__init(st->pol);
	err = history__open_csv(st->hist, svc->cfg->data_dir, svc->cfg->history_max_bytes,
				svc->cfg->history_keep);
	if (err)
		log_warn("no CSV history for VM '%s' in '%s': %s", name, svc->cfg->data_dir,
			 strerror(-err));
	svc->nvms++;
	log_info("VM '%s' appeared", name);
	return st;
}

static void vm_drop_unseen(struct service *svc)
{
	for (int i = 0; i < svc->nvms;) {
		if (svc->vms[i].seen) {
			i++;
			continue;
		}
		log_info("VM '%s' is gone", svc->vms[i].name);
		history__put(svc->vms[i].hist);
		free(svc->vms[i].pol);
		channel__free(svc->vms[i].ch);
		svc->vms[i] = svc->vms[--svc->nvms];
	}
}

static void vm_key(const struct vm_desc *d, char *out, size_t size)
{
	if (d->name[0])
		(void)str_copy(out, d->name, size);
	else
		snprintf(out, size, "pid-%d", d->pid);
}

/* ---- actions ---- */

static void action_push(struct service *svc, const struct action_rec *rec)
{
	svc->actions[svc->action_head] = *rec;
	svc->action_head = (svc->action_head + 1) % ACTION_RING;
	if (svc->nactions < ACTION_RING)
		svc->nactions++;
	svc->actions_total++;
}

/* ---- sources ---- */

static void open_trace(struct service *svc);

static void virt_source(struct service *svc, struct vm_list *lv)
{
	struct virt_counters c;
	int r = virt__poll(svc->virt);

	if (r < 0 && r != -ENOTCONN && ratelimit__allow(&svc->rl_virt, now_mono_ns()))
		log_warn("libvirt: %s", virt__last_error(svc->virt));
	virt__counters(svc->virt, &c);
	if (c.names_refused != svc->virt_names_refused && c.names_refused)
		log_warn("libvirt: %lu running domain(s) not watched: names of %d bytes or more "
			 "are refused, never cut",
			 c.names_refused, VM_NAME_MAX);
	svc->virt_names_refused = c.names_refused;
	if (virt__list(svc->virt, lv) < 0)
		vm_list__clear(lv);
	if (!virt__connected(svc->virt) || virt__stats(svc->virt, &svc->stats) < 0)
		svc->stats.n = 0;
}

/*
 * One list of every VM: libvirt's domains enriched by the /proc scan, then
 * QEMU processes libvirt does not know. A libvirt domain without a pid (the
 * test driver) and a scanned process with the same name are one VM.
 */
static int collect(struct service *svc)
{
	struct vm_list lv = { 0 };
	int err = 0;

	vm_list__clear(&svc->list);
	if (!svc->cfg->procscan) {
		vm_list__clear(&svc->proc);
	} else if (svc->ticks % svc->cfg->procscan_ticks == 0) {
		uint64_t t = now_mono_ns();

		vm_list__clear(&svc->proc);
		err = procscan__scan("/proc", NULL, 0, &svc->proc);
		svc->phase_ms[TICK_PHASE_PROCSCAN] = (double)(now_mono_ns() - t) / 1e6;
		if (err < 0) {
			log_debug("/proc scan failed: %s", strerror(-err));
			vm_list__clear(&svc->proc);
		}
	} else {
		/*
		 * Between full scans (the costly part of a tick with many
		 * processes) keep the last result, minus processes that exited.
		 */
		for (int i = 0; i < svc->proc.n;) {
			char path[32];

			snprintf(path, sizeof(path), "/proc/%d", svc->proc.vms[i].pid);
			if (access(path, F_OK)) {
				svc->proc.vms[i] = svc->proc.vms[--svc->proc.n];
				continue;
			}
			i++;
		}
		svc->phase_ms[TICK_PHASE_PROCSCAN] = 0;
	}
	uint64_t tv = now_mono_ns();

	virt_source(svc, &lv);
	svc->phase_ms[TICK_PHASE_LIBVIRT] = (double)(now_mono_ns() - tv) / 1e6;
	err = virt__merge(&svc->list, &lv, &svc->proc);
	if (err < 0)
		goto cleanup;
	for (int i = 0; i < svc->list.n; i++) {
		struct vm_desc *a = &svc->list.vms[i];

		if (a->pid || !(a->source & VM_SOURCE_LIBVIRT))
			continue;
		for (int j = 0; j < svc->list.n; j++) {
			struct vm_desc *b = &svc->list.vms[j];

			if (j == i || (b->source & VM_SOURCE_LIBVIRT) || strcmp(a->name, b->name))
				continue;
			b->source |= VM_SOURCE_LIBVIRT;
			if (!b->uuid[0])
				(void)str_copy(b->uuid, a->uuid, sizeof(b->uuid));
			if (!b->channel_path[0])
				(void)str_copy(b->channel_path, a->channel_path,
					       sizeof(b->channel_path));
			*a = *b;
			svc->list.vms[j] = svc->list.vms[--svc->list.n];
			break;
		}
	}
	err = 0;

	if (!svc->trace && svc->cfg->bpf && svc->ticks >= svc->bpf_retry_tick)
		open_trace(svc);
	if (svc->trace) {
		uint64_t tt = now_mono_ns();
		int r = trace__sync(svc->trace, &svc->list);

		if (!r)
			r = trace__read(svc->trace, &svc->tsnap);
		if (r) {
			snprintf(svc->bpf_error, sizeof(svc->bpf_error), "tracer: %s",
				 strerror(-r));
			svc->tsnap.n = 0;
		} else {
			svc->bpf_error[0] = '\0';
		}
		svc->phase_ms[TICK_PHASE_BPF] = (double)(now_mono_ns() - tt) / 1e6;
	}
cleanup:
	vm_list__free(&lv);
	return err;
}

/* ---- merge one VM ---- */

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
static void merge_virt(struct service *svc, const struct vm_desc *d, struct vm_sample *s)
{
	double silent_s = svc->cfg->agent_timeout_s;
	const struct virt_dom_stats *ds;
	struct sample_virt in = { 0 };
	struct virt_dom_info info;
	struct virt_memstats ms;

	if (!(d->source & VM_SOURCE_LIBVIRT))
		return;
	if (!virt__info(svc->virt, d->name, &info)) {
		in.have_info = true;
		in.running = info.state == VIR_DOMAIN_RUNNING;
		in.max_memory_kib = info.max_memory_kib;
		in.cur_memory_kib = info.cur_memory_kib;
		in.cur_vcpus = info.cur_vcpus;
		in.max_vcpus = info.max_vcpus;
	}
	ds = virt_stats_list__find(&svc->stats, d->name);
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
	} else if (!virt__memstats(svc->virt, d->name, &ms) && known(ms.available) &&
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

/*
 * The guest agent: memory, swap, PSI, CPU and online CPUs as the guest sees
 * them. The channel parses with bounds and rejects hostile lines; a silent
 * agent (agent_timeout_s) leaves the memory to fresher balloon statistics.
 */
/*
 * The actuator's hook to online or offline vCPUs in the guest. It only
 * queues the command: waiting for the ack here would stall the tick for
 * every VM. The ack is read by a later tick (check_cpus_cmd), and a refusal
 * or a timeout is added to the action log there.
 */
static int send_cpus_cmd(struct vmstate *st, int n)
{
	uint32_t id;
	int r;

	r = channel__send(st->ch, AGENT_OP_SET_CPUS, (uint32_t)n, now_mono_ns(), &id);
	if (r)
		return r;
	st->cpus_cmd_pending = true;
	st->cpus_cmd_id = id;
	st->cpus_cmd_n = n;
	return 0;
}

static int agent_set_cpus(void *ctx, const char *vm, int n)
{
	struct service *svc = ctx;
	struct vmstate *st = vm_find(svc, vm);

	if (!st || !st->ch || !channel__connected(st->ch))
		return -ENOTCONN;
	if (n < 1)
		return -EINVAL;
	if (st->cpus_cmd_pending)
		return -EBUSY;
	st->cpus_cmd_tries = 1;
	return send_cpus_cmd(st, n);
}

/* How often a set-cpus the guest refused is sent again before it counts. */
#define CPUS_CMD_TRIES 5

static void check_cpus_cmd(struct service *svc, struct vmstate *st, uint64_t mono)
{
	struct action_rec a = { 0 };
	struct agent_ack ack;
	int r;

	if (!st->cpus_cmd_pending)
		return;
	r = channel__result(st->ch, st->cpus_cmd_id, mono, &ack);
	if (r == -EINPROGRESS)
		return;
	st->cpus_cmd_pending = false;
	if (!r && !ack.rc)
		return;
	r = r ? r : ack.rc;
	/*
	 * A hot-added CPU reaches the guest a moment after libvirt returns: the
	 * agent then refuses with ERANGE (not present yet). Ask again next tick.
	 */
	if (r == -ERANGE && st->cpus_cmd_tries < CPUS_CMD_TRIES) {
		st->cpus_cmd_tries++;
		if (!send_cpus_cmd(st, st->cpus_cmd_n))
			return;
	}
	a.time_ns = now_real_ns();
	(void)str_copy(a.vm, st->name, sizeof(a.vm));
	(void)str_copy(a.what, "vcpus", sizeof(a.what));
	a.from = a.to = st->cpus_cmd_n;
	(void)str_copy(a.reason, "the guest agent did not confirm set-cpus", sizeof(a.reason));
	(void)snprintf(a.result, sizeof(a.result), "error: agent: %s", strerror(r < 0 ? -r : r));
	st->actions[1][1]++;
	action_push(svc, &a);
	log_warn("agent of '%s': set-cpus %d failed after %d tries: %s", st->name, st->cpus_cmd_n,
		 st->cpus_cmd_tries, strerror(r < 0 ? -r : r));
}

static void merge_agent(struct service *svc, const struct vm_desc *d, struct vmstate *st,
			struct vm_sample *s)
{
	struct channel_opts co = { .silent_after_ns = svc->cfg->agent_timeout_s * 1000000000ull };
	uint64_t mono = now_mono_ns(), recv_ns;
	struct agent_sample a;
	int r;

	if (!d->channel_path[0]) {
		channel__free(st->ch);
		st->ch = NULL;
		return;
	}
	if (st->ch && strcmp(channel__path(st->ch), d->channel_path)) {
		channel__free(st->ch);
		st->ch = NULL;
	}
	if (!st->ch) {
		st->ch = channel__new(d->channel_path, &co);
		if (!st->ch)
			return;
	}
	r = channel__poll(st->ch, mono);
	if (r < 0)
		log_debug("agent channel of '%s': %s", s->name, strerror(-r));
	check_cpus_cmd(svc, st, mono);
	s->agent_channel = true;
	s->agent_connected = channel__connected(st->ch);
	s->agent_samples = channel__stats(st->ch)->samples;
	s->agent_rejected = channel__stats(st->ch)->rejected;
	if (s->agent_rejected > st->agent_rejected_logged &&
	    ratelimit__allow(&svc->rl_agent, now_mono_ns())) {
		const struct channel_reject *lr = &channel__stats(st->ch)->last_reject;

		log_warn("agent of '%s': %llu line(s) rejected, last: %s ('%s')", s->name,
			 (unsigned long long)(s->agent_rejected - st->agent_rejected_logged),
			 agentproto__reject_name(lr->why), lr->excerpt);
		st->agent_rejected_logged = s->agent_rejected;
	}
	if (channel__latest(st->ch, &a, &recv_ns))
		return;
	(void)sample__add_agent(s, &a, channel__age_ns(st->ch, mono),
				(double)svc->cfg->agent_timeout_s);
}

static void merge(struct service *svc, const struct vm_desc *d, struct vmstate *st,
		  struct vm_sample *s, uint64_t now_ns, double interval_s)
{
	const struct trace_vm *tv;
	struct vm_config vc;
	uint64_t mem_time_ns;

	sample__init(s, st->name, d, now_ns, interval_s);
	tv = svc->trace && s->pid > 0 ? trace_snapshot__find(&svc->tsnap, s->pid) : NULL;
	if (tv)
		sample__add_trace(s, tv);
	if (!s->have_cpu)
		cpu_from_schedstat(s);
	merge_agent(svc, d, st, s);
	merge_virt(svc, d, s);
	mem_time_ns = sample__mem_time_ns(s);
	if (mem_time_ns)
		st->mem_time_ns = mem_time_ns;
	sample__age_memory(s, st->mem_time_ns);
	sample__rates(s, st->prev);
	config__vm(svc->cfg, s->name, &vc);
	sample__configure(s, &vc);
}

/* ---- decide and act ---- */

static void policy_cfg(const struct service *svc, const struct vm_sample *s,
		       struct policy_config *pc)
{
	int kind = policy_kind__parse(s->policy);

	policy_config__init(pc, kind < 0 ? POLICY_PREDICTIVE : (enum policy_kind)kind);
	pc->tick_s = svc->cfg->tick_ms / 1000.0;
	pc->mem_min_mib = s->mem_floor_kib / KIB_PER_MIB;
	pc->mem_max_mib = s->mem_ceiling_kib ? s->mem_ceiling_kib / KIB_PER_MIB
					     : (s->mem_max_kib ? s->mem_max_kib / KIB_PER_MIB
							       : pc->mem_max_mib);
	if (pc->mem_max_mib < pc->mem_min_mib)
		pc->mem_max_mib = pc->mem_min_mib;
	pc->mem_reserve_mib = MEM_RESERVE_MIB;
	pc->vcpu_min = (unsigned int)s->vcpu_min;
	pc->vcpu_max = s->vcpu_max > 0
			       ? (unsigned int)s->vcpu_max
			       : (s->vcpus_max > 0 ? (unsigned int)s->vcpus_max : pc->vcpu_max);
	if (pc->vcpu_max < pc->vcpu_min)
		pc->vcpu_max = pc->vcpu_min;
	/* one threshold: the agent is silent when its data goes stale */
	pc->stale_after_s = svc->cfg->agent_timeout_s;
}

/*
 * The guest kernel's own share of its memory (balloon - MemTotal, tens of MiB,
 * fixed for a boot), learned while the balloon stands still: two ticks with
 * the same balloon and MemTotal, no growth on its way.
 */
static void learn_kernel_share(struct vmstate *st, const struct vm_sample *s)
{
	const struct vm_sample *p = st->prev; /* the last tick's */
	uint64_t share;

	if (s->mem_source != MEM_SOURCE_AGENT || !p || p->mem_source != MEM_SOURCE_AGENT ||
	    p->balloon_kib != s->balloon_kib || p->mem_total_kib != s->mem_total_kib ||
	    (st->mem_grow_kib && !st->mem_grow_landed) || s->balloon_kib <= s->mem_total_kib)
		return;
	share = s->balloon_kib - s->mem_total_kib;
	/* a guest claiming a tiny MemTotal does not get a huge share */
	st->kernel_kib = share <= s->balloon_kib / 4 ? share : 0;
}

static void policy_in(const struct vm_sample *s, uint64_t kernel_kib, struct policy_input *in)
{
	memset(in, 0, sizeof(*in));
	in->source = s->mem_source == MEM_SOURCE_AGENT	   ? POLICY_SRC_AGENT
		     : s->mem_source == MEM_SOURCE_BALLOON ? POLICY_SRC_BALLOON
							   : POLICY_SRC_NONE;
	in->mem_total_mib = (double)s->mem_total_kib / 1024.0;
	in->mem_used_mib = (double)s->mem_used_kib / 1024.0;
	in->mem_avail_mib = (double)s->mem_avail_kib / 1024.0;
	/*
	 * The guest's MemTotal leaves out what its kernel keeps for itself:
	 * all that is not available is used, or a shrink to used + reserve
	 * lands below the reserve and the next tick grows again. Counted as
	 * MemTotal + that share once it is known, one consistent reading of the
	 * guest; until then against the balloon, whose value in libvirt trails
	 * the guest by a tick or two while it moves (a change in flight would
	 * read as demand).
	 */
	if (s->mem_source == MEM_SOURCE_AGENT && s->mem_avail_kib <= s->mem_total_kib) {
		uint64_t total = s->mem_total_kib;

		if (kernel_kib)
			total += kernel_kib;
		else if (s->balloon_kib >= s->mem_total_kib && s->balloon_kib > s->mem_avail_kib)
			total = s->balloon_kib;
		in->mem_total_mib = (double)total / 1024.0;
		in->mem_used_mib = (double)(total - s->mem_avail_kib) / 1024.0;
	}
	in->psi_valid = s->psi_mem_some >= 0;
	in->psi_some_avg10 = s->psi_mem_some >= 0 ? s->psi_mem_some : 0;
	in->swap_in_mibps = s->swap_in_per_s / 1024.0;
	in->swap_out_mibps = s->swap_out_per_s / 1024.0;
	in->balloon_cur_mib = (double)s->balloon_kib / 1024.0;
	in->balloon_max_mib = (double)s->mem_max_kib / 1024.0;
	in->data_age_s = s->mem_age_s;
	in->vcpu_busy = s->have_cpu ? s->cpu_busy_pct / 100.0 : 0;
	in->runq_wait = s->have_cpu && s->nvcpus ? s->cpu_wait_pct / 100.0 / s->nvcpus : 0;
	if (in->runq_wait > 1)
		in->runq_wait = 1;
	in->guest_cpu_pct = s->guest_cpu_pct;
	in->vcpus_online = s->vcpus_online > 0 ? (unsigned int)s->vcpus_online : 1;
	in->vcpus_present = s->vcpus_max > 0 ? (unsigned int)s->vcpus_max : 0;
}

static void record(struct service *svc, struct vmstate *st, const struct act_record *rec)
{
	struct action_rec a = { 0 };
	int kind = rec->kind == ACT_MEMORY ? 0 : 1;
	int res;

	/* once per episode: the record of every action says it too */
	if (rec->kind == ACT_MEMORY && rec->first_over_ceiling)
		log_warn(
			"memory of '%s': guest used + reserve (%llu MiB) is above its ceiling "
			"(%llu MiB): held at the ceiling, the guest must reclaim, swap or OOM-kill "
			"until it uses less",
			rec->vm, (unsigned long long)(rec->floor_kib / KIB_PER_MIB),
			(unsigned long long)(rec->to / KIB_PER_MIB));
	if (rec->outcome == ACT_RES_UNCHANGED || rec->outcome == ACT_RES_RATE_LIMITED)
		return; /* the actuator's own log keeps those; the API shows what moved */
	res = rec->outcome == ACT_RES_OK ? 0 : rec->outcome == ACT_RES_DRY_RUN ? 2 : 1;
	st->actions[kind][res]++;
	a.time_ns = rec->time_ns;
	(void)str_copy(a.vm, rec->vm, sizeof(a.vm));
	(void)str_copy(a.what, act_kind__str(rec->kind), sizeof(a.what));
	a.from = (int64_t)(kind ? rec->from : rec->from / KIB_PER_MIB);
	a.to = (int64_t)(kind ? rec->to : rec->to / KIB_PER_MIB);
	(void)str_copy(a.unit, kind ? "" : "MiB", sizeof(a.unit));
	(void)str_copy(a.reason, rec->reason, sizeof(a.reason));
	(void)str_copy(a.result, rec->result, sizeof(a.result));
	a.dry_run = rec->dry_run;
	action_push(svc, &a);
	log_info("action on '%s': %s %lld -> %lld%s (%s): %s", a.vm, a.what, (long long)a.from,
		 (long long)a.to, a.unit, a.result, a.reason);
}

static void decide_and_act(struct service *svc, struct vmstate *st, struct vm_sample *s)
{
	struct policy_config pc;
	struct policy_input in;
	struct policy_decision dec;
	struct act_record rec;
	uint64_t now;
	int r;

	/* only libvirt domains can be acted on: QEMUs found in /proc are observed */
	if (!s->enabled || !(s->source & VM_SOURCE_LIBVIRT))
		return;
	if (strcmp(st->pol_kind, s->policy)) {
		/* a reload changed the policy: start it from a clean state */
		policy_state__init(st->pol);
		(void)str_copy(st->pol_kind, s->policy, sizeof(st->pol_kind));
	}
	policy_cfg(svc, s, &pc);
	now = now_mono_ns();
	/*
	 * The balloon reaches a larger target over a few seconds: meanwhile the
	 * VM has what was set, or the policy would undercut its own growth.
	 * How long it took (or is taking) pads the next growth along a ramp.
	 */
	if (st->mem_grow_kib && !st->mem_grow_landed &&
	    (s->balloon_kib + MEM_LANDED_SLACK_KIB >= st->mem_grow_kib ||
	     now - st->mem_grow_ns >= MEM_GROW_SETTLE_NS)) {
		st->mem_grow_landed = true;
		st->mem_lag_s = policy__lag_update(
			st->mem_lag_s, (double)(now - st->mem_grow_ns) / 1e9, pc.tick_s);
	}
	learn_kernel_share(st, s);
	policy_in(s, st->kernel_kib, &in);
	if (st->mem_grow_kib > s->balloon_kib && now - st->mem_grow_ns < MEM_GROW_SETTLE_NS)
		in.balloon_cur_mib = (double)st->mem_grow_kib / 1024.0;
	in.mem_lag_s = st->mem_lag_s > 0 ? st->mem_lag_s : 0;
	s->mem_lag_s = st->mem_lag_s;
	r = policy__decide(&pc, st->pol, &in, &dec);
	s->decided = true;
	(void)str_copy(s->reason, dec.reason, sizeof(s->reason));
	if (r) {
		s->decided = false;
		return;
	}
	/* a memory target means something only for a VM with a balloon */
	s->target_mem_kib = s->balloon_kib ? dec.target_mem_mib * KIB_PER_MIB : 0;
	s->target_vcpus = (int)dec.target_vcpus;
	if (dec.forecast_mem_mib > 0) {
		s->forecast_kib = dec.forecast_mem_mib * 1024.0;
		s->forecast_lo_kib = s->forecast_kib;
		s->forecast_hi_kib =
			(dec.forecast_mem_hi_mib > dec.forecast_mem_mib ? dec.forecast_mem_hi_mib
									: dec.forecast_mem_mib) *
			1024.0;
	}
	s->changed = dec.flags &
		     (POLICY_MEM_GROW | POLICY_MEM_SHRINK | POLICY_VCPU_UP | POLICY_VCPU_DOWN);
	if (!s->changed || !(s->source & VM_SOURCE_LIBVIRT))
		return;
	if (dec.flags & (POLICY_MEM_GROW | POLICY_MEM_SHRINK)) {
		struct act_mem_req req = {
			.target_kib = s->target_mem_kib,
			.min_kib = s->mem_floor_kib,
			.guest_used_kib = s->mem_source == MEM_SOURCE_NONE ? 0
					  : in.mem_used_mib > 0
						  ? (uint64_t)(in.mem_used_mib * 1024.0)
						  : s->mem_used_kib,
			.reserve_kib = MEM_RESERVE_MIB * KIB_PER_MIB,
			.max_kib = s->mem_ceiling_kib,
			.dry_run = s->dry_run,
		};

		memset(&rec, 0, sizeof(rec));
		r = actuate__memory(svc->act, svc->virt, s->name, &req, dec.reason, &rec);
		if (!r && !rec.dry_run && rec.to > rec.from && rec.outcome == ACT_RES_OK) {
			st->mem_grow_kib = rec.to;
			st->mem_grow_ns = now;
			st->mem_grow_landed = false;
		} else if (!r && !rec.dry_run && rec.to < rec.from) {
			st->mem_grow_kib = 0;
		}
		record(svc, st, &rec);
	}
	if (dec.flags & (POLICY_VCPU_UP | POLICY_VCPU_DOWN)) {
		memset(&rec, 0, sizeof(rec));
		struct act_vcpu_req vreq = {
			.target = s->target_vcpus,
			.online_now =
				s->mem_source == MEM_SOURCE_AGENT &&
						!sample__agent_silent(s, svc->cfg->agent_timeout_s)
					? s->vcpus_online
					: -1,
			.dry_run = s->dry_run,
		};

		r = actuate__vcpus_req(svc->act, svc->virt, s->name, &vreq, dec.reason, &rec);
		/* a hot-add sends no libvirt event: re-read the new vCPU threads now */
		if (!r && !rec.dry_run)
			(void)virt__refresh(svc->virt, s->name);
		record(svc, st, &rec);
	}
}

/* ---- the tick ---- */

/* Complete the snapshot whose samples the tick wrote (snap->vms[i].s). */
static int build_snapshot(struct service *svc, struct snapshot *snap, double now)
{
	struct snapshot_health *h;
	struct action_rec *actions;

	actions = calloc(svc->nactions ? (size_t)svc->nactions : 1, sizeof(*actions));
	if (!actions)
		return -ENOMEM;
	free(snap->actions);
	snap->actions = actions;
	snap->seq = svc->ticks;
	snap->time = now;
	for (int i = 0; i < svc->nvms; i++) {
		snap->vms[i].hist = history__get(svc->vms[i].hist);
		memcpy(snap->vms[i].actions, svc->vms[i].actions, sizeof(snap->vms[i].actions));
	}
	snap->nvms = svc->nvms;
	for (int i = 0; i < svc->nactions; i++) {
		int idx = (svc->action_head - svc->nactions + i + ACTION_RING) % ACTION_RING;

		snap->actions[i] = svc->actions[idx];
	}
	snap->nactions = svc->nactions;
	snap->actions_total = svc->actions_total;

	h = &snap->health;
	(void)str_copy(h->libvirt_uri, svc->cfg->uri, sizeof(h->libvirt_uri));
	h->libvirt_connected = virt__connected(svc->virt);
	if (!h->libvirt_connected) {
		struct virt_counters c;

		virt__counters(svc->virt, &c);
		h->libvirt_retries = (unsigned int)c.disconnects;
		(void)str_copy(h->libvirt_error, virt__last_error(svc->virt),
			       sizeof(h->libvirt_error));
		if (!h->libvirt_error[0])
			(void)str_copy(h->libvirt_error, "not connected", sizeof(h->libvirt_error));
	}
	h->bpf_loaded = svc->bpf_loaded;
	for (int i = 0; i < svc->nvms; i++)
		h->agent |= snap->vms[i].s.mem_source == MEM_SOURCE_AGENT &&
			    !sample__agent_silent(&snap->vms[i].s, svc->cfg->agent_timeout_s);
	h->policy = true;
	(void)str_copy(h->bpf_error, svc->bpf_error, sizeof(h->bpf_error));
	h->procscan = svc->cfg->procscan;
	h->dry_run = svc->cfg->defaults.dry_run;
	h->tick_ms = svc->cfg->tick_ms;
	h->last_tick_ms = svc->last_tick_ms;
	memcpy(h->phase_ms, svc->phase_ms, sizeof(h->phase_ms));
	h->ticks = svc->ticks;
	h->tick_overruns = svc->overruns;
	h->early_ticks = svc->early_ticks;
	h->start_time = svc->start_time;
	(void)str_copy(h->config_path, svc->cfg->path, sizeof(h->config_path));
	(void)str_copy(h->config_error, svc->config_error, sizeof(h->config_error));
	h->config_reloads = svc->reloads;
	h->agent_timeout_s = svc->cfg->agent_timeout_s;
	h->max_connections = svc->cfg->max_connections;
	h->history_max_bytes = svc->cfg->history_max_bytes;
	h->history_keep = svc->cfg->history_keep;
	h->libvirt_retry_max_s = svc->cfg->libvirt_retry_max_s;
	h->procscan_ticks = svc->cfg->procscan_ticks;
	h->bpf = svc->cfg->bpf;
	return 0;
}

int service__tick(struct service *svc)
{
	uint64_t t0 = now_mono_ns(), now_ns = now_real_ns(), t_phase;
	struct snapshot *snap = NULL;
	double interval_s = svc->cfg->tick_ms / 1000.0;
	int err;

	err = collect(svc);
	if (err < 0)
		goto cleanup;

	for (int i = 0; i < svc->nvms; i++)
		svc->vms[i].seen = false;
	for (int i = 0; i < svc->list.n; i++) {
		char key[VM_NAME_MAX];
		struct vmstate *st;

		vm_key(&svc->list.vms[i], key, sizeof(key));
		st = vm_find(svc, key);
		if (st && st->seen)
			continue; /* two processes claim one name: the first wins */
		st = vm_get(svc, key);
		if (!st) {
			err = -ENOMEM;
			goto cleanup;
		}
		st->seen = true;
	}
	vm_drop_unseen(svc);

	/*
	 * The tick writes its samples straight into the snapshot it publishes,
	 * and the next tick reads them there as its previous samples: no copy.
	 */
	snap = snapshot__new(svc->nvms, 0);
	if (!snap) {
		err = -ENOMEM;
		goto cleanup;
	}
	t_phase = now_mono_ns();
	for (int i = 0; i < svc->list.n; i++) {
		const struct vm_desc *d = &svc->list.vms[i];
		char key[VM_NAME_MAX];
		struct vmstate *st;
		int idx;

		vm_key(d, key, sizeof(key));
		st = vm_find(svc, key);
		idx = (int)(st - svc->vms);
		if (snap->vms[idx].s.time_ns)
			continue;
		if (st->prev && st->prev->time_ns && now_ns > st->prev->time_ns)
			interval_s = (double)(now_ns - st->prev->time_ns) / 1e9;
		merge(svc, d, st, &snap->vms[idx].s, now_ns, interval_s);
		decide_and_act(svc, st, &snap->vms[idx].s);
	}

	svc->phase_ms[TICK_PHASE_DECIDE] = (double)(now_mono_ns() - t_phase) / 1e6;
	t_phase = now_mono_ns();
	for (int i = 0; i < svc->nvms; i++) {
		struct vmstate *st = &svc->vms[i];

		err = history__append(st->hist, &snap->vms[i].s);
		if (err)
			log_debug("history of '%s': %s", st->name, strerror(-err));
		st->prev = &snap->vms[i].s;
	}
	err = 0;

	svc->ticks++;
	svc->phase_ms[TICK_PHASE_HISTORY] = (double)(now_mono_ns() - t_phase) / 1e6;
	t_phase = now_mono_ns();
	snapshot__put(svc->prev_snap);
	svc->prev_snap = snapshot__ref(snap);
	err = build_snapshot(svc, snap, (double)now_ns / 1e9);
	if (!err) {
		struct snapshot *old = snapshot_slot__get(svc->slot);

		/*
		 * Someone polls (the dashboard, every second): render for them now,
		 * in the tick, so their request is a copy. Nobody polls: no cost.
		 */
		if (old && atomic_load(&old->asked[SNAP_CACHE_VMS]))
			(void)snapshot__cached(snap, SNAP_CACHE_VMS, api__render_vms);
		if (old && atomic_load(&old->asked[SNAP_CACHE_METRICS]))
			(void)snapshot__cached(snap, SNAP_CACHE_METRICS, metrics__render);
		snapshot__put(old);
		snapshot_slot__publish(svc->slot, snap);
		snap = NULL;
	}
	/*
	 * The tick frees a snapshot and the per-tick arrays (hundreds of kB):
	 * give the free pages back so they are not kept resident until reuse.
	 */
	(void)malloc_trim(0);
	svc->phase_ms[TICK_PHASE_SNAPSHOT] = (double)(now_mono_ns() - t_phase) / 1e6;
	svc->last_tick_ms = (double)(now_mono_ns() - t0) / 1e6;
cleanup:
	snapshot__put(snap);
	return err;
}

/* ---- lifecycle ---- */

static void open_trace(struct service *svc)
{
	struct trace_opts to = { 0 };
	int err;

	svc->bpf_retry_tick = svc->ticks + BPF_RETRY_TICKS;
	if (!svc->cfg->bpf) {
		(void)str_copy(svc->bpf_error, "disabled in the configuration ('bpf = false')",
			       sizeof(svc->bpf_error));
		return;
	}
	err = trace__ensure_fs();
	if (!err) {
		svc->trace = trace__open(&to);
		err = svc->trace ? 0 : -errno;
	}
	if (err) {
		snprintf(svc->bpf_error, sizeof(svc->bpf_error), "cannot load the tracer: %s",
			 strerror(-err));
		log_warn("%s (retrying every %d ticks)", svc->bpf_error, BPF_RETRY_TICKS);
		return;
	}
	svc->bpf_loaded = true;
	svc->bpf_error[0] = '\0';
	log_info("BPF tracer loaded, maps pinned under '%s'", trace__pin_root(svc->trace));
}

static int open_sources(struct service *svc)
{
	struct virt_opts vo = { .uri = svc->cfg->uri,
				.backoff_max_ms = svc->cfg->libvirt_retry_max_s * 1000 };
	/* --dry-run holds for every VM whatever a reload says; the file's per VM */
	struct actuate_opts ao = { .dry_run = svc->opts.dry_run,
				   .agent_set_cpus = agent_set_cpus,
				   .agent_ctx = svc };
	char log_path[VM_PATH_MAX + 16];

	svc->rl_virt = (struct ratelimit)RATELIMIT_INIT(60ull * 1000000000, 3);
	svc->rl_agent = (struct ratelimit)RATELIMIT_INIT(10ull * 1000000000, 5);
	svc->virt = virt__open(&vo);
	if (!svc->virt)
		return -errno;
	if (!virt__connected(svc->virt))
		log_warn("libvirt '%s' is not reachable (%s): retrying in the background",
			 svc->cfg->uri, virt__last_error(svc->virt));
	/* every request, refused or not, in DATA_DIR/actions.log (JSON lines) */
	snprintf(log_path, sizeof(log_path), "%s/actions.log", svc->cfg->data_dir);
	ao.log_path = log_path;
	svc->act = actuate__new(&ao);
	if (!svc->act)
		return -errno;
	open_trace(svc);
	return 0;
}

struct service *service__new(const struct service_opts *opts, char *err, size_t errlen)
{
	struct service *svc = calloc(1, sizeof(*svc));
	int r;

	if (!svc) {
		snprintf(err, errlen, "out of memory");
		return NULL;
	}
	svc->opts = *opts;
	svc->start_time = (double)now_real_ns() / 1e9;
	if (opts->config_path)
		svc->cfg = config__load(opts->config_path, err, errlen);
	else if (!(svc->cfg = config__new_default()))
		snprintf(err, errlen, "out of memory");
	if (!svc->cfg)
		goto fail;
	apply_overrides(svc, svc->cfg);

	r = mkdir_p(svc->cfg->data_dir);
	if (r) {
		snprintf(err, errlen, "cannot create data directory '%s': %s", svc->cfg->data_dir,
			 strerror(-r));
		goto fail;
	}
	svc->slot = snapshot_slot__new();
	if (!svc->slot) {
		snprintf(err, errlen, "out of memory");
		goto fail;
	}
	r = open_sources(svc);
	if (r) {
		snprintf(err, errlen, "cannot open the sources: %s", strerror(-r));
		goto fail;
	}
	svc->http = http__start(&(struct http_opts){ .listen = svc->cfg->listen,
						     .max_conns = svc->cfg->max_connections },
				api__handle, svc->slot, err, errlen);
	if (!svc->http)
		goto fail;
	log_info("serving on http://%s (port %u)", svc->cfg->listen, http__port(svc->http));
	/* loading BPF parsed the kernel's BTF: give that memory back */
	(void)malloc_trim(0);
	return svc;
fail:
	service__free(svc);
	return NULL;
}

int service__reload(struct service *svc, char *err, size_t errlen)
{
	struct config *cfg;

	if (!svc->opts.config_path) {
		snprintf(err, errlen, "no configuration file to reload (started without --config)");
		return -ENOENT;
	}
	cfg = config__load(svc->opts.config_path, err, errlen);
	if (!cfg) {
		(void)str_copy(svc->config_error, err, sizeof(svc->config_error));
		return -EINVAL;
	}
	apply_overrides(svc, cfg);
	/* what the HTTP server, the libvirt connection and the tracer were opened with */
	if (strcmp(cfg->listen, svc->cfg->listen) || strcmp(cfg->uri, svc->cfg->uri) ||
	    strcmp(cfg->data_dir, svc->cfg->data_dir) ||
	    cfg->max_connections != svc->cfg->max_connections ||
	    cfg->libvirt_retry_max_s != svc->cfg->libvirt_retry_max_s || cfg->bpf != svc->cfg->bpf)
		log_warn(
			"'listen', 'uri', 'data_dir', 'max_connections', 'libvirt_retry_max_s' and "
			"'bpf' take effect at the next start");
	(void)str_copy(cfg->listen, svc->cfg->listen, sizeof(cfg->listen));
	(void)str_copy(cfg->uri, svc->cfg->uri, sizeof(cfg->uri));
	(void)str_copy(cfg->data_dir, svc->cfg->data_dir, sizeof(cfg->data_dir));
	cfg->max_connections = svc->cfg->max_connections;
	cfg->libvirt_retry_max_s = svc->cfg->libvirt_retry_max_s;
	cfg->bpf = svc->cfg->bpf;
	config__free(svc->cfg);
	svc->cfg = cfg;
	for (int i = 0; i < svc->nvms; i++)
		history__set_rotation(svc->vms[i].hist, cfg->history_max_bytes, cfg->history_keep);
	svc->config_error[0] = '\0';
	svc->reloads++;
	return 0;
}

/* The agent's own threshold (guest/agent): a rise it sends at once. */
#define EARLY_RISE_MIN_KIB (32 * 1024)
/*
 * Reads of one channel between two ticks (the agent sends at most ten
 * samples a second); a guest flooding its channel waits for the tick, as
 * it did before, instead of keeping the service reading.
 */
#define EARLY_READS_MAX 16

/*
 * Between ticks, agent samples are read as they arrive. One whose used
 * memory (MemTotal - MemAvailable) rose since the tick by max(32 MiB,
 * MemTotal / 32) starts the next tick now rather than up to a tick later: a
 * guest allocating fast gets its balloon grown a tick sooner. Returns true
 * for such a sample.
 */
static bool agent_urgent(struct service *svc, int n)
{
	uint64_t mono = now_mono_ns(), recv_ns;
	bool urgent = false;

	for (int i = 0; i < n; i++) {
		struct vmstate *st = svc->watch[i].st;
		const struct vm_sample *p = st->prev; /* the last tick's */
		struct agent_sample a;
		uint64_t used, tick_used;
		int r;

		if (!svc->pfds[i].revents)
			continue;
		/*
		 * A socket in error stays ready, one read too often may be a
		 * flood, a lost one may have closed its fd: the tick deals with
		 * them.
		 */
		if (svc->pfds[i].revents & (POLLERR | POLLHUP | POLLNVAL) ||
		    ++svc->watch[i].reads > EARLY_READS_MAX) {
			svc->pfds[i].fd = -1;
			continue;
		}
		r = channel__poll(st->ch, mono);
		if (r < 0 || !channel__connected(st->ch))
			svc->pfds[i].fd = -1;
		if (r <= 0 || !p || p->mem_source != MEM_SOURCE_AGENT ||
		    channel__latest(st->ch, &a, &recv_ns) || a.mem_avail_kb > a.mem_total_kb)
			continue;
		used = a.mem_total_kb - a.mem_avail_kb;
		tick_used = p->mem_total_kib - p->mem_avail_kib;
		if (used >= tick_used + EARLY_RISE_MIN_KIB &&
		    used - tick_used >= a.mem_total_kb / 32)
			urgent = true;
	}
	return urgent;
}

/* Fill svc->pfds with the connected agent channels; returns how many. */
static int agent_pollfds(struct service *svc)
{
	int n = 0;

	if (svc->cap_pfds < svc->nvms) {
		struct pollfd *p = realloc(svc->pfds, (size_t)svc->nvms * sizeof(*p));
		struct agent_watch *w;

		if (!p)
			return 0;
		svc->pfds = p;
		w = realloc(svc->watch, (size_t)svc->nvms * sizeof(*w));
		if (!w)
			return 0;
		svc->watch = w;
		svc->cap_pfds = svc->nvms;
	}
	for (int i = 0; i < svc->nvms; i++) {
		struct vmstate *st = &svc->vms[i];

		if (!st->ch || channel__fd(st->ch) < 0 || !channel__connected(st->ch))
			continue;
		svc->pfds[n] = (struct pollfd){ .fd = channel__fd(st->ch), .events = POLLIN };
		svc->watch[n++] = (struct agent_watch){ .st = st };
	}
	return n;
}

static bool ts_before(const struct timespec *a, const struct timespec *b)
{
	return a->tv_sec < b->tv_sec || (a->tv_sec == b->tv_sec && a->tv_nsec < b->tv_nsec);
}

/*
 * Sleep until `next`, reading agent samples as they come. Returns true when
 * one of them asks for an early tick (never twice in a row: a guest cannot
 * make the service tick faster than twice per interval).
 */
static bool wait_tick(struct service *svc, const struct timespec *next, const sigset_t *mask,
		      bool allow_early)
{
	struct timespec now, left;
	int n = 0;

	if (allow_early)
		n = agent_pollfds(svc);
	for (;;) {
		clock_gettime(CLOCK_MONOTONIC, &now);
		if (!ts_before(&now, next) || *svc->opts.stop || *svc->opts.reload)
			return false;
		left.tv_sec = next->tv_sec - now.tv_sec;
		left.tv_nsec = next->tv_nsec - now.tv_nsec;
		if (left.tv_nsec < 0) {
			left.tv_sec--;
			left.tv_nsec += 1000000000L;
		}
		/* EINTR: a signal set a flag; the checks above look at it */
		if (ppoll(n ? svc->pfds : NULL, (nfds_t)n, &left, mask) > 0 && agent_urgent(svc, n))
			return true;
	}
}

int service__run(struct service *svc)
{
	struct timespec next, now;
	sigset_t waitmask;
	char err[CONFIG_ERR_MAX];
	bool early = false;
	int r;

	/* signals stay blocked except while waiting, so none is lost between checks */
	if (pthread_sigmask(SIG_BLOCK, NULL, &waitmask))
		return -errno;
	sigdelset(&waitmask, SIGTERM);
	sigdelset(&waitmask, SIGINT);
	sigdelset(&waitmask, SIGHUP);
	clock_gettime(CLOCK_MONOTONIC, &next);
	while (!*svc->opts.stop) {
		if (*svc->opts.reload) {
			*svc->opts.reload = 0;
			if (service__reload(svc, err, sizeof(err)))
				log_error("configuration not reloaded, keeping the old one: %s",
					  err);
			else
				log_info("configuration reloaded from '%s'", svc->opts.config_path);
		}
		r = service__tick(svc);
		if (r)
			log_error("tick failed: %s", strerror(-r));

		timespec_add_ns(&next, (uint64_t)svc->cfg->tick_ms * 1000000ull);
		clock_gettime(CLOCK_MONOTONIC, &now);
		if (!ts_before(&now, &next)) {
			svc->overruns++;
			next = now; /* late: start the next tick at once, do not pile up */
			early = false;
			continue;
		}
		early = wait_tick(svc, &next, &waitmask, !early);
		if (early) {
			/* the interval starts again from this tick */
			svc->early_ticks++;
			clock_gettime(CLOCK_MONOTONIC, &next);
		}
	}
	return 0;
}

void service__free(struct service *svc)
{
	if (!svc)
		return;
	/* HTTP first: no reader may outlive the data */
	http__stop(svc->http);
	snapshot_slot__free(svc->slot);
	snapshot__put(svc->prev_snap);
	for (int i = 0; i < svc->nvms; i++) {
		history__put(svc->vms[i].hist);
		free(svc->vms[i].pol);
		channel__free(svc->vms[i].ch);
	}
	free(svc->vms);
	free(svc->pfds);
	free(svc->watch);
	vm_list__free(&svc->list);
	vm_list__free(&svc->proc);
	actuate__free(svc->act);
	trace_snapshot__free(&svc->tsnap);
	trace__close(svc->trace);
	virt_stats_list__free(&svc->stats);
	virt__close(svc->virt);
	config__free(svc->cfg);
	free(svc);
}
