/* SPDX-License-Identifier: GPL-2.0 */
/*
 * The agent wire format, shared by the guest agent and the host. One message
 * per line: "KP1 TYPE key=value key=value ...\n", printable ASCII only, at
 * most AGENTPROTO_MAX_LINE bytes with the newline. Guest -> host: "sample"
 * and "ack"; host -> guest: "cmd". Every value is a decimal integer except
 * the version and command names, which are short words. README.md, section
 * "The agent wire format", is the reference.
 *
 * The host treats every line as hostile: agentproto__parse() checks length,
 * characters, known keys, duplicates, numeric ranges and consistency, and
 * says why it rejected a line. This module has no dependency beyond libc so
 * the static agent links it too.
 */
#ifndef KVMPILOT_AGENTPROTO_H
#define KVMPILOT_AGENTPROTO_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "kvmpilot.h"

#define AGENTPROTO_MAGIC    "KP1"
#define AGENTPROTO_VERSION  1
#define AGENTPROTO_MAX_LINE 1024 /* bytes, newline included */
#define AGENTPROTO_MAX_WORD 32	 /* version and command names, NUL included */
#define AGENTPROTO_MAX_CPUS 4096
/* The largest counter either side sends or takes (2^62). */
#define AGENTPROTO_COUNTER_MAX (1ull << 62)
#define AGENTPROTO_CHANNEL     "org.kvmpilot.agent.0"
#define AGENT_VERSION	       KVMPILOT_VERSION

/* Bits of agent_sample.present: optional fields the guest sent. */
#define AGENT_HAS_PSI_MEM (1u << 0)
#define AGENT_HAS_PSI_CPU (1u << 1)
#define AGENT_HAS_SWAP	  (1u << 2)
#define AGENT_HAS_CPU	  (1u << 3)
#define AGENT_HAS_DISK	  (1u << 4)
#define AGENT_HAS_NET	  (1u << 5)
#define AGENT_HAS_CACHED  (1u << 6)

/* Percentages are in hundredths (0..10000) so the wire carries integers only. */
struct agent_sample {
	uint64_t seq;  /* 1, 2, 3, ... per agent run */
	uint32_t boot; /* random id of this agent run; a new one restarts seq */
	char version[AGENTPROTO_MAX_WORD];
	uint32_t interval_ms;
	uint64_t uptime_ms; /* guest uptime when sampled */
	uint64_t mem_total_kb;
	uint64_t mem_avail_kb;
	uint64_t mem_free_kb;
	uint64_t cached_kb;
	uint64_t swap_total_kb;
	uint64_t swap_used_kb;
	uint64_t swapin_ps;    /* pages per second (pswpin rate) */
	uint64_t swapout_ps;   /* pages per second (pswpout rate) */
	uint32_t psi_mem_some; /* avg10, hundredths of a percent */
	uint32_t psi_mem_full;
	uint32_t psi_cpu_some;
	uint32_t psi_cpu_full;
	uint32_t cpu_busy;	/* hundredths of a percent of all online CPUs */
	uint64_t disk_rd_bytes; /* counters since guest boot, all disks */
	uint64_t disk_wr_bytes;
	uint64_t disk_rd_ios;
	uint64_t disk_wr_ios;
	uint64_t net_rx_bytes; /* counters since guest boot, all but lo */
	uint64_t net_tx_bytes;
	uint64_t net_rx_pkts;
	uint64_t net_tx_pkts;
	uint32_t cpus_online;
	uint32_t cpus_present;
	uint32_t present; /* AGENT_HAS_* */
};

enum agent_op {
	AGENT_OP_NONE = 0,
	AGENT_OP_SET_CPUS,   /* arg: wanted number of online CPUs */
	AGENT_OP_REPORT_NOW, /* send a sample right away */
	AGENT_OP_PAUSE,	     /* arg: seconds without samples (tests, fallback drills) */
};

struct agent_cmd {
	uint32_t id; /* 1.. chosen by the host, echoed in the ack */
	enum agent_op op;
	uint32_t arg;
};

struct agent_ack {
	uint32_t id;
	enum agent_op op;
	int32_t rc;	      /* 0 or -errno */
	uint32_t cpus_online; /* after the command; 0 when not reported */
	uint32_t cpus_present;
};

enum agentproto_type {
	AGENTPROTO_SAMPLE = 1,
	AGENTPROTO_ACK,
	AGENTPROTO_CMD,
};

struct agentproto_msg {
	enum agentproto_type type;
	union {
		struct agent_sample sample;
		struct agent_ack ack;
		struct agent_cmd cmd;
	};
};

/* Why a line was rejected; counted per reason by the host. */
enum agentproto_reject {
	AP_REJ_NONE = 0,
	AP_REJ_TOO_LONG,	/* longer than AGENTPROTO_MAX_LINE */
	AP_REJ_BAD_CHAR,	/* NUL, control or non-ASCII byte */
	AP_REJ_BAD_MAGIC,	/* does not start with "KP" + version */
	AP_REJ_BAD_VERSION,	/* a protocol version this side does not speak */
	AP_REJ_UNKNOWN_TYPE,	/* not sample/ack (host) or cmd (guest) */
	AP_REJ_MALFORMED,	/* a field that is not key=value, empty key or value */
	AP_REJ_TOO_MANY_FIELDS, /* more fields than the type has keys */
	AP_REJ_UNKNOWN_KEY,
	AP_REJ_DUPLICATE_KEY,
	AP_REJ_BAD_NUMBER,     /* not a plain decimal integer */
	AP_REJ_OUT_OF_RANGE,   /* a number outside the key's range */
	AP_REJ_BAD_WORD,       /* version or command name with odd characters */
	AP_REJ_MISSING_KEY,    /* a required key is absent */
	AP_REJ_INCONSISTENT,   /* e.g. MemAvailable above MemTotal */
	AP_REJ_SEQ_REPLAY,     /* same sequence number again */
	AP_REJ_SEQ_REGRESSION, /* sequence number went back within one agent run */
	AP_REJ_FLOOD,	       /* more lines per second than allowed */
	AP_REJ_UNEXPECTED_ACK, /* ack for no pending command */
	AP_REJ__COUNT,
};

/* A short stable name for a reason ("too_long", ...), for logs and JSON. */
const char *agentproto__reject_name(enum agentproto_reject why);
const char *agentproto__op_name(enum agent_op op);

/*
 * Parse one line (without its newline; buf need not be NUL-terminated and
 * may hold NUL bytes, which are rejected). from_guest selects what the
 * reader accepts: sample and ack (host side) or cmd (agent side). Returns 0,
 * or -EINVAL with *why set (msg is then unspecified).
 */
int agentproto__parse(const char *buf, size_t len, bool from_guest, struct agentproto_msg *msg,
		      enum agentproto_reject *why);

/*
 * Formatting: write one line with its trailing newline into buf and return
 * its length, or -E2BIG / -EINVAL. The result always parses back.
 */
int agentproto__format_sample(char *buf, size_t size, const struct agent_sample *s);
int agentproto__format_ack(char *buf, size_t size, const struct agent_ack *ack);
int agentproto__format_cmd(char *buf, size_t size, const struct agent_cmd *cmd);

/*
 * Sequence tracking for one channel. A new boot id starts a new run (the
 * agent restarted); within a run seq must grow. Gaps are accepted and counted.
 */
enum agentproto_seq_verdict {
	AP_SEQ_OK = 0,
	AP_SEQ_FIRST,	   /* first sample seen on this channel */
	AP_SEQ_GAP,	   /* accepted; seq jumped by more than one */
	AP_SEQ_RESTART,	   /* accepted; new agent run */
	AP_SEQ_REPLAY,	   /* rejected */
	AP_SEQ_REGRESSION, /* rejected */
};

struct agentproto_seq {
	bool valid;
	uint32_t boot;
	uint64_t last;
	uint64_t gaps; /* samples missed, summed over every gap */
	uint64_t restarts;
};

enum agentproto_seq_verdict agentproto_seq__check(struct agentproto_seq *st, uint32_t boot,
						  uint64_t seq);

#endif /* KVMPILOT_AGENTPROTO_H */
