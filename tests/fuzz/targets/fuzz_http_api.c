// SPDX-License-Identifier: GPL-2.0
/*
 * The HTTP API's request handling (api.c: the URL routes and the query
 * arguments 'metric', 'since' and 'vm') against a snapshot of two VMs with
 * history and actions. Any web page and any local user can send these. The
 * request is decoded as libmicrohttpd hands it over: the path unescaped,
 * the query split at '&' and '=' with '+' as space and %XX unescaped, the
 * first value of a key winning.
 *
 * Input: the request target, "PATH?QUERY". Every answer has a status, a
 * type and a body; a JSON body is strict JSON and valid UTF-8 (strict
 * readers such as browsers' JSON.parse would fail on anything else).
 */
#include <json-c/json.h>
#include <microhttpd.h>
#include <string.h>

#include "api.h"
#include "fuzz.h"
#include "history.h"
#include "snapshot.h"

#define MAX_ARGS 64

struct args {
	int n;
	char *key[MAX_ARGS];
	char *val[MAX_ARGS]; /* NULL for a key without '=' */
};

static struct snapshot_slot *slot;

static const char *arg(void *cls, const char *key)
{
	const struct args *a = cls;

	for (int i = 0; i < a->n; i++) {
		if (!strcmp(a->key[i], key))
			return a->val[i];
	}
	return NULL;
}

static void unescape(char *s)
{
	for (char *p = s; *p; p++) {
		if (*p == '+')
			*p = ' ';
	}
	(void)MHD_http_unescape(s);
}

static void split_query(char *q, struct args *a)
{
	char *save = NULL;

	a->n = 0;
	for (char *tok = strtok_r(q, "&", &save); tok && a->n < MAX_ARGS;
	     tok = strtok_r(NULL, "&", &save)) {
		char *eq = strchr(tok, '=');

		if (eq)
			*eq++ = '\0';
		unescape(tok);
		if (eq)
			unescape(eq);
		a->key[a->n] = tok;
		a->val[a->n] = eq;
		a->n++;
	}
}

static void sample_at(struct vm_sample *s, const char *name, double t, double used_mib)
{
	memset(s, 0, sizeof(*s));
	(void)snprintf(s->name, sizeof(s->name), "%s", name);
	s->time_ns = (uint64_t)(t * 1e9);
	s->mem_source = MEM_SOURCE_AGENT;
	s->mem_used_kib = (uint64_t)(used_mib * 1024);
	s->mem_total_kib = 4096 * 1024;
	s->balloon_kib = 2048 * 1024;
	s->psi_mem_some = s->psi_cpu_some = s->guest_cpu_pct = -1;
	s->have_bpf = true;
	s->nreasons = 1;
	(void)snprintf(s->reasons[0].name, sizeof(s->reasons[0].name), "HLT");
	s->reasons[0].per_s = 7;
}

/* Two VMs with 40 ticks of history, and two actions: published once. */
static void make_slot(void)
{
	static const char *const names[] = { "web1", "db" };
	struct snapshot *snap = snapshot__new(2, 2);

	slot = snapshot_slot__new();
	if (!slot || !snap)
		abort();
	snap->time = 1040;
	snap->health.tick_ms = 1000;
	for (int v = 0; v < 2; v++) {
		struct snapshot_vm *sv = &snap->vms[v];

		sv->hist = history__new(names[v]);
		if (!sv->hist)
			abort();
		for (int t = 0; t < 40; t++) {
			sample_at(&sv->s, names[v], 1000 + t, 100 + 10 * t);
			if (history__append(sv->hist, &sv->s))
				abort();
		}
	}
	snap->nvms = 2;
	for (int i = 0; i < 2; i++) {
		struct action_rec *a = &snap->actions[i];

		memset(a, 0, sizeof(*a));
		a->time_ns = (1010ull + 10 * i) * 1000000000ull;
		(void)snprintf(a->vm, sizeof(a->vm), "%s", names[i]);
		(void)snprintf(a->what, sizeof(a->what), "memory");
		a->from = 1024;
		a->to = 1536;
		(void)snprintf(a->unit, sizeof(a->unit), "MiB");
		(void)snprintf(a->reason, sizeof(a->reason), "used above 90%%");
		(void)snprintf(a->result, sizeof(a->result), "ok");
	}
	snap->nactions = 2;
	snap->actions_total = 2;
	snapshot_slot__publish(slot, snap);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct http_response r;
	struct args a = { 0 };
	char *url = fuzz_strndup(data, size), *q;
	int rc;

	if (!slot)
		make_slot();
	q = strchr(url, '?');
	if (q)
		*q++ = '\0';
	(void)MHD_http_unescape(url);
	if (q)
		split_query(q, &a);

	rc = api__handle(slot, url, arg, &a, &r);
	FUZZ_CHECK(rc == 0, "api__handle: %d", rc);
	FUZZ_CHECK(r.status == 200 || r.status == 400 || r.status == 404, "status %d for '%s'",
		   r.status, url);
	FUZZ_CHECK(r.body && r.content_type, "an answer without a body or a type");
	if (!strncmp(r.content_type, "application/json", 16)) {
		struct json_tokener *tok = json_tokener_new();
		struct json_object *o;

		if (!tok)
			abort();
		json_tokener_set_flags(tok, JSON_TOKENER_STRICT | JSON_TOKENER_VALIDATE_UTF8);
		FUZZ_CHECK(r.len == strlen(r.body), "JSON body of %zu bytes with a NUL at %zu",
			   r.len, strlen(r.body));
		o = json_tokener_parse_ex(tok, r.body, (int)r.len);
		FUZZ_CHECK(o && json_object_is_type(o, json_type_object),
			   "status %d, not strict UTF-8 JSON (%s): %.200s", r.status,
			   json_tokener_error_desc(json_tokener_get_error(tok)), r.body);
		FUZZ_CHECK(r.status == 200 || json_object_object_get_ex(o, "error", NULL),
			   "error %d without an \"error\" member", r.status);
		json_object_put(o);
		json_tokener_free(tok);
	}
	if (!r.is_static)
		free(r.body);
	free(url);
	return 0;
}
