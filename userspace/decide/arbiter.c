// SPDX-License-Identifier: GPL-2.0
/* The host arbiter; what it guarantees is in arbiter.h. */
#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "arbiter.h"

#define ARBITER_MIB_MAX (1ull << 40)

/* Working arrays for one call, one row per VM. */
struct arb_work {
	uint64_t *lvl[4]; /* hard, floor, need, wish */
	uint64_t *given;
	uint64_t *rem; /* largest-remainder bookkeeping */
	uint64_t *cur; /* what each VM holds now: ties go to the holder */
	unsigned int *shares;
	bool *active;
};

enum {
	L_HARD,
	L_FLOOR,
	L_NEED,
	L_WISH
};

static uint64_t clamp_u64(uint64_t v, uint64_t lo, uint64_t hi)
{
	return v < lo ? lo : v > hi ? hi : v;
}

/*
 * Raise given[i] toward hi[i] with at most avail in all: growth proportional
 * to shares, capped at hi[i], a capped VM's share going to the others. The
 * shares' quotients are exact (128-bit); the units they leave go one each to
 * the largest remainders, ties first to a VM that holds the unit now (no
 * change for nothing), then to the lower index, so the result depends on
 * the inputs alone. Returns what was handed out (<= avail).
 */
static uint64_t water_fill(size_t n, struct arb_work *w, const uint64_t *hi, uint64_t avail)
{
	uint64_t ask = 0, rest = avail, left, total = 0;
	bool capped;

	for (size_t i = 0; i < n; i++) {
		ask += hi[i] - w->given[i];
		w->active[i] = hi[i] > w->given[i];
	}
	if (ask <= avail) {
		for (size_t i = 0; i < n; i++)
			w->given[i] = hi[i];
		return ask;
	}
	/* Cap those whose whole ask is below their share, until none is. */
	do {
		unsigned __int128 sum_sh = 0;

		capped = false;
		for (size_t i = 0; i < n; i++)
			sum_sh += w->active[i] ? w->shares[i] : 0;
		if (!sum_sh)
			break;
		for (size_t i = 0; i < n; i++) {
			uint64_t d = hi[i] - w->given[i];

			if (!w->active[i] ||
			    (unsigned __int128)d * sum_sh > (unsigned __int128)rest * w->shares[i])
				continue;
			w->given[i] = hi[i];
			rest -= d;
			total += d;
			w->active[i] = false;
			capped = true;
		}
	} while (capped);

	unsigned __int128 sum_sh = 0;

	for (size_t i = 0; i < n; i++)
		sum_sh += w->active[i] ? w->shares[i] : 0;
	if (!sum_sh)
		return total;
	left = rest;
	for (size_t i = 0; i < n; i++) {
		unsigned __int128 p = (unsigned __int128)rest * (w->active[i] ? w->shares[i] : 0);
		uint64_t give = (uint64_t)(p / sum_sh);

		w->rem[i] = (uint64_t)(p % sum_sh);
		w->given[i] += give;
		left -= give;
		total += give;
	}
	/* left < number of active VMs, and each active VM has room for one more. */
	while (left) {
		size_t best = n;

		for (size_t i = 0; i < n; i++) {
			if (!w->active[i])
				continue;
			if (best == n || w->rem[i] > w->rem[best] ||
			    (w->rem[i] == w->rem[best] && w->given[i] < w->cur[i] &&
			     w->given[best] >= w->cur[best]))
				best = i;
		}
		if (best == n)
			break;
		w->given[best]++;
		w->active[best] = false;
		left--;
		total++;
	}
	return total;
}

/* Levels 0..3 filled in order from given = level 0; sets *over when level 0 does not fit. */
static uint64_t fill_levels(size_t n, struct arb_work *w, uint64_t budget, bool *over,
			    bool *overcommitted)
{
	uint64_t used = 0, floors = 0;

	for (size_t i = 0; i < n; i++) {
		w->given[i] = w->lvl[L_HARD][i];
		used += w->given[i];
		floors += w->lvl[L_FLOOR][i];
	}
	*over = used > budget;
	*overcommitted = floors > budget;
	if (*over)
		return used;
	for (int l = L_FLOOR; l <= L_WISH; l++)
		used += water_fill(n, w, w->lvl[l], budget - used);
	return used;
}

static void work_free(struct arb_work *w)
{
	for (int l = 0; l < 4; l++)
		free(w->lvl[l]);
	free(w->given);
	free(w->rem);
	free(w->cur);
	free(w->shares);
	free(w->active);
}

static int work_alloc(struct arb_work *w, size_t n)
{
	memset(w, 0, sizeof(*w));
	for (int l = 0; l < 4; l++)
		w->lvl[l] = calloc(n, sizeof(uint64_t));
	w->given = calloc(n, sizeof(uint64_t));
	w->rem = calloc(n, sizeof(uint64_t));
	w->cur = calloc(n, sizeof(uint64_t));
	w->shares = calloc(n, sizeof(unsigned int));
	w->active = calloc(n, sizeof(bool));
	if (!w->lvl[0] || !w->lvl[1] || !w->lvl[2] || !w->lvl[3] || !w->given || !w->rem ||
	    !w->cur || !w->shares || !w->active) {
		work_free(w);
		return -ENOMEM;
	}
	return 0;
}

static int check_vm(const struct arbiter_vm *v)
{
	if (v->mem_min_mib > v->mem_max_mib || v->mem_max_mib > ARBITER_MIB_MAX ||
	    v->used_mib > ARBITER_MIB_MAX || v->floor_mib > ARBITER_MIB_MAX ||
	    v->need_mib > ARBITER_MIB_MAX || v->wish_mib > ARBITER_MIB_MAX ||
	    v->shares > ARBITER_SHARES_MAX || !v->vcpu_min || v->vcpu_min > v->vcpu_max)
		return -EINVAL;
	return 0;
}

static void mem_levels(const struct arbiter_vm *v, struct arb_work *w, size_t i)
{
	uint64_t lo = v->mem_min_mib, hi = v->mem_max_mib;
	uint64_t hard = clamp_u64(v->used_mib, lo, hi);
	uint64_t floor = clamp_u64(v->floor_mib, hard, hi);
	uint64_t wish = clamp_u64(v->wish_mib, floor, hi);
	uint64_t need = v->need_mib ? clamp_u64(v->need_mib, floor, wish) : wish;

	w->lvl[L_HARD][i] = hard;
	w->cur[i] = v->alloc_mib;
	w->lvl[L_FLOOR][i] = floor;
	w->lvl[L_NEED][i] = need;
	w->lvl[L_WISH][i] = wish;
}

static void vcpu_levels(const struct arbiter_vm *v, struct arb_work *w, size_t i)
{
	uint64_t lo = v->vcpu_min, hi = v->vcpu_max;
	uint64_t wish = clamp_u64(v->vcpu_wish, lo, hi);

	w->lvl[L_HARD][i] = lo;
	w->cur[i] = v->vcpus;
	w->lvl[L_FLOOR][i] = lo;
	w->lvl[L_NEED][i] = v->vcpu_need ? clamp_u64(v->vcpu_need, lo, wish) : wish;
	w->lvl[L_WISH][i] = wish;
}

static void reason_add(struct arbiter_grant *g, const char *fmt, ...)
	__attribute__((format(printf, 2, 3)));

static void reason_add(struct arbiter_grant *g, const char *fmt, ...)
{
	size_t len = strlen(g->reason);
	va_list ap;

	if (len >= sizeof(g->reason) - 1)
		return;
	va_start(ap, fmt);
	(void)vsnprintf(g->reason + len, sizeof(g->reason) - len, fmt, ap);
	va_end(ap);
}

int arbiter__run(const struct arbiter_budget *budget, const struct arbiter_vm *vms, size_t n,
		 struct arbiter_grant *grants, struct arbiter_result *res)
{
	struct arb_work w;
	uint64_t sum_shares = 0, granted;
	bool over, overc;
	int err;

	memset(res, 0, sizeof(*res));
	if (!n || n > ARBITER_VMS_MAX || budget->mem_mib > ARBITER_MIB_MAX)
		return -EINVAL;
	for (size_t i = 0; i < n; i++) {
		if (check_vm(&vms[i]))
			return -EINVAL;
	}
	err = work_alloc(&w, n);
	if (err)
		return err;
	for (size_t i = 0; i < n; i++) {
		w.shares[i] = vms[i].shares ? vms[i].shares : ARBITER_SHARES_DEFAULT;
		sum_shares += w.shares[i];
		memset(&grants[i], 0, sizeof(grants[i]));
	}

	/* Memory. */
	for (size_t i = 0; i < n; i++) {
		mem_levels(&vms[i], &w, i);
		res->mem_floors_mib += w.lvl[L_FLOOR][i];
		res->mem_wished_mib += w.lvl[L_WISH][i];
	}
	granted = fill_levels(n, &w, budget->mem_mib, &over, &overc);
	res->mem_granted_mib = granted;
	res->flags |= (over ? ARBITER_OVER_BUDGET : 0) | (overc ? ARBITER_OVERCOMMITTED : 0);
	for (size_t i = 0; i < n; i++) {
		struct arbiter_grant *g = &grants[i];
		uint64_t wish = w.lvl[L_WISH][i];

		g->mem_mib = w.given[i];
		g->flags |= res->flags;
		if (g->mem_mib >= wish)
			continue;
		g->flags |= ARBITER_MEM_CUT;
		if (overc)
			reason_add(g, "host: overcommitted, floors %llu MiB > budget %llu MiB, ",
				   (unsigned long long)res->mem_floors_mib,
				   (unsigned long long)budget->mem_mib);
		else
			reason_add(g, "host: budget %llu MiB, %llu granted, ",
				   (unsigned long long)budget->mem_mib,
				   (unsigned long long)granted);
		reason_add(g, "wish %llu -> %llu (shares %u of %llu)", (unsigned long long)wish,
			   (unsigned long long)g->mem_mib, w.shares[i],
			   (unsigned long long)sum_shares);
	}

	/* vCPUs: the same levels in whole vCPUs, when there is a budget. */
	for (size_t i = 0; i < n; i++) {
		vcpu_levels(&vms[i], &w, i);
		res->vcpus_wished += (unsigned int)w.lvl[L_WISH][i];
	}
	if (budget->vcpus) {
		granted = fill_levels(n, &w, budget->vcpus, &over, &overc);
		res->flags |=
			(over ? ARBITER_OVER_BUDGET : 0) | (overc ? ARBITER_OVERCOMMITTED : 0);
	} else {
		granted = 0;
		for (size_t i = 0; i < n; i++) {
			w.given[i] = w.lvl[L_WISH][i];
			granted += w.given[i];
		}
	}
	res->vcpus_granted = (unsigned int)granted;
	for (size_t i = 0; i < n; i++) {
		struct arbiter_grant *g = &grants[i];
		uint64_t wish = w.lvl[L_WISH][i];

		g->vcpus = (unsigned int)w.given[i];
		g->flags |= res->flags;
		if (g->vcpus >= wish)
			continue;
		g->flags |= ARBITER_VCPU_CUT;
		reason_add(
			g,
			"%shost: budget %u vCPUs, %llu granted, wish %llu -> %u (shares %u of %llu)",
			g->reason[0] ? "; " : "", budget->vcpus, (unsigned long long)granted,
			(unsigned long long)wish, g->vcpus, w.shares[i],
			(unsigned long long)sum_shares);
	}
	work_free(&w);
	return 0;
}
