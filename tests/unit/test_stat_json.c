// SPDX-License-Identifier: GPL-2.0
/*
 * The NDJSON contract of 'kvmpilot stat --json' (issue 2, section 4): field
 * names and types, deltas between two cumulative reads, name null when
 * unknown; and the text output naming what it shows.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <cmocka.h>

#include "stat.h"
#include "trace.h"

static struct json_object *get(struct json_object *o, const char *key)
{
	struct json_object *v = NULL;

	assert_true(json_object_object_get_ex(o, key, &v));
	return v;
}

static uint64_t get_u64(struct json_object *o, const char *key)
{
	struct json_object *v = get(o, key);

	assert_true(json_object_is_type(v, json_type_int));
	return json_object_get_uint64(v);
}

static void fill(struct trace_vm *vm, uint64_t k)
{
	memset(vm, 0, sizeof(*vm));
	vm->pid = 1234;
	vm->start_time = 99;
	strcpy(vm->name, "vm1");
	vm->nvcpus = 1;
	vm->vcpus[0] = (struct trace_vcpu){
		.index = 0, .tid = 1240, .run_ns = 1000 * k, .wait_ns = 10 * k, .exits = 3 * k
	};
	vm->emulator_run_ns = 7 * k;
	vm->exits_total = 3 * k;
	vm->nexits = 1;
	vm->exits[0].isa = 1;
	vm->exits[0].reason = 12;
	vm->exits[0].count = 3 * k;
	vm->exits[0].hist[10] = 3 * k;
	vm->exit_hist[10] = 3 * k;
	vm->ntaps = 1;
	strcpy(vm->taps[0].ifname, "tap0");
	vm->taps[0].ifindex = 17;
	vm->taps[0].rx_bytes = 600 * k;
	vm->taps[0].tx_bytes = 500 * k;
	vm->taps[0].rx_packets = 6 * k;
	vm->taps[0].tx_packets = 5 * k;
	vm->blk.read_bytes = 4096 * k;
	vm->blk.write_bytes = 8192 * k;
	vm->blk.read_ops = k;
	vm->blk.write_ops = 2 * k;
	vm->blk.hist[16] = 3 * k;
	vm->ndisks = 1;
	strcpy(vm->disks[0].path, "/var/lib/vm1.img");
	vm->disks[0].io = vm->blk;
}

static void test_delta_json(void **state)
{
	struct trace_vm *prev = calloc(1, sizeof(*prev)), *cur = calloc(1, sizeof(*cur));
	struct trace_vm *d = calloc(1, sizeof(*d));
	struct json_object *built, *root, *vm, *o, *arr;
	const char *text;

	(void)state;
	fill(prev, 1);
	fill(cur, 3);
	/* A vCPU hot-added between the reads counts from zero. */
	cur->nvcpus = 2;
	cur->vcpus[1] = (struct trace_vcpu){ .index = 1, .tid = 1250, .run_ns = 500 };
	trace_vm__delta(cur, prev, d);

	built = stat__json(d, 1, 1764108000.123, 2.0);
	assert_non_null(built);
	text = json_object_to_json_string_ext(built, JSON_C_TO_STRING_PLAIN);
	/* One line: NDJSON. */
	assert_null(strchr(text, '\n'));
	root = json_tokener_parse(text);
	assert_non_null(root);
	json_object_put(built);
	assert_true(json_object_get_double(get(root, "time")) > 1764108000.1);
	assert_true(json_object_get_double(get(root, "interval_s")) == 2.0);
	arr = get(root, "vms");
	assert_int_equal(json_object_array_length(arr), 1);
	vm = json_object_array_get_idx(arr, 0);
	assert_int_equal(get_u64(vm, "pid"), 1234);
	assert_string_equal(json_object_get_string(get(vm, "name")), "vm1");

	arr = get(vm, "vcpus");
	assert_int_equal(json_object_array_length(arr), 2);
	o = json_object_array_get_idx(arr, 0);
	assert_int_equal(get_u64(o, "index"), 0);
	assert_int_equal(get_u64(o, "tid"), 1240);
	assert_int_equal(get_u64(o, "run_ns"), 2000);
	assert_int_equal(get_u64(o, "wait_ns"), 20);
	assert_int_equal(get_u64(o, "exits"), 6);
	o = json_object_array_get_idx(arr, 1);
	assert_int_equal(get_u64(o, "index"), 1);
	assert_int_equal(get_u64(o, "run_ns"), 500);
	assert_int_equal(get_u64(vm, "emulator_run_ns"), 14);

	o = get(vm, "exits");
	assert_int_equal(get_u64(o, "total"), 6);
	assert_int_equal(get_u64(get(o, "by_reason"), "HLT"), 6);
	assert_true(get_u64(get(o, "latency_ns"), "p50") >= 1024);
	assert_true(get_u64(get(o, "latency_ns"), "p99") <= 2048);

	arr = get(vm, "net");
	assert_int_equal(json_object_array_length(arr), 1);
	o = json_object_array_get_idx(arr, 0);
	assert_string_equal(json_object_get_string(get(o, "ifname")), "tap0");
	assert_int_equal(get_u64(o, "rx_bytes"), 1200);
	assert_int_equal(get_u64(o, "tx_bytes"), 1000);
	assert_int_equal(get_u64(o, "rx_packets"), 12);
	assert_int_equal(get_u64(o, "tx_packets"), 10);

	o = get(vm, "block");
	assert_int_equal(get_u64(o, "read_bytes"), 8192);
	assert_int_equal(get_u64(o, "write_bytes"), 16384);
	assert_int_equal(get_u64(o, "read_ops"), 2);
	assert_int_equal(get_u64(o, "write_ops"), 4);
	assert_true(get_u64(get(o, "latency_ns"), "p50") >= 65536);
	arr = get(o, "disks");
	assert_int_equal(json_object_array_length(arr), 1);
	o = json_object_array_get_idx(arr, 0);
	assert_string_equal(json_object_get_string(get(o, "path")), "/var/lib/vm1.img");
	assert_null(get(o, "target"));
	assert_int_equal(get_u64(o, "write_bytes"), 16384);
	json_object_put(root);
	free(prev);
	free(cur);
	free(d);
}

static void test_name_null_and_restart(void **state)
{
	struct trace_vm *prev = calloc(1, sizeof(*prev)), *cur = calloc(1, sizeof(*cur));
	struct json_object *root, *vm;

	(void)state;
	fill(prev, 5);
	fill(cur, 1);
	cur->name[0] = '\0';
	/* Same pid, another process (start time): counts from zero, never wraps. */
	cur->start_time = 100;
	trace_vm__delta(cur, prev, cur);
	root = stat__json(cur, 1, 1.0, 1.0);
	vm = json_object_array_get_idx(get(root, "vms"), 0);
	assert_true(json_object_object_get_ex(vm, "name", NULL));
	assert_null(get(vm, "name"));
	assert_int_equal(get_u64(json_object_array_get_idx(get(vm, "vcpus"), 0), "run_ns"), 1000);
	json_object_put(root);
	free(prev);
	free(cur);
}

static void test_vcpu_estimate_undercut(void **state)
{
	struct trace_vm *prev = calloc(1, sizeof(*prev)), *cur = calloc(1, sizeof(*cur));

	(void)state;
	fill(prev, 1000);
	fill(cur, 1000);
	/*
	 * The previous read estimated an open stint a little past what BPF
	 * counted when the stint closed: no time passed, not hours of run time.
	 */
	prev->vcpus[0].run_ns += 300;
	prev->vcpus[0].wait_ns += 20;
	trace_vm__delta(cur, prev, cur);
	assert_int_equal(cur->vcpus[0].run_ns, 0);
	assert_int_equal(cur->vcpus[0].wait_ns, 0);

	/* The same tid as another vCPU index is a new entry: from zero. */
	fill(prev, 1);
	fill(cur, 3);
	cur->vcpus[0].index = 1;
	trace_vm__delta(cur, prev, cur);
	assert_int_equal(cur->vcpus[0].run_ns, 3000);
	assert_int_equal(cur->vcpus[0].exits, 9);
	free(prev);
	free(cur);
}

static void test_hist_slot_wrap(void **state)
{
	struct trace_vm *prev = calloc(1, sizeof(*prev)), *cur = calloc(1, sizeof(*cur));

	(void)state;
	fill(prev, 1);
	fill(cur, 1);
	/* 100 more exits, all in a slot that passed 2^32 (__u32 in the map). */
	prev->exits[0].hist[10] = UINT32_MAX - 49;
	prev->exit_hist[10] = UINT32_MAX - 49;
	prev->blk.hist[16] = UINT32_MAX;
	cur->exits[0].hist[10] = 50;
	cur->exit_hist[10] = 50;
	cur->exits[0].count = prev->exits[0].count + 100;
	cur->exits_total = prev->exits_total + 100;
	cur->blk.hist[16] = 2;
	cur->blk.read_ops = prev->blk.read_ops + 3;
	trace_vm__delta(cur, prev, cur);
	assert_int_equal(cur->exits[0].count, 100);
	assert_int_equal(cur->exits[0].hist[10], 100);
	assert_int_equal(cur->exit_hist[10], 100);
	assert_int_equal(cur->blk.hist[16], 3);
	free(prev);
	free(cur);
}

static void test_empty(void **state)
{
	struct json_object *root;

	(void)state;
	root = stat__json(NULL, 0, 1.5, 1.0);
	assert_string_equal(json_object_to_json_string_ext(root, JSON_C_TO_STRING_PLAIN),
			    "{\"time\":1.5,\"interval_s\":1.0,\"vms\":[]}");
	json_object_put(root);
}

static void test_text(void **state)
{
	struct trace_vm *vm = calloc(1, sizeof(*vm));
	char *buf = NULL;
	size_t len = 0;
	FILE *f;

	(void)state;
	fill(vm, 1);
	f = open_memstream(&buf, &len);
	assert_non_null(f);
	stat__print_text(f, vm, 1, 1764108000.0, 1.0);
	fclose(f);
	assert_non_null(strstr(buf, "VM vm1 (pid 1234)"));
	assert_non_null(strstr(buf, "HLT"));
	assert_non_null(strstr(buf, "tap0"));
	assert_non_null(strstr(buf, "block read"));
	free(buf);
	free(vm);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_delta_json),
		cmocka_unit_test(test_name_null_and_restart),
		cmocka_unit_test(test_vcpu_estimate_undercut),
		cmocka_unit_test(test_hist_slot_wrap),
		cmocka_unit_test(test_empty),
		cmocka_unit_test(test_text),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
