// SPDX-License-Identifier: GPL-2.0
/*
 * The actuators against libvirt's test driver: bounds, dry-run, rate limits,
 * vCPU hot-add/agent/hot-remove rules, fault paths and the action log.
 */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>
#include <cmocka.h>

#include <json-c/json.h>
#include <libvirt/libvirt.h>

#include "actuate.h"
#include "util.h"
#include "virt_libvirt.h"

#define MIB 1024ull

static char uri[1024];
static char out_dir[1024];

struct fake_agent {
	int calls;
	int last_online;
	int ret;
	char vm[VM_NAME_MAX];
};

static int agent_set_cpus(void *ctx, const char *vm, int online)
{
	struct fake_agent *fa = ctx;

	fa->calls++;
	fa->last_online = online;
	(void)str_copy(fa->vm, vm, sizeof(fa->vm));
	return fa->ret;
}

static int setup(void **state)
{
	const char *src = getenv("KVMPILOT_SRC");
	const char *out = getenv("TEST_OUT");

	(void)state;
	snprintf(uri, sizeof(uri), "test://%s/tests/data/libvirt-node.xml", src ? src : ".");
	snprintf(out_dir, sizeof(out_dir), "%s", out ? out : "/tmp/kvmpilot-test-actuate");
	(void)mkdir(out_dir, 0755);
	return 0;
}

/* Each test gets a fresh node: every test:///FILE connection has its own state. */
static struct virt *open_node(void)
{
	struct virt_opts o = { .uri = uri, .run_dir = "/nonexistent", .refresh_ms = 600000 };
	struct virt *v = virt__open(&o);

	assert_non_null(v);
	assert_true(virt__connected(v));
	return v;
}

static uint64_t balloon_kib(struct virt *v, const char *name)
{
	virDomainPtr dom = virDomainLookupByName(virt__conn(v), name);
	virDomainInfo di;

	assert_non_null(dom);
	assert_int_equal(virDomainGetInfo(dom, &di), 0);
	(void)virDomainFree(dom);
	return di.memory;
}

static int hv_vcpus(struct virt *v, const char *name)
{
	virDomainPtr dom = virDomainLookupByName(virt__conn(v), name);
	int n;

	assert_non_null(dom);
	n = virDomainGetVcpusFlags(dom, VIR_DOMAIN_AFFECT_LIVE);
	(void)virDomainFree(dom);
	return n;
}

static void set_hv_vcpus(struct virt *v, const char *name, int n)
{
	virDomainPtr dom = virDomainLookupByName(virt__conn(v), name);

	assert_non_null(dom);
	assert_int_equal(virDomainSetVcpusFlags(dom, n, VIR_DOMAIN_AFFECT_LIVE), 0);
	(void)virDomainFree(dom);
}

/*
 * One actuator on one node, taken through the memory bounds in order: each
 * step starts from the balloon, request and over-ceiling episode the last
 * one left, so the steps are helpers of one test, not tests of their own.
 */
struct mem_case {
	struct actuate *a;
	struct virt *v;
	struct act_mem_req req;
	struct act_record r;
};

/* web1: max 2048 MiB, current 1024 MiB */
static void mem_inside_and_clamped(struct mem_case *c)
{
	struct act_mem_req *req = &c->req;
	struct act_record *r = &c->r;

	/* plain: inside the bounds */
	req->target_kib = 1536 * MIB;
	assert_int_equal(actuate__memory(c->a, c->v, "web1", req, "grow", r), 0);
	assert_string_equal(r->result, "ok");
	assert_int_equal(r->from, 1024 * MIB);
	assert_int_equal(r->to, 1536 * MIB);
	assert_string_equal(r->clamp, "");
	assert_int_equal(balloon_kib(c->v, "web1"), 1536 * MIB);
	usleep(2000);

	/* above <memory>: clamped to the ceiling */
	req->target_kib = 8192 * MIB;
	assert_int_equal(actuate__memory(c->a, c->v, "web1", req, "grow more", r), 0);
	assert_string_equal(r->clamp, "ceiling");
	assert_int_equal(r->to, 2048 * MIB);
	assert_int_equal(balloon_kib(c->v, "web1"), 2048 * MIB);
	usleep(2000);

	/* below the configured minimum: the floor */
	req->target_kib = 256 * MIB;
	req->min_kib = 512 * MIB;
	assert_int_equal(actuate__memory(c->a, c->v, "web1", req, "shrink", r), 0);
	assert_string_equal(r->clamp, "floor");
	assert_int_equal(r->to, 512 * MIB);
	assert_int_equal(balloon_kib(c->v, "web1"), 512 * MIB);
	usleep(2000);
}

/* The guest's used memory plus the reserve as the floor. */
static void mem_floor_from_guest(struct mem_case *c)
{
	struct act_mem_req *req = &c->req;
	struct act_record *r = &c->r;

	/* guest used + reserve above the minimum: that is the floor */
	req->target_kib = 256 * MIB;
	req->min_kib = 300 * MIB;
	req->guest_used_kib = 700 * MIB;
	req->reserve_kib = 100 * MIB;
	assert_int_equal(actuate__memory(c->a, c->v, "web1", req, "shrink", r), 0);
	assert_int_equal(r->to, 800 * MIB);
	assert_int_equal(balloon_kib(c->v, "web1"), 800 * MIB);
	usleep(2000);

	/* a floor above <memory> and no configured ceiling: never above <memory> */
	req->guest_used_kib = 4000 * MIB;
	assert_int_equal(actuate__memory(c->a, c->v, "web1", req, "shrink", r), 0);
	assert_string_equal(r->clamp, "ceiling");
	assert_int_equal(r->to, 2048 * MIB);
	assert_true(r->over_ceiling);
	usleep(2000);
}

/* The operator's ceiling against the guest's floor, and its over-ceiling episodes. */
static void mem_operator_ceiling(struct mem_case *c)
{
	struct act_mem_req *req = &c->req;
	struct act_record *r = &c->r;

	/*
	 * The operator's ceiling wins over the floor: mem_ceiling_mib = 1200, a
	 * guest reporting MemTotal 1900 MiB with nothing available asks 2028.
	 */
	req->target_kib = 1200 * MIB;
	req->min_kib = 256 * MIB;
	req->guest_used_kib = 1900 * MIB;
	req->reserve_kib = 128 * MIB;
	req->max_kib = 1200 * MIB;
	assert_int_equal(actuate__memory(c->a, c->v, "web1", req, "grow", r), 0);
	assert_string_equal(r->clamp, "ceiling");
	assert_int_equal(r->to, 1200 * MIB);
	assert_int_equal(balloon_kib(c->v, "web1"), 1200 * MIB);
	assert_int_equal(r->floor_kib, 2028 * MIB);
	assert_true(r->over_ceiling);
	assert_false(r->first_over_ceiling); /* the episode began with the request above */
	assert_string_equal(r->result, "ok: floor 2028 MiB above the ceiling 1200 MiB");
	usleep(2000);
	/* still over: said in the record, not a new episode */
	req->target_kib = 1500 * MIB;
	assert_int_equal(actuate__memory(c->a, c->v, "web1", req, "grow", r), 0);
	assert_int_equal(r->to, 1200 * MIB);
	assert_string_equal(r->result, "unchanged: floor 2028 MiB above the ceiling 1200 MiB");
	assert_false(r->first_over_ceiling);
	usleep(2000);
	/* the guest fits again: the episode ends, the ceiling still caps a wish */
	req->guest_used_kib = 900 * MIB;
	assert_int_equal(actuate__memory(c->a, c->v, "web1", req, "grow", r), 0);
	assert_int_equal(r->to, 1200 * MIB);
	assert_string_equal(r->clamp, "ceiling");
	assert_false(r->over_ceiling);
	assert_string_equal(r->result, "unchanged");
	usleep(2000);
	/* over again: a new episode, said once */
	req->guest_used_kib = 1500 * MIB;
	assert_int_equal(actuate__memory(c->a, c->v, "web1", req, "grow", r), 0);
	assert_true(r->over_ceiling);
	assert_true(r->first_over_ceiling);
	assert_int_equal(balloon_kib(c->v, "web1"), 1200 * MIB);
	usleep(2000);
	/* a configured ceiling above <memory>: <memory> still holds */
	req->max_kib = 4096 * MIB;
	req->target_kib = 3000 * MIB;
	req->guest_used_kib = 0;
	assert_int_equal(actuate__memory(c->a, c->v, "web1", req, "grow", r), 0);
	assert_int_equal(r->to, 2048 * MIB);
	assert_false(r->over_ceiling);
	usleep(2000);
}

/* With nothing known, the hard minimum; a repeat and an overflowing floor. */
static void mem_hard_min(struct mem_case *c)
{
	struct act_mem_req *req = &c->req;
	struct act_record *r = &c->r;

	/* nothing known and no minimum: the hard minimum still holds */
	memset(req, 0, sizeof(*req));
	assert_int_equal(actuate__memory(c->a, c->v, "web1", req, "to zero", r), 0);
	assert_string_equal(r->clamp, "floor");
	assert_int_equal(r->to, ACT_DEFAULT_HARD_MIN_KIB);
	assert_int_equal(balloon_kib(c->v, "web1"), ACT_DEFAULT_HARD_MIN_KIB);
	usleep(2000);

	/* already there: unchanged, libvirt not asked */
	assert_int_equal(actuate__memory(c->a, c->v, "web1", req, "again", r), 0);
	assert_string_equal(r->result, "unchanged");

	/* overflow of used + reserve does not wrap to a tiny floor */
	req->guest_used_kib = UINT64_MAX - 10;
	req->reserve_kib = 100;
	req->target_kib = 1024 * MIB;
	usleep(2000);
	assert_int_equal(actuate__memory(c->a, c->v, "web1", req, "overflow", r), 0);
	assert_int_equal(r->to, 1024 * MIB);
}

static void test_memory_bounds(void **state)
{
	struct actuate_opts o = { .min_interval_ms = { 1, 1 } };
	struct mem_case c = { .v = open_node() };

	(void)state;
	c.a = actuate__new(&o);
	assert_non_null(c.a);
	mem_inside_and_clamped(&c);
	mem_floor_from_guest(&c);
	mem_operator_ceiling(&c);
	mem_hard_min(&c);
	actuate__free(c.a);
	virt__close(c.v);
}

static void test_dry_run_and_rate_limit(void **state)
{
	struct actuate_opts o = { .dry_run = true, .min_interval_ms = { 1500, 1500 } };
	struct act_mem_req req = { .target_kib = 1500 * MIB };
	struct act_mem_req shrink = { .target_kib = 800 * MIB };
	struct act_record r;
	struct actuate *a;
	struct virt *v = open_node();

	(void)state;
	a = actuate__new(&o);
	assert_non_null(a);
	assert_int_equal(actuate__memory(a, v, "web1", &req, "dry", &r), 0);
	assert_string_equal(r.result, "dry-run");
	assert_true(r.dry_run);
	assert_int_equal(r.to, 1500 * MIB);
	assert_int_equal(balloon_kib(v, "web1"), 1024 * MIB); /* not touched */

	/* growing again at once is never held back: a fast guest must not wait */
	assert_int_equal(actuate__memory(a, v, "web1", &req, "dry", &r), 0);
	assert_string_equal(r.result, "dry-run");
	/* shrinking right after: rate-limited, even in dry-run */
	assert_int_equal(actuate__memory(a, v, "web1", &shrink, "dry", &r), -EAGAIN);
	assert_non_null(strstr(r.result, "rate-limited"));
	assert_int_equal(balloon_kib(v, "web1"), 1024 * MIB);
	/* another VM or another kind is not limited by it */
	assert_int_equal(actuate__memory(a, v, "db1", &req, "dry", &r), 0);
	assert_string_equal(r.result, "dry-run");
	assert_int_equal(actuate__vcpus(a, v, "web1", 3, -1, "dry", &r), 0);
	assert_non_null(strstr(r.result, "dry-run: would hot-add 1 -> 3"));
	assert_int_equal(hv_vcpus(v, "web1"), 1);
	/* after the interval: allowed again */
	usleep(1600000);
	assert_int_equal(actuate__memory(a, v, "web1", &req, "dry", &r), 0);
	assert_string_equal(r.result, "dry-run");
	actuate__free(a);
	virt__close(v);
}

static void test_vcpus(void **state)
{
	struct fake_agent fa = { 0 };
	struct actuate_opts o = { .min_interval_ms = { 1, 1 },
				  .agent_set_cpus = agent_set_cpus,
				  .agent_ctx = &fa };
	struct act_record r;
	struct actuate *a;
	struct virt *v = open_node();

	(void)state;
	a = actuate__new(&o);
	assert_non_null(a);

	/* web1: 1 of 4. Hot-add to 3, then the agent onlines 3 */
	assert_int_equal(actuate__vcpus(a, v, "web1", 3, 1, "busy", &r), 0);
	assert_int_equal(hv_vcpus(v, "web1"), 3);
	assert_int_equal(fa.calls, 1);
	assert_int_equal(fa.last_online, 3);
	assert_string_equal(fa.vm, "web1");
	assert_int_equal(r.from, 1);
	assert_int_equal(r.to, 3);
	assert_non_null(strstr(r.result, "ok: hot-added 1 -> 3"));
	usleep(2000);

	/* above the maximum: clamped to 4 */
	assert_int_equal(actuate__vcpus(a, v, "web1", 9, 3, "busier", &r), 0);
	assert_string_equal(r.clamp, "max");
	assert_int_equal(r.to, 4);
	assert_int_equal(hv_vcpus(v, "web1"), 4);
	assert_int_equal(fa.last_online, 4);
	usleep(2000);

	/* down: the agent offlines, QEMU keeps its 4 (hot-remove not allowed) */
	assert_int_equal(actuate__vcpus(a, v, "web1", 2, 4, "idle", &r), 0);
	assert_int_equal(fa.last_online, 2);
	assert_int_equal(hv_vcpus(v, "web1"), 4);
	assert_string_equal(r.result, "ok: agent asked to set 2 CPUs online");
	usleep(2000);

	/* back up to 3 within what QEMU has: only the agent */
	fa.calls = 0;
	assert_int_equal(actuate__vcpus(a, v, "web1", 3, 2, "busy", &r), 0);
	assert_int_equal(fa.calls, 1);
	assert_int_equal(hv_vcpus(v, "web1"), 4);
	usleep(2000);

	/* 0 is never a target */
	assert_int_equal(actuate__vcpus(a, v, "web1", 0, 3, "idle", &r), 0);
	assert_string_equal(r.clamp, "min");
	assert_int_equal(fa.last_online, 1);
	usleep(2000);

	/* a guest claiming more online CPUs than exist is not believed */
	assert_int_equal(actuate__vcpus(a, v, "web1", 4, 1000, "busy", &r), 0);
	assert_int_equal(r.from, 4); /* libvirt's count instead */
	assert_string_equal(r.result, "unchanged");
	usleep(2000);

	/* the agent fails after a hot-add: partial, and said so */
	set_hv_vcpus(v, "db1", 1);
	fa.ret = -ETIMEDOUT;
	assert_int_equal(actuate__vcpus(a, v, "db1", 2, 1, "busy", &r), -EPROTO);
	assert_int_equal(hv_vcpus(v, "db1"), 2);
	assert_non_null(strstr(r.result, "error: hot-added 1 -> 2, agent failed"));
	assert_non_null(strstr(r.result, "timed out"));
	actuate__free(a);

	/* no agent: scaling down is refused, scaling up hot-adds only */
	memset(&o, 0, sizeof(o));
	o.min_interval_ms[ACT_VCPUS] = 1;
	a = actuate__new(&o);
	assert_non_null(a);
	assert_int_equal(actuate__vcpus(a, v, "web1", 1, 3, "idle", &r), -ENOTSUP);
	assert_non_null(strstr(r.result, "refused: scaling down needs the agent"));
	assert_int_equal(hv_vcpus(v, "web1"), 4);
	set_hv_vcpus(v, "web1", 2);
	usleep(2000);
	assert_int_equal(actuate__vcpus(a, v, "web1", 3, -1, "busy", &r), 0);
	assert_non_null(strstr(r.result, "no agent"));
	assert_int_equal(hv_vcpus(v, "web1"), 3);
	actuate__free(a);
	virt__close(v);
}

static void test_hv_unplug_confirmation(void **state)
{
	struct fake_agent fa = { 0 };
	struct actuate_opts o = { .min_interval_ms = { 1, 1 },
				  .allow_hv_unplug = true,
				  .agent_set_cpus = agent_set_cpus,
				  .agent_ctx = &fa };
	struct act_record r;
	struct actuate *a;
	struct virt *v = open_node();

	(void)state;
	a = actuate__new(&o);
	assert_non_null(a);
	set_hv_vcpus(v, "web1", 4);
	/* the agent offlines first, then QEMU's CPUs are removed */
	assert_int_equal(actuate__vcpus(a, v, "web1", 3, 4, "idle", &r), 0);
	assert_int_equal(fa.last_online, 3);
	assert_int_equal(hv_vcpus(v, "web1"), 3);
	assert_non_null(strstr(r.result, "hot-removed 4 -> 3"));
	usleep(2000);

	/* libvirt's count does not show the removal (stale, as under TCG): refused */
	set_hv_vcpus(v, "web1", 4);
	fa.calls = 0;
	assert_int_equal(actuate__vcpus(a, v, "web1", 2, 3, "idle", &r), -EPERM);
	assert_non_null(strstr(r.result, "not confirmed"));
	assert_int_equal(hv_vcpus(v, "web1"), 4);
	assert_int_equal(fa.calls, 0);
	usleep(2000);

	/* once the count confirms the previous removal, the next one may go */
	set_hv_vcpus(v, "web1", 3);
	assert_int_equal(actuate__vcpus(a, v, "web1", 2, 3, "idle", &r), 0);
	assert_int_equal(hv_vcpus(v, "web1"), 2);
	actuate__free(a);
	virt__close(v);
}

static void destroy_hook(void *ctx, const char *vm, enum act_kind kind)
{
	struct virt *v = ctx;
	virDomainPtr dom = virDomainLookupByName(virt__conn(v), vm);

	(void)kind;
	assert_non_null(dom);
	/* destroyed and undefined: the handle the actuator holds points at nothing */
	assert_int_equal(virDomainDestroy(dom), 0);
	assert_int_equal(virDomainUndefine(dom), 0);
	(void)virDomainFree(dom);
}

static void test_faults(void **state)
{
	struct fake_agent fa = { 0 };
	struct actuate_opts o = { .min_interval_ms = { 1, 1 },
				  .agent_set_cpus = agent_set_cpus,
				  .agent_ctx = &fa,
				  .before_act = destroy_hook };
	struct act_mem_req req = { .target_kib = 1500 * MIB };
	struct act_record r;
	struct actuate *a;
	struct virt *v = open_node();

	(void)state;
	o.hook_ctx = v;
	a = actuate__new(&o);
	assert_non_null(a);

	/* the domain vanishes between the checks and the action */
	assert_int_equal(actuate__memory(a, v, "web1", &req, "grow", &r), -ENOENT);
	assert_non_null(strstr(r.result, "error: domain vanished during setting the balloon"));
	set_hv_vcpus(v, "db1", 1);
	assert_int_equal(actuate__vcpus(a, v, "db1", 2, 1, "busy", &r), -ENOENT);
	assert_non_null(strstr(r.result, "error: domain vanished during vCPU hot-add"));
	assert_int_equal(fa.calls, 0); /* nothing sent to a guest that is gone */
	actuate__free(a);

	o.before_act = NULL;
	a = actuate__new(&o);
	assert_non_null(a);
	/* gone, unknown, shut off, no connection, bad requests */
	assert_int_equal(actuate__memory(a, v, "web1", &req, "x", &r), -ENOENT);
	assert_string_equal(r.result, "error: no domain 'web1'");
	assert_int_equal(actuate__memory(a, v, "nope", &req, "x", &r), -ENOENT);
	assert_string_equal(r.result, "error: no domain 'nope'");
	assert_int_equal(actuate__memory(a, v, "off1", &req, "x", &r), -ENOENT);
	assert_non_null(strstr(r.result, "is not running"));
	assert_int_equal(actuate__memory(a, NULL, "batch1", &req, "x", &r), -ENOTCONN);
	assert_string_equal(r.result, "error: not connected to libvirt");
	assert_int_equal(actuate__memory(a, v, "batch1", &req, "", &r), -EINVAL);
	assert_non_null(strstr(r.result, "needs a reason"));
	assert_int_equal(actuate__memory(a, v, "", &req, "x", &r), -EINVAL);
	assert_int_equal(actuate__memory(a, v, "batch1", NULL, "x", &r), -EINVAL);
	assert_int_equal(actuate__vcpus(a, NULL, "batch1", 1, -1, "x", &r), -ENOTCONN);
	actuate__free(a);
	virt__close(v);
}

static json_object *parse_line(const char *line)
{
	json_object *o = json_tokener_parse(line);

	assert_non_null(o);
	assert_true(json_object_is_type(o, json_type_object));
	return o;
}

static const char *jstr(json_object *o, const char *key)
{
	json_object *f;

	assert_true(json_object_object_get_ex(o, key, &f));
	return json_object_get_string(f);
}

static int64_t jint(json_object *o, const char *key)
{
	json_object *f;

	assert_true(json_object_object_get_ex(o, key, &f));
	return json_object_get_int64(f);
}

/* Five actions, each logged whatever its outcome; the ring keeps the last 4. */
static void log_five_actions(const struct actuate_opts *o, struct virt *v)
{
	struct act_mem_req req = { .target_kib = 1536 * MIB };
	struct act_record recs[8], r;
	unsigned long written, failed;
	struct actuate *a;

	a = actuate__new(o);
	assert_non_null(a);
	assert_int_equal(actuate__memory(a, v, "web1", &req, "forecast: \"peak\"\nsoon", &r), 0);
	req.target_kib = 512 * MIB; /* a shrink right after: rate-limited */
	assert_int_equal(actuate__memory(a, v, "web1", &req, "again", &r), -EAGAIN);
	assert_int_equal(actuate__memory(a, v, "nope", &req, "why", &r), -ENOENT);
	assert_int_equal(actuate__vcpus(a, v, "db1", 1, 2, "idle", &r), -ENOTSUP);
	req.target_kib = 100 * MIB;
	assert_int_equal(actuate__memory(a, v, "db1", &req, "shrink", &r), 0);
	actuate__log_counts(a, &written, &failed);
	assert_int_equal(written, 5);
	assert_int_equal(failed, 0);

	/* the ring keeps the last 4, oldest first */
	assert_int_equal(actuate__recent(a, recs, 8), 4);
	assert_string_equal(recs[0].reason, "again");
	assert_string_equal(recs[3].vm, "db1");
	assert_int_equal(actuate__recent(a, recs, 1), 1);
	assert_string_equal(recs[0].reason, "shrink");
	actuate__free(a);
}

/* Line n (from 0) of the log log_five_actions() wrote. */
static void check_log_line(json_object *j, int n)
{
	assert_true(jint(j, "time_ns") > 1700000000000000000ll);
	assert_int_equal(strlen(jstr(j, "time")), strlen("2026-11-25T22:41:58.631Z"));
	switch (n) {
	case 0:
		assert_string_equal(jstr(j, "vm"), "web1");
		assert_string_equal(jstr(j, "what"), "memory");
		assert_string_equal(jstr(j, "unit"), "KiB");
		assert_int_equal(jint(j, "from"), 1024 * MIB);
		assert_int_equal(jint(j, "to"), 1536 * MIB);
		/* in MiB, the unit in the name, as /api/v1/actions */
		assert_int_equal(jint(j, "from_mib"), 1024);
		assert_int_equal(jint(j, "to_mib"), 1536);
		assert_int_equal(jint(j, "requested_mib"), 1536);
		assert_string_equal(jstr(j, "reason"), "forecast: \"peak\"\nsoon");
		assert_string_equal(jstr(j, "result"), "ok");
		break;
	case 1:
		assert_non_null(strstr(jstr(j, "result"), "rate-limited"));
		assert_int_equal(jint(j, "err"), -EAGAIN);
		break;
	case 2:
		assert_string_equal(jstr(j, "result"), "error: no domain 'nope'");
		break;
	case 3:
		assert_string_equal(jstr(j, "what"), "vcpus");
		assert_non_null(strstr(jstr(j, "result"), "refused"));
		break;
	case 4:
		assert_string_equal(jstr(j, "clamp"), "floor");
		assert_int_equal(jint(j, "to"), ACT_DEFAULT_HARD_MIN_KIB);
		assert_int_equal(jint(j, "from"), 3072 * MIB);
		break;
	}
}

/* one JSON object per line, every field a reader needs */
static void check_log_file(const char *path)
{
	char line[2048];
	json_object *j;
	int n = 0;
	FILE *f;

	f = fopen(path, "r");
	assert_non_null(f);
	while (fgets(line, sizeof(line), f)) {
		j = parse_line(line);
		check_log_line(j, n);
		json_object_put(j);
		n++;
	}
	fclose(f);
	assert_int_equal(n, 5);
}

/* appended, not truncated, by the next run */
static void check_log_appended(struct actuate_opts *o, struct virt *v)
{
	struct act_mem_req req = { .target_kib = 2000 * MIB };
	struct act_record r;
	char line[2048];
	struct actuate *a;
	json_object *j;
	int n = 0;
	FILE *f;

	a = actuate__new(o);
	assert_non_null(a);
	o->dry_run = true;
	actuate__free(a);
	a = actuate__new(o);
	assert_int_equal(actuate__memory(a, v, "web1", &req, "dry", &r), 0);
	actuate__free(a);
	f = fopen(o->log_path, "r");
	assert_non_null(f);
	while (fgets(line, sizeof(line), f)) {
		if (++n == 6) {
			j = parse_line(line);
			assert_string_equal(jstr(j, "result"), "dry-run");
			assert_true(json_object_get_boolean(json_object_object_get(j, "dry_run")));
			json_object_put(j);
		}
	}
	fclose(f);
	assert_int_equal(n, 6);
}

/* a reason of control characters (escaped to \u00XX) still makes one line */
static void check_log_control_chars(struct actuate_opts *o, struct virt *v)
{
	struct act_mem_req req = { .target_kib = 2000 * MIB };
	char nasty[ACT_REASON_MAX + 20];
	unsigned long written, failed;
	struct act_record r;
	struct actuate *a;

	memset(nasty, '\x01', sizeof(nasty) - 1);
	nasty[sizeof(nasty) - 1] = '\0';
	o->dry_run = false;
	a = actuate__new(o);
	assert_non_null(a);
	assert_int_equal(actuate__memory(a, v, "web1", &req, nasty, &r), 0);
	actuate__log_counts(a, &written, &failed);
	assert_int_equal(written, 1);
	assert_int_equal(failed, 0);
	actuate__free(a);
}

static void test_action_log(void **state)
{
	struct actuate_opts o = { .min_interval_ms = { 10000, 10000 }, .ring_size = 4 };
	struct virt *v = open_node();
	char path[1100];

	(void)state;
	snprintf(path, sizeof(path), "%s/actions.jsonl", out_dir);
	(void)unlink(path);
	o.log_path = path;
	log_five_actions(&o, v);
	check_log_file(path);
	check_log_appended(&o, v);
	check_log_control_chars(&o, v);

	/* a log that cannot be opened is an error at start, not a silent loss */
	o.log_path = "/nonexistent/dir/actions.jsonl";
	assert_null(actuate__new(&o));
	assert_int_equal(errno, ENOENT);
	virt__close(v);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_memory_bounds), cmocka_unit_test(test_dry_run_and_rate_limit),
		cmocka_unit_test(test_vcpus),	      cmocka_unit_test(test_hv_unplug_confirmation),
		cmocka_unit_test(test_faults),	      cmocka_unit_test(test_action_log),
	};

	return cmocka_run_group_tests(tests, setup, NULL);
}
