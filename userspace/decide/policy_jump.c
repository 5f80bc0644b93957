// SPDX-License-Identifier: GPL-2.0
/* Recurring memory jumps, for the predictive policy (policy_priv.h). */
#include <math.h>
#include <string.h>

#include "policy.h"
#include "policy_priv.h"

static double jump_min_mib(const struct policy_config *cfg, const struct mem_ctx *m)
{
	return fmax((double)cfg->predictive.jump_min_mib, cfg->predictive.jump_min * m->ceiling);
}

/*
 * The room a jump needs ahead of it: what it climbs before a growth decided
 * on its first tick lands (its first tick, then its fastest pace for the
 * landing lag and the balloon's deflation time), at most all it climbed.
 */
static double jump_room(const struct policy_config *cfg, const struct policy_state *st,
			const struct mem_ctx *m, uint32_t i)
{
	double extra = ceil(m->lag_s / cfg->tick_s - 1e-9);

	if (m->grow_mibps > 0)
		extra += ceil(st->jump_size[i] / m->grow_mibps / cfg->tick_s - 1e-9);
	return fmin(st->jump_size[i], st->jump_rise1[i] + st->jump_rate[i] * extra);
}

static void jump_span(const struct policy_config *cfg, const struct policy_state *st,
		      const struct mem_ctx *m, struct jump_hold *h)
{
	uint32_t i, cur = st->jump_head, prev;
	double smin;

	memset(h, 0, sizeof(*h));
	h->n = st->njumps;
	if (!h->n)
		return;
	h->since = (double)(st->tick - st->jump_tick[cur]);
	h->size = jump_room(cfg, st, m, cur);
	smin = h->size;
	for (i = 1; i < h->n; i++) {
		double gap, room;

		prev = (cur + POLICY_JUMPS - 1) % POLICY_JUMPS;
		gap = (double)(st->jump_tick[cur] - st->jump_tick[prev]);
		room = jump_room(cfg, st, m, prev);
		h->imin = i == 1 ? gap : fmin(h->imin, gap);
		h->imax = fmax(h->imax, gap);
		h->size = fmax(h->size, room);
		smin = fmin(smin, room);
		cur = prev;
	}
	/* Sizes that vary: the next may exceed the largest seen. By about the
	 * spacing of the n seen for the uniform's unbiased maximum; twice that
	 * here, as a jump beyond the room is an OOM kill. */
	if (h->n >= 2)
		h->size += 2 * (h->size - smin) / (h->n - 1);
	h->horizon = h->n == 1 ? cfg->predictive.recur_first_s / cfg->tick_s
			       : cfg->predictive.recur_hold * h->imax;
}

static void jump_record(const struct policy_config *cfg, struct policy_state *st,
			const struct mem_ctx *m)
{
	struct jump_hold h;
	uint32_t i;

	jump_span(cfg, st, m, &h);
	/* A jump after the room expired, or too long after the last: a new pattern. */
	if (h.n && ((double)(st->ep_start - st->jump_tick[st->jump_head]) > h.horizon ||
		    (double)(st->ep_start - st->jump_tick[st->jump_head]) * cfg->tick_s >
			    cfg->predictive.recur_max_s))
		st->njumps = 0;
	i = st->njumps ? (st->jump_head + 1) % POLICY_JUMPS : 0;
	st->jump_head = i;
	st->jump_tick[i] = st->ep_start;
	st->jump_size[i] = (float)st->ep_climb;
	st->jump_rise1[i] = (float)st->ep_rise1;
	st->jump_rate[i] = (float)st->ep_rate;
	st->jump_base[i] = (float)st->ep_base;
	if (st->njumps < POLICY_JUMPS)
		st->njumps++;
}

/* Follow rising episodes; a finished one that climbed enough is a jump. */
void policy_jump__track(const struct policy_config *cfg, struct policy_state *st,
			const struct mem_ctx *m, bool rising)
{
	if (m->stale)
		return;
	if (rising) {
		if (!st->ep_on) {
			st->ep_on = true;
			st->ep_start = st->tick;
			st->ep_base = st->have_prev ? st->prev_used : m->used;
			st->ep_ticks = 0;
			st->ep_climb = 0;
			st->ep_rise1 = m->used - st->ep_base;
			st->ep_rate = 0;
		}
		st->ep_ticks++;
		st->ep_calm = false;
		st->ep_climb = fmax(st->ep_climb, m->used - st->ep_base);
		st->ep_rate = fmax(st->ep_rate, m->used - st->prev_used);
		return;
	}
	if (!st->ep_on)
		return;
	/* One calm tick inside a climb (a late sample) does not end it; a fall does. */
	if (m->used >= st->prev_used - fmax(2.0, 0.005 * m->used) && !st->ep_calm) {
		st->ep_calm = true;
		return;
	}
	st->ep_on = false;
	if (st->ep_climb >= jump_min_mib(cfg, m))
		jump_record(cfg, st, m);
}

void policy_jump__hold(const struct policy_config *cfg, const struct policy_state *st,
		       const struct mem_ctx *m, struct jump_hold *h)
{
	double hi;

	jump_span(cfg, st, m, h);
	if (!h->n || h->since > h->horizon)
		return;
	hi = fmin(st->jump_base[st->jump_head] + h->size, m->ceiling);
	h->need = fmin(fmax(hi / cfg->predictive.fill, hi + (double)cfg->mem_reserve_mib),
		       m->ceiling);
	h->active = h->need > m->used;
}

/* Ticks the balloon takes to move by mib at speed mibps (0: unknown, a tick). */
double policy_jump__balloon_ticks(const struct policy_config *cfg, double mib, double mibps)
{
	if (mib <= 0)
		return 0;
	if (mibps <= 0)
		return 1;
	return ceil(mib / mibps / cfg->tick_s - 1e-9);
}

/*
 * Ticks until the next jump can come: what is left of the shortest interval
 * seen, and, while the level drains back towards the last jump's base, the
 * time that takes at the pace it falls (memory_hog climbs again only once it
 * freed what it took).
 */
double policy_jump__next(const struct policy_state *st, const struct mem_ctx *m,
			 const struct jump_hold *h)
{
	double next = h->n >= 2 ? h->imin - h->since : 0;
	double base = st->jump_base[st->jump_head];

	if (st->fall > 0 && st->trend < 0 && m->used > base)
		next = fmax(next, (m->used - base) / st->fall);
	return next;
}

/* Ticks to grow from alloc back to the room for the jump: lag, then deflation. */
double policy_jump__back(const struct policy_config *cfg, const struct mem_ctx *m,
			 const struct jump_hold *h, double from)
{
	return 1 + ceil(m->lag_s / cfg->tick_s - 1e-9) +
	       policy_jump__balloon_ticks(cfg, h->need - from, m->grow_mibps);
}

/*
 * Can the allocation go down to target (inflating at its measured speed) and
 * back to the room for the jump before the next one can come?
 */
bool policy_jump__early_ok(const struct policy_config *cfg, const struct policy_state *st,
			   const struct mem_ctx *m, const struct jump_hold *h, double target)
{
	double down = policy_jump__balloon_ticks(cfg, m->alloc - target, m->shrink_mibps);

	return down + policy_jump__back(cfg, m, h, target) + JUMP_MARGIN <
	       policy_jump__next(st, m, h);
}
