// SPDX-License-Identifier: GPL-2.0
/*
 * Every reading of a libvirt domain XML, with libxml2: the live definition
 * (name, sizes, taps, disks, channels), QEMU's status XML (vCPU threads),
 * kvmpilot's metadata. The writer is domxml.c. Nothing here calls libvirt,
 * so the unit tests drive it with plain strings.
 */
#include <errno.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <libxml/parser.h>
#include <libxml/xpath.h>

#include "util.h"
#include "virt.h"
#include "virt_xml.h"

static xmlDocPtr xml_parse(const char *xml)
{
	size_t len = xml ? strlen(xml) : 0;

	if (!len || len > INT32_MAX)
		return NULL;
	return xmlReadMemory(xml, (int)len, "domain.xml", NULL,
			     XML_PARSE_NONET | XML_PARSE_NOERROR | XML_PARSE_NOWARNING);
}

/* A parsed document and its XPath context. */
struct xdoc {
	xmlDocPtr doc;
	xmlXPathContextPtr ctx;
};

/* 0, or -EINVAL when xml is not well-formed (or -ENOMEM). */
static int xdoc__open(struct xdoc *x, const char *xml)
{
	x->ctx = NULL;
	x->doc = xml_parse(xml);
	if (!x->doc)
		return -EINVAL;
	x->ctx = xmlXPathNewContext(x->doc);
	if (!x->ctx) {
		xmlFreeDoc(x->doc);
		x->doc = NULL;
		return -ENOMEM;
	}
	return 0;
}

static void xdoc__close(struct xdoc *x)
{
	xmlXPathFreeContext(x->ctx);
	xmlFreeDoc(x->doc);
}

/*
 * The string value of an XPath expression (relative to node when not NULL),
 * copied into buf; "" and -ENOENT when absent, "" and -E2BIG when it does
 * not fit (a cut path would name another file).
 */
static int xp_get(xmlXPathContextPtr ctx, xmlNodePtr node, const char *expr, char *buf, size_t size)
{
	xmlXPathObjectPtr obj;
	xmlNodePtr saved = ctx->node;
	int err = -ENOENT;

	buf[0] = '\0';
	if (node)
		ctx->node = node;
	obj = xmlXPathEvalExpression((const xmlChar *)expr, ctx);
	ctx->node = saved;
	if (!obj)
		return -ENOENT;
	if (obj->type == XPATH_NODESET && obj->nodesetval && obj->nodesetval->nodeNr > 0) {
		xmlChar *s = xmlNodeGetContent(obj->nodesetval->nodeTab[0]);

		if (s) {
			err = str_copy(buf, (const char *)s, size) ? -E2BIG : 0;
			if (err)
				buf[0] = '\0';
			xmlFree(s);
		}
	}
	xmlXPathFreeObject(obj);
	return err;
}

/* xp_get() for values where absent and too long mean the same: "". */
static void xp_str(xmlXPathContextPtr ctx, xmlNodePtr node, const char *expr, char *buf,
		   size_t size)
{
	(void)xp_get(ctx, node, expr, buf, size);
}

static xmlXPathObjectPtr xp_nodes(xmlXPathContextPtr ctx, const char *expr)
{
	xmlXPathObjectPtr obj = xmlXPathEvalExpression((const xmlChar *)expr, ctx);

	if (obj && (obj->type != XPATH_NODESET || !obj->nodesetval)) {
		xmlXPathFreeObject(obj);
		return NULL;
	}
	return obj;
}

/* A libvirt memory size with its unit attribute, in KiB; 0 when absent/bad. */
static uint64_t mem_kib(const char *val, const char *unit)
{
	static const struct {
		const char *unit;
		uint64_t mul, div;
	} units[] = {
		{ "", 1, 1 },
		{ "k", 1, 1 },
		{ "KiB", 1, 1 },
		{ "b", 1, 1024 },
		{ "bytes", 1, 1024 },
		{ "KB", 1000, 1024 },
		{ "M", 1024, 1 },
		{ "MiB", 1024, 1 },
		{ "MB", 1000000, 1024 },
		{ "G", 1048576, 1 },
		{ "GiB", 1048576, 1 },
		{ "GB", 1000000000, 1024 },
		{ "T", 1073741824ull, 1 },
		{ "TiB", 1073741824ull, 1 },
	};
	uint64_t n;

	if (parse_u64(val, 0, UINT64_MAX, &n) < 0)
		return 0;
	for (size_t i = 0; i < ARRAY_SIZE(units); i++) {
		if (!strcmp(unit, units[i].unit)) {
			if (units[i].mul > 1 && n > UINT64_MAX / units[i].mul)
				return 0;
			return n * units[i].mul / units[i].div;
		}
	}
	return 0;
}

/* <memory>, <currentMemory>, <vcpu>, the balloon: info's sizes. */
static void read_sizes(xmlXPathContextPtr ctx, struct virt_dom_info *info)
{
	char val[64], unit[16];
	uint64_t n;

	xp_str(ctx, NULL, "/domain/memory", val, sizeof(val));
	xp_str(ctx, NULL, "/domain/memory/@unit", unit, sizeof(unit));
	info->max_memory_kib = mem_kib(val, unit);
	xp_str(ctx, NULL, "/domain/currentMemory", val, sizeof(val));
	xp_str(ctx, NULL, "/domain/currentMemory/@unit", unit, sizeof(unit));
	info->cur_memory_kib = val[0] ? mem_kib(val, unit) : info->max_memory_kib;

	xp_str(ctx, NULL, "/domain/vcpu", val, sizeof(val));
	info->max_vcpus = parse_u64(val, 1, 16384, &n) ? 0 : (int)n;
	xp_str(ctx, NULL, "/domain/vcpu/@current", val, sizeof(val));
	info->cur_vcpus = parse_u64(val, 1, 16384, &n) ? info->max_vcpus : (int)n;

	xp_str(ctx, NULL, "/domain/devices/memballoon/@model", val, sizeof(val));
	info->has_balloon = val[0] && strcmp(val, "none");
	xp_str(ctx, NULL, "/domain/devices/memballoon/stats/@period", val, sizeof(val));
	info->stats_period = parse_u64(val, 0, INT32_MAX, &n) ? 0 : (int)n;
}

/* <interface><target dev>: the taps. */
static void read_taps(xmlXPathContextPtr ctx, struct vm_desc *vm)
{
	xmlXPathObjectPtr obj = xp_nodes(ctx, "/domain/devices/interface/target/@dev");

	vm->ntaps = 0;
	for (int i = 0; obj && i < obj->nodesetval->nodeNr && vm->ntaps < VM_MAX_TAPS; i++) {
		struct vm_tap *t = &vm->taps[vm->ntaps];

		xp_str(ctx, obj->nodesetval->nodeTab[i], ".", t->ifname, sizeof(t->ifname));
		if (t->ifname[0])
			vm->ntaps++;
	}
	xmlXPathFreeObject(obj);
}

/* <disk><source>, <target dev>: the disks with a source (not an empty cdrom). */
static void read_disks(xmlXPathContextPtr ctx, struct vm_desc *vm)
{
	xmlXPathObjectPtr obj = xp_nodes(ctx, "/domain/devices/disk");
	char buf[VM_PATH_MAX];

	vm->ndisks = 0;
	for (int i = 0; obj && i < obj->nodesetval->nodeNr && vm->ndisks < VM_MAX_DISKS; i++) {
		struct vm_disk *d = &vm->disks[vm->ndisks];
		xmlNodePtr node = obj->nodesetval->nodeTab[i];

		xp_str(ctx, node, "source/@file | source/@dev | source/@name", buf, sizeof(buf));
		if (!buf[0])
			continue; /* empty cdrom */
		memset(d, 0, sizeof(*d));
		(void)str_copy(d->path, buf, sizeof(d->path));
		xp_str(ctx, node, "target/@dev", d->target, sizeof(d->target));
		d->fd = -1;
		vm->ndisks++;
	}
	xmlXPathFreeObject(obj);
}

/*
 * The source path of the first unix channel whose target is named name. The
 * name is compared in C, not put in the XPath: it may hold any character.
 */
static int channel_path(xmlXPathContextPtr ctx, const char *name, char *path, size_t size)
{
	xmlXPathObjectPtr obj = xp_nodes(ctx, "/domain/devices/channel[@type='unix']");
	char target[256];
	int err = -ENOENT;

	path[0] = '\0';
	for (int i = 0; obj && i < obj->nodesetval->nodeNr; i++) {
		xmlNodePtr node = obj->nodesetval->nodeTab[i];

		if (xp_get(ctx, node, "target/@name", target, sizeof(target)) ||
		    strcmp(target, name))
			continue;
		err = xp_get(ctx, node, "source/@path", path, size);
		if (!err && !path[0])
			err = -ENOENT;
		break;
	}
	xmlXPathFreeObject(obj);
	return err;
}

int virt__parse_domain_xml(const char *xml, struct vm_desc *vm, struct virt_dom_info *info)
{
	char name[VM_NAME_MAX + 1];
	struct xdoc x;
	int err;

	err = xdoc__open(&x, xml);
	if (err)
		return err == -ENOMEM ? err : -EINVAL;
	err = -EINVAL;
	/* one byte more than a name may have: a longer one is refused, not cut */
	err = xp_get(x.ctx, NULL, "/domain/name", name, sizeof(name));
	if (err == -E2BIG) {
		err = -ENAMETOOLONG;
		goto cleanup;
	}
	err = -EINVAL;
	if (!name[0])
		goto cleanup;
	if (str_copy(vm->name, name, sizeof(vm->name))) {
		vm->name[0] = '\0';
		err = -ENAMETOOLONG;
		goto cleanup;
	}
	xp_str(x.ctx, NULL, "/domain/uuid", vm->uuid, sizeof(vm->uuid));
	(void)str_copy(info->name, vm->name, sizeof(info->name));
	read_sizes(x.ctx, info);
	read_taps(x.ctx, vm);
	read_disks(x.ctx, vm);
	/* absent or too long for a socket address: no channel, never a cut path */
	(void)channel_path(x.ctx, AGENTPROTO_CHANNEL, vm->channel_path, sizeof(vm->channel_path));
	err = 0;
cleanup:
	xdoc__close(&x);
	return err;
}

int virt__parse_status_vcpus(const char *xml, struct vm_desc *vm)
{
	xmlXPathObjectPtr obj = NULL;
	struct xdoc x;
	char val[32];
	uint64_t id, pid;
	int err;

	vm->nvcpus = 0;
	err = xdoc__open(&x, xml);
	if (err)
		return err;
	obj = xp_nodes(x.ctx, "/domstatus/vcpus/vcpu");
	for (int i = 0; obj && i < obj->nodesetval->nodeNr && vm->nvcpus < VM_MAX_VCPUS; i++) {
		xmlNodePtr node = obj->nodesetval->nodeTab[i];

		xp_str(x.ctx, node, "@id", val, sizeof(val));
		if (parse_u64(val, 0, 16383, &id))
			continue;
		xp_str(x.ctx, node, "@pid", val, sizeof(val));
		if (parse_u64(val, 1, INT32_MAX, &pid))
			continue;
		vm->vcpus[vm->nvcpus].index = (int)id;
		vm->vcpus[vm->nvcpus].tid = (int)pid;
		vm->nvcpus++;
	}
	xmlXPathFreeObject(obj);
	xdoc__close(&x);
	return vm->nvcpus;
}

int virt_xml__channel_path(const char *xml, const char *name, char *path, size_t size)
{
	struct xdoc x;
	int err;

	if (!name || !path || !size)
		return -EINVAL;
	path[0] = '\0';
	err = xdoc__open(&x, xml);
	if (err)
		return err;
	err = channel_path(x.ctx, name, path, size);
	xdoc__close(&x);
	return err;
}

/* Is there a node for expr in xml? 1, 0 or -EINVAL/-ENOMEM. */
static int xml_has(const char *xml, const char *expr, const char *value)
{
	xmlXPathObjectPtr obj;
	char buf[256];
	struct xdoc x;
	int err;

	err = xdoc__open(&x, xml);
	if (err)
		return err;
	obj = xp_nodes(x.ctx, expr);
	err = 0;
	for (int i = 0; obj && i < obj->nodesetval->nodeNr && !err; i++)
		err = !xp_get(x.ctx, obj->nodesetval->nodeTab[i], ".", buf, sizeof(buf)) &&
		      !strcmp(buf, value);
	xmlXPathFreeObject(obj);
	xdoc__close(&x);
	return err;
}

int virt_xml__has_channel(const char *xml, const char *name)
{
	return xml_has(xml, "/domain/devices/channel/target/@name", name);
}

int virt_xml__has_controller(const char *xml, const char *type)
{
	return xml_has(xml, "/domain/devices/controller/@type", type);
}

int virt_xml__metadata_workload(const char *meta, char **workload)
{
	char buf[256];
	struct xdoc x;
	int err;

	*workload = NULL;
	err = xdoc__open(&x, meta);
	if (err)
		return err;
	/* the element is in kvmpilot's namespace, whatever its prefix */
	err = xp_get(x.ctx, NULL, "/*/*[local-name()='workload']", buf, sizeof(buf));
	xdoc__close(&x);
	if (err)
		return err;
	*workload = strdup(buf);
	return *workload ? 0 : -ENOMEM;
}
