/* SPDX-License-Identifier: GPL-2.0 */
/*
 * The names every part of kvmpilot shares, host and guest alike: the
 * version and the libvirt connection used when none is given. The agent
 * channel's name belongs to the protocol (AGENTPROTO_CHANNEL in
 * agentproto.h), the tick's phases to the snapshot (snapshot.h).
 */
#ifndef KVMPILOT_KVMPILOT_H
#define KVMPILOT_KVMPILOT_H

#define KVMPILOT_VERSION     "0.1.0"
#define KVMPILOT_DEFAULT_URI "qemu:///system"

#endif /* KVMPILOT_KVMPILOT_H */
