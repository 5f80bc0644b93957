/* SPDX-License-Identifier: GPL-2.0 */
/*
 * KVM exit reason names for VMX (Intel) and SVM (AMD), as the kvm:kvm_exit
 * tracepoint of the host kernel prints them (SVM in upper case, like
 * kvm_stat). isa: 1 VMX, 2 SVM (the tracepoint's isa field).
 */
#ifndef KVMPILOT_EXITREASON_H
#define KVMPILOT_EXITREASON_H

#include <stddef.h>
#include <stdint.h>

#include "hist.h"

#define EXITREASON_ISA_VMX  1
#define EXITREASON_ISA_SVM  2
#define EXITREASON_NAME_MAX 32 /* "VMGEXIT_HYPERVISOR_FEATURE" and a NUL fit */
#define EXITREASON_TOP	    16 /* reasons shown per VM by stat, the API and /metrics */

struct trace_exit;

/* The basic reason: VMX keeps flags (FAILED_VMENTRY, ...) above bit 15. */
uint32_t exitreason__basic(uint32_t isa, uint32_t reason);

/* The name of a reason (flags masked), or NULL when unknown. */
const char *exitreason__name(uint32_t isa, uint32_t reason);

/*
 * Always a printable name: the known one, else "VMX_<n>" / "SVM_0x<hex>" /
 * "ISA<isa>_<n>". Returns buf or the static name.
 */
const char *exitreason__format(uint32_t isa, uint32_t reason, char *buf, size_t size);

/* One exit reason of a VM: the tracer's counters of that name, summed. */
struct exitreason_sum {
	char name[EXITREASON_NAME_MAX];
	uint32_t isa; /* of the largest part */
	uint32_t reason;
	uint64_t count;
	uint64_t sum_ns;
	uint32_t hist[KP_HIST_SLOTS];
};

/*
 * The top n exit reasons of a VM from the tracer's per-(isa, reason)
 * counters (trace.h): counters of one name are summed (VMX and SVM both
 * have "HLT"), reasons with no count are left out, the rest ordered by
 * count, most first, ties by name; only the first n are written (the others
 * still count in the VM's exit total and histogram). Returns how many.
 */
int exitreason__top(const struct trace_exit *exits, int nexits, struct exitreason_sum *top, int n);

#endif /* KVMPILOT_EXITREASON_H */
