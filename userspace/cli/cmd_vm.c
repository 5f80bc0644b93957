// SPDX-License-Identifier: GPL-2.0
/*
 * kvmpilot vm: the command line of provisioning (options, usage, dispatch).
 * The work, and every libvirt call, is provision.c's.
 */
#include <getopt.h>
#include <stddef.h>
#include <stdio.h>
#include <string.h>

#include "agentproto.h"
#include "cmds.h"
#include "kvmpilot.h"
#include "provision.h"
#include "util.h"

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
		"  --uri URI             libvirt URI, default " KVMPILOT_DEFAULT_URI
		" ($KVMPILOT_URI)\n"
		"  --image-dir DIR       where vmlinuz and initramfs.gz are, default guest/out\n"
		"                        beside the binary's build folder ($KVMPILOT_GUEST_DIR)\n"
		"  --state-dir DIR       default " PROVISION_DEFAULT_STATE
		" ($KVMPILOT_STATE_DIR)\n"
		"  --pool NAME           storage pool, default " PROVISION_DEFAULT_POOL
		" ($KVMPILOT_POOL)\n"
		"  --pool-dir DIR        its folder when created, default STATE/pool\n"
		"  --json                (list) one JSON array\n",
		DOMXML_CHANNELS_MAX);
}

/* The options whose argument is checked: 0, or 2 after logging why. */
static int set_u64(const char *label, const char *arg, uint64_t min, uint64_t max, uint64_t *out)
{
	return opt_u64(label, arg, min, max, out, NULL, 0) ? 2 : 0;
}

static int set_memory(struct provision_opts *o, const char *arg)
{
	return set_u64("--memory MiB", arg, 64, 1024 * 1024, &o->memory_mib);
}

static int set_memory_max(struct provision_opts *o, const char *arg)
{
	return set_u64("--memory-max MiB", arg, 64, 1024 * 1024, &o->memory_max_mib);
}

static int set_disk_size(struct provision_opts *o, const char *arg)
{
	return set_u64("--disk-size MiB", arg, 16, 1024 * 1024, &o->disk_mib);
}

static int set_vcpus(struct provision_opts *o, const char *arg)
{
	uint64_t v;

	if (set_u64("--vcpus", arg, 1, 64, &v))
		return 2;
	o->vcpus = (unsigned int)v;
	return 0;
}

static int set_vcpus_max(struct provision_opts *o, const char *arg)
{
	uint64_t v;

	if (set_u64("--vcpus-max", arg, 1, 64, &v))
		return 2;
	o->vcpus_max = (unsigned int)v;
	return 0;
}

static int set_workload(struct provision_opts *o, const char *arg)
{
	if (strcmp(arg, "memhog") && strcmp(arg, "cpuburst") && strcmp(arg, "idle")) {
		log_error("invalid workload '%s': memhog, cpuburst or idle", arg);
		return 2;
	}
	o->workload = arg;
	return 0;
}

static int set_disk_cache(struct provision_opts *o, const char *arg)
{
	if (domxml__parse_cache(arg, &o->cache)) {
		log_error("invalid --disk-cache '%s': default or none", arg);
		return 2;
	}
	return 0;
}

static int set_disk_io(struct provision_opts *o, const char *arg)
{
	if (domxml__parse_io(arg, &o->io)) {
		log_error("invalid --disk-io '%s': threads, native or io_uring", arg);
		return 2;
	}
	return 0;
}

static int set_virt_type(struct provision_opts *o, const char *arg)
{
	if (strcmp(arg, "auto") && strcmp(arg, "kvm") && strcmp(arg, "qemu")) {
		log_error("invalid --virt-type '%s': auto, kvm or qemu", arg);
		return 2;
	}
	o->virt_type = arg;
	return 0;
}

static int add_channel(struct provision_opts *o, const char *arg)
{
	if (domxml__validate_channel(arg) || !strcmp(arg, AGENTPROTO_CHANNEL)) {
		log_error("invalid --channel '%s': 1..%d of A-Z a-z 0-9 . _ -, starting with a "
			  "letter or digit, not '%s'",
			  arg, DOMXML_CHANNEL_MAX, AGENTPROTO_CHANNEL);
		return 2;
	}
	if (o->n_channels == DOMXML_CHANNELS_MAX) {
		log_error("at most %d --channel", DOMXML_CHANNELS_MAX);
		return 2;
	}
	o->channels[o->n_channels++] = arg;
	return 0;
}

enum opt_kind {
	OPT_FLAG,    /* a bool member, set */
	OPT_STRING,  /* a const char * member, the argument */
	OPT_ABSPATH, /* the same, an absolute path */
	OPT_CHECKED, /* set() checks and stores */
};

struct vm_option {
	const char *name;
	enum opt_kind kind;
	size_t off; /* the member, OPT_FLAG, OPT_STRING and OPT_ABSPATH */
	int (*set)(struct provision_opts *o, const char *arg);
};

#define FLAG(n, m)                                                    \
	{                                                             \
		n, OPT_FLAG, offsetof(struct provision_opts, m), NULL \
	}
#define STRING(n, m)                                                    \
	{                                                               \
		n, OPT_STRING, offsetof(struct provision_opts, m), NULL \
	}
#define ABSPATH(n, m)                                                    \
	{                                                                \
		n, OPT_ABSPATH, offsetof(struct provision_opts, m), NULL \
	}
#define CHECKED(n, f)                \
	{                            \
		n, OPT_CHECKED, 0, f \
	}

static const struct vm_option vm_options[] = {
	CHECKED("memory", set_memory),
	CHECKED("memory-max", set_memory_max),
	CHECKED("vcpus", set_vcpus),
	CHECKED("vcpus-max", set_vcpus_max),
	CHECKED("workload", set_workload),
	STRING("workload-args", workload_args),
	CHECKED("disk-cache", set_disk_cache),
	CHECKED("disk-io", set_disk_io),
	CHECKED("disk-size", set_disk_size),
	STRING("ip", ip),
	STRING("host-ip", host_ip),
	CHECKED("virt-type", set_virt_type),
	FLAG("no-start", no_start),
	STRING("uri", uri),
	STRING("image-dir", image_dir),
	ABSPATH("state-dir", state_dir),
	STRING("pool", pool),
	ABSPATH("pool-dir", pool_dir),
	FLAG("json", json),
	FLAG("force", force),
	FLAG("live", live),
	FLAG("keep-console", keep_console),
	CHECKED("channel", add_channel),
};

#define N_OPTIONS ARRAY_SIZE(vm_options)
#define OPT_BASE  256 /* getopt's value of vm_options[i]: OPT_BASE + i */

static int apply_option(const struct vm_option *opt, const char *arg, struct provision_opts *o)
{
	char *member = (char *)o + opt->off;

	switch (opt->kind) {
	case OPT_FLAG:
		*(bool *)member = true;
		return 0;
	case OPT_ABSPATH:
		if (arg[0] != '/') {
			log_error("--%s '%s' must be an absolute path", opt->name, arg);
			return 2;
		}
		/* fall through */
	case OPT_STRING:
		*(const char **)member = arg;
		return 0;
	case OPT_CHECKED:
		return opt->set(o, arg);
	}
	return 2;
}

/* 0, 1 after --help (usage printed), or 2 after logging why. */
static int parse_opts(int argc, char **argv, struct provision_opts *o)
{
	struct option longs[N_OPTIONS + 2];
	int c;

	for (size_t i = 0; i < N_OPTIONS; i++)
		longs[i] = (struct option){ vm_options[i].name,
					    vm_options[i].kind == OPT_FLAG ? no_argument
									   : required_argument,
					    NULL, OPT_BASE + (int)i };
	longs[N_OPTIONS] = (struct option){ "help", no_argument, NULL, 'h' };
	longs[N_OPTIONS + 1] = (struct option){ NULL, 0, NULL, 0 };
	optind = 1;
	while ((c = getopt_long(argc, argv, "h", longs, NULL)) != -1) {
		if (c == 'h') {
			usage(stdout);
			return 1;
		}
		if (c < OPT_BASE || c >= OPT_BASE + (int)N_OPTIONS) {
			usage(stderr);
			return 2;
		}
		if (apply_option(&vm_options[c - OPT_BASE], optarg, o))
			return 2;
	}
	if (strlen(o->state_dir) > PROVISION_STATE_MAX) {
		/* STATE/channels/NAME.agent.sock must fit in a unix socket address. */
		log_error("--state-dir '%s' is too long (%d characters at most)", o->state_dir,
			  PROVISION_STATE_MAX);
		return 2;
	}
	return 0;
}

int do_vm(int argc, char **argv)
{
	struct provision_opts o;
	const char *sub, *name = NULL;
	int rc;

	provision_opts__init(&o);
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
		return provision__create(name, &o);
	if (!strcmp(sub, "destroy"))
		return provision__destroy(name, &o);
	if (!strcmp(sub, "attach-agent"))
		return provision__attach_agent(name, &o);
	if (!strcmp(sub, "list"))
		return provision__list(&o);
	if (!strcmp(sub, "pool-delete"))
		return provision__pool_delete(&o);
	log_error("unknown 'vm' command '%s' (create, destroy, list, attach-agent, pool-delete)",
		  sub);
	return 2;
}
