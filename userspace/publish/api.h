/* SPDX-License-Identifier: GPL-2.0 */
/*
 * The URLs of `kvmpilot run`: the JSON API (/api/v1/vms, .../NAME,
 * .../NAME/series, .../NAME/metrics, /api/v1/actions, /healthz), /metrics
 * (metrics.h) and the dashboard's files (assets.h). Handlers only read the
 * snapshot published by the tick thread.
 */
#ifndef KVMPILOT_API_H
#define KVMPILOT_API_H

#include <stddef.h>

#include "http.h"
#include "snapshot.h"

#define API_MAX_METRICS 48 /* series per /series request */

/*
 * The http_handler_fn of the service: route one GET request against the
 * current snapshot of slot (a struct snapshot_slot). Fills resp (always:
 * errors are JSON bodies with a 4xx/5xx status); returns 0 or -ENOMEM.
 */
int api__handle(void *slot, const char *url, http_arg_fn arg, void *cls,
		struct http_response *resp);

/* The body of /api/v1/vms for a snapshot; malloc'ed, NULL on ENOMEM. */
char *api__render_vms(const struct snapshot *snap, size_t *len);

#endif /* KVMPILOT_API_H */
