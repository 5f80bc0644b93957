/* SPDX-License-Identifier: GPL-2.0 */
/*
 * A small read-only HTTP server (libmicrohttpd): GET and HEAD only, bounded
 * connections, URLs and memory, one internal polling thread. What a URL
 * means is the handler's business (api.h for `kvmpilot run`); the server
 * refuses, from the headers alone and before asking it, requests for
 * another host name, without the bearer token when one is set, with other
 * methods, with a body and with long URLs. Optionally over TLS (GnuTLS).
 */
#ifndef KVMPILOT_HTTP_H
#define KVMPILOT_HTTP_H

#include <stdbool.h>
#include <stddef.h>
#include <sys/socket.h>

#define HTTP_MAX_URL	    1024	/* longer request lines are refused */
#define HTTP_MEMORY_LIMIT   (32 * 1024) /* per connection: headers and URL */
#define HTTP_TIMEOUT_S	    10		/* a connection idle this long is closed */
#define HTTP_PER_CLIENT_DIV 4		/* one client gets max_conns / this (at least 1) */
#define HTTP_TOKEN_MIN	    16		/* characters of an auth token, at least */
#define HTTP_TOKEN_MAX	    4096
#define HTTP_TLS_FILE_MAX   (1024 * 1024)

struct http_response {
	int status;
	const char *content_type;
	char *body; /* malloc'ed, or static when is_static */
	size_t len;
	bool is_static;
	bool cacheable;
};

/* Query argument lookup, supplied by the server (or a test). */
typedef const char *(*http_arg_fn)(void *cls, const char *key);

/*
 * Answer one GET (or HEAD) request for url: fill resp, always (errors too);
 * query arguments through arg(cls, key). Returns 0, or -ENOMEM when no
 * response could be made (the connection is closed). Runs on the server's
 * thread.
 */
typedef int (*http_handler_fn)(void *ctx, const char *url, http_arg_fn arg, void *cls,
			       struct http_response *resp);

/*
 * The error body {"error": msg} (JSON, as every error of the server) as a
 * response; bytes of msg that are not valid UTF-8 become '?'.
 */
int http__error(struct http_response *resp, int status, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));

struct config_http;

struct http_opts {
	const char *listen;	/* "ADDR:PORT" (config__parse_listen) */
	unsigned int max_conns; /* at once; one client gets a quarter (see http.c) */
	/*
	 * Host names, token and TLS files (config.h); NULL for the defaults:
	 * loopback names and the listen host, no token, no TLS.
	 */
	const struct config_http *access;
};

struct http_server;

/* Listen and serve with handler(ctx, ...); NULL on error with the reason in err. */
struct http_server *http__start(const struct http_opts *opts, http_handler_fn handler, void *ctx,
				char *err, size_t errlen);
void http__stop(struct http_server *srv);
/* The port really bound (differs from the asked one with port 0). */
unsigned int http__port(const struct http_server *srv);
/* Whether it serves HTTPS. */
bool http__tls(const struct http_server *srv);

/*
 * Helpers of the server, public for the tests. The host part of a Host
 * header ("name:port", "[v6]:port") into host; 0 or -EINVAL.
 */
int http__host_part(const char *hdr, char *host, size_t size);
/* Whether addr is a loopback address (127.0.0.0/8, ::1, ::ffff:127.0.0.0/104). */
bool http__is_loopback(const struct sockaddr *addr);
/* a == b for a secret b, in a time that depends on blen only. */
bool http__token_equal(const char *a, size_t alen, const char *b, size_t blen);

#endif /* KVMPILOT_HTTP_H */
