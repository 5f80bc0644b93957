// SPDX-License-Identifier: GPL-2.0
/*
 * /api/v1/vms/NAME/series for exit reasons without a column: an empty
 * series for a name a reason could have, an unknown metric for anything
 * else, and every answer valid UTF-8 JSON whatever bytes the client sent.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <cmocka.h>

#include <json-c/json.h>

#include "api.h"
#include "history.h"
#include "snapshot.h"

static const char *metric_arg(void *cls, const char *key)
{
	return strcmp(key, "metric") ? NULL : cls;
}

/* The answer to /api/v1/vms/vm1/series?metric=METRIC, parsed strictly (UTF-8 checked). */
static struct json_object *series(struct snapshot_slot *slot, const char *metric, int *status)
{
	struct json_tokener *tok = json_tokener_new();
	struct http_response r;
	struct json_object *o;

	assert_non_null(tok);
	json_tokener_set_flags(tok, JSON_TOKENER_STRICT | JSON_TOKENER_VALIDATE_UTF8);
	assert_int_equal(
		api__handle(slot, "/api/v1/vms/vm1/series", metric_arg, (void *)metric, &r), 0);
	*status = r.status;
	o = json_tokener_parse_ex(tok, r.body, (int)r.len);
	if (!o)
		fail_msg("not strict UTF-8 JSON: %s", r.body);
	free(r.body);
	json_tokener_free(tok);
	return o;
}

static void test_reason_series(void **state)
{
	struct snapshot_slot *slot = snapshot_slot__new();
	struct snapshot *snap = snapshot__new(1, 0);
	struct vm_sample *s = &snap->vms[0].s;
	struct json_object *o, *v;
	int status;

	(void)state;
	assert_non_null(slot);
	strcpy(s->name, "vm1");
	s->time_ns = 1000ull * 1000000000ull;
	snap->vms[0].hist = history__new("vm1");
	assert_non_null(snap->vms[0].hist);
	assert_int_equal(history__append(snap->vms[0].hist, s), 0);
	snap->nvms = 1;
	snap->time = 1000;
	snapshot_slot__publish(slot, snap);

	/* a reason the VM has not shown yet: its series, all null */
	o = series(slot, "exits_per_s:VMX_70", &status);
	assert_int_equal(status, 200);
	assert_true(json_object_object_get_ex(o, "series", &v));
	assert_true(json_object_object_get_ex(v, "exits_per_s:VMX_70", &v));
	assert_int_equal(json_object_array_length(v), 1);
	assert_null(json_object_array_get_idx(v, 0));
	json_object_put(o);

	/* bytes no reason has: an unknown metric, said in valid UTF-8 */
	o = series(slot, "exits_per_s:\xe3\xe3", &status);
	assert_int_equal(status, 400);
	assert_true(json_object_object_get_ex(o, "error", &v));
	assert_string_equal(json_object_get_string(v), "unknown metric 'exits_per_s:?\?'");
	json_object_put(o);
	o = series(slot, "exits_per_s:a b", &status);
	assert_int_equal(status, 400);
	json_object_put(o);
	snapshot_slot__free(slot);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_reason_series),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
