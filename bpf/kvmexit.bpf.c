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

struct {
	__uint(type, BPF_MAP_TYPE_LRU_HASH);
	__uint(max_entries, KP_MAX_VCPUS);
	__type(key, __u32);
	__type(value, struct exit_pending);
} exit_ts SEC(".maps");

static __always_inline __u32 kvm_basic_reason(__u32 reason, __u32 isa)
{
	return isa == KP_ISA_VMX ? reason & KP_VMX_REASON_MASK : reason;
}

static __always_inline int kvm_exit_account(__u32 tid, __u32 reason, __u32 isa, __u64 now)
{
	struct exit_pending p = { .isa = isa };

	if (!bpf_map_lookup_elem(&vcpus, &tid))
		return 0;
	p.ts = now ?: bpf_ktime_get_ns();
	p.reason = kvm_basic_reason(reason, isa);
	bpf_map_update_elem(&exit_ts, &tid, &p, BPF_ANY);
	return 0;
}

static __always_inline int kvm_entry_account(__u32 tid, __u64 now)
{
	static const struct exit_stats zero;
	struct exit_stats *st;
	struct exit_pending *p;
	struct vcpu_track *vc;
	struct exit_key key;
	__u64 delta;

	vc = bpf_map_lookup_elem(&vcpus, &tid);
	if (!vc)
		return 0;
	p = bpf_map_lookup_elem(&exit_ts, &tid);
	if (!p || !p->ts)
		return 0;
	now = now ?: bpf_ktime_get_ns();
	delta = now > p->ts ? now - p->ts : 0;
	key.tgid = vc->tgid;
	key.vcpu = vc->index;
	key.reason = p->reason;
	key.isa = p->isa;
	p->ts = 0;
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
	return kvm_exit_account((__u32)bpf_get_current_pid_tgid(), ctx->exit_reason, ctx->isa, 0);
}

SEC("tracepoint/kvm/kvm_entry")
int on_kvm_entry(void *ctx)
{
	return kvm_entry_account((__u32)bpf_get_current_pid_tgid(), 0);
}

/* The accounting helpers take a time, 0 meaning "read the clock" (only
 * once the event is known to be tracked). */

/*
 * Test entry, never attached: ctx = { op, tid, exit_reason, isa, time_ns }
 * as raw_tp arguments, run with BPF_PROG_TEST_RUN.
 */
SEC("raw_tp")
int test_kvm_event(__u64 *ctx)
{
	__u64 op = ctx[0], tid = ctx[1], reason = ctx[2], isa = ctx[3], now = ctx[4];

	if (op == KVMEXIT_TEST_EXIT)
		return kvm_exit_account(tid, reason, isa, now);
	if (op == KVMEXIT_TEST_ENTRY)
		return kvm_entry_account(tid, now);
	return 1;
}

char LICENSE[] SEC("license") = "GPL";
