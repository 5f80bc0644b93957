// SPDX-License-Identifier: GPL-2.0
/*
 * The service's data path without a network: the INI config (FILE:LINE
 * errors, per-VM overrides), the history ring (since, overwrite, coarse
 * averages), CSV rotation, snapshots and the API/metrics rendering.
 */
#include <errno.h>
#include <math.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>
#include <cmocka.h>

#include "config.h"
#include "history.h"
#include "api.h"
#include "metrics.h"
#include "snapshot.h"

static void test_config_good(void **state)
{
	char err[CONFIG_ERR_MAX] = "";
	struct config *cfg;
	struct vm_config v;

	(void)state;
	cfg = config__load_string(
		"t.ini",
		"; comment\n[global]\nlisten = [::1]:9000\ntick_ms = 500\n"
		"dry_run = yes\n\n[vm a b]\nmem_floor_mib = 1024\npolicy = window\n",
		err, sizeof(err));
	assert_non_null(cfg);
	assert_string_equal(cfg->listen, "[::1]:9000");
	assert_int_equal(cfg->tick_ms, 500);
	config__vm(cfg, "a b", &v);
	assert_int_equal(v.mem_floor_mib, 1024);
	assert_string_equal(v.policy, "window");
	assert_true(v.dry_run); /* inherited from [global] */
	config__vm(cfg, "other", &v);
	assert_int_equal(v.mem_floor_mib, 256);
	assert_string_equal(v.policy, "predictive");
	config__free(cfg);
}

static void expect_error(const char *text, const char *want)
{
	char err[CONFIG_ERR_MAX] = "";
	struct config *cfg = config__load_string("t.ini", text, err, sizeof(err));

	assert_null(cfg);
	if (!strstr(err, want))
		fail_msg("error '%s' lacks '%s'", err, want);
}

static void test_config_bad(void **state)
{
	(void)state;
	expect_error("[global]\ntick_ms = 10\n", "t.ini:2: 'tick_ms' = '10' is out of range");
	expect_error("[global]\n\n\nbogus = 1\n", "t.ini:4: unknown key 'bogus'");
	expect_error("tick_ms = 1000\n", "t.ini:1: key 'tick_ms' outside of a section");
	expect_error("[global]\n[nope]\nx = 1\n", "t.ini:3: unknown section '[nope]'");
	expect_error("[global]\nno equals here\n[vm x]\nbogus = 2\n", "t.ini:2: syntax error");
	expect_error("[vm x]\nenabled = maybe\n", "t.ini:2: 'enabled' = 'maybe' is not a boolean");
	expect_error("[global]\nmem_floor_mib = 2048\nmem_ceiling_mib = 1024\n",
		     "t.ini:3: 'mem_ceiling_mib' 1024 is below 'mem_floor_mib' 2048");
	expect_error("[global]\nvcpu_max = 2\n[vm x]\npolicy = window\nvcpu_min = 3\n",
		     "t.ini:5: [vm x]: 'vcpu_max' 2 is below 'vcpu_min' 3");
	expect_error("[global]\ndata_dir = relative/path\n",
		     "t.ini:2: 'data_dir' = 'relative/path'");
}

/*
 * Lines hold 198 characters: libinih's line buffer is 200 bytes in Debian's
 * build (the newline and the NUL take two). One more is refused by FILE:LINE,
 * with or without a final newline.
 */
static void test_config_line_length(void **state)
{
	char text[300], want[200], err[CONFIG_ERR_MAX] = "";
	struct config *cfg;
	size_t head = strlen("[global]\nuri = ");

	(void)state;
	for (int nl = 0; nl < 2; nl++) {
		/* uri = and 192 x: 198 characters */
		memset(text, 'x', sizeof(text));
		memcpy(text, "[global]\nuri = ", head);
		strcpy(text + strlen("[global]\n") + 198, nl ? "\n" : "");
		cfg = config__load_string("t.ini", text, err, sizeof(err));
		assert_string_equal(err, "");
		assert_non_null(cfg);
		memset(want, 'x', 192);
		want[192] = '\0';
		assert_string_equal(cfg->uri, want);
		config__free(cfg);

		/* 199 characters */
		memset(text, 'x', sizeof(text));
		memcpy(text, "[global]\nuri = ", head);
		strcpy(text + strlen("[global]\n") + 199, nl ? "\n[global]\n" : "");
		expect_error(text, "t.ini:2: line longer than 198 characters");
	}
}

static void test_listen(void **state)
{
	char addr[64];
	unsigned int port;

	(void)state;
	assert_int_equal(config__parse_listen("127.0.0.1:9477", addr, sizeof(addr), &port), 0);
	assert_string_equal(addr, "127.0.0.1");
	assert_int_equal(port, 9477);
	assert_int_equal(config__parse_listen("[::1]:80", addr, sizeof(addr), &port), 0);
	assert_string_equal(addr, "::1");
	assert_int_equal(config__parse_listen("host", addr, sizeof(addr), &port), -EINVAL);
	assert_int_equal(config__parse_listen("h:70000", addr, sizeof(addr), &port), -EINVAL);
	assert_int_equal(config__parse_listen(":80", addr, sizeof(addr), &port), -EINVAL);

	/* a 'listen' that does not fit is refused, never cut to another port */
	assert_int_equal(config__check_listen("127.0.0.1:9477"), 0);
	assert_int_equal(config__check_listen("host"), -EINVAL);
	assert_int_equal(
		config__check_listen("127.0.0.1:"
				     "000000000000000000000000000000000000000000000000009477"),
		-ENAMETOOLONG);
	assert_int_equal(
		config__check_listen("127.0.0.1:"
				     "0000000000000000000000000000000000000000000000009477"),
		0);
}

static void test_config_listen_length(void **state)
{
	/* 127.0.0.1: and 51 zeros and 9477 (65 characters) once bound port 94 */
	const char *zeros = "000000000000000000000000000000000000000000000000000";
	char text[256], want[256], value[80];
	char err[CONFIG_ERR_MAX] = "";
	struct config *cfg;

	(void)state;
	assert_int_equal(strlen(zeros), 51);
	snprintf(value, sizeof(value), "127.0.0.1:%s9477", zeros);
	snprintf(text, sizeof(text), "[global]\nlisten = %s\n", value);
	snprintf(want, sizeof(want), "t.ini:2: 'listen' = '%s' is longer than %d characters", value,
		 CONFIG_LISTEN_MAX - 1);
	expect_error(text, want);

	/* the longest that fits (63 characters) is kept whole */
	snprintf(value, sizeof(value), "127.0.0.1:%s9477", zeros + 2);
	assert_int_equal(strlen(value), CONFIG_LISTEN_MAX - 1);
	snprintf(text, sizeof(text), "[global]\nlisten = %s\n", value);
	cfg = config__load_string("t.ini", text, err, sizeof(err));
	assert_non_null(cfg);
	assert_string_equal(cfg->listen, value);
	config__free(cfg);
}

static void sample_at(struct vm_sample *s, double t, double used_mib)
{
	memset(s, 0, sizeof(*s));
	strcpy(s->name, "vm/1");
	s->time_ns = (uint64_t)(t * 1e9);
	s->mem_source = MEM_SOURCE_AGENT;
	s->mem_used_kib = (uint64_t)(used_mib * 1024);
	s->mem_total_kib = 4096 * 1024;
	s->balloon_kib = 2048 * 1024;
	s->psi_mem_some = s->psi_cpu_some = s->guest_cpu_pct = -1;
	s->have_bpf = true;
	s->nreasons = 1;
	strcpy(s->reasons[0].name, "HLT");
	s->reasons[0].per_s = 7;
}

static void test_history_ring(void **state)
{
	struct history *h = history__new("vm/1");
	struct history_row *rows = calloc(HISTORY_FINE_ROWS + HISTORY_COARSE_ROWS, sizeof(*rows));
	struct vm_sample s;
	int n, col;

	(void)state;
	assert_non_null(h);
	for (int i = 0; i < 1000; i++) {
		sample_at(&s, 1000 + i, i);
		assert_int_equal(history__append(h, &s), 0);
	}
	n = history__copy(h, 0, rows, HISTORY_FINE_ROWS + HISTORY_COARSE_ROWS);
	/* the fine rows (820..999) plus the 10-tick averages before them (0..819) */
	assert_int_equal(n, HISTORY_FINE_ROWS + (1000 - HISTORY_FINE_ROWS) / HISTORY_COARSE_STEP);
	for (int i = 1; i < n; i++)
		assert_true(rows[i].t > rows[i - 1].t);
	assert_true(fabs(rows[0].v[HC_MEM_USED] - 4.5) < 1e-3); /* mean of 0..9 */
	assert_true(fabs(rows[n - 1].v[HC_MEM_USED] - 999) < 1e-3);
	assert_true(isnan(rows[n - 1].v[HC_FORECAST]));
	/* since: only newer rows */
	n = history__copy(h, 1995.5, rows, 100);
	assert_int_equal(n, 4);
	assert_true(fabs(rows[0].t - 1996) < 1e-6);
	/* exit reasons get a named column */
	col = history__col_find(h, "exits_per_s:HLT");
	assert_int_equal(col, HC_REASON0);
	assert_true(fabs(rows[0].v[col] - 7) < 1e-6);
	assert_int_equal(history__col_find(h, "nope"), -ENOENT);
	assert_int_equal(history__col_find(h, "mem_used_mib"), HC_MEM_USED);
	history__put(h);
	free(rows);
}

/* A metric that stays constant and then changes keeps every value, old and new. */
static void test_history_constant_then_change(void **state)
{
	struct history *h = history__new("vm/1");
	struct history_row *rows = calloc(HISTORY_FINE_ROWS + HISTORY_COARSE_ROWS, sizeof(*rows));
	struct vm_sample s;
	int n;

	(void)state;
	assert_non_null(h);
	for (int i = 0; i < 300; i++) {
		sample_at(&s, 1000 + i, 512);
		/* NaN, then 0, then a value; and a swap rate that turns -0.0 after 250 */
		s.psi_mem_some = i < 100 ? -1 : i < 200 ? 0 : 0.25;
		s.swap_in_per_s = i < 250 ? 0.0 : -0.0;
		assert_int_equal(history__append(h, &s), 0);
	}
	n = history__copy(h, 0, rows, HISTORY_FINE_ROWS + HISTORY_COARSE_ROWS);
	assert_int_equal(n, HISTORY_FINE_ROWS + (300 - HISTORY_FINE_ROWS) / HISTORY_COARSE_STEP);
	for (int i = 0; i < n; i++) {
		double t = rows[i].t - 1000;

		assert_true(fabs(rows[i].v[HC_MEM_USED] - 512) < 1e-6);
		if (t < 100)
			assert_true(isnan(rows[i].v[HC_PSI_MEM]));
		else if (t < 200)
			assert_true(rows[i].v[HC_PSI_MEM] == 0);
		else
			assert_true(fabs(rows[i].v[HC_PSI_MEM] - 0.25) < 1e-6);
		assert_true(rows[i].v[HC_SWAP_IN] == 0);
		assert_int_equal(!!signbit(rows[i].v[HC_SWAP_IN]), t >= 250);
		assert_true(isnan(rows[i].v[HC_FORECAST]));
	}
	history__put(h);
	free(rows);
}

static void test_history_csv_rotation(void **state)
{
	char dir[] = "/tmp/kvmpilot-hist-XXXXXX", path[256];
	struct history *h = history__new("vm/1");
	struct vm_sample s;
	struct stat st;

	(void)state;
	assert_non_null(mkdtemp(dir));
	assert_int_equal(history__open_csv(h, dir, 8192, 2), 0);
	for (int i = 0; i < 200; i++) {
		sample_at(&s, 1000 + i, i);
		assert_int_equal(history__append(h, &s), 0);
	}
	/* the name is made file-safe, the files stay near the size bound */
	snprintf(path, sizeof(path), "%s/vm_1.csv", dir);
	assert_int_equal(stat(path, &st), 0);
	assert_true(st.st_size < 8192 + 2048);
	snprintf(path, sizeof(path), "%s/vm_1.csv.1", dir);
	assert_int_equal(stat(path, &st), 0);
	assert_true(st.st_size >= 8192);
	snprintf(path, sizeof(path), "%s/vm_1.csv.2", dir);
	assert_int_equal(stat(path, &st), 0);
	snprintf(path, sizeof(path), "%s/vm_1.csv.3", dir);
	assert_int_not_equal(stat(path, &st), 0);
	history__put(h);
	assert_int_equal(system(strcat(strcpy(path, "rm -rf "), dir)), 0);
}

static const char *no_args(void *cls, const char *key)
{
	(void)cls;
	(void)key;
	return NULL;
}

static void test_snapshot_api(void **state)
{
	struct snapshot_slot *slot = snapshot_slot__new();
	struct snapshot *snap = snapshot__new(1, 0);
	struct http_response r;
	size_t len;
	char *m;

	(void)state;
	/* before the first tick: 503 with a JSON error */
	assert_int_equal(api__handle(slot, "/api/v1/vms", no_args, NULL, &r), 0);
	assert_int_equal(r.status, 503);
	assert_non_null(strstr(r.body, "\"error\""));
	free(r.body);

	sample_at(&snap->vms[0].s, 1000, 100);
	strcpy(snap->vms[0].s.name, "we\"ird\\name");
	snap->vms[0].hist = history__new("x");
	snap->nvms = 1;
	snapshot_slot__publish(slot, snap);
	assert_int_equal(api__handle(slot, "/api/v1/vms", no_args, NULL, &r), 0);
	assert_int_equal(r.status, 200);
	assert_non_null(strstr(r.body, "\"name\":\"we\\\"ird\\\\name\""));
	free(r.body);
	/* label values are escaped in the Prometheus text */
	snap = snapshot_slot__get(slot);
	m = metrics__render(snap, &len);
	assert_non_null(strstr(m, "domain=\"we\\\"ird\\\\name\""));
	free(m);
	/* a label set appears once, even when a hostile process names two threads "CPU 0" */
	snap->vms[0].s.have_cpu = true;
	snap->vms[0].s.nvcpus = 2;
	snap->vms[0].s.ndisks = 2;
	strcpy(snap->vms[0].s.disks[0].name, "disk.qcow2");
	strcpy(snap->vms[0].s.disks[1].name, "disk.qcow2");
	m = metrics__render(snap, &len);
	{
		const char *p = strstr(m, "kvmpilot_vcpu_run_seconds_total{");
		const char *q = strstr(m, "kvmpilot_block_read_ops_total{");

		assert_non_null(p);
		assert_null(strstr(p + 1, "kvmpilot_vcpu_run_seconds_total{"));
		assert_non_null(q);
		assert_null(strstr(q + 1, "kvmpilot_block_read_ops_total{"));
	}
	free(m);
	snapshot__put(snap);
	assert_int_equal(api__handle(slot, "/api/v1/nope", no_args, NULL, &r), 0);
	assert_int_equal(r.status, 404);
	free(r.body);
	snapshot_slot__free(slot);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_config_good),
		cmocka_unit_test(test_config_bad),
		cmocka_unit_test(test_config_line_length),
		cmocka_unit_test(test_listen),
		cmocka_unit_test(test_config_listen_length),
		cmocka_unit_test(test_history_ring),
		cmocka_unit_test(test_history_constant_then_change),
		cmocka_unit_test(test_history_csv_rotation),
		cmocka_unit_test(test_snapshot_api),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
