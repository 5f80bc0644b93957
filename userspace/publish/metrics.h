/* SPDX-License-Identifier: GPL-2.0 */
/* /metrics: the Prometheus text exposition (format 0.0.4) of a snapshot. */
#ifndef KVMPILOT_METRICS_H
#define KVMPILOT_METRICS_H

#include <stddef.h>

#include "snapshot.h"

/* The text for snap; malloc'ed, NULL on ENOMEM. */
char *metrics__render(const struct snapshot *snap, size_t *len);

#endif /* KVMPILOT_METRICS_H */
