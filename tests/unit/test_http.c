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
#include <unistd.h>
#include <cmocka.h>

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
		"GET /hello?who=me HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n", out,
		sizeof(out));
	assert_non_null(strstr(out, "HTTP/1.1 200"));
	assert_non_null(strstr(out, "Content-Type: text/plain"));
	assert_non_null(strstr(out, "X-Content-Type-Options: nosniff"));
	assert_non_null(strstr(out, "\r\n\r\nurl=/hello who=me"));
	assert_int_equal(seen.calls, 1);
	assert_string_equal(seen.who, "me");

	/* the handler's own errors go out as it made them */
	request(http__port(srv), "GET /missing HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n",
		out, sizeof(out));
	assert_non_null(strstr(out, "HTTP/1.1 404"));
	assert_non_null(strstr(out, "{\"error\":\"no such path '/missing'\"}"));

	/* a handler without memory for an answer: the connection closes, the server lives on */
	request(http__port(srv), "GET /fail HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n", out,
		sizeof(out));
	assert_null(strstr(out, "HTTP/1.1 200"));
	request(http__port(srv), "GET /again HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n", out,
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
	request(http__port(srv), "DELETE /x HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n", out,
		sizeof(out));
	assert_non_null(strstr(out, "HTTP/1.1 405"));
	assert_non_null(strstr(out, "Allow: GET, HEAD"));
	assert_non_null(strstr(out, "\"error\":\"method 'DELETE' not allowed"));

	request(http__port(srv),
		"GET /x HTTP/1.1\r\nHost: x\r\nContent-Length: 5\r\nConnection: close\r\n\r\nhello",
		out, sizeof(out));
	assert_non_null(strstr(out, "HTTP/1.1 413"));

	snprintf(req, sizeof(req), "GET /%0*d HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n",
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

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_serves_the_handler),
		cmocka_unit_test(test_refused_before_the_handler),
		cmocka_unit_test(test_bad_listen),
		cmocka_unit_test(test_error_body_is_utf8),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
