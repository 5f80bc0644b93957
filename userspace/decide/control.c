// SPDX-License-Identifier: GPL-2.0
/* The per-VM controller (see control.h). */
#include <errno.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "agentproto.h"
#include "channel.h"
#include "config.h"
#include "control.h"
#include "policy.h"
#include "sample.h"
#include "util.h"

#define KIB_PER_MIB 1024ull

struct vm_ctl {
	char name[VM_NAME_MAX];
	struct policy_state pol; /* what the policy remembers about this VM */
	char pol_kind[CONFIG_POLICY_MAX];
	struct channel *ch; /* the guest agent's channel, when the VM has one */
	/* the set-cpus command sent to the agent, confirmed by a later poll */
	bool cpus_pending;
	uint32_t cpus_id;
	int cpus_n;
	int cpus_tries;
	/* the last memory growth set, while the balloon may still be deflating */
	uint64_t grow_kib;
	uint64_t grow_from_kib;
	uint64_t grow_ns;
	bool grow_landed;
	/* the last shrink set, while the balloon may still be inflating */
	uint64_t shrink_kib;
	uint64_t shrink_from_kib;
	uint64_t shrink_ns;
	bool shrink_landed;
	double grow_mibps;   /* balloon deflation speed, MiB/s; 0: none measured */
	double shrink_mibps; /* balloon inflation speed, MiB/s; 0: none measured */
	double mem_lag_s;    /* how long growths take to land beyond a tick; < 0: none yet */
	uint64_t kernel_kib; /* balloon - guest MemTotal: what the guest kernel keeps */
	struct act_counts counts[ACT_KIND_NR];
	uint64_t mono_ns; /* of the step in progress, for the agent callback */
};

struct vm_ctl *control__new(const char *name)
{
	struct vm_ctl *c = calloc(1, sizeof(*c));

	if (!c)
		return NULL;
	(void)str_copy(c->name, name, sizeof(c->name));
	policy_state__init(&c->pol);
	c->mem_lag_s = -1;
	return c;
}

void control__free(struct vm_ctl *c)
{
	if (!c)
		return;
	channel__free(c->ch);
	free(c);
}

void control__adopt_channel(struct vm_ctl *c, struct channel *ch)
{
	channel__free(c->ch);
	c->ch = ch;
	c->cpus_pending = false;
}

int control__set_channel_path(struct vm_ctl *c, const char *path, const struct channel_opts *co)
{
	struct channel *ch;

	if (!path || !*path) {
		control__adopt_channel(c, NULL);
		return 0;
	}
	if (c->ch && !strcmp(channel__path(c->ch), path))
		return 0;
	ch = channel__new(path, co);
	control__adopt_channel(c, ch);
	return ch ? 0 : -errno;
}

struct channel *control__channel(const struct vm_ctl *c)
{
	return c->ch;
}

double control__mem_lag_s(const struct vm_ctl *c)
{
	return c->mem_lag_s;
}

void control__mem_speeds(const struct vm_ctl *c, double *grow_mibps, double *shrink_mibps)
{
	*grow_mibps = c->grow_mibps;
	*shrink_mibps = c->shrink_mibps;
}

double control__speed_update(double est, double moved_kib, double seen_s)
{
	double v;

	if (!(moved_kib > 0) || !(seen_s > 0) || !isfinite(moved_kib) || !isfinite(seen_s))
		return est;
	v = moved_kib / 1024.0 / seen_s;
	if (!(est > 0))
		return v;
	/* A slower move counts at once (the next may be as slow), a faster one halfway. */
	return v < est ? v : 0.5 * (est + v);
}

uint64_t control__kernel_kib(const struct vm_ctl *c)
{
	return c->kernel_kib;
}

const struct act_counts *control__counts(const struct vm_ctl *c, enum act_kind kind)
{
	return &c->counts[(unsigned int)kind < ACT_KIND_NR ? kind : ACT_MEMORY];
}

/* ---- the agent's set-cpus ---- */

/*
 * Only queued: waiting for the ack here would stall the tick for every VM.
 * A later control__poll_agent() reads it.
 */
static int send_cpus(struct vm_ctl *c, int n, uint64_t mono_ns)
{
	uint32_t id;
	int r;

	r = channel__send(c->ch, AGENT_OP_SET_CPUS, (uint32_t)n, mono_ns, &id);
	if (r)
		return r;
	c->cpus_pending = true;
	c->cpus_id = id;
	c->cpus_n = n;
	return 0;
}

/* actuate's agent hook for this VM (struct act_vcpu_req): online exactly n CPUs. */
static int agent_set_cpus(void *ctx, const char *vm, int n)
{
	struct vm_ctl *c = ctx;

	(void)vm;
	if (!c->ch || !channel__connected(c->ch))
		return -ENOTCONN;
	if (n < 1)
		return -EINVAL;
	if (c->cpus_pending)
		return -EBUSY;
	c->cpus_tries = 1;
	return send_cpus(c, n, c->mono_ns);
}

int control__poll_agent(struct vm_ctl *c, uint64_t mono_ns, int *poll_err,
			struct ctl_cpus_failure *fail)
{
	struct agent_ack ack;
	int r;

	*poll_err = 0;
	if (!c->ch)
		return 0;
	r = channel__poll(c->ch, mono_ns);
	if (r < 0)
		*poll_err = r;
	if (!c->cpus_pending)
		return 0;
	r = channel__result(c->ch, c->cpus_id, mono_ns, &ack);
	if (r == -EINPROGRESS)
		return 0;
	c->cpus_pending = false;
	if (!r && !ack.rc)
		return 0;
	r = r ? r : ack.rc;
	if (r > 0)
		r = -r;
	/*
	 * A hot-added CPU reaches the guest a moment after libvirt returns: the
	 * agent then refuses with ERANGE (not present yet). Ask again next tick.
	 */
	if (r == -ERANGE && c->cpus_tries < CTL_CPUS_CMD_TRIES) {
		c->cpus_tries++;
		if (!send_cpus(c, c->cpus_n, mono_ns))
			return 0;
	}
	*fail = (struct ctl_cpus_failure){ .cpus = c->cpus_n, .tries = c->cpus_tries, .err = r };
	c->counts[ACT_VCPUS].error++;
	return 1;
}

/* ---- decide ---- */

static void policy_cfg(const struct ctl_env *env, const struct vm_sample *s,
		       struct policy_config *pc)
{
	int kind = policy_kind__parse(s->policy);

	policy_config__init(pc, kind < 0 ? POLICY_PREDICTIVE : (enum policy_kind)kind);
	pc->tick_s = env->tick_s;
	pc->mem_min_mib = s->mem_floor_kib / KIB_PER_MIB;
	pc->mem_max_mib = s->mem_ceiling_kib ? s->mem_ceiling_kib / KIB_PER_MIB
					     : (s->mem_max_kib ? s->mem_max_kib / KIB_PER_MIB
							       : pc->mem_max_mib);
	if (pc->mem_max_mib < pc->mem_min_mib)
		pc->mem_max_mib = pc->mem_min_mib;
	pc->mem_reserve_mib = CTL_MEM_RESERVE_MIB;
	pc->vcpu_min = (unsigned int)s->vcpu_min;
	pc->vcpu_max = s->vcpu_max > 0
			       ? (unsigned int)s->vcpu_max
			       : (s->vcpus_max > 0 ? (unsigned int)s->vcpus_max : pc->vcpu_max);
	if (pc->vcpu_max < pc->vcpu_min)
		pc->vcpu_max = pc->vcpu_min;
	/* one threshold: the agent is silent when its data goes stale */
	pc->stale_after_s = env->silent_after_s;
	/* until this VM's balloon was timed, assume a slow one (TCG, busy host) */
	pc->predictive.balloon_mibps = CTL_BALLOON_MIBPS_GUESS;
}

/*
 * The balloon reaches a larger target over a few seconds: meanwhile the VM
 * has what was set, or the policy would undercut its own growth. How long it
 * took (or is taking) pads the next growth along a ramp.
 */
static void learn_landing(struct vm_ctl *c, const struct vm_sample *s, uint64_t now, double tick_s)
{
	if (!c->grow_kib || c->grow_landed ||
	    (s->balloon_kib + CTL_MEM_LANDED_SLACK_KIB < c->grow_kib &&
	     now - c->grow_ns < CTL_MEM_GROW_SETTLE_NS))
		return;
	c->grow_landed = true;
	c->mem_lag_s = policy__lag_update(c->mem_lag_s, (double)(now - c->grow_ns) / 1e9, tick_s);
	if (s->balloon_kib > c->grow_from_kib)
		c->grow_mibps = control__speed_update(c->grow_mibps,
						      (double)(s->balloon_kib - c->grow_from_kib),
						      (double)(now - c->grow_ns) / 1e9);
}

/*
 * A shrink inflates the balloon, taking pages from the guest at the speed
 * its driver manages (slower on a busy host): measured from the call to the
 * first tick that sees the balloon there, or what it did within the settle
 * time, so the policy starts no shrink that cannot finish before a jump.
 */
static void learn_inflation(struct vm_ctl *c, const struct vm_sample *s, uint64_t now)
{
	if (!c->shrink_kib || c->shrink_landed ||
	    (s->balloon_kib > c->shrink_kib + CTL_MEM_LANDED_SLACK_KIB &&
	     now - c->shrink_ns < CTL_MEM_GROW_SETTLE_NS))
		return;
	c->shrink_landed = true;
	if (s->balloon_kib < c->shrink_from_kib)
		c->shrink_mibps = control__speed_update(
			c->shrink_mibps, (double)(c->shrink_from_kib - s->balloon_kib),
			(double)(now - c->shrink_ns) / 1e9);
}

/*
 * The guest kernel's own share of its memory (balloon - MemTotal, tens of MiB,
 * fixed for a boot), learned while the balloon stands still: two ticks with
 * the same balloon and MemTotal, no growth on its way.
 */
static void learn_kernel_share(struct vm_ctl *c, const struct vm_sample *s,
			       const struct vm_sample *p)
{
	uint64_t share;

	if (s->mem_source != MEM_SOURCE_AGENT || !p || p->mem_source != MEM_SOURCE_AGENT ||
	    p->balloon_kib != s->balloon_kib || p->mem_total_kib != s->mem_total_kib ||
	    (c->grow_kib && !c->grow_landed) || s->balloon_kib <= s->mem_total_kib)
		return;
	share = s->balloon_kib - s->mem_total_kib;
	/* a guest claiming a tiny MemTotal does not get a huge share */
	c->kernel_kib = share <= s->balloon_kib / 4 ? share : 0;
}

static void policy_in(const struct vm_sample *s, uint64_t kernel_kib, struct policy_input *in)
{
	memset(in, 0, sizeof(*in));
	in->source = s->mem_source == MEM_SOURCE_AGENT	   ? POLICY_SRC_AGENT
		     : s->mem_source == MEM_SOURCE_BALLOON ? POLICY_SRC_BALLOON
							   : POLICY_SRC_NONE;
	in->mem_total_mib = (double)s->mem_total_kib / 1024.0;
	in->mem_used_mib = (double)s->mem_used_kib / 1024.0;
	in->mem_avail_mib = (double)s->mem_avail_kib / 1024.0;
	/*
	 * The guest's MemTotal leaves out what its kernel keeps for itself:
	 * all that is not available is used, or a shrink to used + reserve
	 * lands below the reserve and the next tick grows again. Counted as
	 * MemTotal + that share once it is known, one consistent reading of the
	 * guest; until then against the balloon, whose value in libvirt trails
	 * the guest by a tick or two while it moves (a change in flight would
	 * read as demand).
	 */
	if (s->mem_source == MEM_SOURCE_AGENT && s->mem_avail_kib <= s->mem_total_kib) {
		uint64_t total = s->mem_total_kib;

		if (kernel_kib)
			total += kernel_kib;
		else if (s->balloon_kib >= s->mem_total_kib && s->balloon_kib > s->mem_avail_kib)
			total = s->balloon_kib;
		in->mem_total_mib = (double)total / 1024.0;
		in->mem_used_mib = (double)(total - s->mem_avail_kib) / 1024.0;
	}
	in->psi_valid = s->psi_mem_some >= 0;
	in->psi_some_avg10 = s->psi_mem_some >= 0 ? s->psi_mem_some : 0;
	in->swap_in_mibps = s->swap_in_per_s / 1024.0;
	in->swap_out_mibps = s->swap_out_per_s / 1024.0;
	in->balloon_cur_mib = (double)s->balloon_kib / 1024.0;
	in->balloon_max_mib = (double)s->mem_max_kib / 1024.0;
	in->data_age_s = s->mem_age_s;
	in->vcpu_busy = s->have_cpu ? s->cpu_busy_pct / 100.0 : 0;
	in->runq_wait = s->have_cpu && s->nvcpus ? s->cpu_wait_pct / 100.0 / s->nvcpus : 0;
	if (in->runq_wait > 1)
		in->runq_wait = 1;
	in->guest_cpu_pct = s->guest_cpu_pct;
	in->vcpus_online = s->vcpus_online > 0 ? (unsigned int)s->vcpus_online : 1;
	in->vcpus_present = s->vcpus_max > 0 ? (unsigned int)s->vcpus_max : 0;
}

/* The policy's decision into s; 0 or the policy's -errno. */
static int decide(struct vm_ctl *c, const struct ctl_env *env, struct vm_sample *s,
		  const struct vm_sample *prev, struct policy_input *in,
		  struct policy_decision *dec)
{
	struct policy_config pc;
	int r;

	if (strcmp(c->pol_kind, s->policy)) {
		/* a reload changed the policy: start it from a clean state */
		policy_state__init(&c->pol);
		(void)str_copy(c->pol_kind, s->policy, sizeof(c->pol_kind));
	}
	policy_cfg(env, s, &pc);
	learn_landing(c, s, env->mono_ns, pc.tick_s);
	learn_inflation(c, s, env->mono_ns);
	learn_kernel_share(c, s, prev);
	policy_in(s, c->kernel_kib, in);
	if (c->grow_kib > s->balloon_kib && env->mono_ns - c->grow_ns < CTL_MEM_GROW_SETTLE_NS)
		in->balloon_cur_mib = (double)c->grow_kib / 1024.0;
	in->mem_lag_s = c->mem_lag_s > 0 ? c->mem_lag_s : 0;
	in->mem_grow_mibps = c->grow_mibps;
	in->mem_shrink_mibps = c->shrink_mibps;
	s->mem_lag_s = c->mem_lag_s;
	r = policy__decide(&pc, &c->pol, in, dec);
	(void)str_copy(s->reason, dec->reason, sizeof(s->reason));
	s->decided = !r;
	if (r)
		return r;
	/* a memory target means something only for a VM with a balloon */
	s->target_mem_kib = s->balloon_kib ? dec->target_mem_mib * KIB_PER_MIB : 0;
	s->target_vcpus = (int)dec->target_vcpus;
	if (dec->forecast_mem_mib > 0) {
		s->forecast_kib = dec->forecast_mem_mib * 1024.0;
		s->forecast_lo_kib = s->forecast_kib;
		s->forecast_hi_kib =
			(dec->forecast_mem_hi_mib > dec->forecast_mem_mib ? dec->forecast_mem_hi_mib
									  : dec->forecast_mem_mib) *
			1024.0;
	}
	s->changed = dec->flags &
		     (POLICY_MEM_GROW | POLICY_MEM_SHRINK | POLICY_VCPU_UP | POLICY_VCPU_DOWN);
	return 0;
}

/* ---- act ---- */

static void count(struct vm_ctl *c, const struct act_record *rec)
{
	struct act_counts *n = &c->counts[rec->kind];

	switch (rec->outcome) {
	case ACT_RES_UNCHANGED:
	case ACT_RES_RATE_LIMITED:
		return; /* the action log keeps those; the API shows what moved */
	case ACT_RES_OK:
		n->ok++;
		return;
	case ACT_RES_DRY_RUN:
		n->dry_run++;
		return;
	default:
		n->error++;
		return;
	}
}

static void act_memory(struct vm_ctl *c, const struct ctl_env *env, const struct vm_sample *s,
		       const struct policy_input *in, const char *reason, struct ctl_action *a)
{
	struct act_mem_req req = {
		.target_kib = s->target_mem_kib,
		.min_kib = s->mem_floor_kib,
		.guest_used_kib = s->mem_source == MEM_SOURCE_NONE ? 0
				  : in->mem_used_mib > 0 ? (uint64_t)(in->mem_used_mib * 1024.0)
							 : s->mem_used_kib,
		.reserve_kib = CTL_MEM_RESERVE_MIB * KIB_PER_MIB,
		.max_kib = s->mem_ceiling_kib,
		.dry_run = s->dry_run,
	};
	const struct act_record *rec = &a->rec;

	a->asked = true;
	a->err = actuate__memory(env->act, env->virt, s->name, &req, reason, &a->rec);
	if (!a->err && !rec->dry_run && rec->to > rec->from && rec->outcome == ACT_RES_OK) {
		c->grow_kib = rec->to;
		c->grow_from_kib = rec->from;
		c->grow_ns = env->mono_ns;
		c->grow_landed = false;
		c->shrink_kib = 0;
	} else if (!a->err && !rec->dry_run && rec->to < rec->from) {
		c->grow_kib = 0;
		if (rec->outcome == ACT_RES_OK) {
			c->shrink_kib = rec->to;
			c->shrink_from_kib = rec->from;
			c->shrink_ns = env->mono_ns;
			c->shrink_landed = false;
		}
	}
	count(c, rec);
}

static void act_vcpus(struct vm_ctl *c, const struct ctl_env *env, const struct vm_sample *s,
		      const char *reason, struct ctl_action *a)
{
	struct act_vcpu_req req = {
		.target = s->target_vcpus,
		.online_now = s->mem_source == MEM_SOURCE_AGENT &&
					      !sample__agent_silent(s, env->silent_after_s)
				      ? s->vcpus_online
				      : -1,
		.dry_run = s->dry_run,
		.agent_set_cpus = agent_set_cpus,
		.agent_ctx = c,
	};

	a->asked = true;
	c->mono_ns = env->mono_ns;
	a->err = actuate__vcpus_req(env->act, env->virt, s->name, &req, reason, &a->rec);
	count(c, &a->rec);
}

int control__step(struct vm_ctl *c, const struct ctl_env *env, struct vm_sample *s,
		  const struct vm_sample *prev, struct ctl_step *out)
{
	struct policy_decision dec;
	struct policy_input in;

	memset(out, 0, sizeof(*out));
	out->outcome = CTL_OBSERVED;
	/* only libvirt domains can be acted on: QEMUs found in /proc are observed */
	if (!s->enabled || !(s->source & VM_SOURCE_LIBVIRT))
		return 0;
	out->outcome = CTL_UNDECIDED;
	if (decide(c, env, s, prev, &in, &dec))
		return 0;
	out->outcome = CTL_HOLD;
	if (!s->changed)
		return 0;
	out->outcome = CTL_ACTED;
	if (dec.flags & (POLICY_MEM_GROW | POLICY_MEM_SHRINK))
		act_memory(c, env, s, &in, dec.reason, &out->act[ACT_MEMORY]);
	if (dec.flags & (POLICY_VCPU_UP | POLICY_VCPU_DOWN)) {
		act_vcpus(c, env, s, dec.reason, &out->act[ACT_VCPUS]);
		/* a hot-add sends no libvirt event: the caller re-reads the vCPU threads */
		out->vcpus_changed = !out->act[ACT_VCPUS].err && !out->act[ACT_VCPUS].rec.dry_run;
	}
	return 0;
}
