// SPDX-License-Identifier: GPL-2.0
/* Log2 histograms: percentiles and deltas, one rule for every output. */
#include "hist.h"

uint64_t hist__slot_low(int slot)
{
	if (slot <= 0)
		return 0;
	if (slot >= 64)
		return UINT64_MAX;
	return 1ULL << slot;
}

uint64_t hist__slot_high(int slot)
{
	if (slot < 0)
		return 0;
	if (slot >= 63)
		return UINT64_MAX;
	return 1ULL << (slot + 1);
}

int hist__slot(uint64_t v, int nslots)
{
	int slot = 0;

	while (v > 1) {
		v >>= 1;
		slot++;
	}
	return slot < nslots ? slot : nslots - 1;
}

uint64_t hist__total(const uint32_t *slots, int nslots)
{
	uint64_t total = 0;

	for (int i = 0; i < nslots; i++)
		total += slots[i];
	return total;
}

uint64_t hist__percentile(const uint32_t *slots, int nslots, double p)
{
	uint64_t total = hist__total(slots, nslots), cum = 0;
	double rank;

	if (!total || !(p > 0))
		return 0;
	if (p > 100)
		p = 100;
	rank = p / 100.0 * (double)total;
	for (int i = 0; i < nslots; i++) {
		double lo, hi, frac;

		if (!slots[i])
			continue;
		if ((double)(cum + slots[i]) < rank) {
			cum += slots[i];
			continue;
		}
		lo = (double)hist__slot_low(i);
		hi = (double)hist__slot_high(i);
		frac = (rank - (double)cum) / (double)slots[i];
		return (uint64_t)(lo + (hi - lo) * frac);
	}
	return hist__slot_low(nslots - 1);
}

uint64_t hist__counter_delta(uint64_t now, uint64_t before)
{
	return now >= before ? now - before : now;
}

uint64_t hist__estimate_delta(uint64_t now, uint64_t before)
{
	return now >= before ? now - before : 0;
}

void hist__delta(uint32_t *out, const uint32_t *now, const uint32_t *before, int nslots, bool reset)
{
	for (int i = 0; i < nslots; i++)
		out[i] = reset ? now[i] : now[i] - before[i];
}
