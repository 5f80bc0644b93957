/* SPDX-License-Identifier: GPL-2.0 */
/* Subcommands of build/kvmpilot. Each returns the process exit status. */
#ifndef KVMPILOT_CMDS_H
#define KVMPILOT_CMDS_H

int do_stat(int argc, char **argv);
int do_run(int argc, char **argv);
int do_replay(int argc, char **argv);
int do_vm(int argc, char **argv);
int do_unpin(int argc, char **argv);
int do_domains(int argc, char **argv);
int do_act(int argc, char **argv);
int do_agent(int argc, char **argv);

#endif /* KVMPILOT_CMDS_H */
