// SPDX-License-Identifier: GPL-2.0
/* kvmpilot agent: talk to one VM's guest agent through its channel socket. */
#include <errno.h>
#include <getopt.h>
#include <poll.h>
#include <signal.h>
#include <stdarg.h>
#include <arpa/inet.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <json-c/json.h>

#include "channel.h"
#include "cli.h"
#include "cmds.h"
#include "kvmpilot.h"
#include "util.h"
#include "virt.h"

#define NS_PER_MS 1000000ull

static volatile sig_atomic_t agent_stop;

static void on_sigint(int sig)
{
	(void)sig;
	agent_stop = 1;
}

static void usage(FILE *f)
{
	fprintf(f,
		"Usage: kvmpilot agent NAME|--socket PATH|--listen ADDR:PORT [OPTIONS]\n"
		"Read a VM's guest agent samples, or send it a command.\n\n"
		"  NAME              libvirt domain; its '" AGENTPROTO_CHANNEL "' channel is used\n"
		"  --socket PATH     the channel's unix socket instead of a domain name\n"
		"  --listen ADDR:PORT  wait for an agent in TCP mode (kvmpilot-agent --tcp)\n"
		"  --uri URI         libvirt connection (default " KVMPILOT_DEFAULT_URI ")\n"
		"  --count N         exit after N samples (default: until interrupted,\n"
		"                    0 with a command: only the ack)\n"
		"  --json            one JSON object per line\n"
		"  --set-cpus N      make N guest CPUs online and print the ack\n"
		"  --report-now      ask for a sample right away\n"
		"  --pause S         ask the agent to stay silent for S seconds\n"
		"  --timeout S       give up after S seconds without what we wait for (30)\n"
		"  --help            this text\n"
		"Only one client can use a channel at a time; stop 'kvmpilot run' first.\n");
}

static int print_error(bool json, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

static int print_error(bool json, const char *fmt, ...)
{
	char msg[512];
	va_list ap;

	va_start(ap, fmt);
	(void)vsnprintf(msg, sizeof(msg), fmt, ap);
	va_end(ap);
	if (json) {
		struct json_object *o = json_object_new_object();

		json_object_object_add(o, "error", json_object_new_string(msg));
		printf("%s\n", json_object_to_json_string_ext(
				       o, JSON_C_TO_STRING_PLAIN | JSON_C_TO_STRING_NOSLASHESCAPE));
		json_object_put(o);
	} else {
		log_error("%s", msg);
	}
	return 1;
}

static int resolve_socket(const char *uri, const char *name, char *path, size_t size, char *errbuf,
			  size_t errsize)
{
	char why[256];
	int err = virt__channel_path(uri, name, AGENTPROTO_CHANNEL, path, size, why, sizeof(why));

	switch (err) {
	case 0:
		break;
	case -ECONNREFUSED:
		snprintf(errbuf, errsize, "cannot connect to '%s': %s", uri, why);
		break;
	case -ENOENT:
		snprintf(errbuf, errsize, "no domain '%s': %s", name, why);
		break;
	case -EIO:
		snprintf(errbuf, errsize, "cannot read the XML of '%s': %s", name, why);
		break;
	default:
		snprintf(errbuf, errsize, "domain '%s' has no '%s' unix channel%s", name,
			 AGENTPROTO_CHANNEL, err == -E2BIG ? " with a usable path" : "");
		break;
	}
	return err;
}

/* Wait for one agent in TCP mode (--tcp ADDR:PORT in the guest) to connect. */
static int accept_tcp(const char *spec, uint64_t timeout_ms, char *peer, size_t peer_size,
		      char *errbuf, size_t errsize)
{
	struct sockaddr_storage ss = { 0 }, from;
	struct sockaddr_in *in4 = (struct sockaddr_in *)&ss;
	struct sockaddr_in6 *in6 = (struct sockaddr_in6 *)&ss;
	socklen_t alen, flen = sizeof(from);
	char host[INET6_ADDRSTRLEN + 2], addr[INET6_ADDRSTRLEN];
	const char *colon = strrchr(spec, ':');
	struct pollfd pfd;
	uint64_t port;
	int lfd = -1, cfd = -1, one = 1, err = -EINVAL;
	size_t hl;

	if (!colon || parse_u64(colon + 1, 1, 65535, &port)) {
		snprintf(errbuf, errsize, "invalid --listen '%s' (want ADDR:PORT)", spec);
		goto cleanup;
	}
	hl = (size_t)(colon - spec);
	if (hl >= 2 && spec[0] == '[' && spec[hl - 1] == ']') {
		spec++;
		hl -= 2;
	}
	if (hl >= sizeof(host)) {
		snprintf(errbuf, errsize, "invalid --listen address '%s'", spec);
		goto cleanup;
	}
	memcpy(host, spec, hl);
	host[hl] = '\0';
	if (inet_pton(AF_INET, host, &in4->sin_addr) == 1) {
		in4->sin_family = AF_INET;
		in4->sin_port = htons((uint16_t)port);
		alen = sizeof(*in4);
	} else if (inet_pton(AF_INET6, host, &in6->sin6_addr) == 1) {
		in6->sin6_family = AF_INET6;
		in6->sin6_port = htons((uint16_t)port);
		alen = sizeof(*in6);
	} else {
		snprintf(errbuf, errsize, "invalid --listen address '%s' (numeric only)", host);
		goto cleanup;
	}
	lfd = socket(ss.ss_family, SOCK_STREAM | SOCK_CLOEXEC, 0);
	if (lfd < 0 || setsockopt(lfd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one)) ||
	    bind(lfd, (struct sockaddr *)&ss, alen) || listen(lfd, 1)) {
		err = -errno;
		snprintf(errbuf, errsize, "cannot listen on '%s': %s", spec, strerror(-err));
		goto cleanup;
	}
	pfd.fd = lfd;
	pfd.events = POLLIN;
	for (;;) {
		int r = poll(&pfd, 1, (int)timeout_ms);

		if (r < 0 && errno == EINTR && !agent_stop)
			continue;
		if (r <= 0) {
			err = r < 0 ? -errno : -ETIMEDOUT;
			snprintf(errbuf, errsize, "no agent connected to '%s' within %llu s", spec,
				 (unsigned long long)(timeout_ms / 1000));
			goto cleanup;
		}
		break;
	}
	cfd = accept4(lfd, (struct sockaddr *)&from, &flen, SOCK_CLOEXEC);
	if (cfd < 0) {
		err = -errno;
		snprintf(errbuf, errsize, "accept on '%s' failed: %s", spec, strerror(-err));
		goto cleanup;
	}
	if (from.ss_family == AF_INET)
		inet_ntop(AF_INET, &((struct sockaddr_in *)&from)->sin_addr, addr, sizeof(addr));
	else
		inet_ntop(AF_INET6, &((struct sockaddr_in6 *)&from)->sin6_addr, addr, sizeof(addr));
	snprintf(peer, peer_size, "tcp:%s", addr);
	err = cfd;
	cfd = -1;
cleanup:
	if (cfd >= 0)
		(void)close(cfd);
	if (lfd >= 0)
		(void)close(lfd);
	return err;
}

static void print_sample(const char *vm, const struct agent_sample *s, uint64_t age_ns, bool json)
{
	if (json) {
		struct json_object *o = channel__sample_json(s, age_ns);

		if (!o)
			return;
		json_object_object_add(o, "vm", json_object_new_string(vm));
		printf("%s\n", json_object_to_json_string_ext(
				       o, JSON_C_TO_STRING_PLAIN | JSON_C_TO_STRING_NOSLASHESCAPE));
		json_object_put(o);
	} else {
		printf("%s seq=%llu mem_total=%lluMiB available=%lluMiB free=%lluMiB cached=%lluMiB "
		       "swap_used=%lluMiB cpu=%.1f%% cpus=%u/%u",
		       vm, (unsigned long long)s->seq, (unsigned long long)s->mem_total_kb / 1024,
		       (unsigned long long)s->mem_avail_kb / 1024,
		       (unsigned long long)s->mem_free_kb / 1024,
		       (unsigned long long)s->cached_kb / 1024,
		       (unsigned long long)s->swap_used_kb / 1024, s->cpu_busy / 100.0,
		       s->cpus_online, s->cpus_present);
		if (s->present & AGENT_HAS_PSI_MEM)
			printf(" psi_mem=%.2f/%.2f", s->psi_mem_some / 100.0,
			       s->psi_mem_full / 100.0);
		if (s->present & AGENT_HAS_PSI_CPU)
			printf(" psi_cpu=%.2f", s->psi_cpu_some / 100.0);
		printf(" agent=%s\n", s->version);
	}
	fflush(stdout);
}

static void print_ack(const struct agent_ack *ack, bool json)
{
	if (json) {
		struct json_object *o = json_object_new_object();

		json_object_object_add(o, "ack", json_object_new_int64(ack->id));
		json_object_object_add(o, "op",
				       json_object_new_string(agentproto__op_name(ack->op)));
		json_object_object_add(o, "rc", json_object_new_int(ack->rc));
		if (ack->rc)
			json_object_object_add(o, "error",
					       json_object_new_string(strerror(-ack->rc)));
		if (ack->cpus_online) {
			json_object_object_add(o, "cpus_online",
					       json_object_new_int64(ack->cpus_online));
			json_object_object_add(o, "cpus_present",
					       json_object_new_int64(ack->cpus_present));
		}
		printf("%s\n", json_object_to_json_string_ext(
				       o, JSON_C_TO_STRING_PLAIN | JSON_C_TO_STRING_NOSLASHESCAPE));
		json_object_put(o);
	} else {
		printf("ack %s rc=%d (%s) cpus=%u/%u\n", agentproto__op_name(ack->op), ack->rc,
		       ack->rc ? strerror(-ack->rc) : "ok", ack->cpus_online, ack->cpus_present);
	}
	fflush(stdout);
}

struct printer {
	const char *vm;
	bool json;
	bool armed;	/* samples count only once a command is done, so they show its effect */
	long long left; /* -1: unlimited */
	long long printed;
};

static void on_sample(void *ctx, const struct agent_sample *s, uint64_t recv_ns)
{
	struct printer *pr = ctx;

	if (!pr->armed || !pr->left)
		return;
	print_sample(pr->vm, s, now_mono_ns() - recv_ns, pr->json);
	pr->printed++;
	if (pr->left > 0)
		pr->left--;
}

/* Samples after the ack in the stream show the command's effect: print from there. */
static void on_ack(void *ctx, const struct agent_ack *ack)
{
	struct printer *pr = ctx;

	print_ack(ack, pr->json);
	if (!ack->rc)
		pr->armed = true;
}

struct agent_args {
	const char *name;
	const char *socket;
	const char *listen;
	const char *uri;
	long long count; /* -1: unlimited */
	bool json;
	enum agent_op op;
	uint32_t arg;
	uint64_t timeout_ms;
};

static int parse_agent_args(struct agent_args *a, int argc, char **argv)
{
	static const struct option lopts[] = {
		{ "socket", required_argument, NULL, 's' },
		{ "listen", required_argument, NULL, 'l' },
		{ "uri", required_argument, NULL, 'u' },
		{ "count", required_argument, NULL, 'c' },
		{ "json", no_argument, NULL, 'j' },
		{ "set-cpus", required_argument, NULL, 'C' },
		{ "report-now", no_argument, NULL, 'r' },
		{ "pause", required_argument, NULL, 'p' },
		{ "timeout", required_argument, NULL, 't' },
		{ "help", no_argument, NULL, 'h' },
		{},
	};
	uint64_t v;
	int c;

	optind = 1;
	opterr = 0;
	while ((c = getopt_long(argc, argv, ":h", lopts, NULL)) != -1) {
		switch (c) {
		case 's':
			a->socket = optarg;
			break;
		case 'l':
			a->listen = optarg;
			break;
		case 'u':
			a->uri = optarg;
			break;
		case 'c':
			if (opt_u64("count", optarg, 0, 1000000000, &v, NULL, 0))
				return 2;
			a->count = (long long)v;
			break;
		case 'j':
			a->json = true;
			break;
		case 'C':
		case 'p':
			if (a->op != AGENT_OP_NONE) {
				log_error("give one command at a time");
				return 2;
			}
			if (c == 'C' ? opt_u64("set-cpus", optarg, 1, AGENTPROTO_MAX_CPUS, &v, NULL,
					       0)
				     : opt_u64("pause", optarg, 0, 3600, &v, NULL, 0))
				return 2;
			a->op = c == 'C' ? AGENT_OP_SET_CPUS : AGENT_OP_PAUSE;
			a->arg = (uint32_t)v;
			break;
		case 'r':
			if (a->op != AGENT_OP_NONE) {
				log_error("give one command at a time");
				return 2;
			}
			a->op = AGENT_OP_REPORT_NOW;
			break;
		case 't':
			if (opt_u64("timeout", optarg, 1, 86400, &v, NULL, 0))
				return 2;
			a->timeout_ms = v * 1000;
			break;
		case 'h':
			usage(stdout);
			return 0;
		default:
			return cli__bad_option(false, 2, "agent", c, argv[optind - 1]);
		}
	}
	if (optind < argc)
		a->name = argv[optind++];
	if (optind < argc || (!!a->name + !!a->socket + !!a->listen) != 1) {
		log_error("give one domain NAME, --socket PATH or --listen ADDR:PORT");
		usage(stderr);
		return 2;
	}
	if (a->count == 0 && a->op == AGENT_OP_NONE) {
		log_error("--count 0 only makes sense with a command");
		return 2;
	}
	if (a->count < 0)
		a->count = a->op == AGENT_OP_NONE || a->op == AGENT_OP_REPORT_NOW ? -1 : 0;
	if (a->op == AGENT_OP_REPORT_NOW && a->count < 0)
		a->count = 1;
	return -1;
}

/* One run of 'kvmpilot agent': the channel, what was asked, how far it got. */
struct session {
	struct agent_args a;
	struct channel *ch;
	const char *vm;
	char path[108];
	struct printer pr;
	struct ratelimit rl;
	uint64_t deadline;
	uint64_t seen_rejects;
	long long printed;
	bool cmd_sent, cmd_done;
	uint32_t cmd_id;
};

#define GO_ON (-1) /* a step's result when the session goes on; else the exit status */

/* The channel of --listen, --socket or the domain's; GO_ON or 1 after printing why. */
static int open_channel(struct session *s)
{
	static const struct channel_opts copts = {
		/* A VM that is still starting has no socket yet: retry quickly. */
		.reconnect_min_ns = 100 * NS_PER_MS,
		.reconnect_max_ns = 1000 * NS_PER_MS,
	};
	const struct agent_args *a = &s->a;
	char errbuf[512];

	if (a->listen) {
		int fd = accept_tcp(a->listen, a->timeout_ms, s->path, sizeof(s->path), errbuf,
				    sizeof(errbuf));

		if (fd < 0)
			return print_error(a->json, "%s", errbuf);
		s->vm = s->path;
		s->ch = channel__new_fd(fd, s->path, NULL);
		if (!s->ch)
			return print_error(a->json, "cannot use the connection from '%s': %s",
					   s->path, strerror(errno));
		return GO_ON;
	}
	if (a->socket) {
		if (str_copy(s->path, a->socket, sizeof(s->path)))
			return print_error(a->json, "socket path '%s' is too long", a->socket);
		s->vm = a->socket;
	} else {
		if (resolve_socket(a->uri, a->name, s->path, sizeof(s->path), errbuf,
				   sizeof(errbuf)))
			return print_error(a->json, "%s", errbuf);
		s->vm = a->name;
	}
	s->ch = channel__new(s->path, &copts);
	if (!s->ch)
		return print_error(a->json, "cannot use socket '%s': %s", s->path, strerror(errno));
	return GO_ON;
}

/* A socket never reached, an agent in TCP mode gone: 1 after printing why. */
static int check_link(struct session *s, uint64_t now, int polled)
{
	const struct channel_stats *st = channel__stats(s->ch);

	if (polled < 0 && !st->connects && now > s->deadline)
		return print_error(
			s->a.json, "cannot connect to '%s': %s", s->path,
			strerror(st->last_connect_error ? -st->last_connect_error : -polled));
	if (s->a.listen && !channel__connected(s->ch))
		return print_error(s->a.json, "the agent at '%s' disconnected", s->path);
	if (st->rejected > s->seen_rejects) {
		if (ratelimit__allow(&s->rl, now))
			log_warn("%s: rejected %llu line(s) from the guest, last: %s '%s'", s->vm,
				 (unsigned long long)(st->rejected - s->seen_rejects),
				 agentproto__reject_name(st->last_reject.why),
				 st->last_reject.excerpt);
		s->seen_rejects = st->rejected;
	}
	return GO_ON;
}

/* Send the command once connected, then wait for its ack. */
static int step_command(struct session *s, uint64_t now)
{
	const struct agent_args *a = &s->a;
	struct agent_ack ack;
	int err;

	if (s->cmd_done)
		return GO_ON;
	if (!s->cmd_sent) {
		if (!channel__connected(s->ch))
			return GO_ON;
		err = channel__send(s->ch, a->op, a->arg, now, &s->cmd_id);
		if (err)
			return print_error(a->json, "cannot send '%s': %s",
					   agentproto__op_name(a->op), strerror(-err));
		s->cmd_sent = true;
		s->deadline = now + a->timeout_ms * NS_PER_MS;
	}
	err = channel__result(s->ch, s->cmd_id, now, &ack);
	if (err == -EINPROGRESS)
		return GO_ON;
	if (err)
		return print_error(a->json, "no answer to '%s': %s", agentproto__op_name(a->op),
				   strerror(-err));
	s->cmd_done = true; /* printed by on_ack(), in stream order */
	if (ack.rc)
		return 1;
	if (!a->count)
		return 0;
	s->deadline = now + a->timeout_ms * NS_PER_MS;
	return GO_ON;
}

/* Samples printed push the deadline on; enough of them end the run, none by then fails it. */
static int step_samples(struct session *s, uint64_t now)
{
	const struct agent_args *a = &s->a;

	if (s->pr.printed > s->printed) {
		s->printed = s->pr.printed;
		s->deadline = now + a->timeout_ms * NS_PER_MS;
	}
	if (a->count > 0 && s->pr.printed >= a->count)
		return 0;
	if (now > s->deadline)
		return print_error(a->json,
				   "timed out after %llu s waiting for the agent on '%s'%s",
				   (unsigned long long)(a->timeout_ms / 1000), s->path,
				   channel__stats(s->ch)->bytes
					   ? ""
					   : " (no agent in the guest, or another client such as "
					     "'kvmpilot run' holds the channel)");
	return GO_ON;
}

static int run_session(struct session *s)
{
	int r = GO_ON;

	s->deadline = now_mono_ns() + s->a.timeout_ms * NS_PER_MS;
	while (!agent_stop) {
		uint64_t now = now_mono_ns();
		int polled = channel__poll(s->ch, now);
		struct pollfd pfd;

		r = check_link(s, now, polled);
		if (r == GO_ON)
			r = step_command(s, now);
		if (r == GO_ON)
			r = step_samples(s, now);
		if (r != GO_ON)
			return r;
		pfd.fd = channel__fd(s->ch);
		pfd.events = channel__events(s->ch);
		pfd.revents = 0;
		if (poll(&pfd, pfd.fd >= 0 ? 1 : 0, 100) < 0 && errno != EINTR)
			return print_error(s->a.json, "poll failed: %s", strerror(errno));
	}
	return 0; /* interrupted: a clean stop */
}

int do_agent(int argc, char **argv)
{
	struct sigaction sa = { .sa_handler = on_sigint };
	struct session s = {
		.a = { .uri = KVMPILOT_DEFAULT_URI, .count = -1, .timeout_ms = 30000 },
		.rl = RATELIMIT_INIT(5000 * NS_PER_MS, 5),
	};
	int ret;

	ret = parse_agent_args(&s.a, argc, argv);
	if (ret >= 0)
		return ret;
	ret = open_channel(&s);
	if (ret != GO_ON)
		return ret;
	(void)sigaction(SIGINT, &sa, NULL);
	(void)sigaction(SIGTERM, &sa, NULL);
	s.cmd_done = s.a.op == AGENT_OP_NONE;
	s.pr.vm = s.vm;
	s.pr.json = s.a.json;
	s.pr.armed = s.cmd_done;
	s.pr.left = s.a.count;
	channel__on_sample(s.ch, on_sample, &s.pr);
	channel__on_ack(s.ch, on_ack, &s.pr);
	ret = run_session(&s);
	channel__free(s.ch);
	return ret;
}
