/* SPDX-License-Identifier: GPL-2.0 */
/*
 * The libvirt wing's calls that take or give libvirt's own types: for the
 * wing itself (virt_*.c), provisioning and tests. Everyone else uses
 * virt.h, which needs no libvirt.h.
 */
#ifndef KVMPILOT_VIRT_LIBVIRT_H
#define KVMPILOT_VIRT_LIBVIRT_H

#include <libvirt/libvirt.h>

#include "virt.h"

/*
 * The live connection, NULL while disconnected. Borrowed: do not close it.
 * Call virt__note_error() when a call on it failed.
 */
virConnectPtr virt__conn(struct virt *v);

/*
 * Parse one stats record's typed parameters (exposed for tests). Returns 0, or
 * -ENAMETOOLONG when name does not fit (st->name is then "").
 */
int virt_dom_stats__parse(struct virt_dom_stats *st, const char *name,
			  const virTypedParameter *params, int nparams);

#endif /* KVMPILOT_VIRT_LIBVIRT_H */
