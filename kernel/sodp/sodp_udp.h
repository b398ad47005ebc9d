/* SPDX-License-Identifier: GPL-2.0 OR Linux-OpenIB */
/*
 * rdma_sodp: RoCEv2 packets in and out of UDP port 4791.
 *
 * Copyright (c) 2026 The sodp authors.
 */
#ifndef SODP_UDP_H
#define SODP_UDP_H

#include <linux/skbuff.h>
#include <rdma/ib_verbs.h>

struct sodp_dev;

/* Where a packet goes, and how: a QP's path or a UD WQE's AH. */
struct sodp_wire_path {
	union ib_gid sgid;
	union ib_gid dgid;
	enum rdma_network_type net_type;	/* RDMA_NETWORK_IPV4 or _IPV6 */
	u8 tclass;
	u8 hop_limit;
	u16 sport;			/* UDP source port */
};

u32 sodp_icrc(struct sk_buff *skb);

int sodp_udp_init(void);
void sodp_udp_exit(void);
void sodp_udp_open(struct sodp_dev *sdev);
void sodp_udp_close(struct sodp_dev *sdev);
bool sodp_udp_ready(struct sodp_dev *sdev, enum rdma_network_type type);
struct sk_buff *sodp_udp_alloc(struct sodp_dev *sdev,
			       const struct sodp_wire_path *path,
			       unsigned int len, gfp_t gfp);
int sodp_udp_xmit(struct sodp_dev *sdev, const struct sodp_wire_path *path,
		  struct sk_buff *skb);

#endif /* SODP_UDP_H */
