// SPDX-License-Identifier: GPL-2.0
/*
 * gentrace: synthetic demand traces for `kvmpilot replay`.
 *
 *   gentrace SHAPE SEED SECONDS [KEY=VALUE...] > trace.csv
 *
 * Shapes (memory in MB, CPU in vCPUs; every shape has its own CPU demand):
 *   memhog   the prototype's memory_hog: allocate U(lo,hi) MB filling at
 *            U(fill_lo,fill_hi) MB/s, free `free` MB/s, exit, restart after
 *            `gap` s; one busy thread while filling
 *   bursts   a base level with bursts of U(200,amp) MB lasting U(5,dur) s,
 *            arriving every exp(every) s; cpuburst N threads T s on, T s off
 *   diurnal  base + amp x (1 + sin(2 pi t / period)) / 2 with noise; CPU too
 *   leak     grows `rate` MB/s from base until `limit`, then restarts
 *   steps    random levels held U(hold_lo, hold_hi) s, memory and CPU apart
 *   gc       a garbage-collected heap: grows `rate` MB/s to U(lo,hi), then
 *            collects back to base in 1-2 s; spiky CPU
 * The random generator is splitmix64, so a seed gives the same trace everywhere.
 */
#include <errno.h>
#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static uint64_t rng_state;

static uint64_t rng_next(void)
{
	uint64_t z = (rng_state += 0x9e3779b97f4a7c15ull);

	z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ull;
	z = (z ^ (z >> 27)) * 0x94d049bb133111ebull;
	return z ^ (z >> 31);
}

static double uni(double lo, double hi)
{
	return lo + (hi - lo) * ((double)(rng_next() >> 11) / 9007199254740992.0);
}

static double gauss(double sigma)
{
	double u1 = uni(1e-12, 1), u2 = uni(0, 1);

	return sigma * sqrt(-2 * log(u1)) * cos(2 * M_PI * u2);
}

static double expo(double mean)
{
	return -mean * log(uni(1e-12, 1));
}

#define MAX_PARAMS 16
static struct {
	const char *key;
	double val;
} params[MAX_PARAMS];
static int nparams;

static double param(const char *key, double def)
{
	for (int i = 0; i < nparams; i++) {
		if (!strcmp(params[i].key, key))
			return params[i].val;
	}
	return def;
}

static double clampd(double v, double lo, double hi)
{
	return v < lo ? lo : (v > hi ? hi : v);
}

static void emit(long t, double mem, double cpu)
{
	printf("%ld,%.1f,%.3f\n", t, clampd(mem, 0, 3850), clampd(cpu, 0, 4));
}

static void gen_memhog(long n)
{
	double base = param("base", uni(120, 250));
	double lo = param("lo", 500), hi = param("hi", 1800);
	double fill_lo = param("fill_lo", 300), fill_hi = param("fill_hi", 800);
	double freerate = param("free", 100), gap = param("gap", 1);
	double hog = 0, size = 0, fill = 0, wait = gap;
	int phase = 0; /* 0 waiting, 1 filling, 2 freeing */

	for (long t = 0; t < n; t++) {
		double cpu = 0.05;

		if (phase == 0 && --wait < 0) {
			phase = 1;
			size = uni(lo, hi);
			fill = uni(fill_lo, fill_hi);
		}
		if (phase == 1) {
			hog = fmin(size, hog + fill);
			cpu = 1.0;
			if (hog >= size)
				phase = 2;
		} else if (phase == 2) {
			hog -= freerate;
			cpu = 0.3;
			if (hog <= 0) {
				hog = 0;
				phase = 0;
				wait = gap;
			}
		}
		emit(t, base + hog + gauss(3), cpu + fabs(gauss(0.03)));
	}
}

static void gen_bursts(long n)
{
	double base = param("base", uni(300, 800)), amp = param("amp", 1500);
	double every = param("every", 60), dur = param("dur", 40);
	double next = expo(every), height = 0, left = 0, level = 0;
	double threads = floor(uni(1, 4.99)), period = param("period", uni(10, 60));

	for (long t = 0; t < n; t++) {
		double target, cpu;

		if (left <= 0 && t >= next) {
			height = uni(200, amp);
			left = uni(5, dur);
			next = t + left + expo(every);
		}
		target = left > 0 ? height : 0;
		left--;
		/* bursts ramp up over a couple of seconds and fall back at once */
		level = target > level ? fmin(target, level + height / uni(1, 3)) : target;
		cpu = fmod((double)t, 2 * period) < period ? threads : 0.02;
		emit(t, base + level + gauss(5), cpu + fabs(gauss(0.03)));
	}
}

static void gen_diurnal(long n)
{
	double base = param("base", uni(400, 900)), amp = param("amp", uni(600, 2200));
	double period = param("period", uni(600, 3600)), phase = uni(0, 2 * M_PI);
	double cpu_amp = param("cpu_amp", uni(1.5, 3.5));

	for (long t = 0; t < n; t++) {
		double x = (1 + sin(2 * M_PI * (double)t / period + phase)) / 2;

		emit(t, base + amp * x + gauss(param("noise", 8)), 0.1 + cpu_amp * x + gauss(0.08));
	}
}

static void gen_leak(long n)
{
	double base = param("base", uni(300, 600)), rate = param("rate", uni(0.5, 3));
	double limit = param("limit", uni(2000, 3500)), level = base;

	for (long t = 0; t < n; t++) {
		double cpu = 0.4 + gauss(0.05);

		level += rate * uni(0.5, 1.5);
		if (level > limit)
			level = base;
		if (uni(0, 1) < 0.02)
			cpu += uni(0.5, 2);
		emit(t, level + gauss(4), fmax(cpu, 0));
	}
}

static void gen_steps(long n)
{
	double hold_lo = param("hold_lo", 30), hold_hi = param("hold_hi", 300);
	double mem = uni(300, 3000), cpu = uni(0.1, 3.8);
	double mem_left = uni(hold_lo, hold_hi), cpu_left = uni(hold_lo, hold_hi) / 2;

	for (long t = 0; t < n; t++) {
		if (--mem_left < 0) {
			mem = uni(300, 3000);
			mem_left = uni(hold_lo, hold_hi);
		}
		if (--cpu_left < 0) {
			cpu = uni(0.1, 3.8);
			cpu_left = uni(hold_lo, hold_hi) / 2;
		}
		emit(t, mem + gauss(6), cpu + gauss(0.05));
	}
}

static void gen_gc(long n)
{
	double base = param("base", uni(400, 700)), rate = param("rate", uni(10, 60));
	double lo = param("lo", 900), hi = param("hi", 2600);
	double top = uni(lo, hi), level = base;

	for (long t = 0; t < n; t++) {
		double cpu = 0.6 + gauss(0.1);

		if (level >= top) {
			level = base + uni(0, 50);
			top = uni(lo, hi);
			cpu += 1.5;
		} else {
			level += rate * uni(0.3, 1.7);
		}
		if (uni(0, 1) < 0.05)
			cpu += uni(0.5, 2.5);
		emit(t, level + gauss(4), fmax(cpu, 0));
	}
}

static const struct {
	const char *name;
	void (*gen)(long n);
} shapes[] = {
	{ "memhog", gen_memhog }, { "bursts", gen_bursts }, { "diurnal", gen_diurnal },
	{ "leak", gen_leak },	  { "steps", gen_steps },   { "gc", gen_gc },
};

int main(int argc, char **argv)
{
	char *end;
	long n;

	if (argc < 4) {
		fprintf(stderr, "usage: gentrace SHAPE SEED SECONDS [KEY=VALUE...]\n");
		return 2;
	}
	rng_state = strtoull(argv[2], &end, 10) * 0x2545f4914f6cdd1dull + 1;
	if (*end) {
		fprintf(stderr, "gentrace: bad seed '%s'\n", argv[2]);
		return 2;
	}
	errno = 0;
	n = strtol(argv[3], &end, 10);
	if (errno || *end || n < 1 || n > 31 * 86400) {
		fprintf(stderr, "gentrace: bad length '%s'\n", argv[3]);
		return 2;
	}
	for (int i = 4; i < argc && nparams < MAX_PARAMS; i++) {
		char *eq = strchr(argv[i], '=');

		if (!eq) {
			fprintf(stderr, "gentrace: expected KEY=VALUE, got '%s'\n", argv[i]);
			return 2;
		}
		*eq = '\0';
		params[nparams].key = argv[i];
		params[nparams].val = strtod(eq + 1, &end);
		if (*end || end == eq + 1) {
			fprintf(stderr, "gentrace: bad value for '%s'\n", argv[i]);
			return 2;
		}
		nparams++;
	}
	for (size_t i = 0; i < sizeof(shapes) / sizeof(shapes[0]); i++) {
		if (!strcmp(argv[1], shapes[i].name)) {
			printf("time_s,mem_used_mb,cpu_demand_vcpus\n");
			shapes[i].gen(n);
			return fflush(stdout) ? 1 : 0;
		}
	}
	fprintf(stderr, "gentrace: unknown shape '%s'\n", argv[1]);
	return 2;
}
