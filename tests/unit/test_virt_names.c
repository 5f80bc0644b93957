// SPDX-License-Identifier: GPL-2.0
/*
 * libvirt domain names through the pure parts of virt.c (domain XML, stats
 * records, the merge with the /proc scan): a long name survives whole, two
 * names sharing a 63-character prefix stay two VMs, and a name too long to
 * keep is refused rather than cut into another domain's name. If this
 * breaks, a VM is acted on under another VM's name, or not found at all.
 */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>
#include <cmocka.h>

#include "virt_libvirt.h"

static int parse_named(const char *name, struct vm_desc *vm, struct virt_dom_info *info)
{
	static char xml[4096];

	snprintf(xml, sizeof(xml),
		 "<domain type='kvm'><name>%s</name><memory unit='MiB'>2048</memory>"
		 "<vcpu>2</vcpu></domain>",
		 name);
	memset(vm, 0, sizeof(*vm));
	memset(info, 0, sizeof(*info));
	return virt__parse_domain_xml(xml, vm, info);
}

static void fill(char *buf, char c, size_t n)
{
	memset(buf, c, n);
	buf[n] = '\0';
}

static void test_long_name_whole(void **state)
{
	struct virt_dom_info info;
	struct vm_list lv = { 0 }, proc = { 0 }, out = { 0 };
	struct vm_desc *vm;
	char name[101];

	(void)state;
	fill(name, 'n', 100);
	vm = vm_list__add(&lv);
	assert_non_null(vm);
	assert_int_equal(parse_named(name, vm, &info), 0);
	assert_string_equal(vm->name, name);
	assert_string_equal(info.name, name);
	vm->pid = 4242;
	vm->source = VM_SOURCE_LIBVIRT;

	/* the /proc scan found the same QEMU: one VM, the name whole */
	vm = vm_list__add(&proc);
	assert_non_null(vm);
	vm->pid = 4242;
	vm->source = VM_SOURCE_PROC;
	(void)snprintf(vm->name, sizeof(vm->name), "%s", name);
	assert_int_equal(virt__merge(&out, &lv, &proc), 1);
	assert_string_equal(out.vms[0].name, name);
	assert_int_equal(out.vms[0].source, VM_SOURCE_LIBVIRT | VM_SOURCE_PROC);
	assert_ptr_equal(vm_list__find_name(&out, name), &out.vms[0]);

	vm_list__free(&lv);
	vm_list__free(&proc);
	vm_list__free(&out);
}

static void test_shared_prefix_distinct(void **state)
{
	struct virt_dom_info info;
	struct vm_list lv = { 0 }, out = { 0 };
	struct vm_desc *a, *b;
	char prefix[64], na[80], nb[80];

	(void)state;
	/* 63 characters in common: the old 64-byte names made these one */
	fill(prefix, 'p', 63);
	snprintf(na, sizeof(na), "%s-web", prefix);
	snprintf(nb, sizeof(nb), "%s-db", prefix);
	a = vm_list__add(&lv);
	assert_non_null(a);
	assert_int_equal(parse_named(na, a, &info), 0);
	a->pid = 100;
	b = vm_list__add(&lv);
	assert_non_null(b);
	assert_int_equal(parse_named(nb, b, &info), 0);
	b->pid = 200;
	a = &lv.vms[0]; /* the list may have moved */

	assert_string_equal(a->name, na);
	assert_string_equal(b->name, nb);
	assert_int_equal(virt__merge(&out, &lv, NULL), 2);
	assert_int_equal(vm_list__find_name(&out, na)->pid, 100);
	assert_int_equal(vm_list__find_name(&out, nb)->pid, 200);
	/* the bare prefix is neither of them */
	assert_null(vm_list__find_name(&out, prefix));

	vm_list__free(&lv);
	vm_list__free(&out);
}

static void test_stats_names(void **state)
{
	struct virt_stats_list l = { 0 };
	struct virt_dom_stats st[2];
	char na[80], nb[80];

	(void)state;
	fill(na, 'q', 63);
	strcpy(nb, na);
	strcat(na, "-web");
	strcat(nb, "-db");
	assert_int_equal(virt_dom_stats__parse(&st[0], na, NULL, 0), 0);
	assert_int_equal(virt_dom_stats__parse(&st[1], nb, NULL, 0), 0);
	st[0].cpu_time_ns = 1;
	st[1].cpu_time_ns = 2;
	l.doms = st;
	l.n = 2;
	assert_int_equal(virt_stats_list__find(&l, na)->cpu_time_ns, 1);
	assert_int_equal(virt_stats_list__find(&l, nb)->cpu_time_ns, 2);
}

static void test_too_long_refused(void **state)
{
	struct virt_dom_info info;
	struct virt_dom_stats st;
	struct vm_desc vm;
	char name[VM_NAME_MAX + 1];

	(void)state;
	/* the longest name kept: VM_NAME_MAX - 1 bytes */
	fill(name, 'x', VM_NAME_MAX - 1);
	assert_int_equal(parse_named(name, &vm, &info), 0);
	assert_string_equal(vm.name, name);
	assert_int_equal(virt_dom_stats__parse(&st, name, NULL, 0), 0);
	assert_string_equal(st.name, name);

	/* one more is refused, never cut into the name above */
	fill(name, 'x', VM_NAME_MAX);
	assert_int_equal(parse_named(name, &vm, &info), -ENAMETOOLONG);
	assert_string_equal(vm.name, "");
	assert_int_equal(virt_dom_stats__parse(&st, name, NULL, 0), -ENAMETOOLONG);
	assert_string_equal(st.name, "");
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_long_name_whole),
		cmocka_unit_test(test_shared_prefix_distinct),
		cmocka_unit_test(test_stats_names),
		cmocka_unit_test(test_too_long_refused),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
