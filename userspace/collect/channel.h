/* SPDX-License-Identifier: GPL-2.0 */
/*
 * The host end of one VM's agent channel: the unix socket QEMU listens on
 * (libvirt <channel type='unix'> in bind mode). One channel per VM, bound by
 * its socket path, so one guest cannot report for another.
 *
 * Never blocks: drive it from a poll/epoll loop (channel__fd/events) or call
 * channel__poll() once per tick. It connects and reconnects by itself with
 * backoff, assembles lines with a hard bound, rejects hostile lines with a
 * counted reason (the caller logs, rate-limited), rate-limits lines, keeps
 * the latest valid sample with its receive time, and matches command acks.
 */
#ifndef KVMPILOT_CHANNEL_H
#define KVMPILOT_CHANNEL_H

#include <stdbool.h>
#include <stdint.h>

#include "agentproto.h"

struct json_object;

struct channel_opts {
	uint64_t silent_after_ns;     /* no valid sample for this long: silent (5 s) */
	unsigned int max_lines_per_s; /* lines above this rate are dropped as flood (20) */
	unsigned int line_burst;      /* token bucket depth (40) */
	uint64_t cmd_timeout_ns;      /* a command without ack fails after this (5 s) */
	uint64_t reconnect_min_ns;    /* first retry delay (0.5 s), doubled up to max */
	uint64_t reconnect_max_ns;    /* (10 s) */
	unsigned int read_budget;     /* bytes read per channel__poll() call (64 KiB) */
};

struct channel_reject {
	enum agentproto_reject why;
	uint64_t at_ns;
	char excerpt[48]; /* start of the line, non-printables as '?' */
};

struct channel_stats {
	uint64_t bytes;
	uint64_t lines;
	uint64_t samples;  /* valid samples accepted */
	uint64_t acks;	   /* acks matched to a command */
	uint64_t rejected; /* sum of rejects[] */
	uint64_t rejects[AP_REJ__COUNT];
	uint64_t seq_gaps; /* samples missed, from sequence numbers */
	uint64_t agent_restarts;
	uint64_t connects;
	uint64_t disconnects;
	uint64_t connect_failures;
	int last_connect_error; /* -errno of the latest failed connect, 0 after a success */
	uint64_t cmds_sent;
	uint64_t cmds_timed_out;
	struct channel_reject last_reject;
};

struct channel;

/* NULL with errno set (EINVAL, ENAMETOOLONG, ENOMEM). opts may be NULL for defaults. */
struct channel *channel__new(const char *socket_path, const struct channel_opts *opts);
/*
 * A channel over a connection the caller already has (an agent in TCP mode
 * that connected to the host; bind it to a VM by its peer address). It never
 * reconnects: once lost it stays disconnected. label names it in logs. Takes
 * ownership of fd, also on failure.
 */
struct channel *channel__new_fd(int fd, const char *label, const struct channel_opts *opts);
void channel__free(struct channel *ch);

/* The socket to watch (-1 while disconnected) and the poll events it wants. */
int channel__fd(const struct channel *ch);
short channel__events(const struct channel *ch);

/*
 * Do everything that can be done now without blocking: connect when due,
 * flush queued commands, read up to the budget, parse, expire commands.
 * Returns the number of new valid samples, or -errno when the socket could
 * not be connected or was lost (the channel retries on its own).
 */
int channel__poll(struct channel *ch, uint64_t now_ns);

bool channel__connected(const struct channel *ch);
const char *channel__path(const struct channel *ch);

/* The latest valid sample and when it arrived; -ENODATA when none yet. */
int channel__latest(const struct channel *ch, struct agent_sample *s, uint64_t *recv_ns);
/* Time since the latest valid sample; UINT64_MAX when none. */
uint64_t channel__age_ns(const struct channel *ch, uint64_t now_ns);
/* No valid sample within silent_after: callers fall back to balloon stats. */
bool channel__silent(const struct channel *ch, uint64_t now_ns);

const struct channel_stats *channel__stats(const struct channel *ch);

/*
 * Called from channel__poll() for every accepted sample, in order (several may
 * arrive in one poll; channel__latest() only keeps the last). NULL to stop.
 */
typedef void (*channel_sample_fn)(void *ctx, const struct agent_sample *s, uint64_t recv_ns);
void channel__on_sample(struct channel *ch, channel_sample_fn fn, void *ctx);
/* Called for every ack matched to a pending command, in stream order with samples. */
typedef void (*channel_ack_fn)(void *ctx, const struct agent_ack *ack);
void channel__on_ack(struct channel *ch, channel_ack_fn fn, void *ctx);

/*
 * Queue a command; *id identifies it for channel__result(). Returns 0,
 * -ENOTCONN, -EBUSY (too many commands pending), -EINVAL or -ENOBUFS.
 */
int channel__send(struct channel *ch, enum agent_op op, uint32_t arg, uint64_t now_ns,
		  uint32_t *id);
/*
 * 0 with *ack filled once the agent answered (the command is then
 * forgotten), -EINPROGRESS while waiting, -ETIMEDOUT, -ECONNRESET (lost
 * with the connection) or -ENOENT (unknown id).
 */
int channel__result(struct channel *ch, uint32_t id, uint64_t now_ns, struct agent_ack *ack);

/* A sample as JSON with its source and age, for the CLI and the HTTP API; NULL on ENOMEM. */
struct json_object *channel__sample_json(const struct agent_sample *s, uint64_t age_ns);

#endif /* KVMPILOT_CHANNEL_H */
