// SPDX-License-Identifier: GPL-2.0
/*
 * The service configuration (config.c over libinih) from a memory buffer.
 * A file is taken whole or refused with "NAME:LINE: reason" / "NAME: reason";
 * what is taken keeps the bounds the README states for every VM.
 */
#include <string.h>

#include "config.h"
#include "fuzz.h"

static void check_vm(const struct vm_config *v)
{
	FUZZ_CHECK(memchr(v->name, '\0', sizeof(v->name)), "VM name not terminated");
	FUZZ_CHECK(memchr(v->policy, '\0', sizeof(v->policy)), "policy not terminated");
	FUZZ_CHECK(v->vcpu_min >= 1, "vcpu_min %d", v->vcpu_min);
	FUZZ_CHECK(!v->vcpu_max || v->vcpu_max >= v->vcpu_min, "vcpu_max %d below vcpu_min %d",
		   v->vcpu_max, v->vcpu_min);
	FUZZ_CHECK(!v->mem_ceiling_mib || v->mem_ceiling_mib >= v->mem_floor_mib,
		   "ceiling %llu below floor %llu", (unsigned long long)v->mem_ceiling_mib,
		   (unsigned long long)v->mem_floor_mib);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	char err[CONFIG_ERR_MAX] = "";
	char addr[CONFIG_LISTEN_MAX];
	struct vm_config v;
	struct config *cfg;
	unsigned int port;
	char *text;

	/* a NUL ends the text as it would end a C string read from a file */
	text = fuzz_strndup(data, size);
	cfg = config__load_string("fuzz.conf", text, err, sizeof(err));
	if (!cfg) {
		FUZZ_CHECK(!strncmp(err, "fuzz.conf:", 10), "refused without a reason: '%s'", err);
		FUZZ_CHECK(memchr(err, '\0', sizeof(err)), "reason not terminated");
		free(text);
		return 0;
	}
	FUZZ_CHECK(!config__check_listen(cfg->listen), "taken listen '%s' does not check",
		   cfg->listen);
	FUZZ_CHECK(!config__parse_listen(cfg->listen, addr, sizeof(addr), &port) && port <= 65535,
		   "taken listen '%s' does not parse", cfg->listen);
	FUZZ_CHECK(cfg->tick_ms > 0, "tick_ms 0");
	FUZZ_CHECK(cfg->nvms >= 0 && (cfg->nvms == 0 || cfg->vms), "nvms %d", cfg->nvms);
	check_vm(&cfg->defaults);
	for (int i = 0; i < cfg->nvms; i++) {
		FUZZ_CHECK(cfg->vms[i].name[0], "[vm] section %d without a name", i);
		config__vm(cfg, cfg->vms[i].name, &v);
		check_vm(&v);
	}
	config__vm(cfg, "no-such-vm", &v);
	check_vm(&v);
	config__free(cfg);
	free(text);
	return 0;
}
