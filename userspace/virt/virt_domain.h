/* SPDX-License-Identifier: GPL-2.0 */
/*
 * What the actuators ask of one libvirt domain: read its state, balloon and
 * vCPU counts, set the live balloon, set the live vCPU count. Every call
 * looks the domain up by name on the handle's live connection (virt.h), so
 * a caller never holds a virDomainPtr and never includes libvirt.h.
 *
 * Every call returns 0 or -errno: -ENOTCONN (no handle, not connected),
 * -ENOENT (no such domain, or it vanished in the middle), -ETIMEDOUT, -EIO
 * (libvirt refused or failed). On failure err->step names the step that
 * failed ("lookup", "reading the balloon", ...) and err->msg holds libvirt's
 * message; -EIO and -ENOTCONN are also noted on the handle so a lost
 * connection is seen at once (virt__note_error()).
 */
#ifndef KVMPILOT_VIRT_DOMAIN_H
#define KVMPILOT_VIRT_DOMAIN_H

#include <stdbool.h>
#include <stdint.h>

struct virt;

/* What to read in virt__domain_read(). */
enum virt_domain_read {
	VIRT_READ_MEMORY = 1 << 0,
	VIRT_READ_VCPUS = 1 << 1,
};

struct virt_domain_now {
	bool active;		 /* running, paused or blocked: can be acted on */
	uint64_t cur_memory_kib; /* the balloon now (VIRT_READ_MEMORY) */
	uint64_t max_memory_kib; /* <memory>: the balloon's ceiling */
	int cur_vcpus;		 /* what QEMU has plugged (VIRT_READ_VCPUS) */
	int max_vcpus;		 /* the live maximum */
};

struct virt_domain_err {
	const char *step; /* a static string, "" when none */
	char msg[160];
};

/* The domain's state and what `what` (enum virt_domain_read bits) asks for. */
int virt__domain_read(struct virt *v, const char *name, unsigned int what,
		      struct virt_domain_now *now, struct virt_domain_err *err);

/* Set the live balloon target (KiB). */
int virt__set_balloon(struct virt *v, const char *name, uint64_t kib, struct virt_domain_err *err);

/* Set the live vCPU count (hot-add or hot-remove). */
int virt__set_vcpus(struct virt *v, const char *name, unsigned int n, struct virt_domain_err *err);

#endif /* KVMPILOT_VIRT_DOMAIN_H */
