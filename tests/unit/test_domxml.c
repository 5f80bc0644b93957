// SPDX-License-Identifier: GPL-2.0
/*
 * The XML 'kvmpilot vm' hands to libvirt: names that reach paths and
 * interface names are validated, every user value is escaped, and every
 * document is accepted by libvirt's own parser and schema (its in-process
 * test driver, no daemon needed), and what libvirt gives back is read by
 * virt_xml.c as the writer meant it.
 */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <cmocka.h>

#include <libvirt/libvirt.h>
#include <libvirt/virterror.h>

#include "domxml.h"
#include "virt_libvirt.h"
#include "virt_xml.h"

static void quiet(void *opaque, virErrorPtr err)
{
	(void)opaque;
	(void)err;
}

static void test_validate_name(void **state)
{
	char long_ok[DOMXML_NAME_MAX + 1], too_long[DOMXML_NAME_MAX + 2];

	(void)state;
	assert_int_equal(domxml__validate_name("vm1"), 0);
	assert_int_equal(domxml__validate_name("kp-e2e-mem.1_a"), 0);
	assert_int_equal(domxml__validate_name("9lives"), 0);
	memset(long_ok, 'a', DOMXML_NAME_MAX);
	long_ok[DOMXML_NAME_MAX] = '\0';
	assert_int_equal(domxml__validate_name(long_ok), 0);
	memset(too_long, 'a', DOMXML_NAME_MAX + 1);
	too_long[DOMXML_NAME_MAX + 1] = '\0';
	assert_int_equal(domxml__validate_name(too_long), -EINVAL);

	assert_int_equal(domxml__validate_name(NULL), -EINVAL);
	assert_int_equal(domxml__validate_name(""), -EINVAL);
	assert_int_equal(domxml__validate_name("-vm"), -EINVAL);
	assert_int_equal(domxml__validate_name(".vm"), -EINVAL);
	assert_int_equal(domxml__validate_name("a/b"), -EINVAL);
	assert_int_equal(domxml__validate_name("../etc"), -EINVAL);
	assert_int_equal(domxml__validate_name("a..b"), -EINVAL);
	assert_int_equal(domxml__validate_name("vm 1"), -EINVAL);
	assert_int_equal(domxml__validate_name("vm'1"), -EINVAL);
	assert_int_equal(domxml__validate_name("vm<1>"), -EINVAL);
	assert_int_equal(domxml__validate_name("vm\n1"), -EINVAL);
	assert_int_equal(domxml__validate_name("vm\xc3\xa9"), -EINVAL);
	assert_int_equal(domxml__validate_name("vm$(id)"), -EINVAL);
}

static void test_tap_name(void **state)
{
	char tap[DOMXML_IFNAME_MAX], tap2[DOMXML_IFNAME_MAX];

	(void)state;
	assert_int_equal(domxml__tap_name("vm1", tap, sizeof(tap)), 0);
	assert_string_equal(tap, "kp-vm1");
	assert_int_equal(domxml__tap_name("kp-e2e-mem1", tap, sizeof(tap)), 0);
	assert_string_equal(tap, "kp-kp-e2e-mem1");
	/* Exactly 15 characters fits IFNAMSIZ. */
	assert_int_equal(domxml__tap_name("abcdefghijkl", tap, sizeof(tap)), 0);
	assert_string_equal(tap, "kp-abcdefghijkl");
	/* Longer names are cut and told apart by a hash. */
	assert_int_equal(domxml__tap_name("kp-e2e-disk-native", tap, sizeof(tap)), 0);
	assert_int_equal(strlen(tap), 15);
	assert_memory_equal(tap, "kp-kp-e2e-", 10);
	assert_int_equal(domxml__tap_name("kp-e2e-disk-uring", tap2, sizeof(tap2)), 0);
	assert_int_equal(strlen(tap2), 15);
	assert_string_not_equal(tap, tap2);
	/* Same name, same tap. */
	assert_int_equal(domxml__tap_name("kp-e2e-disk-uring", tap, sizeof(tap)), 0);
	assert_string_equal(tap, tap2);

	assert_int_equal(domxml__tap_name("bad name", tap, sizeof(tap)), -EINVAL);
	assert_int_equal(domxml__tap_name("vm1", tap, 8), -ENOSPC);
}

static void test_uuid_mac_stable(void **state)
{
	char u1[DOMXML_UUID_LEN], u2[DOMXML_UUID_LEN], m1[DOMXML_MAC_LEN], m2[DOMXML_MAC_LEN];
	unsigned char raw[VIR_UUID_BUFLEN];

	(void)state;
	domxml__uuid("vm1", u1);
	domxml__uuid("vm1", u2);
	assert_string_equal(u1, u2);
	assert_int_equal(strlen(u1), 36);
	assert_int_equal(u1[14], '8'); /* version nibble */
	domxml__uuid("vm2", u2);
	assert_string_not_equal(u1, u2);
	/* libvirt's own parser takes it. */
	assert_int_equal(sscanf(u1, "%2hhx", &raw[0]), 1);

	domxml__mac("vm1", m1);
	domxml__mac("vm1", m2);
	assert_string_equal(m1, m2);
	assert_int_equal(strlen(m1), 17);
	assert_memory_equal(m1, "52:54:00:", 9);
	domxml__mac("vm2", m2);
	assert_string_not_equal(m1, m2);
}

static void test_escape(void **state)
{
	char *e;

	(void)state;
	e = domxml__escape("a<b>&'c\"");
	assert_non_null(e);
	assert_string_equal(e, "a&lt;b&gt;&amp;&apos;c&quot;");
	free(e);
	e = domxml__escape("");
	assert_string_equal(e, "");
	free(e);
}

static void test_cmdline_words(void **state)
{
	char big[600];

	(void)state;
	assert_int_equal(domxml__validate_cmdline_words("kvmpilot.memhog.min=500 a,b:c/d+e@f"), 0);
	assert_int_equal(domxml__validate_cmdline_words("x=1 init=/bin/sh;reboot"), -EINVAL);
	assert_int_equal(domxml__validate_cmdline_words("a='b'"), -EINVAL);
	assert_int_equal(domxml__validate_cmdline_words("a\nb"), -EINVAL);
	assert_int_equal(domxml__validate_cmdline_words("</cmdline>"), -EINVAL);
	memset(big, 'a', sizeof(big) - 1);
	big[sizeof(big) - 1] = '\0';
	assert_int_equal(domxml__validate_cmdline_words(big), -E2BIG);
}

static void test_parse_modes(void **state)
{
	enum domxml_cache c = DOMXML_CACHE_DEFAULT;
	enum domxml_io io = DOMXML_IO_THREADS;

	(void)state;
	assert_int_equal(domxml__parse_cache("none", &c), 0);
	assert_int_equal(c, DOMXML_CACHE_NONE);
	assert_int_equal(domxml__parse_cache("writeback", &c), -EINVAL);
	assert_int_equal(domxml__parse_io("io_uring", &io), 0);
	assert_int_equal(io, DOMXML_IO_URING);
	assert_int_equal(domxml__parse_io("native", &io), 0);
	assert_int_equal(io, DOMXML_IO_NATIVE);
	assert_int_equal(domxml__parse_io("aio", &io), -EINVAL);
	assert_string_equal(domxml__io_str(DOMXML_IO_THREADS), "threads");
	assert_string_equal(domxml__cache_str(DOMXML_CACHE_NONE), "none");
}

static void sample_vm(struct domxml_vm *vm, char *uuid)
{
	domxml__uuid("kp-unit", uuid);
	memset(vm, 0, sizeof(*vm));
	vm->name = "kp-unit";
	vm->uuid = uuid;
	vm->virt_type = "qemu";
	vm->memory_mib = 512;
	vm->memory_max_mib = 2048;
	vm->vcpus = 1;
	vm->vcpus_max = 4;
	vm->kernel = "/var/lib/kvmpilot/images/vmlinuz";
	vm->initrd = "/var/lib/kvmpilot/images/initramfs.gz";
	vm->cmdline = "console=ttyS0 panic=-1 kvmpilot.workload=memhog";
	vm->disk_path = "/var/lib/kvmpilot/pool/kp-unit.qcow2";
	vm->tap = "kp-kp-unit";
	vm->mac = "52:54:00:12:34:56";
	vm->channel_path = "/var/lib/kvmpilot/channels/kp-unit.agent.sock";
	vm->console_path = "/var/lib/kvmpilot/console/kp-unit.log";
	vm->workload = "memhog";
}

static void test_domain_contents(void **state)
{
	struct domxml_vm vm;
	char uuid[DOMXML_UUID_LEN], *xml = NULL;

	(void)state;
	sample_vm(&vm, uuid);
	assert_int_equal(domxml__domain(&vm, &xml), 0);
	assert_non_null(strstr(xml, "<domain type='qemu'>"));
	assert_non_null(strstr(xml, "<memory unit='KiB'>2097152</memory>"));
	assert_non_null(strstr(xml, "<currentMemory unit='KiB'>524288</currentMemory>"));
	assert_non_null(strstr(xml, "current='1'>4</vcpu>"));
	assert_non_null(strstr(xml, "<target dev='kp-kp-unit' managed='yes'/>"));
	assert_non_null(strstr(xml, "<model type='virtio'/>"));
	assert_non_null(strstr(xml, "<target type='virtio' name='org.kvmpilot.agent.0'/>"));
	assert_non_null(strstr(xml, "<controller type='virtio-serial'"));
	assert_non_null(strstr(xml, "<stats period='1'/>"));
	/* freed guest memory goes back to the host without a balloon change */
	assert_non_null(strstr(xml, "<memballoon model='virtio' freePageReporting='on'>"));
	assert_non_null(strstr(xml, "<serial type='file'>"));
	assert_non_null(strstr(xml, uuid));
	/* Defaults: no cache or io attribute at all. */
	assert_null(strstr(xml, "cache="));
	assert_null(strstr(xml, "io="));
	assert_null(strstr(xml, "<graphics"));
	free(xml);

	vm.virt_type = "kvm";
	vm.cache = DOMXML_CACHE_NONE;
	vm.io = DOMXML_IO_NATIVE;
	assert_int_equal(domxml__domain(&vm, &xml), 0);
	assert_non_null(strstr(xml, "<domain type='kvm'>"));
	assert_non_null(strstr(xml, "cache='none' io='native'"));
	free(xml);

	vm.io = DOMXML_IO_URING;
	vm.cache = DOMXML_CACHE_DEFAULT;
	assert_int_equal(domxml__domain(&vm, &xml), 0);
	assert_non_null(strstr(xml, "<driver name='qemu' type='qcow2' io='io_uring'/>"));
	free(xml);

	/* Without channel and disk and tap, none of them appear. */
	vm.channel_path = NULL;
	vm.disk_path = NULL;
	vm.tap = NULL;
	assert_int_equal(domxml__domain(&vm, &xml), 0);
	assert_null(strstr(xml, "<channel"));
	assert_null(strstr(xml, "<disk"));
	assert_null(strstr(xml, "<interface"));
	free(xml);
}

/* --channel: more virtio-serial ports beside the agent's, one controller for all. */
static void test_domain_extra_channels(void **state)
{
	struct domxml_vm vm;
	char uuid[DOMXML_UUID_LEN], *xml = NULL;
	const char *p;

	(void)state;
	sample_vm(&vm, uuid);
	vm.channels[0].name = "org.qemu.guest_agent.0";
	vm.channels[0].path = "/var/lib/kvmpilot/channels/kp-unit/org.qemu.guest_agent.0.sock";
	vm.channels[1].name = "org.kvmpilot.e2e.0";
	vm.channels[1].path = "/tmp/e2e.sock";
	vm.n_channels = 2;
	assert_int_equal(domxml__domain(&vm, &xml), 0);
	assert_non_null(strstr(xml, "<source mode='bind' path='/var/lib/kvmpilot/channels/kp-unit/"
				    "org.qemu.guest_agent.0.sock'/>\n"
				    "      <target type='virtio' name='org.qemu.guest_agent.0'/>"));
	assert_non_null(strstr(xml, "<source mode='bind' path='/tmp/e2e.sock'/>\n"
				    "      <target type='virtio' name='org.kvmpilot.e2e.0'/>"));
	assert_non_null(strstr(xml, "name='org.kvmpilot.agent.0'"));
	p = strstr(xml, "<controller type='virtio-serial'");
	assert_non_null(p);
	assert_null(strstr(p + 1, "<controller type='virtio-serial'"));
	free(xml);

	/* Without the agent channel the controller is still there for the others. */
	vm.channel_path = NULL;
	assert_int_equal(domxml__domain(&vm, &xml), 0);
	assert_non_null(strstr(xml, "<controller type='virtio-serial'"));
	assert_null(strstr(xml, "org.kvmpilot.agent.0"));
	free(xml);

	/* Names that would break out of the attribute, the agent's own name, too many. */
	vm.channels[1].name = "x'/><evil";
	assert_int_equal(domxml__domain(&vm, &xml), -EINVAL);
	vm.channels[1].name = AGENTPROTO_CHANNEL;
	assert_int_equal(domxml__domain(&vm, &xml), -EINVAL);
	vm.channels[1].name = "ok.0";
	vm.channels[1].path = "relative.sock";
	assert_int_equal(domxml__domain(&vm, &xml), -EINVAL);
	vm.channels[1].path = "/tmp/e2e.sock";
	vm.n_channels = DOMXML_CHANNELS_MAX + 1;
	assert_int_equal(domxml__domain(&vm, &xml), -E2BIG);
	assert_int_equal(domxml__validate_channel("org.qemu.guest_agent.0"), 0);
	assert_int_equal(domxml__validate_channel(""), -EINVAL);
	assert_int_equal(domxml__validate_channel("a/b"), -EINVAL);
	assert_int_equal(domxml__validate_channel("a..b"), -EINVAL);
}

static void test_domain_escapes_and_rejects(void **state)
{
	struct domxml_vm vm;
	char uuid[DOMXML_UUID_LEN], *xml = NULL;

	(void)state;
	sample_vm(&vm, uuid);
	vm.cmdline = "console=ttyS0 x='</cmdline><devices>'&y";
	vm.disk_path = "/tmp/a'b\".qcow2";
	assert_int_equal(domxml__domain(&vm, &xml), 0);
	assert_non_null(strstr(xml, "x=&apos;&lt;/cmdline&gt;&lt;devices&gt;&apos;&amp;y"));
	assert_non_null(strstr(xml, "/tmp/a&apos;b&quot;.qcow2"));
	assert_null(strstr(xml, "</cmdline><devices>"));
	free(xml);

	xml = NULL;
	sample_vm(&vm, uuid);
	vm.console_path = "/tmp/a\nb";
	assert_int_equal(domxml__domain(&vm, &xml), -EINVAL);
	assert_null(xml);

	sample_vm(&vm, uuid);
	vm.name = "bad'name";
	assert_int_equal(domxml__domain(&vm, &xml), -EINVAL);
	sample_vm(&vm, uuid);
	vm.virt_type = "xen";
	assert_int_equal(domxml__domain(&vm, &xml), -EINVAL);
	sample_vm(&vm, uuid);
	vm.memory_mib = 4096;
	assert_int_equal(domxml__domain(&vm, &xml), -ERANGE);
	sample_vm(&vm, uuid);
	vm.vcpus = 5;
	assert_int_equal(domxml__domain(&vm, &xml), -ERANGE);
	sample_vm(&vm, uuid);
	vm.vcpus = 0;
	assert_int_equal(domxml__domain(&vm, &xml), -ERANGE);
	sample_vm(&vm, uuid);
	vm.io = DOMXML_IO_NATIVE; /* QEMU refuses native AIO on the page cache */
	assert_int_equal(domxml__domain(&vm, &xml), -EINVAL);
	sample_vm(&vm, uuid);
	vm.tap = "kp-much-too-long-name";
	assert_int_equal(domxml__domain(&vm, &xml), -EINVAL);
	sample_vm(&vm, uuid);
	vm.uuid = "short";
	assert_int_equal(domxml__domain(&vm, &xml), -EINVAL);
	assert_null(xml);
}

/* libvirt's parser and schema accept the domain, and keep what we asked for. */
static void test_domain_accepted_by_libvirt(void **state)
{
	struct domxml_vm vm;
	char uuid[DOMXML_UUID_LEN], *xml = NULL, *back = NULL, *meta = NULL;
	virConnectPtr conn;
	virDomainPtr dom;
	unsigned long mem_max;

	(void)state;
	virSetErrorFunc(NULL, quiet);
	conn = virConnectOpen("test:///default");
	assert_non_null(conn);
	sample_vm(&vm, uuid);
	vm.cache = DOMXML_CACHE_NONE;
	vm.io = DOMXML_IO_URING;
	vm.cmdline = "console=ttyS0 a='<&>'";
	assert_int_equal(domxml__domain(&vm, &xml), 0);
	dom = virDomainDefineXMLFlags(conn, xml, VIR_DOMAIN_DEFINE_VALIDATE);
	if (!dom)
		fail_msg("libvirt rejected the domain: %s\n%s", virGetLastErrorMessage(), xml);
	mem_max = virDomainGetMaxMemory(dom);
	assert_int_equal(mem_max, 2048 * 1024);
	assert_int_equal(virDomainGetVcpusFlags(dom, VIR_DOMAIN_AFFECT_CONFIG), 1);
	assert_int_equal(
		virDomainGetVcpusFlags(dom, VIR_DOMAIN_AFFECT_CONFIG | VIR_DOMAIN_VCPU_MAXIMUM), 4);
	back = virDomainGetXMLDesc(dom, VIR_DOMAIN_XML_INACTIVE);
	assert_non_null(back);
	assert_non_null(
		strstr(back, "<cmdline>console=ttyS0 a=&apos;&lt;&amp;&gt;&apos;</cmdline>"));
	assert_non_null(strstr(back, "<currentMemory unit='KiB'>524288</currentMemory>"));
	assert_non_null(strstr(back, "name='org.kvmpilot.agent.0'"));
	assert_non_null(strstr(back, "cache='none' io='io_uring'"));
	assert_non_null(strstr(back, "<stats period='1'/>"));
	assert_non_null(strstr(back, uuid));
	meta = virDomainGetMetadata(dom, VIR_DOMAIN_METADATA_ELEMENT, DOMXML_NS_URI, 0);
	assert_non_null(meta);
	assert_non_null(strstr(meta, "memhog"));
	/* Re-defining the same name keeps the same identity. */
	free(xml);
	assert_int_equal(domxml__domain(&vm, &xml), 0);
	virDomainFree(dom);
	dom = virDomainDefineXMLFlags(conn, xml, VIR_DOMAIN_DEFINE_VALIDATE);
	assert_non_null(dom);
	assert_int_equal(virDomainUndefine(dom), 0);
	virDomainFree(dom);
	free(meta);
	free(back);
	free(xml);
	assert_int_equal(virConnectClose(conn), 0);
}

/*
 * What the writer puts in, the reader (virt_xml.c) gets back from libvirt's
 * own formatting: the agent's socket among other channels, the sizes, the
 * controller and the workload. If they disagree, 'vm attach-agent' adds a
 * second channel, 'vm list' says "no agent", and the service finds no socket.
 */
static void test_writer_and_reader_agree(void **state)
{
	char uuid[DOMXML_UUID_LEN], path[108], *xml = NULL, *back = NULL, *meta = NULL, *w = NULL;
	struct virt_dom_info info;
	struct domxml_vm vm;
	struct vm_desc desc;
	virConnectPtr conn;
	virDomainPtr dom;

	(void)state;
	virSetErrorFunc(NULL, quiet);
	conn = virConnectOpen("test:///default");
	assert_non_null(conn);
	sample_vm(&vm, uuid);
	vm.channels[0].name = "org.qemu.guest_agent.0";
	vm.channels[0].path = "/var/lib/kvmpilot/channels/kp-unit/org.qemu.guest_agent.0.sock";
	vm.n_channels = 1;
	assert_int_equal(domxml__domain(&vm, &xml), 0);
	dom = virDomainDefineXMLFlags(conn, xml, VIR_DOMAIN_DEFINE_VALIDATE);
	assert_non_null(dom);
	back = virDomainGetXMLDesc(dom, VIR_DOMAIN_XML_INACTIVE);
	assert_non_null(back);
	assert_int_equal(virt_xml__channel_path(back, AGENTPROTO_CHANNEL, path, sizeof(path)), 0);
	assert_string_equal(path, vm.channel_path);
	assert_int_equal(virt_xml__channel_path(back, "org.qemu.guest_agent.0", path, sizeof(path)),
			 0);
	assert_string_equal(path, vm.channels[0].path);
	assert_int_equal(virt_xml__has_channel(back, AGENTPROTO_CHANNEL), 1);
	assert_int_equal(virt_xml__has_controller(back, "virtio-serial"), 1);
	memset(&desc, 0, sizeof(desc));
	memset(&info, 0, sizeof(info));
	assert_int_equal(virt__parse_domain_xml(back, &desc, &info), 0);
	assert_string_equal(desc.name, "kp-unit");
	assert_string_equal(desc.uuid, uuid);
	assert_int_equal(info.max_memory_kib, 2048 * 1024);
	assert_int_equal(info.cur_memory_kib, 512 * 1024);
	assert_int_equal(info.max_vcpus, 4);
	assert_int_equal(info.cur_vcpus, 1);
	assert_int_equal(info.stats_period, 1);
	assert_string_equal(desc.channel_path, vm.channel_path);
	assert_int_equal(desc.ntaps, 1);
	assert_string_equal(desc.taps[0].ifname, "kp-kp-unit");
	assert_int_equal(desc.ndisks, 1);
	assert_string_equal(desc.disks[0].path, vm.disk_path);
	meta = virDomainGetMetadata(dom, VIR_DOMAIN_METADATA_ELEMENT, DOMXML_NS_URI, 0);
	assert_non_null(meta);
	assert_int_equal(virt_xml__metadata_workload(meta, &w), 0);
	assert_string_equal(w, "memhog");
	assert_int_equal(virDomainUndefine(dom), 0);
	virDomainFree(dom);
	free(w);
	free(meta);
	free(back);
	free(xml);
	assert_int_equal(virConnectClose(conn), 0);
}

static void test_pool_and_volumes_accepted(void **state)
{
	char *xml = NULL, *chan = NULL, *ctl = NULL;
	virConnectPtr conn;
	virStoragePoolPtr pool;
	virStorageVolPtr vol;

	(void)state;
	virSetErrorFunc(NULL, quiet);
	conn = virConnectOpen("test:///default");
	assert_non_null(conn);
	assert_int_equal(domxml__pool("kp-unit-pool", "/var/lib/kp-unit/pool", &xml), 0);
	pool = virStoragePoolDefineXML(conn, xml, 0);
	if (!pool)
		fail_msg("libvirt rejected the pool: %s\n%s", virGetLastErrorMessage(), xml);
	free(xml);
	assert_int_equal(virStoragePoolCreate(pool, 0), 0);
	assert_int_equal(domxml__base_volume("base.qcow2", 1024, &xml), 0);
	vol = virStorageVolCreateXML(pool, xml, 0);
	if (!vol)
		fail_msg("libvirt rejected the base volume: %s\n%s", virGetLastErrorMessage(), xml);
	virStorageVolFree(vol);
	free(xml);
	assert_int_equal(domxml__overlay_volume("vm'1.qcow2", 1024,
						"/var/lib/kp-unit/pool/base.qcow2", &xml),
			 0);
	assert_non_null(strstr(xml, "<name>vm&apos;1.qcow2</name>"));
	assert_non_null(strstr(xml, "<backingStore>"));
	free(xml);
	assert_int_equal(
		domxml__overlay_volume("vm1.qcow2", 1024, "/var/lib/kp-unit/pool/base.qcow2", &xml),
		0);
	vol = virStorageVolCreateXML(pool, xml, 0);
	if (!vol)
		fail_msg("libvirt rejected the overlay: %s\n%s", virGetLastErrorMessage(), xml);
	assert_int_equal(virStorageVolDelete(vol, 0), 0);
	virStorageVolFree(vol);
	free(xml);
	assert_int_equal(virStoragePoolDestroy(pool), 0);
	assert_int_equal(virStoragePoolUndefine(pool), 0);
	virStoragePoolFree(pool);

	assert_int_equal(domxml__overlay_volume("a/b", 1, "/x", &xml), -EINVAL);
	assert_int_equal(domxml__overlay_volume("a", 1, "relative", &xml), -EINVAL);
	assert_int_equal(domxml__pool("p", "relative", &xml), -EINVAL);

	assert_int_equal(domxml__agent_channel("/run/x.sock", &chan), 0);
	assert_non_null(strstr(chan, "<source mode='bind' path='/run/x.sock'/>"));
	assert_non_null(strstr(chan, "name='org.kvmpilot.agent.0'"));
	assert_int_equal(domxml__virtio_serial_controller(&ctl), 0);
	assert_non_null(strstr(ctl, "virtio-serial"));
	free(ctl);
	free(chan);
	chan = NULL;
	assert_int_equal(domxml__agent_channel("relative.sock", &chan), -EINVAL);
	{
		const struct domxml_channel qga = { "org.qemu.guest_agent.0", "/run/q.sock" };
		const struct domxml_channel bad = { "bad name", "/run/q.sock" };

		assert_int_equal(domxml__channel(&qga, &chan), 0);
		assert_non_null(
			strstr(chan, "<target type='virtio' name='org.qemu.guest_agent.0'/>"));
		free(chan);
		chan = NULL;
		assert_int_equal(domxml__channel(&bad, &chan), -EINVAL);
	}
	assert_int_equal(virConnectClose(conn), 0);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_validate_name),
		cmocka_unit_test(test_tap_name),
		cmocka_unit_test(test_uuid_mac_stable),
		cmocka_unit_test(test_escape),
		cmocka_unit_test(test_cmdline_words),
		cmocka_unit_test(test_parse_modes),
		cmocka_unit_test(test_domain_contents),
		cmocka_unit_test(test_domain_extra_channels),
		cmocka_unit_test(test_domain_escapes_and_rejects),
		cmocka_unit_test(test_domain_accepted_by_libvirt),
		cmocka_unit_test(test_writer_and_reader_agree),
		cmocka_unit_test(test_pool_and_volumes_accepted),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
