/* SPDX-License-Identifier: GPL-2.0 */
/*
 * Inside the libvirt wing: what virt_conn.c (connection, events, the
 * bounded-job threads), virt_list.c (the domains), virt_stats.c (bulk and
 * balloon statistics) and virt_xml.c (domain XML) share. Nothing outside
 * virt*.c includes it.
 */
#ifndef KVMPILOT_VIRT_PRIV_H
#define KVMPILOT_VIRT_PRIV_H

#include <pthread.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdint.h>

#include "virt_libvirt.h"

#define EVQ_SIZE 1024
#define MS	 1000000ull

struct dom_entry {
	struct vm_desc vm;
	struct virt_dom_info info;
	bool seen;
	/* balloon figures of the last NOWAIT stats record that had a balloon group */
	struct virt_memstats bal;
	uint64_t bal_ns; /* 0: none */
};

/*
 * What libvirt's callbacks (event loop thread) write to: one per connection,
 * reference counted. libvirt may still run a callback after its deregistration
 * returned, so each registration holds a reference that libvirt drops through
 * the free callback once the callback is really gone.
 */
struct sink {
	pthread_mutex_t lock;
	atomic_int refs;
	atomic_int lost; /* set by the close callback */
	struct virt_event evq[EVQ_SIZE];
	int evq_head, evq_len;
	bool evq_overflow;
};

struct virt {
	char uri[VM_PATH_MAX];
	char run_dir[VM_PATH_MAX];
	int keepalive_interval;
	unsigned int keepalive_count;
	uint64_t refresh_ns;
	uint64_t backoff_min_ns, backoff_max_ns;
	int stats_period;

	uint64_t connect_timeout_ns;
	uint64_t stats_timeout_ns;
	struct conn_job *job; /* a connection attempt under way */
	uint64_t job_start_ns;

	virConnectPtr conn;
	int cb_lifecycle, cb_dev_added, cb_dev_removed, cb_tunable;
	uint64_t next_connect_ns;
	uint64_t backoff_ns;
	uint64_t next_refresh_ns;
	char err[256];

	struct dom_entry *doms;
	int ndoms, capdoms;

	/* where this connection's callbacks put events, NULL while disconnected */
	struct sink *sink;
	/* events already applied, handed to virt__events() */
	struct virt_event out[EVQ_SIZE];
	int nout;

	struct virt_counters cnt;
};

/*
 * A libvirt call that may never return, on a detached thread of its own. The
 * caller waits for it with a deadline and may give up on it (abandon): the
 * thread then frees the job itself when the call ends. The thread stores its
 * results, then calls bg_job__finish(); the caller reads them once
 * bg_job__wait() said done.
 */
struct bg_job {
	pthread_mutex_t lock;
	pthread_cond_t cond;
	bool done, abandoned;
};

void bg_job__init(struct bg_job *b);
void bg_job__destroy(struct bg_job *b);
/* Run fn(arg) on a detached thread. 0 or -errno. */
int bg_job__start(void *(*fn)(void *), void *arg);
/* The thread's end. True when the caller gave up: the job is the thread's to free. */
bool bg_job__finish(struct bg_job *b);
/*
 * Wait at most wait_ns (0: just look) for the call to end; true when it did.
 * Not done and abandon: the thread frees the job, the caller forgets it.
 */
bool bg_job__wait(struct bg_job *b, uint64_t wait_ns, bool abandon);

/* virt_conn.c: count a failed call and keep libvirt's message. */
void virt_conn__note_err(struct virt *v);
/* virt_conn.c: after a failed call, is the connection still there? Drops it when not. */
bool virt_conn__alive(struct virt *v);

/* virt_list.c: the domains known, by name. */
struct dom_entry *virt_doms__find(struct virt *v, const char *name);
void virt_doms__remove(struct virt *v, struct dom_entry *e);
/* Re-read one domain: 1 when it changed, 0 when not, -ENOTCONN or -EIO. */
int virt_doms__refresh_one(struct virt *v, const char *name);
/* Re-list every running domain: the number of changes or -errno. */
int virt_doms__refresh_all(struct virt *v);

#endif /* KVMPILOT_VIRT_PRIV_H */
