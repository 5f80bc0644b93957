// SPDX-License-Identifier: GPL-2.0
/* Placeholder until the 'vm' command lands; it fails loudly. */
#include "cmds.h"
#include "util.h"

int do_vm(int argc, char **argv)
{
	(void)argc;
	(void)argv;
	log_error("'vm' is not implemented yet");
	return 1;
}
