// SPDX-License-Identifier: GPL-2.0 OR Linux-OpenIB
/*
 * rdma_sodp: the requester.  Per QP, in sleepable work: take the next WQE
 * of the send queue, check it and its local buffers, cut it into packets of
 * the path MTU, send them, and let the completer interpret the answers.
 * A WQE that is RNR NAKed or unanswered stays at the head of the queue and
 * is retried by a delayed work; other QPs go on meanwhile.
 *
 * Copyright (c) 2026 The sodp authors.
 */

#include <rdma/ib_cache.h>

#include "sodp_pkt.h"
#include "sodp_udp.h"

/* The operation a WQE asks for, or an error status if the QP cannot do it. */
int sodp_req_decode(struct sodp_qp *qp, const struct sodp_send_wqe *wqe,
			   struct sodp_pkt *pkt)
{
	bool rc = qp->ibqp.qp_type == IB_QPT_RC ||
		  qp->ibqp.qp_type == IB_QPT_XRC_INI;

	pkt->ud = sodp_qp_datagram(qp);
	pkt->uc = qp->ibqp.qp_type == IB_QPT_UC;
	/* XRC: every request names the remote XRC SRQ (24 bits). */
	pkt->xrc = qp->ibqp.qp_type == IB_QPT_XRC_INI;
	pkt->srqn = pkt->xrc ? wqe->xrc_srqn & SODP_PSN_MASK : 0;
	switch (wqe->opcode) {
	case IB_WR_SEND_WITH_IMM:
		pkt->imm = true;
		fallthrough;
	case IB_WR_SEND:
		pkt->op = SODP_OP_SEND;
		return 0;
	case IB_WR_SEND_WITH_INV:
		pkt->op = SODP_OP_SEND;
		pkt->inv = true;
		break;
	case IB_WR_REG_MR:
		pkt->op = SODP_OP_REG_MR;
		/* A process cannot name a kernel region: no user QP does this. */
		return qp->is_user ? IB_WC_LOC_QP_OP_ERR : 0;
	case IB_WR_LOCAL_INV:
		pkt->op = SODP_OP_LOCAL_INV;
		return 0;
	case IB_WR_BIND_MW:
		pkt->op = SODP_OP_BIND_MW;
		return pkt->ud ? IB_WC_LOC_QP_OP_ERR : 0;
	case IB_WR_RDMA_WRITE_WITH_IMM:
		pkt->imm = true;
		fallthrough;
	case IB_WR_RDMA_WRITE:
		pkt->op = SODP_OP_WRITE;
		return pkt->ud ? IB_WC_LOC_QP_OP_ERR : 0;
	case IB_WR_RDMA_READ:
		pkt->op = SODP_OP_READ;
		break;
	case IB_WR_ATOMIC_CMP_AND_SWP:
		pkt->op = SODP_OP_CMP_SWP;
		break;
	case IB_WR_ATOMIC_FETCH_AND_ADD:
		pkt->op = SODP_OP_FETCH_ADD;
		break;
	case SODP_WR_ATOMIC_WRITE:
		pkt->op = SODP_OP_ATOMIC_WRITE;
		/* A process's (the kernel has no such work request here). */
		if (!qp->is_user)
			return IB_WC_LOC_QP_OP_ERR;
		break;
	default:
		return IB_WC_LOC_QP_OP_ERR;
	}
	return rc ? 0 : IB_WC_LOC_QP_OP_ERR;
}

/**
 * sodp_req_local_op - run a REG_MR, BIND_MW or LOCAL_INV work request
 * @qp: the QP it was posted to
 * @wqe: the request
 * @op: the local operation, from sodp_req_decode()
 *
 * Return: its completion status.
 */
int sodp_req_local_op(struct sodp_qp *qp, const struct sodp_send_wqe *wqe,
		      enum sodp_op op)
{
	switch (op) {
	case SODP_OP_REG_MR:
		return sodp_mr_fast_reg(qp, wqe) ? IB_WC_LOC_QP_OP_ERR : IB_WC_SUCCESS;
	case SODP_OP_BIND_MW:
		return sodp_mw_bind(qp, wqe) ? IB_WC_MW_BIND_ERR : IB_WC_SUCCESS;
	default:
		return sodp_mr_invalidate(qp, wqe->ex, false) ? IB_WC_LOC_QP_OP_ERR :
								IB_WC_SUCCESS;
	}
}

/* Resolve the WQE's local buffers (or inline data) into @local. */
int sodp_req_local(struct sodp_qp *qp, struct sodp_send_wqe *wqe,
			  struct sodp_pkt *pkt, struct sodp_mem *local, u32 *len)
{
	bool inbound = !sodp_op_outbound(pkt->op);
	int access = inbound ? IB_ACCESS_LOCAL_WRITE : 0;
	u64 total = 0;
	u32 i;

	sodp_mem_init(local);
	/* Atomic write: its 8 bytes are in the WQE. */
	if (pkt->op == SODP_OP_ATOMIC_WRITE) {
		sodp_mem_add_kbuf(local, &wqe->compare_add, sizeof(wqe->compare_add));
		*len = sizeof(wqe->compare_add);
		return 0;
	}
	if ((wqe->send_flags & IB_SEND_INLINE) && !inbound) {
		if (wqe->num_sge > qp->max_inline)
			return IB_WC_LOC_LEN_ERR;
		sodp_mem_add_kbuf(local, wqe->inline_data, wqe->num_sge);
		*len = wqe->num_sge;
		return 0;
	}
	if (wqe->num_sge > qp->max_send_sge)
		return IB_WC_LOC_LEN_ERR;
	if (sodp_mem_add_sges(local, qp, wqe->sge, wqe->num_sge, access))
		return IB_WC_LOC_PROT_ERR;
	for (i = 0; i < wqe->num_sge; i++)
		total += wqe->sge[i].length;
	if (total > SODP_MAX_MSG_SIZE ||
	    (!inbound && pkt->ud && total > qp->mtu) ||
	    (inbound && pkt->op != SODP_OP_READ && total < sizeof(u64))) {
		sodp_mem_put(local);
		return IB_WC_LOC_LEN_ERR;
	}
	*len = total;
	return 0;
}

/* Address the packet: the QP's path (RC) or the WQE's AH (UD). */
static struct sodp_qp *sodp_req_route(struct sodp_qp *qp, struct sodp_send_wqe *wqe,
				      struct sodp_pkt *pkt)
{
	pkt->sqpn = qp->ibqp.qp_num;
	if (!pkt->ud) {
		pkt->dgid = qp->dgid;
		pkt->dqpn = qp->dest_qpn;
		pkt->sgid = qp->sgid;
		pkt->net_type = qp->net_type;
	} else {
		struct xarray *ahs = &qp->dev->ahs;
		struct sodp_ah *ah;
		bool found = false;

		/* The core frees an AH when destroy_ah returns: copy it under the lock. */
		xa_lock_irq(ahs);
		ah = xa_load(ahs, wqe->ah);
		/* An AH of another PD (or process) is no AH. */
		if (ah && ah->ibah.pd == qp->ibqp.pd) {
			pkt->dgid = ah->dgid;
			pkt->sgid = ah->sgid;
			pkt->net_type = ah->net_type;
			pkt->tclass = ah->tclass;
			pkt->hop_limit = ah->hop_limit;
			pkt->flow_label = ah->flow_label;
			found = true;
		}
		xa_unlock_irq(ahs);
		if (!found)
			return ERR_PTR(-EINVAL);
		pkt->dqpn = wqe->remote_qpn;
		pkt->qkey = (wqe->remote_qkey & 0x80000000) ? qp->qkey : wqe->remote_qkey;
	}
	/* A group is no QP of a device (sodp_mcast_send() reaches it). */
	if (sodp_gid_is_mcast(&pkt->dgid))
		return NULL;
	return sodp_net_connect(qp->dev, &pkt->dgid, pkt->dqpn);
}

/*
 * Times one packet is sent again after the responder could not apply it
 * (a page not to be had at that moment, see SODP_NAK_RESEND); then the
 * WQE fails as a transport retry would.  Reached only when pages are taken
 * back over and over faster than they can be used.
 */
#define SODP_RESEND_MAX		1000

/* Number of packets (PSNs) a message of @len bytes takes. */
static u32 sodp_npkts(u32 len, u32 mtu)
{
	return len ? DIV_ROUND_UP(len, mtu) : 1;
}

/* Did the responder read the payload (or try to) before it answered? */
static bool sodp_req_payload_read(const struct sodp_ack *ack)
{
	return ack->syndrome != SODP_DROPPED && ack->syndrome != SODP_NAK_SEQ &&
	       ack->syndrome != SODP_RNR_NAK && ack->syndrome != SODP_NAK_INV_REQ &&
	       ack->syndrome != SODP_NAK_REM_ACCESS;
}

/*
 * A NIC reads what it sends before anything answers it.  We let the
 * responder read our on-demand pages instead (no walk when they are
 * mapped), so when it answered without reading them, a page with no VMA
 * (or none we may read) is found here: the WQE fails as it would have
 * before anything was sent, rather than succeed (UD) or wait for a
 * receiver (RNR).  A fault failing for a reason of the moment is not the
 * memory's: the answer stands.
 */
static bool sodp_req_payload_missing(struct sodp_mem *local, u32 off, u32 len)
{
	int ret = sodp_mem_prefault(local, off, len, false);

	return ret && sodp_mem_fault_is_hard(ret);
}

/*
 * Send one packet (bytes [@off, @off + pkt->paylen) of @local for SEND and
 * WRITE) and interpret its answer.  A packet the responder did not apply
 * is sent again, our own pages of it faulted in first.  Returns the
 * completer's status.
 */
static int sodp_req_packet(struct sodp_qp *qp, struct sodp_qp *dst,
			   struct sodp_pkt *pkt, struct sodp_mem *local, u32 off)
{
	bool inbound = !sodp_op_outbound(pkt->op);
	unsigned int resends = 0;
	struct sodp_ack ack;
	int status;

	for (;;) {
		sodp_mem_seek(local, off);
		memset(&ack, 0, sizeof(ack));
		if (dst)
			sodp_net_xmit(dst, pkt, &ack);
		else
			ack.syndrome = SODP_DROPPED;
		sodp_count(qp->dev, SODP_CNT_SENT_PKTS, pkt->npkts);
		status = sodp_comp_ack(qp, pkt, &ack, local);
		if (!inbound && !sodp_req_payload_read(&ack) &&
		    sodp_req_payload_missing(local, off, pkt->paylen))
			return IB_WC_LOC_PROT_ERR;
		if (status != SODP_REQ_RESEND)
			return status;
		sodp_count(qp->dev, SODP_CNT_ODP_RESENDS, 1);
		if (++resends > SODP_RESEND_MAX)
			return IB_WC_RETRY_EXC_ERR;
		if (sodp_mem_prefault(local, off, inbound ? U32_MAX : pkt->paylen, inbound))
			return IB_WC_LOC_PROT_ERR;
		cond_resched();
	}
}

/*
 * Run one WQE to its end.  Returns the completion status, or SODP_REQ_WAIT
 * when it is to be retried later.
 */
static int sodp_req_execute(struct sodp_qp *qp, struct sodp_send_wqe *wqe,
			    u32 *byte_len)
{
	struct sodp_pkt pkt = {};
	struct sodp_mem local;
	struct sodp_qp *dst;
	u32 len = 0, off = 0, psn = qp->sq_psn;
	bool inbound;
	int status;

	status = sodp_req_decode(qp, wqe, &pkt);
	if (status)
		return status;
	if (sodp_op_is_local(pkt.op))
		return sodp_req_local_op(qp, wqe, pkt.op);
	status = sodp_req_local(qp, wqe, &pkt, &local, &len);
	if (status)
		return status;
	*byte_len = len;
	/*
	 * On-demand pages of the local buffers are not faulted here, which
	 * would cost a walk per message when they are mapped (the usual
	 * case): the responder reads what we send only where it is mapped
	 * and otherwise asks for a resend, before which sodp_req_packet()
	 * faults it in; responses land through holds that fault.
	 */
	inbound = !sodp_op_outbound(pkt.op);

	dst = sodp_req_route(qp, wqe, &pkt);
	if (IS_ERR(dst)) {
		sodp_mem_put(&local);
		return IB_WC_LOC_QP_OP_ERR;
	}
	pkt.solicited = wqe->send_flags & IB_SEND_SOLICITED;
	pkt.ex = wqe->ex;
	pkt.va = wqe->remote_addr;
	pkt.rkey = wqe->rkey;
	pkt.dma_len = len;
	pkt.compare = wqe->compare_add;
	pkt.swap_add = pkt.op == SODP_OP_CMP_SWP ? wqe->swap : wqe->compare_add;
	pkt.payload = &local;

	/* A group's members, here and on the wire. */
	if (pkt.ud && sodp_gid_is_mcast(&pkt.dgid)) {
		status = sodp_mcast_send(qp, &pkt, &local, len);
		sodp_mem_put(&local);
		return status;
	}
	/* A UD or UC destination that is no QP of this kernel: on the wire. */
	if ((pkt.ud || pkt.uc) && !dst && sodp_udp_ready(qp->dev, pkt.net_type)) {
		status = pkt.ud ? sodp_wire_ud_send(qp, &pkt, &local, len) :
				  sodp_wire_uc_send(qp, &pkt, &local, len);
		sodp_mem_put(&local);
		return status;
	}
	if (!inbound) {
		u32 burst = pkt.ud ? qp->mtu : max_t(u32, qp->mtu,
			    rounddown(SODP_BURST_BYTES, qp->mtu));

		/* The responder reads these pages; only we fault them. */
		local.no_fault = true;
		do {
			pkt.paylen = min(len - off, burst);
			pkt.npkts = sodp_npkts(pkt.paylen, qp->mtu);
			pkt.first = !off;
			pkt.last = off + pkt.paylen == len;
			pkt.psn = psn;
			status = sodp_req_packet(qp, dst, &pkt, &local, off);
			sodp_count(qp->dev, SODP_CNT_SENT_BYTES, pkt.paylen);
			if (status)
				break;
			psn = (psn + pkt.npkts) & 0xffffff;
			off += pkt.paylen;
		} while (off < len);
	} else {
		pkt.first = pkt.last = true;
		pkt.npkts = 1;
		pkt.psn = psn;
		status = sodp_req_packet(qp, dst, &pkt, &local, 0);
		if (!status)
			psn = (psn + (pkt.op == SODP_OP_READ ? sodp_npkts(len, qp->mtu) : 1)) &
			      0xffffff;
	}

	if (dst)
		sodp_net_disconnect(dst);
	sodp_mem_put(&local);
	/* A retried WQE starts again from its first PSN. */
	if (status != SODP_REQ_WAIT)
		qp->sq_psn = psn;
	return status;
}

static void sodp_req_flush(struct sodp_qp *qp)
{
	struct sodp_send_wqe copy;

	while (sodp_queue_pop(&qp->sq, &copy))
		sodp_comp_send(qp, &copy, IB_WC_WR_FLUSH_ERR, 0);
	qp->waiting = false;
}

/*
 * Run the send queue for at most @budget WQEs; called with sq_lock held.
 * Returns true if WQEs are left that nothing else will start.
 */
static bool sodp_req_run(struct sodp_qp *qp, unsigned int budget)
{
	struct sodp_send_wqe wqe;

	lockdep_assert_held(&qp->sq_lock);
	for (;;) {
		enum ib_qp_state state = READ_ONCE(qp->state);
		u32 n, byte_len = 0;
		int status;

		if (state == IB_QPS_ERR) {
			sodp_req_flush(qp);
			sodp_qp_flush_rq(qp);
			return false;
		}
		if (state != IB_QPS_RTS || delayed_work_pending(&qp->retry_work))
			return false;
		n = sodp_queue_count(&qp->sq);
		if (!n)
			return false;
		if (!budget--)
			return true;
		if (n > qp->sq.num_slots) {
			/* The process wrote a producer index past its ring. */
			sodp_qp_fatal(qp, IB_EVENT_QP_FATAL);
			continue;
		}
		/* Copy first: the process may rewrite the slot meanwhile. */
		memcpy(&wqe, sodp_queue_slot(&qp->sq, qp->sq.cons), sizeof(wqe));
		if (!qp->waiting) {
			qp->rnr_left = qp->rnr_retry;
			qp->retry_left = qp->retry_cnt;
		}
		qp->waiting = false;
		status = sodp_req_execute(qp, &wqe, &byte_len);
		if (status == SODP_REQ_WAIT)
			return false;
		sodp_queue_consume(&qp->sq);
		sodp_comp_send(qp, &wqe, status, byte_len);
		if (status != IB_WC_SUCCESS)
			sodp_qp_error(qp);
		cond_resched();
	}
}

/* WQEs the work runs before it lets go of sq_lock (a RESET may wait). */
#define SODP_WORK_BUDGET	64

/* How long after a write fault of the device a stream's WQEs still run in its doorbell. */
#define SODP_FAULTING_HOLD	(HZ / 50)

/*
 * Run the send queue (budget WQEs), under sq_lock; if the device faulted
 * pages in for writing meanwhile, the QP's streams run in their doorbells
 * for a while.
 */
static bool sodp_req_run_noting_faults(struct sodp_qp *qp, unsigned int budget)
{
	s64 clock = ib_umem_hmm_write_faults(&qp->dev->hmm);
	bool more;

	more = qp->wire ? sodp_wire_req_run(qp, budget) : sodp_req_run(qp, budget);
	if (ib_umem_hmm_write_faults(&qp->dev->hmm) != clock)
		WRITE_ONCE(qp->faulting_until, jiffies + SODP_FAULTING_HOLD);
	return more;
}

void sodp_req_work(struct work_struct *work)
{
	struct sodp_qp *qp = container_of(work, struct sodp_qp, req_work);
	struct sodp_ring *ring = qp->sq.ring;
	u32 seen;
	bool more;

	mutex_lock(&qp->sq_lock);
	seen = READ_ONCE(ring->producer);
	more = sodp_req_run_noting_faults(qp, SODP_WORK_BUDGET);
	mutex_unlock(&qp->sq_lock);
	if (more) {
		sodp_req_kick(qp);
		return;
	}
	/*
	 * Idle: from here on a post rings the doorbell.  A WQE posted while
	 * engine_busy was still set (its doorbell skipped) is seen by the
	 * producer check after the fence (see struct sodp_ring).
	 */
	WRITE_ONCE(ring->engine_busy, 0);
	smp_mb();	/* pairs with the provider's, after its producer store */
	if (READ_ONCE(ring->producer) != seen)
		sodp_req_kick(qp);
}

/*
 * Have the requester work run the send queue (or flush it, in error).
 * Until it has run and idled, posts need no doorbell.
 */
void sodp_req_kick(struct sodp_qp *qp)
{
	WRITE_ONCE(qp->sq.ring->engine_busy, 1);
	queue_work(sodp_wq, &qp->req_work);
}

/* WQEs a doorbell runs in the caller's context before handing over. */
#define SODP_DOORBELL_BUDGET	16

/*
 * WQEs the requester has not started, as the doorbell sees them without
 * sq_lock (a hint: a torn view only sends the doorbell to the work).  On
 * the wire, WQEs sent and not yet acknowledged are in the ring too.
 */
static u32 sodp_req_unstarted(struct sodp_qp *qp)
{
	u32 n = sodp_queue_count(&qp->sq);

	if (READ_ONCE(qp->wire))
		n -= READ_ONCE(qp->w.copied) - READ_ONCE(qp->sq.cons);
	return n;
}

/*
 * Can the work run beside the caller?  The unbound work runs on the CPUs
 * of the caller's NUMA node (from 6.5 by default those sharing its cache,
 * not strictly): with no other in the node, a hand-off would most likely
 * only add a switch.
 */
static bool sodp_req_cpu_beside(void)
{
	return cpumask_weight_and(cpumask_of_node(numa_node_id()),
				  cpu_online_mask) > 1;
}

/*
 * A user QP's doorbell, in the process's own (sleepable) context.  A lone
 * new WQE (the latency case: the process waits for its completion) starts
 * right here, as a NIC would start at once.  With more queued, or posted
 * in a stream (the provider's hint, untrusted: it only picks between the
 * two), the work runs them on another CPU while the process goes on
 * posting, ringing no more until the work idles.  A stream stays here
 * with no CPU beside, and while the device faults pages in for writing: a
 * first touch's cost (allocating and clearing pages, here or by the
 * fault-ahead work) is then the process's to pay, as for its own page
 * faults, and the other CPUs are left to the fault-ahead work.  Faults for
 * reading, which mostly map pages the CPU has, are the requester work's
 * to take beside the process.
 */
void sodp_req_doorbell(struct sodp_qp *qp)
{
	bool hand_off = READ_ONCE(qp->sq.ring->stream) &&
			time_after_eq(jiffies, READ_ONCE(qp->faulting_until)) &&
			sodp_req_cpu_beside();
	bool more;

	sodp_count(qp->dev, SODP_CNT_DOORBELLS, 1);
	if (hand_off || sodp_req_unstarted(qp) > 1 || !mutex_trylock(&qp->sq_lock)) {
		sodp_req_kick(qp);
		return;
	}
	more = sodp_req_run_noting_faults(qp, SODP_DOORBELL_BUDGET);
	mutex_unlock(&qp->sq_lock);
	if (more)
		sodp_req_kick(qp);
}

/* The head WQE's RNR or ACK timer expired: run it again. */
void sodp_retry_work(struct work_struct *work)
{
	struct sodp_qp *qp = container_of(to_delayed_work(work), struct sodp_qp,
					  retry_work);

	/* On the wire the requester looks at what was answered since. */
	WRITE_ONCE(qp->w.timer_fired, true);
	sodp_req_kick(qp);
}
