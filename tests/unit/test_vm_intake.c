// SPDX-License-Identifier: GPL-2.0
/*
 * Who may be a VM and what its name may hold (issue 13, item 2), against a
 * fake /proc built in a temp folder: a QEMU of root, one of another user
 * posing as a VM with a thread named "CPU 0/KVM" and a name of invalid
 * UTF-8 and escape bytes, the 'vm_owners' key, the cap on VMs, and the
 * removal of CSV files of VMs gone for longer than the retention. If this
 * breaks, any local user can pose as a VM, or one bad name can make
 * Prometheus refuse the whole scrape.
 */
#include <errno.h>
#include <ftw.h>
#include <limits.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/time.h>
#include <unistd.h>
#include <cmocka.h>

#include "config.h"
#include "history.h"
#include "procscan.h"
#include "vm.h"

static char root[200];

static void put(const char *rel, const void *data, size_t len)
{
	char path[PATH_MAX], dir[PATH_MAX], *slash;
	FILE *f;

	snprintf(path, sizeof(path), "%s/%s", root, rel);
	snprintf(dir, sizeof(dir), "%s", path);
	for (slash = strchr(dir + strlen(root) + 1, '/'); slash; slash = strchr(slash + 1, '/')) {
		*slash = '\0';
		(void)mkdir(dir, 0755);
		*slash = '/';
	}
	f = fopen(path, "w");
	assert_non_null(f);
	assert_int_equal(fwrite(data, 1, len, f), len);
	assert_int_equal(fclose(f), 0);
}

/* A process whose main thread is "CPU 0/KVM", owned by uid, named by a -name guest=. */
static void process(int pid, unsigned int uid, const char *name)
{
	char rel[64], buf[512], cmd[300];
	int n;

	snprintf(buf, sizeof(buf),
		 "%d (CPU 0/KVM) S 1 %d %d 0 -1 0 0 0 0 0 0 0 0 0 20 0 1 0 %d 1000 100 0 0\n", pid,
		 pid, pid, 1000 + pid);
	snprintf(rel, sizeof(rel), "proc/%d/stat", pid);
	put(rel, buf, strlen(buf));
	snprintf(rel, sizeof(rel), "proc/%d/task/%d/stat", pid, pid);
	put(rel, buf, strlen(buf));
	snprintf(buf, sizeof(buf),
		 "Name:\tCPU 0/KVM\nState:\tS (sleeping)\nTgid:\t%d\nPid:\t%d\n"
		 "Uid:\t%u\t%u\t%u\t%u\nGid:\t0\t0\t0\t0\n",
		 pid, pid, uid, uid, uid, uid);
	snprintf(rel, sizeof(rel), "proc/%d/status", pid);
	put(rel, buf, strlen(buf));
	snprintf(rel, sizeof(rel), "proc/%d/task/%d/comm", pid, pid);
	put(rel, "CPU 0/KVM\n", 10);
	n = snprintf(cmd, sizeof(cmd), "fake%c-name%cguest=%s,debug-threads=on", 0, 0, name);
	snprintf(rel, sizeof(rel), "proc/%d/cmdline", pid);
	put(rel, cmd, (size_t)n + 1);
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
	snprintf(root, sizeof(root), "%s/intake.XXXXXX", getenv("TMPDIR") ?: "/tmp");
	return mkdtemp(root) ? 0 : -1;
}

static int teardown(void **state)
{
	(void)state;
	return nftw(root, rm_entry, 16, FTW_DEPTH | FTW_PHYS);
}

/* What every string leaving the process must be: valid UTF-8, no control character. */
static void assert_label_safe(const char *s)
{
	assert_true(vm_name__valid(s));
	for (const unsigned char *p = (const unsigned char *)s; *p; p++)
		assert_true(*p >= 0x20 && *p != 0x7f);
}

static void test_name_rule(void **state)
{
	static const struct {
		const char *in, *out;
		int ret;
	} cases[] = {
		{ "vm1", "vm1", 0 },
		{ "\xc3\xa9t\xc3\xa9 \xe2\x82\xac \xf0\x9f\x98\x80",
		  "\xc3\xa9t\xc3\xa9 \xe2\x82\xac \xf0\x9f\x98\x80", 0 },
		{ "a\"b\\c", "a\"b\\c", 0 }, /* valid: escaped where it is written */
		{ "a\x1b[31mred", "a?[31mred", 1 },
		{ "nl\nx\x7f", "nl?x?", 1 },
		{ "\xff\xfe", "??", 1 },
		{ "\xc3", "?", 1 },		   /* cut sequence */
		{ "\xc0\xaf", "??", 1 },	   /* overlong '/' */
		{ "\xed\xa0\x80", "???", 1 },	   /* surrogate */
		{ "\xf4\x90\x80\x80", "????", 1 }, /* over U+10FFFF */
		{ "c1\xc2\x85", "c1?", 1 },	   /* U+0085, a C1 control */
		{ "\xe2\x82", "??", 1 },	   /* two bytes of a three-byte sequence */
	};
	char out[64];

	(void)state;
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		int r = vm_name__sanitize(out, sizeof(out), cases[i].in, strlen(cases[i].in));

		assert_int_equal(r, cases[i].ret);
		assert_string_equal(out, cases[i].out);
		assert_label_safe(out);
		assert_int_equal(vm_name__valid(cases[i].in), cases[i].ret == 0);
	}
	/* a cut keeps characters whole */
	assert_int_equal(vm_name__sanitize(out, 4, "ab\xe2\x82\xac", 5), -E2BIG);
	assert_string_equal(out, "ab");

	/* random bytes: always label-safe, the same input the same name */
	srand(7);
	for (int round = 0; round < 20000; round++) {
		char in[40], a[64], b[64];
		size_t n = (size_t)(rand() % (int)sizeof(in));

		for (size_t i = 0; i < n; i++)
			in[i] = (char)(rand() % 256);
		(void)vm_name__sanitize(a, sizeof(a), in, n);
		(void)vm_name__sanitize(b, sizeof(b), in, n);
		assert_string_equal(a, b);
		assert_label_safe(a);
	}
}

static void test_parse_name_and_iff(void **state)
{
	static const char cmd[] =
		"qemu\0-name\0guest=\xff\x1b]0;evil\x07\xc3\xa9,debug-threads=on\0";
	char name[VM_NAME_MAX], ifname[VM_IFNAME_MAX];

	(void)state;
	assert_int_equal(procscan__parse_name(cmd, sizeof(cmd), name, sizeof(name)), 0);
	assert_string_equal(name, "??]0;evil?\xc3\xa9");
	assert_int_equal(procscan__parse_iff("iff:\ttap\xff\n", ifname), -ENOENT);
	assert_string_equal(ifname, "");
	assert_int_equal(procscan__parse_iff("iff:\ttap\xc3\xa9\n", ifname), 0);
	assert_string_equal(ifname, "tap\xc3\xa9");
}

static void test_owners(void **state)
{
	char proc[PATH_MAX];
	uid_t owners[VM_MAX_OWNERS];
	struct procscan_counts counts = { 0 };
	struct procscan_opts o = { .check_owner = true, .owners = owners };
	struct vm_list l = { 0 };

	(void)state;
	process(100, 0, "root-vm");
	process(200, 65534, "\xff\x1b[2Jfake");
	process(300, 107, "qemu-user-vm");
	snprintf(proc, sizeof(proc), "%s/proc", root);

	/* no check (kvmpilot stat --pid, where the caller names the process): all three */
	assert_int_equal(procscan__scan_opts(proc, NULL, NULL, 0, &l, NULL), 0);
	assert_int_equal(l.n, 3);
	assert_string_equal(vm_list__find_pid(&l, 200)->name, "??[2Jfake");
	vm_list__clear(&l);

	/* root and uid 107: the process of 65534 is refused and counted */
	o.nowners = procscan__resolve_owners("root,107,no-such-user-here", owners, VM_MAX_OWNERS);
	assert_int_equal(o.nowners, 2);
	assert_int_equal(owners[0], 0);
	assert_int_equal(owners[1], 107);
	assert_int_equal(procscan__scan_opts(proc, &o, NULL, 0, &l, &counts), 0);
	assert_int_equal(l.n, 2);
	assert_non_null(vm_list__find_pid(&l, 100));
	assert_non_null(vm_list__find_pid(&l, 300));
	assert_null(vm_list__find_pid(&l, 200));
	assert_int_equal(counts.refused[PROCSCAN_REFUSED_OWNER], 1);
	assert_int_equal(counts.last_pid, 200);
	assert_int_equal(counts.last_uid, 65534);
	vm_list__clear(&l);

	/* a process whose effective uid is root but real uid is not: refused too */
	process(400, 0, "setuid");
	put("proc/400/status", "Name:\tx\nTgid:\t400\nUid:\t1000\t0\t0\t0\n",
	    strlen("Name:\tx\nTgid:\t400\nUid:\t1000\t0\t0\t0\n"));
	assert_int_equal(procscan__scan_opts(proc, &o, NULL, 0, &l, &counts), 0);
	assert_int_equal(l.n, 2);
	assert_int_equal(counts.refused[PROCSCAN_REFUSED_OWNER], 3);
	vm_list__clear(&l);

	/* the cap: the first max_vms in pid order, the rest counted */
	o.max_vms = 1;
	assert_int_equal(procscan__scan_opts(proc, &o, NULL, 0, &l, &counts), 0);
	assert_int_equal(l.n, 1);
	assert_int_equal(l.vms[0].pid, 100);
	assert_int_equal(counts.refused[PROCSCAN_REFUSED_LIMIT], 1);
	vm_list__clear(&l);

	/* an empty owner list: nobody's QEMU is a VM */
	o.nowners = 0;
	o.max_vms = 0;
	assert_int_equal(procscan__scan_opts(proc, &o, NULL, 0, &l, &counts), 0);
	assert_int_equal(l.n, 0);
	vm_list__free(&l);

	assert_string_equal(procscan__refused_name(PROCSCAN_REFUSED_OWNER), "owner");
	assert_string_equal(procscan__refused_name(PROCSCAN_REFUSED_LIMIT), "limit");
	assert_null(procscan__refused_name(PROCSCAN_REFUSED_NR));
}

static void test_config_owners(void **state)
{
	char err[CONFIG_ERR_MAX] = "", text[600];
	struct config *cfg;

	(void)state;
	cfg = config__new_default();
	assert_non_null(cfg);
	assert_string_equal(cfg->vm_owners, "root,libvirt-qemu,qemu");
	config__free(cfg);
	cfg = config__load_string("t.ini", "[global]\nvm_owners = root,107,qemu_2\n", err,
				  sizeof(err));
	assert_non_null(cfg);
	assert_string_equal(cfg->vm_owners, "root,107,qemu_2");
	config__free(cfg);

	static const char *const bad[] = {
		"root,",     ",root", "root,,qemu",
		"root qemu", "r/oot", "a,b,c,d,e,f,g,h,i,j,k,l,m,n,o,p,q"
	};
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		snprintf(text, sizeof(text), "[global]\nvm_owners = %s\n", bad[i]);
		err[0] = '\0';
		cfg = config__load_string("t.ini", text, err, sizeof(err));
		assert_null(cfg);
		assert_non_null(strstr(err, "t.ini:2: 'vm_owners'"));
	}
	assert_int_equal(config__check_owners("a,b,c,d,e,f,g,h,i,j,k,l,m,n,o,p"), 0);
	memset(text, 'a', 300);
	text[300] = '\0';
	assert_int_equal(config__check_owners(text), -ENAMETOOLONG);
}

static void touch_at(const char *rel, double mtime)
{
	char path[PATH_MAX];
	struct timeval tv[2] = { { (time_t)mtime, 0 }, { (time_t)mtime, 0 } };

	put(rel, "x\n", 2);
	snprintf(path, sizeof(path), "%s/%s", root, rel);
	assert_int_equal(utimes(path, tv), 0);
}

static bool exists(const char *rel)
{
	char path[PATH_MAX];

	snprintf(path, sizeof(path), "%s/%s", root, rel);
	return access(path, F_OK) == 0;
}

static void test_prune_csv(void **state)
{
	double now = 2000000000.0, old = now - HISTORY_CSV_RETENTION_S - 60, fresh = now - 10;
	char dir[PATH_MAX], link[PATH_MAX], target[PATH_MAX];

	(void)state;
	touch_at("data/gone.csv", old);
	touch_at("data/gone.csv.1", old);
	touch_at("data/gone.csv.2", old);
	touch_at("data/live.csv", fresh);
	touch_at("data/live.csv.1", old); /* a running VM's old rotation stays */
	touch_at("data/orphan.csv.3", old);
	touch_at("data/actions.log", old);
	touch_at("data/notes.csv.bak", old);
	snprintf(target, sizeof(target), "%s/data/actions.log", root);
	snprintf(link, sizeof(link), "%s/data/link.csv", root);
	assert_int_equal(symlink(target, link), 0);
	snprintf(dir, sizeof(dir), "%s/data", root);

	assert_int_equal(history__prune_dir(dir, HISTORY_CSV_RETENTION_S, now), 4);
	assert_false(exists("data/gone.csv"));
	assert_false(exists("data/gone.csv.1"));
	assert_false(exists("data/gone.csv.2"));
	assert_false(exists("data/orphan.csv.3"));
	assert_true(exists("data/live.csv"));
	assert_true(exists("data/live.csv.1"));
	assert_true(exists("data/actions.log"));
	assert_true(exists("data/notes.csv.bak"));
	assert_true(exists("data/link.csv"));
	snprintf(dir, sizeof(dir), "%s/no-such-dir", root);
	assert_int_equal(history__prune_dir(dir, 1, now), -ENOENT);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_name_rule), cmocka_unit_test(test_parse_name_and_iff),
		cmocka_unit_test(test_owners),	  cmocka_unit_test(test_config_owners),
		cmocka_unit_test(test_prune_csv),
	};

	return cmocka_run_group_tests(tests, setup, teardown);
}
