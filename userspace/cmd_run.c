// SPDX-License-Identifier: GPL-2.0
/* Placeholder until the 'run' command lands; it fails loudly. */
#include "cmds.h"
#include "util.h"

int do_run(int argc, char **argv)
{
	(void)argc;
	(void)argv;
	log_error("'run' is not implemented yet");
	return 1;
}
