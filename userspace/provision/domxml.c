// SPDX-License-Identifier: GPL-2.0
/* XML documents for provisioning guests; see domxml.h. */
#include <ctype.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "domxml.h"

/* 1..max of [A-Za-z0-9._-], starting alphanumeric, no "..": safe in paths and XML. */
static int validate_word(const char *s, size_t max)
{
	size_t len;

	if (!s)
		return -EINVAL;
	len = strlen(s);
	if (len == 0 || len > max)
		return -EINVAL;
	if (!isascii((unsigned char)s[0]) || !isalnum((unsigned char)s[0]))
		return -EINVAL;
	for (size_t i = 1; i < len; i++) {
		unsigned char c = s[i];

		if (!isascii(c))
			return -EINVAL;
		if (!isalnum(c) && c != '-' && c != '_' && c != '.')
			return -EINVAL;
	}
	if (strstr(s, ".."))
		return -EINVAL;
	return 0;
}

int domxml__validate_name(const char *name)
{
	return validate_word(name, DOMXML_NAME_MAX);
}

int domxml__validate_channel(const char *name)
{
	return validate_word(name, DOMXML_CHANNEL_MAX);
}

/* FNV-1a, 64 bit: stable across hosts and runs, good enough to spread names. */
static uint64_t fnv1a(const char *s, uint64_t seed)
{
	uint64_t h = 0xcbf29ce484222325ULL ^ seed;

	for (; *s; s++) {
		h ^= (unsigned char)*s;
		h *= 0x100000001b3ULL;
	}
	return h;
}

int domxml__tap_name(const char *name, char *buf, size_t size)
{
	int n;

	if (domxml__validate_name(name))
		return -EINVAL;
	if (size < DOMXML_IFNAME_MAX)
		return -ENOSPC;
	if (strlen(name) + 3 <= DOMXML_IFNAME_MAX - 1)
		n = snprintf(buf, size, "kp-%s", name);
	else
		n = snprintf(buf, size, "kp-%.7s-%04x", name,
			     (unsigned int)(fnv1a(name, 0) & 0xffff));
	if (n < 0 || n >= DOMXML_IFNAME_MAX)
		return -ENOSPC;
	return 0;
}

void domxml__uuid(const char *name, char out[DOMXML_UUID_LEN])
{
	uint64_t a = fnv1a(name, 0x6b766d70696c6f74ULL); /* "kvmpilot" */
	uint64_t b = fnv1a(name, 0x766d2d7575696421ULL);

	/* An RFC 4122 layout with version 8 (custom) and the variant bits. */
	a = (a & ~0xf000ULL) | 0x8000ULL;
	b = (b & ~(0xc0ULL << 56)) | (0x80ULL << 56);
	snprintf(out, DOMXML_UUID_LEN, "%08x-%04x-%04x-%04x-%012llx", (unsigned int)(a >> 32),
		 (unsigned int)((a >> 16) & 0xffff), (unsigned int)(a & 0xffff),
		 (unsigned int)(b >> 48), (unsigned long long)(b & 0xffffffffffffULL));
}

void domxml__mac(const char *name, char out[DOMXML_MAC_LEN])
{
	uint64_t h = fnv1a(name, 0x6d6163ULL);

	/* 52:54:00 is the prefix libvirt and QEMU use for local guests. */
	snprintf(out, DOMXML_MAC_LEN, "52:54:00:%02x:%02x:%02x", (unsigned int)(h >> 16) & 0xff,
		 (unsigned int)(h >> 8) & 0xff, (unsigned int)h & 0xff);
}

char *domxml__escape(const char *s)
{
	size_t len = 0;
	char *out, *p;

	if (!s)
		s = "";
	for (const char *c = s; *c; c++) {
		switch (*c) {
		case '&':
			len += 5;
			break;
		case '<':
		case '>':
			len += 4;
			break;
		case '\'':
		case '"':
			len += 6;
			break;
		default:
			len++;
		}
	}
	out = malloc(len + 1);
	if (!out)
		return NULL;
	p = out;
	for (const char *c = s; *c; c++) {
		const char *rep = NULL;

		switch (*c) {
		case '&':
			rep = "&amp;";
			break;
		case '<':
			rep = "&lt;";
			break;
		case '>':
			rep = "&gt;";
			break;
		case '\'':
			rep = "&apos;";
			break;
		case '"':
			rep = "&quot;";
			break;
		}
		if (rep) {
			memcpy(p, rep, strlen(rep));
			p += strlen(rep);
		} else {
			*p++ = *c;
		}
	}
	*p = '\0';
	return out;
}

int domxml__validate_cmdline_words(const char *s)
{
	size_t len;

	if (!s)
		return -EINVAL;
	len = strlen(s);
	if (len > 512)
		return -E2BIG;
	for (size_t i = 0; i < len; i++) {
		unsigned char c = s[i];

		if (isascii(c) && (isalnum(c) || strchr(" _.,:=/+@-", c)))
			continue;
		return -EINVAL;
	}
	return 0;
}

static const char *const cache_names[] = { "default", "none" };
static const char *const io_names[] = { "threads", "native", "io_uring" };

int domxml__parse_cache(const char *s, enum domxml_cache *out)
{
	for (size_t i = 0; s && i < sizeof(cache_names) / sizeof(cache_names[0]); i++) {
		if (!strcmp(s, cache_names[i])) {
			*out = (enum domxml_cache)i;
			return 0;
		}
	}
	return -EINVAL;
}

int domxml__parse_io(const char *s, enum domxml_io *out)
{
	for (size_t i = 0; s && i < sizeof(io_names) / sizeof(io_names[0]); i++) {
		if (!strcmp(s, io_names[i])) {
			*out = (enum domxml_io)i;
			return 0;
		}
	}
	return -EINVAL;
}

const char *domxml__cache_str(enum domxml_cache c)
{
	return (unsigned int)c < 2 ? cache_names[c] : "?";
}

const char *domxml__io_str(enum domxml_io io)
{
	return (unsigned int)io < 3 ? io_names[io] : "?";
}

/*
 * A document under construction: an open_memstream() plus the escaped
 * copies of the values written into it, all freed together.
 */
struct doc {
	FILE *f;
	char *buf;
	size_t len;
	char *esc[32]; /* every escaped value of one document */
	int nesc;
	int err;
};

static int doc__open(struct doc *d)
{
	memset(d, 0, sizeof(*d));
	d->f = open_memstream(&d->buf, &d->len);
	return d->f ? 0 : -ENOMEM;
}

/* The escaped form of s, owned by the document; "" after an error. */
static const char *doc__esc(struct doc *d, const char *s)
{
	char *e;

	if (d->nesc >= (int)(sizeof(d->esc) / sizeof(d->esc[0]))) {
		d->err = -E2BIG;
		return "";
	}
	/* XML 1.0 cannot carry control characters, escaped or not. */
	for (const char *c = s ? s : ""; *c; c++) {
		if ((unsigned char)*c < 0x20 || *c == 0x7f) {
			d->err = -EINVAL;
			return "";
		}
	}
	e = domxml__escape(s);
	if (!e) {
		d->err = -ENOMEM;
		return "";
	}
	d->esc[d->nesc++] = e;
	return e;
}

/* Ends the document: 0 and *xml, or -errno (and nothing to free). */
static int doc__finish(struct doc *d, char **xml)
{
	int err = d->err;

	if (fclose(d->f) && !err)
		err = -ENOMEM;
	for (int i = 0; i < d->nesc; i++)
		free(d->esc[i]);
	if (err) {
		free(d->buf);
		return err;
	}
	*xml = d->buf;
	return 0;
}

/* A virtio-serial port whose host end is a socket QEMU listens on. */
static void channel_xml(struct doc *d, const char *indent, const char *name, const char *path)
{
	fprintf(d->f, "%s<channel type='unix'>\n", indent);
	fprintf(d->f, "%s  <source mode='bind' path='%s'/>\n", indent, doc__esc(d, path));
	fprintf(d->f, "%s  <target type='virtio' name='%s'/>\n", indent, doc__esc(d, name));
	fprintf(d->f, "%s</channel>\n", indent);
}

int domxml__domain(const struct domxml_vm *vm, char **xml)
{
	struct doc d;
	int err;

	if (!vm || !xml || domxml__validate_name(vm->name))
		return -EINVAL;
	if (!vm->uuid || strlen(vm->uuid) != DOMXML_UUID_LEN - 1)
		return -EINVAL;
	if (!vm->virt_type || (strcmp(vm->virt_type, "kvm") && strcmp(vm->virt_type, "qemu")))
		return -EINVAL;
	if (vm->memory_mib < 64 || vm->memory_mib > vm->memory_max_mib ||
	    vm->memory_max_mib > (1ULL << 30))
		return -ERANGE;
	if (vm->n_channels > DOMXML_CHANNELS_MAX)
		return -E2BIG;
	for (unsigned int i = 0; i < vm->n_channels; i++) {
		const struct domxml_channel *ch = &vm->channels[i];

		if (domxml__validate_channel(ch->name) || !strcmp(ch->name, AGENTPROTO_CHANNEL) ||
		    !ch->path || ch->path[0] != '/')
			return -EINVAL;
	}
	if (vm->vcpus < 1 || vm->vcpus > vm->vcpus_max || vm->vcpus_max > 64)
		return -ERANGE;
	if (!vm->kernel || !vm->initrd || !vm->console_path)
		return -EINVAL;
	if (vm->io == DOMXML_IO_NATIVE && vm->cache != DOMXML_CACHE_NONE)
		return -EINVAL; /* QEMU refuses aio=native on the page cache */
	if ((unsigned int)vm->cache > DOMXML_CACHE_NONE || (unsigned int)vm->io > DOMXML_IO_URING)
		return -EINVAL;
	if (vm->tap && (strlen(vm->tap) == 0 || strlen(vm->tap) >= DOMXML_IFNAME_MAX))
		return -EINVAL;

	err = doc__open(&d);
	if (err)
		return err;
	fprintf(d.f, "<domain type='%s'>\n", doc__esc(&d, vm->virt_type));
	fprintf(d.f, "  <name>%s</name>\n", doc__esc(&d, vm->name));
	fprintf(d.f, "  <uuid>%s</uuid>\n", doc__esc(&d, vm->uuid));
	fprintf(d.f,
		"  <metadata>\n"
		"    <" DOMXML_NS_PREFIX ":vm xmlns:" DOMXML_NS_PREFIX "='" DOMXML_NS_URI "'>\n"
		"      <" DOMXML_NS_PREFIX ":workload>%s</" DOMXML_NS_PREFIX ":workload>\n"
		"    </" DOMXML_NS_PREFIX ":vm>\n"
		"  </metadata>\n",
		doc__esc(&d, vm->workload ? vm->workload : ""));
	/* <memory> is the ceiling the balloon may grow to, currentMemory the start. */
	fprintf(d.f, "  <memory unit='KiB'>%llu</memory>\n",
		(unsigned long long)vm->memory_max_mib * 1024);
	fprintf(d.f, "  <currentMemory unit='KiB'>%llu</currentMemory>\n",
		(unsigned long long)vm->memory_mib * 1024);
	fprintf(d.f, "  <vcpu placement='static' current='%u'>%u</vcpu>\n", vm->vcpus,
		vm->vcpus_max);
	fprintf(d.f, "  <os>\n"
		     "    <type arch='x86_64'>hvm</type>\n");
	fprintf(d.f, "    <kernel>%s</kernel>\n", doc__esc(&d, vm->kernel));
	fprintf(d.f, "    <initrd>%s</initrd>\n", doc__esc(&d, vm->initrd));
	if (vm->cmdline)
		fprintf(d.f, "    <cmdline>%s</cmdline>\n", doc__esc(&d, vm->cmdline));
	fprintf(d.f, "  </os>\n"
		     "  <features><acpi/><apic/></features>\n"
		     "  <on_poweroff>destroy</on_poweroff>\n"
		     "  <on_reboot>restart</on_reboot>\n"
		     "  <on_crash>destroy</on_crash>\n"
		     "  <devices>\n");
	if (vm->disk_path) {
		fprintf(d.f, "    <disk type='file' device='disk'>\n");
		fprintf(d.f, "      <driver name='qemu' type='qcow2'");
		if (vm->cache == DOMXML_CACHE_NONE)
			fprintf(d.f, " cache='none'");
		if (vm->io != DOMXML_IO_THREADS)
			fprintf(d.f, " io='%s'", domxml__io_str(vm->io));
		fprintf(d.f, "/>\n");
		fprintf(d.f, "      <source file='%s'/>\n", doc__esc(&d, vm->disk_path));
		fprintf(d.f, "      <target dev='vda' bus='virtio'/>\n"
			     "    </disk>\n");
	}
	if (vm->tap) {
		fprintf(d.f, "    <interface type='ethernet'>\n");
		if (vm->mac)
			fprintf(d.f, "      <mac address='%s'/>\n", doc__esc(&d, vm->mac));
		fprintf(d.f, "      <target dev='%s' managed='yes'/>\n", doc__esc(&d, vm->tap));
		fprintf(d.f, "      <model type='virtio'/>\n"
			     "    </interface>\n");
	}
	fprintf(d.f, "    <serial type='file'>\n");
	fprintf(d.f, "      <source path='%s'/>\n", doc__esc(&d, vm->console_path));
	fprintf(d.f, "      <target port='0'/>\n"
		     "    </serial>\n"
		     "    <console type='file'>\n");
	fprintf(d.f, "      <source path='%s'/>\n", doc__esc(&d, vm->console_path));
	fprintf(d.f, "      <target type='serial' port='0'/>\n"
		     "    </console>\n");
	if (vm->channel_path || vm->n_channels)
		fprintf(d.f, "    <controller type='virtio-serial' index='0'/>\n");
	if (vm->channel_path)
		channel_xml(&d, "    ", AGENTPROTO_CHANNEL, vm->channel_path);
	for (unsigned int i = 0; i < vm->n_channels && i < DOMXML_CHANNELS_MAX; i++)
		channel_xml(&d, "    ", vm->channels[i].name, vm->channels[i].path);
	/*
	 * freePageReporting: the guest reports pages it freed and QEMU gives
	 * them back to the host (madvise) without a balloon change, so what
	 * memory_hog frees leaves the host at once even while the policy keeps
	 * the room for its next jump (libvirt >= 6.9, QEMU >= 5.1).
	 */
	fprintf(d.f, "    <memballoon model='virtio' freePageReporting='on'>\n"
		     "      <stats period='1'/>\n"
		     "    </memballoon>\n"
		     "    <video><model type='none'/></video>\n"
		     "  </devices>\n"
		     "</domain>\n");
	return doc__finish(&d, xml);
}

int domxml__pool(const char *name, const char *path, char **xml)
{
	struct doc d;
	int err;

	if (!name || !*name || !path || path[0] != '/' || !xml)
		return -EINVAL;
	err = doc__open(&d);
	if (err)
		return err;
	fprintf(d.f, "<pool type='dir'>\n");
	fprintf(d.f, "  <name>%s</name>\n", doc__esc(&d, name));
	fprintf(d.f, "  <target>\n");
	fprintf(d.f, "    <path>%s</path>\n", doc__esc(&d, path));
	fprintf(d.f, "    <permissions><mode>0755</mode></permissions>\n"
		     "  </target>\n"
		     "</pool>\n");
	return doc__finish(&d, xml);
}

/*
 * A qcow2 volume: the shared base (readable by every guest's QEMU) or an
 * overlay on it (backing_path set, private to its guest).
 */
static int volume_xml(const char *name, uint64_t capacity_mib, const char *mode,
		      const char *backing_path, char **xml)
{
	struct doc d;
	int err;

	if (!name || !*name || strchr(name, '/') || !capacity_mib || !xml)
		return -EINVAL;
	err = doc__open(&d);
	if (err)
		return err;
	fprintf(d.f, "<volume>\n");
	fprintf(d.f, "  <name>%s</name>\n", doc__esc(&d, name));
	fprintf(d.f, "  <capacity unit='MiB'>%llu</capacity>\n", (unsigned long long)capacity_mib);
	fprintf(d.f,
		"  <target>\n"
		"    <format type='qcow2'/>\n"
		"    <permissions><mode>%s</mode></permissions>\n"
		"  </target>\n",
		mode);
	if (backing_path) {
		fprintf(d.f, "  <backingStore>\n");
		fprintf(d.f, "    <path>%s</path>\n", doc__esc(&d, backing_path));
		fprintf(d.f, "    <format type='qcow2'/>\n"
			     "  </backingStore>\n");
	}
	fprintf(d.f, "</volume>\n");
	return doc__finish(&d, xml);
}

int domxml__base_volume(const char *name, uint64_t capacity_mib, char **xml)
{
	return volume_xml(name, capacity_mib, "0644", NULL, xml);
}

int domxml__overlay_volume(const char *name, uint64_t capacity_mib, const char *backing_path,
			   char **xml)
{
	if (!backing_path || backing_path[0] != '/')
		return -EINVAL;
	return volume_xml(name, capacity_mib, "0600", backing_path, xml);
}

int domxml__channel(const struct domxml_channel *ch, char **xml)
{
	struct doc d;
	int err;

	if (!ch || domxml__validate_channel(ch->name) || !ch->path || ch->path[0] != '/' ||
	    strlen(ch->path) >= 108 || !xml)
		return -EINVAL;
	err = doc__open(&d);
	if (err)
		return err;
	channel_xml(&d, "", ch->name, ch->path);
	return doc__finish(&d, xml);
}

int domxml__agent_channel(const char *socket_path, char **xml)
{
	const struct domxml_channel ch = { AGENTPROTO_CHANNEL, socket_path };

	return domxml__channel(&ch, xml);
}

int domxml__virtio_serial_controller(char **xml)
{
	if (!xml)
		return -EINVAL;
	*xml = strdup("<controller type='virtio-serial'/>\n");
	return *xml ? 0 : -ENOMEM;
}
