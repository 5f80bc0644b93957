// SPDX-License-Identifier: GPL-2.0
/*
 * kvmpilot-agent: runs inside the guest, sends one sample per interval to
 * the host and answers the host's commands, over the virtio-serial port
 * named org.kvmpilot.agent.0 or, for guests without one, over TCP.
 *
 * The port is opened once and kept open: every open/close makes libvirtd
 * rewrite the domain status. While no host is connected the port reports
 * POLLHUP and writes would block, so samples are dropped (and counted)
 * until the host comes back; only a real error reopens the port.
 */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <arpa/inet.h>
#include <netinet/in.h>
#include <poll.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include "agentproto.h"
#include "cmd.h"
#include "agent_sample.h"
#include "util.h"

enum transport_kind {
	T_PORT,
	T_TCP,
	T_STDIO,
};

struct agent {
	enum transport_kind kind;
	const char *port_name;
	const char *proc_root;
	const char *sys_root;
	const char *dev_root;
	char tcp_host[256];
	char tcp_port[16];
	uint32_t interval_ms;
	uint32_t watch_ms; /* memory checked this often between samples (0: never) */
	uint64_t count;	   /* stop after this many samples sent (0: never) */
	int verbose;

	int fd;
	int host_up;
	uint64_t retry_at_ms;
	uint64_t backoff_ms;
	uint64_t hup_until_ms; /* port reported POLLHUP: don't poll it again before this */
	uint64_t paused_until_ms;
	char in[AGENTPROTO_MAX_LINE];
	size_t in_len;
	int in_discard; /* dropping the rest of an over-long line */
	char out[4 * AGENTPROTO_MAX_LINE];
	size_t out_len;
	uint64_t sent, dropped, bad_cmds;
	uint64_t sent_used_kb; /* MemTotal - MemAvailable of the last sample sent */
	uint64_t early;	       /* samples sent early on a rise of it */
};

/* A rise of used memory that is sent at once rather than at the next interval. */
#define WATCH_RISE_MIN_KB (32 * 1024)

static volatile sig_atomic_t stop;

static void on_signal(int sig)
{
	(void)sig;
	stop = 1;
}

static void say(const char *fmt, ...) __attribute__((format(printf, 1, 2)));

static void say(const char *fmt, ...)
{
	va_list ap;

	fputs("kvmpilot-agent: ", stderr);
	va_start(ap, fmt);
	vfprintf(stderr, fmt, ap);
	va_end(ap);
	fputc('\n', stderr);
}

static uint64_t mono_ms(void)
{
	struct timespec ts;

	(void)clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000 + (uint64_t)ts.tv_nsec / 1000000;
}

/* /sys/class/virtio-ports/vportNpM/name holds the channel name given in the domain XML. */
static int find_port(const struct agent *a, char *dev, size_t size)
{
	char dir[AGENT_PATH_MAX], path[AGENT_PATH_MAX + 300], name[128];
	struct dirent *de;
	DIR *d;
	int err = -ENOENT;

	(void)snprintf(dir, sizeof(dir), "%s/class/virtio-ports", a->sys_root);
	d = opendir(dir);
	if (!d)
		return -errno;
	while ((de = readdir(d))) {
		ssize_t n;
		int fd;

		if (de->d_name[0] == '.')
			continue;
		(void)snprintf(path, sizeof(path), "%s/%s/name", dir, de->d_name);
		fd = open(path, O_RDONLY | O_CLOEXEC);
		if (fd < 0)
			continue;
		n = read(fd, name, sizeof(name) - 1);
		(void)close(fd);
		if (n <= 0)
			continue;
		name[n] = '\0';
		name[strcspn(name, "\n")] = '\0';
		if (strcmp(name, a->port_name))
			continue;
		n = snprintf(dev, size, "%s/%s", a->dev_root, de->d_name);
		err = n < 0 || (size_t)n >= size ? -ENAMETOOLONG : 0;
		break;
	}
	(void)closedir(d);
	return err;
}

/* Numeric addresses only: a static binary cannot use NSS, and the guest has no resolver. */
static int open_tcp(const struct agent *a)
{
	struct sockaddr_storage ss = { 0 };
	struct sockaddr_in *in4 = (struct sockaddr_in *)&ss;
	struct sockaddr_in6 *in6 = (struct sockaddr_in6 *)&ss;
	uint16_t port = (uint16_t)atoi(a->tcp_port);
	socklen_t alen, len = sizeof(int);
	struct pollfd pfd;
	int fd, err, soerr = 0;

	if (inet_pton(AF_INET, a->tcp_host, &in4->sin_addr) == 1) {
		in4->sin_family = AF_INET;
		in4->sin_port = htons(port);
		alen = sizeof(*in4);
	} else if (inet_pton(AF_INET6, a->tcp_host, &in6->sin6_addr) == 1) {
		in6->sin6_family = AF_INET6;
		in6->sin6_port = htons(port);
		alen = sizeof(*in6);
	} else {
		return -EINVAL;
	}
	fd = socket(ss.ss_family, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
	if (fd < 0)
		return -errno;
	if (!connect(fd, (struct sockaddr *)&ss, alen))
		return fd;
	err = -errno;
	if (err == -EINPROGRESS) {
		pfd.fd = fd;
		pfd.events = POLLOUT;
		if (poll(&pfd, 1, 2000) == 1 &&
		    !getsockopt(fd, SOL_SOCKET, SO_ERROR, &soerr, &len) && !soerr)
			return fd;
		err = soerr ? -soerr : -ETIMEDOUT;
	}
	(void)close(fd);
	return err;
}

static int transport_open(struct agent *a)
{
	char dev[AGENT_PATH_MAX + 300];
	int fd, err;

	if (a->kind == T_STDIO) {
		a->fd = STDIN_FILENO;
		a->host_up = 1;
		return 0;
	}
	if (a->kind == T_TCP) {
		fd = open_tcp(a);
		if (fd < 0)
			return fd;
	} else {
		err = find_port(a, dev, sizeof(dev));
		if (err)
			return err;
		fd = open(dev, O_RDWR | O_NONBLOCK | O_CLOEXEC | O_NOCTTY);
		if (fd < 0)
			return -errno;
	}
	a->fd = fd;
	a->host_up = 1;
	a->in_len = 0;
	a->in_discard = 0;
	a->out_len = 0;
	return 0;
}

static void transport_close(struct agent *a, const char *why)
{
	if (a->fd >= 0 && a->kind != T_STDIO)
		(void)close(a->fd);
	a->fd = -1;
	a->host_up = 0;
	if (a->backoff_ms < 500)
		a->backoff_ms = 500;
	else if (a->backoff_ms < 8000)
		a->backoff_ms *= 2;
	a->retry_at_ms = mono_ms() + a->backoff_ms;
	say("transport closed (%s), retrying in %llu ms", why, (unsigned long long)a->backoff_ms);
}

static int out_fd(const struct agent *a)
{
	return a->kind == T_STDIO ? STDOUT_FILENO : a->fd;
}

/* Write what is buffered; returns 0 when all is out, -EAGAIN when some is left, or -errno. */
static int flush_out(struct agent *a)
{
	while (a->out_len) {
		ssize_t n = write(out_fd(a), a->out, a->out_len);

		if (n < 0) {
			if (errno == EINTR)
				continue;
			return errno == EWOULDBLOCK ? -EAGAIN : -errno;
		}
		memmove(a->out, a->out + n, a->out_len - (size_t)n);
		a->out_len -= (size_t)n;
	}
	return 0;
}

/* Queue one line; a line that does not fit (host not reading) is dropped whole. */
static int send_line(struct agent *a, const char *line, size_t len)
{
	int err;

	if (a->fd < 0)
		return -ENOTCONN;
	(void)flush_out(a);
	if (a->out_len + len > sizeof(a->out))
		return -ENOBUFS;
	memcpy(a->out + a->out_len, line, len);
	a->out_len += len;
	err = flush_out(a);
	if (err == -EAGAIN && a->kind == T_PORT && !a->host_up) {
		/* Nobody listens: drop rather than deliver a stale sample later. */
		a->out_len = 0;
		return -ENOTCONN;
	}
	return err == -EAGAIN ? 0 : err;
}

static int send_sample(struct agent *a, struct agent_sampler *sp)
{
	char line[AGENTPROTO_MAX_LINE];
	struct agent_sample s;
	int n, err;

	err = agent_sampler__take(sp, mono_ms(), &s);
	if (err)
		return err;
	n = agentproto__format_sample(line, sizeof(line), &s);
	if (n < 0)
		return n;
	err = send_line(a, line, (size_t)n);
	if (err) {
		a->dropped++;
		return err;
	}
	a->sent++;
	a->sent_used_kb = s.mem_total_kb > s.mem_avail_kb ? s.mem_total_kb - s.mem_avail_kb : 0;
	return 0;
}

/*
 * Between samples: has used memory (MemTotal - MemAvailable) risen since the
 * last sample sent by max(32 MiB, MemTotal / 32)? A guest allocating fast then
 * reports within watch_ms instead of up to a whole interval later, so the
 * host can grow its balloon before it runs out. (A balloon taking memory
 * back lowers MemTotal and MemAvailable together: not a rise.)
 */
static bool mem_rising(const struct agent *a)
{
	struct meminfo m;
	uint64_t used;

	if (!a->sent || agent_read_meminfo(a->proc_root, &m) || m.avail_kb > m.total_kb)
		return false;
	used = m.total_kb - m.avail_kb;
	return used >= a->sent_used_kb + WATCH_RISE_MIN_KB &&
	       used - a->sent_used_kb >= m.total_kb / 32;
}

static void handle_line(struct agent *a, const char *line, size_t len, int *report_now)
{
	char out[AGENTPROTO_MAX_LINE];
	struct agentproto_msg msg;
	enum agentproto_reject why;
	struct agent_ack ack;
	int n;

	if (agentproto__parse(line, len, false, &msg, &why)) {
		a->bad_cmds++;
		if (a->bad_cmds <= 10)
			say("rejected a host line (%s)", agentproto__reject_name(why));
		return;
	}
	agent_handle_cmd(a->sys_root, &msg.cmd, &ack);
	if (msg.cmd.op == AGENT_OP_REPORT_NOW)
		*report_now = 1;
	if (msg.cmd.op == AGENT_OP_PAUSE)
		a->paused_until_ms = msg.cmd.arg ? mono_ms() + msg.cmd.arg * 1000ull : 0;
	if (a->verbose || ack.rc)
		say("command id=%u op=%s arg=%u rc=%d online=%u", msg.cmd.id,
		    agentproto__op_name(msg.cmd.op), msg.cmd.arg, ack.rc, ack.cpus_online);
	n = agentproto__format_ack(out, sizeof(out), &ack);
	if (n > 0)
		(void)send_line(a, out, (size_t)n);
}

/* Read what the host sent and act on complete lines; returns 0, -EPIPE (EOF) or -errno. */
static int read_input(struct agent *a, int *report_now)
{
	char buf[4096];
	ssize_t n;

	n = read(a->fd, buf, sizeof(buf));
	if (n < 0)
		return errno == EAGAIN || errno == EINTR ? 0 : -errno;
	if (n == 0)
		return -EPIPE;
	for (ssize_t i = 0; i < n; i++) {
		if (buf[i] == '\n') {
			if (!a->in_discard)
				handle_line(a, a->in, a->in_len, report_now);
			a->in_len = 0;
			a->in_discard = 0;
		} else if (a->in_discard) {
			continue;
		} else if (a->in_len == sizeof(a->in) - 1) {
			a->in_discard = 1;
			a->bad_cmds++;
		} else {
			a->in[a->in_len++] = buf[i];
		}
	}
	return 0;
}

static void usage(FILE *f)
{
	fprintf(f,
		"Usage: kvmpilot-agent [OPTIONS]\n"
		"Send memory, CPU, disk and network samples to the kvmpilot host and carry\n"
		"out its commands (set online CPUs, report now).\n\n"
		"  --interval MS      time between samples (default 1000)\n"
		"  --watch-ms MS      check memory this often, send at once when used (MemTotal -\n"
		"                     MemAvailable) rose by max(32 MiB, MemTotal/32) (default 100,\n"
		"                     0: never)\n"
		"  --port NAME        virtio-serial port name (default " AGENTPROTO_CHANNEL ")\n"
		"  --tcp ADDR:PORT    send over TCP (numeric address) instead of the virtio-serial port\n"
		"  --stdio            samples to stdout, commands from stdin\n"
		"  --count N          exit after N samples were sent\n"
		"  --proc-root DIR    procfs location (default /proc)\n"
		"  --sys-root DIR     sysfs location (default /sys)\n"
		"  --dev-root DIR     where vportNpM nodes are (default /dev)\n"
		"  --verbose          log every command\n"
		"  --version          print the agent version\n");
}

static int parse_args(struct agent *a, int argc, char **argv)
{
	static const struct option lopts[] = {
		{ "interval", required_argument, NULL, 'i' },
		{ "watch-ms", required_argument, NULL, 'w' },
		{ "port", required_argument, NULL, 'p' },
		{ "tcp", required_argument, NULL, 't' },
		{ "stdio", no_argument, NULL, 's' },
		{ "count", required_argument, NULL, 'c' },
		{ "proc-root", required_argument, NULL, 'P' },
		{ "sys-root", required_argument, NULL, 'S' },
		{ "dev-root", required_argument, NULL, 'D' },
		{ "verbose", no_argument, NULL, 'v' },
		{ "version", no_argument, NULL, 'V' },
		{ "help", no_argument, NULL, 'h' },
		{},
	};
	const char *colon;
	char msg[160];
	uint64_t v;
	int c;

	while ((c = getopt_long(argc, argv, "hv", lopts, NULL)) != -1) {
		switch (c) {
		case 'i':
			if (opt_u64("interval", optarg, 10, 3600000, &v, msg, sizeof(msg))) {
				say("%s", msg);
				return 2;
			}
			a->interval_ms = (uint32_t)v;
			break;
		case 'w':
			if (opt_u64("watch-ms", optarg, 0, 3600000, &v, msg, sizeof(msg))) {
				say("%s", msg);
				return 2;
			}
			a->watch_ms = (uint32_t)v;
			break;
		case 'p':
			a->port_name = optarg;
			break;
		case 't':
			colon = strrchr(optarg, ':');
			if (!colon || colon == optarg ||
			    (size_t)(colon - optarg) >= sizeof(a->tcp_host) ||
			    parse_u64(colon + 1, 1, 65535, &v)) {
				say("invalid address '%s' (want HOST:PORT)", optarg);
				return 2;
			}
			memcpy(a->tcp_host, optarg, (size_t)(colon - optarg));
			a->tcp_host[colon - optarg] = '\0';
			(void)snprintf(a->tcp_port, sizeof(a->tcp_port), "%llu",
				       (unsigned long long)v);
			a->kind = T_TCP;
			break;
		case 's':
			a->kind = T_STDIO;
			break;
		case 'c':
			if (opt_u64("count", optarg, 1, 1ull << 40, &v, msg, sizeof(msg))) {
				say("%s", msg);
				return 2;
			}
			a->count = v;
			break;
		case 'P':
			a->proc_root = optarg;
			break;
		case 'S':
			a->sys_root = optarg;
			break;
		case 'D':
			a->dev_root = optarg;
			break;
		case 'v':
			a->verbose = 1;
			break;
		case 'V':
			printf("kvmpilot-agent " AGENT_VERSION " (protocol %d)\n",
			       AGENTPROTO_VERSION);
			return 0;
		case 'h':
			usage(stdout);
			return 0;
		default:
			usage(stderr);
			return 2;
		}
	}
	if (optind < argc) {
		say("unexpected argument '%s'", argv[optind]);
		return 2;
	}
	return -1;
}

/* Never block on the entropy pool at boot: the id only has to differ between runs. */
static uint32_t random_boot_id(void)
{
	uint32_t id = 0;
	struct timespec ts;

	if (getrandom(&id, sizeof(id), GRND_NONBLOCK) != sizeof(id)) {
		(void)clock_gettime(CLOCK_REALTIME, &ts);
		id = (uint32_t)ts.tv_nsec ^ (uint32_t)ts.tv_sec ^ ((uint32_t)getpid() << 16);
	}
	return id ? id : 1;
}

/* When the loop does its next timed step; what it last said, so it is not repeated. */
struct loop {
	uint64_t next_ms;  /* next sample due */
	uint64_t watch_ms; /* next memory check (with --watch-ms) */
	int last_err;	   /* last error opening the transport, logged once */
};

static void catch_signals(void)
{
	struct sigaction sa = { .sa_handler = on_signal };

	(void)sigaction(SIGINT, &sa, NULL);
	(void)sigaction(SIGTERM, &sa, NULL);
	(void)signal(SIGPIPE, SIG_IGN);
}

/* Without a transport, try again once the backoff has passed. */
static void step_open(struct agent *a, struct loop *l, uint64_t now)
{
	int err;

	if (a->fd >= 0 || now < a->retry_at_ms)
		return;
	err = transport_open(a);
	if (err) {
		if (err != l->last_err)
			say("cannot open the transport: %s", strerror(-err));
		l->last_err = err;
		transport_close(a, strerror(-err));
		return;
	}
	say("transport open (%s)", a->kind == T_TCP    ? "tcp"
				   : a->kind == T_PORT ? a->port_name
						       : "stdio");
	l->last_err = 0;
	a->backoff_ms = 0;
}

/* Between samples: bring the next one forward when used memory rose. */
static void step_watch(struct agent *a, struct loop *l, uint64_t now)
{
	if (!a->watch_ms || now < l->watch_ms)
		return;
	if (now < l->next_ms && a->fd >= 0 && now >= a->paused_until_ms && mem_rising(a)) {
		l->next_ms = now;
		a->early++;
	}
	l->watch_ms = now + a->watch_ms;
}

/* Send the sample that is due, if any; returns true once --count samples were sent. */
static bool step_sample(struct agent *a, struct agent_sampler *sp, struct loop *l, uint64_t now)
{
	int err;

	if (now < l->next_ms)
		return false;
	if (a->fd >= 0 && now >= a->paused_until_ms) {
		err = send_sample(a, sp);
		if (err == -EPIPE || err == -ECONNRESET || err == -EIO || err == -ENODEV ||
		    err == -EBADF)
			transport_close(a, strerror(-err));
		else if (err && err != -ENOTCONN && err != -ENOBUFS &&
			 (a->verbose || a->sent + a->dropped < 3))
			say("sample not sent: %s", strerror(-err));
		if (a->count && a->sent >= a->count)
			return true;
	}
	l->next_ms += a->interval_ms;
	if (l->next_ms <= now)
		l->next_ms = now + a->interval_ms;
	return false;
}

/* What to poll (nothing while the port is in its POLLHUP pause) and until when. */
static int poll_setup(const struct agent *a, const struct loop *l, uint64_t now, struct pollfd *pfd)
{
	int timeout;

	if (a->fd >= 0 && now >= a->hup_until_ms) {
		pfd->fd = a->fd;
		pfd->events = POLLIN | (a->out_len ? POLLOUT : 0);
	}
	timeout = (int)(l->next_ms - now);
	if (a->watch_ms && l->watch_ms > now && l->watch_ms < l->next_ms)
		timeout = (int)(l->watch_ms - now);
	if (a->fd < 0 && a->retry_at_ms > now && a->retry_at_ms < l->next_ms)
		timeout = (int)(a->retry_at_ms - now);
	if (pfd->fd < 0 && a->fd >= 0 && a->hup_until_ms > now && a->hup_until_ms < l->next_ms)
		timeout = (int)(a->hup_until_ms - now);
	return timeout;
}

/* Act on what poll() reported for the transport: commands in, output out, hang-ups. */
static void step_events(struct agent *a, struct loop *l, short revents)
{
	int report_now = 0, err;

	if (revents & POLLIN) {
		err = read_input(a, &report_now);
		if (err == -EPIPE && a->kind == T_STDIO) {
			/* No more commands; keep sending samples. */
			a->hup_until_ms = UINT64_MAX;
			return;
		} else if (err == -EPIPE && a->kind == T_PORT) {
			/* The host closed its end; keep the port and wait. */
			revents |= POLLHUP;
		} else if (err) {
			transport_close(a, err == -EPIPE ? "closed by the peer" : strerror(-err));
			return;
		}
	}
	if (revents & POLLOUT)
		(void)flush_out(a);
	if (revents & (POLLHUP | POLLERR | POLLNVAL)) {
		if (a->kind != T_PORT || (revents & POLLNVAL)) {
			transport_close(a, "hang-up");
			return;
		}
		/* virtio-serial: POLLHUP while no host is connected. */
		if (a->host_up)
			say("host disconnected from the port");
		a->host_up = 0;
		a->out_len = 0;
		a->hup_until_ms = mono_ms() + 200;
	} else if (!a->host_up && a->kind == T_PORT) {
		say("host connected to the port");
		a->host_up = 1;
	}
	if (report_now)
		l->next_ms = mono_ms();
}

/* Until a signal, --count samples or a failed poll(). */
static void run_loop(struct agent *a, struct agent_sampler *sp)
{
	struct loop l = { .next_ms = mono_ms() };
	int ret;

	l.watch_ms = l.next_ms;
	while (!stop) {
		uint64_t now = mono_ms();
		struct pollfd pfd = { .fd = -1 };

		step_open(a, &l, now);
		step_watch(a, &l, now);
		if (step_sample(a, sp, &l, now))
			break;
		ret = poll(&pfd, 1, poll_setup(a, &l, now, &pfd));
		if (ret < 0) {
			if (errno == EINTR)
				continue;
			say("poll failed: %s", strerror(errno));
			break;
		}
		if (ret > 0 && pfd.fd >= 0)
			step_events(a, &l, pfd.revents);
	}
}

static void shut_down(struct agent *a)
{
	say("stopping: %llu samples sent (%llu early on a rise of used memory), %llu dropped, "
	    "%llu bad commands",
	    (unsigned long long)a->sent, (unsigned long long)a->early,
	    (unsigned long long)a->dropped, (unsigned long long)a->bad_cmds);
	if (a->fd >= 0 && a->kind != T_STDIO) {
		(void)flush_out(a);
		(void)close(a->fd);
	}
}

int main(int argc, char **argv)
{
	struct agent a = {
		.kind = T_PORT,
		.port_name = AGENTPROTO_CHANNEL,
		.proc_root = "/proc",
		.sys_root = "/sys",
		.dev_root = "/dev",
		.interval_ms = 1000,
		.watch_ms = 100,
		.fd = -1,
	};
	struct agent_sampler sp;
	int ret;

	ret = parse_args(&a, argc, argv);
	if (ret >= 0)
		return ret;
	catch_signals();
	agent_sampler__init(&sp, a.proc_root, a.sys_root, a.interval_ms, random_boot_id());
	say("version " AGENT_VERSION " starting, interval %u ms, boot id %u", a.interval_ms,
	    sp.boot);
	run_loop(&a, &sp);
	shut_down(&a);
	return 0;
}
