// SPDX-License-Identifier: GPL-2.0
/* Trace parsing and the replay simulator; the semantics are in replay.h. */
#include <errno.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "replay.h"
#include "util.h"

#define TRACE_HEADER "time_s,mem_used_mb,cpu_demand_vcpus"

void replay_trace__free(struct replay_trace *t)
{
	if (!t)
		return;
	free(t->mem);
	free(t->cpu);
	free(t);
}

static int trace_grow(struct replay_trace *t, size_t *cap)
{
	size_t ncap = *cap ? *cap * 2 : 1024;
	double *m, *c;

	if (ncap > REPLAY_ROWS_MAX)
		ncap = REPLAY_ROWS_MAX;
	m = realloc(t->mem, ncap * sizeof(*m));
	if (!m)
		return -ENOMEM;
	t->mem = m;
	c = realloc(t->cpu, ncap * sizeof(*c));
	if (!c)
		return -ENOMEM;
	t->cpu = c;
	*cap = ncap;
	return 0;
}

static int field_error(char *err, size_t errlen, const char *name, unsigned long line,
		       const char *col, const char *val, int rc)
{
	if (val[0] == '-')
		snprintf(err, errlen, "%s:%lu: negative %s '%s'", name, line, col, val);
	else if (rc == -ERANGE)
		snprintf(err, errlen, "%s:%lu: %s '%s' out of range", name, line, col, val);
	else
		snprintf(err, errlen, "%s:%lu: %s '%s' is not a number", name, line, col, val);
	return -EINVAL;
}

/*
 * The next line into line (REPLAY_LINE_MAX + 1 bytes, a final \r dropped),
 * lineno lines before it: 1, 0 at the end of the file, or -EINVAL for a
 * NUL byte or an over-long line (with err set).
 */
static int read_line(FILE *f, char *line, const char *name, unsigned long lineno, char *err,
		     size_t errlen)
{
	size_t len = 0;
	int c;

	while ((c = getc_unlocked(f)) != EOF && c != '\n') {
		if (c == '\0') {
			snprintf(err, errlen, "%s:%lu: NUL byte", name, lineno + 1);
			return -EINVAL;
		}
		if (len >= REPLAY_LINE_MAX) {
			snprintf(err, errlen, "%s:%lu: line longer than %d bytes", name, lineno + 1,
				 REPLAY_LINE_MAX);
			return -EINVAL;
		}
		line[len++] = (char)c;
	}
	if (c == EOF && len == 0)
		return 0;
	line[len] = '\0';
	if (len && line[len - 1] == '\r')
		line[--len] = '\0';
	return 1;
}

/* Cut a row at its commas into fields[4]; how many there are (4: more than 3). */
static int split_row(char *p, char **fields)
{
	char *comma;
	int nf = 0;

	while (nf < 4) {
		fields[nf++] = p;
		comma = strchr(p, ',');
		if (!comma)
			break;
		*comma = '\0';
		p = comma + 1;
	}
	return nf;
}

/* Row lineno (a data line) appended to t; 0, or -errno with err set. */
static int add_row(struct replay_trace *t, size_t *cap, char *line, const char *name,
		   unsigned long lineno, char *err, size_t errlen)
{
	char *fields[4];
	uint64_t time_s;
	int nf = split_row(line, fields), r;

	if (nf != 3) {
		snprintf(err, errlen, "%s:%lu: expected 3 columns (%s), got %s", name, lineno,
			 TRACE_HEADER, nf < 3 ? "fewer" : "more");
		return -EINVAL;
	}
	if (t->n >= REPLAY_ROWS_MAX) {
		snprintf(err, errlen, "%s:%lu: more than %u rows", name, lineno, REPLAY_ROWS_MAX);
		return -EINVAL;
	}
	if (t->n == *cap && trace_grow(t, cap)) {
		snprintf(err, errlen, "%s:%lu: out of memory", name, lineno);
		return -ENOMEM;
	}
	r = parse_u64(fields[0], 0, UINT32_MAX, &time_s);
	if (r)
		return field_error(err, errlen, name, lineno, "time_s", fields[0], r);
	if (t->n == 0) {
		t->t0 = time_s;
	} else if (time_s != t->t0 + t->n) {
		snprintf(err, errlen, "%s:%lu: time_s %llu, expected %llu (one row per second)",
			 name, lineno, (unsigned long long)time_s,
			 (unsigned long long)(t->t0 + t->n));
		return -EINVAL;
	}
	r = parse_double(fields[1], 0, REPLAY_MEM_MB_MAX, &t->mem[t->n]);
	if (r)
		return field_error(err, errlen, name, lineno, "mem_used_mb", fields[1], r);
	r = parse_double(fields[2], 0, REPLAY_CPU_MAX, &t->cpu[t->n]);
	if (r)
		return field_error(err, errlen, name, lineno, "cpu_demand_vcpus", fields[2], r);
	t->n++;
	return 0;
}

int replay_trace__parse(FILE *f, const char *name, struct replay_trace **out, char *err,
			size_t errlen)
{
	char line[REPLAY_LINE_MAX + 2];
	struct replay_trace *t = NULL;
	unsigned long lineno = 0;
	size_t cap = 0;
	int rc = -ENOMEM;

	*out = NULL;
	err[0] = '\0';
	t = calloc(1, sizeof(*t));
	if (!t)
		goto cleanup;
	while ((rc = read_line(f, line, name, lineno, err, errlen)) > 0) {
		if (++lineno > 1) {
			rc = add_row(t, &cap, line, name, lineno, err, errlen);
			if (rc)
				goto cleanup;
		} else if (strcmp(line, TRACE_HEADER)) {
			snprintf(err, errlen, "%s:1: bad header, expected '%s'", name,
				 TRACE_HEADER);
			rc = -EINVAL;
			goto cleanup;
		}
	}
	if (rc)
		goto cleanup;
	rc = -EINVAL;
	if (ferror(f)) {
		snprintf(err, errlen, "%s: read error", name);
		rc = -EIO;
		goto cleanup;
	}
	if (lineno == 0) {
		snprintf(err, errlen, "%s:1: empty file, expected the header '%s'", name,
			 TRACE_HEADER);
		goto cleanup;
	}
	if (t->n == 0) {
		snprintf(err, errlen, "%s:%lu: no rows after the header", name, lineno);
		goto cleanup;
	}
	*out = t;
	t = NULL;
	rc = 0;
cleanup:
	replay_trace__free(t);
	return rc;
}

int replay_trace__load(const char *path, struct replay_trace **out, char *err, size_t errlen)
{
	FILE *f = NULL;
	int rc = -EINVAL;

	*out = NULL;
	f = fopen(path, "r");
	if (!f) {
		rc = -errno;
		snprintf(err, errlen, "%s: %s", path, strerror(-rc));
		goto cleanup;
	}
	rc = replay_trace__parse(f, path, out, err, errlen);
cleanup:
	if (f)
		(void)fclose(f);
	return rc;
}

void replay__score_tick(struct replay_score *s, double mem, double cpu, uint64_t alloc,
			unsigned int vcpus, double *slack_sum, double *idle_sum)
{
	if (mem > 0.95 * (double)alloc)
		s->mem_pressure_s++;
	*slack_sum += fmax(0.0, (double)alloc - mem);
	if (cpu > (double)vcpus)
		s->cpu_pressure_s++;
	*idle_sum += fmax(0.0, (double)vcpus - cpu);
}

void replay__input(const struct policy_config *cfg, double mem, double cpu, uint64_t alloc,
		   unsigned int vcpus, struct policy_input *in)
{
	double used = fmin(mem, (double)alloc);

	memset(in, 0, sizeof(*in));
	in->mem_total_mib = (double)alloc;
	in->mem_used_mib = used;
	in->mem_avail_mib = (double)alloc - used;
	in->psi_valid = false;
	in->balloon_cur_mib = (double)alloc;
	in->balloon_max_mib = (double)cfg->mem_max_mib;
	in->data_age_s = 0;
	in->source = POLICY_SRC_AGENT;
	in->vcpu_busy = fmin(cpu, (double)vcpus);
	in->runq_wait = 0;
	in->guest_cpu_pct = in->vcpu_busy / vcpus * 100.0;
	in->vcpus_online = vcpus;
	in->vcpus_present = cfg->vcpu_max;
}

int replay__run(const struct policy_config *cfg, const struct replay_start *start,
		const struct replay_trace *t, struct replay_score *score, replay_tick_fn cb,
		void *ctx)
{
	struct policy_state *st = NULL;
	double slack_sum = 0, idle_sum = 0;
	uint64_t alloc = start->mem_mib;
	unsigned int vcpus = start->vcpus;
	int err = -EINVAL;

	memset(score, 0, sizeof(*score));
	if (policy_config__validate(cfg) || alloc < cfg->mem_min_mib || alloc > cfg->mem_max_mib ||
	    vcpus < cfg->vcpu_min || vcpus > cfg->vcpu_max)
		goto cleanup;
	st = malloc(sizeof(*st));
	if (!st) {
		err = -ENOMEM;
		goto cleanup;
	}
	policy_state__init(st);
	for (size_t i = 0; i < t->n; i++) {
		struct policy_input in;
		struct policy_decision d;

		replay__score_tick(score, t->mem[i], t->cpu[i], alloc, vcpus, &slack_sum,
				   &idle_sum);
		replay__input(cfg, t->mem[i], t->cpu[i], alloc, vcpus, &in);
		err = policy__decide(cfg, st, &in, &d);
		if (err)
			goto cleanup;
		if (cb)
			cb(ctx, t->t0 + i, alloc, vcpus, &d);
		/* Takes effect at t+1: a change there is an action of tick t+1. */
		if (i + 1 < t->n && (d.target_mem_mib != alloc || d.target_vcpus != vcpus))
			score->actions++;
		alloc = d.target_mem_mib;
		vcpus = d.target_vcpus;
	}
	score->ticks = t->n;
	score->mean_slack_mb = t->n ? slack_sum / (double)t->n : 0;
	score->mean_idle_vcpus = t->n ? idle_sum / (double)t->n : 0;
	err = 0;
cleanup:
	free(st);
	return err;
}

int replay__oracle(const struct policy_config *cfg, const struct replay_trace *t,
		   struct replay_score *score)
{
	double slack_sum = 0, idle_sum = 0;
	uint64_t prev_alloc = 0;
	unsigned int prev_vcpus = 0;

	memset(score, 0, sizeof(*score));
	if (policy_config__validate(cfg))
		return -EINVAL;
	for (size_t i = 0; i < t->n; i++) {
		double a = fmax(ceil(t->mem[i] / 0.95),
				ceil(t->mem[i] + (double)cfg->mem_reserve_mib));
		double v = ceil(t->cpu[i] - 1e-9);
		uint64_t alloc;
		unsigned int vcpus;

		/* 0.95 x ceil(m / 0.95) may round just below m: step up until it holds. */
		while (t->mem[i] > 0.95 * a)
			a += 1;
		a = fmin(fmax(a, (double)cfg->mem_min_mib), (double)cfg->mem_max_mib);
		v = fmin(fmax(v, (double)cfg->vcpu_min), (double)cfg->vcpu_max);
		alloc = (uint64_t)a;
		vcpus = (unsigned int)v;
		replay__score_tick(score, t->mem[i], t->cpu[i], alloc, vcpus, &slack_sum,
				   &idle_sum);
		if (i > 0 && (alloc != prev_alloc || vcpus != prev_vcpus))
			score->actions++;
		prev_alloc = alloc;
		prev_vcpus = vcpus;
	}
	score->ticks = t->n;
	score->mean_slack_mb = t->n ? slack_sum / (double)t->n : 0;
	score->mean_idle_vcpus = t->n ? idle_sum / (double)t->n : 0;
	return 0;
}

void replay_score__add(struct replay_score *sum, const struct replay_score *s)
{
	uint64_t n = sum->ticks + s->ticks;

	if (n) {
		sum->mean_slack_mb = (sum->mean_slack_mb * (double)sum->ticks +
				      s->mean_slack_mb * (double)s->ticks) /
				     (double)n;
		sum->mean_idle_vcpus = (sum->mean_idle_vcpus * (double)sum->ticks +
					s->mean_idle_vcpus * (double)s->ticks) /
				       (double)n;
	}
	sum->ticks = n;
	sum->mem_pressure_s += s->mem_pressure_s;
	sum->cpu_pressure_s += s->cpu_pressure_s;
	sum->actions += s->actions;
}
