/* SPDX-License-Identifier: GPL-2.0 */
/*
 * Helpers shared by the libFuzzer targets: a property that does not hold is
 * a finding like a crash, so it aborts with the reason (the sanitizer's
 * report then carries the stack and libFuzzer saves the input).
 */
#ifndef KVMPILOT_FUZZ_H
#define KVMPILOT_FUZZ_H

#include <ftw.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/stat.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

#define FUZZ_CHECK(cond, ...)                                                                      \
	do {                                                                                       \
		if (!(cond)) {                                                                     \
			fprintf(stderr, "fuzz: %s:%d: property '%s' broken: ", __FILE__, __LINE__, \
				#cond);                                                            \
			fprintf(stderr, __VA_ARGS__);                                              \
			fputc('\n', stderr);                                                       \
			abort();                                                                   \
		}                                                                                  \
	} while (0)

/*
 * A malloc'ed NUL-terminated copy of the input (parsers of C strings);
 * aborts on ENOMEM, which libFuzzer reports as an out-of-memory finding.
 */
/* Remove a scratch tree the target wrote (nftw callback and caller). */
static inline int fuzz_rm_entry(const char *path, const struct stat *st, int flag, struct FTW *ftw)
{
	(void)st;
	(void)flag;
	(void)ftw;
	return remove(path);
}

static inline void fuzz_rm_tree(const char *root)
{
	if (root[0])
		(void)nftw(root, fuzz_rm_entry, 16, FTW_DEPTH | FTW_PHYS);
}

static inline char *fuzz_strndup(const uint8_t *data, size_t size)
{
	char *s = malloc(size + 1);

	if (!s)
		abort();
	for (size_t i = 0; i < size; i++)
		s[i] = (char)data[i];
	s[size] = '\0';
	return s;
}

/*
 * Split the input at the next occurrence of the byte sep: *part and *len
 * get the piece before it, data and size move past it. The last piece is
 * the rest of the input. Lets one input describe several files.
 */
static inline void fuzz_split(const uint8_t **data, size_t *size, uint8_t sep, const uint8_t **part,
			      size_t *len)
{
	size_t i = 0;

	while (i < *size && (*data)[i] != sep)
		i++;
	*part = *data;
	*len = i;
	if (i < *size)
		i++;
	*data += i;
	*size -= i;
}

#endif /* KVMPILOT_FUZZ_H */
