/* SPDX-License-Identifier: GPL-2.0 */
/*
 * Per-VM history: an in-memory ring of the last hour (the last 3 minutes
 * at tick resolution, older data as 10-tick averages) that the API and the
 * dashboard read, and a CSV file per VM in the data directory with every
 * merged metric of every tick, rotated by size.
 *
 * In memory, a metric that has had one value since the ring's first row
 * (NaN when a VM does not report it, zero network rates without a tap) is
 * stored once; it gets an array for the whole ring when a row differs.
 * Values are kept exactly as before (floats); the worst case is unchanged.
 *
 * One writer (the tick thread) and any number of readers (HTTP handlers):
 * a reader never blocks the writer; it copies rows and drops any that the
 * writer overwrote meanwhile (a sequence check, like a seqlock).
 */
#ifndef KVMPILOT_HISTORY_H
#define KVMPILOT_HISTORY_H

#include <stdint.h>

#include "sample.h"

#define HISTORY_FINE_ROWS   180 /* ticks at full resolution (3 minutes) */
#define HISTORY_COARSE_ROWS 342 /* 10-tick averages (57 minutes) */
#define HISTORY_COARSE_STEP 10
#define HISTORY_VCPUS	    4 /* per-vCPU columns kept in memory (the CSV has all) */
#define HISTORY_REASONS	    5 /* exit reasons with their own column, plus "other" */

enum history_col {
	HC_MEM_USED,
	HC_MEM_TOTAL,
	HC_MEM_AVAIL,
	HC_MEM_ALLOC,
	HC_MEM_MAX,
	HC_FORECAST,
	HC_FORECAST_LO,
	HC_FORECAST_HI,
	HC_MEM_TARGET,
	HC_MEM_AGE,
	HC_SWAP_IN,
	HC_SWAP_OUT,
	HC_PSI_MEM,
	HC_GUEST_CPU,
	HC_CPU_BUSY,
	HC_CPU_WAIT,
	HC_EMULATOR,
	HC_VCPUS_ONLINE,
	HC_VCPUS_TARGET,
	HC_VCPU_BUSY0,
	HC_VCPU_WAIT0 = HC_VCPU_BUSY0 + HISTORY_VCPUS,
	HC_EXITS = HC_VCPU_WAIT0 + HISTORY_VCPUS,
	HC_EXIT_P50,
	HC_EXIT_P99,
	HC_REASON0,
	HC_REASON_OTHER = HC_REASON0 + HISTORY_REASONS,
	HC_NET_RX_BPS,
	HC_NET_TX_BPS,
	HC_NET_RX_PPS,
	HC_NET_TX_PPS,
	HC_BLK_RD_BPS,
	HC_BLK_WR_BPS,
	HC_BLK_RD_IOPS,
	HC_BLK_WR_IOPS,
	HC_BLK_P50,
	HC_BLK_P99,
	HC_N,
};

struct history_row {
	double t;      /* unix seconds */
	float v[HC_N]; /* NaN when unknown */
};

struct history;

/* A new, empty history with one reference; NULL when out of memory. */
struct history *history__new(const char *vm_name);
struct history *history__get(struct history *h);
void history__put(struct history *h);

/*
 * Write every tick's row to DIR/NAME.csv too, rotating to NAME.csv.1..keep
 * beyond max_bytes. Returns 0 or -errno.
 */
int history__open_csv(struct history *h, const char *dir, uint64_t max_bytes, unsigned int keep);

/*
 * How long the CSV files of a VM that is gone stay in the data directory:
 * history__open_csv() removes older ones (NAME.csv and its rotated
 * NAME.csv.N), at most once an hour. A VM's own file is closed when the
 * last reference to its history goes: the service drops its own when the
 * VM is gone, the last snapshot's goes one tick later.
 */
#define HISTORY_CSV_RETENTION_S (7 * 24 * 3600.0)

/*
 * Remove DIR's NAME.csv and NAME.csv.N files not modified for max_age_s at
 * unix time now (a rotated one only when NAME.csv is as old, or gone).
 * Symbolic links and other files are left alone. Returns how many were
 * removed, or -errno when dir cannot be read.
 */
int history__prune_dir(const char *dir, double max_age_s, double now);

/* A reload's rotation limits, for the next row (writer side). */
void history__set_rotation(struct history *h, uint64_t max_bytes, unsigned int keep);

/* Writer side: append the sample of one tick. Returns 0, or -errno when the CSV failed. */
int history__append(struct history *h, const struct vm_sample *s);

/* Reader side: rows newer than since_s, oldest first; returns how many. */
int history__copy(const struct history *h, double since_s, struct history_row *out, int max);

/* The metric name of a column ("mem_used_mib"), or NULL. */
const char *history__col_name(const struct history *h, int col);

/* The column of a metric name, or -ENOENT. Reason columns are "exits_per_s:REASON". */
int history__col_find(const struct history *h, const char *metric);

/* File-safe form of a VM name (used for the CSV file). */
void history__file_name(const char *vm_name, char *out, unsigned long size);

#endif /* KVMPILOT_HISTORY_H */
