// SPDX-License-Identifier: GPL-2.0
/*
 * The policies: threshold (the prototype), window (moving-window peak) and
 * predictive (ours). See policy.h for the contract and the safety rules.
 *
 * The predictive memory forecast. Demand at the next tick is bounded by
 *   used + R(state)
 * where the state is (level bin of used, rising or not) and R(state) is the
 * largest one-tick rise seen from that state before, fading with a half-life.
 * This learns "from the idle level a workload jumps by ~700 MiB" without
 * learning "while freeing memory it jumps", so a VM that drains gets its
 * memory back while one that sits at its idle level keeps room to start.
 * States seen too rarely use the largest rise seen anywhere (conservative).
 * A rise the guest could not show (it ran out of memory: censored) is
 * learned once the allocation caught up with the real demand.
 * The allocation covers the band with `fill` headroom, grows at once and
 * shrinks after a deadband, a hold, a cooldown and within a rate cap.
 */
#include <errno.h>
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>

#include "policy.h"
#include "policy_priv.h"

#define MIN_VISITS  8 /* ticks a state needs before its own rises are trusted */
#define SHRINK_HOLD 2 /* consecutive ticks a shrink must be wanted */
#define RAMP_TICKS  3 /* a ramp this close to the allocation is extrapolated */
/* Whole numbers in reasons: cheaper to format than %.0f. */
#define I(x)	  ((long long)llround(x))
#define ACT_TICKS 120.0 /* smoothing of the action rate */

static const char *const kind_names[] = {
	[POLICY_THRESHOLD] = "threshold",
	[POLICY_WINDOW] = "window",
	[POLICY_PREDICTIVE] = "predictive",
};

int policy_kind__parse(const char *name)
{
	if (!name)
		return -EINVAL;
	for (unsigned int i = 0; i < sizeof(kind_names) / sizeof(kind_names[0]); i++) {
		if (!strcmp(name, kind_names[i]))
			return (int)i;
	}
	return -EINVAL;
}

const char *policy_kind__name(enum policy_kind kind)
{
	if ((unsigned int)kind >= sizeof(kind_names) / sizeof(kind_names[0]))
		return "unknown";
	return kind_names[kind];
}

void policy_config__init(struct policy_config *cfg, enum policy_kind kind)
{
	memset(cfg, 0, sizeof(*cfg));
	cfg->kind = kind;
	cfg->tick_s = 1.0;
	cfg->mem_min_mib = 256;
	cfg->mem_max_mib = 4096;
	cfg->mem_reserve_mib = 128;
	cfg->vcpu_min = 1;
	cfg->vcpu_max = 4;
	cfg->stale_after_s = 5.0;
	cfg->runq_wait_max = 0.2;

	cfg->threshold.grow_above = 0.8;
	cfg->threshold.shrink_below = 0.2;
	cfg->threshold.grow_mib = 100;
	cfg->threshold.shrink_mib = 500;
	cfg->threshold.cpu_up_pct = 90.0;
	cfg->threshold.cpu_down_pct = 30.0;

	cfg->window.window_s = 300.0;
	cfg->window.factor = 1.15;

	cfg->predictive.fill = 0.95;
	cfg->predictive.grow_pad = 0.03;
	cfg->predictive.ramp_pad_s = 1.0;
	cfg->predictive.action_budget = 0.2;
	cfg->predictive.deadband = 0.06;
	cfg->predictive.deadband_min_mib = 32;
	cfg->predictive.shrink_cap = 0.5;
	cfg->predictive.shrink_cap_min_mib = 256;
	cfg->predictive.shrink_cooldown_s = 3.0;
	cfg->predictive.pressure_grow = 0.5;
	cfg->predictive.psi_some_max = 10.0;
	cfg->predictive.psi_full_max = 1.0;
	cfg->predictive.learn_halflife_s = 1800.0;
	cfg->predictive.cpu_sat = 0.9;
	cfg->predictive.cpu_down = 0.75;
	cfg->predictive.cpu_idle_s = 2.0;
	cfg->predictive.cpu_window_s = 300.0;
	cfg->predictive.jump_min = 0.1;
	cfg->predictive.jump_min_mib = 256;
	cfg->predictive.recur_max_s = 300.0;
	cfg->predictive.recur_hold = 1.5;
	cfg->predictive.recur_first_s = 60.0;
	cfg->predictive.balloon_mibps = 0;
}

static bool in_range(double v, double lo, double hi)
{
	return isfinite(v) && v >= lo && v <= hi;
}

static uint32_t ticks_of(const struct policy_config *cfg, double s)
{
	double t = ceil(s / cfg->tick_s - 1e-9);

	return t < 1 ? 1 : (uint32_t)t;
}

int policy_config__validate(const struct policy_config *cfg)
{
	const double hist_s = cfg->tick_s * (POLICY_HIST_MAX - 2);

	if (policy_kind__name(cfg->kind)[0] == 'u')
		return -EINVAL;
	if (!in_range(cfg->tick_s, 0.01, 3600))
		return -EINVAL;
	if (cfg->mem_max_mib < 1 || cfg->mem_min_mib > cfg->mem_max_mib ||
	    cfg->mem_max_mib > POLICY_MEM_MAX_MIB || cfg->mem_reserve_mib > cfg->mem_max_mib)
		return -EINVAL;
	if (cfg->vcpu_min < 1 || cfg->vcpu_min > cfg->vcpu_max || cfg->vcpu_max > 4096)
		return -EINVAL;
	if (!in_range(cfg->stale_after_s, 0, 86400) || !in_range(cfg->runq_wait_max, 0, 1))
		return -EINVAL;
	if (!in_range(cfg->threshold.grow_above, 0, 1) ||
	    !in_range(cfg->threshold.shrink_below, 0, cfg->threshold.grow_above) ||
	    cfg->threshold.grow_mib > cfg->mem_max_mib ||
	    cfg->threshold.shrink_mib > cfg->mem_max_mib ||
	    !in_range(cfg->threshold.cpu_up_pct, 0, 100) ||
	    !in_range(cfg->threshold.cpu_down_pct, 0, cfg->threshold.cpu_up_pct))
		return -EINVAL;
	if (!in_range(cfg->window.window_s, cfg->tick_s, hist_s) ||
	    !in_range(cfg->window.factor, 1, 10))
		return -EINVAL;
	if (!in_range(cfg->predictive.fill, 0.5, 1) || !in_range(cfg->predictive.grow_pad, 0, 1) ||
	    !in_range(cfg->predictive.ramp_pad_s, 0, 3600) ||
	    !in_range(cfg->predictive.action_budget, 0.001, 1) ||
	    !in_range(cfg->predictive.deadband, 0, 0.9) ||
	    cfg->predictive.deadband_min_mib > cfg->mem_max_mib ||
	    !in_range(cfg->predictive.shrink_cap, 0, 1) ||
	    !in_range(cfg->predictive.shrink_cooldown_s, 0, 86400) ||
	    !in_range(cfg->predictive.pressure_grow, 0.01, 4) ||
	    !in_range(cfg->predictive.psi_some_max, 0, 100) ||
	    !in_range(cfg->predictive.psi_full_max, 0, 100) ||
	    !in_range(cfg->predictive.learn_halflife_s, cfg->tick_s, 1e7) ||
	    !in_range(cfg->predictive.cpu_sat, 0.1, 1) ||
	    !in_range(cfg->predictive.cpu_down, 0.05, cfg->predictive.cpu_sat) ||
	    !in_range(cfg->predictive.cpu_idle_s, 0, hist_s) ||
	    !in_range(cfg->predictive.cpu_window_s, cfg->tick_s, hist_s) ||
	    !in_range(cfg->predictive.jump_min, 0, 1) ||
	    cfg->predictive.jump_min_mib > cfg->mem_max_mib ||
	    !in_range(cfg->predictive.recur_max_s, cfg->tick_s, 1e6) ||
	    !in_range(cfg->predictive.recur_hold, 1, 100) ||
	    !in_range(cfg->predictive.recur_first_s, 0, 1e6) ||
	    !in_range(cfg->predictive.balloon_mibps, 0, 1e9))
		return -EINVAL;
	return 0;
}

static void slmax_reset(struct policy_slmax *m)
{
	m->head = 0;
	m->len = 0;
}

/* Append (tick, v), forget samples at least window ticks old. */
static void slmax_push(struct policy_slmax *m, uint32_t tick, float v, uint32_t window)
{
	uint32_t idx;

	while (m->len) {
		idx = (m->head + m->len - 1) % POLICY_HIST_MAX;
		if (m->val[idx] > v)
			break;
		m->len--;
	}
	while (m->len && tick - m->tick[m->head] >= window) {
		m->head = (m->head + 1) % POLICY_HIST_MAX;
		m->len--;
	}
	if (m->len == POLICY_HIST_MAX) {
		m->head = (m->head + 1) % POLICY_HIST_MAX;
		m->len--;
	}
	idx = (m->head + m->len) % POLICY_HIST_MAX;
	m->tick[idx] = tick;
	m->val[idx] = v;
	m->len++;
}

static double slmax_get(const struct policy_slmax *m)
{
	return m->len ? m->val[m->head] : 0.0;
}

void policy_state__init(struct policy_state *st)
{
	memset(st, 0, sizeof(*st));
	st->prev_bin = -1;
	st->cens_bin = -1;
	slmax_reset(&st->mem_peak);
	slmax_reset(&st->cpu_peak);
	slmax_reset(&st->cpu_recent);
}

void policy_input__init(struct policy_input *in)
{
	memset(in, 0, sizeof(*in));
	in->psi_valid = false;
	in->guest_cpu_pct = -1;
	in->source = POLICY_SRC_NONE;
}

static int check_input(const struct policy_input *in)
{
	const double big = (double)POLICY_MEM_MAX_MIB;

	if (!in_range(in->mem_total_mib, 0, big) || !in_range(in->mem_used_mib, 0, big) ||
	    !in_range(in->mem_avail_mib, 0, big) || !in_range(in->swap_in_mibps, 0, big) ||
	    !in_range(in->swap_out_mibps, 0, big) || !in_range(in->balloon_cur_mib, 0, big) ||
	    !in_range(in->balloon_max_mib, 0, big) || !in_range(in->data_age_s, 0, 1e12) ||
	    !in_range(in->mem_lag_s, 0, 3600) || !in_range(in->mem_grow_mibps, 0, big) ||
	    !in_range(in->mem_shrink_mibps, 0, big) || !in_range(in->vcpu_busy, 0, 1e6) ||
	    !in_range(in->runq_wait, 0, 1))
		return -EINVAL;
	if (in->mem_used_mib > in->mem_total_mib + 0.5)
		return -EINVAL;
	if (in->psi_valid &&
	    (!in_range(in->psi_some_avg10, 0, 100) || !in_range(in->psi_full_avg10, 0, 100)))
		return -EINVAL;
	if (!isfinite(in->guest_cpu_pct) || in->guest_cpu_pct > 100.5)
		return -EINVAL;
	if (in->source > POLICY_SRC_BALLOON)
		return -EINVAL;
	if (in->vcpus_online < 1 || in->vcpus_online > 4096)
		return -EINVAL;
	return 0;
}

/* Bounded append to the reason; a cut reason stays terminated. */
static void reason_add(struct policy_decision *out, const char *fmt, ...)
	__attribute__((format(printf, 2, 3)));
static void reason_add(struct policy_decision *out, const char *fmt, ...)
{
	size_t len = strnlen(out->reason, sizeof(out->reason));
	va_list ap;

	if (len >= sizeof(out->reason) - 1)
		return;
	va_start(ap, fmt);
	(void)vsnprintf(out->reason + len, sizeof(out->reason) - len, fmt, ap);
	va_end(ap);
}

static void mem_ctx__fill(const struct policy_config *cfg, const struct policy_input *in,
			  struct mem_ctx *m)
{
	m->alloc = in->balloon_cur_mib > 0 ? in->balloon_cur_mib : in->mem_total_mib;
	m->used = in->mem_used_mib;
	m->ceiling = (double)cfg->mem_max_mib;
	if (in->balloon_max_mib > 0 && in->balloon_max_mib < m->ceiling)
		m->ceiling = floor(in->balloon_max_mib);
	m->floor = ceil(m->used + (double)cfg->mem_reserve_mib);
	if (m->floor < (double)cfg->mem_min_mib)
		m->floor = (double)cfg->mem_min_mib;
	if (m->floor > m->ceiling)
		m->floor = m->ceiling;
	m->stale = in->source == POLICY_SRC_NONE || in->data_age_s > cfg->stale_after_s;
	m->lag_s = in->mem_lag_s;
	/* Not measured yet: what the caller assumes (0: lands within a tick). */
	m->grow_mibps = in->mem_grow_mibps > 0 ? in->mem_grow_mibps : cfg->predictive.balloon_mibps;
	m->shrink_mibps =
		in->mem_shrink_mibps > 0 ? in->mem_shrink_mibps : cfg->predictive.balloon_mibps;
	m->swapping = in->swap_in_mibps > 0 || in->swap_out_mibps > 0;
	m->pressure = false;
	m->pressure_why = NULL;
	if (!m->stale) {
		if (in->psi_valid && in->psi_full_avg10 > cfg->predictive.psi_full_max) {
			m->pressure = true;
			m->pressure_why = "memory PSI full";
		} else if (in->psi_valid && in->psi_some_avg10 > cfg->predictive.psi_some_max) {
			m->pressure = true;
			m->pressure_why = "memory PSI some";
		} else if (in->swap_in_mibps > 0) {
			m->pressure = true;
			m->pressure_why = "guest swap-in";
		} else if (in->mem_avail_mib < (double)cfg->mem_reserve_mib) {
			m->pressure = true;
			m->pressure_why = "available below reserve";
		}
	}
	m->censored = !m->stale &&
		      (in->mem_avail_mib <= 0.02 * in->mem_total_mib || in->swap_in_mibps > 0 ||
		       (in->psi_valid && in->psi_full_avg10 > cfg->predictive.psi_full_max));
}

/* Safety: clamp a wanted target to the floor and ceiling, hold shrinks. */
static uint64_t mem_safe(const struct mem_ctx *m, double want, struct policy_decision *out)
{
	double t = ceil(want);

	if (t < m->alloc && m->stale) {
		out->flags |= POLICY_HELD_STALE;
		t = m->alloc;
	} else if (t < m->alloc && m->swapping) {
		out->flags |= POLICY_HELD_SWAP;
		t = m->alloc;
	}
	if (t < m->floor)
		t = m->floor;
	if (t > m->ceiling)
		t = m->ceiling;
	if (t < 0)
		t = 0;
	return (uint64_t)t;
}

static double decayed(const struct policy_config *cfg, const struct policy_state *st, float v,
		      uint64_t since)
{
	double age_s = (double)(st->tick - since) * cfg->tick_s;

	return v * exp2(-age_s / cfg->predictive.learn_halflife_s);
}

static void learn_rise(const struct policy_config *cfg, struct policy_state *st, int s, double r)
{
	if (r <= 0)
		return;
	if (s >= 0 && r > decayed(cfg, st, st->rise[s], st->rise_tick[s])) {
		st->rise[s] = (float)r;
		st->rise_tick[s] = st->tick;
	}
	if (s >= 0 && r > decayed(cfg, st, st->rise_kind[s % 2], st->rise_kind_tick[s % 2])) {
		st->rise_kind[s % 2] = (float)r;
		st->rise_kind_tick[s % 2] = st->tick;
	}
	if (r > decayed(cfg, st, st->rise_all, st->rise_all_tick)) {
		st->rise_all = (float)r;
		st->rise_all_tick = st->tick;
	}
}

/* The largest rise expected from state s (neighbouring levels included). */
static double expected_rise(const struct policy_config *cfg, const struct policy_state *st, int s)
{
	int b = s / 2, up = s % 2;
	uint32_t visits = 0;
	double r = 0;

	for (int nb = b - 1; nb <= b + 1; nb++) {
		int i;

		if (nb < 0 || nb >= POLICY_BINS)
			continue;
		i = nb * 2 + up;
		visits += st->visits[i];
		r = fmax(r, decayed(cfg, st, st->rise[i], st->rise_tick[i]));
	}
	/* A level seen too rarely: what followed any rising (or any calm) tick,
	 * else the largest rise seen at all. */
	if (visits < MIN_VISITS && st->visits_kind[up] >= MIN_VISITS)
		r = fmax(r, decayed(cfg, st, st->rise_kind[up], st->rise_kind_tick[up]));
	else if (visits < MIN_VISITS)
		r = fmax(r, decayed(cfg, st, st->rise_all, st->rise_all_tick));
	return r;
}

/*
 * Churn control: how far above its action budget the VM runs (smoothed
 * changes per tick / budget, within [0.5, 4]). The grow pads stretch
 * by it, so a VM that would change every tick changes less often; grows on
 * pressure are never delayed by it.
 */
static double busy_factor(const struct policy_config *cfg, const struct policy_state *st)
{
	double f = st->act_rate / cfg->predictive.action_budget;

	return fmin(4.0, fmax(0.5, f));
}

static void mem_threshold(const struct policy_config *cfg, const struct mem_ctx *m,
			  struct policy_decision *out)
{
	double want = m->alloc;

	out->forecast_mem_mib = m->used;
	out->forecast_mem_hi_mib = m->alloc * cfg->threshold.grow_above;
	if (m->used > cfg->threshold.grow_above * m->alloc) {
		want = m->alloc + (double)cfg->threshold.grow_mib;
		reason_add(out, "mem: used %lld > %lld%% of %lld MiB", I(m->used),
			   I(cfg->threshold.grow_above * 100), I(m->alloc));
	} else if (m->used < cfg->threshold.shrink_below * m->alloc) {
		want = m->alloc - (double)cfg->threshold.shrink_mib;
		reason_add(out, "mem: used %lld < %lld%% of %lld MiB", I(m->used),
			   I(cfg->threshold.shrink_below * 100), I(m->alloc));
	}
	out->target_mem_mib = mem_safe(m, want, out);
}

static void mem_window(const struct policy_config *cfg, struct policy_state *st,
		       const struct mem_ctx *m, struct policy_decision *out)
{
	double peak;

	if (!m->stale)
		slmax_push(&st->mem_peak, (uint32_t)st->tick, (float)m->used,
			   ticks_of(cfg, cfg->window.window_s));
	peak = fmax(slmax_get(&st->mem_peak), m->used);
	out->forecast_mem_mib = m->used;
	out->forecast_mem_hi_mib = peak * cfg->window.factor;
	out->target_mem_mib = mem_safe(m, peak * cfg->window.factor, out);
	if ((double)out->target_mem_mib != m->alloc)
		reason_add(out, "mem: peak %lld MiB in %lld s x %.2f", I(peak),
			   I(cfg->window.window_s), cfg->window.factor);
}

/* Learn what the last tick's state (now s) led to. */
static void mem_learn(const struct policy_config *cfg, struct policy_state *st,
		      const struct mem_ctx *m, double delta, int s)
{
	const double u = m->used;

	if (m->censored) {
		if (!st->censored) {
			st->censored = true;
			st->cens_bin = st->prev_bin;
			st->cens_from = st->have_prev ? st->prev_used : u;
			st->cens_first_rise = delta;
			st->cens_ticks = 0;
		}
		st->cens_ticks++;
	} else if (st->censored) {
		/* Demand is visible again: learn the rise it hid. */
		double total = u - st->cens_from;

		learn_rise(cfg, st, st->cens_bin, fmax(st->cens_first_rise, total));
		st->censored = false;
	} else if (st->have_prev && st->prev_bin >= 0) {
		learn_rise(cfg, st, st->prev_bin, delta);
	}
	if (st->visits[s] < UINT32_MAX)
		st->visits[s]++;
	if (st->visits_kind[s % 2] < UINT32_MAX)
		st->visits_kind[s % 2]++;
}

/*
 * No pressure and the band fits: shrink after a deadband, a hold and a
 * cooldown, within a rate cap, never below the room a recurring jump needs
 * while it is likely. Returns the allocation wanted (m->alloc: keep).
 */
static double mem_steady(const struct policy_config *cfg, struct policy_state *st,
			 const struct mem_ctx *m, const struct jump_hold *hold, double need,
			 double hi, double noise, struct policy_decision *out)
{
	const struct jump_hold jh = *hold;
	double want = m->alloc;
	double db =
		fmax((double)cfg->predictive.deadband_min_mib, cfg->predictive.deadband * m->alloc);
	double cap = fmax((double)cfg->predictive.shrink_cap_min_mib,
			  cfg->predictive.shrink_cap * m->alloc);
	double lo = fmax(need, m->floor);
	bool keep = false;

	/* A jump is likely before a shrink could be undone: keep its room. */
	if (jh.active && jh.need > lo &&
	    !policy_jump__early_ok(cfg, st, m, &jh, fmax(lo, m->alloc - cap))) {
		lo = fmax(lo, jh.need);
		keep = true;
	}
	if (keep && jh.need > m->alloc + db &&
	    policy_jump__next(st, m, &jh) <=
		    policy_jump__back(cfg, m, &jh, m->alloc) + JUMP_MARGIN) {
		/* Below the room and the next jump is near: grow ahead of it. */
		want = jh.need;
		reason_add(out, "mem: %lld MiB jumps recur (%u, every %lld-%lld s), room kept",
			   I(jh.size), jh.n, I(jh.imin * cfg->tick_s), I(jh.imax * cfg->tick_s));
		st->low_mem_ticks = 0;
	} else if (m->alloc - lo > db && st->trend <= noise) {
		st->low_mem_ticks++;
		if (st->low_mem_ticks >= SHRINK_HOLD &&
		    st->tick - st->last_mem_change >=
			    ticks_of(cfg, cfg->predictive.shrink_cooldown_s)) {
			want = fmax(lo, m->alloc - cap);
			reason_add(out, "mem: forecast band %lld MiB, shrink%s", I(hi),
				   want > lo ? " (rate cap)" : "");
			if (keep)
				reason_add(out, ", room for a %lld MiB jump", I(jh.size));
		}
	} else {
		st->low_mem_ticks = 0;
		if (keep && m->alloc - fmax(need, m->floor) > db && st->trend <= noise)
			reason_add(
				out, "mem: no shrink, %lld MiB jump likely (last %lld of %lld s)",
				I(jh.size), I(jh.since * cfg->tick_s), I(jh.horizon * cfg->tick_s));
	}
	return want;
}

static void mem_predictive(const struct policy_config *cfg, struct policy_state *st,
			   const struct mem_ctx *m, struct policy_decision *out)
{
	const double u = m->used;
	double delta = st->have_prev ? u - st->prev_used : 0;
	double noise = fmax(2.0, 0.005 * u), r, hi, need, want = m->alloc, ramp = 0;
	bool rising = delta > noise;
	struct jump_hold jh;
	int bin, s;

	if (st->bin_mib <= 0)
		st->bin_mib = fmax(32.0, ceil(m->ceiling / POLICY_BINS));
	bin = (int)(u / st->bin_mib);
	if (bin >= POLICY_BINS)
		bin = POLICY_BINS - 1;
	s = bin * 2 + (rising ? 1 : 0);

	if (!m->stale)
		mem_learn(cfg, st, m, delta, s);

	policy_jump__track(cfg, st, m, rising);
	if (!m->stale && delta < -noise)
		st->fall = st->fall > 0 ? 0.5 * st->fall - 0.5 * delta : -delta;
	policy_jump__hold(cfg, st, m, &jh);
	r = expected_rise(cfg, st, s);
	if (!m->stale)
		st->trend = 0.5 * st->trend + 0.5 * delta;
	/*
	 * A ramp (rising two ticks in a row) that outruns what was learned,
	 * with the guest a few ticks from its allocation: it goes on at least
	 * as fast for a tick more. One-tick steps are left to what was
	 * learned. Nothing learned yet: any rise goes on as fast.
	 */
	if (rising && (st->visits_kind[1] < MIN_VISITS ||
		       (st->have_prev && st->prev_delta > noise &&
			m->alloc - u < delta * (RAMP_TICKS + m->lag_s / cfg->tick_s))))
		r = fmax(r, delta);
	hi = u + r;
	out->forecast_mem_mib = u + (rising ? delta : 0);
	out->forecast_mem_hi_mib = hi;
	need = fmax(hi / cfg->predictive.fill, hi + (double)cfg->mem_reserve_mib);
	/* Along a ramp: room for a few more ticks of it, not one, and for as
	 * long as a change takes to land in the guest. */
	if (rising)
		ramp = (cfg->predictive.ramp_pad_s * busy_factor(cfg, st) + m->lag_s) /
		       cfg->tick_s * fmax(st->trend, 0);

	if (m->censored) {
		double step = fmax(cfg->predictive.pressure_grow * m->alloc,
				   decayed(cfg, st, st->rise_all, st->rise_all_tick));

		want = fmax(need, m->alloc + step) * (1 + cfg->predictive.grow_pad);
		out->flags |= POLICY_MEM_PRESSURE;
		reason_add(out, "mem: %s (available %lld MiB)",
			   m->pressure_why ? m->pressure_why : "guest at its allocation",
			   I(m->alloc - u));
		st->low_mem_ticks = 0;
	} else if (m->pressure) {
		/* Softer pressure (PSI some, available below the reserve): cover the
		 * band at once, the guest still had memory to show its demand. */
		want = fmax(need, m->alloc + (double)cfg->mem_reserve_mib) *
		       (1 + cfg->predictive.grow_pad);
		out->flags |= POLICY_MEM_PRESSURE;
		reason_add(out, "mem: %s (available %lld MiB)", m->pressure_why, I(m->alloc - u));
		st->low_mem_ticks = 0;
	} else if (need > m->alloc) {
		want = need +
		       fmax(cfg->predictive.grow_pad * need * fmax(1, busy_factor(cfg, st)), ramp);
		reason_add(out, "mem: forecast %lld..%lld MiB above %lld%% of %lld",
			   I(u + fmax(0, delta)), I(hi), I(cfg->predictive.fill * 100),
			   I(m->alloc));
		st->low_mem_ticks = 0;
	} else {
		want = mem_steady(cfg, st, m, &jh, need, hi, noise, out);
	}
	out->target_mem_mib = mem_safe(m, want, out);

	if (!m->stale) {
		st->prev_used = u;
		st->prev_delta = delta;
		st->prev_bin = s;
		st->have_prev = true;
	}
}

/* vCPUs --------------------------------------------------------------- */

static unsigned int vcpu_clamp(const struct policy_config *cfg, const struct policy_input *in,
			       double want)
{
	unsigned int hi = cfg->vcpu_max;

	if (in->vcpus_present && in->vcpus_present < hi)
		hi = in->vcpus_present;
	if (hi < cfg->vcpu_min)
		hi = cfg->vcpu_min;
	if (!(want >= cfg->vcpu_min))
		return cfg->vcpu_min;
	if (want > hi)
		return hi;
	return (unsigned int)want;
}

static void vcpu_decide(const struct policy_config *cfg, struct policy_state *st,
			const struct policy_input *in, struct policy_decision *out)
{
	const unsigned int n = in->vcpus_online;
	const bool contended = in->runq_wait > cfg->runq_wait_max;
	double busy = fmin(in->vcpu_busy, (double)n);
	double want = n;

	if (cfg->kind == POLICY_THRESHOLD) {
		double pct = in->guest_cpu_pct >= 0 ? fmin(in->guest_cpu_pct, 100) : busy / n * 100;

		out->forecast_vcpus = busy;
		if (pct > cfg->threshold.cpu_up_pct) {
			want = n + 1;
			reason_add(out, "; cpu %lld%% > %lld%%", I(pct),
				   I(cfg->threshold.cpu_up_pct));
		} else if (pct < cfg->threshold.cpu_down_pct) {
			want = n - 1.0;
			reason_add(out, "; cpu %lld%% < %lld%%", I(pct),
				   I(cfg->threshold.cpu_down_pct));
		}
	} else if (cfg->kind == POLICY_WINDOW) {
		double peak;

		slmax_push(&st->cpu_peak, (uint32_t)st->tick, (float)busy,
			   ticks_of(cfg, cfg->window.window_s));
		peak = slmax_get(&st->cpu_peak);
		out->forecast_vcpus = peak * cfg->window.factor;
		want = ceil(peak * cfg->window.factor - 1e-9);
		if (want != n)
			reason_add(out, "; cpu peak %.2f vCPUs x %.2f", peak, cfg->window.factor);
	} else {
		const double sat = cfg->predictive.cpu_sat;
		double peak, recent;

		slmax_push(&st->cpu_peak, (uint32_t)st->tick, (float)busy,
			   ticks_of(cfg, cfg->predictive.cpu_window_s));
		slmax_push(&st->cpu_recent, (uint32_t)st->tick, (float)busy,
			   ticks_of(cfg, cfg->predictive.cpu_idle_s));
		peak = slmax_get(&st->cpu_peak);
		recent = slmax_get(&st->cpu_recent);
		out->forecast_vcpus = busy;
		if (busy >= sat * n) {
			st->sat_ticks++;
		} else if (st->sat_ticks) {
			/* A saturated run ended: remember whether it lasted (the last ~10). */
			st->sat_runs = 0.9f * st->sat_runs + 1;
			st->sat_long = 0.9f * st->sat_long + (st->sat_ticks >= 2 ? 1 : 0);
			st->sat_ticks = 0;
		}
		if (st->sat_ticks) {
			/* Saturated: it persists when it already has, or when most recent
			 * saturations lasted (a prior of one half before any). */
			double p_last = (st->sat_long + 0.5) / (st->sat_runs + 1.0);

			st->idle_ticks = 0;
			if (st->sat_ticks >= 2 || p_last >= 0.5) {
				want = fmax(n + 1.0, floor(peak / sat) + 1);
				if (st->sat_ticks >= 2)
					want = fmax(want, 2.0 * n);
				out->forecast_vcpus = fmax(busy, peak);
				reason_add(out, "; cpu saturated %.2f/%u vCPUs, peak %.2f", busy, n,
					   peak);
			} else {
				want = n + 1.0;
				reason_add(
					out,
					"; cpu saturated %.2f/%u, one more vCPU: %.0f%% of recent saturations lasted",
					busy, n, p_last * 100);
			}
		} else {
			double enough = ceil(recent / cfg->predictive.cpu_down - 1e-9);

			if (enough < cfg->vcpu_min)
				enough = cfg->vcpu_min;
			if (enough >= n) {
				st->idle_ticks = 0;
			} else {
				st->idle_ticks++;
				if (st->idle_ticks >= ticks_of(cfg, cfg->predictive.cpu_idle_s)) {
					want = enough;
					reason_add(out, "; cpu at most %.2f vCPUs for %.0f s",
						   recent, cfg->predictive.cpu_idle_s);
				}
			}
		}
	}

	if (want > n && contended) {
		out->flags |= POLICY_HELD_CONTENDED;
		reason_add(out,
			   "; not adding vCPUs: host contended (run-queue wait %.0f%% > %.0f%%)",
			   in->runq_wait * 100, cfg->runq_wait_max * 100);
		want = n;
	}
	out->target_vcpus = vcpu_clamp(cfg, in, want);
	/* Online vCPUs outside the bounds are brought back even when contended. */
	if (out->target_vcpus > n && contended && n >= cfg->vcpu_min)
		out->target_vcpus = n;
}

int policy__decide(const struct policy_config *cfg, struct policy_state *st,
		   const struct policy_input *in, struct policy_decision *out)
{
	struct mem_ctx m;
	int err;

	memset(out, 0, sizeof(*out));
	err = policy_config__validate(cfg);
	if (err) {
		reason_add(out, "no change: invalid config");
	} else {
		err = check_input(in);
		if (err)
			reason_add(out, "no change: invalid input");
	}
	if (err) {
		out->target_mem_mib = isfinite(in->balloon_cur_mib) && in->balloon_cur_mib > 0 &&
						      in->balloon_cur_mib < 1e15
					      ? (uint64_t)in->balloon_cur_mib
					      : 0;
		out->target_vcpus = in->vcpus_online;
		return err;
	}

	mem_ctx__fill(cfg, in, &m);
	out->floor_mib = (uint64_t)m.floor;
	out->ceiling_mib = (uint64_t)m.ceiling;

	switch (cfg->kind) {
	case POLICY_THRESHOLD:
		mem_threshold(cfg, &m, out);
		break;
	case POLICY_WINDOW:
		mem_window(cfg, st, &m, out);
		break;
	case POLICY_PREDICTIVE:
		mem_predictive(cfg, st, &m, out);
		break;
	}
	if (out->flags & POLICY_HELD_STALE)
		reason_add(out, "%sheld: data %lld s old",
			   out->reason[0] ? ", " : "mem: ", I(in->data_age_s));
	else if (out->flags & POLICY_HELD_SWAP)
		reason_add(out, "%sheld: guest swapping", out->reason[0] ? ", " : "mem: ");

	vcpu_decide(cfg, st, in, out);
	if ((double)out->target_mem_mib > m.alloc)
		out->flags |= POLICY_MEM_GROW;
	else if ((double)out->target_mem_mib < m.alloc)
		out->flags |= POLICY_MEM_SHRINK;
	if (out->flags & (POLICY_MEM_GROW | POLICY_MEM_SHRINK)) {
		st->last_mem_change = st->tick;
		st->low_mem_ticks = 0;
	}
	if (out->target_vcpus > in->vcpus_online)
		out->flags |= POLICY_VCPU_UP;
	else if (out->target_vcpus < in->vcpus_online)
		out->flags |= POLICY_VCPU_DOWN;
	if (out->flags & (POLICY_VCPU_UP | POLICY_VCPU_DOWN)) {
		st->last_vcpu_change = st->tick;
		st->idle_ticks = 0;
	}
	/* Changes per tick, smoothed over about ACT_TICKS ticks. */
	st->act_rate += ((out->flags &
			  (POLICY_MEM_GROW | POLICY_MEM_SHRINK | POLICY_VCPU_UP | POLICY_VCPU_DOWN))
				 ? 1.0
				 : 0.0) /
				ACT_TICKS -
			st->act_rate / ACT_TICKS;

	if (!out->reason[0])
		memcpy(out->reason, "no change", sizeof("no change"));
	else if (out->reason[0] == ';')
		memmove(out->reason, out->reason + 2, strlen(out->reason + 2) + 1);
	st->tick++;
	return 0;
}

double policy__lag_update(double est, double seen_s, double tick_s)
{
	double lag = seen_s - tick_s;

	if (!isfinite(lag) || lag < 0)
		lag = 0;
	if (lag > POLICY_LAG_MAX_S)
		lag = POLICY_LAG_MAX_S;
	if (!isfinite(est) || est < 0)
		return lag;
	/* A slower landing counts at once, a faster one halfway. */
	return lag > est ? lag : 0.5 * (est + lag);
}
