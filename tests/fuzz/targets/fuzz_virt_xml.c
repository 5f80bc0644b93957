// SPDX-License-Identifier: GPL-2.0
/*
 * Reading libvirt's domain XML (virt_xml.c, libxml2): a domain's definition
 * is written by whoever may define domains, its metadata by any libvirt
 * client. Every reader on every input; what is read fits its field, a path
 * is never cut (refused whole), and the readers agree with each other.
 */
#include <errno.h>
#include <string.h>

#include "agentproto.h"
#include "fuzz.h"
#include "virt.h"
#include "virt_xml.h"

#define CH AGENTPROTO_CHANNEL

static void check_str(const char *s, size_t size, const char *what)
{
	FUZZ_CHECK(memchr(s, '\0', size), "%s not terminated", what);
}

static void domain(const char *xml)
{
	static struct vm_desc vm;
	struct virt_dom_info info;
	char path[4096], *small;
	int rc, has, len = -1;

	memset(&vm, 0, sizeof(vm));
	memset(&info, 0, sizeof(info));
	rc = virt__parse_domain_xml(xml, &vm, &info);
	FUZZ_CHECK(rc == 0 || rc == -EINVAL || rc == -ENAMETOOLONG || rc == -ENOMEM,
		   "parse_domain_xml: %d", rc);

	has = virt_xml__has_channel(xml, CH);
	FUZZ_CHECK(has == 0 || has == 1 || has == -EINVAL || has == -ENOMEM, "has_channel: %d",
		   has);
	(void)virt_xml__has_controller(xml, "virtio-serial");
	rc = virt_xml__channel_path(xml, CH, path, sizeof(path));
	FUZZ_CHECK(rc == 0 || rc == -ENOENT || rc == -E2BIG || rc == -EINVAL || rc == -ENOMEM,
		   "channel_path: %d", rc);
	if (!rc) {
		len = (int)strlen(path);
		FUZZ_CHECK(len > 0, "an empty channel path taken");
		FUZZ_CHECK(has == 1, "a channel path without the channel");
		/* exactly fitting is taken, one byte short is refused, never cut */
		FUZZ_CHECK(virt_xml__channel_path(xml, CH, path, (size_t)len + 1) == 0,
			   "path of %d bytes refused with room for it", len);
		small = malloc((size_t)len);
		if (!small)
			abort();
		FUZZ_CHECK(virt_xml__channel_path(xml, CH, small, (size_t)len) == -E2BIG &&
				   !small[0],
			   "path of %d bytes cut", len);
		free(small);
	}
	if (!vm.name[0])
		return;
	/* the domain as the service reads it */
	FUZZ_CHECK(strlen(vm.name) < VM_NAME_MAX, "name of %zu bytes", strlen(vm.name));
	FUZZ_CHECK(!strcmp(info.name, vm.name), "info and vm names differ");
	check_str(vm.uuid, sizeof(vm.uuid), "uuid");
	FUZZ_CHECK(vm.ntaps >= 0 && vm.ntaps <= VM_MAX_TAPS, "%d taps", vm.ntaps);
	for (int i = 0; i < vm.ntaps; i++)
		FUZZ_CHECK(vm.taps[i].ifname[0], "an empty tap name taken");
	FUZZ_CHECK(vm.ndisks >= 0 && vm.ndisks <= VM_MAX_DISKS, "%d disks", vm.ndisks);
	for (int i = 0; i < vm.ndisks; i++) {
		FUZZ_CHECK(vm.disks[i].path[0], "a disk without a source taken");
		check_str(vm.disks[i].target, sizeof(vm.disks[i].target), "disk target");
	}
	FUZZ_CHECK(info.max_vcpus >= 0 && info.max_vcpus <= 16384 && info.cur_vcpus >= 0 &&
			   info.cur_vcpus <= 16384 && info.stats_period >= 0,
		   "vcpus %d/%d, period %d", info.cur_vcpus, info.max_vcpus, info.stats_period);
	check_str(vm.channel_path, sizeof(vm.channel_path), "channel path");
	if (len > 0 && len < (int)sizeof(vm.channel_path))
		FUZZ_CHECK(!strcmp(vm.channel_path, path), "two readers, two channel paths");
	else
		FUZZ_CHECK(!vm.channel_path[0], "channel path '%s' taken, the reader says %d",
			   vm.channel_path, len);
}

static void status(const char *xml)
{
	static struct vm_desc vm;
	int n;

	n = virt__parse_status_vcpus(xml, &vm);
	if (n < 0) {
		FUZZ_CHECK(n == -EINVAL || n == -ENOMEM, "parse_status_vcpus: %d", n);
		return;
	}
	FUZZ_CHECK(n == vm.nvcpus && n <= VM_MAX_VCPUS, "%d vCPUs, nvcpus %d", n, vm.nvcpus);
	for (int i = 0; i < n; i++)
		FUZZ_CHECK(vm.vcpus[i].index >= 0 && vm.vcpus[i].index <= 16383 &&
				   vm.vcpus[i].tid >= 1,
			   "vCPU %d thread %d", vm.vcpus[i].index, vm.vcpus[i].tid);
}

static void metadata(const char *xml)
{
	char *w = NULL;
	int rc = virt_xml__metadata_workload(xml, &w);

	if (!rc) {
		FUZZ_CHECK(w && strlen(w) < 256, "workload of %zu bytes", w ? strlen(w) : 0);
	} else {
		FUZZ_CHECK(!w, "workload set on error %d", rc);
		FUZZ_CHECK(rc == -ENOENT || rc == -E2BIG || rc == -EINVAL || rc == -ENOMEM,
			   "metadata_workload: %d", rc);
	}
	free(w);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	char *xml = fuzz_strndup(data, size);

	domain(xml);
	status(xml);
	metadata(xml);
	free(xml);
	return 0;
}
