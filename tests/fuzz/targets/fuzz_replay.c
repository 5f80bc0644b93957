// SPDX-License-Identifier: GPL-2.0
/*
 * Replay traces (replay_trace__parse, the CSV of 'kvmpilot replay'): a trace
 * is refused with "NAME:LINE: reason" or taken with every value in range,
 * and a taken trace replays through a policy and the oracle with sane
 * scores (the policy is chosen by the number of rows).
 */
#include <errno.h>
#include <math.h>
#include <string.h>

#include "fuzz.h"
#include "replay.h"

static void check_score(const struct replay_score *s, size_t n)
{
	FUZZ_CHECK(s->ticks == n, "%llu ticks for %zu rows", (unsigned long long)s->ticks, n);
	FUZZ_CHECK(s->mem_pressure_s <= s->ticks && s->cpu_pressure_s <= s->ticks &&
			   s->actions <= s->ticks,
		   "a count above the ticks");
	FUZZ_CHECK(isfinite(s->mean_slack_mb) && s->mean_slack_mb >= 0, "mean slack %g",
		   s->mean_slack_mb);
	FUZZ_CHECK(isfinite(s->mean_idle_vcpus) && s->mean_idle_vcpus >= 0, "mean idle %g",
		   s->mean_idle_vcpus);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct replay_trace *t = NULL;
	struct replay_start start = { .mem_mib = 1024, .vcpus = 1 };
	struct policy_config cfg;
	struct replay_score score;
	char err[REPLAY_ERR_MAX] = "";
	FILE *f;
	int rc;

	if (!size)
		return 0;
	f = fmemopen((void *)data, size, "r");
	if (!f)
		abort();
	rc = replay_trace__parse(f, "fuzz.csv", &t, err, sizeof(err));
	(void)fclose(f);
	if (rc) {
		FUZZ_CHECK(rc == -EINVAL, "parse: %s", strerror(-rc));
		FUZZ_CHECK(!strncmp(err, "fuzz.csv", 8), "refused without a reason: '%s'", err);
		return 0;
	}
	FUZZ_CHECK(t && t->n >= 1 && t->n <= REPLAY_ROWS_MAX, "taken trace of %zu rows",
		   t ? t->n : 0);
	for (size_t i = 0; i < t->n; i++) {
		FUZZ_CHECK(isfinite(t->mem[i]) && t->mem[i] >= 0 && t->mem[i] <= REPLAY_MEM_MB_MAX,
			   "row %zu: memory %g", i, t->mem[i]);
		FUZZ_CHECK(isfinite(t->cpu[i]) && t->cpu[i] >= 0 && t->cpu[i] <= REPLAY_CPU_MAX,
			   "row %zu: cpu %g", i, t->cpu[i]);
	}

	policy_config__init(&cfg, (enum policy_kind)(t->n % 3));
	cfg.mem_max_mib = POLICY_MEM_MAX_MIB;
	rc = replay__run(&cfg, &start, t, &score, NULL, NULL);
	FUZZ_CHECK(!rc, "replay: %s", strerror(-rc));
	check_score(&score, t->n);
	rc = replay__oracle(&cfg, t, &score);
	FUZZ_CHECK(!rc, "oracle: %s", strerror(-rc));
	check_score(&score, t->n);
	replay_trace__free(t);
	return 0;
}
