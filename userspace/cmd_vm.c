// SPDX-License-Identifier: GPL-2.0
/*
 * kvmpilot vm: provision guests from the image of 'make guest' through
 * libvirt's API. Each guest gets a qcow2 overlay on one shared base volume
 * in a libvirt storage pool, a tap, the agent channel, balloon statistics
 * and its serial console in a file.
 *
 * Files, under the state folder (default /var/lib/kvmpilot):
 *   pool/      the storage pool: the base volume and NAME.qcow2 overlays
 *   images/    copies of vmlinuz and initramfs.gz that QEMU can read
 *   channels/  NAME.agent.sock, the agent channel sockets (owned by QEMU's user),
 *              and NAME/CHANNEL.sock for the ports of --channel
 *   console/   NAME.log, each guest's serial console
 */
#include <arpa/inet.h>
#include <errno.h>
#include <dirent.h>
#include <fcntl.h>
#include <getopt.h>
#include <grp.h>
#include <json-c/json.h>
#include <libgen.h>
#include <limits.h>
#include <net/if.h>
#include <pwd.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/ioctl.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/time.h>
#include <unistd.h>

#include <libvirt/libvirt.h>
#include <libvirt/virterror.h>

#include "cmds.h"
#include "domxml.h"
#include "progress.h"
#include "util.h"

#define DEFAULT_URI	 KVMPILOT_DEFAULT_URI
#define DEFAULT_STATE	 "/var/lib/kvmpilot"
#define DEFAULT_POOL	 "kvmpilot"
#define BASE_VOLUME	 "kvmpilot-base.qcow2"
#define QEMU_USER	 "libvirt-qemu"
#define SYSTEM_GUEST_DIR "/usr/share/kvmpilot/guest"
#define QEMU_CAPS_CACHE	 "/var/cache/libvirt/qemu/capabilities"
/* A libvirt call slower than this tells the user what it waits for. */
#define SLOW_CALL_MS 3000

struct vm_opts {
	const char *uri;
	const char *state_dir;
	const char *pool;
	const char *pool_dir; /* NULL: STATE/pool */
	const char *image_dir;
	const char *virt_type; /* "auto", "kvm", "qemu" */
	const char *workload;
	const char *workload_args;
	const char *ip;
	const char *host_ip;
	const char *channels[DOMXML_CHANNELS_MAX]; /* --channel NAME */
	unsigned int n_channels;
	uint64_t memory_mib;
	uint64_t memory_max_mib;
	uint64_t disk_mib;
	unsigned int vcpus;
	unsigned int vcpus_max;
	enum domxml_cache cache;
	enum domxml_io io;
	bool no_start;
	bool json;
	bool force;
	bool live;
	bool keep_console;
};

static void vm_opts__init(struct vm_opts *o)
{
	memset(o, 0, sizeof(*o));
	o->uri = getenv("KVMPILOT_URI") ? getenv("KVMPILOT_URI") : DEFAULT_URI;
	o->state_dir = getenv("KVMPILOT_STATE_DIR") ? getenv("KVMPILOT_STATE_DIR") : DEFAULT_STATE;
	o->pool = getenv("KVMPILOT_POOL") ? getenv("KVMPILOT_POOL") : DEFAULT_POOL;
	o->pool_dir = getenv("KVMPILOT_POOL_DIR");
	o->image_dir = getenv("KVMPILOT_GUEST_DIR");
	o->virt_type = getenv("KVMPILOT_VIRT_TYPE") ? getenv("KVMPILOT_VIRT_TYPE") : "auto";
	o->workload = "idle";
	o->memory_mib = 512;
	o->memory_max_mib = 2048;
	o->disk_mib = 1024;
	o->vcpus = 1;
	o->vcpus_max = 4;
}

/* libvirt prints every error to stderr unless told otherwise; we report once. */
static void virt_quiet(void *opaque, virErrorPtr err)
{
	(void)opaque;
	(void)err;
}

static const char *virt_errmsg(void)
{
	const char *m = virGetLastErrorMessage();

	return m ? m : "unknown libvirt error";
}

static virConnectPtr connect_uri(const char *uri)
{
	struct progress *p;
	virConnectPtr conn;

	virSetErrorFunc(NULL, virt_quiet);
	p = progress__begin("connecting to libvirt", SLOW_CALL_MS);
	conn = virConnectOpen(uri);
	(void)progress__end(p);
	if (!conn)
		log_error("cannot connect to '%s': %s", uri, virt_errmsg());
	return conn;
}

static void disconnect(virConnectPtr conn)
{
	if (conn && virConnectClose(conn) > 0)
		log_warn("libvirt connection still referenced at close (leak)");
}

static int path_join(char *buf, size_t size, const char *a, const char *b)
{
	int n = snprintf(buf, size, "%s/%s", a, b);

	return n < 0 || (size_t)n >= size ? -ENAMETOOLONG : 0;
}

/* mkdir -p for one level below an existing parent, with mode and owner. */
static int ensure_dir(const char *path, mode_t mode, const struct passwd *owner)
{
	char tmp[PATH_MAX];

	if (str_copy(tmp, path, sizeof(tmp)))
		return -ENAMETOOLONG;
	for (char *p = tmp + 1; *p; p++) {
		if (*p != '/')
			continue;
		*p = '\0';
		if (mkdir(tmp, 0755) && errno != EEXIST)
			return -errno;
		*p = '/';
	}
	if (mkdir(tmp, mode) && errno != EEXIST)
		return -errno;
	if (chmod(tmp, mode))
		return -errno;
	if (owner && chown(tmp, owner->pw_uid, owner->pw_gid))
		return -errno;
	return 0;
}

/* The guest image folder: --image-dir, or next to the binary, or installed. */
static int find_image_dir(const struct vm_opts *o, char *buf, size_t size)
{
	char exe[PATH_MAX], probe[PATH_MAX + 32];
	ssize_t n;

	if (o->image_dir)
		return str_copy(buf, o->image_dir, size);
	n = readlink("/proc/self/exe", exe, sizeof(exe) - 1);
	if (n > 0) {
		exe[n] = '\0';
		/* build/kvmpilot -> guest/out beside build/ */
		snprintf(probe, sizeof(probe), "%s/../guest/out", dirname(exe));
		if (!access(probe, R_OK)) {
			char *real = realpath(probe, NULL);
			int err = str_copy(buf, real ? real : probe, size);

			free(real);
			return err;
		}
	}
	return str_copy(buf, SYSTEM_GUEST_DIR, size);
}

/* Copy src to dst (atomically, via a temporary file) unless it is the same already. */
static int copy_if_changed(const char *src, const char *dst)
{
	char tmp[PATH_MAX], buf[65536];
	struct stat ss, ds;
	struct timespec times[2];
	int in = -1, out = -1, err = -EIO;
	ssize_t n;

	if (stat(src, &ss))
		return -errno;
	if (!stat(dst, &ds) && ds.st_size == ss.st_size && ds.st_mtim.tv_sec == ss.st_mtim.tv_sec &&
	    ds.st_mtim.tv_nsec == ss.st_mtim.tv_nsec)
		return 0;
	if (snprintf(tmp, sizeof(tmp), "%s.tmp.%d", dst, (int)getpid()) >= (int)sizeof(tmp))
		return -ENAMETOOLONG;
	in = open(src, O_RDONLY | O_CLOEXEC);
	if (in < 0) {
		err = -errno;
		goto cleanup;
	}
	out = open(tmp, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
	if (out < 0) {
		err = -errno;
		goto cleanup;
	}
	while ((n = read(in, buf, sizeof(buf))) > 0) {
		for (ssize_t off = 0; off < n;) {
			ssize_t w = write(out, buf + off, n - off);

			if (w < 0) {
				err = -errno;
				goto cleanup;
			}
			off += w;
		}
	}
	if (n < 0) {
		err = -errno;
		goto cleanup;
	}
	times[0] = ss.st_atim;
	times[1] = ss.st_mtim;
	if (futimens(out, times) || fchmod(out, 0644) || fsync(out)) {
		err = -errno;
		goto cleanup;
	}
	if (close(out)) {
		out = -1;
		err = -errno;
		goto cleanup;
	}
	out = -1;
	if (rename(tmp, dst)) {
		err = -errno;
		goto cleanup;
	}
	err = 0;
cleanup:
	if (out >= 0)
		(void)close(out);
	if (in >= 0)
		(void)close(in);
	if (err)
		(void)unlink(tmp);
	return err;
}

/*
 * Hardware virtualization as the CPU advertises it. Some hypervisors hand
 * their guests a /dev/kvm without VMX/SVM: guests then start but never get
 * past the kernel's decompressor, so /dev/kvm alone is not enough.
 */
static bool cpu_has_hw_virt(void)
{
	char line[4096];
	bool found = false;
	FILE *f = fopen("/proc/cpuinfo", "re");

	if (!f)
		return false;
	while (!found && fgets(line, sizeof(line), f)) {
		if (strncmp(line, "flags", 5))
			continue;
		found = strstr(line, " vmx") || strstr(line, " svm");
		break;
	}
	fclose(f);
	return found;
}

/* kvm when /dev/kvm is usable and libvirt offers it, else qemu (TCG). */
static const char *pick_virt_type(virConnectPtr conn, const char *want)
{
	char *caps;

	if (strcmp(want, "auto"))
		return want;
	if (access("/dev/kvm", R_OK | W_OK) || !cpu_has_hw_virt())
		return "qemu";
	caps = virConnectGetDomainCapabilities(conn, NULL, "x86_64", NULL, "kvm", 0);
	if (!caps)
		return "qemu";
	free(caps);
	return "kvm";
}

static int pool_dir_of(const struct vm_opts *o, char *buf, size_t size)
{
	if (o->pool_dir)
		return str_copy(buf, o->pool_dir, size);
	return path_join(buf, size, o->state_dir, "pool");
}

/* The pool, created (a 'dir' pool) and started when absent or inactive. */
static virStoragePoolPtr ensure_pool(virConnectPtr conn, const struct vm_opts *o)
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
				log_error("cannot define pool '%s': %s", o->pool, virt_errmsg());
				return NULL;
			}
		} else {
			if (virStoragePoolBuild(pool, 0) < 0)
				log_warn("building pool '%s': %s", o->pool, virt_errmsg());
			(void)virStoragePoolSetAutostart(pool, 1);
			log_info("defined storage pool '%s' at '%s'", o->pool, dir);
		}
	}
	active = virStoragePoolIsActive(pool);
	if (active == 0 && virStoragePoolCreate(pool, 0) < 0 && virStoragePoolIsActive(pool) != 1) {
		log_error("cannot start pool '%s': %s", o->pool, virt_errmsg());
		virStoragePoolFree(pool);
		return NULL;
	}
	(void)virStoragePoolRefresh(pool, 0);
	return pool;
}

/* The shared base volume: an empty qcow2 every overlay is backed by. */
static virStorageVolPtr ensure_base(virStoragePoolPtr pool, const struct vm_opts *o)
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
			log_error("cannot create base volume '%s': %s", BASE_VOLUME, virt_errmsg());
	}
	return vol;
}

static int set_host_ip(const char *ifname, const char *cidr)
{
	char addr[INET_ADDRSTRLEN];
	const char *slash = strchr(cidr, '/');
	struct ifreq ifr;
	struct sockaddr_in *sin = (struct sockaddr_in *)&ifr.ifr_addr;
	uint64_t prefix = 24;
	int fd = -1, err = -EINVAL;

	if (!slash || (size_t)(slash - cidr) >= sizeof(addr))
		return -EINVAL;
	memcpy(addr, cidr, slash - cidr);
	addr[slash - cidr] = '\0';
	if (parse_u64(slash + 1, 1, 30, &prefix))
		return -EINVAL;
	memset(&ifr, 0, sizeof(ifr));
	if (str_copy(ifr.ifr_name, ifname, sizeof(ifr.ifr_name)))
		return -EINVAL;
	sin->sin_family = AF_INET;
	if (inet_pton(AF_INET, addr, &sin->sin_addr) != 1)
		return -EINVAL;
	fd = socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0);
	if (fd < 0)
		return -errno;
	if (ioctl(fd, SIOCSIFADDR, &ifr)) {
		err = -errno;
		goto cleanup;
	}
	sin->sin_addr.s_addr = htonl(~((1U << (32 - prefix)) - 1));
	if (ioctl(fd, SIOCSIFNETMASK, &ifr) || ioctl(fd, SIOCGIFFLAGS, &ifr)) {
		err = -errno;
		goto cleanup;
	}
	ifr.ifr_flags |= IFF_UP;
	if (ioctl(fd, SIOCSIFFLAGS, &ifr)) {
		err = -errno;
		goto cleanup;
	}
	err = 0;
cleanup:
	(void)close(fd);
	return err;
}

static int validate_cidr(const char *cidr)
{
	char addr[INET_ADDRSTRLEN];
	const char *slash = strchr(cidr, '/');
	struct in_addr a;
	uint64_t prefix;

	if (!slash || (size_t)(slash - cidr) >= sizeof(addr))
		return -EINVAL;
	memcpy(addr, cidr, slash - cidr);
	addr[slash - cidr] = '\0';
	if (inet_pton(AF_INET, addr, &a) != 1 || parse_u64(slash + 1, 1, 30, &prefix))
		return -EINVAL;
	return 0;
}

static void state_path(const struct vm_opts *o, const char *sub, const char *name,
		       const char *suffix, char *buf, size_t size)
{
	snprintf(buf, size, "%s/%s/%s%s", o->state_dir, sub, name, suffix);
}

/* The options of create that need no libvirt: 0, or 2 after logging why. */
static int validate_create(const char *name, const struct vm_opts *o)
{
	if (domxml__validate_name(name)) {
		log_error("invalid VM name '%s': use 1..%d of A-Z a-z 0-9 . _ -, starting with a "
			  "letter or digit",
			  name, DOMXML_NAME_MAX);
		return 2;
	}
	if (o->memory_mib > o->memory_max_mib) {
		log_error("--memory %llu is above --memory-max %llu",
			  (unsigned long long)o->memory_mib, (unsigned long long)o->memory_max_mib);
		return 2;
	}
	if (o->vcpus > o->vcpus_max) {
		log_error("--vcpus %u is above --vcpus-max %u", o->vcpus, o->vcpus_max);
		return 2;
	}
	if (o->io == DOMXML_IO_NATIVE && o->cache != DOMXML_CACHE_NONE) {
		log_error("--disk-io native needs --disk-cache none");
		return 2;
	}
	if (o->workload_args && domxml__validate_cmdline_words(o->workload_args)) {
		log_error("invalid --workload-args '%s': words of A-Z a-z 0-9 _ . , : = / + @ -",
			  o->workload_args);
		return 2;
	}
	if (o->ip && validate_cidr(o->ip)) {
		log_error("invalid --ip '%s': expected ADDR/PREFIX", o->ip);
		return 2;
	}
	if (o->host_ip && validate_cidr(o->host_ip)) {
		log_error("invalid --host-ip '%s': expected ADDR/PREFIX", o->host_ip);
		return 2;
	}
	return 0;
}

/* The files of one VM under the state folder. */
struct vm_files {
	char kernel[PATH_MAX];
	char initrd[PATH_MAX];
	char chan[PATH_MAX];
	char console[PATH_MAX];
	char chan_dir[PATH_MAX];		   /* STATE/channels/NAME, for --channel */
	char extra[DOMXML_CHANNELS_MAX][PATH_MAX]; /* its sockets */
};

/* One image file, copied where QEMU's user can read it whatever the checkout's modes. */
static int copy_image(const char *imgdir, const char *dir, const char *file, char *dst, size_t size)
{
	char src[PATH_MAX + 32];
	int rc;

	snprintf(src, sizeof(src), "%s/%s", imgdir, file);
	if (path_join(dst, size, dir, file)) {
		log_error("path too long for '%s'", file);
		return -ENAMETOOLONG;
	}
	rc = copy_if_changed(src, dst);
	if (rc)
		log_error("cannot copy guest image file '%s' (run 'make guest'): %s", src,
			  strerror(-rc));
	return rc;
}

/* Image copies, folders and socket paths; 0 or -errno after logging. */
static int prepare_files(const char *name, const struct vm_opts *o, struct vm_files *f)
{
	const struct passwd *qemu_user = getpwnam(QEMU_USER);
	char imgdir[PATH_MAX], dir[PATH_MAX];
	int rc;

	rc = find_image_dir(o, imgdir, sizeof(imgdir));
	if (!rc)
		rc = path_join(dir, sizeof(dir), o->state_dir, "images");
	if (rc) {
		log_error("path too long for the images of '%s'", name);
		return rc;
	}
	rc = ensure_dir(dir, 0755, NULL);
	if (rc) {
		log_error("cannot create '%s': %s", dir, strerror(-rc));
		return rc;
	}
	rc = copy_image(imgdir, dir, "vmlinuz", f->kernel, sizeof(f->kernel));
	if (!rc)
		rc = copy_image(imgdir, dir, "initramfs.gz", f->initrd, sizeof(f->initrd));
	if (rc)
		return rc;
	path_join(dir, sizeof(dir), o->state_dir, "channels");
	rc = ensure_dir(dir, 0750, qemu_user);
	if (!rc) {
		path_join(dir, sizeof(dir), o->state_dir, "console");
		rc = ensure_dir(dir, 0750, NULL);
	}
	if (!rc && o->n_channels) {
		state_path(o, "channels", name, "", f->chan_dir, sizeof(f->chan_dir));
		rc = ensure_dir(f->chan_dir, 0750, qemu_user);
		str_copy(dir, f->chan_dir, sizeof(dir));
	}
	if (rc) {
		log_error("cannot create '%s': %s", dir, strerror(-rc));
		return rc;
	}
	state_path(o, "channels", name, ".agent.sock", f->chan, sizeof(f->chan));
	state_path(o, "console", name, ".log", f->console, sizeof(f->console));
	for (unsigned int i = 0; i < o->n_channels; i++) {
		int n = snprintf(f->extra[i], sizeof(f->extra[i]), "%s/%s.sock", f->chan_dir,
				 o->channels[i]);

		if (n < 0 || n >= 108) {
			log_error("channel socket path '%s' is too long for a unix socket",
				  f->extra[i]);
			return -ENAMETOOLONG;
		}
	}
	if (strlen(f->chan) >= 108) {
		log_error("channel socket path '%s' is too long for a unix socket", f->chan);
		return -ENAMETOOLONG;
	}
	return 0;
}

/* Sockets of a VM that no longer exists would make QEMU fail to bind. */
static void remove_stale_sockets(const struct vm_files *f, const struct vm_opts *o)
{
	(void)unlink(f->chan);
	for (unsigned int i = 0; i < o->n_channels; i++)
		(void)unlink(f->extra[i]);
}

/*
 * This VM's overlay on the shared base volume of the pool; NULL after
 * logging. Creates run in parallel (the demo's, the tests'): the first one
 * makes the pool and the base while the others wait on STATE/storage.lock,
 * or they would see a base volume libvirt lists but has not written yet.
 */
static virStorageVolPtr make_overlay(virConnectPtr conn, const char *name, const struct vm_opts *o)
{
	char volname[DOMXML_NAME_MAX + 8], lock[PATH_MAX], *xml = NULL, *base_path = NULL;
	virStoragePoolPtr pool = NULL;
	virStorageVolPtr base = NULL, vol = NULL;
	int rc, lock_fd = -1;

	if (path_join(lock, sizeof(lock), o->state_dir, "storage.lock")) {
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
		log_error("cannot get the base volume's path: %s", virt_errmsg());
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
		log_error("cannot create volume '%s': %s", volname, virt_errmsg());
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

/* Newest modification of libvirt's QEMU capabilities cache, 0 when unknown. */
static uint64_t caps_cache_mtime_ns(void)
{
	struct stat st;

	if (stat(QEMU_CAPS_CACHE, &st))
		return 0;
	return (uint64_t)st.st_mtim.tv_sec * 1000000000ULL + st.st_mtim.tv_nsec;
}

/* Can QEMU's user open /dev/kvm for reading and writing, by its mode bits? */
static bool kvm_dev_usable_by(const struct passwd *pw)
{
	struct stat st;
	gid_t groups[64];
	int n = ARRAY_SIZE(groups);

	if (!pw || stat("/dev/kvm", &st))
		return true; /* nothing to say */
	if (st.st_uid == pw->pw_uid)
		return (st.st_mode & 0600) == 0600;
	if (getgrouplist(pw->pw_name, pw->pw_gid, groups, &n) < 0)
		n = 0;
	for (int i = 0; i < n; i++)
		if (groups[i] == st.st_gid)
			return (st.st_mode & 0060) == 0060;
	return (st.st_mode & 0006) == 0006;
}

/*
 * A slow define on a local libvirtd is nearly always a QEMU capability probe
 * (seconds each): say so, and name the cause we know of (see README,
 * "Troubleshooting").
 */
static void explain_slow_define(double secs, uint64_t caps_before_ns)
{
	if (secs * 1000 < SLOW_CALL_MS || caps_cache_mtime_ns() == caps_before_ns)
		return;
	log_info("libvirt re-probed QEMU's capabilities during the define (it rewrote "
		 "%s)",
		 QEMU_CAPS_CACHE);
	if (!kvm_dev_usable_by(getpwnam(QEMU_USER)))
		log_info("likely cause: /dev/kvm exists but user '%s' cannot open it, so libvirt "
			 "judges its cached probe out of date every time; 'chgrp kvm /dev/kvm && "
			 "chmod 660 /dev/kvm' (or unloading the kvm modules) makes defines fast",
			 QEMU_USER);
}

/*
 * Define and start the domain (unless --no-start); kvm falls back to qemu
 * when it was chosen automatically and does not start. The domain, or NULL
 * after logging.
 */
static virDomainPtr define_and_start(virConnectPtr conn, struct domxml_vm *vm,
				     const struct vm_opts *o, const char *console)
{
	bool auto_type = !strcmp(o->virt_type, "auto");
	virDomainPtr dom = NULL;
	struct progress *p;
	uint64_t caps_ns;
	char *xml = NULL;
	int rc;

	for (;;) {
		rc = domxml__domain(vm, &xml);
		if (rc) {
			log_error("cannot describe domain '%s': %s", vm->name, strerror(-rc));
			return NULL;
		}
		caps_ns = caps_cache_mtime_ns();
		p = progress__begin("defining the domain", SLOW_CALL_MS);
		dom = virDomainDefineXML(conn, xml);
		explain_slow_define(progress__end(p), caps_ns);
		free(xml);
		xml = NULL;
		if (!dom) {
			log_error("cannot define domain '%s': %s", vm->name, virt_errmsg());
			return NULL;
		}
		if (o->no_start)
			return dom;
		(void)truncate(console, 0);
		p = progress__begin("starting the domain", SLOW_CALL_MS);
		rc = virDomainCreate(dom);
		(void)progress__end(p);
		if (rc == 0)
			return dom;
		/* /dev/kvm can exist without working (nested virtualization off). */
		if (auto_type && !strcmp(vm->virt_type, "kvm")) {
			log_warn("starting '%s' with kvm failed (%s), retrying with qemu (TCG)",
				 vm->name, virt_errmsg());
			vm->virt_type = "qemu";
			virDomainFree(dom);
			continue;
		}
		log_error("cannot start domain '%s': %s", vm->name, virt_errmsg());
		/* A connection lost half-way may leave it running after all. */
		if (virDomainIsActive(dom) == 1)
			(void)virDomainDestroy(dom);
		(void)virDomainUndefine(dom);
		virDomainFree(dom);
		return NULL;
	}
}

static int vm_create(const char *name, const struct vm_opts *o)
{
	char tap[DOMXML_IFNAME_MAX], uuid[DOMXML_UUID_LEN], mac[DOMXML_MAC_LEN];
	char cmdline[1024], *vol_path = NULL;
	struct vm_files *f = NULL;
	virConnectPtr conn = NULL;
	virStorageVolPtr vol = NULL;
	virDomainPtr dom = NULL;
	struct progress *p;
	struct domxml_vm vm;
	int err, rc;

	err = validate_create(name, o);
	if (err)
		return err;
	err = 1;
	f = calloc(1, sizeof(*f));
	if (!f) {
		log_error("out of memory");
		return 1;
	}
	if (prepare_files(name, o, f))
		goto cleanup;
	if (domxml__tap_name(name, tap, sizeof(tap)))
		goto fail_path;
	/* Debian's kernel boots with PSI off: the agent reports pressure with psi=1. */
	rc = snprintf(cmdline, sizeof(cmdline),
		      "console=ttyS0 panic=-1 psi=1 kvmpilot.workload=%s%s%s%s%s", o->workload,
		      o->ip ? " kvmpilot.ip=" : "", o->ip ? o->ip : "", o->workload_args ? " " : "",
		      o->workload_args ? o->workload_args : "");
	if (rc < 0 || rc >= (int)sizeof(cmdline))
		goto fail_path;

	conn = connect_uri(o->uri);
	if (!conn)
		goto cleanup;
	dom = virDomainLookupByName(conn, name);
	if (dom) {
		log_error("domain '%s' already exists (kvmpilot vm destroy '%s' first)", name,
			  name);
		goto cleanup;
	}
	remove_stale_sockets(f, o);

	/* Storage: the pool, the shared base, and this VM's overlay. */
	p = progress__begin("preparing storage", SLOW_CALL_MS);
	vol = make_overlay(conn, name, o);
	(void)progress__end(p);
	if (!vol)
		goto cleanup;
	vol_path = virStorageVolGetPath(vol);
	if (!vol_path) {
		log_error("cannot get the path of volume '%s.qcow2': %s", name, virt_errmsg());
		goto cleanup_vol;
	}

	domxml__uuid(name, uuid);
	domxml__mac(name, mac);
	memset(&vm, 0, sizeof(vm));
	vm.name = name;
	vm.uuid = uuid;
	vm.virt_type = pick_virt_type(conn, o->virt_type);
	vm.memory_mib = o->memory_mib;
	vm.memory_max_mib = o->memory_max_mib;
	vm.vcpus = o->vcpus;
	vm.vcpus_max = o->vcpus_max;
	vm.kernel = f->kernel;
	vm.initrd = f->initrd;
	vm.cmdline = cmdline;
	vm.disk_path = vol_path;
	vm.cache = o->cache;
	vm.io = o->io;
	vm.tap = tap;
	vm.mac = mac;
	vm.channel_path = f->chan;
	for (unsigned int i = 0; i < o->n_channels; i++) {
		vm.channels[i].name = o->channels[i];
		vm.channels[i].path = f->extra[i];
	}
	vm.n_channels = o->n_channels;
	vm.console_path = f->console;
	vm.workload = o->workload;
	dom = define_and_start(conn, &vm, o, f->console);
	if (!dom)
		goto cleanup_vol;
	if (o->host_ip && !o->no_start) {
		rc = set_host_ip(tap, o->host_ip);
		if (rc)
			log_warn("cannot set address '%s' on tap '%s': %s", o->host_ip, tap,
				 strerror(-rc));
	}
	printf("%s '%s' (%s, %llu/%llu MiB, %u/%u vCPUs, workload '%s', tap '%s', disk '%s', "
	       "channel '%s', console '%s')\n",
	       o->no_start ? "defined" : "started", name, vm.virt_type,
	       (unsigned long long)o->memory_mib, (unsigned long long)o->memory_max_mib, o->vcpus,
	       o->vcpus_max, o->workload, tap, vol_path, f->chan, f->console);
	for (unsigned int i = 0; i < o->n_channels; i++)
		printf("channel '%s': '%s'\n", o->channels[i], f->extra[i]);
	err = 0;
	goto cleanup;

fail_path:
	log_error("path or name too long for '%s'", name);
	goto cleanup;
cleanup_vol:
	if (virStorageVolDelete(vol, 0) < 0)
		log_warn("cannot remove volume '%s.qcow2': %s", name, virt_errmsg());
cleanup:
	free(vol_path);
	free(f);
	if (dom)
		virDomainFree(dom);
	if (vol)
		virStorageVolFree(vol);
	disconnect(conn);
	return err;
}

/* The workload recorded by 'vm create'; NULL when the domain is not ours. */
static char *managed_workload(virDomainPtr dom)
{
	char *meta, *p, *q, *out = NULL;

	meta = virDomainGetMetadata(dom, VIR_DOMAIN_METADATA_ELEMENT, DOMXML_NS_URI, 0);
	if (!meta)
		return NULL;
	p = strstr(meta, "workload>");
	if (p) {
		p += strlen("workload>");
		q = strchr(p, '<');
		if (q)
			out = strndup(p, q - p);
	}
	if (!out)
		out = strdup("");
	free(meta);
	return out;
}

/* STATE/channels/NAME of --channel: its sockets, then itself. 1 when it existed. */
static int remove_channel_dir(const char *dir)
{
	char path[PATH_MAX];
	struct dirent *e;
	DIR *d = opendir(dir);

	if (!d)
		return 0;
	while ((e = readdir(d))) {
		size_t len = strlen(e->d_name);

		if (len > 5 && !strcmp(e->d_name + len - 5, ".sock") &&
		    !path_join(path, sizeof(path), dir, e->d_name))
			(void)unlink(path);
	}
	closedir(d);
	if (rmdir(dir))
		log_warn("cannot remove '%s': %s", dir, strerror(errno));
	return 1;
}

static int vm_destroy(const char *name, const struct vm_opts *o)
{
	char path[PATH_MAX], volname[DOMXML_NAME_MAX + 8];
	virConnectPtr conn = NULL;
	virDomainPtr dom = NULL;
	virStoragePoolPtr pool = NULL;
	virStorageVolPtr vol = NULL;
	char *workload = NULL;
	bool found = false;
	int err = 1;

	if (domxml__validate_name(name)) {
		log_error("invalid VM name '%s'", name);
		return 2;
	}
	conn = connect_uri(o->uri);
	if (!conn)
		goto cleanup;
	dom = virDomainLookupByName(conn, name);
	if (dom) {
		found = true;
		workload = managed_workload(dom);
		if (!workload && !o->force) {
			log_error("domain '%s' was not created by kvmpilot (use --force to destroy "
				  "it anyway)",
				  name);
			goto cleanup;
		}
		if (virDomainIsActive(dom) == 1 && virDomainDestroy(dom) < 0 &&
		    virDomainIsActive(dom) == 1) {
			log_error("cannot stop domain '%s': %s", name, virt_errmsg());
			goto cleanup;
		}
		if (virDomainIsPersistent(dom) == 1 &&
		    virDomainUndefineFlags(dom, VIR_DOMAIN_UNDEFINE_MANAGED_SAVE |
							VIR_DOMAIN_UNDEFINE_SNAPSHOTS_METADATA) <
			    0) {
			log_error("cannot undefine domain '%s': %s", name, virt_errmsg());
			goto cleanup;
		}
	}
	pool = virStoragePoolLookupByName(conn, o->pool);
	if (pool) {
		(void)virStoragePoolRefresh(pool, 0);
		snprintf(volname, sizeof(volname), "%s.qcow2", name);
		vol = virStorageVolLookupByName(pool, volname);
		if (vol) {
			found = true;
			if (virStorageVolDelete(vol, 0) < 0) {
				log_error("cannot remove volume '%s': %s", volname, virt_errmsg());
				goto cleanup;
			}
		}
	}
	state_path(o, "channels", name, ".agent.sock", path, sizeof(path));
	if (!unlink(path))
		found = true;
	state_path(o, "channels", name, "", path, sizeof(path));
	if (remove_channel_dir(path) > 0)
		found = true;
	state_path(o, "console", name, ".log", path, sizeof(path));
	if (!o->keep_console && !unlink(path))
		found = true;
	if (!found) {
		log_error("no VM '%s' (no domain, volume, socket or console log)", name);
		goto cleanup;
	}
	printf("destroyed '%s'\n", name);
	err = 0;
cleanup:
	free(workload);
	if (vol)
		virStorageVolFree(vol);
	if (pool)
		virStoragePoolFree(pool);
	if (dom)
		virDomainFree(dom);
	disconnect(conn);
	return err;
}

static const char *state_str(int state)
{
	switch (state) {
	case VIR_DOMAIN_RUNNING:
		return "running";
	case VIR_DOMAIN_BLOCKED:
		return "blocked";
	case VIR_DOMAIN_PAUSED:
		return "paused";
	case VIR_DOMAIN_SHUTDOWN:
		return "shutting-down";
	case VIR_DOMAIN_SHUTOFF:
		return "shut-off";
	case VIR_DOMAIN_CRASHED:
		return "crashed";
	case VIR_DOMAIN_PMSUSPENDED:
		return "suspended";
	default:
		return "unknown";
	}
}

/* Has the domain (live config when running) an agent channel? */
static bool has_agent_channel(virDomainPtr dom, unsigned int flags)
{
	char *xml = virDomainGetXMLDesc(dom, flags);
	bool has;

	if (!xml)
		return false;
	/* libvirt formats attributes with single quotes, always. */
	has = strstr(xml, "name='" AGENTPROTO_CHANNEL "'") != NULL;
	free(xml);
	return has;
}

static int vm_list(const struct vm_opts *o)
{
	virConnectPtr conn = NULL;
	virDomainPtr *doms = NULL;
	json_object *arr = NULL;
	int n = -1, err = 1;

	conn = connect_uri(o->uri);
	if (!conn) {
		if (o->json)
			printf("{\"error\": \"cannot connect to libvirt\"}\n");
		goto cleanup;
	}
	n = virConnectListAllDomains(conn, &doms, 0);
	if (n < 0) {
		log_error("cannot list domains: %s", virt_errmsg());
		goto cleanup;
	}
	if (o->json) {
		arr = json_object_new_array();
		if (!arr)
			goto cleanup;
	} else {
		printf("%-24s %-10s %-7s %-9s %-11s %-6s %s\n", "NAME", "STATE", "KVMPILOT",
		       "WORKLOAD", "MEM MiB", "VCPUS", "AGENT");
	}
	for (int i = 0; i < n; i++) {
		virDomainPtr dom = doms[i];
		virDomainInfo info;
		int active = virDomainIsActive(dom) == 1;
		unsigned int vflags = active ? VIR_DOMAIN_AFFECT_LIVE : VIR_DOMAIN_AFFECT_CONFIG;
		int vcur = virDomainGetVcpusFlags(dom, vflags);
		int vmax = virDomainGetVcpusFlags(dom, vflags | VIR_DOMAIN_VCPU_MAXIMUM);
		char *workload = managed_workload(dom);
		bool agent = has_agent_channel(dom, active ? 0 : VIR_DOMAIN_XML_INACTIVE);
		const char *dname = virDomainGetName(dom);

		if (virDomainGetInfo(dom, &info) < 0)
			memset(&info, 0, sizeof(info));
		if (o->json) {
			json_object *v = json_object_new_object();

			json_object_object_add(v, "name", json_object_new_string(dname));
			json_object_object_add(v, "state",
					       json_object_new_string(state_str(info.state)));
			json_object_object_add(v, "managed", json_object_new_boolean(!!workload));
			json_object_object_add(v, "workload",
					       workload ? json_object_new_string(workload) : NULL);
			json_object_object_add(v, "memory_mib",
					       json_object_new_int64(info.memory / 1024));
			json_object_object_add(v, "memory_max_mib",
					       json_object_new_int64(info.maxMem / 1024));
			json_object_object_add(v, "vcpus", json_object_new_int(vcur));
			json_object_object_add(v, "vcpus_max", json_object_new_int(vmax));
			json_object_object_add(v, "agent_channel", json_object_new_boolean(agent));
			json_object_array_add(arr, v);
		} else {
			char mem[48], vc[32];

			snprintf(mem, sizeof(mem), "%lu/%lu", info.memory / 1024,
				 info.maxMem / 1024);
			snprintf(vc, sizeof(vc), "%d/%d", vcur, vmax);
			printf("%-24s %-10s %-7s %-9s %-11s %-6s %s\n", dname,
			       state_str(info.state), workload ? "yes" : "no",
			       workload && *workload ? workload : "-", mem, vc,
			       agent ? "yes" : "no");
		}
		free(workload);
	}
	if (o->json)
		printf("%s\n", json_object_to_json_string_ext(arr, JSON_C_TO_STRING_PLAIN));
	err = 0;
cleanup:
	json_object_put(arr);
	for (int i = 0; i < n; i++)
		virDomainFree(doms[i]);
	free(doms);
	disconnect(conn);
	return err;
}

static int vm_attach_agent(const char *name, const struct vm_opts *o)
{
	char path[PATH_MAX], dir[PATH_MAX], uuid[VIR_UUID_STRING_BUFLEN];
	const char *sockname = name;
	virConnectPtr conn = NULL;
	virDomainPtr dom = NULL;
	char *xml = NULL, *dev = NULL;
	int err = 1, rc;

	conn = connect_uri(o->uri);
	if (!conn)
		goto cleanup;
	/* Users' own domains may have any name libvirt accepts. */
	dom = virDomainLookupByName(conn, name);
	if (!dom) {
		log_error("no domain '%s': %s", name, virt_errmsg());
		goto cleanup;
	}
	if (domxml__validate_name(name)) {
		/* Not safe in a path: name the socket after the UUID instead. */
		if (virDomainGetUUIDString(dom, uuid) < 0) {
			log_error("cannot get the UUID of '%s': %s", name, virt_errmsg());
			goto cleanup;
		}
		sockname = uuid;
	}
	if (has_agent_channel(dom, VIR_DOMAIN_XML_INACTIVE)) {
		printf("'%s' already has the agent channel\n", name);
		err = 0;
		goto cleanup;
	}
	path_join(dir, sizeof(dir), o->state_dir, "channels");
	rc = ensure_dir(dir, 0750, getpwnam(QEMU_USER));
	if (rc) {
		log_error("cannot create '%s': %s", dir, strerror(-rc));
		goto cleanup;
	}
	state_path(o, "channels", sockname, ".agent.sock", path, sizeof(path));
	xml = virDomainGetXMLDesc(dom, VIR_DOMAIN_XML_INACTIVE);
	if (!xml) {
		log_error("cannot read the configuration of '%s': %s", name, virt_errmsg());
		goto cleanup;
	}
	if (!strstr(xml, "<controller type='virtio-serial'")) {
		rc = domxml__virtio_serial_controller(&dev);
		if (rc || virDomainAttachDeviceFlags(dom, dev, VIR_DOMAIN_AFFECT_CONFIG) < 0) {
			log_error("cannot add a virtio-serial controller to '%s': %s", name,
				  rc ? strerror(-rc) : virt_errmsg());
			goto cleanup;
		}
		free(dev);
		dev = NULL;
	}
	rc = domxml__agent_channel(path, &dev);
	if (rc) {
		log_error("cannot describe the channel for '%s': %s", name, strerror(-rc));
		goto cleanup;
	}
	if (virDomainAttachDeviceFlags(dom, dev, VIR_DOMAIN_AFFECT_CONFIG) < 0) {
		log_error("cannot add the agent channel to '%s': %s", name, virt_errmsg());
		goto cleanup;
	}
	if (o->live && virDomainIsActive(dom) == 1 && !has_agent_channel(dom, 0)) {
		(void)unlink(path);
		if (virDomainAttachDeviceFlags(dom, dev, VIR_DOMAIN_AFFECT_LIVE) < 0) {
			log_error("added to the configuration of '%s', but not live: %s", name,
				  virt_errmsg());
			goto cleanup;
		}
	}
	printf("added the agent channel '%s' to '%s'%s\n", path, name,
	       o->live ? "" : " (from its next start)");
	err = 0;
cleanup:
	free(dev);
	free(xml);
	if (dom)
		virDomainFree(dom);
	disconnect(conn);
	return err;
}

/* Removes the base volume and the pool, when no VM volume is left in it. */
static int vm_pool_delete(const struct vm_opts *o)
{
	virConnectPtr conn = NULL;
	virStoragePoolPtr pool = NULL;
	virStorageVolPtr base = NULL;
	int err = 1, nvols;

	conn = connect_uri(o->uri);
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
			log_error("cannot remove the base volume: %s", virt_errmsg());
			goto cleanup;
		}
		if (virStoragePoolDestroy(pool) < 0) {
			log_error("cannot stop pool '%s': %s", o->pool, virt_errmsg());
			goto cleanup;
		}
	}
	if (virStoragePoolDelete(pool, 0) < 0)
		log_warn("cannot remove the folder of pool '%s': %s", o->pool, virt_errmsg());
	if (virStoragePoolUndefine(pool) < 0) {
		log_error("cannot undefine pool '%s': %s", o->pool, virt_errmsg());
		goto cleanup;
	}
	printf("removed pool '%s'\n", o->pool);
	err = 0;
cleanup:
	if (base)
		virStorageVolFree(base);
	if (pool)
		virStoragePoolFree(pool);
	disconnect(conn);
	return err;
}

static void usage(FILE *f)
{
	fprintf(f,
		"Usage: kvmpilot vm create NAME [OPTIONS]\n"
		"       kvmpilot vm destroy NAME [--force] [--keep-console]\n"
		"       kvmpilot vm list [--json]\n"
		"       kvmpilot vm attach-agent NAME [--live]\n"
		"       kvmpilot vm pool-delete [--force]\n"
		"\n"
		"create defines and starts a guest from the image of 'make guest': a qcow2\n"
		"overlay on a shared base volume in a libvirt storage pool, a tap\n"
		"'kp-NAME', the agent channel " AGENTPROTO_CHANNEL ", balloon statistics\n"
		"every second and the serial console in STATE/console/NAME.log.\n"
		"\n"
		"Options of create:\n"
		"  --memory MiB          memory at start (balloon), default 512\n"
		"  --memory-max MiB      maximum memory, default 2048\n"
		"  --vcpus N             online vCPUs at start, default 1\n"
		"  --vcpus-max N         maximum vCPUs (hot-add), default 4\n"
		"  --workload W          memhog, cpuburst or idle (default), run by the guest\n"
		"  --workload-args WORDS extra kernel command line words for the guest\n"
		"  --disk-cache C        default or none\n"
		"  --disk-io M           threads (default), native (needs cache none), io_uring\n"
		"  --disk-size MiB       size of the base volume, default 1024\n"
		"  --channel NAME        one more virtio-serial port named NAME (e.g.\n"
		"                        org.qemu.guest_agent.0), its socket in\n"
		"                        STATE/channels/VM/NAME.sock; up to %d\n"
		"  --ip ADDR/PREFIX      the guest's address (kvmpilot.ip= on its command line)\n"
		"  --host-ip ADDR/PREFIX the host's address on the VM's tap\n"
		"  --virt-type T         auto (kvm when /dev/kvm works, else qemu), kvm, qemu\n"
		"  --no-start            define only\n"
		"Common options:\n"
		"  --uri URI             libvirt URI, default " DEFAULT_URI " ($KVMPILOT_URI)\n"
		"  --image-dir DIR       where vmlinuz and initramfs.gz are, default guest/out\n"
		"                        beside the binary's build folder ($KVMPILOT_GUEST_DIR)\n"
		"  --state-dir DIR       default " DEFAULT_STATE " ($KVMPILOT_STATE_DIR)\n"
		"  --pool NAME           storage pool, default " DEFAULT_POOL " ($KVMPILOT_POOL)\n"
		"  --pool-dir DIR        its folder when created, default STATE/pool\n"
		"  --json                (list) one JSON array\n",
		DOMXML_CHANNELS_MAX);
}

enum {
	OPT_MEMORY = 256,
	OPT_MEMORY_MAX,
	OPT_VCPUS,
	OPT_VCPUS_MAX,
	OPT_WORKLOAD,
	OPT_WORKLOAD_ARGS,
	OPT_DISK_CACHE,
	OPT_DISK_IO,
	OPT_DISK_SIZE,
	OPT_IP,
	OPT_HOST_IP,
	OPT_VIRT_TYPE,
	OPT_NO_START,
	OPT_URI,
	OPT_IMAGE_DIR,
	OPT_STATE_DIR,
	OPT_POOL,
	OPT_POOL_DIR,
	OPT_JSON,
	OPT_FORCE,
	OPT_LIVE,
	OPT_KEEP_CONSOLE,
	OPT_CHANNEL,
};

static const struct option long_opts[] = {
	{ "memory", required_argument, NULL, OPT_MEMORY },
	{ "memory-max", required_argument, NULL, OPT_MEMORY_MAX },
	{ "vcpus", required_argument, NULL, OPT_VCPUS },
	{ "vcpus-max", required_argument, NULL, OPT_VCPUS_MAX },
	{ "workload", required_argument, NULL, OPT_WORKLOAD },
	{ "workload-args", required_argument, NULL, OPT_WORKLOAD_ARGS },
	{ "disk-cache", required_argument, NULL, OPT_DISK_CACHE },
	{ "disk-io", required_argument, NULL, OPT_DISK_IO },
	{ "disk-size", required_argument, NULL, OPT_DISK_SIZE },
	{ "ip", required_argument, NULL, OPT_IP },
	{ "host-ip", required_argument, NULL, OPT_HOST_IP },
	{ "virt-type", required_argument, NULL, OPT_VIRT_TYPE },
	{ "no-start", no_argument, NULL, OPT_NO_START },
	{ "uri", required_argument, NULL, OPT_URI },
	{ "image-dir", required_argument, NULL, OPT_IMAGE_DIR },
	{ "state-dir", required_argument, NULL, OPT_STATE_DIR },
	{ "pool", required_argument, NULL, OPT_POOL },
	{ "pool-dir", required_argument, NULL, OPT_POOL_DIR },
	{ "json", no_argument, NULL, OPT_JSON },
	{ "force", no_argument, NULL, OPT_FORCE },
	{ "live", no_argument, NULL, OPT_LIVE },
	{ "keep-console", no_argument, NULL, OPT_KEEP_CONSOLE },
	{ "channel", required_argument, NULL, OPT_CHANNEL },
	{ "help", no_argument, NULL, 'h' },
	{ NULL, 0, NULL, 0 },
};

static int parse_opts(int argc, char **argv, struct vm_opts *o)
{
	uint64_t v;
	int c;

	optind = 1;
	while ((c = getopt_long(argc, argv, "h", long_opts, NULL)) != -1) {
		switch (c) {
		case OPT_MEMORY:
		case OPT_MEMORY_MAX:
			if (opt_u64(c == OPT_MEMORY ? "--memory MiB" : "--memory-max MiB", optarg,
				    64, 1024 * 1024, &v, NULL, 0))
				return 2;
			if (c == OPT_MEMORY)
				o->memory_mib = v;
			else
				o->memory_max_mib = v;
			break;
		case OPT_VCPUS:
		case OPT_VCPUS_MAX:
			if (opt_u64(c == OPT_VCPUS ? "--vcpus" : "--vcpus-max", optarg, 1, 64, &v,
				    NULL, 0))
				return 2;
			if (c == OPT_VCPUS)
				o->vcpus = v;
			else
				o->vcpus_max = v;
			break;
		case OPT_WORKLOAD:
			if (strcmp(optarg, "memhog") && strcmp(optarg, "cpuburst") &&
			    strcmp(optarg, "idle")) {
				log_error("invalid workload '%s': memhog, cpuburst or idle",
					  optarg);
				return 2;
			}
			o->workload = optarg;
			break;
		case OPT_WORKLOAD_ARGS:
			o->workload_args = optarg;
			break;
		case OPT_DISK_CACHE:
			if (domxml__parse_cache(optarg, &o->cache)) {
				log_error("invalid --disk-cache '%s': default or none", optarg);
				return 2;
			}
			break;
		case OPT_DISK_IO:
			if (domxml__parse_io(optarg, &o->io)) {
				log_error("invalid --disk-io '%s': threads, native or io_uring",
					  optarg);
				return 2;
			}
			break;
		case OPT_DISK_SIZE:
			if (opt_u64("--disk-size MiB", optarg, 16, 1024 * 1024, &o->disk_mib, NULL,
				    0))
				return 2;
			break;
		case OPT_IP:
			o->ip = optarg;
			break;
		case OPT_HOST_IP:
			o->host_ip = optarg;
			break;
		case OPT_VIRT_TYPE:
			if (strcmp(optarg, "auto") && strcmp(optarg, "kvm") &&
			    strcmp(optarg, "qemu")) {
				log_error("invalid --virt-type '%s': auto, kvm or qemu", optarg);
				return 2;
			}
			o->virt_type = optarg;
			break;
		case OPT_NO_START:
			o->no_start = true;
			break;
		case OPT_URI:
			o->uri = optarg;
			break;
		case OPT_IMAGE_DIR:
			o->image_dir = optarg;
			break;
		case OPT_STATE_DIR:
			if (optarg[0] != '/') {
				log_error("--state-dir '%s' must be an absolute path", optarg);
				return 2;
			}
			o->state_dir = optarg;
			break;
		case OPT_POOL:
			o->pool = optarg;
			break;
		case OPT_POOL_DIR:
			if (optarg[0] != '/') {
				log_error("--pool-dir '%s' must be an absolute path", optarg);
				return 2;
			}
			o->pool_dir = optarg;
			break;
		case OPT_JSON:
			o->json = true;
			break;
		case OPT_FORCE:
			o->force = true;
			break;
		case OPT_LIVE:
			o->live = true;
			break;
		case OPT_KEEP_CONSOLE:
			o->keep_console = true;
			break;
		case OPT_CHANNEL:
			if (domxml__validate_channel(optarg) ||
			    !strcmp(optarg, AGENTPROTO_CHANNEL)) {
				log_error("invalid --channel '%s': 1..%d of A-Z a-z 0-9 . _ -, "
					  "starting with a letter or digit, not '%s'",
					  optarg, DOMXML_CHANNEL_MAX, AGENTPROTO_CHANNEL);
				return 2;
			}
			if (o->n_channels == DOMXML_CHANNELS_MAX) {
				log_error("at most %d --channel", DOMXML_CHANNELS_MAX);
				return 2;
			}
			o->channels[o->n_channels++] = optarg;
			break;
		case 'h':
			usage(stdout);
			return 1;
		default:
			usage(stderr);
			return 2;
		}
	}
	if (strlen(o->state_dir) > 48) {
		/* STATE/channels/NAME.agent.sock must fit in a unix socket address. */
		log_error("--state-dir '%s' is too long (48 characters at most)", o->state_dir);
		return 2;
	}
	return 0;
}

int do_vm(int argc, char **argv)
{
	struct vm_opts o;
	const char *sub, *name = NULL;
	int rc;

	vm_opts__init(&o);
	if (argc < 2 || !strcmp(argv[1], "--help") || !strcmp(argv[1], "-h") ||
	    !strcmp(argv[1], "help")) {
		usage(argc < 2 ? stderr : stdout);
		return argc < 2 ? 2 : 0;
	}
	sub = argv[1];
	rc = parse_opts(argc - 1, argv + 1, &o);
	if (rc)
		return rc == 1 ? 0 : rc;
	if (!strcmp(sub, "create") || !strcmp(sub, "destroy") || !strcmp(sub, "attach-agent")) {
		if (optind + 1 != argc - 1) {
			log_error("'vm %s' takes exactly one NAME", sub);
			return 2;
		}
		name = argv[optind + 1];
	} else if (optind != argc - 1) {
		log_error("'vm %s' takes no arguments", sub);
		return 2;
	}
	if (!strcmp(sub, "create"))
		return vm_create(name, &o);
	if (!strcmp(sub, "destroy"))
		return vm_destroy(name, &o);
	if (!strcmp(sub, "attach-agent"))
		return vm_attach_agent(name, &o);
	if (!strcmp(sub, "list"))
		return vm_list(&o);
	if (!strcmp(sub, "pool-delete"))
		return vm_pool_delete(&o);
	log_error("unknown 'vm' command '%s' (create, destroy, list, attach-agent, pool-delete)",
		  sub);
	return 2;
}
