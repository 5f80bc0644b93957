// SPDX-License-Identifier: GPL-2.0
/* Error reporting shared by the subcommands (cli.h). */
#include <stdarg.h>
#include <stdio.h>

#include <json-c/json.h>

#include "cli.h"
#include "replay.h"
#include "util.h"

int cli__fail(bool json, int status, const char *fmt, ...)
{
	char msg[1024];
	va_list ap;

	va_start(ap, fmt);
	(void)vsnprintf(msg, sizeof(msg), fmt, ap);
	va_end(ap);
	if (json) {
		struct json_object *e = json_object_new_object();

		json_object_object_add(e, "error", json_object_new_string(msg));
		printf("%s\n", json_object_to_json_string_ext(e, JSON_C_TO_STRING_PLAIN));
		/* before the log line: a reader of both sees the JSON first */
		fflush(stdout);
		json_object_put(e);
	}
	log_error("%s", msg);
	return status;
}

int cli__bad_option(bool json, int status, const char *cmd, int opt, const char *arg)
{
	if (opt == ':')
		return cli__fail(json, status, "option '%s' needs a value", arg);
	return cli__fail(json, status, "unknown option '%s' (see 'kvmpilot %s --help')", arg, cmd);
}

struct json_object *cli__replay_score_json(const struct replay_score *s)
{
	struct json_object *o = json_object_new_object();

	json_object_object_add(o, "ticks", json_object_new_int64((int64_t)s->ticks));
	json_object_object_add(o, "mem_pressure_s",
			       json_object_new_int64((int64_t)s->mem_pressure_s));
	json_object_object_add(o, "mean_slack_mb", json_object_new_double(s->mean_slack_mb));
	json_object_object_add(o, "cpu_pressure_s",
			       json_object_new_int64((int64_t)s->cpu_pressure_s));
	json_object_object_add(o, "mean_idle_vcpus", json_object_new_double(s->mean_idle_vcpus));
	json_object_object_add(o, "actions", json_object_new_int64((int64_t)s->actions));
	return o;
}
