/* SPDX-License-Identifier: GPL-2.0 */
/*
 * The autoscaling policy: decide, once per VM per tick, how much memory
 * (balloon target) and how many vCPUs a VM should have.
 *
 * Pure and deterministic: no I/O, no clock reads, no globals. Everything a
 * policy remembers lives in a struct policy_state that the caller keeps per
 * VM and passes to every call; the same inputs in the same order always give
 * the same decisions. Durations in the config are seconds, converted to ticks
 * with cfg->tick_s; the caller must call policy__decide() once per tick.
 *
 * Three policies share the safety layer below:
 *   threshold   the prototype's rules: used > 80% of the allocation -> +100 MiB,
 *               < 20% -> -500 MiB; guest CPU > 90% -> +1 vCPU, < 30% -> -1 vCPU
 *   window      peak of the last 5 minutes x 1.15 (Kubernetes VPA / Autopilot style)
 *   predictive  (default) forecasts the next tick's demand from the level, the
 *               trend, and the rises seen before from the same state (see policy.c)
 *
 * Safety, for every policy:
 *   - memory never below floor = max(mem_min_mib, used + mem_reserve_mib) and
 *     never above min(mem_max_mib, balloon maximum); if the floor is above the
 *     ceiling, the ceiling wins;
 *   - no shrink on stale data (older than stale_after_s, or no source), nor
 *     while the guest swaps;
 *   - vCPUs within [vcpu_min, min(vcpu_max, present)]; no scale-up while the
 *     host is contended (run-queue wait above runq_wait_max): the reason says so.
 */
#ifndef KVMPILOT_POLICY_H
#define KVMPILOT_POLICY_H

#include <stdbool.h>
#include <stdint.h>

#define POLICY_REASON_MAX 192
/* The largest memory size (MiB, 1 PiB) a bound or an input may have. */
#define POLICY_MEM_MAX_MIB (1ull << 30)
/* Longest look-back (ticks) a policy keeps: the window policy's 5 minutes fit. */
#define POLICY_HIST_MAX 512
/* Memory levels the predictive policy learns rises for (see policy.c). */
#define POLICY_BINS 64
/* Recent jumps the predictive policy remembers (see policy.c). */
#define POLICY_JUMPS 8

enum policy_kind {
	POLICY_THRESHOLD = 0,
	POLICY_WINDOW = 1,
	POLICY_PREDICTIVE = 2,
};

/* "threshold", "window" or "predictive" -> enum policy_kind, or -EINVAL. */
int policy_kind__parse(const char *name);
const char *policy_kind__name(enum policy_kind kind);

enum policy_source {
	POLICY_SRC_NONE = 0,	/* no guest data at all */
	POLICY_SRC_AGENT = 1,	/* kvmpilot-agent sample */
	POLICY_SRC_BALLOON = 2, /* virDomainMemoryStats fallback */
};

/* What the caller knows about one VM at one tick. Memory in MiB. */
struct policy_input {
	double mem_total_mib;  /* guest MemTotal */
	double mem_used_mib;   /* MemTotal - MemAvailable */
	double mem_avail_mib;  /* MemAvailable */
	bool psi_valid;	       /* false: no /proc/pressure in the guest */
	double psi_some_avg10; /* percent, 0..100 */
	double psi_full_avg10;
	double swap_in_mibps; /* guest swap-in / swap-out rates, MiB/s */
	double swap_out_mibps;
	double balloon_cur_mib;	 /* current allocation (balloon actual); 0: use mem_total */
	double balloon_max_mib;	 /* domain maximum; 0: unknown, mem_max_mib alone */
	double data_age_s;	 /* age of the guest memory data */
	double mem_lag_s;	 /* seconds a memory change takes to land (measured
				 * by the caller; 0: unknown, next tick) */
	double mem_grow_mibps;	 /* balloon deflation (growth) speed, MiB/s; 0: unknown */
	double mem_shrink_mibps; /* balloon inflation (shrink) speed, MiB/s; 0: unknown */
	enum policy_source source;
	double vcpu_busy;     /* host-measured (BPF run time), in vCPUs */
	double runq_wait;     /* host run-queue wait, fraction 0..1 */
	double guest_cpu_pct; /* guest CPU busy % of online vCPUs; < 0: unknown */
	unsigned int vcpus_online;
	unsigned int vcpus_present; /* hot-pluggable maximum; 0: unknown */
};

struct policy_config {
	enum policy_kind kind;
	double tick_s; /* seconds between calls (default 1) */

	/* Bounds. */
	uint64_t mem_min_mib;	  /* configured minimum */
	uint64_t mem_max_mib;	  /* ceiling (also capped by balloon_max_mib) */
	uint64_t mem_reserve_mib; /* floor = max(min, used + reserve) */
	unsigned int vcpu_min;
	unsigned int vcpu_max;

	/* Safety, every policy. */
	double stale_after_s; /* no shrink on data older than this */
	double runq_wait_max; /* no vCPU scale-up above this wait fraction */

	struct {
		double grow_above;   /* used/alloc fraction (0.8) */
		double shrink_below; /* (0.2) */
		uint64_t grow_mib;   /* (100) */
		uint64_t shrink_mib; /* (500) */
		double cpu_up_pct;   /* (90) */
		double cpu_down_pct; /* (30) */
	} threshold;

	struct {
		double window_s; /* (300) */
		double factor;	 /* (1.15) */
	} window;

	struct {
		double fill;	      /* size so that forecast band <= fill x alloc (0.95) */
		double grow_pad;      /* extra fraction added when growing (0.03) */
		double ramp_pad_s;    /* ... or this many seconds of a rising trend (1) */
		double action_budget; /* changes per tick above which the grow pads
				       * stretch, up to 4x (0.2) */
		double deadband;      /* no shrink unless alloc - target > this fraction (0.06) */
		uint64_t deadband_min_mib;   /* ... and more than this (32) */
		double shrink_cap;	     /* at most this fraction of alloc per shrink (0.5) */
		uint64_t shrink_cap_min_mib; /* ... but always allowed this much (256) */
		double shrink_cooldown_s;    /* since the last memory change (3) */
		double pressure_grow;	 /* fraction of alloc added when the guest ran out (0.5) */
		double psi_some_max;	 /* memory PSI some avg10 % that is pressure (10) */
		double psi_full_max;	 /* memory PSI full avg10 % that is pressure (1) */
		double learn_halflife_s; /* how fast remembered rises fade (1800) */
		double cpu_sat;		 /* busy >= cpu_sat x online is saturated (0.9) */
		double cpu_down; /* scale down only to n with recent busy <= cpu_down x n (0.75) */
		double cpu_idle_s;   /* sustained low use before scaling down (2) */
		double cpu_window_s; /* busy peak remembered for scale-up size (300) */
		/* Recurring jumps (see policy.c): room for the demonstrated jump is
		 * kept while another is likely. */
		double jump_min;       /* a rise counts as a jump above this fraction of
				       * the ceiling (0.1) ... */
		uint64_t jump_min_mib; /* ... and this much (256) */
		double recur_max_s;    /* jumps further apart than this do not recur (300) */
		double recur_hold;     /* room kept this many longest intervals (1.5) */
		double recur_first_s;  /* after a first jump, room kept this long (60) */
		double balloon_mibps;  /* balloon speed assumed until measured, MiB/s
					* (0: a change lands within the tick, as in
					* replay; the service assumes a slow one) */
	} predictive;
};

/* Decision flags. */
#define POLICY_MEM_GROW	      (1u << 0)
#define POLICY_MEM_SHRINK     (1u << 1)
#define POLICY_VCPU_UP	      (1u << 2)
#define POLICY_VCPU_DOWN      (1u << 3)
#define POLICY_HELD_STALE     (1u << 4) /* a shrink was wanted, data too old */
#define POLICY_HELD_SWAP      (1u << 5) /* a shrink was wanted, guest swapping */
#define POLICY_HELD_CONTENDED (1u << 6) /* a scale-up was wanted, host contended */
#define POLICY_MEM_PRESSURE   (1u << 7) /* real pressure seen this tick */

struct policy_decision {
	uint64_t target_mem_mib;   /* == current allocation when unchanged */
	unsigned int target_vcpus; /* == online when unchanged */
	unsigned int flags;
	uint64_t floor_mib; /* the safety floor and ceiling used */
	uint64_t ceiling_mib;
	double forecast_mem_mib;	/* predicted demand at the next tick */
	double forecast_mem_hi_mib;	/* upper band the allocation covers */
	double forecast_vcpus;		/* predicted vCPU demand */
	char reason[POLICY_REASON_MAX]; /* human-readable, always terminated */
};

/* Ring of (tick, value) keeping the maximum over a sliding window. Private. */
struct policy_slmax {
	uint32_t head;
	uint32_t len;
	uint32_t tick[POLICY_HIST_MAX];
	float val[POLICY_HIST_MAX];
};

/*
 * Per-VM memory the policies keep between ticks. The caller allocates it,
 * calls policy_state__init() once, then passes it to every policy__decide()
 * for that VM. Fields are private to policy.c.
 */
struct policy_state {
	uint64_t tick;
	bool have_prev;
	double prev_used;
	double prev_delta;
	double trend;		  /* smoothed one-tick change of used */
	double act_rate;	  /* smoothed changes per tick */
	int prev_bin;		  /* state index of the previous tick, -1: none */
	uint64_t last_mem_change; /* tick */
	uint64_t last_vcpu_change;
	uint32_t low_mem_ticks; /* consecutive ticks a shrink was wanted */
	uint32_t idle_ticks;	/* consecutive ticks fewer vCPUs were enough */
	uint32_t sat_ticks;	/* consecutive saturated ticks */
	float sat_runs;		/* saturated runs, decayed */
	float sat_long;		/* ... of which lasted two ticks or more */
	/* Censored episode: the guest used all it had, true demand unknown. */
	bool censored;
	int cens_bin;
	double cens_from;
	double cens_first_rise;
	uint32_t cens_ticks;
	double bin_mib; /* width of a level bin, fixed at the first tick */
	/* Learned rises: per (level bin, rising?) decayed maximum of the next rise. */
	float rise[2 * POLICY_BINS];
	uint64_t rise_tick[2 * POLICY_BINS];
	uint32_t visits[2 * POLICY_BINS];
	float rise_all;
	uint64_t rise_all_tick;
	float rise_kind[2]; /* per rising flag, any level */
	uint64_t rise_kind_tick[2];
	uint32_t visits_kind[2];
	/* Jumps: the rising episode in progress, then the last POLICY_JUMPS. */
	bool ep_on;
	bool ep_calm; /* one calm tick seen inside the climb */
	uint32_t ep_ticks;
	uint64_t ep_start;
	double ep_base;
	double ep_climb; /* climbed so far */
	double ep_rise1; /* on its first tick */
	double ep_rate;	 /* its fastest tick */
	double fall;	 /* smoothed pace of falling ticks, MiB per tick */
	uint32_t njumps;
	uint32_t jump_head; /* index of the newest */
	uint64_t jump_tick[POLICY_JUMPS];
	float jump_size[POLICY_JUMPS]; /* climbed in all */
	float jump_rise1[POLICY_JUMPS];
	float jump_rate[POLICY_JUMPS];
	float jump_base[POLICY_JUMPS];
	struct policy_slmax mem_peak;	/* used, over window_s */
	struct policy_slmax cpu_peak;	/* busy, over cpu_window_s or window_s */
	struct policy_slmax cpu_recent; /* busy, over cpu_idle_s */
};

/* Defaults for a kind (bounds: memory 256..4096 MiB, vCPUs 1..4). */
void policy_config__init(struct policy_config *cfg, enum policy_kind kind);
/* 0, or -EINVAL when a bound or tunable is out of range or inconsistent. */
int policy_config__validate(const struct policy_config *cfg);

void policy_state__init(struct policy_state *st);

/*
 * An input with every optional measurement marked unknown: no PSI, guest
 * CPU % unknown (-1), no source, no swap. The caller then fills what it has.
 */
void policy_input__init(struct policy_input *in);

/*
 * One tick for one VM. Fills *out (always: on error it says "no change"
 * with the reason). Returns 0, or -EINVAL on an invalid config or input
 * (negative or non-finite values, used > total, no online vCPU); an invalid
 * input never moves anything and does not change the state.
 */
int policy__decide(const struct policy_config *cfg, struct policy_state *st,
		   const struct policy_input *in, struct policy_decision *out);

/*
 * How long memory changes take to land, for policy_input.mem_lag_s. The
 * caller measures each growth from the call that set it to the first tick
 * that sees the balloon there (seen_s) and feeds it here with the previous
 * estimate (est < 0: none yet). Returns the smoothed delay beyond one tick,
 * in [0, POLICY_LAG_MAX_S].
 */
#define POLICY_LAG_MAX_S 5.0
double policy__lag_update(double est, double seen_s, double tick_s);

#endif /* KVMPILOT_POLICY_H */
