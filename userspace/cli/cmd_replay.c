// SPDX-License-Identifier: GPL-2.0
/*
 * kvmpilot replay: feed demand traces through a policy and score it
 * (semantics in replay.h); --compare runs every policy and the oracle.
 */
#include <errno.h>
#include <getopt.h>
#include <json-c/json.h>
#include <libgen.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cli.h"
#include "cmd_replay_host.h"
#include "cmds.h"
#include "policy.h"
#include "replay.h"
#include "util.h"

#define NKINDS 3
#define ORACLE NKINDS /* column index of the oracle in --compare */

static void usage(FILE *f)
{
	fprintf(f,
		"Usage: kvmpilot replay [--policy threshold|window|predictive] [--log FILE] [--json]\n"
		"                       [--compare] [--oracle] [bounds options] TRACE.csv...\n"
		"\n"
		"Feeds each trace (header time_s,mem_used_mb,cpu_demand_vcpus, one row per second)\n"
		"through a policy tick by tick and prints its scores.\n"
		"\n"
		"  --policy NAME      threshold, window or predictive (default)\n"
		"  --log FILE         write time_s,alloc_mb,vcpus for every tick (one trace only)\n"
		"  --json             scores as JSON\n"
		"  --compare          every policy and the perfect-foresight oracle, with totals\n"
		"  --oracle           add the oracle's scores\n"
		"  --verbose          print every tick's decision and reason (one policy)\n"
		"  --mem-min MIB      memory floor (default 256)\n"
		"  --mem-max MIB      memory ceiling (default 4096)\n"
		"  --mem-start MIB    starting allocation (default 1024)\n"
		"  --mem-reserve MIB  floor above guest used (default 128)\n"
		"  --vcpu-min N       (default 1)\n"
		"  --vcpu-max N       (default 4)\n"
		"  --vcpu-start N     (default 1)\n"
		"\n"
		"Host replay, the traces as the VMs of one host (README, \"Host replay\"):\n"
		"  kvmpilot replay --host-mem MIB [--host-vcpus N] [--policy P|static|mom|proxmox]\n"
		"                  [--log FILE] [--json] [--verbose] TRACE.csv...\n");
}

struct log_ctx {
	FILE *f;
	int err;
	bool verbose;
};

static void log_tick(void *ctx, uint64_t time_s, uint64_t alloc, unsigned int vcpus,
		     const struct policy_decision *d)
{
	struct log_ctx *lc = ctx;

	if (lc->verbose)
		printf("%llu alloc=%llu vcpus=%u forecast=%.0f hi=%.0f -> %llu/%u: %s\n",
		       (unsigned long long)time_s, (unsigned long long)alloc, vcpus,
		       d->forecast_mem_mib, d->forecast_mem_hi_mib,
		       (unsigned long long)d->target_mem_mib, d->target_vcpus, d->reason);
	if (lc->f && fprintf(lc->f, "%llu,%llu,%u\n", (unsigned long long)time_s,
			     (unsigned long long)alloc, vcpus) < 0)
		lc->err = -EIO;
}

static void print_head(void)
{
	printf("%-28s %-10s %7s %9s %10s %9s %9s %8s\n", "trace", "policy", "ticks", "mem_pres",
	       "slack_mb", "cpu_pres", "idle_vcpu", "actions");
}

static void print_row(const char *trace, const char *policy, const struct replay_score *s)
{
	printf("%-28.28s %-10s %7llu %9llu %10.1f %9llu %9.3f %8llu\n", trace, policy,
	       (unsigned long long)s->ticks, (unsigned long long)s->mem_pressure_s,
	       s->mean_slack_mb, (unsigned long long)s->cpu_pressure_s, s->mean_idle_vcpus,
	       (unsigned long long)s->actions);
}

static const char *base(const char *path)
{
	const char *s = strrchr(path, '/');

	return s ? s + 1 : path;
}

static double ratio(double a, double b)
{
	return b > 0 ? a / b : (a > 0 ? 1e9 : 0);
}

/* The issue-4 goals, checked on the totals of a --compare run. */
static bool print_goals(const struct replay_score *tot, bool json, struct json_object *root)
{
	const struct replay_score *th = &tot[POLICY_THRESHOLD], *wi = &tot[POLICY_WINDOW],
				  *pr = &tot[POLICY_PREDICTIVE];
	struct {
		const char *what;
		double value, limit;
	} g[] = {
		{ "mem_pressure_s / threshold's",
		  ratio((double)pr->mem_pressure_s, (double)th->mem_pressure_s), 0.10 },
		{ "mem_pressure_s / window's",
		  ratio((double)pr->mem_pressure_s, (double)wi->mem_pressure_s), 1.0 },
		{ "mean_slack_mb / threshold's", ratio(pr->mean_slack_mb, th->mean_slack_mb),
		  0.60 },
		{ "mean_slack_mb / window's", ratio(pr->mean_slack_mb, wi->mean_slack_mb), 0.60 },
		{ "cpu_pressure_s / threshold's",
		  ratio((double)pr->cpu_pressure_s, (double)th->cpu_pressure_s), 1.0 },
		{ "mean_idle_vcpus / threshold's", ratio(pr->mean_idle_vcpus, th->mean_idle_vcpus),
		  1.10 },
		{ "actions / ticks", ratio((double)pr->actions, (double)pr->ticks), 0.25 },
	};
	struct json_object *arr = json ? json_object_new_array() : NULL;
	bool all = true;

	if (!json)
		printf("\ngoals (predictive, totals):\n");
	for (size_t i = 0; i < ARRAY_SIZE(g); i++) {
		/* mem_pressure vs window: "no more than", equal counts pass */
		bool ok = g[i].value <= g[i].limit + 1e-12 ||
			  (i == 1 && pr->mem_pressure_s <= wi->mem_pressure_s) ||
			  (i == 4 && pr->cpu_pressure_s <= th->cpu_pressure_s);

		all = all && ok;
		if (json) {
			struct json_object *o = json_object_new_object();

			json_object_object_add(o, "goal", json_object_new_string(g[i].what));
			json_object_object_add(o, "value", json_object_new_double(g[i].value));
			json_object_object_add(o, "limit", json_object_new_double(g[i].limit));
			json_object_object_add(o, "met", json_object_new_boolean(ok));
			json_object_array_add(arr, o);
		} else {
			printf("  %-32s %7.3f  (<= %.2f)  %s\n", g[i].what, g[i].value, g[i].limit,
			       ok ? "met" : "MISSED");
		}
	}
	if (json)
		json_object_object_add(root, "goals", arr);
	return all;
}

/* What the command line asked for, and the run's running totals. */
struct replay_cli {
	int kind;
	const char *log_path;
	bool json, compare, oracle;
	uint64_t bound[7]; /* indexed like bound_opts[] */
	struct policy_config cfg[NKINDS];
	struct replay_start start;
	struct log_ctx lc;
	struct replay_score tot[NKINDS + 1];
	struct json_object *root, *jtraces;
	uint64_t sim_ns, sim_ticks;
};

/* The numeric bounds options, in the order of replay_cli.bound[] (getopt val = index + 1). */
enum {
	B_MEM_MIN,
	B_MEM_MAX,
	B_MEM_START,
	B_MEM_RESERVE,
	B_VCPU_MIN,
	B_VCPU_MAX,
	B_VCPU_START
};

static const struct {
	uint64_t def, max;
} bound_opts[] = {
	[B_MEM_MIN] = { 256, POLICY_MEM_MAX_MIB },
	[B_MEM_MAX] = { 4096, POLICY_MEM_MAX_MIB },
	[B_MEM_START] = { 1024, POLICY_MEM_MAX_MIB },
	[B_MEM_RESERVE] = { 128, POLICY_MEM_MAX_MIB },
	[B_VCPU_MIN] = { 1, 4096 },
	[B_VCPU_MAX] = { 4, 4096 },
	[B_VCPU_START] = { 1, 4096 },
};

static const struct option replay_opts[] = {
	{ "policy", required_argument, NULL, 'p' },
	{ "log", required_argument, NULL, 'l' },
	{ "json", no_argument, NULL, 'j' },
	{ "compare", no_argument, NULL, 'c' },
	{ "oracle", no_argument, NULL, 'o' },
	{ "verbose", no_argument, NULL, 'v' },
	{ "mem-min", required_argument, NULL, 1 + B_MEM_MIN },
	{ "mem-max", required_argument, NULL, 1 + B_MEM_MAX },
	{ "mem-start", required_argument, NULL, 1 + B_MEM_START },
	{ "mem-reserve", required_argument, NULL, 1 + B_MEM_RESERVE },
	{ "vcpu-min", required_argument, NULL, 1 + B_VCPU_MIN },
	{ "vcpu-max", required_argument, NULL, 1 + B_VCPU_MAX },
	{ "vcpu-start", required_argument, NULL, 1 + B_VCPU_START },
	{ "help", no_argument, NULL, 'h' },
	{ NULL, 0, NULL, 0 },
};

/* Options into cli; 0 to go on, else the exit status (help: 0, error: 1, reported). */
static int parse_opts(int argc, char **argv, struct replay_cli *cli, int *status)
{
	int c, li = 0;

	*status = 1;
	for (size_t b = 0; b < ARRAY_SIZE(bound_opts); b++)
		cli->bound[b] = bound_opts[b].def;
	optind = 1;
	opterr = 0;
	while ((c = getopt_long(argc, argv, "+h", replay_opts, &li)) != -1) {
		switch (c) {
		case 'p':
			cli->kind = policy_kind__parse(optarg);
			if (cli->kind < 0) {
				return cli__fail(
					cli->json, 1,
					"unknown policy '%s' (threshold, window, predictive)",
					optarg);
			}
			break;
		case 'l':
			cli->log_path = optarg;
			break;
		case 'j':
			cli->json = true;
			break;
		case 'c':
			cli->compare = true;
			break;
		case 'o':
			cli->oracle = true;
			break;
		case 'v':
			cli->lc.verbose = true;
			break;
		case 'h':
			usage(stdout);
			*status = 0;
			return 1;
		default:
			if (c < 1 || c > (int)ARRAY_SIZE(bound_opts)) {
				return cli__fail(cli->json, 1,
						 "unknown or incomplete option '%s' (see --help)",
						 argv[optind - 1]);
			}
			if (parse_u64(optarg, 0, bound_opts[c - 1].max, &cli->bound[c - 1])) {
				return cli__fail(cli->json, 1,
						 "bad number '%s' for '--%s' (0 to %llu)", optarg,
						 replay_opts[li].name,
						 (unsigned long long)bound_opts[c - 1].max);
			}
		}
	}
	return 0;
}

/* The bounds into every policy's configuration and the start; 0 or 1 (reported). */
static int set_bounds(struct replay_cli *cli)
{
	const uint64_t *b = cli->bound;

	cli->start.mem_mib = b[B_MEM_START];
	cli->start.vcpus = (unsigned int)b[B_VCPU_START];
	for (int k = 0; k < NKINDS; k++) {
		struct policy_config *cfg = &cli->cfg[k];

		policy_config__init(cfg, (enum policy_kind)k);
		cfg->mem_min_mib = b[B_MEM_MIN];
		cfg->mem_max_mib = b[B_MEM_MAX];
		cfg->mem_reserve_mib = b[B_MEM_RESERVE];
		cfg->vcpu_min = (unsigned int)b[B_VCPU_MIN];
		cfg->vcpu_max = (unsigned int)b[B_VCPU_MAX];
		if (policy_config__validate(cfg))
			return cli__fail(cli->json, 1,
					 "inconsistent bounds (need mem-min <= mem-max, "
					 "reserve <= mem-max, 1 <= vcpu-min <= vcpu-max)");
	}
	if (b[B_MEM_START] < b[B_MEM_MIN] || b[B_MEM_START] > b[B_MEM_MAX] ||
	    b[B_VCPU_START] < b[B_VCPU_MIN] || b[B_VCPU_START] > b[B_VCPU_MAX])
		return cli__fail(cli->json, 1, "start values must lie within the bounds");
	return 0;
}

/* Whether column k (a policy kind or ORACLE) is part of this run. */
static bool wanted(const struct replay_cli *cli, int k)
{
	return cli->compare || (k == ORACLE ? cli->oracle : k == cli->kind);
}

static const char *column_name(int k)
{
	return k == ORACLE ? "oracle" : policy_kind__name((enum policy_kind)k);
}

/* One column's scores for trace t, timed (the oracle is not); 0 or -errno. */
static int score_column(struct replay_cli *cli, int k, const struct replay_trace *t,
			struct replay_score *s)
{
	uint64_t t_start = now_mono_ns();
	int err;

	if (k == ORACLE)
		return replay__oracle(&cli->cfg[0], t, s);
	err = replay__run(&cli->cfg[k], &cli->start, t, s,
			  cli->lc.f || cli->lc.verbose ? log_tick : NULL, &cli->lc);
	if (!err) {
		cli->sim_ns += now_mono_ns() - t_start;
		cli->sim_ticks += s->ticks;
	}
	return err;
}

/* Load one trace, score every wanted column, print or collect; 0 or 1 (reported). */
static int replay_path(struct replay_cli *cli, const char *path)
{
	struct replay_trace *t = NULL;
	struct json_object *jt = NULL;
	char errbuf[REPLAY_ERR_MAX];
	int err;

	err = replay_trace__load(path, &t, errbuf, sizeof(errbuf));
	if (err)
		return cli__fail(cli->json, 1, "%s", errbuf);
	if (cli->json) {
		jt = json_object_new_object();
		json_object_object_add(jt, "trace", json_object_new_string(path));
		json_object_array_add(cli->jtraces, jt);
	}
	for (int k = 0; k <= NKINDS; k++) {
		struct replay_score s;

		if (!wanted(cli, k))
			continue;
		err = score_column(cli, k, t, &s);
		if (err) {
			replay_trace__free(t);
			return cli__fail(cli->json, 1, "replay of '%s' failed: %s", path,
					 strerror(-err));
		}
		replay_score__add(&cli->tot[k], &s);
		if (cli->json && !cli->compare && k != ORACLE)
			json_object_object_add(jt, "scores", cli__replay_score_json(&s));
		else if (cli->json)
			json_object_object_add(jt, column_name(k), cli__replay_score_json(&s));
		else
			print_row(base(path), column_name(k), &s);
	}
	replay_trace__free(t);
	return 0;
}

/* The totals (and with --compare the goals) after every trace. */
static void print_totals(struct replay_cli *cli, int ntraces)
{
	if (cli->json) {
		struct json_object *jtot = json_object_new_object();

		json_object_object_add(cli->root, "traces", cli->jtraces);
		cli->jtraces = NULL;
		for (int k = 0; k <= NKINDS; k++) {
			if (wanted(cli, k))
				json_object_object_add(jtot, column_name(k),
						       cli__replay_score_json(&cli->tot[k]));
		}
		json_object_object_add(cli->root, "total", jtot);
		if (cli->compare)
			(void)print_goals(cli->tot, true, cli->root);
		printf("%s\n", json_object_to_json_string_ext(
				       cli->root,
				       JSON_C_TO_STRING_PRETTY | JSON_C_TO_STRING_NOSLASHESCAPE));
		return;
	}
	if (ntraces <= 1 && !cli->compare)
		return;
	printf("\n");
	for (int k = 0; k <= NKINDS; k++) {
		if (wanted(cli, k))
			print_row("TOTAL", column_name(k), &cli->tot[k]);
	}
	if (!cli->compare)
		return;
	(void)print_goals(cli->tot, false, NULL);
	printf("\nsimulated %llu policy ticks in %.1f ms (%.0f ticks/ms)\n",
	       (unsigned long long)cli->sim_ticks, (double)cli->sim_ns / 1e6,
	       cli->sim_ns ? (double)cli->sim_ticks / ((double)cli->sim_ns / 1e6) : 0.0);
}

/* The --log file and its header; 0 or 1 (reported). */
static int open_log(struct replay_cli *cli)
{

	if (!cli->log_path)
		return 0;
	cli->lc.f = fopen(cli->log_path, "w");
	if (!cli->lc.f) {
		return cli__fail(cli->json, 1, "cannot write '%s': %s", cli->log_path,
				 strerror(errno));
	}
	fprintf(cli->lc.f, "time_s,alloc_mb,vcpus\n");
	return 0;
}

int do_replay(int argc, char **argv)
{
	struct replay_cli cli = { .kind = POLICY_PREDICTIVE };
	int rc;

	/* Several traces on one host: a command of its own (cmd_replay_host.c). */
	for (int i = 1; i < argc && strcmp(argv[i], "--"); i++) {
		if (!strncmp(argv[i], "--host-mem", 10) &&
		    (argv[i][10] == '\0' || argv[i][10] == '='))
			return do_replay_host(argc, argv);
	}
	if (parse_opts(argc, argv, &cli, &rc))
		return rc;
	if (optind >= argc) {
		usage(stderr);
		return cli__fail(cli.json, 1, "no trace given");
	}
	if (cli.lc.verbose && cli.compare)
		return cli__fail(cli.json, 1, "--verbose takes one policy (no --compare)");
	if (cli.log_path && (cli.compare || argc - optind != 1))
		return cli__fail(cli.json, 1,
				 "--log takes exactly one trace and one policy (no --compare)");
	if (set_bounds(&cli) || open_log(&cli))
		return 1;
	if (cli.json) {
		cli.root = json_object_new_object();
		cli.jtraces = json_object_new_array();
		if (!cli.compare)
			json_object_object_add(cli.root, "policy",
					       json_object_new_string(policy_kind__name(cli.kind)));
	} else {
		print_head();
	}
	rc = 1;
	for (int i = optind; i < argc; i++) {
		if (replay_path(&cli, argv[i]))
			goto cleanup;
	}
	if (cli.lc.f && cli.lc.err) {
		(void)cli__fail(cli.json, 1, "writing the log failed");
		goto cleanup;
	}
	print_totals(&cli, argc - optind);
	rc = 0;
cleanup:
	if (cli.lc.f && fclose(cli.lc.f) && !rc)
		rc = cli__fail(cli.json, 1, "writing the log failed");
	json_object_put(cli.jtraces);
	json_object_put(cli.root);
	return rc;
}
