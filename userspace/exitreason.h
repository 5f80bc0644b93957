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

#define EXITREASON_ISA_VMX 1
#define EXITREASON_ISA_SVM 2

/* The basic reason: VMX keeps flags (FAILED_VMENTRY, ...) above bit 15. */
uint32_t exitreason__basic(uint32_t isa, uint32_t reason);

/* The name of a reason (flags masked), or NULL when unknown. */
const char *exitreason__name(uint32_t isa, uint32_t reason);

/*
 * Always a printable name: the known one, else "VMX_<n>" / "SVM_0x<hex>" /
 * "ISA<isa>_<n>". Returns buf or the static name.
 */
const char *exitreason__format(uint32_t isa, uint32_t reason, char *buf, size_t size);

#endif /* KVMPILOT_EXITREASON_H */
