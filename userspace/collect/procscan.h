/* SPDX-License-Identifier: GPL-2.0 */
/*
 * Finding VMs without libvirt: scan /proc for QEMU processes and describe
 * each as a struct vm_desc (vm.h): vCPU threads from their names, the VM
 * name and uuid from the command line, taps from tun fds, disk images from
 * the open fds. Everything read from /proc is untrusted (any process can
 * name itself "CPU 0/KVM") and may vanish mid-scan.
 */
#ifndef KVMPILOT_PROCSCAN_H
#define KVMPILOT_PROCSCAN_H

#include <stddef.h>
#include <sys/types.h>

#include "vm.h"

/*
 * Append one vm_desc (source VM_SOURCE_PROC) per QEMU-like process to out.
 *
 * A process is QEMU-like when its comm or the basename of its exe starts
 * with "qemu-system-", or when one of its threads is named "CPU N/KVM" or
 * "CPU N/TCG". Zombies and kernel threads never are.
 *
 * npids == 0: every QEMU-like process under proc_root, in pid order;
 * processes that exit mid-scan are skipped silently.
 * npids > 0: only those pids, in the given order (duplicates once). Every
 * pid that exists and is QEMU-like is appended even when another one fails;
 * the return value is the error of the first failing pid in array order:
 *   -ESRCH   no such process (or it exited mid-scan, is a zombie, or the pid
 *            is a thread of another process rather than a process id)
 *   -ENOEXEC the process exists but is not QEMU-like
 * so a caller that passed an empty list finds the culprit as the first pid
 * of pids that is not in out.
 *
 * Other errors: -EINVAL (bad arguments), -ENOMEM, or -errno when proc_root
 * itself cannot be read. out is only appended to: clear it first to rescan.
 */
int procscan__scan(const char *proc_root, const int *pids, int npids, struct vm_list *out);

/*
 * Same, but tap ifindexes are read from SYS_ROOT/class/net/NAME/ifindex
 * instead of if_nametoindex() when sys_root is not NULL (test fixtures).
 */
int procscan__scan_root(const char *proc_root, const char *sys_root, const int *pids, int npids,
			struct vm_list *out);

/* Why a QEMU-like process is not a VM (counted, never silently). */
enum procscan_refused {
	PROCSCAN_REFUSED_OWNER, /* its real or effective uid is not one of the owners */
	PROCSCAN_REFUSED_LIMIT, /* over max_vms */
	PROCSCAN_REFUSED_NR,
};

struct procscan_opts {
	const char *sys_root; /* as procscan__scan_root(), NULL for the host's */
	/*
	 * check_owner: only processes whose real and effective uid are both in
	 * owners[0..nowners) are VMs: anyone can run a program that names its
	 * threads "CPU 0/KVM", only root and libvirt's QEMU user run the VMs
	 * this host's operator cares for. nowners == 0 then refuses them all.
	 */
	bool check_owner;
	const uid_t *owners;
	int nowners;
	int max_vms; /* 0: no limit; else later QEMUs (in pid order) are refused */
};

/* Added to by every scan (cumulative: the caller zeroes it once). */
struct procscan_counts {
	unsigned long refused[PROCSCAN_REFUSED_NR];
	int last_pid;	/* the last process refused by owner, for the log */
	uid_t last_uid; /* and its effective uid */
};

/* The scan with options; counts may be NULL. Errors as procscan__scan_root(). */
int procscan__scan_opts(const char *proc_root, const struct procscan_opts *opts, const int *pids,
			int npids, struct vm_list *out, struct procscan_counts *counts);

/* "owner", "limit": the metric's reason label; NULL when out of range. */
const char *procscan__refused_name(enum procscan_refused r);

/*
 * The uids of a 'vm_owners' list (names or numbers, comma-separated), at most
 * max; a name that is no user is skipped (it owns no process). Returns how
 * many, or -EINVAL.
 */
int procscan__resolve_owners(const char *list, uid_t *uids, int max);

/*
 * The parsers, exposed for tests and for other sources of the same data.
 *
 * procscan__parse_vcpu_name: "CPU N/KVM" or "CPU N/TCG" with N a decimal
 * number without sign or leading zero. Returns N (which may be >=
 * VM_MAX_VCPUS, up to 65535), or -EINVAL.
 */
int procscan__parse_vcpu_name(const char *comm);

/*
 * The guest name of a NUL-separated command line (as in /proc/PID/cmdline,
 * len bytes, need not end in NUL): the value of "-name guest=NAME,..." or
 * "-name NAME,..." with QEMU's ",," for a literal comma. The name rule of
 * vm.h applies: bytes of invalid UTF-8 and control characters become '?' (so
 * the name is valid UTF-8 and label-safe); a name longer than size - 1 bytes
 * is cut at a character boundary.
 * Returns 0, -ENOENT when there is no name, -E2BIG when it was cut.
 */
int procscan__parse_name(const char *cmdline, size_t len, char *name, size_t size);

/* The "-uuid" value when it is a well-formed uuid; 0 or -ENOENT. */
int procscan__parse_uuid(const char *cmdline, size_t len, char uuid[VM_UUID_LEN]);

/*
 * The interface name from the text of /proc/PID/fdinfo/FD of a tun fd
 * ("iff:\tNAME\n" line). Returns 0 or -ENOENT (no such line, a line without
 * its '\n' as in a cut read, or a name that is empty, too long, not valid
 * UTF-8 or holds '/', ':', whitespace or control characters).
 */
int procscan__parse_iff(const char *fdinfo, char ifname[VM_IFNAME_MAX]);

#endif /* KVMPILOT_PROCSCAN_H */
