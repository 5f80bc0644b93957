/* SPDX-License-Identifier: GPL-2.0 */
/*
 * The frame of the tests/bpf cmocka programs: a tracer with real skeletons on
 * a pin root of the test's own (removed at the end), the fd of the test-run
 * program the tests drive, and exit 77 when not root. Include after cmocka.h.
 */
#ifndef KVMPILOT_BPFTEST_H
#define KVMPILOT_BPFTEST_H

#include <errno.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include "trace.h"

static inline int bpftest_main(const struct CMUnitTest *tests, size_t ntests, const char *prog,
			       struct trace **tr, int *prog_fd)
{
	struct trace_opts opts = { 0 };
	char pin_root[128];
	int rc;

	if (geteuid() != 0) {
		printf("skip: needs root\n");
		return 77;
	}
	snprintf(pin_root, sizeof(pin_root), "/sys/fs/bpf/kvmpilot-test-%d", getpid());
	opts.pin_root = pin_root;
	if (trace__ensure_fs()) {
		fprintf(stderr, "cannot mount bpffs/tracefs\n");
		return 1;
	}
	*tr = trace__open(&opts);
	if (!*tr) {
		fprintf(stderr, "trace__open: %s\n", strerror(errno));
		(void)trace__unpin(pin_root, true);
		return 1;
	}
	*prog_fd = trace__prog_fd(*tr, prog);
	if (*prog_fd < 0) {
		fprintf(stderr, "no program '%s': %s\n", prog, strerror(-*prog_fd));
		rc = 1;
	} else {
		rc = _cmocka_run_group_tests(prog, tests, ntests, NULL, NULL);
	}
	trace__close(*tr);
	*tr = NULL;
	(void)trace__unpin(pin_root, true);
	return rc;
}

#endif /* KVMPILOT_BPFTEST_H */
