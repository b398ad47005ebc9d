// SPDX-License-Identifier: GPL-2.0 OR Linux-OpenIB
/*
 * rdma_sodp: the completer.  It interprets the answer to a request (ACK,
 * NAK, RNR NAK, READ response, atomic response, or none), lands response
 * data in the WQE's local buffers, schedules retries, and writes send
 * completions.
 *
 * Copyright (c) 2026 The sodp authors.
 */

#include "sodp_pkt.h"

/* RNR NAK timer values of the IBTA, in microseconds. */
static const u32 sodp_rnr_usec[32] = {
	655360, 10, 20, 30, 40, 60, 80, 120, 160, 240, 320, 480, 640, 960,
	1280, 1920, 2560, 3840, 5120, 7680, 10240, 15360, 20480, 30720,
	40960, 61440, 81920, 122880, 163840, 245760, 327680, 491520,
};

/* The local ACK timeout: 4.096 us * 2^timeout (0: no limit; we use 2^14). */
unsigned long sodp_ack_timeout(u8 timeout)
{
	u8 t = min_t(u8, timeout ? timeout : 14, 20);

	return usecs_to_jiffies((4096ULL << t) / 1000);
}

unsigned long sodp_rnr_delay(u8 rnr_timer)
{
	return usecs_to_jiffies(sodp_rnr_usec[rnr_timer & 31]);
}

static void sodp_retry_later(struct sodp_qp *qp, unsigned long delay)
{
	qp->waiting = true;
	mod_delayed_work(sodp_wq, &qp->retry_work, delay);
}

/* Times a response is landed again (then a READ is resent, an atomic fails). */
#define SODP_LAND_TRIES		16

/*
 * Land a response (READ payload, atomic original value) in the WQE's
 * local buffers.  A page of ours not to be had beside a held source (busy
 * with an invalidation or a fault), or a fault that failed for a reason
 * of the moment: the response is still there, so fault ours in and land
 * it again; landing twice writes the same bytes.
 */
int sodp_comp_land(struct sodp_mem *local, u32 off, struct sodp_mem *src, u32 len)
{
	unsigned int tries;
	int ret;

	for (tries = 0;; tries++) {
		sodp_mem_seek(local, off);
		sodp_mem_seek(src, 0);
		ret = sodp_mem_copy(local, src, len);
		if (ret != SODP_COPY_AGAIN || tries == SODP_LAND_TRIES ||
		    sodp_mem_prefault(local, off, len, true))
			return ret;
		cond_resched();
	}
}

int sodp_comp_ack(struct sodp_qp *qp, struct sodp_pkt *pkt,
		  struct sodp_ack *ack, struct sodp_mem *local)
{
	struct sodp_mem src;
	int ret;

	/*
	 * A UD or UC sender learns nothing of the receiver (no ACKs on the
	 * wire): only its own failures (and a resend request) concern it.
	 */
	if ((pkt->ud || pkt->uc) && ack->syndrome != SODP_NAK_SRC_FAULT &&
	    ack->syndrome != SODP_NAK_RESEND)
		return IB_WC_SUCCESS;

	switch (ack->syndrome) {
	case SODP_ACK:
		break;
	case SODP_RNR_NAK:
		sodp_count(qp->dev, SODP_CNT_RCVD_RNR_NAK, 1);
		if (qp->rnr_retry != 7) {
			if (!qp->rnr_left)
				return IB_WC_RNR_RETRY_EXC_ERR;
			qp->rnr_left--;
		}
		sodp_retry_later(qp, sodp_rnr_delay(ack->rnr_timer));
		return SODP_REQ_WAIT;
	case SODP_DROPPED:
	case SODP_NAK_SEQ:
		/* As if the packet were lost: retransmit after the timeout. */
		if (!qp->retry_left)
			return IB_WC_RETRY_EXC_ERR;
		qp->retry_left--;
		sodp_count(qp->dev, SODP_CNT_RETRANSMITS, 1);
		sodp_retry_later(qp, sodp_ack_timeout(qp->timeout));
		return SODP_REQ_WAIT;
	case SODP_NAK_INV_REQ:
		return IB_WC_REM_INV_REQ_ERR;
	case SODP_NAK_REM_ACCESS:
		return IB_WC_REM_ACCESS_ERR;
	case SODP_NAK_SRC_FAULT:
		return IB_WC_LOC_PROT_ERR;
	case SODP_NAK_RESEND:
		return SODP_REQ_RESEND;
	case SODP_NAK_REM_OP:
	default:
		return IB_WC_REM_OP_ERR;
	}

	sodp_mem_init(&src);
	switch (pkt->op) {
	case SODP_OP_READ:
		if (!ack->read_len)
			return IB_WC_SUCCESS;
		/* The response payload lands in the WQE's local SGEs. */
		sodp_mem_add_mr(&src, ack->read_mr, ack->read_va, ack->read_len);
		ret = sodp_comp_land(local, 0, &src, ack->read_len);
		sodp_mem_put(&src);
		/* A READ may be served again: a page not to be had now is retried. */
		return ret == SODP_COPY_OK ? IB_WC_SUCCESS :
		       ret == SODP_COPY_AGAIN ? SODP_REQ_RESEND :
		       ret == SODP_COPY_SRC_FAULT ? IB_WC_REM_ACCESS_ERR :
		       ret == SODP_COPY_DST_FAULT ? IB_WC_LOC_PROT_ERR : IB_WC_LOC_LEN_ERR;
	case SODP_OP_CMP_SWP:
	case SODP_OP_FETCH_ADD:
		sodp_mem_add_kbuf(&src, &ack->orig, sizeof(ack->orig));
		/* Executed already: never sent again, whatever the copy says. */
		ret = sodp_comp_land(local, 0, &src, sizeof(ack->orig));
		return ret == SODP_COPY_OK ? IB_WC_SUCCESS :
		       ret == SODP_COPY_SHORT ? IB_WC_LOC_LEN_ERR : IB_WC_LOC_PROT_ERR;
	default:
		return IB_WC_SUCCESS;
	}
}

static enum ib_wc_opcode sodp_wc_opcode(u32 wr_opcode)
{
	switch (wr_opcode) {
	case IB_WR_RDMA_WRITE:
	case IB_WR_RDMA_WRITE_WITH_IMM:
		return IB_WC_RDMA_WRITE;
	case IB_WR_RDMA_READ:
		return IB_WC_RDMA_READ;
	case IB_WR_ATOMIC_CMP_AND_SWP:
		return IB_WC_COMP_SWAP;
	case IB_WR_ATOMIC_FETCH_AND_ADD:
		return IB_WC_FETCH_ADD;
	case SODP_WR_ATOMIC_WRITE:
		return SODP_WC_ATOMIC_WRITE;
	case IB_WR_REG_MR:
		return IB_WC_REG_MR;
	case IB_WR_LOCAL_INV:
		return IB_WC_LOCAL_INV;
	case IB_WR_BIND_MW:
		return IB_WC_BIND_MW;
	default:
		return IB_WC_SEND;
	}
}

/* A send completion: always for an error, else only if signaled. */
void sodp_comp_send(struct sodp_qp *qp, const struct sodp_send_wqe *wqe,
		    enum ib_wc_status status, u32 byte_len)
{
	struct sodp_cqe cqe = {
		.wr_id = wqe->wr_id,
		.status = status,
		.opcode = sodp_wc_opcode(wqe->opcode),
		.byte_len = byte_len,
		.qp_num = qp->ibqp.qp_num,
	};

	if (status == IB_WC_SUCCESS && !qp->sq_sig_all &&
	    !(wqe->send_flags & IB_SEND_SIGNALED))
		return;
	sodp_cq_post(qp->scq, qp, &cqe, false);
}
