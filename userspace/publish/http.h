/* SPDX-License-Identifier: GPL-2.0 */
/*
 * A small read-only HTTP server (libmicrohttpd): GET and HEAD only, bounded
 * connections, URLs and memory, one internal polling thread. What a URL
 * means is the handler's business (api.h for `kvmpilot run`); the server
 * refuses other methods, request bodies and long URLs before asking it.
 */
#ifndef KVMPILOT_HTTP_H
#define KVMPILOT_HTTP_H

#include <stdbool.h>
#include <stddef.h>

#define HTTP_MAX_URL	  1024	      /* longer request lines are refused */
#define HTTP_MEMORY_LIMIT (32 * 1024) /* per connection: headers and URL */
#define HTTP_TIMEOUT_S	  10
#define HTTP_PER_IP_LIMIT 32

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

struct http_opts {
	const char *listen;	/* "ADDR:PORT" (config__parse_listen) */
	unsigned int max_conns; /* at once; per client at most HTTP_PER_IP_LIMIT */
};

struct http_server;

/* Listen and serve with handler(ctx, ...); NULL on error with the reason in err. */
struct http_server *http__start(const struct http_opts *opts, http_handler_fn handler, void *ctx,
				char *err, size_t errlen);
void http__stop(struct http_server *srv);
/* The port really bound (differs from the asked one with port 0). */
unsigned int http__port(const struct http_server *srv);

#endif /* KVMPILOT_HTTP_H */
