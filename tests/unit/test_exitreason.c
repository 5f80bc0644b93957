// SPDX-License-Identifier: GPL-2.0
/* Exit reason names as 'kvmpilot stat' prints them, for Intel and AMD hosts. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include "exitreason.h"

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

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_vmx),
		cmocka_unit_test(test_vmx_flags_masked),
		cmocka_unit_test(test_svm),
		cmocka_unit_test(test_unknown_isa),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
