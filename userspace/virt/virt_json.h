/* SPDX-License-Identifier: GPL-2.0 */
/*
 * JSON for libvirt's view of a domain and for action records: one path shared
 * by 'kvmpilot domains --json' and the HTTP API (actions: act_record__to_json()).
 */
#ifndef KVMPILOT_VIRT_JSON_H
#define KVMPILOT_VIRT_JSON_H

#include <json-c/json.h>

#include "virt.h"

/* info and ms may be NULL (left out). Returns a new object or NULL. */
struct json_object *virt_json__domain(const struct vm_desc *vm, const struct virt_dom_info *info,
				      const struct virt_memstats *ms);
struct json_object *virt_json__memstats(const struct virt_memstats *ms);
struct json_object *virt_json__stats(const struct virt_dom_stats *st);

#endif /* KVMPILOT_VIRT_JSON_H */
