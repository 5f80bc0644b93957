// SPDX-License-Identifier: GPL-2.0
/*
 * 200 domains on one host: a generated test-driver node. Every domain must be
 * listed with its own tap, disk and channel, statistics must cover all of
 * them, and one stopped domain must go without disturbing the others. The
 * times are printed (measurements, not pass criteria: see 'make bench').
 */
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

#include <libvirt/libvirt.h>

#include "util.h"
#include "virt_libvirt.h"

/* 200 in the test; 'make bench-virt' runs it with more (KVMPILOT_SCALE_DOMAINS) */
static int ndoms = 200;
static char node_path[1024];

static int setup(void **state)
{
	const char *out = getenv("TEST_OUT");
	FILE *f;

	const char *nd = getenv("KVMPILOT_SCALE_DOMAINS");
	uint64_t n;

	(void)state;
	if (nd && !parse_u64(nd, 2, 10000, &n))
		ndoms = (int)n;
	if (!out)
		out = "/tmp";
	snprintf(node_path, sizeof(node_path), "%s/node200.xml", out);
	f = fopen(node_path, "w");
	if (!f)
		return -1;
	fprintf(f, "<node>\n<cpu><mhz>2000</mhz><model>x86_64</model><active>2</active>"
		   "<nodes>1</nodes><sockets>1</sockets><cores>2</cores><threads>1</threads>"
		   "</cpu>\n<memory>1073741824</memory>\n");
	for (int i = 0; i < ndoms; i++)
		fprintf(f,
			"<domain type='test'><name>vm%03d</name>"
			"<uuid>22222222-0000-0000-0000-%012d</uuid>"
			"<memory unit='MiB'>%d</memory><currentMemory unit='MiB'>512</currentMemory>"
			"<vcpu current='1'>%d</vcpu><os><type arch='x86_64'>hvm</type></os><devices>"
			"<disk type='file' device='disk'><source file='/var/lib/kvmpilot/vm%03d.img'/>"
			"<target dev='vda' bus='virtio'/></disk>"
			"<interface type='ethernet'><target dev='kvp%03d'/></interface>"
			"<channel type='unix'><source mode='bind' path='/run/kvmpilot/vm%03d.sock'/>"
			"<target type='virtio' name='org.kvmpilot.agent.0'/></channel>"
			"<memballoon model='virtio'><stats period='1'/></memballoon>"
			"</devices></domain>\n",
			i, i, 1024 + i, 1 + i % 8, i, i, i);
	fprintf(f, "</node>\n");
	return fclose(f) ? -1 : 0;
}

static double ms_since(uint64_t t0)
{
	return (double)(now_mono_ns() - t0) / 1e6;
}

static void test_200_domains(void **state)
{
	char uri[1100], name[16], sock[64];
	struct virt_opts o = { .uri = uri, .run_dir = "/nonexistent", .refresh_ms = 600000 };
	struct virt_stats_list sl = { 0 };
	struct vm_list list = { 0 };
	struct virt_counters c;
	struct virt_memstats ms;
	struct virt_dom_info info;
	virDomainPtr dom;
	struct virt *v;
	uint64_t t0;

	(void)state;
	snprintf(uri, sizeof(uri), "test://%s", node_path);
	t0 = now_mono_ns();
	v = virt__open(&o);
	assert_non_null(v);
	assert_true(virt__connected(v));
	printf("measured: open + first listing of %d domains: %.1f ms\n", ndoms, ms_since(t0));

	assert_int_equal(virt__list(v, &list), ndoms);
	for (int i = 0; i < ndoms; i++) {
		const struct vm_desc *vm;

		snprintf(name, sizeof(name), "vm%03d", i);
		vm = vm_list__find_name(&list, name);
		assert_non_null(vm);
		snprintf(sock, sizeof(sock), "/run/kvmpilot/vm%03d.sock", i);
		assert_string_equal(vm->channel_path, sock);
		assert_int_equal(vm->ntaps, 1);
		snprintf(sock, sizeof(sock), "kvp%03d", i);
		assert_string_equal(vm->taps[0].ifname, sock);
		assert_int_equal(vm->ndisks, 1);
		assert_int_equal(virt__info(v, name, &info), 0);
		assert_int_equal(info.max_memory_kib, (1024ull + i) * 1024);
		assert_int_equal(info.max_vcpus, 1 + i % 8);
	}

	t0 = now_mono_ns();
	assert_int_equal(virt__stats(v, &sl), ndoms);
	printf("measured: domain stats (one NOWAIT call) for %d domains: %.1f ms\n", ndoms,
	       ms_since(t0));
	snprintf(name, sizeof(name), "vm%03d", ndoms - 1);
	assert_non_null(virt_stats_list__find(&sl, name));

	t0 = now_mono_ns();
	for (int i = 0; i < ndoms; i++) {
		snprintf(name, sizeof(name), "vm%03d", i);
		assert_int_equal(virt__memstats(v, name, &ms), 0);
		assert_int_equal(ms.actual, 512 * 1024);
	}
	printf("measured: balloon stats, %d calls: %.1f ms\n", ndoms, ms_since(t0));

	/* one domain stops: it goes, the other 199 stay */
	dom = virDomainLookupByName(virt__conn(v), "vm001");
	assert_non_null(dom);
	assert_int_equal(virDomainDestroy(dom), 0);
	(void)virDomainFree(dom);
	t0 = now_mono_ns();
	for (int tries = 0; tries < 500; tries++) {
		(void)virt__poll(v);
		if (virt__list(v, &list) == ndoms - 1)
			break;
		usleep(10000);
	}
	assert_int_equal(virt__list(v, &list), ndoms - 1);
	assert_null(vm_list__find_name(&list, "vm001"));
	assert_non_null(vm_list__find_name(&list, "vm000"));
	printf("measured: stop event to list update: %.1f ms\n", ms_since(t0));

	/* a full re-list of all of them, as the periodic refresh does */
	virt__counters(v, &c);
	virt__close(v);
	o.refresh_ms = 1;
	v = virt__open(&o);
	assert_non_null(v);
	usleep(2000);
	t0 = now_mono_ns();
	assert_int_equal(virt__poll(v), 0); /* nothing changed */
	virt__counters(v, &c);
	printf("measured: periodic full re-list of %d domains: %.1f ms (poll %.1f ms)\n", ndoms,
	       (double)c.last_refresh_ns / 1e6, ms_since(t0));
	assert_int_equal(virt__list(v, &list), ndoms);

	vm_list__free(&list);
	virt_stats_list__free(&sl);
	virt__close(v);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_200_domains),
	};

	return cmocka_run_group_tests(tests, setup, NULL);
}
