// SPDX-License-Identifier: GPL-2.0
/* fakeqemu's command line (opts.h). */
#include <linux/if_ether.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "opts.h"
#include "util.h"

struct opts opt = {
	.vcpus = 1,
	.add_vcpu_after = -1,
	.duration = -1,
	.tap_pps = 100,
	.tap_size = 100,
	.disk_mode = DISK_THREADS,
	.disk_bs = 4096,
	.disk_iops = 100,
};

/* ---- options ---- */

static void usage(FILE *out)
{
	fprintf(out,
		"usage: fakeqemu [OPTION]...\n"
		"Imitate a QEMU guest process with known ground truth, for tests.\n"
		"The main thread is named 'qemu-system-x86'; a 'call_rcu' thread idles.\n"
		"\n"
		"  -name ARG, --name ARG  ignored, so the command line looks like libvirt's\n"
		"                         (e.g. -name guest=vm1,debug-threads=on); -uuid ARG too\n"
		"  --vcpus N              vCPU threads 'CPU i/KVM' (default 1, at most %d)\n"
		"  --duty PCT[,PCT...]    busy share of each vCPU in %% per 10 ms period of its\n"
		"                         thread CPU time; the last value repeats (default 50)\n"
		"  --tcg                  name vCPU threads 'CPU i/TCG'\n"
		"  --add-vcpu-after SEC   start one more vCPU thread after SEC seconds (hot-add)\n"
		"  --duration SEC         exit cleanly after SEC seconds (default: on SIGTERM/INT)\n"
		"  --tap NAME             create tap NAME (IFF_TAP|IFF_NO_PI), disable IPv6 on it,\n"
		"                         bring it up and exchange broadcast frames of unused\n"
		"                         ethertypes: written into the tap from the main thread\n"
		"                         (guest tx) and sent to it by a host peer process over\n"
		"                         AF_PACKET, read back from the tap (guest rx)\n"
		"  --tap-pps N            frames per second each way (default 100)\n"
		"  --tap-size BYTES       frame length incl. the 14-byte Ethernet header\n"
		"                         (60..1514, default 100)\n"
		"  --disk PATH            image file or block device; a missing file is created\n"
		"                         and filled (--disk-size, default 16 MiB)\n"
		"  --disk-mode MODE       threads: buffered preadv/pwritev from 2 'worker' threads;\n"
		"                         native: O_DIRECT, io_submit from the main thread;\n"
		"                         io_uring: O_DIRECT, io_uring from the main thread\n"
		"                         (default threads)\n"
		"  --disk-rw read|write   direction (default read)\n"
		"  --disk-bs BYTES        request size (default 4096; multiple of 512 for O_DIRECT)\n"
		"  --disk-iops N          requests per second (default 100)\n"
		"  --disk-size BYTES      bytes of the image the requests cycle over\n"
		"  --report FILE          write JSON ground truth at exit, on SIGTERM and on SIGUSR1:\n"
		"                         pid; threads (tid, name, role, vCPU index, run_ns and\n"
		"                         wait_ns from schedstat); net (tx/rx packets and bytes as\n"
		"                         frame lengths, foreign frames, peer send counts); disk\n"
		"                         (read/write ops and bytes completed, errors)\n"
		"  --ready FILE           write the pid to FILE once every thread, the tap and the\n"
		"                         disk are set up\n"
		"  -h, --help             this text\n"
		"Needs root (CAP_NET_ADMIN) for --tap. Exit status 0, 1 on errors, 2 on bad options.\n",
		MAX_VCPUS);
}

static void bad_opt(const char *fmt, ...) __attribute__((format(printf, 1, 2), noreturn));
static void bad_opt(const char *fmt, ...)
{
	va_list ap;

	fprintf(stderr, "fakeqemu: ");
	va_start(ap, fmt);
	vfprintf(stderr, fmt, ap);
	va_end(ap);
	fprintf(stderr, " (see --help)\n");
	exit(2);
}

static uint64_t num_u64(const char *o, const char *v, uint64_t min, uint64_t max)
{
	uint64_t out;

	if (parse_u64(v, min, max, &out))
		bad_opt("%s: '%s' is not a number in [%llu, %llu]", o, v, (unsigned long long)min,
			(unsigned long long)max);
	return out;
}

static double num_double(const char *o, const char *v, double min, double max)
{
	double out;

	if (parse_double(v, min, max, &out))
		bad_opt("%s: '%s' is not a number in [%g, %g]", o, v, min, max);
	return out;
}

void parse_args(int argc, char **argv)
{
	for (int i = 1; i < argc; i++) {
		const char *o = argv[i], *v = i + 1 < argc ? argv[i + 1] : NULL;

		if (!strcmp(o, "-h") || !strcmp(o, "--help")) {
			usage(stdout);
			exit(0);
		}
		if (!strcmp(o, "--tcg")) {
			opt.tcg = true;
			continue;
		}
		if (!v) {
			static const char *const known[] = {
				"-name",       "--name",    "-uuid",	  "--uuid",
				"--vcpus",     "--duty",    "--duration", "--add-vcpu-after",
				"--tap",       "--tap-pps", "--tap-size", "--disk",
				"--disk-mode", "--disk-rw", "--disk-bs",  "--disk-iops",
				"--disk-size", "--report",  "--ready",
			};
			bool is_known = false;

			for (size_t k = 0; k < ARRAY_SIZE(known); k++)
				is_known = is_known || !strcmp(o, known[k]);
			if (is_known)
				bad_opt("option '%s' needs a value", o);
			bad_opt("unknown option '%s'", o);
		}
		i++;
		if (!strcmp(o, "-name") || !strcmp(o, "--name")) {
			opt.name_arg = v;
		} else if (!strcmp(o, "-uuid") || !strcmp(o, "--uuid")) {
			/* ignored */
		} else if (!strcmp(o, "--vcpus")) {
			opt.vcpus = (int)num_u64(o, v, 0, MAX_VCPUS);
		} else if (!strcmp(o, "--duty")) {
			char *copy = strdup(v), *save = NULL, *tok;

			opt.nduty = 0;
			for (tok = strtok_r(copy, ",", &save); tok;
			     tok = strtok_r(NULL, ",", &save)) {
				if (opt.nduty >= MAX_VCPUS)
					bad_opt("--duty: more than %d values", MAX_VCPUS);
				opt.duty[opt.nduty++] = num_double(o, tok, 0, 100);
			}
			free(copy);
			if (!opt.nduty)
				bad_opt("--duty: no value in '%s'", v);
		} else if (!strcmp(o, "--add-vcpu-after")) {
			opt.add_vcpu_after = num_double(o, v, 0, 1e6);
		} else if (!strcmp(o, "--duration")) {
			opt.duration = num_double(o, v, 0, 1e7);
		} else if (!strcmp(o, "--tap")) {
			opt.tap = v;
		} else if (!strcmp(o, "--tap-pps")) {
			opt.tap_pps = num_u64(o, v, 1, 1000000);
		} else if (!strcmp(o, "--tap-size")) {
			opt.tap_size = num_u64(o, v, 60, ETH_FRAME_LEN);
		} else if (!strcmp(o, "--disk")) {
			opt.disk = v;
		} else if (!strcmp(o, "--disk-mode")) {
			if (!strcmp(v, "threads"))
				opt.disk_mode = DISK_THREADS;
			else if (!strcmp(v, "native"))
				opt.disk_mode = DISK_NATIVE;
			else if (!strcmp(v, "io_uring"))
				opt.disk_mode = DISK_URING;
			else
				bad_opt("--disk-mode: '%s' is not threads, native or io_uring", v);
		} else if (!strcmp(o, "--disk-rw")) {
			if (!strcmp(v, "read"))
				opt.disk_write = false;
			else if (!strcmp(v, "write"))
				opt.disk_write = true;
			else
				bad_opt("--disk-rw: '%s' is not read or write", v);
		} else if (!strcmp(o, "--disk-bs")) {
			opt.disk_bs = num_u64(o, v, 1, 16 << 20);
		} else if (!strcmp(o, "--disk-iops")) {
			opt.disk_iops = num_u64(o, v, 1, 1000000);
		} else if (!strcmp(o, "--disk-size")) {
			opt.disk_size = num_u64(o, v, 512, UINT64_MAX / 2);
		} else if (!strcmp(o, "--report")) {
			opt.report = v;
		} else if (!strcmp(o, "--ready")) {
			opt.ready = v;
		} else {
			bad_opt("unknown option '%s'", o);
		}
	}
	if (opt.add_vcpu_after >= 0 && opt.vcpus >= MAX_VCPUS)
		bad_opt("--add-vcpu-after: already %d vCPUs", MAX_VCPUS);
}
