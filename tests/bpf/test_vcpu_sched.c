// SPDX-License-Identifier: GPL-2.0
/*
 * vCPU run time, run-queue wait and emulator time through the real maps:
 * synthetic sched_switch / sched_wakeup sequences go through
 * test_sched_event (BPF_PROG_TEST_RUN), which shares its code with the
 * tp_btf programs; trace__read must report exactly the expected times.
 */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>
#include <cmocka.h>

#include <bpf/bpf.h>
#include <bpf/libbpf.h>

#include "track.h"
#include "vcpu.h"
#include "trace.h"
#include "util.h"
#include "bpftest.h"

#define VM  4000100 /* above pid_max: never a real process */
#define VC0 4000101
#define EMU 4000102
#define VM2 4000300
#define UT  4000200 /* an untracked process */
#define UT1 4000201
#define UT2 4000202

static struct trace *tr;
static int test_fd;

static void ev(__u64 op, __u64 tgid_a, __u64 tid_a, __u64 runnable, __u64 tgid_b, __u64 tid_b,
	       __u64 t, __u64 rt_a, __u64 rt_b)
{
	__u64 args[9] = { op, tgid_a, tid_a, runnable, tgid_b, tid_b, t, rt_a, rt_b };
	LIBBPF_OPTS(bpf_test_run_opts, topts, .ctx_in = args, .ctx_size_in = sizeof(args));

	assert_int_equal(bpf_prog_test_run_opts(test_fd, &topts), 0);
	assert_int_equal(topts.retval, 0);
}

/* Runtimes unknown (0): the wall clock between switches counts. */
#define SWITCH(a_tgid, a_tid, runnable, b_tgid, b_tid, t) \
	ev(VCPU_TEST_SWITCH, a_tgid, a_tid, runnable, b_tgid, b_tid, t, 0, 0)
/* With the scheduler's runtimes of the task going out (rt_a) and in (rt_b). */
#define SWITCH_RT(a_tgid, a_tid, rt_a, b_tgid, b_tid, rt_b, t) \
	ev(VCPU_TEST_SWITCH, a_tgid, a_tid, 0, b_tgid, b_tid, t, rt_a, rt_b)
#define WAKEUP(tgid, tid, t) ev(VCPU_TEST_WAKEUP, tgid, tid, 0, 0, 0, t, 0, 0)

static void sync_vm_started(int with_vm, uint64_t start_time)
{
	struct vm_list list = { 0 };
	struct vm_desc *d;

	if (with_vm) {
		d = vm_list__add(&list);
		assert_non_null(d);
		d->pid = VM;
		d->start_time = start_time;
		d->nvcpus = 1;
		d->vcpus[0] = (struct vm_vcpu){ .index = 0, .tid = VC0 };
		d = vm_list__add(&list);
		assert_non_null(d);
		d->pid = VM2;
		d->start_time = 1;
	}
	assert_int_equal(trace__sync(tr, &list), 0);
	vm_list__free(&list);
}

static void sync_vm(int with_vm)
{
	sync_vm_started(with_vm, 1);
}

static const struct trace_vm *read_vm(struct trace_snapshot *snap, int pid)
{
	assert_int_equal(trace__read(tr, snap), 0);
	return trace_snapshot__find(snap, pid);
}

static void test_run_wait_emulator(void **state)
{
	struct trace_snapshot snap = { 0 };
	const struct trace_vm *vm;

	(void)state;
	sync_vm(1);
	WAKEUP(VM, VC0, 1000);
	SWITCH(UT, UT1, 0, VM, VC0, 1300);  /* waited 300 */
	SWITCH(VM, VC0, 1, VM, EMU, 11300); /* ran 10000, preempted: runnable */
	SWITCH(VM, EMU, 0, VM, VC0, 11800); /* emulator ran 500, vCPU waited 500 */
	SWITCH(VM, VC0, 0, UT, UT1, 12800); /* ran 1000, sleeps */
	WAKEUP(VM, VC0, 20000);
	SWITCH(UT, UT1, 1, VM, VC0, 20100); /* waited 100 */
	WAKEUP(VM, VC0, 20200);		    /* already running: no effect */
	SWITCH(VM, VC0, 0, 0, 0, 20600);    /* ran 500, to idle */
	/* Untracked tasks and idle leave no trace. */
	SWITCH(UT, UT1, 1, UT, UT2, 30000);
	WAKEUP(UT, UT1, 30100);
	SWITCH(0, 0, 0, UT, UT1, 30200);

	vm = read_vm(&snap, VM);
	assert_non_null(vm);
	assert_int_equal(vm->nvcpus, 1);
	assert_int_equal(vm->vcpus[0].run_ns, 10000 + 1000 + 500);
	assert_int_equal(vm->vcpus[0].wait_ns, 300 + 500 + 100);
	assert_int_equal(vm->vcpus[0].switches, 3);
	assert_int_equal(vm->emulator_run_ns, 500);
	assert_int_equal(vm->emulator_switches, 1);

	/* The vCPU's tid seen in another tracked process is not this vCPU. */
	SWITCH(0, 0, 0, VM2, VC0, 40000);
	SWITCH(VM2, VC0, 0, 0, 0, 41000);
	vm = read_vm(&snap, VM);
	assert_int_equal(vm->vcpus[0].run_ns, 11500);
	vm = read_vm(&snap, VM2);
	assert_int_equal(vm->emulator_run_ns, 1000);

	/* Untracking the VM stops the counting; tracking it again restarts from zero. */
	sync_vm(0);
	SWITCH(0, 0, 0, VM, VC0, 50000);
	SWITCH(VM, VC0, 0, 0, 0, 60000);
	sync_vm(1);
	vm = read_vm(&snap, VM);
	assert_int_equal(vm->vcpus[0].run_ns, 0);
	assert_int_equal(vm->vcpus[0].switches, 0);
	assert_int_equal(vm->emulator_run_ns, 0);
	trace_snapshot__free(&snap);
}

static void test_reused_pid(void **state)
{
	struct trace_snapshot snap = { 0 };
	const struct trace_vm *vm;
	uint64_t run;

	(void)state;
	sync_vm(1);
	run = read_vm(&snap, VM)->vcpus[0].run_ns;
	SWITCH(0, 0, 0, VM, VC0, 70000);
	SWITCH(VM, VC0, 0, 0, 0, 71000);
	vm = read_vm(&snap, VM);
	assert_int_equal(vm->vcpus[0].run_ns, run + 1000);
	/*
	 * The VM exits and, before the next scan, another QEMU gets its pid
	 * and vCPU tid: its counters start from zero, not from the old ones.
	 */
	sync_vm_started(1, 2);
	vm = read_vm(&snap, VM);
	assert_non_null(vm);
	assert_int_equal(vm->start_time, 2);
	assert_int_equal(vm->vcpus[0].run_ns, 0);
	assert_int_equal(vm->vcpus[0].switches, 0);
	SWITCH(0, 0, 0, VM, VC0, 80000);
	SWITCH(VM, VC0, 0, 0, 0, 80400);
	assert_int_equal(read_vm(&snap, VM)->vcpus[0].run_ns, 400);
	trace_snapshot__free(&snap);
}

/*
 * A stint counts the scheduler's runtime (what schedstat and libvirt
 * report), also when it is longer than the time between the tracepoints:
 * the scheduler starts the task's clock when it picks it, before
 * sched_switch. Short emulator stints lost a quarter of their time when
 * the wall clock capped them.
 */
static void test_runtime(void **state)
{
	struct trace_snapshot snap = { 0 };
	const struct trace_vm *vm;
	uint64_t emu, run;

	(void)state;
	sync_vm(1);
	vm = read_vm(&snap, VM);
	emu = vm->emulator_run_ns;
	run = vm->vcpus[0].run_ns;
	/* 1000 ns between the tracepoints, 1300 ns of runtime: 1300 counts. */
	SWITCH_RT(0, 0, 0, VM, EMU, 50000, 90000);
	SWITCH_RT(VM, EMU, 51300, 0, 0, 0, 91000);
	/* Stolen time (runtime below the wall clock) is not run time either. */
	SWITCH_RT(0, 0, 0, VM, VC0, 7000, 92000);
	SWITCH_RT(VM, VC0, 7600, 0, 0, 0, 93000);
	vm = read_vm(&snap, VM);
	assert_int_equal(vm->emulator_run_ns, emu + 1300);
	assert_int_equal(vm->vcpus[0].run_ns, run + 600);
	/* A runtime that went back (another task under the tid): the wall clock. */
	SWITCH_RT(0, 0, 0, VM, EMU, 60000, 94000);
	SWITCH_RT(VM, EMU, 100, 0, 0, 0, 94400);
	/* The runtime unknown when the stint began: the wall clock. */
	SWITCH_RT(0, 0, 0, VM, EMU, 0, 95000);
	SWITCH_RT(VM, EMU, 70000, 0, 0, 0, 95200);
	vm = read_vm(&snap, VM);
	assert_int_equal(vm->emulator_run_ns, emu + 1300 + 400 + 200);
	trace_snapshot__free(&snap);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_run_wait_emulator),
		cmocka_unit_test(test_reused_pid),
		cmocka_unit_test(test_runtime),
	};

	return bpftest_main(tests, ARRAY_SIZE(tests), "test_sched_event", &tr, &test_fd);
}
