// SPDX-License-Identifier: GPL-2.0
/* Every p50/p99 (stat, API, /metrics) comes from log2 histograms, every delta by one rule. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include "hist.h"

#define N 32

static void test_slots(void **state)
{
	(void)state;
	assert_int_equal(hist__slot(0, N), 0);
	assert_int_equal(hist__slot(1, N), 0);
	assert_int_equal(hist__slot(2, N), 1);
	assert_int_equal(hist__slot(3, N), 1);
	assert_int_equal(hist__slot(1500, N), 10);
	assert_int_equal(hist__slot(1024, N), 10);
	assert_int_equal(hist__slot(1023, N), 9);
	assert_int_equal(hist__slot(UINT64_MAX, N), N - 1);
	assert_int_equal(hist__slot_low(10), 1024);
	assert_int_equal(hist__slot_high(10), 2048);
	assert_int_equal(hist__slot_low(0), 0);
}

static void test_empty(void **state)
{
	uint32_t h[N] = { 0 };

	(void)state;
	assert_int_equal(hist__total(h, N), 0);
	assert_int_equal(hist__percentile(h, N, 50), 0);
	assert_int_equal(hist__percentile(h, N, 99), 0);
}

static void test_single_slot(void **state)
{
	uint32_t h[N] = { 0 };
	uint64_t p50, p99;

	(void)state;
	h[10] = 100; /* 100 values in [1024, 2048) */
	p50 = hist__percentile(h, N, 50);
	p99 = hist__percentile(h, N, 99);
	assert_true(p50 >= 1024 && p50 < 2048);
	assert_true(p99 >= p50 && p99 <= 2048);
	/* Linear inside the slot: the median is in the middle. */
	assert_int_equal(p50, 1024 + 512);
}

static void test_two_modes(void **state)
{
	uint32_t h[N] = { 0 };
	uint64_t p50, p99;

	(void)state;
	h[10] = 90; /* fast: ~1.5 us */
	h[20] = 10; /* slow: ~1.5 ms */
	p50 = hist__percentile(h, N, 50);
	p99 = hist__percentile(h, N, 99);
	assert_true(p50 >= 1024 && p50 < 2048);
	assert_true(p99 >= (1u << 20) && p99 <= (1u << 21));
	/* p90 is the last fast one, p91 the first slow one. */
	assert_true(hist__percentile(h, N, 90) <= 2048);
	assert_true(hist__percentile(h, N, 91) >= (1u << 20));
	assert_true(hist__percentile(h, N, 100) == (1u << 21));
	/* Out-of-range p is clamped, never read past the array. */
	assert_int_equal(hist__percentile(h, N, 1000), 1u << 21);
	assert_int_equal(hist__percentile(h, N, 0), 0);
}

static void test_last_slot(void **state)
{
	uint32_t h[N] = { 0 };

	(void)state;
	h[N - 1] = 1;
	assert_true(hist__percentile(h, N, 50) >= (1ull << (N - 1)));
}

/* Prometheus' histogram_quantile() rank: p/100 * total, no rounding up. */
static void test_rank(void **state)
{
	uint32_t h[N] = { 0 };

	(void)state;
	h[10] = 7;
	assert_int_equal(hist__percentile(h, N, 50), 1024 + 512); /* rank 3.5 of 7 */
	h[10] = 1;
	assert_int_equal(hist__percentile(h, N, 50), 1024 + 512); /* one value: the middle */
}

static void test_deltas(void **state)
{
	uint32_t now[N] = { 0 }, before[N] = { 0 }, d[N];

	(void)state;
	assert_int_equal(hist__counter_delta(15, 10), 5);
	/* a reset counts from zero: the new value is what happened */
	assert_int_equal(hist__counter_delta(4, 10), 4);
	/* an estimate undercut by a later exact count is no time */
	assert_int_equal(hist__estimate_delta(15, 10), 5);
	assert_int_equal(hist__estimate_delta(9, 10), 0);
	/* a 32-bit slot that wrapped while its 64-bit count went on */
	before[3] = UINT32_MAX - 1;
	now[3] = 3;
	now[4] = 8;
	before[4] = 2;
	hist__delta(d, now, before, N, false);
	assert_int_equal(d[3], 5);
	assert_int_equal(d[4], 6);
	hist__delta(d, now, before, N, true);
	assert_int_equal(d[3], 3);
	assert_int_equal(d[4], 8);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_slots),	    cmocka_unit_test(test_empty),
		cmocka_unit_test(test_single_slot), cmocka_unit_test(test_two_modes),
		cmocka_unit_test(test_last_slot),   cmocka_unit_test(test_rank),
		cmocka_unit_test(test_deltas),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
