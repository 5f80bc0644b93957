/* SPDX-License-Identifier: GPL-2.0 */
/*
 * The publisher: what the HTTP side may see of the tick thread's work. It
 * keeps the one ring of actions the API shows (those that moved something
 * or failed, in MiB and vCPUs) and completes each tick's snapshot with the
 * VMs' history references and action counts, the ring and the health.
 * Everything it says to people (log lines about actions) is said here, once.
 */
#ifndef KVMPILOT_PUBLISH_H
#define KVMPILOT_PUBLISH_H

#include <stdbool.h>
#include <stdint.h>

#include "actuate.h"
#include "snapshot.h"

struct collect_counters;
struct config;
struct ctl_cpus_failure;

#define PUBLISH_ACTION_RING 256

/* What the loop knows of itself and its sources, for /healthz. */
struct publish_health {
	const struct config *cfg;
	bool libvirt_connected;
	const char *libvirt_error; /* "" when none */
	unsigned int libvirt_retries;
	bool bpf_loaded;
	const char *bpf_error;
	const char *config_error;
	uint64_t config_reloads;
	uint64_t ticks, overruns, early_ticks;
	double last_tick_ms;
	const double *phase_ms; /* [TICK_PHASES] */
	double start_time;
	const struct collect_counters *counters; /* NULL: none */
	unsigned long libvirt_names_refused;	 /* virt_counters.names_refused */
};

struct publisher;

/* NULL when out of memory. */
struct publisher *publish__new(void);
void publish__free(struct publisher *p);

/*
 * An actuator's record: the API's ring gets it when it moved something or
 * failed, the log a line; a floor over the ceiling is said once per episode.
 */
void publish__action(struct publisher *p, const struct act_record *rec);

/* A set-cpus the agent of vm did not confirm, at wall clock now_ns. */
void publish__cpus_failure(struct publisher *p, const char *vm, const struct ctl_cpus_failure *f,
			   uint64_t now_ns);

/* One VM of the snapshot: a history reference and its action counts. */
void publish__vm(struct snapshot_vm *sv, struct history *hist, const struct act_counts *memory,
		 const struct act_counts *vcpus);

/*
 * Complete snap (its samples written by the tick): sequence, time (unix
 * seconds), the action ring, the health. 0 or -ENOMEM.
 */
int publish__snapshot(const struct publisher *p, struct snapshot *snap, double now,
		      const struct publish_health *in);

#endif /* KVMPILOT_PUBLISH_H */
