// SPDX-License-Identifier: GPL-2.0
/*
 * Test helper: print what procscan__scan() finds as one JSON document.
 *   procscan_dump [--proc DIR] [--sys DIR] [PID...]
 * Exit 0 with {"err": 0, "vms": [...]}, or with "err" set to the negative
 * errno the scan returned (the VMs it still found are listed).
 */
#include <errno.h>
#include <stdio.h>
#include <string.h>
#include <sys/sysmacros.h>
#include <json-c/json.h>

#include "procscan.h"
#include "util.h"

static json_object *vm_json(const struct vm_desc *vm)
{
	json_object *o = json_object_new_object(), *a;

	json_object_object_add(o, "pid", json_object_new_int(vm->pid));
	json_object_object_add(o, "name", json_object_new_string(vm->name));
	json_object_object_add(o, "uuid", json_object_new_string(vm->uuid));
	json_object_object_add(o, "start_time", json_object_new_uint64(vm->start_time));
	a = json_object_new_array();
	for (int i = 0; i < vm->nvcpus; i++) {
		json_object *v = json_object_new_object();

		json_object_object_add(v, "index", json_object_new_int(vm->vcpus[i].index));
		json_object_object_add(v, "tid", json_object_new_int(vm->vcpus[i].tid));
		json_object_array_add(a, v);
	}
	json_object_object_add(o, "vcpus", a);
	a = json_object_new_array();
	for (int i = 0; i < vm->ntaps; i++) {
		json_object *v = json_object_new_object();

		json_object_object_add(v, "ifname", json_object_new_string(vm->taps[i].ifname));
		json_object_object_add(v, "ifindex", json_object_new_int(vm->taps[i].ifindex));
		json_object_array_add(a, v);
	}
	json_object_object_add(o, "taps", a);
	a = json_object_new_array();
	for (int i = 0; i < vm->ndisks; i++) {
		json_object *v = json_object_new_object();

		json_object_object_add(v, "path", json_object_new_string(vm->disks[i].path));
		json_object_object_add(v, "fd", json_object_new_int(vm->disks[i].fd));
		json_object_object_add(v, "major",
				       json_object_new_int((int)major(vm->disks[i].dev)));
		json_object_object_add(v, "minor",
				       json_object_new_int((int)minor(vm->disks[i].dev)));
		json_object_object_add(v, "ino", json_object_new_uint64(vm->disks[i].ino));
		json_object_array_add(a, v);
	}
	json_object_object_add(o, "disks", a);
	return o;
}

int main(int argc, char **argv)
{
	const char *proc = "/proc", *sys = NULL;
	struct vm_list list = {};
	int pids[64], npids = 0, err;
	json_object *root, *vms;

	for (int i = 1; i < argc; i++) {
		int64_t v;

		if (!strcmp(argv[i], "--proc") && i + 1 < argc) {
			proc = argv[++i];
		} else if (!strcmp(argv[i], "--sys") && i + 1 < argc) {
			sys = argv[++i];
		} else if (npids < (int)ARRAY_SIZE(pids) && !parse_i64(argv[i], 1, INT32_MAX, &v)) {
			pids[npids++] = (int)v;
		} else {
			fprintf(stderr, "usage: procscan_dump [--proc DIR] [--sys DIR] [PID...]\n");
			return 2;
		}
	}
	err = procscan__scan_root(proc, sys, pids, npids, &list);
	root = json_object_new_object();
	vms = json_object_new_array();
	for (int i = 0; i < list.n; i++)
		json_object_array_add(vms, vm_json(&list.vms[i]));
	json_object_object_add(root, "err", json_object_new_int(err));
	json_object_object_add(root, "vms", vms);
	puts(json_object_to_json_string_ext(root, JSON_C_TO_STRING_PLAIN));
	json_object_put(root);
	vm_list__free(&list);
	return 0;
}
