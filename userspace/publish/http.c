// SPDX-License-Identifier: GPL-2.0
/*
 * libmicrohttpd glue (http.h): bounded, GET-only, one internal polling
 * thread. Every refusal is decided from the headers, before any body is
 * read. The connection policy (README, "Connection policy"): at most
 * max_conns at once, of which one client holds a quarter at most, a
 * connection idle for HTTP_TIMEOUT_S is closed.
 */
#include <errno.h>
#include <fcntl.h>
#include <netdb.h>
#include <netinet/in.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <unistd.h>

#include <json-c/json.h>
#include <microhttpd.h>

#include "config.h"
#include "http.h"

#define HTTP_MAX_HOSTS 32

/*
 * Who a connection counts against: an IPv4 address, an IPv6 /64 (what one
 * site gets), and the loopback range but 127.0.0.1 as one client, since
 * any local user may connect from any 127.x.y.z: cycling through them buys
 * one share, not the server.
 */
struct client_key {
	unsigned char kind; /* enum client_kind */
	unsigned char addr[8];
};

enum client_kind {
	CLIENT_V4 = 1,
	CLIENT_V6,
	CLIENT_LOOPBACK_OTHER
};

struct client {
	struct client_key key;
	unsigned int conns; /* 0: a free slot */
};

struct http_server {
	struct MHD_Daemon *mhd;
	http_handler_fn handler;
	void *ctx;
	unsigned int port;
	/* the connection policy, only ever used on the server's one thread */
	struct client *clients; /* max_conns slots */
	unsigned int nclients, per_client;
	/* Host names served ("localhost", "[::1]"); any_host for "*" */
	char hosts[HTTP_MAX_HOSTS][CONFIG_LISTEN_MAX];
	int nhosts;
	bool any_host;
	char *token; /* NULL: no token asked */
	size_t token_len;
	char *tls_cert, *tls_key; /* PEM, kept while the daemon runs */
	size_t tls_key_len;
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
	if (r->status == 401)
		(void)MHD_add_response_header(resp, "WWW-Authenticate",
					      "Bearer realm=\"kvmpilot\"");
	ret = MHD_queue_response(conn, (unsigned int)r->status, resp);
	MHD_destroy_response(resp);
	return ret;
}

int http__host_part(const char *hdr, char *host, size_t size)
{
	const char *end;
	size_t len;

	if (hdr[0] == '[') {
		end = strchr(hdr, ']');
		if (!end)
			return -EINVAL;
		end++; /* the brackets stay: "[::1]" as in allowed_hosts */
	} else {
		end = hdr + strcspn(hdr, ":");
	}
	if (*end == ':') {
		for (const char *p = end + 1; *p; p++) {
			if (*p < '0' || *p > '9')
				return -EINVAL;
		}
	} else if (*end) {
		return -EINVAL;
	}
	len = (size_t)(end - hdr);
	if (!len || len >= size)
		return -EINVAL;
	memcpy(host, hdr, len);
	host[len] = '\0';
	/* "localhost." is the same name */
	if (len > 1 && host[len - 1] == '.')
		host[len - 1] = '\0';
	return 0;
}

bool http__token_equal(const char *a, size_t alen, const char *b, size_t blen)
{
	unsigned char d = alen != blen;

	/* every byte of the secret is looked at, whatever a holds */
	for (size_t i = 0; i < blen; i++)
		d |= (unsigned char)((i < alen ? (unsigned char)a[i] : 0) ^ (unsigned char)b[i]);
	return !d;
}

bool http__is_loopback(const struct sockaddr *addr)
{
	if (addr->sa_family == AF_INET) {
		const struct sockaddr_in *in = (const struct sockaddr_in *)addr;

		return ((const unsigned char *)&in->sin_addr)[0] == 127;
	}
	if (addr->sa_family == AF_INET6) {
		const struct in6_addr *a = &((const struct sockaddr_in6 *)addr)->sin6_addr;

		return IN6_IS_ADDR_LOOPBACK(a) ||
		       (IN6_IS_ADDR_V4MAPPED(a) && a->s6_addr[12] == 127);
	}
	return false;
}

static void client_key(const struct sockaddr *addr, struct client_key *k)
{
	const unsigned char *v4 = NULL;

	memset(k, 0, sizeof(*k));
	if (addr->sa_family == AF_INET6) {
		const struct in6_addr *a = &((const struct sockaddr_in6 *)addr)->sin6_addr;

		if (IN6_IS_ADDR_V4MAPPED(a)) {
			v4 = a->s6_addr + 12;
		} else {
			/* by /64; ::1 is alone in its /64 */
			k->kind = CLIENT_V6;
			memcpy(k->addr, a->s6_addr, 8);
			if (IN6_IS_ADDR_LOOPBACK(a))
				k->addr[7] = 1;
			return;
		}
	} else {
		v4 = (const unsigned char *)&((const struct sockaddr_in *)addr)->sin_addr;
	}
	if (v4[0] == 127 && !(v4[1] == 0 && v4[2] == 0 && v4[3] == 1)) {
		k->kind = CLIENT_LOOPBACK_OTHER;
		return;
	}
	k->kind = CLIENT_V4;
	memcpy(k->addr, v4, 4);
}

/* The slot of key, or a free one when make; NULL when there is none. */
static struct client *client_find(struct http_server *srv, const struct client_key *k, bool make)
{
	struct client *free_slot = NULL;

	for (unsigned int i = 0; i < srv->nclients; i++) {
		struct client *c = &srv->clients[i];

		if (!c->conns) {
			if (!free_slot)
				free_slot = c;
			continue;
		}
		if (!memcmp(&c->key, k, sizeof(*k)))
			return c;
	}
	if (!make || !free_slot)
		return NULL;
	free_slot->key = *k;
	return free_slot;
}

/*
 * Accept a connection unless its client holds its share already. The
 * STARTED notification that counts it follows on the same (only) thread,
 * before the next accept.
 */
static enum MHD_Result accept_policy(void *cls, const struct sockaddr *addr, socklen_t addrlen)
{
	struct http_server *srv = cls;
	struct client_key k;
	struct client *c;

	(void)addrlen;
	client_key(addr, &k);
	c = client_find(srv, &k, false);
	return c && c->conns >= srv->per_client ? MHD_NO : MHD_YES;
}

static void notify_conn(void *cls, struct MHD_Connection *conn, void **socket_ctx,
			enum MHD_ConnectionNotificationCode code)
{
	struct http_server *srv = cls;
	const union MHD_ConnectionInfo *info;
	struct client_key k;
	struct client *c;

	if (code == MHD_CONNECTION_NOTIFY_CLOSED) {
		c = *socket_ctx;
		if (c && c->conns)
			c->conns--;
		*socket_ctx = NULL;
		return;
	}
	info = MHD_get_connection_info(conn, MHD_CONNECTION_INFO_CLIENT_ADDRESS);
	if (!info || !info->client_addr)
		return;
	client_key(info->client_addr, &k);
	c = client_find(srv, &k, true);
	if (c)
		c->conns++;
	*socket_ctx = c;
}

/* Whether the Host header names this server: a DNS rebinding page sends its own name. */
static bool host_allowed(const struct http_server *srv, struct MHD_Connection *conn)
{
	const char *hdr = MHD_lookup_connection_value(conn, MHD_HEADER_KIND, "Host");
	char host[CONFIG_LISTEN_MAX];

	if (srv->any_host)
		return true;
	if (!hdr || http__host_part(hdr, host, sizeof(host)))
		return false;
	for (int i = 0; i < srv->nhosts; i++) {
		if (!strcasecmp(host, srv->hosts[i]))
			return true;
	}
	return false;
}

static bool token_ok(const struct http_server *srv, struct MHD_Connection *conn)
{
	const char *hdr = MHD_lookup_connection_value(conn, MHD_HEADER_KIND, "Authorization");

	if (!srv->token)
		return true;
	if (!hdr || strncasecmp(hdr, "Bearer ", 7))
		return false;
	hdr += 7;
	while (*hdr == ' ')
		hdr++;
	return http__token_equal(hdr, strlen(hdr), srv->token, srv->token_len);
}

/* Whether the request announces a body (a length above 0, or chunks). */
static bool has_body(struct MHD_Connection *conn)
{
	const char *len = MHD_lookup_connection_value(conn, MHD_HEADER_KIND, "Content-Length");

	if (MHD_lookup_connection_value(conn, MHD_HEADER_KIND, "Transfer-Encoding"))
		return true;
	if (!len)
		return false;
	while (*len == '0')
		len++;
	return *len != '\0';
}

/*
 * Everything is decided from the headers, on the first call: a response
 * queued then makes libmicrohttpd answer without reading the body (and
 * close the connection), where a later call would have read all of it.
 */
static enum MHD_Result handle(void *cls, struct MHD_Connection *conn, const char *url,
			      const char *method, const char *version, const char *upload_data,
			      size_t *upload_data_size, void **con_cls)
{
	struct http_server *srv = cls;
	struct http_response r;
	const char *host;
	int err;

	(void)version;
	(void)upload_data;
	(void)con_cls;
	if (*upload_data_size)
		return MHD_NO; /* not reached: the first call answered already */
	if (!host_allowed(srv, conn)) {
		host = MHD_lookup_connection_value(conn, MHD_HEADER_KIND, "Host");
		err = http__error(&r, 421, "host '%.200s' is not served here (allowed_hosts)",
				  host ? host : "");
	} else if (!token_ok(srv, conn)) {
		err = http__error(&r, 401, "a valid 'Authorization: Bearer TOKEN' is required");
	} else if (strcmp(method, MHD_HTTP_METHOD_GET) && strcmp(method, MHD_HTTP_METHOD_HEAD)) {
		err = http__error(&r, 405, "method '%s' not allowed: the API is read-only", method);
	} else if (has_body(conn)) {
		err = http__error(&r, 413, "request bodies are not accepted");
	} else if (strlen(url) > HTTP_MAX_URL) {
		err = http__error(&r, 414, "URL longer than %d bytes", HTTP_MAX_URL);
	} else {
		err = srv->handler(srv->ctx, url, lookup_arg, conn, &r);
	}
	if (err)
		return MHD_NO;
	return queue(conn, &r);
}

/* A regular file of at most max bytes into a NUL-terminated buffer; 0 or -errno. */
static int read_file(const char *path, size_t max, bool secret, char **out, size_t *len)
{
	struct stat st;
	char *buf = NULL;
	size_t got = 0;
	ssize_t n;
	int fd, err = -EINVAL;

	fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		return -errno;
	if (fstat(fd, &st)) {
		err = -errno;
		goto cleanup;
	}
	/* a secret anyone may read is none */
	if (secret && (st.st_mode & (S_IROTH | S_IWOTH))) {
		err = -EPERM;
		goto cleanup;
	}
	if (!S_ISREG(st.st_mode) || (size_t)st.st_size > max) {
		err = -EFBIG;
		goto cleanup;
	}
	buf = malloc((size_t)st.st_size + 1);
	if (!buf) {
		err = -ENOMEM;
		goto cleanup;
	}
	while (got < (size_t)st.st_size && (n = read(fd, buf + got, (size_t)st.st_size - got)) > 0)
		got += (size_t)n;
	buf[got] = '\0';
	*out = buf;
	*len = got;
	buf = NULL;
	err = 0;
cleanup:
	free(buf);
	close(fd);
	return err;
}

static const char *file_error(int err)
{
	if (err == -EPERM)
		return "other users may read or write it (chmod o-rw)";
	if (err == -EFBIG)
		return "not a regular file of a sane size";
	return strerror(-err);
}

static void free_secret(char *s, size_t len)
{
	if (!s)
		return;
	explicit_bzero(s, len);
	free(s);
}

/* The token: one line of printable characters, no spaces, too long to guess. */
static int load_token(struct http_server *srv, const char *path, char *err, size_t errlen)
{
	size_t len;
	int r;

	r = read_file(path, HTTP_TOKEN_MAX, true, &srv->token, &len);
	if (r) {
		snprintf(err, errlen, "auth_token_file '%s': %s", path, file_error(r));
		return r;
	}
	srv->token_len = len;
	while (len && (srv->token[len - 1] == '\n' || srv->token[len - 1] == '\r'))
		srv->token[--len] = '\0';
	for (size_t i = 0; i < len; i++) {
		if (srv->token[i] <= ' ' || srv->token[i] > '~') {
			snprintf(err, errlen,
				 "auth_token_file '%s': the token must be one line of printable "
				 "characters without spaces",
				 path);
			return -EINVAL;
		}
	}
	if (len < HTTP_TOKEN_MIN) {
		snprintf(err, errlen,
			 "auth_token_file '%s': the token has %zu characters, fewer than %d "
			 "(make one with: openssl rand -hex 32)",
			 path, len, HTTP_TOKEN_MIN);
		return -EINVAL;
	}
	srv->token_len = len;
	return 0;
}

/* The names a Host header may carry: allowed_hosts, or loopback names and the listen host. */
static int load_hosts(struct http_server *srv, const char *allowed, const char *listen_host,
		      bool v6, char *err, size_t errlen)
{
	static const char *const loopback[] = { "localhost", "127.0.0.1", "[::1]" };
	const char *p = allowed;

	if (!strcmp(allowed, "*")) {
		srv->any_host = true;
		return 0;
	}
	if (!*allowed) {
		for (size_t i = 0; i < sizeof(loopback) / sizeof(loopback[0]); i++)
			(void)snprintf(srv->hosts[srv->nhosts++], CONFIG_LISTEN_MAX, "%s",
				       loopback[i]);
		(void)snprintf(srv->hosts[srv->nhosts++], CONFIG_LISTEN_MAX, v6 ? "[%.60s]" : "%s",
			       listen_host);
		return 0;
	}
	for (p += strspn(p, ", \t"); *p; p += strspn(p, ", \t")) {
		size_t n = strcspn(p, ", \t");
		char *h;

		if (srv->nhosts == HTTP_MAX_HOSTS || n >= CONFIG_LISTEN_MAX) {
			snprintf(err, errlen,
				 "allowed_hosts: at most %d names of at most %d characters",
				 HTTP_MAX_HOSTS, CONFIG_LISTEN_MAX - 1);
			return -E2BIG;
		}
		h = srv->hosts[srv->nhosts++];
		memcpy(h, p, n);
		h[n] = '\0';
		if (n > 1 && h[n - 1] == '.')
			h[n - 1] = '\0';
		p += n;
	}
	return 0;
}

static void server_free(struct http_server *srv)
{
	if (!srv)
		return;
	free_secret(srv->token, srv->token_len);
	free_secret(srv->tls_key, srv->tls_key_len);
	free(srv->tls_cert);
	free(srv->clients);
	free(srv);
}

/* TLS files into srv and the daemon's options; 0 or -errno with err. */
static int load_tls(struct http_server *srv, const struct config_http *acc,
		    struct MHD_OptionItem *tls, char *err, size_t errlen)
{
	size_t cert_len;
	int r;

	if (MHD_is_feature_supported(MHD_FEATURE_TLS) != MHD_YES) {
		snprintf(err, errlen,
			 "'tls_cert_file' is set but this libmicrohttpd was built without TLS");
		return -ENOTSUP;
	}
	r = read_file(acc->tls_cert_file, HTTP_TLS_FILE_MAX, false, &srv->tls_cert, &cert_len);
	if (r) {
		snprintf(err, errlen, "tls_cert_file '%s': %s", acc->tls_cert_file, file_error(r));
		return r;
	}
	r = read_file(acc->tls_key_file, HTTP_TLS_FILE_MAX, true, &srv->tls_key, &srv->tls_key_len);
	if (r) {
		snprintf(err, errlen, "tls_key_file '%s': %s", acc->tls_key_file, file_error(r));
		return r;
	}
	tls[0] = (struct MHD_OptionItem){ MHD_OPTION_HTTPS_MEM_CERT, 0, srv->tls_cert };
	tls[1] = (struct MHD_OptionItem){ MHD_OPTION_HTTPS_MEM_KEY, 0, srv->tls_key };
	return 0;
}

struct http_server *http__start(const struct http_opts *opts, http_handler_fn handler, void *ctx,
				char *err, size_t errlen)
{
	static const struct config_http no_access;
	const struct config_http *acc = opts->access ? opts->access : &no_access;
	const char *listen = opts->listen;
	unsigned int max_conns = opts->max_conns ? opts->max_conns : 1;
	struct addrinfo hints = { .ai_socktype = SOCK_STREAM,
				  .ai_flags = AI_PASSIVE | AI_NUMERICSERV };
	struct addrinfo *ai = NULL;
	struct http_server *srv = NULL;
	unsigned int flags = MHD_USE_EPOLL_INTERNAL_THREAD;
	const union MHD_DaemonInfo *info;
	struct MHD_OptionItem tls[3] = { [0 ... 2] = { MHD_OPTION_END, 0, NULL } };
	char addr[CONFIG_LISTEN_MAX], port_s[8];
	unsigned int port;
	int r;

	if (config__parse_listen(listen, addr, sizeof(addr), &port)) {
		snprintf(err, errlen, "bad listen address '%s' (ADDR:PORT)", listen);
		goto fail;
	}
	snprintf(port_s, sizeof(port_s), "%u", port);
	r = getaddrinfo(addr, port_s, &hints, &ai);
	if (r) {
		snprintf(err, errlen, "cannot resolve '%s': %s", addr, gai_strerror(r));
		goto fail;
	}
	/* beyond this host, what the API shows (VMs, their load) is for who holds the token */
	if (!http__is_loopback(ai->ai_addr) && !acc->auth_token_file[0] &&
	    !acc->allow_insecure_listen) {
		snprintf(err, errlen,
			 "refusing to serve '%s' (not a loopback address) without "
			 "'auth_token_file': set it, or 'allow_insecure_listen = yes' to serve "
			 "anyone who can reach it",
			 listen);
		goto fail;
	}
	srv = calloc(1, sizeof(*srv));
	if (!srv || !(srv->clients = calloc(max_conns, sizeof(*srv->clients)))) {
		snprintf(err, errlen, "out of memory");
		goto fail;
	}
	srv->handler = handler;
	srv->ctx = ctx;
	srv->nclients = max_conns;
	srv->per_client = max_conns / HTTP_PER_CLIENT_DIV ? max_conns / HTTP_PER_CLIENT_DIV : 1;
	if (load_hosts(srv, acc->allowed_hosts, addr, ai->ai_family == AF_INET6, err, errlen))
		goto fail;
	if (acc->auth_token_file[0] && load_token(srv, acc->auth_token_file, err, errlen))
		goto fail;
	if (acc->tls_cert_file[0]) {
		if (load_tls(srv, acc, tls, err, errlen))
			goto fail;
		flags |= MHD_USE_TLS;
	}
	if (ai->ai_family == AF_INET6)
		flags |= MHD_USE_IPv6;
	errno = 0;
	srv->mhd = MHD_start_daemon(flags, (uint16_t)port, accept_policy, srv, handle, srv,
				    MHD_OPTION_SOCK_ADDR, ai->ai_addr, MHD_OPTION_CONNECTION_LIMIT,
				    max_conns, MHD_OPTION_CONNECTION_MEMORY_LIMIT,
				    (size_t)HTTP_MEMORY_LIMIT, MHD_OPTION_CONNECTION_TIMEOUT,
				    (unsigned int)HTTP_TIMEOUT_S, MHD_OPTION_NOTIFY_CONNECTION,
				    notify_conn, srv, MHD_OPTION_ARRAY, tls, MHD_OPTION_END);
	if (!srv->mhd) {
		snprintf(err, errlen, "cannot listen on '%s'%s: %s", listen,
			 srv->tls_cert ? " with TLS (is 'tls_cert_file' a PEM certificate and "
					 "'tls_key_file' its key?)"
				       : "",
			 errno ? strerror(errno) : "libmicrohttpd failed");
		goto fail;
	}
	info = MHD_get_daemon_info(srv->mhd, MHD_DAEMON_INFO_BIND_PORT);
	srv->port = info ? info->port : port;
	freeaddrinfo(ai);
	return srv;
fail:
	if (ai)
		freeaddrinfo(ai);
	server_free(srv);
	return NULL;
}

void http__stop(struct http_server *srv)
{
	if (!srv)
		return;
	MHD_stop_daemon(srv->mhd);
	server_free(srv);
}

unsigned int http__port(const struct http_server *srv)
{
	return srv->port;
}

bool http__tls(const struct http_server *srv)
{
	return srv->tls_cert != NULL;
}
