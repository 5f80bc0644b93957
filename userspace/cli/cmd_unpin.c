// SPDX-License-Identifier: GPL-2.0
/*
 * kvmpilot unpin [--pin-root DIR] [--force]: remove the BPF maps pinned by
 * stat/run (and so their counters). Refuses while a kvmpilot uses them.
 */
#include <errno.h>
#include <getopt.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include "cli.h"
#include "cmds.h"
#include "trace.h"
#include "util.h"

static void usage(FILE *out)
{
	fprintf(out,
		"Usage: kvmpilot unpin [--pin-root DIR] [--force]\n\n"
		"Remove the BPF maps kvmpilot pinned under %s (or $%s) and with\n"
		"them every counter; the next 'kvmpilot stat' or 'run' starts from zero.\n\n"
		"      --pin-root DIR   the pin folder (default $%s or %s)\n"
		"  -f, --force          even while a kvmpilot is running on them\n"
		"  -h, --help           this text\n",
		TRACE_PIN_ROOT_DEFAULT, TRACE_PIN_ROOT_ENV, TRACE_PIN_ROOT_ENV,
		TRACE_PIN_ROOT_DEFAULT);
}

int do_unpin(int argc, char **argv)
{
	static const struct option longopts[] = {
		{ "pin-root", required_argument, NULL, 'P' },
		{ "force", no_argument, NULL, 'f' },
		{ "help", no_argument, NULL, 'h' },
		{ 0 },
	};
	const char *root = NULL;
	bool force = false;
	int opt, err;

	optind = 1;
	opterr = 0;
	while ((opt = getopt_long(argc, argv, ":fh", longopts, NULL)) != -1) {
		switch (opt) {
		case 'P':
			root = optarg;
			break;
		case 'f':
			force = true;
			break;
		case 'h':
			usage(stdout);
			return 0;
		default:
			return cli__bad_option(false, 2, "unpin", opt, argv[optind - 1]);
		}
	}
	if (optind < argc) {
		log_error("unexpected argument '%s'", argv[optind]);
		return 2;
	}
	if (geteuid() != 0) {
		log_error("unpin needs root");
		return 1;
	}
	root = trace__default_pin_root(root);
	err = trace__unpin(root, force);
	if (err == -EBUSY) {
		log_error("'%s' is in use by a running kvmpilot (stop it, or use --force)", root);
		return 1;
	}
	if (err) {
		log_error("cannot remove '%s': %s", root, strerror(-err));
		return 1;
	}
	printf("removed '%s'\n", root);
	return 0;
}
