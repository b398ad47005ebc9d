// SPDX-License-Identifier: GPL-2.0 OR Linux-OpenIB
/*
 * rdma_sodp: the responder.  It checks a packet against the QP (state,
 * type, Q_Key, PSN) and the memory it targets (R_Key, bounds, rights),
 * lands SEND payloads in receive WQEs and WRITE payloads in memory
 * regions, serves READs and atomics, writes receive completions, and
 * answers.  A protection or request error moves an RC QP to the error
 * state with an asynchronous event, as on hardware.
 *
 * A message of several packets (bursts) keeps only its position between
 * them (the receive WQE and offset, or the WRITE's rkey and address): the
 * regions are looked up and checked again for each packet and released
 * before the next, so a deregistration or a reset never waits on a peer.
 *
 * Copyright (c) 2026 The sodp authors.
 */

#include <linux/ip.h>
#include <net/ip.h>
#include <rdma/ib_hdrs.h>

#include "sodp_pkt.h"
#include "sodp_wire.h"

/* What went wrong, for the QP's consumer, once rq_lock is dropped. */
enum sodp_resp_fault {
	SODP_RESP_OK,
	SODP_RESP_ACCESS_ERR,		/* IB_EVENT_QP_ACCESS_ERR */
	SODP_RESP_REQ_ERR,		/* IB_EVENT_QP_REQ_ERR */
	SODP_RESP_LOCAL_ERR,		/* a receive completed in error */
};

static void sodp_recv_complete(struct sodp_qp *qp, struct sodp_pkt *pkt,
			       enum ib_wc_status status, enum ib_wc_opcode opcode,
			       u32 byte_len)
{
	struct sodp_cqe cqe = {
		.wr_id = qp->recv.wqe.wr_id,
		.status = status,
		.opcode = opcode,
		.byte_len = byte_len,
		.qp_num = qp->ibqp.qp_num,
		.src_qp = pkt->sqpn,
	};

	if (pkt->imm) {
		cqe.ex = pkt->ex;
		cqe.wc_flags |= IB_WC_WITH_IMM;
	} else if (pkt->inv && status == IB_WC_SUCCESS) {
		cqe.ex = pkt->ex;
		cqe.wc_flags |= IB_WC_WITH_INVALIDATE;
	}
	if (pkt->ud) {
		cqe.wc_flags |= IB_WC_GRH | IB_WC_WITH_NETWORK_HDR_TYPE;
		cqe.network_hdr_type = pkt->net_type;
	}
	sodp_recv_post(qp, &cqe, pkt->solicited || status != IB_WC_SUCCESS);
	qp->recv.active = false;
}

/* Take the next receive WQE (from the SRQ if there is one). */
static bool sodp_recv_take(struct sodp_qp *qp)
{
	bool got = qp->srq ? sodp_srq_pop(qp->srq, &qp->recv.wqe) :
			     sodp_queue_pop(&qp->rq, &qp->recv.wqe);

	if (got) {
		qp->recv.active = true;
		qp->recv.offset = 0;
		if (qp->ibqp.qp_type == IB_QPT_XRC_TGT) {
			qp->recv.srqn = qp->srq->ibsrq.ext.xrc.srq_num;
			qp->recv.srq_serial = qp->srq->serial;
		}
	}
	return got;
}

/*
 * Resolve the receive WQE's SGEs into qp->resp_mem for this packet (put by
 * sodp_resp_rcv() when the packet is done); false on a protection error.
 */
static bool sodp_recv_resolve(struct sodp_qp *qp)
{
	struct sodp_recv_wqe *wqe = &qp->recv.wqe;

	return wqe->num_sge <= SODP_MAX_SGE &&
	       !sodp_mem_add_sges(&qp->resp_mem, qp, wqe->sge, wqe->num_sge,
				  IB_ACCESS_LOCAL_WRITE);
}

/*
 * The 40 bytes a UD receive starts with: the GRH, or for RoCEv2 over IPv4
 * the IPv4 header in its last 20 bytes (what ib_core parses for MADs).
 */
static void sodp_build_grh(struct sodp_pkt *pkt, u8 *grh)
{
	memset(grh, 0, 40);
	if (pkt->net_type == RDMA_NETWORK_IPV4) {
		struct iphdr *ip = (struct iphdr *)(grh + 20);

		ip->version = 4;
		ip->ihl = 5;
		ip->tot_len = htons(20 + 8 + 12 + 8 + pkt->paylen + 4);
		ip->frag_off = htons(IP_DF);
		ip->ttl = 64;
		ip->protocol = IPPROTO_UDP;
		memcpy(&ip->saddr, pkt->sgid.raw + 12, 4);
		memcpy(&ip->daddr, pkt->dgid.raw + 12, 4);
		ip->check = ip_fast_csum((u8 *)ip, 5);
	} else {
		struct ib_grh *g = (struct ib_grh *)grh;

		g->version_tclass_flow = cpu_to_be32(6 << 28);
		g->paylen = cpu_to_be16(8 + 12 + 8 + pkt->paylen + 4);
		g->next_hdr = IPPROTO_UDP;
		g->hop_limit = 64;
		g->sgid = pkt->sgid;
		g->dgid = pkt->dgid;
	}
}

/* Is the active receive WQE of the SRQ the packet names (XRC), if any? */
static bool sodp_recv_of_srq(struct sodp_qp *qp, struct sodp_pkt *pkt)
{
	return !pkt->xrc || qp->recv.srq_serial == qp->srq->serial;
}

/*
 * May a first packet start a message?  With a message still open it is a
 * request out of sequence (false, the NAK set), unless the last packet was
 * not applied (SODP_NAK_RESEND): this is then the requester's next try, of
 * the same packet or, if it gave up, of a new message.  What the open
 * message holds is kept for it if it needs it (@wants_recv: its receive
 * WQE), and let go otherwise.
 */
static bool sodp_resp_start(struct sodp_qp *qp, struct sodp_pkt *pkt,
			    struct sodp_ack *ack, bool wants_recv)
{
	/*
	 * UC: the message left open lost its last packets (nothing is sent
	 * again); its receive WQE serves the new one from its start.
	 */
	if (pkt->uc) {
		qp->write_active = false;
		qp->recv.offset = 0;
		return true;
	}
	if (qp->resp_resend) {
		/*
		 * A receive WQE taken for a message given up ends here (on XRC,
		 * also one of another SRQ than the new message's).
		 */
		if (qp->recv.active && (!wants_recv || !sodp_recv_of_srq(qp, pkt))) {
			sodp_recv_error(qp, qp->recv.wqe.wr_id, IB_WC_REM_ABORT_ERR);
			qp->recv.active = false;
		}
		qp->write_active = false;
		if (qp->recv.active)
			qp->recv.offset = 0;
		return true;
	}
	if (!qp->recv.active && !qp->write_active)
		return true;
	ack->syndrome = SODP_NAK_INV_REQ;
	if (qp->recv.active)
		sodp_recv_complete(qp, pkt, IB_WC_REM_INV_REQ_ERR, IB_WC_RECV, 0);
	qp->write_active = false;
	return false;
}

static enum sodp_resp_fault sodp_resp_send(struct sodp_qp *qp, struct sodp_pkt *pkt,
					   struct sodp_ack *ack)
{
	struct sodp_mem src;
	u8 hdr[40];
	u32 len;
	int ret;

	if (pkt->first) {
		if (!sodp_resp_start(qp, pkt, ack, true))
			return SODP_RESP_REQ_ERR;
		/* A resent first packet lands in the WQE it had taken. */
		if (!qp->recv.active && !sodp_recv_take(qp)) {
			ack->syndrome = pkt->ud ? SODP_DROPPED : SODP_RNR_NAK;
			ack->rnr_timer = qp->min_rnr_timer;
			return SODP_RESP_OK;
		}
	} else if (!qp->recv.active) {
		ack->syndrome = SODP_NAK_INV_REQ;
		return SODP_RESP_REQ_ERR;
	}
	if (!sodp_recv_resolve(qp)) {
		/* The receiver's own error: a UD sender never hears of it. */
		sodp_recv_complete(qp, pkt, IB_WC_LOC_PROT_ERR, IB_WC_RECV, 0);
		if (pkt->ud) {
			ack->syndrome = SODP_DROPPED;
			return SODP_RESP_OK;
		}
		ack->syndrome = SODP_NAK_REM_OP;
		return SODP_RESP_LOCAL_ERR;
	}
	sodp_mem_seek(&qp->resp_mem, qp->recv.offset);
	if (pkt->ud) {
		/* The GRH, then the payload: one pass over the receive buffer. */
		sodp_build_grh(pkt, hdr);
		sodp_mem_init(&src);
		sodp_mem_add_kbuf(&src, hdr, sizeof(hdr));
		sodp_mem_add_view(&src, pkt->payload);
		len = sizeof(hdr) + pkt->paylen;
		ret = sodp_mem_copy(&qp->resp_mem, &src, len);
	} else {
		len = pkt->paylen;
		ret = sodp_mem_copy(&qp->resp_mem, pkt->payload, len);
	}
	switch (ret) {
	case SODP_COPY_OK:
		break;
	case SODP_COPY_AGAIN:
		/* Nothing applied (the offset stays): the sender resends. */
		ack->syndrome = SODP_NAK_RESEND;
		return SODP_RESP_OK;
	case SODP_COPY_SRC_FAULT:
		/* The sender could not read what it sent: it fails, we abort. */
		sodp_recv_complete(qp, pkt, IB_WC_REM_ABORT_ERR, IB_WC_RECV, 0);
		ack->syndrome = pkt->ud ? SODP_DROPPED : SODP_NAK_SRC_FAULT;
		return SODP_RESP_OK;
	case SODP_COPY_DST_FAULT:
		/* A receive buffer page that cannot be had: as a bad lkey. */
		sodp_recv_complete(qp, pkt, IB_WC_LOC_PROT_ERR, IB_WC_RECV, 0);
		if (pkt->ud)
			return SODP_RESP_OK;
		ack->syndrome = SODP_NAK_REM_OP;
		return SODP_RESP_LOCAL_ERR;
	default:
		/* The message does not fit the receive buffers. */
		sodp_recv_complete(qp, pkt, IB_WC_LOC_LEN_ERR, IB_WC_RECV, 0);
		if (pkt->ud)
			return SODP_RESP_OK;
		ack->syndrome = SODP_NAK_INV_REQ;
		return SODP_RESP_LOCAL_ERR;
	}
	qp->recv.offset += len;
	if (!pkt->last)
		return SODP_RESP_OK;
	/* SEND with Invalidate: a key of ours the sender is done with. */
	if (pkt->inv && sodp_mr_invalidate(qp, pkt->ex, true)) {
		sodp_recv_complete(qp, pkt, IB_WC_REM_INV_REQ_ERR, IB_WC_RECV, 0);
		ack->syndrome = SODP_NAK_INV_REQ;
		return SODP_RESP_REQ_ERR;
	}
	sodp_recv_complete(qp, pkt, IB_WC_SUCCESS, IB_WC_RECV, qp->recv.offset);
	return SODP_RESP_OK;
}

static enum sodp_resp_fault __sodp_resp_write(struct sodp_qp *qp, struct sodp_pkt *pkt,
					      struct sodp_ack *ack)
{
	struct sodp_mr *mr;

	if (pkt->first) {
		if (!sodp_resp_start(qp, pkt, ack, pkt->imm))
			return SODP_RESP_REQ_ERR;
		/*
		 * WRITE with immediate needs a receive WQE: check before writing
		 * (a resent first packet keeps the one it had taken).
		 */
		if (pkt->imm && !qp->recv.active && !sodp_recv_take(qp)) {
			ack->syndrome = SODP_RNR_NAK;
			ack->rnr_timer = qp->min_rnr_timer;
			return SODP_RESP_OK;
		}
		if (pkt->dma_len > SODP_MAX_MSG_SIZE) {
			ack->syndrome = SODP_NAK_INV_REQ;
			return SODP_RESP_REQ_ERR;
		}
		if (pkt->dma_len) {
			if (!(qp->access & IB_ACCESS_REMOTE_WRITE))
				goto access_err;
			/*
			 * The whole message must fit the region, before a byte
			 * lands; the region serves this packet (put with it).
			 */
			mr = sodp_rkey_get(qp, pkt->rkey, pkt->va, pkt->dma_len,
					   IB_ACCESS_REMOTE_WRITE);
			if (!mr)
				goto access_err;
			sodp_mem_add_mr(&qp->resp_mem, mr, pkt->va, pkt->paylen);
		}
		qp->write_active = true;
		qp->write_rkey = pkt->rkey;
		qp->write_va = pkt->va;
		qp->write_left = pkt->dma_len;
		qp->write_len = pkt->dma_len;
	} else if (!qp->write_active) {
		ack->syndrome = SODP_NAK_INV_REQ;
		return SODP_RESP_REQ_ERR;
	}
	/*
	 * On the wire only a message's last packet says it carries immediate
	 * data: its receive WQE is taken there, before anything of the
	 * packet lands (an RNR NAK keeps the WRITE open for the resend).
	 */
	if (pkt->imm && pkt->last && !qp->recv.active && !sodp_recv_take(qp)) {
		ack->syndrome = SODP_RNR_NAK;
		ack->rnr_timer = qp->min_rnr_timer;
		return SODP_RESP_OK;
	}
	/* Every byte the RETH announced, and no more. */
	if (pkt->paylen > qp->write_left ||
	    (pkt->last && pkt->paylen != qp->write_left)) {
		ack->syndrome = SODP_NAK_INV_REQ;
		return SODP_RESP_REQ_ERR;
	}

	if (pkt->paylen) {
		/* Later packets look it up again: deregistered means a bad rkey. */
		if (!qp->resp_mem.nseg) {
			mr = sodp_rkey_get(qp, qp->write_rkey, qp->write_va,
					   pkt->paylen, IB_ACCESS_REMOTE_WRITE);
			if (!mr)
				goto access_err;
			sodp_mem_add_mr(&qp->resp_mem, mr, qp->write_va, pkt->paylen);
		}
		switch (sodp_mem_copy(&qp->resp_mem, pkt->payload, pkt->paylen)) {
		case SODP_COPY_OK:
			break;
		case SODP_COPY_AGAIN:
			/* Nothing applied (the address stays): the sender resends. */
			ack->syndrome = SODP_NAK_RESEND;
			return SODP_RESP_OK;
		case SODP_COPY_SRC_FAULT:
			/* The sender could not read what it sent: it fails, we abort. */
			if (pkt->imm && qp->recv.active)
				sodp_recv_complete(qp, pkt, IB_WC_REM_ABORT_ERR,
						   IB_WC_RECV_RDMA_WITH_IMM, 0);
			ack->syndrome = SODP_NAK_SRC_FAULT;
			return SODP_RESP_OK;
		case SODP_COPY_DST_FAULT:
			/* No VMA, or read-only: as out of the region's bounds. */
			goto access_err;
		default:
			ack->syndrome = SODP_NAK_INV_REQ;
			return SODP_RESP_REQ_ERR;
		}
		qp->write_va += pkt->paylen;
		qp->write_left -= pkt->paylen;
	}
	if (pkt->last) {
		qp->write_active = false;
		if (pkt->imm)
			sodp_recv_complete(qp, pkt, IB_WC_SUCCESS,
					   IB_WC_RECV_RDMA_WITH_IMM, qp->write_len);
	}
	return SODP_RESP_OK;

access_err:
	if (pkt->imm && qp->recv.active)
		sodp_recv_complete(qp, pkt, IB_WC_REM_ACCESS_ERR,
				   IB_WC_RECV_RDMA_WITH_IMM, 0);
	ack->syndrome = SODP_NAK_REM_ACCESS;
	return SODP_RESP_ACCESS_ERR;
}

static enum sodp_resp_fault sodp_resp_write(struct sodp_qp *qp, struct sodp_pkt *pkt,
					    struct sodp_ack *ack)
{
	enum sodp_resp_fault fault = __sodp_resp_write(qp, pkt, ack);

	/*
	 * A message that failed is over (an RNR NAK leaves none started, a
	 * resend request leaves it as it was).
	 */
	if (ack->syndrome != SODP_ACK && ack->syndrome != SODP_RNR_NAK &&
	    ack->syndrome != SODP_NAK_RESEND)
		qp->write_active = false;
	return fault;
}

/*
 * A READ, new or (@dup) a duplicate: a duplicate is served again from the
 * region as it is now (IBTA 9.7.5.1.3), beside any message left open.
 */
static enum sodp_resp_fault sodp_resp_read(struct sodp_qp *qp, struct sodp_pkt *pkt,
					   struct sodp_ack *ack, bool dup)
{
	int ret;

	if (!dup && !sodp_resp_start(qp, pkt, ack, false))
		return SODP_RESP_REQ_ERR;
	if (pkt->dma_len > SODP_MAX_MSG_SIZE) {
		ack->syndrome = SODP_NAK_INV_REQ;
		return SODP_RESP_REQ_ERR;
	}
	if (!pkt->dma_len)
		return SODP_RESP_OK;
	if (!(qp->access & IB_ACCESS_REMOTE_READ))
		goto access_err;
	ack->read_mr = sodp_rkey_get(qp, pkt->rkey, pkt->va, pkt->dma_len,
				     IB_ACCESS_REMOTE_READ);
	if (!ack->read_mr)
		goto access_err;
	/* The responder reads what it returns: fault it in now. */
	ret = sodp_mr_prefault(ack->read_mr, pkt->va, pkt->dma_len, false);
	if (ret) {
		sodp_mr_put(ack->read_mr);
		ack->read_mr = NULL;
		if (sodp_mem_fault_is_hard(ret))
			goto access_err;
		ack->syndrome = SODP_NAK_RESEND;
		return SODP_RESP_OK;
	}
	/* The response carries the payload by reference (and the MR ref). */
	ack->read_va = pkt->va;
	ack->read_len = pkt->dma_len;
	return SODP_RESP_OK;
access_err:
	ack->syndrome = SODP_NAK_REM_ACCESS;
	return SODP_RESP_ACCESS_ERR;
}

/*
 * What sodp_mem_atomic()'s result makes of the request: unaligned (or an
 * atomic write a 32-bit kernel cannot do) an invalid request; a page with
 * no VMA or no write permission an access error; a page not to be had now
 * a resend; 0 executed.
 */
static enum sodp_resp_fault sodp_resp_atomic_done(int ret, struct sodp_ack *ack)
{
	if (ret == -EINVAL || ret == -EOPNOTSUPP) {
		ack->syndrome = SODP_NAK_INV_REQ;
		return SODP_RESP_REQ_ERR;
	}
	if (ret && sodp_mem_fault_is_hard(ret)) {
		ack->syndrome = SODP_NAK_REM_ACCESS;
		return SODP_RESP_ACCESS_ERR;
	}
	if (ret)
		ack->syndrome = SODP_NAK_RESEND;
	return SODP_RESP_OK;
}

static enum sodp_resp_fault sodp_resp_atomic(struct sodp_qp *qp, struct sodp_pkt *pkt,
					     struct sodp_ack *ack)
{
	struct sodp_mr *mr;
	int ret;

	if (!sodp_resp_start(qp, pkt, ack, false))
		return SODP_RESP_REQ_ERR;
	if (!IS_ALIGNED(pkt->va, 8)) {
		ack->syndrome = SODP_NAK_INV_REQ;
		return SODP_RESP_REQ_ERR;
	}
	if (!(qp->access & IB_ACCESS_REMOTE_ATOMIC))
		goto access_err;
	mr = sodp_rkey_get(qp, pkt->rkey, pkt->va, 8, IB_ACCESS_REMOTE_ATOMIC);
	if (!mr)
		goto access_err;
	ret = sodp_mem_atomic(mr, pkt->va, pkt->op == SODP_OP_CMP_SWP ?
			      SODP_ATOMIC_CMP_SWP : SODP_ATOMIC_FETCH_ADD,
			      pkt->compare, pkt->swap_add, &ack->orig);
	sodp_mr_put(mr);
	if (ret)
		return sodp_resp_atomic_done(ret, ack);
	/* Executed: its duplicates get this result, never a second run. */
	qp->resp_atomics[qp->resp_atomic_next] = (struct sodp_atomic_reply){
		.psn = pkt->psn, .valid = true, .orig = ack->orig,
	};
	qp->resp_atomic_next = (qp->resp_atomic_next + 1) %
			       max_t(u32, 1, min_t(u32, qp->max_dest_rd_atomic,
						   SODP_MAX_RD_ATOMIC));
	return SODP_RESP_OK;
access_err:
	ack->syndrome = SODP_NAK_REM_ACCESS;
	return SODP_RESP_ACCESS_ERR;
}

/*
 * Atomic write: 8 bytes at an aligned address of a region the requester
 * may write, stored whole; answered as a WRITE (a duplicate is ACKed, not
 * applied again: a later write may have followed it).
 */
static enum sodp_resp_fault sodp_resp_atomic_write(struct sodp_qp *qp,
						   struct sodp_pkt *pkt,
						   struct sodp_ack *ack)
{
	struct sodp_mem value_mem;
	struct sodp_mr *mr;
	u64 value, unused;
	int ret;

	if (!sodp_resp_start(qp, pkt, ack, false))
		return SODP_RESP_REQ_ERR;
	if (pkt->paylen != sizeof(value) || pkt->dma_len != sizeof(value) ||
	    !IS_ALIGNED(pkt->va, sizeof(value))) {
		ack->syndrome = SODP_NAK_INV_REQ;
		return SODP_RESP_REQ_ERR;
	}
	if (!(qp->access & IB_ACCESS_REMOTE_WRITE))
		goto access_err;
	mr = sodp_rkey_get(qp, pkt->rkey, pkt->va, sizeof(value), IB_ACCESS_REMOTE_WRITE);
	if (!mr)
		goto access_err;
	sodp_mem_init(&value_mem);
	sodp_mem_add_kbuf(&value_mem, &value, sizeof(value));
	ret = sodp_mem_copy(&value_mem, pkt->payload, sizeof(value));
	if (!ret)
		ret = sodp_mem_atomic(mr, pkt->va, SODP_ATOMIC_WRITE, 0, value, &unused);
	else
		ret = ret == SODP_COPY_SRC_FAULT ? -EFAULT : -EAGAIN;
	sodp_mr_put(mr);
	return sodp_resp_atomic_done(ret, ack);
access_err:
	ack->syndrome = SODP_NAK_REM_ACCESS;
	return SODP_RESP_ACCESS_ERR;
}

/*
 * Is this packet for this QP?  UD: its Q_Key.  RC and UC: it must be of
 * the QP's transport, come from the QP and the GID the QP is connected
 * to, and be addressed to the QP's own GID; anything else is another QP's
 * (or process's) packet and dropped, as a RoCE NIC drops it.
 */
static bool sodp_resp_accepts(struct sodp_qp *qp, struct sodp_pkt *pkt)
{
	if (!sodp_qp_can_receive(qp) || pkt->ud != sodp_qp_datagram(qp) ||
	    pkt->uc != (qp->ibqp.qp_type == IB_QPT_UC) ||
	    pkt->xrc != (qp->ibqp.qp_type == IB_QPT_XRC_TGT) ||
	    qp->ibqp.qp_type == IB_QPT_XRC_INI)
		return false;
	if (pkt->ud)
		return pkt->qkey == qp->qkey;
	return pkt->sqpn == qp->dest_qpn &&
	       !memcmp(&pkt->sgid, &qp->dgid, sizeof(pkt->sgid)) &&
	       !memcmp(&pkt->dgid, &qp->sgid, sizeof(pkt->dgid));
}

/*
 * An XRC target QP serves a request with the XRC SRQ its XRCETH names,
 * which must be of the QP's XRC domain: the SRQ's receive WQEs, its CQ,
 * and its PD for every region the request touches.  Bound for the packet
 * only (a reference held); false if the request may not have it.
 */
static bool sodp_resp_xrc_bind(struct sodp_qp *qp, struct sodp_pkt *pkt)
{
	struct sodp_srq *srq = sodp_srq_get(qp->dev, pkt->srqn);

	lockdep_assert_held(&qp->rq_lock);
	if (!srq)
		return false;
	if (srq->ibsrq.ext.xrc.xrcd != qp->xrcd) {
		sodp_srq_put(srq);
		return false;
	}
	qp->srq = srq;
	qp->rcq = to_scq(srq->ibsrq.ext.cq);
	return true;
}

static void sodp_resp_xrc_unbind(struct sodp_qp *qp)
{
	sodp_srq_put(qp->srq);
	qp->srq = NULL;
	qp->rcq = NULL;
}

/*
 * A request with a PSN before the expected one: the requester went back
 * (its answer was lost or late).  SEND and WRITE are acknowledged again,
 * READ is served again, an atomic gets its saved result; nothing is
 * applied twice.
 */
static enum sodp_resp_fault sodp_resp_duplicate(struct sodp_qp *qp,
						struct sodp_pkt *pkt,
						struct sodp_ack *ack)
{
	unsigned int i;

	sodp_count(qp->dev, SODP_CNT_DUP_REQ, 1);
	ack->dup = true;
	switch (pkt->op) {
	case SODP_OP_READ:
		ack->psn = pkt->psn;
		return sodp_resp_read(qp, pkt, ack, true);
	case SODP_OP_CMP_SWP:
	case SODP_OP_FETCH_ADD:
		ack->psn = pkt->psn;
		for (i = 0; i < ARRAY_SIZE(qp->resp_atomics); i++) {
			struct sodp_atomic_reply *r = &qp->resp_atomics[i];

			if (r->valid && r->psn == pkt->psn) {
				ack->orig = r->orig;
				return SODP_RESP_OK;
			}
		}
		/* Older than the results kept: not answered (IBTA allows it). */
		ack->syndrome = SODP_DROPPED;
		return SODP_RESP_OK;
	default:
		ack->psn = sodp_psn_add(qp->rq_psn, SODP_PSN_MASK);
		return SODP_RESP_OK;
	}
}

/* PSNs a request takes: a READ one per response packet. */
static u32 sodp_resp_npsn(struct sodp_qp *qp, struct sodp_pkt *pkt)
{
	if (pkt->op == SODP_OP_READ)
		return max_t(u32, 1, DIV_ROUND_UP(pkt->dma_len, qp->mtu));
	return pkt->npkts;
}

void sodp_resp_rcv(struct sodp_qp *qp, struct sodp_pkt *pkt, struct sodp_ack *ack)
{
	enum sodp_resp_fault fault = SODP_RESP_OK;
	s32 ahead;

	ack->syndrome = SODP_ACK;
	mutex_lock(&qp->rq_lock);
	if (!sodp_resp_accepts(qp, pkt)) {
		/* Silently dropped, as the wire would. */
		sodp_count(qp->dev, SODP_CNT_RCVD_DROP_QP, 1);
		ack->syndrome = SODP_DROPPED;
		goto out;
	}
	ahead = pkt->ud ? 0 : sodp_psn_diff(pkt->psn, qp->rq_psn);
	if (pkt->uc) {
		/*
		 * UC: a packet out of sequence means some were lost: the
		 * message they were of is dropped, up to the next first packet.
		 */
		if (ahead) {
			sodp_count(qp->dev, SODP_CNT_OUT_OF_SEQ, 1);
			qp->resp_uc_drop = true;
		}
		qp->rq_psn = pkt->psn;
		if (qp->resp_uc_drop && !pkt->first) {
			qp->rq_psn = sodp_psn_add(pkt->psn, pkt->npkts);
			ack->syndrome = SODP_DROPPED;
			goto done;
		}
		qp->resp_uc_drop = false;
		ahead = 0;
	} else if (ahead > 0) {
		/* Packets were lost: one sequence NAK per gap, then silence. */
		sodp_count(qp->dev, SODP_CNT_OUT_OF_SEQ, 1);
		ack->syndrome = qp->resp_nak_sent ? SODP_DROPPED : SODP_NAK_SEQ;
		ack->psn = qp->rq_psn;
		qp->resp_nak_sent = true;
		goto out;
	}
	/* An XRC request in sequence or a duplicate: the SRQ it names. */
	if (pkt->xrc && !sodp_resp_xrc_bind(qp, pkt)) {
		ack->syndrome = SODP_NAK_REM_ACCESS;
		ack->psn = pkt->psn;
		fault = SODP_RESP_ACCESS_ERR;
		goto done;
	}
	if (ahead < 0) {
		fault = sodp_resp_duplicate(qp, pkt, ack);
		goto done;
	}
	/* The rest of an XRC message is for the SRQ its WQE came from. */
	if (pkt->xrc && !pkt->first && qp->recv.active && !sodp_recv_of_srq(qp, pkt)) {
		ack->syndrome = SODP_NAK_INV_REQ;
		ack->psn = pkt->psn;
		fault = SODP_RESP_REQ_ERR;
		goto done;
	}

	switch (pkt->op) {
	case SODP_OP_SEND:
		fault = sodp_resp_send(qp, pkt, ack);
		break;
	case SODP_OP_WRITE:
		fault = sodp_resp_write(qp, pkt, ack);
		break;
	case SODP_OP_READ:
		fault = sodp_resp_read(qp, pkt, ack, false);
		break;
	case SODP_OP_ATOMIC_WRITE:
		fault = sodp_resp_atomic_write(qp, pkt, ack);
		break;
	default:
		fault = sodp_resp_atomic(qp, pkt, ack);
		break;
	}
	ack->psn = pkt->op == SODP_OP_READ || ack->syndrome != SODP_ACK ? pkt->psn :
		   sodp_psn_add(pkt->psn, pkt->npkts - 1);
	if (!pkt->ud && ack->syndrome == SODP_ACK) {
		qp->rq_psn = sodp_psn_add(qp->rq_psn, sodp_resp_npsn(qp, pkt));
		qp->resp_nak_sent = false;
		/* The MSN counts the messages done. */
		if (pkt->last)
			qp->resp_msn = sodp_psn_add(qp->resp_msn, 1);
	} else if (pkt->uc && ack->syndrome != SODP_NAK_RESEND) {
		/* Not applied, and not sent again: the rest of it is dropped. */
		qp->rq_psn = sodp_psn_add(qp->rq_psn, pkt->npkts);
		qp->resp_uc_drop = !pkt->last;
	}
	qp->resp_resend = ack->syndrome == SODP_NAK_RESEND;
done:
	ack->msn = qp->resp_msn;
	/* Nothing stays referenced past the packet. */
	sodp_mem_put(&qp->resp_mem);
out:
	if (qp->ibqp.qp_type == IB_QPT_XRC_TGT && qp->srq)
		sodp_resp_xrc_unbind(qp);
	mutex_unlock(&qp->rq_lock);

	/* Counted where a NAK goes out: UC sends none. */
	if (ack->syndrome == SODP_RNR_NAK && !pkt->uc)
		sodp_count(qp->dev, SODP_CNT_SENT_RNR_NAK, 1);
	if (ack->syndrome == SODP_NAK_REM_ACCESS && !pkt->uc)
		sodp_count(qp->dev, SODP_CNT_REM_ACCESS_ERR, 1);
	/*
	 * Errors of the sender's making end only its message on UD and UC (no
	 * NAK can tell it); the receiver's own (a receive WQE it cannot use)
	 * move a UC QP to the error state as an RC one.
	 */
	if (fault == SODP_RESP_OK || pkt->ud ||
	    (pkt->uc && fault != SODP_RESP_LOCAL_ERR))
		return;
	sodp_qp_fatal(qp, fault == SODP_RESP_ACCESS_ERR ? IB_EVENT_QP_ACCESS_ERR :
		      fault == SODP_RESP_REQ_ERR ? IB_EVENT_QP_REQ_ERR :
		      IB_EVENT_QP_FATAL);
	sodp_qp_flush_rq(qp);
}
