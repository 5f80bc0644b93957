/* SPDX-License-Identifier: GPL-2.0 */
/* The dashboard's files, embedded in the binary at build time (mk/dashboard.mk). */
#ifndef KVMPILOT_ASSETS_H
#define KVMPILOT_ASSETS_H

#include <stddef.h>

struct asset {
	const char *path; /* the URL path, "/" included */
	const char *content_type;
	const unsigned char *data;
	size_t len;
};

/* The file served at path, or NULL. */
const struct asset *assets__find(const char *path);

#endif /* KVMPILOT_ASSETS_H */
