// SPDX-License-Identifier: GPL-2.0 OR Linux-OpenIB
/*
 * rdma_sodp: an RC QP whose peer is on the wire: the requester and the
 * completer, both under the QP's sq_lock (the requester in its work, the
 * completer in the device's receive work).
 *
 * The requester sends the packets of the WQEs in order, up to a window of
 * unacknowledged PSNs and max_rd_atomic READs and atomics in flight,
 * asking for an ACK on each message's last packet, every quarter window
 * of a long one and on the packet that fills the window.  The window
 * (READ responses included) adapts to loss as TCP's does: it doubles per
 * round trip up to a threshold, then grows by one PSN per window
 * acknowledged; a loss halves it, a timeout shrinks it to the least.
 * RoCE has no congestion control of its own: a fixed burst larger than
 * what the path buffers is lost whole, again and again.  A WQE is copied out of the ring when its first
 * packet is built, and stays in the ring until it completes.
 *
 * The completer takes ACKs (coalesced: one stands for every PSN up to
 * its own), READ responses and atomic ACKs, in PSN order, and completes
 * WQEs in ring order.  A sequence NAK, a response past the expected PSN or
 * the retransmit timer (the QP's timeout, retry_cnt times) send again from
 * the oldest PSN not acknowledged (go-back-N; what was acknowledged
 * stays done, a READ asks only for the rest); an RNR NAK waits the timer
 * it carries (rnr_retry times); other NAKs fail the WQE and the QP.
 *
 * Copyright (c) 2026 The sodp authors.
 */

#include "sodp_pkt.h"

/* The window of PSNs sent and not acknowledged: most, least, first. */
#define SODP_WIRE_WINDOW_MAX	256
#define SODP_WIRE_WINDOW_MIN	4
#define SODP_WIRE_WINDOW_INIT	32
/* Packets a response sends in the receive work; the requester's work the rest. */
#define SODP_WIRE_ACK_BUDGET	16
/* Times a packet is built again when a page of ours was busy. */
#define SODP_WIRE_SEND_TRIES	16
/*
 * PSNs outstanding at most, READs included: well inside half the PSN
 * space, so that PSN comparisons stay right.  A READ longer than this
 * many packets (over 1 GiB at a 256-byte MTU) is refused.
 */
#define SODP_WIRE_PSN_SPAN	(1U << 22)

static struct sodp_wire_wqe *sodp_wire_wqe(struct sodp_qp *qp, u32 index)
{
	return &qp->w.wqes[index & (qp->sq.num_slots - 1)];
}

/*
 * Is the QP's peer reached over RoCEv2?  A peer GID of a sodp device of
 * this kernel (and namespace) is reached by the in-kernel path; any other
 * over the wire, when the device has it.
 */
static bool sodp_wire_remote(struct sodp_qp *qp)
{
	struct sodp_dev *peer = sodp_find_dev_by_gid(qp->dev, &qp->dgid);

	if (!peer)
		return sodp_udp_ready(qp->dev, qp->net_type);
	ib_device_put(&peer->ibdev);
	return false;
}

/**
 * sodp_wire_req_attach - choose how an RC QP reaches its peer, at RTR
 * @qp: the QP, with sq_lock held (the requester is not running)
 *
 * Return: 0 or -ENOMEM.
 */
int sodp_wire_req_attach(struct sodp_qp *qp)
{
	lockdep_assert_held(&qp->sq_lock);
	WRITE_ONCE(qp->wire, false);
	if (!sodp_wire_remote(qp))
		return 0;
	if (!qp->w.wqes) {
		qp->w.wqes = kvcalloc(qp->sq.num_slots, sizeof(*qp->w.wqes),
				      GFP_KERNEL_ACCOUNT);
		if (!qp->w.wqes)
			return -ENOMEM;
	}
	WRITE_ONCE(qp->wire, true);
	sodp_wire_req_reset(qp);
	return 0;
}

/* Nothing in flight: the state a fresh QP has (sq_lock held). */
void sodp_wire_req_reset(struct sodp_qp *qp)
{
	struct sodp_wire_req *w = &qp->w;

	WRITE_ONCE(w->copied, qp->sq.cons);	/* the doorbell peeks */
	w->next = qp->sq.cons;
	w->next_pkt = 0;
	w->rd_out = 0;
	w->since_ackreq = 0;
	w->cwnd = SODP_WIRE_WINDOW_INIT;
	w->cwnd_acked = 0;
	w->ssthresh = SODP_WIRE_WINDOW_MAX;
	w->recover_valid = false;
	w->gap_valid = false;
	w->rnr_wait = false;
	WRITE_ONCE(w->timer_fired, false);
	qp->retry_left = qp->retry_cnt;
	qp->rnr_left = qp->rnr_retry;
}

void sodp_wire_req_free(struct sodp_qp *qp)
{
	kvfree(qp->w.wqes);
	qp->w.wqes = NULL;
}

/*
 * Does the QP finish what it sent?  In RTS, and in SQD (which only stops
 * new WQEs from starting).
 */
static bool sodp_wire_sending(struct sodp_qp *qp)
{
	enum ib_qp_state state = READ_ONCE(qp->state);

	return state == IB_QPS_RTS || state == IB_QPS_SQD;
}

/* PSNs sent and not acknowledged? */
static bool sodp_wire_outstanding(struct sodp_qp *qp)
{
	return qp->w.una != qp->w.high;
}

/* (Re)arm the retransmit timer while PSNs are outstanding. */
static void sodp_wire_timer(struct sodp_qp *qp, bool restart)
{
	struct sodp_wire_req *w = &qp->w;
	unsigned long delay = sodp_ack_timeout(qp->timeout);

	if (w->rnr_wait)
		return;
	if (!sodp_wire_outstanding(qp)) {
		cancel_delayed_work(&qp->retry_work);
		return;
	}
	if (restart || !delayed_work_pending(&qp->retry_work)) {
		w->timer_una = w->una;
		mod_delayed_work(sodp_wq, &qp->retry_work, delay);
	}
}

/* @n more PSNs acknowledged (una moved): the window grows. */
static void sodp_wire_window_grow(struct sodp_wire_req *w, u32 n)
{
	/* Past what was in flight at the last cut: a new loss cuts again. */
	if (w->recover_valid && sodp_psn_diff(w->una, w->recover) >= 0)
		w->recover_valid = false;
	if (w->cwnd < w->ssthresh) {
		w->cwnd = min(w->cwnd + n, w->ssthresh);
		return;
	}
	w->cwnd_acked += n;
	while (w->cwnd_acked >= w->cwnd && w->cwnd < SODP_WIRE_WINDOW_MAX) {
		w->cwnd_acked -= w->cwnd;
		w->cwnd++;
	}
	if (w->cwnd == SODP_WIRE_WINDOW_MAX)
		w->cwnd_acked = 0;
}

/*
 * Packets were lost (before the go-back that sends them again): the
 * window shrinks, once for all the losses of what was in flight.
 */
static void sodp_wire_window_cut(struct sodp_qp *qp, bool timeout)
{
	struct sodp_wire_req *w = &qp->w;

	if (w->recover_valid && !timeout)
		return;
	w->ssthresh = max_t(u32, w->cwnd / 2, SODP_WIRE_WINDOW_MIN);
	w->cwnd = timeout ? SODP_WIRE_WINDOW_MIN : w->ssthresh;
	w->cwnd_acked = 0;
	w->recover = w->high;
	w->recover_valid = true;
}

/* Complete the oldest WQE and let go of it. */
static void sodp_wire_complete(struct sodp_qp *qp, enum ib_wc_status status)
{
	struct sodp_wire_wqe *ww = sodp_wire_wqe(qp, qp->sq.cons);
	struct sodp_wire_req *w = &qp->w;

	if (ww->rd_atomic && qp->sq.cons != w->next)
		w->rd_out--;
	if (qp->sq.cons == w->next) {
		/* Not (or not all) sent: it ends here. */
		w->next++;
		w->next_pkt = 0;
	}
	/*
	 * The slot is free before its completion is seen (the process may
	 * post into it at once); ours is the copy.
	 */
	sodp_queue_consume(&qp->sq);
	sodp_comp_send(qp, &ww->wqe, status, ww->len);
}

/* The oldest WQE failed: complete it in error, and the QP goes to error. */
static void sodp_wire_fail(struct sodp_qp *qp, enum ib_wc_status status)
{
	if (qp->sq.cons == qp->w.copied)
		return;
	sodp_wire_complete(qp, status);
	cancel_delayed_work(&qp->retry_work);
	sodp_qp_error(qp);
}

/* In error: every WQE completes flushed, those in flight from their copy. */
static void sodp_wire_flush(struct sodp_qp *qp)
{
	struct sodp_send_wqe copy;

	while (qp->sq.cons != qp->w.copied) {
		struct sodp_wire_wqe *ww = sodp_wire_wqe(qp, qp->sq.cons);

		sodp_queue_consume(&qp->sq);
		sodp_comp_send(qp, &ww->wqe, IB_WC_WR_FLUSH_ERR, 0);
	}
	while (sodp_queue_pop(&qp->sq, &copy))
		sodp_comp_send(qp, &copy, IB_WC_WR_FLUSH_ERR, 0);
	cancel_delayed_work(&qp->retry_work);
	sodp_wire_req_reset(qp);
}

/*
 * Send on from PSN @psn, at most the next PSN never sent: the WQE holding
 * it and all after it are sent (again), from that packet on.
 */
static void sodp_wire_seek(struct sodp_qp *qp, u32 psn)
{
	struct sodp_wire_req *w = &qp->w;
	u32 i, rd_out = 0;

	for (i = qp->sq.cons; i != w->copied; i++) {
		struct sodp_wire_wqe *ww = sodp_wire_wqe(qp, i);
		s32 k = sodp_psn_diff(psn, ww->psn);

		/* A WQE that failed before its first packet holds no PSN. */
		if (k == 0 || (k > 0 && k < ww->npsn))
			break;
		rd_out += ww->rd_atomic;
	}
	w->next = i;
	w->next_pkt = i == w->copied ? 0 : sodp_psn_diff(psn, sodp_wire_wqe(qp, i)->psn);
	w->rd_out = rd_out;
	qp->sq_psn = psn;
}

/* Send again from the outstanding PSN @psn (go-back-N). */
static void sodp_wire_go_back(struct sodp_qp *qp, u32 psn)
{
	if (sodp_psn_diff(psn, qp->w.una) >= 0 && sodp_psn_diff(psn, qp->sq_psn) < 0)
		sodp_wire_seek(qp, psn);
}

/*
 * Every PSN up to @psn is acknowledged: complete the SEND and WRITE WQEs
 * it covers (a READ or an atomic completes by its response only).
 */
static void sodp_wire_acked(struct sodp_qp *qp, u32 psn)
{
	struct sodp_wire_req *w = &qp->w;
	u32 una = w->una;

	/* Beyond sq_psn after a go-back: it was sent before. */
	if (sodp_psn_diff(psn, w->una) < 0 || sodp_psn_diff(psn, w->high) >= 0)
		return;
	while (qp->sq.cons != w->copied) {
		struct sodp_wire_wqe *ww = sodp_wire_wqe(qp, qp->sq.cons);
		u32 last = sodp_psn_add(ww->psn, ww->npsn - 1);

		/* A local operation at the head runs in sodp_wire_req_run(). */
		if (ww->status || ww->rd_atomic || ww->local_op ||
		    sodp_psn_diff(psn, last) < 0)
			break;
		w->una = sodp_psn_add(last, 1);
		sodp_wire_complete(qp, IB_WC_SUCCESS);
	}
	/* Part of a long message. */
	if (qp->sq.cons != w->copied && !sodp_wire_wqe(qp, qp->sq.cons)->rd_atomic &&
	    !sodp_wire_wqe(qp, qp->sq.cons)->local_op && sodp_psn_diff(psn, w->una) >= 0)
		w->una = sodp_psn_add(psn, 1);
	if (w->una != una) {
		/* The go-back resent less than was acknowledged: on from there. */
		if (sodp_psn_diff(w->una, qp->sq_psn) > 0)
			sodp_wire_seek(qp, w->una);
		sodp_wire_window_grow(w, sodp_psn_diff(w->una, una));
		qp->retry_left = qp->retry_cnt;
		qp->rnr_left = qp->rnr_retry;
		w->gap_valid = false;
		sodp_wire_timer(qp, true);
	}
}

/* A response past the expected PSN: those between were lost. */
static void sodp_wire_gap(struct sodp_qp *qp)
{
	struct sodp_wire_req *w = &qp->w;

	/* Once per PSN: the responses already on their way would repeat it. */
	if (w->gap_valid && w->gap_una == w->una)
		return;
	w->gap_valid = true;
	w->gap_una = w->una;
	sodp_count(qp->dev, SODP_CNT_RETRANSMITS, 1);
	sodp_wire_window_cut(qp, false);
	sodp_wire_go_back(qp, w->una);
}

/* Land @len bytes at @off of the oldest WQE's local buffers. */
static int sodp_wire_land(struct sodp_qp *qp, struct sodp_wire_wqe *ww, u32 off,
			  void *data, u32 len)
{
	struct sodp_pkt pkt = {};
	struct sodp_mem local, src;
	u32 total;
	int ret;

	if (sodp_req_decode(qp, &ww->wqe, &pkt) ||
	    sodp_req_local(qp, &ww->wqe, &pkt, &local, &total))
		return IB_WC_LOC_PROT_ERR;
	sodp_mem_init(&src);
	sodp_mem_add_kbuf(&src, data, len);
	ret = sodp_comp_land(&local, off, &src, len);
	sodp_mem_put(&local);
	switch (ret) {
	case SODP_COPY_OK:
		return IB_WC_SUCCESS;
	case SODP_COPY_AGAIN:
		return -EAGAIN;
	case SODP_COPY_SHORT:
		return IB_WC_LOC_LEN_ERR;
	default:
		return IB_WC_LOC_PROT_ERR;
	}
}

/* A READ response or an atomic ACK for the oldest WQE, in PSN order. */
static void sodp_wire_response(struct sodp_qp *qp, struct sodp_wire_rx *rx, u32 psn)
{
	struct sodp_wire_req *w = &qp->w;
	struct sodp_wire_wqe *ww;
	bool read = rx->flags & SODP_WF_READ;
	u32 off, want;
	u64 orig;
	int ret;

	if (qp->sq.cons == w->next)
		return;		/* nothing sent whole is waiting for it */
	ww = sodp_wire_wqe(qp, qp->sq.cons);
	if (!ww->rd_atomic || read != (ww->wqe.opcode == IB_WR_RDMA_READ))
		return;
	if (psn != w->una) {
		if (sodp_psn_diff(psn, w->una) > 0)
			sodp_wire_gap(qp);
		return;		/* a duplicate */
	}
	if (read) {
		off = (u32)sodp_psn_diff(psn, ww->psn) * qp->mtu;
		want = min(qp->mtu, ww->len - off);
		if (rx->paylen != want) {
			sodp_count(qp->dev, SODP_CNT_RCVD_DROP_BAD, 1);
			return;
		}
		ret = want ? sodp_wire_land(qp, ww, off, rx->payload, want) : 0;
	} else {
		orig = atmack_orig(rx->bth + rx->l.atmack);
		ret = sodp_wire_land(qp, ww, 0, &orig, sizeof(orig));
	}
	if (ret == -EAGAIN)
		return;		/* our page was busy: the timer asks again */
	if (ret) {
		sodp_wire_fail(qp, ret);
		return;
	}
	w->una = sodp_psn_add(psn, 1);
	sodp_wire_window_grow(w, 1);
	qp->retry_left = qp->retry_cnt;
	qp->rnr_left = qp->rnr_retry;
	w->gap_valid = false;
	if (w->una == sodp_psn_add(ww->psn, ww->npsn))
		sodp_wire_complete(qp, IB_WC_SUCCESS);
	sodp_wire_timer(qp, true);
}

static enum ib_wc_status sodp_wire_nak_status(u8 syndrome)
{
	switch (syndrome) {
	case SODP_AETH_NAK_INV_REQ:
		return IB_WC_REM_INV_REQ_ERR;
	case SODP_AETH_NAK_REM_ACC:
		return IB_WC_REM_ACCESS_ERR;
	default:
		return IB_WC_REM_OP_ERR;
	}
}

static void sodp_wire_ack(struct sodp_qp *qp, struct sodp_wire_rx *rx, u32 psn)
{
	u8 syndrome = aeth_syndrome(rx->bth + rx->l.aeth);
	struct sodp_wire_req *w = &qp->w;
	struct sodp_wire_wqe *ww;

	switch (syndrome & SODP_AETH_TYPE_MASK) {
	case SODP_AETH_ACK:
		sodp_wire_acked(qp, psn);
		/*
		 * Acknowledged past a READ or atomic whose response did not
		 * come: it was lost.
		 */
		if (qp->sq.cons != w->next) {
			ww = sodp_wire_wqe(qp, qp->sq.cons);
			/*
			 * (Only ACKs below sq_psn: one beyond a go-back was
			 * sent before the READ was asked for again.)
			 */
			if (ww->rd_atomic && sodp_psn_diff(psn, ww->psn) >= 0 &&
			    sodp_psn_diff(psn, qp->sq_psn) < 0)
				sodp_wire_gap(qp);
		}
		return;
	case SODP_AETH_RNR_NAK:
		sodp_wire_acked(qp, sodp_psn_add(psn, SODP_PSN_MASK));
		/* Stale, or duplicated by the network: already dealt with. */
		if (psn != w->una)
			return;
		sodp_count(qp->dev, SODP_CNT_RCVD_RNR_NAK, 1);
		if (qp->rnr_retry != 7) {
			if (!qp->rnr_left) {
				sodp_wire_fail(qp, IB_WC_RNR_RETRY_EXC_ERR);
				return;
			}
			qp->rnr_left--;
		}
		sodp_wire_go_back(qp, psn);
		w->rnr_wait = true;
		mod_delayed_work(sodp_wq, &qp->retry_work, sodp_rnr_delay(syndrome));
		return;
	case SODP_AETH_NAK:
		sodp_wire_acked(qp, sodp_psn_add(psn, SODP_PSN_MASK));
		if (syndrome == SODP_AETH_NAK_PSN_SEQ) {
			sodp_count(qp->dev, SODP_CNT_RCVD_SEQ_NAK, 1);
			/* (A stale NAK, reordered or duplicated, changes nothing.) */
			if (sodp_psn_diff(psn, w->una) < 0 || sodp_psn_diff(psn, w->high) >= 0)
				return;
			sodp_wire_window_cut(qp, false);
			sodp_wire_go_back(qp, psn);
			return;
		}
		/* The NAK is for the oldest WQE's PSN, or it is stale. */
		if (psn == w->una)
			sodp_wire_fail(qp, sodp_wire_nak_status(syndrome));
		return;
	default:
		sodp_count(qp->dev, SODP_CNT_RCVD_DROP_BAD, 1);
	}
}

/**
 * sodp_wire_comp_rcv - a response from the wire for an RC QP's requests
 * @qp: the QP it is addressed to
 * @rx: the packet, checked
 */
void sodp_wire_comp_rcv(struct sodp_qp *qp, struct sodp_wire_rx *rx)
{
	u32 psn = bth_psn(rx->bth);
	bool more;

	mutex_lock(&qp->sq_lock);
	if (!qp->wire || !sodp_wire_sending(qp) ||
	    !(rx->flags & SODP_WF_XRC) != (qp->ibqp.qp_type != IB_QPT_XRC_INI) ||
	    memcmp(&rx->sgid, &qp->dgid, sizeof(rx->sgid)) ||
	    memcmp(&rx->dgid, &qp->sgid, sizeof(rx->dgid))) {
		sodp_count(qp->dev, SODP_CNT_RCVD_DROP_QP, 1);
		mutex_unlock(&qp->sq_lock);
		return;
	}
	if (rx->opcode == SODP_RC_ACK) {
		sodp_wire_ack(qp, rx, psn);
	} else {
		/* A response implies the ACK of what came before its request. */
		sodp_wire_acked(qp, sodp_psn_add(psn, SODP_PSN_MASK));
		sodp_wire_response(qp, rx, psn);
	}
	/*
	 * The window moved: what it lets through goes now, without waking
	 * the requester's work for it (a lone WQE's ACK has nothing to send).
	 */
	more = sodp_wire_req_run(qp, SODP_WIRE_ACK_BUDGET);
	mutex_unlock(&qp->sq_lock);
	if (more)
		sodp_req_kick(qp);
}

/*
 * Send a packet whose payload is @tx->paylen bytes of @local from @off (a
 * requester's own memory): a page of it not mapped is faulted in and the
 * packet built again, a bounded number of times.
 */
static int sodp_wire_send_local(struct sodp_dev *sdev, const struct sodp_wire_path *path,
				struct sodp_wire_tx *tx, struct sodp_mem *local, u32 off)
{
	unsigned int tries;
	int ret;

	for (tries = 0;; tries++) {
		sodp_mem_seek(local, off);
		ret = sodp_wire_send(sdev, path, tx);
		if (ret != SODP_COPY_AGAIN || tries == SODP_WIRE_SEND_TRIES ||
		    sodp_mem_prefault(local, off, tx->paylen, false))
			return ret;
		cond_resched();
	}
}

/*
 * Copy the WQE at @w->copied out of the ring and size it (a local
 * operation is only marked: it runs at the head, sodp_wire_req_run()).
 */
static void sodp_wire_take(struct sodp_qp *qp, struct sodp_wire_wqe *ww)
{
	struct sodp_pkt pkt = {};
	struct sodp_mem local;
	u32 len = 0;

	/* Copy first: the process may rewrite the slot meanwhile. */
	memcpy(&ww->wqe, sodp_queue_slot(&qp->sq, qp->w.copied), sizeof(ww->wqe));
	ww->psn = qp->sq_psn;
	ww->npsn = 0;
	ww->len = 0;
	ww->rd_atomic = false;
	ww->local_op = 0;
	ww->status = sodp_req_decode(qp, &ww->wqe, &pkt);
	if (ww->status)
		return;
	/* REG_MR, BIND_MW, LOCAL_INV take no PSN: run at the head. */
	if (sodp_op_is_local(pkt.op)) {
		ww->local_op = pkt.op;
		return;
	}
	ww->status = sodp_req_local(qp, &ww->wqe, &pkt, &local, &len);
	if (ww->status)
		return;
	sodp_mem_put(&local);
	ww->len = len;
	ww->rd_atomic = !sodp_op_outbound(pkt.op);
	ww->npsn = pkt.op == SODP_OP_CMP_SWP || pkt.op == SODP_OP_FETCH_ADD ? 1 :
		   max_t(u32, 1, DIV_ROUND_UP(len, qp->mtu));
	if (ww->npsn >= SODP_WIRE_PSN_SPAN) {
		ww->status = IB_WC_LOC_LEN_ERR;
		ww->npsn = 0;
	}
}

/*
 * Is the next WQE to take fenced (IB_SEND_FENCE: it starts after every
 * READ and atomic before it has completed)?  Read from the ring before
 * the copy: for a user QP, only a hint it may change.
 */
static bool sodp_wire_fenced(struct sodp_qp *qp)
{
	struct sodp_send_wqe *slot = sodp_queue_slot(&qp->sq, qp->w.copied);

	return READ_ONCE(slot->send_flags) & IB_SEND_FENCE;
}

static u8 sodp_wire_req_opcode(const struct sodp_pkt *pkt)
{
	static const u8 send[2][2][2] = {	/* [first][last][imm] */
		{ { SODP_RC_SEND_MIDDLE, SODP_RC_SEND_MIDDLE },
		  { SODP_RC_SEND_LAST, SODP_RC_SEND_LAST_IMM } },
		{ { SODP_RC_SEND_FIRST, SODP_RC_SEND_FIRST },
		  { SODP_RC_SEND_ONLY, SODP_RC_SEND_ONLY_IMM } },
	};
	static const u8 write[2][2][2] = {
		{ { SODP_RC_WRITE_MIDDLE, SODP_RC_WRITE_MIDDLE },
		  { SODP_RC_WRITE_LAST, SODP_RC_WRITE_LAST_IMM } },
		{ { SODP_RC_WRITE_FIRST, SODP_RC_WRITE_FIRST },
		  { SODP_RC_WRITE_ONLY, SODP_RC_WRITE_ONLY_IMM } },
	};

	switch (pkt->op) {
	case SODP_OP_SEND:
		if (pkt->inv && pkt->last)
			return pkt->first ? SODP_RC_SEND_ONLY_INV : SODP_RC_SEND_LAST_INV;
		return send[pkt->first][pkt->last][pkt->imm];
	case SODP_OP_WRITE:
		return write[pkt->first][pkt->last][pkt->imm];
	case SODP_OP_READ:
		return SODP_RC_READ_REQUEST;
	case SODP_OP_ATOMIC_WRITE:
		return SODP_RC_ATOMIC_WRITE;
	case SODP_OP_CMP_SWP:
		return SODP_RC_CMP_SWAP;
	default:
		return SODP_RC_FETCH_ADD;
	}
}

/*
 * Send the next packet of the WQE at w->next.  Returns 0, -ENOMEM (try
 * again later) or a completion status for a local error.
 */
static int sodp_wire_req_packet(struct sodp_qp *qp, struct sodp_wire_wqe *ww)
{
	struct sodp_wire_req *w = &qp->w;
	u32 k = w->next_pkt, off = k * qp->mtu, len;
	struct sodp_wire_path path;
	struct sodp_pkt pkt = {};
	struct sodp_wire_tx tx;
	struct sodp_mem local;
	int ret;

	if (sodp_req_decode(qp, &ww->wqe, &pkt) ||
	    sodp_req_local(qp, &ww->wqe, &pkt, &local, &len))
		return IB_WC_LOC_PROT_ERR;
	tx = (struct sodp_wire_tx){
		.dqpn = qp->dest_qpn,
		.psn = sodp_psn_add(ww->psn, k),
		.srqn = pkt.srqn,
		.rkey = ww->wqe.rkey,
		.imm = ww->wqe.ex,
		.inv_rkey = ww->wqe.ex,
	};
	switch (pkt.op) {
	case SODP_OP_SEND:
	case SODP_OP_WRITE:
	case SODP_OP_ATOMIC_WRITE:
		pkt.first = !k;
		pkt.last = k == ww->npsn - 1;
		tx.paylen = min(qp->mtu, ww->len - off);
		tx.payload = &local;
		tx.va = ww->wqe.remote_addr;
		tx.dma_len = ww->len;
		tx.se = pkt.last && (ww->wqe.send_flags & IB_SEND_SOLICITED);
		tx.ackreq = pkt.last || ++w->since_ackreq >= w->cwnd / 4 ||
			    sodp_psn_diff(tx.psn, w->una) + 1 >= w->cwnd;
		break;
	case SODP_OP_READ:
		/* Sent again from a later packet: ask for the rest only. */
		tx.va = ww->wqe.remote_addr + off;
		tx.dma_len = ww->len - off;
		tx.ackreq = true;
		break;
	default:
		tx.va = ww->wqe.remote_addr;
		tx.compare = ww->wqe.compare_add;
		tx.swap_add = pkt.op == SODP_OP_CMP_SWP ? ww->wqe.swap :
			      ww->wqe.compare_add;
		tx.ackreq = true;
		break;
	}
	tx.opcode = sodp_wire_req_opcode(&pkt);
	if (pkt.xrc)
		tx.opcode |= SODP_XRC_SEND_FIRST;
	if (tx.ackreq)
		w->since_ackreq = 0;
	sodp_wire_qp_path(qp, &qp->sgid, &qp->dgid, qp->net_type, &path);
	ret = sodp_wire_send_local(qp->dev, &path, &tx, &local, off);
	sodp_mem_put(&local);
	if (ret < 0)
		return ret;
	if (ret)
		return ret == SODP_COPY_SHORT ? IB_WC_LOC_LEN_ERR : IB_WC_LOC_PROT_ERR;
	sodp_count(qp->dev, SODP_CNT_SENT_BYTES, tx.paylen);

	if (ww->rd_atomic) {
		/* One request stands for all its PSNs. */
		w->rd_out++;
		k = ww->npsn;
	} else {
		k++;
	}
	qp->sq_psn = sodp_psn_add(ww->psn, k);
	if (sodp_psn_diff(qp->sq_psn, w->high) > 0)
		w->high = qp->sq_psn;
	if (k == ww->npsn) {
		w->next++;
		w->next_pkt = 0;
	} else {
		w->next_pkt = k;
	}
	return 0;
}

/* The retransmit or RNR timer went off. */
static void sodp_wire_timeout(struct sodp_qp *qp)
{
	struct sodp_wire_req *w = &qp->w;

	if (w->rnr_wait) {
		w->rnr_wait = false;
		return;
	}
	if (!sodp_wire_outstanding(qp))
		return;
	if (w->una != w->timer_una) {
		sodp_wire_timer(qp, true);
		return;
	}
	if (!qp->retry_left) {
		sodp_count(qp->dev, SODP_CNT_RETRY_EXCEEDED, 1);
		sodp_wire_fail(qp, IB_WC_RETRY_EXC_ERR);
		return;
	}
	qp->retry_left--;
	sodp_count(qp->dev, SODP_CNT_RETRANSMITS, 1);
	w->gap_valid = false;
	sodp_wire_window_cut(qp, true);
	sodp_wire_go_back(qp, w->una);
	sodp_wire_timer(qp, true);
}

/**
 * sodp_wire_req_run - send what the window allows, for at most @budget packets
 * @qp: an RC QP on the wire, with sq_lock held
 * @budget: packets
 *
 * Return: true if there is more to send that nothing else will start.
 */
bool sodp_wire_req_run(struct sodp_qp *qp, unsigned int budget)
{
	struct sodp_wire_req *w = &qp->w;
	struct sodp_wire_wqe *ww;
	s32 end;
	u32 n;
	int ret;

	lockdep_assert_held(&qp->sq_lock);
	if (sodp_wire_sending(qp) && READ_ONCE(w->timer_fired)) {
		WRITE_ONCE(w->timer_fired, false);
		sodp_wire_timeout(qp);
	}
	if (READ_ONCE(qp->state) == IB_QPS_ERR) {
		sodp_wire_flush(qp);
		sodp_qp_flush_rq(qp);
		return false;
	}
	if (READ_ONCE(qp->state) != IB_QPS_RTS || w->rnr_wait)
		return false;
	n = sodp_queue_count(&qp->sq);
	if (n > qp->sq.num_slots) {
		/* The process wrote a producer index past its ring. */
		sodp_qp_fatal(qp, IB_EVENT_QP_FATAL);
		return true;
	}
	if (qp->sq.cons == w->copied) {
		/* No WQE in flight: the next one starts with every retry. */
		w->una = qp->sq_psn;
		w->high = qp->sq_psn;
		qp->retry_left = qp->retry_cnt;
		qp->rnr_left = qp->rnr_retry;
	}

	while (w->next - qp->sq.cons < n) {
		if (sodp_psn_diff(qp->sq_psn, w->una) >= w->cwnd)
			break;
		ww = sodp_wire_wqe(qp, w->next);
		if (w->next == w->copied) {
			if (w->rd_out && sodp_wire_fenced(qp))
				break;
			sodp_wire_take(qp, ww);
			WRITE_ONCE(w->copied, w->copied + 1);
		}
		if (ww->status)
			break;
		if (ww->local_op) {
			/*
			 * Only once all before it completed: a packet of theirs
			 * sent again, or a response landing, may still need
			 * what it changes.  It completes at once.
			 */
			if (qp->sq.cons != w->next)
				break;
			ret = sodp_req_local_op(qp, &ww->wqe, ww->local_op);
			if (ret) {
				sodp_wire_fail(qp, ret);
				return true;
			}
			sodp_wire_complete(qp, IB_WC_SUCCESS);
			n--;
			continue;
		}
		/* A READ's responses fit the window, or come alone. */
		end = sodp_psn_diff(sodp_psn_add(ww->psn, ww->npsn), w->una);
		if (ww->rd_atomic && (w->rd_out >= max_t(u32, 1, qp->max_rd_atomic) ||
				      end >= SODP_WIRE_PSN_SPAN ||
				      (qp->sq_psn != w->una && end > w->cwnd)))
			break;
		if (!budget--) {
			sodp_wire_timer(qp, false);
			return true;
		}
		ret = sodp_wire_req_packet(qp, ww);
		if (ret == -ENOMEM) {
			sodp_wire_timer(qp, false);
			return true;
		}
		if (ret) {
			ww->status = ret;
			break;
		}
	}
	/* A WQE that failed here completes once all before it have. */
	if (qp->sq.cons != w->copied) {
		ww = sodp_wire_wqe(qp, qp->sq.cons);
		if (ww->status && qp->sq.cons == w->next) {
			sodp_wire_fail(qp, ww->status);
			return true;
		}
	}
	sodp_wire_timer(qp, false);
	return false;
}

/**
 * sodp_wire_ud_send - send a UD message to a destination on the wire
 * @qp: the UD (or GSI) QP
 * @pkt: the message, addressed
 * @local: its payload
 * @len: its length (at most the path MTU)
 *
 * Return: the completion status.
 */
int sodp_wire_ud_send(struct sodp_qp *qp, struct sodp_pkt *pkt,
		      struct sodp_mem *local, u32 len)
{
	struct sodp_wire_path path = {
		.sgid = pkt->sgid,
		.dgid = pkt->dgid,
		.net_type = pkt->net_type,
		.tclass = pkt->tclass,
		.hop_limit = pkt->hop_limit,
		.sport = rdma_get_udp_sport(pkt->flow_label, qp->ibqp.qp_num,
					    pkt->dqpn),
	};
	struct sodp_wire_tx tx = {
		.opcode = pkt->imm ? SODP_UD_SEND_ONLY_IMM : SODP_UD_SEND_ONLY,
		.se = pkt->solicited,
		.dqpn = pkt->dqpn,
		.psn = qp->sq_psn,
		.qkey = pkt->qkey,
		.sqpn = qp->ibqp.qp_num,
		.imm = pkt->ex,
		.payload = local,
		.paylen = len,
	};
	int ret;

	ret = sodp_wire_send_local(qp->dev, &path, &tx, local, 0);
	qp->sq_psn = sodp_psn_add(qp->sq_psn, 1);
	if (ret > 0)
		return ret == SODP_COPY_SHORT ? IB_WC_LOC_LEN_ERR : IB_WC_LOC_PROT_ERR;
	sodp_count(qp->dev, SODP_CNT_SENT_BYTES, len);
	return IB_WC_SUCCESS;
}

/**
 * sodp_wire_uc_send - send a UC message over RoCEv2
 * @qp: the UC QP, connected to a peer on the wire
 * @pkt: the message, decoded and routed (first, last are set here)
 * @local: its payload
 * @len: its length
 *
 * Nothing answers UC and nothing is sent again: the message is done when
 * its last packet is out, one PSN per packet.
 *
 * Return: the completion status (a local error reading @local, or success).
 */
int sodp_wire_uc_send(struct sodp_qp *qp, struct sodp_pkt *pkt,
		      struct sodp_mem *local, u32 len)
{
	struct sodp_wire_path path;
	u32 off = 0;
	int ret;

	sodp_wire_qp_path(qp, &qp->sgid, &qp->dgid, qp->net_type, &path);
	do {
		struct sodp_wire_tx tx = {
			.dqpn = qp->dest_qpn,
			.psn = qp->sq_psn,
			.va = pkt->va,
			.rkey = pkt->rkey,
			.dma_len = len,
			.imm = pkt->ex,
			.payload = local,
			.paylen = min(qp->mtu, len - off),
		};

		pkt->first = !off;
		pkt->last = off + tx.paylen == len;
		tx.se = pkt->last && pkt->solicited;
		tx.opcode = SODP_UC_SEND_FIRST | sodp_wire_req_opcode(pkt);
		ret = sodp_wire_send_local(qp->dev, &path, &tx, local, off);
		if (ret > 0)
			return ret == SODP_COPY_SHORT ? IB_WC_LOC_LEN_ERR :
							IB_WC_LOC_PROT_ERR;
		/* A packet that could not go out is lost, as on a wire. */
		qp->sq_psn = sodp_psn_add(qp->sq_psn, 1);
		if (!ret)
			sodp_count(qp->dev, SODP_CNT_SENT_BYTES, tx.paylen);
		off += tx.paylen;
		/* A message may be 2 GiB: let others (and a RESET) in. */
		cond_resched();
	} while (off < len);
	return IB_WC_SUCCESS;
}
