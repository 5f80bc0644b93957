// SPDX-License-Identifier: GPL-2.0
/*
 * Provisioning on the host's side, without libvirt: the state folder, the
 * guest image copies QEMU can read, socket paths, the tap's address, and
 * the facts about /dev/kvm that explain a slow define.
 */
#include <arpa/inet.h>
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <grp.h>
#include <libgen.h>
#include <net/if.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <unistd.h>

#include "provision_priv.h"
#include "util.h"

int prov_path_join(char *buf, size_t size, const char *a, const char *b)
{
	int n = snprintf(buf, size, "%s/%s", a, b);

	return n < 0 || (size_t)n >= size ? -ENAMETOOLONG : 0;
}

/* mkdir -p, then path itself gets mode and owner (also when it existed). */
int prov_ensure_dir(const char *path, mode_t mode, const struct passwd *owner)
{
	int err = mkdir_p(path, mode);

	if (err)
		return err;
	if (chmod(path, mode))
		return -errno;
	if (owner && chown(path, owner->pw_uid, owner->pw_gid))
		return -errno;
	return 0;
}

/* The guest image folder: --image-dir, or next to the binary, or installed. */
static int find_image_dir(const struct provision_opts *o, char *buf, size_t size)
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
bool prov_cpu_has_hw_virt(void)
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

int prov_set_host_ip(const char *ifname, const char *cidr)
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

void prov_state_path(const struct provision_opts *o, const char *sub, const char *name,
		     const char *suffix, char *buf, size_t size)
{
	snprintf(buf, size, "%s/%s/%s%s", o->state_dir, sub, name, suffix);
}

/* The options of create that need no libvirt: 0, or 2 after logging why. */
int prov_validate_create(const char *name, const struct provision_opts *o)
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

/* One image file, copied where QEMU's user can read it whatever the checkout's modes. */
static int copy_image(const char *imgdir, const char *dir, const char *file, char *dst, size_t size)
{
	char src[PATH_MAX + 32];
	int rc;

	snprintf(src, sizeof(src), "%s/%s", imgdir, file);
	if (prov_path_join(dst, size, dir, file)) {
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
int prov_prepare_files(const char *name, const struct provision_opts *o, struct vm_files *f)
{
	const struct passwd *qemu_user = getpwnam(QEMU_USER);
	char imgdir[PATH_MAX], dir[PATH_MAX];
	int rc;

	rc = find_image_dir(o, imgdir, sizeof(imgdir));
	if (!rc)
		rc = prov_path_join(dir, sizeof(dir), o->state_dir, "images");
	if (rc) {
		log_error("path too long for the images of '%s'", name);
		return rc;
	}
	rc = prov_ensure_dir(dir, 0755, NULL);
	if (rc) {
		log_error("cannot create '%s': %s", dir, strerror(-rc));
		return rc;
	}
	rc = copy_image(imgdir, dir, "vmlinuz", f->kernel, sizeof(f->kernel));
	if (!rc)
		rc = copy_image(imgdir, dir, "initramfs.gz", f->initrd, sizeof(f->initrd));
	if (rc)
		return rc;
	prov_path_join(dir, sizeof(dir), o->state_dir, "channels");
	rc = prov_ensure_dir(dir, 0750, qemu_user);
	if (!rc) {
		prov_path_join(dir, sizeof(dir), o->state_dir, "console");
		rc = prov_ensure_dir(dir, 0750, NULL);
	}
	if (!rc && o->n_channels) {
		prov_state_path(o, "channels", name, "", f->chan_dir, sizeof(f->chan_dir));
		rc = prov_ensure_dir(f->chan_dir, 0750, qemu_user);
		str_copy(dir, f->chan_dir, sizeof(dir));
	}
	if (rc) {
		log_error("cannot create '%s': %s", dir, strerror(-rc));
		return rc;
	}
	prov_state_path(o, "channels", name, ".agent.sock", f->chan, sizeof(f->chan));
	prov_state_path(o, "console", name, ".log", f->console, sizeof(f->console));
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
void prov_remove_stale_sockets(const struct vm_files *f, const struct provision_opts *o)
{
	(void)unlink(f->chan);
	for (unsigned int i = 0; i < o->n_channels; i++)
		(void)unlink(f->extra[i]);
}

/* Newest modification of libvirt's QEMU capabilities cache, 0 when unknown. */
uint64_t prov_caps_cache_mtime_ns(void)
{
	struct stat st;

	if (stat(QEMU_CAPS_CACHE, &st))
		return 0;
	return (uint64_t)st.st_mtim.tv_sec * 1000000000ULL + st.st_mtim.tv_nsec;
}

/* Can QEMU's user open /dev/kvm for reading and writing, by its mode bits? */
bool prov_kvm_dev_usable_by(const struct passwd *pw)
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

/* STATE/channels/NAME of --channel: its sockets, then itself. 1 when it existed. */
int prov_remove_channel_dir(const char *dir)
{
	char path[PATH_MAX];
	struct dirent *e;
	DIR *d = opendir(dir);

	if (!d)
		return 0;
	while ((e = readdir(d))) {
		size_t len = strlen(e->d_name);

		if (len > 5 && !strcmp(e->d_name + len - 5, ".sock") &&
		    !prov_path_join(path, sizeof(path), dir, e->d_name))
			(void)unlink(path);
	}
	closedir(d);
	if (rmdir(dir))
		log_warn("cannot remove '%s': %s", dir, strerror(errno));
	return 1;
}
