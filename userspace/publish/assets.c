// SPDX-License-Identifier: GPL-2.0
/* The dashboard files, embedded at build time (mk/dashboard.mk). */
#include <string.h>

#include "assets.h"

#include "dashboard_assets.h"

const struct asset *assets__find(const char *path)
{
	for (size_t i = 0; i < sizeof(asset_table) / sizeof(asset_table[0]); i++) {
		if (!strcmp(asset_table[i].path, path))
			return &asset_table[i];
	}
	return NULL;
}
