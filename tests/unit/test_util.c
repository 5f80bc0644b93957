// SPDX-License-Identifier: GPL-2.0
/* The number parser guards every option and every guest value. */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>
#include <cmocka.h>

#include "util.h"

static void test_parse_u64(void **state)
{
	uint64_t v = 0;

	(void)state;
	assert_int_equal(parse_u64("42", 0, 100, &v), 0);
	assert_int_equal(v, 42);
	assert_int_equal(parse_u64("101", 0, 100, &v), -ERANGE);
	assert_int_equal(parse_u64("-1", 0, 100, &v), -EINVAL);
	assert_int_equal(parse_u64("12x", 0, 100, &v), -EINVAL);
	assert_int_equal(parse_u64("", 0, 100, &v), -EINVAL);
	assert_int_equal(parse_u64("99999999999999999999999", 0, UINT64_MAX, &v), -ERANGE);
	assert_int_equal(v, 42);
	/* strtoull() skips any blank and wraps "-1": no blank may slip a sign in. */
	assert_int_equal(parse_u64("\t-1", 0, UINT64_MAX, &v), -EINVAL);
	assert_int_equal(parse_u64("\n5", 0, UINT64_MAX, &v), -EINVAL);
	assert_int_equal(parse_u64(" 5", 0, UINT64_MAX, &v), -EINVAL);
	assert_int_equal(v, 42);
}

static void test_parse_i64_double(void **state)
{
	int64_t i = 0;
	double d = 0;

	(void)state;
	assert_int_equal(parse_i64("-5", -10, 10, &i), 0);
	assert_int_equal(i, -5);
	assert_int_equal(parse_i64("-11", -10, 10, &i), -ERANGE);
	assert_int_equal(parse_double("0.5", 0, 1, &d), 0);
	assert_true(d == 0.5);
	assert_int_equal(parse_double("nan", 0, 1, &d), -EINVAL);
	assert_int_equal(parse_double("inf", 0, 1e9, &d), -EINVAL);
	assert_int_equal(parse_double("1.5", 0, 1, &d), -ERANGE);
	assert_int_equal(parse_i64("\t5", -10, 10, &i), -EINVAL);
	assert_int_equal(parse_double("\v0.5", 0, 1, &d), -EINVAL);
}

static void test_opt_numbers(void **state)
{
	char msg[128] = "";
	uint64_t v = 7;
	double d = 0;

	(void)state;
	assert_int_equal(opt_u64("count", "12", 1, 100, &v, msg, sizeof(msg)), 0);
	assert_int_equal(v, 12);
	assert_int_equal(opt_u64("count", "x12", 1, 100, &v, msg, sizeof(msg)), -EINVAL);
	assert_string_equal(msg, "invalid count 'x12' (1 to 100)");
	assert_int_equal(opt_u64("count", "0", 1, 100, &v, msg, sizeof(msg)), -ERANGE);
	assert_int_equal(v, 12);
	assert_int_equal(opt_double("interval", "0", 0.1, 3600, &d, msg, sizeof(msg)), -ERANGE);
	assert_string_equal(msg, "invalid interval '0' (0.1 to 3600)");
	/* Without a buffer the message is logged; a cut one stays terminated. */
	assert_int_equal(opt_u64("count", "", 1, 100, &v, NULL, 0), -EINVAL);
	assert_int_equal(opt_u64("count", "abc", 1, 100, &v, msg, 8), -EINVAL);
	assert_string_equal(msg, "invalid");
}

static void test_str_copy(void **state)
{
	char buf[4];

	(void)state;
	assert_int_equal(str_copy(buf, "abc", sizeof(buf)), 0);
	assert_string_equal(buf, "abc");
	assert_int_equal(str_copy(buf, "abcd", sizeof(buf)), -E2BIG);
	assert_string_equal(buf, "abc");
}

/* The service's data folder and vm create's state folder: parents made, an existing one kept. */
static void test_mkdir_p(void **state)
{
	char top[] = "/tmp/kp-mkdirp-XXXXXX", path[256], longp[5000];
	struct stat st;

	(void)state;
	assert_non_null(mkdtemp(top));
	snprintf(path, sizeof(path), "%s/a/b/c", top);
	assert_int_equal(mkdir_p(path, 0700), 0);
	assert_int_equal(stat(path, &st), 0);
	assert_true(S_ISDIR(st.st_mode));
	assert_int_equal(st.st_mode & 0777, 0700);
	assert_int_equal(mkdir_p(path, 0700), 0); /* exists: fine */
	snprintf(path, sizeof(path), "%s/a/b", top);
	assert_int_equal(stat(path, &st), 0);
	assert_int_equal(st.st_mode & 0777, 0755 & ~umask(022));
	/* a file where a folder must be */
	snprintf(path, sizeof(path), "%s/f", top);
	fclose(fopen(path, "w"));
	snprintf(path, sizeof(path), "%s/f/x", top);
	assert_int_equal(mkdir_p(path, 0755), -ENOTDIR);
	memset(longp, 'a', sizeof(longp) - 1);
	longp[0] = '/';
	longp[sizeof(longp) - 1] = '\0';
	assert_int_equal(mkdir_p(longp, 0755), -ENAMETOOLONG);
	snprintf(path, sizeof(path), "rm -rf '%s'", top);
	assert_int_equal(system(path), 0);
}

static void test_ratelimit(void **state)
{
	struct ratelimit rl = RATELIMIT_INIT(1000000000ull, 2);
	uint64_t t = 5000000000ull;

	(void)state;
	assert_true(ratelimit__allow(&rl, t));
	assert_true(ratelimit__allow(&rl, t));
	assert_false(ratelimit__allow(&rl, t + 1));
	assert_int_equal(rl.suppressed, 1);
	assert_true(ratelimit__allow(&rl, t + 1000000000ull));
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_parse_u64),   cmocka_unit_test(test_parse_i64_double),
		cmocka_unit_test(test_opt_numbers), cmocka_unit_test(test_str_copy),
		cmocka_unit_test(test_ratelimit),   cmocka_unit_test(test_mkdir_p),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
