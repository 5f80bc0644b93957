/* SPDX-License-Identifier: GPL-2.0 */
/* Host -> guest commands: bring CPUs online or offline through sysfs. */
#ifndef KVMPILOT_AGENT_CMD_H
#define KVMPILOT_AGENT_CMD_H

#include <stdint.h>

#include "agentproto.h"

/*
 * Make exactly want CPUs online: online the lowest offline present CPUs, or
 * offline the highest online ones that have an "online" file (cpu0 usually
 * has none). Reports the counts afterwards. Returns 0, -ERANGE when want is
 * above the present CPUs, or the -errno of a failed sysfs write.
 */
int agent_set_online_cpus(const char *sys_root, uint32_t want, uint32_t *online, uint32_t *present);

/*
 * Carry out a command for the main loop and fill its ack. SET_CPUS acts;
 * REPORT_NOW and PAUSE only acknowledge (the loop does the rest).
 */
void agent_handle_cmd(const char *sys_root, const struct agent_cmd *cmd, struct agent_ack *ack);

#endif /* KVMPILOT_AGENT_CMD_H */
