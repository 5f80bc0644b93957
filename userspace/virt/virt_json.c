// SPDX-License-Identifier: GPL-2.0
#include <stdint.h>
#include <string.h>

#include "virt_json.h"

static void add_u64(struct json_object *o, const char *key, uint64_t v)
{
	/* a figure libvirt did not report is null, not a huge number */
	json_object_object_add(o, key, v == UINT64_MAX ? NULL : json_object_new_uint64(v));
}

struct json_object *virt_json__memstats(const struct virt_memstats *ms)
{
	struct json_object *o = json_object_new_object();

	if (!o)
		return NULL;
	add_u64(o, "actual_kib", ms->actual);
	add_u64(o, "unused_kib", ms->unused);
	add_u64(o, "available_kib", ms->available);
	add_u64(o, "usable_kib", ms->usable);
	add_u64(o, "disk_caches_kib", ms->disk_caches);
	add_u64(o, "swap_in_kib", ms->swap_in);
	add_u64(o, "swap_out_kib", ms->swap_out);
	add_u64(o, "major_fault", ms->major_fault);
	add_u64(o, "minor_fault", ms->minor_fault);
	add_u64(o, "rss_kib", ms->rss);
	add_u64(o, "last_update", ms->last_update);
	return o;
}

struct json_object *virt_json__domain(const struct vm_desc *vm, const struct virt_dom_info *info,
				      const struct virt_memstats *ms)
{
	struct json_object *o = json_object_new_object(), *a;

	if (!o)
		return NULL;
	json_object_object_add(o, "name", json_object_new_string(vm->name));
	json_object_object_add(o, "uuid", json_object_new_string(vm->uuid));
	json_object_object_add(o, "pid", json_object_new_int(vm->pid));
	a = json_object_new_array();
	for (int i = 0; i < vm->nvcpus; i++) {
		struct json_object *c = json_object_new_object();

		json_object_object_add(c, "index", json_object_new_int(vm->vcpus[i].index));
		json_object_object_add(c, "tid", json_object_new_int(vm->vcpus[i].tid));
		json_object_array_add(a, c);
	}
	json_object_object_add(o, "vcpu_threads", a);
	a = json_object_new_array();
	for (int i = 0; i < vm->ntaps; i++) {
		struct json_object *t = json_object_new_object();

		json_object_object_add(t, "name", json_object_new_string(vm->taps[i].ifname));
		json_object_object_add(t, "ifindex", json_object_new_int(vm->taps[i].ifindex));
		json_object_array_add(a, t);
	}
	json_object_object_add(o, "taps", a);
	a = json_object_new_array();
	for (int i = 0; i < vm->ndisks; i++) {
		struct json_object *d = json_object_new_object();

		json_object_object_add(d, "target", json_object_new_string(vm->disks[i].target));
		json_object_object_add(d, "source", json_object_new_string(vm->disks[i].path));
		json_object_array_add(a, d);
	}
	json_object_object_add(o, "disks", a);
	json_object_object_add(o, "channel",
			       vm->channel_path[0] ? json_object_new_string(vm->channel_path)
						   : NULL);
	if (info) {
		json_object_object_add(o, "id", json_object_new_int(info->id));
		json_object_object_add(o, "state", json_object_new_int(info->state));
		json_object_object_add(o, "max_memory_kib",
				       json_object_new_uint64(info->max_memory_kib));
		json_object_object_add(o, "memory_kib",
				       json_object_new_uint64(info->cur_memory_kib));
		json_object_object_add(o, "max_vcpus", json_object_new_int(info->max_vcpus));
		json_object_object_add(o, "vcpus", json_object_new_int(info->cur_vcpus));
		json_object_object_add(o, "balloon_stats_period",
				       json_object_new_int(info->stats_period));
	}
	if (ms)
		json_object_object_add(o, "balloon", virt_json__memstats(ms));
	return o;
}

struct json_object *virt_json__stats(const struct virt_dom_stats *st)
{
	struct json_object *o = json_object_new_object(), *a;

	if (!o)
		return NULL;
	json_object_object_add(o, "name", json_object_new_string(st->name));
	json_object_object_add(o, "state", json_object_new_int(st->state));
	json_object_object_add(o, "cpu_time_ns", json_object_new_uint64(st->cpu_time_ns));
	json_object_object_add(o, "balloon_current_kib",
			       json_object_new_uint64(st->balloon_current_kib));
	json_object_object_add(o, "balloon_maximum_kib",
			       json_object_new_uint64(st->balloon_maximum_kib));
	add_u64(o, "balloon_available_kib", st->balloon_available_kib);
	add_u64(o, "balloon_usable_kib", st->balloon_usable_kib);
	add_u64(o, "balloon_unused_kib", st->balloon_unused_kib);
	add_u64(o, "balloon_disk_caches_kib", st->balloon_disk_caches_kib);
	add_u64(o, "balloon_swap_in_kib", st->balloon_swap_in_kib);
	add_u64(o, "balloon_swap_out_kib", st->balloon_swap_out_kib);
	add_u64(o, "balloon_rss_kib", st->balloon_rss_kib);
	add_u64(o, "balloon_last_update", st->balloon_last_update);
	a = json_object_new_array();
	for (int i = 0; i < st->nvcpus; i++) {
		struct json_object *c = json_object_new_object();

		json_object_object_add(c, "time_ns", json_object_new_uint64(st->vcpus[i].time_ns));
		json_object_object_add(c, "wait_ns", json_object_new_uint64(st->vcpus[i].wait_ns));
		json_object_object_add(c, "delay_ns",
				       json_object_new_uint64(st->vcpus[i].delay_ns));
		json_object_array_add(a, c);
	}
	json_object_object_add(o, "vcpus", a);
	a = json_object_new_array();
	for (int i = 0; i < st->nnets; i++) {
		const struct virt_net_stats *n = &st->nets[i];
		struct json_object *c = json_object_new_object();

		json_object_object_add(c, "name", json_object_new_string(n->name));
		json_object_object_add(c, "rx_bytes", json_object_new_uint64(n->rx_bytes));
		json_object_object_add(c, "rx_pkts", json_object_new_uint64(n->rx_pkts));
		json_object_object_add(c, "tx_bytes", json_object_new_uint64(n->tx_bytes));
		json_object_object_add(c, "tx_pkts", json_object_new_uint64(n->tx_pkts));
		json_object_array_add(a, c);
	}
	json_object_object_add(o, "net", a);
	a = json_object_new_array();
	for (int i = 0; i < st->nblocks; i++) {
		const struct virt_block_stats *b = &st->blocks[i];
		struct json_object *c = json_object_new_object();

		json_object_object_add(c, "name", json_object_new_string(b->name));
		json_object_object_add(c, "rd_reqs", json_object_new_uint64(b->rd_reqs));
		json_object_object_add(c, "rd_bytes", json_object_new_uint64(b->rd_bytes));
		json_object_object_add(c, "rd_times_ns", json_object_new_uint64(b->rd_times_ns));
		json_object_object_add(c, "wr_reqs", json_object_new_uint64(b->wr_reqs));
		json_object_object_add(c, "wr_bytes", json_object_new_uint64(b->wr_bytes));
		json_object_object_add(c, "wr_times_ns", json_object_new_uint64(b->wr_times_ns));
		json_object_array_add(a, c);
	}
	json_object_object_add(o, "block", a);
	return o;
}
