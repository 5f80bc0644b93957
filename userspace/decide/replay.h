/* SPDX-License-Identifier: GPL-2.0 */
/*
 * Replay: feed a demand trace through a policy, tick by tick, and score it.
 *
 * Trace CSV: header `time_s,mem_used_mb,cpu_demand_vcpus`, then one row per
 * second (time_s consecutive integers): what the workload wants.
 *
 * Semantics (issue 4 §5): at tick t the policy sees used = min(demand,
 * alloc(t)), total = alloc(t), available = total - used, busy =
 * min(cpu_demand, vcpus(t)), no host contention, fresh data; its decision
 * takes effect at t+1. Scores:
 *   mem_pressure_s   ticks with demand > 0.95 x alloc
 *   mean_slack_mb    mean of max(0, alloc - demand)
 *   cpu_pressure_s   ticks with cpu_demand > vcpus
 *   mean_idle_vcpus  mean of max(0, vcpus - cpu_demand)
 *   actions          ticks whose alloc or vcpus differ from the previous tick
 */
#ifndef KVMPILOT_REPLAY_H
#define KVMPILOT_REPLAY_H

#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

#include "policy.h"

#define REPLAY_LINE_MAX	  256
#define REPLAY_ROWS_MAX	  (31u * 86400u) /* a month of seconds */
#define REPLAY_MEM_MB_MAX 1e8
#define REPLAY_CPU_MAX	  4096.0
#define REPLAY_ERR_MAX	  512

struct replay_trace {
	size_t n;
	uint64_t t0; /* time_s of the first row */
	double *mem; /* demand, MB (MiB) */
	double *cpu; /* demand, vCPUs */
};

/*
 * Parse a trace. name is used in error messages ("NAME:LINE: reason", into
 * err). Returns 0 or -EINVAL (bad content), -ENOMEM, -errno (read error).
 */
int replay_trace__parse(FILE *f, const char *name, struct replay_trace **out, char *err,
			size_t errlen);
int replay_trace__load(const char *path, struct replay_trace **out, char *err, size_t errlen);
void replay_trace__free(struct replay_trace *t);

struct replay_start {
	uint64_t mem_mib;   /* default 1024 */
	unsigned int vcpus; /* default 1 */
};

struct replay_score {
	uint64_t ticks;
	uint64_t mem_pressure_s;
	double mean_slack_mb;
	uint64_t cpu_pressure_s;
	double mean_idle_vcpus;
	uint64_t actions;
};

/* Called for every tick with the allocation in force and the decision made. */
typedef void (*replay_tick_fn)(void *ctx, uint64_t time_s, uint64_t alloc_mib, unsigned int vcpus,
			       const struct policy_decision *d);

/*
 * Run one trace through cfg's policy with a fresh state. Returns 0, or
 * -EINVAL on a bad config or start (outside the bounds).
 */
int replay__run(const struct policy_config *cfg, const struct replay_start *start,
		const struct replay_trace *t, struct replay_score *score, replay_tick_fn cb,
		void *ctx);

/*
 * The perfect-foresight bound under the same rules: alloc(t) = the least
 * allocation with demand <= 0.95 x alloc and alloc >= demand + reserve
 * within the bounds, vcpus(t) = ceil(cpu_demand) within the bounds.
 */
int replay__oracle(const struct policy_config *cfg, const struct replay_trace *t,
		   struct replay_score *score);

/*
 * The rules above, one tick at a time, for the host replay (replay_host.h):
 * what the policy sees at tick t (demand mem, cpu; allocation in force), and
 * the tick's contribution to the scores (slack and idle summed into *slack_sum
 * and *idle_sum, divided by the ticks at the end).
 */
void replay__input(const struct policy_config *cfg, double mem, double cpu, uint64_t alloc,
		   unsigned int vcpus, struct policy_input *in);
void replay__score_tick(struct replay_score *s, double mem, double cpu, uint64_t alloc,
			unsigned int vcpus, double *slack_sum, double *idle_sum);

/* Scores of several traces summed (means weighted by ticks). */
void replay_score__add(struct replay_score *sum, const struct replay_score *s);

#endif /* KVMPILOT_REPLAY_H */
