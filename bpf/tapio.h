/* SPDX-License-Identifier: GPL-2.0 */
/* Tap I/O: the counters live in the taps tracking map (track.h). */
#ifndef KVMPILOT_TAPIO_H
#define KVMPILOT_TAPIO_H

#define NETDEV_TX_OK 0

#endif /* KVMPILOT_TAPIO_H */
