// SPDX-License-Identifier: GPL-2.0
/* kvmpilot domains: libvirt's view of the running domains. */
#include <errno.h>
#include <getopt.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>

#include "cmds.h"
#include "util.h"
#include "virt.h"
#include "virt_json.h"

static void usage(FILE *f)
{
	fprintf(f, "Usage: kvmpilot domains [--uri URI] [--json]\n\n"
		   "List the running libvirt domains as kvmpilot sees them: QEMU pid, vCPU\n"
		   "threads, taps, disks, agent channel, balloon statistics.\n\n"
		   "  --uri URI   libvirt connection (default " KVMPILOT_DEFAULT_URI ")\n"
		   "  --json      one JSON document on stdout\n");
}

static void print_kib(const char *label, uint64_t kib)
{
	if (kib == UINT64_MAX)
		printf(" %s=-", label);
	else
		printf(" %s=%lluMiB", label, (unsigned long long)(kib / 1024));
}

static void print_text(const struct vm_desc *vm, const struct virt_dom_info *info,
		       const struct virt_memstats *ms, int ms_err)
{
	printf("%s  uuid=%s pid=%d\n", vm->name, vm->uuid[0] ? vm->uuid : "-", vm->pid);
	printf("  memory=%lluMiB max=%lluMiB vcpus=%d/%d\n",
	       (unsigned long long)(info->cur_memory_kib / 1024),
	       (unsigned long long)(info->max_memory_kib / 1024), info->cur_vcpus, info->max_vcpus);
	printf("  vcpu threads:");
	for (int i = 0; i < vm->nvcpus; i++)
		printf(" %d:%d", vm->vcpus[i].index, vm->vcpus[i].tid);
	printf("%s\n  taps:", vm->nvcpus ? "" : " -");
	for (int i = 0; i < vm->ntaps; i++)
		printf(" %s(ifindex %d)", vm->taps[i].ifname, vm->taps[i].ifindex);
	printf("%s\n  disks:", vm->ntaps ? "" : " -");
	for (int i = 0; i < vm->ndisks; i++)
		printf(" %s=%s", vm->disks[i].target[0] ? vm->disks[i].target : "?",
		       vm->disks[i].path);
	printf("%s\n  channel: %s\n  balloon:", vm->ndisks ? "" : " -",
	       vm->channel_path[0] ? vm->channel_path : "-");
	if (ms_err) {
		printf(" unavailable (%s)\n", strerror(-ms_err));
		return;
	}
	print_kib("actual", ms->actual);
	print_kib("available", ms->available);
	print_kib("usable", ms->usable);
	print_kib("unused", ms->unused);
	print_kib("caches", ms->disk_caches);
	print_kib("rss", ms->rss);
	printf(" (stats period %ds)\n", info->stats_period);
}

int do_domains(int argc, char **argv)
{
	static const struct option longopts[] = {
		{ "uri", required_argument, NULL, 'u' },
		{ "json", no_argument, NULL, 'j' },
		{ "help", no_argument, NULL, 'h' },
		{ 0 },
	};
	struct virt_opts opts = { 0 };
	struct json_object *root = NULL, *arr = NULL;
	struct virt_stats_list sl = { 0 };
	struct vm_list list = { 0 };
	struct virt *v = NULL;
	bool json = false;
	int c, n, ret = 1;

	optind = 1;
	while ((c = getopt_long(argc, argv, "u:jh", longopts, NULL)) != -1) {
		switch (c) {
		case 'u':
			opts.uri = optarg;
			break;
		case 'j':
			json = true;
			break;
		case 'h':
			usage(stdout);
			return 0;
		default:
			usage(stderr);
			return 2;
		}
	}
	if (optind < argc) {
		log_error("unexpected argument '%s'", argv[optind]);
		return 2;
	}
	v = virt__open(&opts);
	if (!v || !virt__connected(v)) {
		const char *msg = v ? virt__last_error(v) : strerror(errno);

		if (json) {
			struct json_object *e = json_object_new_object();
			char text[512];

			snprintf(text, sizeof(text), "cannot connect to '%s': %s",
				 opts.uri ? opts.uri : KVMPILOT_DEFAULT_URI, msg);
			json_object_object_add(e, "error", json_object_new_string(text));
			printf("%s\n",
			       json_object_to_json_string_ext(
				       e, JSON_C_TO_STRING_PLAIN | JSON_C_TO_STRING_NOSLASHESCAPE));
			json_object_put(e);
		}
		log_error("cannot connect to '%s': %s", opts.uri ? opts.uri : KVMPILOT_DEFAULT_URI,
			  msg);
		goto cleanup;
	}
	n = virt__list(v, &list);
	if (n < 0) {
		log_error("cannot list domains: %s", strerror(-n));
		goto cleanup;
	}
	/* one NOWAIT stats call first: balloon figures of busy domains without waiting */
	(void)virt__stats(v, &sl);
	if (json) {
		root = json_object_new_object();
		arr = json_object_new_array();
		json_object_object_add(root, "uri", json_object_new_string(virt__uri(v)));
		json_object_object_add(root, "domains", arr);
	}
	for (int i = 0; i < list.n; i++) {
		struct virt_dom_info info = { 0 };
		struct virt_memstats ms;
		int ms_err;

		(void)virt__info(v, list.vms[i].name, &info);
		ms_err = virt__memstats(v, list.vms[i].name, &ms);
		if (json)
			json_object_array_add(
				arr, virt_json__domain(&list.vms[i], &info, ms_err ? NULL : &ms));
		else
			print_text(&list.vms[i], &info, &ms, ms_err);
	}
	if (json)
		printf("%s\n",
		       json_object_to_json_string_ext(
			       root, JSON_C_TO_STRING_PRETTY | JSON_C_TO_STRING_NOSLASHESCAPE));
	else if (!list.n)
		printf("no running domains on '%s'\n", virt__uri(v));
	ret = 0;
cleanup:
	json_object_put(root);
	vm_list__free(&list);
	virt_stats_list__free(&sl);
	virt__close(v);
	return ret;
}
