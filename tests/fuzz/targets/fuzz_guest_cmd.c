// SPDX-License-Identifier: GPL-2.0
/*
 * A host command as the guest agent takes it (guest/agent/main.c): the line
 * parsed as host -> guest, carried out by agent_handle_cmd() over a fake
 * sysfs whose CPU files come from the input, and the ack written back. The
 * ack always answers the command asked, reads back on the host, and a
 * set-cpus that says it succeeded left exactly the CPUs asked for online.
 *
 * Input: pieces separated by 0xff: the command line, the 'present' CPU
 * list, the 'online' CPU list, then one byte per CPU 0..7 for its
 * cpuN/online file: '0' or '1' as content, anything else no file (a CPU
 * that cannot go offline, like cpu0).
 */
#include <errno.h>
#include <fcntl.h>
#include <ftw.h>
#include <limits.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "agentproto.h"
#include "cmd.h"
#include "fuzz.h"
#include "agent_sample.h"

#define NCPUS 8

static char root[PATH_MAX / 2], cpudir[PATH_MAX];

static void cleanup(void)
{
	fuzz_rm_tree(root);
}

static void make_tree(void)
{
	const char *tmp = access("/dev/shm", W_OK) ? (getenv("TMPDIR") ?: "/tmp") : "/dev/shm";
	char path[PATH_MAX + 16];

	(void)snprintf(root, sizeof(root), "%s/fuzz-agent-cmd.XXXXXX", tmp);
	if (!mkdtemp(root))
		abort();
	(void)atexit(cleanup);
	(void)snprintf(cpudir, sizeof(cpudir), "%s/devices", root);
	if (mkdir(cpudir, 0755))
		abort();
	(void)snprintf(cpudir, sizeof(cpudir), "%s/devices/system", root);
	if (mkdir(cpudir, 0755))
		abort();
	(void)snprintf(cpudir, sizeof(cpudir), "%s/devices/system/cpu", root);
	if (mkdir(cpudir, 0755))
		abort();
	for (int c = 0; c < NCPUS; c++) {
		(void)snprintf(path, sizeof(path), "%s/cpu%d", cpudir, c);
		if (mkdir(path, 0755))
			abort();
	}
}

static void put(const char *rel, const void *data, size_t len)
{
	char path[PATH_MAX + 16];
	int fd;

	(void)snprintf(path, sizeof(path), "%s/%s", cpudir, rel);
	fd = open(path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
	if (fd < 0 || (len && write(fd, data, len) != (ssize_t)len))
		abort();
	(void)close(fd);
}

/* -1: no file; else 0 or 1 as the agent reads it (first byte '1'). */
static int online_file(int c)
{
	char path[PATH_MAX + 16], b = 0;
	int fd;

	(void)snprintf(path, sizeof(path), "%s/cpu%d/online", cpudir, c);
	fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		return -1;
	if (read(fd, &b, 1) != 1)
		b = 0;
	(void)close(fd);
	return b == '1';
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	const uint8_t *line, *present, *online, *flags;
	size_t linelen, plen, olen, flen;
	struct agentproto_msg msg, back;
	enum agentproto_reject why;
	struct agent_ack ack;
	char out[AGENTPROTO_MAX_LINE], rel[32];
	uint64_t mask[AGENTPROTO_MAX_CPUS / 64];
	uint32_t npresent;
	char *list;
	int n;

	fuzz_split(&data, &size, 0xff, &line, &linelen);
	fuzz_split(&data, &size, 0xff, &present, &plen);
	fuzz_split(&data, &size, 0xff, &online, &olen);
	flags = data;
	flen = size;
	if (agentproto__parse((const char *)line, linelen, false, &msg, &why))
		return 0;
	FUZZ_CHECK(msg.type == AGENTPROTO_CMD, "the agent took a message of type %d",
		   (int)msg.type);

	if (!root[0])
		make_tree();
	put("present", present, plen);
	put("online", online, olen);
	for (int c = 0; c < NCPUS; c++) {
		(void)snprintf(rel, sizeof(rel), "cpu%d/online", c);
		if (c < (int)flen && (flags[c] == '0' || flags[c] == '1')) {
			put(rel, &flags[c], 1);
		} else {
			char path[PATH_MAX + 48];

			(void)snprintf(path, sizeof(path), "%s/%s", cpudir, rel);
			(void)unlink(path);
		}
	}

	agent_handle_cmd(root, &msg.cmd, &ack);
	FUZZ_CHECK(ack.id == msg.cmd.id && ack.op == msg.cmd.op, "ack %u/%d for command %u/%d",
		   ack.id, (int)ack.op, msg.cmd.id, (int)msg.cmd.op);
	FUZZ_CHECK(ack.rc <= 0 && ack.rc >= -4095, "rc %d", ack.rc);
	n = agentproto__format_ack(out, sizeof(out), &ack);
	FUZZ_CHECK(n > 0, "the agent cannot write its ack: %d", n);
	/* as for samples: only a CPU count beyond the host's range may be refused */
	if (agentproto__parse(out, (size_t)n - 1, true, &back, &why))
		FUZZ_CHECK(why == AP_REJ_OUT_OF_RANGE, "the host refuses the ack (%s): %.*s",
			   agentproto__reject_name(why), n, out);

	if (msg.cmd.op == AGENT_OP_SET_CPUS && ack.rc == 0) {
		uint32_t on = 0;

		FUZZ_CHECK(ack.cpus_online == msg.cmd.arg, "set-cpus %u succeeded with %u online",
			   msg.cmd.arg, ack.cpus_online);
		/* what sysfs says now, over the present CPUs this tree has files for */
		list = fuzz_strndup(present, plen);
		FUZZ_CHECK(!agent_parse_cpu_list(list, &npresent, mask, AGENTPROTO_MAX_CPUS),
			   "set-cpus succeeded on a present list it cannot read");
		free(list);
		for (uint32_t c = 0; c < AGENTPROTO_MAX_CPUS; c++) {
			if (!(mask[c / 64] & (1ull << (c % 64))))
				continue;
			on += c < NCPUS ? (online_file((int)c) != 0) : 1;
		}
		FUZZ_CHECK(on == msg.cmd.arg, "set-cpus %u left %u online", msg.cmd.arg, on);
	}
	return 0;
}
