// SPDX-License-Identifier: GPL-2.0
/* The actuators: balloon and vCPUs, bounded, rate-limited and logged. */
#include <errno.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <json-c/json.h>
#include <libvirt/virterror.h>

#include "actuate.h"
#include "util.h"

#define MS 1000000ull

struct vm_state {
	char name[VM_NAME_MAX];
	uint64_t last_ns[ACT_KIND_NR]; /* monotonic time of the last attempt, 0: never */
	bool unplug_pending;	       /* a hot-remove not yet confirmed by a re-read */
	bool over_ceiling;	       /* the last memory floor was above the ceiling */
	int unplug_expect;
};

struct actuate {
	struct actuate_opts opts;
	uint64_t interval_ns[ACT_KIND_NR];
	FILE *log;
	unsigned long log_written, log_failed;

	struct vm_state *vms;
	int nvms, capvms;

	pthread_mutex_t lock; /* the ring */
	struct act_record *ring;
	unsigned int ring_size, ring_head, ring_len;
};

const char *act_kind__str(enum act_kind kind)
{
	switch (kind) {
	case ACT_MEMORY:
		return "memory";
	case ACT_VCPUS:
		return "vcpus";
	default:
		return "unknown";
	}
}

struct actuate *actuate__new(const struct actuate_opts *opts)
{
	static const unsigned int def_ms[ACT_KIND_NR] = { ACT_DEFAULT_MEMORY_INTERVAL_MS,
							  ACT_DEFAULT_VCPUS_INTERVAL_MS };
	struct actuate *a;
	int err = -ENOMEM;

	a = calloc(1, sizeof(*a));
	if (!a)
		goto fail;
	if (opts)
		a->opts = *opts;
	a->opts.log_path = NULL; /* not kept: the caller's string */
	if (!a->opts.hard_min_kib)
		a->opts.hard_min_kib = ACT_DEFAULT_HARD_MIN_KIB;
	for (int k = 0; k < ACT_KIND_NR; k++) {
		unsigned int ms =
			a->opts.min_interval_ms[k] ? a->opts.min_interval_ms[k] : def_ms[k];

		a->interval_ns[k] = ms * MS;
	}
	a->ring_size = a->opts.ring_size ? a->opts.ring_size : 256;
	if (a->ring_size > 1u << 20) {
		err = -EINVAL;
		goto fail;
	}
	a->ring = calloc(a->ring_size, sizeof(*a->ring));
	if (!a->ring)
		goto fail;
	if (opts && opts->log_path) {
		a->log = fopen(opts->log_path, "ae");
		if (!a->log) {
			err = -errno;
			goto fail;
		}
	}
	pthread_mutex_init(&a->lock, NULL);
	return a;
fail:
	if (a)
		free(a->ring);
	free(a);
	errno = -err;
	return NULL;
}

void actuate__free(struct actuate *a)
{
	if (!a)
		return;
	if (a->log)
		(void)fclose(a->log);
	pthread_mutex_destroy(&a->lock);
	free(a->ring);
	free(a->vms);
	free(a);
}

static struct vm_state *vm_state(struct actuate *a, const char *name)
{
	struct vm_state *s;

	for (int i = 0; i < a->nvms; i++) {
		if (!strcmp(a->vms[i].name, name))
			return &a->vms[i];
	}
	if (a->nvms == a->capvms) {
		int cap = a->capvms ? a->capvms * 2 : 16;

		s = realloc(a->vms, (size_t)cap * sizeof(*s));
		if (!s)
			return NULL;
		a->vms = s;
		a->capvms = cap;
	}
	s = &a->vms[a->nvms++];
	memset(s, 0, sizeof(*s));
	(void)str_copy(s->name, name, sizeof(s->name));
	return s;
}

struct json_object *act_record__to_json(const struct act_record *r)
{
	char ts[40], frac[16];
	time_t sec = (time_t)(r->time_ns / 1000000000ull);
	struct json_object *o;
	struct tm tm;

	(void)gmtime_r(&sec, &tm);
	(void)strftime(ts, sizeof(ts), "%Y-%m-%dT%H:%M:%S", &tm);
	snprintf(frac, sizeof(frac), ".%03uZ", (unsigned int)(r->time_ns / 1000000ull % 1000));
	strncat(ts, frac, sizeof(ts) - strlen(ts) - 1);

	o = json_object_new_object();
	if (!o)
		return NULL;
	json_object_object_add(o, "time", json_object_new_string(ts));
	json_object_object_add(o, "time_ns", json_object_new_uint64(r->time_ns));
	json_object_object_add(o, "vm", json_object_new_string(r->vm));
	json_object_object_add(o, "what", json_object_new_string(act_kind__str(r->kind)));
	json_object_object_add(o, "unit",
			       json_object_new_string(r->kind == ACT_MEMORY ? "KiB" : "vcpus"));
	json_object_object_add(o, "from", json_object_new_uint64(r->from));
	json_object_object_add(o, "to", json_object_new_uint64(r->to));
	json_object_object_add(o, "requested", json_object_new_uint64(r->requested));
	json_object_object_add(o, "clamp", json_object_new_string(r->clamp));
	json_object_object_add(o, "reason", json_object_new_string(r->reason));
	json_object_object_add(o, "result", json_object_new_string(r->result));
	json_object_object_add(o, "err", json_object_new_int(r->err));
	json_object_object_add(o, "dry_run", json_object_new_boolean(r->dry_run));
	return o;
}

int act_record__json(const struct act_record *r, char *buf, size_t size)
{
	struct json_object *o = act_record__to_json(r);
	int err = -ENOMEM;

	if (!o)
		return err;
	if ((size_t)snprintf(buf, size, "%s",
			     json_object_to_json_string_ext(
				     o, JSON_C_TO_STRING_PLAIN | JSON_C_TO_STRING_NOSLASHESCAPE)) >=
	    size)
		err = -E2BIG;
	else
		err = 0;
	json_object_put(o);
	return err;
}

static void record(struct actuate *a, struct act_record *r, int err)
{
	char line[4096]; /* a reason full of control characters escapes to 6x */

	r->err = err;
	r->time_ns = now_real_ns();
	pthread_mutex_lock(&a->lock);
	a->ring[(a->ring_head + a->ring_len) % a->ring_size] = *r;
	if (a->ring_len < a->ring_size)
		a->ring_len++;
	else
		a->ring_head = (a->ring_head + 1) % a->ring_size;
	pthread_mutex_unlock(&a->lock);
	if (!a->log)
		return;
	if (act_record__json(r, line, sizeof(line)) < 0 || fprintf(a->log, "%s\n", line) < 0 ||
	    fflush(a->log) == EOF) {
		a->log_failed++;
		clearerr(a->log);
		return;
	}
	a->log_written++;
}

void actuate__set_agent(struct actuate *a,
			int (*agent_set_cpus)(void *ctx, const char *vm, int online), void *ctx)
{
	a->opts.agent_set_cpus = agent_set_cpus;
	a->opts.agent_ctx = ctx;
}

int actuate__recent(struct actuate *a, struct act_record *out, int max)
{
	int n;

	pthread_mutex_lock(&a->lock);
	n = max < (int)a->ring_len ? max : (int)a->ring_len;
	for (int i = 0; i < n; i++)
		out[i] = a->ring[(a->ring_head + a->ring_len - n + i) % a->ring_size];
	pthread_mutex_unlock(&a->lock);
	return n < 0 ? 0 : n;
}

void actuate__log_counts(const struct actuate *a, unsigned long *written, unsigned long *failed)
{
	*written = a->log_written;
	*failed = a->log_failed;
}

/* The libvirt error as a result string and -errno. */
static int libvirt_err(struct act_record *r, const char *what)
{
	virErrorPtr e = virGetLastError();
	int code = e ? e->code : VIR_ERR_INTERNAL_ERROR;
	const char *msg = e && e->message ? e->message : "unknown libvirt error";
	int err = -EIO;

	if (code == VIR_ERR_NO_DOMAIN || code == VIR_ERR_OPERATION_INVALID) {
		snprintf(r->result, sizeof(r->result), "error: domain vanished during %s: %s", what,
			 msg);
		err = -ENOENT;
	} else if (code == VIR_ERR_OPERATION_TIMEOUT) {
		snprintf(r->result, sizeof(r->result), "error: %s timed out: %s", what, msg);
		err = -ETIMEDOUT;
	} else {
		snprintf(r->result, sizeof(r->result), "error: %s failed: %s", what, msg);
	}
	virResetLastError();
	return err;
}

/*
 * Too soon after the last action of this kind? Fills the record's result.
 * Growing memory is never held back (see actuate__memory): only the
 * callers decide what counts.
 */
static bool rate_limited(const struct actuate *a, const struct vm_state *st, enum act_kind kind,
			 uint64_t now, struct act_record *r)
{
	if (!st->last_ns[kind] || now - st->last_ns[kind] >= a->interval_ns[kind])
		return false;
	snprintf(r->result, sizeof(r->result),
		 "rate-limited: last %s action %llu ms ago, minimum %llu ms", act_kind__str(kind),
		 (unsigned long long)((now - st->last_ns[kind]) / MS),
		 (unsigned long long)(a->interval_ns[kind] / MS));
	return true;
}

/*
 * The checks shared by both kinds: request, rate limit, domain. Returns the
 * looked-up domain in *dom, or -errno with the record's result filled.
 */
static int begin(struct actuate *a, virConnectPtr conn, const char *vm, const char *reason,
		 enum act_kind kind, struct act_record *r, struct vm_state **st, virDomainPtr *dom)
{
	virDomainInfo di;
	uint64_t now = now_mono_ns();

	*dom = NULL;
	r->kind = kind;
	r->dry_run = a->opts.dry_run;
	(void)str_copy(r->vm, vm ? vm : "", sizeof(r->vm));
	(void)str_copy(r->reason, reason ? reason : "", sizeof(r->reason));
	if (!vm || !*vm || strlen(vm) >= VM_NAME_MAX) {
		snprintf(r->result, sizeof(r->result), "refused: bad domain name");
		return -EINVAL;
	}
	if (!reason || !*reason) {
		snprintf(r->result, sizeof(r->result), "refused: an action needs a reason");
		return -EINVAL;
	}
	*st = vm_state(a, vm);
	if (!*st) {
		snprintf(r->result, sizeof(r->result), "error: out of memory");
		return -ENOMEM;
	}
	if (kind != ACT_MEMORY && rate_limited(a, *st, kind, now, r))
		return -EAGAIN;
	if (!conn) {
		snprintf(r->result, sizeof(r->result), "error: not connected to libvirt");
		return -ENOTCONN;
	}
	*dom = virDomainLookupByName(conn, vm);
	if (!*dom) {
		int err = libvirt_err(r, "lookup");

		if (err == -ENOENT)
			snprintf(r->result, sizeof(r->result), "error: no domain '%s'", vm);
		return err;
	}
	if (virDomainGetInfo(*dom, &di) < 0)
		return libvirt_err(r, "reading the domain");
	if (di.state != VIR_DOMAIN_RUNNING && di.state != VIR_DOMAIN_PAUSED &&
	    di.state != VIR_DOMAIN_BLOCKED) {
		snprintf(r->result, sizeof(r->result), "error: domain '%s' is not running", vm);
		return -ENOENT;
	}
	return 0;
}

int actuate__memory(struct actuate *a, virConnectPtr conn, const char *vm,
		    const struct act_mem_req *req, const char *reason, struct act_record *rec)
{
	struct act_record r = { 0 };
	struct vm_state *st = NULL;
	virDomainPtr dom = NULL;
	virDomainInfo di;
	uint64_t floor, ceil;
	char over[80] = "";
	int err;

	if (!req) {
		err = -EINVAL;
		snprintf(r.result, sizeof(r.result), "refused: no request");
		goto cleanup;
	}
	r.requested = req->target_kib;
	err = begin(a, conn, vm, reason, ACT_MEMORY, &r, &st, &dom);
	if (err)
		goto cleanup;
	if (virDomainGetInfo(dom, &di) < 0) {
		err = libvirt_err(&r, "reading the balloon");
		goto cleanup;
	}
	r.from = di.memory;
	ceil = di.maxMem;
	if (req->max_kib && req->max_kib < ceil)
		ceil = req->max_kib;
	floor = req->min_kib;
	if (req->guest_used_kib && req->reserve_kib <= UINT64_MAX - req->guest_used_kib &&
	    req->guest_used_kib + req->reserve_kib > floor)
		floor = req->guest_used_kib + req->reserve_kib;
	if (floor < a->opts.hard_min_kib)
		floor = a->opts.hard_min_kib;
	r.floor_kib = floor;
	r.to = req->target_kib;
	if (r.to < floor) {
		r.to = floor;
		(void)str_copy(r.clamp, "floor", sizeof(r.clamp));
	}
	/*
	 * The ceiling wins over the floor: libvirt cannot go above <memory>, and
	 * the operator's bound holds even when the guest uses more than it.
	 */
	if (r.to > ceil) {
		r.to = ceil;
		(void)str_copy(r.clamp, "ceiling", sizeof(r.clamp));
	}
	r.over_ceiling = floor > ceil;
	r.first_over_ceiling = r.over_ceiling && !st->over_ceiling;
	st->over_ceiling = r.over_ceiling;
	if (r.over_ceiling)
		snprintf(over, sizeof(over), ": floor %llu MiB above the ceiling %llu MiB",
			 (unsigned long long)(floor / 1024), (unsigned long long)(ceil / 1024));
	if (r.to == r.from) {
		snprintf(r.result, sizeof(r.result), "unchanged%s", over);
		err = 0;
		goto cleanup;
	}
	/*
	 * Only shrinking is rate-limited: growing within the maximum is always
	 * safe, and a guest that allocates fast must not wait for a timer.
	 */
	if (r.to < r.from && rate_limited(a, st, ACT_MEMORY, now_mono_ns(), &r)) {
		err = -EAGAIN;
		goto cleanup;
	}
	st->last_ns[ACT_MEMORY] = now_mono_ns();
	if (a->opts.dry_run) {
		snprintf(r.result, sizeof(r.result), "dry-run%s", over);
		err = 0;
		goto cleanup;
	}
	if (a->opts.before_act)
		a->opts.before_act(a->opts.hook_ctx, vm, ACT_MEMORY);
	if (virDomainSetMemoryFlags(dom, r.to, VIR_DOMAIN_AFFECT_LIVE) < 0) {
		err = libvirt_err(&r, "setting the balloon");
		goto cleanup;
	}
	snprintf(r.result, sizeof(r.result), "ok%s", over);
	err = 0;
cleanup:
	if (dom)
		(void)virDomainFree(dom);
	record(a, &r, err);
	if (rec)
		*rec = r;
	return err;
}

static int agent_set(struct actuate *a, const char *vm, int n, char *msg, size_t size)
{
	int err;

	if (!a->opts.agent_set_cpus) {
		snprintf(msg, size, "no agent to set online CPUs");
		return -ENOTSUP;
	}
	err = a->opts.agent_set_cpus(a->opts.agent_ctx, vm, n);
	if (err > 0)
		err = -EPROTO; /* the callback contract is 0 or -errno */
	if (err < 0)
		snprintf(msg, size, "agent failed to set %d CPUs online: %s", n, strerror(-err));
	else
		snprintf(msg, size, "agent asked to set %d CPUs online", n);
	return err;
}

int actuate__vcpus(struct actuate *a, virConnectPtr conn, const char *vm, int target,
		   int online_now, const char *reason, struct act_record *rec)
{
	struct act_record r = { 0 };
	struct vm_state *st = NULL;
	virDomainPtr dom = NULL;
	char step[96] = "";
	int max, hv, err;

	r.requested = target < 0 ? 0 : (uint64_t)target;
	err = begin(a, conn, vm, reason, ACT_VCPUS, &r, &st, &dom);
	if (err)
		goto cleanup;
	max = virDomainGetVcpusFlags(dom, VIR_DOMAIN_AFFECT_LIVE | VIR_DOMAIN_VCPU_MAXIMUM);
	if (max < 0) {
		err = libvirt_err(&r, "reading the maximum vCPUs");
		goto cleanup;
	}
	hv = virDomainGetVcpusFlags(dom, VIR_DOMAIN_AFFECT_LIVE);
	if (hv < 0) {
		err = libvirt_err(&r, "reading the vCPU count");
		goto cleanup;
	}
	if (online_now > hv || online_now > max)
		online_now = -1; /* untrusted guest figure that cannot be true */
	r.from = online_now >= 0 ? (uint64_t)online_now : (uint64_t)hv;
	if (target < 1) {
		target = 1;
		(void)str_copy(r.clamp, "min", sizeof(r.clamp));
	}
	if (target > max) {
		target = max;
		(void)str_copy(r.clamp, "max", sizeof(r.clamp));
	}
	r.to = (uint64_t)target;
	if (r.to == r.from && target <= hv && (target == hv || !a->opts.allow_hv_unplug)) {
		snprintf(r.result, sizeof(r.result), "unchanged");
		err = 0;
		goto cleanup;
	}
	if (target < hv && a->opts.allow_hv_unplug && st->unplug_pending) {
		if (hv != st->unplug_expect) {
			snprintf(
				r.result, sizeof(r.result),
				"refused: previous hot-remove to %d not confirmed (libvirt reports "
				"%d)",
				st->unplug_expect, hv);
			err = -EPERM;
			goto cleanup;
		}
		st->unplug_pending = false; /* confirmed by this re-read */
	}
	if (target <= hv && !a->opts.allow_hv_unplug && !a->opts.agent_set_cpus) {
		snprintf(r.result, sizeof(r.result),
			 "refused: scaling down needs the agent (hypervisor hot-remove disabled)");
		err = -ENOTSUP;
		goto cleanup;
	}
	st->last_ns[ACT_VCPUS] = now_mono_ns();
	if (a->opts.dry_run) {
		if (target > hv)
			snprintf(r.result, sizeof(r.result),
				 "dry-run: would hot-add %d -> %d, then online %d via agent", hv,
				 target, target);
		else if (target < hv && a->opts.allow_hv_unplug)
			snprintf(r.result, sizeof(r.result),
				 "dry-run: would offline to %d via agent, then hot-remove %d -> %d",
				 target, hv, target);
		else
			snprintf(r.result, sizeof(r.result),
				 "dry-run: would set %d CPUs online via agent", target);
		err = 0;
		goto cleanup;
	}
	if (a->opts.before_act)
		a->opts.before_act(a->opts.hook_ctx, vm, ACT_VCPUS);
	if (target > hv) {
		if (virDomainSetVcpusFlags(dom, (unsigned int)target, VIR_DOMAIN_AFFECT_LIVE) < 0) {
			err = libvirt_err(&r, "vCPU hot-add");
			goto cleanup;
		}
		if (!a->opts.agent_set_cpus) {
			snprintf(r.result, sizeof(r.result),
				 "ok: hot-added %d -> %d; no agent, the guest must online them", hv,
				 target);
			err = 0;
			goto cleanup;
		}
		err = agent_set(a, vm, target, step, sizeof(step));
		snprintf(r.result, sizeof(r.result), "%s: hot-added %d -> %d, %s",
			 err ? "error" : "ok", hv, target, step);
		if (err)
			err = -EPROTO;
		goto cleanup;
	}
	/* scaling down (or onlining CPUs QEMU already has): the guest first */
	if (a->opts.agent_set_cpus) {
		err = agent_set(a, vm, target, step, sizeof(step));
		if (err) {
			snprintf(r.result, sizeof(r.result), "error: %s", step);
			goto cleanup;
		}
	}
	if (target < hv && a->opts.allow_hv_unplug) {
		st->unplug_pending = true;
		st->unplug_expect = target;
		if (virDomainSetVcpusFlags(dom, (unsigned int)target, VIR_DOMAIN_AFFECT_LIVE) < 0) {
			char what[64];

			snprintf(what, sizeof(what), "vCPU hot-remove %d -> %d", hv, target);
			err = libvirt_err(&r, what);
			goto cleanup;
		}
		snprintf(r.result, sizeof(r.result), "ok: %s%shot-removed %d -> %d", step,
			 step[0] ? ", " : "", hv, target);
		err = 0;
		goto cleanup;
	}
	snprintf(r.result, sizeof(r.result), "ok: %s", step);
	err = 0;
cleanup:
	if (dom)
		(void)virDomainFree(dom);
	record(a, &r, err);
	if (rec)
		*rec = r;
	return err;
}
