// SPDX-License-Identifier: GPL-2.0
/* kvmpilot act: one actuation through the real actuator path. */
#include <errno.h>
#include <getopt.h>
#include <poll.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>

#include "actuate.h"
#include "channel.h"
#include "cmds.h"
#include "util.h"
#include "virt.h"

static void usage(FILE *f)
{
	fprintf(f,
		"Usage: kvmpilot act NAME [--memory MiB] [--vcpus N] [--min-memory MiB]\n"
		"                    [--reserve MiB] [--dry-run] [--uri URI] [--action-log FILE]\n"
		"                    [--reason TEXT] [--allow-hv-unplug] [--json]\n\n"
		"Resize one running domain with the same bounds, checks and action log as\n"
		"the service. Memory is clamped into [floor, maximum memory] with floor =\n"
		"max(--min-memory, guest used + --reserve), guest used from balloon stats.\n"
		"vCPUs are hot-added up to the domain's maximum and onlined by the guest\n"
		"agent on the domain's channel; scaling down offlines them through the\n"
		"agent (which must not be held by 'kvmpilot run' at the same time).\n\n"
		"  --memory MiB        balloon target\n"
		"  --vcpus N           vCPU target\n"
		"  --min-memory MiB    configured minimum (default 0; never below %llu MiB)\n"
		"  --reserve MiB       headroom above guest used (default 0)\n"
		"  --dry-run           decide and log, do not act\n"
		"  --uri URI           libvirt connection (default " KVMPILOT_DEFAULT_URI ")\n"
		"  --action-log FILE   append the action record (JSON line) to FILE\n"
		"  --reason TEXT       why (default \"manual\")\n"
		"  --allow-hv-unplug   allow hypervisor vCPU hot-remove (broken under TCG)\n"
		"  --no-agent          do not ask the guest agent to online/offline CPUs\n"
		"  --agent-timeout S   wait this long for the agent's answer (default 10)\n"
		"  --json              print the action records as JSON lines\n",
		ACT_DEFAULT_HARD_MIN_KIB / 1024);
}

#define NS_PER_MS 1000000ull

/* The guest agent over the domain's channel, for one command and its ack. */
struct cli_agent {
	char path[VM_PATH_MAX];
	unsigned int timeout_ms;
	int cpus_online; /* from the ack, -1 when none */
};

static int cli_agent_set_cpus(void *ctx, const char *vm, int online)
{
	struct cli_agent *ca = ctx;
	struct channel *ch = channel__new(ca->path, NULL);
	uint64_t deadline = now_mono_ns() + ca->timeout_ms * NS_PER_MS;
	bool sent = false;
	uint32_t id = 0;
	int err = -ETIMEDOUT;

	(void)vm;
	ca->cpus_online = -1;
	if (!ch)
		return -errno;
	while (now_mono_ns() < deadline) {
		uint64_t now = now_mono_ns();
		struct agent_ack ack;
		struct pollfd pfd;

		(void)channel__poll(ch, now);
		if (!sent && channel__connected(ch)) {
			err = channel__send(ch, AGENT_OP_SET_CPUS, (uint32_t)online, now, &id);
			if (err)
				goto cleanup;
			sent = true;
			err = -ETIMEDOUT;
		}
		if (sent) {
			int r = channel__result(ch, id, now, &ack);

			if (!r) {
				ca->cpus_online = (int)ack.cpus_online;
				err = ack.rc > 0 ? -EPROTO : ack.rc;
				goto cleanup;
			}
			if (r != -EINPROGRESS) {
				err = r;
				goto cleanup;
			}
		}
		pfd.fd = channel__fd(ch);
		pfd.events = channel__events(ch);
		pfd.revents = 0;
		if (poll(&pfd, pfd.fd >= 0 ? 1 : 0, 50) < 0 && errno != EINTR) {
			err = -errno;
			goto cleanup;
		}
	}
cleanup:
	channel__free(ch);
	return err;
}

static int report(const struct act_record *r, int err, bool json)
{
	char line[4096]; /* a reason full of control characters escapes to 6x */

	if (json && !act_record__json(r, line, sizeof(line)))
		printf("%s\n", line);
	else
		printf("%s %s: %llu -> %llu%s (requested %llu%s%s): %s\n", r->vm,
		       act_kind__str(r->kind), (unsigned long long)r->from,
		       (unsigned long long)r->to, r->kind == ACT_MEMORY ? " KiB" : "",
		       (unsigned long long)r->requested, r->clamp[0] ? ", clamped to " : "",
		       r->clamp, r->result);
	if (err && err != -EAGAIN)
		log_error("%s action on '%s' failed: %s", act_kind__str(r->kind), r->vm, r->result);
	return err ? 1 : 0;
}

/* What the command line asked for. */
struct act_cli {
	struct virt_opts vopts;
	struct actuate_opts aopts;
	struct act_mem_req req; /* min_kib and reserve_kib from the options */
	const char *reason, *name;
	uint64_t mem_mib, vcpus;
	struct cli_agent agent;
	bool json, has_mem, has_vcpus, use_agent;
};

static const struct option act_opts[] = {
	{ "memory", required_argument, NULL, 'm' },
	{ "vcpus", required_argument, NULL, 'c' },
	{ "min-memory", required_argument, NULL, 'M' },
	{ "reserve", required_argument, NULL, 'r' },
	{ "dry-run", no_argument, NULL, 'n' },
	{ "uri", required_argument, NULL, 'u' },
	{ "action-log", required_argument, NULL, 'l' },
	{ "reason", required_argument, NULL, 'R' },
	{ "allow-hv-unplug", no_argument, NULL, 'U' },
	{ "json", no_argument, NULL, 'j' },
	{ "no-agent", no_argument, NULL, 'A' },
	{ "agent-timeout", required_argument, NULL, 'T' },
	{ "help", no_argument, NULL, 'h' },
	{ 0 },
};

/* One option with a number; 0, or -EINVAL after opt_u64 said why. */
static int act_number(struct act_cli *cli, int c, const char *arg)
{
	const uint64_t max_mib = 1ull << 30; /* 1 PiB: a typo guard */
	uint64_t val;

	switch (c) {
	case 'm':
		if (opt_u64("--memory MiB", arg, 0, max_mib, &cli->mem_mib, NULL, 0))
			return -EINVAL;
		cli->has_mem = true;
		return 0;
	case 'M':
	case 'r':
		if (opt_u64(c == 'M' ? "--min-memory MiB" : "--reserve MiB", arg, 0, max_mib, &val,
			    NULL, 0))
			return -EINVAL;
		*(c == 'M' ? &cli->req.min_kib : &cli->req.reserve_kib) = val * 1024;
		return 0;
	case 'c':
		if (opt_u64("--vcpus", arg, 1, 16384, &cli->vcpus, NULL, 0))
			return -EINVAL;
		cli->has_vcpus = true;
		return 0;
	default: /* 'T' */
		if (opt_u64("--agent-timeout seconds", arg, 1, 600, &val, NULL, 0))
			return -EINVAL;
		cli->agent.timeout_ms = (unsigned int)val * 1000;
		return 0;
	}
}

/* Options into cli; 0 to go on, else -1 for an exit status of 0 (help) or 2 (reported). */
static int act_parse(int argc, char **argv, struct act_cli *cli, int *status)
{
	int c;

	*status = 2;
	optind = 1;
	while ((c = getopt_long(argc, argv, "h", act_opts, NULL)) != -1) {
		switch (c) {
		case 'm':
		case 'M':
		case 'r':
		case 'c':
		case 'T':
			if (act_number(cli, c, optarg))
				return -1;
			break;
		case 'n':
			cli->aopts.dry_run = true;
			break;
		case 'u':
			cli->vopts.uri = optarg;
			break;
		case 'l':
			cli->aopts.log_path = optarg;
			break;
		case 'R':
			cli->reason = optarg;
			break;
		case 'U':
			cli->aopts.allow_hv_unplug = true;
			break;
		case 'j':
			cli->json = true;
			break;
		case 'A':
			cli->use_agent = false;
			break;
		case 'h':
			usage(stdout);
			*status = 0;
			return -1;
		default:
			usage(stderr);
			return -1;
		}
	}
	if (optind != argc - 1) {
		log_error("act needs exactly one domain name (see 'kvmpilot act --help')");
		return -1;
	}
	cli->name = argv[optind];
	if (!cli->has_mem && !cli->has_vcpus) {
		log_error("nothing to do: give --memory and/or --vcpus");
		return -1;
	}
	if (!*cli->reason) {
		log_error("--reason must not be empty");
		return -1;
	}
	return 0;
}

/* The balloon request, with guest used from the balloon statistics; the exit status. */
static int act_memory(struct act_cli *cli, struct actuate *a, struct virt *v)
{
	struct virt_memstats ms;
	struct act_record r;
	int err;

	/* guest used = MemTotal - MemAvailable, as the balloon driver reports it */
	if (virt__connected(v) && !virt__memstats(v, cli->name, &ms) &&
	    ms.available != UINT64_MAX && ms.usable != UINT64_MAX && ms.usable <= ms.available)
		cli->req.guest_used_kib = ms.available - ms.usable;
	cli->req.target_kib = cli->mem_mib * 1024;
	err = actuate__memory(a, v, cli->name, &cli->req, cli->reason, &r);
	return report(&r, err, cli->json);
}

/* The vCPU request, with the guest agent when the domain has a channel; the exit status. */
static int act_vcpus(struct act_cli *cli, struct actuate *a, struct virt *v)
{
	struct vm_list list = { 0 };
	const struct vm_desc *vm;
	struct act_record r;
	int err, ret;

	/* the agent of this domain, found by its channel in libvirt's XML */
	if (cli->use_agent && virt__list(v, &list) >= 0 &&
	    (vm = vm_list__find_name(&list, cli->name)) && vm->channel_path[0] &&
	    !str_copy(cli->agent.path, vm->channel_path, sizeof(cli->agent.path)))
		actuate__set_agent(a, cli_agent_set_cpus, &cli->agent);
	vm_list__free(&list);

	err = actuate__vcpus(a, v, cli->name, (int)cli->vcpus, -1, cli->reason, &r);
	ret = report(&r, err, cli->json);
	if (!cli->json && cli->agent.cpus_online >= 0)
		printf("%s: the guest reports %d CPUs online\n", cli->name, cli->agent.cpus_online);
	return ret;
}

int do_act(int argc, char **argv)
{
	struct act_cli cli = {
		.reason = "manual",
		.agent = { .timeout_ms = 10000, .cpus_online = -1 },
		.use_agent = true,
	};
	struct actuate *a = NULL;
	struct virt *v = NULL;
	int ret;

	if (act_parse(argc, argv, &cli, &ret))
		return ret;
	ret = 2;
	a = actuate__new(&cli.aopts);
	if (!a) {
		log_error("cannot open action log '%s': %s",
			  cli.aopts.log_path ? cli.aopts.log_path : "", strerror(errno));
		goto cleanup;
	}
	ret = 1;
	v = virt__open(&cli.vopts);
	if (!v) {
		log_error("cannot start libvirt: %s", strerror(errno));
		goto cleanup;
	}
	if (!virt__connected(v))
		log_error("cannot connect to '%s': %s", virt__uri(v), virt__last_error(v));
	ret = 0;
	if (cli.has_mem)
		ret |= act_memory(&cli, a, v);
	if (cli.has_vcpus)
		ret |= act_vcpus(&cli, a, v);
cleanup:
	actuate__free(a);
	virt__close(v);
	return ret;
}
