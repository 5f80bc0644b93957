// SPDX-License-Identifier: GPL-2.0
/* The JSON API: /api/v1/vms, /api/v1/vms/NAME/series, /api/v1/actions, /healthz. */
#include <errno.h>
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <json-c/json.h>

#include "api.h"
#include "assets.h"
#include "metrics.h"
#include "procscan.h"
#include "util.h"

#define MIB(kib) ((double)(kib) / 1024.0)

static int json_reply(struct http_response *resp, struct json_object *o)
{
	const char *s;

	if (!o)
		return http__error(resp, 500, "out of memory");
	s = json_object_to_json_string_ext(o,
					   JSON_C_TO_STRING_PLAIN | JSON_C_TO_STRING_NOSLASHESCAPE);
	resp->status = 200;
	resp->content_type = "application/json";
	resp->body = s ? strdup(s) : NULL;
	json_object_put(o);
	if (!resp->body)
		return http__error(resp, 500, "out of memory");
	resp->len = strlen(resp->body);
	return 0;
}

static struct json_object *jnum(double v)
{
	if (!isfinite(v))
		return NULL; /* JSON null */
	char buf[32];

	/* seven significant digits are plenty for every rate, size and percentage */
	snprintf(buf, sizeof(buf), "%.7g", v);
	return json_object_new_double_s(v, buf);
}

static struct json_object *jtime(double t)
{
	char buf[32];

	snprintf(buf, sizeof(buf), "%.3f", t);
	return json_object_new_double_s(t, buf);
}

static struct json_object *jint(int64_t v)
{
	return json_object_new_int64(v);
}

#define ADD(o, k, v) json_object_object_add((o), (k), (v))

static struct json_object *memory_json(const struct vm_sample *s)
{
	struct json_object *m = json_object_new_object();
	bool mem = s->mem_source != MEM_SOURCE_NONE, agent = s->mem_source == MEM_SOURCE_AGENT;

	ADD(m, "source", json_object_new_string(mem_source__name(s->mem_source)));
	ADD(m, "age_s", mem ? jnum(s->mem_age_s) : NULL);
	ADD(m, "guest_total_mib", mem ? jnum(MIB(s->mem_total_kib)) : NULL);
	ADD(m, "guest_used_mib", mem ? jnum(MIB(s->mem_used_kib)) : NULL);
	ADD(m, "guest_available_mib", mem ? jnum(MIB(s->mem_avail_kib)) : NULL);
	ADD(m, "swap_used_mib", agent ? jnum(MIB(s->swap_used_kib)) : NULL);
	ADD(m, "swap_in_per_s", agent ? jnum(s->swap_in_per_s) : NULL);
	ADD(m, "swap_out_per_s", agent ? jnum(s->swap_out_per_s) : NULL);
	ADD(m, "psi_some_avg10", s->psi_mem_some >= 0 ? jnum(s->psi_mem_some) : NULL);
	return m;
}

/* null for a VM without an agent channel */
static struct json_object *agent_json(const struct vm_sample *s)
{
	struct json_object *ag;

	if (!s->agent_channel)
		return NULL;
	ag = json_object_new_object();
	ADD(ag, "connected", json_object_new_boolean(s->agent_connected));
	ADD(ag, "samples", jint((int64_t)s->agent_samples));
	ADD(ag, "rejected_lines", jint((int64_t)s->agent_rejected));
	return ag;
}

static struct json_object *allocation_json(const struct vm_sample *s)
{
	struct json_object *a = json_object_new_object();

	ADD(a, "memory_mib", s->balloon_kib ? jnum(MIB(s->balloon_kib)) : NULL);
	ADD(a, "memory_max_mib", s->mem_max_kib ? jnum(MIB(s->mem_max_kib)) : NULL);
	ADD(a, "vcpus", s->vcpus_current > 0 ? jint(s->vcpus_current) : NULL);
	ADD(a, "vcpus_online", s->vcpus_online > 0 ? jint(s->vcpus_online) : NULL);
	ADD(a, "vcpus_max", s->vcpus_max > 0 ? jint(s->vcpus_max) : NULL);
	return a;
}

static struct json_object *bounds_json(const struct vm_sample *s)
{
	struct json_object *b = json_object_new_object();

	ADD(b, "mem_floor_mib", jnum(MIB(s->mem_floor_kib)));
	ADD(b, "mem_ceiling_mib", s->mem_ceiling_kib ? jnum(MIB(s->mem_ceiling_kib)) : NULL);
	ADD(b, "vcpu_min", jint(s->vcpu_min));
	ADD(b, "vcpu_max", s->vcpu_max > 0 ? jint(s->vcpu_max) : NULL);
	return b;
}

static struct json_object *cpu_json(const struct vm_sample *s)
{
	struct json_object *c = json_object_new_object(), *arr = json_object_new_array();

	ADD(c, "source", json_object_new_string(s->have_cpu ? s->cpu_source : "none"));
	ADD(c, "busy_pct", s->have_cpu ? jnum(s->cpu_busy_pct) : NULL);
	ADD(c, "wait_pct", s->have_cpu ? jnum(s->cpu_wait_pct) : NULL);
	ADD(c, "emulator_pct", s->have_bpf ? jnum(s->emulator_pct) : NULL);
	ADD(c, "guest_cpu_pct", s->guest_cpu_pct >= 0 ? jnum(s->guest_cpu_pct) : NULL);
	ADD(c, "psi_some_avg10", s->psi_cpu_some >= 0 ? jnum(s->psi_cpu_some) : NULL);
	for (int i = 0; i < s->nvcpus; i++) {
		const struct sample_vcpu *v = &s->vcpus[i];
		struct json_object *vo = json_object_new_object();

		ADD(vo, "index", jint(v->index));
		ADD(vo, "tid", jint(v->tid));
		ADD(vo, "busy_pct", s->have_cpu ? jnum(v->busy_pct) : NULL);
		ADD(vo, "wait_pct", s->have_cpu ? jnum(v->wait_pct) : NULL);
		ADD(vo, "exits_per_s", s->have_bpf ? jnum(v->exits_per_s) : NULL);
		ADD(vo, "run_ns", jint((int64_t)v->run_ns));
		ADD(vo, "wait_ns", jint((int64_t)v->wait_ns));
		ADD(vo, "exits", jint((int64_t)v->exits));
		json_object_array_add(arr, vo);
	}
	ADD(c, "vcpus", arr);
	return c;
}

static struct json_object *exits_json(const struct vm_sample *s)
{
	struct json_object *e = json_object_new_object(), *by = json_object_new_object();

	ADD(e, "total", jint((int64_t)s->exits_total));
	ADD(e, "per_s", s->have_bpf ? jnum(s->exits_per_s) : NULL);
	for (int i = 0; i < s->nreasons; i++)
		ADD(by, s->reasons[i].name, jnum(s->reasons[i].per_s));
	ADD(e, "per_s_by_reason", by);
	ADD(e, "handling_p50_us", s->have_bpf ? jnum(s->exit_p50_us) : NULL);
	ADD(e, "handling_p99_us", s->have_bpf ? jnum(s->exit_p99_us) : NULL);
	return e;
}

static struct json_object *net_json(const struct vm_sample *s)
{
	struct json_object *arr = json_object_new_array();

	for (int i = 0; i < s->nnets; i++) {
		const struct sample_net *n = &s->nets[i];
		struct json_object *no = json_object_new_object();

		ADD(no, "ifname", json_object_new_string(n->ifname));
		ADD(no, "rx_bytes_per_s", s->have_bpf ? jnum(n->rx_bps) : NULL);
		ADD(no, "tx_bytes_per_s", s->have_bpf ? jnum(n->tx_bps) : NULL);
		ADD(no, "rx_packets_per_s", s->have_bpf ? jnum(n->rx_pps) : NULL);
		ADD(no, "tx_packets_per_s", s->have_bpf ? jnum(n->tx_pps) : NULL);
		ADD(no, "rx_bytes", jint((int64_t)n->rx_bytes));
		ADD(no, "tx_bytes", jint((int64_t)n->tx_bytes));
		json_object_array_add(arr, no);
	}
	return arr;
}

static struct json_object *block_json(const struct vm_sample *s)
{
	struct json_object *blk = json_object_new_object(), *arr = json_object_new_array();

	ADD(blk, "read_bytes_per_s", s->have_bpf ? jnum(s->blk_rd_bps) : NULL);
	ADD(blk, "write_bytes_per_s", s->have_bpf ? jnum(s->blk_wr_bps) : NULL);
	ADD(blk, "read_ops_per_s", s->have_bpf ? jnum(s->blk_rd_iops) : NULL);
	ADD(blk, "write_ops_per_s", s->have_bpf ? jnum(s->blk_wr_iops) : NULL);
	ADD(blk, "latency_p50_us", s->have_bpf ? jnum(s->blk_p50_us) : NULL);
	ADD(blk, "latency_p99_us", s->have_bpf ? jnum(s->blk_p99_us) : NULL);
	for (int i = 0; i < s->ndisks; i++) {
		const struct sample_disk *k = &s->disks[i];
		struct json_object *dd = json_object_new_object();

		ADD(dd, "disk", json_object_new_string(k->name));
		ADD(dd, "read_bytes", jint((int64_t)k->rd_bytes));
		ADD(dd, "write_bytes", jint((int64_t)k->wr_bytes));
		ADD(dd, "read_ops", jint((int64_t)k->rd_ops));
		ADD(dd, "write_ops", jint((int64_t)k->wr_ops));
		json_object_array_add(arr, dd);
	}
	ADD(blk, "disks", arr);
	return blk;
}

static struct json_object *decision_json(const struct vm_sample *s)
{
	struct json_object *d = json_object_new_object();
	bool fc = s->forecast_kib > 0;

	ADD(d, "decided", json_object_new_boolean(s->decided));
	ADD(d, "changed", json_object_new_boolean(s->changed));
	ADD(d, "target_memory_mib",
	    s->decided && s->target_mem_kib ? jnum(MIB(s->target_mem_kib)) : NULL);
	ADD(d, "target_vcpus", s->decided && s->target_vcpus > 0 ? jint(s->target_vcpus) : NULL);
	ADD(d, "forecast_mib", fc ? jnum(MIB(s->forecast_kib)) : NULL);
	ADD(d, "forecast_lo_mib", fc ? jnum(MIB(s->forecast_lo_kib)) : NULL);
	ADD(d, "forecast_hi_mib", fc ? jnum(MIB(s->forecast_hi_kib)) : NULL);
	ADD(d, "balloon_lag_s", s->decided && s->mem_lag_s >= 0 ? jnum(s->mem_lag_s) : NULL);
	ADD(d, "reason", s->decided ? json_object_new_string(s->reason) : NULL);
	return d;
}

/* One element of /api/v1/vms: one object per concern, in the order clients read. */
static struct json_object *vm_json(const struct snapshot_vm *sv)
{
	const struct vm_sample *s = &sv->s;
	struct json_object *o = json_object_new_object(), *arr = json_object_new_array();

	ADD(o, "name", json_object_new_string(s->name));
	ADD(o, "uuid", s->uuid[0] ? json_object_new_string(s->uuid) : NULL);
	ADD(o, "pid", s->pid > 0 ? jint(s->pid) : NULL);
	ADD(o, "running", json_object_new_boolean(s->running));
	if (s->source & VM_SOURCE_LIBVIRT)
		json_object_array_add(arr, json_object_new_string("libvirt"));
	if (s->source & VM_SOURCE_PROC)
		json_object_array_add(arr, json_object_new_string("proc"));
	ADD(o, "found_by", arr);
	ADD(o, "time", jtime((double)s->time_ns / 1e9));
	ADD(o, "memory", memory_json(s));
	ADD(o, "agent", agent_json(s));
	ADD(o, "allocation", allocation_json(s));
	ADD(o, "bounds", bounds_json(s));
	ADD(o, "policy", json_object_new_string(s->policy));
	ADD(o, "enabled", json_object_new_boolean(s->enabled));
	ADD(o, "dry_run", json_object_new_boolean(s->dry_run));
	ADD(o, "cpu", cpu_json(s));
	ADD(o, "exits", exits_json(s));
	ADD(o, "net", net_json(s));
	ADD(o, "block", block_json(s));
	ADD(o, "decision", decision_json(s));
	return o;
}

char *api__render_vms(const struct snapshot *snap, size_t *len)
{
	struct json_object *o = json_object_new_object(), *arr = json_object_new_array();
	const char *s;
	char *out;

	ADD(o, "time", jtime(snap->time));
	ADD(o, "tick_s", jnum(snap->health.tick_ms / 1000.0));
	for (int i = 0; i < snap->nvms; i++)
		json_object_array_add(arr, vm_json(&snap->vms[i]));
	ADD(o, "vms", arr);
	s = json_object_to_json_string_ext(o,
					   JSON_C_TO_STRING_PLAIN | JSON_C_TO_STRING_NOSLASHESCAPE);
	out = s ? strdup(s) : NULL;
	json_object_put(o);
	if (out)
		*len = strlen(out);
	return out;
}

/* A copy of a cached rendering as the response body (it outlives our reference). */
static int cached_reply(struct snapshot *snap, enum snapshot_cache which,
			char *(*render)(const struct snapshot *, size_t *), const char *type,
			struct http_response *resp)
{
	const struct snapshot_blob *b;

	atomic_store_explicit(&snap->asked[which], true, memory_order_relaxed);
	b = snapshot__cached(snap, which, render);

	if (!b || !(resp->body = malloc(b->len + 1)))
		return http__error(resp, 500, "out of memory");
	memcpy(resp->body, b->data, b->len + 1);
	resp->len = b->len;
	resp->status = 200;
	resp->content_type = type;
	return 0;
}

static int parse_since(const char *s, double *out)
{
	if (!s || !*s) {
		*out = 0;
		return 0;
	}
	return parse_double(s, 0, 1e11, out);
}

/*
 * A name an exit reason could have (exitreason.h: "HLT", "VMX_70",
 * "SVM_0x7b"): the series of one that has no column yet is empty, not an
 * error; anything else is an unknown metric (and never a JSON key).
 */
static bool reason_name(const char *s)
{
	if (!*s || strlen(s) >= EXITREASON_NAME_MAX)
		return false;
	for (; *s; s++) {
		if (!(*s >= 'A' && *s <= 'Z') && !(*s >= 'a' && *s <= 'z') &&
		    !(*s >= '0' && *s <= '9') && *s != '_')
			return false;
	}
	return true;
}

static int do_series(const struct snapshot *snap, const char *name, http_arg_fn arg, void *cls,
		     struct http_response *resp)
{
	const struct snapshot_vm *sv = snapshot__find(snap, name);
	const char *metric = arg(cls, "metric");
	int cols[API_MAX_METRICS], ncols = 0, nrows, err;
	struct history_row *rows = NULL;
	struct json_object *o, *t, *series;
	char buf[1024], *tok, *save = NULL;
	double since;

	if (!sv)
		return http__error(resp, 404, "no VM named '%s'", name);
	if (!metric || !*metric)
		return http__error(resp, 400, "missing parameter 'metric' (comma-separated list)");
	if (parse_since(arg(cls, "since"), &since))
		return http__error(resp, 400, "bad parameter 'since': '%s' (unix seconds)",
				   arg(cls, "since"));
	if (str_copy(buf, metric, sizeof(buf)))
		return http__error(resp, 400, "parameter 'metric' too long");
	for (tok = strtok_r(buf, ",", &save); tok; tok = strtok_r(NULL, ",", &save)) {
		int c = history__col_find(sv->hist, tok);

		if (c < 0) {
			/* a reason that has no column yet is a valid, empty series */
			if (!strncmp(tok, "exits_per_s:", 12) && reason_name(tok + 12))
				c = -1;
			else
				return http__error(resp, 400, "unknown metric '%s'", tok);
		}
		if (ncols == API_MAX_METRICS)
			return http__error(resp, 400, "too many metrics (at most %d)",
					   API_MAX_METRICS);
		cols[ncols++] = c;
	}
	if (!ncols)
		return http__error(resp, 400, "missing parameter 'metric' (comma-separated list)");

	rows = malloc((HISTORY_FINE_ROWS + HISTORY_COARSE_ROWS) * sizeof(*rows));
	if (!rows)
		return http__error(resp, 500, "out of memory");
	nrows = history__copy(sv->hist, since, rows, HISTORY_FINE_ROWS + HISTORY_COARSE_ROWS);

	o = json_object_new_object();
	ADD(o, "name", json_object_new_string(name));
	ADD(o, "since", jnum(since));
	ADD(o, "now", jtime(snap->time));
	t = json_object_new_array_ext(nrows);
	for (int r = 0; r < nrows; r++)
		json_object_array_add(t, jtime(rows[r].t));
	ADD(o, "t", t);
	series = json_object_new_object();
	save = NULL;
	(void)str_copy(buf, metric, sizeof(buf));
	tok = strtok_r(buf, ",", &save);
	for (int i = 0; i < ncols && tok; i++, tok = strtok_r(NULL, ",", &save)) {
		struct json_object *vals = json_object_new_array_ext(nrows);

		for (int r = 0; r < nrows; r++)
			json_object_array_add(vals, cols[i] >= 0 ? jnum(rows[r].v[cols[i]]) : NULL);
		ADD(series, tok, vals);
	}
	ADD(o, "series", series);
	/* the reason names that own a column, so a client can ask for them */
	t = json_object_new_array();
	for (int c = HC_REASON0; c <= HC_REASON_OTHER; c++) {
		const char *cn = history__col_name(sv->hist, c);

		if (cn)
			json_object_array_add(t, json_object_new_string(cn));
	}
	ADD(o, "reason_metrics", t);
	free(rows);
	err = json_reply(resp, o);
	return err;
}

static int do_metric_list(const struct snapshot *snap, const char *name, struct http_response *resp)
{
	const struct snapshot_vm *sv = snapshot__find(snap, name);
	struct json_object *o, *arr;

	if (!sv)
		return http__error(resp, 404, "no VM named '%s'", name);
	o = json_object_new_object();
	arr = json_object_new_array();
	for (int c = 0; c < HC_N; c++) {
		const char *cn = history__col_name(sv->hist, c);

		if (cn)
			json_object_array_add(arr, json_object_new_string(cn));
	}
	ADD(o, "metrics", arr);
	return json_reply(resp, o);
}

static int do_actions(const struct snapshot *snap, http_arg_fn arg, void *cls,
		      struct http_response *resp)
{
	struct json_object *o, *arr;
	const char *vm = arg(cls, "vm");
	double since;

	if (parse_since(arg(cls, "since"), &since))
		return http__error(resp, 400, "bad parameter 'since': '%s' (unix seconds)",
				   arg(cls, "since"));
	o = json_object_new_object();
	arr = json_object_new_array();
	for (int i = 0; i < snap->nactions; i++) {
		const struct action_rec *a = &snap->actions[i];
		/* milliseconds, exactly as printed, so since=T never repeats an action */
		double t = (double)(a->time_ns / 1000000) / 1e3;
		struct json_object *ao;

		if (t <= since || (vm && strcmp(vm, a->vm)))
			continue;
		ao = json_object_new_object();
		ADD(ao, "time", jtime(t));
		ADD(ao, "vm", json_object_new_string(a->vm));
		ADD(ao, "what", json_object_new_string(a->what));
		ADD(ao, "from", jint(a->from));
		ADD(ao, "to", jint(a->to));
		ADD(ao, "unit", json_object_new_string(a->unit));
		ADD(ao, "reason", json_object_new_string(a->reason));
		ADD(ao, "result", json_object_new_string(a->result));
		ADD(ao, "dry_run", json_object_new_boolean(a->dry_run));
		json_object_array_add(arr, ao);
	}
	ADD(o, "total", jint((int64_t)snap->actions_total));
	ADD(o, "actions", arr);
	return json_reply(resp, o);
}

static int do_healthz(const struct snapshot *snap, struct http_response *resp)
{
	const struct snapshot_health *h = &snap->health;
	struct json_object *o = json_object_new_object(), *l, *b, *t, *c, *e;

	ADD(o, "status",
	    json_object_new_string(h->libvirt_connected && h->bpf_loaded ? "ok" : "degraded"));
	l = json_object_new_object();
	ADD(l, "connected", json_object_new_boolean(h->libvirt_connected));
	ADD(l, "uri", json_object_new_string(h->libvirt_uri));
	ADD(l, "error", h->libvirt_error[0] ? json_object_new_string(h->libvirt_error) : NULL);
	ADD(l, "retries", jint(h->libvirt_retries));
	ADD(l, "next_retry_s", h->libvirt_connected ? NULL : jnum(h->libvirt_next_retry_s));
	ADD(o, "libvirt", l);
	b = json_object_new_object();
	ADD(b, "loaded", json_object_new_boolean(h->bpf_loaded));
	ADD(b, "error", h->bpf_error[0] ? json_object_new_string(h->bpf_error) : NULL);
	ADD(o, "bpf", b);
	ADD(o, "procscan", json_object_new_boolean(h->procscan));
	{
		struct json_object *r = json_object_new_object();

		for (int i = 0; i < SNAPSHOT_REFUSED_NR; i++)
			ADD(r, procscan__refused_name(i), jint((int64_t)h->procscan_refused[i]));
		ADD(o, "procscan_refused", r);
		ADD(b, "sync_failures", jint((int64_t)h->trace_sync_failures));
	}
	ADD(o, "agent", json_object_new_boolean(h->agent));
	ADD(o, "policy", json_object_new_boolean(h->policy));
	ADD(o, "dry_run", json_object_new_boolean(h->dry_run));
	ADD(o, "vms", jint(snap->nvms));
	t = json_object_new_object();
	ADD(t, "interval_ms", jint(h->tick_ms));
	ADD(t, "count", jint((int64_t)h->ticks));
	ADD(t, "last_duration_ms", jnum(h->last_tick_ms));
	ADD(t, "overruns", jint((int64_t)h->tick_overruns));
	ADD(t, "early", jint((int64_t)h->early_ticks));
	{
		struct json_object *ph = json_object_new_object();

		for (int i = 0; i < TICK_PHASES; i++)
			ADD(ph, tick_phase__name(i), jnum(h->phase_ms[i]));
		ADD(t, "phases_ms", ph);
	}
	ADD(t, "last", jtime(snap->time));
	ADD(o, "tick", t);
	c = json_object_new_object();
	ADD(c, "path", h->config_path[0] ? json_object_new_string(h->config_path) : NULL);
	ADD(c, "reloads", jint((int64_t)h->config_reloads));
	ADD(c, "last_error", h->config_error[0] ? json_object_new_string(h->config_error) : NULL);
	e = json_object_new_object();
	ADD(e, "tick_ms", jint(h->tick_ms));
	ADD(e, "agent_timeout_s", jint(h->agent_timeout_s));
	ADD(e, "max_connections", jint(h->max_connections));
	ADD(e, "history_max_bytes", jint((int64_t)h->history_max_bytes));
	ADD(e, "history_keep", jint(h->history_keep));
	ADD(e, "libvirt_retry_max_s", jint(h->libvirt_retry_max_s));
	ADD(e, "procscan", json_object_new_boolean(h->procscan));
	ADD(e, "procscan_ticks", jint(h->procscan_ticks));
	ADD(e, "bpf", json_object_new_boolean(h->bpf));
	ADD(c, "effective", e);
	ADD(o, "config", c);
	ADD(o, "uptime_s", jnum(snap->time - h->start_time));
	return json_reply(resp, o);
}

static int do_static(const char *url, struct http_response *resp)
{
	const struct asset *a = assets__find(url);

	if (!a)
		return http__error(resp, 404, "no such path '%s'", url);
	resp->status = 200;
	resp->content_type = a->content_type;
	resp->body = (char *)a->data;
	resp->len = a->len;
	resp->is_static = true;
	resp->cacheable = strcmp(url, "/") && strcmp(url, "/index.html");
	return 0;
}

int api__handle(void *slot, const char *url, http_arg_fn arg, void *cls, struct http_response *resp)
{
	struct snapshot *snap = NULL;
	const char *rest;
	int err;

	memset(resp, 0, sizeof(*resp));
	if (strncmp(url, "/api/", 5) && strcmp(url, "/healthz") && strcmp(url, "/metrics"))
		return do_static(url, resp);

	snap = snapshot_slot__get(slot);
	if (!snap)
		return http__error(resp, 503, "starting: no tick has completed yet");
	if (!strcmp(url, "/api/v1/vms") || !strcmp(url, "/api/v1/vms/")) {
		err = cached_reply(snap, SNAP_CACHE_VMS, api__render_vms, "application/json", resp);
	} else if (!strncmp(url, "/api/v1/vms/", 12)) {
		char name[VM_NAME_MAX + 1];
		const char *slash;
		size_t len;

		rest = url + 12;
		slash = strchr(rest, '/');
		len = slash ? (size_t)(slash - rest) : strlen(rest);
		if (!len || len > VM_NAME_MAX - 1) {
			err = http__error(resp, 404, "no such path '%s'", url);
			goto cleanup;
		}
		memcpy(name, rest, len);
		name[len] = '\0';
		if (slash && !strcmp(slash, "/series")) {
			err = do_series(snap, name, arg, cls, resp);
		} else if (slash && !strcmp(slash, "/metrics")) {
			err = do_metric_list(snap, name, resp);
		} else if (!slash) {
			const struct snapshot_vm *sv = snapshot__find(snap, name);

			err = sv ? json_reply(resp, vm_json(sv))
				 : http__error(resp, 404, "no VM named '%s'", name);
		} else {
			err = http__error(resp, 404, "no such path '%s'", url);
		}
	} else if (!strcmp(url, "/api/v1/actions")) {
		err = do_actions(snap, arg, cls, resp);
	} else if (!strcmp(url, "/healthz")) {
		err = do_healthz(snap, resp);
	} else if (!strcmp(url, "/metrics")) {
		err = cached_reply(snap, SNAP_CACHE_METRICS, metrics__render,
				   "text/plain; version=0.0.4; charset=utf-8", resp);
	} else {
		err = http__error(resp, 404, "no such path '%s'", url);
	}
cleanup:
	snapshot__put(snap);
	return err;
}
