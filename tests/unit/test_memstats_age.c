// SPDX-License-Identifier: GPL-2.0
/*
 * The age of balloon statistics (libvirt's balloon.last-update, the host's
 * real-time second when QEMU got them from the guest) and what the policy
 * does with it: frozen statistics go stale and never shrink a VM; a
 * last-update of 0 or in the future is of unknown age, never fresh. If this
 * breaks, a guest whose balloon driver stopped reporting is shrunk on
 * numbers from long ago.
 */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>
#include <cmocka.h>

#include "policy.h"
#include "virt.h"

#define NOW_NS (1796290201ull * 1000000000ull + 400000000ull) /* x.4 s */

static void test_age(void **state)
{
	double age = -1;

	(void)state;
	assert_int_equal(virt__memstats_age(1796290199, NOW_NS, &age), 0);
	assert_true(age > 2.39 && age < 2.41);
	/* QEMU truncates to the second: the current second is 0.4 s old */
	assert_int_equal(virt__memstats_age(1796290201, NOW_NS, &age), 0);
	assert_true(age > 0.39 && age < 0.41);
	/* the libvirt test driver's fixed value (1989): decades old, known */
	assert_int_equal(virt__memstats_age(627319920, NOW_NS, &age), 0);
	assert_true(age > 1e9);
}

static void test_age_unknown(void **state)
{
	double age = -1;

	(void)state;
	assert_int_equal(virt__memstats_age(0, NOW_NS, &age), -ENODATA);
	assert_int_equal(virt__memstats_age(UINT64_MAX, NOW_NS, &age), -ENODATA);
	assert_int_equal(virt__memstats_age(1796290202, NOW_NS, &age), -ERANGE);
	assert_int_equal(virt__memstats_age(UINT64_MAX - 1, NOW_NS, &age), -ERANGE);
	assert_true(age == -1); /* untouched */
}

/* An idle guest (500 of 3000 MiB used) by balloon statistics of a given last-update. */
static int shrinks(uint64_t last_update, bool *held_stale)
{
	struct policy_config cfg;
	struct policy_state st;
	struct policy_input in = { 0 };
	struct policy_decision d;
	bool shrunk = false;
	double age;

	policy_config__init(&cfg, POLICY_PREDICTIVE);
	cfg.stale_after_s = 5; /* agent_timeout_s */
	policy_state__init(&st);
	*held_stale = false;
	for (int i = 0; i < 10; i++) {
		memset(&in, 0, sizeof(in));
		in.source = POLICY_SRC_BALLOON;
		in.mem_total_mib = in.balloon_cur_mib = 3000;
		in.mem_used_mib = 500 + (i % 2);
		in.mem_avail_mib = in.mem_total_mib - in.mem_used_mib;
		in.balloon_max_mib = 4096;
		in.vcpu_busy = 0.5;
		in.guest_cpu_pct = 25;
		in.vcpus_online = 2;
		in.vcpus_present = 4;
		assert_int_equal(virt__memstats_age(last_update, NOW_NS, &age), 0);
		in.data_age_s = age;
		assert_int_equal(policy__decide(&cfg, &st, &in, &d), 0);
		shrunk |= d.target_mem_mib < 3000;
		*held_stale |= (d.flags & POLICY_HELD_STALE) != 0;
	}
	return shrunk;
}

static void test_frozen_never_shrinks(void **state)
{
	bool held;

	(void)state;
	/* updated a second ago: the idle guest is shrunk */
	assert_true(shrinks(1796290200, &held));
	assert_false(held);
	/* frozen for a minute, or since 1989: held, never shrunk */
	assert_false(shrinks(1796290141, &held));
	assert_true(held);
	assert_false(shrinks(627319920, &held));
	assert_true(held);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_age),
		cmocka_unit_test(test_age_unknown),
		cmocka_unit_test(test_frozen_never_shrinks),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
