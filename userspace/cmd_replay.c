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
		"  --vcpu-start N     (default 1)\n");
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

static struct json_object *score_json(const struct replay_score *s)
{
	struct json_object *o = json_object_new_object();

	json_object_object_add(o, "ticks", json_object_new_int64((int64_t)s->ticks));
	json_object_object_add(o, "mem_pressure_s",
			       json_object_new_int64((int64_t)s->mem_pressure_s));
	json_object_object_add(o, "mean_slack_mb", json_object_new_double(s->mean_slack_mb));
	json_object_object_add(o, "cpu_pressure_s",
			       json_object_new_int64((int64_t)s->cpu_pressure_s));
	json_object_object_add(o, "mean_idle_vcpus", json_object_new_double(s->mean_idle_vcpus));
	json_object_object_add(o, "actions", json_object_new_int64((int64_t)s->actions));
	return o;
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

static int fail(bool json, const char *msg)
{
	if (json) {
		struct json_object *o = json_object_new_object();

		json_object_object_add(o, "error", json_object_new_string(msg));
		printf("%s\n", json_object_to_json_string_ext(o, JSON_C_TO_STRING_PLAIN));
		json_object_put(o);
	}
	log_error("%s", msg);
	return 1;
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

int do_replay(int argc, char **argv)
{
	static const struct option opts[] = {
		{ "policy", required_argument, NULL, 'p' },
		{ "log", required_argument, NULL, 'l' },
		{ "json", no_argument, NULL, 'j' },
		{ "compare", no_argument, NULL, 'c' },
		{ "oracle", no_argument, NULL, 'o' },
		{ "verbose", no_argument, NULL, 'v' },
		{ "mem-min", required_argument, NULL, 1 },
		{ "mem-max", required_argument, NULL, 2 },
		{ "mem-start", required_argument, NULL, 3 },
		{ "mem-reserve", required_argument, NULL, 4 },
		{ "vcpu-min", required_argument, NULL, 5 },
		{ "vcpu-max", required_argument, NULL, 6 },
		{ "vcpu-start", required_argument, NULL, 7 },
		{ "help", no_argument, NULL, 'h' },
		{ NULL, 0, NULL, 0 },
	};
	uint64_t mem_min = 256, mem_max = 4096, mem_start = 1024, mem_reserve = 128;
	uint64_t vcpu_min = 1, vcpu_max = 4, vcpu_start = 1;
	struct replay_score tot[NKINDS + 1];
	struct json_object *root = NULL, *jtraces = NULL;
	const char *log_path = NULL;
	bool json = false, compare = false, oracle = false, goals_ok = true;
	int kind = POLICY_PREDICTIVE, c, li = 0, rc = 1, err;
	char msg[REPLAY_ERR_MAX + 64];
	struct log_ctx lc = { 0 };
	uint64_t sim_ns = 0, sim_ticks = 0;

	memset(tot, 0, sizeof(tot));
	optind = 1;
	opterr = 0;
	while ((c = getopt_long(argc, argv, "+h", opts, &li)) != -1) {
		uint64_t *num = NULL;
		uint64_t max = POLICY_MEM_MAX_MIB;

		switch (c) {
		case 'p':
			kind = policy_kind__parse(optarg);
			if (kind < 0) {
				snprintf(msg, sizeof(msg),
					 "unknown policy '%s' (threshold, window, predictive)",
					 optarg);
				return fail(json, msg);
			}
			break;
		case 'l':
			log_path = optarg;
			break;
		case 'j':
			json = true;
			break;
		case 'c':
			compare = true;
			break;
		case 'o':
			oracle = true;
			break;
		case 'v':
			lc.verbose = true;
			break;
		case 1:
			num = &mem_min;
			break;
		case 2:
			num = &mem_max;
			break;
		case 3:
			num = &mem_start;
			break;
		case 4:
			num = &mem_reserve;
			break;
		case 5:
			num = &vcpu_min;
			max = 4096;
			break;
		case 6:
			num = &vcpu_max;
			max = 4096;
			break;
		case 7:
			num = &vcpu_start;
			max = 4096;
			break;
		case 'h':
			usage(stdout);
			return 0;
		default:
			snprintf(msg, sizeof(msg), "unknown or incomplete option '%s' (see --help)",
				 argv[optind - 1]);
			return fail(json, msg);
		}
		if (num && parse_u64(optarg, 0, max, num)) {
			/* argv[optind - 1] is the value when it came as its own argument. */
			snprintf(msg, sizeof(msg), "bad number '%s' for '--%s' (0 to %llu)", optarg,
				 opts[li].name, (unsigned long long)max);
			return fail(json, msg);
		}
	}
	if (optind >= argc) {
		usage(stderr);
		return fail(json, "no trace given");
	}
	if (lc.verbose && compare)
		return fail(json, "--verbose takes one policy (no --compare)");
	if (log_path && (compare || argc - optind != 1))
		return fail(json, "--log takes exactly one trace and one policy (no --compare)");

	struct policy_config cfg[NKINDS];
	struct replay_start start = { .mem_mib = mem_start, .vcpus = (unsigned int)vcpu_start };

	for (int k = 0; k < NKINDS; k++) {
		policy_config__init(&cfg[k], (enum policy_kind)k);
		cfg[k].mem_min_mib = mem_min;
		cfg[k].mem_max_mib = mem_max;
		cfg[k].mem_reserve_mib = mem_reserve;
		cfg[k].vcpu_min = (unsigned int)vcpu_min;
		cfg[k].vcpu_max = (unsigned int)vcpu_max;
		if (policy_config__validate(&cfg[k]))
			return fail(json, "inconsistent bounds (need mem-min <= mem-max, "
					  "reserve <= mem-max, 1 <= vcpu-min <= vcpu-max)");
	}
	if (mem_start < mem_min || mem_start > mem_max || vcpu_start < vcpu_min ||
	    vcpu_start > vcpu_max)
		return fail(json, "start values must lie within the bounds");

	if (log_path) {
		lc.f = fopen(log_path, "w");
		if (!lc.f) {
			snprintf(msg, sizeof(msg), "cannot write '%s': %s", log_path,
				 strerror(errno));
			return fail(json, msg);
		}
		fprintf(lc.f, "time_s,alloc_mb,vcpus\n");
	}
	if (json) {
		root = json_object_new_object();
		jtraces = json_object_new_array();
		if (!compare)
			json_object_object_add(root, "policy",
					       json_object_new_string(policy_kind__name(kind)));
	} else {
		print_head();
	}

	for (int i = optind; i < argc; i++) {
		struct replay_trace *t = NULL;
		struct json_object *jt = NULL;
		char errbuf[REPLAY_ERR_MAX];

		err = replay_trace__load(argv[i], &t, errbuf, sizeof(errbuf));
		if (err) {
			rc = fail(json, errbuf);
			goto cleanup;
		}
		if (json) {
			jt = json_object_new_object();
			json_object_object_add(jt, "trace", json_object_new_string(argv[i]));
			json_object_array_add(jtraces, jt);
		}
		for (int k = 0; k <= NKINDS; k++) {
			struct replay_score s;
			bool is_oracle = k == ORACLE;

			if (!compare && !(is_oracle ? oracle : k == kind))
				continue;
			uint64_t t_start = now_mono_ns();

			if (is_oracle)
				err = replay__oracle(&cfg[0], t, &s);
			else
				err = replay__run(&cfg[k], &start, t, &s,
						  lc.f || lc.verbose ? log_tick : NULL, &lc);
			if (err) {
				replay_trace__free(t);
				snprintf(msg, sizeof(msg), "replay of '%s' failed: %s", argv[i],
					 strerror(-err));
				rc = fail(json, msg);
				goto cleanup;
			}
			if (!is_oracle) {
				sim_ns += now_mono_ns() - t_start;
				sim_ticks += s.ticks;
			}
			replay_score__add(&tot[k], &s);
			if (json && !compare && !is_oracle)
				json_object_object_add(jt, "scores", score_json(&s));
			else if (json)
				json_object_object_add(jt,
						       is_oracle ? "oracle" : policy_kind__name(k),
						       score_json(&s));
			else
				print_row(base(argv[i]),
					  is_oracle ? "oracle" : policy_kind__name(k), &s);
		}
		replay_trace__free(t);
	}
	if (lc.f && lc.err) {
		rc = fail(json, "writing the log failed");
		goto cleanup;
	}

	if (json) {
		struct json_object *jtot = json_object_new_object();

		json_object_object_add(root, "traces", jtraces);
		jtraces = NULL;
		for (int k = 0; k <= NKINDS; k++) {
			if (!compare && !(k == ORACLE ? oracle : k == kind))
				continue;
			json_object_object_add(jtot, k == ORACLE ? "oracle" : policy_kind__name(k),
					       score_json(&tot[k]));
		}
		json_object_object_add(root, "total", jtot);
		if (compare)
			goals_ok = print_goals(tot, true, root);
		printf("%s\n",
		       json_object_to_json_string_ext(
			       root, JSON_C_TO_STRING_PRETTY | JSON_C_TO_STRING_NOSLASHESCAPE));
	} else if (argc - optind > 1 || compare) {
		printf("\n");
		for (int k = 0; k <= NKINDS; k++) {
			if (!compare && !(k == ORACLE ? oracle : k == kind))
				continue;
			print_row("TOTAL", k == ORACLE ? "oracle" : policy_kind__name(k), &tot[k]);
		}
		if (compare)
			goals_ok = print_goals(tot, false, NULL);
		if (compare)
			printf("\nsimulated %llu policy ticks in %.1f ms (%.0f ticks/ms)\n",
			       (unsigned long long)sim_ticks, (double)sim_ns / 1e6,
			       sim_ns ? (double)sim_ticks / ((double)sim_ns / 1e6) : 0.0);
	}
	(void)goals_ok;
	rc = 0;
cleanup:
	if (lc.f && fclose(lc.f) && !rc)
		rc = fail(json, "writing the log failed");
	json_object_put(jtraces);
	json_object_put(root);
	return rc;
}
