/* SPDX-License-Identifier: GPL-2.0 */
/*
 * What a blocking call is waiting for, told only when it is slow. A call
 * into libvirt can take from milliseconds to a minute (a libvirtd that
 * re-probes QEMU at every define); the user should see why the command
 * stands still rather than guess.
 *
 *   p = progress__begin("defining the domain", 2000);
 *   virDomainDefineXML(...);
 *   secs = progress__end(p);
 *
 * After quiet_ms without progress__end(), a helper thread prints
 * "WHAT: still waiting after N s" (and again every 10 s); progress__end()
 * then prints "WHAT took N.N s". A fast call prints nothing.
 */
#ifndef KVMPILOT_PROGRESS_H
#define KVMPILOT_PROGRESS_H

struct progress;

/* NULL when out of memory or no thread can be started: the call runs silently. */
struct progress *progress__begin(const char *what, unsigned int quiet_ms);

/* Seconds since progress__begin() (0 for NULL); stops and frees p. */
double progress__end(struct progress *p);

#endif /* KVMPILOT_PROGRESS_H */
