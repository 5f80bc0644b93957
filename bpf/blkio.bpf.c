// SPDX-License-Identifier: GPL-2.0
/*
 * Block I/O of tracked VMs.
 * - Thread pool (aio=threads): pread/pwrite-family syscalls on a tracked
 *   disk fd, bytes from the return value, latency enter -> exit.
 * - io=native / io=io_uring: block_io_start in the submitter's context
 *   (main thread or io_uring's iou-wrk threads, same tgid), completion at
 *   block_rq_complete matched by request pointer, since that runs in
 *   interrupt context on behalf of nobody in particular.
 * A request issued from inside a tracked syscall is already counted by the
 * syscall: sys_inflight marks such threads.
 * A QEMU request larger than the device takes (max_sectors_kb, max_segments)
 * is split by the block layer into several requests; all count as bytes,
 * only the last (the original bio) as an op.
 */
#include "vmlinux.h"
#include <bpf/bpf_core_read.h>
#include <bpf/bpf_helpers.h>
#include <bpf/bpf_tracing.h>

#include "blkio.h"
#include "maps.bpf.h"

#define REQ_OP_MASK 0xff
/*
 * bio_flags bit of bios whose pages were pinned from user memory (direct
 * I/O of guest RAM), as opposed to page cache I/O (faults, readahead,
 * filesystem metadata) that QEMU's threads may also issue. An anonymous
 * enum (no CO-RE relocation): BIO_PAGE_PINNED = 0 since Linux 6.5
 * (commit "block: Add BIO_PAGE_PINNED and associated infrastructure").
 */
#define KP_BIO_PAGE_PINNED 0
/* The same enum: a bio sharing another bio's pages (BIO_CLONED = 1 since Linux 6.5 too). */
#define KP_BIO_CLONED 1
#define KP_MAX_BIOS   64

struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__uint(max_entries, KP_MAX_DISK_FDS);
	__type(key, struct disk_fd_key);
	__type(value, struct disk_fd);
	__uint(pinning, LIBBPF_PIN_BY_NAME);
} disk_fds SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__uint(max_entries, KP_MAX_DISK_FDS);
	__type(key, struct disk_dev_key);
	__type(value, struct disk_fd);
	__uint(pinning, LIBBPF_PIN_BY_NAME);
} disk_devs SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__uint(max_entries, 4096);
	__type(key, struct blk_key);
	__type(value, struct blk_stats);
	__uint(pinning, LIBBPF_PIN_BY_NAME);
} blk SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_LRU_HASH);
	__uint(max_entries, KP_MAX_THREADS);
	__type(key, __u32);
	__type(value, struct sys_inflight);
} sys_inflight SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_LRU_HASH);
	__uint(max_entries, 65536);
	__type(key, __u64);
	__type(value, struct rq_inflight);
} rqs SEC(".maps");

/* A request's bytes and ops; its latency counts only with its ops (one sample per op). */
static __always_inline void blk_account(__u32 tgid, __u32 disk, __u32 op, __u64 ops, __u64 bytes,
					__u64 lat_ns, bool sys)
{
	static const struct blk_stats zero;
	struct blk_key key = { .tgid = tgid, .disk = disk };
	struct blk_stats *st;

	st = bpf_map_lookup_elem(&blk, &key);
	if (!st) {
		bpf_map_update_elem(&blk, &key, &zero, BPF_NOEXIST);
		st = bpf_map_lookup_elem(&blk, &key);
		if (!st)
			return;
	}
	op &= 1;
	__sync_fetch_and_add(&st->bytes[op], bytes);
	if (!ops)
		return;
	__sync_fetch_and_add(&st->ops[op], ops);
	__sync_fetch_and_add(&st->sum_ns, lat_ns);
	if (sys)
		__sync_fetch_and_add(&st->sys_ops, 1);
	kp_hist_add(st->hist, lat_ns);
}

static __always_inline int sys_enter_account(__u64 id, __s64 fd, __u32 op, __u64 now)
{
	struct disk_fd_key key = { .tgid = id >> 32, .fd = (__s32)fd };
	struct sys_inflight in = { .op = op };
	struct disk_fd *d;
	__u32 tid = (__u32)id;

	if (!kp_tgid_tracked(key.tgid))
		return 0;
	d = bpf_map_lookup_elem(&disk_fds, &key);
	if (!d)
		return 0;
	in.disk = d->disk;
	in.ts = now ?: bpf_ktime_get_ns();
	bpf_map_update_elem(&sys_inflight, &tid, &in, BPF_ANY);
	return 0;
}

static __always_inline int sys_exit_account(__u64 id, __s64 ret, __u64 now)
{
	struct sys_inflight *in;
	__u32 tid = (__u32)id;

	if (!kp_tgid_tracked(id >> 32))
		return 0;
	in = bpf_map_lookup_elem(&sys_inflight, &tid);
	if (!in)
		return 0;
	now = now ?: bpf_ktime_get_ns();
	if (ret > 0)
		blk_account(id >> 32, in->disk, in->op, 1, ret, now > in->ts ? now - in->ts : 0,
			    true);
	bpf_map_delete_elem(&sys_inflight, &tid);
	return 0;
}

#define SYSCALL_PAIR(name, op)                                                             \
	SEC("tracepoint/syscalls/sys_enter_" #name)                                        \
	int on_enter_##name(struct trace_event_raw_sys_enter *ctx)                         \
	{                                                                                  \
		return sys_enter_account(bpf_get_current_pid_tgid(), ctx->args[0], op, 0); \
	}                                                                                  \
	SEC("tracepoint/syscalls/sys_exit_" #name)                                         \
	int on_exit_##name(struct trace_event_raw_sys_exit *ctx)                           \
	{                                                                                  \
		return sys_exit_account(bpf_get_current_pid_tgid(), ctx->ret, 0);          \
	}

SYSCALL_PAIR(pread64, KP_BLK_READ)
SYSCALL_PAIR(preadv, KP_BLK_READ)
SYSCALL_PAIR(preadv2, KP_BLK_READ)
SYSCALL_PAIR(read, KP_BLK_READ)
SYSCALL_PAIR(pwrite64, KP_BLK_WRITE)
SYSCALL_PAIR(pwritev, KP_BLK_WRITE)
SYSCALL_PAIR(pwritev2, KP_BLK_WRITE)
SYSCALL_PAIR(write, KP_BLK_WRITE)

/*
 * Whether a request's first bio holds user pages pinned for direct I/O:
 * KP_BIO_USER for the bio QEMU's syscall built, KP_BIO_SPLIT for the front
 * part the block layer cut from such a bio to fit the device's limits, 0
 * for anything else. bio_split() makes the front part a clone, which never
 * carries BIO_PAGE_PINNED (__bio_clone() does not copy it), chained to the
 * original: bi_private points to the original, which kept the flag and the
 * rest of the I/O, and both share one bio_vec table. Without this, every
 * split request was lost (a 2 MiB read on a device taking 1 MiB counted
 * half its bytes).
 */
static __always_inline __u32 bio_user_pages(struct bio *bio)
{
	struct bio *parent;

	if (bio->bi_flags & (1 << KP_BIO_PAGE_PINNED))
		return KP_BIO_USER;
	if (!(bio->bi_flags & (1 << KP_BIO_CLONED)))
		return 0;
	/* bi_private is not typed: read through it, and trust it only if it matches. */
	parent = (struct bio *)bio->bi_private;
	if (!parent || BPF_CORE_READ(parent, bi_io_vec) != bio->bi_io_vec ||
	    BPF_CORE_READ(parent, bi_bdev) != bio->bi_bdev ||
	    !(BPF_CORE_READ(parent, bi_flags) & (1 << KP_BIO_PAGE_PINNED)))
		return 0;
	return KP_BIO_SPLIT;
}

SEC("tp_btf/block_io_start")
int BPF_PROG(on_block_io_start, struct request *rq)
{
	__u64 id = bpf_get_current_pid_tgid();
	struct rq_inflight in = { .tgid = id >> 32, .disk = KP_DISK_UNKNOWN };
	struct disk_dev_key dkey;
	struct disk_fd *d;
	__u32 tid = (__u32)id, op;
	__u64 key = (__u64)rq;

	if (!kp_tgid_tracked(in.tgid))
		return 0;
	/* Issued by a tracked read/write syscall: that one counts it. */
	if (bpf_map_lookup_elem(&sys_inflight, &tid))
		return 0;
	op = rq->cmd_flags & REQ_OP_MASK;
	if (op != KP_BLK_READ && op != KP_BLK_WRITE)
		return 0;
	if (!rq->bio)
		return 0;
	in.kind = bio_user_pages(rq->bio);
	if (!in.kind)
		return 0;
	in.op = op;
	dkey.tgid = in.tgid;
	/*
	 * The device the bio was sent to (a partition or the whole disk).
	 * Not rq->part: blk_account_io_start() sets it only after this
	 * tracepoint fires.
	 */
	dkey.dev = rq->bio && rq->bio->bi_bdev ? rq->bio->bi_bdev->bd_dev : 0;
	d = bpf_map_lookup_elem(&disk_devs, &dkey);
	if (d)
		in.disk = d->disk;
	in.ts = bpf_ktime_get_ns();
	bpf_map_update_elem(&rqs, &key, &in, BPF_ANY);
	return 0;
}

SEC("tp_btf/block_rq_complete")
int BPF_PROG(on_block_rq_complete, struct request *rq, blk_status_t error, unsigned int nr_bytes)
{
	__u64 key = (__u64)rq, now;
	struct rq_inflight *in;
	struct bio *bio;
	__u64 ops = 0;

	in = bpf_map_lookup_elem(&rqs, &key);
	if (!in)
		return 0;
	/*
	 * One op per bio: QEMU's requests, also when the block layer merged
	 * them. None for the front of a split (REQ_NOMERGE: alone in its
	 * request): the original bio, in a later request, is the op.
	 */
	bio = in->kind == KP_BIO_SPLIT ? NULL : rq->bio;
	for (int i = 0; i < KP_MAX_BIOS && bio; i++) {
		ops++;
		bio = bio->bi_next;
	}
	if (in->kind != KP_BIO_SPLIT && !ops)
		ops = 1;
	now = bpf_ktime_get_ns();
	blk_account(in->tgid, in->disk, in->op, ops, nr_bytes, now > in->ts ? now - in->ts : 0,
		    false);
	bpf_map_delete_elem(&rqs, &key);
	return 0;
}

char LICENSE[] SEC("license") = "GPL";
