// SPDX-License-Identifier: GPL-2.0
/* Tells the user what a slow blocking call is waiting for (see progress.h). */
#include <errno.h>
#include <pthread.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "progress.h"
#include "util.h"

#define REPEAT_NS (10ULL * 1000000000ULL)

struct progress {
	pthread_mutex_t lock;
	pthread_cond_t cond;
	pthread_t thread;
	char what[128];
	uint64_t start_ns;
	uint64_t quiet_ns;
	bool done;
	bool slow; /* the thread printed: the end is worth a line too */
};

static void deadline_after(struct timespec *ts, uint64_t ns)
{
	clock_gettime(CLOCK_MONOTONIC, ts);
	timespec_add_ns(ts, ns);
}

static void *progress_thread(void *arg)
{
	struct progress *p = arg;
	struct timespec ts;
	uint64_t wait_ns = p->quiet_ns;

	pthread_mutex_lock(&p->lock);
	while (!p->done) {
		deadline_after(&ts, wait_ns);
		while (!p->done && pthread_cond_timedwait(&p->cond, &p->lock, &ts) != ETIMEDOUT)
			;
		if (p->done)
			break;
		p->slow = true;
		log_info("%s: still waiting after %.0f s", p->what,
			 (now_mono_ns() - p->start_ns) / 1e9);
		wait_ns = REPEAT_NS;
	}
	pthread_mutex_unlock(&p->lock);
	return NULL;
}

struct progress *progress__begin(const char *what, unsigned int quiet_ms)
{
	struct progress *p = calloc(1, sizeof(*p));
	pthread_condattr_t attr;

	if (!p)
		return NULL;
	(void)str_copy(p->what, what, sizeof(p->what));
	p->start_ns = now_mono_ns();
	p->quiet_ns = (uint64_t)quiet_ms * 1000000ULL;
	pthread_mutex_init(&p->lock, NULL);
	pthread_condattr_init(&attr);
	pthread_condattr_setclock(&attr, CLOCK_MONOTONIC);
	pthread_cond_init(&p->cond, &attr);
	pthread_condattr_destroy(&attr);
	if (pthread_create(&p->thread, NULL, progress_thread, p)) {
		pthread_cond_destroy(&p->cond);
		pthread_mutex_destroy(&p->lock);
		free(p);
		return NULL;
	}
	return p;
}

double progress__end(struct progress *p)
{
	double secs;

	if (!p)
		return 0;
	secs = (now_mono_ns() - p->start_ns) / 1e9;
	pthread_mutex_lock(&p->lock);
	p->done = true;
	pthread_cond_signal(&p->cond);
	pthread_mutex_unlock(&p->lock);
	(void)pthread_join(p->thread, NULL);
	if (p->slow || secs * 1e9 >= p->quiet_ns)
		log_info("%s took %.1f s", p->what, secs);
	pthread_cond_destroy(&p->cond);
	pthread_mutex_destroy(&p->lock);
	free(p);
	return secs;
}
