/* SPDX-License-Identifier: GPL-2.0 */
/* Small helpers shared by every module: number parsing, clocks, logging. */
#ifndef KVMPILOT_UTIL_H
#define KVMPILOT_UTIL_H

#include <stdarg.h>
#include <stdbool.h>
#include <stdint.h>
#include <time.h>

#define ARRAY_SIZE(a) (sizeof(a) / sizeof((a)[0]))

/*
 * Parse a whole string as a number within [min, max]. Returns 0 or
 * -EINVAL (not a number, trailing junk) or -ERANGE (outside the bounds).
 */
int parse_u64(const char *s, uint64_t min, uint64_t max, uint64_t *out);
int parse_i64(const char *s, int64_t min, int64_t max, int64_t *out);
int parse_double(const char *s, double min, double max, double *out);

/*
 * The value of command-line option name ("count"): parse_u64/parse_double
 * with one wording for every command. On failure returns -EINVAL or -ERANGE
 * and puts "invalid NAME 'VALUE' (MIN to MAX)" into msg, or logs it as an
 * error when msg is NULL (callers with a JSON error path pass a buffer).
 */
int opt_u64(const char *name, const char *arg, uint64_t min, uint64_t max, uint64_t *out, char *msg,
	    unsigned long msglen);
int opt_double(const char *name, const char *arg, double min, double max, double *out, char *msg,
	       unsigned long msglen);

/* Clocks in nanoseconds. */
uint64_t now_mono_ns(void);
uint64_t now_real_ns(void);
/* ts += ns, normalized (deadlines for ppoll, pthread_cond_timedwait). */
void timespec_add_ns(struct timespec *ts, uint64_t ns);

/* Copy at most size-1 bytes and always terminate; returns -E2BIG if cut. */
int str_copy(char *dst, const char *src, unsigned long size);

/* Read a small file into buf (NUL-terminated); returns bytes read or -errno. */
long read_file_str(const char *path, char *buf, unsigned long size);

/*
 * mkdir -p: the parents of path as 0755, path itself as mode (when made
 * here; an existing one keeps its mode). Returns 0, -ENAMETOOLONG or -errno.
 */
int mkdir_p(const char *path, unsigned int mode);

/* KP_: not to meet <syslog.h>'s LOG_INFO and LOG_DEBUG. */
enum log_level {
	KP_LOG_ERROR,
	KP_LOG_WARN,
	KP_LOG_INFO,
	KP_LOG_DEBUG,
};

extern enum log_level log_max_level;

/* Messages go to stderr, prefixed with "kvmpilot: " and the level. */
void log_msg(enum log_level level, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

#define log_error(...) log_msg(KP_LOG_ERROR, __VA_ARGS__)
#define log_warn(...)  log_msg(KP_LOG_WARN, __VA_ARGS__)
#define log_info(...)  log_msg(KP_LOG_INFO, __VA_ARGS__)
#define log_debug(...) log_msg(KP_LOG_DEBUG, __VA_ARGS__)

/*
 * A token bucket for rate-limited logging: at most burst messages, then
 * one per interval_ns. Returns true when a message may be printed.
 */
struct ratelimit {
	uint64_t interval_ns;
	unsigned int burst;
	unsigned int tokens;
	uint64_t last_ns;
	unsigned long suppressed;
};

#define RATELIMIT_INIT(interval, b)                                    \
	{                                                              \
		.interval_ns = (interval), .burst = (b), .tokens = (b) \
	}

bool ratelimit__allow(struct ratelimit *rl, uint64_t now_ns);

#endif /* KVMPILOT_UTIL_H */
