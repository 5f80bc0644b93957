/* SPDX-License-Identifier: GPL-2.0 */
/*
 * The tracer: loads the BPF features (vcpu, kvmexit, tapio, blkio), keeps
 * their tracking tables in step with a vm_list and reads cumulative per-VM
 * counters. Callers take two snapshots and subtract (trace_vm__delta).
 *
 *	struct trace *t = trace__open(&opts);      // NULL + errno on failure
 *	trace__sync(t, &vms);                      // every second, after a scan
 *	trace__read(t, &snap);                     // cumulative counters
 *	trace_vm__delta(cur, prev, &d);            // what happened in between
 *	trace__close(t);                           // maps stay pinned
 *
 * Maps are pinned under the pin root (TRACE_PIN_ROOT_DEFAULT, or
 * $KVMPILOT_PIN_ROOT, or trace_opts.pin_root); a new trace__open() reuses
 * them, so counters continue across restarts. trace__unpin() removes them.
 * Not thread-safe: one caller thread per struct trace.
 */
#ifndef KVMPILOT_TRACE_H
#define KVMPILOT_TRACE_H

#include <stdbool.h>
#include <stdint.h>

#include "hist.h"
#include "vm.h"

#define TRACE_PIN_ROOT_DEFAULT "/sys/fs/bpf/kvmpilot"
#define TRACE_PIN_ROOT_ENV     "KVMPILOT_PIN_ROOT"
#define TRACE_MAX_REASONS      64 /* distinct exit reasons kept per VM */

struct trace_opts {
	const char *pin_root; /* NULL: $KVMPILOT_PIN_ROOT or TRACE_PIN_ROOT_DEFAULT */
	bool no_kvm;	      /* leave out kvm_exit/kvm_entry */
	bool no_net;	      /* leave out tap I/O */
	bool no_blk;	      /* leave out block I/O */
};

struct trace_vcpu {
	int index; /* vCPU number in the guest */
	int tid;
	uint64_t run_ns;   /* on-CPU time (includes the current stint) */
	uint64_t wait_ns;  /* runnable, not running: host-side steal */
	uint64_t switches; /* switch-ins */
	uint64_t exits;	   /* KVM exits */
	uint64_t exit_ns;  /* sum of exit-to-entry times */
};

struct trace_exit {
	uint32_t isa;	 /* 1 VMX, 2 SVM */
	uint32_t reason; /* basic reason, VMX flags masked */
	uint64_t count;
	uint64_t sum_ns;
	uint32_t hist[KP_HIST_SLOTS];
};

struct trace_tap {
	char ifname[VM_IFNAME_MAX];
	int ifindex;
	uint64_t rx_bytes; /* delivered to the guest */
	uint64_t rx_packets;
	uint64_t tx_bytes; /* sent by the guest */
	uint64_t tx_packets;
};

struct trace_blk {
	uint64_t read_ops;
	uint64_t write_ops;
	uint64_t read_bytes;
	uint64_t write_bytes;
	uint64_t sum_ns;  /* latency sum */
	uint64_t sys_ops; /* of the ops, those seen as read/write syscalls */
	uint32_t hist[KP_HIST_SLOTS];
};

struct trace_disk {
	char target[32];	/* guest-side name, "" when unknown */
	char path[VM_PATH_MAX]; /* image file or block device */
	/*
	 * The part of the VM's I/O attributed to this disk: syscalls by fd,
	 * block requests by device (images sharing one filesystem share it).
	 */
	struct trace_blk io;
};

/*
 * The arrays sized for the largest VM come last and only their first n
 * entries are ever written: a snapshot of many small VMs leaves most of
 * their pages untouched (not resident).
 */
struct trace_vm {
	int pid;
	char name[VM_NAME_MAX]; /* "" when unknown */
	uint64_t start_time;
	uint64_t emulator_run_ns; /* QEMU threads that are not vCPUs */
	uint64_t emulator_switches;
	uint64_t exits_total;
	uint32_t exit_hist[KP_HIST_SLOTS]; /* all reasons */
	struct trace_blk blk;		   /* all of the VM's block I/O */
	int ntaps;
	struct trace_tap taps[VM_MAX_TAPS];
	int nvcpus;
	int ndisks;
	int nexits; /* per reason, summed over the vCPUs */
	struct trace_vcpu vcpus[VM_MAX_VCPUS];
	struct trace_disk disks[VM_MAX_DISKS];
	struct trace_exit exits[TRACE_MAX_REASONS];
};

struct trace_snapshot {
	uint64_t mono_ns; /* CLOCK_MONOTONIC at the read */
	uint64_t real_ns; /* CLOCK_REALTIME at the read */
	int n;
	int cap;
	struct trace_vm *vms;
};

/*
 * Load, pin/reuse the maps and attach. NULL with errno set on failure;
 * EBUSY when another tracer holds the same pin root.
 */
struct trace *trace__open(const struct trace_opts *opts);
void trace__close(struct trace *t);
const char *trace__pin_root(const struct trace *t);
/*
 * True when trace__open() found pins of another kvmpilot version (other map
 * layouts) and replaced them: counters restarted from zero.
 */
bool trace__pins_replaced(const struct trace *t);

/*
 * Make the tracking tables match vms (VMs, vCPU threads, taps, disks). A VM
 * whose entries cannot be written (a full map: more VMs than KP_MAX_VMS, a
 * kernel error) is left out of the tracking and counted; the others are
 * synced all the same. Returns 0 (failures are counted, see below) or
 * -ENOMEM.
 */
int trace__sync(struct trace *t, const struct vm_list *vms);

/*
 * Entries that trace__sync could not write since trace__open (a VM, or a
 * map it could not prune); *last_error (may be NULL): the first error of
 * the last sync, 0 when it had none.
 */
unsigned long trace__sync_failures(const struct trace *t, int *last_error);

/* Cumulative counters of every VM of the last sync. Reuses snap's memory. */
int trace__read(struct trace *t, struct trace_snapshot *snap);

void trace_snapshot__free(struct trace_snapshot *snap);
const struct trace_vm *trace_snapshot__find(const struct trace_snapshot *snap, int pid);

/*
 * out = cur - prev, entity by entity (vCPU by tid, tap by ifindex, exit by
 * reason); prev NULL or a different process (start_time) means "from zero".
 */
void trace_vm__delta(const struct trace_vm *cur, const struct trace_vm *prev, struct trace_vm *out);

/*
 * Introspection for tests and benchmarks: the fd of a BPF program by name
 * (-ENOENT when unknown), and whether it is attached.
 */
int trace__prog_fd(const struct trace *t, const char *name);
bool trace__prog_attached(const struct trace *t, const char *name);

/* Mount bpffs and tracefs where they are missing. 0 or -errno. */
int trace__ensure_fs(void);

/*
 * Remove the pinned maps and the pin root folder (NULL: as trace__open).
 * 0 (also when nothing was pinned) or -errno; -EBUSY when a tracer holds it,
 * unless force. -ENOTEMPTY when the folder holds files that are not ours.
 */
int trace__unpin(const char *pin_root, bool force);

/* The pin root trace__open would use for opts_pin_root (may be NULL). */
const char *trace__default_pin_root(const char *opts_pin_root);

#endif /* KVMPILOT_TRACE_H */
