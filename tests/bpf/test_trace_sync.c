// SPDX-License-Identifier: GPL-2.0
/*
 * trace__sync with a full tracking map (issue 13, item 2): more VMs than
 * KP_MAX_VMS used to make the sync stop at the first entry it could not
 * write, and the service then dropped the BPF data of every VM. Now the
 * entry that does not fit is counted and left untraced, and the VMs after
 * it are still synced. Real maps on a pin root of the test's own.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <cmocka.h>

#include "bpftest.h"
#include "track.h"
#include "trace.h"
#include "vm.h"

static struct trace *tr;
static int prog_fd;

#define FAKE_PID0 3000000 /* pids no process has here: the maps do not care */

static void fake_vm(struct vm_list *l, int pid, int tid0, int nvcpus)
{
	struct vm_desc *d = vm_list__add(l);

	assert_non_null(d);
	d->pid = pid;
	d->source = VM_SOURCE_PROC;
	d->start_time = 1000 + (uint64_t)pid;
	snprintf(d->name, sizeof(d->name), "vm-%d", pid);
	d->nvcpus = nvcpus;
	for (int i = 0; i < nvcpus; i++) {
		d->vcpus[i].index = i;
		d->vcpus[i].tid = tid0 + i;
	}
}

static void test_full_map(void **state)
{
	struct vm_list l = { 0 };
	struct trace_snapshot snap = { 0 };
	const struct trace_vm *y;
	unsigned long before;
	int last = 0;

	(void)state;
	/* The VM under watch (Y) and KP_MAX_VMS - 1 others: the map is full, all fit. */
	fake_vm(&l, FAKE_PID0, FAKE_PID0, 1);
	for (int i = 1; i < KP_MAX_VMS; i++)
		fake_vm(&l, FAKE_PID0 + 10 * i, 0, 0);
	before = trace__sync_failures(tr, NULL);
	assert_int_equal(trace__sync(tr, &l), 0);
	assert_int_equal(trace__sync_failures(tr, &last), before);
	assert_int_equal(last, 0);

	/*
	 * Then a new VM (X) that does not fit, listed before Y, and Y gains a
	 * vCPU: X is counted, Y is synced all the same.
	 */
	vm_list__clear(&l);
	for (int i = 1; i < KP_MAX_VMS; i++)
		fake_vm(&l, FAKE_PID0 + 10 * i, 0, 0);
	fake_vm(&l, FAKE_PID0 + 10 * KP_MAX_VMS, FAKE_PID0 + 10 * KP_MAX_VMS, 1);
	fake_vm(&l, FAKE_PID0, FAKE_PID0, 2);
	assert_int_equal(trace__sync(tr, &l), 0);
	assert_int_equal(trace__sync_failures(tr, &last), before + 1);
	assert_true(last < 0);

	assert_int_equal(trace__read(tr, &snap), 0);
	assert_int_equal(snap.n, KP_MAX_VMS);
	assert_null(trace_snapshot__find(&snap, FAKE_PID0 + 10 * KP_MAX_VMS));
	y = trace_snapshot__find(&snap, FAKE_PID0);
	assert_non_null(y);
	assert_int_equal(y->nvcpus, 2);
	assert_int_equal(y->vcpus[1].tid, FAKE_PID0 + 1);

	/* one VM fewer: X fits at the next sync, nothing more is counted */
	vm_list__clear(&l);
	for (int i = 2; i < KP_MAX_VMS; i++)
		fake_vm(&l, FAKE_PID0 + 10 * i, 0, 0);
	fake_vm(&l, FAKE_PID0 + 10 * KP_MAX_VMS, FAKE_PID0 + 10 * KP_MAX_VMS, 1);
	fake_vm(&l, FAKE_PID0, FAKE_PID0, 2);
	assert_int_equal(trace__sync(tr, &l), 0);
	assert_int_equal(trace__sync_failures(tr, &last), before + 1);
	assert_int_equal(last, 0);
	assert_int_equal(trace__read(tr, &snap), 0);
	assert_non_null(trace_snapshot__find(&snap, FAKE_PID0 + 10 * KP_MAX_VMS));

	trace_snapshot__free(&snap);
	vm_list__free(&l);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_full_map),
	};

	return bpftest_main(tests, sizeof(tests) / sizeof(tests[0]), "test_sched_event", &tr,
			    &prog_fd);
}
