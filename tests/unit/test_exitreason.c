// SPDX-License-Identifier: GPL-2.0
/* Exit reason names as 'kvmpilot stat' prints them, for Intel and AMD hosts. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include "exitreason.h"
#include "trace.h"

static void test_vmx(void **state)
{
	(void)state;
	assert_string_equal(exitreason__name(1, 12), "HLT");
	assert_string_equal(exitreason__name(1, 30), "IO_INSTRUCTION");
	assert_string_equal(exitreason__name(1, 48), "EPT_VIOLATION");
	assert_string_equal(exitreason__name(1, 0), "EXCEPTION_NMI");
	assert_string_equal(exitreason__name(1, 1), "EXTERNAL_INTERRUPT");
	assert_null(exitreason__name(1, 5)); /* a hole in the VMX numbering */
}

static void test_vmx_flags_masked(void **state)
{
	char buf[32];

	(void)state;
	/* FAILED_VMENTRY (bit 31) and other flags above bit 15 do not change the reason. */
	assert_int_equal(exitreason__basic(1, 0x80000021u), 33);
	assert_string_equal(exitreason__name(1, 0x80000021u), "INVALID_STATE");
	assert_string_equal(exitreason__name(1, 0x0800000cu), "HLT");
	assert_string_equal(exitreason__format(1, 0x80000005u, buf, sizeof(buf)), "VMX_5");
	/* SVM reasons are not masked: 0x400 is NPF, not read_cr0. */
	assert_int_equal(exitreason__basic(2, 0x400), 0x400);
}

static void test_svm(void **state)
{
	char buf[32];

	(void)state;
	assert_string_equal(exitreason__name(2, 0x78), "HLT");
	assert_string_equal(exitreason__name(2, 0x7b), "IO");
	assert_string_equal(exitreason__name(2, 0x7c), "MSR");
	assert_string_equal(exitreason__name(2, 0x400), "NPF");
	assert_string_equal(exitreason__name(2, 0x0), "READ_CR0");
	assert_string_equal(exitreason__name(2, 0x4e), "PF_EXCP");
	assert_string_equal(exitreason__name(2, 0xffffffffu), "INVALID_GUEST_STATE");
	assert_null(exitreason__name(2, 0x1234));
	assert_string_equal(exitreason__format(2, 0x1234, buf, sizeof(buf)), "SVM_0x1234");
}

static void test_unknown_isa(void **state)
{
	char buf[8];

	(void)state;
	assert_null(exitreason__name(0, 12));
	assert_null(exitreason__name(3, 12));
	assert_string_equal(exitreason__format(3, 12, buf, sizeof(buf)), "ISA3_12");
	/* A small buffer cuts, never overflows. */
	assert_string_equal(exitreason__format(3, 1234567, buf, sizeof(buf)), "ISA3_12");
}

/* The one aggregation behind stat, the API and /metrics. */
static void test_top(void **state)
{
	struct trace_exit in[5] = {
		{ .isa = 1, .reason = 48, .count = 7 },	  /* EPT_VIOLATION */
		{ .isa = 1, .reason = 12, .count = 5 },	  /* HLT */
		{ .isa = 1, .reason = 30, .count = 0 },	  /* IO_INSTRUCTION, nothing */
		{ .isa = 2, .reason = 0x78, .count = 6 }, /* HLT on SVM */
		{ .isa = 1, .reason = 10, .count = 7 },	  /* CPUID */
	};
	struct exitreason_sum top[4];

	(void)state;
	in[1].hist[11] = 5;
	in[3].hist[11] = 2;
	in[3].hist[12] = 4;
	assert_int_equal(exitreason__top(in, 5, top, 4), 3);
	/* same name summed, whatever the ISA; the largest part names the numbers */
	assert_string_equal(top[0].name, "HLT");
	assert_int_equal(top[0].count, 11);
	assert_int_equal(top[0].isa, 2);
	assert_int_equal(top[0].reason, 0x78);
	assert_int_equal(top[0].hist[11], 7);
	assert_int_equal(top[0].hist[12], 4);
	/* ties by name */
	assert_string_equal(top[1].name, "CPUID");
	assert_string_equal(top[2].name, "EPT_VIOLATION");
	/* only the first n */
	assert_int_equal(exitreason__top(in, 5, top, 1), 1);
	assert_string_equal(top[0].name, "HLT");
	assert_int_equal(exitreason__top(in, 0, top, 4), 0);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_vmx), cmocka_unit_test(test_vmx_flags_masked),
		cmocka_unit_test(test_svm), cmocka_unit_test(test_unknown_isa),
		cmocka_unit_test(test_top),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
