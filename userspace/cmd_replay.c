// SPDX-License-Identifier: GPL-2.0
/* Placeholder until the 'replay' command lands; it fails loudly. */
#include "cmds.h"
#include "util.h"

int do_replay(int argc, char **argv)
{
	(void)argc;
	(void)argv;
	log_error("'replay' is not implemented yet");
	return 1;
}
