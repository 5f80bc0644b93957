// SPDX-License-Identifier: GPL-2.0
/*
 * VM discovery from /proc. Every file is read with a bound and parsed as
 * hostile text: a process may exit between two reads (its files vanish or
 * come back empty), and names are chosen by whoever runs the process.
 */
#include <ctype.h>
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdarg.h>
#include <net/if.h>
#include <pwd.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/sysmacros.h>
#include <unistd.h>

#include "procscan.h"
#include "util.h"

#define QEMU_PREFIX	"qemu-system-"
#define CMDLINE_MAX	(128 * 1024) /* libvirt puts -name and -uuid near the start */
#define VCPU_INDEX_MAX	65535
#define PF_KTHREAD_FLAG 0x00200000ull /* include/linux/sched.h PF_KTHREAD */

struct scan_ctx {
	const char *proc;
	const char *sys;
	const struct procscan_opts *opts;
	struct procscan_counts *counts;
	char *cmdline; /* CMDLINE_MAX bytes, reused for every process */
};

/* Fields of /proc/PID/stat that the scan needs. */
struct proc_stat {
	char comm[16];
	char state;
	uint64_t flags;
	uint64_t start_time;
};

static int path_fmt(char *buf, size_t size, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));

static int path_fmt(char *buf, size_t size, const char *fmt, ...)
{
	va_list ap;
	int n;

	va_start(ap, fmt);
	n = vsnprintf(buf, size, fmt, ap);
	va_end(ap);
	if (n < 0 || (size_t)n >= size)
		return -ENAMETOOLONG;
	return 0;
}

/* A whole decimal number without sign or leading zero, at most max. */
static bool parse_dec(const char *s, size_t len, unsigned long max, unsigned long *out)
{
	unsigned long v = 0;

	if (!len || (len > 1 && s[0] == '0'))
		return false;
	for (size_t i = 0; i < len; i++) {
		if (s[i] < '0' || s[i] > '9')
			return false;
		v = v * 10 + (unsigned long)(s[i] - '0');
		if (v > max)
			return false;
	}
	*out = v;
	return true;
}

static bool name_is_pid(const char *name, int *pid)
{
	unsigned long v;

	if (!parse_dec(name, strlen(name), INT_MAX, &v) || v == 0)
		return false;
	*pid = (int)v;
	return true;
}

int procscan__parse_vcpu_name(const char *comm)
{
	size_t len, num;
	unsigned long v;

	if (!comm)
		return -EINVAL;
	len = strlen(comm);
	if (len < 9 || strncmp(comm, "CPU ", 4))
		return -EINVAL;
	if (strcmp(comm + len - 4, "/KVM") && strcmp(comm + len - 4, "/TCG"))
		return -EINVAL;
	num = len - 8;
	if (!parse_dec(comm + 4, num, VCPU_INDEX_MAX, &v))
		return -EINVAL;
	return (int)v;
}

/*
 * Copy an untrusted name by the name rule (vm.h): valid UTF-8 without
 * control characters, every other byte '?', a cut never splits a character.
 */
static int copy_sanitized(char *dst, size_t size, const char *src, size_t len)
{
	return vm_name__sanitize(dst, size, src, len) == -E2BIG ? -E2BIG : 0;
}

/* The argument after the last "-OPT" or "--OPT" of a NUL-separated command line. */
static const char *cmdline_arg(const char *cmdline, size_t len, const char *opt, size_t *arglen)
{
	const char *found = NULL;
	size_t optlen = strlen(opt);
	size_t pos = 0;

	while (pos < len) {
		const char *arg = cmdline + pos;
		size_t alen = strnlen(arg, len - pos);
		const char *o = arg;

		if (alen >= 2 && arg[0] == '-' && arg[1] == '-')
			o = arg + 2;
		else if (alen >= 1 && arg[0] == '-')
			o = arg + 1;
		pos += alen + 1;
		if (o != arg && (size_t)(arg + alen - o) == optlen && !memcmp(o, opt, optlen) &&
		    pos < len) {
			found = cmdline + pos;
			*arglen = strnlen(found, len - pos);
		}
	}
	return found;
}

int procscan__parse_name(const char *cmdline, size_t len, char *name, size_t size)
{
	const char *val, *p, *end;
	size_t vlen;
	char *tmp = NULL;
	size_t tlen = 0;
	bool first = true, found = false;
	int err = -ENOENT;

	if (!name || !size)
		return -EINVAL;
	name[0] = '\0';
	if (!cmdline)
		return -ENOENT;
	val = cmdline_arg(cmdline, len, "name", &vlen);
	if (!val)
		return -ENOENT;
	tmp = malloc(vlen + 1);
	if (!tmp)
		return -ENOMEM;
	/* QemuOpts syntax: key=value,key=value; the first may omit "guest="; ",," is ','. */
	p = val;
	end = val + vlen;
	while (p < end) {
		size_t klen = 0;
		bool is_guest;

		while (p + klen < end && p[klen] != '=' && p[klen] != ',')
			klen++;
		if (p + klen < end && p[klen] == '=') {
			is_guest = klen == 5 && !memcmp(p, "guest", 5);
			p += klen + 1;
		} else if (first) {
			is_guest = true;
		} else {
			/* a bare flag like "debug-threads" */
			p += klen;
			if (p < end)
				p++;
			continue;
		}
		first = false;
		tlen = 0;
		while (p < end) {
			if (*p == ',') {
				if (p + 1 < end && p[1] == ',') {
					tmp[tlen++] = ',';
					p += 2;
					continue;
				}
				break;
			}
			tmp[tlen++] = *p++;
		}
		if (p < end)
			p++; /* the separating ',' */
		if (is_guest) {
			found = tlen > 0;
			err = found ? copy_sanitized(name, size, tmp, tlen) : -ENOENT;
			if (!found)
				name[0] = '\0';
		}
	}
	free(tmp);
	return err;
}

int procscan__parse_uuid(const char *cmdline, size_t len, char uuid[VM_UUID_LEN])
{
	const char *val;
	size_t vlen;

	uuid[0] = '\0';
	if (!cmdline)
		return -ENOENT;
	val = cmdline_arg(cmdline, len, "uuid", &vlen);
	if (!val || vlen != VM_UUID_LEN - 1)
		return -ENOENT;
	for (size_t i = 0; i < vlen; i++) {
		bool dash = i == 8 || i == 13 || i == 18 || i == 23;

		if (dash ? val[i] != '-' : !isxdigit((unsigned char)val[i]))
			return -ENOENT;
	}
	memcpy(uuid, val, vlen);
	uuid[vlen] = '\0';
	return 0;
}

int procscan__parse_iff(const char *fdinfo, char ifname[VM_IFNAME_MAX])
{
	const char *line = fdinfo;

	ifname[0] = '\0';
	if (!fdinfo)
		return -ENOENT;
	while (line && *line) {
		if (!strncmp(line, "iff:", 4)) {
			const char *p = line + 4;
			size_t n;

			while (*p == ' ' || *p == '\t')
				p++;
			n = strcspn(p, "\n");
			if (!n || n >= VM_IFNAME_MAX || p[n] != '\n')
				return -ENOENT;
			if ((n == 1 && p[0] == '.') || (n == 2 && p[0] == '.' && p[1] == '.'))
				return -ENOENT;
			for (size_t i = 0; i < n; i++) {
				unsigned char c = (unsigned char)p[i];

				if (c <= 0x20 || c == 0x7f || c == '/' || c == ':')
					return -ENOENT;
			}
			memcpy(ifname, p, n);
			ifname[n] = '\0';
			if (!vm_name__valid(ifname)) {
				ifname[0] = '\0';
				return -ENOENT; /* it would leave the process as a label */
			}
			return 0;
		}
		line = strchr(line, '\n');
		if (line)
			line++;
	}
	return -ENOENT;
}

/*
 * /proc/PID/stat: "pid (comm) state ppid ... flags(9) ... starttime(22) ...".
 * comm may hold spaces and ')', so fields are counted from the last ')'.
 */
static int parse_stat(const char *buf, struct proc_stat *st)
{
	const char *open = strchr(buf, '('), *close = strrchr(buf, ')');
	const char *p;
	int field = 3;

	memset(st, 0, sizeof(*st));
	if (!open || !close || close < open)
		return -EINVAL;
	(void)copy_sanitized(st->comm, sizeof(st->comm), open + 1, (size_t)(close - open - 1));
	p = close + 1;
	while (field <= 22) {
		const char *tok;
		size_t n;
		unsigned long long v;
		char *end;

		while (*p == ' ')
			p++;
		if (!*p)
			return -EINVAL;
		tok = p;
		n = strcspn(p, " \n");
		p += n;
		if (field == 3) {
			st->state = tok[0];
		} else if (field == 9 || field == 22) {
			if (tok[0] < '0' || tok[0] > '9')
				return -EINVAL;
			errno = 0;
			v = strtoull(tok, &end, 10);
			if (errno || end != tok + n)
				return -EINVAL;
			if (field == 9)
				st->flags = v;
			else
				st->start_time = v;
		}
		field++;
	}
	return 0;
}

static int read_stat(const struct scan_ctx *ctx, int pid, int tid, struct proc_stat *st)
{
	char path[PATH_MAX], buf[1024];
	int err;

	if (tid)
		err = path_fmt(path, sizeof(path), "%s/%d/task/%d/stat", ctx->proc, pid, tid);
	else
		err = path_fmt(path, sizeof(path), "%s/%d/stat", ctx->proc, pid);
	if (err)
		return err;
	if (read_file_str(path, buf, sizeof(buf)) < 0)
		return -ESRCH;
	return parse_stat(buf, st) ? -ESRCH : 0;
}

/* 0 when pid is a process (thread group leader), -ESRCH otherwise. */
static int check_tgid(const struct scan_ctx *ctx, int pid)
{
	char path[PATH_MAX], buf[4096];
	const char *line;
	unsigned long tgid;
	int err;

	err = path_fmt(path, sizeof(path), "%s/%d/status", ctx->proc, pid);
	if (err)
		return err;
	if (read_file_str(path, buf, sizeof(buf)) < 0)
		return -ESRCH;
	for (line = buf; line; line = strchr(line, '\n') ? strchr(line, '\n') + 1 : NULL) {
		if (!strncmp(line, "Tgid:", 5)) {
			const char *p = line + 5;

			while (*p == ' ' || *p == '\t')
				p++;
			if (!parse_dec(p, strcspn(p, "\n"), INT_MAX, &tgid))
				return -ESRCH;
			return (int)tgid == pid ? 0 : -ESRCH;
		}
	}
	return -ESRCH;
}

static bool exe_is_qemu(const struct scan_ctx *ctx, int pid)
{
	char path[PATH_MAX], target[PATH_MAX];
	const char *base;
	ssize_t n;

	if (path_fmt(path, sizeof(path), "%s/%d/exe", ctx->proc, pid))
		return false;
	n = readlink(path, target, sizeof(target) - 1);
	if (n <= 0)
		return false;
	target[n] = '\0';
	base = strrchr(target, '/');
	base = base ? base + 1 : target;
	return !strncmp(base, QEMU_PREFIX, strlen(QEMU_PREFIX));
}

struct vcpu_slot {
	int tid; /* 0 when empty */
	bool start_known;
	uint64_t start;
};

static int thread_start(const struct scan_ctx *ctx, int pid, struct vcpu_slot *s)
{
	struct proc_stat st;

	if (!s->start_known) {
		if (read_stat(ctx, pid, s->tid, &st))
			return -ESRCH;
		s->start = st.start_time;
		s->start_known = true;
	}
	return 0;
}

/*
 * vCPU threads from their names. A thread cloned from a vCPU thread carries
 * its name until it renames itself, so when two threads claim one index the
 * older thread (smaller start time) is the vCPU.
 */
static int scan_threads(const struct scan_ctx *ctx, int pid, struct vm_desc *vm, bool *named)
{
	struct vcpu_slot slots[VM_MAX_VCPUS] = {};
	char path[PATH_MAX], comm[64];
	struct dirent *de;
	DIR *dir = NULL;
	int err;

	*named = false;
	err = path_fmt(path, sizeof(path), "%s/%d/task", ctx->proc, pid);
	if (err)
		return err;
	dir = opendir(path);
	if (!dir)
		return -ESRCH;
	while ((de = readdir(dir))) {
		struct vcpu_slot cand = {};
		int tid, index;
		long n;

		if (!name_is_pid(de->d_name, &tid))
			continue;
		if (path_fmt(path, sizeof(path), "%s/%d/task/%d/comm", ctx->proc, pid, tid))
			continue;
		n = read_file_str(path, comm, sizeof(comm));
		if (n <= 0)
			continue; /* the thread exited */
		if (comm[n - 1] == '\n')
			comm[n - 1] = '\0';
		index = procscan__parse_vcpu_name(comm);
		if (index < 0)
			continue;
		*named = true;
		if (index >= VM_MAX_VCPUS)
			continue;
		cand.tid = tid;
		if (slots[index].tid) {
			struct vcpu_slot *cur = &slots[index];

			if (thread_start(ctx, pid, &cand))
				continue;
			if (thread_start(ctx, pid, cur) == 0 &&
			    (cur->start < cand.start ||
			     (cur->start == cand.start && cur->tid < cand.tid)))
				continue;
		}
		slots[index] = cand;
	}
	(void)closedir(dir);
	vm->nvcpus = 0;
	for (int i = 0; i < VM_MAX_VCPUS; i++) {
		if (!slots[i].tid)
			continue;
		vm->vcpus[vm->nvcpus].index = i;
		vm->vcpus[vm->nvcpus].tid = slots[i].tid;
		vm->nvcpus++;
	}
	return 0;
}

static int ifindex_of(const struct scan_ctx *ctx, const char *ifname)
{
	char path[PATH_MAX], buf[32];
	unsigned long v;
	long n;

	if (!ctx->sys)
		return (int)if_nametoindex(ifname);
	if (path_fmt(path, sizeof(path), "%s/class/net/%s/ifindex", ctx->sys, ifname))
		return 0;
	n = read_file_str(path, buf, sizeof(buf));
	if (n <= 0)
		return 0;
	if (!parse_dec(buf, strcspn(buf, "\n"), INT_MAX, &v))
		return 0;
	return (int)v;
}

static bool has_suffix(const char *s, const char *suffix)
{
	size_t n = strlen(s), m = strlen(suffix);

	return n >= m && !strcasecmp(s + n - m, suffix);
}

static bool image_suffix(const char *path)
{
	static const char *const suffixes[] = { ".img",	 ".qcow2", ".qcow", ".raw",  ".iso",
						".vmdk", ".vdi",   ".vhd",  ".vhdx", ".qed" };
	char base[VM_PATH_MAX];
	size_t n;

	(void)str_copy(base, path, sizeof(base));
	n = strlen(base);
	if (n > 10 && !strcmp(base + n - 10, " (deleted)"))
		base[n - 10] = '\0';
	for (size_t i = 0; i < ARRAY_SIZE(suffixes); i++) {
		if (has_suffix(base, suffixes[i]))
			return true;
	}
	return false;
}

/* fdinfo "flags:" (octal); -1 when unknown. */
static long fdinfo_flags(const char *fdinfo)
{
	const char *line;

	for (line = fdinfo; line && *line;
	     line = strchr(line, '\n') ? strchr(line, '\n') + 1 : NULL) {
		if (!strncmp(line, "flags:", 6)) {
			char *end;
			long v;

			errno = 0;
			v = strtol(line + 6, &end, 8);
			if (errno || end == line + 6 || v < 0)
				return -1;
			return v;
		}
	}
	return -1;
}

/*
 * Which open files are disk images. Block devices always are (QEMU opens
 * them only as drives). Regular files are when opened read-write, or
 * read-only with an image suffix (backing files, ISOs). Never: fds 0-2,
 * write-only or append-mode files (logs, file chardevs), *.log, files under
 * /dev (shm, hugepages memory backends), /proc, /sys, memfds, and anything
 * that is not a path (pipes, sockets, anon inodes).
 */
static bool is_disk(const char *target, int fd, long flags, const struct stat *st)
{
	if (fd <= 2 || target[0] != '/' || !strncmp(target, "/memfd:", 7))
		return false;
	if (S_ISBLK(st->st_mode))
		return true;
	if (!S_ISREG(st->st_mode))
		return false;
	if (!strncmp(target, "/dev/", 5) || !strncmp(target, "/proc/", 6) ||
	    !strncmp(target, "/sys/", 5) || has_suffix(target, ".log"))
		return false;
	if (flags >= 0) {
		if ((flags & O_ACCMODE) == O_WRONLY || (flags & O_APPEND))
			return false;
		if ((flags & O_ACCMODE) == O_RDWR)
			return true;
	}
	return image_suffix(target);
}

static void add_tap(const struct scan_ctx *ctx, struct vm_desc *vm, const char *fdinfo)
{
	char ifname[VM_IFNAME_MAX];

	if (procscan__parse_iff(fdinfo, ifname))
		return;
	for (int i = 0; i < vm->ntaps; i++) {
		if (!strcmp(vm->taps[i].ifname, ifname))
			return; /* multiqueue: one fd per queue */
	}
	if (vm->ntaps >= VM_MAX_TAPS)
		return;
	memcpy(vm->taps[vm->ntaps].ifname, ifname, sizeof(ifname));
	vm->taps[vm->ntaps].ifindex = ifindex_of(ctx, ifname);
	vm->ntaps++;
}

static void add_disk(struct vm_desc *vm, const char *target, int fd, const struct stat *st)
{
	uint64_t dev = S_ISBLK(st->st_mode) ? (uint64_t)st->st_rdev : (uint64_t)st->st_dev;
	struct vm_disk *d;

	for (int i = 0; i < vm->ndisks; i++) {
		if (vm->disks[i].dev == dev && vm->disks[i].ino == (uint64_t)st->st_ino)
			return; /* the same image opened twice */
	}
	if (vm->ndisks >= VM_MAX_DISKS)
		return;
	d = &vm->disks[vm->ndisks++];
	memset(d, 0, sizeof(*d));
	(void)copy_sanitized(d->path, sizeof(d->path), target, strlen(target));
	d->fd = fd;
	d->dev = dev;
	d->ino = st->st_ino;
}

static int cmp_int(const void *a, const void *b)
{
	int x = *(const int *)a, y = *(const int *)b;

	return (x > y) - (x < y);
}

/* Sorted numeric entries of a directory; -errno when it cannot be read. */
static int list_numeric(const char *path, bool allow_zero, int **out, int *count)
{
	struct dirent *de;
	int *v = NULL, n = 0, cap = 0, err = -ENOMEM;
	DIR *dir;

	*out = NULL;
	*count = 0;
	dir = opendir(path);
	if (!dir)
		return -errno;
	while ((de = readdir(dir))) {
		int num;

		if (allow_zero && !strcmp(de->d_name, "0"))
			num = 0;
		else if (!name_is_pid(de->d_name, &num))
			continue;
		if (n == cap) {
			int ncap = cap ? cap * 2 : 64;
			int *nv = realloc(v, (size_t)ncap * sizeof(*v));

			if (!nv)
				goto cleanup;
			v = nv;
			cap = ncap;
		}
		v[n++] = num;
	}
	if (n)
		qsort(v, (size_t)n, sizeof(*v), cmp_int);
	*out = v;
	*count = n;
	v = NULL;
	err = 0;
cleanup:
	free(v);
	(void)closedir(dir);
	return err;
}

static void scan_fds(const struct scan_ctx *ctx, int pid, struct vm_desc *vm)
{
	char path[PATH_MAX], target[PATH_MAX], fdinfo[4096];
	int *fds = NULL, nfds = 0;

	if (path_fmt(path, sizeof(path), "%s/%d/fd", ctx->proc, pid))
		return;
	if (list_numeric(path, true, &fds, &nfds))
		return; /* exited, or not ours to read: a VM without taps and disks */
	for (int i = 0; i < nfds; i++) {
		int fd = fds[i];
		struct stat st;
		ssize_t n;
		long flags;

		if (path_fmt(path, sizeof(path), "%s/%d/fd/%d", ctx->proc, pid, fd))
			continue;
		n = readlink(path, target, sizeof(target) - 1);
		if (n <= 0)
			continue;
		target[n] = '\0';
		if (target[0] != '/')
			continue;
		if (!strcmp(target, "/dev/net/tun")) {
			if (path_fmt(path, sizeof(path), "%s/%d/fdinfo/%d", ctx->proc, pid, fd))
				continue;
			if (read_file_str(path, fdinfo, sizeof(fdinfo)) > 0)
				add_tap(ctx, vm, fdinfo);
			continue;
		}
		if (fd <= 2 || stat(path, &st))
			continue;
		flags = -1;
		if (!path_fmt(path, sizeof(path), "%s/%d/fdinfo/%d", ctx->proc, pid, fd) &&
		    read_file_str(path, fdinfo, sizeof(fdinfo)) > 0)
			flags = fdinfo_flags(fdinfo);
		if (is_disk(target, fd, flags, &st))
			add_disk(vm, target, fd, &st);
	}
	free(fds);
}

/* Real and effective uid from /proc/PID/status ("Uid:\treal\teffective\tsaved\tfs"). */
static int read_uids(const struct scan_ctx *ctx, int pid, uid_t *ruid, uid_t *euid)
{
	char path[PATH_MAX], buf[4096];
	const char *line;
	int err;

	err = path_fmt(path, sizeof(path), "%s/%d/status", ctx->proc, pid);
	if (err)
		return err;
	if (read_file_str(path, buf, sizeof(buf)) < 0)
		return -ESRCH;
	for (line = buf; line; line = strchr(line, '\n') ? strchr(line, '\n') + 1 : NULL) {
		unsigned int r, e;

		if (strncmp(line, "Uid:", 4))
			continue;
		if (sscanf(line + 4, "%u %u", &r, &e) != 2)
			return -EINVAL;
		*ruid = (uid_t)r;
		*euid = (uid_t)e;
		return 0;
	}
	return -EINVAL;
}

static bool owner_allowed(const struct procscan_opts *o, uid_t uid)
{
	for (int i = 0; i < o->nowners; i++) {
		if (o->owners[i] == uid)
			return true;
	}
	return false;
}

/*
 * Whether a QEMU-like process may be a VM: both its real and effective uid
 * are owners. Not the owner of /proc/PID, which is root for any process
 * that made itself non-dumpable.
 */
static bool owner_ok(struct scan_ctx *ctx, int pid)
{
	uid_t ruid = 0, euid = 0;

	if (!ctx->opts || !ctx->opts->check_owner)
		return true;
	if (!read_uids(ctx, pid, &ruid, &euid) && owner_allowed(ctx->opts, ruid) &&
	    owner_allowed(ctx->opts, euid))
		return true;
	if (ctx->counts) {
		ctx->counts->refused[PROCSCAN_REFUSED_OWNER]++;
		ctx->counts->last_pid = pid;
		ctx->counts->last_uid = euid;
	}
	return false;
}

/* 1 and vm filled when pid is QEMU-like, 0 when not, -ESRCH when gone. */
static int scan_one(struct scan_ctx *ctx, int pid, struct vm_desc *vm)
{
	struct proc_stat st;
	char path[PATH_MAX];
	bool qemu, named;
	long n;
	int err;

	memset(vm, 0, sizeof(*vm));
	err = read_stat(ctx, pid, 0, &st);
	if (err)
		return err == -ENAMETOOLONG ? err : -ESRCH;
	if (st.state == 'Z' || st.state == 'X')
		return -ESRCH;
	if (st.flags & PF_KTHREAD_FLAG)
		return 0;
	qemu = !strncmp(st.comm, QEMU_PREFIX, strlen(QEMU_PREFIX)) || exe_is_qemu(ctx, pid);
	err = scan_threads(ctx, pid, vm, &named);
	if (err == -ENAMETOOLONG)
		return err;
	if (!qemu && !named)
		return 0;
	if (err)
		return -ESRCH;
	if (!owner_ok(ctx, pid))
		return 0;

	vm->pid = pid;
	vm->source = VM_SOURCE_PROC;
	vm->start_time = st.start_time;
	if (!path_fmt(path, sizeof(path), "%s/%d/cmdline", ctx->proc, pid)) {
		n = read_file_str(path, ctx->cmdline, CMDLINE_MAX);
		/* an argument without its final NUL was cut (by our bound): drop it */
		while (n > 0 && ctx->cmdline[n - 1] != '\0')
			n--;
		if (n > 0) {
			(void)procscan__parse_name(ctx->cmdline, (size_t)n, vm->name,
						   sizeof(vm->name));
			(void)procscan__parse_uuid(ctx->cmdline, (size_t)n, vm->uuid);
		}
	}
	scan_fds(ctx, pid, vm);

	/* a reused pid would show another start time: the process exited mid-scan */
	if (read_stat(ctx, pid, 0, &st) || st.start_time != vm->start_time)
		return -ESRCH;
	return 1;
}

static int append(struct vm_list *out, const struct vm_desc *vm)
{
	struct vm_desc *slot = vm_list__add(out);

	if (!slot)
		return -ENOMEM;
	*slot = *vm;
	return 0;
}

int procscan__scan_opts(const char *proc_root, const struct procscan_opts *opts, const int *pids,
			int npids, struct vm_list *out, struct procscan_counts *counts)
{
	struct scan_ctx ctx = { .proc = proc_root,
				.sys = opts ? opts->sys_root : NULL,
				.opts = opts,
				.counts = counts };
	struct vm_desc *vm = NULL;
	int *all = NULL, nall = 0;
	int err = -EINVAL, first_err = 0;

	if (!proc_root || !out || npids < 0 || (npids && !pids))
		return -EINVAL;
	err = -ENOMEM;
	ctx.cmdline = malloc(CMDLINE_MAX);
	vm = malloc(sizeof(*vm));
	if (!ctx.cmdline || !vm)
		goto cleanup;

	if (!npids) {
		err = list_numeric(proc_root, false, &all, &nall);
		if (err)
			goto cleanup;
		for (int i = 0; i < nall; i++) {
			int r = scan_one(&ctx, all[i], vm);

			if (r == -ENAMETOOLONG) {
				err = r;
				goto cleanup;
			}
			if (r == 1 && opts && opts->max_vms && out->n >= opts->max_vms) {
				if (counts)
					counts->refused[PROCSCAN_REFUSED_LIMIT]++;
			} else if (r == 1) {
				err = append(out, vm);
				if (err)
					goto cleanup;
			}
		}
		err = 0;
		goto cleanup;
	}

	err = access(proc_root, R_OK | X_OK) ? -errno : 0;
	if (err)
		goto cleanup;
	for (int i = 0; i < npids; i++) {
		bool dup = false;
		int r;

		for (int j = 0; j < i; j++)
			dup = dup || pids[j] == pids[i];
		if (dup)
			continue;
		r = pids[i] > 0 ? check_tgid(&ctx, pids[i]) : -ESRCH;
		if (!r)
			r = scan_one(&ctx, pids[i], vm);
		if (r == -ENAMETOOLONG) {
			err = r;
			goto cleanup;
		}
		if (r == 1) {
			err = append(out, vm);
			if (err)
				goto cleanup;
			continue;
		}
		if (!first_err)
			first_err = r == 0 ? -ENOEXEC : -ESRCH;
	}
	err = first_err;
cleanup:
	free(all);
	free(vm);
	free(ctx.cmdline);
	return err;
}

int procscan__scan_root(const char *proc_root, const char *sys_root, const int *pids, int npids,
			struct vm_list *out)
{
	struct procscan_opts o = { .sys_root = sys_root };

	return procscan__scan_opts(proc_root, &o, pids, npids, out, NULL);
}

int procscan__scan(const char *proc_root, const int *pids, int npids, struct vm_list *out)
{
	return procscan__scan_root(proc_root, NULL, pids, npids, out);
}

const char *procscan__refused_name(enum procscan_refused r)
{
	static const char *const names[PROCSCAN_REFUSED_NR] = {
		[PROCSCAN_REFUSED_OWNER] = "owner",
		[PROCSCAN_REFUSED_LIMIT] = "limit",
	};

	return (unsigned int)r < PROCSCAN_REFUSED_NR ? names[r] : NULL;
}

int procscan__resolve_owners(const char *list, uid_t *uids, int max)
{
	char item[64];
	int n = 0;

	if (!list || !uids || max <= 0)
		return -EINVAL;
	while (*list) {
		size_t len = strcspn(list, ",");
		unsigned long v = 0;

		if (len && len < sizeof(item)) {
			struct passwd pw, *res = NULL;
			char buf[1024];

			memcpy(item, list, len);
			item[len] = '\0';
			if (!strcmp(item, "0") || parse_dec(item, len, UINT_MAX - 1, &v)) {
				if (n < max)
					uids[n++] = (uid_t)v;
			} else if (!getpwnam_r(item, &pw, buf, sizeof(buf), &res) && res) {
				if (n < max)
					uids[n++] = res->pw_uid;
			}
			/* a user that does not exist owns no process: skipped */
		}
		list += len;
		if (*list == ',')
			list++;
	}
	return n;
}
