// SPDX-License-Identifier: GPL-2.0
/* The wire format: round trips, and a strict host-side parser against hostile lines. */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>
#include <cmocka.h>

#include "agentproto.h"

static const char good[] =
	"KP1 sample seq=5 boot=77 ver=0.1.0 interval_ms=1000 uptime_ms=7830 mem_total_kb=337040 "
	"mem_avail_kb=254652 mem_free_kb=204292 cached_kb=44824 swap_total_kb=102396 "
	"swap_used_kb=20480 swapin_ps=200 swapout_ps=0 psi_mem_some=150 psi_mem_full=75 "
	"psi_cpu_some=1234 psi_cpu_full=0 cpu_busy=1700 disk_rd_bytes=40960 disk_wr_bytes=81920 "
	"disk_rd_ios=10 disk_wr_ios=10 net_rx_bytes=1000566 net_tx_bytes=2426 net_rx_pkts=1007 "
	"net_tx_pkts=25 cpus_online=1 cpus_present=2";

static enum agentproto_reject parse_str(const char *line, bool from_guest,
					struct agentproto_msg *msg)
{
	enum agentproto_reject why = AP_REJ_NONE;
	int err = agentproto__parse(line, strlen(line), from_guest, msg, &why);

	assert_true(err == 0 || err == -EINVAL);
	assert_int_equal(err == 0, why == AP_REJ_NONE);
	return why;
}

/* Replace " key=old" in good with " key=val" (or drop it when val is NULL). */
static void with_field(char *out, size_t size, const char *key, const char *val)
{
	char pat[64];
	const char *p, *end;

	snprintf(pat, sizeof(pat), " %s=", key);
	p = strstr(good, pat);
	assert_non_null(p);
	end = strchr(p + 1, ' ');
	if (!end)
		end = good + strlen(good);
	if (val)
		snprintf(out, size, "%.*s%s%s%s", (int)(p - good), good, pat, val, end);
	else
		snprintf(out, size, "%.*s%s", (int)(p - good), good, end);
}

static void test_good_sample(void **state)
{
	struct agentproto_msg m;

	(void)state;
	assert_int_equal(parse_str(good, true, &m), AP_REJ_NONE);
	assert_int_equal(m.type, AGENTPROTO_SAMPLE);
	assert_int_equal(m.sample.seq, 5);
	assert_int_equal(m.sample.boot, 77);
	assert_string_equal(m.sample.version, "0.1.0");
	assert_int_equal(m.sample.mem_total_kb, 337040);
	assert_int_equal(m.sample.mem_avail_kb, 254652);
	assert_int_equal(m.sample.swap_used_kb, 20480);
	assert_int_equal(m.sample.psi_cpu_some, 1234);
	assert_int_equal(m.sample.net_rx_bytes, 1000566);
	assert_int_equal(m.sample.cpus_online, 1);
	assert_int_equal(m.sample.cpus_present, 2);
	assert_int_equal(m.sample.present, AGENT_HAS_PSI_MEM | AGENT_HAS_PSI_CPU | AGENT_HAS_SWAP |
						   AGENT_HAS_CPU | AGENT_HAS_DISK | AGENT_HAS_NET |
						   AGENT_HAS_CACHED);
	/* The guest side does not accept samples, nor the host commands. */
	assert_int_equal(parse_str(good, false, &m), AP_REJ_UNKNOWN_TYPE);
	assert_int_equal(parse_str("KP1 cmd id=1 op=report-now", true, &m), AP_REJ_UNKNOWN_TYPE);
}

static void test_optional_fields(void **state)
{
	struct agentproto_msg m;
	char line[AGENTPROTO_MAX_LINE];

	(void)state;
	/* A guest without PSI (psi=0) sends no psi_* keys: valid, and marked absent. */
	with_field(line, sizeof(line), "psi_cpu_some", NULL);
	assert_int_equal(parse_str(line, true, &m), AP_REJ_NONE);
	assert_true(m.sample.present & AGENT_HAS_PSI_CPU); /* psi_cpu_full is still there */
	assert_int_equal(m.sample.psi_cpu_some, 0);
	/* Only the required keys. */
	assert_int_equal(parse_str("KP1 sample seq=1 boot=1 ver=1 interval_ms=1000 "
				   "mem_total_kb=100 mem_avail_kb=50 mem_free_kb=40 cpus_online=1 "
				   "cpus_present=1",
				   true, &m),
			 AP_REJ_NONE);
	assert_int_equal(m.sample.present, 0);
	assert_int_equal(m.sample.cpu_busy, 0);
}

static void test_round_trip(void **state)
{
	struct agentproto_msg m, m2;
	char buf[AGENTPROTO_MAX_LINE];
	enum agentproto_reject why;
	int n;

	(void)state;
	assert_int_equal(parse_str(good, true, &m), AP_REJ_NONE);
	n = agentproto__format_sample(buf, sizeof(buf), &m.sample);
	assert_true(n > 0);
	assert_int_equal(buf[n - 1], '\n');
	assert_int_equal(agentproto__parse(buf, (size_t)n - 1, true, &m2, &why), 0);
	assert_memory_equal(&m.sample, &m2.sample, sizeof(m.sample));
	buf[n - 1] = '\0';
	assert_string_equal(buf, good);
}

static void test_max_sample_fits(void **state)
{
	struct agent_sample s;
	struct agentproto_msg m;
	enum agentproto_reject why;
	char buf[AGENTPROTO_MAX_LINE];
	int n;

	(void)state;
	/* Every field at its largest valid value still fits in one line. */
	memset(&s, 0, sizeof(s));
	s.seq = s.uptime_ms = 1ull << 62;
	s.boot = UINT32_MAX;
	memset(s.version, 'v', AGENTPROTO_MAX_WORD - 1);
	s.interval_ms = 3600000;
	s.mem_total_kb = s.mem_avail_kb = s.mem_free_kb = s.cached_kb = 1ull << 42;
	s.swap_total_kb = s.swap_used_kb = 1ull << 42;
	s.swapin_ps = s.swapout_ps = 1ull << 40;
	s.psi_mem_some = s.psi_mem_full = s.psi_cpu_some = s.psi_cpu_full = s.cpu_busy = 10000;
	s.disk_rd_bytes = s.disk_wr_bytes = s.disk_rd_ios = s.disk_wr_ios = 1ull << 62;
	s.net_rx_bytes = s.net_tx_bytes = s.net_rx_pkts = s.net_tx_pkts = 1ull << 62;
	s.cpus_online = s.cpus_present = AGENTPROTO_MAX_CPUS;
	s.present = AGENT_HAS_PSI_MEM | AGENT_HAS_PSI_CPU | AGENT_HAS_SWAP | AGENT_HAS_CPU |
		    AGENT_HAS_DISK | AGENT_HAS_NET | AGENT_HAS_CACHED;
	n = agentproto__format_sample(buf, sizeof(buf), &s);
	assert_true(n > 0 && n <= AGENTPROTO_MAX_LINE);
	assert_int_equal(agentproto__parse(buf, (size_t)n - 1, true, &m, &why), 0);
	assert_memory_equal(&s, &m.sample, sizeof(s));
	/* A buffer too small is an error, never a cut line. */
	assert_int_equal(agentproto__format_sample(buf, 100, &s), -E2BIG);
}

static void test_hostile_lines(void **state)
{
	static const struct {
		const char *key, *val;
		enum agentproto_reject why;
	} cases[] = {
		{ "mem_total_kb", "-1", AP_REJ_OUT_OF_RANGE },
		{ "mem_total_kb", "99999999999999999999999", AP_REJ_OUT_OF_RANGE },
		{ "mem_total_kb", "18446744073709551615", AP_REJ_OUT_OF_RANGE },
		{ "mem_total_kb", "4398046511105", AP_REJ_OUT_OF_RANGE }, /* 2^42 + 1 */
		{ "mem_total_kb", "0", AP_REJ_OUT_OF_RANGE },
		{ "mem_total_kb", "0x10", AP_REJ_BAD_NUMBER },
		{ "mem_total_kb", "010", AP_REJ_BAD_NUMBER },
		{ "mem_total_kb", "+5", AP_REJ_BAD_NUMBER },
		{ "mem_total_kb", "1e9", AP_REJ_BAD_NUMBER },
		{ "mem_total_kb", "12.5", AP_REJ_BAD_NUMBER },
		{ "mem_total_kb", "-", AP_REJ_BAD_NUMBER },
		{ "mem_total_kb", "-0", AP_REJ_BAD_NUMBER },
		{ "cpu_busy", "10001", AP_REJ_OUT_OF_RANGE },
		{ "psi_mem_some", "4294967297", AP_REJ_OUT_OF_RANGE },
		{ "cpus_online", "0", AP_REJ_OUT_OF_RANGE },
		{ "cpus_present", "4097", AP_REJ_OUT_OF_RANGE },
		{ "cpus_online", "3", AP_REJ_INCONSISTENT }, /* above present (2) */
		{ "mem_avail_kb", "337041", AP_REJ_INCONSISTENT },
		{ "swap_used_kb", "102397", AP_REJ_INCONSISTENT },
		{ "seq", "0", AP_REJ_OUT_OF_RANGE },
		{ "ver", "0.1.0;rm", AP_REJ_BAD_WORD },
		{ "ver", "abcdefghijklmnopqrstuvwxyz0123456", AP_REJ_BAD_WORD },
		{ "seq", NULL, AP_REJ_MISSING_KEY },
		{ "mem_total_kb", NULL, AP_REJ_MISSING_KEY },
		{ "boot", NULL, AP_REJ_MISSING_KEY },
	};
	struct agentproto_msg m;
	char line[AGENTPROTO_MAX_LINE];

	(void)state;
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		with_field(line, sizeof(line), cases[i].key, cases[i].val);
		if (parse_str(line, true, &m) != cases[i].why)
			fail_msg("case %zu '%s=%s': got '%s'", i, cases[i].key,
				 cases[i].val ? cases[i].val : "(none)",
				 agentproto__reject_name(parse_str(line, true, &m)));
	}
}

static void test_hostile_framing(void **state)
{
	struct agentproto_msg m;
	enum agentproto_reject why;
	char line[4 * AGENTPROTO_MAX_LINE];
	int n;

	(void)state;
	/* Over-long, even when it would otherwise be valid. */
	n = snprintf(line, sizeof(line), "%s", good);
	memset(line + n, 'x', sizeof(line) - (size_t)n);
	assert_int_equal(agentproto__parse(line, AGENTPROTO_MAX_LINE, true, &m, &why), -EINVAL);
	assert_int_equal(why, AP_REJ_TOO_LONG);
	assert_int_equal(agentproto__parse(line, sizeof(line), true, &m, &why), -EINVAL);
	assert_int_equal(why, AP_REJ_TOO_LONG);
	/* A NUL byte in the middle must not truncate the line into something valid. */
	memcpy(line, good, sizeof(good));
	line[20] = '\0';
	assert_int_equal(agentproto__parse(line, strlen(good), true, &m, &why), -EINVAL);
	assert_int_equal(why, AP_REJ_BAD_CHAR);
	memcpy(line, good, sizeof(good));
	line[30] = (char)0xc3;
	assert_int_equal(agentproto__parse(line, strlen(good), true, &m, &why), -EINVAL);
	assert_int_equal(why, AP_REJ_BAD_CHAR);
	assert_int_equal(parse_str("KP1 sample seq=1\tboot=2", true, &m), AP_REJ_BAD_CHAR);
	assert_int_equal(parse_str("", true, &m), AP_REJ_MALFORMED);
	assert_int_equal(parse_str("hello", true, &m), AP_REJ_BAD_MAGIC);
	assert_int_equal(parse_str("KPx sample", true, &m), AP_REJ_BAD_MAGIC);
	assert_int_equal(parse_str("KP2 sample seq=1", true, &m), AP_REJ_BAD_VERSION);
	assert_int_equal(parse_str("KP1", true, &m), AP_REJ_UNKNOWN_TYPE);
	assert_int_equal(parse_str("KP1 hello", true, &m), AP_REJ_UNKNOWN_TYPE);
	assert_int_equal(parse_str("KP1  sample", true, &m), AP_REJ_MALFORMED);
	assert_int_equal(parse_str("KP1 sample seq", true, &m), AP_REJ_MALFORMED);
	assert_int_equal(parse_str("KP1 sample =5", true, &m), AP_REJ_MALFORMED);
	assert_int_equal(parse_str("KP1 sample seq=", true, &m), AP_REJ_MALFORMED);
	n = snprintf(line, sizeof(line), "%s ", good);
	assert_int_equal(parse_str(line, true, &m), AP_REJ_MALFORMED);
	n = snprintf(line, sizeof(line), "%s evil=1", good);
	assert_int_equal(parse_str(line, true, &m), AP_REJ_TOO_MANY_FIELDS);
	with_field(line, sizeof(line), "seq", NULL);
	strcat(line, " evil=1");
	assert_int_equal(parse_str(line, true, &m), AP_REJ_UNKNOWN_KEY);
	with_field(line, sizeof(line), "seq", NULL);
	strcat(line, " boot=78");
	assert_int_equal(parse_str(line, true, &m), AP_REJ_DUPLICATE_KEY);
	n = snprintf(line, sizeof(line), "KP1 sample");
	for (int i = 0; i < 60; i++)
		n += snprintf(line + n, sizeof(line) - (size_t)n, " a=1");
	assert_int_equal(parse_str(line, true, &m), AP_REJ_TOO_MANY_FIELDS);
}

static void test_cmd_and_ack(void **state)
{
	struct agent_cmd cmd = { .id = 9, .op = AGENT_OP_SET_CPUS, .arg = 3 };
	struct agent_ack ack = {
		.id = 9, .op = AGENT_OP_SET_CPUS, .rc = -34, .cpus_online = 1, .cpus_present = 2
	};
	struct agentproto_msg m;
	enum agentproto_reject why;
	char buf[AGENTPROTO_MAX_LINE];
	int n;

	(void)state;
	n = agentproto__format_cmd(buf, sizeof(buf), &cmd);
	assert_true(n > 0);
	assert_string_equal(buf, "KP1 cmd id=9 op=set-cpus arg=3\n");
	assert_int_equal(agentproto__parse(buf, (size_t)n - 1, false, &m, &why), 0);
	assert_int_equal(m.type, AGENTPROTO_CMD);
	assert_int_equal(m.cmd.id, 9);
	assert_int_equal(m.cmd.op, AGENT_OP_SET_CPUS);
	assert_int_equal(m.cmd.arg, 3);

	cmd.op = AGENT_OP_REPORT_NOW;
	n = agentproto__format_cmd(buf, sizeof(buf), &cmd);
	assert_string_equal(buf, "KP1 cmd id=9 op=report-now\n");
	cmd.id = 0;
	assert_int_equal(agentproto__format_cmd(buf, sizeof(buf), &cmd), -EINVAL);

	assert_int_equal(parse_str("KP1 cmd id=1 op=set-cpus", false, &m), AP_REJ_MISSING_KEY);
	assert_int_equal(parse_str("KP1 cmd id=1 op=set-cpus arg=0", false, &m),
			 AP_REJ_OUT_OF_RANGE);
	assert_int_equal(parse_str("KP1 cmd id=1 op=set-cpus arg=5000", false, &m),
			 AP_REJ_OUT_OF_RANGE);
	assert_int_equal(parse_str("KP1 cmd id=1 op=reboot", false, &m), AP_REJ_BAD_WORD);
	assert_int_equal(parse_str("KP1 cmd id=1 op=pause arg=3601", false, &m),
			 AP_REJ_OUT_OF_RANGE);
	assert_int_equal(parse_str("KP1 cmd id=1 op=report-now arg=1", false, &m),
			 AP_REJ_INCONSISTENT);

	n = agentproto__format_ack(buf, sizeof(buf), &ack);
	assert_string_equal(buf, "KP1 ack id=9 op=set-cpus rc=-34 online=1 present=2\n");
	assert_int_equal(agentproto__parse(buf, (size_t)n - 1, true, &m, &why), 0);
	assert_int_equal(m.type, AGENTPROTO_ACK);
	assert_int_equal(m.ack.rc, -34);
	assert_int_equal(m.ack.cpus_online, 1);
	assert_int_equal(parse_str("KP1 ack id=9 op=set-cpus rc=1", true, &m), AP_REJ_OUT_OF_RANGE);
	assert_int_equal(parse_str("KP1 ack id=9 op=set-cpus rc=-4096", true, &m),
			 AP_REJ_OUT_OF_RANGE);
	assert_int_equal(parse_str("KP1 ack id=9 rc=0", true, &m), AP_REJ_MISSING_KEY);
	ack.rc = 5;
	assert_int_equal(agentproto__format_ack(buf, sizeof(buf), &ack), -EINVAL);
}

static void test_seq(void **state)
{
	struct agentproto_seq st = { 0 };

	(void)state;
	assert_int_equal(agentproto_seq__check(&st, 7, 10), AP_SEQ_FIRST);
	assert_int_equal(agentproto_seq__check(&st, 7, 11), AP_SEQ_OK);
	assert_int_equal(agentproto_seq__check(&st, 7, 11), AP_SEQ_REPLAY);
	assert_int_equal(agentproto_seq__check(&st, 7, 5), AP_SEQ_REGRESSION);
	assert_int_equal(st.last, 11);
	assert_int_equal(agentproto_seq__check(&st, 7, 15), AP_SEQ_GAP);
	assert_int_equal(st.gaps, 3);
	assert_int_equal(agentproto_seq__check(&st, 8, 1), AP_SEQ_RESTART);
	assert_int_equal(st.restarts, 1);
	assert_int_equal(agentproto_seq__check(&st, 8, 2), AP_SEQ_OK);
}

/* Random bytes and random mutations of a good line: never a crash, never an odd result. */
static void test_garbage(void **state)
{
	uint64_t x = 0x9e3779b97f4a7c15ull;
	struct agentproto_msg m;
	enum agentproto_reject why;
	char buf[AGENTPROTO_MAX_LINE + 64];

	(void)state;
	for (int i = 0; i < 20000; i++) {
		size_t len;

		x ^= x << 13;
		x ^= x >> 7;
		x ^= x << 17;
		if (i & 1) {
			len = x % sizeof(buf);
			for (size_t j = 0; j < len; j++) {
				x ^= x << 13;
				x ^= x >> 7;
				x ^= x << 17;
				buf[j] = (char)(x & 0xff);
			}
		} else {
			len = strlen(good);
			memcpy(buf, good, len);
			buf[x % len] = (char)((x >> 16) & 0x7f);
			buf[(x >> 24) % len] = (char)((x >> 32) & 0x7f);
		}
		if (!agentproto__parse(buf, len, true, &m, &why)) {
			assert_int_equal(why, AP_REJ_NONE);
			assert_true(m.type == AGENTPROTO_SAMPLE || m.type == AGENTPROTO_ACK);
			if (m.type == AGENTPROTO_SAMPLE) {
				assert_true(m.sample.mem_avail_kb <= m.sample.mem_total_kb);
				assert_true(m.sample.cpus_online <= m.sample.cpus_present);
			}
		} else {
			assert_true(why > AP_REJ_NONE && why < AP_REJ__COUNT);
			assert_string_not_equal(agentproto__reject_name(why), "unknown");
		}
	}
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_good_sample),   cmocka_unit_test(test_optional_fields),
		cmocka_unit_test(test_round_trip),    cmocka_unit_test(test_max_sample_fits),
		cmocka_unit_test(test_hostile_lines), cmocka_unit_test(test_hostile_framing),
		cmocka_unit_test(test_cmd_and_ack),   cmocka_unit_test(test_seq),
		cmocka_unit_test(test_garbage),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
