// SPDX-License-Identifier: GPL-2.0
/*
 * Benchmark of the host end of the agent channel: parse and format cost per
 * line, and lines per second through a real socket and channel__poll().
 * Target: 200 VMs at one sample per second cost under 1% of one core, i.e.
 * under 50 us per line end to end.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#include "channel.h"
#include "util.h"

static const char line[] =
	"KP1 sample seq=12 boot=300134406 ver=0.1.0 interval_ms=1000 uptime_ms=18620 "
	"mem_total_kb=337040 mem_avail_kb=304672 mem_free_kb=304292 cached_kb=4824 "
	"swap_total_kb=0 swap_used_kb=0 swapin_ps=0 swapout_ps=0 psi_mem_some=0 psi_mem_full=0 "
	"psi_cpu_some=1617 psi_cpu_full=0 cpu_busy=520 disk_rd_bytes=12288 disk_wr_bytes=0 "
	"disk_rd_ios=3 disk_wr_ios=0 net_rx_bytes=566 net_tx_bytes=516 net_rx_pkts=7 "
	"net_tx_pkts=6 cpus_online=1 cpus_present=1";

int main(void)
{
	const int n = 200000;
	struct agentproto_msg m;
	enum agentproto_reject why;
	char buf[AGENTPROTO_MAX_LINE], path[64];
	struct sockaddr_un sa = { .sun_family = AF_UNIX };
	struct channel_opts o = { .max_lines_per_s = 1000000000, .line_burst = 1000000000 };
	struct channel *ch;
	uint64_t t, got = 0, sent = 0;
	double parse_ns, chan_ns;
	int lfd, cfd, len;

	t = now_mono_ns();
	for (int i = 0; i < n; i++)
		(void)agentproto__parse(line, sizeof(line) - 1, true, &m, &why);
	parse_ns = (double)(now_mono_ns() - t) / n;
	printf("agentproto__parse          %8.0f ns/line (%zu bytes)\n", parse_ns,
	       sizeof(line) - 1);

	t = now_mono_ns();
	for (int i = 0; i < n; i++)
		(void)agentproto__format_sample(buf, sizeof(buf), &m.sample);
	printf("agentproto__format_sample  %8.0f ns/line\n", (double)(now_mono_ns() - t) / n);

	memset(buf, 'A', sizeof(buf));
	t = now_mono_ns();
	for (int i = 0; i < n; i++)
		(void)agentproto__parse(buf, 600, true, &m, &why);
	printf("reject garbage             %8.0f ns/line\n", (double)(now_mono_ns() - t) / n);

	/* Through a socket: the fake QEMU writes, the channel reads and parses. */
	snprintf(path, sizeof(path), "/tmp/kvmpilot-bench-agent.%d", (int)getpid());
	snprintf(sa.sun_path, sizeof(sa.sun_path), "%s", path);
	lfd = socket(AF_UNIX, SOCK_STREAM, 0);
	if (lfd < 0 || bind(lfd, (struct sockaddr *)&sa, sizeof(sa)) || listen(lfd, 1))
		return 1;
	ch = channel__new(path, &o);
	if (!ch || channel__poll(ch, 1) != 0)
		return 1;
	cfd = accept(lfd, NULL, NULL);
	t = now_mono_ns();
	for (uint64_t seq = 1; seq <= (uint64_t)n / 4; seq++) {
		len = snprintf(buf, sizeof(buf), "KP1 sample seq=%llu%s\n", (unsigned long long)seq,
			       strstr(line, " boot="));
		if (write(cfd, buf, (size_t)len) != len)
			return 1;
		sent++;
		if (seq % 64 == 0) {
			int r = channel__poll(ch, now_mono_ns());

			if (r < 0)
				return 1;
			got += (uint64_t)r;
		}
	}
	for (int r; (r = channel__poll(ch, now_mono_ns())) > 0;)
		got += (uint64_t)r;
	chan_ns = (double)(now_mono_ns() - t) / (double)sent;
	printf("socket+channel (+writer)   %8.0f ns/line (%llu of %llu accepted)\n", chan_ns,
	       (unsigned long long)got, (unsigned long long)sent);
	printf("200 VMs at 1 sample/s      %8.3f%% of one core (target < 1%%)\n",
	       chan_ns * 200 / 1e9 * 100);
	channel__free(ch);
	close(cfd);
	close(lfd);
	unlink(path);
	return got == sent ? 0 : 1;
}
