/* SPDX-License-Identifier: GPL-2.0 */
/*
 * Domain, storage pool and volume XML for the guests kvmpilot provisions
 * ('kvmpilot vm'). Pure string building: no libvirt calls, no I/O, so
 * every document can be checked by unit tests. Every user-supplied value
 * is XML-escaped; names are validated before they reach a path or an
 * interface name.
 */
#ifndef KVMPILOT_DOMXML_H
#define KVMPILOT_DOMXML_H

#include <stddef.h>
#include <stdint.h>

#include "agentproto.h"

#define DOMXML_NAME_MAX	    48 /* longest VM name we accept */
#define DOMXML_IFNAME_MAX   16 /* IFNAMSIZ: 15 characters and the NUL */
#define DOMXML_UUID_LEN	    37
#define DOMXML_MAC_LEN	    18
#define DOMXML_CHANNELS_MAX 4  /* extra virtio-serial channels of one VM */
#define DOMXML_CHANNEL_MAX  64 /* longest channel name */
/* Marks the domains kvmpilot created, in <metadata>. */
#define DOMXML_NS_URI	 "http://kvmpilot.org/xmlns/vm/1"
#define DOMXML_NS_PREFIX "kvmpilot"

enum domxml_cache {
	DOMXML_CACHE_DEFAULT = 0, /* QEMU's default: writeback through the page cache */
	DOMXML_CACHE_NONE,	  /* O_DIRECT on the host */
};

enum domxml_io {
	DOMXML_IO_THREADS = 0, /* QEMU's thread pool (the default) */
	DOMXML_IO_NATIVE,      /* Linux AIO; needs cache=none */
	DOMXML_IO_URING,       /* io_uring */
};

/* A virtio-serial port whose host end is a unix socket QEMU listens on. */
struct domxml_channel {
	const char *name; /* the port's name in the guest, domxml__validate_channel() */
	const char *path; /* the socket, absolute, < 108 characters */
};

struct domxml_vm {
	const char *name;	 /* validated with domxml__validate_name() */
	const char *uuid;	 /* 36 characters */
	const char *virt_type;	 /* "kvm" or "qemu" */
	uint64_t memory_mib;	 /* <currentMemory>: the balloon at start */
	uint64_t memory_max_mib; /* <memory>: the ceiling */
	unsigned int vcpus;	 /* online at start */
	unsigned int vcpus_max;
	const char *kernel; /* direct kernel boot */
	const char *initrd;
	const char *cmdline;
	const char *disk_path; /* NULL: no disk */
	enum domxml_cache cache;
	enum domxml_io io;
	const char *tap; /* NULL: no network interface */
	const char *mac;
	const char *channel_path;			     /* NULL: no agent channel */
	struct domxml_channel channels[DOMXML_CHANNELS_MAX]; /* more ports, e.g. qemu-ga's */
	unsigned int n_channels;
	const char *console_path; /* serial console log file */
	const char *workload;	  /* recorded in <metadata>, may be NULL */
};

/* 0 when NAME is 1..48 of [A-Za-z0-9._-], starting alphanumeric, no "..". */
int domxml__validate_name(const char *name);

/*
 * The tap name for a VM: "kp-NAME" when that fits in 15 characters, else
 * "kp-" + the first 7 characters + "-" + 4 hex digits of a hash of NAME.
 */
int domxml__tap_name(const char *name, char *buf, size_t size);

/* Stable identities derived from the name, so re-defining a VM keeps them. */
void domxml__uuid(const char *name, char out[DOMXML_UUID_LEN]);
void domxml__mac(const char *name, char out[DOMXML_MAC_LEN]);

/* A malloc'ed copy of s with & < > ' " escaped; NULL when out of memory. */
char *domxml__escape(const char *s);

/* 0 when NAME is 1..64 of [A-Za-z0-9._-], starting alphanumeric, no "..". */
int domxml__validate_channel(const char *name);

/*
 * 0 when s is safe as extra kernel command line words: space separated,
 * each of [A-Za-z0-9_.,:=/+@-], at most 512 characters in all.
 */
int domxml__validate_cmdline_words(const char *s);

int domxml__parse_cache(const char *s, enum domxml_cache *out);
int domxml__parse_io(const char *s, enum domxml_io *out);
const char *domxml__cache_str(enum domxml_cache c);
const char *domxml__io_str(enum domxml_io io);

/* Each builder returns 0 and a malloc'ed document in *xml, or -errno. */
int domxml__domain(const struct domxml_vm *vm, char **xml);
int domxml__pool(const char *name, const char *path, char **xml);
int domxml__base_volume(const char *name, uint64_t capacity_mib, char **xml);
int domxml__overlay_volume(const char *name, uint64_t capacity_mib, const char *backing_path,
			   char **xml);
int domxml__channel(const struct domxml_channel *ch, char **xml);
int domxml__agent_channel(const char *socket_path, char **xml);
int domxml__virtio_serial_controller(char **xml);

#endif /* KVMPILOT_DOMXML_H */
