// SPDX-License-Identifier: GPL-2.0 OR Linux-OpenIB
/*
 * rdma_sodp: the RoCEv2 invariant CRC, as RoCE hardware and rdma_rxe
 * compute it: CRC-32 (reflected, 0xEDB88320) seeded with the state after
 * eight 0xFF bytes (the masked LRH of InfiniBand), over the IP and UDP
 * headers with their variant fields set to ones, the BTH with its byte 4
 * (FECN, BECN, reserved) set to ones, then the extension headers, the
 * payload and the pad; sent inverted, least significant byte first.
 *
 * Copyright (c) 2026 The sodp authors.
 */

#include <linux/crc32.h>
#include <linux/ip.h>
#include <linux/ipv6.h>
#include <linux/udp.h>

#include "sodp_udp.h"
#include "sodp_wire.h"

#define SODP_ICRC_SEED	0xdebb20e3

/**
 * sodp_icrc - the ICRC of a RoCEv2 packet
 * @skb: the packet, linear, its network and transport headers set, the
 *	BTH right after the UDP header and the ICRC in its last 4 bytes
 *
 * Return: the ICRC the packet must carry (as a value to store little-endian).
 */
u32 sodp_icrc(struct sk_buff *skb)
{
	u8 pseudo[sizeof(struct ipv6hdr) + sizeof(struct udphdr) + SODP_BTH_LEN];
	unsigned int ip_len = skb_transport_offset(skb) - skb_network_offset(skb);
	unsigned int len = ip_len + sizeof(struct udphdr) + SODP_BTH_LEN;
	u8 *bth = skb_transport_header(skb) + sizeof(struct udphdr);
	struct udphdr *udp;
	u32 crc;

	memcpy(pseudo, skb_network_header(skb), len);
	if (ip_len == sizeof(struct iphdr)) {
		struct iphdr *ip = (struct iphdr *)pseudo;

		ip->tos = 0xff;
		ip->ttl = 0xff;
		ip->check = (__force __sum16)0xffff;
	} else {
		struct ipv6hdr *ip6 = (struct ipv6hdr *)pseudo;

		ip6->priority = 0xf;
		memset(ip6->flow_lbl, 0xff, sizeof(ip6->flow_lbl));
		ip6->hop_limit = 0xff;
	}
	udp = (struct udphdr *)(pseudo + ip_len);
	udp->check = (__force __sum16)0xffff;
	pseudo[ip_len + sizeof(struct udphdr) + 4] = 0xff;

	crc = crc32_le(SODP_ICRC_SEED, pseudo, len);
	crc = crc32_le(crc, bth + SODP_BTH_LEN,
		       skb_tail_pointer(skb) - SODP_ICRC_LEN - bth - SODP_BTH_LEN);
	return ~crc;
}
