// SPDX-License-Identifier: GPL-2.0
/* progress: a slow call is named while it waits and when it ends; a fast one is silent. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <cmocka.h>

#include "progress.h"
#include "util.h"

/* Sends stderr to a temporary file; stderr_back() restores it and reads the file. */
static int stderr_to(FILE **tmp, int *saved)
{
	*tmp = tmpfile();
	if (!*tmp)
		return -1;
	fflush(stderr);
	*saved = dup(STDERR_FILENO);
	return dup2(fileno(*tmp), STDERR_FILENO) < 0 ? -1 : 0;
}

static void stderr_back(FILE *tmp, int saved, char *buf, size_t size)
{
	size_t n;

	fflush(stderr);
	dup2(saved, STDERR_FILENO);
	close(saved);
	rewind(tmp);
	n = fread(buf, 1, size - 1, tmp);
	buf[n] = '\0';
	fclose(tmp);
}

/* Reads what stderr got so far, without restoring it. */
static void peek(FILE *tmp, char *buf, size_t size)
{
	size_t n;

	fflush(stderr);
	rewind(tmp);
	n = fread(buf, 1, size - 1, tmp);
	buf[n] = '\0';
	fseek(tmp, 0, SEEK_END);
}

static void test_slow_call_is_named(void **state)
{
	char out[4096] = "";
	struct progress *p;
	int saved;
	FILE *tmp;

	(void)state;
	assert_int_equal(stderr_to(&tmp, &saved), 0);
	p = progress__begin("defining the domain", 20);
	assert_non_null(p);
	/* The call "blocks" until the user has been told what it waits for. */
	for (int i = 0; i < 500 && !strstr(out, "still waiting"); i++) {
		struct timespec ts = { 0, 10 * 1000000 };

		nanosleep(&ts, NULL);
		peek(tmp, out, sizeof(out));
	}
	assert_true(progress__end(p) >= 0.02);
	stderr_back(tmp, saved, out, sizeof(out));
	assert_non_null(strstr(out, "defining the domain: still waiting after"));
	assert_non_null(strstr(out, "defining the domain took "));
}

static void test_fast_call_is_silent(void **state)
{
	char out[4096];
	struct progress *p;
	int saved;
	FILE *tmp;

	(void)state;
	assert_int_equal(stderr_to(&tmp, &saved), 0);
	p = progress__begin("connecting to libvirt", 60000);
	assert_non_null(p);
	assert_true(progress__end(p) < 60);
	stderr_back(tmp, saved, out, sizeof(out));
	assert_string_equal(out, "");
	assert_true(progress__end(NULL) == 0);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_slow_call_is_named),
		cmocka_unit_test(test_fast_call_is_silent),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
