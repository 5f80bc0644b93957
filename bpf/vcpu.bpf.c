// SPDX-License-Identifier: GPL-2.0
/*
 * vCPU run time and run-queue wait, emulator run time. The untracked path is
 * one hash lookup per task (two for sched_switch); state lives in a private
 * LRU map so a restarted kvmpilot never settles a stale timestamp.
 */
#include "vmlinux.h"
#include <bpf/bpf_helpers.h>
#include <bpf/bpf_tracing.h>

#include "vcpu.h"
#include "maps.bpf.h"

#define TASK_RUNNING 0

struct {
	__uint(type, BPF_MAP_TYPE_LRU_HASH);
	__uint(max_entries, KP_MAX_THREADS);
	__type(key, __u32);
	__type(value, struct sched_ts);
} sched_ts SEC(".maps");

static __always_inline void switch_out(struct vm_track *vm, __u32 tgid, __u32 tid, bool runnable,
				       __u64 now)
{
	struct sched_ts *ts = bpf_map_lookup_elem(&sched_ts, &tid);
	struct vcpu_track *vc;
	__u64 delta;

	if (!ts)
		return;
	delta = ts->on_ns && now > ts->on_ns ? now - ts->on_ns : 0;
	ts->on_ns = 0;
	ts->wake_ns = runnable ? now : 0;
	if (!delta)
		return;
	vc = bpf_map_lookup_elem(&vcpus, &tid);
	if (vc && vc->tgid == tgid)
		vc->run_ns += delta; /* only this thread's switches write it */
	else
		__sync_fetch_and_add(&vm->emu_run_ns, delta);
}

static __always_inline void switch_in(struct vm_track *vm, __u32 tgid, __u32 tid, __u64 now)
{
	struct sched_ts *ts = bpf_map_lookup_elem(&sched_ts, &tid);
	struct sched_ts init = { .on_ns = now };
	struct vcpu_track *vc;

	vc = bpf_map_lookup_elem(&vcpus, &tid);
	if (vc && vc->tgid != tgid)
		vc = NULL;
	if (!ts) {
		bpf_map_update_elem(&sched_ts, &tid, &init, BPF_ANY);
	} else {
		if (ts->wake_ns && now > ts->wake_ns && vc)
			vc->wait_ns += now - ts->wake_ns;
		ts->on_ns = now;
		ts->wake_ns = 0;
	}
	if (vc)
		vc->switches++;
	else
		__sync_fetch_and_add(&vm->emu_switches, 1);
}

/*
 * Entry points take plain ids and a time (0: read the clock) so a test
 * program can drive them too.
 */
static __always_inline int sched_switch_account(__u32 prev_tgid, __u32 prev_tid, bool runnable,
						__u32 next_tgid, __u32 next_tid, __u64 now)
{
	struct vm_track *pvm = NULL, *nvm = NULL;

	/* The idle task (tgid 0) is never a VM: skip its lookup. */
	if (prev_tgid)
		pvm = bpf_map_lookup_elem(&vms, &prev_tgid);
	if (next_tgid)
		nvm = bpf_map_lookup_elem(&vms, &next_tgid);
	/* Read the clock only for tracked tasks (now == 0: not read yet). */
	if (pvm) {
		now = now ?: bpf_ktime_get_ns();
		switch_out(pvm, prev_tgid, prev_tid, runnable, now);
	}
	if (nvm) {
		now = now ?: bpf_ktime_get_ns();
		switch_in(nvm, next_tgid, next_tid, now);
	}
	return 0;
}

static __always_inline int sched_wakeup_account(__u32 tgid, __u32 tid, __u64 now)
{
	struct sched_ts init = { 0 };
	struct sched_ts *ts;

	if (!tgid || !bpf_map_lookup_elem(&vms, &tgid))
		return 0;
	now = now ?: bpf_ktime_get_ns();
	init.wake_ns = now;
	ts = bpf_map_lookup_elem(&sched_ts, &tid);
	if (!ts)
		bpf_map_update_elem(&sched_ts, &tid, &init, BPF_ANY);
	else if (!ts->wake_ns && !ts->on_ns)
		ts->wake_ns = now;
	return 0;
}

SEC("tp_btf/sched_switch")
int BPF_PROG(on_sched_switch, bool preempt, struct task_struct *prev, struct task_struct *next,
	     unsigned int prev_state)
{
	return sched_switch_account(prev->tgid, prev->pid, preempt || prev_state == TASK_RUNNING,
				    next->tgid, next->pid, 0);
}

SEC("tp_btf/sched_wakeup")
int BPF_PROG(on_sched_wakeup, struct task_struct *p)
{
	return sched_wakeup_account(p->tgid, p->pid, 0);
}

SEC("tp_btf/sched_wakeup_new")
int BPF_PROG(on_sched_wakeup_new, struct task_struct *p)
{
	return sched_wakeup_account(p->tgid, p->pid, 0);
}

char LICENSE[] SEC("license") = "GPL";
