// SPDX-License-Identifier: GPL-2.0
/*
 * vCPU run time and run-queue wait, emulator run time. The untracked path
 * is one inlined array read per task (the tgids bitmap); a vCPU thread then
 * costs one hash lookup (its vcpus entry holds counters and state). Other
 * QEMU threads keep their state in a private LRU map, so a restarted
 * kvmpilot never settles a stale timestamp.
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

/*
 * Time on CPU of one stint. The scheduler's own account of the task
 * (se.sum_exec_runtime, the same as /proc/PID/task/TID/schedstat and
 * libvirt's vcpu.N.time) leaves out the time stolen by the hypervisor below
 * us and IRQ time; the wall clock between switches does not. The runtime
 * may also exceed the wall time between the two tracepoints: the scheduler
 * starts a task's clock when it picks the task, a little before
 * sched_switch fires. For short stints (emulator threads run thousands a
 * second) capping it at the wall time lost a quarter of their time, so the
 * runtime counts whenever it is known and moved forward. The wall clock
 * counts only when it is unknown (0: test entry, or a stint that began
 * before tracking) or went back (another task under a reused tid).
 */
static __always_inline __u64 stint_ns(__u64 on, __u64 now, __u64 on_rt, __u64 rt)
{
	if (on_rt && rt >= on_rt)
		return rt - on_rt;
	return now - on;
}

static __always_inline void switch_out(__u32 tgid, __u32 tid, bool runnable, __u64 now, __u64 rt)
{
	struct vcpu_track *vc = bpf_map_lookup_elem(&vcpus, &tid);
	struct vm_track *vm;
	struct sched_ts *ts;
	__u64 on;

	if (vc && vc->tgid == tgid) {
		/* Only this thread's own switches write its entry. */
		on = vc->on_ns;
		if (on && now > on)
			vc->run_ns += stint_ns(on, now, vc->on_rt, rt);
		vc->on_ns = 0;
		vc->on_rt = 0;
		vc->wake_ns = runnable ? now : 0;
		return;
	}
	ts = bpf_map_lookup_elem(&sched_ts, &tid);
	if (!ts)
		return;
	on = ts->on_ns;
	ts->on_ns = 0;
	if (!on || now <= on)
		return;
	vm = bpf_map_lookup_elem(&vms, &tgid);
	if (vm)
		__sync_fetch_and_add(&vm->emu_run_ns, stint_ns(on, now, ts->on_rt, rt));
}

static __always_inline void switch_in(__u32 tgid, __u32 tid, __u64 now, __u64 rt)
{
	struct vcpu_track *vc = bpf_map_lookup_elem(&vcpus, &tid);
	struct sched_ts init = { .on_ns = now, .on_rt = rt };
	struct vm_track *vm;
	struct sched_ts *ts;

	if (vc && vc->tgid == tgid) {
		if (vc->wake_ns && now > vc->wake_ns)
			vc->wait_ns += now - vc->wake_ns;
		vc->wake_ns = 0;
		vc->on_ns = now;
		vc->on_rt = rt;
		vc->switches++;
		return;
	}
	ts = bpf_map_lookup_elem(&sched_ts, &tid);
	if (ts) {
		ts->on_ns = now;
		ts->on_rt = rt;
	} else
		bpf_map_update_elem(&sched_ts, &tid, &init, BPF_ANY);
	vm = bpf_map_lookup_elem(&vms, &tgid);
	if (vm)
		__sync_fetch_and_add(&vm->emu_switches, 1);
}

/*
 * Entry points take plain ids, a time (0: read the clock, only once the
 * task is known to be tracked) and the tasks' runtimes (0: unknown) so a
 * test program can drive them too.
 */
static __always_inline int sched_switch_account(__u32 prev_tgid, __u32 prev_tid, bool runnable,
						__u64 prev_rt, __u32 next_tgid, __u32 next_tid,
						__u64 next_rt, __u64 now)
{
	if (kp_tgid_tracked(prev_tgid)) {
		now = now ?: bpf_ktime_get_ns();
		switch_out(prev_tgid, prev_tid, runnable, now, prev_rt);
	}
	if (kp_tgid_tracked(next_tgid)) {
		now = now ?: bpf_ktime_get_ns();
		switch_in(next_tgid, next_tid, now, next_rt);
	}
	return 0;
}

/* Run-queue wait is kept for vCPU threads only. */
static __always_inline int sched_wakeup_account(__u32 tgid, __u32 tid, __u64 now)
{
	struct vcpu_track *vc;

	if (!kp_tgid_tracked(tgid))
		return 0;
	vc = bpf_map_lookup_elem(&vcpus, &tid);
	if (!vc || vc->tgid != tgid || vc->on_ns || vc->wake_ns)
		return 0;
	vc->wake_ns = now ?: bpf_ktime_get_ns();
	return 0;
}

SEC("tp_btf/sched_switch")
int BPF_PROG(on_sched_switch, bool preempt, struct task_struct *prev, struct task_struct *next,
	     unsigned int prev_state)
{
	__u32 prev_tgid = prev->tgid, next_tgid = next->tgid;
	bool prev_on = kp_tgid_tracked(prev_tgid), next_on = kp_tgid_tracked(next_tgid);

	/* sum_exec_runtime is up to date here: put_prev_task() settled prev */
	if (!prev_on && !next_on)
		return 0;
	return sched_switch_account(prev_tgid, prev->pid, preempt || prev_state == TASK_RUNNING,
				    prev_on ? prev->se.sum_exec_runtime : 0, next_tgid, next->pid,
				    next_on ? next->se.sum_exec_runtime : 0, 0);
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

/* Test entry, never attached: see enum vcpu_test_op. */
SEC("raw_tp")
int test_sched_event(__u64 *ctx)
{
	__u64 op = ctx[0], tgid_a = ctx[1], tid_a = ctx[2], runnable = ctx[3];
	__u64 tgid_b = ctx[4], tid_b = ctx[5], now = ctx[6], rt_a = ctx[7], rt_b = ctx[8];

	if (op == VCPU_TEST_SWITCH)
		return sched_switch_account(tgid_a, tid_a, runnable, rt_a, tgid_b, tid_b, rt_b,
					    now);
	if (op == VCPU_TEST_WAKEUP)
		return sched_wakeup_account(tgid_a, tid_a, now);
	return 1;
}

char LICENSE[] SEC("license") = "GPL";
