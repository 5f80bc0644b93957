// SPDX-License-Identifier: GPL-2.0
/* The host end of a VM's agent channel: connect, assemble lines, parse strictly, match acks. */
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#include <json-c/json.h>

#include "channel.h"
#include "util.h"

#define NS_PER_S     1000000000ull
#define MAX_PENDING  8
#define OUT_BUF_SIZE 4096

enum cmd_state {
	CMD_FREE = 0,
	CMD_PENDING,
	CMD_DONE,
	CMD_LOST,
	CMD_TIMED_OUT,
};

struct pending_cmd {
	enum cmd_state state;
	uint32_t id;
	enum agent_op op;
	uint64_t deadline_ns;
	struct agent_ack ack;
};

struct channel {
	char path[sizeof(((struct sockaddr_un *)0)->sun_path)];
	struct channel_opts opts;
	int fd;
	bool adopted; /* channel__new_fd(): no path, no reconnect */
	uint64_t retry_at_ns;
	uint64_t backoff_ns;

	char line[AGENTPROTO_MAX_LINE];
	size_t line_len;
	bool discarding; /* inside an over-long line, until its newline */

	/* flood control: token bucket over lines */
	double tokens;
	uint64_t tokens_at_ns;

	char out[OUT_BUF_SIZE];
	size_t out_len;

	struct agentproto_seq seq;
	bool have_sample;
	struct agent_sample latest;
	uint64_t latest_ns;

	channel_sample_fn on_sample;
	void *on_sample_ctx;
	channel_ack_fn on_ack;
	void *on_ack_ctx;

	uint32_t next_id;
	struct pending_cmd cmds[MAX_PENDING];
	struct channel_stats stats;
};

static const struct channel_opts default_opts = {
	.silent_after_ns = 5 * NS_PER_S,
	.max_lines_per_s = 20,
	.line_burst = 40,
	.cmd_timeout_ns = 5 * NS_PER_S,
	.reconnect_min_ns = NS_PER_S / 2,
	.reconnect_max_ns = 10 * NS_PER_S,
	.read_budget = 64 * 1024,
};

struct channel *channel__new(const char *socket_path, const struct channel_opts *opts)
{
	struct channel *ch;

	if (!socket_path || !*socket_path) {
		errno = EINVAL;
		return NULL;
	}
	ch = calloc(1, sizeof(*ch));
	if (!ch) {
		errno = ENOMEM;
		return NULL;
	}
	if (str_copy(ch->path, socket_path, sizeof(ch->path))) {
		free(ch);
		errno = ENAMETOOLONG;
		return NULL;
	}
	ch->opts = default_opts;
	if (opts) {
#define TAKE(f)                               \
	do {                                  \
		if (opts->f)                  \
			ch->opts.f = opts->f; \
	} while (0)
		TAKE(silent_after_ns);
		TAKE(max_lines_per_s);
		TAKE(line_burst);
		TAKE(cmd_timeout_ns);
		TAKE(reconnect_min_ns);
		TAKE(reconnect_max_ns);
		TAKE(read_budget);
#undef TAKE
	}
	ch->fd = -1;
	ch->tokens = ch->opts.line_burst;
	ch->next_id = 1;
	return ch;
}

struct channel *channel__new_fd(int fd, const char *label, const struct channel_opts *opts)
{
	struct channel *ch;
	int fl;

	if (fd < 0) {
		errno = EBADF;
		return NULL;
	}
	fl = fcntl(fd, F_GETFL);
	if (fl < 0 || fcntl(fd, F_SETFL, fl | O_NONBLOCK) < 0) {
		(void)close(fd);
		errno = EBADF;
		return NULL;
	}
	ch = channel__new(label && *label ? label : "fd", opts);
	if (!ch) {
		(void)close(fd);
		return NULL;
	}
	ch->fd = fd;
	ch->adopted = true;
	ch->stats.connects = 1;
	return ch;
}

void channel__free(struct channel *ch)
{
	if (!ch)
		return;
	if (ch->fd >= 0)
		(void)close(ch->fd);
	free(ch);
}

int channel__fd(const struct channel *ch)
{
	return ch->fd;
}

short channel__events(const struct channel *ch)
{
	if (ch->fd < 0)
		return 0;
	return POLLIN | (ch->out_len ? POLLOUT : 0);
}

bool channel__connected(const struct channel *ch)
{
	return ch->fd >= 0;
}

const char *channel__path(const struct channel *ch)
{
	return ch->path;
}

const struct channel_stats *channel__stats(const struct channel *ch)
{
	return &ch->stats;
}

static void fail_pending(struct channel *ch)
{
	for (int i = 0; i < MAX_PENDING; i++) {
		if (ch->cmds[i].state == CMD_PENDING)
			ch->cmds[i].state = CMD_LOST;
	}
}

static void disconnect(struct channel *ch, uint64_t now_ns)
{
	if (ch->fd >= 0) {
		(void)close(ch->fd);
		ch->fd = -1;
		ch->stats.disconnects++;
	}
	ch->line_len = 0;
	ch->discarding = false;
	ch->out_len = 0;
	fail_pending(ch);
	if (!ch->backoff_ns)
		ch->backoff_ns = ch->opts.reconnect_min_ns;
	else if (ch->backoff_ns < ch->opts.reconnect_max_ns)
		ch->backoff_ns *= 2;
	if (ch->backoff_ns > ch->opts.reconnect_max_ns)
		ch->backoff_ns = ch->opts.reconnect_max_ns;
	ch->retry_at_ns = now_ns + ch->backoff_ns;
}

static int try_connect(struct channel *ch, uint64_t now_ns)
{
	struct sockaddr_un sa = { .sun_family = AF_UNIX };
	int fd, err;

	memcpy(sa.sun_path, ch->path, sizeof(sa.sun_path));
	fd = socket(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
	if (fd < 0)
		return -errno;
	/* A unix connect completes or fails at once; EAGAIN (backlog full) retries later. */
	if (connect(fd, (struct sockaddr *)&sa, sizeof(sa))) {
		err = -errno;
		(void)close(fd);
		ch->stats.connect_failures++;
		ch->stats.last_connect_error = err;
		ch->fd = -1;
		disconnect(ch, now_ns);
		return err;
	}
	ch->fd = fd;
	ch->backoff_ns = 0;
	ch->stats.connects++;
	ch->stats.last_connect_error = 0;
	return 0;
}

static void reject(struct channel *ch, enum agentproto_reject why, const char *line, size_t len,
		   uint64_t now_ns)
{
	struct channel_reject *r = &ch->stats.last_reject;
	size_t n = len < sizeof(r->excerpt) - 1 ? len : sizeof(r->excerpt) - 1;

	ch->stats.rejected++;
	ch->stats.rejects[why < AP_REJ__COUNT ? why : AP_REJ_MALFORMED]++;
	r->why = why;
	r->at_ns = now_ns;
	for (size_t i = 0; i < n; i++) {
		unsigned char c = (unsigned char)line[i];

		r->excerpt[i] = c >= 0x20 && c < 0x7f ? (char)c : '?';
	}
	r->excerpt[n] = '\0';
}

static bool take_token(struct channel *ch, uint64_t now_ns)
{
	if (now_ns > ch->tokens_at_ns) {
		ch->tokens +=
			(double)(now_ns - ch->tokens_at_ns) * ch->opts.max_lines_per_s / NS_PER_S;
		if (ch->tokens > ch->opts.line_burst)
			ch->tokens = ch->opts.line_burst;
	}
	ch->tokens_at_ns = now_ns;
	if (ch->tokens < 1.0)
		return false;
	ch->tokens -= 1.0;
	return true;
}

static void handle_ack(struct channel *ch, const struct agent_ack *ack, const char *line,
		       size_t len, uint64_t now_ns)
{
	for (int i = 0; i < MAX_PENDING; i++) {
		struct pending_cmd *c = &ch->cmds[i];

		if (c->state == CMD_PENDING && c->id == ack->id && c->op == ack->op) {
			c->ack = *ack;
			c->state = CMD_DONE;
			ch->stats.acks++;
			if (ch->on_ack)
				ch->on_ack(ch->on_ack_ctx, ack);
			return;
		}
	}
	reject(ch, AP_REJ_UNEXPECTED_ACK, line, len, now_ns);
}

/* Returns 1 when the line was a new valid sample. */
static int handle_line(struct channel *ch, const char *line, size_t len, uint64_t now_ns)
{
	struct agentproto_msg msg;
	enum agentproto_reject why;
	enum agentproto_seq_verdict v;
	struct agentproto_seq saved = ch->seq;

	ch->stats.lines++;
	if (!take_token(ch, now_ns)) {
		reject(ch, AP_REJ_FLOOD, line, len, now_ns);
		return 0;
	}
	if (agentproto__parse(line, len, true, &msg, &why)) {
		reject(ch, why, line, len, now_ns);
		return 0;
	}
	if (msg.type == AGENTPROTO_ACK) {
		handle_ack(ch, &msg.ack, line, len, now_ns);
		return 0;
	}
	v = agentproto_seq__check(&ch->seq, msg.sample.boot, msg.sample.seq);
	if (v == AP_SEQ_REPLAY || v == AP_SEQ_REGRESSION) {
		ch->seq = saved;
		reject(ch, v == AP_SEQ_REPLAY ? AP_REJ_SEQ_REPLAY : AP_REJ_SEQ_REGRESSION, line,
		       len, now_ns);
		return 0;
	}
	ch->stats.seq_gaps = ch->seq.gaps;
	ch->stats.agent_restarts = ch->seq.restarts;
	ch->latest = msg.sample;
	ch->latest_ns = now_ns;
	ch->have_sample = true;
	ch->stats.samples++;
	if (ch->on_sample)
		ch->on_sample(ch->on_sample_ctx, &ch->latest, now_ns);
	return 1;
}

static int flush_out(struct channel *ch)
{
	while (ch->out_len) {
		ssize_t n = send(ch->fd, ch->out, ch->out_len, MSG_NOSIGNAL | MSG_DONTWAIT);

		if (n < 0) {
			if (errno == EINTR)
				continue;
			return errno == EAGAIN || errno == EWOULDBLOCK ? 0 : -errno;
		}
		memmove(ch->out, ch->out + n, ch->out_len - (size_t)n);
		ch->out_len -= (size_t)n;
	}
	return 0;
}

static void expire_cmds(struct channel *ch, uint64_t now_ns)
{
	for (int i = 0; i < MAX_PENDING; i++) {
		struct pending_cmd *c = &ch->cmds[i];

		if (c->state == CMD_PENDING && now_ns >= c->deadline_ns) {
			c->state = CMD_TIMED_OUT;
			ch->stats.cmds_timed_out++;
		}
	}
}

int channel__poll(struct channel *ch, uint64_t now_ns)
{
	char buf[4096];
	size_t budget = ch->opts.read_budget;
	int err = 0, nsamples = 0;

	expire_cmds(ch, now_ns);
	if (ch->fd < 0) {
		if (ch->adopted || now_ns < ch->retry_at_ns)
			return -ENOTCONN;
		err = try_connect(ch, now_ns);
		if (err)
			return err;
	}
	err = flush_out(ch);
	if (err)
		goto lost;
	while (budget) {
		ssize_t n = recv(ch->fd, buf, budget < sizeof(buf) ? budget : sizeof(buf),
				 MSG_DONTWAIT);

		if (n < 0) {
			if (errno == EINTR)
				continue;
			if (errno == EAGAIN || errno == EWOULDBLOCK)
				break;
			err = -errno;
			goto lost;
		}
		if (n == 0) {
			err = -ECONNRESET;
			goto lost;
		}
		budget -= (size_t)n;
		ch->stats.bytes += (uint64_t)n;
		for (ssize_t i = 0; i < n; i++) {
			char c = buf[i];

			if (c == '\n') {
				if (!ch->discarding)
					nsamples += handle_line(ch, ch->line, ch->line_len, now_ns);
				ch->line_len = 0;
				ch->discarding = false;
			} else if (ch->discarding) {
				continue;
			} else if (ch->line_len == sizeof(ch->line) - 1) {
				/* Count the over-long line once, then skip to its end. */
				ch->stats.lines++;
				reject(ch, AP_REJ_TOO_LONG, ch->line, ch->line_len, now_ns);
				ch->discarding = true;
				ch->line_len = 0;
			} else {
				ch->line[ch->line_len++] = c;
			}
		}
	}
	return nsamples;
lost:
	disconnect(ch, now_ns);
	return nsamples ? nsamples : err;
}

void channel__on_sample(struct channel *ch, channel_sample_fn fn, void *ctx)
{
	ch->on_sample = fn;
	ch->on_sample_ctx = ctx;
}

void channel__on_ack(struct channel *ch, channel_ack_fn fn, void *ctx)
{
	ch->on_ack = fn;
	ch->on_ack_ctx = ctx;
}

int channel__latest(const struct channel *ch, struct agent_sample *s, uint64_t *recv_ns)
{
	if (!ch->have_sample)
		return -ENODATA;
	if (s)
		*s = ch->latest;
	if (recv_ns)
		*recv_ns = ch->latest_ns;
	return 0;
}

uint64_t channel__age_ns(const struct channel *ch, uint64_t now_ns)
{
	if (!ch->have_sample)
		return UINT64_MAX;
	return now_ns > ch->latest_ns ? now_ns - ch->latest_ns : 0;
}

bool channel__silent(const struct channel *ch, uint64_t now_ns)
{
	return channel__age_ns(ch, now_ns) > ch->opts.silent_after_ns;
}

int channel__send(struct channel *ch, enum agent_op op, uint32_t arg, uint64_t now_ns, uint32_t *id)
{
	struct agent_cmd cmd = { .op = op, .arg = arg };
	struct pending_cmd *slot = NULL;
	char line[AGENTPROTO_MAX_LINE];
	int n, err;

	if (ch->fd < 0)
		return -ENOTCONN;
	expire_cmds(ch, now_ns);
	for (int i = 0; i < MAX_PENDING; i++) {
		if (ch->cmds[i].state == CMD_FREE) {
			slot = &ch->cmds[i];
			break;
		}
	}
	if (!slot)
		return -EBUSY;
	cmd.id = ch->next_id++;
	if (!ch->next_id)
		ch->next_id = 1;
	n = agentproto__format_cmd(line, sizeof(line), &cmd);
	if (n < 0)
		return n;
	if (ch->out_len + (size_t)n > sizeof(ch->out))
		return -ENOBUFS;
	memcpy(ch->out + ch->out_len, line, (size_t)n);
	ch->out_len += (size_t)n;
	slot->state = CMD_PENDING;
	slot->id = cmd.id;
	slot->op = op;
	slot->deadline_ns = now_ns + ch->opts.cmd_timeout_ns;
	ch->stats.cmds_sent++;
	*id = cmd.id;
	err = flush_out(ch);
	if (err) {
		disconnect(ch, now_ns);
		return err;
	}
	return 0;
}

int channel__result(struct channel *ch, uint32_t id, uint64_t now_ns, struct agent_ack *ack)
{
	expire_cmds(ch, now_ns);
	for (int i = 0; i < MAX_PENDING; i++) {
		struct pending_cmd *c = &ch->cmds[i];
		enum cmd_state st = c->state;

		if (st == CMD_FREE || c->id != id)
			continue;
		if (st == CMD_PENDING)
			return -EINPROGRESS;
		c->state = CMD_FREE;
		if (st == CMD_DONE) {
			*ack = c->ack;
			return 0;
		}
		return st == CMD_LOST ? -ECONNRESET : -ETIMEDOUT;
	}
	return -ENOENT;
}

static int add_u64(struct json_object *o, const char *key, uint64_t v)
{
	struct json_object *j = json_object_new_int64((int64_t)(v > INT64_MAX ? INT64_MAX : v));

	if (!j)
		return -ENOMEM;
	json_object_object_add(o, key, j);
	return 0;
}

static int add_pct(struct json_object *o, const char *key, uint32_t hundredths)
{
	char txt[16];
	struct json_object *j;

	/* Two decimals on the wire: print them as such, not as 14.880000000000001. */
	(void)snprintf(txt, sizeof(txt), "%u.%02u", hundredths / 100, hundredths % 100);
	j = json_object_new_double_s(hundredths / 100.0, txt);

	if (!j)
		return -ENOMEM;
	json_object_object_add(o, key, j);
	return 0;
}

struct json_object *channel__sample_json(const struct agent_sample *s, uint64_t age_ns)
{
	struct json_object *o = json_object_new_object();
	int err = 0;

	if (!o)
		return NULL;
	json_object_object_add(o, "source", json_object_new_string("agent"));
	err |= add_u64(o, "age_ms", age_ns == UINT64_MAX ? UINT64_MAX : age_ns / 1000000);
	json_object_object_add(o, "agent_version", json_object_new_string(s->version));
	err |= add_u64(o, "seq", s->seq);
	err |= add_u64(o, "boot", s->boot);
	err |= add_u64(o, "interval_ms", s->interval_ms);
	err |= add_u64(o, "uptime_ms", s->uptime_ms);
	err |= add_u64(o, "mem_total_kb", s->mem_total_kb);
	err |= add_u64(o, "mem_available_kb", s->mem_avail_kb);
	err |= add_u64(o, "mem_free_kb", s->mem_free_kb);
	if (s->present & AGENT_HAS_CACHED)
		err |= add_u64(o, "cached_kb", s->cached_kb);
	if (s->present & AGENT_HAS_SWAP) {
		err |= add_u64(o, "swap_total_kb", s->swap_total_kb);
		err |= add_u64(o, "swap_used_kb", s->swap_used_kb);
		err |= add_u64(o, "swap_in_pages_per_s", s->swapin_ps);
		err |= add_u64(o, "swap_out_pages_per_s", s->swapout_ps);
	}
	if (s->present & AGENT_HAS_PSI_MEM) {
		err |= add_pct(o, "psi_memory_some_avg10", s->psi_mem_some);
		err |= add_pct(o, "psi_memory_full_avg10", s->psi_mem_full);
	}
	if (s->present & AGENT_HAS_PSI_CPU) {
		err |= add_pct(o, "psi_cpu_some_avg10", s->psi_cpu_some);
		err |= add_pct(o, "psi_cpu_full_avg10", s->psi_cpu_full);
	}
	if (s->present & AGENT_HAS_CPU)
		err |= add_pct(o, "cpu_busy_pct", s->cpu_busy);
	if (s->present & AGENT_HAS_DISK) {
		err |= add_u64(o, "disk_read_bytes", s->disk_rd_bytes);
		err |= add_u64(o, "disk_write_bytes", s->disk_wr_bytes);
		err |= add_u64(o, "disk_read_ios", s->disk_rd_ios);
		err |= add_u64(o, "disk_write_ios", s->disk_wr_ios);
	}
	if (s->present & AGENT_HAS_NET) {
		err |= add_u64(o, "net_rx_bytes", s->net_rx_bytes);
		err |= add_u64(o, "net_tx_bytes", s->net_tx_bytes);
		err |= add_u64(o, "net_rx_packets", s->net_rx_pkts);
		err |= add_u64(o, "net_tx_packets", s->net_tx_pkts);
	}
	err |= add_u64(o, "cpus_online", s->cpus_online);
	err |= add_u64(o, "cpus_present", s->cpus_present);
	if (err) {
		json_object_put(o);
		return NULL;
	}
	return o;
}
