// SPDX-License-Identifier: GPL-2.0
/* libmicrohttpd glue (http.h): bounded, GET-only, one internal polling thread. */
#include <errno.h>
#include <netdb.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>

#include <json-c/json.h>
#include <microhttpd.h>

#include "config.h"
#include "http.h"

struct http_server {
	struct MHD_Daemon *mhd;
	http_handler_fn handler;
	void *ctx;
	unsigned int port;
};

/* Per-request state: set on the first call, read on the last. */
struct req {
	bool body_seen;
};

/* The length of the valid UTF-8 sequence (RFC 3629) at s, or 0 when it is not one. */
static size_t utf8_len(const unsigned char *s)
{
	size_t n;

	if (s[0] < 0x80)
		return 1;
	if (s[0] >= 0xc2 && s[0] <= 0xdf)
		n = 2;
	else if (s[0] >= 0xe0 && s[0] <= 0xef)
		n = 3;
	else if (s[0] >= 0xf0 && s[0] <= 0xf4)
		n = 4;
	else
		return 0; /* a continuation byte, an overlong lead (c0, c1) or beyond U+10FFFF */
	for (size_t i = 1; i < n; i++) {
		if ((s[i] & 0xc0) != 0x80)
			return 0; /* also the NUL of a sequence cut short */
	}
	/* overlong forms, UTF-16 surrogates, beyond U+10FFFF */
	if ((s[0] == 0xe0 && s[1] < 0xa0) || (s[0] == 0xed && s[1] > 0x9f) ||
	    (s[0] == 0xf0 && s[1] < 0x90) || (s[0] == 0xf4 && s[1] > 0x8f))
		return 0;
	return n;
}

/*
 * Every byte that is not part of valid UTF-8 becomes '?': messages echo
 * what a client sent (the URL, arguments) and may be cut mid-character,
 * and a JSON body must be UTF-8 for strict readers (browsers' JSON.parse).
 */
static void utf8_scrub(char *s)
{
	while (*s) {
		size_t n = utf8_len((const unsigned char *)s);

		if (!n) {
			*s++ = '?';
			continue;
		}
		s += n;
	}
}

int http__error(struct http_response *resp, int status, const char *fmt, ...)
{
	struct json_object *o = json_object_new_object();
	char msg[512];
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(msg, sizeof(msg), fmt, ap);
	va_end(ap);
	utf8_scrub(msg);
	resp->status = status;
	resp->content_type = "application/json";
	resp->is_static = false;
	resp->cacheable = false;
	if (!o)
		return -ENOMEM;
	json_object_object_add(o, "error", json_object_new_string(msg));
	resp->body = strdup(json_object_to_json_string_ext(
		o, JSON_C_TO_STRING_PLAIN | JSON_C_TO_STRING_NOSLASHESCAPE));
	json_object_put(o);
	if (!resp->body)
		return -ENOMEM;
	resp->len = strlen(resp->body);
	return 0;
}

static const char *lookup_arg(void *cls, const char *key)
{
	return MHD_lookup_connection_value(cls, MHD_GET_ARGUMENT_KIND, key);
}

static enum MHD_Result queue(struct MHD_Connection *conn, struct http_response *r)
{
	struct MHD_Response *resp;
	enum MHD_Result ret;

	if (r->is_static)
		resp = MHD_create_response_from_buffer(r->len, r->body, MHD_RESPMEM_PERSISTENT);
	else
		resp = MHD_create_response_from_buffer(r->len, r->body, MHD_RESPMEM_MUST_FREE);
	if (!resp) {
		if (!r->is_static)
			free(r->body);
		return MHD_NO;
	}
	(void)MHD_add_response_header(resp, "Content-Type", r->content_type);
	(void)MHD_add_response_header(resp, "Cache-Control",
				      r->cacheable ? "max-age=3600" : "no-store");
	(void)MHD_add_response_header(resp, "X-Content-Type-Options", "nosniff");
	if (r->status == 405)
		(void)MHD_add_response_header(resp, "Allow", "GET, HEAD");
	ret = MHD_queue_response(conn, (unsigned int)r->status, resp);
	MHD_destroy_response(resp);
	return ret;
}

static enum MHD_Result handle(void *cls, struct MHD_Connection *conn, const char *url,
			      const char *method, const char *version, const char *upload_data,
			      size_t *upload_data_size, void **con_cls)
{
	struct http_server *srv = cls;
	struct http_response r;
	struct req *req = *con_cls;

	(void)version;
	(void)upload_data;
	if (!req) {
		req = calloc(1, sizeof(*req));
		if (!req)
			return MHD_NO;
		*con_cls = req;
		return MHD_YES; /* headers only so far */
	}
	if (*upload_data_size) {
		/* a read-only API takes no request bodies: drop it and refuse below */
		req->body_seen = true;
		*upload_data_size = 0;
		return MHD_YES;
	}
	if (strcmp(method, MHD_HTTP_METHOD_GET) && strcmp(method, MHD_HTTP_METHOD_HEAD)) {
		if (http__error(&r, 405, "method '%s' not allowed: the API is read-only", method))
			return MHD_NO;
	} else if (req->body_seen) {
		if (http__error(&r, 413, "request bodies are not accepted"))
			return MHD_NO;
	} else if (strlen(url) > HTTP_MAX_URL) {
		if (http__error(&r, 414, "URL longer than %d bytes", HTTP_MAX_URL))
			return MHD_NO;
	} else if (srv->handler(srv->ctx, url, lookup_arg, conn, &r)) {
		return MHD_NO;
	}
	return queue(conn, &r);
}

static void completed(void *cls, struct MHD_Connection *conn, void **con_cls,
		      enum MHD_RequestTerminationCode toe)
{
	(void)cls;
	(void)conn;
	(void)toe;
	free(*con_cls);
	*con_cls = NULL;
}

struct http_server *http__start(const struct http_opts *opts, http_handler_fn handler, void *ctx,
				char *err, size_t errlen)
{
	const char *listen = opts->listen;
	unsigned int max_conns = opts->max_conns;
	struct addrinfo hints = { .ai_socktype = SOCK_STREAM,
				  .ai_flags = AI_PASSIVE | AI_NUMERICSERV };
	struct addrinfo *ai = NULL;
	struct http_server *srv = NULL;
	unsigned int flags = MHD_USE_EPOLL_INTERNAL_THREAD;
	const union MHD_DaemonInfo *info;
	char addr[64], port_s[8];
	unsigned int port;
	int r;

	if (config__parse_listen(listen, addr, sizeof(addr), &port)) {
		snprintf(err, errlen, "bad listen address '%s' (ADDR:PORT)", listen);
		goto cleanup;
	}
	snprintf(port_s, sizeof(port_s), "%u", port);
	r = getaddrinfo(addr, port_s, &hints, &ai);
	if (r) {
		snprintf(err, errlen, "cannot resolve '%s': %s", addr, gai_strerror(r));
		goto cleanup;
	}
	srv = calloc(1, sizeof(*srv));
	if (!srv) {
		snprintf(err, errlen, "out of memory");
		goto cleanup;
	}
	srv->handler = handler;
	srv->ctx = ctx;
	if (ai->ai_family == AF_INET6)
		flags |= MHD_USE_IPv6;
	srv->mhd = MHD_start_daemon(
		flags, (uint16_t)port, NULL, NULL, handle, srv, MHD_OPTION_SOCK_ADDR, ai->ai_addr,
		MHD_OPTION_CONNECTION_LIMIT, max_conns, MHD_OPTION_PER_IP_CONNECTION_LIMIT,
		(unsigned int)(max_conns < HTTP_PER_IP_LIMIT ? max_conns : HTTP_PER_IP_LIMIT),
		MHD_OPTION_CONNECTION_MEMORY_LIMIT, (size_t)HTTP_MEMORY_LIMIT,
		MHD_OPTION_CONNECTION_TIMEOUT, (unsigned int)HTTP_TIMEOUT_S,
		MHD_OPTION_NOTIFY_COMPLETED, completed, NULL, MHD_OPTION_END);
	if (!srv->mhd) {
		snprintf(err, errlen, "cannot listen on '%s': %s", listen,
			 errno ? strerror(errno) : "libmicrohttpd failed");
		free(srv);
		srv = NULL;
		goto cleanup;
	}
	info = MHD_get_daemon_info(srv->mhd, MHD_DAEMON_INFO_BIND_PORT);
	srv->port = info ? info->port : port;
cleanup:
	if (ai)
		freeaddrinfo(ai);
	return srv;
}

void http__stop(struct http_server *srv)
{
	if (!srv)
		return;
	MHD_stop_daemon(srv->mhd);
	free(srv);
}

unsigned int http__port(const struct http_server *srv)
{
	return srv->port;
}
