/* SPDX-License-Identifier: GPL-2.0 */
/*
 * What the HTTP side may read: an immutable snapshot of one tick, built
 * and published by the tick thread. Readers take a reference and drop it
 * when done; the publisher swaps the current pointer and drops its own.
 * Nothing in here points at BPF or libvirt handles.
 */
#ifndef KVMPILOT_SNAPSHOT_H
#define KVMPILOT_SNAPSHOT_H

#include <stdatomic.h>
#include <stdbool.h>
#include <stdint.h>

#include "actuate.h"
#include "history.h"
#include "sample.h"

/* The parts of a tick, in order; their names are the API's phases_ms keys. */
enum tick_phase {
	TICK_PHASE_PROCSCAN,
	TICK_PHASE_LIBVIRT,
	TICK_PHASE_BPF,
	TICK_PHASE_DECIDE, /* merge, policy and actions */
	TICK_PHASE_HISTORY,
	TICK_PHASE_SNAPSHOT,
	TICK_PHASES
};

const char *tick_phase__name(enum tick_phase p);

#define SNAPSHOT_REFUSED_NR 2 /* COLLECT_REFUSED_NR */

struct snapshot_vm {
	struct history *hist;			/* a reference, for the series API */
	struct act_counts actions[ACT_KIND_NR]; /* by enum act_kind */
	struct vm_sample s;			/* last: see the end of struct vm_sample */
};

struct snapshot_health {
	bool libvirt_connected;
	char libvirt_uri[256];
	char libvirt_error[256];
	unsigned int libvirt_retries;
	double libvirt_next_retry_s; /* seconds until the next attempt, when down */
	bool bpf_loaded;
	char bpf_error[256];
	bool procscan;
	bool agent;
	bool policy;
	bool dry_run;
	unsigned int tick_ms;
	double last_tick_ms;	      /* how long the last tick took */
	double phase_ms[TICK_PHASES]; /* of which, by enum tick_phase */
	uint64_t ticks;
	uint64_t tick_overruns;
	uint64_t early_ticks; /* started early on a guest's falling memory */
	double start_time;    /* unix seconds */
	char config_path[256];
	char config_error[512]; /* last reload error, "" when fine */
	uint64_t config_reloads;
	/* the configuration in effect (global keys; [vm] keys show per VM) */
	unsigned int agent_timeout_s;
	unsigned int max_connections;
	uint64_t history_max_bytes;
	unsigned int history_keep;
	unsigned int libvirt_retry_max_s;
	unsigned int procscan_ticks;
	bool bpf;
	/* QEMU-like processes not taken as VMs, by collect.h's reason ("owner", "limit") */
	uint64_t procscan_refused[SNAPSHOT_REFUSED_NR];
	uint64_t trace_sync_failures;	     /* tracking entries the tracer could not write */
	unsigned long libvirt_names_refused; /* virt_counters.names_refused */
};

/* A response rendered once per snapshot (it is immutable), shared by readers. */
struct snapshot_blob {
	size_t len;
	char data[];
};

enum snapshot_cache {
	SNAP_CACHE_VMS,
	SNAP_CACHE_METRICS,
	SNAP_CACHE_NR,
};

struct snapshot {
	_Atomic int refs;
	_Atomic(struct snapshot_blob *) cache[SNAP_CACHE_NR];
	_Atomic bool asked[SNAP_CACHE_NR]; /* a client asked for it (not the pre-render) */
	uint64_t seq;
	double time; /* unix seconds of the tick */
	struct snapshot_health health;
	int nvms;
	struct snapshot_vm *vms;
	int nactions; /* oldest first */
	struct action_rec *actions;
	uint64_t actions_total;
};

/* A snapshot for nvms VMs and nactions actions, one reference; NULL on ENOMEM. */
struct snapshot *snapshot__new(int nvms, int nactions);
struct snapshot *snapshot__ref(struct snapshot *snap);
void snapshot__put(struct snapshot *snap);
const struct snapshot_vm *snapshot__find(const struct snapshot *snap, const char *name);

/*
 * The cached rendering `which` of snap, made by render(snap, &len) (a
 * malloc'ed string) on first use; concurrent first users may both render,
 * one result wins. NULL when out of memory.
 */
const struct snapshot_blob *snapshot__cached(struct snapshot *snap, enum snapshot_cache which,
					     char *(*render)(const struct snapshot *, size_t *));

/* Where the current snapshot lives; the lock only covers the pointer swap. */
struct snapshot_slot;

struct snapshot_slot *snapshot_slot__new(void);
void snapshot_slot__free(struct snapshot_slot *slot);
/* Publish snap (takes over the caller's reference). */
void snapshot_slot__publish(struct snapshot_slot *slot, struct snapshot *snap);
/* The current snapshot with a new reference, or NULL before the first tick. */
struct snapshot *snapshot_slot__get(struct snapshot_slot *slot);

#endif /* KVMPILOT_SNAPSHOT_H */
