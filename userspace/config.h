/* SPDX-License-Identifier: GPL-2.0 */
/*
 * The service configuration: an INI file (parsed by libinih) with a
 * [global] section and one [vm NAME] section per VM override. A bad file
 * is rejected as a whole with "FILE:LINE: reason", so a reload can keep
 * the configuration that runs.
 */
#ifndef KVMPILOT_CONFIG_H
#define KVMPILOT_CONFIG_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "kvmpilot.h"
#include "vm.h"

#define CONFIG_DEFAULT_LISTEN	"127.0.0.1:9477"
#define CONFIG_DEFAULT_URI	KVMPILOT_DEFAULT_URI
#define CONFIG_DEFAULT_DATA_DIR "/var/lib/kvmpilot"
#define CONFIG_POLICY_MAX	16
#define CONFIG_ERR_MAX		512
#define CONFIG_LISTEN_MAX	64  /* 'listen' and --listen, the NUL included */
#define CONFIG_OWNERS_MAX	256 /* 'vm_owners', the NUL included */
#define CONFIG_DEFAULT_OWNERS	"root,libvirt-qemu,qemu"

/*
 * The HTTP server's access keys (README, "Connection policy"); like
 * 'listen', they take effect at the next start.
 */
#define CONFIG_HOSTS_MAX 512 /* 'allowed_hosts', the NUL included */
struct config_http {
	char allowed_hosts[CONFIG_HOSTS_MAX]; /* "" for the loopback names and the listen host */
	char auth_token_file[VM_PATH_MAX];    /* "" for no token */
	char tls_cert_file[VM_PATH_MAX];      /* both or neither */
	char tls_key_file[VM_PATH_MAX];
	bool allow_insecure_listen; /* serve a non-loopback address with no token */
};

/* Settings a [vm NAME] section may override; [global] gives the defaults. */
struct vm_config {
	char name[VM_NAME_MAX]; /* "" for the defaults */
	char policy[CONFIG_POLICY_MAX];
	uint64_t mem_floor_mib;
	uint64_t mem_ceiling_mib; /* 0: the domain's maximum */
	int vcpu_min;
	int vcpu_max; /* 0: the domain's maximum */
	bool enabled;
	bool dry_run;
	unsigned int set; /* mask of VMCFG_* given in the section */
	int line;	  /* where its bounds were last set, for error messages */
};

enum {
	VMCFG_POLICY = 1u << 0,
	VMCFG_MEM_FLOOR = 1u << 1,
	VMCFG_MEM_CEILING = 1u << 2,
	VMCFG_VCPU_MIN = 1u << 3,
	VMCFG_VCPU_MAX = 1u << 4,
	VMCFG_ENABLED = 1u << 5,
	VMCFG_DRY_RUN = 1u << 6,
};

struct config {
	char path[VM_PATH_MAX]; /* "" when built from defaults only */
	char uri[VM_PATH_MAX];
	char listen[CONFIG_LISTEN_MAX];
	struct config_http http; /* who may talk to 'listen' (the HTTP server) */
	char data_dir[VM_PATH_MAX];
	unsigned int tick_ms;
	unsigned int max_connections;
	unsigned int agent_timeout_s;	   /* agent silent this long: balloon fallback */
	uint64_t history_max_bytes;	   /* rotate a VM's CSV beyond this size */
	unsigned int history_keep;	   /* rotated files kept per VM */
	unsigned int libvirt_retry_max_s;  /* reconnect backoff ceiling */
	bool procscan;			   /* also trace QEMU processes not run by libvirt */
	unsigned int procscan_ticks;	   /* ticks between full /proc scans */
	char vm_owners[CONFIG_OWNERS_MAX]; /* users whose QEMUs may be VMs (procscan.h) */
	bool bpf;			   /* load the tracer */
	struct vm_config defaults;
	struct vm_config *vms;
	int nvms;
};

/* A configuration holding only the built-in defaults; NULL when out of memory. */
struct config *config__new_default(void);

/*
 * Parse FILE. On error returns NULL and writes "FILE:LINE: reason" (or
 * "FILE: reason") into err.
 */
struct config *config__load(const char *path, char *err, size_t errlen);

/* The same from a string (tests); name is used in error messages. */
struct config *config__load_string(const char *name, const char *text, char *err, size_t errlen);

void config__free(struct config *cfg);

/* The effective settings of VM name (defaults merged with its section). */
void config__vm(const struct config *cfg, const char *name, struct vm_config *out);

/* Split "ADDR:PORT" ("[::1]:80" for IPv6); returns 0 or -EINVAL. */
int config__parse_listen(const char *s, char *addr, size_t addrlen, unsigned int *port);

/*
 * Check a 'listen' value: 0, -EINVAL (not ADDR:PORT) or -ENAMETOOLONG (longer
 * than CONFIG_LISTEN_MAX - 1: refused, never cut to another address).
 */
int config__check_listen(const char *s);

/*
 * Check a 'vm_owners' value: comma-separated user names or numeric uids
 * (letters, digits, '.', '_', '-'), at most VM_MAX_OWNERS of them, no
 * empty item. 0 or -EINVAL; -ENAMETOOLONG beyond CONFIG_OWNERS_MAX - 1.
 */
int config__check_owners(const char *s);

/*
 * Check an 'allowed_hosts' value: host names or addresses separated by
 * commas or spaces ("[::1]" for IPv6), or "*" for any. 0, -EINVAL or
 * -ENAMETOOLONG beyond CONFIG_HOSTS_MAX - 1.
 */
int config__check_hosts(const char *s);

#endif /* KVMPILOT_CONFIG_H */
