// SPDX-License-Identifier: GPL-2.0
/* Placeholder until the 'stat' command lands; it fails loudly. */
#include "cmds.h"
#include "util.h"

int do_stat(int argc, char **argv)
{
	(void)argc;
	(void)argv;
	log_error("'stat' is not implemented yet");
	return 1;
}
