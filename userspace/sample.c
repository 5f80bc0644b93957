// SPDX-License-Identifier: GPL-2.0
#include "sample.h"

const char *mem_source__name(int source)
{
	switch (source) {
	case MEM_SOURCE_AGENT:
		return "agent";
	case MEM_SOURCE_BALLOON:
		return "balloon";
	default:
		return "none";
	}
}

double sample_hist__percentile(const struct sample_hist *h, double p)
{
	uint64_t total = 0, seen = 0, want;

	for (int i = 0; i < SAMPLE_HIST_SLOTS; i++)
		total += h->slots[i];
	if (!total)
		return 0;
	want = (uint64_t)(p / 100.0 * (double)total + 0.5);
	if (want < 1)
		want = 1;
	for (int i = 0; i < SAMPLE_HIST_SLOTS; i++) {
		seen += h->slots[i];
		if (seen >= want)
			return (double)(1ull << (i + 1));
	}
	return (double)(1ull << SAMPLE_HIST_SLOTS);
}
