// SPDX-License-Identifier: GPL-2.0
/*
 * The running domains as libvirt lists them: the full re-list, one domain's
 * re-read after an event, what the host adds (QEMU pid, vCPU threads, tap
 * ifindex, disk inodes), and the merge with the /proc scan.
 */
#include <errno.h>
#include <fcntl.h>
#include <net/if.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <libvirt/virterror.h>

#include "util.h"
#include "virt_priv.h"
#include "virt_xml.h"

#define STATUS_XML_MAX (4u << 20)

/* Read a whole file of at most max bytes; *out is malloc'ed and NUL terminated. */
static int read_all(const char *path, size_t max, char **out)
{
	size_t len = 0, cap = 16384;
	char *buf = NULL, *nbuf;
	int fd = -1, err = -ENOMEM;

	fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd < 0) {
		err = -errno;
		goto cleanup;
	}
	buf = malloc(cap);
	if (!buf)
		goto cleanup;
	for (;;) {
		ssize_t n;

		if (len + 1 >= cap) {
			if (cap >= max) {
				err = -EFBIG;
				goto cleanup;
			}
			cap *= 2;
			nbuf = realloc(buf, cap);
			if (!nbuf)
				goto cleanup;
			buf = nbuf;
		}
		n = read(fd, buf + len, cap - 1 - len);
		if (n < 0) {
			if (errno == EINTR)
				continue;
			err = -errno;
			goto cleanup;
		}
		if (n == 0)
			break;
		len += n;
	}
	buf[len] = '\0';
	*out = buf;
	buf = NULL;
	err = 0;
cleanup:
	free(buf);
	if (fd >= 0)
		(void)close(fd);
	return err;
}

struct dom_entry *virt_doms__find(struct virt *v, const char *name)
{
	for (int i = 0; i < v->ndoms; i++) {
		if (!strcmp(v->doms[i].vm.name, name))
			return &v->doms[i];
	}
	return NULL;
}

void virt_doms__remove(struct virt *v, struct dom_entry *e)
{
	int i = (int)(e - v->doms);

	memmove(&v->doms[i], &v->doms[i + 1], (size_t)(v->ndoms - i - 1) * sizeof(*e));
	v->ndoms--;
}

static struct dom_entry *dom_add(struct virt *v)
{
	if (v->ndoms == v->capdoms) {
		int cap = v->capdoms ? v->capdoms * 2 : 16;
		struct dom_entry *d = realloc(v->doms, (size_t)cap * sizeof(*d));

		if (!d)
			return NULL;
		v->doms = d;
		v->capdoms = cap;
	}
	memset(&v->doms[v->ndoms], 0, sizeof(v->doms[0]));
	return &v->doms[v->ndoms++];
}

/* ---- domain reading ------------------------------------------------------ */

static void read_runtime(struct virt *v, struct vm_desc *vm)
{
	char path[VM_PATH_MAX + VM_NAME_MAX + 8], buf[32];
	char *xml = NULL;
	uint64_t pid;

	vm->pid = 0;
	vm->nvcpus = 0;
	snprintf(path, sizeof(path), "%s/%s.pid", v->run_dir, vm->name);
	if (read_file_str(path, buf, sizeof(buf)) > 0) {
		buf[strcspn(buf, "\n")] = '\0';
		if (!parse_u64(buf, 1, INT32_MAX, &pid))
			vm->pid = (int)pid;
	}
	snprintf(path, sizeof(path), "%s/%s.xml", v->run_dir, vm->name);
	if (vm->pid && !read_all(path, STATUS_XML_MAX, &xml))
		(void)virt__parse_status_vcpus(xml, vm);
	free(xml);
	for (int i = 0; i < vm->ntaps; i++)
		vm->taps[i].ifindex = (int)if_nametoindex(vm->taps[i].ifname);
	for (int i = 0; i < vm->ndisks; i++) {
		struct stat st;

		if (vm->disks[i].path[0] == '/' && !stat(vm->disks[i].path, &st)) {
			vm->disks[i].dev = S_ISBLK(st.st_mode) ? st.st_rdev : st.st_dev;
			vm->disks[i].ino = st.st_ino;
		}
	}
}

/*
 * Read one domain into e. Returns 1 when it is running and was read, 0 when
 * it is not running, -errno on failure.
 */
static int read_domain(struct virt *v, virDomainPtr dom, struct vm_desc *vm,
		       struct virt_dom_info *info)
{
	virDomainInfo di;
	char *xml = NULL;
	int err = -EIO;

	memset(vm, 0, sizeof(*vm));
	memset(info, 0, sizeof(*info));
	if (virDomainGetInfo(dom, &di) < 0) {
		virt_conn__note_err(v);
		goto cleanup;
	}
	if (di.state == VIR_DOMAIN_SHUTOFF) {
		err = 0;
		goto cleanup;
	}
	xml = virDomainGetXMLDesc(dom, 0);
	if (!xml) {
		virt_conn__note_err(v);
		goto cleanup;
	}
	err = virt__parse_domain_xml(xml, vm, info);
	if (err == -ENAMETOOLONG) {
		const char *name = virDomainGetName(dom);

		snprintf(v->err, sizeof(v->err),
			 "domain name of %zu bytes not watched (at most %d)",
			 name ? strlen(name) : 0, VM_NAME_MAX - 1);
		goto cleanup;
	}
	if (err < 0)
		goto cleanup;
	info->id = (int)virDomainGetID(dom);
	info->state = di.state;
	info->cur_memory_kib = di.memory;
	info->max_memory_kib = di.maxMem;
	info->updated_ns = now_mono_ns();
	vm->source = VM_SOURCE_LIBVIRT;
	read_runtime(v, vm);
	err = 1;
cleanup:
	free(xml);
	return err;
}

/* Store a freshly read domain; returns 1 when something changed. */
static int store(struct virt *v, const struct vm_desc *vm, const struct virt_dom_info *info)
{
	struct dom_entry *e = virt_doms__find(v, vm->name);
	int changed = 0;

	if (!e) {
		e = dom_add(v);
		if (!e)
			return -ENOMEM;
		changed = 1;
	} else if (memcmp(&e->vm, vm, sizeof(*vm)) || e->info.cur_vcpus != info->cur_vcpus ||
		   e->info.max_memory_kib != info->max_memory_kib) {
		changed = 1;
	}
	e->vm = *vm;
	e->info = *info;
	e->seen = true;
	return changed;
}

int virt_doms__refresh_one(struct virt *v, const char *name)
{
	struct virt_dom_info info;
	struct dom_entry *e;
	struct vm_desc vm;
	virDomainPtr dom;
	int r;

	dom = virDomainLookupByName(v->conn, name);
	if (!dom) {
		virErrorPtr verr = virGetLastError();
		bool gone = verr && verr->code == VIR_ERR_NO_DOMAIN;

		virt_conn__note_err(v);
		if (!gone)
			return virt_conn__alive(v) ? -EIO : -ENOTCONN;
		r = 0;
	} else {
		r = read_domain(v, dom, &vm, &info);
		(void)virDomainFree(dom);
		if (r < 0)
			return virt_conn__alive(v) ? 0 : -ENOTCONN; /* vanished meanwhile */
	}
	if (r == 1)
		return store(v, &vm, &info);
	e = virt_doms__find(v, name);
	if (e) {
		virt_doms__remove(v, e);
		return 1;
	}
	return 0;
}

int virt_doms__refresh_all(struct virt *v)
{
	virDomainPtr *doms = NULL;
	uint64_t start = now_mono_ns();
	int n, changes = 0, refused = 0, err = -EIO;

	n = virConnectListAllDomains(v->conn, &doms, VIR_CONNECT_LIST_DOMAINS_ACTIVE);
	if (n < 0) {
		virt_conn__note_err(v);
		err = virt_conn__alive(v) ? -EIO : -ENOTCONN;
		goto cleanup;
	}
	for (int i = 0; i < v->ndoms; i++)
		v->doms[i].seen = false;
	for (int i = 0; i < n; i++) {
		struct virt_dom_info info;
		struct vm_desc vm;
		int r = read_domain(v, doms[i], &vm, &info);

		if (r == -ENAMETOOLONG) {
			refused++;
		} else if (r == 1) {
			r = store(v, &vm, &info);
			if (r < 0) {
				err = r;
				goto cleanup;
			}
			changes += r;
		} else if (r < 0) {
			/* keep what we knew of a domain we failed to read this time */
			struct dom_entry *e = virt_doms__find(v, virDomainGetName(doms[i]));

			if (e)
				e->seen = true;
		}
	}
	for (int i = 0; i < v->ndoms;) {
		if (!v->doms[i].seen) {
			virt_doms__remove(v, &v->doms[i]);
			changes++;
		} else {
			i++;
		}
	}
	v->cnt.refreshes++;
	v->cnt.names_refused = refused;
	v->cnt.last_refresh_ns = now_mono_ns() - start;
	v->next_refresh_ns = now_mono_ns() + v->refresh_ns;
	err = changes;
cleanup:
	for (int i = 0; doms && i < n; i++)
		(void)virDomainFree(doms[i]);
	free(doms);
	return err;
}

int virt__refresh(struct virt *v, const char *name)
{
	if (!name || !*name)
		return -EINVAL;
	if (!virt__conn(v))
		return -ENOTCONN;
	return virt_doms__refresh_one(v, name);
}

int virt__list(struct virt *v, struct vm_list *list)
{
	vm_list__clear(list);
	for (int i = 0; i < v->ndoms; i++) {
		struct vm_desc *vm = vm_list__add(list);

		if (!vm)
			return -ENOMEM;
		*vm = v->doms[i].vm;
	}
	return list->n;
}

int virt__info(struct virt *v, const char *name, struct virt_dom_info *info)
{
	struct dom_entry *e = name ? virt_doms__find(v, name) : NULL;

	if (!e)
		return -ENOENT;
	*info = e->info;
	return 0;
}

/* ---- merging with the /proc scan ---------------------------------------- */

int virt__merge(struct vm_list *out, const struct vm_list *lv, const struct vm_list *proc)
{
	vm_list__clear(out);
	for (int i = 0; lv && i < lv->n; i++) {
		const struct vm_desc *p =
			proc && lv->vms[i].pid ? vm_list__find_pid(proc, lv->vms[i].pid) : NULL;
		struct vm_desc *vm = vm_list__add(out);

		if (!vm)
			return -ENOMEM;
		*vm = lv->vms[i];
		if (!p)
			continue;
		vm->source |= p->source;
		vm->start_time = p->start_time;
		/*
		 * libvirt's vCPU threads first; the scan adds threads libvirt does
		 * not list (yet): a hot-added vCPU before the status XML is re-read
		 */
		for (int k = 0; k < p->nvcpus && vm->nvcpus < VM_MAX_VCPUS; k++) {
			bool known = false;

			for (int t = 0; t < vm->nvcpus; t++)
				known |= vm->vcpus[t].tid == p->vcpus[k].tid;
			if (!known)
				vm->vcpus[vm->nvcpus++] = p->vcpus[k];
		}
		for (int t = 0; t < vm->ntaps; t++) {
			for (int k = 0; !vm->taps[t].ifindex && k < p->ntaps; k++) {
				if (!strcmp(p->taps[k].ifname, vm->taps[t].ifname))
					vm->taps[t].ifindex = p->taps[k].ifindex;
			}
		}
		for (int k = 0; k < p->ntaps && vm->ntaps < VM_MAX_TAPS; k++) {
			bool known = false;

			for (int t = 0; t < vm->ntaps; t++)
				known |= !strcmp(p->taps[k].ifname, vm->taps[t].ifname);
			if (!known)
				vm->taps[vm->ntaps++] = p->taps[k];
		}
		for (int d = 0; d < vm->ndisks; d++) {
			for (int k = 0; k < p->ndisks; k++) {
				if (!strcmp(p->disks[k].path, vm->disks[d].path) ||
				    (p->disks[k].ino && p->disks[k].ino == vm->disks[d].ino &&
				     p->disks[k].dev == vm->disks[d].dev)) {
					vm->disks[d].fd = p->disks[k].fd;
					if (!vm->disks[d].ino) {
						vm->disks[d].dev = p->disks[k].dev;
						vm->disks[d].ino = p->disks[k].ino;
					}
					break;
				}
			}
		}
		if (!vm->channel_path[0])
			(void)str_copy(vm->channel_path, p->channel_path, sizeof(vm->channel_path));
	}
	for (int i = 0; proc && i < proc->n; i++) {
		struct vm_desc *vm;

		if (proc->vms[i].pid && lv && vm_list__find_pid(lv, proc->vms[i].pid))
			continue;
		vm = vm_list__add(out);
		if (!vm)
			return -ENOMEM;
		*vm = proc->vms[i];
	}
	return out->n;
}

int virt__channel_path(const char *uri, const char *name, const char *channel, char *path,
		       size_t size, char *why, size_t why_size)
{
	virConnectPtr conn = NULL;
	virDomainPtr dom = NULL;
	char *xml = NULL;
	const char *msg;
	int err = -ECONNREFUSED;

	virt__quiet_errors();
	conn = virConnectOpenReadOnly(uri);
	if (!conn)
		goto cleanup;
	err = -ENOENT;
	dom = virDomainLookupByName(conn, name);
	if (!dom)
		goto cleanup;
	err = -EIO;
	xml = virDomainGetXMLDesc(dom, 0);
	if (!xml)
		goto cleanup;
	err = virt_xml__channel_path(xml, channel, path, size);
	if (err && err != -E2BIG)
		err = -ENODATA;
cleanup:
	msg = err == -ECONNREFUSED || err == -ENOENT || err == -EIO ? virGetLastErrorMessage() : "";
	(void)str_copy(why, msg ? msg : "", why_size);
	virResetLastError();
	free(xml);
	if (dom)
		(void)virDomainFree(dom);
	/* > 0 would mean a leaked reference; nothing to do about it here */
	if (conn)
		(void)virConnectClose(conn);
	return err;
}

bool virt_dom_info__running(const struct virt_dom_info *info)
{
	return info->state == VIR_DOMAIN_RUNNING;
}
