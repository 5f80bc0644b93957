// SPDX-License-Identifier: GPL-2.0
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
