/* SPDX-License-Identifier: GPL-2.0 */
/* fakeqemu's options: what it imitates and at which rates (fakeqemu --help). */
#ifndef KVMPILOT_FAKEQEMU_OPTS_H
#define KVMPILOT_FAKEQEMU_OPTS_H

#include <stdbool.h>
#include <stdint.h>

#define MAX_VCPUS 64

enum disk_mode {
	DISK_NONE,
	DISK_THREADS,
	DISK_NATIVE,
	DISK_URING
};
struct opts {
	const char *name_arg;
	int vcpus;
	double duty[MAX_VCPUS];
	int nduty;
	double add_vcpu_after;
	double duration;
	bool tcg;
	const char *tap;
	uint64_t tap_pps;
	uint64_t tap_size;
	const char *disk;
	enum disk_mode disk_mode;
	bool disk_write;
	uint64_t disk_bs;
	uint64_t disk_iops;
	uint64_t disk_size;
	const char *report;
	const char *ready;
};

extern struct opts opt;

/* Fill opt from the command line; exits 0 after --help, 2 on a bad option. */
void parse_args(int argc, char **argv);

#endif /* KVMPILOT_FAKEQEMU_OPTS_H */
