// SPDX-License-Identifier: GPL-2.0
/*
 * The one reader of libvirt's domain XML (virt_xml.c). If the channel path
 * is read wrong, 'kvmpilot agent NAME' and the service talk to another
 * VM's socket or to none; if sizes are read wrong, the balloon ceiling and
 * vCPU maximum the policy works within are wrong; if channel or controller
 * presence is wrong, 'vm list' and 'vm attach-agent' lie.
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

#include "agentproto.h"
#include "virt.h"
#include "virt_xml.h"

/* The agent's channel and QEMU's guest agent, as libvirt formats a live domain. */
static const char two_channels[] =
	"<domain type='kvm' id='3'>\n  <name>web1</name>\n"
	"  <memory unit='KiB'>2097152</memory>\n"
	"  <currentMemory unit='KiB'>524288</currentMemory>\n"
	"  <vcpu placement='static' current='1'>4</vcpu>\n  <devices>\n"
	"    <controller type='virtio-serial' index='0'/>\n"
	"    <channel type='unix'>\n      <source mode='bind' path='/run/other.sock'/>\n"
	"      <target type='virtio' name='org.qemu.guest_agent.0'/>\n    </channel>\n"
	"    <channel type=\"unix\">\n"
	"      <source mode=\"bind\" path=\"/var/lib/k&amp;p/agent.sock\"/>\n"
	"      <target type=\"virtio\" name=\"org.kvmpilot.agent.0\" state=\"connected\"/>\n"
	"      <alias name=\"channel1\"/>\n    </channel>\n"
	"    <memballoon model='virtio'><stats period='1'/></memballoon>\n"
	"  </devices>\n</domain>\n";

static void test_channel_path_picks_the_named_one(void **state)
{
	char path[108];

	(void)state;
	assert_int_equal(
		virt_xml__channel_path(two_channels, AGENTPROTO_CHANNEL, path, sizeof(path)), 0);
	/* the entity is undone: the socket is k&p's, not k&amp;p's */
	assert_string_equal(path, "/var/lib/k&p/agent.sock");
	assert_int_equal(
		virt_xml__channel_path(two_channels, "org.qemu.guest_agent.0", path, sizeof(path)),
		0);
	assert_string_equal(path, "/run/other.sock");
}

static void test_channel_path_absent(void **state)
{
	static const char pty[] = "<domain><devices><channel type='pty'><source "
				  "path='/dev/pts/3'/><target type='virtio' "
				  "name='org.kvmpilot.agent.0'/></channel></devices></domain>";
	static const char nosource[] = "<domain><devices><channel type='unix'><target "
				       "type='virtio' name='org.kvmpilot.agent.0'/>"
				       "</channel></devices></domain>";
	char path[108] = "stale";

	(void)state;
	assert_int_equal(virt_xml__channel_path(two_channels, "nope", path, sizeof(path)), -ENOENT);
	assert_string_equal(path, "");
	/* a pty is no socket to connect to, even under the agent's name */
	assert_int_equal(virt_xml__channel_path(pty, AGENTPROTO_CHANNEL, path, sizeof(path)),
			 -ENOENT);
	assert_int_equal(virt_xml__channel_path(nosource, AGENTPROTO_CHANNEL, path, sizeof(path)),
			 -ENOENT);
	assert_int_equal(
		virt_xml__channel_path("<domain/>", AGENTPROTO_CHANNEL, path, sizeof(path)),
		-ENOENT);
}

static void test_channel_path_too_long(void **state)
{
	char tiny[8] = "x";
	char exact[sizeof("/run/other.sock")];

	(void)state;
	assert_int_equal(
		virt_xml__channel_path(two_channels, AGENTPROTO_CHANNEL, tiny, sizeof(tiny)),
		-E2BIG);
	assert_string_equal(tiny, ""); /* never a cut path */
	assert_int_equal(virt_xml__channel_path(two_channels, "org.qemu.guest_agent.0", exact,
						sizeof(exact)),
			 0);
	assert_string_equal(exact, "/run/other.sock");
}

static void test_malformed(void **state)
{
	char path[108], *w = (char *)1;

	(void)state;
	assert_int_equal(virt_xml__channel_path("<channel", AGENTPROTO_CHANNEL, path, sizeof(path)),
			 -EINVAL);
	assert_int_equal(virt_xml__channel_path("", AGENTPROTO_CHANNEL, path, sizeof(path)),
			 -EINVAL);
	assert_int_equal(virt_xml__channel_path("<domain><devices></domain>", AGENTPROTO_CHANNEL,
						path, sizeof(path)),
			 -EINVAL);
	assert_int_equal(virt_xml__has_channel("<domain", AGENTPROTO_CHANNEL), -EINVAL);
	assert_int_equal(virt_xml__has_controller("", "virtio-serial"), -EINVAL);
	assert_int_equal(virt_xml__metadata_workload("<kp:vm", &w), -EINVAL);
	assert_null(w);
}

/* A name with quotes cannot break out of a query: it is compared, not interpolated. */
static void test_quotes_and_entities(void **state)
{
	static const char xml[] =
		"<domain><devices>"
		"<channel type='unix'><source mode='bind' path='/run/&quot;q&apos;&lt;&gt;.sock'/>"
		"<target type='virtio' name='a&apos;b&quot;c'/></channel>"
		"<channel type='unix'><source mode='bind' path='/run/x.sock'/>"
		"<target type='virtio' name='x'/></channel></devices></domain>";
	char path[108];

	(void)state;
	assert_int_equal(virt_xml__channel_path(xml, "a'b\"c", path, sizeof(path)), 0);
	assert_string_equal(path, "/run/\"q'<>.sock");
	assert_int_equal(virt_xml__channel_path(xml, "x' or '1'='1", path, sizeof(path)), -ENOENT);
	assert_int_equal(virt_xml__has_channel(xml, "a'b\"c"), 1);
}

static void test_presence(void **state)
{
	static const char pty[] = "<domain><devices><channel type='pty'><target type='virtio' "
				  "name='org.kvmpilot.agent.0'/></channel></devices></domain>";

	(void)state;
	assert_int_equal(virt_xml__has_channel(two_channels, AGENTPROTO_CHANNEL), 1);
	assert_int_equal(virt_xml__has_channel(two_channels, "org.qemu.guest_agent"), 0);
	/* the name alone counts, whatever the channel's type */
	assert_int_equal(virt_xml__has_channel(pty, AGENTPROTO_CHANNEL), 1);
	/* an alias or a name elsewhere is not a channel */
	assert_int_equal(virt_xml__has_channel(two_channels, "channel1"), 0);
	assert_int_equal(virt_xml__has_controller(two_channels, "virtio-serial"), 1);
	assert_int_equal(virt_xml__has_controller(pty, "virtio-serial"), 0);
	assert_int_equal(virt_xml__has_controller(two_channels, "usb"), 0);
}

static void test_sizes_and_agent_channel(void **state)
{
	struct virt_dom_info info;
	struct vm_desc vm;

	(void)state;
	memset(&vm, 0, sizeof(vm));
	memset(&info, 0, sizeof(info));
	assert_int_equal(virt__parse_domain_xml(two_channels, &vm, &info), 0);
	assert_string_equal(vm.name, "web1");
	assert_int_equal(info.max_memory_kib, 2097152);
	assert_int_equal(info.cur_memory_kib, 524288);
	assert_int_equal(info.max_vcpus, 4);
	assert_int_equal(info.cur_vcpus, 1);
	assert_true(info.has_balloon);
	assert_int_equal(info.stats_period, 1);
	assert_string_equal(vm.channel_path, "/var/lib/k&p/agent.sock");
}

static void test_sizes_units_and_defaults(void **state)
{
	static const char xml[] = "<domain><name>db</name><memory unit='GiB'>2</memory>"
				  "<vcpu>3</vcpu><devices><memballoon model='none'/>"
				  "</devices></domain>";
	static const char mb[] = "<domain><name>m</name><memory unit='MB'>1024</memory>"
				 "<currentMemory unit='M'>512</currentMemory><vcpu>1</vcpu>"
				 "</domain>";
	struct virt_dom_info info;
	struct vm_desc vm;

	(void)state;
	memset(&vm, 0, sizeof(vm));
	memset(&info, 0, sizeof(info));
	assert_int_equal(virt__parse_domain_xml(xml, &vm, &info), 0);
	assert_int_equal(info.max_memory_kib, 2 * 1024 * 1024);
	/* no <currentMemory>: the whole of <memory>; no current=: every vCPU */
	assert_int_equal(info.cur_memory_kib, 2 * 1024 * 1024);
	assert_int_equal(info.max_vcpus, 3);
	assert_int_equal(info.cur_vcpus, 3);
	assert_false(info.has_balloon);
	assert_string_equal(vm.channel_path, "");
	assert_int_equal(virt__parse_domain_xml(mb, &vm, &info), 0);
	assert_int_equal(info.max_memory_kib, 1024000000ull / 1024);
	assert_int_equal(info.cur_memory_kib, 512 * 1024);
}

/* A channel path too long for vm_desc leaves it empty: never a cut socket path. */
static void test_domain_channel_too_long(void **state)
{
	char xml[1024], path[200];
	struct virt_dom_info info;
	struct vm_desc vm;

	(void)state;
	memset(path, 'p', sizeof(path) - 1);
	path[0] = '/';
	path[sizeof(path) - 1] = '\0';
	snprintf(xml, sizeof(xml),
		 "<domain><name>v</name><memory>1024</memory><vcpu>1</vcpu><devices>"
		 "<channel type='unix'><source mode='bind' path='%s'/>"
		 "<target type='virtio' name='" AGENTPROTO_CHANNEL "'/></channel>"
		 "</devices></domain>",
		 path);
	memset(&vm, 0, sizeof(vm));
	assert_int_equal(virt__parse_domain_xml(xml, &vm, &info), 0);
	assert_string_equal(vm.channel_path, "");
}

/*
 * A name of VM_NAME_MAX bytes or more is refused as too long (the service
 * counts and logs such domains), never cut to another VM's name and never
 * taken for a domain without a name.
 */
static void test_domain_name_too_long(void **state)
{
	char xml[1024], name[VM_NAME_MAX + 1];
	struct virt_dom_info info;
	struct vm_desc vm;

	(void)state;
	for (size_t len = VM_NAME_MAX - 1; len <= VM_NAME_MAX; len++) {
		memset(name, 'n', len);
		name[len] = '\0';
		snprintf(xml, sizeof(xml), "<domain><name>%s</name><memory>1024</memory></domain>",
			 name);
		memset(&vm, 0, sizeof(vm));
		if (len < VM_NAME_MAX) {
			assert_int_equal(virt__parse_domain_xml(xml, &vm, &info), 0);
			assert_string_equal(vm.name, name);
		} else {
			assert_int_equal(virt__parse_domain_xml(xml, &vm, &info), -ENAMETOOLONG);
			assert_string_equal(vm.name, "");
		}
	}
	assert_int_equal(virt__parse_domain_xml("<domain><memory>1</memory></domain>", &vm, &info),
			 -EINVAL);
}

static void test_metadata_workload(void **state)
{
	static const char meta[] = "<kp:vm xmlns:kp=\"https://kvmpilot.dev/xmlns/vm/1\">"
				   "<kp:workload>mem&amp;hog</kp:workload></kp:vm>";
	static const char other_prefix[] = "<vm xmlns=\"https://kvmpilot.dev/xmlns/vm/1\">"
					   "<workload>idle</workload></vm>";
	static const char none[] = "<kp:vm xmlns:kp=\"https://kvmpilot.dev/xmlns/vm/1\"/>";
	char *w = NULL;

	(void)state;
	assert_int_equal(virt_xml__metadata_workload(meta, &w), 0);
	assert_string_equal(w, "mem&hog");
	free(w);
	assert_int_equal(virt_xml__metadata_workload(other_prefix, &w), 0);
	assert_string_equal(w, "idle");
	free(w);
	assert_int_equal(virt_xml__metadata_workload(none, &w), -ENOENT);
	assert_null(w);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_channel_path_picks_the_named_one),
		cmocka_unit_test(test_channel_path_absent),
		cmocka_unit_test(test_channel_path_too_long),
		cmocka_unit_test(test_malformed),
		cmocka_unit_test(test_quotes_and_entities),
		cmocka_unit_test(test_presence),
		cmocka_unit_test(test_sizes_and_agent_channel),
		cmocka_unit_test(test_sizes_units_and_defaults),
		cmocka_unit_test(test_domain_channel_too_long),
		cmocka_unit_test(test_domain_name_too_long),
		cmocka_unit_test(test_metadata_workload),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
