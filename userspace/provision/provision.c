// SPDX-License-Identifier: GPL-2.0
/*
 * The 'kvmpilot vm' commands over libvirt: create (define and start, with
 * the kvm to qemu fallback), destroy, list and attach-agent. Storage is
 * provision_storage.c's, the host's files provision_files.c's; the domain
 * XML is written by domxml.c and read by virt_xml.c.
 */
#include <errno.h>
#include <json-c/json.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <libvirt/libvirt.h>
#include <libvirt/virterror.h>

#include "agentproto.h"
#include "kvmpilot.h"
#include "progress.h"
#include "provision_priv.h"
#include "util.h"
#include "virt_libvirt.h"
#include "virt_xml.h"

void provision_opts__init(struct provision_opts *o)
{
	memset(o, 0, sizeof(*o));
	o->uri = getenv("KVMPILOT_URI") ? getenv("KVMPILOT_URI") : KVMPILOT_DEFAULT_URI;
	o->state_dir = getenv("KVMPILOT_STATE_DIR") ? getenv("KVMPILOT_STATE_DIR")
						    : PROVISION_DEFAULT_STATE;
	o->pool = getenv("KVMPILOT_POOL") ? getenv("KVMPILOT_POOL") : PROVISION_DEFAULT_POOL;
	o->pool_dir = getenv("KVMPILOT_POOL_DIR");
	o->image_dir = getenv("KVMPILOT_GUEST_DIR");
	o->virt_type = getenv("KVMPILOT_VIRT_TYPE") ? getenv("KVMPILOT_VIRT_TYPE") : "auto";
	o->workload = "idle";
	o->memory_mib = 512;
	o->memory_max_mib = 2048;
	o->disk_mib = 1024;
	o->vcpus = 1;
	o->vcpus_max = 4;
}

const char *prov_errmsg(void)
{
	const char *m = virGetLastErrorMessage();

	return m ? m : "unknown libvirt error";
}

virConnectPtr prov_connect(const char *uri)
{
	struct progress *p;
	virConnectPtr conn;

	virt__quiet_errors();
	p = progress__begin("connecting to libvirt", SLOW_CALL_MS);
	conn = virConnectOpen(uri);
	(void)progress__end(p);
	if (!conn)
		log_error("cannot connect to '%s': %s", uri, prov_errmsg());
	return conn;
}

void prov_disconnect(virConnectPtr conn)
{
	if (conn && virConnectClose(conn) > 0)
		log_warn("libvirt connection still referenced at close (leak)");
}

/* kvm when /dev/kvm is usable and libvirt offers it, else qemu (TCG). */
static const char *pick_virt_type(virConnectPtr conn, const char *want)
{
	char *caps;

	if (strcmp(want, "auto"))
		return want;
	if (access("/dev/kvm", R_OK | W_OK) || !prov_cpu_has_hw_virt())
		return "qemu";
	caps = virConnectGetDomainCapabilities(conn, NULL, "x86_64", NULL, "kvm", 0);
	if (!caps)
		return "qemu";
	free(caps);
	return "kvm";
}

/*
 * A slow define on a local libvirtd is nearly always a QEMU capability probe
 * (seconds each): say so, and name the cause we know of (see README,
 * "Troubleshooting").
 */
static void explain_slow_define(double secs, uint64_t caps_before_ns)
{
	if (secs * 1000 < SLOW_CALL_MS || prov_caps_cache_mtime_ns() == caps_before_ns)
		return;
	log_info("libvirt re-probed QEMU's capabilities during the define (it rewrote "
		 "%s)",
		 QEMU_CAPS_CACHE);
	if (!prov_kvm_dev_usable_by(getpwnam(QEMU_USER)))
		log_info("likely cause: /dev/kvm exists but user '%s' cannot open it, so libvirt "
			 "judges its cached probe out of date every time; 'chgrp kvm /dev/kvm && "
			 "chmod 660 /dev/kvm' (or unloading the kvm modules) makes defines fast",
			 QEMU_USER);
}

/*
 * Define and start the domain (unless --no-start); kvm falls back to qemu
 * when it was chosen automatically and does not start. The domain, or NULL
 * after logging.
 */
static virDomainPtr define_and_start(virConnectPtr conn, struct domxml_vm *vm,
				     const struct provision_opts *o, const char *console)
{
	bool auto_type = !strcmp(o->virt_type, "auto");
	virDomainPtr dom = NULL;
	struct progress *p;
	uint64_t caps_ns;
	char *xml = NULL;
	int rc;

	for (;;) {
		rc = domxml__domain(vm, &xml);
		if (rc) {
			log_error("cannot describe domain '%s': %s", vm->name, strerror(-rc));
			return NULL;
		}
		caps_ns = prov_caps_cache_mtime_ns();
		p = progress__begin("defining the domain", SLOW_CALL_MS);
		dom = virDomainDefineXML(conn, xml);
		explain_slow_define(progress__end(p), caps_ns);
		free(xml);
		xml = NULL;
		if (!dom) {
			log_error("cannot define domain '%s': %s", vm->name, prov_errmsg());
			return NULL;
		}
		if (o->no_start)
			return dom;
		/* a fresh guest has no log yet; an old one's lines would mislead */
		if (truncate(console, 0) && errno != ENOENT)
			log_warn("cannot empty the console log '%s': %s", console, strerror(errno));
		p = progress__begin("starting the domain", SLOW_CALL_MS);
		rc = virDomainCreate(dom);
		(void)progress__end(p);
		if (rc == 0)
			return dom;
		/* /dev/kvm can exist without working (nested virtualization off). */
		if (auto_type && !strcmp(vm->virt_type, "kvm")) {
			log_warn("starting '%s' with kvm failed (%s), retrying with qemu (TCG)",
				 vm->name, prov_errmsg());
			vm->virt_type = "qemu";
			virDomainFree(dom);
			continue;
		}
		log_error("cannot start domain '%s': %s", vm->name, prov_errmsg());
		/* A connection lost half-way may leave it running after all. */
		if (virDomainIsActive(dom) == 1)
			(void)virDomainDestroy(dom);
		(void)virDomainUndefine(dom);
		virDomainFree(dom);
		return NULL;
	}
}

/* Debian's kernel boots with PSI off: the agent reports pressure with psi=1. */
static int guest_cmdline(const struct provision_opts *o, char *buf, size_t size)
{
	int n = snprintf(buf, size, "console=ttyS0 panic=-1 psi=1 kvmpilot.workload=%s%s%s%s%s",
			 o->workload, o->ip ? " kvmpilot.ip=" : "", o->ip ? o->ip : "",
			 o->workload_args ? " " : "", o->workload_args ? o->workload_args : "");

	return n < 0 || (size_t)n >= size ? -ENAMETOOLONG : 0;
}

/* What create gathers for domxml.c, step by step. */
struct create_ctx {
	char tap[DOMXML_IFNAME_MAX];
	char uuid[DOMXML_UUID_LEN];
	char mac[DOMXML_MAC_LEN];
	char cmdline[1024];
	char *vol_path; /* libvirt's, free() */
	struct vm_files files;
	struct domxml_vm vm;
};

/* A name already taken is the user's to resolve: 0, or -EEXIST after logging. */
static int check_absent(virConnectPtr conn, const char *name)
{
	virDomainPtr dom = virDomainLookupByName(conn, name);

	if (!dom)
		return 0;
	log_error("domain '%s' already exists (kvmpilot vm destroy '%s' first)", name, name);
	virDomainFree(dom);
	return -EEXIST;
}

static void delete_volume(virStorageVolPtr vol, const char *name)
{
	if (virStorageVolDelete(vol, 0) < 0)
		log_warn("cannot remove volume '%s.qcow2': %s", name, prov_errmsg());
}

/* The pool, the shared base, and this VM's overlay with its path; NULL after logging. */
static virStorageVolPtr create_storage(virConnectPtr conn, const char *name,
				       const struct provision_opts *o, char **vol_path)
{
	struct progress *p = progress__begin("preparing storage", SLOW_CALL_MS);
	virStorageVolPtr vol = prov_make_overlay(conn, name, o);

	(void)progress__end(p);
	if (!vol)
		return NULL;
	*vol_path = virStorageVolGetPath(vol);
	if (!*vol_path) {
		log_error("cannot get the path of volume '%s.qcow2': %s", name, prov_errmsg());
		delete_volume(vol, name);
		virStorageVolFree(vol);
		return NULL;
	}
	return vol;
}

static void describe_vm(virConnectPtr conn, const char *name, const struct provision_opts *o,
			struct create_ctx *c)
{
	struct domxml_vm *vm = &c->vm;

	domxml__uuid(name, c->uuid);
	domxml__mac(name, c->mac);
	memset(vm, 0, sizeof(*vm));
	vm->name = name;
	vm->uuid = c->uuid;
	vm->virt_type = pick_virt_type(conn, o->virt_type);
	vm->memory_mib = o->memory_mib;
	vm->memory_max_mib = o->memory_max_mib;
	vm->vcpus = o->vcpus;
	vm->vcpus_max = o->vcpus_max;
	vm->kernel = c->files.kernel;
	vm->initrd = c->files.initrd;
	vm->cmdline = c->cmdline;
	vm->disk_path = c->vol_path;
	vm->cache = o->cache;
	vm->io = o->io;
	vm->tap = c->tap;
	vm->mac = c->mac;
	vm->channel_path = c->files.chan;
	for (unsigned int i = 0; i < o->n_channels; i++) {
		vm->channels[i].name = o->channels[i];
		vm->channels[i].path = c->files.extra[i];
	}
	vm->n_channels = o->n_channels;
	vm->console_path = c->files.console;
	vm->workload = o->workload;
}

static void print_created(const char *name, const struct provision_opts *o,
			  const struct create_ctx *c)
{
	printf("%s '%s' (%s, %llu/%llu MiB, %u/%u vCPUs, workload '%s', tap '%s', disk '%s', "
	       "channel '%s', console '%s')\n",
	       o->no_start ? "defined" : "started", name, c->vm.virt_type,
	       (unsigned long long)o->memory_mib, (unsigned long long)o->memory_max_mib, o->vcpus,
	       o->vcpus_max, o->workload, c->tap, c->vol_path, c->files.chan, c->files.console);
	for (unsigned int i = 0; i < o->n_channels; i++)
		printf("channel '%s': '%s'\n", o->channels[i], c->files.extra[i]);
}

int provision__create(const char *name, const struct provision_opts *o)
{
	struct create_ctx *c = NULL;
	virConnectPtr conn = NULL;
	virStorageVolPtr vol = NULL;
	virDomainPtr dom = NULL;
	int err, rc;

	err = prov_validate_create(name, o);
	if (err)
		return err;
	err = 1;
	c = calloc(1, sizeof(*c));
	if (!c) {
		log_error("out of memory");
		return 1;
	}
	if (prov_prepare_files(name, o, &c->files))
		goto cleanup;
	if (domxml__tap_name(name, c->tap, sizeof(c->tap)) ||
	    guest_cmdline(o, c->cmdline, sizeof(c->cmdline))) {
		log_error("path or name too long for '%s'", name);
		goto cleanup;
	}
	conn = prov_connect(o->uri);
	if (!conn || check_absent(conn, name))
		goto cleanup;
	prov_remove_stale_sockets(&c->files, o);
	vol = create_storage(conn, name, o, &c->vol_path);
	if (!vol)
		goto cleanup;
	describe_vm(conn, name, o, c);
	dom = define_and_start(conn, &c->vm, o, c->files.console);
	if (!dom) {
		delete_volume(vol, name);
		goto cleanup;
	}
	if (o->host_ip && !o->no_start) {
		rc = prov_set_host_ip(c->tap, o->host_ip);
		if (rc)
			log_warn("cannot set address '%s' on tap '%s': %s", o->host_ip, c->tap,
				 strerror(-rc));
	}
	print_created(name, o, c);
	err = 0;
cleanup:
	if (c)
		free(c->vol_path);
	free(c);
	if (dom)
		virDomainFree(dom);
	if (vol)
		virStorageVolFree(vol);
	prov_disconnect(conn);
	return err;
}

/* The workload recorded by 'vm create'; NULL when the domain is not ours. */
static char *managed_workload(virDomainPtr dom)
{
	char *meta, *out = NULL;

	meta = virDomainGetMetadata(dom, VIR_DOMAIN_METADATA_ELEMENT, DOMXML_NS_URI, 0);
	if (!meta)
		return NULL;
	/* our element without a readable workload still marks the domain as ours */
	if (virt_xml__metadata_workload(meta, &out))
		out = strdup("");
	free(meta);
	return out;
}

int provision__destroy(const char *name, const struct provision_opts *o)
{
	char path[PATH_MAX], volname[DOMXML_NAME_MAX + 8];
	virConnectPtr conn = NULL;
	virDomainPtr dom = NULL;
	virStoragePoolPtr pool = NULL;
	virStorageVolPtr vol = NULL;
	char *workload = NULL;
	bool found = false;
	int err = 1;

	if (domxml__validate_name(name)) {
		log_error("invalid VM name '%s'", name);
		return 2;
	}
	conn = prov_connect(o->uri);
	if (!conn)
		goto cleanup;
	dom = virDomainLookupByName(conn, name);
	if (dom) {
		found = true;
		workload = managed_workload(dom);
		if (!workload && !o->force) {
			log_error("domain '%s' was not created by kvmpilot (use --force to destroy "
				  "it anyway)",
				  name);
			goto cleanup;
		}
		if (virDomainIsActive(dom) == 1 && virDomainDestroy(dom) < 0 &&
		    virDomainIsActive(dom) == 1) {
			log_error("cannot stop domain '%s': %s", name, prov_errmsg());
			goto cleanup;
		}
		if (virDomainIsPersistent(dom) == 1 &&
		    virDomainUndefineFlags(dom, VIR_DOMAIN_UNDEFINE_MANAGED_SAVE |
							VIR_DOMAIN_UNDEFINE_SNAPSHOTS_METADATA) <
			    0) {
			log_error("cannot undefine domain '%s': %s", name, prov_errmsg());
			goto cleanup;
		}
	}
	pool = virStoragePoolLookupByName(conn, o->pool);
	if (pool) {
		(void)virStoragePoolRefresh(pool, 0);
		snprintf(volname, sizeof(volname), "%s.qcow2", name);
		vol = virStorageVolLookupByName(pool, volname);
		if (vol) {
			found = true;
			if (virStorageVolDelete(vol, 0) < 0) {
				log_error("cannot remove volume '%s': %s", volname, prov_errmsg());
				goto cleanup;
			}
		}
	}
	prov_state_path(o, "channels", name, ".agent.sock", path, sizeof(path));
	if (!unlink(path))
		found = true;
	prov_state_path(o, "channels", name, "", path, sizeof(path));
	if (prov_remove_channel_dir(path) > 0)
		found = true;
	prov_state_path(o, "console", name, ".log", path, sizeof(path));
	if (!o->keep_console && !unlink(path))
		found = true;
	if (!found) {
		log_error("no VM '%s' (no domain, volume, socket or console log)", name);
		goto cleanup;
	}
	printf("destroyed '%s'\n", name);
	err = 0;
cleanup:
	free(workload);
	if (vol)
		virStorageVolFree(vol);
	if (pool)
		virStoragePoolFree(pool);
	if (dom)
		virDomainFree(dom);
	prov_disconnect(conn);
	return err;
}

static const char *state_str(int state)
{
	switch (state) {
	case VIR_DOMAIN_RUNNING:
		return "running";
	case VIR_DOMAIN_BLOCKED:
		return "blocked";
	case VIR_DOMAIN_PAUSED:
		return "paused";
	case VIR_DOMAIN_SHUTDOWN:
		return "shutting-down";
	case VIR_DOMAIN_SHUTOFF:
		return "shut-off";
	case VIR_DOMAIN_CRASHED:
		return "crashed";
	case VIR_DOMAIN_PMSUSPENDED:
		return "suspended";
	default:
		return "unknown";
	}
}

/* Has the domain (live config when running) an agent channel? */
static bool has_agent_channel(virDomainPtr dom, unsigned int flags)
{
	char *xml = virDomainGetXMLDesc(dom, flags);
	bool has;

	if (!xml)
		return false;
	has = virt_xml__has_channel(xml, AGENTPROTO_CHANNEL) == 1;
	free(xml);
	return has;
}

int provision__list(const struct provision_opts *o)
{
	virConnectPtr conn = NULL;
	virDomainPtr *doms = NULL;
	json_object *arr = NULL;
	int n = -1, err = 1;

	conn = prov_connect(o->uri);
	if (!conn) {
		if (o->json)
			printf("{\"error\": \"cannot connect to libvirt\"}\n");
		goto cleanup;
	}
	n = virConnectListAllDomains(conn, &doms, 0);
	if (n < 0) {
		log_error("cannot list domains: %s", prov_errmsg());
		goto cleanup;
	}
	if (o->json) {
		arr = json_object_new_array();
		if (!arr)
			goto cleanup;
	} else {
		printf("%-24s %-10s %-7s %-9s %-11s %-6s %s\n", "NAME", "STATE", "KVMPILOT",
		       "WORKLOAD", "MEM MiB", "VCPUS", "AGENT");
	}
	for (int i = 0; i < n; i++) {
		virDomainPtr dom = doms[i];
		virDomainInfo info;
		int active = virDomainIsActive(dom) == 1;
		unsigned int vflags = active ? VIR_DOMAIN_AFFECT_LIVE : VIR_DOMAIN_AFFECT_CONFIG;
		int vcur = virDomainGetVcpusFlags(dom, vflags);
		int vmax = virDomainGetVcpusFlags(dom, vflags | VIR_DOMAIN_VCPU_MAXIMUM);
		char *workload = managed_workload(dom);
		bool agent = has_agent_channel(dom, active ? 0 : VIR_DOMAIN_XML_INACTIVE);
		const char *dname = virDomainGetName(dom);

		if (virDomainGetInfo(dom, &info) < 0)
			memset(&info, 0, sizeof(info));
		if (o->json) {
			json_object *v = json_object_new_object();

			json_object_object_add(v, "name", json_object_new_string(dname));
			json_object_object_add(v, "state",
					       json_object_new_string(state_str(info.state)));
			json_object_object_add(v, "managed", json_object_new_boolean(!!workload));
			json_object_object_add(v, "workload",
					       workload ? json_object_new_string(workload) : NULL);
			json_object_object_add(v, "memory_mib",
					       json_object_new_int64(info.memory / 1024));
			json_object_object_add(v, "memory_max_mib",
					       json_object_new_int64(info.maxMem / 1024));
			json_object_object_add(v, "vcpus", json_object_new_int(vcur));
			json_object_object_add(v, "vcpus_max", json_object_new_int(vmax));
			json_object_object_add(v, "agent_channel", json_object_new_boolean(agent));
			json_object_array_add(arr, v);
		} else {
			char mem[48], vc[32];

			snprintf(mem, sizeof(mem), "%lu/%lu", info.memory / 1024,
				 info.maxMem / 1024);
			snprintf(vc, sizeof(vc), "%d/%d", vcur, vmax);
			printf("%-24s %-10s %-7s %-9s %-11s %-6s %s\n", dname,
			       state_str(info.state), workload ? "yes" : "no",
			       workload && *workload ? workload : "-", mem, vc,
			       agent ? "yes" : "no");
		}
		free(workload);
	}
	if (o->json)
		printf("%s\n", json_object_to_json_string_ext(arr, JSON_C_TO_STRING_PLAIN));
	err = 0;
cleanup:
	json_object_put(arr);
	for (int i = 0; i < n; i++)
		virDomainFree(doms[i]);
	free(doms);
	prov_disconnect(conn);
	return err;
}

int provision__attach_agent(const char *name, const struct provision_opts *o)
{
	char path[PATH_MAX], dir[PATH_MAX], uuid[VIR_UUID_STRING_BUFLEN];
	const char *sockname = name;
	virConnectPtr conn = NULL;
	virDomainPtr dom = NULL;
	char *xml = NULL, *dev = NULL;
	int err = 1, rc;

	conn = prov_connect(o->uri);
	if (!conn)
		goto cleanup;
	/* Users' own domains may have any name libvirt accepts. */
	dom = virDomainLookupByName(conn, name);
	if (!dom) {
		log_error("no domain '%s': %s", name, prov_errmsg());
		goto cleanup;
	}
	if (domxml__validate_name(name)) {
		/* Not safe in a path: name the socket after the UUID instead. */
		if (virDomainGetUUIDString(dom, uuid) < 0) {
			log_error("cannot get the UUID of '%s': %s", name, prov_errmsg());
			goto cleanup;
		}
		sockname = uuid;
	}
	if (has_agent_channel(dom, VIR_DOMAIN_XML_INACTIVE)) {
		printf("'%s' already has the agent channel\n", name);
		err = 0;
		goto cleanup;
	}
	prov_path_join(dir, sizeof(dir), o->state_dir, "channels");
	rc = prov_ensure_dir(dir, 0750, getpwnam(QEMU_USER));
	if (rc) {
		log_error("cannot create '%s': %s", dir, strerror(-rc));
		goto cleanup;
	}
	prov_state_path(o, "channels", sockname, ".agent.sock", path, sizeof(path));
	xml = virDomainGetXMLDesc(dom, VIR_DOMAIN_XML_INACTIVE);
	if (!xml) {
		log_error("cannot read the configuration of '%s': %s", name, prov_errmsg());
		goto cleanup;
	}
	if (virt_xml__has_controller(xml, "virtio-serial") != 1) {
		rc = domxml__virtio_serial_controller(&dev);
		if (rc || virDomainAttachDeviceFlags(dom, dev, VIR_DOMAIN_AFFECT_CONFIG) < 0) {
			log_error("cannot add a virtio-serial controller to '%s': %s", name,
				  rc ? strerror(-rc) : prov_errmsg());
			goto cleanup;
		}
		free(dev);
		dev = NULL;
	}
	rc = domxml__agent_channel(path, &dev);
	if (rc) {
		log_error("cannot describe the channel for '%s': %s", name, strerror(-rc));
		goto cleanup;
	}
	if (virDomainAttachDeviceFlags(dom, dev, VIR_DOMAIN_AFFECT_CONFIG) < 0) {
		log_error("cannot add the agent channel to '%s': %s", name, prov_errmsg());
		goto cleanup;
	}
	if (o->live && virDomainIsActive(dom) == 1 && !has_agent_channel(dom, 0)) {
		(void)unlink(path);
		if (virDomainAttachDeviceFlags(dom, dev, VIR_DOMAIN_AFFECT_LIVE) < 0) {
			log_error("added to the configuration of '%s', but not live: %s", name,
				  prov_errmsg());
			goto cleanup;
		}
	}
	printf("added the agent channel '%s' to '%s'%s\n", path, name,
	       o->live ? "" : " (from its next start)");
	err = 0;
cleanup:
	free(dev);
	free(xml);
	if (dom)
		virDomainFree(dom);
	prov_disconnect(conn);
	return err;
}
