// SPDX-License-Identifier: GPL-2.0
/*
 * The guest agent's readers of /proc and /sys (guest/agent/agent_sample.c) over a
 * fake tree whose files come from the input, then the sampler twice (rates
 * and busy % need two readings). A sample taken must be one the agent can
 * write on the wire, consistent, that the host reads (or refuses only for a
 * counter out of its range), whatever the guest's kernel files say.
 *
 * Input: pieces separated by 0xff, in order: meminfo, vmstat,
 * pressure/memory, pressure/cpu, stat, diskstats, net/dev, uptime, the CPU
 * lists online and present, then stat and vmstat for the second reading.
 */
#include <errno.h>
#include <fcntl.h>
#include <ftw.h>
#include <limits.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "agentproto.h"
#include "fuzz.h"
#include "agent_sample.h"

static const char *const files[] = {
	"proc/meminfo",
	"proc/vmstat",
	"proc/pressure/memory",
	"proc/pressure/cpu",
	"proc/stat",
	"proc/diskstats",
	"proc/net/dev",
	"proc/uptime",
	"sys/devices/system/cpu/online",
	"sys/devices/system/cpu/present",
	"proc/stat",
	"proc/vmstat",
};
#define NFILES (sizeof(files) / sizeof(files[0]))

static char root[PATH_MAX / 2], proc[PATH_MAX], sys[PATH_MAX];

static void cleanup(void)
{
	fuzz_rm_tree(root);
}

static void make_tree(void)
{
	static const char *const dirs[] = { "proc",
					    "proc/pressure",
					    "proc/net",
					    "sys",
					    "sys/devices",
					    "sys/devices/system",
					    "sys/devices/system/cpu" };
	const char *tmp = access("/dev/shm", W_OK) ? (getenv("TMPDIR") ?: "/tmp") : "/dev/shm";
	char path[PATH_MAX];

	(void)snprintf(root, sizeof(root), "%s/fuzz-agent.XXXXXX", tmp);
	if (!mkdtemp(root))
		abort();
	(void)atexit(cleanup);
	for (size_t i = 0; i < sizeof(dirs) / sizeof(dirs[0]); i++) {
		(void)snprintf(path, sizeof(path), "%s/%s", root, dirs[i]);
		if (mkdir(path, 0755))
			abort();
	}
	(void)snprintf(proc, sizeof(proc), "%s/proc", root);
	(void)snprintf(sys, sizeof(sys), "%s/sys", root);
}

static void put(const char *rel, const uint8_t *data, size_t len)
{
	char path[PATH_MAX];
	int fd;

	(void)snprintf(path, sizeof(path), "%s/%s", root, rel);
	fd = open(path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
	if (fd < 0 || (len && write(fd, data, len) != (ssize_t)len))
		abort();
	(void)close(fd);
}

static void check_sample(const struct agent_sample *s)
{
	struct agentproto_msg msg;
	enum agentproto_reject why;
	char line[AGENTPROTO_MAX_LINE];
	int n;

	FUZZ_CHECK(s->cpus_online >= 1 && s->cpus_online <= s->cpus_present, "%u of %u CPUs online",
		   s->cpus_online, s->cpus_present);
	FUZZ_CHECK(s->mem_avail_kb <= s->mem_total_kb && s->mem_free_kb <= s->mem_total_kb &&
			   s->cached_kb <= s->mem_total_kb && s->swap_used_kb <= s->swap_total_kb,
		   "inconsistent memory figures");
	FUZZ_CHECK(s->cpu_busy <= 10000 && s->psi_mem_some <= 10000 && s->psi_mem_full <= 10000 &&
			   s->psi_cpu_some <= 10000 && s->psi_cpu_full <= 10000,
		   "a percentage above 100");
	n = agentproto__format_sample(line, sizeof(line), s);
	FUZZ_CHECK(n > 0, "the agent cannot write its sample: %d", n);
	/*
	 * Well formed and consistent, always. A counter beyond the host's range
	 * (2^62) is refused by the host: the agent sums and wraps what the files
	 * say ("-6" reads as 2^64 - 6 through %llu), which no kernel writes.
	 */
	if (agentproto__parse(line, (size_t)n - 1, true, &msg, &why))
		FUZZ_CHECK(why == AP_REJ_OUT_OF_RANGE,
			   "the host refuses the agent's sample (%s): %.*s",
			   agentproto__reject_name(why), n, line);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	const uint8_t *part[NFILES];
	size_t len[NFILES];
	struct agent_sampler sp;
	struct agent_sample s;
	struct meminfo m;
	uint64_t u1, u2, mask[2];
	uint32_t a, b;
	char *list;

	if (!root[0])
		make_tree();
	for (size_t i = 0; i < NFILES; i++)
		fuzz_split(&data, &size, 0xff, &part[i], &len[i]);
	for (size_t i = 0; i < 10; i++)
		put(files[i], part[i], len[i]);

	/* each reader on its own: any result but a crash */
	(void)agent_read_meminfo(proc, &m);
	(void)agent_read_vmstat(proc, &u1, &u2);
	(void)agent_read_psi(proc, "memory", &a, &b);
	(void)agent_read_uptime_ms(proc, &u1);
	list = fuzz_strndup(part[8], len[8]);
	if (!agent_parse_cpu_list(list, &a, mask, 128))
		FUZZ_CHECK(a <= AGENTPROTO_MAX_CPUS * 64u, "%u CPUs", a);
	free(list);

	agent_sampler__init(&sp, proc, sys, 1000, 42);
	if (!agent_sampler__take(&sp, 1000, &s))
		check_sample(&s);
	if (len[10] || len[11]) {
		put(files[10], part[10], len[10]);
		put(files[11], part[11], len[11]);
	}
	if (!agent_sampler__take(&sp, 2000, &s))
		check_sample(&s);
	return 0;
}
