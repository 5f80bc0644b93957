/* SPDX-License-Identifier: GPL-2.0 */
/*
 * Inside the policy (policy.c, policy_jump.c): what the memory rules
 * share. Not an API: callers use policy.h.
 */
#ifndef KVMPILOT_POLICY_PRIV_H
#define KVMPILOT_POLICY_PRIV_H

#include <stdbool.h>
#include <stdint.h>

#include "policy.h"

/* Everything the memory rules need, computed once per tick. */
struct mem_ctx {
	double alloc;
	double used;
	double ceiling;
	double floor;
	bool stale;
	bool swapping;
	bool pressure; /* PSI, swap-in or available below the reserve */
	const char *pressure_why;
	bool censored;	   /* the guest used (almost) all it had */
	double lag_s;	   /* seconds a change takes to land, beyond the tick */
	double grow_mibps; /* balloon speeds, MiB/s; 0: unknown */
	double shrink_mibps;
};

/*
 * Recurring jumps. The learned rises (policy.c) cover one tick; a workload like
 * memory_hog climbs 500-1800 MiB over 2-6 ticks every 7-25 s, and a growth
 * decided on its first rising tick lands 1 + lag ticks later, when most of
 * the climb has come. A shrink while it drains then lands just before the
 * next climb: live, an OOM kill (TCG guests fill at ~150 MB/s, so slow
 * climbs count too). So a rising episode that climbs more than jump_min is a
 * jump. While the time since the last jump is below recur_hold x the
 * longest interval between recent jumps
 * (recur_first_s after a lone jump), another is likely: the allocation keeps
 * room for the last jump's base plus what the largest recent jump climbed
 * before a growth could land (jump_room() in policy_jump.c; and the spacing of the sizes
 * seen, as they vary). Below that, a shrink is allowed only when the balloon
 * can inflate and deflate back (at its measured speeds, a tick when unknown)
 * before the next jump can come (policy_jump__next(): the shortest interval seen, or
 * the time left to drain back to the jump's base), and the room is grown
 * back ahead of it. Past the horizon the pattern has stopped: it is
 * forgotten, and memory goes back under the ordinary rules.
 */
struct jump_hold {
	bool active;
	uint32_t n;	   /* jumps in the pattern */
	double since;	   /* ticks since the last jump started */
	double imin, imax; /* ticks between jump starts; 0: one jump */
	double horizon;	   /* ticks after the last jump the room is kept */
	double size;	   /* largest jump, MiB */
	double need;	   /* allocation that covers base + size */
};

/* Ticks of safety margin on the balloon's timing (samples, landing jitter). */
#define JUMP_MARGIN 2

void policy_jump__track(const struct policy_config *cfg, struct policy_state *st,
			const struct mem_ctx *m, bool rising);
void policy_jump__hold(const struct policy_config *cfg, const struct policy_state *st,
		       const struct mem_ctx *m, struct jump_hold *h);
double policy_jump__balloon_ticks(const struct policy_config *cfg, double mib, double mibps);
double policy_jump__next(const struct policy_state *st, const struct mem_ctx *m,
			 const struct jump_hold *h);
double policy_jump__back(const struct policy_config *cfg, const struct mem_ctx *m,
			 const struct jump_hold *h, double from);
bool policy_jump__early_ok(const struct policy_config *cfg, const struct policy_state *st,
			   const struct mem_ctx *m, const struct jump_hold *h, double target);

#endif /* KVMPILOT_POLICY_PRIV_H */
