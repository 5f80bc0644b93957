// SPDX-License-Identifier: GPL-2.0
#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include <ini.h>

#include "config.h"
#include "util.h"

struct parse_ctx {
	struct config *cfg;
	const char *name;
	/* the reader's position, so errors name the line */
	FILE *file;
	const char *text;
	int line;
	bool at_line_start;
	int tls_line; /* of the last tls_*_file key, for the pair's error */
	/* the first error */
	int err_line;
	char err[CONFIG_ERR_MAX];
};

static void vm_config__defaults(struct vm_config *v)
{
	memset(v, 0, sizeof(*v));
	(void)str_copy(v->policy, "predictive", sizeof(v->policy));
	v->mem_floor_mib = 256;
	v->vcpu_min = 1;
	v->enabled = true;
}

struct config *config__new_default(void)
{
	struct config *cfg = calloc(1, sizeof(*cfg));

	if (!cfg)
		return NULL;
	(void)str_copy(cfg->uri, CONFIG_DEFAULT_URI, sizeof(cfg->uri));
	(void)str_copy(cfg->listen, CONFIG_DEFAULT_LISTEN, sizeof(cfg->listen));
	(void)str_copy(cfg->data_dir, CONFIG_DEFAULT_DATA_DIR, sizeof(cfg->data_dir));
	cfg->tick_ms = 1000;
	cfg->max_connections = 64;
	cfg->agent_timeout_s = 5;
	cfg->history_max_bytes = 16ull << 20;
	cfg->history_keep = 3;
	cfg->libvirt_retry_max_s = 30;
	cfg->procscan = true;
	cfg->procscan_ticks = 3;
	(void)str_copy(cfg->vm_owners, CONFIG_DEFAULT_OWNERS, sizeof(cfg->vm_owners));
	cfg->bpf = true;
	vm_config__defaults(&cfg->defaults);
	return cfg;
}

void config__free(struct config *cfg)
{
	if (!cfg)
		return;
	free(cfg->vms);
	free(cfg);
}

static int fail(struct parse_ctx *ctx, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

static int fail(struct parse_ctx *ctx, const char *fmt, ...)
{
	va_list ap;

	if (!ctx->err_line && !ctx->err[0]) {
		ctx->err_line = ctx->line;
		va_start(ap, fmt);
		vsnprintf(ctx->err, sizeof(ctx->err), fmt, ap);
		va_end(ap);
	}
	return 0;
}

static int parse_bool(const char *s, bool *out)
{
	if (!strcasecmp(s, "true") || !strcasecmp(s, "yes") || !strcasecmp(s, "on") ||
	    !strcmp(s, "1")) {
		*out = true;
		return 0;
	}
	if (!strcasecmp(s, "false") || !strcasecmp(s, "no") || !strcasecmp(s, "off") ||
	    !strcmp(s, "0")) {
		*out = false;
		return 0;
	}
	return -EINVAL;
}

static bool policy_known(const char *s)
{
	return !strcmp(s, "predictive") || !strcmp(s, "threshold") || !strcmp(s, "window");
}

static int num_err(struct parse_ctx *ctx, const char *key, const char *value, int err, uint64_t min,
		   uint64_t max)
{
	if (err == -ERANGE)
		return fail(ctx, "'%s' = '%s' is out of range [%llu, %llu]", key, value,
			    (unsigned long long)min, (unsigned long long)max);
	return fail(ctx, "'%s' = '%s' is not a number", key, value);
}

#define GET_U64(key, min, max, dst)                                          \
	do {                                                                 \
		uint64_t v_;                                                 \
		int e_ = parse_u64(value, (min), (max), &v_);                \
		if (e_)                                                      \
			return num_err(ctx, (key), value, e_, (min), (max)); \
		(dst) = v_;                                                  \
	} while (0)

/* A key valid in [global] and in [vm NAME]. */
static int vm_key(struct parse_ctx *ctx, struct vm_config *v, const char *name, const char *value,
		  bool *handled)
{
	bool b;

	*handled = true;
	if (!strcmp(name, "policy")) {
		if (!policy_known(value))
			return fail(ctx, "unknown policy '%s' (threshold, window or predictive)",
				    value);
		(void)str_copy(v->policy, value, sizeof(v->policy));
		v->set |= VMCFG_POLICY;
	} else if (!strcmp(name, "mem_floor_mib")) {
		GET_U64(name, 64, 1ull << 24, v->mem_floor_mib);
		v->set |= VMCFG_MEM_FLOOR;
		v->line = ctx->line;
	} else if (!strcmp(name, "mem_ceiling_mib")) {
		GET_U64(name, 0, 1ull << 24, v->mem_ceiling_mib);
		v->set |= VMCFG_MEM_CEILING;
		v->line = ctx->line;
	} else if (!strcmp(name, "vcpu_min")) {
		GET_U64(name, 1, VM_MAX_VCPUS, v->vcpu_min);
		v->set |= VMCFG_VCPU_MIN;
		v->line = ctx->line;
	} else if (!strcmp(name, "vcpu_max")) {
		GET_U64(name, 0, VM_MAX_VCPUS, v->vcpu_max);
		v->set |= VMCFG_VCPU_MAX;
		v->line = ctx->line;
	} else if (!strcmp(name, "enabled")) {
		if (parse_bool(value, &b))
			return fail(ctx, "'%s' = '%s' is not a boolean", name, value);
		v->enabled = b;
		v->set |= VMCFG_ENABLED;
	} else if (!strcmp(name, "dry_run")) {
		if (parse_bool(value, &b))
			return fail(ctx, "'%s' = '%s' is not a boolean", name, value);
		v->dry_run = b;
		v->set |= VMCFG_DRY_RUN;
	} else {
		*handled = false;
	}
	return 1;
}

static int global_key(struct parse_ctx *ctx, const char *name, const char *value)
{
	struct config *cfg = ctx->cfg;
	bool handled, b;
	int r;

	r = vm_key(ctx, &cfg->defaults, name, value, &handled);
	if (handled)
		return r;
	if (!strcmp(name, "uri")) {
		if (!*value || str_copy(cfg->uri, value, sizeof(cfg->uri)))
			return fail(ctx, "'uri' must be 1..%zu characters", sizeof(cfg->uri) - 1);
	} else if (!strcmp(name, "listen")) {
		r = config__check_listen(value);
		if (r == -ENAMETOOLONG)
			return fail(ctx, "'listen' = '%s' is longer than %d characters", value,
				    CONFIG_LISTEN_MAX - 1);
		if (r)
			return fail(ctx, "'listen' = '%s' is not ADDR:PORT", value);
		(void)str_copy(cfg->listen, value, sizeof(cfg->listen));
	} else if (!strcmp(name, "data_dir")) {
		if (value[0] != '/' || str_copy(cfg->data_dir, value, sizeof(cfg->data_dir)))
			return fail(ctx, "'data_dir' = '%s' must be an absolute path", value);
	} else if (!strcmp(name, "allowed_hosts")) {
		r = config__check_hosts(value);
		if (r == -ENAMETOOLONG)
			return fail(ctx, "'allowed_hosts' = '%s' is longer than %d characters",
				    value, CONFIG_HOSTS_MAX - 1);
		if (r)
			return fail(
				ctx,
				"'allowed_hosts' = '%s' is not a list of host names (NAME,NAME,...)",
				value);
		(void)str_copy(cfg->http.allowed_hosts, value, sizeof(cfg->http.allowed_hosts));
	} else if (!strcmp(name, "auth_token_file") || !strcmp(name, "tls_cert_file") ||
		   !strcmp(name, "tls_key_file")) {
		char *dst = name[0] == 'a'		     ? cfg->http.auth_token_file
			    : !strcmp(name, "tls_cert_file") ? cfg->http.tls_cert_file
							     : cfg->http.tls_key_file;

		if (name[0] == 't')
			ctx->tls_line = ctx->line;
		if (value[0] != '/' || str_copy(dst, value, VM_PATH_MAX))
			return fail(ctx,
				    "'%s' = '%s' must be an absolute path of at most %d characters",
				    name, value, VM_PATH_MAX - 1);
	} else if (!strcmp(name, "allow_insecure_listen")) {
		if (parse_bool(value, &b))
			return fail(ctx, "'%s' = '%s' is not a boolean", name, value);
		cfg->http.allow_insecure_listen = b;
	} else if (!strcmp(name, "tick_ms")) {
		GET_U64(name, 100, 60000, cfg->tick_ms);
	} else if (!strcmp(name, "max_connections")) {
		GET_U64(name, 1, 1024, cfg->max_connections);
	} else if (!strcmp(name, "agent_timeout_s")) {
		GET_U64(name, 1, 3600, cfg->agent_timeout_s);
	} else if (!strcmp(name, "history_max_bytes")) {
		GET_U64(name, 4096, 1ull << 40, cfg->history_max_bytes);
	} else if (!strcmp(name, "history_keep")) {
		GET_U64(name, 0, 100, cfg->history_keep);
	} else if (!strcmp(name, "procscan_ticks")) {
		GET_U64(name, 1, 3600, cfg->procscan_ticks);
	} else if (!strcmp(name, "vm_owners")) {
		if (config__check_owners(value))
			return fail(ctx,
				    "'vm_owners' = '%s' is not a list of users (NAME,NAME,...)",
				    value);
		(void)str_copy(cfg->vm_owners, value, sizeof(cfg->vm_owners));
	} else if (!strcmp(name, "libvirt_retry_max_s")) {
		GET_U64(name, 1, 3600, cfg->libvirt_retry_max_s);
	} else if (!strcmp(name, "procscan") || !strcmp(name, "bpf")) {
		if (parse_bool(value, &b))
			return fail(ctx, "'%s' = '%s' is not a boolean", name, value);
		if (!strcmp(name, "bpf"))
			cfg->bpf = b;
		else
			cfg->procscan = b;
	} else {
		return fail(ctx, "unknown key '%s' in [global]", name);
	}
	return 1;
}

static struct vm_config *vm_section(struct parse_ctx *ctx, const char *vmname)
{
	struct config *cfg = ctx->cfg;
	struct vm_config *v;

	for (int i = 0; i < cfg->nvms; i++) {
		if (!strcmp(cfg->vms[i].name, vmname))
			return &cfg->vms[i];
	}
	v = realloc(cfg->vms, (size_t)(cfg->nvms + 1) * sizeof(*v));
	if (!v)
		return NULL;
	cfg->vms = v;
	v = &cfg->vms[cfg->nvms++];
	memset(v, 0, sizeof(*v));
	(void)str_copy(v->name, vmname, sizeof(v->name));
	return v;
}

static int handler(void *user, const char *section, const char *name, const char *value)
{
	struct parse_ctx *ctx = user;
	struct vm_config *v;
	bool handled;
	int r;

	if (ctx->err_line)
		return 0;
	if (!name) /* a section header alone (inih calls with name NULL in some builds) */
		return 1;
	if (!strcmp(section, "global"))
		return global_key(ctx, name, value);
	if (!strncmp(section, "vm ", 3)) {
		const char *vmname = section + 3;

		while (*vmname == ' ')
			vmname++;
		if (!*vmname || strlen(vmname) >= VM_NAME_MAX)
			return fail(ctx, "bad VM section name '[%s]'", section);
		v = vm_section(ctx, vmname);
		if (!v)
			return fail(ctx, "out of memory");
		r = vm_key(ctx, v, name, value, &handled);
		if (!handled)
			return fail(ctx, "unknown key '%s' in [%s]", name, section);
		return r;
	}
	if (!*section)
		return fail(ctx, "key '%s' outside of a section ([global] or [vm NAME])", name);
	return fail(ctx, "unknown section '[%s]' ([global] or [vm NAME])", section);
}

/*
 * fgets-like reader that counts lines and refuses over-long ones. num is
 * libinih's line buffer (INI_MAX_LINE, 200 bytes in Debian's build): a line
 * keeps num - 2 characters, its newline and the NUL.
 */
static char *reader(char *str, int num, void *stream)
{
	struct parse_ctx *ctx = stream;
	int n = 0;

	for (;;) {
		int c;

		if (ctx->file) {
			c = fgetc(ctx->file);
		} else {
			c = *ctx->text ? (unsigned char)*ctx->text++ : EOF;
		}
		if (c == EOF)
			break;
		if (c == '\0') {
			ctx->line++;
			(void)fail(ctx, "NUL byte in the file");
			return NULL;
		}
		if (c != '\n' && n >= num - 2) {
			ctx->line++;
			(void)fail(ctx, "line longer than %d characters", num - 2);
			return NULL;
		}
		str[n++] = (char)c;
		if (c == '\n')
			break;
	}
	if (!n)
		return NULL;
	str[n] = '\0';
	ctx->line++;
	return str;
}

static int validate(struct parse_ctx *ctx)
{
	struct config *cfg = ctx->cfg;
	struct vm_config v;

	if (!cfg->http.tls_cert_file[0] != !cfg->http.tls_key_file[0]) {
		ctx->line = ctx->tls_line;
		return fail(ctx,
			    "'tls_cert_file' and 'tls_key_file' go together: set both or neither");
	}
	for (int i = -1; i < cfg->nvms; i++) {
		const struct vm_config *raw = i < 0 ? &cfg->defaults : &cfg->vms[i];
		char where[VM_NAME_MAX + 16] = "";

		config__vm(cfg, i < 0 ? "" : raw->name, &v);
		if (i >= 0)
			snprintf(where, sizeof(where), "[vm %s]: ", raw->name);
		/* the line of the bound set last in that section (or in [global]) */
		ctx->line = raw->line ? raw->line : (cfg->defaults.line ? cfg->defaults.line : 1);
		if (v.vcpu_max && v.vcpu_max < v.vcpu_min)
			return fail(ctx, "%s'vcpu_max' %d is below 'vcpu_min' %d", where,
				    v.vcpu_max, v.vcpu_min);
		if (v.mem_ceiling_mib && v.mem_ceiling_mib < v.mem_floor_mib)
			return fail(ctx, "%s'mem_ceiling_mib' %llu is below 'mem_floor_mib' %llu",
				    where, (unsigned long long)v.mem_ceiling_mib,
				    (unsigned long long)v.mem_floor_mib);
	}
	return 1;
}

static struct config *load(struct parse_ctx *ctx, char *err, size_t errlen)
{
	struct config *cfg = NULL;
	int r;

	cfg = config__new_default();
	if (!cfg) {
		snprintf(err, errlen, "%s: out of memory", ctx->name);
		return NULL;
	}
	ctx->cfg = cfg;
	ini_allow_multiline = false;
	r = ini_parse_stream(reader, ctx, handler, ctx);
	/* inih's own syntax errors come before any later handler error */
	if (r > 0 && (!ctx->err_line || r < ctx->err_line)) {
		ctx->err_line = r;
		snprintf(ctx->err, sizeof(ctx->err),
			 "syntax error (expected '[section]' or 'key = value')");
	} else if (r < 0 && !ctx->err_line) {
		snprintf(err, errlen, "%s: out of memory", ctx->name);
		config__free(cfg);
		return NULL;
	}
	if (!ctx->err_line) {
		(void)validate(ctx);
		if (!ctx->err_line)
			return cfg;
	}
	snprintf(err, errlen, "%s:%d: %s", ctx->name, ctx->err_line, ctx->err);
	config__free(cfg);
	return NULL;
}

struct config *config__load(const char *path, char *err, size_t errlen)
{
	struct parse_ctx ctx = { .name = path };
	struct config *cfg;

	ctx.file = fopen(path, "re");
	if (!ctx.file) {
		snprintf(err, errlen, "%s: %s", path, strerror(errno));
		return NULL;
	}
	cfg = load(&ctx, err, errlen);
	fclose(ctx.file);
	if (cfg)
		(void)str_copy(cfg->path, path, sizeof(cfg->path));
	return cfg;
}

struct config *config__load_string(const char *name, const char *text, char *err, size_t errlen)
{
	struct parse_ctx ctx = { .name = name, .text = text };

	return load(&ctx, err, errlen);
}

void config__vm(const struct config *cfg, const char *name, struct vm_config *out)
{
	const struct vm_config *v = NULL;

	*out = cfg->defaults;
	(void)str_copy(out->name, name, sizeof(out->name));
	out->set = 0;
	for (int i = 0; name && *name && i < cfg->nvms; i++) {
		if (!strcmp(cfg->vms[i].name, name)) {
			v = &cfg->vms[i];
			break;
		}
	}
	if (!v)
		return;
	if (v->set & VMCFG_POLICY)
		(void)str_copy(out->policy, v->policy, sizeof(out->policy));
	if (v->set & VMCFG_MEM_FLOOR)
		out->mem_floor_mib = v->mem_floor_mib;
	if (v->set & VMCFG_MEM_CEILING)
		out->mem_ceiling_mib = v->mem_ceiling_mib;
	if (v->set & VMCFG_VCPU_MIN)
		out->vcpu_min = v->vcpu_min;
	if (v->set & VMCFG_VCPU_MAX)
		out->vcpu_max = v->vcpu_max;
	if (v->set & VMCFG_ENABLED)
		out->enabled = v->enabled;
	if (v->set & VMCFG_DRY_RUN)
		out->dry_run = v->dry_run;
	out->set = v->set;
}

int config__check_hosts(const char *s)
{
	int names = 0;

	if (strnlen(s, CONFIG_HOSTS_MAX) >= CONFIG_HOSTS_MAX)
		return -ENAMETOOLONG;
	if (!strcmp(s, "*"))
		return 0;
	for (const char *p = s; *p; p++) {
		char c = *p;

		if (c == ',' || c == ' ' || c == '\t')
			continue;
		if (p == s || strchr(", \t", p[-1]))
			names++;
		/* what a Host header's host part may hold: names, IPv4, [IPv6] */
		if (!((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
		      c == '.' || c == '-' || c == '_' || c == ':' || c == '[' || c == ']'))
			return -EINVAL;
	}
	return names ? 0 : -EINVAL;
}

int config__parse_listen(const char *s, char *addr, size_t addrlen, unsigned int *port)
{
	const char *colon, *host = s;
	size_t hlen;
	uint64_t p;

	if (s[0] == '[') {
		const char *end = strchr(s, ']');

		if (!end || end[1] != ':')
			return -EINVAL;
		host = s + 1;
		hlen = (size_t)(end - host);
		colon = end + 1;
	} else {
		colon = strrchr(s, ':');
		if (!colon)
			return -EINVAL;
		hlen = (size_t)(colon - s);
	}
	if (!hlen || hlen >= addrlen)
		return -EINVAL;
	if (parse_u64(colon + 1, 0, 65535, &p))
		return -EINVAL;
	memcpy(addr, host, hlen);
	addr[hlen] = '\0';
	*port = (unsigned int)p;
	return 0;
}

int config__check_listen(const char *s)
{
	char addr[CONFIG_LISTEN_MAX];
	unsigned int port;

	if (strnlen(s, CONFIG_LISTEN_MAX) >= CONFIG_LISTEN_MAX)
		return -ENAMETOOLONG;
	return config__parse_listen(s, addr, sizeof(addr), &port);
}

int config__check_owners(const char *s)
{
	size_t len = strlen(s), item = 0;
	int n = 0;

	if (len >= CONFIG_OWNERS_MAX)
		return -ENAMETOOLONG;
	for (size_t i = 0; i <= len; i++) {
		char c = s[i];

		if (c == ',' || !c) {
			if (!item || ++n > VM_MAX_OWNERS)
				return -EINVAL;
			item = 0;
			continue;
		}
		if (!((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
		      c == '.' || c == '_' || c == '-'))
			return -EINVAL;
		item++;
	}
	return 0;
}
