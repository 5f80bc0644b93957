// SPDX-License-Identifier: GPL-2.0
#include <pthread.h>
#include <stdlib.h>
#include <string.h>

#include "snapshot.h"

struct snapshot_slot {
	pthread_mutex_t lock;
	struct snapshot *cur;
};

const char *tick_phase__name(enum tick_phase p)
{
	static const char *const names[TICK_PHASES] = {
		[TICK_PHASE_PROCSCAN] = "procscan", [TICK_PHASE_LIBVIRT] = "libvirt",
		[TICK_PHASE_BPF] = "bpf",	    [TICK_PHASE_DECIDE] = "merge_policy_act",
		[TICK_PHASE_HISTORY] = "history",   [TICK_PHASE_SNAPSHOT] = "snapshot",
	};

	return (unsigned int)p < TICK_PHASES ? names[p] : "unknown";
}

struct snapshot *snapshot__new(int nvms, int nactions)
{
	struct snapshot *snap = calloc(1, sizeof(*snap));

	if (!snap)
		return NULL;
	atomic_init(&snap->refs, 1);
	snap->vms = calloc(nvms > 0 ? (size_t)nvms : 1, sizeof(*snap->vms));
	snap->actions = calloc(nactions > 0 ? (size_t)nactions : 1, sizeof(*snap->actions));
	if (!snap->vms || !snap->actions) {
		free(snap->vms);
		free(snap->actions);
		free(snap);
		return NULL;
	}
	return snap;
}

struct snapshot *snapshot__ref(struct snapshot *snap)
{
	if (snap)
		atomic_fetch_add_explicit(&snap->refs, 1, memory_order_relaxed);
	return snap;
}

void snapshot__put(struct snapshot *snap)
{
	if (!snap || atomic_fetch_sub_explicit(&snap->refs, 1, memory_order_acq_rel) != 1)
		return;
	for (int i = 0; i < snap->nvms; i++)
		history__put(snap->vms[i].hist);
	for (int i = 0; i < SNAP_CACHE_NR; i++)
		free(atomic_load(&snap->cache[i]));
	free(snap->vms);
	free(snap->actions);
	free(snap);
}

const struct snapshot_vm *snapshot__find(const struct snapshot *snap, const char *name)
{
	for (int i = 0; i < snap->nvms; i++) {
		if (!strcmp(snap->vms[i].s.name, name))
			return &snap->vms[i];
	}
	return NULL;
}

const struct snapshot_blob *snapshot__cached(struct snapshot *snap, enum snapshot_cache which,
					     char *(*render)(const struct snapshot *, size_t *))
{
	struct snapshot_blob *blob =
		atomic_load_explicit(&snap->cache[which], memory_order_acquire);
	struct snapshot_blob *none = NULL;
	size_t len = 0;
	char *text;

	if (blob)
		return blob;
	text = render(snap, &len);
	if (!text)
		return NULL;
	blob = malloc(sizeof(*blob) + len + 1);
	if (blob) {
		blob->len = len;
		memcpy(blob->data, text, len);
		blob->data[len] = '\0';
	}
	free(text);
	if (!blob)
		return NULL;
	if (!atomic_compare_exchange_strong_explicit(&snap->cache[which], &none, blob,
						     memory_order_acq_rel, memory_order_acquire)) {
		free(blob);
		blob = none;
	}
	return blob;
}

struct snapshot_slot *snapshot_slot__new(void)
{
	struct snapshot_slot *slot = calloc(1, sizeof(*slot));

	if (slot)
		pthread_mutex_init(&slot->lock, NULL);
	return slot;
}

void snapshot_slot__free(struct snapshot_slot *slot)
{
	if (!slot)
		return;
	snapshot__put(slot->cur);
	pthread_mutex_destroy(&slot->lock);
	free(slot);
}

void snapshot_slot__publish(struct snapshot_slot *slot, struct snapshot *snap)
{
	struct snapshot *old;

	pthread_mutex_lock(&slot->lock);
	old = slot->cur;
	slot->cur = snap;
	pthread_mutex_unlock(&slot->lock);
	/* the last reader of the old snapshot frees it, outside the lock */
	snapshot__put(old);
}

struct snapshot *snapshot_slot__get(struct snapshot_slot *slot)
{
	struct snapshot *snap;

	pthread_mutex_lock(&slot->lock);
	snap = snapshot__ref(slot->cur);
	pthread_mutex_unlock(&slot->lock);
	return snap;
}
