// SPDX-License-Identifier: GPL-2.0
/* The actuators' libvirt calls on one domain (see virt_domain.h). */
#include <errno.h>
#include <stdio.h>
#include <string.h>

#include <libvirt/libvirt.h>
#include <libvirt/virterror.h>

#include "util.h"
#include "virt_domain.h"
#include "virt_libvirt.h"

/* libvirt's last error as -errno and a message; a lost connection is noted. */
static int fail(struct virt *v, const char *step, struct virt_domain_err *e)
{
	virErrorPtr le = virGetLastError();
	int code = le ? le->code : VIR_ERR_INTERNAL_ERROR;
	int err = -EIO;

	e->step = step;
	(void)str_copy(e->msg, le && le->message ? le->message : "unknown libvirt error",
		       sizeof(e->msg));
	if (code == VIR_ERR_NO_DOMAIN || code == VIR_ERR_OPERATION_INVALID)
		err = -ENOENT;
	else if (code == VIR_ERR_OPERATION_TIMEOUT)
		err = -ETIMEDOUT;
	virResetLastError();
	if (err == -EIO)
		virt__note_error(v);
	return err;
}

/* The domain name on the live connection; NULL with -errno in *err. */
static virDomainPtr lookup(struct virt *v, const char *name, struct virt_domain_err *e, int *err)
{
	virConnectPtr conn = v ? virt__conn(v) : NULL;
	virDomainPtr dom;

	e->step = "";
	e->msg[0] = '\0';
	if (!conn) {
		e->step = "lookup";
		(void)str_copy(e->msg, "not connected to libvirt", sizeof(e->msg));
		*err = -ENOTCONN;
		return NULL;
	}
	dom = virDomainLookupByName(conn, name);
	if (!dom)
		*err = fail(v, "lookup", e);
	return dom;
}

int virt__domain_read(struct virt *v, const char *name, unsigned int what,
		      struct virt_domain_now *now, struct virt_domain_err *e)
{
	virDomainPtr dom;
	virDomainInfo di;
	int n, err = -EIO;

	memset(now, 0, sizeof(*now));
	dom = lookup(v, name, e, &err);
	if (!dom)
		return err;
	if (virDomainGetInfo(dom, &di) < 0) {
		err = fail(v, "reading the domain", e);
		goto cleanup;
	}
	now->active = di.state == VIR_DOMAIN_RUNNING || di.state == VIR_DOMAIN_PAUSED ||
		      di.state == VIR_DOMAIN_BLOCKED;
	now->cur_memory_kib = di.memory;
	now->max_memory_kib = di.maxMem;
	if (what & VIRT_READ_VCPUS) {
		n = virDomainGetVcpusFlags(dom, VIR_DOMAIN_AFFECT_LIVE | VIR_DOMAIN_VCPU_MAXIMUM);
		if (n < 0) {
			err = fail(v, "reading the maximum vCPUs", e);
			goto cleanup;
		}
		now->max_vcpus = n;
		n = virDomainGetVcpusFlags(dom, VIR_DOMAIN_AFFECT_LIVE);
		if (n < 0) {
			err = fail(v, "reading the vCPU count", e);
			goto cleanup;
		}
		now->cur_vcpus = n;
	}
	err = 0;
cleanup:
	(void)virDomainFree(dom);
	return err;
}

int virt__set_balloon(struct virt *v, const char *name, uint64_t kib, struct virt_domain_err *e)
{
	virDomainPtr dom;
	int err = -EIO;

	dom = lookup(v, name, e, &err);
	if (!dom)
		return err;
	if (virDomainSetMemoryFlags(dom, kib, VIR_DOMAIN_AFFECT_LIVE) < 0) {
		err = fail(v, "setting the balloon", e);
		goto cleanup;
	}
	err = 0;
cleanup:
	(void)virDomainFree(dom);
	return err;
}

int virt__set_vcpus(struct virt *v, const char *name, unsigned int n, struct virt_domain_err *e)
{
	virDomainPtr dom;
	int err = -EIO;

	dom = lookup(v, name, e, &err);
	if (!dom)
		return err;
	if (virDomainSetVcpusFlags(dom, n, VIR_DOMAIN_AFFECT_LIVE) < 0) {
		err = fail(v, "setting the vCPU count", e);
		goto cleanup;
	}
	err = 0;
cleanup:
	(void)virDomainFree(dom);
	return err;
}
