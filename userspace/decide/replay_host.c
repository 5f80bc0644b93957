// SPDX-License-Identifier: GPL-2.0
/* Host replay: several traces as the VMs of one host; semantics in replay_host.h. */
#include <errno.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "replay_host.h"

/* Both peers run their balloon policy every 10 s (MOM's policy interval, pvestatd's cycle). */
#define PEER_CYCLE_S 10

int replay_host_mode__parse(const char *name)
{
	if (!strcmp(name, "static"))
		return REPLAY_HOST_STATIC;
	if (!strcmp(name, "mom"))
		return REPLAY_HOST_MOM;
	if (!strcmp(name, "proxmox"))
		return REPLAY_HOST_PROXMOX;
	return -EINVAL;
}

struct host_vm {
	struct policy_state st;
	uint64_t alloc, next_alloc;
	unsigned int vcpus, next_vcpus;
	double slack_sum, idle_sum;
	double used; /* what the guest shows at this tick: min(demand, alloc) */
};

/*
 * oVirt MOM, doc/balloon.rules (github.com/oVirt/mom, as of commit e0f3d3b):
 * the host is under pressure when its free memory is below 20%
 * (pressure_threshold); then every guest shrinks by at most 5% of its balloon
 * per cycle (max_balloon_change_percent), to no less than
 * max(balloon_min, used + guest_free_percent x balloon), guest_free_percent =
 * 20% x host_free / 20% (host_free - 5% once host_free <= 5%,
 * pressure_critical). Otherwise every guest below its maximum grows by 5%,
 * at least to max(balloon_min, used + 20% of its balloon)
 * (min_guest_free_percent), at most to its maximum. A change of no more than
 * 0.25% of the balloon is not made (min_balloon_change_percent). In replay
 * the host's memory is the budget and what it uses is the sum of the
 * balloons (no host reserve); balloon_min and balloon_max are the VM's
 * bounds; MOM averages its statistics (StatAvg), replay gives it the tick's.
 */
static void mom_cycle(const struct policy_config *cfg, uint64_t host_mem, struct host_vm *vm,
		      size_t n)
{
	double sum = 0, host_free, gfp;

	for (size_t i = 0; i < n; i++)
		sum += (double)vm[i].alloc;
	host_free = ((double)host_mem - sum) / (double)host_mem;
	if (host_free <= 0.05)
		gfp = -0.05 + host_free;
	else
		gfp = 0.20 * (host_free / 0.20);
	for (size_t i = 0; i < n; i++) {
		double cur = (double)vm[i].alloc, size, lo;
		double min = (double)cfg->mem_min_mib, max = (double)cfg->mem_max_mib;

		if (host_free < 0.20) {
			lo = fmax(min, vm[i].used + gfp * cur);
			size = fmax(cur * (1 - 0.05), lo);
			if (size > cur)
				continue;
		} else {
			if (cur >= max)
				continue;
			lo = fmax(min, vm[i].used + 0.20 * cur);
			size = fmax(cur * (1 + 0.05), lo);
			size = fmin(size, max);
		}
		if (fabs(size - cur) <= 0.0025 * cur)
			continue;
		size = fmin(fmax(floor(size), min), max);
		vm[i].next_alloc = (uint64_t)size;
	}
}

/* One VM as PVE::AutoBalloon sees it (MiB; Proxmox counts bytes). */
struct pve_vm {
	int64_t balloon, balloon_min, maxmem, freemem, shares;
	int64_t res; /* -1: no result yet */
};

/*
 * compute_alg1's $change_func (proxmox/pve-manager, PVE/AutoBalloon.pm):
 * spread `bytes` over the listed VMs, each toward balloon_min plus its
 * shares' part of what the list holds above the minimums plus bytes, by at
 * most maxchange from its balloon; VMs at a bound drop out and the rest is
 * spread again. Returns what could not be placed. The loop is bounded here
 * (the Perl one ends when a round makes no progress).
 */
static int64_t pve_change(struct pve_vm *v, const size_t *ids, size_t nids, int64_t bytes,
			  int64_t maxchange, bool *done)
{
	int64_t rest = bytes, progress = 1;
	bool repeat = true;

	for (size_t k = 0; k < nids; k++)
		done[ids[k]] = false;
	for (int round = 0; rest && repeat && progress && round < 1000; round++) {
		double shares_total = 0;
		int64_t alloc_old = 0, alloc_new, changes = 0;

		repeat = false;
		progress = 0;
		for (size_t k = 0; k < nids; k++) {
			struct pve_vm *d = &v[ids[k]];

			if (done[ids[k]])
				continue;
			alloc_old += (d->res >= 0 ? d->res : d->balloon) - d->balloon_min;
			shares_total += (double)d->shares;
		}
		alloc_new = alloc_old + rest;
		for (size_t k = 0; k < nids; k++) {
			struct pve_vm *d = &v[ids[k]];
			int64_t desired, nw, balloon, diff;

			if (done[ids[k]])
				continue;
			desired = d->balloon_min +
				  (int64_t)(((double)alloc_new / shares_total) * (double)d->shares);
			if (desired > d->maxmem) {
				desired = d->maxmem;
				repeat = true;
			} else if (desired < d->balloon_min) {
				desired = d->balloon_min;
				repeat = true;
			}
			if (bytes > 0 && desired - d->balloon > 0) {
				nw = d->balloon + maxchange;
				balloon = nw > desired ? desired : nw;
			} else if (desired - d->balloon < 0) {
				nw = d->balloon - maxchange;
				balloon = nw > desired ? nw : desired;
			} else {
				done[ids[k]] = true;
				continue;
			}
			diff = balloon - d->balloon;
			if (diff != 0) {
				int64_t old = d->res >= 0 ? d->res : d->balloon;
				int64_t change = balloon - old;

				d->res = balloon;
				if (change != 0) {
					changes += change;
					progress += diff > 0 ? diff : -diff;
					repeat = true;
				}
			}
		}
		rest -= changes;
	}
	return rest;
}

/*
 * Proxmox VE auto-ballooning: pvestatd's auto_ballooning (PVE/Service/
 * pvestatd.pm) steers the host's memory use to ballooning-target (80%) of
 * its total: goal = 80% x total - used, acted on when |goal| > 10 MiB, each
 * VM moving at most 100 MiB per 10 s cycle (maxchange), shared by `shares`
 * (default 1000). compute_alg1 grows first the VMs short of memory (free
 * memory at most 25% of balloon_min, or below it) and shrinks first those
 * with enough; only when that makes no progress does it use every VM. In
 * replay the host's total is the budget and its use the sum of the
 * balloons; balloon_min and maxmem are the VM's bounds.
 */
static int pve_cycle(const struct policy_config *cfg, uint64_t host_mem, struct host_vm *vm,
		     size_t n)
{
	struct pve_vm *v = calloc(n, sizeof(*v));
	size_t *all = calloc(n, sizeof(*all)), *l1 = calloc(n, sizeof(*l1)),
	       *l2 = calloc(n, sizeof(*l2));
	bool *done = calloc(n, sizeof(*done));
	size_t n1 = 0, n2 = 0;
	int64_t used = 0, goal, rest;
	const int64_t maxchange = 100;
	int err = -ENOMEM;

	if (!v || !all || !l1 || !l2 || !done)
		goto cleanup;
	for (size_t i = 0; i < n; i++) {
		struct pve_vm *d = &v[i];

		d->balloon = (int64_t)vm[i].alloc;
		d->balloon_min = (int64_t)cfg->mem_min_mib;
		d->maxmem = (int64_t)cfg->mem_max_mib;
		d->freemem = (int64_t)((double)vm[i].alloc - vm[i].used);
		d->shares = ARBITER_SHARES_DEFAULT;
		d->res = -1;
		used += d->balloon;
		all[i] = i;
		if (d->freemem && d->freemem > (int64_t)((double)d->balloon_min * 0.25) &&
		    d->balloon >= d->balloon_min)
			l2[n2++] = i;
		else
			l1[n1++] = i;
	}
	goal = (int64_t)((double)host_mem * 80 / 100) - used;
	if (goal > 10) {
		rest = pve_change(v, l1, n1, goal, maxchange, done);
		if (rest >= goal)
			(void)pve_change(v, all, n, rest, maxchange, done);
	} else if (goal < -10) {
		rest = pve_change(v, l2, n2, goal, maxchange, done);
		if (rest <= goal)
			(void)pve_change(v, all, n, rest, maxchange, done);
	}
	for (size_t i = 0; i < n; i++) {
		if (v[i].res >= 0)
			vm[i].next_alloc = (uint64_t)v[i].res;
	}
	err = 0;
cleanup:
	free(v);
	free(all);
	free(l1);
	free(l2);
	free(done);
	return err;
}

/* The allocation that covers a forecast band the way the predictive policy sizes it. */
static uint64_t band_need(const struct policy_config *cfg, const struct policy_decision *d)
{
	double hi = d->forecast_mem_hi_mib;

	if (cfg->kind != POLICY_PREDICTIVE || !(hi > 0))
		return 0; /* the wish is the need */
	return (uint64_t)ceil(fmax(hi / cfg->predictive.fill, hi + (double)cfg->mem_reserve_mib));
}

/* Every policy decides, the arbiter grants; 0 or -errno. */
static int policy_tick(const struct policy_config *cfg, const struct replay_host_opts *o,
		       const struct replay_trace *const *traces, size_t i, struct host_vm *vm,
		       size_t n, struct arbiter_vm *av, struct arbiter_grant *g,
		       struct replay_host_score *score, const char **reasons)
{
	struct arbiter_budget b = { .mem_mib = o->host_mem_mib, .vcpus = o->host_vcpus };
	struct arbiter_result res;
	int err;

	for (size_t k = 0; k < n; k++) {
		struct policy_input in;
		struct policy_decision d;

		replay__input(cfg, traces[k]->mem[i], traces[k]->cpu[i], vm[k].alloc, vm[k].vcpus,
			      &in);
		err = policy__decide(cfg, &vm[k].st, &in, &d);
		if (err)
			return err;
		av[k] = (struct arbiter_vm){
			.mem_min_mib = cfg->mem_min_mib,
			.mem_max_mib = cfg->mem_max_mib,
			.used_mib = (uint64_t)ceil(in.mem_used_mib),
			.floor_mib = d.floor_mib,
			.need_mib = band_need(cfg, &d),
			.wish_mib = d.target_mem_mib,
			.alloc_mib = vm[k].alloc,
			.shares = ARBITER_SHARES_DEFAULT,
			.vcpu_min = cfg->vcpu_min,
			.vcpu_max = cfg->vcpu_max,
			.vcpus = vm[k].vcpus,
			.vcpu_need =
				d.forecast_vcpus > 0
					? (unsigned int)ceil(fmin(d.forecast_vcpus, 4096) - 1e-9)
					: 0,
			.vcpu_wish = d.target_vcpus,
		};
	}
	err = arbiter__run(&b, av, n, g, &res);
	if (err)
		return err;
	if (res.flags & ARBITER_OVERCOMMITTED)
		score->overcommitted_ticks++;
	for (size_t k = 0; k < n; k++) {
		vm[k].next_alloc = g[k].mem_mib;
		vm[k].next_vcpus = g[k].vcpus;
		reasons[k] = g[k].reason;
	}
	return 0;
}

static int check_traces(const struct replay_trace *const *traces, const char *const *names,
			size_t n, char *err, size_t errlen)
{
	for (size_t k = 1; k < n; k++) {
		if (traces[k]->n != traces[0]->n) {
			snprintf(err, errlen,
				 "%s has %zu rows, %s has %zu: host replay needs traces of the "
				 "same length",
				 names[k], traces[k]->n, names[0], traces[0]->n);
			return -EINVAL;
		}
	}
	return 0;
}

/* Whether the host can hold n VMs at all; *start is each one's first allocation. */
static int check_host(const struct policy_config *cfg, const struct replay_host_opts *o, size_t n,
		      uint64_t *start, char *errbuf, size_t errlen)
{
	*start = o->host_mem_mib / n;
	if (*start > 1024)
		*start = 1024;
	if (*start < cfg->mem_min_mib || *start > cfg->mem_max_mib) {
		snprintf(errbuf, errlen,
			 "--host-mem %llu MiB cannot hold %zu VMs of at least %llu MiB",
			 (unsigned long long)o->host_mem_mib, n,
			 (unsigned long long)cfg->mem_min_mib);
		return -EINVAL;
	}
	if (o->host_vcpus && o->host_vcpus < n * cfg->vcpu_min) {
		snprintf(errbuf, errlen, "--host-vcpus %u cannot hold %zu VMs of at least %u vCPUs",
			 o->host_vcpus, n, cfg->vcpu_min);
		return -EINVAL;
	}
	return 0;
}

static void init_vms(const struct policy_config *cfg, const struct replay_host_opts *o,
		     struct host_vm *vm, size_t n, uint64_t start, struct replay_score *per_vm,
		     const char **reasons)
{
	for (size_t k = 0; k < n; k++) {
		uint64_t a = start;

		/* static: the classic partition, host_mem / n within the bounds, forever. */
		if (o->mode == REPLAY_HOST_STATIC) {
			a = o->host_mem_mib / n;
			a = a < cfg->mem_min_mib ? cfg->mem_min_mib : a;
			a = a > cfg->mem_max_mib ? cfg->mem_max_mib : a;
		}
		policy_state__init(&vm[k].st);
		vm[k].alloc = a;
		vm[k].vcpus = cfg->vcpu_min;
		memset(&per_vm[k], 0, sizeof(per_vm[k]));
		reasons[k] = "";
	}
}

/* Tick i as every VM lived it, scored; over budget when the allocations do not fit. */
static void score_tick(const struct replay_host_opts *o, const struct replay_trace *const *traces,
		       uint64_t i, struct host_vm *vm, size_t n, struct replay_score *per_vm,
		       struct replay_host_score *score)
{
	uint64_t sum_mem = 0, sum_vcpus = 0;

	for (size_t k = 0; k < n; k++) {
		const struct replay_trace *t = traces[k];

		replay__score_tick(&per_vm[k], t->mem[i], t->cpu[i], vm[k].alloc, vm[k].vcpus,
				   &vm[k].slack_sum, &vm[k].idle_sum);
		vm[k].used = fmin(t->mem[i], (double)vm[k].alloc);
		vm[k].next_alloc = vm[k].alloc;
		vm[k].next_vcpus = vm[k].vcpus;
		sum_mem += vm[k].alloc;
		sum_vcpus += vm[k].vcpus;
	}
	if (sum_mem > o->host_mem_mib || (o->host_vcpus && sum_vcpus > o->host_vcpus))
		score->over_budget_ticks++;
}

/* What the host's policy decides at tick i, for tick i + 1. */
static int decide_tick(const struct policy_config *cfg, const struct replay_host_opts *o,
		       const struct replay_trace *const *traces, uint64_t i, struct host_vm *vm,
		       size_t n, struct arbiter_vm *av, struct arbiter_grant *g,
		       struct replay_host_score *score, const char **reasons)
{
	switch (o->mode) {
	case REPLAY_HOST_POLICY:
		return policy_tick(cfg, o, traces, i, vm, n, av, g, score, reasons);
	case REPLAY_HOST_MOM:
		if (i % PEER_CYCLE_S == 0)
			mom_cycle(cfg, o->host_mem_mib, vm, n);
		return 0;
	case REPLAY_HOST_PROXMOX:
		return i % PEER_CYCLE_S == 0 ? pve_cycle(cfg, o->host_mem_mib, vm, n) : 0;
	default:
		return 0;
	}
}

/* Report tick i, then let its decisions take effect (at i + 1: an action of tick i + 1). */
static void apply_tick(const struct replay_trace *const *traces, uint64_t i, uint64_t len,
		       struct host_vm *vm, size_t n, struct replay_score *per_vm,
		       const char **reasons, replay_host_tick_fn cb, void *ctx)
{
	for (size_t k = 0; k < n; k++) {
		if (cb)
			cb(ctx, traces[k]->t0 + i, k, vm[k].alloc, vm[k].vcpus, reasons[k]);
		if (i + 1 < len &&
		    (vm[k].next_alloc != vm[k].alloc || vm[k].next_vcpus != vm[k].vcpus))
			per_vm[k].actions++;
		vm[k].alloc = vm[k].next_alloc;
		vm[k].vcpus = vm[k].next_vcpus;
	}
}

static void finish_scores(const struct host_vm *vm, size_t n, uint64_t len,
			  struct replay_score *per_vm, struct replay_host_score *score)
{
	for (size_t k = 0; k < n; k++) {
		per_vm[k].ticks = len;
		per_vm[k].mean_slack_mb = len ? vm[k].slack_sum / (double)len : 0;
		per_vm[k].mean_idle_vcpus = len ? vm[k].idle_sum / (double)len : 0;
		score->host_vm_pressure_s += per_vm[k].mem_pressure_s;
		replay_score__add(&score->total, &per_vm[k]);
	}
}

int replay_host__run(const struct policy_config *cfg, const struct replay_host_opts *o,
		     const struct replay_trace *const *traces, const char *const *names, size_t n,
		     struct replay_score *per_vm, struct replay_host_score *score,
		     replay_host_tick_fn cb, void *ctx, char *errbuf, size_t errlen)
{
	struct host_vm *vm = NULL;
	struct arbiter_vm *av = NULL;
	struct arbiter_grant *g = NULL;
	const char **reasons = NULL;
	uint64_t start, len;
	int err;

	memset(score, 0, sizeof(*score));
	errbuf[0] = '\0';
	if (!n || n > ARBITER_VMS_MAX || policy_config__validate(cfg)) {
		snprintf(errbuf, errlen, "between 1 and %d traces, and valid bounds",
			 ARBITER_VMS_MAX);
		return -EINVAL;
	}
	err = check_traces(traces, names, n, errbuf, errlen);
	if (!err)
		err = check_host(cfg, o, n, &start, errbuf, errlen);
	if (err)
		return err;
	err = -ENOMEM;
	vm = calloc(n, sizeof(*vm));
	av = calloc(n, sizeof(*av));
	g = calloc(n, sizeof(*g));
	reasons = calloc(n, sizeof(*reasons));
	if (!vm || !av || !g || !reasons) {
		snprintf(errbuf, errlen, "out of memory");
		goto cleanup;
	}
	init_vms(cfg, o, vm, n, start, per_vm, reasons);
	len = traces[0]->n;
	for (uint64_t i = 0; i < len; i++) {
		score_tick(o, traces, i, vm, n, per_vm, score);
		err = decide_tick(cfg, o, traces, i, vm, n, av, g, score, reasons);
		if (err) {
			snprintf(errbuf, errlen, "tick %llu: %s", (unsigned long long)i,
				 strerror(-err));
			goto cleanup;
		}
		apply_tick(traces, i, len, vm, n, per_vm, reasons, cb, ctx);
	}
	finish_scores(vm, n, len, per_vm, score);
	err = 0;
cleanup:
	free(vm);
	free(av);
	free(g);
	free(reasons);
	return err;
}
