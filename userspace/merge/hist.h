/* SPDX-License-Identifier: GPL-2.0 */
/*
 * Log2 histograms as the BPF programs fill them: slot 0 counts values 0 and
 * 1, slot i (i >= 1) counts values in [2^i, 2^(i+1)); the last slot also
 * takes everything above. KP_HIST_SLOTS (bpf/track.h) is the slot count of
 * every histogram, on both sides.
 *
 * One rule per number for 'kvmpilot stat', the API, /metrics and the CSV:
 * counters are subtracted with hist__counter_delta(), histograms with
 * hist__delta(), percentiles come from hist__percentile().
 */
#ifndef KVMPILOT_HIST_H
#define KVMPILOT_HIST_H

#include <stdbool.h>
#include <stdint.h>
#include <linux/types.h>

#include "track.h"

/* Lower and upper (exclusive) bound of a slot. */
uint64_t hist__slot_low(int slot);
uint64_t hist__slot_high(int slot);

/* The slot a value falls in, capped at nslots - 1 (as the BPF side does). */
int hist__slot(uint64_t v, int nslots);

uint64_t hist__total(const uint32_t *slots, int nslots);

/*
 * The p-th percentile (0 < p <= 100), interpolated linearly inside the slot
 * that holds it; 0 for an empty histogram. The rule of Prometheus'
 * histogram_quantile(): rank p/100 * total, the first slot whose cumulative
 * count reaches it, and the rank's place among that slot's counts.
 */
uint64_t hist__percentile(const uint32_t *slots, int nslots, double p);

/*
 * What a cumulative counter gained between two reads. A counter that went
 * back was reset (its BPF entry or the process was recreated) and counts
 * from zero: the gain is its new value, as Prometheus' rate() takes a reset.
 */
uint64_t hist__counter_delta(uint64_t now, uint64_t before);

/*
 * The same for a time that includes an estimate of a stint in progress
 * (vCPU run and wait time), which a later exact count may undercut a
 * little: going back is no time, 0, not a reset.
 */
uint64_t hist__estimate_delta(uint64_t now, uint64_t before);

/*
 * out = now - before, slot by slot (out may be now). Slots are 32 bits and
 * wrap after 2^32 events (hours of exits at 100k/s): while the 64-bit count
 * they belong to did not go back, a smaller slot wrapped and the modular
 * difference is right. After a reset (reset true) the delta is now.
 */
void hist__delta(uint32_t *out, const uint32_t *now, const uint32_t *before, int nslots,
		 bool reset);

#endif /* KVMPILOT_HIST_H */
