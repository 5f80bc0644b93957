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

int do_act(int argc, char **argv)
{
	static const struct option longopts[] = {
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
	const uint64_t max_mib = 1ull << 30; /* 1 PiB: a typo guard */
	struct virt_opts vopts = { 0 };
	struct actuate_opts aopts = { 0 };
	struct act_mem_req req = { 0 };
	struct actuate *a = NULL;
	struct virt *v = NULL;
	const char *reason = "manual", *name;
	uint64_t mem = 0, vcpus = 0, val;
	struct cli_agent agent = { .timeout_ms = 10000, .cpus_online = -1 };
	bool json = false, has_mem = false, has_vcpus = false, use_agent = true;
	int c, err, ret = 2;

	optind = 1;
	while ((c = getopt_long(argc, argv, "h", longopts, NULL)) != -1) {
		switch (c) {
		case 'm':
		case 'M':
		case 'r':
			if (opt_u64(c == 'm'   ? "--memory MiB"
				    : c == 'M' ? "--min-memory MiB"
					       : "--reserve MiB",
				    optarg, 0, max_mib, &val, NULL, 0))
				return 2;
			if (c == 'm') {
				mem = val;
				has_mem = true;
			} else if (c == 'M') {
				req.min_kib = val * 1024;
			} else {
				req.reserve_kib = val * 1024;
			}
			break;
		case 'c':
			if (opt_u64("--vcpus", optarg, 1, 16384, &vcpus, NULL, 0))
				return 2;
			has_vcpus = true;
			break;
		case 'n':
			aopts.dry_run = true;
			break;
		case 'u':
			vopts.uri = optarg;
			break;
		case 'l':
			aopts.log_path = optarg;
			break;
		case 'R':
			reason = optarg;
			break;
		case 'U':
			aopts.allow_hv_unplug = true;
			break;
		case 'j':
			json = true;
			break;
		case 'A':
			use_agent = false;
			break;
		case 'T':
			if (opt_u64("--agent-timeout seconds", optarg, 1, 600, &val, NULL, 0))
				return 2;
			agent.timeout_ms = (unsigned int)val * 1000;
			break;
		case 'h':
			usage(stdout);
			return 0;
		default:
			usage(stderr);
			return 2;
		}
	}
	if (optind != argc - 1) {
		log_error("act needs exactly one domain name (see 'kvmpilot act --help')");
		return 2;
	}
	name = argv[optind];
	if (!has_mem && !has_vcpus) {
		log_error("nothing to do: give --memory and/or --vcpus");
		return 2;
	}
	if (!*reason) {
		log_error("--reason must not be empty");
		return 2;
	}
	a = actuate__new(&aopts);
	if (!a) {
		log_error("cannot open action log '%s': %s", aopts.log_path ? aopts.log_path : "",
			  strerror(errno));
		goto cleanup;
	}
	ret = 1;
	v = virt__open(&vopts);
	if (!v) {
		log_error("cannot start libvirt: %s", strerror(errno));
		goto cleanup;
	}
	if (!virt__connected(v))
		log_error("cannot connect to '%s': %s", virt__uri(v), virt__last_error(v));
	ret = 0;
	if (has_mem) {
		struct virt_memstats ms;
		struct act_record r;

		/* guest used = MemTotal - MemAvailable, as the balloon driver reports it */
		if (virt__connected(v) && !virt__memstats(v, name, &ms) &&
		    ms.available != UINT64_MAX && ms.usable != UINT64_MAX &&
		    ms.usable <= ms.available)
			req.guest_used_kib = ms.available - ms.usable;
		req.target_kib = mem * 1024;
		err = actuate__memory(a, v, name, &req, reason, &r);
		ret |= report(&r, err, json);
	}
	if (has_vcpus) {
		struct vm_list list = { 0 };
		const struct vm_desc *vm;
		struct act_record r;

		/* the agent of this domain, found by its channel in libvirt's XML */
		if (use_agent && virt__list(v, &list) >= 0 &&
		    (vm = vm_list__find_name(&list, name)) && vm->channel_path[0] &&
		    !str_copy(agent.path, vm->channel_path, sizeof(agent.path)))
			actuate__set_agent(a, cli_agent_set_cpus, &agent);
		vm_list__free(&list);

		err = actuate__vcpus(a, v, name, (int)vcpus, -1, reason, &r);
		ret |= report(&r, err, json);
		if (!json && agent.cpus_online >= 0)
			printf("%s: the guest reports %d CPUs online\n", name, agent.cpus_online);
	}
cleanup:
	actuate__free(a);
	virt__close(v);
	return ret;
}
