// SPDX-License-Identifier: GPL-2.0
/* The agent wire format: one table of keys per message type drives both parsing and formatting. */
#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>

#include "agentproto.h"

#define MAX_FIELDS 40

enum kind {
	K_U32,
	K_U64,
	K_I32,
	K_WORD, /* char[AGENTPROTO_MAX_WORD] */
	K_OP,	/* enum agent_op */
};

struct key {
	const char *name;
	enum kind kind;
	size_t off;
	int64_t min;
	uint64_t max;
	uint32_t has; /* AGENT_HAS_* set when present (samples only) */
	bool required;
};

#define U64_MAX_RANGE AGENTPROTO_COUNTER_MAX
#define KB_MAX	      (1ull << 42) /* 4 PiB */
#define PCT_MAX	      10000

#define S(f)	      offsetof(struct agent_sample, f)
static const struct key sample_keys[] = {
	{ "seq", K_U64, S(seq), 1, U64_MAX_RANGE, 0, true },
	{ "boot", K_U32, S(boot), 1, UINT32_MAX, 0, true },
	{ "ver", K_WORD, S(version), 0, 0, 0, true },
	{ "interval_ms", K_U32, S(interval_ms), 10, 3600000, 0, true },
	{ "uptime_ms", K_U64, S(uptime_ms), 0, U64_MAX_RANGE, 0, false },
	{ "mem_total_kb", K_U64, S(mem_total_kb), 1, KB_MAX, 0, true },
	{ "mem_avail_kb", K_U64, S(mem_avail_kb), 0, KB_MAX, 0, true },
	{ "mem_free_kb", K_U64, S(mem_free_kb), 0, KB_MAX, 0, true },
	{ "cached_kb", K_U64, S(cached_kb), 0, KB_MAX, AGENT_HAS_CACHED, false },
	{ "swap_total_kb", K_U64, S(swap_total_kb), 0, KB_MAX, AGENT_HAS_SWAP, false },
	{ "swap_used_kb", K_U64, S(swap_used_kb), 0, KB_MAX, AGENT_HAS_SWAP, false },
	{ "swapin_ps", K_U64, S(swapin_ps), 0, 1ull << 40, AGENT_HAS_SWAP, false },
	{ "swapout_ps", K_U64, S(swapout_ps), 0, 1ull << 40, AGENT_HAS_SWAP, false },
	{ "psi_mem_some", K_U32, S(psi_mem_some), 0, PCT_MAX, AGENT_HAS_PSI_MEM, false },
	{ "psi_mem_full", K_U32, S(psi_mem_full), 0, PCT_MAX, AGENT_HAS_PSI_MEM, false },
	{ "psi_cpu_some", K_U32, S(psi_cpu_some), 0, PCT_MAX, AGENT_HAS_PSI_CPU, false },
	{ "psi_cpu_full", K_U32, S(psi_cpu_full), 0, PCT_MAX, AGENT_HAS_PSI_CPU, false },
	{ "cpu_busy", K_U32, S(cpu_busy), 0, PCT_MAX, AGENT_HAS_CPU, false },
	{ "disk_rd_bytes", K_U64, S(disk_rd_bytes), 0, U64_MAX_RANGE, AGENT_HAS_DISK, false },
	{ "disk_wr_bytes", K_U64, S(disk_wr_bytes), 0, U64_MAX_RANGE, AGENT_HAS_DISK, false },
	{ "disk_rd_ios", K_U64, S(disk_rd_ios), 0, U64_MAX_RANGE, AGENT_HAS_DISK, false },
	{ "disk_wr_ios", K_U64, S(disk_wr_ios), 0, U64_MAX_RANGE, AGENT_HAS_DISK, false },
	{ "net_rx_bytes", K_U64, S(net_rx_bytes), 0, U64_MAX_RANGE, AGENT_HAS_NET, false },
	{ "net_tx_bytes", K_U64, S(net_tx_bytes), 0, U64_MAX_RANGE, AGENT_HAS_NET, false },
	{ "net_rx_pkts", K_U64, S(net_rx_pkts), 0, U64_MAX_RANGE, AGENT_HAS_NET, false },
	{ "net_tx_pkts", K_U64, S(net_tx_pkts), 0, U64_MAX_RANGE, AGENT_HAS_NET, false },
	{ "cpus_online", K_U32, S(cpus_online), 1, AGENTPROTO_MAX_CPUS, 0, true },
	{ "cpus_present", K_U32, S(cpus_present), 1, AGENTPROTO_MAX_CPUS, 0, true },
};
#undef S

#define A(f) offsetof(struct agent_ack, f)
static const struct key ack_keys[] = {
	{ "id", K_U32, A(id), 1, UINT32_MAX, 0, true },
	{ "op", K_OP, A(op), 0, 0, 0, true },
	{ "rc", K_I32, A(rc), -4095, 0, 0, true },
	{ "online", K_U32, A(cpus_online), 1, AGENTPROTO_MAX_CPUS, 0, false },
	{ "present", K_U32, A(cpus_present), 1, AGENTPROTO_MAX_CPUS, 0, false },
};
#undef A

#define C(f) offsetof(struct agent_cmd, f)
static const struct key cmd_keys[] = {
	{ "id", K_U32, C(id), 1, UINT32_MAX, 0, true },
	{ "op", K_OP, C(op), 0, 0, 0, true },
	{ "arg", K_U32, C(arg), 0, 1000000, 0, false },
};
#undef C

static const char *const reject_names[AP_REJ__COUNT] = {
	[AP_REJ_NONE] = "none",
	[AP_REJ_TOO_LONG] = "too_long",
	[AP_REJ_BAD_CHAR] = "bad_char",
	[AP_REJ_BAD_MAGIC] = "bad_magic",
	[AP_REJ_BAD_VERSION] = "bad_version",
	[AP_REJ_UNKNOWN_TYPE] = "unknown_type",
	[AP_REJ_MALFORMED] = "malformed",
	[AP_REJ_TOO_MANY_FIELDS] = "too_many_fields",
	[AP_REJ_UNKNOWN_KEY] = "unknown_key",
	[AP_REJ_DUPLICATE_KEY] = "duplicate_key",
	[AP_REJ_BAD_NUMBER] = "bad_number",
	[AP_REJ_OUT_OF_RANGE] = "out_of_range",
	[AP_REJ_BAD_WORD] = "bad_word",
	[AP_REJ_MISSING_KEY] = "missing_key",
	[AP_REJ_INCONSISTENT] = "inconsistent",
	[AP_REJ_SEQ_REPLAY] = "seq_replay",
	[AP_REJ_SEQ_REGRESSION] = "seq_regression",
	[AP_REJ_FLOOD] = "flood",
	[AP_REJ_UNEXPECTED_ACK] = "unexpected_ack",
};

static const char *const op_names[] = {
	[AGENT_OP_NONE] = "none",
	[AGENT_OP_SET_CPUS] = "set-cpus",
	[AGENT_OP_REPORT_NOW] = "report-now",
	[AGENT_OP_PAUSE] = "pause",
};

const char *agentproto__reject_name(enum agentproto_reject why)
{
	if ((unsigned int)why >= AP_REJ__COUNT)
		return "unknown";
	return reject_names[why];
}

const char *agentproto__op_name(enum agent_op op)
{
	if ((unsigned int)op >= sizeof(op_names) / sizeof(op_names[0]))
		return "unknown";
	return op_names[op];
}

/* Plain decimal: no sign for unsigned keys, no spaces, no leading zeros. */
static enum agentproto_reject parse_num(const char *s, const struct key *k, int64_t *sval,
					uint64_t *uval)
{
	bool neg = false;
	uint64_t v = 0;
	size_t i = 0;

	if (s[0] == '-') {
		neg = true;
		i = 1;
	}
	if (!s[i])
		return AP_REJ_BAD_NUMBER;
	if (s[i] == '0' && s[i + 1])
		return AP_REJ_BAD_NUMBER;
	for (; s[i]; i++) {
		if (s[i] < '0' || s[i] > '9')
			return AP_REJ_BAD_NUMBER;
		if (v > (UINT64_MAX - 9) / 10)
			return AP_REJ_OUT_OF_RANGE;
		v = v * 10 + (uint64_t)(s[i] - '0');
	}
	if (k->kind == K_I32) {
		/* min is negative, max non-negative */
		if (neg ? v > (uint64_t)(-k->min) : v > k->max)
			return AP_REJ_OUT_OF_RANGE;
		*sval = neg ? -(int64_t)v : (int64_t)v;
		return AP_REJ_NONE;
	}
	if (neg)
		return v ? AP_REJ_OUT_OF_RANGE : AP_REJ_BAD_NUMBER;
	if (v < (uint64_t)k->min || v > k->max)
		return AP_REJ_OUT_OF_RANGE;
	*uval = v;
	return AP_REJ_NONE;
}

static bool word_ok(const char *s)
{
	size_t n = 0;

	for (; s[n]; n++) {
		char c = s[n];

		if (!((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
		      c == '.' || c == '-' || c == '_' || c == '+'))
			return false;
	}
	return n > 0 && n < AGENTPROTO_MAX_WORD;
}

static enum agentproto_reject set_field(void *obj, const struct key *k, const char *val)
{
	char *p = (char *)obj + k->off;
	enum agentproto_reject r;
	int64_t sv = 0;
	uint64_t uv = 0;

	switch (k->kind) {
	case K_WORD:
		if (!word_ok(val))
			return AP_REJ_BAD_WORD;
		memcpy(p, val, strlen(val) + 1);
		return AP_REJ_NONE;
	case K_OP:
		for (size_t i = 1; i < sizeof(op_names) / sizeof(op_names[0]); i++) {
			if (!strcmp(val, op_names[i])) {
				*(enum agent_op *)p = (enum agent_op)i;
				return AP_REJ_NONE;
			}
		}
		return AP_REJ_BAD_WORD;
	default:
		break;
	}
	r = parse_num(val, k, &sv, &uv);
	if (r)
		return r;
	if (k->kind == K_U32)
		*(uint32_t *)p = (uint32_t)uv;
	else if (k->kind == K_U64)
		*(uint64_t *)p = uv;
	else
		*(int32_t *)p = (int32_t)sv;
	return AP_REJ_NONE;
}

static enum agentproto_reject check_sample(const struct agent_sample *s)
{
	if (s->mem_avail_kb > s->mem_total_kb || s->mem_free_kb > s->mem_total_kb ||
	    s->cached_kb > s->mem_total_kb || s->swap_used_kb > s->swap_total_kb ||
	    s->cpus_online > s->cpus_present)
		return AP_REJ_INCONSISTENT;
	return AP_REJ_NONE;
}

static enum agentproto_reject check_cmd(const struct agent_cmd *c, uint64_t seen,
					const struct key *keys)
{
	bool has_arg = false;

	for (size_t i = 0; i < sizeof(cmd_keys) / sizeof(cmd_keys[0]); i++) {
		if (!strcmp(keys[i].name, "arg"))
			has_arg = seen & (1ull << i);
	}
	switch (c->op) {
	case AGENT_OP_SET_CPUS:
		if (!has_arg)
			return AP_REJ_MISSING_KEY;
		if (c->arg < 1 || c->arg > AGENTPROTO_MAX_CPUS)
			return AP_REJ_OUT_OF_RANGE;
		return AP_REJ_NONE;
	case AGENT_OP_PAUSE:
		if (!has_arg)
			return AP_REJ_MISSING_KEY;
		if (c->arg > 3600)
			return AP_REJ_OUT_OF_RANGE;
		return AP_REJ_NONE;
	case AGENT_OP_REPORT_NOW:
		return has_arg ? AP_REJ_INCONSISTENT : AP_REJ_NONE;
	default:
		return AP_REJ_BAD_WORD;
	}
}

static enum agentproto_reject parse_line(char *line, bool from_guest, struct agentproto_msg *msg)
{
	char *fields[MAX_FIELDS + 1];
	const struct key *keys;
	size_t nkeys, nf = 0;
	uint64_t seen = 0;
	enum agentproto_reject r;
	void *obj;
	char *p = line;

	/* Split on single spaces; an empty field is malformed. */
	for (;;) {
		char *sp = strchr(p, ' ');

		if (nf == MAX_FIELDS + 1)
			return AP_REJ_TOO_MANY_FIELDS;
		fields[nf++] = p;
		if (!sp)
			break;
		*sp = '\0';
		p = sp + 1;
	}
	for (size_t i = 0; i < nf; i++) {
		if (!*fields[i])
			return AP_REJ_MALFORMED;
	}
	if (strncmp(fields[0], "KP", 2))
		return AP_REJ_BAD_MAGIC;
	if (strcmp(fields[0], AGENTPROTO_MAGIC)) {
		const char *v = fields[0] + 2;

		if (!*v || strspn(v, "0123456789") != strlen(v))
			return AP_REJ_BAD_MAGIC;
		return AP_REJ_BAD_VERSION;
	}
	if (nf < 2)
		return AP_REJ_UNKNOWN_TYPE;
	memset(msg, 0, sizeof(*msg));
	if (from_guest && !strcmp(fields[1], "sample")) {
		msg->type = AGENTPROTO_SAMPLE;
		keys = sample_keys;
		nkeys = sizeof(sample_keys) / sizeof(sample_keys[0]);
		obj = &msg->sample;
	} else if (from_guest && !strcmp(fields[1], "ack")) {
		msg->type = AGENTPROTO_ACK;
		keys = ack_keys;
		nkeys = sizeof(ack_keys) / sizeof(ack_keys[0]);
		obj = &msg->ack;
	} else if (!from_guest && !strcmp(fields[1], "cmd")) {
		msg->type = AGENTPROTO_CMD;
		keys = cmd_keys;
		nkeys = sizeof(cmd_keys) / sizeof(cmd_keys[0]);
		obj = &msg->cmd;
	} else {
		return AP_REJ_UNKNOWN_TYPE;
	}
	if (nf - 2 > nkeys)
		return AP_REJ_TOO_MANY_FIELDS;
	for (size_t i = 2; i < nf; i++) {
		char *eq = strchr(fields[i], '=');
		size_t k;

		if (!eq || eq == fields[i] || !eq[1])
			return AP_REJ_MALFORMED;
		*eq = '\0';
		for (k = 0; k < nkeys; k++) {
			if (!strcmp(fields[i], keys[k].name))
				break;
		}
		if (k == nkeys)
			return AP_REJ_UNKNOWN_KEY;
		if (seen & (1ull << k))
			return AP_REJ_DUPLICATE_KEY;
		seen |= 1ull << k;
		r = set_field(obj, &keys[k], eq + 1);
		if (r)
			return r;
		if (msg->type == AGENTPROTO_SAMPLE)
			msg->sample.present |= keys[k].has;
	}
	for (size_t k = 0; k < nkeys; k++) {
		if (keys[k].required && !(seen & (1ull << k)))
			return AP_REJ_MISSING_KEY;
	}
	if (msg->type == AGENTPROTO_SAMPLE)
		return check_sample(&msg->sample);
	if (msg->type == AGENTPROTO_CMD)
		return check_cmd(&msg->cmd, seen, keys);
	return AP_REJ_NONE;
}

int agentproto__parse(const char *buf, size_t len, bool from_guest, struct agentproto_msg *msg,
		      enum agentproto_reject *why)
{
	char line[AGENTPROTO_MAX_LINE];
	enum agentproto_reject r;

	*why = AP_REJ_NONE;
	if (len >= AGENTPROTO_MAX_LINE) {
		*why = AP_REJ_TOO_LONG;
		return -EINVAL;
	}
	for (size_t i = 0; i < len; i++) {
		unsigned char c = (unsigned char)buf[i];

		if (c < 0x20 || c > 0x7e) {
			*why = AP_REJ_BAD_CHAR;
			return -EINVAL;
		}
	}
	memcpy(line, buf, len);
	line[len] = '\0';
	r = parse_line(line, from_guest, msg);
	if (r) {
		*why = r;
		return -EINVAL;
	}
	return 0;
}

static int append(char *buf, size_t size, size_t *pos, const char *fmt, ...)
	__attribute__((format(printf, 4, 5)));

static int append(char *buf, size_t size, size_t *pos, const char *fmt, ...)
{
	va_list ap;
	int n;

	if (*pos >= size)
		return -E2BIG;
	va_start(ap, fmt);
	n = vsnprintf(buf + *pos, size - *pos, fmt, ap);
	va_end(ap);
	if (n < 0)
		return -EINVAL;
	if ((size_t)n >= size - *pos)
		return -E2BIG;
	*pos += (size_t)n;
	return 0;
}

static int format_msg(char *buf, size_t size, const char *type, const struct key *keys,
		      size_t nkeys, const void *obj, uint32_t present, bool is_sample)
{
	size_t pos = 0;
	int err;

	if (size > AGENTPROTO_MAX_LINE)
		size = AGENTPROTO_MAX_LINE;
	err = append(buf, size, &pos, AGENTPROTO_MAGIC " %s", type);
	if (err)
		return err;
	for (size_t k = 0; k < nkeys; k++) {
		const char *p = (const char *)obj + keys[k].off;

		if (is_sample && keys[k].has && !(present & keys[k].has))
			continue;
		switch (keys[k].kind) {
		case K_U32:
			/* Optional zero-valued ack fields mean "not reported". */
			if (!is_sample && !keys[k].required && !*(const uint32_t *)p)
				continue;
			err = append(buf, size, &pos, " %s=%u", keys[k].name, *(const uint32_t *)p);
			break;
		case K_U64:
			err = append(buf, size, &pos, " %s=%llu", keys[k].name,
				     (unsigned long long)*(const uint64_t *)p);
			break;
		case K_I32:
			err = append(buf, size, &pos, " %s=%d", keys[k].name, *(const int32_t *)p);
			break;
		case K_WORD:
			if (!word_ok(p))
				return -EINVAL;
			err = append(buf, size, &pos, " %s=%s", keys[k].name, p);
			break;
		case K_OP:
			err = append(buf, size, &pos, " %s=%s", keys[k].name,
				     agentproto__op_name(*(const enum agent_op *)p));
			break;
		}
		if (err)
			return err;
	}
	err = append(buf, size, &pos, "\n");
	if (err)
		return err;
	return (int)pos;
}

int agentproto__format_sample(char *buf, size_t size, const struct agent_sample *s)
{
	return format_msg(buf, size, "sample", sample_keys,
			  sizeof(sample_keys) / sizeof(sample_keys[0]), s, s->present, true);
}

int agentproto__format_ack(char *buf, size_t size, const struct agent_ack *ack)
{
	if (!ack->id || ack->op == AGENT_OP_NONE || ack->rc > 0 || ack->rc < -4095)
		return -EINVAL;
	return format_msg(buf, size, "ack", ack_keys, sizeof(ack_keys) / sizeof(ack_keys[0]), ack,
			  0, false);
}

int agentproto__format_cmd(char *buf, size_t size, const struct agent_cmd *cmd)
{
	size_t pos = 0;
	int err;

	if (!cmd->id || cmd->op == AGENT_OP_NONE ||
	    (unsigned int)cmd->op >= sizeof(op_names) / sizeof(op_names[0]))
		return -EINVAL;
	if (size > AGENTPROTO_MAX_LINE)
		size = AGENTPROTO_MAX_LINE;
	err = append(buf, size, &pos, AGENTPROTO_MAGIC " cmd id=%u op=%s", cmd->id,
		     agentproto__op_name(cmd->op));
	if (!err && cmd->op != AGENT_OP_REPORT_NOW)
		err = append(buf, size, &pos, " arg=%u", cmd->arg);
	if (!err)
		err = append(buf, size, &pos, "\n");
	return err ? err : (int)pos;
}

enum agentproto_seq_verdict agentproto_seq__check(struct agentproto_seq *st, uint32_t boot,
						  uint64_t seq)
{
	if (!st->valid) {
		st->valid = true;
		st->boot = boot;
		st->last = seq;
		return AP_SEQ_FIRST;
	}
	if (boot != st->boot) {
		st->boot = boot;
		st->last = seq;
		st->restarts++;
		return AP_SEQ_RESTART;
	}
	if (seq == st->last)
		return AP_SEQ_REPLAY;
	if (seq < st->last)
		return AP_SEQ_REGRESSION;
	if (seq > st->last + 1) {
		st->gaps += seq - st->last - 1;
		st->last = seq;
		return AP_SEQ_GAP;
	}
	st->last = seq;
	return AP_SEQ_OK;
}
