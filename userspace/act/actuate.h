/* SPDX-License-Identifier: GPL-2.0 */
/*
 * The actuators: live balloon and vCPU count of a libvirt domain, with the
 * safety rules every action goes through, in this order:
 *   1. the request is validated (name, reason, numbers);
 *   2. rate limit per VM and per kind (opts.min_interval_ms): a request
 *      sooner than that after the previous attempt is "rate-limited"; growing
 *      memory is exempt (always safe within the maximum, and a guest that
 *      allocates fast must not wait for a timer);
 *   3. the domain must exist and run; its maximum memory / maximum vCPUs are
 *      read from libvirt at that moment;
 *   4. the target is clamped: memory into [floor, ceiling] with
 *      floor = max(min, guest used + reserve, opts.hard_min_kib) and
 *      ceiling = min(the request's max_kib, <memory>); when the floor is above
 *      the ceiling, the ceiling wins (the operator's bound holds, the record
 *      says so); vCPUs into [1, maximum];
 *   5. dry-run stops here with result "dry-run" (the decision is logged and
 *      counts for the rate limit);
 *   6. the action runs; its outcome is the result.
 * Every request, refused or not, becomes one struct act_record, appended to
 * the action log file (JSON lines, see README) and to an in-memory ring.
 *
 * The domain is reached through virt_domain.h (virt__domain_read(),
 * virt__set_balloon(), virt__set_vcpus()) on the struct virt handle given
 * per call; actuate.c itself never calls libvirt.
 *
 * vCPUs: scaling up hot-adds with virt__set_vcpus() when QEMU has
 * fewer than the target, then asks the agent (callback) to online the CPUs;
 * scaling down offlines CPUs through the agent. Hypervisor hot-remove only
 * with opts.allow_hv_unplug, and a second hot-remove is refused until
 * libvirt's count confirms the first one.
 *
 * Thread safety: one thread acts; actuate__recent() may be called from any
 * thread (the ring has its own lock).
 */
#ifndef KVMPILOT_ACTUATE_H
#define KVMPILOT_ACTUATE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "virt_domain.h"
#include "vm.h"

enum act_kind {
	ACT_MEMORY,
	ACT_VCPUS,
	ACT_KIND_NR,
};

/* What became of a request: the first word of act_record.result, typed. */
enum act_result {
	ACT_RES_OK,
	ACT_RES_DRY_RUN,
	ACT_RES_UNCHANGED,
	ACT_RES_RATE_LIMITED,
	ACT_RES_REFUSED,
	ACT_RES_ERROR,
	ACT_RES_NR,
};

/*
 * How the actions of one kind on one VM ended, for the API and metrics:
 * those that moved something or failed (unchanged and rate-limited ones
 * only go to the action log).
 */
struct act_counts {
	uint64_t ok;
	uint64_t error; /* refused or failed (also a set-cpus the agent did not confirm) */
	uint64_t dry_run;
};

#define ACT_REASON_MAX 128
#define ACT_RESULT_MAX 192

/* Default minimum interval between two actions of one kind on one VM. */
#define ACT_DEFAULT_MEMORY_INTERVAL_MS 5000
#define ACT_DEFAULT_VCPUS_INTERVAL_MS  10000
/* Never balloon a guest below this, whatever the caller says. */
#define ACT_DEFAULT_HARD_MIN_KIB (128ull * 1024)

struct act_record {
	uint64_t time_ns; /* CLOCK_REALTIME */
	char vm[VM_NAME_MAX];
	enum act_kind kind;
	/*
	 * KiB (memory) or vCPUs; the action log writes memory in MiB
	 * (from_mib, to_mib, requested_mib), as /api/v1/actions does
	 */
	uint64_t from;	    /* before; 0 when unknown */
	uint64_t to;	    /* after clamping (what was / would be set) */
	uint64_t requested; /* what the caller asked for */
	char clamp[16];	    /* "", "floor", "ceiling", "min" or "max" */
	/*
	 * memory: the floor (KiB) was above the ceiling, so the ceiling was
	 * used; first_over_ceiling: the first such request of this VM since one
	 * whose floor fitted (say it once per episode)
	 */
	uint64_t floor_kib;
	bool over_ceiling;
	bool first_over_ceiling;
	char reason[ACT_REASON_MAX];
	/*
	 * "ok", "dry-run", "unchanged", "rate-limited", "refused: ...",
	 * "error: ...", optionally followed by ": detail" (for vCPUs the steps)
	 */
	char result[ACT_RESULT_MAX];
	enum act_result outcome; /* result's first word, for programs */
	int err;		 /* 0 or -errno, what the actuate__*() call returned */
	bool dry_run;
};

/*
 * How actuate reaches a domain; the struct virt handle of each call is
 * passed through. The default is libvirt (virt_domain.h); tests give fakes.
 */
struct act_domain_ops {
	int (*read)(struct virt *v, const char *vm, unsigned int what, struct virt_domain_now *now,
		    struct virt_domain_err *err);
	int (*set_balloon)(struct virt *v, const char *vm, uint64_t kib,
			   struct virt_domain_err *err);
	int (*set_vcpus)(struct virt *v, const char *vm, unsigned int n,
			 struct virt_domain_err *err);
};

/* Online exactly `online` CPUs in the guest; 0 (done or queued) or -errno. */
typedef int (*act_agent_fn)(void *ctx, const char *vm, int online);

struct actuate_opts {
	bool dry_run; /* every request; a request may also ask for it alone */
	/* per kind; 0: the default above */
	unsigned int min_interval_ms[ACT_KIND_NR];
	uint64_t hard_min_kib;	/* 0: ACT_DEFAULT_HARD_MIN_KIB */
	bool allow_hv_unplug;	/* hypervisor vCPU hot-remove (broken under TCG/QEMU 7.2) */
	const char *log_path;	/* action log (JSON lines, appended), NULL: none */
	unsigned int ring_size; /* records kept in memory, 0: 256 */
	/*
	 * Online exactly `online` CPUs in the guest; 0 or -errno. 0 may also
	 * mean "queued" for an asynchronous channel: the record then says the
	 * agent was asked. NULL: no agent.
	 */
	act_agent_fn agent_set_cpus;
	void *agent_ctx;
	const struct act_domain_ops *domain_ops; /* NULL: libvirt */
	/* fault injection for tests: called right before libvirt is asked to act */
	void (*before_act)(void *ctx, const char *vm, enum act_kind kind);
	void *hook_ctx;
};

struct act_mem_req {
	uint64_t target_kib;	 /* the balloon size wanted */
	uint64_t min_kib;	 /* configured minimum for this VM */
	uint64_t guest_used_kib; /* what the guest uses now (0: unknown) */
	uint64_t reserve_kib;	 /* headroom kept above guest used */
	uint64_t max_kib;	 /* the operator's ceiling, wins over the floor; 0: <memory> */
	bool dry_run;		 /* decide and log only (or opts.dry_run) */
};

struct act_vcpu_req {
	int target;	/* vCPUs wanted online */
	int online_now; /* online in the guest (agent), -1: unknown (libvirt's count) */
	bool dry_run;	/* decide and log only (or opts.dry_run) */
	/* this VM's agent (its controller); NULL: opts.agent_set_cpus */
	act_agent_fn agent_set_cpus;
	void *agent_ctx;
};

struct actuate;

/* NULL on bad options or when the log cannot be opened (errno set). */
struct actuate *actuate__new(const struct actuate_opts *opts);
void actuate__free(struct actuate *a);

/*
 * Set the live balloon of domain vm. rec (optional) receives the record.
 * Returns 0 (ok, dry-run, unchanged), -EAGAIN (rate-limited), -EINVAL (bad
 * request), -ENOTCONN (v NULL or disconnected), -ENOENT (no such running domain, also
 * when it vanished mid-action), -EIO (libvirt refused or failed).
 */
int actuate__memory(struct actuate *a, struct virt *v, const char *vm,
		    const struct act_mem_req *req, const char *reason, struct act_record *rec);

/*
 * Make target vCPUs online in domain vm. online_now is what the guest has
 * online (from the agent), -1 when unknown (then libvirt's count is used).
 * Returns as actuate__memory(), plus -ENOTSUP (needs the agent and there is
 * none), -EPERM (hot-remove refused: the previous one is not confirmed) and
 * -EPROTO (libvirt acted but the agent failed: partial).
 */
int actuate__vcpus_req(struct actuate *a, struct virt *v, const char *vm,
		       const struct act_vcpu_req *req, const char *reason, struct act_record *rec);

/* actuate__vcpus_req() with opts' agent and dry-run. */
int actuate__vcpus(struct actuate *a, struct virt *v, const char *vm, int target, int online_now,
		   const char *reason, struct act_record *rec);

/* Set (or clear, with NULL) the agent callback after creation. */
void actuate__set_agent(struct actuate *a, act_agent_fn agent_set_cpus, void *ctx);

/* Copy up to max most recent records, oldest first; returns how many. */
int actuate__recent(struct actuate *a, struct act_record *out, int max);

/* Records written to the log file, and failed writes. */
void actuate__log_counts(const struct actuate *a, unsigned long *written, unsigned long *failed);

const char *act_kind__str(enum act_kind kind);
const char *act_result__str(enum act_result res);

/* One record as one action-log line (JSON, no newline); -E2BIG when buf is short. */
int act_record__json(const struct act_record *r, char *buf, size_t size);

/* The same as a json-c object (for the HTTP API); NULL when out of memory. */
struct json_object;
struct json_object *act_record__to_json(const struct act_record *r);

#endif /* KVMPILOT_ACTUATE_H */
