/* SPDX-License-Identifier: GPL-2.0 */
/*
 * Provisioning behind 'kvmpilot vm': guests from the image of 'make guest'
 * through libvirt's API. Each guest gets a qcow2 overlay on one shared base
 * volume in a libvirt storage pool, a tap, the agent channel, balloon
 * statistics and its serial console in a file.
 *
 * Files, under the state folder (default PROVISION_DEFAULT_STATE):
 *   pool/      the storage pool: the base volume and NAME.qcow2 overlays
 *   images/    copies of vmlinuz and initramfs.gz that QEMU can read
 *   channels/  NAME.agent.sock, the agent channel sockets (owned by QEMU's user),
 *              and NAME/CHANNEL.sock for the ports of --channel
 *   console/   NAME.log, each guest's serial console
 *
 * provision.c holds the commands and the domain calls, provision_storage.c
 * the pool and volumes, provision_files.c what happens on the host's file
 * system and network (no libvirt). cmd_vm.c is the command line over them.
 */
#ifndef KVMPILOT_PROVISION_H
#define KVMPILOT_PROVISION_H

#include <stdbool.h>
#include <stdint.h>

#include "domxml.h"

#define PROVISION_DEFAULT_STATE "/var/lib/kvmpilot"
#define PROVISION_DEFAULT_POOL	"kvmpilot"
/* STATE/channels/NAME.agent.sock must fit in a unix socket address. */
#define PROVISION_STATE_MAX 48

struct provision_opts {
	const char *uri;
	const char *state_dir;
	const char *pool;
	const char *pool_dir; /* NULL: STATE/pool */
	const char *image_dir;
	const char *virt_type; /* "auto", "kvm", "qemu" */
	const char *workload;
	const char *workload_args;
	const char *ip;
	const char *host_ip;
	const char *channels[DOMXML_CHANNELS_MAX]; /* --channel NAME */
	unsigned int n_channels;
	uint64_t memory_mib;
	uint64_t memory_max_mib;
	uint64_t disk_mib;
	unsigned int vcpus;
	unsigned int vcpus_max;
	enum domxml_cache cache;
	enum domxml_io io;
	bool no_start;
	bool json;
	bool force;
	bool live;
	bool keep_console;
};

/* Defaults, then $KVMPILOT_URI, _STATE_DIR, _POOL, _POOL_DIR, _GUEST_DIR, _VIRT_TYPE. */
void provision_opts__init(struct provision_opts *o);

/*
 * The commands. Each prints what a user reads, logs its errors once and
 * returns the command's exit status: 0, 1 (failed) or 2 (invalid request).
 */
int provision__create(const char *name, const struct provision_opts *o);
int provision__destroy(const char *name, const struct provision_opts *o);
int provision__list(const struct provision_opts *o);
int provision__attach_agent(const char *name, const struct provision_opts *o);
/* Removes the base volume and the pool, when no VM volume is left in it. */
int provision__pool_delete(const struct provision_opts *o);

#endif /* KVMPILOT_PROVISION_H */
