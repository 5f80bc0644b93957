/* SPDX-License-Identifier: GPL-2.0 */
/* KVM exits per VM, vCPU and reason, with exit-to-entry time histograms. */
#ifndef KVMPILOT_KVMEXIT_H
#define KVMPILOT_KVMEXIT_H

#include "track.h" /* KP_HIST_SLOTS */

#define KP_ISA_VMX 1
#define KP_ISA_SVM 2
/* VMX keeps flag bits (e.g. FAILED_VMENTRY) above the basic reason. */
#define KP_VMX_REASON_MASK 0xffffu

struct exit_key {
	__u32 tgid;
	__u32 vcpu;   /* vCPU index */
	__u32 reason; /* basic reason (VMX flags masked) */
	__u32 isa;    /* 1 VMX, 2 SVM */
};

struct exit_stats {
	__u64 count;
	__u64 sum_ns;
	__u32 hist[KP_HIST_SLOTS]; /* log2(ns) buckets */
};

/*
 * test_kvm_event (raw_tp ctx, BPF_PROG_TEST_RUN), one synthetic event:
 * { op, tgid, tid, exit_reason, isa, time_ns }.
 */
enum kvmexit_test_op {
	KVMEXIT_TEST_EXIT = 1,
	KVMEXIT_TEST_ENTRY = 2,
};

#endif /* KVMPILOT_KVMEXIT_H */
