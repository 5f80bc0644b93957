// SPDX-License-Identifier: GPL-2.0
/*
 * Tap traffic by ifindex. What the guest sends arrives on the host as a
 * received skb on the tap (net:netif_receive_skb, in QEMU's context); what
 * the guest receives is transmitted on the tap (net:net_dev_xmit, in the
 * sender's context). Both are counted as whole Ethernet frames.
 */
#include "vmlinux.h"
#include <bpf/bpf_helpers.h>
#include <bpf/bpf_tracing.h>
#include <bpf/bpf_core_read.h>

#include "tapio.h"
#include "maps.bpf.h"

struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__uint(max_entries, KP_MAX_TAPS);
	__type(key, __u32);
	__type(value, struct tap_track);
	__uint(pinning, LIBBPF_PIN_BY_NAME);
} taps SEC(".maps");

static __always_inline void tap_account(__u32 ifindex, __u64 bytes, bool to_guest)
{
	struct tap_track *t = bpf_map_lookup_elem(&taps, &ifindex);

	if (!t)
		return;
	if (to_guest) {
		__sync_fetch_and_add(&t->rx_bytes, bytes);
		__sync_fetch_and_add(&t->rx_packets, 1);
	} else {
		__sync_fetch_and_add(&t->tx_bytes, bytes);
		__sync_fetch_and_add(&t->tx_packets, 1);
	}
}

SEC("tp_btf/netif_receive_skb")
int BPF_PROG(on_netif_receive_skb, struct sk_buff *skb)
{
	struct net_device *dev = skb->dev;
	__u32 len, mac_off = 0;
	__u16 mac;

	if (!dev)
		return 0;
	/* eth_type_trans() pulled the link header: add it back. */
	len = skb->len;
	mac = skb->mac_header;
	if (mac != (__u16)~0U) {
		unsigned char *data = skb->data, *head = skb->head;

		if (data >= head + mac)
			mac_off = data - (head + mac);
	}
	tap_account(dev->ifindex, len + mac_off, false);
	return 0;
}

SEC("tp_btf/net_dev_xmit")
int BPF_PROG(on_net_dev_xmit, struct sk_buff *skb, int rc, struct net_device *dev,
	     unsigned int skb_len)
{
	if (rc != NETDEV_TX_OK || !dev)
		return 0;
	tap_account(dev->ifindex, skb_len, true);
	return 0;
}

char LICENSE[] SEC("license") = "GPL";
