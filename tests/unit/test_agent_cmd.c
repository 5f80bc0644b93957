// SPDX-License-Identifier: GPL-2.0
/* The agent's command handler against a fake sysfs CPU tree. */
#include <errno.h>
#include <fcntl.h>
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

#include "cmd.h"

struct tree {
	char root[256];
};

static void put(const char *root, const char *rel, const char *content)
{
	char path[512];
	FILE *f;

	snprintf(path, sizeof(path), "%s/%s", root, rel);
	f = fopen(path, "w");
	assert_non_null(f);
	fputs(content, f);
	fclose(f);
}

static char get(const char *root, int cpu)
{
	char path[512], c = '?';
	int fd;

	snprintf(path, sizeof(path), "%s/devices/system/cpu/cpu%d/online", root, cpu);
	fd = open(path, O_RDONLY);
	assert_true(fd >= 0);
	assert_int_equal(read(fd, &c, 1), 1);
	close(fd);
	return c;
}

/* cpu0 (no online file, like x86), cpu1 online, cpu2 and cpu3 offline. */
static int setup(void **state)
{
	struct tree *t = calloc(1, sizeof(*t));
	char path[512];

	snprintf(t->root, sizeof(t->root), "/tmp/kvmpilot-test-agent-cmd.XXXXXX");
	if (!mkdtemp(t->root))
		return -1;
	snprintf(path, sizeof(path), "%s/devices", t->root);
	mkdir(path, 0755);
	snprintf(path, sizeof(path), "%s/devices/system", t->root);
	mkdir(path, 0755);
	snprintf(path, sizeof(path), "%s/devices/system/cpu", t->root);
	mkdir(path, 0755);
	for (int c = 0; c < 4; c++) {
		snprintf(path, sizeof(path), "%s/devices/system/cpu/cpu%d", t->root, c);
		mkdir(path, 0755);
	}
	put(t->root, "devices/system/cpu/present", "0-3\n");
	put(t->root, "devices/system/cpu/online", "0-1\n");
	put(t->root, "devices/system/cpu/cpu1/online", "1\n");
	put(t->root, "devices/system/cpu/cpu2/online", "0\n");
	put(t->root, "devices/system/cpu/cpu3/online", "0\n");
	*state = t;
	return 0;
}

static int teardown(void **state)
{
	struct tree *t = *state;
	char cmd[600];

	snprintf(cmd, sizeof(cmd), "rm -rf '%s'", t->root);
	if (system(cmd))
		return -1;
	free(t);
	return 0;
}

static void test_online_up_and_down(void **state)
{
	struct tree *t = *state;
	uint32_t online = 0, present = 0;

	assert_int_equal(agent_set_online_cpus(t->root, 3, &online, &present), 0);
	assert_int_equal(online, 3);
	assert_int_equal(present, 4);
	/* The lowest offline CPU comes up first. */
	assert_int_equal(get(t->root, 2), '1');
	assert_int_equal(get(t->root, 3), '0');

	assert_int_equal(agent_set_online_cpus(t->root, 4, &online, &present), 0);
	assert_int_equal(online, 4);
	assert_int_equal(get(t->root, 3), '1');

	/* The highest online CPU goes down first; cpu0 cannot go. */
	assert_int_equal(agent_set_online_cpus(t->root, 1, &online, &present), 0);
	assert_int_equal(online, 1);
	assert_int_equal(get(t->root, 1), '0');
	assert_int_equal(get(t->root, 2), '0');
	assert_int_equal(get(t->root, 3), '0');

	/* Already there: nothing written, still success. */
	assert_int_equal(agent_set_online_cpus(t->root, 1, &online, &present), 0);
	assert_int_equal(online, 1);
}

static void test_out_of_range(void **state)
{
	struct tree *t = *state;
	uint32_t online = 0, present = 0;

	assert_int_equal(agent_set_online_cpus(t->root, 5, &online, &present), -ERANGE);
	assert_int_equal(present, 4);
	assert_int_equal(agent_set_online_cpus(t->root, 0, &online, &present), -EINVAL);
	/* Nothing changed. */
	assert_int_equal(get(t->root, 1), '1');
	assert_int_equal(get(t->root, 2), '0');
	assert_int_equal(agent_set_online_cpus("/nonexistent", 1, &online, &present), -ENOENT);
}

static void test_write_failure(void **state)
{
	struct tree *t = *state;
	uint32_t online = 0, present = 0;
	char path[512];

	/* cpu2's online file cannot be written (a directory stands in its place). */
	snprintf(path, sizeof(path), "%s/devices/system/cpu/cpu2/online", t->root);
	assert_int_equal(unlink(path), 0);
	assert_int_equal(mkdir(path, 0755), 0);
	assert_int_not_equal(agent_set_online_cpus(t->root, 3, &online, &present), 0);
	/* The ack reports the real state, not the wish. */
	assert_true(online <= 3);
	assert_int_equal(present, 4);
	assert_int_equal(rmdir(path), 0);
	put(t->root, "devices/system/cpu/cpu2/online", "0\n");
}

static void test_handle_cmd(void **state)
{
	struct tree *t = *state;
	struct agent_cmd cmd = { .id = 5, .op = AGENT_OP_SET_CPUS, .arg = 2 };
	struct agent_ack ack;
	char line[AGENTPROTO_MAX_LINE];

	agent_handle_cmd(t->root, &cmd, &ack);
	assert_int_equal(ack.id, 5);
	assert_int_equal(ack.op, AGENT_OP_SET_CPUS);
	assert_int_equal(ack.rc, 0);
	assert_int_equal(ack.cpus_online, 2);
	assert_int_equal(ack.cpus_present, 4);
	assert_true(agentproto__format_ack(line, sizeof(line), &ack) > 0);

	cmd.arg = 9;
	agent_handle_cmd(t->root, &cmd, &ack);
	assert_int_equal(ack.rc, -ERANGE);
	assert_int_equal(ack.cpus_online, 2);

	cmd.op = AGENT_OP_REPORT_NOW;
	cmd.arg = 0;
	agent_handle_cmd(t->root, &cmd, &ack);
	assert_int_equal(ack.rc, 0);
	assert_int_equal(ack.op, AGENT_OP_REPORT_NOW);
	/* Restore the starting state for other tests. */
	cmd.op = AGENT_OP_SET_CPUS;
	cmd.arg = 2;
	agent_handle_cmd(t->root, &cmd, &ack);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(test_online_up_and_down, setup, teardown),
		cmocka_unit_test_setup_teardown(test_out_of_range, setup, teardown),
		cmocka_unit_test_setup_teardown(test_write_failure, setup, teardown),
		cmocka_unit_test_setup_teardown(test_handle_cmd, setup, teardown),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
