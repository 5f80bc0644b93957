// SPDX-License-Identifier: GPL-2.0
/*
 * Test helper (not a test by itself): the tracer's input, built the way the
 * service builds it: libvirt's view merged with a /proc scan of the same
 * host. Prints one line per VM:
 *   vm NAME pid=P source=S vcpus=IDX:TID,... taps=NAME:IFINDEX,... disks=PATH:FD,...
 * With --stats, the domain stats instead: one JSON object per domain.
 * With --stats-calls N, N virt__stats() calls, one line each:
 *   stats call I rc=R ms=M
 * Usage: virt_merge URI [--stats | --stats-calls N]
 */
#include <stdio.h>
#include <string.h>

#include "procscan.h"
#include "util.h"
#include "virt_libvirt.h"
#include "virt_json.h"

static int time_stats(struct virt *v, int calls)
{
	struct virt_stats_list sl = { 0 };

	for (int i = 1; i <= calls; i++) {
		uint64_t t0 = now_mono_ns();
		int n = virt__stats(v, &sl);

		printf("stats call %d rc=%d ms=%.0f\n", i, n, (double)(now_mono_ns() - t0) / 1e6);
	}
	virt_stats_list__free(&sl);
	return 0;
}

static int print_stats(struct virt *v)
{
	struct virt_stats_list sl = { 0 };
	int n = virt__stats(v, &sl);

	for (int i = 0; i < n; i++) {
		struct json_object *o = virt_json__stats(&sl.doms[i]);

		printf("%s\n", json_object_to_json_string_ext(
				       o, JSON_C_TO_STRING_PLAIN | JSON_C_TO_STRING_NOSLASHESCAPE));
		json_object_put(o);
	}
	virt_stats_list__free(&sl);
	return n < 0 ? 1 : 0;
}

int main(int argc, char **argv)
{
	struct virt_opts o = { 0 };
	struct vm_list lv = { 0 }, proc = { 0 }, out = { 0 };
	struct virt *v;
	int ret = 1, err;

	uint64_t calls = 0;

	if (argc != 2 && (argc != 3 || strcmp(argv[2], "--stats")) &&
	    (argc != 4 || strcmp(argv[2], "--stats-calls") || parse_u64(argv[3], 1, 100, &calls))) {
		fprintf(stderr, "usage: virt_merge URI [--stats | --stats-calls N]\n");
		return 2;
	}
	o.uri = argv[1];
	v = virt__open(&o);
	if (!v || !virt__connected(v)) {
		fprintf(stderr, "cannot connect to '%s'\n", argv[1]);
		goto cleanup;
	}
	if (calls) {
		ret = time_stats(v, (int)calls);
		goto cleanup;
	}
	if (argc == 3) {
		ret = print_stats(v);
		goto cleanup;
	}
	if (virt__list(v, &lv) < 0)
		goto cleanup;
	err = procscan__scan("/proc", NULL, 0, &proc);
	if (err < 0) {
		fprintf(stderr, "procscan: %d\n", err);
		goto cleanup;
	}
	if (virt__merge(&out, &lv, &proc) < 0)
		goto cleanup;
	for (int i = 0; i < out.n; i++) {
		const struct vm_desc *vm = &out.vms[i];

		printf("vm %s pid=%d source=%u vcpus=", vm->name[0] ? vm->name : "-", vm->pid,
		       vm->source);
		for (int k = 0; k < vm->nvcpus; k++)
			printf("%s%d:%d", k ? "," : "", vm->vcpus[k].index, vm->vcpus[k].tid);
		printf(" taps=");
		for (int k = 0; k < vm->ntaps; k++)
			printf("%s%s:%d", k ? "," : "", vm->taps[k].ifname, vm->taps[k].ifindex);
		printf(" disks=");
		for (int k = 0; k < vm->ndisks; k++)
			printf("%s%s:%d", k ? "," : "", vm->disks[k].path, vm->disks[k].fd);
		printf(" channel=%s\n", vm->channel_path[0] ? vm->channel_path : "-");
	}
	ret = 0;
cleanup:
	vm_list__free(&lv);
	vm_list__free(&proc);
	vm_list__free(&out);
	virt__close(v);
	return ret;
}
