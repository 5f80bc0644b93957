// SPDX-License-Identifier: GPL-2.0
/*
 * KVM exit accounting through the real maps: synthetic VMX and SVM
 * exit/entry pairs go through test_kvm_event (BPF_PROG_TEST_RUN), which
 * shares its code with the kvm_exit/kvm_entry programs; trace__read must
 * report the right counts, reasons and latency buckets. The real
 * tracepoint programs must be loaded and attached.
 */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <cmocka.h>

#include <bpf/bpf.h>
#include <bpf/libbpf.h>

#include "track.h"
#include "kvmexit.h"
#include "exitreason.h"
#include "hist.h"
#include "trace.h"
#include "util.h"
#include "bpftest.h"

#define TGID 4000000 /* above pid_max: never a real process */
#define TID0 4000001
#define TID1 4000002

static struct trace *tr;
static int test_fd;

static void feed(__u64 op, __u64 tid, __u64 reason, __u64 isa, __u64 ts)
{
	__u64 args[6] = { op, TGID, tid, reason, isa, ts };
	LIBBPF_OPTS(bpf_test_run_opts, topts, .ctx_in = args, .ctx_size_in = sizeof(args));

	assert_int_equal(bpf_prog_test_run_opts(test_fd, &topts), 0);
	assert_int_equal(topts.retval, 0);
}

static void pair(__u64 tid, __u64 reason, __u64 isa, __u64 t0, __u64 dur)
{
	feed(KVMEXIT_TEST_EXIT, tid, reason, isa, t0);
	feed(KVMEXIT_TEST_ENTRY, tid, 0, 0, t0 + dur);
}

static const struct trace_exit *find_exit(const struct trace_vm *vm, __u32 isa, __u32 reason)
{
	for (int i = 0; i < vm->nexits; i++) {
		if (vm->exits[i].isa == isa && vm->exits[i].reason == reason)
			return &vm->exits[i];
	}
	return NULL;
}

static void test_synthetic_pairs(void **state)
{
	struct trace_snapshot snap = { 0 };
	struct vm_list list = { 0 };
	const struct trace_vm *vm;
	const struct trace_exit *e;
	struct vm_desc *d;
	__u64 t = 1000000000ULL;
	char buf[32];

	(void)state;
	d = vm_list__add(&list);
	assert_non_null(d);
	d->pid = TGID;
	strcpy(d->name, "synthetic");
	d->nvcpus = 2;
	d->vcpus[0] = (struct vm_vcpu){ .index = 0, .tid = TID0 };
	d->vcpus[1] = (struct vm_vcpu){ .index = 1, .tid = TID1 };
	assert_int_equal(trace__sync(tr, &list), 0);

	/* vCPU 0, VMX: 10 HLT of 1500 ns (slot 10), 5 IO_INSTRUCTION with the
	 * FAILED_VMENTRY flag set (masked away) of 100 us (slot 16). */
	for (int i = 0; i < 10; i++, t += 10000)
		pair(TID0, 12, 1, t, 1500);
	for (int i = 0; i < 5; i++, t += 1000000)
		pair(TID0, 30 | 0x80000000u, 1, t, 100000);
	/* vCPU 1, SVM: 7 NPF (0x400) of 3 us (slot 11), 1 HLT (0x78) of 1 ms. */
	for (int i = 0; i < 7; i++, t += 10000)
		pair(TID1, 0x400, 2, t, 3000);
	pair(TID1, 0x78, 2, t, 1000000);
	t += 2000000;
	/* An entry without exit, and an exit of an untracked thread: ignored. */
	feed(KVMEXIT_TEST_ENTRY, TID0, 0, 0, t);
	pair(TID1 + 100, 12, 1, t, 500);

	assert_int_equal(trace__read(tr, &snap), 0);
	vm = trace_snapshot__find(&snap, TGID);
	assert_non_null(vm);
	assert_string_equal(vm->name, "synthetic");
	assert_int_equal(vm->exits_total, 23);
	assert_int_equal(vm->vcpus[0].exits, 15);
	assert_int_equal(vm->vcpus[1].exits, 8);
	assert_int_equal(vm->nexits, 4);

	e = find_exit(vm, 1, 12);
	assert_non_null(e);
	assert_int_equal(e->count, 10);
	assert_int_equal(e->sum_ns, 15000);
	assert_int_equal(e->hist[10], 10);
	assert_string_equal(exitreason__format(e->isa, e->reason, buf, sizeof(buf)), "HLT");

	e = find_exit(vm, 1, 30);
	assert_non_null(e);
	assert_int_equal(e->count, 5);
	assert_int_equal(e->hist[16], 5);
	assert_string_equal(exitreason__format(e->isa, e->reason, buf, sizeof(buf)),
			    "IO_INSTRUCTION");

	e = find_exit(vm, 2, 0x400);
	assert_non_null(e);
	assert_int_equal(e->count, 7);
	assert_int_equal(e->hist[11], 7);
	assert_string_equal(exitreason__format(e->isa, e->reason, buf, sizeof(buf)), "NPF");

	e = find_exit(vm, 2, 0x78);
	assert_non_null(e);
	assert_int_equal(e->count, 1);
	assert_int_equal(e->hist[19], 1);
	assert_string_equal(exitreason__format(e->isa, e->reason, buf, sizeof(buf)), "HLT");

	/* Over all reasons: 10 + 7 of 23 are under 4 us, 6 are >= 64 us. */
	assert_true(hist__percentile(vm->exit_hist, KP_HIST_SLOTS, 50) < 4096);
	assert_true(hist__percentile(vm->exit_hist, KP_HIST_SLOTS, 99) >= 524288);

	/* A VM that goes away takes its exits with it. */
	vm_list__clear(&list);
	assert_int_equal(trace__sync(tr, &list), 0);
	assert_int_equal(trace__read(tr, &snap), 0);
	assert_int_equal(snap.n, 0);
	trace_snapshot__free(&snap);
	vm_list__free(&list);
}

static void test_real_programs_attached(void **state)
{
	(void)state;
	/* The tracepoints exist on this kernel: both programs must be live. */
	assert_int_equal(access("/sys/kernel/tracing/events/kvm/kvm_exit", F_OK), 0);
	assert_true(trace__prog_attached(tr, "on_kvm_exit"));
	assert_true(trace__prog_attached(tr, "on_kvm_entry"));
	assert_true(trace__prog_attached(tr, "on_sched_switch"));
	assert_true(trace__prog_attached(tr, "on_netif_receive_skb"));
	assert_true(trace__prog_attached(tr, "on_block_io_start"));
	assert_true(trace__prog_attached(tr, "on_exit_pwritev"));
	assert_false(trace__prog_attached(tr, "test_kvm_event"));
	assert_false(trace__prog_attached(tr, "test_sched_event"));
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_synthetic_pairs),
		cmocka_unit_test(test_real_programs_attached),
	};

	return bpftest_main(tests, ARRAY_SIZE(tests), "test_kvm_event", &tr, &test_fd);
}
