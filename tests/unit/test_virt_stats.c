// SPDX-License-Identifier: GPL-2.0
/*
 * One bulk-stats record's typed parameters as virt_stats.c reads them (no
 * libvirtd: the parameters are built by hand). If this breaks, the cross-check
 * of BPF against libvirt and the balloon fallback read the wrong counters.
 */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>
#include <cmocka.h>

#include <libvirt/libvirt.h>

#include "virt_libvirt.h"

/* The stats groups of a real QEMU domain, as FACTS.md lists them. */
static void test_stats_parse(void **state)
{
	virTypedParameterPtr p = NULL;
	struct virt_dom_stats st;
	int n = 0, max = 0;

	(void)state;
	assert_int_equal(virTypedParamsAddInt(&p, &n, &max, "state.state", 1), 0);
	assert_int_equal(virTypedParamsAddULLong(&p, &n, &max, "cpu.time", 123456789), 0);
	assert_int_equal(virTypedParamsAddULLong(&p, &n, &max, "balloon.current", 524288), 0);
	assert_int_equal(virTypedParamsAddULLong(&p, &n, &max, "balloon.maximum", 1048576), 0);
	assert_int_equal(virTypedParamsAddULLong(&p, &n, &max, "balloon.usable", 300000), 0);
	assert_int_equal(virTypedParamsAddULLong(&p, &n, &max, "balloon.last-update", 1700000000),
			 0);
	assert_int_equal(virTypedParamsAddULLong(&p, &n, &max, "balloon.swap_in", 12), 0);
	assert_int_equal(virTypedParamsAddUInt(&p, &n, &max, "vcpu.current", 2), 0);
	assert_int_equal(virTypedParamsAddUInt(&p, &n, &max, "vcpu.maximum", 4), 0);
	assert_int_equal(virTypedParamsAddInt(&p, &n, &max, "vcpu.0.state", 1), 0);
	assert_int_equal(virTypedParamsAddULLong(&p, &n, &max, "vcpu.0.time", 1000), 0);
	assert_int_equal(virTypedParamsAddULLong(&p, &n, &max, "vcpu.0.wait", 20), 0);
	assert_int_equal(virTypedParamsAddULLong(&p, &n, &max, "vcpu.1.time", 2000), 0);
	assert_int_equal(virTypedParamsAddULLong(&p, &n, &max, "vcpu.1.delay", 300), 0);
	assert_int_equal(virTypedParamsAddUInt(&p, &n, &max, "net.count", 1), 0);
	assert_int_equal(virTypedParamsAddString(&p, &n, &max, "net.0.name", "kvp-web1-0"), 0);
	assert_int_equal(virTypedParamsAddULLong(&p, &n, &max, "net.0.rx.bytes", 4096), 0);
	assert_int_equal(virTypedParamsAddULLong(&p, &n, &max, "net.0.tx.pkts", 7), 0);
	assert_int_equal(virTypedParamsAddString(&p, &n, &max, "block.0.name", "vda"), 0);
	assert_int_equal(virTypedParamsAddString(&p, &n, &max, "block.0.path", "/img"), 0);
	assert_int_equal(virTypedParamsAddULLong(&p, &n, &max, "block.0.wr.bytes", 16777216), 0);
	assert_int_equal(virTypedParamsAddULLong(&p, &n, &max, "block.0.rd.times", 55), 0);
	/* hostile or unexpected: indexes out of range, garbage names */
	assert_int_equal(virTypedParamsAddULLong(&p, &n, &max, "vcpu.99999.time", 1), 0);
	assert_int_equal(virTypedParamsAddULLong(&p, &n, &max, "vcpu.-1.time", 1), 0);
	assert_int_equal(virTypedParamsAddULLong(&p, &n, &max, "block.8.rd.reqs", 1), 0);
	assert_int_equal(virTypedParamsAddULLong(&p, &n, &max, "vcpu.1x.time", 1), 0);
	assert_int_equal(virTypedParamsAddString(&p, &n, &max, "vcpu.0.time", "str"), 0);

	assert_int_equal(virt_dom_stats__parse(&st, "web1", p, n), 0);
	assert_string_equal(st.name, "web1");
	assert_int_equal(st.state, 1);
	assert_int_equal(st.cpu_time_ns, 123456789);
	assert_int_equal(st.balloon_current_kib, 524288);
	assert_int_equal(st.balloon_maximum_kib, 1048576);
	assert_int_equal(st.balloon_usable_kib, 300000);
	assert_true(st.balloon_available_kib == UINT64_MAX);
	assert_int_equal(st.balloon_last_update, 1700000000);
	assert_int_equal(st.balloon_swap_in_kib, 12);
	assert_true(st.balloon_swap_out_kib == UINT64_MAX);
	assert_int_equal(st.vcpu_current, 2);
	assert_int_equal(st.vcpu_maximum, 4);
	assert_int_equal(st.nvcpus, 2);
	assert_int_equal(st.vcpus[0].time_ns, 1000);
	assert_int_equal(st.vcpus[0].wait_ns, 20);
	assert_int_equal(st.vcpus[1].time_ns, 2000);
	assert_int_equal(st.vcpus[1].delay_ns, 300);
	assert_int_equal(st.nnets, 1);
	assert_string_equal(st.nets[0].name, "kvp-web1-0");
	assert_int_equal(st.nets[0].rx_bytes, 4096);
	assert_int_equal(st.nets[0].tx_pkts, 7);
	assert_int_equal(st.nblocks, 1);
	assert_string_equal(st.blocks[0].name, "vda");
	assert_string_equal(st.blocks[0].path, "/img");
	assert_int_equal(st.blocks[0].wr_bytes, 16777216);
	assert_int_equal(st.blocks[0].rd_times_ns, 55);
	assert_int_equal(st.nparams, n);
	virTypedParamsFree(p, n);
}

/* A name that does not fit is refused, not cut into another domain's. */
static void test_stats_parse_long_name(void **state)
{
	char name[VM_NAME_MAX + 1];
	struct virt_dom_stats st;

	(void)state;
	memset(name, 'n', sizeof(name) - 1);
	name[sizeof(name) - 1] = '\0';
	assert_int_equal(virt_dom_stats__parse(&st, name, NULL, 0), -ENAMETOOLONG);
	assert_string_equal(st.name, "");
	name[sizeof(name) - 2] = '\0';
	assert_int_equal(virt_dom_stats__parse(&st, name, NULL, 0), 0);
	assert_string_equal(st.name, name);
	assert_true(st.balloon_usable_kib == UINT64_MAX);
	assert_int_equal(st.nvcpus, 0);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_stats_parse),
		cmocka_unit_test(test_stats_parse_long_name),
	};

	/* virTypedParamsAdd*() use libvirt's per-thread error state */
	if (virInitialize() < 0)
		return 1;
	return cmocka_run_group_tests(tests, NULL, NULL);
}
