// SPDX-License-Identifier: GPL-2.0 OR Linux-OpenIB
/*
 * rdma_sodp: UD multicast.  A UD QP attached to a group (a multicast GID)
 * receives the UD messages sent to that GID and the multicast QPN: from a
 * QP of this kernel, handed over in-kernel to the members on every sodp
 * device of the sender's network namespace, and from the wire, where the
 * device's netdev joins the IPv4 group while a QP of the device is
 * attached to it (as the rdma_cm does for its joins).  A sender reaches
 * the wire too, for members on other hosts; its own packets coming back
 * (the stack loops multicast back to members) are not delivered twice.
 *
 * A group is a device's: at most SODP_MAX_MCAST_GRP of them per device,
 * with SODP_MAX_MCAST_QP_ATTACH QPs each, charged to the attaching
 * process.  A QP attached several times (the core keeps an attachment per
 * GID and LID) is a member until as many detaches.  All groups are on one
 * list under sodp_mcast_lock, held briefly by attach, detach and a
 * packet's delivery (to take its members); attach and detach are one at a
 * time under sodp_mcast_join_lock, which also covers the netdev's IGMP
 * join and leave they make (sodp_mcast_join_lock -> rtnl_lock, and ->
 * sodp_mcast_lock): a delivery never waits for rtnl.  Members are handed a
 * packet with a QP reference taken under the lock: the core keeps an
 * attached QP from being destroyed, and destroy_qp waits for the
 * references of packets handed to it meanwhile.
 *
 * Copyright (c) 2026 The sodp authors.
 */

#include <linux/igmp.h>
#include <linux/inetdevice.h>
#include <linux/rtnetlink.h>

#include "sodp_pkt.h"

struct sodp_mcast_member {
	struct sodp_qp *qp;
	unsigned int attached;		/* attachments not yet detached */
};

struct sodp_mcast_grp {
	struct list_head entry;		/* in sodp_mcast_grps */
	struct sodp_dev *sdev;
	union ib_gid gid;
	unsigned int nqps;
	struct sodp_mcast_member qps[SODP_MAX_MCAST_QP_ATTACH];
};

static LIST_HEAD(sodp_mcast_grps);
static DEFINE_MUTEX(sodp_mcast_lock);
static DEFINE_MUTEX(sodp_mcast_join_lock);

bool sodp_gid_is_mcast(const union ib_gid *gid)
{
	return rdma_is_multicast_addr((struct in6_addr *)gid->raw);
}

static struct sodp_mcast_grp *sodp_mcast_find(struct sodp_dev *sdev,
					      const union ib_gid *gid)
{
	struct sodp_mcast_grp *grp;

	lockdep_assert_held(&sodp_mcast_lock);
	list_for_each_entry(grp, &sodp_mcast_grps, entry)
		if (grp->sdev == sdev && !memcmp(&grp->gid, gid, sizeof(*gid)))
			return grp;
	return NULL;
}

/*
 * The netdev joins or leaves an IPv4 group, so that the wire's packets to
 * it are taken in (an IPv6 group's are not: on the wire, IPv4 only).
 */
static void sodp_mcast_igmp(struct sodp_dev *sdev, const union ib_gid *gid, bool join)
{
	struct in_device *in_dev;
	__be32 addr;

	lockdep_assert_held(&sodp_mcast_join_lock);
	if (!ipv6_addr_v4mapped((const struct in6_addr *)gid->raw))
		return;
	memcpy(&addr, gid->raw + 12, sizeof(addr));
	rtnl_lock();
	in_dev = __in_dev_get_rtnl(sdev->ndev);
	if (in_dev) {
		if (join)
			ip_mc_inc_group(in_dev, addr);
		else
			ip_mc_dec_group(in_dev, addr);
	}
	rtnl_unlock();
}

/* Under sodp_mcast_lock: attach; true if the group was made for it. */
static int sodp_mcast_add(struct sodp_qp *qp, const union ib_gid *gid, bool *made)
{
	struct sodp_dev *sdev = qp->dev;
	struct sodp_mcast_grp *grp;
	unsigned int i;

	*made = false;
	grp = sodp_mcast_find(sdev, gid);
	if (!grp) {
		if (sdev->num_mcast_grps >= SODP_MAX_MCAST_GRP)
			return -ENOMEM;
		grp = kzalloc(sizeof(*grp), GFP_KERNEL_ACCOUNT);
		if (!grp)
			return -ENOMEM;
		grp->sdev = sdev;
		grp->gid = *gid;
		list_add_tail(&grp->entry, &sodp_mcast_grps);
		sdev->num_mcast_grps++;
		*made = true;
	}
	for (i = 0; i < grp->nqps; i++) {
		if (grp->qps[i].qp == qp) {
			grp->qps[i].attached++;
			return 0;
		}
	}
	/* (Only a group that already has members can be full.) */
	if (grp->nqps == SODP_MAX_MCAST_QP_ATTACH)
		return -ENOMEM;
	grp->qps[grp->nqps++] = (struct sodp_mcast_member){ .qp = qp, .attached = 1 };
	return 0;
}

int sodp_attach_mcast(struct ib_qp *ibqp, union ib_gid *gid, u16 lid)
{
	struct sodp_qp *qp = to_sqp(ibqp);
	bool made;
	int ret;

	if (ibqp->qp_type != IB_QPT_UD || !sodp_gid_is_mcast(gid))
		return -EINVAL;
	mutex_lock(&sodp_mcast_join_lock);
	mutex_lock(&sodp_mcast_lock);
	ret = sodp_mcast_add(qp, gid, &made);
	mutex_unlock(&sodp_mcast_lock);
	if (made)
		sodp_mcast_igmp(qp->dev, gid, true);
	mutex_unlock(&sodp_mcast_join_lock);
	return ret;
}

/* Under sodp_mcast_lock: unlist and free a group. */
static void sodp_mcast_free(struct sodp_mcast_grp *grp)
{
	lockdep_assert_held(&sodp_mcast_lock);
	list_del(&grp->entry);
	grp->sdev->num_mcast_grps--;
	kfree(grp);
}

int sodp_detach_mcast(struct ib_qp *ibqp, union ib_gid *gid, u16 lid)
{
	struct sodp_qp *qp = to_sqp(ibqp);
	struct sodp_mcast_grp *grp;
	bool gone = false;
	int ret = -EINVAL;
	unsigned int i;

	mutex_lock(&sodp_mcast_join_lock);
	mutex_lock(&sodp_mcast_lock);
	grp = sodp_mcast_find(qp->dev, gid);
	for (i = 0; grp && i < grp->nqps; i++) {
		if (grp->qps[i].qp != qp)
			continue;
		if (!--grp->qps[i].attached)
			grp->qps[i] = grp->qps[--grp->nqps];
		if (!grp->nqps) {
			sodp_mcast_free(grp);
			gone = true;
		}
		ret = 0;
		break;
	}
	mutex_unlock(&sodp_mcast_lock);
	if (gone)
		sodp_mcast_igmp(qp->dev, gid, false);
	mutex_unlock(&sodp_mcast_join_lock);
	return ret;
}

/**
 * sodp_mcast_cleanup - forget a device's groups, as it goes
 * @sdev: the device; none of its QPs is left, so every group is empty
 */
void sodp_mcast_cleanup(struct sodp_dev *sdev)
{
	struct sodp_mcast_grp *grp, *next;
	LIST_HEAD(gone);

	mutex_lock(&sodp_mcast_join_lock);
	mutex_lock(&sodp_mcast_lock);
	list_for_each_entry_safe(grp, next, &sodp_mcast_grps, entry) {
		if (grp->sdev != sdev)
			continue;
		WARN_ON(grp->nqps);
		list_move(&grp->entry, &gone);
		sdev->num_mcast_grps--;
	}
	mutex_unlock(&sodp_mcast_lock);
	list_for_each_entry_safe(grp, next, &gone, entry) {
		sodp_mcast_igmp(sdev, &grp->gid, false);
		kfree(grp);
	}
	mutex_unlock(&sodp_mcast_join_lock);
}

/*
 * The QPs attached to @gid on the devices of @net (only @only's if not
 * NULL), each with a reference, in an array to kfree() (NULL: none).
 */
static bool sodp_mcast_grp_of(struct sodp_mcast_grp *grp, struct net *net,
			      struct sodp_dev *only, const union ib_gid *gid)
{
	return (only ? grp->sdev == only : net_eq(dev_net(grp->sdev->ndev), net)) &&
	       !memcmp(&grp->gid, gid, sizeof(*gid));
}

static struct sodp_qp **sodp_mcast_members(struct net *net, struct sodp_dev *only,
					   const union ib_gid *gid, unsigned int *n)
{
	struct sodp_mcast_grp *grp;
	struct sodp_qp **qps = NULL;
	unsigned int max = 0, i;

	*n = 0;
	mutex_lock(&sodp_mcast_lock);
	list_for_each_entry(grp, &sodp_mcast_grps, entry)
		if (sodp_mcast_grp_of(grp, net, only, gid))
			max += grp->nqps;
	if (max)
		qps = kmalloc_array(max, sizeof(*qps), GFP_KERNEL);
	if (!qps)
		goto out;
	list_for_each_entry(grp, &sodp_mcast_grps, entry) {
		if (!sodp_mcast_grp_of(grp, net, only, gid))
			continue;
		for (i = 0; i < grp->nqps; i++)
			if (kref_get_unless_zero(&grp->qps[i].qp->ref))
				qps[(*n)++] = grp->qps[i].qp;
	}
out:
	mutex_unlock(&sodp_mcast_lock);
	return qps;
}

/* Times a member is handed a packet again when a page was not to be had. */
#define SODP_MCAST_TRIES	16

/**
 * sodp_mcast_deliver - hand a UD packet to every member of its group
 * @net: the network namespace whose devices' members get it
 * @only: a packet from the wire: the device it came to (each device that
 *	joined the group gets its own copy), or NULL
 * @pkt: the packet (one, to the multicast QPN); its payload is read from
 *	its start for each member
 *
 * As on a wire, a member that cannot take it (no receive WQE, a wrong
 * Q_Key, its own buffer's fault) drops it; the sender never hears.  Each
 * member's device counts a packet handed over in-kernel.
 */
void sodp_mcast_deliver(struct net *net, struct sodp_dev *only, struct sodp_pkt *pkt)
{
	unsigned int n, i, tries;
	struct sodp_qp **qps;
	struct sodp_ack ack;

	qps = sodp_mcast_members(net, only, &pkt->dgid, &n);
	for (i = 0; i < n; i++) {
		for (tries = 0;; tries++) {
			sodp_mem_seek(pkt->payload, 0);
			memset(&ack, 0, sizeof(ack));
			sodp_resp_rcv(qps[i], pkt, &ack);
			if (ack.syndrome != SODP_NAK_RESEND || tries == SODP_MCAST_TRIES)
				break;
			/* A sender's page taken back: fault it in (ours to fault). */
			if (pkt->payload->no_fault &&
			    sodp_mem_prefault(pkt->payload, 0, pkt->paylen, false))
				break;
			cond_resched();
		}
		if (!only && ack.syndrome != SODP_DROPPED)
			sodp_count(qps[i]->dev, SODP_CNT_RCVD_PKTS, 1);
		sodp_qp_put(qps[i]);
	}
	kfree(qps);
}

/**
 * sodp_mcast_send - send a UD message to a multicast GID
 * @qp: the sending UD QP
 * @pkt: the message, decoded and routed
 * @local: its payload (at most the path MTU)
 * @len: its length
 *
 * The members of this kernel get it in-kernel, those of other hosts on
 * the wire.  Return: the completion status.
 */
int sodp_mcast_send(struct sodp_qp *qp, struct sodp_pkt *pkt,
		    struct sodp_mem *local, u32 len)
{
	int ret;

	pkt->paylen = len;
	pkt->npkts = 1;
	pkt->first = true;
	pkt->last = true;
	pkt->psn = qp->sq_psn;
	/* Read before anything is sent, as a NIC reads what it sends. */
	ret = sodp_mem_prefault(local, 0, len, false);
	if (ret && sodp_mem_fault_is_hard(ret))
		return IB_WC_LOC_PROT_ERR;
	local->no_fault = true;
	/* Only a message to the multicast QPN is a group's. */
	if (pkt->dqpn == SODP_MCAST_QPN)
		sodp_mcast_deliver(dev_net(qp->dev->ndev), NULL, pkt);
	if (sodp_udp_ready(qp->dev, pkt->net_type))
		return sodp_wire_ud_send(qp, pkt, local, len);
	qp->sq_psn = sodp_psn_add(qp->sq_psn, 1);
	sodp_count(qp->dev, SODP_CNT_SENT_PKTS, 1);
	sodp_count(qp->dev, SODP_CNT_SENT_BYTES, len);
	return IB_WC_SUCCESS;
}
