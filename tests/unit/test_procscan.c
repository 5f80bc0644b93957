// SPDX-License-Identifier: GPL-2.0
/*
 * VM discovery against a fake /proc built in a temp folder at run time:
 * a libvirt-style KVM QEMU, a TCG QEMU, a shell, a hostile process, truncated
 * and vanished processes. If this breaks, `kvmpilot stat` shows the wrong
 * VMs, names, vCPUs, taps or disks.
 */
#include <errno.h>
#include <fcntl.h>
#include <ftw.h>
#include <limits.h>
#include <net/if.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>
#include <cmocka.h>

#include "procscan.h"
#include "util.h"

#define KTHREAD 0x00200000ull

static char root[200], proc[256], sys[256], images[256];

static void mkdirs(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
static void mkdirs(const char *fmt, ...)
{
	char path[PATH_MAX * 2];
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(path, sizeof(path), fmt, ap);
	va_end(ap);
	for (char *p = path + 1; *p; p++) {
		if (*p == '/') {
			*p = '\0';
			(void)mkdir(path, 0755);
			*p = '/';
		}
	}
	(void)mkdir(path, 0755);
}

/* Write len bytes (may hold NULs) to a file under proc/, creating folders. */
static void put(const char *rel, const void *data, size_t len)
{
	char path[PATH_MAX * 2];
	char *slash;
	int fd;

	snprintf(path, sizeof(path), "%s/%s", proc, rel);
	slash = strrchr(path, '/');
	*slash = '\0';
	mkdirs("%s", path);
	*slash = '/';
	fd = open(path, O_WRONLY | O_CREAT | O_TRUNC, 0644);
	assert_true(fd >= 0);
	assert_int_equal(write(fd, data, len), (ssize_t)len);
	close(fd);
}

static void write_abs(const char *path, const char *text)
{
	int fd = open(path, O_WRONLY | O_CREAT | O_TRUNC, 0644);

	assert_true(fd >= 0);
	assert_int_equal(write(fd, text, strlen(text)), (ssize_t)strlen(text));
	close(fd);
}

static void puts_(const char *rel, const char *text)
{
	put(rel, text, strlen(text));
}

static void link_(const char *target, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static void link_(const char *target, const char *fmt, ...)
{
	char rel[256], path[PATH_MAX];
	va_list ap;
	char *slash;

	va_start(ap, fmt);
	vsnprintf(rel, sizeof(rel), fmt, ap);
	va_end(ap);
	snprintf(path, sizeof(path), "%s/%s", proc, rel);
	slash = strrchr(path, '/');
	*slash = '\0';
	mkdirs("%s", path);
	*slash = '/';
	(void)unlink(path);
	assert_int_equal(symlink(target, path), 0);
}

/* /proc/PID/stat, /proc/PID/status and the main thread's files. */
static void process(int pid, int tgid, const char *comm, char state, unsigned long long flags,
		    unsigned long long start)
{
	char rel[64], buf[512];

	snprintf(buf, sizeof(buf),
		 "%d (%s) %c 1 %d %d 0 -1 %llu 0 0 0 0 0 0 0 0 20 0 1 0 %llu 1000 100 0 0\n", pid,
		 comm, state, pid, pid, flags, start);
	snprintf(rel, sizeof(rel), "%d/stat", pid);
	puts_(rel, buf);
	snprintf(buf, sizeof(buf), "Name:\t%s\nUmask:\t0022\nState:\t%c\nTgid:\t%d\nPid:\t%d\n",
		 comm, state, tgid, pid);
	snprintf(rel, sizeof(rel), "%d/status", pid);
	puts_(rel, buf);
	snprintf(buf, sizeof(buf), "%s\n", comm);
	snprintf(rel, sizeof(rel), "%d/comm", pid);
	puts_(rel, buf);
}

static void thread(int pid, int tid, const char *comm, unsigned long long start)
{
	char rel[64], buf[512];

	snprintf(buf, sizeof(buf), "%s\n", comm);
	snprintf(rel, sizeof(rel), "%d/task/%d/comm", pid, tid);
	put(rel, buf, strlen(buf));
	snprintf(buf, sizeof(buf),
		 "%d (%s) S 1 %d %d 0 -1 0 0 0 0 0 0 0 0 0 20 0 1 0 %llu 1000 100 0 0\n", tid, comm,
		 pid, pid, start);
	snprintf(rel, sizeof(rel), "%d/task/%d/stat", pid, tid);
	puts_(rel, buf);
}

static void fdinfo(int pid, int fd, const char *text)
{
	char rel[64];

	snprintf(rel, sizeof(rel), "%d/fdinfo/%d", pid, fd);
	puts_(rel, text);
}

static void image(const char *name, char *path, size_t size)
{
	int fd;

	snprintf(path, size, "%s/%s", images, name);
	fd = open(path, O_WRONLY | O_CREAT | O_TRUNC, 0644);
	assert_true(fd >= 0);
	assert_int_equal(write(fd, "QFI\xfb", 4), 4);
	close(fd);
}

static const char vm1_cmdline[] = "/usr/bin/qemu-system-x86_64\0-name\0guest=vm1,debug-threads=on\0"
				  "-S\0-uuid\0c7a5fdbd-edaf-9455-926a-d65c16db1809\0"
				  "-smp\0002\0";
static char vm1_img[PATH_MAX], base_img[PATH_MAX], fw_bin[PATH_MAX], vm1_log[PATH_MAX],
	tcg_img[PATH_MAX];

/* pid 100: libvirt-style KVM guest "vm1". */
static void make_vm1(void)
{
	process(100, 100, "qemu-system-x86", 'S', 0x400100, 5000);
	put("100/cmdline", vm1_cmdline, sizeof(vm1_cmdline) - 1);
	link_("/usr/bin/qemu-system-x86_64", "100/exe");
	thread(100, 100, "qemu-system-x86", 5000);
	thread(100, 101, "call_rcu", 5000);
	thread(100, 103, "CPU 0/KVM", 5001);
	thread(100, 102, "CPU 1/KVM", 5002);
	/* a thread cloned by vCPU 1 that has not renamed itself yet */
	thread(100, 90, "CPU 1/KVM", 7000);
	thread(100, 104, "worker", 6000);
	link_("/dev/null", "100/fd/0");
	link_("pipe:[4242]", "100/fd/1");
	link_(vm1_log, "100/fd/2");
	link_("socket:[77]", "100/fd/3");
	link_("anon_inode:[eventfd]", "100/fd/4");
	link_("/dev/net/tun", "100/fd/20");
	fdinfo(100, 20, "pos:\t0\nflags:\t0104002\nmnt_id:\t24\nino:\t1046\niff:\ttap-vm1\n");
	link_("/dev/net/tun", "100/fd/21"); /* second queue of the same tap */
	fdinfo(100, 21, "pos:\t0\nflags:\t0104002\nmnt_id:\t24\nino:\t1046\niff:\ttap-vm1\n");
	link_(vm1_img, "100/fd/22");
	fdinfo(100, 22, "pos:\t0\nflags:\t0140002\nmnt_id:\t30\nino:\t12\n");
	link_(base_img, "100/fd/23"); /* backing file, read-only */
	fdinfo(100, 23, "pos:\t0\nflags:\t0140000\nmnt_id:\t30\nino:\t13\n");
	link_(fw_bin, "100/fd/24"); /* read-only, no image suffix */
	fdinfo(100, 24, "pos:\t0\nflags:\t0100000\nmnt_id:\t30\nino:\t14\n");
	link_(vm1_log, "100/fd/25"); /* a log opened for appending */
	fdinfo(100, 25, "pos:\t0\nflags:\t0102002\nmnt_id:\t30\nino:\t15\n");
	link_(vm1_img, "100/fd/26"); /* the same image reopened */
	fdinfo(100, 26, "pos:\t0\nflags:\t0100002\nmnt_id:\t30\nino:\t12\n");
	link_("/memfd:pc.ram (deleted)", "100/fd/27");
	link_("/dev/shm/qemu-ram", "100/fd/28");
	fdinfo(100, 28, "pos:\t0\nflags:\t0100002\n");
}

static void build_tree(void)
{
	char buf[PATH_MAX];

	snprintf(root, sizeof(root), "%s/procscan.XXXXXX", getenv("TMPDIR") ?: "/tmp");
	assert_non_null(mkdtemp(root));
	snprintf(proc, sizeof(proc), "%s/proc", root);
	snprintf(sys, sizeof(sys), "%s/sys", root);
	snprintf(images, sizeof(images), "%s/images", root);
	mkdirs("%s", proc);
	mkdirs("%s/class/net/tap-vm1", sys);
	mkdirs("%s", images);
	snprintf(buf, sizeof(buf), "%s/class/net/tap-vm1/ifindex", sys);
	write_abs(buf, "42\n");
	image("vm1.qcow2", vm1_img, sizeof(vm1_img));
	image("base.qcow2", base_img, sizeof(base_img));
	image("firmware.bin", fw_bin, sizeof(fw_bin));
	image("vm1.log", vm1_log, sizeof(vm1_log));
	image("tcg", tcg_img, sizeof(tcg_img));

	make_vm1();

	/* pid 200: TCG guest, "-name NAME" without "guest=", exe only */
	process(200, 200, "qemu-system-x86", 'R', 0, 8000);
	put("200/cmdline", "qemu-system-x86_64\0-name\0tcgvm,process=q\0", 41);
	thread(200, 200, "qemu-system-x86", 8000);
	thread(200, 201, "CPU 0/TCG", 8001);
	link_("/dev/net/tun", "200/fd/7");
	fdinfo(200, 7, "pos:\t0\nflags:\t0104002\niff:\ttap-gone\n");
	link_(tcg_img, "200/fd/8");
	fdinfo(200, 8, "pos:\t0\nflags:\t02\n");

	/* pid 300: a shell that mentions -name */
	process(300, 300, "bash", 'S', 0, 100);
	put("300/cmdline", "bash\0-name\0guest=nope\0", 23);
	link_("/usr/bin/bash", "300/exe");
	thread(300, 300, "bash", 100);
	thread(300, 301, "CPU 0/KVMX", 100);

	/* pid 400: hostile: only its thread names make it QEMU-like */
	process(400, 400, "x) R 1 (y", 'S', 0, 9000);
	{
		char cmd[600];
		size_t n = 0;

		n += (size_t)sprintf(cmd + n, "evil") + 1;
		n += (size_t)sprintf(cmd + n, "--name") + 1;
		n += (size_t)sprintf(cmd + n, "guest=\x1b[31mred,,x\x01,debug-threads=on") + 1;
		n += (size_t)sprintf(cmd + n, "-uuid") + 1;
		n += (size_t)sprintf(cmd + n, "not-a-uuid") + 1;
		n += (size_t)sprintf(cmd + n, "-name"); /* no value, no final NUL */
		put("400/cmdline", cmd, n);
	}
	link_("/opt/evil", "400/exe");
	thread(400, 400, "x) R 1 (y", 9000);
	thread(400, 401, "CPU 2/KVM", 9001);
	thread(400, 402, "CPU 64/KVM", 9001);
	thread(400, 403, "CPU 01/KVM", 9001);
	thread(400, 404, "CPU -1/KVM", 9001);
	thread(400, 405, "CPU /TCG", 9001);
	thread(400, 406, "CPU 3/KVM\nCPU 4/KVM", 9001);
	thread(400, 407, "CPU 99999999999999999999/KVM", 9001);
	link_("/dev/net/tun", "400/fd/3");
	fdinfo(400, 3, "iff:\ttap-with-a-name-too-long\n");
	link_("/dev/net/tun", "400/fd/4");
	fdinfo(400, 4, "iff:\t../../etc\n");
	link_("/dev/net/tun", "400/fd/5");
	fdinfo(400, 5, "flags:\t02\niff:");
	link_("/dev/net/tun", "400/fd/6"); /* fdinfo missing */

	/* truncated or vanished processes */
	puts_("500/stat", "500 (qemu-system-x86");
	puts_("500/status", "Tgid:\t500\n");
	puts_("501/stat", "501 (qemu-system-x86) S 1 501");
	puts_("501/status", "Tgid:\t501\n");
	process(502, 502, "qemu-system-x86", 'S', 0, 9500);
	put("502/cmdline", "qemu-system-x86_64\0-name", 24);
	mkdirs("%s/502/task", proc);
	put("502/task/502/comm", "", 0);
	mkdirs("%s/503", proc); /* exited: an empty folder */

	/* a zombie QEMU, a kernel thread, a thread id of pid 100 */
	process(600, 600, "qemu-system-x86", 'Z', 0, 100);
	thread(600, 600, "qemu-system-x86", 100);
	process(601, 601, "qemu-system-x", 'I', KTHREAD, 1);
	thread(601, 601, "CPU 0/KVM", 1);
	process(700, 100, "worker", 'S', 0, 6000);
	thread(700, 700, "worker", 6000);
	puts_("self", "not a process");
}

static int rm_entry(const char *path, const struct stat *st, int flag, struct FTW *ftw)
{
	(void)st;
	(void)flag;
	(void)ftw;
	return remove(path);
}

static int setup(void **state)
{
	(void)state;
	build_tree();
	return 0;
}

static int teardown(void **state)
{
	(void)state;
	return nftw(root, rm_entry, 16, FTW_DEPTH | FTW_PHYS);
}

static const struct vm_desc *find(const struct vm_list *l, int pid)
{
	return vm_list__find_pid(l, pid);
}

static void check_vm1(const struct vm_desc *vm)
{
	assert_non_null(vm);
	assert_string_equal(vm->name, "vm1");
	assert_string_equal(vm->uuid, "c7a5fdbd-edaf-9455-926a-d65c16db1809");
	assert_int_equal(vm->source, VM_SOURCE_PROC);
	assert_int_equal(vm->start_time, 5000);
	assert_int_equal(vm->nvcpus, 2);
	assert_int_equal(vm->vcpus[0].index, 0);
	assert_int_equal(vm->vcpus[0].tid, 103);
	assert_int_equal(vm->vcpus[1].index, 1);
	assert_int_equal(vm->vcpus[1].tid, 102); /* the older of two "CPU 1/KVM" */
	assert_int_equal(vm->ntaps, 1);
	assert_string_equal(vm->taps[0].ifname, "tap-vm1");
	assert_int_equal(vm->ndisks, 2);
	assert_string_equal(vm->disks[0].path, vm1_img);
	assert_int_equal(vm->disks[0].fd, 22);
	assert_string_equal(vm->disks[1].path, base_img);
	assert_int_equal(vm->disks[1].fd, 23);
	{
		struct stat st;

		assert_int_equal(stat(vm1_img, &st), 0);
		assert_int_equal(vm->disks[0].dev, st.st_dev);
		assert_int_equal(vm->disks[0].ino, st.st_ino);
	}
}

static void test_full_scan(void **state)
{
	struct vm_list l = {};

	(void)state;
	assert_int_equal(procscan__scan_root(proc, sys, NULL, 0, &l), 0);
	/* exactly the QEMU-like live processes, in pid order */
	assert_int_equal(l.n, 4);
	assert_int_equal(l.vms[0].pid, 100);
	assert_int_equal(l.vms[1].pid, 200);
	assert_int_equal(l.vms[2].pid, 400);
	assert_int_equal(l.vms[3].pid, 502);
	check_vm1(find(&l, 100));
	assert_int_equal(find(&l, 100)->taps[0].ifindex, 42);

	const struct vm_desc *tcg = find(&l, 200);
	assert_string_equal(tcg->name, "tcgvm");
	assert_string_equal(tcg->uuid, "");
	assert_int_equal(tcg->nvcpus, 1);
	assert_int_equal(tcg->vcpus[0].index, 0);
	assert_int_equal(tcg->vcpus[0].tid, 201);
	assert_int_equal(tcg->ntaps, 1);
	assert_string_equal(tcg->taps[0].ifname, "tap-gone");
	assert_int_equal(tcg->taps[0].ifindex, 0); /* not known to the host */
	assert_int_equal(tcg->ndisks, 1);
	assert_string_equal(tcg->disks[0].path, tcg_img); /* read-write, no suffix */

	const struct vm_desc *evil = find(&l, 400);
	assert_string_equal(evil->name, "?[31mred,x?");
	assert_string_equal(evil->uuid, "");
	assert_int_equal(evil->nvcpus, 1);
	assert_int_equal(evil->vcpus[0].index, 2);
	assert_int_equal(evil->vcpus[0].tid, 401);
	assert_int_equal(evil->ntaps, 0);
	assert_int_equal(evil->ndisks, 0);

	const struct vm_desc *trunc = find(&l, 502);
	assert_string_equal(trunc->name, "");
	assert_int_equal(trunc->nvcpus, 0);
	vm_list__free(&l);
}

static void test_if_nametoindex(void **state)
{
	struct vm_list l = {};

	(void)state;
	/* without a sys root the host's interfaces are asked: no "tap-vm1" here */
	assert_int_equal(procscan__scan(proc, (int[]){ 100 }, 1, &l), 0);
	assert_int_equal(l.n, 1);
	check_vm1(&l.vms[0]);
	assert_int_equal(l.vms[0].taps[0].ifindex, (int)if_nametoindex("tap-vm1"));
	vm_list__free(&l);
}

static void test_selected_pids(void **state)
{
	struct vm_list l = {};

	(void)state;
	assert_int_equal(procscan__scan_root(proc, sys, (int[]){ 200, 100, 200 }, 3, &l), 0);
	assert_int_equal(l.n, 2);
	assert_int_equal(l.vms[0].pid, 200);
	check_vm1(&l.vms[1]);
	vm_list__clear(&l);

	/* the first failing pid decides the error; the good ones are still listed */
	assert_int_equal(procscan__scan_root(proc, sys, (int[]){ 100, 300, 99999, 200 }, 4, &l),
			 -ENOEXEC);
	assert_int_equal(l.n, 2);
	assert_int_equal(l.vms[0].pid, 100);
	assert_int_equal(l.vms[1].pid, 200);
	vm_list__clear(&l);

	assert_int_equal(procscan__scan_root(proc, sys, (int[]){ 99999, 300 }, 2, &l), -ESRCH);
	assert_int_equal(l.n, 0);
	/* a thread id, a zombie, truncated and vanished processes: no such process */
	assert_int_equal(procscan__scan_root(proc, sys, (int[]){ 700 }, 1, &l), -ESRCH);
	assert_int_equal(procscan__scan_root(proc, sys, (int[]){ 600 }, 1, &l), -ESRCH);
	assert_int_equal(procscan__scan_root(proc, sys, (int[]){ 500 }, 1, &l), -ESRCH);
	assert_int_equal(procscan__scan_root(proc, sys, (int[]){ 503 }, 1, &l), -ESRCH);
	assert_int_equal(procscan__scan_root(proc, sys, (int[]){ 0 }, 1, &l), -ESRCH);
	assert_int_equal(procscan__scan_root(proc, sys, (int[]){ -5 }, 1, &l), -ESRCH);
	/* a kernel thread is never QEMU, whatever its names */
	assert_int_equal(procscan__scan_root(proc, sys, (int[]){ 601 }, 1, &l), -ENOEXEC);
	assert_int_equal(l.n, 0);

	assert_int_equal(procscan__scan_root("/nonexistent/proc", sys, NULL, 0, &l), -ENOENT);
	assert_int_equal(procscan__scan_root("/nonexistent/proc", sys, (int[]){ 1 }, 1, &l),
			 -ENOENT);
	assert_int_equal(procscan__scan_root(proc, sys, NULL, 1, &l), -EINVAL);
	assert_int_equal(procscan__scan_root(proc, sys, NULL, 0, NULL), -EINVAL);
	vm_list__free(&l);
}

/* Every prefix of every file of vm1: the scan never fails and never invents data. */
static void test_truncated_files(void **state)
{
	static const char *const files[] = { "stat",	  "cmdline",	   "fdinfo/20",
					     "fdinfo/22", "task/103/comm", "task/90/stat",
					     "status" };
	char path[PATH_MAX * 2], orig[4096];

	(void)state;
	for (size_t f = 0; f < ARRAY_SIZE(files); f++) {
		long len;

		snprintf(path, sizeof(path), "%s/100/%s", proc, files[f]);
		len = read_file_str(path, orig, sizeof(orig));
		if (!strcmp(files[f], "cmdline"))
			len = sizeof(vm1_cmdline) - 1, memcpy(orig, vm1_cmdline, (size_t)len);
		assert_true(len > 0);
		for (long n = 0; n < len; n++) {
			struct vm_list l = {};
			const struct vm_desc *vm;
			char rel[64];
			int err;

			snprintf(rel, sizeof(rel), "100/%s", files[f]);
			put(rel, orig, (size_t)n);
			err = procscan__scan_root(proc, sys, NULL, 0, &l);
			assert_int_equal(err, 0);
			vm = find(&l, 100);
			if (!strcmp(files[f], "stat") || !strcmp(files[f], "status")) {
				/* stat cut before starttime: treated as gone */
			} else {
				assert_non_null(vm);
				assert_true(vm->nvcpus >= 1 && vm->nvcpus <= 2);
				assert_true(vm->ntaps <= 1);
				if (vm->ntaps)
					assert_string_equal(vm->taps[0].ifname, "tap-vm1");
				/* a cut name is never a wrong name: a prefix of vm1 at most */
				assert_true(!strncmp(vm->name, "vm1", strlen(vm->name)));
			}
			vm_list__free(&l);
		}
		snprintf(path, sizeof(path), "100/%s", files[f]);
		put(path, orig, (size_t)len);
	}
	/* the tree is whole again */
	{
		struct vm_list l = {};

		assert_int_equal(procscan__scan_root(proc, sys, (int[]){ 100 }, 1, &l), 0);
		check_vm1(&l.vms[0]);
		vm_list__free(&l);
	}
}

static void test_vcpu_names(void **state)
{
	(void)state;
	assert_int_equal(procscan__parse_vcpu_name("CPU 0/KVM"), 0);
	assert_int_equal(procscan__parse_vcpu_name("CPU 7/TCG"), 7);
	assert_int_equal(procscan__parse_vcpu_name("CPU 63/KVM"), 63);
	assert_int_equal(procscan__parse_vcpu_name("CPU 4095/KVM"), 4095);
	assert_int_equal(procscan__parse_vcpu_name("CPU 65536/KVM"), -EINVAL);
	assert_int_equal(procscan__parse_vcpu_name("CPU 01/KVM"), -EINVAL);
	assert_int_equal(procscan__parse_vcpu_name("CPU -1/KVM"), -EINVAL);
	assert_int_equal(procscan__parse_vcpu_name("CPU +1/KVM"), -EINVAL);
	assert_int_equal(procscan__parse_vcpu_name("CPU  1/KVM"), -EINVAL);
	assert_int_equal(procscan__parse_vcpu_name("CPU /KVM"), -EINVAL);
	assert_int_equal(procscan__parse_vcpu_name("CPU 1/KVMX"), -EINVAL);
	assert_int_equal(procscan__parse_vcpu_name("CPU 1/kvm"), -EINVAL);
	assert_int_equal(procscan__parse_vcpu_name("cpu 1/KVM"), -EINVAL);
	assert_int_equal(procscan__parse_vcpu_name("CPU 1/KVM\n"), -EINVAL);
	assert_int_equal(procscan__parse_vcpu_name("CPU 1x/KVM"), -EINVAL);
	assert_int_equal(procscan__parse_vcpu_name(""), -EINVAL);
	assert_int_equal(procscan__parse_vcpu_name(NULL), -EINVAL);
	assert_int_equal(procscan__parse_vcpu_name("qemu-system-x86"), -EINVAL);
}

#define NAME(lit, out, ret)                                                                        \
	do {                                                                                       \
		char n_[VM_NAME_MAX];                                                              \
		assert_int_equal(procscan__parse_name(lit, sizeof(lit) - 1, n_, sizeof(n_)), ret); \
		assert_string_equal(n_, out);                                                      \
	} while (0)

static void test_names(void **state)
{
	char small[8], big[300];
	size_t n;

	(void)state;
	NAME("qemu\0-name\0guest=vm1,debug-threads=on\0", "vm1", 0);
	NAME("qemu\0-name\0debug-threads=on,guest=vm2\0", "vm2", 0);
	NAME("qemu\0-name\0vm3\0", "vm3", 0);
	NAME("qemu\0-name\0vm4,process=qemu:vm4,debug-threads=on\0", "vm4", 0);
	NAME("qemu\0--name\0guest=a,,b,,,,c,debug-threads=on\0", "a,b,,c", 0);
	NAME("qemu\0-name\0guest=a=b\0", "a=b", 0);
	NAME("qemu\0-name\0guest=x\0-name\0guest=y\0", "y", 0);
	NAME("qemu\0-name\0guest=no-final-nul", "no-final-nul", 0);
	NAME("qemu\0-name\0guest=\0", "", -ENOENT);
	NAME("qemu\0-name\0debug-threads=on\0", "", -ENOENT);
	NAME("qemu\0-name\0", "", -ENOENT);
	NAME("qemu\0-name", "", -ENOENT);
	NAME("qemu\0-namex\0guest=vm\0", "", -ENOENT);
	NAME("qemu\0guest=vm\0", "", -ENOENT);
	NAME("", "", -ENOENT);
	NAME("qemu\0-name\0guest=tab\there\0", "tab?here", 0);
	NAME("qemu\0-name\0guest=\xc3\xa9t\xc3\xa9\0", "\xc3\xa9t\xc3\xa9", 0);

	/* a long name is cut, never in the middle of a UTF-8 sequence */
	assert_int_equal(
		procscan__parse_name("-name\0guest=abcdef\xc3\xa9", 20, small, sizeof(small)),
		-E2BIG);
	assert_string_equal(small, "abcdef");
	assert_int_equal(
		procscan__parse_name("-name\0guest=abcde\xc3\xa9", 19, small, sizeof(small)), 0);
	assert_string_equal(small, "abcde\xc3\xa9");
	memcpy(big, "-name\0guest=", 12);
	memset(big + 12, 'v', sizeof(big) - 12);
	assert_int_equal(procscan__parse_name(big, sizeof(big), small, sizeof(small)), -E2BIG);
	assert_string_equal(small, "vvvvvvv");

	/* random bytes: never crash, always a terminated, control-free result */
	srand(42);
	for (int round = 0; round < 20000; round++) {
		char out[VM_NAME_MAX];

		n = (size_t)(rand() % (int)sizeof(big));
		memcpy(big, "-name\0", 6);
		for (size_t i = 6; i < n; i++)
			big[i] = "gue=st,\0\x01\xc3\xa9-nam"[rand() % 15];
		(void)procscan__parse_name(big, n, out, sizeof(out));
		assert_true(strlen(out) < sizeof(out));
		for (size_t i = 0; out[i]; i++)
			assert_true((unsigned char)out[i] >= 0x20);
	}
}

static void test_uuid_iff(void **state)
{
	char uuid[VM_UUID_LEN], ifname[VM_IFNAME_MAX];
	static const char ok[] = "q\0-uuid\0C7A5FDBD-edaf-9455-926a-d65c16db1809\0";
	static const char bad[] = "q\0-uuid\0c7a5fdbd-edaf-9455-926a-d65c16db180\0";
	static const char bad2[] = "q\0-uuid\0c7a5fdbd-edaf-9455-926a-d65c16db180g\0";

	(void)state;
	assert_int_equal(procscan__parse_uuid(ok, sizeof(ok) - 1, uuid), 0);
	assert_string_equal(uuid, "C7A5FDBD-edaf-9455-926a-d65c16db1809");
	assert_int_equal(procscan__parse_uuid(bad, sizeof(bad) - 1, uuid), -ENOENT);
	assert_int_equal(procscan__parse_uuid(bad2, sizeof(bad2) - 1, uuid), -ENOENT);
	assert_string_equal(uuid, "");

	assert_int_equal(procscan__parse_iff("pos:\t0\nflags:\t02\niff:\ttap0\n", ifname), 0);
	assert_string_equal(ifname, "tap0");
	assert_int_equal(procscan__parse_iff("flags:\t02\niff:\tvnet12\nx", ifname), 0);
	assert_string_equal(ifname, "vnet12");
	assert_int_equal(procscan__parse_iff("iff:\tvnet12", ifname), -ENOENT); /* cut */
	assert_int_equal(procscan__parse_iff("iff:\t123456789012345\n", ifname), 0);
	assert_int_equal(procscan__parse_iff("iff:\t1234567890123456\n", ifname), -ENOENT);
	assert_int_equal(procscan__parse_iff("iff:\ta b\n", ifname), -ENOENT);
	assert_int_equal(procscan__parse_iff("iff:\ta/b\n", ifname), -ENOENT);
	assert_int_equal(procscan__parse_iff("iff:\t..\n", ifname), -ENOENT);
	assert_int_equal(procscan__parse_iff("iff:\t\n", ifname), -ENOENT);
	assert_int_equal(procscan__parse_iff("xiff:\ttap0\n", ifname), -ENOENT);
	assert_int_equal(procscan__parse_iff("pos:\t0\n", ifname), -ENOENT);
	assert_int_equal(procscan__parse_iff("", ifname), -ENOENT);
	assert_string_equal(ifname, "");
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_full_scan),     cmocka_unit_test(test_if_nametoindex),
		cmocka_unit_test(test_selected_pids), cmocka_unit_test(test_truncated_files),
		cmocka_unit_test(test_vcpu_names),    cmocka_unit_test(test_names),
		cmocka_unit_test(test_uuid_iff),
	};

	return cmocka_run_group_tests(tests, setup, teardown);
}
