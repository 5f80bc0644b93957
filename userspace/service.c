// SPDX-License-Identifier: GPL-2.0
/* The service: VM table, lifecycle, the tick loop and its phases (see service.h). */
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
#include "collect.h"
#include "control.h"
#include "publish.h"
#include "virt.h"

/* One VM of the table: its history, its controller and what merging it needs. */
struct vmstate {
	char name[VM_NAME_MAX];
	struct history *hist;
	struct vm_ctl *ctl; /* policy, learning, agent channel, action counts */
	/* last tick's sample, for rates: in svc->prev_snap, or NULL */
	const struct vm_sample *prev;
	bool seen;	      /* in this tick's list */
	uint64_t mem_time_ns; /* wall clock of the guest memory data */
	uint64_t agent_rejected_logged;
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
	struct collector *col; /* libvirt, /proc, the tracer */
	uint64_t ticks, overruns, early_ticks;
	struct pollfd *pfds;	   /* the agent channels watched between ticks */
	struct agent_watch *watch; /* watch[i] is pfds[i]'s */
	int cap_pfds;
	double last_tick_ms;
	double phase_ms[TICK_PHASES]; /* of the last tick */
	double start_time;
	char config_error[CONFIG_ERR_MAX];
	uint64_t reloads;
	struct publisher *pub; /* the action ring, snapshot and health */
	struct actuate *act;   /* one rate limit per VM and kind, one action log */
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
	st->hist = history__new(name);
	st->ctl = control__new(name);
	if (!st->hist || !st->ctl) {
		history__put(st->hist);
		control__free(st->ctl);
		return NULL;
	}
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
		control__free(svc->vms[i].ctl);
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

/* ---- sources ---- */

/* ---- merge one VM ---- */

/*
 * The guest agent: memory, swap, PSI, CPU and online CPUs as the guest sees
 * them. The channel (the controller's) parses with bounds and rejects hostile
 * lines; a silent agent (agent_timeout_s) leaves the memory to fresher
 * balloon statistics.
 */
static void merge_agent(struct service *svc, const struct vm_desc *d, struct vmstate *st,
			struct vm_sample *s)
{
	struct channel_opts co = { .silent_after_ns = svc->cfg->agent_timeout_s * 1000000000ull };
	uint64_t mono = now_mono_ns(), recv_ns;
	struct ctl_cpus_failure fail;
	const struct channel_stats *cs;
	struct agent_sample a;
	struct channel *ch;
	int r;

	if (control__set_channel_path(st->ctl, d->channel_path, &co) ||
	    !(ch = control__channel(st->ctl)))
		return;
	if (control__poll_agent(st->ctl, mono, &r, &fail))
		publish__cpus_failure(svc->pub, st->name, &fail, now_real_ns());
	if (r < 0)
		log_debug("agent channel of '%s': %s", s->name, strerror(-r));
	cs = channel__stats(ch);
	s->agent_channel = true;
	s->agent_connected = channel__connected(ch);
	s->agent_samples = cs->samples;
	s->agent_rejected = cs->rejected;
	if (s->agent_rejected > st->agent_rejected_logged &&
	    ratelimit__allow(&svc->rl_agent, now_mono_ns())) {
		log_warn("agent of '%s': %llu line(s) rejected, last: %s ('%s')", s->name,
			 (unsigned long long)(s->agent_rejected - st->agent_rejected_logged),
			 agentproto__reject_name(cs->last_reject.why), cs->last_reject.excerpt);
		st->agent_rejected_logged = s->agent_rejected;
	}
	if (channel__latest(ch, &a, &recv_ns))
		return;
	(void)sample__add_agent(s, &a, channel__age_ns(ch, mono),
				(double)svc->cfg->agent_timeout_s);
}

static void merge(struct service *svc, const struct vm_desc *d, struct vmstate *st,
		  struct vm_sample *s, uint64_t now_ns, double interval_s)
{
	struct vm_config vc;
	uint64_t mem_time_ns;

	sample__init(s, st->name, d, now_ns, interval_s);
	collect__trace(svc->col, s);
	merge_agent(svc, d, st, s);
	collect__virt(svc->col, d, s, svc->cfg->agent_timeout_s);
	mem_time_ns = sample__mem_time_ns(s);
	if (mem_time_ns)
		st->mem_time_ns = mem_time_ns;
	sample__age_memory(s, st->mem_time_ns);
	sample__rates(s, st->prev);
	config__vm(svc->cfg, s->name, &vc);
	sample__configure(s, &vc);
}

/* ---- decide and act ---- */

static void decide_and_act(struct service *svc, struct vmstate *st, struct vm_sample *s)
{
	const struct ctl_env env = {
		.act = svc->act,
		.virt = collect__virt_handle(svc->col),
		.tick_s = svc->cfg->tick_ms / 1000.0,
		.silent_after_s = svc->cfg->agent_timeout_s,
		.mono_ns = now_mono_ns(),
	};
	struct ctl_step step;

	(void)control__step(st->ctl, &env, s, st->prev, &step);
	for (int k = 0; k < ACT_KIND_NR; k++) {
		if (step.act[k].asked)
			publish__action(svc->pub, &step.act[k].rec);
	}
	/* a hot-add sends no libvirt event: re-read the new vCPU threads now */
	if (step.vcpus_changed)
		(void)virt__refresh(collect__virt_handle(svc->col), s->name);
}

/* ---- the tick ---- */

/* Complete the snapshot whose samples the tick wrote (snap->vms[i].s). */
static int build_snapshot(struct service *svc, struct snapshot *snap, double now)
{
	struct virt *virt = collect__virt_handle(svc->col);
	struct publish_health in = {
		.cfg = svc->cfg,
		.libvirt_connected = virt__connected(virt),
		.libvirt_error = virt__last_error(virt),
		.bpf_loaded = collect__bpf_loaded(svc->col),
		.bpf_error = collect__bpf_error(svc->col),
		.config_error = svc->config_error,
		.config_reloads = svc->reloads,
		.ticks = svc->ticks,
		.overruns = svc->overruns,
		.early_ticks = svc->early_ticks,
		.last_tick_ms = svc->last_tick_ms,
		.phase_ms = svc->phase_ms,
		.start_time = svc->start_time,
		.counters = collect__counters(svc->col),
	};
	struct virt_counters c;

	virt__counters(virt, &c);
	in.libvirt_retries = (unsigned int)c.disconnects;
	in.libvirt_names_refused = c.names_refused;
	for (int i = 0; i < svc->nvms; i++)
		publish__vm(&snap->vms[i], svc->vms[i].hist,
			    control__counts(svc->vms[i].ctl, ACT_MEMORY),
			    control__counts(svc->vms[i].ctl, ACT_VCPUS));
	snap->nvms = svc->nvms;
	return publish__snapshot(svc->pub, snap, now, &in);
}

/* The VM table follows this tick's list: new VMs added, gone ones dropped. */
static int vm_table_sync(struct service *svc, const struct vm_list *list)
{
	for (int i = 0; i < svc->nvms; i++)
		svc->vms[i].seen = false;
	for (int i = 0; i < list->n; i++) {
		char key[VM_NAME_MAX];
		struct vmstate *st;

		vm_key(&list->vms[i], key, sizeof(key));
		st = vm_find(svc, key);
		if (st && st->seen)
			continue; /* two processes claim one name: the first wins */
		st = vm_get(svc, key);
		if (!st)
			return -ENOMEM;
		st->seen = true;
	}
	vm_drop_unseen(svc);
	return 0;
}

/* Every VM's sample into snap->vms[] (the VM table's order), decided and acted on. */
static void decide_all(struct service *svc, const struct vm_list *list, struct snapshot *snap,
		       uint64_t now_ns)
{
	for (int i = 0; i < list->n; i++) {
		const struct vm_desc *d = &list->vms[i];
		double interval_s = svc->cfg->tick_ms / 1000.0;
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
}

static void append_history(struct service *svc, struct snapshot *snap)
{
	for (int i = 0; i < svc->nvms; i++) {
		struct vmstate *st = &svc->vms[i];
		int err = history__append(st->hist, &snap->vms[i].s);

		if (err)
			log_debug("history of '%s': %s", st->name, strerror(-err));
		st->prev = &snap->vms[i].s;
	}
}

/* Complete snap and make it the current one; takes over the caller's reference. */
static int publish_tick(struct service *svc, struct snapshot *snap, uint64_t now_ns)
{
	struct snapshot *old;
	int err;

	snapshot__put(svc->prev_snap);
	svc->prev_snap = snapshot__ref(snap);
	err = build_snapshot(svc, snap, (double)now_ns / 1e9);
	if (err) {
		snapshot__put(snap);
		return err;
	}
	old = snapshot_slot__get(svc->slot);
	/*
	 * Someone polls (the dashboard, every second): render for them now, in
	 * the tick, so their request is a copy. Nobody polls: no cost.
	 */
	if (old && atomic_load(&old->asked[SNAP_CACHE_VMS]))
		(void)snapshot__cached(snap, SNAP_CACHE_VMS, api__render_vms);
	if (old && atomic_load(&old->asked[SNAP_CACHE_METRICS]))
		(void)snapshot__cached(snap, SNAP_CACHE_METRICS, metrics__render);
	snapshot__put(old);
	snapshot_slot__publish(svc->slot, snap);
	return 0;
}

static double ms_since(uint64_t t)
{
	return (double)(now_mono_ns() - t) / 1e6;
}

int service__tick(struct service *svc)
{
	uint64_t t0 = now_mono_ns(), now_ns = now_real_ns(), t;
	const struct vm_list *list;
	struct snapshot *snap;
	int err;

	err = collect__tick(svc->col, svc->cfg, svc->ticks, svc->phase_ms);
	if (err < 0)
		return err;
	list = collect__list(svc->col);
	err = vm_table_sync(svc, list);
	if (err)
		return err;
	/*
	 * The tick writes its samples straight into the snapshot it publishes,
	 * and the next tick reads them there as its previous samples: no copy.
	 */
	snap = snapshot__new(svc->nvms, 0);
	if (!snap)
		return -ENOMEM;
	t = now_mono_ns();
	decide_all(svc, list, snap, now_ns);
	svc->phase_ms[TICK_PHASE_DECIDE] = ms_since(t);
	t = now_mono_ns();
	append_history(svc, snap);
	svc->ticks++;
	svc->phase_ms[TICK_PHASE_HISTORY] = ms_since(t);
	t = now_mono_ns();
	err = publish_tick(svc, snap, now_ns);
	/*
	 * The tick frees a snapshot and the per-tick arrays (hundreds of kB):
	 * give the free pages back so they are not kept resident until reuse.
	 */
	(void)malloc_trim(0);
	svc->phase_ms[TICK_PHASE_SNAPSHOT] = ms_since(t);
	svc->last_tick_ms = ms_since(t0);
	return err;
}

/* ---- lifecycle ---- */

static int open_sources(struct service *svc)
{
	/* --dry-run holds for every VM whatever a reload says; the file's per VM */
	struct actuate_opts ao = { .dry_run = svc->opts.dry_run };
	char log_path[VM_PATH_MAX + 16];

	svc->rl_agent = (struct ratelimit)RATELIMIT_INIT(10ull * 1000000000, 5);
	svc->col = collect__open(svc->cfg);
	if (!svc->col)
		return -errno;
	/* every request, refused or not, in DATA_DIR/actions.log (JSON lines) */
	snprintf(log_path, sizeof(log_path), "%s/actions.log", svc->cfg->data_dir);
	ao.log_path = log_path;
	svc->act = actuate__new(&ao);
	if (!svc->act)
		return -errno;
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

	r = mkdir_p(svc->cfg->data_dir, 0755);
	if (r) {
		snprintf(err, errlen, "cannot create data directory '%s': %s", svc->cfg->data_dir,
			 strerror(-r));
		goto fail;
	}
	svc->slot = snapshot_slot__new();
	svc->pub = publish__new();
	if (!svc->slot || !svc->pub) {
		snprintf(err, errlen, "out of memory");
		goto fail;
	}
	r = open_sources(svc);
	if (r) {
		snprintf(err, errlen, "cannot open the sources: %s", strerror(-r));
		goto fail;
	}
	svc->http = http__start(&(struct http_opts){ .listen = svc->cfg->listen,
						     .max_conns = svc->cfg->max_connections,
						     .access = &svc->cfg->http },
				api__handle, svc->slot, err, errlen);
	if (!svc->http)
		goto fail;
	log_info("serving on %s://%s (port %u)", http__tls(svc->http) ? "https" : "http",
		 svc->cfg->listen, http__port(svc->http));
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
	    cfg->libvirt_retry_max_s != svc->cfg->libvirt_retry_max_s ||
	    cfg->bpf != svc->cfg->bpf || memcmp(&cfg->http, &svc->cfg->http, sizeof(cfg->http)))
		log_warn("'listen', 'uri', 'data_dir', 'max_connections', the HTTP access keys, "
			 "'libvirt_retry_max_s' and 'bpf' take effect at the next start");
	(void)str_copy(cfg->listen, svc->cfg->listen, sizeof(cfg->listen));
	(void)str_copy(cfg->uri, svc->cfg->uri, sizeof(cfg->uri));
	(void)str_copy(cfg->data_dir, svc->cfg->data_dir, sizeof(cfg->data_dir));
	cfg->max_connections = svc->cfg->max_connections;
	cfg->libvirt_retry_max_s = svc->cfg->libvirt_retry_max_s;
	cfg->bpf = svc->cfg->bpf;
	cfg->http = svc->cfg->http;
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
		struct channel *ch;
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
		ch = control__channel(st->ctl);
		r = channel__poll(ch, mono);
		if (r < 0 || !channel__connected(ch))
			svc->pfds[i].fd = -1;
		if (r <= 0 || !p || p->mem_source != MEM_SOURCE_AGENT ||
		    channel__latest(ch, &a, &recv_ns) || a.mem_avail_kb > a.mem_total_kb)
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
		struct channel *ch = control__channel(st->ctl);

		if (!ch || channel__fd(ch) < 0 || !channel__connected(ch))
			continue;
		svc->pfds[n] = (struct pollfd){ .fd = channel__fd(ch), .events = POLLIN };
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
	publish__free(svc->pub);
	snapshot__put(svc->prev_snap);
	for (int i = 0; i < svc->nvms; i++) {
		history__put(svc->vms[i].hist);
		control__free(svc->vms[i].ctl);
	}
	free(svc->vms);
	free(svc->pfds);
	free(svc->watch);
	actuate__free(svc->act);
	collect__close(svc->col);
	config__free(svc->cfg);
	free(svc);
}
