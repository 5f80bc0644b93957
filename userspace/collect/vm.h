/* SPDX-License-Identifier: GPL-2.0 */
/*
 * The VM model every source feeds and every consumer reads: which host
 * process is a VM, which of its threads are vCPUs, which taps, disks and
 * agent channel belong to it. The /proc scan (procscan.c) and libvirt
 * (virt.c) both produce a vm_list; trace.c turns it into BPF tracking maps.
 */
#ifndef KVMPILOT_VM_H
#define KVMPILOT_VM_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/*
 * Names are kept whole or refused, never cut: two VMs must not meet under one
 * prefix. libvirt's QEMU driver keeps RUN_DIR/NAME.xml and NAME.pid, so its
 * names fit a file name (at most 251 bytes); longer ones are refused.
 */
#define VM_NAME_MAX   256
#define VM_UUID_LEN   37
#define VM_MAX_VCPUS  64
#define VM_MAX_TAPS   8
#define VM_MAX_DISKS  8
#define VM_IFNAME_MAX 16
#define VM_PATH_MAX   256
#define VM_MAX_OWNERS 16 /* users whose QEMUs may be VMs ('vm_owners') */
/*
 * At most this many VMs are tracked (the BPF tracking map's size,
 * KP_MAX_VMS): libvirt's domains first, then QEMUs found in /proc; the rest
 * are left out and counted.
 */
#define VM_MAX_TRACKED 1024

enum vm_source {
	VM_SOURCE_PROC = 1,    /* found by scanning /proc */
	VM_SOURCE_LIBVIRT = 2, /* reported by libvirt */
};

struct vm_vcpu {
	int index; /* vCPU number inside the guest */
	int tid;   /* host thread id */
};

struct vm_tap {
	char ifname[VM_IFNAME_MAX];
	int ifindex; /* 0 when the interface is not (yet) known to the host */
};

struct vm_disk {
	char target[32];	/* guest-side name ("vda"), or "" when unknown */
	char path[VM_PATH_MAX]; /* image file or block device */
	int fd;			/* QEMU's fd for it, -1 when unknown */
	uint64_t dev;		/* st_dev of the image (or st_rdev of a block device) */
	uint64_t ino;
};

struct vm_desc {
	int pid;		/* QEMU's tgid */
	char name[VM_NAME_MAX]; /* "" when unknown */
	char uuid[VM_UUID_LEN]; /* "" when unknown */
	unsigned int source;	/* mask of enum vm_source */
	uint64_t start_time;	/* /proc/PID/stat starttime (ticks), tells a reused pid */
	int nvcpus;
	struct vm_vcpu vcpus[VM_MAX_VCPUS];
	int ntaps;
	struct vm_tap taps[VM_MAX_TAPS];
	int ndisks;
	struct vm_disk disks[VM_MAX_DISKS];
	char channel_path[108]; /* agent channel unix socket, "" when none */
};

struct vm_list {
	struct vm_desc *vms;
	int n;
	int cap;
};

/* Append a zeroed entry; returns it, or NULL when out of memory. */
struct vm_desc *vm_list__add(struct vm_list *list);
struct vm_desc *vm_list__find_pid(const struct vm_list *list, int pid);
struct vm_desc *vm_list__find_name(const struct vm_list *list, const char *name);
void vm_list__clear(struct vm_list *list);

/*
 * The name rule: every VM name that leaves the process (metrics labels,
 * JSON, CSV file names, logs) is valid UTF-8 without control characters.
 * Copy src (len bytes) to dst with each byte of an invalid or overlong
 * UTF-8 sequence, each surrogate or code point over U+10FFFF, each C0/C1
 * control character and DEL replaced by '?', so one input always gives
 * the same name. At most size - 1 bytes are written and a cut never splits
 * a character. Returns 0 when src was copied unchanged, 1 when something
 * was replaced, -E2BIG when it was cut (replacements may also have been made).
 */
int vm_name__sanitize(char *dst, size_t size, const char *src, size_t len);

/* True when s is valid UTF-8 without control characters (what the rule keeps). */
bool vm_name__valid(const char *s);
void vm_list__free(struct vm_list *list);

#endif /* KVMPILOT_VM_H */
