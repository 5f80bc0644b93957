// SPDX-License-Identifier: GPL-2.0
/*
 * One record of virConnectGetAllDomainStats as virt_stats.c reads it
 * (virt_dom_stats__parse): typed parameters whose names and values a guest
 * partly controls (balloon figures, block and net names from its
 * definition). Indexes stay within their arrays, names fit their fields.
 *
 * Input: lines. The first is the domain name; each other line is one
 * parameter "Tfield=value" with T its type: i int, u uint, l llong,
 * L ullong, d double, b boolean, s string (numbers in decimal).
 */
#include <errno.h>
#include <libvirt/libvirt.h>
#include <stdlib.h>
#include <string.h>

#include "fuzz.h"
#include "virt_libvirt.h"

#define MAX_PARAMS 512

static void check_str(const char *s, size_t size, const char *what)
{
	FUZZ_CHECK(memchr(s, '\0', size), "%s not terminated", what);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static virTypedParameter params[MAX_PARAMS];
	static struct virt_dom_stats st;
	char *text = fuzz_strndup(data, size), *save = NULL, *line, *name;
	int n = 0, rc;

	name = strtok_r(text, "\n", &save);
	while (n < MAX_PARAMS && (line = strtok_r(NULL, "\n", &save))) {
		virTypedParameter *p = &params[n];
		char *eq = strchr(line + 1, '=');
		const char *val;

		if (!*line || !eq)
			continue;
		*eq = '\0';
		val = eq + 1;
		memset(p, 0, sizeof(*p));
		(void)snprintf(p->field, sizeof(p->field), "%s", line + 1);
		switch (line[0]) {
		case 'i':
			p->type = VIR_TYPED_PARAM_INT;
			p->value.i = (int)strtol(val, NULL, 10);
			break;
		case 'u':
			p->type = VIR_TYPED_PARAM_UINT;
			p->value.ui = (unsigned int)strtoul(val, NULL, 10);
			break;
		case 'l':
			p->type = VIR_TYPED_PARAM_LLONG;
			p->value.l = strtoll(val, NULL, 10);
			break;
		case 'L':
			p->type = VIR_TYPED_PARAM_ULLONG;
			p->value.ul = strtoull(val, NULL, 10);
			break;
		case 'd':
			p->type = VIR_TYPED_PARAM_DOUBLE;
			p->value.d = strtod(val, NULL);
			break;
		case 'b':
			p->type = VIR_TYPED_PARAM_BOOLEAN;
			p->value.b = (char)(val[0] == '1');
			break;
		default:
			p->type = VIR_TYPED_PARAM_STRING;
			p->value.s = (char *)val;
			break;
		}
		n++;
	}

	rc = virt_dom_stats__parse(&st, name, n ? params : NULL, n);
	if (rc) {
		FUZZ_CHECK(rc == -ENAMETOOLONG && !st.name[0], "parse: %d, name '%s'", rc, st.name);
		FUZZ_CHECK(name && strlen(name) >= VM_NAME_MAX, "name of %zu bytes refused",
			   name ? strlen(name) : 0);
		free(text);
		return 0;
	}
	FUZZ_CHECK(!strcmp(st.name, name ? name : ""), "name '%s' read as '%s'", name, st.name);
	FUZZ_CHECK(st.nparams == (unsigned int)n, "%u of %d parameters", st.nparams, n);
	FUZZ_CHECK(st.nvcpus >= 0 && st.nvcpus <= VIRT_MAX_VCPU_STATS, "%d vCPUs", st.nvcpus);
	FUZZ_CHECK(st.nnets >= 0 && st.nnets <= VIRT_MAX_NET_STATS, "%d nets", st.nnets);
	FUZZ_CHECK(st.nblocks >= 0 && st.nblocks <= VIRT_MAX_BLOCK_STATS, "%d blocks", st.nblocks);
	FUZZ_CHECK(st.vcpu_current >= 0 && st.vcpu_maximum >= 0, "vcpu.current %d, maximum %d",
		   st.vcpu_current, st.vcpu_maximum);
	for (int i = 0; i < st.nnets; i++)
		check_str(st.nets[i].name, sizeof(st.nets[i].name), "net name");
	for (int i = 0; i < st.nblocks; i++) {
		check_str(st.blocks[i].name, sizeof(st.blocks[i].name), "block name");
		check_str(st.blocks[i].path, sizeof(st.blocks[i].path), "block path");
	}
	free(text);
	return 0;
}
