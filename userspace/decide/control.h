/* SPDX-License-Identifier: GPL-2.0 */
/*
 * The per-VM controller: everything the service remembers to decide and act
 * for one VM, and the one path a decision takes, downward only:
 *
 *   sample (sample.h) -> control__step(): policy input, policy__decide()
 *     -> actuate (rate limits, clamping, dry-run) -> virt_domain (libvirt)
 *                     `-> the VM's agent channel (set-cpus), owned here
 *
 * What it keeps per VM: the policy's state (reset when a reload changes the
 * policy), the last memory growth until the balloon lands it and how long
 * that takes (mem_lag_s, which pads the next growth), the guest kernel's own
 * share of its memory, the agent channel with its one set-cpus command in
 * flight and its retries, and how many actions of each kind ended how.
 *
 * Results are typed (struct ctl_step, enum act_result); the caller turns them
 * into log lines and API entries (publish.h). No clock is read here: the
 * caller passes it in struct ctl_env, so tests drive it with a fixed one.
 */
#ifndef KVMPILOT_CONTROL_H
#define KVMPILOT_CONTROL_H

#include <stdbool.h>
#include <stdint.h>

#include "actuate.h"

struct vm_sample;
struct channel;
struct channel_opts;
struct virt;

/* Headroom kept above guest used memory, for the policy and the actuator. */
#define CTL_MEM_RESERVE_MIB 128
/* How long a balloon target that grew counts before the balloon reaches it. */
#define CTL_MEM_GROW_SETTLE_NS (10 * 1000000000ull)
/* A growth has landed when the balloon is this close to its target. */
#define CTL_MEM_LANDED_SLACK_KIB 2048
/* Balloon speed (MiB/s) the policy assumes until this VM's was measured:
 * deflation by ~100 MiB/s was seen under TCG with memory_hog filling. */
#define CTL_BALLOON_MIBPS_GUESS 100.0
/* How often a set-cpus the guest refused is sent again before it counts. */
#define CTL_CPUS_CMD_TRIES 5

/* What the service gives every call. */
struct ctl_env {
	struct actuate *act;   /* the one actuator (its own log and rate limits) */
	struct virt *virt;     /* passed through to actuate; NULL in tests with fake domains */
	double tick_s;	       /* the configured tick */
	double silent_after_s; /* agent_timeout_s */
	uint64_t mono_ns;      /* CLOCK_MONOTONIC of this call */
};

enum ctl_outcome {
	CTL_OBSERVED,  /* not acted on: disabled, or not a libvirt domain */
	CTL_UNDECIDED, /* the policy refused its input (the sample's reason says why) */
	CTL_HOLD,      /* decided: nothing to change */
	CTL_ACTED,     /* decided and asked the actuator: see act[] */
};

/* One actuator request of a step. */
struct ctl_action {
	bool asked;
	int err; /* what actuate returned, 0 or -errno */
	struct act_record rec;
};

struct ctl_step {
	enum ctl_outcome outcome;
	struct ctl_action act[ACT_KIND_NR];
	bool vcpus_changed; /* libvirt's vCPU threads may have changed: re-read them */
};

/* A set-cpus the agent did not confirm after its retries (control__poll_agent()). */
struct ctl_cpus_failure {
	int cpus; /* what was asked */
	int tries;
	int err; /* -errno: the agent's refusal, -ETIMEDOUT, -ECONNRESET, ... */
};

struct vm_ctl;

/* NULL when out of memory. */
struct vm_ctl *control__new(const char *name);
/* Closes the channel too. Accepts NULL. */
void control__free(struct vm_ctl *c);

/*
 * The VM's agent channel at path ("" or NULL: none): opened on first use,
 * replaced when the path changed, closed when it went. 0 or -errno.
 */
int control__set_channel_path(struct vm_ctl *c, const char *path, const struct channel_opts *co);
/* Adopt a channel the caller opened (tests: channel__new_fd()); NULL closes. */
void control__adopt_channel(struct vm_ctl *c, struct channel *ch);
/* The channel, for reading samples and polling between ticks; NULL when none. */
struct channel *control__channel(const struct vm_ctl *c);

/*
 * Read the channel (channel__poll()) and follow the set-cpus in flight: a
 * refusal with ERANGE (a hot-added CPU not present in the guest yet) is sent
 * again, up to CTL_CPUS_CMD_TRIES. Returns 1 with *fail filled when a
 * set-cpus failed for good (counted as a vCPU error), 0 otherwise; the
 * channel's poll error, if any, in *poll_err.
 */
int control__poll_agent(struct vm_ctl *c, uint64_t mono_ns, int *poll_err,
			struct ctl_cpus_failure *fail);

/*
 * Decide for sample s (prev: the last tick's, NULL: none) and act. Writes
 * the decision fields of s (decided, changed, target_*, forecast_*,
 * mem_lag_s, reason). Returns 0.
 */
int control__step(struct vm_ctl *c, const struct ctl_env *env, struct vm_sample *s,
		  const struct vm_sample *prev, struct ctl_step *out);

/* How long memory growths take to land beyond a tick; < 0: none seen yet. */
double control__mem_lag_s(const struct vm_ctl *c);
/*
 * How fast the balloon moved, MiB/s: deflation (growth) and inflation
 * (shrink), each measured from the call to the first tick that saw it land;
 * 0: none measured yet. The policy gets both (policy_input).
 */
void control__mem_speeds(const struct vm_ctl *c, double *grow_mibps, double *shrink_mibps);
/* One speed estimate from a move of moved_kib seen after seen_s (est <= 0: none yet). */
double control__speed_update(double est, double moved_kib, double seen_s);
/* The guest kernel's own share of its memory (balloon - MemTotal), 0: not learned. */
uint64_t control__kernel_kib(const struct vm_ctl *c);
/* Counters of the actions of kind (enum act_kind) that moved or failed. */
const struct act_counts *control__counts(const struct vm_ctl *c, enum act_kind kind);

#endif /* KVMPILOT_CONTROL_H */
