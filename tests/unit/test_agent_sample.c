// SPDX-License-Identifier: GPL-2.0
/* The agent's /proc and /sys parsers against fixture files (tests/data/agent). */
#include <errno.h>
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

#include "agent_sample.h"

static char proc1[512], proc2[512], sys1[512];

static int setup(void **state)
{
	const char *src = getenv("KVMPILOT_SRC");

	(void)state;
	if (!src)
		src = ".";
	snprintf(proc1, sizeof(proc1), "%s/tests/data/agent/proc1", src);
	snprintf(proc2, sizeof(proc2), "%s/tests/data/agent/proc2", src);
	snprintf(sys1, sizeof(sys1), "%s/tests/data/agent/sys", src);
	return 0;
}

static void test_meminfo(void **state)
{
	struct meminfo m;

	(void)state;
	assert_int_equal(agent_read_meminfo(proc1, &m), 0);
	assert_int_equal(m.total_kb, 337040);
	assert_int_equal(m.free_kb, 204292);
	assert_int_equal(m.avail_kb, 254652);
	/* "SwapCached:" must not be taken for "Cached:". */
	assert_int_equal(m.cached_kb, 44824);
	assert_int_equal(m.swap_total_kb, 102396);
	assert_int_equal(m.swap_free_kb, 81916);
	assert_int_equal(agent_read_meminfo("/nonexistent", &m), -ENOENT);
}

static void test_vmstat_psi_uptime(void **state)
{
	uint64_t in = 0, out = 0, ms = 0;
	uint32_t some = 1, full = 1;

	(void)state;
	assert_int_equal(agent_read_vmstat(proc1, &in, &out), 0);
	assert_int_equal(in, 1000);
	assert_int_equal(out, 5000);
	assert_int_equal(agent_read_psi(proc1, "memory", &some, &full), 0);
	assert_int_equal(some, 150);
	assert_int_equal(full, 75);
	assert_int_equal(agent_read_psi(proc1, "cpu", &some, &full), 0);
	assert_int_equal(some, 1234);
	assert_int_equal(full, 0);
	assert_int_equal(agent_read_psi(proc2, "memory", &some, &full), 0);
	assert_int_equal(some, 10000);
	assert_int_equal(full, 9999);
	/* Old kernels have no "full" line for cpu. */
	assert_int_equal(agent_read_psi(proc2, "cpu", &some, &full), 0);
	assert_int_equal(full, 0);
	/* No /proc/pressure (psi=0): an error the sampler turns into "absent". */
	assert_int_equal(agent_read_psi(proc1, "io", &some, &full), -ENOENT);
	assert_int_equal(agent_read_uptime_ms(proc1, &ms), 0);
	assert_int_equal(ms, 7830);
}

static void test_cpu_disk_net(void **state)
{
	struct cpu_times t;
	struct io_counters io;
	struct net_counters net;

	(void)state;
	assert_int_equal(agent_read_cpu_times(proc1, &t), 0);
	assert_int_equal(t.total, 10000);
	assert_int_equal(t.busy, 1700);
	/* Whole disks only: vda and nvme0n1, not partitions, loop or sr. */
	assert_int_equal(agent_read_diskstats(proc1, &io), 0);
	assert_int_equal(io.rd_ios, 10);
	assert_int_equal(io.rd_bytes, (24 + 56) * 512);
	assert_int_equal(io.wr_ios, 10);
	assert_int_equal(io.wr_bytes, 160 * 512);
	/* Every interface but lo. */
	assert_int_equal(agent_read_netdev(proc1, &net), 0);
	assert_int_equal(net.rx_bytes, 1000566);
	assert_int_equal(net.rx_pkts, 1007);
	assert_int_equal(net.tx_bytes, 2426);
	assert_int_equal(net.tx_pkts, 25);
}

/*
 * A device line with a negative or out-of-range counter (only a broken or
 * hostile /proc has one) is left out; the sums stay in the wire format's
 * range, so the host takes the sample instead of refusing all of it.
 */
static void test_garbage_counters(void **state)
{
	char dir[] = "/tmp/kp-agent-garbage-XXXXXX", path[256];
	struct io_counters io;
	struct net_counters net;
	FILE *f;

	(void)state;
	assert_non_null(mkdtemp(dir));
	snprintf(path, sizeof(path), "%s/net", dir);
	assert_int_equal(mkdir(path, 0700), 0);
	snprintf(path, sizeof(path), "%s/net/dev", dir);
	f = fopen(path, "w");
	assert_non_null(f);
	fputs("Inter-|   Receive\n face |bytes\n"
	      "  eth0: 5 -6 0 0 0 0 0 0 7 8 0 0 0 0 0 0\n"
	      "  eth1: 100 2 0 0 0 0 0 0 30 4 0 0 0 0 0 0\n"
	      "  eth2: 4611686018427387905 2 0 0 0 0 0 0 30 4 0 0 0 0 0 0\n"
	      "  eth3: 4611686018427387904 1 0 0 0 0 0 0 0 0 0 0 0 0 0 0\n",
	      f);
	fclose(f);
	snprintf(path, sizeof(path), "%s/diskstats", dir);
	f = fopen(path, "w");
	assert_non_null(f);
	fputs(" 253 0 vda -1 0 8 0 1 0 16 0 0 0 0\n"
	      " 253 16 vdb 2 0 8 0 1 0 16 0 0 0 0\n"
	      " 253 32 vdc 2 0 9007199254740993 0 1 0 16 0 0 0 0\n",
	      f);
	fclose(f);
	assert_int_equal(agent_read_netdev(dir, &net), 0);
	/* eth0 (-6) and eth2 (over 2^62) left out; eth1 + eth3 saturate at 2^62. */
	assert_true(net.rx_bytes == 1ull << 62);
	assert_int_equal(net.rx_pkts, 3);
	assert_int_equal(net.tx_pkts, 4);
	assert_int_equal(agent_read_diskstats(dir, &io), 0);
	assert_int_equal(io.rd_ios, 2);
	assert_int_equal(io.rd_bytes, 8 * 512);
	assert_int_equal(io.wr_bytes, 16 * 512);
	unlink(path);
	snprintf(path, sizeof(path), "%s/net/dev", dir);
	unlink(path);
	snprintf(path, sizeof(path), "%s/net", dir);
	rmdir(path);
	rmdir(dir);
}

static void test_cpu_list(void **state)
{
	uint64_t mask[2];
	uint32_t n = 99;

	(void)state;
	assert_int_equal(agent_parse_cpu_list("0\n", &n, NULL, 0), 0);
	assert_int_equal(n, 1);
	assert_int_equal(agent_parse_cpu_list("0-3,6,8-9\n", &n, mask, 128), 0);
	assert_int_equal(n, 7);
	assert_int_equal(mask[0], 0x34full);
	assert_int_equal(agent_parse_cpu_list("\n", &n, NULL, 0), 0);
	assert_int_equal(n, 0);
	assert_int_equal(agent_parse_cpu_list("3-1", &n, NULL, 0), -ERANGE);
	assert_int_equal(agent_parse_cpu_list("0-99999", &n, NULL, 0), -ERANGE);
	assert_int_equal(agent_parse_cpu_list("a", &n, NULL, 0), -EINVAL);
	assert_int_equal(agent_parse_cpu_list("1-", &n, NULL, 0), -EINVAL);
	assert_int_equal(agent_parse_cpu_list("1;2", &n, NULL, 0), -EINVAL);
	/* A CPU listed twice is one CPU. */
	assert_int_equal(agent_parse_cpu_list("0-3,0-3,2\n", &n, mask, 128), 0);
	assert_int_equal(n, 4);
	assert_int_equal(mask[0], 0xfull);
	assert_int_equal(agent_read_cpus(sys1, &n, &(uint32_t){ 0 }), 0);
	assert_int_equal(n, 1);
}

/* Two samples one second apart: rates and busy % cover that second. */
static void test_sampler(void **state)
{
	struct agent_sampler sp;
	struct agent_sample s;
	struct agentproto_msg m;
	enum agentproto_reject why;
	char line[AGENTPROTO_MAX_LINE];
	int n;

	(void)state;
	agent_sampler__init(&sp, proc1, sys1, 1000, 4242);
	assert_int_equal(agent_sampler__take(&sp, 1000, &s), 0);
	assert_int_equal(s.seq, 1);
	assert_int_equal(s.boot, 4242);
	assert_string_equal(s.version, AGENT_VERSION);
	assert_int_equal(s.mem_total_kb, 337040);
	assert_int_equal(s.swap_used_kb, 102396 - 81916);
	assert_int_equal(s.swapin_ps, 0);
	/* One reading is no rate: busy % is absent from the first sample. */
	assert_false(s.present & AGENT_HAS_CPU);
	assert_int_equal(s.cpus_online, 1);
	assert_int_equal(s.cpus_present, 2);
	assert_int_equal(s.uptime_ms, 7830);

	sp.proc_root = proc2;
	assert_int_equal(agent_sampler__take(&sp, 2000, &s), 0);
	assert_int_equal(s.seq, 2);
	assert_int_equal(s.mem_free_kb, 104292);
	assert_int_equal(s.mem_avail_kb, 150000);
	assert_int_equal(s.swapin_ps, 200);
	assert_int_equal(s.swapout_ps, 0);
	assert_true(s.present & AGENT_HAS_CPU);
	assert_int_equal(s.cpu_busy, 6666); /* 200 busy of 300 jiffies */
	assert_int_equal(s.psi_mem_some, 10000);
	assert_int_equal(s.psi_mem_full, 9999);

	/* What the agent sends is what the host accepts. */
	n = agentproto__format_sample(line, sizeof(line), &s);
	assert_true(n > 0);
	assert_int_equal(agentproto__parse(line, (size_t)n - 1, true, &m, &why), 0);
	assert_int_equal(m.sample.cpu_busy, 6666);

	/* Without meminfo there is no sample at all. */
	sp.proc_root = "/nonexistent";
	assert_int_equal(agent_sampler__take(&sp, 3000, &s), -ENOENT);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_meminfo),		 cmocka_unit_test(test_vmstat_psi_uptime),
		cmocka_unit_test(test_cpu_disk_net),	 cmocka_unit_test(test_cpu_list),
		cmocka_unit_test(test_garbage_counters), cmocka_unit_test(test_sampler),
	};

	return cmocka_run_group_tests(tests, setup, NULL);
}
