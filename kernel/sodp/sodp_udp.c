// SPDX-License-Identifier: GPL-2.0 OR Linux-OpenIB
/*
 * rdma_sodp: RoCEv2 packets in and out of UDP port 4791.
 *
 * Each network namespace with a sodp device gets a UDP tunnel socket per
 * address family, bound to 4791, whose encap callback (softirq) hands the
 * packets of a sodp netdev to that device's receive work: everything a
 * packet makes us do, page faults included, runs in process context.
 * rdma_rxe binds 4791 in the initial namespace too, and only one can: a
 * device whose namespace's port is taken reaches only sodp devices of this
 * kernel (in its namespace) and says so in the kernel log.
 *
 * The sockets live while a device of the namespace does, or until the
 * namespace goes (its devices are unregistered after, in work).
 *
 * Copyright (c) 2026 The sodp authors.
 */

#include <linux/if_vlan.h>
#include <net/ip.h>
#include <net/ip6_route.h>
#include <net/netns/generic.h>
#include <net/route.h>
#include <net/udp_tunnel.h>

#include "sodp.h"
#include "sodp_udp.h"
#include "sodp_wire.h"

struct sodp_udp_ns {
	struct list_head entry;		/* in sodp_udp_list while net lives */
	struct net *net;		/* not a reference; NULL once it is gone */
	struct socket *sk4;
	struct socket *sk6;		/* NULL without IPv6 */
	unsigned int users;		/* devices */
};

static LIST_HEAD(sodp_udp_list);
static DEFINE_MUTEX(sodp_udp_lock);

/* Packets a device queues for its receive work; more are dropped. */
#define SODP_RX_QUEUE_MAX	4096

static int sodp_udp_encap_rcv(struct sock *sk, struct sk_buff *skb)
{
	struct sodp_dev *sdev = sodp_find_dev_by_netdev(skb->dev);

	if (!sdev) {
		kfree_skb(skb);
		return 0;
	}
	if (skb_linearize(skb) ||
	    skb->len < sizeof(struct udphdr) + SODP_BTH_LEN + SODP_ICRC_LEN) {
		sodp_count(sdev, SODP_CNT_RCVD_DROP_BAD, 1);
		goto drop;
	}
	if (skb_queue_len(&sdev->rx_queue) >= SODP_RX_QUEUE_MAX) {
		sodp_count(sdev, SODP_CNT_RCVD_DROP_FULL, 1);
		goto drop;
	}
	/* The work needs the headers, not the route (valid only here). */
	skb_dst_drop(skb);
	__skb_pull(skb, sizeof(struct udphdr));
	skb_queue_tail(&sdev->rx_queue, skb);
	queue_work(sodp_wq, &sdev->rx_work);
	ib_device_put(&sdev->ibdev);
	return 0;
drop:
	ib_device_put(&sdev->ibdev);
	kfree_skb(skb);
	return 0;
}

static struct socket *sodp_udp_sock(struct net *net, bool ipv6)
{
	struct udp_tunnel_sock_cfg tcfg = {
		.encap_type = 1,
		.encap_rcv = sodp_udp_encap_rcv,
	};
	struct udp_port_cfg cfg = {
		.family = ipv6 ? AF_INET6 : AF_INET,
		.ipv6_v6only = ipv6,
		.local_udp_port = htons(SODP_ROCE_UDP_PORT),
	};
	struct socket *sock;
	int ret;

	ret = udp_sock_create(net, &cfg, &sock);
	if (ret)
		return ERR_PTR(ret);
	sodp_setup_udp_tunnel_sock(net, sock, &tcfg);
	return sock;
}

static void sodp_udp_release(struct sodp_udp_ns *ns)
{
	sodp_udp_tunnel_sock_release(ns->sk4);
	if (ns->sk6)
		sodp_udp_tunnel_sock_release(ns->sk6);
	WRITE_ONCE(ns->sk4, NULL);
	WRITE_ONCE(ns->sk6, NULL);
	list_del(&ns->entry);
	ns->net = NULL;
}

/**
 * sodp_udp_open - give a device the wire of its netdev's namespace
 * @sdev: the device, being registered
 *
 * Without the sockets (the port is taken, or no memory) the device works
 * with devices of this kernel only.
 */
void sodp_udp_open(struct sodp_dev *sdev)
{
	struct net *net = dev_net(sdev->ndev);
	struct sodp_udp_ns *ns;
	struct socket *sock;

	mutex_lock(&sodp_udp_lock);
	list_for_each_entry(ns, &sodp_udp_list, entry)
		if (net_eq(ns->net, net))
			goto found;
	ns = kzalloc(sizeof(*ns), GFP_KERNEL);
	if (!ns)
		goto out;
	sock = sodp_udp_sock(net, false);
	if (IS_ERR(sock)) {
		pr_warn("sodp: %s: UDP port %u %s (%ld): RoCEv2 off, only local peers\n",
			netdev_name(sdev->ndev), SODP_ROCE_UDP_PORT,
			PTR_ERR(sock) == -EADDRINUSE ? "is taken (rdma_rxe?)" :
			"cannot be bound", PTR_ERR(sock));
		kfree(ns);
		goto out;
	}
	ns->sk4 = sock;
	if (IS_ENABLED(CONFIG_IPV6)) {
		sock = sodp_udp_sock(net, true);
		/* No IPv6 in this namespace (or the port taken): IPv4 only. */
		ns->sk6 = IS_ERR(sock) ? NULL : sock;
	}
	ns->net = net;
	list_add(&ns->entry, &sodp_udp_list);
found:
	ns->users++;
	sdev->udp = ns;
out:
	mutex_unlock(&sodp_udp_lock);
}

/* The device is going: its namespace's sockets go with its last device. */
void sodp_udp_close(struct sodp_dev *sdev)
{
	struct sodp_udp_ns *ns = sdev->udp;

	if (!ns)
		return;
	mutex_lock(&sodp_udp_lock);
	if (!--ns->users) {
		if (ns->net)
			sodp_udp_release(ns);
		kfree(ns);
	}
	sdev->udp = NULL;
	mutex_unlock(&sodp_udp_lock);
}

/**
 * sodp_udp_ready - can the device send and receive RoCEv2 of this kind?
 * @sdev: the device
 * @type: RDMA_NETWORK_IPV4 or RDMA_NETWORK_IPV6 (anything else: no)
 *
 * Return: true while its namespace has the socket (not after it went).
 */
bool sodp_udp_ready(struct sodp_dev *sdev, enum rdma_network_type type)
{
	struct sodp_udp_ns *ns = sdev->udp;

	if (!ns)
		return false;
	if (type == RDMA_NETWORK_IPV4)
		return READ_ONCE(ns->sk4);
	return type == RDMA_NETWORK_IPV6 && READ_ONCE(ns->sk6);
}

static void __net_exit sodp_udp_net_exit(struct net *net)
{
	struct sodp_udp_ns *ns;

	mutex_lock(&sodp_udp_lock);
	list_for_each_entry(ns, &sodp_udp_list, entry) {
		if (net_eq(ns->net, net)) {
			sodp_udp_release(ns);
			break;
		}
	}
	mutex_unlock(&sodp_udp_lock);
}

static struct pernet_operations sodp_udp_net_ops = {
	.exit = sodp_udp_net_exit,
};

int sodp_udp_init(void)
{
	return register_pernet_subsys(&sodp_udp_net_ops);
}

void sodp_udp_exit(void)
{
	unregister_pernet_subsys(&sodp_udp_net_ops);
}

static unsigned int sodp_udp_hdr_len(const struct sodp_wire_path *path)
{
	return sizeof(struct udphdr) + (path->net_type == RDMA_NETWORK_IPV4 ?
	       sizeof(struct iphdr) : sizeof(struct ipv6hdr));
}

/**
 * sodp_udp_alloc - a packet to fill
 * @sdev: the sending device
 * @path: where it goes
 * @len: bytes from the BTH to the ICRC, both included
 * @gfp: allocation flags
 *
 * Return: an skb with room before its data for the UDP and IP headers and
 * the link layer, and @len bytes of room after (not yet put), or NULL.
 */
struct sk_buff *sodp_udp_alloc(struct sodp_dev *sdev,
			       const struct sodp_wire_path *path,
			       unsigned int len, gfp_t gfp)
{
	unsigned int head = LL_RESERVED_SPACE(sdev->ndev) + sodp_udp_hdr_len(path);
	struct sk_buff *skb;

	skb = alloc_skb(head + len, gfp);
	if (!skb)
		return NULL;
	skb_reserve(skb, head);
	skb->protocol = htons(path->net_type == RDMA_NETWORK_IPV4 ? ETH_P_IP :
			      ETH_P_IPV6);
	return skb;
}

static void sodp_udp_push_udp(struct sk_buff *skb, const struct sodp_wire_path *path)
{
	struct udphdr *udp;

	__skb_push(skb, sizeof(*udp));
	skb_reset_transport_header(skb);
	udp = udp_hdr(skb);
	udp->source = htons(path->sport);
	udp->dest = htons(SODP_ROCE_UDP_PORT);
	udp->len = htons(skb->len);
	udp->check = 0;		/* RoCEv2: the ICRC protects the packet */
}

/* The DSCP of the traffic class; ECN bits Not-ECT. */
static u8 sodp_udp_tos(const struct sodp_wire_path *path)
{
	return path->tclass & ~INET_ECN_MASK;
}

static int sodp_udp_prep4(struct sodp_dev *sdev, const struct sodp_wire_path *path,
			  struct sk_buff *skb)
{
	struct net *net = dev_net(sdev->ndev);
	struct flowi4 fl = {
		.flowi4_oif = sdev->ndev->ifindex,
		.flowi4_proto = IPPROTO_UDP,
	};
	struct rtable *rt;
	struct iphdr *ip;

	sodp_flowi4_set_tclass(&fl, sodp_udp_tos(path));
	memcpy(&fl.saddr, path->sgid.raw + 12, 4);
	memcpy(&fl.daddr, path->dgid.raw + 12, 4);
	rt = ip_route_output_key(net, &fl);
	if (IS_ERR(rt))
		return PTR_ERR(rt);
	skb_dst_set(skb, &rt->dst);
	memset(IPCB(skb), 0, sizeof(*IPCB(skb)));

	sodp_udp_push_udp(skb, path);
	__skb_push(skb, sizeof(*ip));
	skb_reset_network_header(skb);
	ip = ip_hdr(skb);
	ip->version = 4;
	ip->ihl = sizeof(*ip) / 4;
	ip->tos = sodp_udp_tos(path);
	ip->tot_len = htons(skb->len);
	ip->frag_off = htons(IP_DF);
	ip->ttl = path->hop_limit ?: ip4_dst_hoplimit(&rt->dst);
	ip->protocol = IPPROTO_UDP;
	ip->saddr = fl.saddr;
	ip->daddr = fl.daddr;
	ip->check = 0;
	/* The ICRC covers the ID: choose it now (the checksum is masked). */
	__ip_select_ident(net, ip, 1);
	return 0;
}

static int sodp_udp_prep6(struct sodp_dev *sdev, const struct sodp_wire_path *path,
			  struct sk_buff *skb)
{
	struct net *net = dev_net(sdev->ndev);
	struct flowi6 fl = {
		.flowi6_oif = sdev->ndev->ifindex,
		.flowi6_proto = IPPROTO_UDP,
	};
	struct dst_entry *dst;
	struct ipv6hdr *ip6;

	if (!IS_ENABLED(CONFIG_IPV6))
		return -EAFNOSUPPORT;
	memcpy(&fl.saddr, path->sgid.raw, 16);
	memcpy(&fl.daddr, path->dgid.raw, 16);
	dst = ip6_dst_lookup_flow(net, NULL, &fl, NULL);
	if (IS_ERR(dst))
		return PTR_ERR(dst);
	if (dst->error) {
		int ret = dst->error;

		dst_release(dst);
		return ret;
	}
	skb_dst_set(skb, dst);
	memset(IP6CB(skb), 0, sizeof(*IP6CB(skb)));

	sodp_udp_push_udp(skb, path);
	__skb_push(skb, sizeof(*ip6));
	skb_reset_network_header(skb);
	ip6 = ipv6_hdr(skb);
	ip6_flow_hdr(ip6, sodp_udp_tos(path), 0);
	ip6->payload_len = htons(skb->len - sizeof(*ip6));
	ip6->nexthdr = IPPROTO_UDP;
	ip6->hop_limit = path->hop_limit ?: ip6_dst_hoplimit(dst);
	ip6->saddr = fl.saddr;
	ip6->daddr = fl.daddr;
	return 0;
}

/**
 * sodp_udp_xmit - put a packet on the wire
 * @sdev: the sending device
 * @path: where it goes
 * @skb: from sodp_udp_alloc(), filled from the BTH to the pad, with room
 *	for the ICRC put (its value is written here)
 *
 * Consumes @skb.  Return: 0, or an error if it could not be sent (no route,
 * or dropped by the stack).
 */
int sodp_udp_xmit(struct sodp_dev *sdev, const struct sodp_wire_path *path,
		  struct sk_buff *skb)
{
	struct net *net = dev_net(sdev->ndev);
	int ret;

	ret = path->net_type == RDMA_NETWORK_IPV4 ? sodp_udp_prep4(sdev, path, skb) :
	      sodp_udp_prep6(sdev, path, skb);
	if (ret) {
		kfree_skb(skb);
		sodp_count(sdev, SODP_CNT_SEND_ERR, 1);
		return ret;
	}
	put_unaligned_le32(sodp_icrc(skb), skb_tail_pointer(skb) - SODP_ICRC_LEN);
	skb->ip_summed = CHECKSUM_NONE;
	ret = path->net_type == RDMA_NETWORK_IPV4 ? ip_local_out(net, NULL, skb) :
	      ip6_local_out(net, NULL, skb);
	ret = net_xmit_eval(ret);
	if (ret) {
		sodp_count(sdev, SODP_CNT_SEND_ERR, 1);
		return ret;
	}
	sodp_count(sdev, SODP_CNT_SENT_PKTS, 1);
	return 0;
}
