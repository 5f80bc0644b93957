// SPDX-License-Identifier: GPL-2.0
/*
 * The host arbiter: the budget holds on random inputs, floors are kept,
 * shares are respected, slack goes before anyone's floor, the overcommitted
 * state, the reason, and the same inputs always give the same grants.
 */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <cmocka.h>

#include "arbiter.h"

static struct arbiter_vm vm_mem(uint64_t used, uint64_t floor, uint64_t need, uint64_t wish,
				unsigned int shares)
{
	return (struct arbiter_vm){
		.mem_min_mib = 256,
		.mem_max_mib = 4096,
		.used_mib = used,
		.floor_mib = floor,
		.need_mib = need,
		.wish_mib = wish,
		.alloc_mib = floor,
		.shares = shares,
		.vcpu_min = 1,
		.vcpu_max = 4,
		.vcpus = 1,
		.vcpu_wish = 1,
	};
}

/* xorshift64*: the same sequence on every machine. */
static uint64_t rnd(uint64_t *s)
{
	*s ^= *s >> 12;
	*s ^= *s << 25;
	*s ^= *s >> 27;
	return *s * 2685821657736338717ull;
}

static uint64_t rnd_in(uint64_t *s, uint64_t lo, uint64_t hi)
{
	return lo + rnd(s) % (hi - lo + 1);
}

static uint64_t clampu(uint64_t v, uint64_t lo, uint64_t hi)
{
	return v < lo ? lo : v > hi ? hi : v;
}

static void test_random_budget_floors(void **state)
{
	struct arbiter_vm vms[16];
	struct arbiter_grant g[16], g2[16];
	struct arbiter_result res, res2;
	uint64_t seed = 12;
	unsigned int fits_floor = 0, fits_wish = 0, contended = 0;

	(void)state;
	for (int iter = 0; iter < 20000; iter++) {
		size_t n = (size_t)rnd_in(&seed, 1, 16);
		struct arbiter_budget b = { 0 };
		uint64_t hard_sum = 0, floor_sum = 0, wish_sum = 0, sum = 0;
		unsigned int vmin_sum = 0, vwish_sum = 0, vsum = 0;

		for (size_t i = 0; i < n; i++) {
			struct arbiter_vm *v = &vms[i];

			v->mem_min_mib = rnd_in(&seed, 0, 512);
			v->mem_max_mib = rnd_in(&seed, v->mem_min_mib, 8192);
			v->used_mib = rnd_in(&seed, 0, 8192);
			v->floor_mib = v->used_mib + rnd_in(&seed, 0, 256);
			v->need_mib = rnd(&seed) % 4 ? rnd_in(&seed, 0, 8192) : 0;
			v->wish_mib = rnd_in(&seed, 0, 8192);
			v->alloc_mib = rnd_in(&seed, 0, 8192);
			v->shares = (unsigned int)rnd_in(&seed, 0, 5000);
			v->vcpu_min = (unsigned int)rnd_in(&seed, 1, 2);
			v->vcpu_max = (unsigned int)rnd_in(&seed, v->vcpu_min, 8);
			v->vcpus = v->vcpu_min;
			v->vcpu_need = (unsigned int)rnd_in(&seed, 0, 8);
			v->vcpu_wish = (unsigned int)rnd_in(&seed, 0, 8);
			hard_sum += clampu(v->used_mib, v->mem_min_mib, v->mem_max_mib);
			floor_sum += clampu(v->floor_mib,
					    clampu(v->used_mib, v->mem_min_mib, v->mem_max_mib),
					    v->mem_max_mib);
			wish_sum +=
				clampu(v->wish_mib,
				       clampu(v->floor_mib,
					      clampu(v->used_mib, v->mem_min_mib, v->mem_max_mib),
					      v->mem_max_mib),
				       v->mem_max_mib);
			vmin_sum += v->vcpu_min;
			vwish_sum += (unsigned int)clampu(v->vcpu_wish, v->vcpu_min, v->vcpu_max);
		}
		/* A budget that holds what the guests use (as in replay), sometimes plenty. */
		b.mem_mib = hard_sum + rnd_in(&seed, 0, rnd(&seed) % 2 ? 2000 : 40000);
		b.vcpus = rnd(&seed) % 3 ? vmin_sum + (unsigned int)rnd_in(&seed, 0, 12) : 0;
		assert_int_equal(arbiter__run(&b, vms, n, g, &res), 0);
		for (size_t i = 0; i < n; i++) {
			const struct arbiter_vm *v = &vms[i];
			uint64_t hard = clampu(v->used_mib, v->mem_min_mib, v->mem_max_mib);
			uint64_t floor = clampu(v->floor_mib, hard, v->mem_max_mib);
			uint64_t wish = clampu(v->wish_mib, floor, v->mem_max_mib);

			/* Never below what the guest uses, nor the bounds. */
			assert_true(g[i].mem_mib >= hard);
			assert_true(g[i].mem_mib <= v->mem_max_mib);
			assert_true(g[i].mem_mib <= wish);
			if (floor_sum <= b.mem_mib)
				assert_true(g[i].mem_mib >= floor);
			if (wish_sum <= b.mem_mib)
				assert_int_equal(g[i].mem_mib, wish);
			assert_int_equal(!!(g[i].flags & ARBITER_MEM_CUT), g[i].mem_mib < wish);
			assert_int_equal(!!g[i].reason[0],
					 !!(g[i].flags & (ARBITER_MEM_CUT | ARBITER_VCPU_CUT)));
			assert_true(g[i].vcpus >= v->vcpu_min && g[i].vcpus <= v->vcpu_max);
			sum += g[i].mem_mib;
			vsum += g[i].vcpus;
		}
		assert_true(sum <= b.mem_mib);
		assert_int_equal(sum, res.mem_granted_mib);
		if (b.vcpus)
			assert_true(vsum <= b.vcpus);
		if (!b.vcpus || vwish_sum <= b.vcpus)
			assert_int_equal(vsum, vwish_sum);
		/* Work-conserving: when someone is cut, the budget is used up. */
		if (wish_sum > b.mem_mib)
			assert_int_equal(sum, b.mem_mib);
		assert_int_equal(!!(res.flags & ARBITER_OVERCOMMITTED), floor_sum > b.mem_mib);
		assert_false(res.flags & ARBITER_OVER_BUDGET);
		fits_floor += floor_sum <= b.mem_mib && wish_sum > b.mem_mib;
		fits_wish += wish_sum <= b.mem_mib;
		contended += floor_sum > b.mem_mib;

		/* Same inputs, same grants. */
		assert_int_equal(arbiter__run(&b, vms, n, g2, &res2), 0);
		assert_memory_equal(g, g2, n * sizeof(g[0]));
		assert_memory_equal(&res, &res2, sizeof(res));
	}
	/* The random inputs cover every regime. */
	assert_true(fits_floor > 1000 && fits_wish > 1000 && contended > 1000);
}

/* Two equal VMs with shares 2:1 under contention grow 2:1 above the same floor. */
static void test_shares(void **state)
{
	struct arbiter_vm v[2] = { vm_mem(872, 1000, 3000, 3000, 2000),
				   vm_mem(872, 1000, 3000, 3000, 1000) };
	struct arbiter_budget b = { .mem_mib = 3200, .vcpus = 5 };
	struct arbiter_grant g[2];
	struct arbiter_result res;

	(void)state;
	v[0].vcpu_wish = v[1].vcpu_wish = 4;
	assert_int_equal(arbiter__run(&b, v, 2, g, &res), 0);
	assert_int_equal(g[0].mem_mib, 1800);
	assert_int_equal(g[1].mem_mib, 1400);
	/* vCPUs: 3 above the floors of 1, split 2:1. */
	assert_int_equal(g[0].vcpus, 3);
	assert_int_equal(g[1].vcpus, 2);
	assert_true(g[1].flags & ARBITER_VCPU_CUT);
	assert_non_null(strstr(g[1].reason, "wish 3000 -> 1400 (shares 1000 of 3000)"));
	assert_non_null(strstr(g[1].reason, "host: budget 3200 MiB, 3200 granted, "));
	assert_non_null(strstr(g[1].reason, "host: budget 5 vCPUs, 5 granted, wish 4 -> 2"));

	/* A unit that cannot be split goes to the VM that holds it now. */
	b.vcpus = 3;
	v[0].shares = v[1].shares = 1000;
	v[1].vcpus = 2;
	assert_int_equal(arbiter__run(&b, v, 2, g, &res), 0);
	assert_int_equal(g[0].vcpus, 1);
	assert_int_equal(g[1].vcpus, 2);
	v[1].vcpus = 1;
	assert_int_equal(arbiter__run(&b, v, 2, g, &res), 0);
	assert_int_equal(g[0].vcpus, 2);
	assert_int_equal(g[1].vcpus, 1);

	/* The default shares are 1000 each: an even split. */
	v[0].shares = v[1].shares = 0;
	b.vcpus = 0;
	assert_int_equal(arbiter__run(&b, v, 2, g, &res), 0);
	assert_int_equal(g[0].mem_mib, 1600);
	assert_int_equal(g[1].mem_mib, 1600);

	/* A VM whose need is small leaves the rest to the other. */
	v[1].need_mib = v[1].wish_mib = 1100;
	assert_int_equal(arbiter__run(&b, v, 2, g, &res), 0);
	assert_int_equal(g[1].mem_mib, 1100);
	assert_int_equal(g[0].mem_mib, 2100);
	assert_string_equal(g[1].reason, "");
}

/* Slack (wish above the forecast band) goes before anyone's need or floor. */
static void test_slack_first(void **state)
{
	/* A holds 2000 but its band needs 800; B needs 2500. */
	struct arbiter_vm v[2] = { vm_mem(400, 500, 800, 2000, 1000),
				   vm_mem(1400, 1500, 2500, 2500, 1000) };
	struct arbiter_budget b = { .mem_mib = 3300 };
	struct arbiter_grant g[2];
	struct arbiter_result res;

	(void)state;
	v[0].alloc_mib = 2000;
	assert_int_equal(arbiter__run(&b, v, 2, g, &res), 0);
	assert_int_equal(g[1].mem_mib, 2500);
	assert_int_equal(g[0].mem_mib, 800);
	assert_false(res.flags & ARBITER_OVERCOMMITTED);

	/* Tighter: the needs are shared above the floors, A's slack is gone first. */
	b.mem_mib = 2500;
	assert_int_equal(arbiter__run(&b, v, 2, g, &res), 0);
	assert_int_equal(g[0].mem_mib, 750);
	assert_int_equal(g[1].mem_mib, 1750);

	/* Tighter still: floors kept, nothing above. */
	b.mem_mib = 2000;
	assert_int_equal(arbiter__run(&b, v, 2, g, &res), 0);
	assert_int_equal(g[0].mem_mib, 500);
	assert_int_equal(g[1].mem_mib, 1500);
	assert_false(res.flags & ARBITER_OVERCOMMITTED);
}

static void test_overcommitted(void **state)
{
	struct arbiter_vm v[3] = { vm_mem(900, 1028, 1400, 1400, 0),
				   vm_mem(900, 1028, 1400, 1400, 0),
				   vm_mem(900, 1028, 1400, 1400, 0) };
	struct arbiter_budget b = { .mem_mib = 3000 };
	struct arbiter_grant g[3];
	struct arbiter_result res;

	(void)state;
	/* Floors 3084 > 3000, what the guests use (2700) fits: shared above it. */
	assert_int_equal(arbiter__run(&b, v, 3, g, &res), 0);
	assert_true(res.flags & ARBITER_OVERCOMMITTED);
	assert_false(res.flags & ARBITER_OVER_BUDGET);
	assert_int_equal(res.mem_floors_mib, 3084);
	for (int i = 0; i < 3; i++) {
		assert_int_equal(g[i].mem_mib, 1000);
		assert_true(g[i].flags & ARBITER_OVERCOMMITTED);
		assert_string_equal(g[i].reason,
				    "host: overcommitted, floors 3084 MiB > budget "
				    "3000 MiB, wish 1400 -> 1000 (shares 1000 of 3000)");
	}
	/* Not even that fits: the guests keep what they use, over the budget. */
	b.mem_mib = 2000;
	assert_int_equal(arbiter__run(&b, v, 3, g, &res), 0);
	assert_true(res.flags & ARBITER_OVER_BUDGET);
	for (int i = 0; i < 3; i++)
		assert_int_equal(g[i].mem_mib, 900);
	assert_int_equal(res.mem_granted_mib, 2700);

	/* vCPUs: minimums above the budget keep the minimums. */
	struct arbiter_budget bv = { .mem_mib = 10000, .vcpus = 2 };

	assert_int_equal(arbiter__run(&bv, v, 3, g, &res), 0);
	assert_true(res.flags & ARBITER_OVERCOMMITTED);
	assert_int_equal(res.vcpus_granted, 3);
}

/* The example, reproduced. */
static void test_reason_example(void **state)
{
	struct arbiter_vm v[3] = { vm_mem(1000, 1000, 1400, 1400, 1000),
				   vm_mem(800, 828, 828, 828, 1000),
				   vm_mem(900, 1000, 1000, 1000, 1000) };
	struct arbiter_budget b = { .mem_mib = 3072 };
	struct arbiter_grant g[3];
	struct arbiter_result res;

	(void)state;
	assert_int_equal(arbiter__run(&b, v, 3, g, &res), 0);
	assert_int_equal(g[0].mem_mib, 3072 - 828 - 1000);
	assert_string_equal(g[0].reason, "host: budget 3072 MiB, 3072 granted, wish 1400 -> "
					 "1244 (shares 1000 of 3000)");
	assert_string_equal(g[1].reason, "");
}

static void test_invalid(void **state)
{
	struct arbiter_vm v = vm_mem(100, 300, 400, 500, 0);
	struct arbiter_budget b = { .mem_mib = 1000 };
	struct arbiter_grant g;
	struct arbiter_result res;

	(void)state;
	assert_int_equal(arbiter__run(&b, &v, 0, &g, &res), -EINVAL);
	v.mem_min_mib = 5000;
	assert_int_equal(arbiter__run(&b, &v, 1, &g, &res), -EINVAL);
	v = vm_mem(100, 300, 400, 500, ARBITER_SHARES_MAX + 1);
	assert_int_equal(arbiter__run(&b, &v, 1, &g, &res), -EINVAL);
	v = vm_mem(100, 300, 400, 500, 0);
	v.vcpu_min = 0;
	assert_int_equal(arbiter__run(&b, &v, 1, &g, &res), -EINVAL);
	v.vcpu_min = 3;
	v.vcpu_max = 2;
	assert_int_equal(arbiter__run(&b, &v, 1, &g, &res), -EINVAL);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_random_budget_floors), cmocka_unit_test(test_shares),
		cmocka_unit_test(test_slack_first),	     cmocka_unit_test(test_overcommitted),
		cmocka_unit_test(test_reason_example),	     cmocka_unit_test(test_invalid),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
