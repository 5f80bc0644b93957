// SPDX-License-Identifier: GPL-2.0
/* The publisher: the action ring, snapshot and health (see publish.h). */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "collect.h"
#include "config.h"
#include "control.h"
#include "history.h"
#include "publish.h"
#include "util.h"
#include "vm.h"

#define KIB_PER_MIB 1024ull

struct publisher {
	struct action_rec ring[PUBLISH_ACTION_RING];
	int n, head;
	uint64_t total;
};

struct publisher *publish__new(void)
{
	return calloc(1, sizeof(struct publisher));
}

void publish__free(struct publisher *p)
{
	free(p);
}

/*
 * Every string that leaves the process (JSON, metrics labels) is valid UTF-8
 * without control characters: vm.h's name rule, applied once here to what
 * libvirt, the guest or the config file said.
 */
static void clean(char *s, size_t size)
{
	char tmp[1024];

	if (!size || vm_name__valid(s))
		return;
	(void)vm_name__sanitize(tmp, sizeof(tmp) < size ? sizeof(tmp) : size, s, strnlen(s, size));
	memcpy(s, tmp, strlen(tmp) + 1);
}

static void push(struct publisher *p, const struct action_rec *rec)
{
	p->ring[p->head] = *rec;
	clean(p->ring[p->head].vm, sizeof(p->ring[p->head].vm));
	clean(p->ring[p->head].reason, sizeof(p->ring[p->head].reason));
	clean(p->ring[p->head].result, sizeof(p->ring[p->head].result));
	p->head = (p->head + 1) % PUBLISH_ACTION_RING;
	if (p->n < PUBLISH_ACTION_RING)
		p->n++;
	p->total++;
}

void publish__action(struct publisher *p, const struct act_record *rec)
{
	bool mem = rec->kind == ACT_MEMORY;
	struct action_rec a = { 0 };

	/* once per episode: the record of every action says it too */
	if (mem && rec->first_over_ceiling)
		log_warn(
			"memory of '%s': guest used + reserve (%llu MiB) is above its ceiling "
			"(%llu MiB): held at the ceiling, the guest must reclaim, swap or OOM-kill "
			"until it uses less",
			rec->vm, (unsigned long long)(rec->floor_kib / KIB_PER_MIB),
			(unsigned long long)(rec->to / KIB_PER_MIB));
	if (rec->outcome == ACT_RES_UNCHANGED || rec->outcome == ACT_RES_RATE_LIMITED)
		return; /* the action log keeps those; the API shows what moved */
	a.time_ns = rec->time_ns;
	(void)str_copy(a.vm, rec->vm, sizeof(a.vm));
	(void)str_copy(a.what, act_kind__str(rec->kind), sizeof(a.what));
	a.from = (int64_t)(mem ? rec->from / KIB_PER_MIB : rec->from);
	a.to = (int64_t)(mem ? rec->to / KIB_PER_MIB : rec->to);
	(void)str_copy(a.unit, mem ? "MiB" : "", sizeof(a.unit));
	(void)str_copy(a.reason, rec->reason, sizeof(a.reason));
	(void)str_copy(a.result, rec->result, sizeof(a.result));
	a.dry_run = rec->dry_run;
	push(p, &a);
	log_info("action on '%s': %s %lld -> %lld%s (%s): %s", a.vm, a.what, (long long)a.from,
		 (long long)a.to, a.unit, a.result, a.reason);
}

void publish__cpus_failure(struct publisher *p, const char *vm, const struct ctl_cpus_failure *f,
			   uint64_t now_ns)
{
	int e = f->err < 0 ? -f->err : f->err;
	struct action_rec a = { 0 };

	a.time_ns = now_ns;
	(void)str_copy(a.vm, vm, sizeof(a.vm));
	(void)str_copy(a.what, act_kind__str(ACT_VCPUS), sizeof(a.what));
	a.from = a.to = f->cpus;
	(void)str_copy(a.reason, "the guest agent did not confirm set-cpus", sizeof(a.reason));
	(void)snprintf(a.result, sizeof(a.result), "error: agent: %s", strerror(e));
	push(p, &a);
	log_warn("agent of '%s': set-cpus %d failed after %d tries: %s", vm, f->cpus, f->tries,
		 strerror(e));
}

void publish__vm(struct snapshot_vm *sv, struct history *hist, const struct act_counts *memory,
		 const struct act_counts *vcpus)
{
	struct vm_sample *s = &sv->s;

	clean(s->name, sizeof(s->name));
	clean(s->uuid, sizeof(s->uuid));
	clean(s->policy, sizeof(s->policy));
	clean(s->reason, sizeof(s->reason));
	for (int i = 0; i < s->nnets && i < VM_MAX_TAPS; i++)
		clean(s->nets[i].ifname, sizeof(s->nets[i].ifname));
	for (int i = 0; i < s->ndisks && i < VM_MAX_DISKS; i++)
		clean(s->disks[i].name, sizeof(s->disks[i].name));
	for (int i = 0; i < s->nreasons && i < SAMPLE_MAX_REASONS; i++)
		clean(s->reasons[i].name, sizeof(s->reasons[i].name));
	sv->hist = history__get(hist);
	sv->actions[ACT_MEMORY] = *memory;
	sv->actions[ACT_VCPUS] = *vcpus;
}

static void health(struct snapshot_health *h, const struct snapshot *snap,
		   const struct publish_health *in)
{
	const struct config *cfg = in->cfg;

	(void)str_copy(h->libvirt_uri, cfg->uri, sizeof(h->libvirt_uri));
	h->libvirt_connected = in->libvirt_connected;
	h->libvirt_names_refused = in->libvirt_names_refused;
	if (!h->libvirt_connected) {
		h->libvirt_retries = in->libvirt_retries;
		(void)str_copy(h->libvirt_error, in->libvirt_error, sizeof(h->libvirt_error));
		if (!h->libvirt_error[0])
			(void)str_copy(h->libvirt_error, "not connected", sizeof(h->libvirt_error));
	}
	h->bpf_loaded = in->bpf_loaded;
	for (int i = 0; i < snap->nvms; i++)
		h->agent |= snap->vms[i].s.mem_source == MEM_SOURCE_AGENT &&
			    !sample__agent_silent(&snap->vms[i].s, cfg->agent_timeout_s);
	h->policy = true;
	(void)str_copy(h->bpf_error, in->bpf_error, sizeof(h->bpf_error));
	h->procscan = cfg->procscan;
	h->dry_run = cfg->defaults.dry_run;
	h->tick_ms = cfg->tick_ms;
	h->last_tick_ms = in->last_tick_ms;
	memcpy(h->phase_ms, in->phase_ms, sizeof(h->phase_ms));
	h->ticks = in->ticks;
	h->tick_overruns = in->overruns;
	h->early_ticks = in->early_ticks;
	h->start_time = in->start_time;
	(void)str_copy(h->config_path, cfg->path, sizeof(h->config_path));
	(void)str_copy(h->config_error, in->config_error, sizeof(h->config_error));
	h->config_reloads = in->config_reloads;
	h->agent_timeout_s = cfg->agent_timeout_s;
	h->max_connections = cfg->max_connections;
	h->history_max_bytes = cfg->history_max_bytes;
	h->history_keep = cfg->history_keep;
	h->libvirt_retry_max_s = cfg->libvirt_retry_max_s;
	h->procscan_ticks = cfg->procscan_ticks;
	h->bpf = cfg->bpf;
	if (in->counters) {
		_Static_assert(SNAPSHOT_REFUSED_NR == COLLECT_REFUSED_NR, "one reason list");
		memcpy(h->procscan_refused, in->counters->refused, sizeof(h->procscan_refused));
		h->trace_sync_failures = in->counters->trace_sync_failures;
	}
	/* libvirt's and the config's words may hold any bytes: JSON needs UTF-8 */
	clean(h->libvirt_uri, sizeof(h->libvirt_uri));
	clean(h->libvirt_error, sizeof(h->libvirt_error));
	clean(h->bpf_error, sizeof(h->bpf_error));
	clean(h->config_path, sizeof(h->config_path));
	clean(h->config_error, sizeof(h->config_error));
}

int publish__snapshot(const struct publisher *p, struct snapshot *snap, double now,
		      const struct publish_health *in)
{
	struct action_rec *actions;

	actions = calloc(p->n ? (size_t)p->n : 1, sizeof(*actions));
	if (!actions)
		return -ENOMEM;
	free(snap->actions);
	snap->actions = actions;
	snap->seq = in->ticks;
	snap->time = now;
	for (int i = 0; i < p->n; i++)
		actions[i] =
			p->ring[(p->head - p->n + i + PUBLISH_ACTION_RING) % PUBLISH_ACTION_RING];
	snap->nactions = p->n;
	snap->actions_total = p->total;
	health(&snap->health, snap, in);
	return 0;
}
