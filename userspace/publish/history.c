// SPDX-License-Identifier: GPL-2.0
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <math.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "history.h"
#include "util.h"

#define KIB_TO_MIB(x) ((float)((double)(x) / 1024.0))

/*
 * Column storage: a column that has held one value since the first row (an
 * idle VM's zero exits, a fixed maximum, NaN for what a VM does not report)
 * is kept as that value alone; its array of cap floats is allocated, for the
 * whole ring, the first time a row differs. No value is rounded or dropped.
 */
struct ring {
	double *t; /* unix seconds of each row */
	_Atomic(float *) col[HC_N];
	float same[HC_N]; /* the value of every row of a column without an array */
	int cap;
	_Atomic uint64_t count; /* rows ever written; row i lives at i % cap */
};

struct history {
	_Atomic int refs;
	char name[VM_NAME_MAX];
	struct ring fine, coarse;
	/* coarse accumulator (writer only) */
	double acc_t;
	double acc[HC_N];
	int acc_n[HC_N];
	int acc_rows;
	/* exit reasons owning a column; set once, before any row uses them */
	char reason_names[HISTORY_REASONS][SAMPLE_REASON_MAX];
	char reason_cols[HISTORY_REASONS][SAMPLE_REASON_MAX + 16];
	_Atomic int nreasons;
	/* CSV */
	FILE *csv;
	char csv_path[VM_PATH_MAX + VM_NAME_MAX + 8];
	uint64_t csv_bytes, csv_max;
	unsigned int csv_keep;
	/*
	 * stdio would give each VM's file a 4 kB buffer; a row is a few hundred
	 * bytes and flushed at once, so 1 kB is enough (a longer row is two writes).
	 */
	char csv_buf[1024];
};

static const char *const col_names[HC_N] = {
	[HC_MEM_USED] = "mem_used_mib",
	[HC_MEM_TOTAL] = "mem_total_mib",
	[HC_MEM_AVAIL] = "mem_available_mib",
	[HC_MEM_ALLOC] = "mem_alloc_mib",
	[HC_MEM_MAX] = "mem_max_mib",
	[HC_FORECAST] = "forecast_mib",
	[HC_FORECAST_LO] = "forecast_lo_mib",
	[HC_FORECAST_HI] = "forecast_hi_mib",
	[HC_MEM_TARGET] = "target_mib",
	[HC_MEM_AGE] = "mem_age_s",
	[HC_SWAP_IN] = "swap_in_per_s",
	[HC_SWAP_OUT] = "swap_out_per_s",
	[HC_PSI_MEM] = "psi_mem_some",
	[HC_GUEST_CPU] = "guest_cpu_pct",
	[HC_CPU_BUSY] = "cpu_busy_pct",
	[HC_CPU_WAIT] = "cpu_wait_pct",
	[HC_EMULATOR] = "emulator_pct",
	[HC_VCPUS_ONLINE] = "vcpus_online",
	[HC_VCPUS_TARGET] = "target_vcpus",
	[HC_VCPU_BUSY0 + 0] = "vcpu0_busy_pct",
	[HC_VCPU_BUSY0 + 1] = "vcpu1_busy_pct",
	[HC_VCPU_BUSY0 + 2] = "vcpu2_busy_pct",
	[HC_VCPU_BUSY0 + 3] = "vcpu3_busy_pct",
	[HC_VCPU_WAIT0 + 0] = "vcpu0_wait_pct",
	[HC_VCPU_WAIT0 + 1] = "vcpu1_wait_pct",
	[HC_VCPU_WAIT0 + 2] = "vcpu2_wait_pct",
	[HC_VCPU_WAIT0 + 3] = "vcpu3_wait_pct",
	[HC_EXITS] = "exits_per_s",
	[HC_EXIT_P50] = "exit_p50_us",
	[HC_EXIT_P99] = "exit_p99_us",
	[HC_REASON_OTHER] = "exits_per_s:other",
	[HC_NET_RX_BPS] = "net_rx_bytes_per_s",
	[HC_NET_TX_BPS] = "net_tx_bytes_per_s",
	[HC_NET_RX_PPS] = "net_rx_packets_per_s",
	[HC_NET_TX_PPS] = "net_tx_packets_per_s",
	[HC_BLK_RD_BPS] = "blk_read_bytes_per_s",
	[HC_BLK_WR_BPS] = "blk_write_bytes_per_s",
	[HC_BLK_RD_IOPS] = "blk_read_ops_per_s",
	[HC_BLK_WR_IOPS] = "blk_write_ops_per_s",
	[HC_BLK_P50] = "blk_p50_us",
	[HC_BLK_P99] = "blk_p99_us",
};

_Static_assert(HC_VCPU_WAIT0 - HC_VCPU_BUSY0 == 4, "column names assume 4 vCPUs");

static int ring_init(struct ring *ring, int cap)
{
	ring->cap = cap;
	ring->t = calloc((size_t)cap, sizeof(*ring->t));
	for (int c = 0; c < HC_N; c++)
		ring->same[c] = NAN;
	return ring->t ? 0 : -ENOMEM;
}

static void ring_free(struct ring *ring)
{
	free(ring->t);
	for (int c = 0; c < HC_N; c++)
		free(atomic_load_explicit(&ring->col[c], memory_order_relaxed));
}

struct history *history__new(const char *vm_name)
{
	struct history *h = calloc(1, sizeof(*h));

	if (!h)
		return NULL;
	if (ring_init(&h->fine, HISTORY_FINE_ROWS) || ring_init(&h->coarse, HISTORY_COARSE_ROWS)) {
		ring_free(&h->fine);
		ring_free(&h->coarse);
		free(h);
		return NULL;
	}
	atomic_init(&h->refs, 1);
	(void)str_copy(h->name, vm_name, sizeof(h->name));
	return h;
}

struct history *history__get(struct history *h)
{
	if (h)
		atomic_fetch_add_explicit(&h->refs, 1, memory_order_relaxed);
	return h;
}

void history__put(struct history *h)
{
	if (!h || atomic_fetch_sub_explicit(&h->refs, 1, memory_order_acq_rel) != 1)
		return;
	if (h->csv)
		fclose(h->csv);
	ring_free(&h->fine);
	ring_free(&h->coarse);
	free(h);
}

void history__file_name(const char *vm_name, char *out, unsigned long size)
{
	unsigned long i;

	for (i = 0; vm_name[i] && i + 1 < size; i++) {
		char c = vm_name[i];
		bool ok = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') ||
			  (c >= '0' && c <= '9') || c == '-' || c == '_' || (c == '.' && i > 0);

		out[i] = ok ? c : '_';
	}
	if (size)
		out[i] = '\0';
}

static void csv_header(struct history *h)
{
	int n = fprintf(h->csv, "time,name,pid,mem_source,decided");

	for (int c = 0; c < HC_N; c++) {
		if (c >= HC_REASON0 && c < HC_REASON_OTHER)
			n += fprintf(h->csv, ",exits_per_s:reason%d", c - HC_REASON0);
		else
			n += fprintf(h->csv, ",%s", col_names[c]);
	}
	n += fprintf(h->csv, ",reasons,vcpus,reason\n");
	if (n > 0)
		h->csv_bytes += (uint64_t)n;
}

static int csv_open(struct history *h)
{
	struct stat st;

	h->csv = fopen(h->csv_path, "ae");
	if (!h->csv)
		return -errno;
	(void)setvbuf(h->csv, h->csv_buf, _IOFBF, sizeof(h->csv_buf));
	h->csv_bytes = fstat(fileno(h->csv), &st) ? 0 : (uint64_t)st.st_size;
	if (!h->csv_bytes)
		csv_header(h);
	return 0;
}

/* "NAME.csv" or "NAME.csv.N": the length of "NAME.csv", else 0. */
static size_t csv_base_len(const char *name)
{
	const char *p = strstr(name, ".csv");
	size_t n;

	while (p) {
		n = (size_t)(p - name) + 4;
		if (n > 4 && !name[n])
			return n;
		if (n > 4 && name[n] == '.' && name[n + 1] &&
		    strspn(name + n + 1, "0123456789") == strlen(name + n + 1))
			return n;
		p = strstr(p + 1, ".csv");
	}
	return 0;
}

int history__prune_dir(const char *dir, double max_age_s, double now)
{
	struct dirent *de;
	int removed = 0;
	DIR *d;
	int dfd;

	d = opendir(dir);
	if (!d)
		return -errno;
	dfd = dirfd(d);
	while ((de = readdir(d))) {
		char base[VM_NAME_MAX + 8];
		size_t n = csv_base_len(de->d_name);
		struct stat st;

		if (!n || n >= sizeof(base))
			continue;
		if (fstatat(dfd, de->d_name, &st, AT_SYMLINK_NOFOLLOW) || !S_ISREG(st.st_mode) ||
		    now - (double)st.st_mtime <= max_age_s)
			continue;
		/* a rotated file goes with its VM: only when NAME.csv is as old or gone */
		memcpy(base, de->d_name, n);
		base[n] = '\0';
		if (strcmp(base, de->d_name) && !fstatat(dfd, base, &st, AT_SYMLINK_NOFOLLOW) &&
		    now - (double)st.st_mtime <= max_age_s)
			continue;
		if (!unlinkat(dfd, de->d_name, 0))
			removed++;
	}
	(void)closedir(d);
	return removed;
}

int history__open_csv(struct history *h, const char *dir, uint64_t max_bytes, unsigned int keep)
{
	static double last_prune; /* the tick thread is the only writer */
	char fname[VM_NAME_MAX];
	double now = (double)now_real_ns() / 1e9;

	/*
	 * Files of VMs gone for longer than the retention go when a VM
	 * appears (every VM's CSV is written each tick, so a live one is never
	 * that old), at most once an hour.
	 */
	if (now - last_prune >= 3600) {
		last_prune = now;
		(void)history__prune_dir(dir, HISTORY_CSV_RETENTION_S, now);
	}

	if (h->csv) {
		fclose(h->csv);
		h->csv = NULL;
	}
	history__file_name(h->name, fname, sizeof(fname));
	if (!fname[0])
		return -EINVAL;
	snprintf(h->csv_path, sizeof(h->csv_path), "%s/%s.csv", dir, fname);
	h->csv_max = max_bytes;
	h->csv_keep = keep;
	return csv_open(h);
}

void history__set_rotation(struct history *h, uint64_t max_bytes, unsigned int keep)
{
	if (!h)
		return;
	h->csv_max = max_bytes;
	h->csv_keep = keep;
}

static int csv_rotate(struct history *h)
{
	char from[sizeof(h->csv_path) + 16], to[sizeof(h->csv_path) + 16];

	fclose(h->csv);
	h->csv = NULL;
	if (!h->csv_keep) {
		(void)unlink(h->csv_path);
	} else {
		for (unsigned int i = h->csv_keep; i > 1; i--) {
			snprintf(from, sizeof(from), "%s.%u", h->csv_path, i - 1);
			snprintf(to, sizeof(to), "%s.%u", h->csv_path, i);
			(void)rename(from, to);
		}
		snprintf(to, sizeof(to), "%s.1", h->csv_path);
		if (rename(h->csv_path, to))
			return -errno;
	}
	return csv_open(h);
}

static void csv_quote(FILE *f, const char *s)
{
	fputc('"', f);
	for (; *s; s++) {
		if (*s == '"')
			fputc('"', f);
		fputc((unsigned char)*s >= 0x20 ? *s : ' ', f);
	}
	fputc('"', f);
}

static int csv_write(struct history *h, const struct history_row *row, const struct vm_sample *s)
{
	long start, end;
	int err;

	if (!h->csv)
		return 0;
	start = ftell(h->csv);
	fprintf(h->csv, "%.3f,", row->t);
	csv_quote(h->csv, s->name);
	fprintf(h->csv, ",%d,%s,%d", s->pid, mem_source__name(s->mem_source), s->decided);
	for (int c = 0; c < HC_N; c++) {
		if (isnan(row->v[c]))
			fputs(",", h->csv);
		else
			fprintf(h->csv, ",%.6g", row->v[c]);
	}
	/* exit reasons and vCPUs beyond the in-memory columns, as name=value lists */
	fputc(',', h->csv);
	fputc('"', h->csv);
	for (int i = 0; i < s->nreasons; i++)
		fprintf(h->csv, "%s%s=%.6g", i ? " " : "", s->reasons[i].name, s->reasons[i].per_s);
	fputs("\",\"", h->csv);
	for (int i = 0; i < s->nvcpus; i++)
		fprintf(h->csv, "%s%d=%.3g/%.3g", i ? " " : "", s->vcpus[i].index,
			s->vcpus[i].busy_pct, s->vcpus[i].wait_pct);
	fputs("\",", h->csv);
	csv_quote(h->csv, s->decided ? s->reason : "");
	fputc('\n', h->csv);
	if (fflush(h->csv) || ferror(h->csv)) {
		err = -errno;
		clearerr(h->csv);
		return err ? err : -EIO;
	}
	end = ftell(h->csv);
	if (start >= 0 && end > start)
		h->csv_bytes += (uint64_t)(end - start);
	if (h->csv_max && h->csv_bytes >= h->csv_max)
		return csv_rotate(h);
	return 0;
}

static int reason_col(struct history *h, const char *name)
{
	int n = atomic_load_explicit(&h->nreasons, memory_order_relaxed);

	for (int i = 0; i < n; i++) {
		if (!strcmp(h->reason_names[i], name))
			return HC_REASON0 + i;
	}
	if (n < HISTORY_REASONS) {
		(void)str_copy(h->reason_names[n], name, sizeof(h->reason_names[n]));
		snprintf(h->reason_cols[n], sizeof(h->reason_cols[n]), "exits_per_s:%s", name);
		atomic_store_explicit(&h->nreasons, n + 1, memory_order_release);
		return HC_REASON0 + n;
	}
	return HC_REASON_OTHER;
}

static float mib_or_nan(uint64_t kib, bool known)
{
	return known ? KIB_TO_MIB(kib) : NAN;
}

static void fill_row(struct history *h, const struct vm_sample *s, struct history_row *r)
{
	bool mem = s->mem_source != MEM_SOURCE_NONE;
	bool bpf = s->have_bpf;

	/* millisecond times, exactly as the API prints them, so since=T is exact */
	r->t = (double)(s->time_ns / 1000000) / 1e3;
	for (int c = 0; c < HC_N; c++)
		r->v[c] = NAN;
	r->v[HC_MEM_USED] = mib_or_nan(s->mem_used_kib, mem);
	r->v[HC_MEM_TOTAL] = mib_or_nan(s->mem_total_kib, mem);
	r->v[HC_MEM_AVAIL] = mib_or_nan(s->mem_avail_kib, mem);
	r->v[HC_MEM_ALLOC] = mib_or_nan(s->balloon_kib, s->balloon_kib > 0);
	r->v[HC_MEM_MAX] = mib_or_nan(s->mem_max_kib, s->mem_max_kib > 0);
	r->v[HC_FORECAST] = mib_or_nan((uint64_t)s->forecast_kib, s->forecast_kib > 0);
	r->v[HC_FORECAST_LO] = mib_or_nan((uint64_t)s->forecast_lo_kib, s->forecast_kib > 0);
	r->v[HC_FORECAST_HI] = mib_or_nan((uint64_t)s->forecast_hi_kib, s->forecast_kib > 0);
	r->v[HC_MEM_TARGET] = mib_or_nan(s->target_mem_kib, s->decided && s->target_mem_kib);
	r->v[HC_MEM_AGE] = mem ? (float)s->mem_age_s : NAN;
	r->v[HC_SWAP_IN] = s->mem_source == MEM_SOURCE_AGENT ? (float)s->swap_in_per_s : NAN;
	r->v[HC_SWAP_OUT] = s->mem_source == MEM_SOURCE_AGENT ? (float)s->swap_out_per_s : NAN;
	r->v[HC_PSI_MEM] = s->psi_mem_some >= 0 ? (float)s->psi_mem_some : NAN;
	r->v[HC_GUEST_CPU] = s->guest_cpu_pct >= 0 ? (float)s->guest_cpu_pct : NAN;
	r->v[HC_VCPUS_ONLINE] = s->vcpus_online > 0 ? (float)s->vcpus_online : NAN;
	r->v[HC_VCPUS_TARGET] = s->decided && s->target_vcpus > 0 ? (float)s->target_vcpus : NAN;
	if (s->have_cpu) {
		r->v[HC_CPU_BUSY] = (float)s->cpu_busy_pct;
		r->v[HC_CPU_WAIT] = (float)s->cpu_wait_pct;
		for (int i = 0; i < s->nvcpus; i++) {
			int idx = s->vcpus[i].index;

			if (idx < 0 || idx >= HISTORY_VCPUS)
				continue;
			r->v[HC_VCPU_BUSY0 + idx] = (float)s->vcpus[i].busy_pct;
			r->v[HC_VCPU_WAIT0 + idx] = (float)s->vcpus[i].wait_pct;
		}
	}
	if (bpf) {
		r->v[HC_EMULATOR] = (float)s->emulator_pct;
		r->v[HC_EXITS] = (float)s->exits_per_s;
		r->v[HC_EXIT_P50] = (float)s->exit_p50_us;
		r->v[HC_EXIT_P99] = (float)s->exit_p99_us;
		for (int c = HC_REASON0; c <= HC_REASON_OTHER; c++)
			r->v[c] = 0;
		for (int i = 0; i < s->nreasons; i++)
			r->v[reason_col(h, s->reasons[i].name)] += (float)s->reasons[i].per_s;
		r->v[HC_NET_RX_BPS] = r->v[HC_NET_TX_BPS] = 0;
		r->v[HC_NET_RX_PPS] = r->v[HC_NET_TX_PPS] = 0;
		for (int i = 0; i < s->nnets; i++) {
			r->v[HC_NET_RX_BPS] += (float)s->nets[i].rx_bps;
			r->v[HC_NET_TX_BPS] += (float)s->nets[i].tx_bps;
			r->v[HC_NET_RX_PPS] += (float)s->nets[i].rx_pps;
			r->v[HC_NET_TX_PPS] += (float)s->nets[i].tx_pps;
		}
		r->v[HC_BLK_RD_BPS] = (float)s->blk_rd_bps;
		r->v[HC_BLK_WR_BPS] = (float)s->blk_wr_bps;
		r->v[HC_BLK_RD_IOPS] = (float)s->blk_rd_iops;
		r->v[HC_BLK_WR_IOPS] = (float)s->blk_wr_iops;
		r->v[HC_BLK_P50] = (float)s->blk_p50_us;
		r->v[HC_BLK_P99] = (float)s->blk_p99_us;
	}
}

static bool same_value(float a, float b)
{
	return isnan(a) ? isnan(b) : a == b && signbit(a) == signbit(b);
}

/* Returns 0, or -ENOMEM when a column that changed got no array (its value is lost). */
static int ring_push(struct ring *ring, const struct history_row *row)
{
	uint64_t n = atomic_load_explicit(&ring->count, memory_order_relaxed);
	uint64_t slot = n % (uint64_t)ring->cap;
	int err = 0;

	/* a reader of this slot sees count move past it and drops what it copied */
	ring->t[slot] = row->t;
	for (int c = 0; c < HC_N; c++) {
		float *col = atomic_load_explicit(&ring->col[c], memory_order_relaxed);

		if (col) {
			col[slot] = row->v[c];
		} else if (!n) {
			ring->same[c] = row->v[c];
		} else if (!same_value(row->v[c], ring->same[c])) {
			col = malloc((size_t)ring->cap * sizeof(*col));
			if (!col) {
				err = -ENOMEM;
				continue;
			}
			for (int i = 0; i < ring->cap; i++)
				col[i] = ring->same[c];
			col[slot] = row->v[c];
			atomic_store_explicit(&ring->col[c], col, memory_order_release);
		}
	}
	atomic_store_explicit(&ring->count, n + 1, memory_order_release);
	return err;
}

static void ring_row(struct ring *ring, uint64_t i, struct history_row *out)
{
	uint64_t slot = i % (uint64_t)ring->cap;

	out->t = ring->t[slot];
	for (int c = 0; c < HC_N; c++) {
		const float *col = atomic_load_explicit(&ring->col[c], memory_order_acquire);

		out->v[c] = col ? col[slot] : ring->same[c];
	}
}

int history__append(struct history *h, const struct vm_sample *s)
{
	struct history_row row;
	int err, err2 = 0;

	fill_row(h, s, &row);
	err = ring_push(&h->fine, &row);

	if (!h->acc_rows)
		h->acc_t = row.t;
	for (int c = 0; c < HC_N; c++) {
		if (isnan(row.v[c]))
			continue;
		h->acc[c] += row.v[c];
		h->acc_n[c]++;
	}
	if (++h->acc_rows == HISTORY_COARSE_STEP) {
		struct history_row avg = { .t = h->acc_t };

		for (int c = 0; c < HC_N; c++)
			avg.v[c] = h->acc_n[c] ? (float)(h->acc[c] / h->acc_n[c]) : NAN;
		err2 = ring_push(&h->coarse, &avg);
		memset(h->acc, 0, sizeof(h->acc));
		memset(h->acc_n, 0, sizeof(h->acc_n));
		h->acc_rows = 0;
	}
	if (!err)
		err = err2;
	err2 = csv_write(h, &row, s);
	return err ? err : err2;
}

/* Copy rows [lo, n) of a ring with t > since and t < before; drop overwritten ones. */
static int ring_copy(const struct ring *ring, double since, double before, struct history_row *out,
		     int max)
{
	struct ring *r = (struct ring *)ring;
	uint64_t n = atomic_load_explicit(&r->count, memory_order_acquire);
	uint64_t lo = n > (uint64_t)r->cap ? n - (uint64_t)r->cap : 0, n2;
	int got = 0, keep_from;
	uint64_t first = lo;

	for (uint64_t i = lo; i < n && got < max; i++) {
		double t = r->t[i % (uint64_t)r->cap];

		if (t <= since || t >= before) {
			if (!got)
				first = i + 1;
			continue;
		}
		ring_row(r, i, &out[got++]);
	}
	atomic_thread_fence(memory_order_acquire);
	n2 = atomic_load_explicit(&r->count, memory_order_relaxed);
	/* rows with index < n2 - cap + 1 may have been rewritten while we read */
	if (n2 + 1 > (uint64_t)r->cap && n2 + 1 - (uint64_t)r->cap > first) {
		uint64_t bad = n2 + 1 - (uint64_t)r->cap - first;

		keep_from = bad > (uint64_t)got ? got : (int)bad;
		memmove(out, out + keep_from, (size_t)(got - keep_from) * sizeof(*out));
		got -= keep_from;
	}
	return got;
}

int history__copy(const struct history *h, double since_s, struct history_row *out, int max)
{
	const struct ring *fine = &h->fine;
	uint64_t n = atomic_load_explicit((_Atomic uint64_t *)&fine->count, memory_order_acquire);
	uint64_t oldest = n > (uint64_t)fine->cap ? n - (uint64_t)fine->cap + 1 : 0;
	double fine_start = n ? fine->t[oldest % (uint64_t)fine->cap] : INFINITY;
	int got;

	/* coarse averages for what the fine ring no longer holds, then the fine rows */
	got = ring_copy(&h->coarse, since_s, fine_start, out, max);
	got += ring_copy(fine, since_s, INFINITY, out + got, max - got);
	return got;
}

const char *history__col_name(const struct history *h, int col)
{
	if (col < 0 || col >= HC_N)
		return NULL;
	if (col >= HC_REASON0 && col < HC_REASON_OTHER) {
		int n = atomic_load_explicit((_Atomic int *)&h->nreasons, memory_order_acquire);

		return col - HC_REASON0 < n ? h->reason_cols[col - HC_REASON0] : NULL;
	}
	return col_names[col];
}

int history__col_find(const struct history *h, const char *metric)
{
	for (int c = 0; c < HC_N; c++) {
		const char *name = history__col_name(h, c);

		if (name && !strcmp(name, metric))
			return c;
	}
	return -ENOENT;
}
