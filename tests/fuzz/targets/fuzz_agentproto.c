// SPDX-License-Identifier: GPL-2.0
/*
 * The agent wire format both ways: every input is one line read by the host
 * (sample, ack from a guest) and by the agent (cmd from the host). A line
 * accepted must format back to a line that parses to the same message and
 * formats to the same text again: what one side writes, the other reads.
 */
#include <string.h>

#include "agentproto.h"
#include "fuzz.h"

static int format_msg(const struct agentproto_msg *m, char *buf, size_t size)
{
	switch (m->type) {
	case AGENTPROTO_SAMPLE:
		return agentproto__format_sample(buf, size, &m->sample);
	case AGENTPROTO_ACK:
		return agentproto__format_ack(buf, size, &m->ack);
	case AGENTPROTO_CMD:
		return agentproto__format_cmd(buf, size, &m->cmd);
	}
	FUZZ_CHECK(0, "parsed message of unknown type %d", (int)m->type);
	return -1;
}

static void round_trip(const uint8_t *data, size_t size, bool from_guest)
{
	struct agentproto_msg m1, m2;
	enum agentproto_reject why;
	char line1[AGENTPROTO_MAX_LINE], line2[AGENTPROTO_MAX_LINE];
	int n1, n2;

	memset(&m1, 0, sizeof(m1));
	if (agentproto__parse((const char *)data, size, from_guest, &m1, &why)) {
		FUZZ_CHECK(why > AP_REJ_NONE && why < AP_REJ__COUNT, "reject reason %d", (int)why);
		FUZZ_CHECK(strcmp(agentproto__reject_name(why), "unknown"), "unnamed reason %d",
			   (int)why);
		return;
	}
	FUZZ_CHECK(why == AP_REJ_NONE, "accepted with reason %d", (int)why);
	FUZZ_CHECK(from_guest ? m1.type != AGENTPROTO_CMD : m1.type == AGENTPROTO_CMD,
		   "type %d accepted from_guest=%d", (int)m1.type, from_guest);
	if (m1.type == AGENTPROTO_SAMPLE) {
		const struct agent_sample *s = &m1.sample;

		FUZZ_CHECK(s->mem_avail_kb <= s->mem_total_kb && s->mem_free_kb <= s->mem_total_kb,
			   "sample with more free memory than memory");
		FUZZ_CHECK(s->cpus_online <= s->cpus_present && s->cpus_present,
			   "sample with %u of %u CPUs online", s->cpus_online, s->cpus_present);
		FUZZ_CHECK(memchr(s->version, '\0', sizeof(s->version)), "version not terminated");
	}

	n1 = format_msg(&m1, line1, sizeof(line1));
	FUZZ_CHECK(n1 > 0, "accepted message does not format back: %d", n1);
	FUZZ_CHECK((size_t)n1 < sizeof(line1) && line1[n1 - 1] == '\n', "formatted line of %d", n1);
	memset(&m2, 0, sizeof(m2));
	FUZZ_CHECK(!agentproto__parse(line1, (size_t)n1 - 1, from_guest, &m2, &why),
		   "formatted line rejected (%s): %.*s", agentproto__reject_name(why), n1, line1);
	FUZZ_CHECK(!memcmp(&m1, &m2, sizeof(m1)), "round trip changed the message: %.*s", n1,
		   line1);
	n2 = format_msg(&m2, line2, sizeof(line2));
	FUZZ_CHECK(n2 == n1 && !memcmp(line1, line2, (size_t)n1), "formatted twice differently");
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	/* One line: the channel strips the newline before parsing. */
	round_trip(data, size, true);
	round_trip(data, size, false);
	return 0;
}
