// SPDX-License-Identifier: GPL-2.0
/*
 * kvmpilot replay --host-mem MIB: the traces side by side as the VMs of one
 * host (semantics in replay_host.h). do_replay() hands over here when it
 * sees --host-mem.
 */
#include <errno.h>
#include <getopt.h>
#include <json-c/json.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cli.h"
#include "cmd_replay_host.h"
#include "policy.h"
#include "replay.h"
#include "replay_host.h"
#include "util.h"

static void usage(FILE *f)
{
	fprintf(f,
		"Usage: kvmpilot replay --host-mem MIB [--host-vcpus N] [--policy P] [--log FILE]\n"
		"                       [--json] TRACE.csv...\n"
		"\n"
		"Runs the traces side by side as the VMs of one host whose VMs' memory adds up\n"
		"to at most MIB (traces of the same length; bounds 256..4096 MiB, 1..4 vCPUs;\n"
		"start min(1024, MIB / n) MiB and 1 vCPU).\n"
		"\n"
		"  --host-mem MIB     the host's memory budget for the VMs\n"
		"  --host-vcpus N     the host's vCPU budget (default: none)\n"
		"  --policy P         threshold, window or predictive (default), each with the\n"
		"                     arbiter; or a baseline: static, mom, proxmox\n"
		"  --log FILE         write time_s,vm,alloc_mb,vcpus, one row per VM per tick\n"
		"  --verbose          print the arbiter's reason whenever a VM is cut\n"
		"  --json             scores as JSON\n");
}

struct host_cli {
	struct replay_host_opts o;
	int kind;
	const char *mode_name;
	const char *log_path;
	bool json, verbose;
	FILE *log;
	int log_err;
	char **names;
	size_t n;
};

static const struct option host_opts[] = {
	{ "host-mem", required_argument, NULL, 'm' },
	{ "host-vcpus", required_argument, NULL, 'c' },
	{ "policy", required_argument, NULL, 'p' },
	{ "log", required_argument, NULL, 'l' },
	{ "json", no_argument, NULL, 'j' },
	{ "verbose", no_argument, NULL, 'v' },
	{ "help", no_argument, NULL, 'h' },
	{ NULL, 0, NULL, 0 },
};

/* Options into cli; 0 to go on, else 1 with *status the exit status (reported). */
static int parse_opts(int argc, char **argv, struct host_cli *cli, int *status)
{
	uint64_t v;
	int c;

	*status = 1;
	/* --json first, so that early errors come out as JSON too. */
	for (int i = 1; i < argc && strcmp(argv[i], "--"); i++)
		cli->json = cli->json || !strcmp(argv[i], "--json");
	optind = 1;
	opterr = 0;
	while ((c = getopt_long(argc, argv, "+h", host_opts, NULL)) != -1) {
		switch (c) {
		case 'm':
			if (parse_u64(optarg, 1, POLICY_MEM_MAX_MIB, &v))
				return cli__fail(cli->json, 1, "bad number '%s' for '--host-mem'",
						 optarg);
			cli->o.host_mem_mib = v;
			break;
		case 'c':
			if (parse_u64(optarg, 1, 1u << 20, &v))
				return cli__fail(cli->json, 1, "bad number '%s' for '--host-vcpus'",
						 optarg);
			cli->o.host_vcpus = (unsigned int)v;
			break;
		case 'p':
			cli->mode_name = optarg;
			cli->kind = policy_kind__parse(optarg);
			if (cli->kind >= 0) {
				cli->o.mode = REPLAY_HOST_POLICY;
				break;
			}
			cli->kind = POLICY_PREDICTIVE;
			c = replay_host_mode__parse(optarg);
			if (c < 0)
				return cli__fail(
					cli->json, 1,
					"unknown policy '%s' (threshold, window, predictive, "
					"static, mom, proxmox)",
					optarg);
			cli->o.mode = (enum replay_host_mode)c;
			break;
		case 'l':
			cli->log_path = optarg;
			break;
		case 'j':
			break;
		case 'v':
			cli->verbose = true;
			break;
		case 'h':
			usage(stdout);
			*status = 0;
			return 1;
		default:
			return cli__fail(cli->json, 1,
					 "unknown or incomplete option '%s' (see --help; with "
					 "--host-mem: --host-vcpus, --policy, --log, --json)",
					 argv[optind - 1]);
		}
	}
	return 0;
}

/* VM names: the file names without .csv, "#2", "#3" on repeats; 0 or -ENOMEM. */
static int make_names(struct host_cli *cli, char **paths, size_t n)
{
	cli->names = calloc(n, sizeof(*cli->names));
	if (!cli->names)
		return -ENOMEM;
	cli->n = n;
	for (size_t i = 0; i < n; i++) {
		const char *b = strrchr(paths[i], '/');
		size_t len, seen = 1;

		b = b ? b + 1 : paths[i];
		len = strlen(b);
		if (len > 4 && !strcmp(b + len - 4, ".csv"))
			len -= 4;
		for (size_t k = 0; k < i; k++) {
			const char *p = strrchr(paths[k], '/');
			size_t pl;

			p = p ? p + 1 : paths[k];
			pl = strlen(p);
			if (pl > 4 && !strcmp(p + pl - 4, ".csv"))
				pl -= 4;
			seen += pl == len && !strncmp(p, b, len);
		}
		if (seen > 1 ? asprintf(&cli->names[i], "%.*s#%zu", (int)len, b, seen) < 0
			     : asprintf(&cli->names[i], "%.*s", (int)len, b) < 0) {
			cli->names[i] = NULL;
			return -ENOMEM;
		}
	}
	return 0;
}

static void log_tick(void *ctx, uint64_t time_s, size_t vm, uint64_t alloc, unsigned int vcpus,
		     const char *reason)
{
	struct host_cli *cli = ctx;

	if (cli->verbose && reason[0])
		printf("%llu %s alloc=%llu vcpus=%u: %s\n", (unsigned long long)time_s,
		       cli->names[vm], (unsigned long long)alloc, vcpus, reason);
	if (cli->log && fprintf(cli->log, "%llu,%s,%llu,%u\n", (unsigned long long)time_s,
				cli->names[vm], (unsigned long long)alloc, vcpus) < 0)
		cli->log_err = -EIO;
}

static const char *mode_label(const struct host_cli *cli)
{
	if (cli->o.mode != REPLAY_HOST_POLICY)
		return cli->mode_name;
	return cli->kind == POLICY_THRESHOLD ? "threshold+arbiter"
	       : cli->kind == POLICY_WINDOW  ? "window+arbiter"
					     : "predictive+arbiter";
}

static void print_result(const struct host_cli *cli, char **paths,
			 const struct replay_score *per_vm, const struct replay_host_score *hs)
{
	uint64_t vm_ticks = hs->total.ticks;

	if (cli->json) {
		struct json_object *root = json_object_new_object(), *arr = json_object_new_array();
		struct json_object *tot = cli__replay_score_json(&hs->total);

		json_object_object_add(root, "policy", json_object_new_string(mode_label(cli)));
		json_object_object_add(root, "host_mem_mib",
				       json_object_new_int64((int64_t)cli->o.host_mem_mib));
		json_object_object_add(root, "host_vcpus",
				       json_object_new_int64((int64_t)cli->o.host_vcpus));
		for (size_t i = 0; i < cli->n; i++) {
			struct json_object *v = json_object_new_object();

			json_object_object_add(v, "vm", json_object_new_string(cli->names[i]));
			json_object_object_add(v, "trace", json_object_new_string(paths[i]));
			json_object_object_add(v, "scores", cli__replay_score_json(&per_vm[i]));
			json_object_array_add(arr, v);
		}
		json_object_object_add(root, "vms", arr);
		json_object_object_add(tot, "over_budget_ticks",
				       json_object_new_int64((int64_t)hs->over_budget_ticks));
		json_object_object_add(tot, "host_vm_pressure_s",
				       json_object_new_int64((int64_t)hs->host_vm_pressure_s));
		json_object_object_add(tot, "overcommitted_ticks",
				       json_object_new_int64((int64_t)hs->overcommitted_ticks));
		json_object_object_add(root, "total", tot);
		printf("%s\n",
		       json_object_to_json_string_ext(
			       root, JSON_C_TO_STRING_PRETTY | JSON_C_TO_STRING_NOSLASHESCAPE));
		json_object_put(root);
		return;
	}
	printf("%-28s %7s %9s %10s %9s %9s %8s\n", "vm", "ticks", "mem_pres", "slack_mb",
	       "cpu_pres", "idle_vcpu", "actions");
	for (size_t i = 0; i <= cli->n; i++) {
		const struct replay_score *s = i < cli->n ? &per_vm[i] : &hs->total;

		if (i == cli->n)
			printf("\n");
		printf("%-28.28s %7llu %9llu %10.1f %9llu %9.3f %8llu\n",
		       i < cli->n ? cli->names[i] : "TOTAL", (unsigned long long)s->ticks,
		       (unsigned long long)s->mem_pressure_s, s->mean_slack_mb,
		       (unsigned long long)s->cpu_pressure_s, s->mean_idle_vcpus,
		       (unsigned long long)s->actions);
	}
	printf("\nhost: %s, %zu VMs, budget %llu MiB", mode_label(cli), cli->n,
	       (unsigned long long)cli->o.host_mem_mib);
	if (cli->o.host_vcpus)
		printf(" and %u vCPUs", cli->o.host_vcpus);
	printf(": over_budget_ticks %llu, host_vm_pressure_s %llu (%.2f%% of %llu VM-ticks), "
	       "overcommitted_ticks %llu\n",
	       (unsigned long long)hs->over_budget_ticks,
	       (unsigned long long)hs->host_vm_pressure_s,
	       vm_ticks ? 100.0 * (double)hs->host_vm_pressure_s / (double)vm_ticks : 0.0,
	       (unsigned long long)vm_ticks, (unsigned long long)hs->overcommitted_ticks);
}

static void cli_free(struct host_cli *cli)
{
	for (size_t i = 0; cli->names && i < cli->n; i++)
		free(cli->names[i]);
	free(cli->names);
}

int do_replay_host(int argc, char **argv)
{
	struct host_cli cli = { .kind = POLICY_PREDICTIVE, .mode_name = "predictive" };
	struct replay_trace **traces = NULL;
	struct replay_score *per_vm = NULL;
	struct replay_host_score hs;
	struct policy_config cfg;
	char errbuf[REPLAY_ERR_MAX];
	size_t n;
	int rc, err;

	if (parse_opts(argc, argv, &cli, &rc))
		return rc;
	if (optind >= argc) {
		usage(stderr);
		return cli__fail(cli.json, 1, "no trace given");
	}
	if (!cli.o.host_mem_mib)
		return cli__fail(cli.json, 1, "--host-mem MIB is required");
	n = (size_t)(argc - optind);
	if (n > ARBITER_VMS_MAX)
		return cli__fail(cli.json, 1, "at most %d traces", ARBITER_VMS_MAX);
	rc = 1;
	traces = calloc(n, sizeof(*traces));
	per_vm = calloc(n, sizeof(*per_vm));
	if (!traces || !per_vm || make_names(&cli, argv + optind, n)) {
		(void)cli__fail(cli.json, 1, "out of memory");
		goto cleanup;
	}
	for (size_t i = 0; i < n; i++) {
		err = replay_trace__load(argv[optind + (int)i], &traces[i], errbuf, sizeof(errbuf));
		if (err) {
			(void)cli__fail(cli.json, 1, "%s", errbuf);
			goto cleanup;
		}
	}
	policy_config__init(&cfg, (enum policy_kind)cli.kind);
	if (cli.log_path) {
		cli.log = fopen(cli.log_path, "w");
		if (!cli.log) {
			(void)cli__fail(cli.json, 1, "cannot write '%s': %s", cli.log_path,
					strerror(errno));
			goto cleanup;
		}
		fprintf(cli.log, "time_s,vm,alloc_mb,vcpus\n");
	}
	err = replay_host__run(&cfg, &cli.o, (const struct replay_trace *const *)traces,
			       (const char *const *)cli.names, n, per_vm, &hs,
			       cli.log || cli.verbose ? log_tick : NULL, &cli, errbuf,
			       sizeof(errbuf));
	if (err) {
		(void)cli__fail(cli.json, 1, "host replay failed: %s", errbuf);
		goto cleanup;
	}
	if (cli.log_err) {
		(void)cli__fail(cli.json, 1, "writing the log failed");
		goto cleanup;
	}
	print_result(&cli, argv + optind, per_vm, &hs);
	rc = 0;
cleanup:
	if (cli.log && fclose(cli.log) && !rc)
		rc = cli__fail(cli.json, 1, "writing the log failed");
	for (size_t i = 0; traces && i < n; i++)
		replay_trace__free(traces[i]);
	free(traces);
	free(per_vm);
	cli_free(&cli);
	return rc;
}
