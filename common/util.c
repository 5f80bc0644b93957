// SPDX-License-Identifier: GPL-2.0
#include <ctype.h>
#include <errno.h>
#include <fcntl.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "util.h"

enum log_level log_max_level = KP_LOG_INFO;

int parse_u64(const char *s, uint64_t min, uint64_t max, uint64_t *out)
{
	unsigned long long v;
	char *end;

	/* strto*() skip leading blanks, and strtoull() negates "-1": refuse both. */
	if (!s || !*s || *s == '-' || *s == '+' || isspace((unsigned char)*s))
		return -EINVAL;
	errno = 0;
	v = strtoull(s, &end, 10);
	if (errno == ERANGE)
		return -ERANGE;
	if (errno || end == s || *end)
		return -EINVAL;
	if (v < min || v > max)
		return -ERANGE;
	*out = v;
	return 0;
}

int parse_i64(const char *s, int64_t min, int64_t max, int64_t *out)
{
	long long v;
	char *end;

	if (!s || !*s || *s == '+' || isspace((unsigned char)*s))
		return -EINVAL;
	errno = 0;
	v = strtoll(s, &end, 10);
	if (errno == ERANGE)
		return -ERANGE;
	if (errno || end == s || *end)
		return -EINVAL;
	if (v < min || v > max)
		return -ERANGE;
	*out = v;
	return 0;
}

int parse_double(const char *s, double min, double max, double *out)
{
	double v;
	char *end;

	if (!s || !*s || isspace((unsigned char)*s))
		return -EINVAL;
	errno = 0;
	v = strtod(s, &end);
	if (errno == ERANGE)
		return -ERANGE;
	if (errno || end == s || *end || !isfinite(v))
		return -EINVAL;
	if (v < min || v > max)
		return -ERANGE;
	*out = v;
	return 0;
}

static int opt_fail(int err, char *msg, unsigned long msglen, const char *fmt, ...)
	__attribute__((format(printf, 4, 5)));

static int opt_fail(int err, char *msg, unsigned long msglen, const char *fmt, ...)
{
	char buf[256];
	va_list ap;

	va_start(ap, fmt);
	if (msg && msglen)
		(void)vsnprintf(msg, msglen, fmt, ap);
	else
		(void)vsnprintf(buf, sizeof(buf), fmt, ap);
	va_end(ap);
	if (!msg || !msglen)
		log_error("%s", buf);
	return err;
}

int opt_u64(const char *name, const char *arg, uint64_t min, uint64_t max, uint64_t *out, char *msg,
	    unsigned long msglen)
{
	int err = parse_u64(arg, min, max, out);

	if (!err)
		return 0;
	return opt_fail(err, msg, msglen, "invalid %s '%s' (%llu to %llu)", name, arg ? arg : "",
			(unsigned long long)min, (unsigned long long)max);
}

int opt_double(const char *name, const char *arg, double min, double max, double *out, char *msg,
	       unsigned long msglen)
{
	int err = parse_double(arg, min, max, out);

	if (!err)
		return 0;
	return opt_fail(err, msg, msglen, "invalid %s '%s' (%g to %g)", name, arg ? arg : "", min,
			max);
}

static uint64_t clock_ns(clockid_t id)
{
	struct timespec ts;

	(void)clock_gettime(id, &ts);
	return (uint64_t)ts.tv_sec * 1000000000ull + (uint64_t)ts.tv_nsec;
}

uint64_t now_mono_ns(void)
{
	return clock_ns(CLOCK_MONOTONIC);
}

uint64_t now_real_ns(void)
{
	return clock_ns(CLOCK_REALTIME);
}

void timespec_add_ns(struct timespec *ts, uint64_t ns)
{
	ts->tv_nsec += (long)(ns % 1000000000ull);
	ts->tv_sec += (time_t)(ns / 1000000000ull) + ts->tv_nsec / 1000000000L;
	ts->tv_nsec %= 1000000000L;
}

int str_copy(char *dst, const char *src, unsigned long size)
{
	unsigned long n;

	if (!size)
		return -E2BIG;
	n = strnlen(src, size);
	if (n == size) {
		memcpy(dst, src, size - 1);
		dst[size - 1] = '\0';
		return -E2BIG;
	}
	memcpy(dst, src, n + 1);
	return 0;
}

long read_file_str(const char *path, char *buf, unsigned long size)
{
	unsigned long len = 0;
	int fd, err;

	if (!size)
		return -EINVAL;
	fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		return -errno;
	while (len < size - 1) {
		ssize_t n = read(fd, buf + len, size - 1 - len);

		if (n < 0) {
			if (errno == EINTR)
				continue;
			err = -errno;
			(void)close(fd);
			return err;
		}
		if (n == 0)
			break;
		len += n;
	}
	buf[len] = '\0';
	(void)close(fd);
	return len;
}

void log_msg(enum log_level level, const char *fmt, ...)
{
	static const char *const names[] = { "error", "warning", "info", "debug" };
	char line[4096];
	va_list ap;
	int n;

	if (level > log_max_level)
		return;
	/* One write a message: lines of threads that log at once do not interleave. */
	n = snprintf(line, sizeof(line), "kvmpilot: %s: ", names[level]);
	va_start(ap, fmt);
	vsnprintf(line + n, sizeof(line) - n, fmt, ap);
	va_end(ap);
	fprintf(stderr, "%s\n", line);
}

bool ratelimit__allow(struct ratelimit *rl, uint64_t now_ns)
{
	if (rl->interval_ns && now_ns - rl->last_ns >= rl->interval_ns) {
		uint64_t add = (now_ns - rl->last_ns) / rl->interval_ns;

		rl->tokens = add >= rl->burst ? rl->burst : rl->tokens + (unsigned int)add;
		if (rl->tokens > rl->burst)
			rl->tokens = rl->burst;
		rl->last_ns = now_ns;
	}
	if (rl->tokens) {
		rl->tokens--;
		return true;
	}
	rl->suppressed++;
	return false;
}

int mkdir_p(const char *path, unsigned int mode)
{
	char buf[4096];

	if (str_copy(buf, path, sizeof(buf)))
		return -ENAMETOOLONG;
	for (char *p = buf + 1; *p; p++) {
		if (*p != '/')
			continue;
		*p = '\0';
		if (mkdir(buf, 0755) && errno != EEXIST)
			return -errno;
		*p = '/';
	}
	if (mkdir(buf, (mode_t)mode) && errno != EEXIST)
		return -errno;
	return 0;
}
