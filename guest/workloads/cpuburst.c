// SPDX-License-Identifier: GPL-2.0
/*
 * cpuburst: N busy threads for T seconds, then idle for I seconds (default T),
 * repeated --rounds times (0: forever). Events go to stdout for the console.
 */
#include <errno.h>
#include <getopt.h>
#include <pthread.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <time.h>

#include "util.h"

static volatile int stop_burst;

static uint64_t mono_ms(void)
{
	struct timespec ts;

	(void)clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000 + (uint64_t)ts.tv_nsec / 1000000;
}

static void *spin(void *arg)
{
	volatile uint64_t x = (uintptr_t)arg;

	while (!__atomic_load_n(&stop_burst, __ATOMIC_RELAXED))
		x = x * 6364136223846793005ull + 1442695040888963407ull;
	return NULL;
}

static void sleep_s(unsigned long s)
{
	struct timespec ts = { .tv_sec = (time_t)s };

	while (nanosleep(&ts, &ts) && errno == EINTR)
		;
}

int main(int argc, char **argv)
{
	static const struct option lopts[] = {
		{ "threads", required_argument, NULL, 't' },
		{ "seconds", required_argument, NULL, 's' },
		{ "idle", required_argument, NULL, 'i' },
		{ "rounds", required_argument, NULL, 'r' },
		{ "help", no_argument, NULL, 'h' },
		{},
	};
	unsigned long threads = 1, busy_s = 10, idle_s = (unsigned long)-1, rounds = 0, round;
	pthread_t tids[256];
	char msg[160];
	int c, li = 0;
	uint64_t v;

	while ((c = getopt_long(argc, argv, "h", lopts, &li)) != -1) {
		unsigned long *dst, lo = 0, hi = 86400;

		switch (c) {
		case 't':
			dst = &threads;
			lo = 1;
			hi = 256;
			break;
		case 's':
			dst = &busy_s;
			lo = 1;
			break;
		case 'i':
			dst = &idle_s;
			break;
		case 'r':
			dst = &rounds;
			hi = 1000000;
			break;
		case 'h':
			printf("Usage: cpuburst [--threads N] [--seconds T] [--idle I] [--rounds R]\n"
			       "N busy threads (default 1) for T seconds (default 10), idle I seconds\n"
			       "(default T), R rounds (default 0: forever).\n");
			return 0;
		default:
			return 2;
		}
		if (opt_u64(lopts[li].name, optarg, lo, hi, &v, msg, sizeof(msg))) {
			fprintf(stderr, "cpuburst: %s\n", msg);
			return 2;
		}
		*dst = v;
	}
	if (idle_s == (unsigned long)-1)
		idle_s = busy_s;
	setvbuf(stdout, NULL, _IOLBF, 0);
	for (round = 1; !rounds || round <= rounds; round++) {
		unsigned long started = 0;
		uint64_t t0 = mono_ms();

		__atomic_store_n(&stop_burst, 0, __ATOMIC_RELAXED);
		for (unsigned long i = 0; i < threads; i++) {
			if (pthread_create(&tids[i], NULL, spin, (void *)(uintptr_t)(i + 1)))
				break;
			started++;
		}
		printf("cpuburst: busy round=%lu threads=%lu seconds=%lu\n", round, started,
		       busy_s);
		sleep_s(busy_s);
		__atomic_store_n(&stop_burst, 1, __ATOMIC_RELAXED);
		for (unsigned long i = 0; i < started; i++)
			(void)pthread_join(tids[i], NULL);
		printf("cpuburst: idle round=%lu seconds=%lu busy_ms=%llu\n", round, idle_s,
		       (unsigned long long)(mono_ms() - t0));
		if (idle_s)
			sleep_s(idle_s);
	}
	return 0;
}
