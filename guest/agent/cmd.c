// SPDX-License-Identifier: GPL-2.0
/* Host -> guest commands. CPU state is read per CPU so a fake sysfs tree behaves like the real one. */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include "cmd.h"
#include "agent_sample.h"

#define MASK_WORDS (AGENTPROTO_MAX_CPUS / 64)

static int cpu_path(char *buf, size_t size, const char *sys_root, uint32_t cpu)
{
	int n = snprintf(buf, size, "%s/devices/system/cpu/cpu%u/online", sys_root, cpu);

	return n < 0 || (size_t)n >= size ? -ENAMETOOLONG : 0;
}

/* 1 online, 0 offline; CPUs without an online file cannot go offline and count as online. */
static int cpu_state(const char *sys_root, uint32_t cpu, int *has_file)
{
	char path[AGENT_PATH_MAX], c = 0;
	int fd;

	*has_file = 0;
	if (cpu_path(path, sizeof(path), sys_root, cpu))
		return -ENAMETOOLONG;
	fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		return errno == ENOENT ? 1 : -errno;
	*has_file = 1;
	if (read(fd, &c, 1) != 1) {
		(void)close(fd);
		return -EIO;
	}
	(void)close(fd);
	return c == '1';
}

static int cpu_write(const char *sys_root, uint32_t cpu, int on)
{
	char path[AGENT_PATH_MAX];
	int fd, err = 0;

	if (cpu_path(path, sizeof(path), sys_root, cpu))
		return -ENAMETOOLONG;
	fd = open(path, O_WRONLY | O_CLOEXEC);
	if (fd < 0)
		return -errno;
	if (write(fd, on ? "1\n" : "0\n", 2) != 2)
		err = errno ? -errno : -EIO;
	(void)close(fd);
	return err;
}

static int count_online(const char *sys_root, const uint64_t *present, uint32_t *online)
{
	uint32_t n = 0;

	for (uint32_t c = 0; c < AGENTPROTO_MAX_CPUS; c++) {
		int has, st;

		if (!(present[c / 64] & (1ull << (c % 64))))
			continue;
		st = cpu_state(sys_root, c, &has);
		if (st < 0)
			return st;
		n += (uint32_t)st;
	}
	*online = n;
	return 0;
}

int agent_set_online_cpus(const char *sys_root, uint32_t want, uint32_t *online, uint32_t *present)
{
	uint64_t mask[MASK_WORDS];
	char path[AGENT_PATH_MAX], buf[1024];
	uint32_t npresent = 0, nonline = 0;
	int fd, err = -EINVAL;
	ssize_t n;

	*online = *present = 0;
	(void)snprintf(path, sizeof(path), "%s/devices/system/cpu/present", sys_root);
	fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		return -errno;
	n = read(fd, buf, sizeof(buf) - 1);
	(void)close(fd);
	if (n <= 0)
		return -EIO;
	buf[n] = '\0';
	err = agent_parse_cpu_list(buf, &npresent, mask, AGENTPROTO_MAX_CPUS);
	if (err)
		return err;
	*present = npresent;
	err = count_online(sys_root, mask, &nonline);
	if (err)
		return err;
	*online = nonline;
	if (want < 1)
		return -EINVAL;
	if (want > npresent)
		return -ERANGE;
	/* Online upwards from the lowest CPU, offline downwards from the highest. */
	for (uint32_t i = 0; i < AGENTPROTO_MAX_CPUS && nonline != want; i++) {
		uint32_t c = nonline < want ? i : AGENTPROTO_MAX_CPUS - 1 - i;
		int has, st;

		if (!(mask[c / 64] & (1ull << (c % 64))))
			continue;
		st = cpu_state(sys_root, c, &has);
		if (st < 0)
			return st;
		if (!has)
			continue;
		if (nonline < want && !st) {
			err = cpu_write(sys_root, c, 1);
			if (err)
				break;
			nonline++;
		} else if (nonline > want && st) {
			err = cpu_write(sys_root, c, 0);
			if (err)
				break;
			nonline--;
		}
	}
	/* Report what sysfs says now, not what we meant to do. */
	if (!count_online(sys_root, mask, online) && !err && *online != want)
		err = -EBUSY;
	return err;
}

void agent_handle_cmd(const char *sys_root, const struct agent_cmd *cmd, struct agent_ack *ack)
{
	uint32_t online = 0, present = 0;

	memset(ack, 0, sizeof(*ack));
	ack->id = cmd->id;
	ack->op = cmd->op;
	switch (cmd->op) {
	case AGENT_OP_SET_CPUS:
		ack->rc = agent_set_online_cpus(sys_root, cmd->arg, &online, &present);
		ack->cpus_online = online;
		ack->cpus_present = present;
		break;
	case AGENT_OP_REPORT_NOW:
	case AGENT_OP_PAUSE:
		ack->rc = 0;
		if (!agent_read_cpus(sys_root, &online, &present) && online && online <= present) {
			ack->cpus_online = online;
			ack->cpus_present = present;
		}
		break;
	default:
		ack->rc = -EOPNOTSUPP;
		break;
	}
}
