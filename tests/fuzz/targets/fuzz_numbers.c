// SPDX-License-Identifier: GPL-2.0
/*
 * The one number helper every parser of the daemon uses (util.c: config
 * values, HTTP 'since', XML sizes, CLI options) and str_copy(), which
 * guards every fixed-size name: a number taken is the plain decimal
 * written, within its bounds; a copy is whole, or said to be cut (-E2BIG)
 * and still terminated.
 *
 * Input: one byte choosing the bounds, then the text.
 */
#include <errno.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "fuzz.h"
#include "util.h"

static const uint64_t ubounds[][2] = {
	{ 0, UINT64_MAX },
	{ 1, 65535 },
	{ 10, 3600000 },
	{ 0, 0 },
};
static const double dbounds[][2] = {
	{ 0, 1e11 },
	{ -1e308, 1e308 },
	{ 0.5, 0.5 },
	{ -1, 1 },
};

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	uint64_t u, umin, umax;
	int64_t i;
	double d, dmin, dmax;
	char *s, buf[32], dst[16];
	size_t len;
	int rc;

	if (!size)
		return 0;
	umin = ubounds[data[0] & 3][0];
	umax = ubounds[data[0] & 3][1];
	dmin = dbounds[(data[0] >> 2) & 3][0];
	dmax = dbounds[(data[0] >> 2) & 3][1];
	s = fuzz_strndup(data + 1, size - 1);
	len = strlen(s);

	rc = parse_u64(s, umin, umax, &u);
	FUZZ_CHECK(rc == 0 || rc == -EINVAL || rc == -ERANGE, "parse_u64: %d", rc);
	if (!rc) {
		const char *p = s;

		FUZZ_CHECK(u >= umin && u <= umax, "%llu outside its bounds",
			   (unsigned long long)u);
		FUZZ_CHECK(strspn(s, "0123456789") == len, "'%s' taken as a number", s);
		while (p[0] == '0' && p[1])
			p++;
		(void)snprintf(buf, sizeof(buf), "%llu", (unsigned long long)u);
		FUZZ_CHECK(!strcmp(buf, p), "'%s' read as %s", s, buf);
	}
	rc = parse_i64(s, -1000, 1000, &i);
	if (!rc)
		FUZZ_CHECK(i >= -1000 && i <= 1000 && strtoll(s, NULL, 10) == i,
			   "'%s' read as %lld", s, (long long)i);
	rc = parse_double(s, dmin, dmax, &d);
	FUZZ_CHECK(rc == 0 || rc == -EINVAL || rc == -ERANGE, "parse_double: %d", rc);
	if (!rc)
		FUZZ_CHECK(isfinite(d) && d >= dmin && d <= dmax && d == strtod(s, NULL),
			   "'%s' read as %g", s, d);

	rc = str_copy(dst, s, sizeof(dst));
	if (len < sizeof(dst))
		FUZZ_CHECK(!rc && !strcmp(dst, s), "'%s' of %zu bytes not copied", s, len);
	else
		FUZZ_CHECK(rc == -E2BIG && memchr(dst, '\0', sizeof(dst)),
			   "'%s' of %zu bytes cut into 16 without saying so", s, len);
	free(s);
	return 0;
}
