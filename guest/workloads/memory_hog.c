// SPDX-License-Identifier: GPL-2.0
/*
 * memory_hog: the prototype's guest workload. Allocate a random size between
 * --min-mb and --max-mb, fill it with random data (so neither zero-page
 * merging nor compression hides it), then free --free-mb-per-s MiB per second
 * until nothing is left, and exit. A runner (the guest's init) restarts it.
 * Events go to stdout, one line each, for the serial console.
 */
#include <errno.h>
#include <getopt.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <time.h>
#include <unistd.h>

#include "util.h"

#define MIB (1024ul * 1024ul)

struct opts {
	unsigned long min_mb;
	unsigned long max_mb;
	unsigned long free_mb_per_s;
	unsigned long chunk_mb;
	unsigned long hold_s;
	unsigned long seed; /* 0: a different one each run */
};

/* One run: the size drawn and its chunks (NULL once unmapped). */
struct hog {
	const struct opts *o;
	unsigned long size_mb;
	unsigned long nchunks;
	unsigned char **chunks;
	uint64_t t0_ms;
};

static uint64_t mono_ms(void)
{
	struct timespec ts;

	(void)clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000 + (uint64_t)ts.tv_nsec / 1000000;
}

static uint64_t xorshift(uint64_t *s)
{
	uint64_t x = *s;

	x ^= x << 13;
	x ^= x >> 7;
	x ^= x << 17;
	*s = x;
	return x;
}

static void usage(FILE *f)
{
	fprintf(f,
		"Usage: memory_hog [--min-mb N] [--max-mb N] [--free-mb-per-s N] [--chunk-mb N]\n"
		"                  [--hold-s N] [--seed N]\n"
		"Allocate a random size in [min, max] MiB (default 500..1800), fill it with\n"
		"random data, hold it --hold-s seconds (default 0), free --free-mb-per-s MiB\n"
		"per second (default 100), exit.\n");
}

/* The last chunk holds the remainder. */
static unsigned long chunk_mb(const struct opts *o, unsigned long size_mb, unsigned long nchunks,
			      unsigned long i)
{
	return i == nchunks - 1 ? size_mb - i * o->chunk_mb : o->chunk_mb;
}

static void sleep_ms(unsigned long ms)
{
	struct timespec ts = { .tv_sec = ms / 1000, .tv_nsec = (long)(ms % 1000) * 1000000 };

	while (nanosleep(&ts, &ts) && errno == EINTR)
		;
}

/* Returns -1 to go on, else the exit status (0 after --help, 2 for a bad option). */
static int parse_opts(struct opts *o, int argc, char **argv)
{
	static const struct option lopts[] = {
		{ "min-mb", required_argument, NULL, 'm' },
		{ "max-mb", required_argument, NULL, 'M' },
		{ "free-mb-per-s", required_argument, NULL, 'f' },
		{ "chunk-mb", required_argument, NULL, 'c' },
		{ "hold-s", required_argument, NULL, 'H' },
		{ "seed", required_argument, NULL, 's' },
		{ "help", no_argument, NULL, 'h' },
		{},
	};
	int c, li = 0;
	char msg[160];
	uint64_t v;

	while ((c = getopt_long(argc, argv, "h", lopts, &li)) != -1) {
		unsigned long *dst;
		unsigned long lo = 1, hi = 1ul << 30;

		switch (c) {
		case 'm':
			dst = &o->min_mb;
			break;
		case 'M':
			dst = &o->max_mb;
			break;
		case 'f':
			dst = &o->free_mb_per_s;
			break;
		case 'c':
			dst = &o->chunk_mb;
			hi = 1024;
			break;
		case 'H':
			dst = &o->hold_s;
			lo = 0;
			hi = 86400;
			break;
		case 's':
			dst = &o->seed;
			lo = 0;
			hi = UINT64_MAX;
			break;
		case 'h':
			usage(stdout);
			return 0;
		default:
			usage(stderr);
			return 2;
		}
		if (opt_u64(lopts[li].name, optarg, lo, hi, &v, msg, sizeof(msg))) {
			fprintf(stderr, "memory_hog: %s\n", msg);
			return 2;
		}
		*dst = v;
	}
	if (o->min_mb > o->max_mb) {
		fprintf(stderr, "memory_hog: --min-mb '%lu' is above --max-mb '%lu'\n", o->min_mb,
			o->max_mb);
		return 2;
	}
	return -1;
}

/* --seed, or a different one each run; never 0, which xorshift would keep. */
static uint64_t rng_seed(const struct opts *o)
{
	uint64_t rng =
		o->seed ? o->seed : ((uint64_t)getpid() << 32) ^ mono_ms() ^ (uint64_t)time(NULL);

	return rng ? rng : 88172645463325252ull;
}

static unsigned long hog_chunk_mb(const struct hog *h, unsigned long i)
{
	return chunk_mb(h->o, h->size_mb, h->nchunks, i);
}

/* Map and fill every chunk; returns 0 or -errno (said on stdout). */
static int hog_fill(struct hog *h, uint64_t *rng)
{
	for (unsigned long i = 0; i < h->nchunks; i++) {
		unsigned long len = hog_chunk_mb(h, i) * MIB;
		uint64_t *p;

		p = mmap(NULL, len, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
		if (p == MAP_FAILED) {
			int err = -errno;

			printf("memhog: allocation failed at_mb=%lu err='%s'\n", i * h->o->chunk_mb,
			       strerror(-err));
			return err;
		}
		for (unsigned long w = 0; w < len / sizeof(*p); w++)
			p[w] = xorshift(rng);
		h->chunks[i] = (unsigned char *)p;
	}
	printf("memhog: filled size_mb=%lu ms=%llu\n", h->size_mb,
	       (unsigned long long)(mono_ms() - h->t0_ms));
	return 0;
}

/* Free in ten steps per second, whole chunks, so the sawtooth is smooth. */
static void hog_drain(struct hog *h)
{
	double budget = 0;
	unsigned long i;

	for (i = 0; i < h->nchunks;) {
		sleep_ms(100);
		budget += (double)h->o->free_mb_per_s / 10.0;
		while (i < h->nchunks && budget >= (double)hog_chunk_mb(h, i)) {
			budget -= (double)hog_chunk_mb(h, i);
			(void)munmap(h->chunks[i], hog_chunk_mb(h, i) * MIB);
			h->chunks[i] = NULL;
			i++;
		}
	}
	printf("memhog: done size_mb=%lu total_ms=%llu\n", h->size_mb,
	       (unsigned long long)(mono_ms() - h->t0_ms));
}

/* Unmap what is still mapped; the chunk array may be NULL. */
static void hog_release(struct hog *h)
{
	if (h->chunks) {
		for (unsigned long i = 0; i < h->nchunks; i++) {
			if (h->chunks[i])
				(void)munmap(h->chunks[i], hog_chunk_mb(h, i) * MIB);
		}
	}
	free(h->chunks);
	h->chunks = NULL;
}

int main(int argc, char **argv)
{
	struct opts o = { .min_mb = 500, .max_mb = 1800, .free_mb_per_s = 100, .chunk_mb = 10 };
	struct hog h = { .o = &o };
	uint64_t rng;
	int ret, err = 1;

	ret = parse_opts(&o, argc, argv);
	if (ret >= 0)
		return ret;
	setvbuf(stdout, NULL, _IOLBF, 0);
	rng = rng_seed(&o);
	h.size_mb = o.min_mb + (unsigned long)(xorshift(&rng) % (o.max_mb - o.min_mb + 1));
	h.nchunks = (h.size_mb + o.chunk_mb - 1) / o.chunk_mb;
	h.chunks = calloc(h.nchunks, sizeof(*h.chunks));
	if (!h.chunks)
		goto cleanup;
	printf("memhog: start size_mb=%lu free_mb_per_s=%lu\n", h.size_mb, o.free_mb_per_s);
	h.t0_ms = mono_ms();
	if (hog_fill(&h, &rng))
		goto cleanup;
	if (o.hold_s)
		sleep_ms(o.hold_s * 1000);
	hog_drain(&h);
	err = 0;
cleanup:
	hog_release(&h);
	return err;
}
