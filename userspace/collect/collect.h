/* SPDX-License-Identifier: GPL-2.0 */
/*
 * The sources of a tick: libvirt (the domains, their statistics), the /proc
 * scan and the BPF tracer. collect__tick() reads them all into one list of
 * VMs; collect__trace() and collect__virt() then give each VM's sample what
 * the tracer and libvirt said (the agent's part is the controller's channel).
 * A source that is not there (libvirtd down, no BPF) is retried and said in
 * the health; the others keep working.
 */
#ifndef KVMPILOT_COLLECT_H
#define KVMPILOT_COLLECT_H

#include <stdbool.h>
#include <stdint.h>

struct collector;
struct config;
struct virt;
struct vm_desc;
struct vm_list;
struct vm_sample;

/*
 * Open libvirt (connecting in the background) and the tracer; NULL with errno
 * set. Raises the soft RLIMIT_NOFILE to the hard limit (a file per VM).
 */
struct collector *collect__open(const struct config *cfg);
/* Closes libvirt and the tracer (pinned BPF maps stay). Accepts NULL. */
void collect__close(struct collector *c);

/*
 * Read the sources for tick number tick; the time each took goes to
 * phase_ms[TICK_PHASE_PROCSCAN, LIBVIRT, BPF]. 0 or -ENOMEM.
 */
int collect__tick(struct collector *c, const struct config *cfg, uint64_t tick, double *phase_ms);

/* Every VM of the last collect__tick(): libvirt's and QEMUs found in /proc. */
const struct vm_list *collect__list(const struct collector *c);

/* The tracer's counters of s's VM, else vCPU times from schedstat. */
void collect__trace(struct collector *c, struct vm_sample *s);

/*
 * libvirt's sizes and, when they may count (sample__wants_balloon()), its
 * balloon statistics. After the agent's part.
 */
void collect__virt(struct collector *c, const struct vm_desc *d, struct vm_sample *s,
		   double silent_s);

/* The libvirt handle, for the actuator and the health. */
struct virt *collect__virt_handle(const struct collector *c);

/*
 * What the sources refused or could not do, cumulative since collect__open:
 * QEMU-like processes not taken as VMs by reason (procscan.h's enum
 * procscan_refused: "owner", "limit"), tracking entries the tracer could not
 * write.
 */
#define COLLECT_REFUSED_NR 2
struct collect_counters {
	uint64_t refused[COLLECT_REFUSED_NR];
	uint64_t trace_sync_failures;
};
const struct collect_counters *collect__counters(struct collector *c);

bool collect__bpf_loaded(const struct collector *c);
const char *collect__bpf_error(const struct collector *c);

#endif /* KVMPILOT_COLLECT_H */
