// SPDX-License-Identifier: GPL-2.0
/*
 * The per-VM controller (control.h) without libvirt or BPF: fake domains
 * behind the actuator's act_domain_ops, a socketpair as the agent channel,
 * a fixed monotonic clock. What it decides and learns, what each actuator
 * result becomes, and the set-cpus retries.
 */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>
#include <cmocka.h>

#include <json-c/json.h>

#include "actuate.h"
#include "agentproto.h"
#include "channel.h"
#include "config.h"
#include "control.h"
#include "publish.h"
#include "snapshot.h"
#include "sample.h"
#include "vm.h"

#define SEC   1000000000ull
#define MIB   1024ull /* KiB */
#define T0    (5000 * SEC)
#define QUIET 15.0

/* One fake libvirt domain. */
static struct fake_dom {
	bool exists, active;
	uint64_t cur_kib, max_kib;
	int cur_vcpus, max_vcpus;
	int set_err; /* what the next set returns */
	int balloon_sets, vcpu_sets;
} dom;

static int fake_read(struct virt *v, const char *vm, unsigned int what, struct virt_domain_now *now,
		     struct virt_domain_err *e)
{
	(void)v;
	(void)vm;
	(void)what;
	memset(now, 0, sizeof(*now));
	e->step = "lookup";
	(void)snprintf(e->msg, sizeof(e->msg), "Domain not found");
	if (!dom.exists)
		return -ENOENT;
	now->active = dom.active;
	now->cur_memory_kib = dom.cur_kib;
	now->max_memory_kib = dom.max_kib;
	now->cur_vcpus = dom.cur_vcpus;
	now->max_vcpus = dom.max_vcpus;
	return 0;
}

static int fake_set_balloon(struct virt *v, const char *vm, uint64_t kib, struct virt_domain_err *e)
{
	(void)v;
	(void)vm;
	dom.balloon_sets++;
	e->step = "setting the balloon";
	(void)snprintf(e->msg, sizeof(e->msg), "internal error: fake");
	if (dom.set_err)
		return dom.set_err;
	dom.cur_kib = kib;
	return 0;
}

static int fake_set_vcpus(struct virt *v, const char *vm, unsigned int n, struct virt_domain_err *e)
{
	(void)v;
	(void)vm;
	dom.vcpu_sets++;
	e->step = "setting the vCPU count";
	(void)snprintf(e->msg, sizeof(e->msg), "internal error: fake");
	if (dom.set_err)
		return dom.set_err;
	dom.cur_vcpus = (int)n;
	return 0;
}

static const struct act_domain_ops fake_ops = {
	.read = fake_read,
	.set_balloon = fake_set_balloon,
	.set_vcpus = fake_set_vcpus,
};

struct fixture {
	struct actuate *act;
	struct vm_ctl *ctl;
	struct ctl_env env;
	struct vm_sample *s, *prev;
	int agent_fd; /* the guest's end of the channel, -1: none */
};

static int setup(void **state)
{
	struct actuate_opts o = { .domain_ops = &fake_ops, .min_interval_ms = { 1, 1 } };
	struct fixture *f = calloc(1, sizeof(*f));

	if (!f)
		return -1;
	dom = (struct fake_dom){ .exists = true,
				 .active = true,
				 .cur_kib = 1024 * MIB,
				 .max_kib = 4096 * MIB,
				 .cur_vcpus = 1,
				 .max_vcpus = 4 };
	f->act = actuate__new(&o);
	f->ctl = control__new("web1");
	f->s = calloc(1, sizeof(*f->s));
	f->prev = calloc(1, sizeof(*f->prev));
	f->agent_fd = -1;
	if (!f->act || !f->ctl || !f->s || !f->prev)
		return -1;
	f->env = (struct ctl_env){
		.act = f->act, .tick_s = 1.0, .silent_after_s = QUIET, .mono_ns = T0
	};
	*state = f;
	return 0;
}

static int teardown(void **state)
{
	struct fixture *f = *state;

	control__free(f->ctl);
	actuate__free(f->act);
	if (f->agent_fd >= 0)
		close(f->agent_fd);
	free(f->s);
	free(f->prev);
	free(f);
	return 0;
}

/*
 * The sample of a libvirt domain whose agent says MemTotal total and
 * MemAvailable avail (MiB), with the balloon at balloon MiB.
 */
static void sample(struct fixture *f, uint64_t balloon, uint64_t total, uint64_t avail)
{
	struct vm_sample *s = f->s;
	struct vm_desc d = { .pid = 77, .source = VM_SOURCE_LIBVIRT, .name = "web1" };
	struct vm_config vc = {
		.policy = "threshold", .mem_floor_mib = 256, .vcpu_min = 1, .enabled = true
	};

	sample__init(s, "web1", &d, 1800000000ull * SEC, 1.0);
	s->mem_source = MEM_SOURCE_AGENT;
	s->mem_age_s = 0.5;
	s->mem_total_kib = total * MIB;
	s->mem_avail_kib = avail * MIB;
	s->mem_used_kib = (total - avail) * MIB;
	s->balloon_kib = balloon * MIB;
	s->mem_max_kib = dom.max_kib;
	s->vcpus_current = dom.cur_vcpus;
	s->vcpus_max = dom.max_vcpus;
	s->vcpus_online = dom.cur_vcpus;
	s->guest_cpu_pct = 50;
	sample__configure(s, &vc);
}

static struct ctl_step step(struct fixture *f, const struct vm_sample *prev)
{
	struct ctl_step st;

	assert_int_equal(control__step(f->ctl, &f->env, f->s, prev, &st), 0);
	return st;
}

static void test_observed(void **state)
{
	struct fixture *f = *state;
	struct ctl_step st;

	sample(f, 1024, 1000, 100);
	f->s->enabled = false;
	st = step(f, NULL);
	assert_int_equal(st.outcome, CTL_OBSERVED);
	assert_false(f->s->decided);
	/* a QEMU found only in /proc is watched, never acted on */
	sample(f, 1024, 1000, 100);
	f->s->source = VM_SOURCE_PROC;
	st = step(f, NULL);
	assert_int_equal(st.outcome, CTL_OBSERVED);
	assert_int_equal(dom.balloon_sets, 0);
}

/* Grown, then the balloon lands 3 s later: the lag is learned. */
static void test_grow_and_landing(void **state)
{
	struct fixture *f = *state;
	struct ctl_step st;

	sample(f, 1024, 1000, 100); /* 924 MiB used of 1024: above 80 % */
	st = step(f, NULL);
	assert_int_equal(st.outcome, CTL_ACTED);
	assert_true(f->s->decided && f->s->changed);
	assert_true(st.act[ACT_MEMORY].asked);
	assert_false(st.act[ACT_VCPUS].asked);
	assert_int_equal(st.act[ACT_MEMORY].err, 0);
	assert_int_equal(st.act[ACT_MEMORY].rec.outcome, ACT_RES_OK);
	assert_int_equal(st.act[ACT_MEMORY].rec.from, 1024 * MIB);
	assert_int_equal(st.act[ACT_MEMORY].rec.to, 1124 * MIB);
	assert_int_equal(dom.cur_kib, 1124 * MIB);
	assert_int_equal(control__counts(f->ctl, ACT_MEMORY)->ok, 1);
	assert_true(control__mem_lag_s(f->ctl) < 0);

	/* a second later the balloon has not moved yet: not landed */
	f->env.mono_ns = T0 + SEC;
	sample(f, 1024, 1000, 600);
	(void)step(f, NULL);
	assert_true(control__mem_lag_s(f->ctl) < 0);
	assert_true(f->s->mem_lag_s < 0);

	/* three seconds after: landed, 3 s (2 beyond the tick) is learned */
	f->env.mono_ns = T0 + 3 * SEC;
	sample(f, 1124, 1100, 600);
	(void)step(f, NULL);
	assert_true(control__mem_lag_s(f->ctl) > 0);
	assert_float_equal(f->s->mem_lag_s, control__mem_lag_s(f->ctl), 1e-12);
}

/* Two ticks with the balloon standing still: balloon - MemTotal is the kernel's share. */
static void test_kernel_share(void **state)
{
	struct fixture *f = *state;

	sample(f, 1024, 960, 600);
	*f->prev = *f->s;
	(void)step(f, NULL);
	assert_int_equal(control__kernel_kib(f->ctl), 0); /* no previous tick */
	sample(f, 1024, 960, 590);
	(void)step(f, f->prev);
	assert_int_equal(control__kernel_kib(f->ctl), 64 * MIB);

	/* the balloon moved between the two: nothing learned from them */
	sample(f, 1100, 1036, 590);
	(void)step(f, f->prev);
	assert_int_equal(control__kernel_kib(f->ctl), 64 * MIB);

	/* a guest claiming a tiny MemTotal gets no huge share */
	sample(f, 1024, 500, 400);
	*f->prev = *f->s;
	sample(f, 1024, 500, 400);
	(void)step(f, f->prev);
	assert_int_equal(control__kernel_kib(f->ctl), 0);
}

/* What each actuator result becomes: typed, counted, never parsed from text. */
static void test_outcomes(void **state)
{
	struct fixture *f = *state;
	const struct act_record *r;
	struct ctl_step st;

	/* dry-run: decided and logged, nothing set */
	sample(f, 1024, 1000, 100);
	f->s->dry_run = true;
	st = step(f, NULL);
	r = &st.act[ACT_MEMORY].rec;
	assert_int_equal(r->outcome, ACT_RES_DRY_RUN);
	assert_true(r->dry_run);
	assert_int_equal(dom.balloon_sets, 0);
	assert_int_equal(control__counts(f->ctl, ACT_MEMORY)->dry_run, 1);

	/* libvirt fails */
	dom.set_err = -EIO;
	sample(f, 1024, 1000, 100);
	st = step(f, NULL);
	r = &st.act[ACT_MEMORY].rec;
	assert_int_equal(st.act[ACT_MEMORY].err, -EIO);
	assert_int_equal(r->outcome, ACT_RES_ERROR);
	assert_string_equal(r->result, "error: setting the balloon failed: internal error: fake");
	assert_int_equal(control__counts(f->ctl, ACT_MEMORY)->error, 1);
	dom.set_err = 0;

	/* the domain is gone, or stopped */
	dom.exists = false;
	sample(f, 1024, 1000, 100);
	st = step(f, NULL);
	assert_int_equal(st.act[ACT_MEMORY].err, -ENOENT);
	assert_string_equal(st.act[ACT_MEMORY].rec.result, "error: no domain 'web1'");
	dom.exists = true;
	dom.active = false;
	sample(f, 1024, 1000, 100);
	st = step(f, NULL);
	assert_int_equal(st.act[ACT_MEMORY].err, -ENOENT);
	assert_int_equal(st.act[ACT_MEMORY].rec.outcome, ACT_RES_ERROR);
	assert_int_equal(control__counts(f->ctl, ACT_MEMORY)->error, 3);
	dom.active = true;

	/*
	 * libvirt's <memory> is where the balloon is (the sample's maximum was
	 * older): clamped to it, unchanged, not counted
	 */
	sample(f, 1024, 1000, 100);
	dom.max_kib = 1024 * MIB;
	st = step(f, NULL);
	dom.max_kib = 4096 * MIB;
	assert_int_equal(st.act[ACT_MEMORY].err, 0);
	assert_int_equal(st.act[ACT_MEMORY].rec.outcome, ACT_RES_UNCHANGED);
	assert_string_equal(st.act[ACT_MEMORY].rec.clamp, "ceiling");
	assert_int_equal(control__counts(f->ctl, ACT_MEMORY)->ok, 0);
	assert_int_equal(control__counts(f->ctl, ACT_MEMORY)->error, 3);

	/* two shrinks in a row: the second is rate-limited (5 s), not counted */
	{
		struct actuate_opts o = { .domain_ops = &fake_ops };

		actuate__free(f->act);
		f->act = f->env.act = actuate__new(&o);
		assert_non_null(f->act);
	}
	dom.cur_kib = 4096 * MIB;
	sample(f, 4096, 4000, 3800);
	st = step(f, NULL);
	assert_int_equal(st.act[ACT_MEMORY].rec.outcome, ACT_RES_OK);
	assert_true(dom.cur_kib < 4096 * MIB);
	sample(f, dom.cur_kib / MIB, 4000, 3800);
	st = step(f, NULL);
	assert_int_equal(st.act[ACT_MEMORY].err, -EAGAIN);
	assert_int_equal(st.act[ACT_MEMORY].rec.outcome, ACT_RES_RATE_LIMITED);
	assert_int_equal(control__counts(f->ctl, ACT_MEMORY)->ok, 1);
	assert_int_equal(control__counts(f->ctl, ACT_MEMORY)->error, 3);
}

/* The guest's end: read one command line, return its id and argument. */
static uint32_t read_cmd(struct fixture *f, uint32_t *arg)
{
	enum agentproto_reject why;
	struct agentproto_msg m;
	char buf[256];
	ssize_t n;

	n = read(f->agent_fd, buf, sizeof(buf) - 1);
	assert_true(n > 1);
	buf[n] = '\0';
	assert_int_equal(agentproto__parse(buf, (size_t)n - 1, false, &m, &why), 0);
	assert_int_equal(m.cmd.op, AGENT_OP_SET_CPUS);
	*arg = m.cmd.arg;
	return m.cmd.id;
}

static void ack(struct fixture *f, uint32_t id, int rc)
{
	struct agent_ack a = { .id = id, .op = AGENT_OP_SET_CPUS, .rc = rc };
	char buf[256];
	size_t n;

	assert_true(agentproto__format_ack(buf, sizeof(buf) - 1, &a) > 0);
	n = strlen(buf);
	buf[n++] = '\n';
	assert_int_equal(write(f->agent_fd, buf, n), (ssize_t)n);
}

static void connect_agent(struct fixture *f)
{
	int sv[2];

	assert_int_equal(socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sv), 0);
	control__adopt_channel(f->ctl, channel__new_fd(sv[0], "test", NULL));
	assert_non_null(control__channel(f->ctl));
	f->agent_fd = sv[1];
}

/* The guest is busy: one more vCPU, hot-added, then onlined by the agent. */
static void scale_up(struct fixture *f, int online)
{
	struct ctl_step st;

	usleep(2000); /* past the test actuator's 1 ms rate limit */
	dom.cur_vcpus = online;
	sample(f, 1024, 1000, 500);
	f->s->guest_cpu_pct = 95;
	st = step(f, NULL);
	assert_int_equal(st.outcome, CTL_ACTED);
	assert_int_equal(st.act[ACT_VCPUS].err, 0);
	assert_int_equal(st.act[ACT_VCPUS].rec.outcome, ACT_RES_OK);
	assert_true(st.vcpus_changed);
	assert_int_equal(dom.cur_vcpus, online + 1);
	assert_non_null(strstr(st.act[ACT_VCPUS].rec.result, "agent asked to set"));
}

static int poll_agent(struct fixture *f, uint64_t at, struct ctl_cpus_failure *fail)
{
	int perr;

	return control__poll_agent(f->ctl, at, &perr, fail);
}

static void test_set_cpus(void **state)
{
	struct fixture *f = *state;
	struct ctl_cpus_failure fail = { 0 };
	uint32_t id, id2, arg;

	/* without a channel the agent cannot be asked: an error, counted */
	sample(f, 1024, 1000, 500);
	f->s->guest_cpu_pct = 95;
	{
		struct ctl_step st = step(f, NULL);

		assert_int_equal(st.act[ACT_VCPUS].err, -EPROTO);
		assert_int_equal(st.act[ACT_VCPUS].rec.outcome, ACT_RES_ERROR);
		assert_int_equal(control__counts(f->ctl, ACT_VCPUS)->error, 1);
	}

	connect_agent(f);
	scale_up(f, 2);
	assert_int_equal(poll_agent(f, T0, &fail), 0); /* sends the command */
	id = read_cmd(f, &arg);
	assert_int_equal(arg, 3);
	/* not present in the guest yet: asked again, not a failure */
	ack(f, id, -ERANGE);
	assert_int_equal(poll_agent(f, T0 + SEC, &fail), 0);
	assert_int_equal(poll_agent(f, T0 + SEC, &fail), 0);
	id2 = read_cmd(f, &arg);
	assert_int_not_equal(id2, id);
	assert_int_equal(arg, 3);
	ack(f, id2, 0);
	assert_int_equal(poll_agent(f, T0 + 2 * SEC, &fail), 0);
	assert_int_equal(control__counts(f->ctl, ACT_VCPUS)->ok, 1);
	assert_int_equal(control__counts(f->ctl, ACT_VCPUS)->error, 1);

	/* ERANGE every time: a failure after CTL_CPUS_CMD_TRIES */
	scale_up(f, 3);
	for (int i = 0; i < CTL_CPUS_CMD_TRIES; i++) {
		uint64_t at = T0 + (uint64_t)(3 + i) * SEC;

		assert_int_equal(poll_agent(f, at, &fail), 0);
		ack(f, read_cmd(f, &arg), -ERANGE);
	}
	assert_int_equal(poll_agent(f, T0 + 9 * SEC, &fail), 1);
	assert_int_equal(fail.cpus, 4);
	assert_int_equal(fail.tries, CTL_CPUS_CMD_TRIES);
	assert_int_equal(fail.err, -ERANGE);
	assert_int_equal(control__counts(f->ctl, ACT_VCPUS)->error, 2);

	/* no answer at all: a failure once the channel gives up on it */
	dom.max_vcpus = 8;
	f->s->vcpus_max = 8;
	f->env.mono_ns = T0 + 10 * SEC;
	scale_up(f, 4);
	assert_int_equal(poll_agent(f, T0 + 10 * SEC, &fail), 0);
	(void)read_cmd(f, &arg);
	assert_int_equal(poll_agent(f, T0 + 12 * SEC, &fail), 0);
	assert_int_equal(poll_agent(f, T0 + 20 * SEC, &fail), 1);
	assert_int_equal(fail.err, -ETIMEDOUT);
	assert_int_equal(fail.tries, 1);
	assert_int_equal(control__counts(f->ctl, ACT_VCPUS)->error, 3);
}

/* The action log line and /api/v1/actions say the same MiB for one action. */
static void test_log_and_api_agree(void **state)
{
	struct fixture *f = *state;
	struct publisher *pub = publish__new();
	struct snapshot *snap = snapshot__new(0, 0);
	struct publish_health h = { 0 };
	struct config *cfg = config__new_default();
	double phases[TICK_PHASES] = { 0 };
	struct json_object *o, *v;
	struct ctl_step st;
	char line[4096];

	assert_non_null(pub);
	assert_non_null(snap);
	assert_non_null(cfg);
	sample(f, 1024, 1000, 100);
	st = step(f, NULL);
	assert_int_equal(st.act[ACT_MEMORY].rec.outcome, ACT_RES_OK);
	assert_int_equal(act_record__json(&st.act[ACT_MEMORY].rec, line, sizeof(line)), 0);
	o = json_tokener_parse(line);
	assert_non_null(o);
	assert_true(json_object_object_get_ex(o, "to_mib", &v));
	assert_int_equal(json_object_get_int64(v), 1124);
	assert_true(json_object_object_get_ex(o, "from_mib", &v));
	assert_int_equal(json_object_get_int64(v), 1024);
	/* the KiB fields stay for readers written before */
	assert_true(json_object_object_get_ex(o, "to", &v));
	assert_int_equal(json_object_get_int64(v), 1124 * 1024);
	json_object_put(o);

	publish__action(pub, &st.act[ACT_MEMORY].rec);
	h.cfg = cfg;
	h.phase_ms = phases;
	h.libvirt_error = h.bpf_error = h.config_error = "";
	assert_int_equal(publish__snapshot(pub, snap, 1.0, &h), 0);
	assert_int_equal(snap->nactions, 1);
	assert_string_equal(snap->actions[0].unit, "MiB");
	assert_int_equal(snap->actions[0].from, 1024);
	assert_int_equal(snap->actions[0].to, 1124);
	assert_string_equal(snap->actions[0].result, "ok");
	snapshot__put(snap);
	config__free(cfg);
	publish__free(pub);
}

/*
 * The balloon's speeds (issue 11): a growth of 100 MiB seen landed 2 s after
 * it was set deflated at 50 MiB/s; a shrink of 500 MiB seen landed 4 s after,
 * inflated at 125 MiB/s. A slower move then counts at once.
 */
static void test_balloon_speeds(void **state)
{
	struct fixture *f = *state;
	struct ctl_step st;
	double grow, shrink;

	control__mem_speeds(f->ctl, &grow, &shrink);
	assert_true(grow == 0 && shrink == 0);
	sample(f, 1024, 1000, 100); /* above 80 %: +100 MiB */
	st = step(f, NULL);
	assert_int_equal(st.act[ACT_MEMORY].rec.to, 1124 * MIB);
	f->env.mono_ns = T0 + 2 * SEC;
	sample(f, 1124, 1100, 600);
	(void)step(f, NULL);
	control__mem_speeds(f->ctl, &grow, &shrink);
	assert_float_equal(grow, 50.0, 1e-9);
	assert_true(shrink == 0);

	/* used 100 of 1124: below 20 %, -500 MiB (past actuate's 1 ms rate limit) */
	usleep(5000);
	f->env.mono_ns = T0 + 3 * SEC;
	sample(f, 1124, 1100, 1000);
	st = step(f, NULL);
	assert_int_equal(st.act[ACT_MEMORY].rec.to, 624 * MIB);
	assert_int_equal(st.act[ACT_MEMORY].rec.outcome, ACT_RES_OK);
	/* half-way a second later: not landed, nothing learned */
	f->env.mono_ns = T0 + 4 * SEC;
	sample(f, 874, 850, 550); /* used 300: no new decision */
	(void)step(f, NULL);
	control__mem_speeds(f->ctl, &grow, &shrink);
	assert_true(shrink == 0);
	assert_int_equal(dom.cur_kib, 624 * MIB);
	f->env.mono_ns = T0 + 7 * SEC;
	sample(f, 624, 600, 300);
	(void)step(f, NULL);
	control__mem_speeds(f->ctl, &grow, &shrink);
	assert_float_equal(shrink, 125.0, 1e-9);

	/* the estimates: slower at once, faster halfway, nonsense ignored */
	assert_float_equal(control__speed_update(0, 100 * 1024, 2), 50, 1e-9);
	assert_float_equal(control__speed_update(50, 100 * 1024, 4), 25, 1e-9);
	assert_float_equal(control__speed_update(50, 100 * 1024, 1), 75, 1e-9);
	assert_float_equal(control__speed_update(50, 0, 1), 50, 1e-9);
	assert_float_equal(control__speed_update(50, 100, 0), 50, 1e-9);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(test_observed, setup, teardown),
		cmocka_unit_test_setup_teardown(test_grow_and_landing, setup, teardown),
		cmocka_unit_test_setup_teardown(test_kernel_share, setup, teardown),
		cmocka_unit_test_setup_teardown(test_outcomes, setup, teardown),
		cmocka_unit_test_setup_teardown(test_set_cpus, setup, teardown),
		cmocka_unit_test_setup_teardown(test_log_and_api_agree, setup, teardown),
		cmocka_unit_test_setup_teardown(test_balloon_speeds, setup, teardown),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
