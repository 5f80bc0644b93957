/* SPDX-License-Identifier: GPL-2.0 */
/*
 * The read-only HTTP side of `kvmpilot run` (libmicrohttpd): the dashboard,
 * the JSON API (api.c) and Prometheus metrics (metrics.c). Handlers only
 * read the snapshot published by the tick thread.
 */
#ifndef KVMPILOT_HTTP_H
#define KVMPILOT_HTTP_H

#include <stdbool.h>
#include <stddef.h>

#include "snapshot.h"

#define HTTP_MAX_URL	  1024	      /* longer request lines are refused */
#define HTTP_MEMORY_LIMIT (32 * 1024) /* per connection: headers and URL */
#define HTTP_TIMEOUT_S	  10
#define HTTP_PER_IP_LIMIT 32
#define API_MAX_METRICS	  48

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
 * Route one GET request. Fills resp (always: errors are JSON bodies with
 * a 4xx/5xx status); returns 0 or -ENOMEM.
 */
int api__handle(struct snapshot_slot *slot, const char *url, http_arg_fn arg, void *cls,
		struct http_response *resp);

/* The JSON error body {"error": msg} as a response. */
int api__error(struct http_response *resp, int status, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));

/* The body of /api/v1/vms for a snapshot; malloc'ed, NULL on ENOMEM. */
char *api__render_vms(const struct snapshot *snap, size_t *len);

/* Prometheus text exposition of a snapshot; malloc'ed, NULL on ENOMEM. */
char *metrics__render(const struct snapshot *snap, size_t *len);

/* Embedded dashboard files. */
struct asset {
	const char *path;
	const char *content_type;
	const unsigned char *data;
	size_t len;
};

const struct asset *assets__find(const char *path);

struct http_server;

/* Listen on "ADDR:PORT"; NULL on error with the reason in err. */
struct http_server *http__start(const char *listen, unsigned int max_conns,
				struct snapshot_slot *slot, char *err, size_t errlen);
void http__stop(struct http_server *srv);
/* The port really bound (differs from the asked one with port 0). */
unsigned int http__port(const struct http_server *srv);

#endif /* KVMPILOT_HTTP_H */
