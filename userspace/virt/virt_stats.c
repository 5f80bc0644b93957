// SPDX-License-Identifier: GPL-2.0
/*
 * libvirt's statistics: one bulk virConnectGetAllDomainStats call per tick
 * (on a bounded job), its typed parameters parsed, and the balloon figures.
 */
#include <errno.h>
#include <stddef.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>

#include <libvirt/virterror.h>

#include "util.h"
#include "virt_priv.h"

/* How old the NOWAIT balloon figures may be to answer virt__memstats(). */
#define BAL_FRESH_NS (5000 * MS)

/* ---- statistics ---------------------------------------------------------- */

static bool param_u64(const virTypedParameter *p, uint64_t *out)
{
	switch (p->type) {
	case VIR_TYPED_PARAM_INT:
		*out = p->value.i < 0 ? 0 : (uint64_t)p->value.i;
		return true;
	case VIR_TYPED_PARAM_UINT:
		*out = p->value.ui;
		return true;
	case VIR_TYPED_PARAM_LLONG:
		*out = p->value.l < 0 ? 0 : (uint64_t)p->value.l;
		return true;
	case VIR_TYPED_PARAM_ULLONG:
		*out = p->value.ul;
		return true;
	default:
		return false;
	}
}

/* "vcpu.3.time" with prefix "vcpu." -> idx 3, rest "time"; false when not indexed. */
static bool indexed(const char *field, const char *prefix, int max, int *idx, const char **rest)
{
	size_t len = strlen(prefix);
	char *end;
	long i;

	if (strncmp(field, prefix, len) || field[len] < '0' || field[len] > '9')
		return false;
	i = strtol(field + len, &end, 10);
	if (*end != '.' || i < 0 || i >= max)
		return false;
	*idx = (int)i;
	*rest = end + 1;
	return true;
}

/* A typed parameter's field name and the uint64_t member it fills. */
struct field {
	const char *name;
	size_t off;
};

#define F(f, type, m)                       \
	{                                   \
		f, offsetof(struct type, m) \
	}
static const struct field top_fields[] = {
	F("cpu.time", virt_dom_stats, cpu_time_ns),
	F("cpu.user", virt_dom_stats, cpu_user_ns),
	F("cpu.system", virt_dom_stats, cpu_system_ns),
	F("balloon.current", virt_dom_stats, balloon_current_kib),
	F("balloon.maximum", virt_dom_stats, balloon_maximum_kib),
	F("balloon.available", virt_dom_stats, balloon_available_kib),
	F("balloon.usable", virt_dom_stats, balloon_usable_kib),
	F("balloon.unused", virt_dom_stats, balloon_unused_kib),
	F("balloon.rss", virt_dom_stats, balloon_rss_kib),
	F("balloon.disk_caches", virt_dom_stats, balloon_disk_caches_kib),
	F("balloon.swap_in", virt_dom_stats, balloon_swap_in_kib),
	F("balloon.swap_out", virt_dom_stats, balloon_swap_out_kib),
	F("balloon.major_fault", virt_dom_stats, balloon_major_fault),
	F("balloon.minor_fault", virt_dom_stats, balloon_minor_fault),
	F("balloon.last-update", virt_dom_stats, balloon_last_update),
};
static const struct field vcpu_fields[] = {
	F("time", virt_vcpu_stats, time_ns),
	F("wait", virt_vcpu_stats, wait_ns),
	F("delay", virt_vcpu_stats, delay_ns),
};
static const struct field net_fields[] = {
	F("rx.bytes", virt_net_stats, rx_bytes), F("rx.pkts", virt_net_stats, rx_pkts),
	F("rx.errs", virt_net_stats, rx_errs),	 F("rx.drop", virt_net_stats, rx_drop),
	F("tx.bytes", virt_net_stats, tx_bytes), F("tx.pkts", virt_net_stats, tx_pkts),
	F("tx.errs", virt_net_stats, tx_errs),	 F("tx.drop", virt_net_stats, tx_drop),
};
static const struct field block_fields[] = {
	F("rd.reqs", virt_block_stats, rd_reqs),      F("rd.bytes", virt_block_stats, rd_bytes),
	F("rd.times", virt_block_stats, rd_times_ns), F("wr.reqs", virt_block_stats, wr_reqs),
	F("wr.bytes", virt_block_stats, wr_bytes),    F("wr.times", virt_block_stats, wr_times_ns),
	F("fl.reqs", virt_block_stats, fl_reqs),      F("fl.times", virt_block_stats, fl_times_ns),
};
#undef F

/* Store val in the member of base that fields names rest after. */
static void set_field(void *base, const struct field *fields, size_t n, const char *rest,
		      uint64_t val)
{
	for (size_t k = 0; k < n; k++) {
		if (!strcmp(rest, fields[k].name))
			*(uint64_t *)((char *)base + fields[k].off) = val;
	}
}

/* A string parameter into dst, when it is one. */
static void set_str(const virTypedParameter *p, char *dst, size_t size)
{
	if (p->type == VIR_TYPED_PARAM_STRING)
		(void)str_copy(dst, p->value.s, size);
}

/* vcpu.N.*, net.N.*, block.N.*: true when the field was one of them. */
static bool parse_indexed(struct virt_dom_stats *st, const virTypedParameter *p, bool num,
			  uint64_t val)
{
	const char *rest;
	int idx;

	if (indexed(p->field, "vcpu.", VIRT_MAX_VCPU_STATS, &idx, &rest)) {
		if (!num)
			return true;
		if (!strcmp(rest, "state"))
			st->vcpus[idx].state = (int)val;
		set_field(&st->vcpus[idx], vcpu_fields, ARRAY_SIZE(vcpu_fields), rest, val);
		if (idx + 1 > st->nvcpus)
			st->nvcpus = idx + 1;
	} else if (indexed(p->field, "net.", VIRT_MAX_NET_STATS, &idx, &rest)) {
		if (!strcmp(rest, "name"))
			set_str(p, st->nets[idx].name, sizeof(st->nets[idx].name));
		if (num)
			set_field(&st->nets[idx], net_fields, ARRAY_SIZE(net_fields), rest, val);
		if (idx + 1 > st->nnets)
			st->nnets = idx + 1;
	} else if (indexed(p->field, "block.", VIRT_MAX_BLOCK_STATS, &idx, &rest)) {
		struct virt_block_stats *bs = &st->blocks[idx];

		if (!strcmp(rest, "name"))
			set_str(p, bs->name, sizeof(bs->name));
		else if (!strcmp(rest, "path"))
			set_str(p, bs->path, sizeof(bs->path));
		if (num)
			set_field(bs, block_fields, ARRAY_SIZE(block_fields), rest, val);
		if (idx + 1 > st->nblocks)
			st->nblocks = idx + 1;
	} else {
		return false;
	}
	return true;
}

int virt_dom_stats__parse(struct virt_dom_stats *st, const char *name,
			  const virTypedParameter *params, int nparams)
{
	memset(st, 0, sizeof(*st));
	if (str_copy(st->name, name ? name : "", sizeof(st->name))) {
		st->name[0] = '\0'; /* a cut name could be another domain's */
		return -ENAMETOOLONG;
	}
	st->balloon_available_kib = st->balloon_usable_kib = UINT64_MAX;
	st->balloon_unused_kib = st->balloon_rss_kib = UINT64_MAX;
	st->balloon_disk_caches_kib = st->balloon_swap_in_kib = st->balloon_swap_out_kib =
		UINT64_MAX;
	st->balloon_major_fault = st->balloon_minor_fault = st->balloon_last_update = UINT64_MAX;
	st->nparams = nparams > 0 ? (unsigned int)nparams : 0;
	for (int i = 0; i < nparams; i++) {
		const virTypedParameter *p = &params[i];
		uint64_t val = 0;
		bool num = param_u64(p, &val);

		if (!strcmp(p->field, "state.state") && num)
			st->state = (int)val;
		else if (!strcmp(p->field, "state.reason") && num)
			st->state_reason = (int)val;
		else if (!strcmp(p->field, "vcpu.current") && num)
			st->vcpu_current = val > INT32_MAX ? INT32_MAX : (int)val;
		else if (!strcmp(p->field, "vcpu.maximum") && num)
			st->vcpu_maximum = val > INT32_MAX ? INT32_MAX : (int)val;
		else if (!parse_indexed(st, p, num, val) && num)
			set_field(st, top_fields, ARRAY_SIZE(top_fields), p->field, val);
	}
	return 0;
}

/*
 * virConnectGetAllDomainStats in a helper thread with a deadline. NOWAIT
 * skips domains whose job is held, but the call that takes a job and then
 * meets a QEMU that does not answer (stopped, wedged) waits with no timeout.
 * That call is abandoned after stats_timeout (it frees its own result when it
 * ends); the next calls skip that domain's job and return at once.
 */
struct stats_job {
	struct bg_job b;
	virConnectPtr conn; /* our own reference */
	unsigned int groups;
	virDomainStatsRecordPtr *recs;
	int n;
	int code; /* virErrorNumber when n < 0 */
	char err[256];
};

#define STATS_MAX_STUCK 4
static atomic_int stats_stuck; /* abandoned stats calls still running */

static void stats_job__free(struct stats_job *j)
{
	if (j->recs)
		virDomainStatsRecordListFree(j->recs);
	if (j->conn)
		(void)virConnectClose(j->conn);
	bg_job__destroy(&j->b);
	free(j);
}

static void *stats_main(void *arg)
{
	struct stats_job *j = arg;
	virErrorPtr e;

	j->n = virConnectGetAllDomainStats(j->conn, j->groups, &j->recs,
					   VIR_CONNECT_GET_ALL_DOMAINS_STATS_ACTIVE |
						   VIR_CONNECT_GET_ALL_DOMAINS_STATS_NOWAIT);
	e = j->n < 0 ? virGetLastError() : NULL;
	j->code = e ? e->code : 0;
	(void)str_copy(j->err, e && e->message ? e->message : "", sizeof(j->err));
	if (bg_job__finish(&j->b)) {
		stats_job__free(j);
		atomic_fetch_sub(&stats_stuck, 1);
	}
	return NULL;
}

int virt__stats(struct virt *v, struct virt_stats_list *out)
{
	const unsigned int groups = VIR_DOMAIN_STATS_STATE | VIR_DOMAIN_STATS_CPU_TOTAL |
				    VIR_DOMAIN_STATS_BALLOON | VIR_DOMAIN_STATS_VCPU |
				    VIR_DOMAIN_STATS_INTERFACE | VIR_DOMAIN_STATS_BLOCK;
	virDomainStatsRecordPtr *recs = NULL;
	struct stats_job *j = NULL;
	int n, err = -ENOTCONN;

	out->n = 0;
	if (!virt__conn(v))
		goto cleanup;
	if (atomic_load(&stats_stuck) >= STATS_MAX_STUCK) {
		err = -EBUSY; /* QEMUs that do not answer: do not pile up threads */
		goto cleanup;
	}
	err = -ENOMEM;
	j = calloc(1, sizeof(*j));
	if (!j)
		goto cleanup;
	bg_job__init(&j->b);
	j->groups = groups;
	if (virConnectRef(v->conn) < 0) {
		virResetLastError();
		stats_job__free(j);
		j = NULL;
		err = -EIO;
		goto cleanup;
	}
	j->conn = v->conn;
	err = bg_job__start(stats_main, j);
	if (err) {
		stats_job__free(j);
		j = NULL;
		goto cleanup;
	}
	if (!bg_job__wait(&j->b, v->stats_timeout_ns, true)) {
		/* the thread frees it, and takes this back (maybe first: a moment below 0) */
		atomic_fetch_add(&stats_stuck, 1);
		j = NULL;
		v->cnt.stats_timeouts++;
		err = -ETIMEDOUT;
		goto cleanup;
	}
	n = j->n;
	recs = j->recs;
	j->recs = NULL;
	if (n < 0) {
		v->cnt.errors++;
		(void)str_copy(v->err, j->err[0] ? j->err : "domain stats failed", sizeof(v->err));
		err = virt_conn__alive(v) ? -EIO : -ENOTCONN;
		goto cleanup;
	}
	if (n > out->cap) {
		struct virt_dom_stats *d = realloc(out->doms, (size_t)n * sizeof(*d));

		if (!d) {
			err = -ENOMEM;
			goto cleanup;
		}
		out->doms = d;
		out->cap = n;
	}
	for (int i = 0; i < n; i++) {
		const struct virt_dom_stats *st = &out->doms[out->n];
		struct dom_entry *e;

		if (virt_dom_stats__parse(&out->doms[out->n], virDomainGetName(recs[i]->dom),
					  recs[i]->params, recs[i]->nparams))
			continue; /* a name too long to keep: not watched */
		out->n++;
		e = virt_doms__find(v, st->name);
		if (!e || !st->balloon_maximum_kib)
			continue; /* no balloon group (the test driver): nothing to keep */
		e->bal.actual = st->balloon_current_kib;
		e->bal.available = st->balloon_available_kib;
		e->bal.usable = st->balloon_usable_kib;
		e->bal.unused = st->balloon_unused_kib;
		e->bal.disk_caches = st->balloon_disk_caches_kib;
		e->bal.swap_in = st->balloon_swap_in_kib;
		e->bal.swap_out = st->balloon_swap_out_kib;
		e->bal.major_fault = st->balloon_major_fault;
		e->bal.minor_fault = st->balloon_minor_fault;
		e->bal.rss = st->balloon_rss_kib;
		e->bal.last_update = st->balloon_last_update;
		e->bal_ns = now_mono_ns();
	}
	err = out->n;
cleanup:
	if (recs)
		virDomainStatsRecordListFree(recs);
	if (j)
		stats_job__free(j);
	return err;
}

void virt_stats_list__free(struct virt_stats_list *l)
{
	if (!l)
		return;
	free(l->doms);
	l->doms = NULL;
	l->n = l->cap = 0;
}

const struct virt_dom_stats *virt_stats_list__find(const struct virt_stats_list *l,
						   const char *name)
{
	for (int i = 0; name && i < l->n; i++) {
		if (!strcmp(l->doms[i].name, name))
			return &l->doms[i];
	}
	return NULL;
}

int virt__memstats_age(uint64_t last_update_s, uint64_t now_real_ns, double *age_s)
{
	uint64_t now_s = now_real_ns / 1000000000ull;

	if (!last_update_s || last_update_s == UINT64_MAX)
		return -ENODATA;
	/* QEMU truncates to the second: the same second is not the future */
	if (last_update_s > now_s)
		return -ERANGE;
	*age_s = (double)now_real_ns / 1e9 - (double)last_update_s;
	return 0;
}

int virt__memstats(struct virt *v, const char *name, struct virt_memstats *ms)
{
	virDomainMemoryStatStruct st[VIR_DOMAIN_MEMORY_STAT_NR];
	struct dom_entry *e;
	virDomainPtr dom = NULL;
	int n, err = -ENOTCONN;

	for (size_t i = 0; i < sizeof(*ms) / sizeof(uint64_t); i++)
		((uint64_t *)ms)[i] = UINT64_MAX;
	if (!virt__conn(v))
		goto cleanup;
	/*
	 * The balloon group of a recent NOWAIT stats call has the same figures
	 * (QEMU's guest-stats) without waiting for a busy domain's job: when the
	 * period is set, answer from it and never block.
	 */
	e = virt_doms__find(v, name);
	if (e && e->bal_ns && e->info.stats_period > 0 &&
	    now_mono_ns() - e->bal_ns < BAL_FRESH_NS) {
		*ms = e->bal;
		err = 0;
		goto cleanup;
	}
	dom = virDomainLookupByName(v->conn, name);
	if (!dom) {
		virErrorPtr verr = virGetLastError();

		err = verr && verr->code == VIR_ERR_NO_DOMAIN ? -ENOENT : -EIO;
		virt_conn__note_err(v);
		if (err == -EIO && !virt_conn__alive(v))
			err = -ENOTCONN;
		goto cleanup;
	}
	if (e && e->info.has_balloon && !e->info.stats_period && v->stats_period > 0) {
		if (virDomainSetMemoryStatsPeriod(dom, v->stats_period, VIR_DOMAIN_AFFECT_LIVE) <
		    0) {
			virt_conn__note_err(v);
		} else {
			v->cnt.stats_periods++;
		}
		/* tried once per domain start: a refusal is not retried every tick */
		e->info.stats_period = v->stats_period;
	}
	n = virDomainMemoryStats(dom, st, VIR_DOMAIN_MEMORY_STAT_NR, 0);
	if (n < 0) {
		virErrorPtr verr = virGetLastError();

		err = verr && verr->code == VIR_ERR_OPERATION_INVALID ? -ENOENT : -EIO;
		virt_conn__note_err(v);
		if (err == -EIO && !virt_conn__alive(v))
			err = -ENOTCONN;
		goto cleanup;
	}
	for (int i = 0; i < n; i++) {
		switch (st[i].tag) {
		case VIR_DOMAIN_MEMORY_STAT_ACTUAL_BALLOON:
			ms->actual = st[i].val;
			break;
		case VIR_DOMAIN_MEMORY_STAT_UNUSED:
			ms->unused = st[i].val;
			break;
		case VIR_DOMAIN_MEMORY_STAT_AVAILABLE:
			ms->available = st[i].val;
			break;
		case VIR_DOMAIN_MEMORY_STAT_USABLE:
			ms->usable = st[i].val;
			break;
		case VIR_DOMAIN_MEMORY_STAT_DISK_CACHES:
			ms->disk_caches = st[i].val;
			break;
		case VIR_DOMAIN_MEMORY_STAT_SWAP_IN:
			ms->swap_in = st[i].val;
			break;
		case VIR_DOMAIN_MEMORY_STAT_SWAP_OUT:
			ms->swap_out = st[i].val;
			break;
		case VIR_DOMAIN_MEMORY_STAT_MAJOR_FAULT:
			ms->major_fault = st[i].val;
			break;
		case VIR_DOMAIN_MEMORY_STAT_MINOR_FAULT:
			ms->minor_fault = st[i].val;
			break;
		case VIR_DOMAIN_MEMORY_STAT_RSS:
			ms->rss = st[i].val;
			break;
		case VIR_DOMAIN_MEMORY_STAT_LAST_UPDATE:
			ms->last_update = st[i].val;
			break;
		default:
			break;
		}
	}
	err = 0;
cleanup:
	if (dom)
		(void)virDomainFree(dom);
	return err;
}
