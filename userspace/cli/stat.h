/* SPDX-License-Identifier: GPL-2.0 */
/*
 * Output of 'kvmpilot stat': one interval of per-VM deltas (trace_vm__delta)
 * as a JSON object (the NDJSON line) or as text like 'perf kvm stat live'.
 */
#ifndef KVMPILOT_STAT_H
#define KVMPILOT_STAT_H

#include <stdio.h>
#include <json-c/json.h>

#include "trace.h"

/*
 * {"time": T, "interval_s": I, "vms": [...]} for n deltas; NULL when out of
 * memory. time_s is the wall-clock time at the end of the interval.
 */
struct json_object *stat__json(const struct trace_vm *deltas, int n, double time_s,
			       double interval_s);

/* One JSON vm object (the elements of "vms"). */
struct json_object *stat__vm_json(const struct trace_vm *d, double interval_s);

void stat__print_text(FILE *out, const struct trace_vm *deltas, int n, double time_s,
		      double interval_s);

#endif /* KVMPILOT_STAT_H */
