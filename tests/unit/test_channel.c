// SPDX-License-Identifier: GPL-2.0
/*
 * The host end of the agent channel against a fake QEMU: a unix socket the
 * test listens on and writes guest lines into, hostile ones included.
 */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>
#include <cmocka.h>

#include <json-c/json.h>

#include "channel.h"

#define S_NS 1000000000ull

struct fake {
	char dir[128];
	char path[160];
	int lfd;
	int cfd; /* the accepted connection, -1 when none */
	struct channel *ch;
	uint64_t now;
};

static int listen_on(const char *path)
{
	struct sockaddr_un sa = { .sun_family = AF_UNIX };
	int fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);

	assert_true(fd >= 0);
	snprintf(sa.sun_path, sizeof(sa.sun_path), "%s", path);
	assert_int_equal(bind(fd, (struct sockaddr *)&sa, sizeof(sa)), 0);
	assert_int_equal(listen(fd, 4), 0);
	return fd;
}

static int setup_opts(void **state, const struct channel_opts *opts)
{
	struct fake *f = calloc(1, sizeof(*f));

	snprintf(f->dir, sizeof(f->dir), "/tmp/kvmpilot-test-channel.XXXXXX");
	if (!f || !mkdtemp(f->dir))
		return -1;
	snprintf(f->path, sizeof(f->path), "%s/agent.sock", f->dir);
	f->lfd = listen_on(f->path);
	f->cfd = -1;
	f->now = 1000 * S_NS;
	f->ch = channel__new(f->path, opts);
	if (!f->ch)
		return -1;
	*state = f;
	return 0;
}

static int setup(void **state)
{
	return setup_opts(state, NULL);
}

static int setup_flood(void **state)
{
	struct channel_opts o = { .max_lines_per_s = 10, .line_burst = 10 };

	return setup_opts(state, &o);
}

static int teardown(void **state)
{
	struct fake *f = *state;

	channel__free(f->ch);
	if (f->cfd >= 0)
		close(f->cfd);
	close(f->lfd);
	unlink(f->path);
	rmdir(f->dir);
	free(f);
	return 0;
}

static void connect_fake(struct fake *f)
{
	assert_int_equal(channel__poll(f->ch, f->now), 0);
	assert_true(channel__connected(f->ch));
	assert_true(channel__fd(f->ch) >= 0);
	f->cfd = accept(f->lfd, NULL, NULL);
	assert_true(f->cfd >= 0);
}

static void send_raw(struct fake *f, const char *buf, size_t len)
{
	assert_int_equal(write(f->cfd, buf, len), (ssize_t)len);
}

static void send_str(struct fake *f, const char *s)
{
	send_raw(f, s, strlen(s));
}

static void send_sample(struct fake *f, uint32_t boot, uint64_t seq, uint64_t total_kb)
{
	char line[AGENTPROTO_MAX_LINE];

	snprintf(line, sizeof(line),
		 "KP1 sample seq=%llu boot=%u ver=0.1.0 interval_ms=1000 mem_total_kb=%llu "
		 "mem_avail_kb=1000 mem_free_kb=900 cpus_online=1 cpus_present=2\n",
		 (unsigned long long)seq, boot, (unsigned long long)total_kb);
	send_str(f, line);
}

static void test_sample_and_silence(void **state)
{
	struct fake *f = *state;
	struct agent_sample s;
	uint64_t recv;

	assert_int_equal(channel__latest(f->ch, &s, &recv), -ENODATA);
	assert_true(channel__silent(f->ch, f->now));
	assert_int_equal(channel__age_ns(f->ch, f->now), UINT64_MAX);
	connect_fake(f);
	send_sample(f, 7, 1, 337040);
	assert_int_equal(channel__poll(f->ch, f->now), 1);
	assert_int_equal(channel__latest(f->ch, &s, &recv), 0);
	assert_int_equal(s.mem_total_kb, 337040);
	assert_int_equal(recv, f->now);
	assert_false(channel__silent(f->ch, f->now + 4 * S_NS));
	assert_int_equal(channel__age_ns(f->ch, f->now + 4 * S_NS), 4 * S_NS);
	/* No valid sample for more than 5 s: callers fall back to balloon stats. */
	assert_true(channel__silent(f->ch, f->now + 6 * S_NS));
	/* Nothing new: 0, and the latest sample stays. */
	assert_int_equal(channel__poll(f->ch, f->now + S_NS), 0);
	assert_int_equal(channel__stats(f->ch)->samples, 1);
}

static void test_partial_lines(void **state)
{
	struct fake *f = *state;
	char line[AGENTPROTO_MAX_LINE];
	struct agent_sample s;
	size_t half;

	connect_fake(f);
	snprintf(line, sizeof(line),
		 "KP1 sample seq=1 boot=1 ver=1 interval_ms=1000 mem_total_kb=4096 "
		 "mem_avail_kb=1 mem_free_kb=1 cpus_online=1 cpus_present=1\n");
	half = strlen(line) / 2;
	send_raw(f, line, half);
	assert_int_equal(channel__poll(f->ch, f->now), 0);
	send_raw(f, line + half, strlen(line) - half);
	assert_int_equal(channel__poll(f->ch, f->now), 1);
	assert_int_equal(channel__latest(f->ch, &s, NULL), 0);
	assert_int_equal(s.mem_total_kb, 4096);
	assert_int_equal(channel__stats(f->ch)->rejected, 0);
}

static void test_hostile(void **state)
{
	struct fake *f = *state;
	const struct channel_stats *st;
	static const char nul_line[] = "KP1 sample seq=2\0 boot=1\n";
	char big[3 * AGENTPROTO_MAX_LINE];
	struct agent_sample s;

	connect_fake(f);
	/* Over-long: counted once, the rest of it skipped up to its newline. */
	memset(big, 'A', sizeof(big));
	big[0] = 0x01;
	big[sizeof(big) - 1] = '\n';
	send_raw(f, big, sizeof(big));
	send_raw(f, nul_line, sizeof(nul_line) - 1);
	send_str(f, "KP1 sample seq=3 boot=1 ver=1 interval_ms=1000 mem_total_kb=-5 "
		    "mem_avail_kb=1 mem_free_kb=1 cpus_online=1 cpus_present=1\n");
	send_str(f,
		 "KP1 sample seq=3 boot=1 ver=1 interval_ms=1000 mem_total_kb=99999999999999999999 "
		 "mem_avail_kb=1 mem_free_kb=1 cpus_online=1 cpus_present=1\n");
	send_str(f, "KP1 sample seq=3 boot=1 ver=1 interval_ms=1000 mem_total_kb=5 evil=1 "
		    "mem_avail_kb=1 mem_free_kb=1 cpus_online=1 cpus_present=1\n");
	send_str(f, "KP1 sample seq=3 seq=4 boot=1 ver=1 interval_ms=1000 mem_total_kb=5 "
		    "mem_avail_kb=1 mem_free_kb=1 cpus_online=1 cpus_present=1\n");
	send_str(f, "KP9 sample seq=3\n");
	send_str(f, "GET / HTTP/1.0\n");
	send_str(f, "\n");
	/* One guest cannot act for the host: commands from the guest are refused. */
	send_str(f, "KP1 cmd id=1 op=set-cpus arg=64\n");
	send_str(f, "KP1 ack id=42 op=set-cpus rc=0\n");
	send_sample(f, 1, 10, 8192);
	assert_int_equal(channel__poll(f->ch, f->now), 1);
	st = channel__stats(f->ch);
	assert_int_equal(st->rejects[AP_REJ_TOO_LONG], 1);
	assert_int_equal(st->rejects[AP_REJ_BAD_CHAR], 1);
	assert_int_equal(st->rejects[AP_REJ_OUT_OF_RANGE], 2);
	assert_int_equal(st->rejects[AP_REJ_UNKNOWN_KEY], 1);
	assert_int_equal(st->rejects[AP_REJ_DUPLICATE_KEY], 1);
	assert_int_equal(st->rejects[AP_REJ_BAD_VERSION], 1);
	assert_int_equal(st->rejects[AP_REJ_BAD_MAGIC], 1);
	assert_int_equal(st->rejects[AP_REJ_MALFORMED], 1);
	assert_int_equal(st->rejects[AP_REJ_UNKNOWN_TYPE], 1);
	assert_int_equal(st->rejects[AP_REJ_UNEXPECTED_ACK], 1);
	assert_int_equal(st->rejected, 11);
	assert_int_equal(st->samples, 1);
	assert_int_equal(st->last_reject.why, AP_REJ_UNEXPECTED_ACK);
	assert_string_equal(st->last_reject.excerpt, "KP1 ack id=42 op=set-cpus rc=0");
	/* Only the valid line reached the latest sample. */
	assert_int_equal(channel__latest(f->ch, &s, NULL), 0);
	assert_int_equal(s.mem_total_kb, 8192);
	assert_int_equal(s.seq, 10);
}

static void test_excerpt_sanitized(void **state)
{
	struct fake *f = *state;
	const struct channel_stats *st;

	connect_fake(f);
	send_raw(f, "KP1 \x1b[31mred\x7f\n", 14);
	assert_int_equal(channel__poll(f->ch, f->now), 0);
	st = channel__stats(f->ch);
	assert_int_equal(st->last_reject.why, AP_REJ_BAD_CHAR);
	assert_string_equal(st->last_reject.excerpt, "KP1 ?[31mred?");
}

static void test_sequence(void **state)
{
	struct fake *f = *state;
	const struct channel_stats *st;
	struct agent_sample s;

	connect_fake(f);
	send_sample(f, 3, 5, 1000);
	send_sample(f, 3, 5, 2000); /* replay */
	send_sample(f, 3, 4, 3000); /* regression */
	send_sample(f, 3, 9, 4000); /* gap of 3 */
	send_sample(f, 4, 1, 5000); /* agent restarted */
	assert_int_equal(channel__poll(f->ch, f->now), 3);
	st = channel__stats(f->ch);
	assert_int_equal(st->rejects[AP_REJ_SEQ_REPLAY], 1);
	assert_int_equal(st->rejects[AP_REJ_SEQ_REGRESSION], 1);
	assert_int_equal(st->seq_gaps, 3);
	assert_int_equal(st->agent_restarts, 1);
	assert_int_equal(channel__latest(f->ch, &s, NULL), 0);
	assert_int_equal(s.mem_total_kb, 5000);
}

static void test_flood(void **state)
{
	struct fake *f = *state;
	const struct channel_stats *st;

	connect_fake(f);
	for (int i = 1; i <= 100; i++)
		send_sample(f, 1, (uint64_t)i, 1000 + (uint64_t)i);
	/* Burst of 10, then nothing more within the same instant. */
	assert_int_equal(channel__poll(f->ch, f->now), 10);
	st = channel__stats(f->ch);
	assert_int_equal(st->rejects[AP_REJ_FLOOD], 90);
	/* One second later the bucket holds 10 lines again. */
	for (int i = 101; i <= 120; i++)
		send_sample(f, 1, (uint64_t)i, 1000 + (uint64_t)i);
	assert_int_equal(channel__poll(f->ch, f->now + S_NS), 10);
	assert_int_equal(st->rejects[AP_REJ_FLOOD], 100);
}

/*
 * The defaults a guest meets (channel.h): a burst of 40 lines, then 20 a
 * second. Lines beyond are dropped and counted as flood.
 */
static int send_at(struct fake *f, uint64_t at, uint64_t *seq, int lines)
{
	for (int i = 0; i < lines; i++, (*seq)++)
		send_sample(f, 1, *seq, 1000 + *seq);
	return channel__poll(f->ch, at);
}

static void test_flood_defaults(void **state)
{
	struct fake *f = *state;
	const struct channel_stats *st;
	uint64_t seq = 1, t = f->now;
	int ok;

	connect_fake(f);
	st = channel__stats(f->ch);
	/* 100 lines at once: the burst of 40 passes, 60 are flood */
	assert_int_equal(send_at(f, t, &seq, 100), 40);
	assert_int_equal(st->rejects[AP_REJ_FLOOD], 60);
	/* half a second later: 10 lines' worth of tokens */
	t += S_NS / 2;
	assert_int_equal(send_at(f, t, &seq, 20), 10);
	assert_int_equal(st->rejects[AP_REJ_FLOOD], 70);
	/* a second later: 20 more */
	t += S_NS;
	assert_int_equal(send_at(f, t, &seq, 30), 20);
	assert_int_equal(st->rejects[AP_REJ_FLOOD], 80);
	/* paced at exactly 20/s for two seconds: every line passes */
	ok = 0;
	for (int i = 0; i < 40; i++) {
		t += S_NS / 20;
		ok += send_at(f, t, &seq, 1);
	}
	assert_int_equal(ok, 40);
	assert_int_equal(st->rejects[AP_REJ_FLOOD], 80);
	/* paced at 40/s for a second: half of them, 20 */
	ok = 0;
	for (int i = 0; i < 40; i++) {
		t += S_NS / 40;
		ok += send_at(f, t, &seq, 1);
	}
	assert_int_equal(ok, 20);
	assert_int_equal(st->rejects[AP_REJ_FLOOD], 100);
	/* a long quiet spell refills the bucket to 40, not beyond */
	t += 60 * S_NS;
	assert_int_equal(send_at(f, t, &seq, 100), 40);
	assert_int_equal(st->rejects[AP_REJ_FLOOD], 160);
	assert_int_equal(st->samples, 40 + 10 + 20 + 40 + 20 + 40);
}

struct order {
	char log[64];
};

static void order_sample(void *ctx, const struct agent_sample *s, uint64_t recv_ns)
{
	struct order *o = ctx;

	(void)recv_ns;
	snprintf(o->log + strlen(o->log), sizeof(o->log) - strlen(o->log), "s%llu ",
		 (unsigned long long)s->seq);
}

static void order_ack(void *ctx, const struct agent_ack *ack)
{
	struct order *o = ctx;

	snprintf(o->log + strlen(o->log), sizeof(o->log) - strlen(o->log), "a%u ", ack->id);
}

/* Callbacks see every sample and ack in stream order, even within one read. */
static void test_callbacks(void **state)
{
	struct fake *f = *state;
	struct order o = { "" };
	char reply[128], buf[128];
	uint32_t id;

	channel__on_sample(f->ch, order_sample, &o);
	channel__on_ack(f->ch, order_ack, &o);
	connect_fake(f);
	assert_int_equal(channel__send(f->ch, AGENT_OP_REPORT_NOW, 0, f->now, &id), 0);
	assert_true(read(f->cfd, buf, sizeof(buf)) > 0);
	send_sample(f, 1, 1, 1000);
	snprintf(reply, sizeof(reply), "KP1 ack id=%u op=report-now rc=0\n", id);
	send_str(f, reply);
	send_sample(f, 1, 2, 1000);
	send_sample(f, 1, 3, 1000);
	assert_int_equal(channel__poll(f->ch, f->now), 3);
	snprintf(buf, sizeof(buf), "s1 a%u s2 s3 ", id);
	assert_string_equal(o.log, buf);
}

static void test_command(void **state)
{
	struct fake *f = *state;
	struct agentproto_msg m;
	enum agentproto_reject why;
	struct agent_ack ack;
	char buf[256], reply[256];
	uint32_t id = 0, id2 = 0;
	ssize_t n;

	assert_int_equal(channel__send(f->ch, AGENT_OP_SET_CPUS, 2, f->now, &id), -ENOTCONN);
	connect_fake(f);
	assert_int_equal(channel__send(f->ch, AGENT_OP_SET_CPUS, 2, f->now, &id), 0);
	assert_int_equal(channel__result(f->ch, id, f->now, &ack), -EINPROGRESS);
	n = read(f->cfd, buf, sizeof(buf) - 1);
	assert_true(n > 1);
	buf[n] = '\0';
	assert_int_equal(buf[n - 1], '\n');
	assert_int_equal(agentproto__parse(buf, (size_t)n - 1, false, &m, &why), 0);
	assert_int_equal(m.cmd.op, AGENT_OP_SET_CPUS);
	assert_int_equal(m.cmd.arg, 2);
	assert_int_equal(m.cmd.id, id);
	/* An ack for the right id but another op does not match. */
	snprintf(reply, sizeof(reply), "KP1 ack id=%u op=pause rc=0\n", id);
	send_str(f, reply);
	snprintf(reply, sizeof(reply), "KP1 ack id=%u op=set-cpus rc=0 online=2 present=2\n", id);
	send_str(f, reply);
	assert_int_equal(channel__poll(f->ch, f->now), 0);
	assert_int_equal(channel__stats(f->ch)->rejects[AP_REJ_UNEXPECTED_ACK], 1);
	assert_int_equal(channel__result(f->ch, id, f->now, &ack), 0);
	assert_int_equal(ack.rc, 0);
	assert_int_equal(ack.cpus_online, 2);
	/* Answered commands are forgotten; a second ack is unexpected. */
	assert_int_equal(channel__result(f->ch, id, f->now, &ack), -ENOENT);
	send_str(f, reply);
	assert_int_equal(channel__poll(f->ch, f->now), 0);
	assert_int_equal(channel__stats(f->ch)->rejects[AP_REJ_UNEXPECTED_ACK], 2);

	/* No answer: timed out after 5 s. */
	assert_int_equal(channel__send(f->ch, AGENT_OP_REPORT_NOW, 0, f->now, &id2), 0);
	assert_int_not_equal(id2, id);
	assert_int_equal(channel__result(f->ch, id2, f->now + 4 * S_NS, &ack), -EINPROGRESS);
	assert_int_equal(channel__result(f->ch, id2, f->now + 6 * S_NS, &ack), -ETIMEDOUT);
	assert_int_equal(channel__stats(f->ch)->cmds_timed_out, 1);
}

static void test_pending_limit(void **state)
{
	struct fake *f = *state;
	uint32_t id;
	int i;

	connect_fake(f);
	for (i = 0; i < 8; i++)
		assert_int_equal(channel__send(f->ch, AGENT_OP_REPORT_NOW, 0, f->now, &id), 0);
	assert_int_equal(channel__send(f->ch, AGENT_OP_REPORT_NOW, 0, f->now, &id), -EBUSY);
}

static void test_reconnect(void **state)
{
	struct fake *f = *state;
	struct agent_ack ack;
	struct agent_sample s;
	uint32_t id;

	connect_fake(f);
	send_sample(f, 1, 1, 1000);
	assert_int_equal(channel__poll(f->ch, f->now), 1);
	assert_int_equal(channel__send(f->ch, AGENT_OP_SET_CPUS, 1, f->now, &id), 0);
	/* QEMU goes away (domain destroyed, libvirtd restarted the chardev). */
	close(f->cfd);
	f->cfd = -1;
	assert_int_equal(channel__poll(f->ch, f->now), -ECONNRESET);
	assert_false(channel__connected(f->ch));
	assert_int_equal(channel__fd(f->ch), -1);
	assert_int_equal(channel__result(f->ch, id, f->now, &ack), -ECONNRESET);
	/* The latest sample survives, ageing. */
	assert_int_equal(channel__latest(f->ch, &s, NULL), 0);
	/* Backoff: no retry before 0.5 s. */
	assert_int_equal(channel__poll(f->ch, f->now + S_NS / 10), -ENOTCONN);
	f->now += S_NS;
	connect_fake(f);
	assert_int_equal(channel__stats(f->ch)->connects, 2);
	assert_int_equal(channel__stats(f->ch)->disconnects, 1);
	send_sample(f, 1, 2, 2000);
	assert_int_equal(channel__poll(f->ch, f->now), 1);
	assert_int_equal(channel__latest(f->ch, &s, NULL), 0);
	assert_int_equal(s.mem_total_kb, 2000);
	assert_int_equal(channel__stats(f->ch)->seq_gaps, 0);
}

static void test_missing_socket(void **state)
{
	struct channel *ch;
	char longpath[200];

	(void)state;
	ch = channel__new("/nonexistent/agent.sock", NULL);
	assert_non_null(ch);
	assert_int_equal(channel__poll(ch, S_NS), -ENOENT);
	assert_int_equal(channel__stats(ch)->connect_failures, 1);
	assert_int_equal(channel__stats(ch)->last_connect_error, -ENOENT);
	assert_int_equal(channel__poll(ch, S_NS + 1), -ENOTCONN);
	channel__free(ch);
	channel__free(NULL);
	memset(longpath, 'a', sizeof(longpath) - 1);
	longpath[sizeof(longpath) - 1] = '\0';
	assert_null(channel__new(longpath, NULL));
	assert_int_equal(errno, ENAMETOOLONG);
	assert_null(channel__new("", NULL));
}

/* Two VMs, two sockets: what one guest sends never shows up for the other. */
static void test_per_vm_binding(void **state)
{
	struct fake *f = *state;
	char path2[200];
	struct channel *other;
	struct agent_sample s;
	int lfd2, cfd2;

	snprintf(path2, sizeof(path2), "%s/other.sock", f->dir);
	lfd2 = listen_on(path2);
	other = channel__new(path2, NULL);
	assert_non_null(other);
	connect_fake(f);
	assert_int_equal(channel__poll(other, f->now), 0);
	cfd2 = accept(lfd2, NULL, NULL);
	assert_true(cfd2 >= 0);
	send_sample(f, 1, 1, 1111);
	assert_int_equal(channel__poll(f->ch, f->now), 1);
	assert_int_equal(channel__poll(other, f->now), 0);
	assert_int_equal(channel__latest(other, &s, NULL), -ENODATA);
	assert_int_equal(channel__latest(f->ch, &s, NULL), 0);
	assert_int_equal(s.mem_total_kb, 1111);
	close(cfd2);
	close(lfd2);
	unlink(path2);
	channel__free(other);
}

/* An adopted connection (agent in TCP mode) works the same, and is never redialled. */
static void test_adopted_fd(void **state)
{
	struct agent_sample s;
	struct channel *ch;
	int sv[2];

	(void)state;
	assert_int_equal(socketpair(AF_UNIX, SOCK_STREAM, 0, sv), 0);
	ch = channel__new_fd(sv[0], "tcp:192.0.2.7", NULL);
	assert_non_null(ch);
	assert_true(channel__connected(ch));
	assert_string_equal(channel__path(ch), "tcp:192.0.2.7");
	assert_int_equal(write(sv[1],
			       "KP1 sample seq=1 boot=1 ver=1 interval_ms=1000 "
			       "mem_total_kb=77 mem_avail_kb=1 mem_free_kb=1 cpus_online=1 "
			       "cpus_present=1\n",
			       121),
			 121);
	assert_int_equal(channel__poll(ch, S_NS), 1);
	assert_int_equal(channel__latest(ch, &s, NULL), 0);
	assert_int_equal(s.mem_total_kb, 77);
	close(sv[1]);
	assert_int_equal(channel__poll(ch, 2 * S_NS), -ECONNRESET);
	assert_false(channel__connected(ch));
	assert_int_equal(channel__poll(ch, 100 * S_NS), -ENOTCONN);
	assert_int_equal(channel__stats(ch)->connects, 1);
	channel__free(ch);
	assert_null(channel__new_fd(-1, "x", NULL));
}

static void test_json(void **state)
{
	struct agent_sample s = { .seq = 3,
				  .mem_total_kb = 1000,
				  .psi_mem_some = 1234,
				  .cpus_online = 1,
				  .cpus_present = 2,
				  .present = AGENT_HAS_PSI_MEM };
	struct json_object *o, *v;

	(void)state;
	memcpy(s.version, "0.1.0", 6);
	o = channel__sample_json(&s, 1500000000ull);
	assert_non_null(o);
	assert_true(json_object_object_get_ex(o, "source", &v));
	assert_string_equal(json_object_get_string(v), "agent");
	assert_true(json_object_object_get_ex(o, "age_ms", &v));
	assert_int_equal(json_object_get_int64(v), 1500);
	assert_true(json_object_object_get_ex(o, "psi_memory_some_avg10", &v));
	assert_string_equal(json_object_to_json_string(v), "12.34");
	/* Absent groups are absent, not zero. */
	assert_false(json_object_object_get_ex(o, "cpu_busy_pct", &v));
	assert_false(json_object_object_get_ex(o, "net_rx_bytes", &v));
	json_object_put(o);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(test_sample_and_silence, setup, teardown),
		cmocka_unit_test_setup_teardown(test_partial_lines, setup, teardown),
		cmocka_unit_test_setup_teardown(test_hostile, setup, teardown),
		cmocka_unit_test_setup_teardown(test_excerpt_sanitized, setup, teardown),
		cmocka_unit_test_setup_teardown(test_sequence, setup, teardown),
		cmocka_unit_test_setup_teardown(test_flood, setup_flood, teardown),
		cmocka_unit_test_setup_teardown(test_flood_defaults, setup, teardown),
		cmocka_unit_test_setup_teardown(test_command, setup, teardown),
		cmocka_unit_test_setup_teardown(test_callbacks, setup, teardown),
		cmocka_unit_test_setup_teardown(test_pending_limit, setup, teardown),
		cmocka_unit_test_setup_teardown(test_reconnect, setup, teardown),
		cmocka_unit_test(test_missing_socket),
		cmocka_unit_test_setup_teardown(test_per_vm_binding, setup, teardown),
		cmocka_unit_test(test_adopted_fd),
		cmocka_unit_test(test_json),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
