/* SPDX-License-Identifier: GPL-2.0 */
/* Inside provisioning: what provision.c, provision_storage.c and provision_files.c share. */
#ifndef KVMPILOT_PROVISION_PRIV_H
#define KVMPILOT_PROVISION_PRIV_H

#include <limits.h>
#include <pwd.h>
#include <stddef.h>
#include <sys/types.h>

#include <libvirt/libvirt.h>

#include "provision.h"

#define BASE_VOLUME	 "kvmpilot-base.qcow2"
#define QEMU_USER	 "libvirt-qemu"
#define SYSTEM_GUEST_DIR "/usr/share/kvmpilot/guest"
#define QEMU_CAPS_CACHE	 "/var/cache/libvirt/qemu/capabilities"
/* A libvirt call slower than this tells the user what it waits for. */
#define SLOW_CALL_MS 3000
/* sizeof(struct sockaddr_un.sun_path) */
#define UNIX_PATH_MAX 108

/* The files of one VM under the state folder. */
struct vm_files {
	char kernel[PATH_MAX];
	char initrd[PATH_MAX];
	char chan[PATH_MAX];
	char console[PATH_MAX];
	char chan_dir[PATH_MAX];		   /* STATE/channels/NAME, for --channel */
	char extra[DOMXML_CHANNELS_MAX][PATH_MAX]; /* its sockets */
};

/* provision.c: the connection, and libvirt's last message. */
virConnectPtr prov_connect(const char *uri);
void prov_disconnect(virConnectPtr conn);
const char *prov_errmsg(void);

/* provision_storage.c: this VM's overlay on the shared base; NULL after logging. */
virStorageVolPtr prov_make_overlay(virConnectPtr conn, const char *name,
				   const struct provision_opts *o);

/* provision_files.c: the host's side, no libvirt. */
int prov_path_join(char *buf, size_t size, const char *a, const char *b);
/* mkdir -p for one level below an existing parent, with mode and owner. */
int prov_ensure_dir(const char *path, mode_t mode, const struct passwd *owner);
void prov_state_path(const struct provision_opts *o, const char *sub, const char *name,
		     const char *suffix, char *buf, size_t size);
/* The options of create that need no libvirt: 0, or 2 after logging why. */
int prov_validate_create(const char *name, const struct provision_opts *o);
/* Image copies, folders and socket paths; 0 or -errno after logging. */
int prov_prepare_files(const char *name, const struct provision_opts *o, struct vm_files *f);
/* Sockets of a VM that no longer exists would make QEMU fail to bind. */
void prov_remove_stale_sockets(const struct vm_files *f, const struct provision_opts *o);
/* STATE/channels/NAME of --channel: its sockets, then itself. 1 when it existed. */
int prov_remove_channel_dir(const char *dir);
int prov_set_host_ip(const char *ifname, const char *cidr);
bool prov_cpu_has_hw_virt(void);
/* Newest modification of libvirt's QEMU capabilities cache, 0 when unknown. */
uint64_t prov_caps_cache_mtime_ns(void);
/* Can QEMU's user open /dev/kvm for reading and writing, by its mode bits? */
bool prov_kvm_dev_usable_by(const struct passwd *pw);

#endif /* KVMPILOT_PROVISION_PRIV_H */
