// SPDX-License-Identifier: GPL-2.0
/* The actuators: balloon and vCPUs, bounded, rate-limited and logged. */
#include <errno.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <json-c/json.h>

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
	struct act_domain_ops ops;
	uint64_t interval_ns[ACT_KIND_NR];
	FILE *log;
	unsigned long log_written, log_failed;

	struct vm_state *vms;
	int nvms, capvms;

	pthread_mutex_t lock; /* the ring */
	struct act_record *ring;
	unsigned int ring_size, ring_head, ring_len;
};

static const struct act_domain_ops libvirt_ops = {
	.read = virt__domain_read,
	.set_balloon = virt__set_balloon,
	.set_vcpus = virt__set_vcpus,
};

const char *act_result__str(enum act_result res)
{
	static const char *const names[ACT_RES_NR] = {
		[ACT_RES_OK] = "ok",
		[ACT_RES_DRY_RUN] = "dry-run",
		[ACT_RES_UNCHANGED] = "unchanged",
		[ACT_RES_RATE_LIMITED] = "rate-limited",
		[ACT_RES_REFUSED] = "refused",
		[ACT_RES_ERROR] = "error",
	};

	return (unsigned int)res < ACT_RES_NR ? names[res] : "unknown";
}

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
	a->ops = a->opts.domain_ops ? *a->opts.domain_ops : libvirt_ops;
	a->opts.domain_ops = NULL;
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
	/*
	 * Memory in MiB, the unit in the name, the same numbers as
	 * /api/v1/actions; from/to/requested with unit "KiB" stay for the
	 * readers written before (deprecated).
	 */
	json_object_object_add(o, "unit",
			       json_object_new_string(r->kind == ACT_MEMORY ? "KiB" : "vcpus"));
	json_object_object_add(o, "from", json_object_new_uint64(r->from));
	json_object_object_add(o, "to", json_object_new_uint64(r->to));
	json_object_object_add(o, "requested", json_object_new_uint64(r->requested));
	if (r->kind == ACT_MEMORY) {
		json_object_object_add(o, "from_mib", json_object_new_uint64(r->from / 1024));
		json_object_object_add(o, "to_mib", json_object_new_uint64(r->to / 1024));
		json_object_object_add(o, "requested_mib",
				       json_object_new_uint64(r->requested / 1024));
	}
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
	if (err && r->outcome == ACT_RES_OK)
		r->outcome = ACT_RES_ERROR; /* every failure says which in result */
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

void actuate__set_agent(struct actuate *a, act_agent_fn agent_set_cpus, void *ctx)
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

/* The record's outcome and result text; returns err. */
static int said(struct act_record *r, enum act_result res, int err, const char *fmt, ...)
	__attribute__((format(printf, 4, 5)));

static int said(struct act_record *r, enum act_result res, int err, const char *fmt, ...)
{
	va_list ap;

	r->outcome = res;
	va_start(ap, fmt);
	(void)vsnprintf(r->result, sizeof(r->result), fmt, ap);
	va_end(ap);
	return err;
}

/* A failed domain call (virt_domain.h) as the record's result; returns err. */
static int domain_failed(struct act_record *r, int err, const char *what,
			 const struct virt_domain_err *e)
{
	if (err == -ENOTCONN)
		return said(r, ACT_RES_ERROR, err, "error: not connected to libvirt");
	if (err == -ENOENT)
		return said(r, ACT_RES_ERROR, err, "error: domain vanished during %s: %s", what,
			    e->msg);
	if (err == -ETIMEDOUT)
		return said(r, ACT_RES_ERROR, err, "error: %s timed out: %s", what, e->msg);
	return said(r, ACT_RES_ERROR, err < 0 ? err : -EIO, "error: %s failed: %s", what, e->msg);
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
	(void)said(r, ACT_RES_RATE_LIMITED, -EAGAIN,
		   "rate-limited: last %s action %llu ms ago, minimum %llu ms", act_kind__str(kind),
		   (unsigned long long)((now - st->last_ns[kind]) / MS),
		   (unsigned long long)(a->interval_ns[kind] / MS));
	return true;
}

/*
 * The checks shared by both kinds: request, rate limit, domain. Reads the
 * domain (what: enum virt_domain_read) into *now, or returns -errno with the
 * record's result filled.
 */
static int begin(struct actuate *a, struct virt *v, const char *vm, const char *reason,
		 enum act_kind kind, unsigned int what, struct act_record *r, struct vm_state **st,
		 struct virt_domain_now *now)
{
	struct virt_domain_err e;
	int err;

	r->kind = kind;
	(void)str_copy(r->vm, vm ? vm : "", sizeof(r->vm));
	(void)str_copy(r->reason, reason ? reason : "", sizeof(r->reason));
	if (!vm || !*vm || strlen(vm) >= VM_NAME_MAX)
		return said(r, ACT_RES_REFUSED, -EINVAL, "refused: bad domain name");
	if (!reason || !*reason)
		return said(r, ACT_RES_REFUSED, -EINVAL, "refused: an action needs a reason");
	*st = vm_state(a, vm);
	if (!*st)
		return said(r, ACT_RES_ERROR, -ENOMEM, "error: out of memory");
	if (kind != ACT_MEMORY && rate_limited(a, *st, kind, now_mono_ns(), r))
		return -EAGAIN;
	err = a->ops.read(v, vm, what, now, &e);
	if (err == -ENOENT && !strcmp(e.step, "lookup"))
		return said(r, ACT_RES_ERROR, err, "error: no domain '%s'", vm);
	if (err)
		return domain_failed(r, err, e.step, &e);
	if (!now->active)
		return said(r, ACT_RES_ERROR, -ENOENT, "error: domain '%s' is not running", vm);
	return 0;
}

/* The floor and ceiling of a memory request; clamps r->to. */
static void mem_clamp(const struct actuate *a, struct vm_state *st, const struct act_mem_req *req,
		      uint64_t max_memory_kib, struct act_record *r, char *over, size_t size)
{
	uint64_t floor, ceil = max_memory_kib;

	if (req->max_kib && req->max_kib < ceil)
		ceil = req->max_kib;
	floor = req->min_kib;
	if (req->guest_used_kib && req->reserve_kib <= UINT64_MAX - req->guest_used_kib &&
	    req->guest_used_kib + req->reserve_kib > floor)
		floor = req->guest_used_kib + req->reserve_kib;
	if (floor < a->opts.hard_min_kib)
		floor = a->opts.hard_min_kib;
	r->floor_kib = floor;
	r->to = req->target_kib;
	if (r->to < floor) {
		r->to = floor;
		(void)str_copy(r->clamp, "floor", sizeof(r->clamp));
	}
	/*
	 * The ceiling wins over the floor: libvirt cannot go above <memory>, and
	 * the operator's bound holds even when the guest uses more than it.
	 */
	if (r->to > ceil) {
		r->to = ceil;
		(void)str_copy(r->clamp, "ceiling", sizeof(r->clamp));
	}
	r->over_ceiling = floor > ceil;
	r->first_over_ceiling = r->over_ceiling && !st->over_ceiling;
	st->over_ceiling = r->over_ceiling;
	over[0] = '\0';
	if (r->over_ceiling)
		snprintf(over, size, ": floor %llu MiB above the ceiling %llu MiB",
			 (unsigned long long)(floor / 1024), (unsigned long long)(ceil / 1024));
}

static int memory(struct actuate *a, struct virt *v, const char *vm, const struct act_mem_req *req,
		  const char *reason, struct act_record *r)
{
	struct virt_domain_now now;
	struct virt_domain_err e;
	struct vm_state *st = NULL;
	char over[80];
	int err;

	r->requested = req->target_kib;
	err = begin(a, v, vm, reason, ACT_MEMORY, VIRT_READ_MEMORY, r, &st, &now);
	if (err)
		return err;
	r->from = now.cur_memory_kib;
	mem_clamp(a, st, req, now.max_memory_kib, r, over, sizeof(over));
	if (r->to == r->from)
		return said(r, ACT_RES_UNCHANGED, 0, "unchanged%s", over);
	/*
	 * Only shrinking is rate-limited: growing within the maximum is always
	 * safe, and a guest that allocates fast must not wait for a timer.
	 */
	if (r->to < r->from && rate_limited(a, st, ACT_MEMORY, now_mono_ns(), r))
		return -EAGAIN;
	st->last_ns[ACT_MEMORY] = now_mono_ns();
	if (r->dry_run)
		return said(r, ACT_RES_DRY_RUN, 0, "dry-run%s", over);
	if (a->opts.before_act)
		a->opts.before_act(a->opts.hook_ctx, vm, ACT_MEMORY);
	err = a->ops.set_balloon(v, vm, r->to, &e);
	if (err)
		return domain_failed(r, err, "setting the balloon", &e);
	return said(r, ACT_RES_OK, 0, "ok%s", over);
}

int actuate__memory(struct actuate *a, struct virt *v, const char *vm,
		    const struct act_mem_req *req, const char *reason, struct act_record *rec)
{
	struct act_record r = { 0 };
	int err;

	r.dry_run = a->opts.dry_run || (req && req->dry_run);
	if (!req) {
		r.kind = ACT_MEMORY;
		(void)str_copy(r.vm, vm ? vm : "", sizeof(r.vm));
		(void)str_copy(r.reason, reason ? reason : "", sizeof(r.reason));
		err = said(&r, ACT_RES_REFUSED, -EINVAL, "refused: no request");
	} else {
		err = memory(a, v, vm, req, reason, &r);
	}
	record(a, &r, err);
	if (rec)
		*rec = r;
	return err;
}

static int agent_set(const struct act_vcpu_req *req, const char *vm, int n, char *msg, size_t size)
{
	int err;

	if (!req->agent_set_cpus) {
		snprintf(msg, size, "no agent to set online CPUs");
		return -ENOTSUP;
	}
	err = req->agent_set_cpus(req->agent_ctx, vm, n);
	if (err > 0)
		err = -EPROTO; /* the callback contract is 0 or -errno */
	if (err < 0)
		snprintf(msg, size, "agent failed to set %d CPUs online: %s", n, strerror(-err));
	else
		snprintf(msg, size, "agent asked to set %d CPUs online", n);
	return err;
}

static int vcpus_dry_run(const struct actuate *a, struct act_record *r, int hv, int target)
{
	if (target > hv)
		return said(r, ACT_RES_DRY_RUN, 0,
			    "dry-run: would hot-add %d -> %d, then online %d via agent", hv, target,
			    target);
	if (target < hv && a->opts.allow_hv_unplug)
		return said(r, ACT_RES_DRY_RUN, 0,
			    "dry-run: would offline to %d via agent, then hot-remove %d -> %d",
			    target, hv, target);
	return said(r, ACT_RES_DRY_RUN, 0, "dry-run: would set %d CPUs online via agent", target);
}

/* Hot-add to target, then ask the agent to online them. */
static int vcpus_up(struct actuate *a, struct virt *v, const char *vm,
		    const struct act_vcpu_req *req, struct act_record *r, int hv, int target)
{
	struct virt_domain_err e;
	char step[96];
	int err;

	err = a->ops.set_vcpus(v, vm, (unsigned int)target, &e);
	if (err)
		return domain_failed(r, err, "vCPU hot-add", &e);
	if (!req->agent_set_cpus)
		return said(r, ACT_RES_OK, 0,
			    "ok: hot-added %d -> %d; no agent, the guest must online them", hv,
			    target);
	err = agent_set(req, vm, target, step, sizeof(step));
	if (err)
		return said(r, ACT_RES_ERROR, -EPROTO, "error: hot-added %d -> %d, %s", hv, target,
			    step);
	return said(r, ACT_RES_OK, 0, "ok: hot-added %d -> %d, %s", hv, target, step);
}

/* Scaling down (or onlining CPUs QEMU already has): the guest first. */
static int vcpus_down(struct actuate *a, struct virt *v, const char *vm,
		      const struct act_vcpu_req *req, struct vm_state *st, struct act_record *r,
		      int hv, int target)
{
	struct virt_domain_err e;
	char step[96] = "", what[64];
	int err;

	if (req->agent_set_cpus) {
		err = agent_set(req, vm, target, step, sizeof(step));
		if (err)
			return said(r, ACT_RES_ERROR, err, "error: %s", step);
	}
	if (target >= hv || !a->opts.allow_hv_unplug)
		return said(r, ACT_RES_OK, 0, "ok: %s", step);
	st->unplug_pending = true;
	st->unplug_expect = target;
	err = a->ops.set_vcpus(v, vm, (unsigned int)target, &e);
	if (err) {
		snprintf(what, sizeof(what), "vCPU hot-remove %d -> %d", hv, target);
		return domain_failed(r, err, what, &e);
	}
	return said(r, ACT_RES_OK, 0, "ok: %s%shot-removed %d -> %d", step, step[0] ? ", " : "", hv,
		    target);
}

static int vcpus(struct actuate *a, struct virt *v, const char *vm, const struct act_vcpu_req *req,
		 const char *reason, struct act_record *r)
{
	struct virt_domain_now now;
	struct vm_state *st = NULL;
	int online_now = req->online_now, target = req->target, hv, max, err;

	r->requested = target < 0 ? 0 : (uint64_t)target;
	err = begin(a, v, vm, reason, ACT_VCPUS, VIRT_READ_VCPUS, r, &st, &now);
	if (err)
		return err;
	max = now.max_vcpus;
	hv = now.cur_vcpus;
	if (online_now > hv || online_now > max)
		online_now = -1; /* untrusted guest figure that cannot be true */
	r->from = online_now >= 0 ? (uint64_t)online_now : (uint64_t)hv;
	if (target < 1) {
		target = 1;
		(void)str_copy(r->clamp, "min", sizeof(r->clamp));
	}
	if (target > max) {
		target = max;
		(void)str_copy(r->clamp, "max", sizeof(r->clamp));
	}
	r->to = (uint64_t)target;
	if (r->to == r->from && target <= hv && (target == hv || !a->opts.allow_hv_unplug))
		return said(r, ACT_RES_UNCHANGED, 0, "unchanged");
	if (target < hv && a->opts.allow_hv_unplug && st->unplug_pending) {
		if (hv != st->unplug_expect)
			return said(r, ACT_RES_REFUSED, -EPERM,
				    "refused: previous hot-remove to %d not confirmed (libvirt "
				    "reports %d)",
				    st->unplug_expect, hv);
		st->unplug_pending = false; /* confirmed by this re-read */
	}
	if (target <= hv && !a->opts.allow_hv_unplug && !req->agent_set_cpus)
		return said(
			r, ACT_RES_REFUSED, -ENOTSUP,
			"refused: scaling down needs the agent (hypervisor hot-remove disabled)");
	st->last_ns[ACT_VCPUS] = now_mono_ns();
	if (r->dry_run)
		return vcpus_dry_run(a, r, hv, target);
	if (a->opts.before_act)
		a->opts.before_act(a->opts.hook_ctx, vm, ACT_VCPUS);
	if (target > hv)
		return vcpus_up(a, v, vm, req, r, hv, target);
	return vcpus_down(a, v, vm, req, st, r, hv, target);
}

int actuate__vcpus_req(struct actuate *a, struct virt *v, const char *vm,
		       const struct act_vcpu_req *req, const char *reason, struct act_record *rec)
{
	struct act_vcpu_req q = *req;
	struct act_record r = { 0 };
	int err;

	if (!q.agent_set_cpus) {
		q.agent_set_cpus = a->opts.agent_set_cpus;
		q.agent_ctx = a->opts.agent_ctx;
	}
	r.dry_run = a->opts.dry_run || q.dry_run;
	err = vcpus(a, v, vm, &q, reason, &r);
	record(a, &r, err);
	if (rec)
		*rec = r;
	return err;
}

int actuate__vcpus(struct actuate *a, struct virt *v, const char *vm, int target, int online_now,
		   const char *reason, struct act_record *rec)
{
	struct act_vcpu_req req = { .target = target, .online_now = online_now };

	return actuate__vcpus_req(a, v, vm, &req, reason, rec);
}
