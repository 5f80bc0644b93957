/* SPDX-License-Identifier: GPL-2.0 */
/*
 * Block I/O per VM and disk, for the three QEMU modes: read/write-family
 * syscalls on a disk fd (thread pool, page cache) and block-layer requests
 * issued by the VM's threads (io=native, io=io_uring), completed by request.
 */
#ifndef KVMPILOT_BLKIO_H
#define KVMPILOT_BLKIO_H

#include "track.h" /* KP_HIST_SLOTS */

#define KP_BLK_READ  0
#define KP_BLK_WRITE 1

/* blk: (tgid, disk slot or KP_DISK_UNKNOWN) -> counters. */
struct blk_key {
	__u32 tgid;
	__u32 disk;
};

struct blk_stats {
	__u64 ops[2]; /* KP_BLK_READ, KP_BLK_WRITE */
	__u64 bytes[2];
	__u64 sum_ns;		   /* latency sum over both directions */
	__u64 sys_ops;		   /* of ops: counted at a syscall (thread-pool mode) */
	__u32 hist[KP_HIST_SLOTS]; /* log2(ns) latency buckets */
};

/* sys_inflight: per thread, a tracked read/write syscall in progress. */
struct sys_inflight {
	__u64 ts;
	__u32 disk;
	__u32 op;
};

/* rq_inflight.kind: what the request's first bio is (blkio.bpf.c bio_user_pages()). */
#define KP_BIO_USER  1 /* user pages pinned for direct I/O: a QEMU request */
#define KP_BIO_SPLIT 2 /* the front part the block layer split off such a bio */

/* rqs: request pointer -> who issued it. */
struct rq_inflight {
	__u64 ts;
	__u32 tgid;
	__u32 disk;
	__u32 op;
	__u32 kind; /* KP_BIO_USER or KP_BIO_SPLIT */
};

#endif /* KVMPILOT_BLKIO_H */
