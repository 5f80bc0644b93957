/* SPDX-License-Identifier: GPL-2.0 */
/*
 * libvirt's view of the host: which domains run, which QEMU process, vCPU
 * threads, taps, disks and agent channel each one has, and the statistics
 * libvirt keeps for them (balloon, vcpu, net, block) to cross-check BPF.
 *
 * Threading: libvirt's default event loop runs in one background thread
 * (started by the first virt__open(), stopped with the last virt__close()).
 * Its callbacks only queue events under a mutex; every other call below,
 * including all libvirt calls, is made by the caller's thread. A struct virt
 * is not thread safe: use it from one thread (the service's main loop).
 *
 * Where things come from (see README, section libvirt):
 * - domain list: virConnectListAllDomains(ACTIVE), refreshed on lifecycle,
 *   device and tunable events, and fully every opts.refresh_ms; vCPU hotplug
 *   sends no event, so the actuator's caller calls virt__refresh() after one;
 * - name, uuid, taps (<interface><target dev>), disks (<disk><source>,
 *   <target dev>), agent channel (<channel type='unix'> whose target name is
 *   AGENTPROTO_CHANNEL), memory and vCPU sizes: the live domain XML;
 * - QEMU pid: RUN_DIR/NAME.pid (0 when absent, e.g. the test driver);
 * - vCPU thread ids: the live status XML RUN_DIR/NAME.xml (<vcpu id= pid=>),
 *   which libvirt rewrites on every vCPU hotplug; none when absent;
 * - tap ifindex: if_nametoindex() (0 when the tap is not on this host).
 *
 * libvirtd restarts: a close callback (and a failing call) marks the
 * connection lost; virt__poll() reconnects with exponential backoff while the
 * domains already gathered stay readable (virt__list() keeps returning them,
 * virt__connected() says false). Keepalive is set on remote connections,
 * so a hung libvirtd drops the connection after interval * (count + 1) s.
 * virConnectOpen() itself has no timeout, so it runs in a helper thread:
 * virt__poll() never waits for a connection attempt, and virt__open() waits
 * at most opts.connect_timeout_ms (then keeps trying in virt__poll()).
 *
 * Inside the wing (virt_priv.h): virt_conn.c (connection, events, bounded
 * jobs), virt_list.c (the domains), virt_stats.c (statistics), virt_xml.c
 * (every reading of domain XML; virt_xml.h for callers without a handle),
 * virt_domain.c (what the actuators do to a domain: virt_domain.h).
 * This header needs no libvirt.h: the libvirt-typed calls are in
 * virt_libvirt.h, for the wing itself, provisioning and tests.
 */
#ifndef KVMPILOT_VIRT_H
#define KVMPILOT_VIRT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "agentproto.h"
#include "kvmpilot.h"
#include "vm.h"

#define VIRT_DEFAULT_RUN_DIR "/run/libvirt/qemu"

#define VIRT_MAX_VCPU_STATS  VM_MAX_VCPUS
#define VIRT_MAX_NET_STATS   VM_MAX_TAPS
#define VIRT_MAX_BLOCK_STATS VM_MAX_DISKS

struct virt_opts {
	const char *uri;		 /* NULL: KVMPILOT_DEFAULT_URI */
	const char *run_dir;		 /* NULL: VIRT_DEFAULT_RUN_DIR (pid and status XML files) */
	int keepalive_interval;		 /* seconds, 0: 5 */
	unsigned int keepalive_count;	 /* 0: 3; the connection drops after interval*(count+1) */
	unsigned int refresh_ms;	 /* full re-list period, 0: 10000 */
	unsigned int backoff_min_ms;	 /* first reconnect delay, 0: 500 */
	unsigned int backoff_max_ms;	 /* cap of the doubling delay, 0: 30000 */
	unsigned int connect_timeout_ms; /* how long virt__open() waits for libvirt, 0: 10000 */
	unsigned int stats_timeout_ms;	 /* bound of one virt__stats() call, 0: 2000 */
	int stats_period;		 /* balloon stats period set when a domain has none, 0: 1 s,
				       * <0: never set it */
};

/* What libvirt says about one running domain beyond struct vm_desc. */
struct virt_dom_info {
	char name[VM_NAME_MAX];
	int id;			 /* libvirt's domain id (-1 when inactive) */
	int state;		 /* virDomainState: see virt_dom_info__running() */
	uint64_t max_memory_kib; /* <memory>: the balloon ceiling */
	uint64_t cur_memory_kib; /* <currentMemory>: the balloon target now */
	int max_vcpus;		 /* <vcpu>N</vcpu> */
	int cur_vcpus;		 /* <vcpu current=...>, what QEMU has plugged */
	int stats_period;	 /* <memballoon><stats period>, 0 when unset */
	bool has_balloon;	 /* a memballoon device other than model 'none' */
	uint64_t updated_ns;	 /* now_mono_ns() of the last successful read */
};

/* Balloon statistics from virDomainMemoryStats, KiB; UINT64_MAX when not reported. */
struct virt_memstats {
	uint64_t actual;      /* balloon size (what the guest has) */
	uint64_t unused;      /* guest MemFree */
	uint64_t available;   /* guest MemTotal */
	uint64_t usable;      /* guest MemAvailable */
	uint64_t disk_caches; /* guest Cached (+Buffers) */
	uint64_t swap_in;     /* KiB swapped in since boot */
	uint64_t swap_out;
	uint64_t major_fault; /* counts */
	uint64_t minor_fault;
	uint64_t rss;	      /* QEMU's resident set on the host */
	uint64_t last_update; /* host real time QEMU got them from the guest, s */
};

/* The virConnectGetAllDomainStats groups that cross-check BPF. */
struct virt_vcpu_stats {
	int state;
	uint64_t time_ns;  /* vcpu.N.time: run time */
	uint64_t wait_ns;  /* vcpu.N.wait: waiting for I/O */
	uint64_t delay_ns; /* vcpu.N.delay: runnable but not running (schedstat) */
};

struct virt_net_stats {
	char name[VM_IFNAME_MAX]; /* the tap */
	uint64_t rx_bytes, rx_pkts, rx_errs, rx_drop;
	uint64_t tx_bytes, tx_pkts, tx_errs, tx_drop;
};

struct virt_block_stats {
	char name[32];		/* "vda" */
	char path[VM_PATH_MAX]; /* source, "" when not reported */
	uint64_t rd_reqs, rd_bytes, rd_times_ns;
	uint64_t wr_reqs, wr_bytes, wr_times_ns;
	uint64_t fl_reqs, fl_times_ns;
};

struct virt_dom_stats {
	char name[VM_NAME_MAX];
	int state, state_reason;
	uint64_t cpu_time_ns, cpu_user_ns, cpu_system_ns;
	uint64_t balloon_current_kib, balloon_maximum_kib;
	/*
	 * balloon.* guest figures (KiB, faults in counts, last_update in guest
	 * seconds), UINT64_MAX when not reported: libvirt leaves them out when
	 * the domain is busy in a job (NOWAIT) or has no stats period. These are
	 * the balloon fallback when no agent speaks, read without blocking.
	 */
	uint64_t balloon_available_kib, balloon_usable_kib, balloon_unused_kib, balloon_rss_kib;
	uint64_t balloon_disk_caches_kib, balloon_swap_in_kib, balloon_swap_out_kib;
	uint64_t balloon_major_fault, balloon_minor_fault, balloon_last_update;
	int vcpu_current, vcpu_maximum;
	int nvcpus;
	struct virt_vcpu_stats vcpus[VIRT_MAX_VCPU_STATS];
	int nnets;
	struct virt_net_stats nets[VIRT_MAX_NET_STATS];
	int nblocks;
	struct virt_block_stats blocks[VIRT_MAX_BLOCK_STATS];
	unsigned int nparams; /* how many typed parameters libvirt sent */
};

struct virt_stats_list {
	struct virt_dom_stats *doms;
	int n;
	int cap;
};

/* A lifecycle event seen since the last virt__poll(). */
enum virt_event_kind {
	VIRT_EV_DEFINED,
	VIRT_EV_UNDEFINED,
	VIRT_EV_STARTED,
	VIRT_EV_STOPPED, /* shut down, destroyed, migrated away, ... */
	VIRT_EV_CRASHED,
	VIRT_EV_OTHER, /* suspended, resumed, device change, ... */
};

struct virt_event {
	enum virt_event_kind kind;
	char name[VM_NAME_MAX];
	int detail; /* libvirt's event detail */
};

struct virt_counters {
	unsigned long events;	      /* lifecycle/device events received */
	unsigned long refreshes;      /* full re-lists */
	unsigned long connects;	      /* successful (re)connects, the first included */
	unsigned long disconnects;    /* lost connections */
	unsigned long errors;	      /* failed libvirt calls */
	unsigned long stats_periods;  /* balloon stats periods we enabled */
	unsigned long stats_timeouts; /* virt__stats() calls given up (a QEMU not answering) */
	unsigned long names_refused;  /* running domains of the last re-list whose name is
				       * VM_NAME_MAX bytes or more: not watched, never cut */
	uint64_t last_refresh_ns;     /* duration of the last full re-list */
};

struct virt;

/*
 * Create the handle and try to connect once. The handle is returned even
 * when libvirt is unreachable (virt__connected() is false and virt__poll()
 * keeps retrying); NULL only on bad options or out of memory (errno set).
 */
struct virt *virt__open(const struct virt_opts *opts);
void virt__close(struct virt *v);

/*
 * Housekeeping, meant to be called every tick; never blocks on a missing
 * libvirtd: drains queued events (re-reading the domains they name),
 * reconnects when due, re-lists when refresh_ms has passed. Returns the
 * number of domain changes seen (added, removed, changed) or -errno;
 * -ENOTCONN when disconnected (the next attempt is already scheduled).
 */
int virt__poll(struct virt *v);

/*
 * Re-read one domain now (after an actuation, say: QEMU's new vCPU threads).
 * Returns 1 when it changed, 0 when not, -ENOTCONN or -EIO.
 */
int virt__refresh(struct virt *v, const char *name);

bool virt__connected(const struct virt *v);
const char *virt__uri(const struct virt *v);

/* The last libvirt error message for this handle ("" when none). */
const char *virt__last_error(const struct virt *v);

/*
 * Replace *list's contents with the running domains as struct vm_desc
 * (source VM_SOURCE_LIBVIRT). While disconnected, the last known set.
 */
int virt__list(struct virt *v, struct vm_list *list);

/* Copy what libvirt said about one domain; -ENOENT when not known. */
int virt__info(struct virt *v, const char *name, struct virt_dom_info *info);

/* Take events queued since the last call (at most max); returns how many. */
int virt__events(struct virt *v, struct virt_event *evs, int max);

/*
 * One virConnectGetAllDomainStats(ACTIVE | NOWAIT) call for every running
 * domain (a domain busy in a job is reported with what libvirt has without
 * waiting for it). The call runs in a helper thread and is given up after
 * opts.stats_timeout_ms: a QEMU that does not answer its monitor holds up
 * only that one call (the next ones skip its job). Replaces *out's contents.
 * Returns the count, -ETIMEDOUT, -EBUSY (too many given-up calls still
 * hanging), -ENOTCONN, -EIO or -ENOMEM.
 */
int virt__stats(struct virt *v, struct virt_stats_list *out);
void virt_stats_list__free(struct virt_stats_list *l);
const struct virt_dom_stats *virt_stats_list__find(const struct virt_stats_list *l,
						   const char *name);

/*
 * Balloon statistics of one domain. When the last virt__stats() (at most 5 s
 * ago) had the domain's balloon group and its stats period is set, the
 * answer comes from there and never blocks. Otherwise (first call for a new
 * domain, the test driver) virDomainMemoryStats is asked, which may wait
 * for a busy domain's job. When the domain has a balloon without a
 * stats period and opts.stats_period >= 0, enable it first (live). Returns 0,
 * -ENOENT (no such running domain), -ENOTCONN or -EIO (libvirt error).
 */
int virt__memstats(struct virt *v, const char *name, struct virt_memstats *ms);

/*
 * How old balloon statistics are: last_update_s (balloon.last-update, the
 * host's real-time clock when QEMU got them from the guest) against now_real_ns.
 * Returns 0 and *age_s, -ENODATA when never updated (0, not reported) or
 * -ERANGE when in the future (clock skew, garbage): their age is unknown.
 */
int virt__memstats_age(uint64_t last_update_s, uint64_t now_real_ns, double *age_s);

/* Counters for the service's self-metrics. */
void virt__counters(const struct virt *v, struct virt_counters *c);

/* Count a failed call on the connection, so a lost one is noticed at once. */
void virt__note_error(struct virt *v);

/* Whether libvirt says the domain is running (not paused, not shut down). */
bool virt_dom_info__running(const struct virt_dom_info *info);

/*
 * Parse a domain XML (live definition) into a vm_desc and info; the pid and
 * vCPU threads are not in it. Exposed for tests. Returns 0, -EINVAL or
 * -ENAMETOOLONG (a name of VM_NAME_MAX bytes or more: refused, not cut).
 */
int virt__parse_domain_xml(const char *xml, struct vm_desc *vm, struct virt_dom_info *info);

/* Fill vcpus[] from a status XML's <vcpus><vcpu id= pid=>; returns count or -errno. */
int virt__parse_status_vcpus(const char *xml, struct vm_desc *vm);

/*
 * Merge the libvirt view with a /proc scan into *out (replaced): every
 * libvirt domain, enriched by the scan entry with the same pid (threads and
 * disk fds and vCPU threads the scan found that libvirt lacks, start_time,
 * source bits or'ed), then every scanned
 * QEMU that libvirt does not know. Returns out->n or -ENOMEM.
 */
int virt__merge(struct vm_list *out, const struct vm_list *lv, const struct vm_list *proc);

/*
 * libvirt prints every error on stderr unless told otherwise; kvmpilot
 * reports each failure once, in its own words. Process-wide, idempotent.
 */
void virt__quiet_errors(void);

/*
 * One-shot and read-only, without a struct virt (kvmpilot agent): the socket
 * path of the unix channel named channel of domain name at uri. Returns 0,
 * -ECONNREFUSED (no connection), -ENOENT (no such domain), -EIO (its XML
 * could not be read), -ENODATA (no such unix channel) or -E2BIG (a path
 * longer than size). why gets libvirt's message for the first three.
 */
int virt__channel_path(const char *uri, const char *name, const char *channel, char *path,
		       size_t size, char *why, size_t why_size);

#endif /* KVMPILOT_VIRT_H */
