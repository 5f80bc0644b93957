// SPDX-License-Identifier: GPL-2.0
/*
 * The pure sample builder (sample.h) with fake inputs and a fixed clock:
 * what a VM's sample says when the agent, libvirt and the tracer say
 * something, which source wins, and the rates between two ticks.
 */
#include <errno.h>
#include <math.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <cmocka.h>

#include "agentproto.h"
#include "config.h"
#include "sample.h"
#include "vm.h"

#define SEC   1000000000ull
#define NOW   (1800000000ull * SEC) /* a fixed wall clock */
#define QUIET 15.0		    /* agent_timeout_s */

static struct vm_sample *new_sample(void)
{
	struct vm_sample *s = calloc(1, sizeof(*s));

	assert_non_null(s);
	return s;
}

static void desc(struct vm_desc *d)
{
	memset(d, 0, sizeof(*d));
	d->pid = 4242;
	(void)snprintf(d->name, sizeof(d->name), "web1");
	(void)snprintf(d->uuid, sizeof(d->uuid), "c7a5fdbd-edaf-9455-926a-d65c16db1809");
	d->source = VM_SOURCE_LIBVIRT | VM_SOURCE_PROC;
	d->nvcpus = 2;
	d->vcpus[0] = (struct vm_vcpu){ .index = 0, .tid = 4250 };
	d->vcpus[1] = (struct vm_vcpu){ .index = 1, .tid = 4251 };
	d->ntaps = 1;
	(void)snprintf(d->taps[0].ifname, sizeof(d->taps[0].ifname), "vnet0");
	d->ndisks = 2;
	(void)snprintf(d->disks[0].target, sizeof(d->disks[0].target), "vda");
	(void)snprintf(d->disks[1].path, sizeof(d->disks[1].path), "/var/lib/img/data.qcow2");
}

static struct agent_sample agent(uint64_t total_kib, uint64_t avail_kib)
{
	struct agent_sample a = { .mem_total_kb = total_kib, .mem_avail_kb = avail_kib };

	a.present = AGENT_HAS_PSI_MEM | AGENT_HAS_CPU | AGENT_HAS_SWAP;
	a.psi_mem_some = 1250; /* 12.5 % */
	a.cpu_busy = 4000;
	a.swapin_ps = 10;
	a.cpus_online = 2;
	return a;
}

/* libvirt: a 4 GiB domain ballooned to 2 GiB, and balloon statistics aged age_s */
static struct sample_virt virt(uint64_t total_kib, uint64_t avail_kib, double age_s)
{
	return (struct sample_virt){
		.have_info = true,
		.running = true,
		.max_memory_kib = 4 << 20,
		.cur_memory_kib = 2 << 20,
		.cur_vcpus = 2,
		.max_vcpus = 4,
		.have_mem = true,
		.mem_total_kib = total_kib,
		.mem_avail_kib = avail_kib,
		.mem_age_known = true,
		.mem_age_s = age_s,
	};
}

static void test_init(void **state)
{
	struct vm_sample *s = new_sample();
	struct vm_desc d;

	(void)state;
	desc(&d);
	s->mem_used_kib = 99; /* a reused snapshot slot: forgotten */
	sample__init(s, "web1", &d, NOW, 1.0);
	assert_string_equal(s->name, "web1");
	assert_int_equal(s->pid, 4242);
	assert_int_equal(s->time_ns, NOW);
	assert_int_equal(s->nvcpus, 2);
	assert_int_equal(s->vcpus[1].tid, 4251);
	assert_string_equal(s->nets[0].ifname, "vnet0");
	/* the guest's name of a disk, else its image's file name */
	assert_string_equal(s->disks[0].name, "vda");
	assert_string_equal(s->disks[1].name, "data.qcow2");
	assert_int_equal(s->mem_source, MEM_SOURCE_NONE);
	assert_int_equal(s->mem_used_kib, 0);
	assert_true(s->psi_mem_some < 0); /* unknown, not 0 */
	free(s);
}

/* A fresh agent is the guest's memory: balloon statistics are not even asked for. */
static void test_agent_wins(void **state)
{
	struct vm_sample *s = new_sample();
	struct agent_sample a = agent(2000000, 500000);
	struct sample_virt v = virt(1900000, 1000000, 1.0);
	struct vm_desc d;

	(void)state;
	desc(&d);
	sample__init(s, "web1", &d, NOW, 1.0);
	assert_int_equal(sample__add_agent(s, &a, 2 * SEC, QUIET), 0);
	assert_false(sample__wants_balloon(s, QUIET));
	assert_int_equal(sample__add_virt(s, &v, QUIET), 0);
	assert_int_equal(s->mem_source, MEM_SOURCE_AGENT);
	assert_int_equal(s->mem_used_kib, 1500000);
	assert_float_equal(s->mem_age_s, 2.0, 1e-9);
	assert_float_equal(s->psi_mem_some, 12.5, 1e-9);
	assert_float_equal(s->swap_in_per_s, 40, 1e-9); /* pages of 4 KiB */
	assert_int_equal(s->vcpus_online, 2);
	/* libvirt's sizes are taken all the same */
	assert_int_equal(s->balloon_kib, 2 << 20);
	assert_int_equal(s->mem_max_kib, 4 << 20);
	assert_int_equal(s->vcpus_max, 4);
	assert_int_equal(sample__mem_time_ns(s), NOW - 2 * SEC);
	free(s);
}

/* A silent agent: its memory stays until fresher balloon statistics come, its pressure goes. */
static void test_agent_silent(void **state)
{
	struct vm_sample *s = new_sample();
	struct agent_sample a = agent(2000000, 500000);
	struct sample_virt v = virt(1900000, 1000000, 30.0);
	struct vm_desc d;

	(void)state;
	desc(&d);
	sample__init(s, "web1", &d, NOW, 1.0);
	assert_int_equal(sample__add_agent(s, &a, 20 * SEC, QUIET), 0);
	assert_true(sample__agent_silent(s, QUIET));
	assert_true(s->psi_mem_some < 0);
	assert_true(s->guest_cpu_pct < 0);
	assert_true(sample__wants_balloon(s, QUIET));
	/* balloon statistics 30 s old: the agent's 20 s old sample is fresher */
	assert_int_equal(sample__add_virt(s, &v, QUIET), 0);
	assert_int_equal(s->mem_source, MEM_SOURCE_AGENT);
	assert_float_equal(s->mem_age_s, 20.0, 1e-9);

	/* 3 s old: they win */
	sample__init(s, "web1", &d, NOW, 1.0);
	assert_int_equal(sample__add_agent(s, &a, 20 * SEC, QUIET), 0);
	v.mem_age_s = 3.0;
	assert_int_equal(sample__add_virt(s, &v, QUIET), 1);
	assert_int_equal(s->mem_source, MEM_SOURCE_BALLOON);
	assert_int_equal(s->mem_used_kib, 900000);
	assert_float_equal(s->mem_age_s, 3.0, 1e-9);
	free(s);
}

/* Balloon statistics alone; of unknown age or inconsistent they are not taken. */
static void test_balloon_only(void **state)
{
	struct vm_sample *s = new_sample();
	struct sample_virt v = virt(1900000, 1000000, 1.5);
	struct vm_desc d;

	(void)state;
	desc(&d);
	sample__init(s, "web1", &d, NOW, 1.0);
	assert_int_equal(sample__add_virt(s, &v, QUIET), 1);
	assert_int_equal(s->mem_source, MEM_SOURCE_BALLOON);
	assert_int_equal(s->mem_total_kib, 1900000);
	assert_int_equal(s->vcpus_online, 2); /* libvirt's count without an agent */

	v.mem_age_known = false;
	sample__init(s, "web1", &d, NOW, 1.0);
	assert_int_equal(sample__add_virt(s, &v, QUIET), 0);
	assert_int_equal(s->mem_source, MEM_SOURCE_NONE);
	/* the last data's age keeps growing */
	sample__age_memory(s, NOW - 7 * SEC);
	assert_float_equal(s->mem_age_s, 7.0, 1e-9);

	v = virt(1000000, 1900000, 1.0); /* more available than total: a lying guest */
	sample__init(s, "web1", &d, NOW, 1.0);
	assert_int_equal(sample__add_virt(s, &v, QUIET), 0);
	assert_int_equal(s->mem_source, MEM_SOURCE_NONE);
	free(s);
}

static void test_agent_rejected(void **state)
{
	struct vm_sample *s = new_sample();
	struct agent_sample a = agent(1000, 2000);
	struct vm_desc d;

	(void)state;
	desc(&d);
	sample__init(s, "web1", &d, NOW, 1.0);
	assert_int_equal(sample__add_agent(s, &a, SEC, QUIET), -EINVAL);
	a = agent(2000, 1000);
	assert_int_equal(sample__add_agent(s, &a, NOW + SEC, QUIET), -ERANGE);
	assert_int_equal(s->mem_source, MEM_SOURCE_NONE);
	assert_int_equal(sample__mem_time_ns(s), 0);
	free(s);
}

static void test_configure(void **state)
{
	struct vm_sample *s = new_sample();
	struct sample_virt v = virt(1900000, 1000000, 1.0);
	struct vm_config vc = { .policy = "window",
				.mem_floor_mib = 512,
				.mem_ceiling_mib = 8192,
				.vcpu_min = 1,
				.vcpu_max = 0,
				.enabled = true,
				.dry_run = true };
	struct vm_desc d;

	(void)state;
	desc(&d);
	sample__init(s, "web1", &d, NOW, 1.0);
	(void)sample__add_virt(s, &v, QUIET);
	sample__configure(s, &vc);
	assert_true(s->enabled && s->dry_run);
	assert_string_equal(s->policy, "window");
	assert_int_equal(s->mem_floor_kib, 512 * 1024);
	/* the domain's <memory> and <vcpu> cap the configured bounds */
	assert_int_equal(s->mem_ceiling_kib, 4 << 20);
	assert_int_equal(s->vcpu_max, 4);
	free(s);
}

/* Rates from two samples one second apart, then after a counter reset. */
static void test_rates(void **state)
{
	struct vm_sample *p = new_sample(), *s = new_sample();
	struct vm_desc d;

	(void)state;
	desc(&d);
	sample__init(p, "web1", &d, NOW - 2 * SEC, 1.0);
	sample__init(s, "web1", &d, NOW, 2.0);
	p->vcpus[0].run_ns = 10 * SEC;
	s->vcpus[0].run_ns = 11 * SEC; /* half of one CPU over 2 s */
	p->vcpus[1].wait_ns = 5 * SEC;
	s->vcpus[1].wait_ns = 5 * SEC + SEC / 5;
	p->exits_total = 1000;
	s->exits_total = 3000;
	p->nets[0].rx_bytes = 1 << 20;
	s->nets[0].rx_bytes = 3 << 20;
	p->disks[0].rd_ops = 10;
	s->disks[0].rd_ops = 30;
	p->disks[1].wr_bytes = 4096;
	s->disks[1].wr_bytes = 4096 * 5;
	sample__rates(s, p);
	assert_float_equal(s->vcpus[0].busy_pct, 50.0, 1e-9);
	assert_float_equal(s->cpu_busy_pct, 50.0, 1e-9);
	assert_float_equal(s->cpu_wait_pct, 10.0, 1e-9);
	assert_float_equal(s->exits_per_s, 1000.0, 1e-9);
	assert_float_equal(s->nets[0].rx_bps, 1048576.0, 1e-9);
	assert_float_equal(s->blk_rd_iops, 10.0, 1e-9);
	assert_float_equal(s->blk_wr_bps, 8192.0, 1e-9);

	/* the process restarted: counters count from zero, the gain is the new value */
	*p = *s;
	sample__init(s, "web1", &d, NOW + 2 * SEC, 2.0);
	s->exits_total = 400;
	s->nets[0].rx_bytes = 1 << 20;
	/* an estimated run time that a later exact count undercuts is no time, not a reset */
	s->vcpus[0].run_ns = 11 * SEC - 1000;
	sample__rates(s, p);
	assert_float_equal(s->exits_per_s, 200.0, 1e-9);
	assert_float_equal(s->nets[0].rx_bps, 512 * 1024, 1e-9);
	assert_float_equal(s->vcpus[0].busy_pct, 0.0, 1e-9);

	/* the first sample has no rates */
	sample__init(s, "web1", &d, NOW, 1.0);
	s->exits_total = 400;
	sample__rates(s, NULL);
	assert_float_equal(s->exits_per_s, 0.0, 1e-9);
	free(p);
	free(s);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_init),	       cmocka_unit_test(test_agent_wins),
		cmocka_unit_test(test_agent_silent),   cmocka_unit_test(test_balloon_only),
		cmocka_unit_test(test_agent_rejected), cmocka_unit_test(test_configure),
		cmocka_unit_test(test_rates),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
