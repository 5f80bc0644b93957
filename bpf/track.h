/* SPDX-License-Identifier: GPL-2.0 */
/*
 * Tracking tables shared by every BPF feature and by userspace (trace.c).
 * Userspace creates and deletes the entries from its VM list; the programs
 * only look them up (an untracked event leaves after one lookup) and add to
 * the counters inside. All maps are pinned by name, so the features share
 * them and a restarted kvmpilot finds its counters again.
 */
#ifndef KVMPILOT_TRACK_H
#define KVMPILOT_TRACK_H

#define KP_MAX_VMS	1024
#define KP_MAX_VCPUS	8192
#define KP_MAX_TAPS	2048
#define KP_MAX_DISK_FDS 4096
#define KP_MAX_THREADS	32768
#define KP_HIST_SLOTS	32 /* log2 buckets of every histogram (userspace hist.h) */
#define KP_DISK_UNKNOWN 0xffffffffu
/* tgids: one bit per possible tgid (PID_MAX_LIMIT = 4M), 64 per word. */
#define KP_TGID_LIMIT (4u << 20)
#define KP_TGID_WORDS (KP_TGID_LIMIT / 64)

/* vms: QEMU tgid -> VM; also the VM's emulator (non-vCPU threads) time. */
struct vm_track {
	__u64 start_time; /* /proc/PID/stat starttime, tells a reused pid */
	__u32 id;	  /* userspace's slot number, informational */
	__u32 pad;
	__u64 emu_run_ns;   /* on-CPU time of the QEMU threads that are not vCPUs */
	__u64 emu_switches; /* their switch-ins */
};

/*
 * vcpus: vCPU thread id -> its VM and counters, and the state of the
 * thread (scheduler: on_ns, wake_ns; KVM: the pending exit), kept here so a
 * tracked event costs one lookup; only the thread itself writes it. trace__open() clears the state of a reused map.
 */
struct vcpu_track {
	__u32 tgid;
	__u32 index;	   /* vCPU number in the guest */
	__u64 run_ns;	   /* on-CPU time, settled at each switch-out */
	__u64 wait_ns;	   /* runnable but not running (run-queue wait) */
	__u64 switches;	   /* switch-ins */
	__u64 exits;	   /* KVM exits handled (exit followed by entry) */
	__u64 exit_ns;	   /* sum of exit-to-entry times */
	__u64 on_ns;	   /* state: switch-in time while on CPU, else 0 */
	__u64 wake_ns;	   /* state: when it became runnable while waiting, else 0 */
	__u64 exit_at;	   /* state: time of a kvm_exit not yet followed by kvm_entry */
	__u32 exit_reason; /* state: its basic reason */
	__u32 exit_isa;	   /* state: its isa */
	__u64 on_rt;	   /* state: the task's sum_exec_runtime at switch-in, 0: unknown */
};

/* taps: ifindex -> VM and counters, named from the guest's point of view. */
struct tap_track {
	__u32 tgid;
	__u32 slot;	/* index in the VM's tap list */
	__u64 rx_bytes; /* host -> guest (xmit on the tap) */
	__u64 rx_packets;
	__u64 tx_bytes; /* guest -> host (received from the tap) */
	__u64 tx_packets;
};

/* disk_fds: (tgid, fd) -> disk slot, for read/write-family syscalls. */
struct disk_fd_key {
	__u32 tgid;
	__s32 fd;
};

struct disk_fd {
	__u32 disk;
	__u32 pad;
};

/* disk_devs: (tgid, kernel dev_t) -> disk slot, for block-layer requests. */
struct disk_dev_key {
	__u32 tgid;
	__u32 dev; /* MAJOR << 20 | MINOR, the kernel's encoding */
};

#endif /* KVMPILOT_TRACK_H */
