/* SPDX-License-Identifier: GPL-2.0 */
/*
 * The host arbiter: turns every VM's policy decision of one tick into a
 * grant, so that the grants add up to no more than the host's budget
 * (issue 12, item 3).
 *
 * Pure and deterministic like the policy: no I/O, no clock, no globals; the
 * same inputs give the same grants. It runs once per tick after every VM's
 * policy and before the actuators.
 *
 * Memory is shared out in levels, each level in full for every VM before
 * the next one gets anything:
 *   1. hard     max(mem_min, guest used): below it the guest would have to
 *               swap or OOM-kill; never taken, even over the budget;
 *   2. floor    the policy's floor (used + reserve, configured minimum);
 *   3. need     the allocation that covers the forecast band (or the wish,
 *               whichever is smaller);
 *   4. wish     the policy's target; the part above the need is slack.
 * A level that does not fit is shared by weighted water-filling: every VM's
 * growth above the previous level is proportional to its shares, capped at
 * what it asks for, and what a capped VM leaves goes to the others. So a
 * VM's slack (allocation above its forecast band) is reclaimed before any
 * other VM's need is cut, and needs before floors. When even the floors do
 * not fit, the host is overcommitted (ARBITER_OVERCOMMITTED): the arbiter
 * still never goes below the hard level and shares the budget above it.
 *
 * vCPUs the same way, in whole vCPUs: hard = floor = vcpu_min, need =
 * ceil(forecast), wish = the policy's target; a budget of 0 means none.
 */
#ifndef KVMPILOT_ARBITER_H
#define KVMPILOT_ARBITER_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define ARBITER_REASON_MAX     192
#define ARBITER_SHARES_DEFAULT 1000
#define ARBITER_SHARES_MAX     1000000u
#define ARBITER_VMS_MAX	       4096

/* One VM's inputs for one tick. Memory in MiB. */
struct arbiter_vm {
	uint64_t mem_min_mib; /* configured bounds */
	uint64_t mem_max_mib;
	uint64_t used_mib;   /* guest used now (the hard level with mem_min) */
	uint64_t floor_mib;  /* the policy's floor (decision.floor_mib) */
	uint64_t need_mib;   /* allocation covering the forecast band; 0: the wish */
	uint64_t wish_mib;   /* the policy's target (decision.target_mem_mib) */
	uint64_t alloc_mib;  /* current allocation, for the reason */
	unsigned int shares; /* 0: ARBITER_SHARES_DEFAULT */
	unsigned int vcpu_min, vcpu_max;
	unsigned int vcpus;	/* online now, for the reason */
	unsigned int vcpu_need; /* ceil(forecast_vcpus); 0: the wish */
	unsigned int vcpu_wish; /* decision.target_vcpus */
};

struct arbiter_budget {
	uint64_t mem_mib;
	unsigned int vcpus; /* 0: vCPUs are not arbitrated */
};

/* Grant flags. */
#define ARBITER_MEM_CUT	      (1u << 0) /* granted less memory than wished */
#define ARBITER_VCPU_CUT      (1u << 1) /* granted fewer vCPUs than wished */
#define ARBITER_OVERCOMMITTED (1u << 2) /* the floors did not fit the budget */
#define ARBITER_OVER_BUDGET   (1u << 3) /* even the hard levels did not fit */

struct arbiter_grant {
	uint64_t mem_mib;
	unsigned int vcpus;
	unsigned int flags;
	char reason[ARBITER_REASON_MAX]; /* empty when the wish was granted */
};

/* What the whole host got; flags as above, for any VM. */
struct arbiter_result {
	uint64_t mem_granted_mib;
	uint64_t mem_floors_mib; /* sum of the floors (level 2) */
	uint64_t mem_wished_mib;
	unsigned int vcpus_granted;
	unsigned int vcpus_wished;
	unsigned int flags;
};

/*
 * Grants for n VMs (0 < n <= ARBITER_VMS_MAX) into grants[n]. Returns 0, or
 * -EINVAL on inconsistent inputs (mem_min > mem_max, vcpu_min > vcpu_max,
 * vcpu_min 0, shares above ARBITER_SHARES_MAX, a bound above 2^40 MiB);
 * then nothing is granted.
 */
int arbiter__run(const struct arbiter_budget *budget, const struct arbiter_vm *vms, size_t n,
		 struct arbiter_grant *grants, struct arbiter_result *res);

#endif /* KVMPILOT_ARBITER_H */
