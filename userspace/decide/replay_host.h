/* SPDX-License-Identifier: GPL-2.0 */
/*
 * Host replay: several traces side by side as the VMs of one host, with one
 * memory budget (and optionally a vCPU budget) between them (issue 12, item 4).
 *
 * Semantics: every trace has the same number of rows; each VM has the
 * bounds of single replay (cfg: 256..4096 MiB, 1..4 vCPUs), starts at
 * min(1024, floor(host_mem / n)) MiB and vcpu_min vCPUs; no host reserve,
 * no host-side feedback. At tick t each VM's policy sees what single replay
 * shows it (replay__input()); the arbiter turns all of tick t's decisions
 * into grants that take effect at t+1, so the sum of the allocations never
 * exceeds host_mem (nor host_vcpus when given). Scores: single replay's
 * per VM, summed, plus
 *   over_budget_ticks   ticks whose allocations add up to more than the budget
 *   host_vm_pressure_s  VM-ticks with demand > 0.95 x alloc
 *
 * Modes besides a policy + the arbiter, the baselines:
 *   static   host_mem / n each (within the bounds) and the start vCPUs, forever
 *   mom      oVirt MOM's doc/balloon.rules, every 10 s
 *   proxmox  Proxmox VE's auto-ballooning (pvestatd + PVE/AutoBalloon.pm), every 10 s
 * The baselines do not change vCPUs (neither peer hot-plugs them).
 */
#ifndef KVMPILOT_REPLAY_HOST_H
#define KVMPILOT_REPLAY_HOST_H

#include <stddef.h>
#include <stdint.h>

#include "arbiter.h"
#include "policy.h"
#include "replay.h"

enum replay_host_mode {
	REPLAY_HOST_POLICY = 0, /* cfg's policy, then the arbiter */
	REPLAY_HOST_STATIC,
	REPLAY_HOST_MOM,
	REPLAY_HOST_PROXMOX,
};

/* "static", "mom", "proxmox" -> mode; -EINVAL otherwise (policies: policy_kind__parse). */
int replay_host_mode__parse(const char *name);

struct replay_host_opts {
	enum replay_host_mode mode;
	uint64_t host_mem_mib;
	unsigned int host_vcpus; /* 0: no vCPU budget */
};

struct replay_host_score {
	struct replay_score total; /* the VMs' scores summed */
	uint64_t over_budget_ticks;
	uint64_t host_vm_pressure_s;
	uint64_t overcommitted_ticks; /* ticks whose floors did not fit (arbiter) */
};

/* Called for every VM at every tick with the allocation in force; reason may be "". */
typedef void (*replay_host_tick_fn)(void *ctx, uint64_t time_s, size_t vm, uint64_t alloc_mib,
				    unsigned int vcpus, const char *reason);

/*
 * Run n traces on one host. per_vm[n] gets each VM's scores, *score the
 * host's. Returns 0; -EINVAL on a bad config, traces of different lengths
 * (err says which), a budget that cannot hold the VMs' minimums, or n
 * outside 1..ARBITER_VMS_MAX; -ENOMEM.
 */
int replay_host__run(const struct policy_config *cfg, const struct replay_host_opts *opts,
		     const struct replay_trace *const *traces, const char *const *names, size_t n,
		     struct replay_score *per_vm, struct replay_host_score *score,
		     replay_host_tick_fn cb, void *ctx, char *err, size_t errlen);

#endif /* KVMPILOT_REPLAY_HOST_H */
