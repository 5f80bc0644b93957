// SPDX-License-Identifier: GPL-2.0
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "vm.h"

struct vm_desc *vm_list__add(struct vm_list *list)
{
	struct vm_desc *vm;

	if (list->n == list->cap) {
		int cap = list->cap ? list->cap * 2 : 8;
		struct vm_desc *vms = realloc(list->vms, (size_t)cap * sizeof(*vms));

		if (!vms)
			return NULL;
		list->vms = vms;
		list->cap = cap;
	}
	vm = &list->vms[list->n++];
	memset(vm, 0, sizeof(*vm));
	return vm;
}

struct vm_desc *vm_list__find_pid(const struct vm_list *list, int pid)
{
	for (int i = 0; i < list->n; i++) {
		if (list->vms[i].pid == pid)
			return &list->vms[i];
	}
	return NULL;
}

struct vm_desc *vm_list__find_name(const struct vm_list *list, const char *name)
{
	if (!name || !*name)
		return NULL;
	for (int i = 0; i < list->n; i++) {
		if (!strcmp(list->vms[i].name, name))
			return &list->vms[i];
	}
	return NULL;
}

void vm_list__clear(struct vm_list *list)
{
	list->n = 0;
}

void vm_list__free(struct vm_list *list)
{
	if (!list)
		return;
	free(list->vms);
	list->vms = NULL;
	list->n = 0;
	list->cap = 0;
}

/* Length of the valid UTF-8 sequence at s (n bytes left) and its code point, or 0. */
static size_t utf8_seq(const unsigned char *s, size_t n, uint32_t *cp)
{
	size_t len;
	uint32_t c, min;

	if (s[0] < 0x80) {
		*cp = s[0];
		return 1;
	}
	if (s[0] >= 0xc2 && s[0] <= 0xdf) {
		len = 2;
		c = s[0] & 0x1f;
		min = 0x80;
	} else if (s[0] >= 0xe0 && s[0] <= 0xef) {
		len = 3;
		c = s[0] & 0x0f;
		min = 0x800;
	} else if (s[0] >= 0xf0 && s[0] <= 0xf4) {
		len = 4;
		c = s[0] & 0x07;
		min = 0x10000;
	} else {
		return 0; /* a continuation byte, 0xc0/0xc1 (overlong) or 0xf5.. */
	}
	if (len > n)
		return 0;
	for (size_t i = 1; i < len; i++) {
		if ((s[i] & 0xc0) != 0x80)
			return 0;
		c = (c << 6) | (s[i] & 0x3f);
	}
	if (c < min || c > 0x10ffff || (c >= 0xd800 && c <= 0xdfff))
		return 0;
	*cp = c;
	return len;
}

static bool is_control(uint32_t cp)
{
	return cp < 0x20 || (cp >= 0x7f && cp <= 0x9f);
}

int vm_name__sanitize(char *dst, size_t size, const char *src, size_t len)
{
	const unsigned char *s = (const unsigned char *)src;
	size_t i = 0, o = 0;
	int ret = 0;

	if (!size)
		return -E2BIG;
	while (i < len) {
		uint32_t cp;
		size_t n = utf8_seq(s + i, len - i, &cp);

		if (!n || is_control(cp)) {
			if (o + 1 >= size)
				break;
			dst[o++] = '?';
			i += n ? n : 1;
			ret = 1;
			continue;
		}
		if (o + n >= size)
			break;
		memcpy(dst + o, s + i, n);
		o += n;
		i += n;
	}
	dst[o] = '\0';
	return i < len ? -E2BIG : ret;
}

bool vm_name__valid(const char *s)
{
	size_t len = strlen(s);

	for (size_t i = 0; i < len;) {
		uint32_t cp;
		size_t n = utf8_seq((const unsigned char *)s + i, len - i, &cp);

		if (!n || is_control(cp))
			return false;
		i += n;
	}
	return true;
}
