// SPDX-License-Identifier: GPL-2.0
/*
 * Userspace side of the BPF features: open the four skeletons against one
 * pin root (the tracking and counter maps are pinned by name, so they are
 * shared and outlive us), fill the tracking tables from a vm_list, and read
 * the counters back per VM.
 */
#include <errno.h>
#include <stddef.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>
#include <fcntl.h>
#include <sys/file.h>
#include <sys/mman.h>
#include <sys/mount.h>
#include <sys/stat.h>
#include <sys/statfs.h>
#include <sys/sysmacros.h>
#include <linux/magic.h>

#include <bpf/bpf.h>
#include <bpf/libbpf.h>

#include "track.h"
#include "vcpu.h"
#include "kvmexit.h"
#include "tapio.h"
#include "blkio.h"
#include "vcpu.skel.h"
#include "kvmexit.skel.h"
#include "tapio.skel.h"
#include "blkio.skel.h"

#include "trace.h"
#include "util.h"

#define TRACEFS_ROOT "/sys/kernel/tracing"
#define BPFFS_ROOT   "/sys/fs/bpf"

/* The pinned maps, as trace__unpin removes them. */
static const char *const pinned_maps[] = { "tgids",    "vms",	    "vcpus", "taps",
					   "disk_fds", "disk_devs", "blk",   "exits" };

struct trace {
	char pin_root[VM_PATH_MAX];
	struct vcpu_bpf *vcpu;
	struct kvmexit_bpf *kvmexit;
	struct tapio_bpf *tapio;
	struct blkio_bpf *blkio;
	int vms_fd, vcpus_fd;
	uint64_t *tgids; /* the tgids bitmap map, mmap()ed */
	int taps_fd, disk_fds_fd, disk_devs_fd, blk_fd, exits_fd;
	struct vm_list vms;	     /* copy of the last sync */
	struct vm_list live;	     /* scratch for trace__sync: VMs whose entries may stay */
	struct vm_list synced;	     /* scratch for trace__sync: VMs whose entries are in place */
	unsigned long sync_failures; /* entries (a VM, a map's prune) that failed, ever */
	int sync_last_error;	     /* the first error of the last sync, 0 when none */
	int lock_fd;		     /* the pin root, flock()ed: one tracer per pin root */
	bool pins_replaced;	     /* incompatible pins were found and replaced */
};

const char *trace__default_pin_root(const char *opts_pin_root)
{
	const char *env;

	if (opts_pin_root && *opts_pin_root)
		return opts_pin_root;
	env = getenv(TRACE_PIN_ROOT_ENV);
	if (env && *env)
		return env;
	return TRACE_PIN_ROOT_DEFAULT;
}

static bool fs_is(const char *path, long magic)
{
	struct statfs st;

	return statfs(path, &st) == 0 && st.f_type == magic;
}

int trace__ensure_fs(void)
{
	if (!fs_is(BPFFS_ROOT, BPF_FS_MAGIC)) {
		if (mkdir(BPFFS_ROOT, 0700) && errno != EEXIST)
			return -errno;
		if (mount("bpf", BPFFS_ROOT, "bpf", 0, "mode=0700"))
			return -errno;
	}
	if (!fs_is(TRACEFS_ROOT, TRACEFS_MAGIC)) {
		if (mount("tracefs", TRACEFS_ROOT, "tracefs", 0, NULL))
			return -errno;
	}
	return 0;
}

static bool tracepoint_exists(const char *cat, const char *name)
{
	char path[256];

	snprintf(path, sizeof(path), TRACEFS_ROOT "/events/%s/%s", cat, name);
	return access(path, F_OK) == 0;
}

static void destroy_skels(struct trace *t)
{
	blkio_bpf__destroy(t->blkio);
	tapio_bpf__destroy(t->tapio);
	kvmexit_bpf__destroy(t->kvmexit);
	vcpu_bpf__destroy(t->vcpu);
	t->blkio = NULL;
	t->tapio = NULL;
	t->kvmexit = NULL;
	t->vcpu = NULL;
}

void trace__close(struct trace *t)
{
	if (!t)
		return;
	if (t->tgids)
		munmap(t->tgids, KP_TGID_WORDS * sizeof(uint64_t));
	destroy_skels(t);
	vm_list__free(&t->vms);
	vm_list__free(&t->live);
	vm_list__free(&t->synced);
	if (t->lock_fd >= 0)
		close(t->lock_fd);
	free(t);
}

bool trace__pins_replaced(const struct trace *t)
{
	return t->pins_replaced;
}

const char *trace__pin_root(const struct trace *t)
{
	return t->pin_root;
}

static int attach_one(struct bpf_program *prog, struct bpf_link **link)
{
	if (!bpf_program__autoload(prog))
		return 0;
	*link = bpf_program__attach(prog);
	return *link ? 0 : -errno;
}

static int unlink_pins(const char *root)
{
	char path[VM_PATH_MAX + 32];
	int err = 0;

	for (size_t i = 0; i < ARRAY_SIZE(pinned_maps); i++) {
		snprintf(path, sizeof(path), "%s/%s", root, pinned_maps[i]);
		if (unlink(path) && errno != ENOENT && !err)
			err = -errno;
	}
	return err;
}

/* Open and load the four features against the pin root. 0 or -errno. */
static int load_skels(struct trace *t, const struct trace_opts *opts)
{
	LIBBPF_OPTS(bpf_object_open_opts, oo, .pin_root_path = t->pin_root);
	int err;

	t->vcpu = vcpu_bpf__open_opts(&oo);
	t->kvmexit = kvmexit_bpf__open_opts(&oo);
	t->tapio = tapio_bpf__open_opts(&oo);
	t->blkio = blkio_bpf__open_opts(&oo);
	if (!t->vcpu || !t->kvmexit || !t->tapio || !t->blkio)
		return -errno;
	bpf_program__set_autoattach(t->kvmexit->progs.test_kvm_event, false);
	bpf_program__set_autoattach(t->vcpu->progs.test_sched_event, false);
	if (opts->no_kvm || !tracepoint_exists("kvm", "kvm_exit") ||
	    !tracepoint_exists("kvm", "kvm_entry")) {
		bpf_program__set_autoload(t->kvmexit->progs.on_kvm_exit, false);
		bpf_program__set_autoload(t->kvmexit->progs.on_kvm_entry, false);
	}
	if (opts->no_net) {
		bpf_program__set_autoload(t->tapio->progs.on_netif_receive_skb, false);
		bpf_program__set_autoload(t->tapio->progs.on_net_dev_xmit, false);
	}
	if (opts->no_blk) {
		struct bpf_program *prog;

		bpf_object__for_each_program(prog, t->blkio->obj)
			bpf_program__set_autoload(prog, false);
	}

	/* vcpu first: it creates (or finds) vms and vcpus for the others. */
	err = vcpu_bpf__load(t->vcpu);
	if (!err)
		err = kvmexit_bpf__load(t->kvmexit);
	if (!err)
		err = tapio_bpf__load(t->tapio);
	if (!err)
		err = blkio_bpf__load(t->blkio);
	return err;
}

/* Timestamps of a previous run would settle the time we were away. */
static int reset_vcpu_state(int fd)
{
	__u32 key, *prev = NULL;
	struct vcpu_track v;

	while (bpf_map_get_next_key(fd, prev, &key) == 0) {
		prev = &key;
		if (bpf_map_lookup_elem(fd, &key, &v))
			continue;
		if (!v.on_ns && !v.wake_ns && !v.exit_at)
			continue;
		v.on_ns = 0;
		v.wake_ns = 0;
		v.exit_at = 0;
		if (bpf_map_update_elem(fd, &key, &v, BPF_EXIST) && errno != ENOENT)
			return -errno;
	}
	return 0;
}

struct trace *trace__open(const struct trace_opts *opts)
{
	static const struct trace_opts defaults;
	struct trace *t = NULL;
	int err = -ENOMEM;

	if (!opts)
		opts = &defaults;
	t = calloc(1, sizeof(*t));
	if (!t)
		goto cleanup;
	t->lock_fd = -1;
	err = str_copy(t->pin_root, trace__default_pin_root(opts->pin_root), sizeof(t->pin_root));
	if (err)
		goto cleanup;
	if (mkdir(t->pin_root, 0700) && errno != EEXIST) {
		err = -errno;
		goto cleanup;
	}
	/*
	 * Two tracers on one pin root would both attach programs to the same
	 * counters and count every event twice.
	 */
	t->lock_fd = open(t->pin_root, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (t->lock_fd < 0) {
		err = -errno;
		goto cleanup;
	}
	if (flock(t->lock_fd, LOCK_EX | LOCK_NB)) {
		err = errno == EWOULDBLOCK ? -EBUSY : -errno;
		goto cleanup;
	}
	err = load_skels(t, opts);
	if (err == -EINVAL) {
		/*
		 * Pins of another kvmpilot version (other map layouts): we hold
		 * the pin root, so nobody uses them; their counters cannot
		 * continue anyway. Replace them.
		 */
		destroy_skels(t);
		unlink_pins(t->pin_root);
		t->pins_replaced = true;
		err = load_skels(t, opts);
	}
	if (err)
		goto cleanup;

	t->vms_fd = bpf_map__fd(t->vcpu->maps.vms);
	t->vcpus_fd = bpf_map__fd(t->vcpu->maps.vcpus);
	t->tgids = mmap(NULL, KP_TGID_WORDS * sizeof(uint64_t), PROT_READ | PROT_WRITE, MAP_SHARED,
			bpf_map__fd(t->vcpu->maps.tgids), 0);
	if (t->tgids == MAP_FAILED) {
		t->tgids = NULL;
		err = -errno;
		goto cleanup;
	}
	/* Reused maps: nothing is tracked until the first sync, no stale state. */
	memset(t->tgids, 0, KP_TGID_WORDS * sizeof(uint64_t));
	err = reset_vcpu_state(t->vcpus_fd);
	if (err)
		goto cleanup;

	err = vcpu_bpf__attach(t->vcpu);
	if (!err)
		err = attach_one(t->kvmexit->progs.on_kvm_exit, &t->kvmexit->links.on_kvm_exit);
	if (!err)
		err = attach_one(t->kvmexit->progs.on_kvm_entry, &t->kvmexit->links.on_kvm_entry);
	if (!err && !opts->no_net)
		err = tapio_bpf__attach(t->tapio);
	if (!err && !opts->no_blk)
		err = blkio_bpf__attach(t->blkio);
	if (err)
		goto cleanup;

	t->exits_fd = bpf_map__fd(t->kvmexit->maps.exits);
	t->taps_fd = bpf_map__fd(t->tapio->maps.taps);
	t->disk_fds_fd = bpf_map__fd(t->blkio->maps.disk_fds);
	t->disk_devs_fd = bpf_map__fd(t->blkio->maps.disk_devs);
	t->blk_fd = bpf_map__fd(t->blkio->maps.blk);
	err = 0;
cleanup:
	if (err) {
		trace__close(t);
		errno = -err;
		return NULL;
	}
	return t;
}

static const struct bpf_prog_skeleton *find_prog(const struct trace *t, const char *name)
{
	const struct bpf_object_skeleton *skels[] = { t->vcpu->skeleton, t->kvmexit->skeleton,
						      t->tapio->skeleton, t->blkio->skeleton };

	for (size_t i = 0; i < ARRAY_SIZE(skels); i++) {
		for (int j = 0; j < skels[i]->prog_cnt; j++) {
			if (!strcmp(skels[i]->progs[j].name, name))
				return &skels[i]->progs[j];
		}
	}
	return NULL;
}

int trace__prog_fd(const struct trace *t, const char *name)
{
	const struct bpf_prog_skeleton *p = find_prog(t, name);

	return p ? bpf_program__fd(*p->prog) : -ENOENT;
}

bool trace__prog_attached(const struct trace *t, const char *name)
{
	const struct bpf_prog_skeleton *p = find_prog(t, name);

	return p && p->link && *p->link;
}

int trace__unpin(const char *pin_root, bool force)
{
	const char *root = trace__default_pin_root(pin_root);
	int err = 0, fd;

	fd = open(root, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (fd < 0)
		return errno == ENOENT ? 0 : -errno;
	if (!force && flock(fd, LOCK_EX | LOCK_NB)) {
		err = errno == EWOULDBLOCK ? -EBUSY : -errno;
		close(fd);
		return err;
	}
	err = unlink_pins(root);
	if (rmdir(root) && errno != ENOENT && !err)
		err = -errno;
	close(fd);
	return err;
}

/* ---- sync ---------------------------------------------------------------- */

static const struct vm_desc *find_vm(const struct vm_list *vms, __u32 tgid)
{
	return vm_list__find_pid(vms, (int)tgid);
}

static __u32 kernel_dev(uint64_t dev)
{
	return (__u32)(major(dev) << 20 | minor(dev));
}

/*
 * Collect the keys of map fd for which keep() is false, then delete them
 * (deleting while walking would restart the walk).
 */
static int prune_map(int fd, size_t key_size, const struct vm_list *vms,
		     bool (*keep)(const void *key, int fd, const struct vm_list *vms))
{
	size_t cap = 64, n = 0;
	char *keys = NULL, *tmp;
	char cur[64], next[64];
	void *prev = NULL;
	int err = -ENOMEM;

	keys = malloc(cap * key_size);
	if (!keys)
		goto cleanup;
	while (bpf_map_get_next_key(fd, prev, next) == 0) {
		memcpy(cur, next, key_size);
		prev = cur;
		if (keep(cur, fd, vms))
			continue;
		if (n == cap) {
			tmp = realloc(keys, cap * 2 * key_size);
			if (!tmp)
				goto cleanup;
			keys = tmp;
			cap *= 2;
		}
		memcpy(keys + n * key_size, cur, key_size);
		n++;
	}
	for (size_t i = 0; i < n; i++)
		(void)bpf_map_delete_elem(fd, keys + i * key_size);
	err = 0;
cleanup:
	free(keys);
	return err;
}

static bool keep_vm(const void *key, int fd, const struct vm_list *vms)
{
	const struct vm_desc *vm = find_vm(vms, *(const __u32 *)key);
	struct vm_track v;

	if (!vm || bpf_map_lookup_elem(fd, key, &v))
		return false;
	return v.start_time == vm->start_time;
}

static bool keep_vcpu(const void *key, int fd, const struct vm_list *vms)
{
	__u32 tid = *(const __u32 *)key;
	const struct vm_desc *vm;
	struct vcpu_track v;

	if (bpf_map_lookup_elem(fd, key, &v))
		return false;
	vm = find_vm(vms, v.tgid);
	if (!vm)
		return false;
	for (int i = 0; i < vm->nvcpus; i++) {
		if (vm->vcpus[i].tid == (int)tid && vm->vcpus[i].index == (int)v.index)
			return true;
	}
	return false;
}

static bool keep_tap(const void *key, int fd, const struct vm_list *vms)
{
	int ifindex = *(const int *)key;
	const struct vm_desc *vm;
	struct tap_track v;

	if (bpf_map_lookup_elem(fd, key, &v))
		return false;
	vm = find_vm(vms, v.tgid);
	if (!vm)
		return false;
	for (int i = 0; i < vm->ntaps; i++) {
		if (vm->taps[i].ifindex == ifindex)
			return true;
	}
	return false;
}

static bool keep_disk_fd(const void *key, int fd, const struct vm_list *vms)
{
	const struct disk_fd_key *k = key;
	const struct vm_desc *vm = find_vm(vms, k->tgid);

	(void)fd;
	if (!vm)
		return false;
	for (int i = 0; i < vm->ndisks; i++) {
		if (vm->disks[i].fd >= 0 && vm->disks[i].fd == k->fd)
			return true;
	}
	return false;
}

static bool keep_disk_dev(const void *key, int fd, const struct vm_list *vms)
{
	const struct disk_dev_key *k = key;
	const struct vm_desc *vm = find_vm(vms, k->tgid);

	(void)fd;
	if (!vm)
		return false;
	for (int i = 0; i < vm->ndisks; i++) {
		if (vm->disks[i].dev && kernel_dev(vm->disks[i].dev) == k->dev)
			return true;
	}
	return false;
}

/* Counter maps created by BPF: keep while the VM (first key field) lives. */
static bool keep_by_tgid(const void *key, int fd, const struct vm_list *vms)
{
	(void)fd;
	return find_vm(vms, *(const __u32 *)key) != NULL;
}

static int copy_list(struct vm_list *dst, const struct vm_list *src)
{
	vm_list__clear(dst);
	for (int i = 0; i < src->n; i++) {
		struct vm_desc *d = vm_list__add(dst);

		if (!d)
			return -ENOMEM;
		*d = src->vms[i];
	}
	return 0;
}

static int sync_vm(struct trace *t, const struct vm_desc *vm, __u32 id)
{
	__u32 tgid = (__u32)vm->pid;
	struct vm_track v;
	int err;

	if (bpf_map_lookup_elem(t->vms_fd, &tgid, &v)) {
		memset(&v, 0, sizeof(v));
		v.start_time = vm->start_time;
		v.id = id;
		err = bpf_map_update_elem(t->vms_fd, &tgid, &v, BPF_NOEXIST);
		if (err && err != -EEXIST)
			return err;
	}
	for (int i = 0; i < vm->nvcpus && i < VM_MAX_VCPUS; i++) {
		__u32 tid = (__u32)vm->vcpus[i].tid;
		struct vcpu_track c;

		if (vm->vcpus[i].tid <= 0 || vm->vcpus[i].index < 0)
			continue;
		if (!bpf_map_lookup_elem(t->vcpus_fd, &tid, &c) && c.tgid == tgid &&
		    c.index == (__u32)vm->vcpus[i].index)
			continue;
		memset(&c, 0, sizeof(c));
		c.tgid = tgid;
		c.index = (__u32)vm->vcpus[i].index;
		err = bpf_map_update_elem(t->vcpus_fd, &tid, &c, BPF_ANY);
		if (err)
			return err;
	}
	for (int i = 0; i < vm->ntaps && i < VM_MAX_TAPS; i++) {
		__u32 ifindex = (__u32)vm->taps[i].ifindex;
		struct tap_track tp;

		if (vm->taps[i].ifindex <= 0)
			continue;
		if (!bpf_map_lookup_elem(t->taps_fd, &ifindex, &tp) && tp.tgid == tgid &&
		    tp.slot == (__u32)i)
			continue;
		memset(&tp, 0, sizeof(tp));
		tp.tgid = tgid;
		tp.slot = (__u32)i;
		err = bpf_map_update_elem(t->taps_fd, &ifindex, &tp, BPF_ANY);
		if (err)
			return err;
	}
	for (int i = 0; i < vm->ndisks && i < VM_MAX_DISKS; i++) {
		struct disk_fd d = { .disk = (__u32)i };

		if (vm->disks[i].fd >= 0) {
			struct disk_fd_key k = { .tgid = tgid, .fd = vm->disks[i].fd };

			err = bpf_map_update_elem(t->disk_fds_fd, &k, &d, BPF_ANY);
			if (err)
				return err;
		}
		if (vm->disks[i].dev) {
			struct disk_dev_key k = { .tgid = tgid,
						  .dev = kernel_dev(vm->disks[i].dev) };

			err = bpf_map_update_elem(t->disk_devs_fd, &k, &d, BPF_ANY);
			if (err)
				return err;
		}
	}
	return 0;
}

/*
 * The VMs whose map entries may stay: not those whose pid is tracked for
 * another process (start time), a pid reused between two syncs. QEMU's
 * threads get the tids after its pid, so the new process often has the old
 * vCPU tids too: all of its entries (vCPUs, exits, block) must go.
 */
static int live_vms(struct trace *t, const struct vm_list *vms)
{
	vm_list__clear(&t->live);
	for (int i = 0; i < vms->n; i++) {
		__u32 tgid = (__u32)vms->vms[i].pid;
		struct vm_desc *d;
		struct vm_track v;

		if (!bpf_map_lookup_elem(t->vms_fd, &tgid, &v) &&
		    v.start_time != vms->vms[i].start_time)
			continue;
		d = vm_list__add(&t->live);
		if (!d)
			return -ENOMEM;
		*d = vms->vms[i];
	}
	return 0;
}

int trace__sync(struct trace *t, const struct vm_list *vms)
{
	const struct vm_list *live = &t->live;
	struct vm_list *synced = &t->synced;
	int err, first_err = 0;

	/*
	 * Drop what is gone first: a reused pid must start from zero. A map that
	 * cannot be pruned is counted and the others still are: one bad entry
	 * never stops the sync of the rest.
	 */
	err = live_vms(t, vms);
	if (err)
		return err;
	struct {
		int fd;
		size_t key_size;
		bool (*keep)(const void *key, int fd, const struct vm_list *vms);
	} prunes[] = {
		{ t->vms_fd, sizeof(__u32), keep_vm },
		{ t->vcpus_fd, sizeof(__u32), keep_vcpu },
		{ t->taps_fd, sizeof(__u32), keep_tap },
		{ t->disk_fds_fd, sizeof(struct disk_fd_key), keep_disk_fd },
		{ t->disk_devs_fd, sizeof(struct disk_dev_key), keep_disk_dev },
		{ t->blk_fd, sizeof(struct blk_key), keep_by_tgid },
		{ t->exits_fd, sizeof(struct exit_key), keep_by_tgid },
	};
	for (size_t i = 0; i < ARRAY_SIZE(prunes); i++) {
		err = prune_map(prunes[i].fd, prunes[i].key_size, live, prunes[i].keep);
		if (err) {
			t->sync_failures++;
			if (!first_err)
				first_err = err;
		}
	}
	vm_list__clear(synced);
	for (int i = 0; i < vms->n; i++) {
		struct vm_desc *d;

		/* A VM whose pid changed start time was pruned above: recreate. */
		err = sync_vm(t, &vms->vms[i], (__u32)i);
		if (err) {
			t->sync_failures++;
			if (!first_err)
				first_err = err;
			continue;
		}
		d = vm_list__add(synced);
		if (!d)
			return -ENOMEM;
		*d = vms->vms[i];
	}
	t->sync_last_error = first_err;
	/* Bits last: a set bit finds its vms/vcpus entries in place. */
	for (int i = 0; i < t->vms.n; i++) {
		__u32 pid = (__u32)t->vms.vms[i].pid;

		if (!vm_list__find_pid(synced, (int)pid) && pid < KP_TGID_LIMIT)
			__atomic_fetch_and(&t->tgids[pid >> 6], ~(1ULL << (pid & 63)),
					   __ATOMIC_RELAXED);
	}
	for (int i = 0; i < synced->n; i++) {
		__u32 pid = (__u32)synced->vms[i].pid;

		if (pid < KP_TGID_LIMIT)
			__atomic_fetch_or(&t->tgids[pid >> 6], 1ULL << (pid & 63),
					  __ATOMIC_RELAXED);
	}
	return copy_list(&t->vms, synced);
}

unsigned long trace__sync_failures(const struct trace *t, int *last_error)
{
	if (last_error)
		*last_error = t->sync_last_error;
	return t->sync_failures;
}

/* ---- read ---------------------------------------------------------------- */

void trace_snapshot__free(struct trace_snapshot *snap)
{
	if (!snap)
		return;
	free(snap->vms);
	memset(snap, 0, sizeof(*snap));
}

const struct trace_vm *trace_snapshot__find(const struct trace_snapshot *snap, int pid)
{
	for (int i = 0; i < snap->n; i++) {
		if (snap->vms[i].pid == pid)
			return &snap->vms[i];
	}
	return NULL;
}

static uint64_t mono_now(void)
{
	return now_mono_ns(); /* the clock of bpf_ktime_get_ns() */
}

static void read_vcpu(struct trace *t, __u32 tgid, const struct vm_vcpu *in, struct trace_vcpu *out)
{
	__u32 tid = (__u32)in->tid;
	struct vcpu_track c;
	uint64_t now;

	memset(out, 0, sizeof(*out));
	out->index = in->index;
	out->tid = in->tid;
	/*
	 * The clock before the copy: a stint that ends after it is counted by
	 * BPF up to a later time, so the estimate below stays under the next
	 * exact count (a copy torn by a concurrent switch still may not: see
	 * trace_vm__delta).
	 */
	now = mono_now();
	if (bpf_map_lookup_elem(t->vcpus_fd, &tid, &c) || c.tgid != tgid)
		return;
	out->run_ns = c.run_ns;
	out->wait_ns = c.wait_ns;
	out->switches = c.switches;
	out->exits = c.exits;
	out->exit_ns = c.exit_ns;
	/* Add the open stint, so a vCPU that never switches out still shows. */
	if (c.on_ns && now > c.on_ns)
		out->run_ns += now - c.on_ns;
	else if (c.wake_ns && now > c.wake_ns)
		out->wait_ns += now - c.wake_ns;
}

static void blk_add(struct trace_blk *dst, const struct blk_stats *s)
{
	dst->read_ops += s->ops[KP_BLK_READ];
	dst->write_ops += s->ops[KP_BLK_WRITE];
	dst->read_bytes += s->bytes[KP_BLK_READ];
	dst->write_bytes += s->bytes[KP_BLK_WRITE];
	dst->sum_ns += s->sum_ns;
	dst->sys_ops += s->sys_ops;
	for (int i = 0; i < KP_HIST_SLOTS; i++)
		dst->hist[i] += s->hist[i];
}

static struct trace_vm *snap_find(struct trace_snapshot *snap, __u32 pid)
{
	return (struct trace_vm *)trace_snapshot__find(snap, (int)pid);
}

static void read_exits(struct trace *t, struct trace_snapshot *snap)
{
	struct exit_key key, *prev = NULL;
	struct exit_stats st;

	while (bpf_map_get_next_key(t->exits_fd, prev, &key) == 0) {
		struct trace_vm *vm = snap_find(snap, key.tgid);
		struct trace_exit *e = NULL;

		prev = &key;
		if (!vm || bpf_map_lookup_elem(t->exits_fd, &key, &st))
			continue;
		for (int i = 0; i < vm->nexits; i++) {
			if (vm->exits[i].isa == key.isa && vm->exits[i].reason == key.reason) {
				e = &vm->exits[i];
				break;
			}
		}
		if (!e) {
			if (vm->nexits == TRACE_MAX_REASONS)
				continue;
			e = &vm->exits[vm->nexits++];
			memset(e, 0, sizeof(*e));
			e->isa = key.isa;
			e->reason = key.reason;
		}
		e->count += st.count;
		e->sum_ns += st.sum_ns;
		vm->exits_total += st.count;
		for (int i = 0; i < KP_HIST_SLOTS; i++) {
			e->hist[i] += st.hist[i];
			vm->exit_hist[i] += st.hist[i];
		}
	}
}

static void read_blk(struct trace *t, struct trace_snapshot *snap)
{
	struct blk_key key, *prev = NULL;
	struct blk_stats st;

	while (bpf_map_get_next_key(t->blk_fd, prev, &key) == 0) {
		struct trace_vm *vm = snap_find(snap, key.tgid);

		prev = &key;
		if (!vm || bpf_map_lookup_elem(t->blk_fd, &key, &st))
			continue;
		blk_add(&vm->blk, &st);
		if (key.disk < (__u32)vm->ndisks)
			blk_add(&vm->disks[key.disk].io, &st);
	}
}

int trace__read(struct trace *t, struct trace_snapshot *snap)
{
	if (snap->cap < t->vms.n) {
		struct trace_vm *v = realloc(snap->vms, (size_t)t->vms.n * sizeof(*v));

		if (!v)
			return -ENOMEM;
		snap->vms = v;
		snap->cap = t->vms.n;
	}
	snap->n = t->vms.n;
	snap->mono_ns = now_mono_ns();
	snap->real_ns = now_real_ns();
	for (int i = 0; i < t->vms.n; i++) {
		const struct vm_desc *d = &t->vms.vms[i];
		struct trace_vm *vm = &snap->vms[i];
		__u32 tgid = (__u32)d->pid;
		struct vm_track v;

		/* the head; the arrays' entries are zeroed as they are used */
		memset(vm, 0, offsetof(struct trace_vm, vcpus));
		vm->pid = d->pid;
		vm->start_time = d->start_time;
		(void)str_copy(vm->name, d->name, sizeof(vm->name));
		if (!bpf_map_lookup_elem(t->vms_fd, &tgid, &v)) {
			vm->emulator_run_ns = v.emu_run_ns;
			vm->emulator_switches = v.emu_switches;
		}
		vm->nvcpus = d->nvcpus < VM_MAX_VCPUS ? d->nvcpus : VM_MAX_VCPUS;
		for (int j = 0; j < vm->nvcpus; j++)
			read_vcpu(t, tgid, &d->vcpus[j], &vm->vcpus[j]);
		vm->ntaps = d->ntaps < VM_MAX_TAPS ? d->ntaps : VM_MAX_TAPS;
		for (int j = 0; j < vm->ntaps; j++) {
			struct trace_tap *tap = &vm->taps[j];
			__u32 ifindex = (__u32)d->taps[j].ifindex;
			struct tap_track tp;

			(void)str_copy(tap->ifname, d->taps[j].ifname, sizeof(tap->ifname));
			tap->ifindex = d->taps[j].ifindex;
			if (tap->ifindex <= 0 || bpf_map_lookup_elem(t->taps_fd, &ifindex, &tp) ||
			    tp.tgid != tgid)
				continue;
			tap->rx_bytes = tp.rx_bytes;
			tap->rx_packets = tp.rx_packets;
			tap->tx_bytes = tp.tx_bytes;
			tap->tx_packets = tp.tx_packets;
		}
		vm->ndisks = d->ndisks < VM_MAX_DISKS ? d->ndisks : VM_MAX_DISKS;
		for (int j = 0; j < vm->ndisks; j++) {
			memset(&vm->disks[j], 0, sizeof(vm->disks[j]));
			(void)str_copy(vm->disks[j].target, d->disks[j].target,
				       sizeof(vm->disks[j].target));
			(void)str_copy(vm->disks[j].path, d->disks[j].path,
				       sizeof(vm->disks[j].path));
		}
	}
	read_exits(t, snap);
	read_blk(t, snap);
	return 0;
}

/* ---- delta --------------------------------------------------------------- */

static void blk_sub(struct trace_blk *out, const struct trace_blk *a, const struct trace_blk *b)
{
	out->read_ops = hist__counter_delta(a->read_ops, b->read_ops);
	out->write_ops = hist__counter_delta(a->write_ops, b->write_ops);
	out->read_bytes = hist__counter_delta(a->read_bytes, b->read_bytes);
	out->write_bytes = hist__counter_delta(a->write_bytes, b->write_bytes);
	out->sum_ns = hist__counter_delta(a->sum_ns, b->sum_ns);
	out->sys_ops = hist__counter_delta(a->sys_ops, b->sys_ops);
	hist__delta(out->hist, a->hist, b->hist, KP_HIST_SLOTS,
		    a->read_ops + a->write_ops < b->read_ops + b->write_ops);
}

void trace_vm__delta(const struct trace_vm *cur, const struct trace_vm *prev, struct trace_vm *out)
{
	static const struct trace_vm zero;

	if (out != cur)
		*out = *cur;
	if (!prev || prev->pid != cur->pid || prev->start_time != cur->start_time)
		prev = &zero;
	out->emulator_run_ns = hist__counter_delta(cur->emulator_run_ns, prev->emulator_run_ns);
	out->emulator_switches =
		hist__counter_delta(cur->emulator_switches, prev->emulator_switches);
	for (int i = 0; i < out->nvcpus; i++) {
		struct trace_vcpu *o = &out->vcpus[i];
		const struct trace_vcpu *p = NULL;

		/* A tid that now runs another vCPU index has a new BPF entry. */
		for (int j = 0; j < prev->nvcpus; j++) {
			if (prev->vcpus[j].tid == o->tid && prev->vcpus[j].index == o->index) {
				p = &prev->vcpus[j];
				break;
			}
		}
		if (!p)
			continue;
		/* run and wait include an estimate of the open stint */
		o->run_ns = hist__estimate_delta(o->run_ns, p->run_ns);
		o->wait_ns = hist__estimate_delta(o->wait_ns, p->wait_ns);
		o->switches = hist__counter_delta(o->switches, p->switches);
		o->exits = hist__counter_delta(o->exits, p->exits);
		o->exit_ns = hist__counter_delta(o->exit_ns, p->exit_ns);
	}
	out->exits_total = hist__counter_delta(cur->exits_total, prev->exits_total);
	hist__delta(out->exit_hist, cur->exit_hist, prev->exit_hist, KP_HIST_SLOTS,
		    cur->exits_total < prev->exits_total);
	for (int i = 0; i < out->nexits; i++) {
		struct trace_exit *o = &out->exits[i];

		for (int j = 0; j < prev->nexits; j++) {
			const struct trace_exit *p = &prev->exits[j];

			if (p->isa != o->isa || p->reason != o->reason)
				continue;
			hist__delta(o->hist, o->hist, p->hist, KP_HIST_SLOTS, o->count < p->count);
			o->count = hist__counter_delta(o->count, p->count);
			o->sum_ns = hist__counter_delta(o->sum_ns, p->sum_ns);
			break;
		}
	}
	for (int i = 0; i < out->ntaps; i++) {
		struct trace_tap *o = &out->taps[i];

		for (int j = 0; j < prev->ntaps; j++) {
			const struct trace_tap *p = &prev->taps[j];

			if (p->ifindex != o->ifindex)
				continue;
			o->rx_bytes = hist__counter_delta(o->rx_bytes, p->rx_bytes);
			o->rx_packets = hist__counter_delta(o->rx_packets, p->rx_packets);
			o->tx_bytes = hist__counter_delta(o->tx_bytes, p->tx_bytes);
			o->tx_packets = hist__counter_delta(o->tx_packets, p->tx_packets);
			break;
		}
	}
	blk_sub(&out->blk, &cur->blk, &prev->blk);
	for (int i = 0; i < out->ndisks; i++) {
		const struct trace_blk *p = &zero.blk;

		/* Disks are matched by path: the list may change between reads. */
		for (int j = 0; j < prev->ndisks; j++) {
			if (!strcmp(prev->disks[j].path, cur->disks[i].path)) {
				p = &prev->disks[j].io;
				break;
			}
		}
		blk_sub(&out->disks[i].io, &cur->disks[i].io, p);
	}
}
