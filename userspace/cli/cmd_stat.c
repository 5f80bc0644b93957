// SPDX-License-Identifier: GPL-2.0
/*
 * kvmpilot stat [--pid PID]... [--interval SEC] [--count N] [--json]
 *
 * Trace every QEMU process (or the given ones) and print per-VM statistics
 * each interval: vCPU run/wait, KVM exits by reason, tap and block I/O.
 * VMs are rescanned every second, so new VMs, hot-added vCPUs and new taps
 * show up, and VMs that exit are reported one last time.
 */
#include <errno.h>
#include <getopt.h>
#include <stdarg.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "cli.h"
#include "cmds.h"
#include "exitreason.h"
#include "hist.h"
#include "procscan.h"
#include "stat.h"
#include "trace.h"
#include "util.h"

#define STAT_MAX_PIDS	 64
#define RESCAN_NS	 1000000000ULL
#define DEFAULT_INTERVAL 1.0

static volatile sig_atomic_t stop;

static void on_signal(int sig)
{
	(void)sig;
	stop = 1;
}

/* ---- output -------------------------------------------------------------- */

static struct json_object *latency_json(const uint32_t *hist)
{
	struct json_object *o = json_object_new_object();

	if (!o)
		return NULL;
	json_object_object_add(o, "p50",
			       json_object_new_uint64(hist__percentile(hist, KP_HIST_SLOTS, 50)));
	json_object_object_add(o, "p99",
			       json_object_new_uint64(hist__percentile(hist, KP_HIST_SLOTS, 99)));
	return o;
}

static double per_s(uint64_t v, double interval_s)
{
	return interval_s > 0 ? (double)v / interval_s : 0;
}

static struct json_object *vcpus_json(const struct trace_vm *d)
{
	struct json_object *arr = json_object_new_array();

	for (int i = 0; i < d->nvcpus; i++) {
		const struct trace_vcpu *c = &d->vcpus[i];
		struct json_object *o = json_object_new_object();

		json_object_object_add(o, "index", json_object_new_int(c->index));
		json_object_object_add(o, "tid", json_object_new_int(c->tid));
		json_object_object_add(o, "run_ns", json_object_new_uint64(c->run_ns));
		json_object_object_add(o, "wait_ns", json_object_new_uint64(c->wait_ns));
		json_object_object_add(o, "exits", json_object_new_uint64(c->exits));
		json_object_object_add(o, "switches", json_object_new_uint64(c->switches));
		json_object_array_add(arr, o);
	}
	return arr;
}

/* The total, the top reasons (exitreason__top()) as a map and a list, the handling time. */
static struct json_object *exits_json(const struct trace_vm *d)
{
	struct exitreason_sum top[EXITREASON_TOP];
	struct json_object *exits = json_object_new_object(), *by = json_object_new_object();
	struct json_object *reasons = json_object_new_array();
	int ntop;

	json_object_object_add(exits, "total", json_object_new_uint64(d->exits_total));
	ntop = exitreason__top(d->exits, d->nexits, top, EXITREASON_TOP);
	for (int i = 0; i < ntop; i++) {
		const struct exitreason_sum *e = &top[i];
		struct json_object *r = json_object_new_object();

		json_object_object_add(by, e->name, json_object_new_uint64(e->count));
		json_object_object_add(r, "name", json_object_new_string(e->name));
		json_object_object_add(r, "isa", json_object_new_int((int)e->isa));
		json_object_object_add(r, "reason", json_object_new_uint64(e->reason));
		json_object_object_add(r, "count", json_object_new_uint64(e->count));
		json_object_object_add(r, "latency_ns", latency_json(e->hist));
		json_object_array_add(reasons, r);
	}
	json_object_object_add(exits, "by_reason", by);
	json_object_object_add(exits, "latency_ns", latency_json(d->exit_hist));
	json_object_object_add(exits, "reasons", reasons);
	return exits;
}

static struct json_object *net_json(const struct trace_vm *d)
{
	struct json_object *arr = json_object_new_array();

	for (int i = 0; i < d->ntaps; i++) {
		const struct trace_tap *t = &d->taps[i];
		struct json_object *o = json_object_new_object();

		json_object_object_add(o, "ifname", json_object_new_string(t->ifname));
		json_object_object_add(o, "ifindex", json_object_new_int(t->ifindex));
		json_object_object_add(o, "rx_bytes", json_object_new_uint64(t->rx_bytes));
		json_object_object_add(o, "tx_bytes", json_object_new_uint64(t->tx_bytes));
		json_object_object_add(o, "rx_packets", json_object_new_uint64(t->rx_packets));
		json_object_object_add(o, "tx_packets", json_object_new_uint64(t->tx_packets));
		json_object_array_add(arr, o);
	}
	return arr;
}

/* Block I/O counters and latency into o: the VM's whole I/O and each disk's part alike. */
static void io_json(struct json_object *o, const struct trace_blk *io)
{
	json_object_object_add(o, "read_bytes", json_object_new_uint64(io->read_bytes));
	json_object_object_add(o, "write_bytes", json_object_new_uint64(io->write_bytes));
	json_object_object_add(o, "read_ops", json_object_new_uint64(io->read_ops));
	json_object_object_add(o, "write_ops", json_object_new_uint64(io->write_ops));
	json_object_object_add(o, "latency_ns", latency_json(io->hist));
}

static struct json_object *block_json(const struct trace_vm *d)
{
	struct json_object *blk = json_object_new_object(), *arr = json_object_new_array();

	io_json(blk, &d->blk);
	for (int i = 0; i < d->ndisks; i++) {
		const struct trace_disk *k = &d->disks[i];
		struct json_object *o = json_object_new_object();

		json_object_object_add(o, "path", json_object_new_string(k->path));
		json_object_object_add(o, "target",
				       k->target[0] ? json_object_new_string(k->target) : NULL);
		io_json(o, &k->io);
		json_object_array_add(arr, o);
	}
	json_object_object_add(blk, "disks", arr);
	return blk;
}

struct json_object *stat__vm_json(const struct trace_vm *d, double interval_s)
{
	struct json_object *vm = json_object_new_object();

	(void)interval_s;
	if (!vm)
		return NULL;
	json_object_object_add(vm, "pid", json_object_new_int(d->pid));
	json_object_object_add(vm, "name", d->name[0] ? json_object_new_string(d->name) : NULL);
	json_object_object_add(vm, "vcpus", vcpus_json(d));
	json_object_object_add(vm, "emulator_run_ns", json_object_new_uint64(d->emulator_run_ns));
	json_object_object_add(vm, "exits", exits_json(d));
	json_object_object_add(vm, "net", net_json(d));
	json_object_object_add(vm, "block", block_json(d));
	return vm;
}

struct json_object *stat__json(const struct trace_vm *deltas, int n, double time_s,
			       double interval_s)
{
	struct json_object *root = json_object_new_object(), *vms;

	if (!root)
		return NULL;
	json_object_object_add(root, "time", json_object_new_double(time_s));
	json_object_object_add(root, "interval_s", json_object_new_double(interval_s));
	vms = json_object_new_array();
	for (int i = 0; i < n; i++)
		json_object_array_add(vms, stat__vm_json(&deltas[i], interval_s));
	json_object_object_add(root, "vms", vms);
	return root;
}

static const char *human_bytes(double v, char *buf, size_t size)
{
	static const char *const units[] = { "B", "KiB", "MiB", "GiB", "TiB" };
	size_t u = 0;

	while (v >= 1024 && u + 1 < ARRAY_SIZE(units)) {
		v /= 1024;
		u++;
	}
	snprintf(buf, size, u ? "%.1f %s" : "%.0f %s", v, units[u]);
	return buf;
}

static const char *human_ns(uint64_t ns, char *buf, size_t size)
{
	if (ns >= 1000000000ULL)
		snprintf(buf, size, "%.2fs", (double)ns / 1e9);
	else if (ns >= 1000000)
		snprintf(buf, size, "%.2fms", (double)ns / 1e6);
	else if (ns >= 1000)
		snprintf(buf, size, "%.1fus", (double)ns / 1e3);
	else
		snprintf(buf, size, "%uns", (unsigned int)ns);
	return buf;
}

void stat__print_text(FILE *out, const struct trace_vm *deltas, int n, double time_s,
		      double interval_s)
{
	char tbuf[32], b1[32], b2[32];
	time_t secs = (time_t)time_s;
	struct tm tm;

	(void)localtime_r(&secs, &tm);
	strftime(tbuf, sizeof(tbuf), "%H:%M:%S", &tm);
	fprintf(out, "%s  interval %.2fs  %d VM%s\n", tbuf, interval_s, n, n == 1 ? "" : "s");
	for (int v = 0; v < n; v++) {
		const struct trace_vm *d = &deltas[v];
		struct exitreason_sum top[5];
		double ins = interval_s > 0 ? interval_s * 1e9 : 1;
		int ntop;

		fprintf(out, "\nVM %s (pid %d)\n", d->name[0] ? d->name : "-", d->pid);
		fprintf(out, "  %-6s %8s %7s %7s %10s\n", "vCPU", "tid", "run%", "wait%",
			"exits/s");
		for (int i = 0; i < d->nvcpus; i++) {
			const struct trace_vcpu *c = &d->vcpus[i];

			fprintf(out, "  %-6d %8d %7.1f %7.1f %10.0f\n", c->index, c->tid,
				100.0 * (double)c->run_ns / ins, 100.0 * (double)c->wait_ns / ins,
				per_s(c->exits, interval_s));
		}
		fprintf(out, "  %-6s %8s %7.1f\n", "emul", "-",
			100.0 * (double)d->emulator_run_ns / ins);
		fprintf(out, "  exits %.0f/s", per_s(d->exits_total, interval_s));
		if (d->exits_total)
			fprintf(out, "  p50 %s  p99 %s",
				human_ns(hist__percentile(d->exit_hist, KP_HIST_SLOTS, 50), b1,
					 sizeof(b1)),
				human_ns(hist__percentile(d->exit_hist, KP_HIST_SLOTS, 99), b2,
					 sizeof(b2)));
		fputc('\n', out);
		/* the first five of the reasons --json shows */
		ntop = exitreason__top(d->exits, d->nexits, top, (int)ARRAY_SIZE(top));
		if (ntop)
			fprintf(out, "    %-24s %10s %7s %10s %10s\n", "reason", "count", "%",
				"p50", "p99");
		for (int i = 0; i < ntop; i++) {
			fprintf(out, "    %-24s %10llu %7.1f %10s %10s\n", top[i].name,
				(unsigned long long)top[i].count,
				100.0 * (double)top[i].count / (double)d->exits_total,
				human_ns(hist__percentile(top[i].hist, KP_HIST_SLOTS, 50), b1,
					 sizeof(b1)),
				human_ns(hist__percentile(top[i].hist, KP_HIST_SLOTS, 99), b2,
					 sizeof(b2)));
		}
		for (int i = 0; i < d->ntaps; i++) {
			const struct trace_tap *t = &d->taps[i];

			fprintf(out, "  net %-12s rx %10s/s %8.0f pkt/s   tx %10s/s %8.0f pkt/s\n",
				t->ifname,
				human_bytes(per_s(t->rx_bytes, interval_s), b1, sizeof(b1)),
				per_s(t->rx_packets, interval_s),
				human_bytes(per_s(t->tx_bytes, interval_s), b2, sizeof(b2)),
				per_s(t->tx_packets, interval_s));
		}
		fprintf(out, "  block read %6.0f ops/s %10s/s   write %6.0f ops/s %10s/s",
			per_s(d->blk.read_ops, interval_s),
			human_bytes(per_s(d->blk.read_bytes, interval_s), b1, sizeof(b1)),
			per_s(d->blk.write_ops, interval_s),
			human_bytes(per_s(d->blk.write_bytes, interval_s), b2, sizeof(b2)));
		if (d->blk.read_ops + d->blk.write_ops)
			fprintf(out, "   p50 %s p99 %s",
				human_ns(hist__percentile(d->blk.hist, KP_HIST_SLOTS, 50), b1,
					 sizeof(b1)),
				human_ns(hist__percentile(d->blk.hist, KP_HIST_SLOTS, 99), b2,
					 sizeof(b2)));
		fputc('\n', out);
	}
	fputc('\n', out);
	fflush(out);
}

/* ---- the command ----------------------------------------------------------- */

struct stat_opts {
	int pids[STAT_MAX_PIDS];
	int npids;
	double interval_s;
	uint64_t count; /* 0: until interrupted */
	bool json;
	const char *pin_root;
};

static void usage(FILE *out)
{
	fprintf(out,
		"Usage: kvmpilot stat [--pid PID]... [--interval SEC] [--count N] [--json]\n"
		"                     [--pin-root DIR]\n\n"
		"Trace every QEMU process on the host (or only the --pid ones) with eBPF and\n"
		"print per-VM statistics every interval: vCPU run and run-queue wait time,\n"
		"KVM exits by reason with handling-time percentiles, tap and block I/O.\n\n"
		"  -p, --pid PID        only this QEMU process (repeatable, up to %d)\n"
		"  -i, --interval SEC   seconds per report (default %.0f, 0.1 to 3600)\n"
		"  -c, --count N        stop after N reports (default: until interrupted)\n"
		"  -j, --json           one JSON object per interval and line (NDJSON)\n"
		"      --pin-root DIR   where maps are pinned (default $%s or %s)\n"
		"  -h, --help           this text\n\n"
		"Needs root. Counters are deltas over the interval; see the README for\n"
		"what every number means.\n",
		STAT_MAX_PIDS, DEFAULT_INTERVAL, TRACE_PIN_ROOT_ENV, TRACE_PIN_ROOT_DEFAULT);
}

static int parse_args(int argc, char **argv, struct stat_opts *o)
{
	static const struct option longopts[] = {
		{ "pid", required_argument, NULL, 'p' },
		{ "interval", required_argument, NULL, 'i' },
		{ "count", required_argument, NULL, 'c' },
		{ "json", no_argument, NULL, 'j' },
		{ "pin-root", required_argument, NULL, 'P' },
		{ "help", no_argument, NULL, 'h' },
		{ 0 },
	};
	char msg[256];
	uint64_t v;
	int opt;

	o->interval_s = DEFAULT_INTERVAL;
	optind = 1;
	opterr = 0;
	while ((opt = getopt_long(argc, argv, ":p:i:c:jh", longopts, NULL)) != -1) {
		switch (opt) {
		case 'p':
			if (o->npids == STAT_MAX_PIDS)
				return cli__fail(o->json, -2, "too many --pid options (at most %d)",
						 STAT_MAX_PIDS);
			if (opt_u64("pid", optarg, 1, 4194304, &v, msg, sizeof(msg)))
				return cli__fail(o->json, -2, "%s", msg);
			o->pids[o->npids++] = (int)v;
			break;
		case 'i':
			if (opt_double("interval", optarg, 0.1, 3600, &o->interval_s, msg,
				       sizeof(msg)))
				return cli__fail(o->json, -2, "%s", msg);
			break;
		case 'c':
			if (opt_u64("count", optarg, 1, UINT32_MAX, &o->count, msg, sizeof(msg)))
				return cli__fail(o->json, -2, "%s", msg);
			break;
		case 'j':
			o->json = true;
			break;
		case 'P':
			o->pin_root = optarg;
			break;
		case 'h':
			usage(stdout);
			return -1;
		default:
			return cli__bad_option(o->json, -2, "stat", opt, argv[optind - 1]);
		}
	}
	if (optind < argc)
		return cli__fail(o->json, -2, "unexpected argument '%s'", argv[optind]);
	return 0;
}

/* Scan; with --pid, the first pid that is missing or not QEMU is an error. */
static int scan(const struct stat_opts *o, struct vm_list *list, int *bad_pid)
{
	int err;

	vm_list__clear(list);
	err = procscan__scan("/proc", o->pids, o->npids, list);
	*bad_pid = 0;
	if (err && o->npids) {
		for (int i = 0; i < o->npids; i++) {
			if (!vm_list__find_pid(list, o->pids[i])) {
				*bad_pid = o->pids[i];
				break;
			}
		}
	}
	return err;
}

static int sleep_until(uint64_t deadline_ns)
{
	struct timespec ts = { .tv_sec = deadline_ns / 1000000000ULL,
			       .tv_nsec = deadline_ns % 1000000000ULL };
	int err;

	err = clock_nanosleep(CLOCK_MONOTONIC, TIMER_ABSTIME, &ts, NULL);
	return err ? -err : 0;
}

/* Keep the last counters of VMs that leave the list; they are reported once more. */
static int stash_gone(const struct trace_snapshot *tick, const struct vm_list *next,
		      struct trace_vm **gone, int *ngone)
{
	for (int i = 0; i < tick->n; i++) {
		const struct vm_desc *d = vm_list__find_pid(next, tick->vms[i].pid);
		struct trace_vm *g;

		if (d && d->start_time == tick->vms[i].start_time)
			continue;
		g = realloc(*gone, (size_t)(*ngone + 1) * sizeof(**gone));
		if (!g)
			return -ENOMEM;
		*gone = g;
		g[(*ngone)++] = tick->vms[i];
	}
	return 0;
}

static int emit(const struct stat_opts *o, const struct trace_snapshot *cur,
		const struct trace_snapshot *prev, const struct trace_vm *gone, int ngone)
{
	double interval_s = (double)(cur->mono_ns - prev->mono_ns) / 1e9;
	double time_s = (double)cur->real_ns / 1e9;
	int n = cur->n + ngone, err = -ENOMEM;
	struct trace_vm *d;

	d = calloc(n ? (size_t)n : 1, sizeof(*d));
	if (!d)
		goto cleanup;
	for (int i = 0; i < cur->n; i++)
		trace_vm__delta(&cur->vms[i], trace_snapshot__find(prev, cur->vms[i].pid), &d[i]);
	for (int i = 0; i < ngone; i++)
		trace_vm__delta(&gone[i], trace_snapshot__find(prev, gone[i].pid), &d[cur->n + i]);
	if (o->json) {
		struct json_object *j = stat__json(d, n, time_s, interval_s);

		if (!j)
			goto cleanup;
		printf("%s\n", json_object_to_json_string_ext(j, JSON_C_TO_STRING_PLAIN));
		json_object_put(j);
	} else {
		stat__print_text(stdout, d, n, time_s, interval_s);
	}
	/* A reader that went away ('stat | head') ends the run. */
	err = fflush(stdout) == EOF || ferror(stdout) ? -EPIPE : 0;
cleanup:
	free(d);
	return err;
}

/* One run of the command: the tracer, the last reads and the VMs that left. */
struct stat_run {
	const struct stat_opts *o;
	struct trace *tr;
	struct trace_snapshot prev, cur, tick;
	struct vm_list list, next;
	struct trace_vm *gone; /* VMs that left since the last report */
	int ngone;
	uint64_t reports;
	uint64_t interval_ns, t_next, t_scan;
	char private_root[64]; /* our own pin root when 'kvmpilot run' holds the default */
};

/* What a step of the loop says: go on, stop cleanly, or stop on a reported error. */
enum step {
	STEP_GO,
	STEP_DONE,
	STEP_FAILED
};

/* Load the BPF programs, with maps of our own when 'kvmpilot run' owns the default ones. */
static int open_tracer(struct stat_run *r)
{
	struct trace_opts topts = { .pin_root = r->o->pin_root };
	int err;

	r->tr = trace__open(&topts);
	if (!r->tr && errno == EBUSY && !r->o->pin_root && !getenv(TRACE_PIN_ROOT_ENV)) {
		snprintf(r->private_root, sizeof(r->private_root), "%s-stat-%d",
			 TRACE_PIN_ROOT_DEFAULT, (int)getpid());
		log_info("'%s' is in use by another kvmpilot; using '%s'", TRACE_PIN_ROOT_DEFAULT,
			 r->private_root);
		topts.pin_root = r->private_root;
		r->tr = trace__open(&topts);
	}
	if (!r->tr) {
		err = -errno;
		return cli__fail(r->o->json, 1,
				 "cannot load the BPF programs (pin root '%s'): %s%s",
				 trace__default_pin_root(topts.pin_root), strerror(-err),
				 err == -EBUSY	  ? " (another kvmpilot uses it)"
				 : err == -EINVAL ? " (stale pins? try 'kvmpilot unpin')"
						  : "");
	}
	if (trace__pins_replaced(r->tr))
		log_warn("replaced the maps pinned under '%s' by another kvmpilot version",
			 trace__pin_root(r->tr));
	return 0;
}

/* The first scan, the tracer and the counters the first interval starts from; 0 or 1. */
static int stat_start(struct stat_run *r)
{
	int err, bad;

	err = scan(r->o, &r->list, &bad);
	if (err && r->o->npids)
		return cli__fail(r->o->json, 1, "pid '%d' %s", bad,
				 err == -ENOEXEC ? "is not a QEMU process" : "does not exist");
	if (err)
		return cli__fail(r->o->json, 1, "cannot scan /proc: %s", strerror(-err));
	if (open_tracer(r))
		return 1;
	err = trace__sync(r->tr, &r->list);
	if (!err)
		err = trace__read(r->tr, &r->prev);
	if (err)
		return cli__fail(r->o->json, 1, "cannot fill the BPF maps: %s", strerror(-err));
	r->interval_ns = (uint64_t)(r->o->interval_s * 1e9);
	r->t_next = r->prev.mono_ns + r->interval_ns;
	r->t_scan = r->prev.mono_ns + RESCAN_NS;
	return 0;
}

static void catch_signals(void)
{
	struct sigaction sa = { .sa_handler = on_signal };

	sigemptyset(&sa.sa_mask);
	(void)sigaction(SIGINT, &sa, NULL);
	(void)sigaction(SIGTERM, &sa, NULL);
	(void)signal(SIGPIPE, SIG_IGN);
}

/* The interval is over: read, print, and start the next one from these counters. */
static enum step report_step(struct stat_run *r, uint64_t now)
{
	struct trace_snapshot tmp;
	int err;

	err = trace__read(r->tr, &r->cur);
	if (!err)
		err = emit(r->o, &r->cur, &r->prev, r->gone, r->ngone);
	if (err == -EPIPE)
		return STEP_DONE;
	if (err) {
		(void)cli__fail(r->o->json, 1, "cannot read the counters: %s", strerror(-err));
		return STEP_FAILED;
	}
	free(r->gone);
	r->gone = NULL;
	r->ngone = 0;
	if (r->o->count && ++r->reports >= r->o->count)
		return STEP_DONE;
	tmp = r->prev;
	r->prev = r->cur;
	r->cur = tmp;
	r->t_next += r->interval_ns;
	if (r->t_next <= now) /* fell behind (suspend, overload): skip ahead */
		r->t_next = now + r->interval_ns;
	return STEP_GO;
}

/*
 * Rescan about once a second; remember the last counters of VMs that
 * leave, they are reported once more. Right after a report (reported)
 * those were just printed.
 */
static enum step rescan_step(struct stat_run *r, uint64_t now, bool reported)
{
	int err, bad;

	err = reported ? 0 : trace__read(r->tr, &r->tick);
	/*
	 * Without --pid a failed scan means /proc itself could not be read:
	 * keep the tables rather than drop every VM and its counters. With
	 * --pid, a VM that exited is expected.
	 */
	if (!err && scan(r->o, &r->next, &bad) && !r->o->npids) {
		log_warn("cannot scan /proc, keeping the VMs of the last scan");
		r->t_scan = now + RESCAN_NS;
		return STEP_GO;
	}
	if (!err && !reported)
		err = stash_gone(&r->tick, &r->next, &r->gone, &r->ngone);
	if (!err)
		err = trace__sync(r->tr, &r->next);
	if (err) {
		(void)cli__fail(r->o->json, 1, "rescan failed: %s", strerror(-err));
		return STEP_FAILED;
	}
	r->t_scan = now + RESCAN_NS;
	/* Keep scans and reports of 1 s intervals in step. */
	if (r->t_scan > r->t_next && r->t_scan - r->t_next < RESCAN_NS / 4)
		r->t_scan = r->t_next;
	return STEP_GO;
}

/* Report and rescan until stopped; the exit status. */
static int stat_loop(struct stat_run *r)
{
	while (!stop) {
		enum step st = STEP_GO;
		bool reported = false;
		uint64_t now;

		if (sleep_until(r->t_scan < r->t_next ? r->t_scan : r->t_next) == -EINTR)
			continue;
		now = now_mono_ns();
		if (now >= r->t_next) {
			st = report_step(r, now);
			reported = true;
		}
		if (st == STEP_GO && now >= r->t_scan)
			st = rescan_step(r, now, reported);
		if (st != STEP_GO)
			return st == STEP_DONE ? 0 : 1;
	}
	return 0;
}

int do_stat(int argc, char **argv)
{
	struct stat_opts o = { 0 };
	struct stat_run r = { .o = &o };
	int status = 1, err;

	err = parse_args(argc, argv, &o);
	if (err == -1)
		return 0;
	if (err)
		return 2;
	if (geteuid() != 0)
		return cli__fail(o.json, 1, "stat needs root (BPF tracing): run it as root");
	err = trace__ensure_fs();
	if (err)
		return cli__fail(o.json, 1, "cannot mount bpffs or tracefs: %s", strerror(-err));
	if (!stat_start(&r)) {
		catch_signals();
		status = stat_loop(&r);
	}
	free(r.gone);
	trace_snapshot__free(&r.prev);
	trace_snapshot__free(&r.cur);
	trace_snapshot__free(&r.tick);
	trace__close(r.tr);
	if (r.private_root[0])
		(void)trace__unpin(r.private_root, true);
	vm_list__free(&r.list);
	vm_list__free(&r.next);
	return status;
}
