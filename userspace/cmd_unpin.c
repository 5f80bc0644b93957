// SPDX-License-Identifier: GPL-2.0
/* Placeholder until the 'unpin' command lands; it fails loudly. */
#include "cmds.h"
#include "util.h"

int do_unpin(int argc, char **argv)
{
	(void)argc;
	(void)argv;
	log_error("'unpin' is not implemented yet");
	return 1;
}
