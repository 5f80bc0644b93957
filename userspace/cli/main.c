// SPDX-License-Identifier: GPL-2.0
/* kvmpilot: the command table; every subcommand lives in its own module. */
#include <stdio.h>
#include <string.h>

#include "cmds.h"
#include "kvmpilot.h"
#include "util.h"

struct cmd {
	const char *name;
	int (*func)(int argc, char **argv);
	const char *help;
};

static int do_help(int argc, char **argv);

static const struct cmd cmds[] = {
	{ "stat", do_stat, "trace every QEMU process and print per-VM statistics" },
	{ "run", do_run, "the autoscaling service with its HTTP dashboard and API" },
	{ "replay", do_replay, "replay demand traces through a policy and score it" },
	{ "vm", do_vm, "create, list and destroy guests through libvirt" },
	{ "domains", do_domains, "list the running libvirt domains as kvmpilot sees them" },
	{ "act", do_act, "resize one domain (balloon, vCPUs) through the actuators" },
	{ "agent", do_agent, "read a VM's guest agent samples or send it a command" },
	{ "unpin", do_unpin, "remove the BPF maps pinned under /sys/fs/bpf/kvmpilot" },
	{ "help", do_help, "this text" },
};

static int do_help(int argc, char **argv)
{
	(void)argc;
	(void)argv;
	printf("Usage: kvmpilot COMMAND [OPTIONS]\n\nCommands:\n");
	for (size_t i = 0; i < ARRAY_SIZE(cmds); i++)
		printf("  %-8s %s\n", cmds[i].name, cmds[i].help);
	printf("\nEvery command takes --help. Version " KVMPILOT_VERSION ".\n");
	return 0;
}

int main(int argc, char **argv)
{
	if (argc < 2) {
		(void)do_help(0, NULL);
		return 2;
	}
	if (!strcmp(argv[1], "--help") || !strcmp(argv[1], "-h"))
		return do_help(0, NULL);
	if (!strcmp(argv[1], "--version") || !strcmp(argv[1], "version")) {
		printf("kvmpilot " KVMPILOT_VERSION "\n");
		return 0;
	}
	for (size_t i = 0; i < ARRAY_SIZE(cmds); i++) {
		if (!strcmp(argv[1], cmds[i].name))
			return cmds[i].func(argc - 1, argv + 1);
	}
	log_error("unknown command '%s' (see 'kvmpilot help')", argv[1]);
	return 2;
}
