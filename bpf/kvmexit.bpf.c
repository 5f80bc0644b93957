// SPDX-License-Identifier: GPL-2.0
/*
 * kvm:kvm_exit / kvm:kvm_entry: pair an exit with the next entry on the same
 * vCPU thread; count per (VM, vCPU, reason) with a log2 histogram of the
 * handling time. test_kvm_event feeds synthetic pairs into the same code.
 */
#include "vmlinux.h"
#include <bpf/bpf_helpers.h>
#include <bpf/bpf_tracing.h>

#include "kvmexit.h"
#include "maps.bpf.h"

struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__uint(max_entries, 16384);
	__type(key, struct exit_key);
	__type(value, struct exit_stats);
	__uint(pinning, LIBBPF_PIN_BY_NAME);
} exits SEC(".maps");

static __always_inline __u32 kvm_basic_reason(__u32 reason, __u32 isa)
{
	return isa == KP_ISA_VMX ? reason & KP_VMX_REASON_MASK : reason;
}

static __always_inline struct vcpu_track *tracked_vcpu(__u32 tgid, __u32 tid)
{
	struct vcpu_track *vc;

	if (!kp_tgid_tracked(tgid))
		return NULL;
	vc = bpf_map_lookup_elem(&vcpus, &tid);
	return vc && vc->tgid == tgid ? vc : NULL;
}

static __always_inline int kvm_exit_account(__u32 tgid, __u32 tid, __u32 reason, __u32 isa,
					    __u64 now)
{
	struct vcpu_track *vc = tracked_vcpu(tgid, tid);

	if (!vc)
		return 0;
	vc->exit_at = now ?: bpf_ktime_get_ns();
	vc->exit_reason = kvm_basic_reason(reason, isa);
	vc->exit_isa = isa;
	return 0;
}

static __always_inline int kvm_entry_account(__u32 tgid, __u32 tid, __u64 now)
{
	static const struct exit_stats zero;
	struct vcpu_track *vc = tracked_vcpu(tgid, tid);
	struct exit_stats *st;
	struct exit_key key;
	__u64 delta;

	if (!vc || !vc->exit_at)
		return 0;
	now = now ?: bpf_ktime_get_ns();
	delta = now > vc->exit_at ? now - vc->exit_at : 0;
	vc->exit_at = 0;
	key.tgid = tgid;
	key.vcpu = vc->index;
	key.reason = vc->exit_reason;
	key.isa = vc->exit_isa;
	st = bpf_map_lookup_elem(&exits, &key);
	if (!st) {
		bpf_map_update_elem(&exits, &key, &zero, BPF_NOEXIST);
		st = bpf_map_lookup_elem(&exits, &key);
		if (!st)
			return 0;
	}
	__sync_fetch_and_add(&st->count, 1);
	__sync_fetch_and_add(&st->sum_ns, delta);
	kp_hist_add(st->hist, delta);
	vc->exits++;
	vc->exit_ns += delta;
	return 0;
}

SEC("tracepoint/kvm/kvm_exit")
int on_kvm_exit(struct trace_event_raw_kvm_exit *ctx)
{
	__u64 id = bpf_get_current_pid_tgid();

	return kvm_exit_account(id >> 32, (__u32)id, ctx->exit_reason, ctx->isa, 0);
}

SEC("tracepoint/kvm/kvm_entry")
int on_kvm_entry(void *ctx)
{
	__u64 id = bpf_get_current_pid_tgid();

	return kvm_entry_account(id >> 32, (__u32)id, 0);
}

/*
 * Test entry, never attached: see kvmexit.h. The accounting helpers take a
 * time, 0 meaning "read the clock" (once the event is known to be tracked).
 */
SEC("raw_tp")
int test_kvm_event(__u64 *ctx)
{
	__u64 op = ctx[0], tgid = ctx[1], tid = ctx[2], reason = ctx[3], isa = ctx[4], now = ctx[5];

	if (op == KVMEXIT_TEST_EXIT)
		return kvm_exit_account(tgid, tid, reason, isa, now);
	if (op == KVMEXIT_TEST_ENTRY)
		return kvm_entry_account(tgid, tid, now);
	return 1;
}

char LICENSE[] SEC("license") = "GPL";
