// SPDX-License-Identifier: GPL-2.0
/*
 * What procscan reads from /proc, which any local process controls: its
 * public parsers directly, and a whole scan of a fake /proc holding one
 * process whose files come from the input (the status and stat parsers have
 * no entry point of their own).
 *
 * Input: pieces separated by 0xff, in order: PID/stat, PID/status,
 * PID/cmdline, PID/task/PID/comm, PID/task/TID/comm, PID/task/TID/stat,
 * PID/fdinfo/20 (fd 20 is /dev/net/tun). Missing pieces are empty files.
 */
#include <errno.h>
#include <fcntl.h>
#include <ftw.h>
#include <limits.h>
#include <stdbool.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "fuzz.h"
#include "procscan.h"

#define PID 100
#define TID 101

static const char *const files[] = {
	"100/stat",	     "100/status",	  "100/cmdline",   "100/task/100/comm",
	"100/task/101/comm", "100/task/101/stat", "100/fdinfo/20",
};
#define NFILES (sizeof(files) / sizeof(files[0]))

static char root[PATH_MAX], proc[PATH_MAX + 8], sys[PATH_MAX + 8];

static void cleanup(void)
{
	fuzz_rm_tree(root);
}

static void mkdir_in(const char *base, const char *rel)
{
	char path[PATH_MAX * 2];

	(void)snprintf(path, sizeof(path), "%s/%s", base, rel);
	if (mkdir(path, 0755) && errno != EEXIST)
		abort();
}

/* The tree once per process (tmpfs when there is one: thousands of writes a second). */
static void make_tree(void)
{
	char path[PATH_MAX * 2];
	const char *tmp = access("/dev/shm", W_OK) ? (getenv("TMPDIR") ?: "/tmp") : "/dev/shm";

	(void)snprintf(root, sizeof(root), "%s/fuzz-procscan.XXXXXX", tmp);
	if (!mkdtemp(root))
		abort();
	(void)atexit(cleanup);
	(void)snprintf(proc, sizeof(proc), "%s/proc", root);
	(void)snprintf(sys, sizeof(sys), "%s/sys", root);
	mkdir_in(root, "proc");
	mkdir_in(root, "sys");
	mkdir_in(proc, "100");
	mkdir_in(proc, "100/task");
	mkdir_in(proc, "100/task/100");
	mkdir_in(proc, "100/task/101");
	mkdir_in(proc, "100/fd");
	mkdir_in(proc, "100/fdinfo");
	(void)snprintf(path, sizeof(path), "%s/100/fd/20", proc);
	if (symlink("/dev/net/tun", path))
		abort();
	(void)snprintf(path, sizeof(path), "%s/100/exe", proc);
	if (symlink("/usr/bin/qemu-system-x86_64", path))
		abort();
}

static void put(const char *rel, const uint8_t *data, size_t len)
{
	char path[PATH_MAX * 2];
	int fd;

	(void)snprintf(path, sizeof(path), "%s/%s", proc, rel);
	fd = open(path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
	if (fd < 0 || (len && write(fd, data, len) != (ssize_t)len))
		abort();
	(void)close(fd);
}

static void check_text(const char *s, size_t size, const char *what)
{
	FUZZ_CHECK(memchr(s, '\0', size), "%s not terminated", what);
	for (; *s; s++)
		FUZZ_CHECK((unsigned char)*s >= 0x20 && *s != 0x7f, "%s holds control byte 0x%02x",
			   what, (unsigned char)*s);
}

static void check_uuid(const char *u)
{
	FUZZ_CHECK(strlen(u) == 36, "uuid '%s'", u);
	for (int i = 0; i < 36; i++) {
		bool dash = i == 8 || i == 13 || i == 18 || i == 23;

		FUZZ_CHECK(dash ? u[i] == '-' : !!strchr("0123456789abcdefABCDEF", u[i]),
			   "uuid '%s'", u);
	}
}

static void parsers(const uint8_t *cmdline, size_t cmdlen, const uint8_t *comm, size_t commlen,
		    const uint8_t *fdinfo, size_t fdinfolen)
{
	char name[VM_NAME_MAX], uuid[VM_UUID_LEN], ifname[VM_IFNAME_MAX], back[64];
	char *s;
	int rc;

	rc = procscan__parse_name((const char *)cmdline, cmdlen, name, sizeof(name));
	FUZZ_CHECK(rc == 0 || rc == -ENOENT || rc == -E2BIG, "parse_name: %d", rc);
	if (rc != -ENOENT)
		check_text(name, sizeof(name), "name");
	if (!procscan__parse_uuid((const char *)cmdline, cmdlen, uuid))
		check_uuid(uuid);

	s = fuzz_strndup(comm, commlen);
	rc = procscan__parse_vcpu_name(s);
	if (rc >= 0) {
		/* exactly one spelling per vCPU: no sign, no leading zero, no junk */
		FUZZ_CHECK(rc <= 65535, "vCPU %d", rc);
		(void)snprintf(back, sizeof(back), "CPU %d/%s", rc, s + strlen(s) - 3);
		FUZZ_CHECK(!strcmp(back, s), "'%s' read as vCPU %d", s, rc);
	} else {
		FUZZ_CHECK(rc == -EINVAL, "parse_vcpu_name: %d", rc);
	}
	free(s);

	s = fuzz_strndup(fdinfo, fdinfolen);
	if (!procscan__parse_iff(s, ifname)) {
		FUZZ_CHECK(ifname[0] && memchr(ifname, '\0', sizeof(ifname)), "empty ifname");
		FUZZ_CHECK(!strpbrk(ifname, "/: \t\n\r\v\f"), "ifname '%s'", ifname);
	}
	free(s);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	const uint8_t *part[NFILES];
	size_t len[NFILES];
	struct vm_list list = { 0 };
	int rc;

	if (!root[0])
		make_tree();
	for (size_t i = 0; i < NFILES; i++) {
		fuzz_split(&data, &size, 0xff, &part[i], &len[i]);
		put(files[i], part[i], len[i]);
	}
	parsers(part[2], len[2], part[3], len[3], part[6], len[6]);

	rc = procscan__scan_root(proc, sys, NULL, 0, &list);
	FUZZ_CHECK(rc == 0, "scan of a readable tree: %d", rc);
	FUZZ_CHECK(list.n <= 1, "%d VMs from one process", list.n);
	for (int i = 0; i < list.n; i++) {
		const struct vm_desc *vm = &list.vms[i];

		FUZZ_CHECK(vm->pid == PID, "VM with pid %d", vm->pid);
		FUZZ_CHECK(vm->nvcpus >= 0 && vm->nvcpus <= 2, "%d vCPUs from 2 threads",
			   vm->nvcpus);
		for (int v = 0; v < vm->nvcpus; v++)
			FUZZ_CHECK(vm->vcpus[v].tid == PID || vm->vcpus[v].tid == TID,
				   "vCPU thread %d", vm->vcpus[v].tid);
		check_text(vm->name, sizeof(vm->name), "VM name");
		if (vm->uuid[0])
			check_uuid(vm->uuid);
		FUZZ_CHECK(vm->ntaps >= 0 && vm->ntaps <= 1, "%d taps from one fd", vm->ntaps);
		for (int t = 0; t < vm->ntaps; t++)
			check_text(vm->taps[t].ifname, sizeof(vm->taps[t].ifname), "tap");
	}
	vm_list__free(&list);

	/* the same process asked for by pid */
	rc = procscan__scan_root(proc, sys, (const int[]){ PID }, 1, &list);
	FUZZ_CHECK(rc == 0 || rc == -ESRCH || rc == -ENOEXEC, "scan of pid %d: %d", PID, rc);
	FUZZ_CHECK(rc ? list.n == 0 : list.n == 1, "rc %d with %d VMs", rc, list.n);
	vm_list__free(&list);
	return 0;
}
