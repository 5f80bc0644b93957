// SPDX-License-Identifier: GPL-2.0
/*
 * libvirt discovery and events against libvirt's test driver with the node
 * tests/data/libvirt-node.xml: what 'kvmpilot domains' and the tracer see.
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

static char uri[1024];
static char run_dir[1024];

static void write_file(const char *dir, const char *name, const char *text)
{
	char path[2048];
	FILE *f;

	snprintf(path, sizeof(path), "%s/%s", dir, name);
	f = fopen(path, "w");
	assert_non_null(f);
	fputs(text, f);
	assert_int_equal(fclose(f), 0);
}

static int setup(void **state)
{
	const char *src = getenv("KVMPILOT_SRC");
	const char *out = getenv("TEST_OUT");
	char text[512];

	(void)state;
	snprintf(uri, sizeof(uri), "test://%s/tests/data/libvirt-node.xml", src ? src : ".");
	snprintf(run_dir, sizeof(run_dir), "%s/run", out ? out : "/tmp/kvmpilot-test-virt");
	(void)mkdir(out ? out : "/tmp/kvmpilot-test-virt", 0755);
	(void)mkdir(run_dir, 0755);
	/* what libvirtd's qemu driver leaves in /run/libvirt/qemu for a running web1 */
	snprintf(text, sizeof(text), "%d\n", (int)getpid());
	write_file(run_dir, "web1.pid", text);
	write_file(run_dir, "web1.xml",
		   "<domstatus state='running' reason='booted' pid='4242'>\n"
		   "  <vcpus>\n    <vcpu id='0' pid='5000'/>\n    <vcpu id='1' pid='5001'/>\n"
		   "  </vcpus>\n  <domain type='kvm'><name>web1</name></domain>\n"
		   "</domstatus>\n");
	return 0;
}

static struct virt *open_node(unsigned int refresh_ms)
{
	struct virt_opts o = { .uri = uri, .run_dir = run_dir, .refresh_ms = refresh_ms };
	struct virt *v = virt__open(&o);

	assert_non_null(v);
	assert_true(virt__connected(v));
	return v;
}

static void test_discovery(void **state)
{
	struct vm_list list = { 0 };
	struct virt_dom_info info;
	struct vm_desc *web, *db, *batch;
	struct virt *v = open_node(600000);

	(void)state;
	assert_int_equal(virt__list(v, &list), 3);
	assert_null(vm_list__find_name(&list, "off1")); /* shut off: nothing to trace */
	web = vm_list__find_name(&list, "web1");
	db = vm_list__find_name(&list, "db1");
	batch = vm_list__find_name(&list, "batch1");
	assert_non_null(web);
	assert_non_null(db);
	assert_non_null(batch);

	assert_string_equal(web->uuid, "11111111-2222-3333-4444-000000000001");
	assert_int_equal(web->source, VM_SOURCE_LIBVIRT);
	assert_int_equal(web->pid, getpid());
	assert_int_equal(web->nvcpus, 2);
	assert_int_equal(web->vcpus[0].index, 0);
	assert_int_equal(web->vcpus[0].tid, 5000);
	assert_int_equal(web->vcpus[1].tid, 5001);
	assert_int_equal(web->ntaps, 2);
	assert_string_equal(web->taps[0].ifname, "kvp-web1-0");
	assert_string_equal(web->taps[1].ifname, "kvp-web1-1");
	assert_int_equal(web->taps[0].ifindex, 0); /* not on this host */
	assert_int_equal(web->ndisks, 2);	   /* the empty cdrom is left out */
	assert_string_equal(web->disks[0].target, "vda");
	assert_string_equal(web->disks[0].path, "/var/lib/kvmpilot/web1.qcow2");
	assert_string_equal(web->disks[1].target, "vdb");
	assert_string_equal(web->disks[1].path, "/dev/kvmpilot-test/web1-data");
	assert_int_equal(web->disks[0].fd, -1);
	/* the kvmpilot channel, not the qemu-ga one before it */
	assert_string_equal(web->channel_path, "/run/kvmpilot/web1.agent.sock");

	/* no pid file: the test driver has no QEMU */
	assert_int_equal(db->pid, 0);
	assert_int_equal(db->nvcpus, 0);
	assert_string_equal(db->channel_path, "");
	assert_int_equal(batch->ntaps, 0);
	assert_int_equal(batch->ndisks, 0);

	assert_int_equal(virt__info(v, "web1", &info), 0);
	assert_int_equal(info.max_memory_kib, 2048 * 1024);
	assert_int_equal(info.cur_memory_kib, 1024 * 1024);
	assert_int_equal(info.max_vcpus, 4);
	assert_int_equal(info.cur_vcpus, 1);
	assert_int_equal(info.stats_period, 1);
	assert_true(info.has_balloon);
	assert_int_equal(info.state, VIR_DOMAIN_RUNNING);
	assert_int_equal(virt__info(v, "db1", &info), 0);
	assert_int_equal(info.max_memory_kib, 4ull << 20);
	assert_int_equal(info.cur_memory_kib, 3ull << 20);
	assert_int_equal(info.max_vcpus, 2);
	assert_int_equal(info.cur_vcpus, 2);
	assert_int_equal(virt__info(v, "batch1", &info), 0);
	assert_false(info.has_balloon);
	assert_int_equal(virt__info(v, "off1", &info), -ENOENT);
	assert_int_equal(virt__info(v, "nope", &info), -ENOENT);

	vm_list__free(&list);
	virt__close(v);
}

/* Poll until pred holds or 10 s pass; events arrive from the loop thread. */
static bool poll_until(struct virt *v, const char *name, bool present)
{
	struct vm_list list = { 0 };
	uint64_t end = now_mono_ns() + 10000000000ull;
	bool ok = false;

	while (now_mono_ns() < end) {
		(void)virt__poll(v);
		assert_true(virt__list(v, &list) >= 0);
		if ((vm_list__find_name(&list, name) != NULL) == present) {
			ok = true;
			break;
		}
		usleep(20000);
	}
	vm_list__free(&list);
	return ok;
}

/* Poll until the event shows up (it comes from the loop thread), at most 10 s. */
static bool saw_event(struct virt *v, enum virt_event_kind kind, const char *name)
{
	uint64_t end = now_mono_ns() + 10000000000ull;
	struct virt_event evs[64];

	while (now_mono_ns() < end) {
		int n = virt__events(v, evs, 64);

		for (int i = 0; i < n; i++) {
			if (evs[i].kind == kind && !strcmp(evs[i].name, name))
				return true;
		}
		(void)virt__poll(v);
		usleep(10000);
	}
	return false;
}

#define NEW_XML(name, uuid)                                                       \
	"<domain type='test'><name>" name "</name><uuid>" uuid "</uuid>"          \
	"<memory unit='MiB'>512</memory><vcpu current='1'>2</vcpu>"               \
	"<os><type arch='x86_64'>hvm</type></os><devices>"                        \
	"<interface type='ethernet'><target dev='kvp-" name "'/></interface>"     \
	"<channel type='unix'><source mode='bind' path='/tmp/" name ".sock'/>"    \
	"<target type='virtio' name='org.kvmpilot.agent.0'/></channel></devices>" \
	"</domain>"

static void test_events(void **state)
{
	struct virt *v = open_node(600000); /* no periodic re-list: events only */
	struct virt_counters c0, c1;
	struct vm_list list = { 0 };
	virDomainPtr dom;
	int refreshes;

	(void)state;
	virt__counters(v, &c0);
	refreshes = (int)c0.refreshes;

	/* a transient domain starts: it appears */
	dom = virDomainCreateXML(virt__conn(v),
				 NEW_XML("new1", "11111111-2222-3333-4444-0000000000a1"), 0);
	assert_non_null(dom);
	assert_true(poll_until(v, "new1", true));
	assert_true(saw_event(v, VIRT_EV_STARTED, "new1"));
	assert_true(virt__list(v, &list) == 4);
	assert_string_equal(vm_list__find_name(&list, "new1")->channel_path, "/tmp/new1.sock");
	assert_string_equal(vm_list__find_name(&list, "new1")->taps[0].ifname, "kvp-new1");

	/* destroyed: it disappears */
	assert_int_equal(virDomainDestroy(dom), 0);
	(void)virDomainFree(dom);
	assert_true(poll_until(v, "new1", false));
	assert_true(saw_event(v, VIRT_EV_STOPPED, "new1"));

	/* defined: an event, but nothing to trace until it starts */
	dom = virDomainDefineXML(virt__conn(v),
				 NEW_XML("new2", "11111111-2222-3333-4444-0000000000a2"));
	assert_non_null(dom);
	assert_true(saw_event(v, VIRT_EV_DEFINED, "new2"));
	assert_true(poll_until(v, "new2", false));
	assert_int_equal(virDomainCreate(dom), 0);
	assert_true(poll_until(v, "new2", true));
	/* an existing domain stopped from outside: web1 goes */
	{
		virDomainPtr web = virDomainLookupByName(virt__conn(v), "web1");

		assert_non_null(web);
		assert_int_equal(virDomainDestroy(web), 0);
		(void)virDomainFree(web);
	}
	assert_true(poll_until(v, "web1", false));
	assert_int_equal(virDomainDestroy(dom), 0);
	assert_int_equal(virDomainUndefine(dom), 0);
	(void)virDomainFree(dom);
	assert_true(saw_event(v, VIRT_EV_UNDEFINED, "new2"));
	assert_true(poll_until(v, "new2", false));

	/* all of that came from events, not from a full re-list */
	virt__counters(v, &c1);
	assert_int_equal((int)c1.refreshes, refreshes);
	assert_true(c1.events >= 5);
	assert_int_equal(virt__list(v, &list), 2);
	vm_list__free(&list);
	virt__close(v);
}

/* The periodic re-list catches a change that sends no event (vCPU hotplug). */
static void test_periodic_refresh(void **state)
{
	struct virt *v = open_node(50);
	struct virt_dom_info info;
	struct virt_counters c;
	virDomainPtr dom;

	(void)state;
	assert_int_equal(virt__info(v, "web1", &info), 0);
	assert_int_equal(info.cur_vcpus, 1);
	dom = virDomainLookupByName(virt__conn(v), "web1");
	assert_non_null(dom);
	assert_int_equal(virDomainSetVcpusFlags(dom, 3, VIR_DOMAIN_AFFECT_LIVE), 0);
	(void)virDomainFree(dom);
	usleep(80000);
	assert_true(virt__poll(v) >= 1);
	assert_int_equal(virt__info(v, "web1", &info), 0);
	assert_int_equal(info.cur_vcpus, 3);
	virt__counters(v, &c);
	assert_true(c.refreshes >= 2);
	assert_true(c.connects == 1);
	virt__close(v);

	/* without the periodic re-list, virt__refresh() does it on demand */
	v = open_node(600000);
	dom = virDomainLookupByName(virt__conn(v), "web1");
	assert_non_null(dom);
	assert_int_equal(virDomainSetVcpusFlags(dom, 2, VIR_DOMAIN_AFFECT_LIVE), 0);
	(void)virDomainFree(dom);
	assert_int_equal(virt__refresh(v, "web1"), 1);
	assert_int_equal(virt__info(v, "web1", &info), 0);
	assert_int_equal(info.cur_vcpus, 2);
	assert_int_equal(virt__refresh(v, "web1"), 0); /* nothing new */
	assert_int_equal(virt__refresh(v, ""), -EINVAL);
	virt__close(v);
}

static void test_unreachable(void **state)
{
	struct virt_opts o = { .uri = "test:///nonexistent/kvmpilot/node.xml",
			       .backoff_min_ms = 500,
			       .backoff_max_ms = 4000 };
	struct vm_list list = { 0 };
	struct virt_counters c0, c1;
	struct virt_stats_list sl = { 0 };
	struct virt_memstats ms;
	struct virt *v;
	uint64_t t0;

	(void)state;
	t0 = now_mono_ns();
	v = virt__open(&o);
	assert_non_null(v); /* a handle even without libvirt: it keeps retrying */
	assert_false(virt__connected(v));
	assert_true(strlen(virt__last_error(v)) > 0);
	assert_null(virt__conn(v));
	assert_int_equal(virt__list(v, &list), 0);
	assert_int_equal(virt__stats(v, &sl), -ENOTCONN);
	assert_int_equal(virt__memstats(v, "web1", &ms), -ENOTCONN);
	virt__counters(v, &c0);
	/* within the backoff no new attempt is made: poll returns at once */
	assert_int_equal(virt__poll(v), -ENOTCONN);
	virt__counters(v, &c1);
	assert_int_equal(c1.errors, c0.errors);
	usleep(600000);
	/* the attempt runs in a helper thread: poll picks its result up without waiting */
	for (int i = 0; i < 5000 && c1.errors == c0.errors; i++) {
		assert_int_equal(virt__poll(v), -ENOTCONN);
		virt__counters(v, &c1);
		usleep(1000);
	}
	assert_int_equal(c1.errors, c0.errors + 1);
	/* the next delay doubled (1 s): half of it later it still waits */
	usleep(500000);
	assert_int_equal(virt__poll(v), -ENOTCONN);
	virt__counters(v, &c1);
	assert_int_equal(c1.errors, c0.errors + 1);
	assert_true(now_mono_ns() - t0 < 20000000000ull);
	vm_list__free(&list);
	virt_stats_list__free(&sl);
	virt__close(v);
}

static void test_stats_and_memstats(void **state)
{
	struct virt *v = open_node(600000);
	struct virt_stats_list sl = { 0 };
	const struct virt_dom_stats *st;
	struct virt_memstats ms;
	struct virt_counters c;
	struct virt_dom_info info;
	virDomainPtr dom;
	char *xml;

	(void)state;
	/* the test driver reports only the state group */
	assert_int_equal(virt__stats(v, &sl), 3);
	st = virt_stats_list__find(&sl, "db1");
	assert_non_null(st);
	assert_int_equal(st->state, VIR_DOMAIN_RUNNING);
	assert_null(virt_stats_list__find(&sl, "off1"));

	assert_int_equal(virt__memstats(v, "web1", &ms), 0);
	assert_int_equal(ms.actual, 1024 * 1024);
	assert_true(ms.available != UINT64_MAX);
	assert_true(ms.usable <= ms.available);
	virt__counters(v, &c);
	assert_int_equal(c.stats_periods, 0); /* web1 has a period already */

	/* db1 has a balloon without a stats period: it gets one */
	assert_int_equal(virt__memstats(v, "db1", &ms), 0);
	virt__counters(v, &c);
	assert_int_equal(c.stats_periods, 1);
	dom = virDomainLookupByName(virt__conn(v), "db1");
	assert_non_null(dom);
	xml = virDomainGetXMLDesc(dom, 0);
	assert_non_null(xml);
	assert_non_null(strstr(xml, "period='1'"));
	free(xml);
	(void)virDomainFree(dom);
	assert_int_equal(virt__memstats(v, "db1", &ms), 0);
	virt__counters(v, &c);
	assert_int_equal(c.stats_periods, 1); /* only once */
	assert_int_equal(virt__info(v, "db1", &info), 0);
	assert_int_equal(info.stats_period, 1);

	assert_int_equal(virt__memstats(v, "nope", &ms), -ENOENT);
	assert_int_equal(virt__memstats(v, "off1", &ms), -ENOENT);
	virt_stats_list__free(&sl);
	virt__close(v);
}

static void test_parse_xml_errors(void **state)
{
	struct virt_dom_info info = { 0 };
	struct vm_desc vm = { 0 };

	(void)state;
	assert_int_equal(virt__parse_domain_xml("<domain><name>x</name", &vm, &info), -EINVAL);
	assert_int_equal(virt__parse_domain_xml("<domain/>", &vm, &info), -EINVAL);
	assert_int_equal(virt__parse_domain_xml("", &vm, &info), -EINVAL);
	/* names are kept whole, units are honoured, junk numbers are 0 */
	assert_int_equal(
		virt__parse_domain_xml(
			"<domain><name>aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa"
			"</name><memory unit='GiB'>2</memory><currentMemory unit='bytes'>1048576"
			"</currentMemory><vcpu>x</vcpu></domain>",
			&vm, &info),
		0);
	assert_int_equal(strlen(vm.name), 72);
	assert_int_equal(info.max_memory_kib, 2u << 20);
	assert_int_equal(info.cur_memory_kib, 1024);
	assert_int_equal(info.max_vcpus, 0);

	/* status XML: bad ids and pids are skipped */
	assert_int_equal(virt__parse_status_vcpus("<domstatus><vcpus><vcpu id='0' pid='10'/>"
						  "<vcpu id='1' pid='-3'/><vcpu id='x' pid='11'/>"
						  "<vcpu id='2'/><vcpu id='3' pid='13'/>"
						  "</vcpus></domstatus>",
						  &vm),
			 2);
	assert_int_equal(vm.vcpus[1].index, 3);
	assert_int_equal(vm.vcpus[1].tid, 13);
	assert_int_equal(virt__parse_status_vcpus("not xml", &vm), -EINVAL);
	assert_int_equal(vm.nvcpus, 0);
}

static void test_merge(void **state)
{
	struct vm_list lv = { 0 }, proc = { 0 }, out = { 0 };
	struct vm_desc *a, *m;

	(void)state;
	/* libvirt: web1 (pid 100, no vCPU threads known), db1 (no pid) */
	a = vm_list__add(&lv);
	a->pid = 100;
	a->source = VM_SOURCE_LIBVIRT;
	strcpy(a->name, "web1");
	a->ntaps = 1;
	strcpy(a->taps[0].ifname, "kvp-web1-0");
	a->ndisks = 1;
	strcpy(a->disks[0].path, "/img/web1");
	a->disks[0].fd = -1;
	a = vm_list__add(&lv);
	a->source = VM_SOURCE_LIBVIRT;
	strcpy(a->name, "db1");
	/* /proc: the same QEMU as web1 plus one QEMU libvirt does not run */
	a = vm_list__add(&proc);
	a->pid = 100;
	a->source = VM_SOURCE_PROC;
	a->start_time = 777;
	a->nvcpus = 1;
	a->vcpus[0].tid = 101;
	a->ntaps = 2;
	strcpy(a->taps[0].ifname, "kvp-web1-0");
	a->taps[0].ifindex = 9;
	strcpy(a->taps[1].ifname, "tapx");
	a->taps[1].ifindex = 10;
	a->ndisks = 1;
	strcpy(a->disks[0].path, "/img/web1");
	a->disks[0].fd = 12;
	a->disks[0].ino = 55;
	a = vm_list__add(&proc);
	a->pid = 200;
	a->source = VM_SOURCE_PROC;

	assert_int_equal(virt__merge(&out, &lv, &proc), 3);
	m = vm_list__find_pid(&out, 100);
	assert_non_null(m);
	assert_string_equal(m->name, "web1");
	assert_int_equal(m->source, VM_SOURCE_LIBVIRT | VM_SOURCE_PROC);
	assert_int_equal(m->start_time, 777);
	assert_int_equal(m->nvcpus, 1);
	assert_int_equal(m->vcpus[0].tid, 101);

	/* libvirt lists vCPU 0; the scan also sees a hot-added vCPU 1: both, once */
	lv.vms[0].nvcpus = 1;
	lv.vms[0].vcpus[0].index = 0;
	lv.vms[0].vcpus[0].tid = 101;
	proc.vms[0].nvcpus = 2;
	proc.vms[0].vcpus[1].index = 1;
	proc.vms[0].vcpus[1].tid = 102;
	assert_int_equal(virt__merge(&out, &lv, &proc), 3);
	m = vm_list__find_pid(&out, 100);
	assert_int_equal(m->nvcpus, 2);
	assert_int_equal(m->vcpus[0].tid, 101);
	assert_int_equal(m->vcpus[1].tid, 102);
	assert_int_equal(m->vcpus[1].index, 1);
	assert_int_equal(m->ntaps, 2);
	assert_int_equal(m->taps[0].ifindex, 9);
	assert_string_equal(m->taps[1].ifname, "tapx");
	assert_int_equal(m->disks[0].fd, 12);
	assert_int_equal(m->disks[0].ino, 55);
	m = vm_list__find_name(&out, "db1");
	assert_non_null(m);
	assert_int_equal(m->source, VM_SOURCE_LIBVIRT);
	m = vm_list__find_pid(&out, 200);
	assert_non_null(m);
	assert_int_equal(m->source, VM_SOURCE_PROC);
	/* libvirt alone, the scan alone */
	assert_int_equal(virt__merge(&out, &lv, NULL), 2);
	assert_int_equal(virt__merge(&out, NULL, &proc), 2);
	vm_list__free(&lv);
	vm_list__free(&proc);
	vm_list__free(&out);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_discovery),
		cmocka_unit_test(test_events),
		cmocka_unit_test(test_periodic_refresh),
		cmocka_unit_test(test_unreachable),
		cmocka_unit_test(test_stats_and_memstats),
		cmocka_unit_test(test_parse_xml_errors),
		cmocka_unit_test(test_merge),
	};

	return cmocka_run_group_tests(tests, setup, NULL);
}
