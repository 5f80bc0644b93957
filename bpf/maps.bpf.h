/* SPDX-License-Identifier: GPL-2.0 */
/*
 * BPF-only helpers: the pinned tracking maps every feature includes (one
 * copy per skeleton, shared through LIBBPF_PIN_BY_NAME) and log2 histograms.
 */
#ifndef KVMPILOT_MAPS_BPF_H
#define KVMPILOT_MAPS_BPF_H

#include "track.h"

/*
 * The untracked fast path: a bit per tgid in an array (lookups of array
 * maps are inlined by the verifier, no hashing). Userspace maps it and sets
 * the bits of tracked VMs; vms holds the rest.
 */
struct {
	__uint(type, BPF_MAP_TYPE_ARRAY);
	__uint(max_entries, KP_TGID_WORDS);
	__uint(map_flags, BPF_F_MMAPABLE);
	__type(key, __u32);
	__type(value, __u64);
	__uint(pinning, LIBBPF_PIN_BY_NAME);
} tgids SEC(".maps");

static __always_inline bool kp_tgid_tracked(__u32 tgid)
{
	__u32 word = tgid >> 6;
	__u64 *bits;

	if (word >= KP_TGID_WORDS)
		return false;
	bits = bpf_map_lookup_elem(&tgids, &word);
	return bits && ((*bits >> (tgid & 63)) & 1);
}

struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__uint(max_entries, KP_MAX_VMS);
	__type(key, __u32);
	__type(value, struct vm_track);
	__uint(pinning, LIBBPF_PIN_BY_NAME);
} vms SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__uint(max_entries, KP_MAX_VCPUS);
	__type(key, __u32);
	__type(value, struct vcpu_track);
	__uint(pinning, LIBBPF_PIN_BY_NAME);
} vcpus SEC(".maps");

/* log2 bucket of v: slot 0 holds 0 and 1, slot i holds [2^i, 2^(i+1)). */
static __always_inline __u32 kp_log2(__u64 v)
{
	__u32 r = 0, shift;

	shift = (v > 0xffffffffULL) << 5;
	v >>= shift;
	r |= shift;
	shift = (v > 0xffff) << 4;
	v >>= shift;
	r |= shift;
	shift = (v > 0xff) << 3;
	v >>= shift;
	r |= shift;
	shift = (v > 0xf) << 2;
	v >>= shift;
	r |= shift;
	shift = (v > 0x3) << 1;
	v >>= shift;
	r |= shift;
	r |= (v >> 1);
	return r;
}

static __always_inline void kp_hist_add(__u32 *slots, __u64 v)
{
	__u32 slot = kp_log2(v);

	if (slot >= KP_HIST_SLOTS)
		slot = KP_HIST_SLOTS - 1;
	__sync_fetch_and_add(&slots[slot], 1);
}

#endif /* KVMPILOT_MAPS_BPF_H */
