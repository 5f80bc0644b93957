/* SPDX-License-Identifier: GPL-2.0 */
/* What the subcommands share when they talk to a person or a script. */
#ifndef KVMPILOT_CLI_H
#define KVMPILOT_CLI_H

#include <stdbool.h>

/*
 * Report a command's error once, like bpftool's p_err(): in JSON mode also
 * as {"error": msg} on stdout (the line a script reads instead of a
 * result), always as a log line. Returns status, for `return cli__fail(...)`.
 */
int cli__fail(bool json, int status, const char *fmt, ...) __attribute__((format(printf, 3, 4)));

/*
 * getopt_long() returned ':' (opt) or '?': say which option of which
 * command was wrong, through cli__fail(). Returns status.
 */
int cli__bad_option(bool json, int status, const char *cmd, int opt, const char *arg);

struct json_object;
struct replay_score;

/* One replay score as JSON, the same in single and host replay. */
struct json_object *cli__replay_score_json(const struct replay_score *s);

#endif /* KVMPILOT_CLI_H */
