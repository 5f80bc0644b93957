/* SPDX-License-Identifier: GPL-2.0 */
/*
 * Reading libvirt's domain XML (libxml2): what the CLI and the agent tools
 * ask of a definition without parsing it themselves. virt.h's
 * virt__parse_domain_xml() and virt__parse_status_vcpus() live beside these
 * (virt_xml.c); domxml.c writes the XML. Plain strings in, no libvirt calls.
 */
#ifndef KVMPILOT_VIRT_XML_H
#define KVMPILOT_VIRT_XML_H

#include <stddef.h>

/*
 * The socket path of the unix channel whose target is named name (e.g.
 * AGENTPROTO_CHANNEL): 0, -ENOENT (no such unix channel, or no path),
 * -E2BIG (the path does not fit size: never cut) or -EINVAL (not XML).
 */
int virt_xml__channel_path(const char *xml, const char *name, char *path, size_t size);

/* Has the domain a channel of any type whose target is named name? 1, 0 or -EINVAL. */
int virt_xml__has_channel(const char *xml, const char *name);

/* Has the domain a <controller type='type'>? 1, 0 or -EINVAL. */
int virt_xml__has_controller(const char *xml, const char *type);

/*
 * The workload in kvmpilot's metadata element (virDomainGetMetadata's
 * answer for DOMXML_NS_URI), unescaped, *workload malloc'ed. 0, -ENOENT (no
 * workload element), -E2BIG, -EINVAL (not XML) or -ENOMEM.
 */
int virt_xml__metadata_workload(const char *meta, char **workload);

#endif /* KVMPILOT_VIRT_XML_H */
