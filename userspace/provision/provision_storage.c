// SPDX-License-Identifier: GPL-2.0
/*
 * Provisioning's storage: the libvirt pool (a 'dir' pool under the state
 * folder), the shared empty base volume, one qcow2 overlay per VM, and the
 * pool's removal.
 */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <unistd.h>

#include <libvirt/libvirt.h>

#include "provision_priv.h"
#include "util.h"

static int pool_dir_of(const struct provision_opts *o, char *buf, size_t size)
{
	if (o->pool_dir)
		return str_copy(buf, o->pool_dir, size);
	return prov_path_join(buf, size, o->state_dir, "pool");
}

/* The pool, created (a 'dir' pool) and started when absent or inactive. */
static virStoragePoolPtr ensure_pool(virConnectPtr conn, const struct provision_opts *o)
{
	virStoragePoolPtr pool = NULL;
	char dir[PATH_MAX], *xml = NULL;
	int active, err;

	pool = virStoragePoolLookupByName(conn, o->pool);
	if (!pool) {
		err = pool_dir_of(o, dir, sizeof(dir));
		if (!err)
			err = domxml__pool(o->pool, dir, &xml);
		if (err) {
			log_error("cannot describe pool '%s': %s", o->pool, strerror(-err));
			return NULL;
		}
		pool = virStoragePoolDefineXML(conn, xml, 0);
		free(xml);
		if (!pool) {
			/* Another kvmpilot may have defined it meanwhile. */
			pool = virStoragePoolLookupByName(conn, o->pool);
			if (!pool) {
				log_error("cannot define pool '%s': %s", o->pool, prov_errmsg());
				return NULL;
			}
		} else {
			if (virStoragePoolBuild(pool, 0) < 0)
				log_warn("building pool '%s': %s", o->pool, prov_errmsg());
			(void)virStoragePoolSetAutostart(pool, 1);
			log_info("defined storage pool '%s' at '%s'", o->pool, dir);
		}
	}
	active = virStoragePoolIsActive(pool);
	if (active == 0 && virStoragePoolCreate(pool, 0) < 0 && virStoragePoolIsActive(pool) != 1) {
		log_error("cannot start pool '%s': %s", o->pool, prov_errmsg());
		virStoragePoolFree(pool);
		return NULL;
	}
	(void)virStoragePoolRefresh(pool, 0);
	return pool;
}

/* The shared base volume: an empty qcow2 every overlay is backed by. */
static virStorageVolPtr ensure_base(virStoragePoolPtr pool, const struct provision_opts *o)
{
	virStorageVolPtr vol;
	char *xml = NULL;
	int err;

	vol = virStorageVolLookupByName(pool, BASE_VOLUME);
	if (vol)
		return vol;
	err = domxml__base_volume(BASE_VOLUME, o->disk_mib, &xml);
	if (err) {
		log_error("cannot describe base volume: %s", strerror(-err));
		return NULL;
	}
	vol = virStorageVolCreateXML(pool, xml, 0);
	free(xml);
	if (!vol) {
		vol = virStorageVolLookupByName(pool, BASE_VOLUME);
		if (!vol)
			log_error("cannot create base volume '%s': %s", BASE_VOLUME, prov_errmsg());
	}
	return vol;
}

/*
 * This VM's overlay on the shared base volume of the pool; NULL after
 * logging. Creates run in parallel (the demo's, the tests'): the first one
 * makes the pool and the base while the others wait on STATE/storage.lock,
 * or they would see a base volume libvirt lists but has not written yet.
 */
virStorageVolPtr prov_make_overlay(virConnectPtr conn, const char *name,
				   const struct provision_opts *o)
{
	char volname[DOMXML_NAME_MAX + 8], lock[PATH_MAX], *xml = NULL, *base_path = NULL;
	virStoragePoolPtr pool = NULL;
	virStorageVolPtr base = NULL, vol = NULL;
	int rc, lock_fd = -1;

	if (prov_path_join(lock, sizeof(lock), o->state_dir, "storage.lock")) {
		log_error("path too long for the storage lock");
		goto cleanup;
	}
	lock_fd = open(lock, O_RDWR | O_CREAT | O_CLOEXEC, 0600);
	if (lock_fd < 0 || flock(lock_fd, LOCK_EX)) {
		log_error("cannot lock '%s': %s", lock, strerror(errno));
		goto cleanup;
	}
	pool = ensure_pool(conn, o);
	if (pool)
		base = ensure_base(pool, o);
	if (!base)
		goto cleanup;
	base_path = virStorageVolGetPath(base);
	if (!base_path) {
		log_error("cannot get the base volume's path: %s", prov_errmsg());
		goto cleanup;
	}
	snprintf(volname, sizeof(volname), "%s.qcow2", name);
	vol = virStorageVolLookupByName(pool, volname);
	if (vol) {
		/* Left over from a VM that no longer exists: start afresh. */
		log_warn("removing stale volume '%s'", volname);
		(void)virStorageVolDelete(vol, 0);
		virStorageVolFree(vol);
		vol = NULL;
	}
	rc = domxml__overlay_volume(volname, o->disk_mib, base_path, &xml);
	if (rc) {
		log_error("cannot describe volume '%s': %s", volname, strerror(-rc));
		goto cleanup;
	}
	vol = virStorageVolCreateXML(pool, xml, 0);
	if (!vol)
		log_error("cannot create volume '%s': %s", volname, prov_errmsg());
cleanup:
	if (lock_fd >= 0)
		close(lock_fd); /* and with it the lock */
	free(xml);
	free(base_path);
	if (base)
		virStorageVolFree(base);
	if (pool)
		virStoragePoolFree(pool);
	return vol;
}

/* Removes the base volume and the pool, when no VM volume is left in it. */
int provision__pool_delete(const struct provision_opts *o)
{
	virConnectPtr conn = NULL;
	virStoragePoolPtr pool = NULL;
	virStorageVolPtr base = NULL;
	int err = 1, nvols;

	conn = prov_connect(o->uri);
	if (!conn)
		goto cleanup;
	pool = virStoragePoolLookupByName(conn, o->pool);
	if (!pool) {
		printf("no pool '%s'\n", o->pool);
		err = 0;
		goto cleanup;
	}
	if (virStoragePoolIsActive(pool) == 1) {
		(void)virStoragePoolRefresh(pool, 0);
		base = virStorageVolLookupByName(pool, BASE_VOLUME);
		nvols = virStoragePoolNumOfVolumes(pool);
		if (nvols > (base ? 1 : 0) && !o->force) {
			log_error(
				"pool '%s' still holds %d volume(s) besides the base (use --force)",
				o->pool, nvols - (base ? 1 : 0));
			goto cleanup;
		}
		if (base && virStorageVolDelete(base, 0) < 0) {
			log_error("cannot remove the base volume: %s", prov_errmsg());
			goto cleanup;
		}
		if (virStoragePoolDestroy(pool) < 0) {
			log_error("cannot stop pool '%s': %s", o->pool, prov_errmsg());
			goto cleanup;
		}
	}
	if (virStoragePoolDelete(pool, 0) < 0)
		log_warn("cannot remove the folder of pool '%s': %s", o->pool, prov_errmsg());
	if (virStoragePoolUndefine(pool) < 0) {
		log_error("cannot undefine pool '%s': %s", o->pool, prov_errmsg());
		goto cleanup;
	}
	printf("removed pool '%s'\n", o->pool);
	err = 0;
cleanup:
	if (base)
		virStorageVolFree(base);
	if (pool)
		virStoragePoolFree(pool);
	prov_disconnect(conn);
	return err;
}
