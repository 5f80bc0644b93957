// SPDX-License-Identifier: GPL-2.0
/*
 * Exit reason tables, from the print format of the kvm:kvm_exit tracepoint
 * (arch/x86/include/uapi/asm/vmx.h VMX_EXIT_REASONS, svm.h SVM_EXIT_REASONS).
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "exitreason.h"
#include "trace.h"
#include "util.h"

#define VMX_BASIC_REASON_MASK 0xffffu

struct reason_name {
	uint32_t reason;
	const char *name;
};

static const struct reason_name vmx_reasons[] = {
	{ 0, "EXCEPTION_NMI" },
	{ 1, "EXTERNAL_INTERRUPT" },
	{ 2, "TRIPLE_FAULT" },
	{ 3, "INIT_SIGNAL" },
	{ 4, "SIPI_SIGNAL" },
	{ 7, "INTERRUPT_WINDOW" },
	{ 8, "NMI_WINDOW" },
	{ 9, "TASK_SWITCH" },
	{ 10, "CPUID" },
	{ 12, "HLT" },
	{ 13, "INVD" },
	{ 14, "INVLPG" },
	{ 15, "RDPMC" },
	{ 16, "RDTSC" },
	{ 18, "VMCALL" },
	{ 19, "VMCLEAR" },
	{ 20, "VMLAUNCH" },
	{ 21, "VMPTRLD" },
	{ 22, "VMPTRST" },
	{ 23, "VMREAD" },
	{ 24, "VMRESUME" },
	{ 25, "VMWRITE" },
	{ 26, "VMOFF" },
	{ 27, "VMON" },
	{ 28, "CR_ACCESS" },
	{ 29, "DR_ACCESS" },
	{ 30, "IO_INSTRUCTION" },
	{ 31, "MSR_READ" },
	{ 32, "MSR_WRITE" },
	{ 33, "INVALID_STATE" },
	{ 34, "MSR_LOAD_FAIL" },
	{ 36, "MWAIT_INSTRUCTION" },
	{ 37, "MONITOR_TRAP_FLAG" },
	{ 39, "MONITOR_INSTRUCTION" },
	{ 40, "PAUSE_INSTRUCTION" },
	{ 41, "MCE_DURING_VMENTRY" },
	{ 43, "TPR_BELOW_THRESHOLD" },
	{ 44, "APIC_ACCESS" },
	{ 45, "EOI_INDUCED" },
	{ 46, "GDTR_IDTR" },
	{ 47, "LDTR_TR" },
	{ 48, "EPT_VIOLATION" },
	{ 49, "EPT_MISCONFIG" },
	{ 50, "INVEPT" },
	{ 51, "RDTSCP" },
	{ 52, "PREEMPTION_TIMER" },
	{ 53, "INVVPID" },
	{ 54, "WBINVD" },
	{ 55, "XSETBV" },
	{ 56, "APIC_WRITE" },
	{ 57, "RDRAND" },
	{ 58, "INVPCID" },
	{ 59, "VMFUNC" },
	{ 60, "ENCLS" },
	{ 61, "RDSEED" },
	{ 62, "PML_FULL" },
	{ 63, "XSAVES" },
	{ 64, "XRSTORS" },
	{ 67, "UMWAIT" },
	{ 68, "TPAUSE" },
	{ 74, "BUS_LOCK" },
	{ 75, "NOTIFY" },
	{ 77, "TDCALL" },
	{ 84, "MSR_READ_IMM" },
	{ 85, "MSR_WRITE_IMM" },
};

static const struct reason_name svm_reasons[] = {
	{ 0x0, "READ_CR0" },
	{ 0x2, "READ_CR2" },
	{ 0x3, "READ_CR3" },
	{ 0x4, "READ_CR4" },
	{ 0x8, "READ_CR8" },
	{ 0x10, "WRITE_CR0" },
	{ 0x12, "WRITE_CR2" },
	{ 0x13, "WRITE_CR3" },
	{ 0x14, "WRITE_CR4" },
	{ 0x18, "WRITE_CR8" },
	{ 0x20, "READ_DR0" },
	{ 0x21, "READ_DR1" },
	{ 0x22, "READ_DR2" },
	{ 0x23, "READ_DR3" },
	{ 0x24, "READ_DR4" },
	{ 0x25, "READ_DR5" },
	{ 0x26, "READ_DR6" },
	{ 0x27, "READ_DR7" },
	{ 0x30, "WRITE_DR0" },
	{ 0x31, "WRITE_DR1" },
	{ 0x32, "WRITE_DR2" },
	{ 0x33, "WRITE_DR3" },
	{ 0x34, "WRITE_DR4" },
	{ 0x35, "WRITE_DR5" },
	{ 0x36, "WRITE_DR6" },
	{ 0x37, "WRITE_DR7" },
	{ 0x40, "DE_EXCP" },
	{ 0x41, "DB_EXCP" },
	{ 0x43, "BP_EXCP" },
	{ 0x44, "OF_EXCP" },
	{ 0x45, "BR_EXCP" },
	{ 0x46, "UD_EXCP" },
	{ 0x47, "NM_EXCP" },
	{ 0x48, "DF_EXCP" },
	{ 0x4a, "TS_EXCP" },
	{ 0x4b, "NP_EXCP" },
	{ 0x4c, "SS_EXCP" },
	{ 0x4d, "GP_EXCP" },
	{ 0x4e, "PF_EXCP" },
	{ 0x50, "MF_EXCP" },
	{ 0x51, "AC_EXCP" },
	{ 0x52, "MC_EXCP" },
	{ 0x53, "XF_EXCP" },
	{ 0x60, "INTERRUPT" },
	{ 0x61, "NMI" },
	{ 0x62, "SMI" },
	{ 0x63, "INIT" },
	{ 0x64, "VINTR" },
	{ 0x65, "CR0_SEL_WRITE" },
	{ 0x66, "READ_IDTR" },
	{ 0x67, "READ_GDTR" },
	{ 0x68, "READ_LDTR" },
	{ 0x69, "READ_RT" },
	{ 0x6a, "WRITE_IDTR" },
	{ 0x6b, "WRITE_GDTR" },
	{ 0x6c, "WRITE_LDTR" },
	{ 0x6d, "WRITE_RT" },
	{ 0x6e, "RDTSC" },
	{ 0x6f, "RDPMC" },
	{ 0x70, "PUSHF" },
	{ 0x71, "POPF" },
	{ 0x72, "CPUID" },
	{ 0x73, "RSM" },
	{ 0x74, "IRET" },
	{ 0x75, "SWINT" },
	{ 0x76, "INVD" },
	{ 0x77, "PAUSE" },
	{ 0x78, "HLT" },
	{ 0x79, "INVLPG" },
	{ 0x7a, "INVLPGA" },
	{ 0x7b, "IO" },
	{ 0x7c, "MSR" },
	{ 0x7d, "TASK_SWITCH" },
	{ 0x7e, "FERR_FREEZE" },
	{ 0x7f, "SHUTDOWN" },
	{ 0x80, "VMRUN" },
	{ 0x81, "HYPERCALL" },
	{ 0x82, "VMLOAD" },
	{ 0x83, "VMSAVE" },
	{ 0x84, "STGI" },
	{ 0x85, "CLGI" },
	{ 0x86, "SKINIT" },
	{ 0x87, "RDTSCP" },
	{ 0x88, "ICEBP" },
	{ 0x89, "WBINVD" },
	{ 0x8a, "MONITOR" },
	{ 0x8b, "MWAIT" },
	{ 0x8d, "XSETBV" },
	{ 0x8f, "WRITE_EFER_TRAP" },
	{ 0x90, "WRITE_CR0_TRAP" },
	{ 0x94, "WRITE_CR4_TRAP" },
	{ 0x98, "WRITE_CR8_TRAP" },
	{ 0xa2, "INVPCID" },
	{ 0xa5, "BUSLOCK" },
	{ 0xa6, "IDLE_HALT" },
	{ 0x400, "NPF" },
	{ 0x401, "AVIC_INCOMPLETE_IPI" },
	{ 0x402, "AVIC_UNACCELERATED_ACCESS" },
	{ 0x403, "VMGEXIT" },
	{ 0x80000001, "VMGEXIT_MMIO_READ" },
	{ 0x80000002, "VMGEXIT_MMIO_WRITE" },
	{ 0x80000003, "VMGEXIT_NMI_COMPLETE" },
	{ 0x80000004, "VMGEXIT_AP_HLT_LOOP" },
	{ 0x80000005, "VMGEXIT_AP_JUMP_TABLE" },
	{ 0x80000010, "VMGEXIT_PAGE_STATE_CHANGE" },
	{ 0x80000011, "VMGEXIT_GUEST_REQUEST" },
	{ 0x80000012, "VMGEXIT_EXT_GUEST_REQUEST" },
	{ 0x80000013, "VMGEXIT_AP_CREATION" },
	{ 0x8000fffd, "VMGEXIT_HYPERVISOR_FEATURE" },
	{ 0xffffffff, "INVALID_GUEST_STATE" },
};

uint32_t exitreason__basic(uint32_t isa, uint32_t reason)
{
	return isa == EXITREASON_ISA_VMX ? reason & VMX_BASIC_REASON_MASK : reason;
}

static const char *lookup(const struct reason_name *t, size_t n, uint32_t reason)
{
	for (size_t i = 0; i < n; i++) {
		if (t[i].reason == reason)
			return t[i].name;
	}
	return NULL;
}

const char *exitreason__name(uint32_t isa, uint32_t reason)
{
	reason = exitreason__basic(isa, reason);
	if (isa == EXITREASON_ISA_VMX)
		return lookup(vmx_reasons, ARRAY_SIZE(vmx_reasons), reason);
	if (isa == EXITREASON_ISA_SVM)
		return lookup(svm_reasons, ARRAY_SIZE(svm_reasons), reason);
	return NULL;
}

const char *exitreason__format(uint32_t isa, uint32_t reason, char *buf, size_t size)
{
	const char *name = exitreason__name(isa, reason);

	if (name)
		return name;
	reason = exitreason__basic(isa, reason);
	if (isa == EXITREASON_ISA_VMX)
		snprintf(buf, size, "VMX_%u", reason);
	else if (isa == EXITREASON_ISA_SVM)
		snprintf(buf, size, "SVM_0x%x", reason);
	else
		snprintf(buf, size, "ISA%u_%u", isa, reason);
	return buf;
}

static int by_count_then_name(const void *a, const void *b)
{
	const struct exitreason_sum *x = a, *y = b;

	if (x->count != y->count)
		return x->count > y->count ? -1 : 1;
	return strcmp(x->name, y->name);
}

int exitreason__top(const struct trace_exit *exits, int nexits, struct exitreason_sum *top, int n)
{
	struct exitreason_sum all[TRACE_MAX_REASONS];
	uint64_t largest[TRACE_MAX_REASONS];
	int nall = 0;

	for (int i = 0; i < nexits && i < TRACE_MAX_REASONS; i++) {
		const struct trace_exit *e = &exits[i];
		char buf[EXITREASON_NAME_MAX];
		const char *name;
		struct exitreason_sum *r = NULL;
		int k;

		if (!e->count)
			continue;
		name = exitreason__format(e->isa, e->reason, buf, sizeof(buf));
		for (k = 0; k < nall; k++) {
			if (!strcmp(all[k].name, name)) {
				r = &all[k];
				break;
			}
		}
		if (!r) {
			r = &all[nall++];
			memset(r, 0, sizeof(*r));
			(void)str_copy(r->name, name, sizeof(r->name));
			largest[k] = 0;
		}
		if (e->count > largest[k]) {
			largest[k] = e->count;
			r->isa = e->isa;
			r->reason = e->reason;
		}
		r->count += e->count;
		r->sum_ns += e->sum_ns;
		for (int s = 0; s < KP_HIST_SLOTS; s++)
			r->hist[s] += e->hist[s];
	}
	qsort(all, (size_t)nall, sizeof(all[0]), by_count_then_name);
	if (n > nall)
		n = nall;
	if (n > 0)
		memcpy(top, all, (size_t)n * sizeof(*top));
	return n > 0 ? n : 0;
}
