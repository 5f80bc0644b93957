/* SPDX-License-Identifier: GPL-2.0 */
/*
 * `kvmpilot run`: the tick loop. Every tick it reads the sources
 * (collect.h: libvirt, the /proc scan, the BPF tracer; the guest agents
 * through each VM's controller), builds one struct vm_sample per VM
 * (sample.h), lets the VM's controller decide and act (control.h ->
 * actuate.h -> virt_domain.h), appends the history and publishes an
 * immutable snapshot for the HTTP side (publish.h). service.c itself keeps
 * the VM table, the lifecycle, the loop and the phase timing. Sources that are not available (libvirtd down, no BPF) are
 * reported in /healthz and retried; the service keeps serving.
 */
#ifndef KVMPILOT_SERVICE_H
#define KVMPILOT_SERVICE_H

#include <signal.h>
#include <stdbool.h>
#include <stddef.h>

#include "config.h"

struct service_opts {
	const char *config_path; /* NULL: built-in defaults */
	/* command-line overrides of the file (NULL / false: keep the file's) */
	const char *uri;
	const char *listen;
	const char *data_dir;
	bool dry_run;
	unsigned int tick_ms; /* 0: keep */
	/* set by signal handlers, read by the loop */
	volatile sig_atomic_t *stop;
	volatile sig_atomic_t *reload;
};

struct service;

/* Load the configuration, open the sources, start HTTP. NULL with err set on failure. */
struct service *service__new(const struct service_opts *opts, char *err, size_t errlen);

/* Run ticks until *opts->stop; returns 0 or -errno. */
int service__run(struct service *svc);

/* Re-read the configuration file; a bad file keeps the current one. 0 or -errno. */
int service__reload(struct service *svc, char *err, size_t errlen);

/* Run one tick now (tests and benchmarks). */
int service__tick(struct service *svc);

/* Stop HTTP, close libvirt (pinned BPF maps stay), free. Accepts NULL. */
void service__free(struct service *svc);

#endif /* KVMPILOT_SERVICE_H */
