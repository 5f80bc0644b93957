/* SPDX-License-Identifier: GPL-2.0 */
/* vCPU and emulator thread time from the scheduler tracepoints. */
#ifndef KVMPILOT_VCPU_H
#define KVMPILOT_VCPU_H

/*
 * sched_ts: per tracked non-vCPU thread (emulator), when it went on CPU.
 * vCPU threads keep this state in their vcpus entry (track.h).
 */
struct sched_ts {
	__u64 on_ns; /* switch-in time while on CPU, else 0 */
	__u64 on_rt; /* the task's sum_exec_runtime at switch-in, 0: unknown */
};

/*
 * test_sched_event (raw_tp ctx, BPF_PROG_TEST_RUN): { op, tgid_a, tid_a,
 * runnable, tgid_b, tid_b, time_ns, runtime_a, runtime_b }. SWITCH: a
 * switches out (runnable or not), b switches in, each with its scheduler
 * runtime (se.sum_exec_runtime; 0: unknown, the wall clock counts); WAKEUP:
 * a becomes runnable.
 */
enum vcpu_test_op {
	VCPU_TEST_SWITCH = 1,
	VCPU_TEST_WAKEUP = 2,
};

#endif /* KVMPILOT_VCPU_H */
