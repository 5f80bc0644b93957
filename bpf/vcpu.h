/* SPDX-License-Identifier: GPL-2.0 */
/* vCPU and emulator thread time from the scheduler tracepoints. */
#ifndef KVMPILOT_VCPU_H
#define KVMPILOT_VCPU_H

/* sched_ts: per tracked thread, when it went on CPU / became runnable. */
struct sched_ts {
	__u64 on_ns;   /* switch-in time while on CPU, else 0 */
	__u64 wake_ns; /* time it became runnable while waiting, else 0 */
};

#endif /* KVMPILOT_VCPU_H */
