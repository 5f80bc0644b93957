// SPDX-License-Identifier: GPL-2.0
/*
 * The HTTP server on its own (http.h): it serves whatever handler it is
 * given, with no API behind it, and refuses what a read-only server must
 * before the handler sees it (other methods, request bodies, long URLs).
 */
#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/time.h>
#include <time.h>
#include <unistd.h>
#include <cmocka.h>

#include "config.h"
#include "http.h"

struct seen {
	int calls;
	char url[64];
	char who[32];
};

/* Echo the URL and the 'who' argument; /fail is a handler out of memory. */
static int echo(void *ctx, const char *url, http_arg_fn arg, void *cls, struct http_response *resp)
{
	struct seen *seen = ctx;
	const char *who = arg(cls, "who");
	char body[256];

	seen->calls++;
	snprintf(seen->url, sizeof(seen->url), "%s", url);
	snprintf(seen->who, sizeof(seen->who), "%s", who ? who : "");
	if (!strcmp(url, "/fail"))
		return -ENOMEM;
	if (!strcmp(url, "/missing"))
		return http__error(resp, 404, "no such path '%s'", url);
	snprintf(body, sizeof(body), "url=%s who=%s", url, who ? who : "-");
	memset(resp, 0, sizeof(*resp));
	resp->status = 200;
	resp->content_type = "text/plain";
	resp->body = strdup(body);
	if (!resp->body)
		return -ENOMEM;
	resp->len = strlen(body);
	return 0;
}

/* One request over a fresh connection; the whole answer (headers and body) into out. */
static void request(unsigned int port, const char *req, char *out, size_t size)
{
	struct sockaddr_in sa = { .sin_family = AF_INET, .sin_port = htons((uint16_t)port) };
	size_t got = 0;
	ssize_t n;
	int fd;

	sa.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	fd = socket(AF_INET, SOCK_STREAM, 0);
	assert_true(fd >= 0);
	assert_int_equal(connect(fd, (struct sockaddr *)&sa, sizeof(sa)), 0);
	assert_int_equal(write(fd, req, strlen(req)), (ssize_t)strlen(req));
	while (got + 1 < size && (n = read(fd, out + got, size - 1 - got)) > 0)
		got += (size_t)n;
	out[got] = '\0';
	close(fd);
}

/* Connect from the loopback address 127.0.0.src (0: any) with a receive timeout; the fd. */
static int connect_from(unsigned int port, unsigned int src, int timeout_s)
{
	struct sockaddr_in sa = { .sin_family = AF_INET, .sin_port = htons((uint16_t)port) };
	struct sockaddr_in me = { .sin_family = AF_INET };
	struct timeval tv = { .tv_sec = timeout_s };
	int fd;

	sa.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	fd = socket(AF_INET, SOCK_STREAM, 0);
	assert_true(fd >= 0);
	assert_int_equal(setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv)), 0);
	if (src) {
		me.sin_addr.s_addr = htonl(0x7f000000u | src);
		assert_int_equal(bind(fd, (struct sockaddr *)&me, sizeof(me)), 0);
	}
	assert_int_equal(connect(fd, (struct sockaddr *)&sa, sizeof(sa)), 0);
	return fd;
}

/* What fd answers until it closes or stays silent for its timeout; the bytes read. */
static size_t read_answer(int fd, char *out, size_t size)
{
	size_t got = 0;
	ssize_t n;

	while (got + 1 < size && (n = read(fd, out + got, size - 1 - got)) > 0)
		got += (size_t)n;
	out[got] = '\0';
	return got;
}

static double now_s(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static struct http_server *start_with(struct seen *seen, unsigned int max_conns,
				      const struct config_http *access)
{
	struct http_opts opts = { .listen = "127.0.0.1:0",
				  .max_conns = max_conns,
				  .access = access };
	char err[512] = "";
	struct http_server *srv = http__start(&opts, echo, seen, err, sizeof(err));

	if (!srv)
		fail_msg("http__start: %s", err);
	return srv;
}

static struct http_server *start(struct seen *seen)
{
	struct http_opts opts = { .listen = "127.0.0.1:0", .max_conns = 8 };
	char err[256] = "";
	struct http_server *srv = http__start(&opts, echo, seen, err, sizeof(err));

	if (!srv)
		fail_msg("http__start: %s", err);
	assert_true(http__port(srv) > 0);
	return srv;
}

static void test_serves_the_handler(void **state)
{
	struct seen seen = { 0 };
	struct http_server *srv = start(&seen);
	char out[4096];

	(void)state;
	request(http__port(srv),
		"GET /hello?who=me HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\n\r\n", out,
		sizeof(out));
	assert_non_null(strstr(out, "HTTP/1.1 200"));
	assert_non_null(strstr(out, "Content-Type: text/plain"));
	assert_non_null(strstr(out, "X-Content-Type-Options: nosniff"));
	assert_non_null(strstr(out, "\r\n\r\nurl=/hello who=me"));
	assert_int_equal(seen.calls, 1);
	assert_string_equal(seen.who, "me");

	/* the handler's own errors go out as it made them */
	request(http__port(srv),
		"GET /missing HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\n\r\n", out,
		sizeof(out));
	assert_non_null(strstr(out, "HTTP/1.1 404"));
	assert_non_null(strstr(out, "{\"error\":\"no such path '/missing'\"}"));

	/* a handler without memory for an answer: the connection closes, the server lives on */
	request(http__port(srv),
		"GET /fail HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\n\r\n", out,
		sizeof(out));
	assert_null(strstr(out, "HTTP/1.1 200"));
	request(http__port(srv),
		"GET /again HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\n\r\n", out,
		sizeof(out));
	assert_non_null(strstr(out, "url=/again who=-"));
	http__stop(srv);
}

static void test_refused_before_the_handler(void **state)
{
	struct seen seen = { 0 };
	struct http_server *srv = start(&seen);
	char out[8192], req[4096];

	(void)state;
	request(http__port(srv),
		"DELETE /x HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\n\r\n", out,
		sizeof(out));
	assert_non_null(strstr(out, "HTTP/1.1 405"));
	assert_non_null(strstr(out, "Allow: GET, HEAD"));
	assert_non_null(strstr(out, "\"error\":\"method 'DELETE' not allowed"));

	request(http__port(srv),
		"GET /x HTTP/1.1\r\nHost: localhost\r\nContent-Length: 5\r\nConnection: close\r\n\r\nhello",
		out, sizeof(out));
	assert_non_null(strstr(out, "HTTP/1.1 413"));

	snprintf(req, sizeof(req),
		 "GET /%0*d HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\n\r\n",
		 HTTP_MAX_URL + 1, 0);
	request(http__port(srv), req, out, sizeof(out));
	assert_non_null(strstr(out, "HTTP/1.1 414"));
	assert_int_equal(seen.calls, 0);
	http__stop(srv);
}

static void test_bad_listen(void **state)
{
	struct http_opts opts = { .listen = "nonsense", .max_conns = 8 };
	struct seen seen = { 0 };
	char err[256] = "";

	(void)state;
	assert_null(http__start(&opts, echo, &seen, err, sizeof(err)));
	assert_string_equal(err, "bad listen address 'nonsense' (ADDR:PORT)");
	http__stop(NULL);
}

/*
 * Error messages echo what the client sent and may be cut mid-character:
 * the body stays valid UTF-8 (a strict reader such as JSON.parse takes it),
 * every byte that is not becomes '?', valid characters stay.
 */
static void test_error_body_is_utf8(void **state)
{
	struct http_response r;
	char url[700];
	size_t n;

	(void)state;
	assert_int_equal(
		http__error(&r, 404, "no such path '%s'", "/\xe3\xe3x\xc0\xaf\xed\xa0\x80\xc3\xa9"),
		0);
	assert_int_equal(r.status, 404);
	assert_string_equal(r.content_type, "application/json");
	assert_string_equal(r.body, "{\"error\":\"no such path '/??x?????\xc3\xa9'\"}");
	free(r.body);

	/* 'é' is two bytes: the message is cut after 511 bytes, in the middle of one */
	n = 0;
	url[n++] = '/';
	url[n++] = 'x'; /* 16 bytes before the first 'é', 495 for them */
	while (n + 2 < sizeof(url)) {
		url[n++] = '\xc3';
		url[n++] = '\xa9';
	}
	url[n] = '\0';
	assert_int_equal(http__error(&r, 404, "no such path '%s'", url), 0);
	assert_true(r.len > 500);
	assert_string_equal(r.body + r.len - 4, "\xa9?\"}");
	free(r.body);
}

/*
 * A body is refused from the headers: a 100 GB Content-Length gets its 413
 * at once, without the server waiting for (or reading) a byte of it, and
 * so do a chunked body and a POST.
 */
static void test_body_refused_at_once(void **state)
{
	struct seen seen = { 0 };
	struct http_server *srv = start(&seen);
	const char *reqs[] = {
		"GET /x HTTP/1.1\r\nHost: localhost\r\nContent-Length: 100000000000\r\n\r\n",
		"GET /x HTTP/1.1\r\nHost: localhost\r\nTransfer-Encoding: chunked\r\n\r\n",
		"POST /x HTTP/1.1\r\nHost: localhost\r\nContent-Length: 100000000000\r\n\r\n",
		"POST /x HTTP/1.1\r\nHost: localhost\r\nContent-Length: 5\r\n\r\nhello",
	};
	const char *want[] = { "HTTP/1.1 413", "HTTP/1.1 413", "HTTP/1.1 405", "HTTP/1.1 405" };
	char out[4096];

	(void)state;
	for (size_t i = 0; i < sizeof(reqs) / sizeof(reqs[0]); i++) {
		int fd = connect_from(http__port(srv), 0, 5);
		double t0 = now_s();

		assert_int_equal(write(fd, reqs[i], strlen(reqs[i])), (ssize_t)strlen(reqs[i]));
		/* the answer, then the close: read_answer returns well before its 5 s */
		read_answer(fd, out, sizeof(out));
		assert_true(now_s() - t0 < 2.0);
		if (!strstr(out, want[i]))
			fail_msg("request %zu: '%s' not in '%s'", i, want[i], out);
		assert_non_null(strstr(out, "{\"error\":"));
		close(fd);
	}
	/* a GET with an empty body is a GET */
	request(http__port(srv),
		"GET /ok HTTP/1.1\r\nHost: localhost\r\nContent-Length: 0\r\nConnection: close\r\n\r\n",
		out, sizeof(out));
	assert_non_null(strstr(out, "url=/ok"));
	assert_int_equal(seen.calls, 1);
	http__stop(srv);
}

/* DNS rebinding: a page of evil.com resolved to 127.0.0.1 sends Host: evil.com. */
static void test_host_names(void **state)
{
	struct config_http acc = { .allowed_hosts = "kvm.example.org, [fd00::1]" };
	struct seen seen = { 0 };
	struct http_server *srv = start(&seen);
	char out[4096], req[512];
	const char *ok[] = { "localhost", "LocalHost:%u", "127.0.0.1:%u", "[::1]:%u",
			     "localhost." };
	const char *bad[] = { "evil.com",	  "evil.com:%u", "localhost.evil.com",
			      "127.0.0.1.nip.io", "127.0.0.2",	 "localhost:80x" };

	(void)state;
	for (size_t i = 0; i < sizeof(ok) / sizeof(ok[0]); i++) {
		char host[64];

		snprintf(host, sizeof(host), ok[i], http__port(srv));
		snprintf(req, sizeof(req),
			 "GET /h HTTP/1.1\r\nHost: %s\r\nConnection: close\r\n\r\n", host);
		request(http__port(srv), req, out, sizeof(out));
		if (!strstr(out, "HTTP/1.1 200"))
			fail_msg("Host: %s refused: %s", host, out);
	}
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		char host[64];

		snprintf(host, sizeof(host), bad[i], http__port(srv));
		snprintf(req, sizeof(req),
			 "GET /h HTTP/1.1\r\nHost: %s\r\nConnection: close\r\n\r\n", host);
		request(http__port(srv), req, out, sizeof(out));
		if (!strstr(out, "HTTP/1.1 421") || !strstr(out, "is not served here"))
			fail_msg("Host: %s accepted: %s", host, out);
	}
	/* HTTP/1.0 may leave Host out; no browser does, and it is refused too */
	request(http__port(srv), "GET /h HTTP/1.0\r\n\r\n", out, sizeof(out));
	assert_non_null(strstr(out, " 421"));
	assert_int_equal(seen.calls, (int)(sizeof(ok) / sizeof(ok[0])));
	http__stop(srv);

	/* configured names replace the defaults */
	srv = start_with(&seen, 8, &acc);
	request(http__port(srv),
		"GET /h HTTP/1.1\r\nHost: KVM.example.org:9477\r\nConnection: close\r\n\r\n", out,
		sizeof(out));
	assert_non_null(strstr(out, "HTTP/1.1 200"));
	request(http__port(srv), "GET /h HTTP/1.1\r\nHost: [fd00::1]\r\nConnection: close\r\n\r\n",
		out, sizeof(out));
	assert_non_null(strstr(out, "HTTP/1.1 200"));
	request(http__port(srv), "GET /h HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\n\r\n",
		out, sizeof(out));
	assert_non_null(strstr(out, "HTTP/1.1 421"));
	http__stop(srv);

	/* "*": any name (behind a proxy that checks it) */
	(void)snprintf(acc.allowed_hosts, sizeof(acc.allowed_hosts), "*");
	srv = start_with(&seen, 8, &acc);
	request(http__port(srv), "GET /h HTTP/1.1\r\nHost: evil.com\r\nConnection: close\r\n\r\n",
		out, sizeof(out));
	assert_non_null(strstr(out, "HTTP/1.1 200"));
	http__stop(srv);
}

static void write_token(const char *path, const char *text, mode_t mode)
{
	FILE *f = fopen(path, "w");

	assert_non_null(f);
	fputs(text, f);
	fclose(f);
	assert_int_equal(chmod(path, mode), 0);
}

static void test_token(void **state)
{
	struct config_http acc = { 0 };
	struct http_opts opts = { .listen = "127.0.0.1:0", .max_conns = 8, .access = &acc };
	struct seen seen = { 0 };
	struct http_server *srv;
	char out[4096], err[512], dir[] = "/tmp/test_http.XXXXXX";

	(void)state;
	assert_non_null(mkdtemp(dir));
	snprintf(acc.auth_token_file, sizeof(acc.auth_token_file), "%s/token", dir);
	write_token(acc.auth_token_file, "0123456789abcdef0123\n", 0600);
	srv = start_with(&seen, 8, &acc);
	request(http__port(srv), "GET /t HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\n\r\n",
		out, sizeof(out));
	assert_non_null(strstr(out, "HTTP/1.1 401"));
	assert_non_null(strstr(out, "WWW-Authenticate: Bearer"));
	request(http__port(srv),
		"GET /t HTTP/1.1\r\nHost: localhost\r\nAuthorization: Bearer 0123456789abcdef012\r\n"
		"Connection: close\r\n\r\n",
		out, sizeof(out));
	assert_non_null(strstr(out, "HTTP/1.1 401"));
	request(http__port(srv),
		"GET /t HTTP/1.1\r\nHost: localhost\r\nAuthorization: Basic 0123456789abcdef0123\r\n"
		"Connection: close\r\n\r\n",
		out, sizeof(out));
	assert_non_null(strstr(out, "HTTP/1.1 401"));
	assert_int_equal(seen.calls, 0);
	request(http__port(srv),
		"GET /t HTTP/1.1\r\nHost: localhost\r\nAuthorization: Bearer 0123456789abcdef0123\r\n"
		"Connection: close\r\n\r\n",
		out, sizeof(out));
	assert_non_null(strstr(out, "HTTP/1.1 200"));
	assert_int_equal(seen.calls, 1);
	http__stop(srv);

	/* a token others may read, a short one: the server does not start */
	write_token(acc.auth_token_file, "0123456789abcdef0123\n", 0644);
	assert_null(http__start(&opts, echo, &seen, err, sizeof(err)));
	assert_non_null(strstr(err, "other users may read or write it"));
	write_token(acc.auth_token_file, "short\n", 0600);
	assert_null(http__start(&opts, echo, &seen, err, sizeof(err)));
	assert_non_null(strstr(err, "fewer than 16"));
	unlink(acc.auth_token_file);
	assert_null(http__start(&opts, echo, &seen, err, sizeof(err)));
	assert_non_null(strstr(err, "No such file"));
	rmdir(dir);

	assert_true(http__token_equal("abc", 3, "abc", 3));
	assert_false(http__token_equal("abd", 3, "abc", 3));
	assert_false(http__token_equal("ab", 2, "abc", 3));
	assert_false(http__token_equal("abcd", 4, "abc", 3));
	assert_false(http__token_equal("", 0, "abc", 3));
}

/* Beyond loopback, nobody is served without a token unless the operator says so. */
static void test_non_loopback_needs_auth(void **state)
{
	struct config_http acc = { 0 };
	struct http_opts opts = { .listen = "0.0.0.0:0", .max_conns = 8, .access = &acc };
	struct seen seen = { 0 };
	struct http_server *srv;
	char err[512] = "";

	(void)state;
	assert_null(http__start(&opts, echo, &seen, err, sizeof(err)));
	assert_non_null(strstr(err, "refusing to serve '0.0.0.0:0' (not a loopback address)"));
	opts.listen = "[::]:0";
	assert_null(http__start(&opts, echo, &seen, err, sizeof(err)));
	acc.allow_insecure_listen = true;
	srv = http__start(&opts, echo, &seen, err, sizeof(err));
	if (!srv)
		fail_msg("allow_insecure_listen: %s", err);
	http__stop(srv);
	opts.listen = "[::1]:0";
	acc.allow_insecure_listen = false;
	srv = http__start(&opts, echo, &seen, err, sizeof(err));
	if (!srv)
		fail_msg("[::1]: %s", err);
	http__stop(srv);
}

/*
 * A local user connecting from 127.0.0.2, .3, ... (any of 127/8 is anyone's)
 * gets one client's share (a quarter) and 127.0.0.1 is still served.
 */
static void test_loopback_range_is_one_client(void **state)
{
	struct seen seen = { 0 };
	struct http_server *srv = start_with(&seen, 8, NULL);
	const char *part = "GET /stall HTTP/1.1\r\nHost: localhost\r\n";
	const char *full = "GET /me HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\n\r\n";
	int fds[8], kept = 0;
	char out[4096];

	(void)state;
	for (int i = 0; i < 8; i++) {
		char c;

		fds[i] = connect_from(http__port(srv), 2 + (unsigned int)i, 1);
		assert_int_equal(write(fds[i], part, strlen(part)), (ssize_t)strlen(part));
		/* a refused connection is closed (or reset) at once; a kept one stays silent */
		if (read(fds[i], &c, 1) < 0 && (errno == EAGAIN || errno == EWOULDBLOCK))
			kept++;
	}
	assert_int_equal(kept, 2);
	for (int i = 0; i < 3; i++) {
		int fd = connect_from(http__port(srv), 1, 5);

		assert_int_equal(write(fd, full, strlen(full)), (ssize_t)strlen(full));
		read_answer(fd, out, sizeof(out));
		assert_non_null(strstr(out, "url=/me"));
		close(fd);
	}
	for (int i = 0; i < 8; i++)
		close(fds[i]);
	http__stop(srv);
}

static void test_helpers(void **state)
{
	struct sockaddr_in v4 = { .sin_family = AF_INET };
	struct sockaddr_in6 v6 = { .sin6_family = AF_INET6 };
	char host[64];

	(void)state;
	assert_int_equal(http__host_part("localhost:9477", host, sizeof(host)), 0);
	assert_string_equal(host, "localhost");
	assert_int_equal(http__host_part("[::1]:9477", host, sizeof(host)), 0);
	assert_string_equal(host, "[::1]");
	assert_int_equal(http__host_part("a.b.", host, sizeof(host)), 0);
	assert_string_equal(host, "a.b");
	assert_int_equal(http__host_part("a:b", host, sizeof(host)), -EINVAL);
	assert_int_equal(http__host_part("[::1", host, sizeof(host)), -EINVAL);
	assert_int_equal(http__host_part("[::1]x", host, sizeof(host)), -EINVAL);
	assert_int_equal(http__host_part(":80", host, sizeof(host)), -EINVAL);
	assert_int_equal(http__host_part("", host, sizeof(host)), -EINVAL);

	inet_pton(AF_INET, "127.45.0.9", &v4.sin_addr);
	assert_true(http__is_loopback((struct sockaddr *)&v4));
	inet_pton(AF_INET, "10.0.0.1", &v4.sin_addr);
	assert_false(http__is_loopback((struct sockaddr *)&v4));
	inet_pton(AF_INET6, "::1", &v6.sin6_addr);
	assert_true(http__is_loopback((struct sockaddr *)&v6));
	inet_pton(AF_INET6, "::ffff:127.0.0.1", &v6.sin6_addr);
	assert_true(http__is_loopback((struct sockaddr *)&v6));
	inet_pton(AF_INET6, "::", &v6.sin6_addr);
	assert_false(http__is_loopback((struct sockaddr *)&v6));
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_serves_the_handler),
		cmocka_unit_test(test_refused_before_the_handler),
		cmocka_unit_test(test_bad_listen),
		cmocka_unit_test(test_error_body_is_utf8),
		cmocka_unit_test(test_body_refused_at_once),
		cmocka_unit_test(test_host_names),
		cmocka_unit_test(test_token),
		cmocka_unit_test(test_non_loopback_needs_auth),
		cmocka_unit_test(test_loopback_range_is_one_client),
		cmocka_unit_test(test_helpers),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
