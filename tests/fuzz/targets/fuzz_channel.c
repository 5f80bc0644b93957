// SPDX-License-Identifier: GPL-2.0
/*
 * The host end of an agent channel fed an arbitrary byte stream in arbitrary
 * chunks (channel.c's line assembly, flood control, sequence and ack
 * matching), over a socketpair as a TCP-mode agent would connect.
 *
 * Input: chunks, each a control byte then its bytes. Control byte c: bits
 * 0-6 give the length (c & 0x7f) + 1, or when they are all set the length
 * is in the next two bytes (little endian, up to 65535 and what is left);
 * bit 7 advances the clock by 1.5 s before the poll (flood tokens refill,
 * commands time out). Two commands are pending from the start (ids 1 and 2:
 * set-cpus 2, report-now), so acks can match.
 *
 * Checked against a model of the stream: every line is counted once (a line
 * of 1024 bytes or more as too long, as soon as it is), every counted line
 * is a sample, an ack or a counted reject, and the byte count matches.
 */
#include <errno.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "channel.h"
#include "fuzz.h"

#define NS_PER_S 1000000000ull

struct model {
	uint64_t lines;
	size_t cur; /* bytes of the line being assembled */
	bool long_counted;
	uint64_t callbacks;
	uint64_t acks;
};

static void model_feed(struct model *m, const uint8_t *p, size_t n)
{
	for (size_t i = 0; i < n; i++) {
		if (p[i] == '\n') {
			if (!m->long_counted)
				m->lines++;
			m->cur = 0;
			m->long_counted = false;
		} else if (++m->cur >= AGENTPROTO_MAX_LINE && !m->long_counted) {
			m->lines++;
			m->long_counted = true;
		}
	}
}

static void on_sample(void *ctx, const struct agent_sample *s, uint64_t recv_ns)
{
	struct model *m = ctx;

	(void)recv_ns;
	FUZZ_CHECK(s->mem_avail_kb <= s->mem_total_kb && s->cpus_online <= s->cpus_present,
		   "inconsistent sample accepted");
	m->callbacks++;
}

static void on_ack(void *ctx, const struct agent_ack *ack)
{
	struct model *m = ctx;

	FUZZ_CHECK(ack->id == 1 || ack->id == 2, "ack for command %u never sent", ack->id);
	m->acks++;
}

static void check_stats(const struct channel *ch, const struct model *m, uint64_t bytes)
{
	const struct channel_stats *st = channel__stats(ch);
	uint64_t sum = 0;

	for (int i = 0; i < AP_REJ__COUNT; i++)
		sum += st->rejects[i];
	FUZZ_CHECK(st->rejected == sum, "rejected %llu, reasons sum to %llu",
		   (unsigned long long)st->rejected, (unsigned long long)sum);
	FUZZ_CHECK(st->bytes == bytes, "read %llu of %llu bytes", (unsigned long long)st->bytes,
		   (unsigned long long)bytes);
	FUZZ_CHECK(st->lines == m->lines, "counted %llu lines, the stream has %llu",
		   (unsigned long long)st->lines, (unsigned long long)m->lines);
	FUZZ_CHECK(st->lines == st->samples + st->acks + st->rejected,
		   "lines %llu != samples %llu + acks %llu + rejected %llu",
		   (unsigned long long)st->lines, (unsigned long long)st->samples,
		   (unsigned long long)st->acks, (unsigned long long)st->rejected);
	FUZZ_CHECK(st->samples == m->callbacks && st->acks == m->acks, "callbacks missed");
	FUZZ_CHECK(st->acks <= 2, "%llu acks for 2 commands", (unsigned long long)st->acks);
	FUZZ_CHECK(memchr(st->last_reject.excerpt, '\0', sizeof(st->last_reject.excerpt)),
		   "excerpt not terminated");
	for (const char *e = st->last_reject.excerpt; *e; e++)
		FUZZ_CHECK(*e >= 0x20 && *e < 0x7f, "non-printable byte in the excerpt");
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct model m = { 0 };
	struct channel *ch;
	struct agent_sample s;
	struct agent_ack ack;
	uint64_t now = 1000 * NS_PER_S, bytes = 0, recv_ns;
	uint32_t id1, id2;
	char sink[4096];
	int sv[2], n;

	if (socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sv))
		abort();
	ch = channel__new_fd(sv[0], "fuzz", NULL);
	FUZZ_CHECK(ch, "channel__new_fd: %s", strerror(errno));
	channel__on_sample(ch, on_sample, &m);
	channel__on_ack(ch, on_ack, &m);
	FUZZ_CHECK(!channel__send(ch, AGENT_OP_SET_CPUS, 2, now, &id1) && id1 == 1, "send");
	FUZZ_CHECK(!channel__send(ch, AGENT_OP_REPORT_NOW, 0, now, &id2) && id2 == 2, "send");

	while (size) {
		uint8_t c = *data++;
		size_t len;

		size--;
		len = (size_t)(c & 0x7f) + 1;
		if ((c & 0x7f) == 0x7f && size >= 2) {
			len = (size_t)data[0] | (size_t)data[1] << 8;
			data += 2;
			size -= 2;
		}
		if (len > size)
			len = size;
		if (c & 0x80)
			now += 3 * NS_PER_S / 2;
		if (len) {
			FUZZ_CHECK(write(sv[1], data, len) == (ssize_t)len, "write: %s",
				   strerror(errno));
			model_feed(&m, data, len);
			bytes += len;
			data += len;
			size -= len;
		}
		n = channel__poll(ch, now);
		FUZZ_CHECK(n >= 0, "poll on a live connection: %s", strerror(-n));
		check_stats(ch, &m, bytes);
		/* the commands the host wrote: keep the socket buffer from filling */
		while (recv(sv[1], sink, sizeof(sink), MSG_DONTWAIT) > 0)
			;
	}
	if (!channel__latest(ch, &s, &recv_ns))
		FUZZ_CHECK(s.mem_avail_kb <= s.mem_total_kb && recv_ns <= now, "latest sample");
	(void)channel__result(ch, id1, now, &ack);

	/* the agent goes away: the channel notices and fails what is pending */
	(void)close(sv[1]);
	n = channel__poll(ch, now);
	FUZZ_CHECK(n == -ECONNRESET || n == 0, "poll after hang-up: %d", n);
	FUZZ_CHECK(!channel__connected(ch), "still connected after hang-up");
	n = channel__result(ch, id2, now, &ack);
	FUZZ_CHECK(n == 0 || n == -ECONNRESET || n == -ETIMEDOUT, "result after hang-up: %d", n);
	channel__free(ch);
	return 0;
}
