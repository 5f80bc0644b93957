// SPDX-License-Identifier: GPL-2.0
/*
 * One recorded interval of a VM's exits and block I/O, read the way each
 * output reads it: 'kvmpilot stat --json' (two tracer reads, subtracted),
 * /api/v1/vms (two ticks of the service's samples) and /metrics (two
 * scrapes, subtracted as Prometheus' increase() does, quantiles as its
 * histogram_quantile() does). All three must show the same p50/p99 and the
 * same top exit reasons in the same order.
 *
 * /metrics has exit histograms per reason only and the API the VM's whole
 * exit histogram only, so exits are compared per reason with stat's
 * reasons[] and whole with the API; the block histogram is in all three.
 */
#include <math.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <cmocka.h>

#include "hist.h"
#include "api.h"
#include "metrics.h"
#include "sample.h"
#include "snapshot.h"
#include "stat.h"
#include "trace.h"

#define VM "vm1"

/* The interval as the kvm_exit tracepoint saw it, in the tracer's map order. */
static const struct {
	uint32_t isa, reason, count;
	int slot; /* 3/5 of the exits took [2^slot, 2^(slot+1)) ns, the rest two slots up */
} recorded[] = {
	{ 1, 0, 2, 10 },      /* EXCEPTION_NMI */
	{ 1, 14, 3, 11 },     /* INVLPG */
	{ 1, 15, 4, 12 },     /* RDPMC */
	{ 1, 29, 5, 13 },     /* DR_ACCESS */
	{ 1, 18, 5, 14 },     /* VMCALL */
	{ 1, 55, 5, 15 },     /* XSETBV */
	{ 1, 28, 7, 10 },     /* CR_ACCESS */
	{ 1, 16, 8, 11 },     /* RDTSC */
	{ 1, 10, 9, 12 },     /* CPUID */
	{ 1, 7, 12, 13 },     /* INTERRUPT_WINDOW */
	{ 1, 40, 20, 10 },    /* PAUSE_INSTRUCTION */
	{ 1, 45, 30, 11 },    /* EOI_INDUCED */
	{ 1, 56, 40, 10 },    /* APIC_WRITE */
	{ 1, 31, 50, 11 },    /* MSR_READ */
	{ 1, 32, 50, 11 },    /* MSR_WRITE */
	{ 1, 30, 60, 13 },    /* IO_INSTRUCTION */
	{ 1, 52, 80, 11 },    /* PREEMPTION_TIMER */
	{ 1, 49, 200, 12 },   /* EPT_MISCONFIG */
	{ 1, 48, 400, 12 },   /* EPT_VIOLATION */
	{ 1, 1, 350, 10 },    /* EXTERNAL_INTERRUPT */
	{ 1, 12, 300, 18 },   /* HLT */
	{ 2, 0x78, 150, 19 }, /* HLT on SVM: the same name, summed */
};

/*
 * The rule: by name (HLT 300 + 150), most first, ties by name (MSR_READ
 * before MSR_WRITE; of DR_ACCESS, VMCALL and XSETBV at 5, DR_ACCESS is
 * 16th), the first 16.
 */
static const struct {
	const char *name;
	uint64_t count;
} top[] = {
	{ "HLT", 450 },
	{ "EPT_VIOLATION", 400 },
	{ "EXTERNAL_INTERRUPT", 350 },
	{ "EPT_MISCONFIG", 200 },
	{ "PREEMPTION_TIMER", 80 },
	{ "IO_INSTRUCTION", 60 },
	{ "MSR_READ", 50 },
	{ "MSR_WRITE", 50 },
	{ "APIC_WRITE", 40 },
	{ "EOI_INDUCED", 30 },
	{ "PAUSE_INSTRUCTION", 20 },
	{ "INTERRUPT_WINDOW", 12 },
	{ "CPUID", 9 },
	{ "RDTSC", 8 },
	{ "CR_ACCESS", 7 },
	{ "DR_ACCESS", 5 },
};

#define NRECORDED ((int)(sizeof(recorded) / sizeof(recorded[0])))
#define NTOP	  ((int)(sizeof(top) / sizeof(top[0])))

/* The tracer's cumulative read after k such intervals. */
static void trace_read(struct trace_vm *vm, uint32_t k)
{
	memset(vm, 0, sizeof(*vm));
	vm->pid = 4242;
	vm->start_time = 77;
	strcpy(vm->name, VM);
	vm->nvcpus = 1;
	vm->vcpus[0].tid = 4243;
	vm->nexits = NRECORDED;
	for (int i = 0; i < NRECORDED; i++) {
		struct trace_exit *e = &vm->exits[i];
		uint32_t slow = recorded[i].count * 2 / 5;

		e->isa = recorded[i].isa;
		e->reason = recorded[i].reason;
		e->count = (uint64_t)k * recorded[i].count;
		e->hist[recorded[i].slot] = k * (recorded[i].count - slow);
		e->hist[recorded[i].slot + 2] = k * slow;
		e->sum_ns = e->count * 3000;
		for (int s = 0; s < KP_HIST_SLOTS; s++)
			vm->exit_hist[s] += e->hist[s];
		vm->exits_total += e->count;
	}
	vm->vcpus[0].exits = vm->exits_total;
	vm->blk.read_ops = 60ull * k;
	vm->blk.write_ops = 40ull * k;
	vm->blk.hist[14] = 30 * k;
	vm->blk.hist[15] = 50 * k;
	vm->blk.hist[16] = 15 * k;
	vm->blk.hist[19] = 5 * k;
	vm->blk.sum_ns = 100ull * k * 40000;
}

/* ---- stat --json ----------------------------------------------------------- */

static struct json_object *get(struct json_object *o, const char *key)
{
	struct json_object *v = NULL;

	if (!json_object_object_get_ex(o, key, &v))
		fail_msg("no '%s' in %s", key, json_object_to_json_string(o));
	return v;
}

static double num(struct json_object *o, const char *key)
{
	return json_object_get_double(get(o, key));
}

/* The NDJSON line of 'kvmpilot stat --json' for cur - prev, parsed back. */
static struct json_object *stat_vm(const struct trace_vm *cur, const struct trace_vm *prev)
{
	struct trace_vm *d = calloc(1, sizeof(*d));
	struct json_object *built, *root, *vm;

	assert_non_null(d);
	trace_vm__delta(cur, prev, d);
	built = stat__json(d, 1, 1764108000.0, 1.0);
	root = json_tokener_parse(json_object_to_json_string_ext(built, JSON_C_TO_STRING_PLAIN));
	json_object_put(built);
	free(d);
	assert_non_null(root);
	vm = json_object_get(json_object_array_get_idx(get(root, "vms"), 0));
	json_object_put(root);
	return vm;
}

/* ---- the service: samples, the API, /metrics -------------------------------- */

/* The tick's sample as the service builds it from a tracer read. */
static void tick(struct vm_sample *s, const struct trace_vm *tv, const struct vm_sample *prev)
{
	strcpy(s->name, VM);
	s->pid = tv->pid;
	s->running = true;
	s->interval_s = 1.0;
	s->psi_mem_some = s->psi_cpu_some = s->guest_cpu_pct = -1;
	sample__add_trace(s, tv);
	sample__rates(s, prev);
}

static struct snapshot *snapshot_of(const struct trace_vm *tv, const struct vm_sample *prev)
{
	struct snapshot *snap = snapshot__new(1, 0);

	assert_non_null(snap);
	snap->nvms = 1;
	tick(&snap->vms[0].s, tv, prev);
	return snap;
}

static struct json_object *api_vm(const struct snapshot *snap)
{
	struct json_object *root, *vm;
	size_t len;
	char *body = api__render_vms(snap, &len);

	assert_non_null(body);
	root = json_tokener_parse(body);
	free(body);
	assert_non_null(root);
	vm = json_object_get(json_object_array_get_idx(get(root, "vms"), 0));
	json_object_put(root);
	return vm;
}

/*
 * The value of the series `prefix...}` in a Prometheus text, where prefix
 * ends just before the le label or the closing brace; -1 when absent.
 */
static double series(const char *text, const char *prefix)
{
	const char *p = strstr(text, prefix);

	if (!p)
		return -1;
	p = strchr(p, '}');
	assert_non_null(p);
	return strtod(p + 1, NULL);
}

/* What a scrape of snap says. */
static char *scrape(const struct snapshot *snap)
{
	size_t len;
	char *m = metrics__render(snap, &len);

	assert_non_null(m);
	return m;
}

/*
 * histogram_quantile(q, increase(family_bucket{domain, reason}[...])) over
 * two scrapes, in ns, computed the way Prometheus does (promql/quantile.go).
 */
static double prom_quantile(const char *before, const char *after, const char *family,
			    const char *reason, double q)
{
	double le[64], cum[64], rank, start, count;
	char prefix[256], *copy = strdup(after), *save = NULL;
	int n = 0, b;

	snprintf(prefix, sizeof(prefix), "%s_bucket{domain=\"" VM "\"%s%s%s,le=\"", family,
		 reason ? ",reason=\"" : "", reason ? reason : "", reason ? "\"" : "");
	for (char *line = strtok_r(copy, "\n", &save); line; line = strtok_r(NULL, "\n", &save)) {
		char *end, want[300];
		double was;

		if (strncmp(line, prefix, strlen(prefix)))
			continue;
		assert_true(n < 64);
		le[n] = strncmp(line + strlen(prefix), "+Inf", 4)
				? round(strtod(line + strlen(prefix), &end) * 1e9)
				: INFINITY;
		end = strchr(line, '}');
		assert_non_null(end);
		/* the same series in the earlier scrape: increase() */
		snprintf(want, sizeof(want), "%.*s", (int)(end - line), line);
		was = series(before, want);
		cum[n] = strtod(end + 1, NULL) - (was < 0 ? 0 : was);
		n++;
	}
	free(copy);
	assert_true(n >= 2 && isinf(le[n - 1]));
	rank = q * cum[n - 1];
	for (b = 0; b < n - 1 && cum[b] < rank; b++)
		;
	if (b == n - 1)
		return le[n - 2];
	start = b ? le[b - 1] : 0;
	count = cum[b] - (b ? cum[b - 1] : 0);
	return start + (le[b] - start) * ((rank - (b ? cum[b - 1] : 0)) / count);
}

/* The reasons of kvmpilot_exits_total for the VM, in the order of the text. */
static int prom_reasons(const char *text, char names[][EXITREASON_NAME_MAX], int max)
{
	static const char prefix[] = "kvmpilot_exits_total{domain=\"" VM "\",reason=\"";
	int n = 0;

	for (const char *p = strstr(text, prefix); p && n < max; p = strstr(p + 1, prefix)) {
		const char *name = p + strlen(prefix), *q = strchr(name, '"');

		assert_non_null(q);
		snprintf(names[n++], EXITREASON_NAME_MAX, "%.*s", (int)(q - name), name);
	}
	return n;
}

static double prom_exits(const char *text, const char *reason)
{
	char prefix[128];

	snprintf(prefix, sizeof(prefix), "kvmpilot_exits_total{domain=\"" VM "\",reason=\"%s\"",
		 reason);
	return series(text, prefix);
}

/* ---- the tests ----------------------------------------------------------------- */

static void assert_near(double a, double b, double tolerance, const char *what)
{
	if (fabs(a - b) > tolerance)
		fail_msg("%s: %.3f != %.3f", what, a, b);
}

/*
 * The interval between the tracer's reads after k_prev and k_cur recorded
 * intervals, as each output reads it: stat's JSON for the VM, the service's
 * snapshots of both ticks and the API's JSON of the second.
 */
struct readings {
	struct trace_vm *prev, *cur;
	struct json_object *st, *api;
	struct snapshot *before, *after;
};

static void readings__take(struct readings *r, uint32_t k_prev, uint32_t k_cur)
{
	r->prev = calloc(1, sizeof(*r->prev));
	r->cur = calloc(1, sizeof(*r->cur));
	assert_non_null(r->prev);
	assert_non_null(r->cur);
	trace_read(r->prev, k_prev);
	trace_read(r->cur, k_cur);
	r->st = stat_vm(r->cur, r->prev);
	r->before = snapshot_of(r->prev, NULL);
	r->after = snapshot_of(r->cur, &r->before->vms[0].s);
	r->api = api_vm(r->after);
}

static void readings__free(struct readings *r)
{
	json_object_put(r->st);
	json_object_put(r->api);
	snapshot__put(r->before);
	snapshot__put(r->after);
	free(r->prev);
	free(r->cur);
}

static void test_same_numbers_everywhere(void **state)
{
	struct json_object *st, *api, *reasons, *by, *per_s;
	char names[EXITREASON_TOP + 8][EXITREASON_NAME_MAX];
	struct readings rd;
	char *m0, *m1;
	int n, i;

	(void)state;
	/* a steady VM: two intervals like the recorded one before, three after */
	readings__take(&rd, 2, 3);
	st = rd.st;
	api = rd.api;
	m0 = scrape(rd.before);
	m1 = scrape(rd.after);

	/* top exit reasons: the documented rule, the same list in all three */
	reasons = get(get(st, "exits"), "reasons");
	by = get(get(st, "exits"), "by_reason");
	per_s = get(get(api, "exits"), "per_s_by_reason");
	assert_int_equal(json_object_array_length(reasons), NTOP);
	assert_int_equal(json_object_object_length(by), NTOP);
	assert_int_equal(json_object_object_length(per_s), NTOP);
	n = prom_reasons(m1, names, (int)(sizeof(names) / sizeof(names[0])));
	assert_int_equal(n, NTOP);
	i = 0;
	json_object_object_foreach(per_s, key, val)
	{
		struct json_object *r = json_object_array_get_idx(reasons, i);

		assert_string_equal(json_object_get_string(get(r, "name")), top[i].name);
		assert_int_equal(json_object_get_uint64(get(r, "count")), top[i].count);
		assert_int_equal(json_object_get_uint64(get(by, top[i].name)), top[i].count);
		assert_string_equal(key, top[i].name);
		assert_near(json_object_get_double(val), (double)top[i].count, 1e-6, key);
		assert_string_equal(names[i], top[i].name);
		assert_near(prom_exits(m1, key) - prom_exits(m0, key), (double)top[i].count, 1e-6,
			    key);
		i++;
	}
	/* the reasons left out still count in the total */
	assert_int_equal(json_object_get_uint64(get(get(st, "exits"), "total")), 1790);

	/* the VM's exit handling time: stat and the API */
	assert_near(num(get(get(st, "exits"), "latency_ns"), "p50"),
		    num(get(api, "exits"), "handling_p50_us") * 1000, 0.5, "exit p50");
	assert_near(num(get(get(st, "exits"), "latency_ns"), "p99"),
		    num(get(api, "exits"), "handling_p99_us") * 1000, 0.5, "exit p99");
	/* rank 895 of 1790 is the 509th of the 535 in [4096, 8192): interpolated, not 8192 */
	assert_near(num(get(get(st, "exits"), "latency_ns"), "p50"), 4096 + 4096 * 509.0 / 535, 1,
		    "exit p50 value");

	/* per reason: stat and /metrics */
	for (i = 0; i < NTOP; i++) {
		struct json_object *lat = get(json_object_array_get_idx(reasons, i), "latency_ns");

		assert_near(
			num(lat, "p50"),
			prom_quantile(m0, m1, "kvmpilot_exit_handling_seconds", top[i].name, 0.5),
			1, top[i].name);
		assert_near(
			num(lat, "p99"),
			prom_quantile(m0, m1, "kvmpilot_exit_handling_seconds", top[i].name, 0.99),
			1, top[i].name);
	}

	/* block latency: all three */
	for (i = 0; i < 2; i++) {
		double q = i ? 0.99 : 0.5;
		double s = num(get(get(st, "block"), "latency_ns"), i ? "p99" : "p50");

		assert_near(s,
			    num(get(api, "block"), i ? "latency_p99_us" : "latency_p50_us") * 1000,
			    0.5, "block, API");
		assert_near(s, prom_quantile(m0, m1, "kvmpilot_block_latency_seconds", NULL, q), 1,
			    "block, /metrics");
	}

	free(m0);
	free(m1);
	readings__free(&rd);
}

/*
 * Counters that went back (the BPF entries were recreated under the same
 * process) count from zero in stat and in the API alike: the new values are
 * the interval's, as Prometheus' rate() takes a reset.
 */
static void test_reset_reads_the_same(void **state)
{
	struct json_object *st, *api;
	struct readings rd;

	(void)state;
	readings__take(&rd, 5, 1);
	st = rd.st;
	api = rd.api;

	assert_int_equal(json_object_get_uint64(get(get(st, "exits"), "total")), 1790);
	assert_near(num(get(api, "exits"), "per_s"), 1790, 1e-6, "exits per s after a reset");
	assert_near(json_object_get_double(get(get(get(api, "exits"), "per_s_by_reason"), "HLT")),
		    450, 1e-6, "HLT per s after a reset");
	assert_near(num(get(get(st, "exits"), "latency_ns"), "p99"),
		    num(get(api, "exits"), "handling_p99_us") * 1000, 0.5,
		    "exit p99 after a reset");
	assert_near(num(get(get(st, "block"), "latency_ns"), "p50"),
		    num(get(api, "block"), "latency_p50_us") * 1000, 0.5,
		    "block p50 after a reset");
	assert_near(num(get(api, "block"), "read_ops_per_s"), 60, 1e-6, "read ops after a reset");
	readings__free(&rd);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_same_numbers_everywhere),
		cmocka_unit_test(test_reset_reads_the_same),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
