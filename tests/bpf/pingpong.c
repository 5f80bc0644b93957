// SPDX-License-Identifier: GPL-2.0
/*
 * Benchmark load (not a test): two threads bounce a byte over two pipes,
 * so nearly every round trip is a pair of context switches.
 *   pingpong [--qemu] SECONDS
 * With --qemu the process looks like a QEMU with two vCPUs (comm
 * "qemu-system-x86", threads "CPU 0/KVM" and "CPU 1/KVM"), so kvmpilot
 * tracks it; without, its threads are "pp-main", "pp-a", "pp-b".
 * Prints the number of round trips.
 */
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>
#include <sys/prctl.h>

static int ab[2], ba[2];
static volatile int done;
static const char *names[2];

static void *bounce(void *arg)
{
	long side = (long)arg;
	unsigned long n = 0;
	char c = 0;

	prctl(PR_SET_NAME, names[side]);
	for (;;) {
		if (side == 0 && write(ab[1], &c, 1) != 1)
			break;
		if (read(side ? ab[0] : ba[0], &c, 1) != 1)
			break;
		if (side == 1 && write(ba[1], &c, 1) != 1)
			break;
		n++;
		if (done && side == 0)
			break;
	}
	return (void *)n;
}

int main(int argc, char **argv)
{
	int qemu = argc > 2 && !strcmp(argv[1], "--qemu");
	double secs = argc > 1 ? atof(argv[argc - 1]) : 0;
	pthread_t t[2];
	void *n;

	if (secs <= 0 || secs > 3600) {
		fprintf(stderr, "usage: pingpong [--qemu] SECONDS\n");
		return 2;
	}
	prctl(PR_SET_NAME, qemu ? "qemu-system-x86" : "pp-main");
	names[0] = qemu ? "CPU 0/KVM" : "pp-a";
	names[1] = qemu ? "CPU 1/KVM" : "pp-b";
	if (pipe(ab) || pipe(ba))
		return 1;
	for (long i = 0; i < 2; i++)
		pthread_create(&t[i], NULL, bounce, (void *)i);
	usleep((useconds_t)(secs * 1e6));
	done = 1;
	pthread_join(t[0], &n);
	close(ab[1]);
	close(ba[1]);
	pthread_join(t[1], NULL);
	printf("%lu\n", (unsigned long)n);
	return 0;
}
