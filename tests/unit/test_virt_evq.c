// SPDX-License-Identifier: GPL-2.0
/*
 * The libvirt wing's event queue overflowing: more lifecycle events arrive
 * between two virt__poll() calls than the queue holds (a host starting and
 * stopping many domains at once). The events past the end are lost, so the
 * next poll must re-list every domain instead of trusting the queue; a
 * domain whose start event was lost is still found. Runs against libvirt's
 * in-process test driver (no daemon).
 */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stdatomic.h>
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

/* More than the wing's queue (EVQ_SIZE, 1024 in virt_priv.h) can hold. */
#define CHURN 600 /* started and stopped: two events each */
#define KEEP  5	  /* started after the churn: their events are the lost ones */

static atomic_int seen; /* lifecycle events delivered on the loop thread */

static int count_event(virConnectPtr conn, virDomainPtr dom, int event, int detail, void *opaque)
{
	(void)conn;
	(void)dom;
	(void)event;
	(void)detail;
	(void)opaque;
	atomic_fetch_add(&seen, 1);
	return 0;
}

static virDomainPtr start(virConnectPtr conn, const char *name)
{
	char xml[512];

	snprintf(xml, sizeof(xml),
		 "<domain type='test'><name>%s</name><memory unit='MiB'>64</memory>"
		 "<vcpu>1</vcpu><os><type arch='x86_64'>hvm</type></os></domain>",
		 name);
	return virDomainCreateXML(conn, xml, 0);
}

static void test_overflow_relists(void **state)
{
	char run_dir[256], name[64];
	const char *out = getenv("TEST_OUT");
	struct virt_opts o = { .uri = "test:///default",
			       .run_dir = run_dir,
			       .refresh_ms = 600000 }; /* no periodic re-list */
	struct virt_counters c0, c1;
	struct vm_list list = { 0 };
	virConnectPtr conn;
	struct virt *v;
	uint64_t end;
	int id, n0;

	(void)state;
	snprintf(run_dir, sizeof(run_dir), "%s/run", out ? out : "/tmp/kvmpilot-test-virt-evq");
	(void)mkdir(out ? out : "/tmp/kvmpilot-test-virt-evq", 0755);
	(void)mkdir(run_dir, 0755);
	v = virt__open(&o);
	assert_non_null(v);
	assert_true(virt__connected(v));
	conn = virt__conn(v);
	assert_non_null(conn);
	assert_true(virt__poll(v) >= 0);
	n0 = virt__list(v, &list);
	assert_true(n0 >= 0);
	virt__counters(v, &c0);

	/*
	 * Registered after the wing's own callback, so it is called after it
	 * for every event: once it has seen them all, the wing has too.
	 */
	id = virConnectDomainEventRegisterAny(conn, NULL, VIR_DOMAIN_EVENT_ID_LIFECYCLE,
					      VIR_DOMAIN_EVENT_CALLBACK(count_event), NULL, NULL);
	assert_true(id >= 0);
	for (int i = 0; i < CHURN; i++) {
		virDomainPtr d;

		snprintf(name, sizeof(name), "churn%d", i);
		d = start(conn, name);
		assert_non_null(d);
		assert_int_equal(virDomainDestroy(d), 0);
		(void)virDomainFree(d);
	}
	for (int i = 0; i < KEEP; i++) {
		virDomainPtr d;

		snprintf(name, sizeof(name), "keep%d", i);
		d = start(conn, name);
		assert_non_null(d);
		(void)virDomainFree(d);
	}
	end = now_mono_ns() + 20000000000ull;
	while (atomic_load(&seen) < 2 * CHURN + KEEP && now_mono_ns() < end)
		usleep(10000);
	assert_int_equal(atomic_load(&seen), 2 * CHURN + KEEP);

	/* one poll: the queue overflowed, so it re-lists */
	assert_true(virt__poll(v) >= 0);
	virt__counters(v, &c1);
	assert_int_equal(c1.refreshes, c0.refreshes + 1);
	/* the queue kept what it could hold, no more */
	assert_true(c1.events - c0.events < 2 * CHURN + KEEP);
	/* the domains whose start events were lost are there all the same */
	assert_int_equal(virt__list(v, &list), n0 + KEEP);
	for (int i = 0; i < KEEP; i++) {
		snprintf(name, sizeof(name), "keep%d", i);
		assert_non_null(vm_list__find_name(&list, name));
	}
	assert_null(vm_list__find_name(&list, "churn0"));
	assert_null(vm_list__find_name(&list, "churn599"));

	/* the overflow is forgotten once handled: the next poll does not re-list */
	assert_true(virt__poll(v) >= 0);
	virt__counters(v, &c0);
	assert_int_equal(c0.refreshes, c1.refreshes);

	(void)virConnectDomainEventDeregisterAny(conn, id);
	for (int i = 0; i < KEEP; i++) {
		virDomainPtr d;

		snprintf(name, sizeof(name), "keep%d", i);
		d = virDomainLookupByName(conn, name);
		if (d) {
			(void)virDomainDestroy(d);
			(void)virDomainFree(d);
		}
	}
	vm_list__free(&list);
	virt__close(v);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_overflow_relists),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
