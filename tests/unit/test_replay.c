// SPDX-License-Identifier: GPL-2.0
/*
 * Replay: scores of a small hand-checked trace, the oracle, and the strict
 * CSV parser (every bad file is refused with NAME:LINE and a reason).
 */
#include <errno.h>
#include <math.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <cmocka.h>

#include "replay.h"

static int parse_str(const char *text, size_t len, struct replay_trace **t, char *err)
{
	FILE *f = fmemopen((void *)text, len, "r");
	int rc;

	assert_non_null(f);
	rc = replay_trace__parse(f, "t.csv", t, err, REPLAY_ERR_MAX);
	fclose(f);
	return rc;
}

#define PARSE(text, t, err) parse_str(text, sizeof(text) - 1, t, err)

static const char hand[] = "time_s,mem_used_mb,cpu_demand_vcpus\n"
			   "0,900,0.5\n"
			   "1,1100,1.5\n"
			   "2,1000,1.5\n"
			   "3,100,0.2\n"
			   "4,100,0.2\n";

struct seq {
	int n;
	uint64_t alloc[8];
	unsigned int vcpus[8];
	uint64_t time[8];
};

static void record(void *ctx, uint64_t time_s, uint64_t alloc, unsigned int vcpus,
		   const struct policy_decision *d)
{
	struct seq *s = ctx;

	(void)d;
	s->time[s->n] = time_s;
	s->alloc[s->n] = alloc;
	s->vcpus[s->n] = vcpus;
	s->n++;
}

/*
 * By hand, threshold, 256..4096 MiB from 1024, 1..4 vCPUs from 1, no reserve:
 * t  demand cpu  alloc vcpus  pressure   slack idle  policy sees -> next
 * 0   900   0.5  1024  1      -          124   0.5   900 > 819  -> 1124; 50% -> 1
 * 1  1100   1.5  1124  1      mem+cpu     24   0     1100 > 899 -> 1224; 100% -> 2
 * 2  1000   1.5  1224  2      -          224   0.5   1000 > 979 -> 1324; 75% -> 2
 * 3   100   0.2  1324  2      -         1224   1.8   100 < 265  -> 824; 10% -> 1
 * 4   100   0.2   824  1      -          724   0.8   (100 < 165 -> 324; 20% -> 1)
 * mem_pressure 1, slack 2320/5 = 464, cpu_pressure 1, idle 3.6/5 = 0.72,
 * actions at t = 1, 2, 3, 4: 4.
 */
static void test_hand_checked(void **state)
{
	struct replay_start start = { .mem_mib = 1024, .vcpus = 1 };
	const uint64_t want_alloc[] = { 1024, 1124, 1224, 1324, 824 };
	const unsigned int want_vcpus[] = { 1, 1, 2, 2, 1 };
	struct replay_trace *t = NULL;
	struct policy_config cfg;
	struct replay_score s;
	struct seq seq = { 0 };
	char err[REPLAY_ERR_MAX];

	(void)state;
	assert_int_equal(PARSE(hand, &t, err), 0);
	assert_int_equal(t->n, 5);
	policy_config__init(&cfg, POLICY_THRESHOLD);
	cfg.mem_reserve_mib = 0;
	assert_int_equal(replay__run(&cfg, &start, t, &s, record, &seq), 0);
	assert_int_equal(seq.n, 5);
	for (int i = 0; i < 5; i++) {
		assert_int_equal(seq.time[i], i);
		assert_int_equal(seq.alloc[i], want_alloc[i]);
		assert_int_equal(seq.vcpus[i], want_vcpus[i]);
	}
	assert_int_equal(s.ticks, 5);
	assert_int_equal(s.mem_pressure_s, 1);
	assert_true(fabs(s.mean_slack_mb - 464.0) < 1e-9);
	assert_int_equal(s.cpu_pressure_s, 1);
	assert_true(fabs(s.mean_idle_vcpus - 0.72) < 1e-9);
	assert_int_equal(s.actions, 4);

	/* The oracle: alloc = max(ceil(m / 0.95), m + reserve) within bounds,
	 * vCPUs = ceil(demand): 948 (900/.95 = 947.4, 947 x .95 < 900), 1158, 1053,
	 * 256, 256 and 1, 2, 2, 1, 1: never pressed, 3 changes. */
	assert_int_equal(replay__oracle(&cfg, t, &s), 0);
	assert_int_equal(s.mem_pressure_s, 0);
	assert_int_equal(s.cpu_pressure_s, 0);
	assert_int_equal(s.actions, 3);
	assert_true(fabs(s.mean_slack_mb - (48 + 58 + 53 + 156 + 156) / 5.0) < 1e-9);
	assert_true(fabs(s.mean_idle_vcpus - (0.5 + 0.5 + 0.5 + 0.8 + 0.8) / 5) < 1e-9);

	/* A start outside the bounds is refused. */
	start.mem_mib = 100;
	assert_int_equal(replay__run(&cfg, &start, t, &s, NULL, NULL), -EINVAL);
	replay_trace__free(t);
}

/* Every memory bound the config accepts can be replayed (the policy's input check agrees). */
static void test_largest_bounds(void **state)
{
	struct replay_start start = { .mem_mib = POLICY_MEM_MAX_MIB, .vcpus = 1 };
	struct replay_trace *t = NULL;
	struct policy_config cfg;
	struct replay_score s;
	char err[REPLAY_ERR_MAX];

	(void)state;
	assert_int_equal(PARSE(hand, &t, err), 0);
	for (int k = POLICY_THRESHOLD; k <= POLICY_PREDICTIVE; k++) {
		policy_config__init(&cfg, (enum policy_kind)k);
		cfg.mem_max_mib = POLICY_MEM_MAX_MIB;
		assert_int_equal(policy_config__validate(&cfg), 0);
		assert_int_equal(replay__run(&cfg, &start, t, &s, NULL, NULL), 0);
		cfg.mem_max_mib = POLICY_MEM_MAX_MIB + 1;
		assert_int_equal(policy_config__validate(&cfg), -EINVAL);
	}
	replay_trace__free(t);
}

static void test_sum(void **state)
{
	struct replay_score a = { .ticks = 10, .mem_pressure_s = 1, .mean_slack_mb = 100 };
	struct replay_score b = {
		.ticks = 30, .mem_pressure_s = 2, .mean_slack_mb = 200, .actions = 3
	};
	struct replay_score sum = { 0 };

	(void)state;
	replay_score__add(&sum, &a);
	replay_score__add(&sum, &b);
	assert_int_equal(sum.ticks, 40);
	assert_int_equal(sum.mem_pressure_s, 3);
	assert_int_equal(sum.actions, 3);
	assert_true(fabs(sum.mean_slack_mb - 175) < 1e-9);
}

static void expect_error(const char *text, size_t len, const char *where, const char *what)
{
	struct replay_trace *t = (void *)1;
	char err[REPLAY_ERR_MAX];

	assert_int_equal(parse_str(text, len, &t, err), -EINVAL);
	assert_null(t);
	if (strncmp(err, where, strlen(where)) || !strstr(err, what))
		fail_msg("error '%s', expected '%s...%s'", err, where, what);
}

#define BAD(text, where, what) expect_error(text, sizeof(text) - 1, where, what)
#define HDR		       "time_s,mem_used_mb,cpu_demand_vcpus\n"

static void test_parse_errors(void **state)
{
	char longline[600];

	(void)state;
	BAD("", "t.csv:1:", "empty file");
	BAD("time,mem,cpu\n0,1,1\n", "t.csv:1:", "bad header");
	BAD("time_s,mem_used_mb\n0,1\n", "t.csv:1:", "bad header");
	BAD(HDR, "t.csv:1:", "no rows");
	BAD(HDR "0,100,1\n1,abc,1\n", "t.csv:3:", "mem_used_mb 'abc' is not a number");
	BAD(HDR "0,100,1\n1,100,\n", "t.csv:3:", "cpu_demand_vcpus '' is not a number");
	BAD(HDR "0,100,1\n1,-5,1\n", "t.csv:3:", "negative mem_used_mb '-5'");
	BAD(HDR "0,100,-0.5\n", "t.csv:2:", "negative cpu_demand_vcpus");
	BAD(HDR "-1,100,1\n", "t.csv:2:", "negative time_s");
	BAD(HDR "0,100\n", "t.csv:2:", "expected 3 columns");
	BAD(HDR "0,100,1\n1\n", "t.csv:3:", "expected 3 columns");
	BAD(HDR "0,100,1,7\n", "t.csv:2:", "expected 3 columns");
	BAD(HDR "0,100,1\n\n1,100,1\n", "t.csv:3:", "expected 3 columns");
	BAD(HDR "0,100,1\n2,100,1\n", "t.csv:3:", "time_s 2, expected 1");
	BAD(HDR "0,100,1\n0,100,1\n", "t.csv:3:", "time_s 0, expected 1");
	BAD(HDR "0.5,100,1\n", "t.csv:2:", "time_s '0.5' is not a number");
	BAD(HDR "0,nan,1\n", "t.csv:2:", "not a number");
	BAD(HDR "0,1e300,1\n", "t.csv:2:", "out of range");
	BAD(HDR "0,100,5000\n", "t.csv:2:", "out of range");
	BAD(HDR "0,1 00,1\n", "t.csv:2:", "not a number");
	BAD(HDR "0,100,1\n1,1\0000,1\n", "t.csv:3:", "NUL byte");
	memset(longline, '1', sizeof(longline));
	memcpy(longline, HDR, strlen(HDR));
	expect_error(longline, sizeof(longline), "t.csv:2:", "line longer than 256 bytes");
}

static void test_parse_ok(void **state)
{
	struct replay_trace *t = NULL;
	char err[REPLAY_ERR_MAX];

	(void)state;
	/* CRLF line ends, no final newline, a start other than 0 */
	assert_int_equal(
		PARSE("time_s,mem_used_mb,cpu_demand_vcpus\r\n7,512.5,0.25\r\n8,0,4", &t, err), 0);
	assert_int_equal(t->n, 2);
	assert_int_equal(t->t0, 7);
	assert_true(t->mem[0] == 512.5 && t->cpu[0] == 0.25);
	assert_true(t->mem[1] == 0 && t->cpu[1] == 4);
	replay_trace__free(t);

	assert_int_equal(replay_trace__load("/nonexistent/x.csv", &t, err, sizeof(err)), -ENOENT);
	assert_non_null(strstr(err, "/nonexistent/x.csv"));
	replay_trace__free(NULL);
}

/* Hostile bytes: every buffer is parsed or refused, never crashes (ASan build too). */
static void test_parse_garbage(void **state)
{
	static const char alphabet[] = "0123456789,.-+e\n\r x\0";
	uint64_t x = 12345;
	char buf[512];

	(void)state;
	for (int i = 0; i < 3000; i++) {
		size_t len = strlen(HDR), n;
		struct replay_trace *t = NULL;
		char err[REPLAY_ERR_MAX];
		int rc;

		memcpy(buf, HDR, len);
		x = x * 6364136223846793005ull + 1442695040888963407ull;
		n = (x >> 33) % (sizeof(buf) - len);
		for (size_t j = 0; j < n; j++) {
			x = x * 6364136223846793005ull + 1442695040888963407ull;
			buf[len + j] = alphabet[(x >> 33) % (sizeof(alphabet) - 1)];
		}
		rc = parse_str(buf, len + n, &t, err);
		if (rc == 0) {
			assert_non_null(t);
			assert_true(t->n > 0);
			for (size_t j = 0; j < t->n; j++)
				assert_true(t->mem[j] >= 0 && t->cpu[j] >= 0 && t->cpu[j] <= 4096);
			replay_trace__free(t);
		} else {
			assert_int_equal(rc, -EINVAL);
			assert_null(t);
			assert_non_null(strstr(err, "t.csv:"));
		}
	}
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_hand_checked),  cmocka_unit_test(test_sum),
		cmocka_unit_test(test_parse_errors),  cmocka_unit_test(test_parse_ok),
		cmocka_unit_test(test_parse_garbage), cmocka_unit_test(test_largest_bounds),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
