// SPDX-License-Identifier: GPL-2.0
/*
 * Test helper (not a test by itself): drive a struct virt the way the
 * service does, one virt__poll() every 100 ms, and print one line whenever
 * the view changes:
 *   watch t=SECONDS connected=0|1 n=N names=a,b,... vcpus=a:1,b:2 poll_ms=MAX
 * (vcpus: how many vCPU threads each domain has).
 * and "done maxpoll_ms=X polls=N" at the end (after SECONDS or SIGTERM).
 * Used by test_qemu_system.sh.
 * Usage: virt_watch URI SECONDS [KEEPALIVE_INTERVAL KEEPALIVE_COUNT]
 */
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "util.h"
#include "virt_libvirt.h"

static volatile sig_atomic_t stop;

static void on_term(int sig)
{
	(void)sig;
	stop = 1;
}

int main(int argc, char **argv)
{
	/* no periodic re-list: changes must come from events (and reconnects) */
	struct virt_opts o = { .backoff_min_ms = 200,
			       .backoff_max_ms = 2000,
			       .refresh_ms = 3600000 };
	struct vm_list list = { 0 };
	char names[4096], vcpus[4096], last[8400] = "", line[8400];
	uint64_t t0 = now_mono_ns(), end, maxpoll = 0;
	unsigned long polls = 0;
	struct virt *v;
	uint64_t secs;

	uint64_t ka_int = 0, ka_count = 0;

	if ((argc != 3 && argc != 5) || parse_u64(argv[2], 1, 3600, &secs) ||
	    (argc == 5 &&
	     (parse_u64(argv[3], 1, 60, &ka_int) || parse_u64(argv[4], 1, 10, &ka_count)))) {
		fprintf(stderr,
			"usage: virt_watch URI SECONDS [KEEPALIVE_INTERVAL KEEPALIVE_COUNT]\n");
		return 2;
	}
	o.keepalive_interval = (int)ka_int;
	o.keepalive_count = (unsigned int)ka_count;
	setvbuf(stdout, NULL, _IOLBF, 0);
	o.uri = argv[1];
	end = t0 + secs * 1000000000ull;
	v = virt__open(&o);
	if (!v) {
		perror("virt__open");
		return 1;
	}
	signal(SIGTERM, on_term); /* a clean exit: sanitizer builds check for leaks */
	while (!stop && now_mono_ns() < end) {
		uint64_t p0 = now_mono_ns(), d;
		size_t len = 0;

		(void)virt__poll(v);
		d = now_mono_ns() - p0;
		if (d > maxpoll)
			maxpoll = d;
		polls++;
		(void)virt__list(v, &list);
		names[0] = vcpus[0] = '\0';
		for (int i = 0; i < list.n && len + VM_NAME_MAX + 2 < sizeof(names); i++)
			len += (size_t)snprintf(names + len, sizeof(names) - len, "%s%s",
						i ? "," : "", list.vms[i].name);
		len = 0;
		for (int i = 0; i < list.n && len + VM_NAME_MAX + 8 < sizeof(vcpus); i++)
			len += (size_t)snprintf(vcpus + len, sizeof(vcpus) - len, "%s%s:%d",
						i ? "," : "", list.vms[i].name, list.vms[i].nvcpus);
		snprintf(line, sizeof(line), "connected=%d n=%d names=%s vcpus=%s",
			 virt__connected(v), list.n, names, vcpus);
		if (strcmp(line, last)) {
			printf("watch t=%.1f %s poll_ms=%.1f err=%s\n",
			       (double)(now_mono_ns() - t0) / 1e9, line, (double)maxpoll / 1e6,
			       virt__connected(v) ? "" : virt__last_error(v));
			strcpy(last, line);
		}
		usleep(100000);
	}
	printf("done maxpoll_ms=%.1f polls=%lu\n", (double)maxpoll / 1e6, polls);
	vm_list__free(&list);
	virt__close(v);
	return 0;
}
