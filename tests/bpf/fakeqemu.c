// SPDX-License-Identifier: GPL-2.0
/*
 * fakeqemu: a process that looks and behaves like a QEMU guest to the host,
 * with known ground truth, for real-kernel tests of discovery and tracing.
 *
 * It is named like QEMU (comm "qemu-system-x86", "-name guest=..." on the
 * command line, threads "CPU N/KVM", "worker", "call_rcu"), burns a known
 * duty cycle on each vCPU thread, owns a tap that exchanges frames both
 * ways at a known rate, and does disk I/O at a known rate in QEMU's three
 * I/O modes. At exit (or on SIGUSR1) it writes what it really did as JSON.
 * Run `fakeqemu --help` for the options.
 */
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <linux/aio_abi.h>
#include <linux/fs.h>
#include <linux/if_ether.h>
#include <linux/if_packet.h>
#include <linux/if_tun.h>
#include <liburing.h>
#include <net/if.h>
#include <poll.h>
#include <pthread.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/eventfd.h>
#include <sys/ioctl.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/uio.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>
#include <json-c/json.h>

#include "fakeqemu/opts.h"
#include "util.h"

#define MAX_THREADS    (MAX_VCPUS + 8)
#define NWORKERS       2
#define AIO_DEPTH      64
#define PERIOD_NS      10000000ull /* duty-cycle period of a vCPU thread */
#define TICK_NS	       1000000ull  /* pacing tick of the main loop and the peer */
#define MAX_BURST      256
#define ETH_TYPE_GUEST 0x88b5 /* IEEE 802 local experimental ethertype 1 */
#define ETH_TYPE_HOST  0x88b6 /* ... and 2: no host protocol handles them */
#define NSEC	       1000000000ull

enum role {
	ROLE_MAIN,
	ROLE_VCPU,
	ROLE_WORKER,
	ROLE_RCU
};
static const char *const role_names[] = { "main", "vcpu", "worker", "rcu" };

static const char *const mode_names[] = { "none", "threads", "native", "io_uring" };

struct fq_thread {
	pthread_t th;
	enum role role;
	int index; /* vCPU index or worker number */
	double duty;
	_Atomic int tid;
	char name[16];
	atomic_bool done;
	uint64_t final_run_ns, final_wait_ns;
};

static struct fq_thread threads[MAX_THREADS];
static int nthreads;
static atomic_bool stopping;
static volatile sig_atomic_t sig_stop, sig_dump;
static uint64_t t0_mono, t0_real;

static struct net_state {
	int fd;
	int ifindex;
	pid_t peer;
	int peer_ctl;	/* write end: ifindex, then close to stop */
	int peer_stats; /* read end: the peer's counters at exit */
	uint64_t tx_packets, tx_bytes, tx_errors;
	uint64_t rx_packets, rx_bytes, rx_foreign_packets, rx_foreign_bytes;
	uint64_t peer_sent, peer_errors;
} net = { .fd = -1, .peer = -1, .peer_ctl = -1, .peer_stats = -1 };

static struct disk_state {
	int fd;
	uint64_t size; /* bytes the I/O goes over, a multiple of bs */
	uint64_t next_op;
	_Atomic uint64_t read_ops, read_bytes, write_ops, write_bytes, errors;
	int evfd;
	aio_context_t aio;
	struct io_uring ring;
	bool ring_ok;
	void *bufs[AIO_DEPTH];
	bool busy[AIO_DEPTH];
	struct iocb iocbs[AIO_DEPTH];
	int inflight;
} disk = { .fd = -1, .evfd = -1 };

static void die(const char *fmt, ...) __attribute__((format(printf, 1, 2), noreturn));
static void die(const char *fmt, ...)
{
	va_list ap;

	fprintf(stderr, "fakeqemu: error: ");
	va_start(ap, fmt);
	vfprintf(stderr, fmt, ap);
	va_end(ap);
	fputc('\n', stderr);
	exit(1);
}

static uint64_t thread_cpu_ns(void)
{
	struct timespec ts;

	(void)clock_gettime(CLOCK_THREAD_CPUTIME_ID, &ts);
	return (uint64_t)ts.tv_sec * NSEC + (uint64_t)ts.tv_nsec;
}

static void sleep_until(uint64_t mono_ns)
{
	struct timespec ts = { .tv_sec = (time_t)(mono_ns / NSEC),
			       .tv_nsec = (long)(mono_ns % NSEC) };

	while (clock_nanosleep(CLOCK_MONOTONIC, TIMER_ABSTIME, &ts, NULL) == EINTR)
		;
}

/* run and run-queue wait time of a thread of ours, from schedstat */
static int read_schedstat(int tid, uint64_t *run, uint64_t *wait)
{
	char path[64], buf[128];
	unsigned long long r, w;

	snprintf(path, sizeof(path), "/proc/self/task/%d/schedstat", tid);
	if (read_file_str(path, buf, sizeof(buf)) <= 0 || sscanf(buf, "%llu %llu", &r, &w) != 2)
		return -1;
	*run = r;
	*wait = w;
	return 0;
}

static void thread_begin(struct fq_thread *t)
{
	t->tid = (int)gettid();
	(void)prctl(PR_SET_NAME, t->name);
}

static void thread_end(struct fq_thread *t)
{
	if (read_schedstat(t->tid, &t->final_run_ns, &t->final_wait_ns))
		t->final_run_ns = thread_cpu_ns();
	atomic_store(&t->done, true);
}

/* A vCPU: busy for duty% of each 10 ms period (thread CPU time), asleep for the rest. */
static void *vcpu_main(void *arg)
{
	struct fq_thread *t = arg;
	uint64_t next, busy_ns;

	thread_begin(t);
	busy_ns = (uint64_t)(t->duty / 100.0 * (double)PERIOD_NS);
	next = now_mono_ns();
	while (!atomic_load(&stopping)) {
		uint64_t start = thread_cpu_ns(), now;

		while (thread_cpu_ns() - start < busy_ns && !atomic_load(&stopping))
			;
		next += PERIOD_NS;
		now = now_mono_ns();
		if (now > next + PERIOD_NS)
			next = now; /* starved: do not try to catch up */
		if (busy_ns < PERIOD_NS)
			sleep_until(next);
	}
	thread_end(t);
	return NULL;
}

static void *rcu_main(void *arg)
{
	struct fq_thread *t = arg;

	thread_begin(t);
	while (!atomic_load(&stopping))
		sleep_until(now_mono_ns() + 50000000ull);
	thread_end(t);
	return NULL;
}

static void fill_pattern(void *buf, size_t len, uint64_t seed)
{
	unsigned char *p = buf;

	for (size_t i = 0; i < len; i++)
		p[i] = (unsigned char)(seed + i * 7 + 1);
}

static uint64_t disk_offset(uint64_t op)
{
	return (op * opt.disk_bs) % disk.size;
}

static void disk_account(bool write, long res)
{
	if (res < 0) {
		atomic_fetch_add(&disk.errors, 1);
		return;
	}
	if (write) {
		atomic_fetch_add(&disk.write_ops, 1);
		atomic_fetch_add(&disk.write_bytes, (uint64_t)res);
	} else {
		atomic_fetch_add(&disk.read_ops, 1);
		atomic_fetch_add(&disk.read_bytes, (uint64_t)res);
	}
}

/* QEMU's aio=threads: buffered preadv/pwritev from "worker" threads. */
static void *worker_main(void *arg)
{
	struct fq_thread *t = arg;
	struct iovec iov;
	void *buf;

	thread_begin(t);
	buf = malloc(opt.disk_bs);
	if (!buf)
		die("out of memory");
	fill_pattern(buf, opt.disk_bs, (uint64_t)t->index);
	iov.iov_base = buf;
	iov.iov_len = opt.disk_bs;
	for (uint64_t op = (uint64_t)t->index; !atomic_load(&stopping); op += NWORKERS) {
		uint64_t due = t0_mono + op * NSEC / opt.disk_iops;
		ssize_t n;

		while (!atomic_load(&stopping) && now_mono_ns() < due) {
			uint64_t now = now_mono_ns();

			sleep_until(due - now > 50000000ull ? now + 50000000ull : due);
		}
		if (atomic_load(&stopping))
			break;
		if (opt.disk_write)
			n = pwritev(disk.fd, &iov, 1, (off_t)disk_offset(op));
		else
			n = preadv(disk.fd, &iov, 1, (off_t)disk_offset(op));
		disk_account(opt.disk_write, n < 0 ? -errno : n);
	}
	free(buf);
	thread_end(t);
	return NULL;
}

static struct fq_thread *spawn(enum role role, int index, double duty)
{
	struct fq_thread *t;
	sigset_t all, old;
	int err;

	if (nthreads >= MAX_THREADS)
		die("too many threads");
	t = &threads[nthreads++];
	t->role = role;
	t->index = index;
	t->duty = duty;
	switch (role) {
	case ROLE_VCPU:
		snprintf(t->name, sizeof(t->name), "CPU %d/%s", index, opt.tcg ? "TCG" : "KVM");
		break;
	case ROLE_WORKER:
		snprintf(t->name, sizeof(t->name), "worker");
		break;
	default:
		snprintf(t->name, sizeof(t->name), "call_rcu");
		break;
	}
	/* signals go to the main thread only */
	sigfillset(&all);
	pthread_sigmask(SIG_SETMASK, &all, &old);
	err = pthread_create(&t->th, NULL,
			     role == ROLE_VCPU	   ? vcpu_main
			     : role == ROLE_WORKER ? worker_main
						   : rcu_main,
			     t);
	pthread_sigmask(SIG_SETMASK, &old, NULL);
	if (err)
		die("cannot create thread '%s': %s", t->name, strerror(err));
	while (!atomic_load(&t->tid))
		sleep_until(now_mono_ns() + 100000);
	return t;
}

static double duty_of(int index)
{
	if (!opt.nduty)
		return 50.0;
	return opt.duty[index < opt.nduty ? index : opt.nduty - 1];
}

/* ---- tap ---- */

static void make_frame(unsigned char *f, size_t len, int ethertype, const unsigned char *src,
		       uint64_t seq)
{
	memset(f, 0xff, 6);
	memcpy(f + 6, src, 6);
	f[12] = (unsigned char)(ethertype >> 8);
	f[13] = (unsigned char)ethertype;
	memset(f + 14, 0, len - 14);
	memcpy(f + 14, &seq, len - 14 < sizeof(seq) ? len - 14 : sizeof(seq));
}

static const unsigned char guest_mac[6] = { 0x02, 0xfa, 0x6e, 0x00, 0x00, 0x01 };
static const unsigned char host_mac[6] = { 0x02, 0xfa, 0x6e, 0x00, 0x00, 0x02 };

/*
 * The host side: a child process (not a QEMU thread, like any host sender)
 * that sends frames out of the tap through an AF_PACKET socket, so the host
 * sees net_dev_queue/net_dev_xmit on the tap and the "guest" reads them.
 */
static void peer_main(int ctl, int stats)
{
	struct sockaddr_ll sll = { .sll_family = AF_PACKET };
	uint64_t sent = 0, errors = 0, start;
	unsigned char *frame;
	int ifindex, sock;
	ssize_t n;

	(void)prctl(PR_SET_NAME, "fakeqemu-peer");
	(void)signal(SIGTERM, SIG_DFL);
	(void)signal(SIGINT, SIG_DFL);
	(void)signal(SIGUSR1, SIG_IGN);
	(void)prctl(PR_SET_PDEATHSIG, SIGKILL);
	n = read(ctl, &ifindex, sizeof(ifindex));
	if (n != sizeof(ifindex))
		_exit(0); /* the parent failed before the tap was up */
	sock = socket(AF_PACKET, SOCK_RAW | SOCK_CLOEXEC, 0);
	if (sock < 0)
		die("peer: cannot open packet socket: %s", strerror(errno));
	sll.sll_ifindex = ifindex;
	sll.sll_halen = 6;
	memset(sll.sll_addr, 0xff, 6);
	frame = calloc(1, opt.tap_size);
	if (!frame)
		die("out of memory");
	start = now_mono_ns();
	for (;;) {
		struct pollfd pfd = { .fd = ctl, .events = POLLIN };
		uint64_t due = (now_mono_ns() - start) * opt.tap_pps / NSEC;
		int burst = 0;

		while (sent + errors < due && burst++ < MAX_BURST) {
			make_frame(frame, opt.tap_size, ETH_TYPE_HOST, host_mac, sent);
			if (sendto(sock, frame, opt.tap_size, 0, (struct sockaddr *)&sll,
				   sizeof(sll)) == (ssize_t)opt.tap_size)
				sent++;
			else
				errors++;
		}
		if (sent + errors < due)
			errors += due - sent - errors; /* could not keep up: count as lost */
		if (poll(&pfd, 1, 1) > 0)
			break; /* EOF: the parent stops */
	}
	{
		uint64_t out[2] = { sent, errors };

		(void)!write(stats, out, sizeof(out));
	}
	_exit(0);
}

static void peer_fork(void)
{
	int ctl[2], stats[2];

	if (pipe2(ctl, O_CLOEXEC) || pipe2(stats, O_CLOEXEC))
		die("pipe: %s", strerror(errno));
	net.peer = fork();
	if (net.peer < 0)
		die("fork: %s", strerror(errno));
	if (net.peer == 0) {
		close(ctl[1]);
		close(stats[0]);
		peer_main(ctl[0], stats[1]);
	}
	close(ctl[0]);
	close(stats[1]);
	net.peer_ctl = ctl[1];
	net.peer_stats = stats[0];
}

static void tap_open(void)
{
	struct ifreq ifr = {};
	char path[128];
	int sock;

	net.fd = open("/dev/net/tun", O_RDWR | O_NONBLOCK | O_CLOEXEC);
	if (net.fd < 0)
		die("cannot open '/dev/net/tun': %s", strerror(errno));
	ifr.ifr_flags = IFF_TAP | IFF_NO_PI;
	if (str_copy(ifr.ifr_name, opt.tap, IFNAMSIZ))
		die("tap name '%s' is longer than %d characters", opt.tap, IFNAMSIZ - 1);
	if (ioctl(net.fd, TUNSETIFF, &ifr))
		die("cannot create tap '%s': %s%s", opt.tap, strerror(errno),
		    errno == EPERM ? " (needs CAP_NET_ADMIN)" : "");
	/* no IPv6 router/neighbour solicitations polluting the counts */
	snprintf(path, sizeof(path), "/proc/sys/net/ipv6/conf/%s/disable_ipv6", opt.tap);
	{
		int fd = open(path, O_WRONLY | O_CLOEXEC);

		if (fd >= 0) {
			(void)!write(fd, "1", 1);
			close(fd);
		}
	}
	sock = socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0);
	if (sock < 0)
		die("socket: %s", strerror(errno));
	if (ioctl(sock, SIOCGIFFLAGS, &ifr))
		die("cannot read flags of '%s': %s", opt.tap, strerror(errno));
	ifr.ifr_flags |= IFF_UP;
	if (ioctl(sock, SIOCSIFFLAGS, &ifr))
		die("cannot bring '%s' up: %s", opt.tap, strerror(errno));
	close(sock);
	net.ifindex = (int)if_nametoindex(opt.tap);
	if (!net.ifindex)
		die("tap '%s' has no ifindex: %s", opt.tap, strerror(errno));
	if (write(net.peer_ctl, &net.ifindex, sizeof(net.ifindex)) != sizeof(net.ifindex))
		die("cannot start the host peer: %s", strerror(errno));
}

/* guest tx: write the frames due by now into the tap */
static void tap_tx(uint64_t now)
{
	uint64_t due = (now - t0_mono) * opt.tap_pps / NSEC;
	unsigned char frame[ETH_FRAME_LEN + 4];
	int burst = 0;

	while (net.tx_packets + net.tx_errors < due && burst++ < MAX_BURST) {
		make_frame(frame, opt.tap_size, ETH_TYPE_GUEST, guest_mac, net.tx_packets);
		if (write(net.fd, frame, opt.tap_size) == (ssize_t)opt.tap_size) {
			net.tx_packets++;
			net.tx_bytes += opt.tap_size;
		} else {
			net.tx_errors++;
		}
	}
}

/* guest rx: every frame the host delivered */
static void tap_rx(void)
{
	unsigned char frame[65536];

	for (;;) {
		ssize_t n = read(net.fd, frame, sizeof(frame));

		if (n <= 0)
			return;
		if (n >= 14 && frame[12] == (ETH_TYPE_HOST >> 8) &&
		    frame[13] == (ETH_TYPE_HOST & 0xff)) {
			net.rx_packets++;
			net.rx_bytes += (uint64_t)n;
		} else {
			net.rx_foreign_packets++;
			net.rx_foreign_bytes += (uint64_t)n;
		}
	}
}

static void peer_stop(void)
{
	uint64_t in[2];

	if (net.peer <= 0)
		return;
	close(net.peer_ctl);
	net.peer_ctl = -1;
	if (read(net.peer_stats, in, sizeof(in)) == sizeof(in)) {
		net.peer_sent = in[0];
		net.peer_errors = in[1];
	}
	(void)waitpid(net.peer, NULL, 0);
	net.peer = -1;
}

/* ---- disk ---- */

static void disk_open(void)
{
	int flags = O_RDWR | O_CLOEXEC;
	struct stat st;

	if (opt.disk_bs % 512 && opt.disk_mode != DISK_THREADS)
		die("--disk-bs %llu is not a multiple of 512 as O_DIRECT needs",
		    (unsigned long long)opt.disk_bs);
	if (stat(opt.disk, &st)) {
		/* a new image, written in full so reads really read */
		uint64_t size = opt.disk_size ? opt.disk_size : 16ull << 20;
		char *buf = malloc(1 << 20);
		int fd;

		if (errno != ENOENT)
			die("cannot stat '%s': %s", opt.disk, strerror(errno));
		fd = open(opt.disk, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0644);
		if (fd < 0 || !buf)
			die("cannot create '%s': %s", opt.disk, strerror(errno));
		for (uint64_t off = 0; off < size; off += 1 << 20) {
			size_t n = size - off < (1 << 20) ? size - off : 1 << 20;

			fill_pattern(buf, n, off);
			if (write(fd, buf, n) != (ssize_t)n)
				die("cannot write '%s': %s", opt.disk, strerror(errno));
		}
		if (fsync(fd) || close(fd))
			die("cannot write '%s': %s", opt.disk, strerror(errno));
		free(buf);
		if (stat(opt.disk, &st))
			die("cannot stat '%s': %s", opt.disk, strerror(errno));
	}
	if (opt.disk_mode != DISK_THREADS)
		flags |= O_DIRECT;
	disk.fd = open(opt.disk, flags);
	if (disk.fd < 0)
		die("cannot open '%s'%s: %s", opt.disk, flags & O_DIRECT ? " with O_DIRECT" : "",
		    strerror(errno));
	if (S_ISBLK(st.st_mode)) {
		uint64_t bytes;

		if (ioctl(disk.fd, BLKGETSIZE64, &bytes))
			die("cannot size '%s': %s", opt.disk, strerror(errno));
		disk.size = bytes;
	} else if (S_ISREG(st.st_mode)) {
		disk.size = (uint64_t)st.st_size;
	} else {
		die("'%s' is neither a regular file nor a block device", opt.disk);
	}
	if (opt.disk_size && opt.disk_size < disk.size)
		disk.size = opt.disk_size;
	disk.size -= disk.size % opt.disk_bs;
	if (!disk.size)
		die("'%s' is smaller than one block of %llu bytes", opt.disk,
		    (unsigned long long)opt.disk_bs);
	if (opt.disk_mode == DISK_THREADS)
		return;

	disk.evfd = eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC);
	if (disk.evfd < 0)
		die("eventfd: %s", strerror(errno));
	for (int i = 0; i < AIO_DEPTH; i++) {
		if (posix_memalign(&disk.bufs[i], 4096, opt.disk_bs))
			die("out of memory");
		fill_pattern(disk.bufs[i], opt.disk_bs, (uint64_t)i);
	}
	if (opt.disk_mode == DISK_NATIVE) {
		if (syscall(SYS_io_setup, AIO_DEPTH, &disk.aio))
			die("io_setup: %s", strerror(errno));
	} else {
		int err = io_uring_queue_init(AIO_DEPTH, &disk.ring, 0);

		if (err)
			die("io_uring_queue_init: %s", strerror(-err));
		disk.ring_ok = true;
		err = io_uring_register_eventfd(&disk.ring, disk.evfd);
		if (err)
			die("io_uring_register_eventfd: %s", strerror(-err));
	}
}

static int free_slot(void)
{
	for (int i = 0; i < AIO_DEPTH; i++) {
		if (!disk.busy[i])
			return i;
	}
	return -1;
}

/* QEMU's aio=native and aio=io_uring: O_DIRECT, submitted from the main loop. */
static void disk_submit(uint64_t now)
{
	uint64_t due = (now - t0_mono) * opt.disk_iops / NSEC;
	int submitted = 0;

	while (disk.next_op < due && disk.inflight < AIO_DEPTH) {
		int slot = free_slot();
		uint64_t off = disk_offset(disk.next_op);

		if (opt.disk_mode == DISK_NATIVE) {
			struct iocb *cb = &disk.iocbs[slot];
			long r;

			memset(cb, 0, sizeof(*cb));
			cb->aio_data = (uint64_t)slot;
			cb->aio_lio_opcode = opt.disk_write ? IOCB_CMD_PWRITE : IOCB_CMD_PREAD;
			cb->aio_fildes = (uint32_t)disk.fd;
			cb->aio_buf = (uint64_t)(uintptr_t)disk.bufs[slot];
			cb->aio_nbytes = opt.disk_bs;
			cb->aio_offset = (int64_t)off;
			cb->aio_flags = IOCB_FLAG_RESFD;
			cb->aio_resfd = (uint32_t)disk.evfd;
			r = syscall(SYS_io_submit, disk.aio, 1L, &cb);
			if (r != 1) {
				atomic_fetch_add(&disk.errors, 1);
				disk.next_op++;
				continue;
			}
		} else {
			struct io_uring_sqe *sqe = io_uring_get_sqe(&disk.ring);

			if (!sqe)
				break;
			if (opt.disk_write)
				io_uring_prep_write(sqe, disk.fd, disk.bufs[slot],
						    (unsigned int)opt.disk_bs, off);
			else
				io_uring_prep_read(sqe, disk.fd, disk.bufs[slot],
						   (unsigned int)opt.disk_bs, off);
			io_uring_sqe_set_data64(sqe, (uint64_t)slot);
			submitted++;
		}
		disk.busy[slot] = true;
		disk.inflight++;
		disk.next_op++;
	}
	if (submitted) {
		int r = io_uring_submit(&disk.ring);

		if (r < submitted) {
			/* not submitted: give the slots back, count the failures */
			atomic_fetch_add(&disk.errors, (uint64_t)(submitted - (r > 0 ? r : 0)));
			die("io_uring_submit: %s", strerror(r < 0 ? -r : EIO));
		}
	}
}

static void disk_reap(void)
{
	uint64_t v;

	(void)!read(disk.evfd, &v, sizeof(v));
	if (opt.disk_mode == DISK_NATIVE) {
		struct io_event ev[AIO_DEPTH];
		struct timespec zero = {};
		long n = syscall(SYS_io_getevents, disk.aio, 0L, (long)AIO_DEPTH, ev, &zero);

		for (long i = 0; i < n; i++) {
			disk_account(opt.disk_write, (long)ev[i].res);
			disk.busy[ev[i].data] = false;
			disk.inflight--;
		}
	} else {
		struct io_uring_cqe *cqe;

		while (disk.ring_ok && !io_uring_peek_cqe(&disk.ring, &cqe)) {
			uint64_t slot = io_uring_cqe_get_data64(cqe);

			disk_account(opt.disk_write, cqe->res);
			io_uring_cqe_seen(&disk.ring, cqe);
			if (slot < AIO_DEPTH && disk.busy[slot]) {
				disk.busy[slot] = false;
				disk.inflight--;
			}
		}
	}
}

static void disk_drain(void)
{
	uint64_t deadline = now_mono_ns() + 5 * NSEC;

	if (disk.fd < 0 || opt.disk_mode == DISK_THREADS)
		return;
	while (disk.inflight > 0 && now_mono_ns() < deadline) {
		struct pollfd pfd = { .fd = disk.evfd, .events = POLLIN };

		(void)poll(&pfd, 1, 10);
		disk_reap();
	}
}

/* ---- report ---- */

static void write_report(bool final)
{
	json_object *root = json_object_new_object(), *arr = json_object_new_array();
	uint64_t now_real = now_real_ns(), now_mono = now_mono_ns();
	char tmp[PATH_MAX];
	FILE *f;

	json_object_object_add(root, "pid", json_object_new_int(getpid()));
	json_object_object_add(root, "final", json_object_new_boolean(final));
	json_object_object_add(root, "time_start", json_object_new_double((double)t0_real / 1e9));
	json_object_object_add(root, "time", json_object_new_double((double)now_real / 1e9));
	json_object_object_add(root, "elapsed_ns", json_object_new_uint64(now_mono - t0_mono));
	for (int i = 0; i < nthreads; i++) {
		struct fq_thread *t = &threads[i];
		json_object *o = json_object_new_object();
		uint64_t run = 0, wait = 0;
		bool alive = !atomic_load(&t->done);

		if (!alive) {
			run = t->final_run_ns;
			wait = t->final_wait_ns;
		} else {
			(void)read_schedstat(t->tid, &run, &wait);
		}
		json_object_object_add(o, "tid", json_object_new_int(t->tid));
		json_object_object_add(o, "name", json_object_new_string(t->name));
		json_object_object_add(o, "role", json_object_new_string(role_names[t->role]));
		if (t->role == ROLE_VCPU) {
			json_object_object_add(o, "index", json_object_new_int(t->index));
			json_object_object_add(o, "duty_pct", json_object_new_double(t->duty));
		}
		json_object_object_add(o, "run_ns", json_object_new_uint64(run));
		json_object_object_add(o, "wait_ns", json_object_new_uint64(wait));
		json_object_object_add(o, "alive", json_object_new_boolean(alive));
		json_object_array_add(arr, o);
	}
	json_object_object_add(root, "threads", arr);
	if (opt.tap) {
		json_object *o = json_object_new_object();

		json_object_object_add(o, "ifname", json_object_new_string(opt.tap));
		json_object_object_add(o, "ifindex", json_object_new_int(net.ifindex));
		json_object_object_add(o, "frame_bytes", json_object_new_uint64(opt.tap_size));
		json_object_object_add(o, "tx_packets", json_object_new_uint64(net.tx_packets));
		json_object_object_add(o, "tx_bytes", json_object_new_uint64(net.tx_bytes));
		json_object_object_add(o, "tx_errors", json_object_new_uint64(net.tx_errors));
		json_object_object_add(o, "rx_packets", json_object_new_uint64(net.rx_packets));
		json_object_object_add(o, "rx_bytes", json_object_new_uint64(net.rx_bytes));
		json_object_object_add(o, "rx_foreign_packets",
				       json_object_new_uint64(net.rx_foreign_packets));
		json_object_object_add(o, "rx_foreign_bytes",
				       json_object_new_uint64(net.rx_foreign_bytes));
		if (final) {
			json_object_object_add(o, "peer_sent_packets",
					       json_object_new_uint64(net.peer_sent));
			json_object_object_add(o, "peer_send_errors",
					       json_object_new_uint64(net.peer_errors));
		}
		json_object_object_add(root, "net", o);
	}
	if (opt.disk) {
		json_object *o = json_object_new_object();

		json_object_object_add(o, "path", json_object_new_string(opt.disk));
		json_object_object_add(o, "fd", json_object_new_int(disk.fd));
		json_object_object_add(o, "mode",
				       json_object_new_string(mode_names[opt.disk_mode]));
		json_object_object_add(o, "rw",
				       json_object_new_string(opt.disk_write ? "write" : "read"));
		json_object_object_add(o, "bs", json_object_new_uint64(opt.disk_bs));
		json_object_object_add(o, "read_ops", json_object_new_uint64(disk.read_ops));
		json_object_object_add(o, "read_bytes", json_object_new_uint64(disk.read_bytes));
		json_object_object_add(o, "write_ops", json_object_new_uint64(disk.write_ops));
		json_object_object_add(o, "write_bytes", json_object_new_uint64(disk.write_bytes));
		json_object_object_add(o, "errors", json_object_new_uint64(disk.errors));
		json_object_object_add(root, "disk", o);
	}
	snprintf(tmp, sizeof(tmp), "%s.tmp", opt.report);
	f = fopen(tmp, "we");
	if (!f ||
	    fprintf(f, "%s\n",
		    json_object_to_json_string_ext(
			    root, JSON_C_TO_STRING_PRETTY | JSON_C_TO_STRING_NOSLASHESCAPE)) < 0 ||
	    fclose(f) || rename(tmp, opt.report))
		fprintf(stderr, "fakeqemu: error: cannot write report '%s': %s\n", opt.report,
			strerror(errno));
	json_object_put(root);
}

/* lower *wake to the time event number count (1-based) is due at rate per second */
static void next_due(uint64_t *wake, uint64_t count, uint64_t rate)
{
	uint64_t due = t0_mono + (uint64_t)((unsigned __int128)count * NSEC / rate);

	if (due < *wake)
		*wake = due;
}

static void on_signal(int sig)
{
	if (sig == SIGUSR1)
		sig_dump = 1;
	else
		sig_stop = 1;
}

int main(int argc, char **argv)
{
	struct sigaction sa = { .sa_handler = on_signal };
	uint64_t end = UINT64_MAX, add_at = UINT64_MAX, peer_check = 0;
	bool added = false;

	parse_args(argc, argv);
	(void)signal(SIGPIPE, SIG_IGN);
	sigemptyset(&sa.sa_mask);
	sigaction(SIGTERM, &sa, NULL);
	sigaction(SIGINT, &sa, NULL);
	sigaction(SIGUSR1, &sa, NULL);

	/* fork the host peer while our name is still ours: it must not look like QEMU */
	if (opt.tap)
		peer_fork();
	(void)prctl(PR_SET_NAME, "qemu-system-x86");
	threads[0].role = ROLE_MAIN;
	threads[0].tid = getpid();
	snprintf(threads[0].name, sizeof(threads[0].name), "qemu-system-x86");
	nthreads = 1;

	if (opt.tap)
		tap_open();
	if (opt.disk)
		disk_open();

	t0_mono = now_mono_ns();
	t0_real = now_real_ns();
	if (opt.duration >= 0)
		end = t0_mono + (uint64_t)(opt.duration * 1e9);
	if (opt.add_vcpu_after >= 0)
		add_at = t0_mono + (uint64_t)(opt.add_vcpu_after * 1e9);
	(void)spawn(ROLE_RCU, 0, 0);
	for (int i = 0; i < opt.vcpus; i++)
		(void)spawn(ROLE_VCPU, i, duty_of(i));
	if (opt.disk && opt.disk_mode == DISK_THREADS) {
		for (int i = 0; i < NWORKERS; i++)
			(void)spawn(ROLE_WORKER, i, 0);
	}
	if (opt.ready) {
		FILE *f = fopen(opt.ready, "we");

		if (!f || fprintf(f, "%d\n", getpid()) < 0 || fclose(f))
			die("cannot write '%s': %s", opt.ready, strerror(errno));
	}

	/* the main loop, like QEMU's: tap I/O and AIO completions */
	while (!sig_stop) {
		uint64_t now = now_mono_ns(), wake = now + 10 * TICK_NS;
		struct pollfd pfd[2];
		struct timespec ts;
		int n = 0;

		if (now >= end)
			break;
		if (sig_dump && opt.report) {
			sig_dump = 0;
			write_report(false);
		}
		if (net.peer > 0 && now >= peer_check) {
			int status;

			peer_check = now + 100 * TICK_NS;
			if (waitpid(net.peer, &status, WNOHANG) == net.peer) {
				net.peer = -1;
				die("the host peer process exited (status %d): no guest rx",
				    status);
			}
		}
		if (!added && now >= add_at) {
			(void)spawn(ROLE_VCPU, opt.vcpus, duty_of(opt.vcpus));
			added = true;
		}
		if (opt.tap) {
			tap_tx(now);
			tap_rx();
			pfd[n++] = (struct pollfd){ .fd = net.fd, .events = POLLIN };
			next_due(&wake, net.tx_packets + net.tx_errors + 1, opt.tap_pps);
		}
		if (opt.disk && opt.disk_mode != DISK_THREADS) {
			disk_reap();
			disk_submit(now);
			pfd[n++] = (struct pollfd){ .fd = disk.evfd, .events = POLLIN };
			if (disk.inflight < AIO_DEPTH)
				next_due(&wake, disk.next_op + 1, opt.disk_iops);
		}
		if (wake > end)
			wake = end;
		if (!added && wake > add_at)
			wake = add_at;
		wake = wake > now ? wake - now : 0;
		ts.tv_sec = (time_t)(wake / NSEC);
		ts.tv_nsec = (long)(wake % NSEC);
		(void)ppoll(pfd, (nfds_t)n, &ts, NULL);
	}

	atomic_store(&stopping, true);
	for (int i = 1; i < nthreads; i++)
		pthread_join(threads[i].th, NULL);
	disk_drain();
	if (opt.tap) {
		/* frames the host already queued to the tap still count as delivered */
		peer_stop();
		sleep_until(now_mono_ns() + 20 * TICK_NS);
		tap_rx();
	}
	if (opt.report)
		write_report(true);
	if (disk.ring_ok)
		io_uring_queue_exit(&disk.ring);
	if (disk.aio)
		(void)syscall(SYS_io_destroy, disk.aio);
	return 0;
}
