// SPDX-License-Identifier: GPL-2.0 OR Linux-OpenIB
/*
 * rdma_sodp: RoCEv2 packets from the wire, in the device's receive work
 * (process context: the responder may fault pages in).  A packet is
 * checked (opcode, version, P_Key, lengths, a destination that is one of
 * our GIDs, the ICRC), then a request goes to the responder of its QP and
 * the answer back on the wire, a response to the completer of its QP.
 * Also here: building any packet the engine sends.
 *
 * Copyright (c) 2026 The sodp authors.
 */

#include <linux/ip.h>
#include <linux/ipv6.h>
#include <net/ipv6.h>
#include <rdma/ib_cache.h>

#include "sodp_pkt.h"

/**
 * sodp_wire_send - build a packet and put it on the wire
 * @sdev: the sending device
 * @path: where it goes
 * @tx: its header fields and payload
 *
 * The payload is copied into the packet while its pages are held (an skb
 * outlives any hold: it may sit in a qdisc or a tap).
 *
 * Return: 0 when the packet left (or was lost on the way, as a wire loses
 * packets), -ENOMEM when it could not be built, or the SODP_COPY_* result
 * of a payload that could not be read (then nothing was sent).
 */
int sodp_wire_send(struct sodp_dev *sdev, const struct sodp_wire_path *path,
		   struct sodp_wire_tx *tx)
{
	u32 flags = sodp_wire_flags(tx->opcode);
	u8 pad = -tx->paylen & 3;
	struct sodp_wire_layout l;
	struct sodp_mem dst;
	struct sk_buff *skb;
	u8 *hdr;
	int ret;

	sodp_wire_layout(flags, &l);
	/* Allocate before a span is taken: no reclaim under a page hold. */
	skb = sodp_udp_alloc(sdev, path, l.hdr_len + tx->paylen + pad + SODP_ICRC_LEN,
			     GFP_KERNEL);
	if (!skb)
		return -ENOMEM;
	hdr = skb_put(skb, l.hdr_len);
	bth_set(hdr, tx->opcode, tx->se, pad, tx->dqpn, tx->ackreq, tx->psn);
	if (flags & SODP_WF_DETH)
		deth_set(hdr + l.deth, tx->qkey, tx->sqpn);
	if (flags & SODP_WF_XRCETH)
		xrceth_set(hdr + l.xrceth, tx->srqn);
	if (flags & SODP_WF_RETH)
		reth_set(hdr + l.reth, tx->va, tx->rkey, tx->dma_len);
	if (flags & SODP_WF_ATMETH)
		atmeth_set(hdr + l.atmeth, tx->va, tx->rkey, tx->swap_add, tx->compare);
	if (flags & SODP_WF_IMMDT)
		immdt_set_raw(hdr + l.immdt, tx->imm);
	if (flags & SODP_WF_IETH)
		ieth_set(hdr + l.ieth, tx->inv_rkey);
	if (flags & SODP_WF_AETH)
		aeth_set(hdr + l.aeth, tx->syndrome, tx->msn);
	if (flags & SODP_WF_ATMACK)
		atmack_set(hdr + l.atmack, tx->orig);
	if (tx->paylen) {
		sodp_mem_init(&dst);
		sodp_mem_add_kbuf(&dst, skb_put(skb, tx->paylen), tx->paylen);
		ret = sodp_mem_copy(&dst, tx->payload, tx->paylen);
		if (ret) {
			kfree_skb(skb);
			return ret;
		}
	}
	skb_put_zero(skb, pad + SODP_ICRC_LEN);
	sodp_udp_xmit(sdev, path, skb);
	return 0;
}

/**
 * sodp_wire_qp_path - the path of an RC QP's packets
 * @qp: the QP (its traffic class, hop limit and flow)
 * @sgid: from (ours)
 * @dgid: to
 * @net_type: RDMA_NETWORK_IPV4 or RDMA_NETWORK_IPV6
 * @path: filled
 */
void sodp_wire_qp_path(struct sodp_qp *qp, const union ib_gid *sgid,
		       const union ib_gid *dgid, enum rdma_network_type net_type,
		       struct sodp_wire_path *path)
{
	path->sgid = *sgid;
	path->dgid = *dgid;
	path->net_type = net_type;
	path->tclass = qp->tclass;
	path->hop_limit = qp->hop_limit;
	path->sport = rdma_get_udp_sport(qp->flow_label, qp->ibqp.qp_num,
					 qp->dest_qpn);
}

/* A responder's opcode: an XRC target QP answers in the XRC transport. */
static u8 sodp_wire_resp_opcode(const struct sodp_qp *qp, u8 rc_opcode)
{
	return qp->ibqp.qp_type == IB_QPT_XRC_TGT ? SODP_XRC_SEND_FIRST | rc_opcode :
						   rc_opcode;
}

static u8 sodp_wire_syndrome(const struct sodp_ack *ack)
{
	switch (ack->syndrome) {
	case SODP_ACK:
		return SODP_AETH_ACK | SODP_AETH_ACK_UNLIMITED;
	case SODP_RNR_NAK:
		return SODP_AETH_RNR_NAK | (ack->rnr_timer & 0x1f);
	case SODP_NAK_SEQ:
		return SODP_AETH_NAK_PSN_SEQ;
	case SODP_NAK_INV_REQ:
		return SODP_AETH_NAK_INV_REQ;
	case SODP_NAK_REM_ACCESS:
		return SODP_AETH_NAK_REM_ACC;
	default:
		return SODP_AETH_NAK_REM_OP;
	}
}

/* Times a READ response packet is built again when a page was busy. */
#define SODP_WIRE_READ_TRIES	16

/*
 * The READ responses, one path-MTU packet each, read from the region the
 * responder checked and faulted in (its reference is ours to put).  If
 * the region cannot be read any more (unmapped meanwhile), a NAK ends it.
 */
static noinline_for_stack void
sodp_wire_read_responses(struct sodp_qp *qp, const struct sodp_wire_path *path,
			 const struct sodp_ack *ack)
{
	u32 mtu = qp->mtu, len = ack->read_len;
	u32 npsn = max_t(u32, 1, DIV_ROUND_UP(len, mtu)), i;
	struct sodp_wire_tx tx = {
		.dqpn = qp->dest_qpn,
		.syndrome = SODP_AETH_ACK | SODP_AETH_ACK_UNLIMITED,
		.msn = ack->msn,
	};
	struct sodp_mem src;
	unsigned int tries;
	int ret = 0;

	sodp_mem_init(&src);
	if (ack->read_mr)
		sodp_mem_add_mr(&src, ack->read_mr, ack->read_va, len);
	tx.payload = &src;
	for (i = 0; i < npsn; i++) {
		tx.opcode = sodp_wire_resp_opcode(qp, npsn == 1 ? SODP_RC_READ_RESP_ONLY :
						  !i ? SODP_RC_READ_RESP_FIRST :
						  i == npsn - 1 ? SODP_RC_READ_RESP_LAST :
						  SODP_RC_READ_RESP_MIDDLE);
		tx.psn = sodp_psn_add(ack->psn, i);
		tx.paylen = min(mtu, len - i * mtu);
		for (tries = 0; tries < SODP_WIRE_READ_TRIES; tries++) {
			sodp_mem_seek(&src, i * mtu);
			ret = sodp_wire_send(qp->dev, path, &tx);
			if (ret != SODP_COPY_AGAIN)
				break;
			cond_resched();
		}
		if (ret)
			break;
		cond_resched();
	}
	sodp_mem_put(&src);
	if (ret <= 0)
		return;		/* sent, or no memory: the requester asks again */
	tx = (struct sodp_wire_tx){
		.opcode = sodp_wire_resp_opcode(qp, SODP_RC_ACK),
		.dqpn = qp->dest_qpn,
		.psn = sodp_psn_add(ack->psn, i),
		.syndrome = SODP_AETH_NAK_REM_ACC,
		.msn = ack->msn,
	};
	sodp_wire_send(qp->dev, path, &tx);
}

/*
 * An ACK held back while the next packet waiting is for the same QP: ACKs
 * are cumulative, so a later one of the same connection stands for it,
 * and a burst is answered by one ACK instead of one per message (half the
 * packets of a stream of small messages).  Sent before anything else the
 * work does (another QP's packet, a response, any other answer) and at the
 * end of the work's run: it never waits behind other work.
 */
struct sodp_wire_ack_held {
	bool valid;
	u32 qpn;
	struct sodp_wire_path path;
	struct sodp_wire_tx tx;
};

static void sodp_wire_ack_flush(struct sodp_dev *sdev, struct sodp_wire_ack_held *held)
{
	if (!held->valid)
		return;
	held->valid = false;
	sodp_wire_send(sdev, &held->path, &held->tx);
}

/* Is the next packet waiting a request to QP @qpn? */
static bool sodp_wire_next_for(struct sodp_dev *sdev, u32 qpn)
{
	struct sk_buff *skb;
	unsigned long flags;
	bool same = false;

	spin_lock_irqsave(&sdev->rx_queue.lock, flags);
	skb = skb_peek(&sdev->rx_queue);
	if (skb && skb->len >= SODP_BTH_LEN)
		same = bth_dqpn(skb->data) == qpn &&
		       (sodp_wire_flags(bth_opcode(skb->data)) & SODP_WF_REQ);
	spin_unlock_irqrestore(&sdev->rx_queue.lock, flags);
	return same;
}

/* Send @tx, or hold it back for the next packet of the same QP. */
static void sodp_wire_ack_hold(struct sodp_qp *qp, const struct sodp_wire_path *path,
			       struct sodp_wire_tx *tx, struct sodp_wire_ack_held *held)
{
	u32 qpn = qp->ibqp.qp_num;

	if (held->valid && held->qpn == qpn && held->tx.dqpn == tx->dqpn) {
		/* The same connection: the later state stands for both. */
		if (sodp_psn_diff(tx->psn, held->tx.psn) >= 0) {
			held->path = *path;
			held->tx = *tx;
		}
	} else {
		/* (Another connection: the QP was reset and connected again.) */
		sodp_wire_ack_flush(qp->dev, held);
		held->valid = true;
		held->qpn = qpn;
		held->path = *path;
		held->tx = *tx;
	}
	if (!sodp_wire_next_for(qp->dev, qpn))
		sodp_wire_ack_flush(qp->dev, held);
}

/* Answer a request the responder took (or refused) on an RC QP. */
static noinline_for_stack void
sodp_wire_answer(struct sodp_qp *qp, const struct sodp_wire_rx *rx,
		 const struct sodp_pkt *pkt, struct sodp_ack *ack,
		 struct sodp_wire_ack_held *held)
{
	struct sodp_wire_path path;
	struct sodp_wire_tx tx = {
		.opcode = sodp_wire_resp_opcode(qp, SODP_RC_ACK),
		.dqpn = qp->dest_qpn,
		.psn = ack->psn,
		.msn = ack->msn,
		.syndrome = sodp_wire_syndrome(ack),
	};

	/* Back to the packet's sender, from the address it was sent to. */
	sodp_wire_qp_path(qp, &rx->dgid, &rx->sgid, rx->net_type, &path);
	/* Not a plain ACK: what was held goes first. */
	if (ack->syndrome != SODP_ACK || !sodp_op_outbound(pkt->op))
		sodp_wire_ack_flush(qp->dev, held);
	if (ack->syndrome == SODP_ACK) {
		switch (pkt->op) {
		case SODP_OP_READ:
			sodp_wire_read_responses(qp, &path, ack);
			return;
		case SODP_OP_CMP_SWP:
		case SODP_OP_FETCH_ADD:
			tx.opcode = sodp_wire_resp_opcode(qp, SODP_RC_ATOMIC_ACK);
			tx.orig = ack->orig;
			break;
		default:
			/* Coalesced: only where the requester asked. */
			if (!bth_ackreq(rx->bth) && !ack->dup)
				return;
			sodp_wire_ack_hold(qp, &path, &tx, held);
			return;
		}
	}
	sodp_wire_send(qp->dev, &path, &tx);
}

/* Times a request is applied again when a page of ours was busy. */
#define SODP_WIRE_RESP_TRIES	16

/* A request's fields, from its headers. */
static void sodp_wire_request_pkt(const struct sodp_wire_rx *rx, struct sodp_pkt *pkt)
{
	const u8 *h = rx->bth;

	*pkt = (struct sodp_pkt){
		.first = rx->flags & SODP_WF_FIRST,
		.last = rx->flags & SODP_WF_LAST,
		.imm = rx->flags & SODP_WF_IMMDT,
		.inv = rx->flags & SODP_WF_IETH,
		.ud = rx->flags & SODP_WF_DETH,
		.uc = rx->flags & SODP_WF_UC,
		.xrc = rx->flags & SODP_WF_XRC,
		.solicited = bth_se(h),
		.dqpn = bth_dqpn(h),
		.psn = bth_psn(h),
		.sgid = rx->sgid,
		.dgid = rx->dgid,
		.net_type = rx->net_type,
		.paylen = rx->paylen,
		.npkts = 1,
	};
	if (rx->flags & SODP_WF_SEND)
		pkt->op = SODP_OP_SEND;
	else if (rx->flags & SODP_WF_WRITE)
		pkt->op = SODP_OP_WRITE;
	else if (rx->flags & SODP_WF_READ)
		pkt->op = SODP_OP_READ;
	else if (rx->flags & SODP_WF_AWRITE)
		pkt->op = SODP_OP_ATOMIC_WRITE;
	else
		pkt->op = rx->opcode == SODP_RC_CMP_SWAP ? SODP_OP_CMP_SWP :
			  SODP_OP_FETCH_ADD;
	if (rx->flags & SODP_WF_XRCETH)
		pkt->srqn = xrceth_srqn(h + rx->l.xrceth);
	if (rx->flags & SODP_WF_RETH) {
		pkt->va = reth_va(h + rx->l.reth);
		pkt->rkey = reth_rkey(h + rx->l.reth);
		pkt->dma_len = reth_len(h + rx->l.reth);
	}
	if (rx->flags & SODP_WF_ATMETH) {
		pkt->va = atmeth_va(h + rx->l.atmeth);
		pkt->rkey = atmeth_rkey(h + rx->l.atmeth);
		pkt->swap_add = atmeth_swap_add(h + rx->l.atmeth);
		pkt->compare = atmeth_compare(h + rx->l.atmeth);
	}
	if (pkt->imm)
		pkt->ex = immdt_raw(h + rx->l.immdt);
	if (pkt->inv)
		pkt->ex = ieth_rkey(h + rx->l.ieth);
	if (pkt->ud) {
		pkt->qkey = deth_qkey(h + rx->l.deth);
		pkt->sqpn = deth_sqpn(h + rx->l.deth);
	}
}

static void sodp_wire_request(struct sodp_qp *qp, struct sodp_wire_rx *rx,
			      struct sodp_wire_ack_held *held)
{
	struct sodp_ack ack = {};
	struct sodp_mem payload;
	struct sodp_pkt pkt;
	unsigned int tries;

	sodp_wire_request_pkt(rx, &pkt);
	if (pkt.ud) {
		if (pkt.paylen > sodp_port_mtu(qp->dev))
			goto bad;
	} else {
		u32 mtu = READ_ONCE(qp->mtu);

		/* An RC packet names no source QP: its addresses are checked. */
		pkt.sqpn = READ_ONCE(qp->dest_qpn);
		/* Every packet of a message but its last carries the path MTU. */
		if (pkt.paylen > mtu || (!pkt.last && pkt.paylen != mtu))
			goto bad;
	}

	for (tries = 0;; tries++) {
		sodp_mem_init(&payload);
		sodp_mem_add_kbuf(&payload, rx->payload, rx->paylen);
		pkt.payload = &payload;
		memset(&ack, 0, sizeof(ack));
		sodp_resp_rcv(qp, &pkt, &ack);
		if (ack.syndrome != SODP_NAK_RESEND)
			break;
		/* Given up: nothing applied, the requester's timer resends it. */
		if (tries == SODP_WIRE_RESP_TRIES)
			return;
		cond_resched();
	}
	/* Dropped (counted where), or UD or UC: nothing to answer. */
	if (ack.syndrome == SODP_DROPPED || pkt.ud || pkt.uc)
		return;
	sodp_wire_answer(qp, rx, &pkt, &ack, held);
	return;
bad:
	sodp_count(qp->dev, SODP_CNT_RCVD_DROP_BAD, 1);
}

/*
 * A packet to a group or to the multicast QPN: a UD message to both, for
 * the group's members on the devices of this namespace.  One a device of the namespace sent came to them
 * in-kernel already (this is the stack's loopback, or another netdev's
 * copy of it): dropped.
 */
static void sodp_wire_mcast_rcv(struct sodp_dev *sdev, struct sodp_wire_rx *rx)
{
	struct sodp_dev *from;
	struct sodp_mem payload;
	struct sodp_pkt pkt;

	if (!(rx->flags & SODP_WF_DETH) || !sodp_gid_is_mcast(&rx->dgid) ||
	    bth_dqpn(rx->bth) != SODP_MCAST_QPN || rx->paylen > sodp_port_mtu(sdev)) {
		sodp_count(sdev, SODP_CNT_RCVD_DROP_BAD, 1);
		return;
	}
	from = sodp_find_dev_by_gid(sdev, &rx->sgid);
	if (from) {
		ib_device_put(&from->ibdev);
		return;
	}
	sodp_count(sdev, SODP_CNT_RCVD_PKTS, 1);
	sodp_wire_request_pkt(rx, &pkt);
	sodp_mem_init(&payload);
	sodp_mem_add_kbuf(&payload, rx->payload, rx->paylen);
	pkt.payload = &payload;
	sodp_mcast_deliver(dev_net(sdev->ndev), sdev, &pkt);
}

/* Check and parse a packet: 0, or the counter of why it is dropped. */
static int sodp_wire_parse(struct sodp_dev *sdev, struct sk_buff *skb,
			    struct sodp_wire_rx *rx)
{
	int ip_len = skb_transport_offset(skb) - skb_network_offset(skb);
	const struct ib_gid_attr *attr;
	u32 len = skb->len, tail;

	rx->skb = skb;
	rx->bth = skb->data;
	rx->opcode = bth_opcode(rx->bth);
	rx->flags = sodp_wire_flags(rx->opcode);
	if (!rx->flags || bth_tver(rx->bth) ||
	    (bth_pkey(rx->bth) & 0x7fff) != (SODP_DEFAULT_PKEY & 0x7fff))
		return SODP_CNT_RCVD_DROP_BAD;
	sodp_wire_layout(rx->flags, &rx->l);
	/* The engine knows the transport by the flags, the operation by RC's opcode. */
	if (rx->flags & SODP_WF_XRC)
		rx->opcode -= SODP_XRC_SEND_FIRST;
	tail = rx->l.hdr_len + bth_pad(rx->bth) + SODP_ICRC_LEN;
	if (len < tail)
		return SODP_CNT_RCVD_DROP_BAD;
	rx->paylen = len - tail;
	if (!(rx->flags & SODP_WF_PAYLOAD) && rx->paylen)
		return SODP_CNT_RCVD_DROP_BAD;
	rx->payload = skb->data + rx->l.hdr_len;

	if (skb->protocol == htons(ETH_P_IP) && ip_len == sizeof(struct iphdr)) {
		const struct iphdr *ip = ip_hdr(skb);

		ipv6_addr_set_v4mapped(ip->saddr, (struct in6_addr *)rx->sgid.raw);
		ipv6_addr_set_v4mapped(ip->daddr, (struct in6_addr *)rx->dgid.raw);
		rx->net_type = RDMA_NETWORK_IPV4;
	} else if (skb->protocol == htons(ETH_P_IPV6) &&
		   ip_len == sizeof(struct ipv6hdr)) {
		const struct ipv6hdr *ip6 = ipv6_hdr(skb);

		memcpy(rx->sgid.raw, &ip6->saddr, sizeof(rx->sgid));
		memcpy(rx->dgid.raw, &ip6->daddr, sizeof(rx->dgid));
		rx->net_type = RDMA_NETWORK_IPV6;
	} else {
		return SODP_CNT_RCVD_DROP_BAD;
	}
	/* Only packets to one of our RoCEv2 addresses, or to a group. */
	if (!sodp_gid_is_mcast(&rx->dgid)) {
		attr = rdma_find_gid_by_port(&sdev->ibdev, &rx->dgid,
					     IB_GID_TYPE_ROCE_UDP_ENCAP, 1, sdev->ndev);
		if (IS_ERR(attr))
			return SODP_CNT_RCVD_DROP_BAD;
		rdma_put_gid_attr(attr);
	}

	if (get_unaligned_le32(skb_tail_pointer(skb) - SODP_ICRC_LEN) != sodp_icrc(skb))
		return SODP_CNT_RCVD_ICRC_ERR;
	return 0;
}

static void sodp_wire_rx_one(struct sodp_dev *sdev, struct sk_buff *skb,
			     struct sodp_wire_ack_held *held)
{
	struct sodp_wire_rx rx;
	struct sodp_qp *qp;
	int why;

	why = sodp_wire_parse(sdev, skb, &rx);
	if (why) {
		sodp_count(sdev, why, 1);
		goto drop;
	}
	if (bth_dqpn(rx.bth) == SODP_MCAST_QPN || sodp_gid_is_mcast(&rx.dgid)) {
		sodp_wire_ack_flush(sdev, held);
		sodp_wire_mcast_rcv(sdev, &rx);
		consume_skb(skb);
		return;
	}
	qp = sodp_qp_get(sdev, bth_dqpn(rx.bth));
	if (!qp) {
		sodp_count(sdev, SODP_CNT_RCVD_DROP_QP, 1);
		goto drop;
	}
	sodp_count(sdev, SODP_CNT_RCVD_PKTS, 1);
	/* A held ACK waits only for requests of its own QP. */
	if (held->valid && (!(rx.flags & SODP_WF_REQ) || held->qpn != qp->ibqp.qp_num))
		sodp_wire_ack_flush(sdev, held);
	if (rx.flags & SODP_WF_REQ)
		sodp_wire_request(qp, &rx, held);
	else
		sodp_wire_comp_rcv(qp, &rx);
	sodp_qp_put(qp);
	consume_skb(skb);
	return;
drop:
	kfree_skb(skb);
}

/* Packets handled before the work lets others run. */
#define SODP_RX_BUDGET	64

/**
 * sodp_wire_rx_work - take the packets the wire brought the device
 * @work: the device's rx_work
 */
void sodp_wire_rx_work(struct work_struct *work)
{
	struct sodp_dev *sdev = container_of(work, struct sodp_dev, rx_work);
	struct sodp_wire_ack_held held = {};
	unsigned int n = 0;
	struct sk_buff *skb;

	while ((skb = skb_dequeue(&sdev->rx_queue))) {
		sodp_wire_rx_one(sdev, skb, &held);
		if (++n == SODP_RX_BUDGET) {
			queue_work(sodp_wq, work);
			break;
		}
	}
	sodp_wire_ack_flush(sdev, &held);
}
