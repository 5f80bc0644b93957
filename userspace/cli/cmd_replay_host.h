/* SPDX-License-Identifier: GPL-2.0 */
/* kvmpilot replay --host-mem: host replay (cmd_replay_host.c), entered from do_replay(). */
#ifndef KVMPILOT_CMD_REPLAY_HOST_H
#define KVMPILOT_CMD_REPLAY_HOST_H

int do_replay_host(int argc, char **argv);

#endif /* KVMPILOT_CMD_REPLAY_HOST_H */
