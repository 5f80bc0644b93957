/* SPDX-License-Identifier: GPL-2.0 */
/*
 * Log2 histograms as the BPF programs fill them: slot 0 counts values 0 and
 * 1, slot i (i >= 1) counts values in [2^i, 2^(i+1)); the last slot also
 * takes everything above.
 */
#ifndef KVMPILOT_HIST_H
#define KVMPILOT_HIST_H

#include <stdint.h>

/* Lower and upper (exclusive) bound of a slot. */
uint64_t hist__slot_low(int slot);
uint64_t hist__slot_high(int slot);

/* The slot a value falls in, capped at nslots - 1 (as the BPF side does). */
int hist__slot(uint64_t v, int nslots);

uint64_t hist__total(const uint32_t *slots, int nslots);

/*
 * The p-th percentile (0 < p <= 100), interpolated linearly inside the slot
 * that holds it; 0 for an empty histogram.
 */
uint64_t hist__percentile(const uint32_t *slots, int nslots, double p);

#endif /* KVMPILOT_HIST_H */
