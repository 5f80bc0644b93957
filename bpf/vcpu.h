/* SPDX-License-Identifier: GPL-2.0 */
/* vCPU and emulator thread time from the scheduler tracepoints. */
#ifndef KVMPILOT_VCPU_H
#define KVMPILOT_VCPU_H

/*
 * sched_ts: per tracked non-vCPU thread (emulator), when it went on CPU.
 * vCPU threads keep this state in their vcpus entry (track.h).
 */
struct sched_ts {
	__u64 on_ns; /* switch-in time while on CPU, else 0 */
	__u64 pad;
};

#endif /* KVMPILOT_VCPU_H */
