// SPDX-License-Identifier: GPL-2.0 OR Linux-OpenIB
/*
 * libsodp: the extended QP's work request builder (ibv_wr_start, the
 * ibv_wr_<opcode> and ibv_wr_set_* calls, ibv_wr_complete/abort).  WQEs are
 * written straight into the send ring past its producer index, where the
 * kernel does not look, and published together by ibv_wr_complete(); an
 * error anywhere in the batch drops all of it, and ibv_wr_abort() drops it
 * by not publishing.
 *
 * Copyright (c) 2026 The sodp authors.
 */
#include <errno.h>
#include <string.h>

#include "sodp.h"

enum {
	SODP_RC_SEND_OPS = IBV_QP_EX_WITH_SEND | IBV_QP_EX_WITH_SEND_WITH_IMM |
			   IBV_QP_EX_WITH_SEND_WITH_INV |
			   IBV_QP_EX_WITH_BIND_MW | IBV_QP_EX_WITH_LOCAL_INV |
			   IBV_QP_EX_WITH_RDMA_WRITE |
			   IBV_QP_EX_WITH_RDMA_WRITE_WITH_IMM |
			   IBV_QP_EX_WITH_RDMA_READ |
			   IBV_QP_EX_WITH_ATOMIC_CMP_AND_SWP |
			   IBV_QP_EX_WITH_ATOMIC_FETCH_AND_ADD |
			   IBV_QP_EX_WITH_ATOMIC_WRITE,
	SODP_UC_SEND_OPS = IBV_QP_EX_WITH_SEND | IBV_QP_EX_WITH_SEND_WITH_IMM |
			   IBV_QP_EX_WITH_BIND_MW | IBV_QP_EX_WITH_LOCAL_INV |
			   IBV_QP_EX_WITH_RDMA_WRITE |
			   IBV_QP_EX_WITH_RDMA_WRITE_WITH_IMM,
	SODP_UD_SEND_OPS = IBV_QP_EX_WITH_SEND | IBV_QP_EX_WITH_SEND_WITH_IMM,
};

static void sodp_wr_start(struct ibv_qp_ex *ibqp)
{
	struct sodp_qp *qp = to_sqp_ex(ibqp);

	pthread_spin_lock(&qp->sq_lock);
	qp->wr_prod = qp->sq.ring->producer;
	qp->wr_err = 0;
	qp->wr_cur = &qp->wr_scratch;
}

static int sodp_wr_complete(struct ibv_qp_ex *ibqp)
{
	struct sodp_qp *qp = to_sqp_ex(ibqp);
	int ret = qp->wr_err;

	if (!ret && !sodp_sq_postable(qp))
		ret = EINVAL;
	if (!ret)
		sodp_sq_publish(qp, qp->wr_prod);
	pthread_spin_unlock(&qp->sq_lock);
	return ret ? ret : sodp_sq_doorbell(qp);
}

static void sodp_wr_abort(struct ibv_qp_ex *ibqp)
{
	pthread_spin_unlock(&to_sqp_ex(ibqp)->sq_lock);
}

static void sodp_wr_error(struct sodp_qp *qp, int err)
{
	if (!qp->wr_err)
		qp->wr_err = err;
}

/*
 * Start the next WQE.  With the ring full the batch fails, and the rest of
 * its calls write into a scratch WQE that is never published.
 */
static struct sodp_send_wqe *sodp_wr_new(struct ibv_qp_ex *ibqp,
					 enum ibv_wr_opcode opcode)
{
	struct sodp_qp *qp = to_sqp_ex(ibqp);
	struct sodp_send_wqe *wqe = &qp->wr_scratch;

	if (sodp_sq_full(qp, qp->wr_prod))
		sodp_wr_error(qp, ENOMEM);
	else if (!qp->wr_err)
		wqe = sodp_uring_slot(&qp->sq, qp->wr_prod++);
	memset(wqe, 0, offsetof(struct sodp_send_wqe, sge));
	wqe->wr_id = ibqp->wr_id;
	wqe->opcode = opcode;
	/* Inline is the set_inline_data calls' to say. */
	wqe->send_flags = ibqp->wr_flags & ~IBV_SEND_INLINE;
	qp->wr_cur = wqe;
	return wqe;
}

static void sodp_wr_send(struct ibv_qp_ex *ibqp)
{
	sodp_wr_new(ibqp, IBV_WR_SEND);
}

static void sodp_wr_send_imm(struct ibv_qp_ex *ibqp, __be32 imm_data)
{
	sodp_wr_new(ibqp, IBV_WR_SEND_WITH_IMM)->ex = imm_data;
}

/* Invalidates a (kernel consumer's) fast-registration key at the peer. */
static void sodp_wr_send_inv(struct ibv_qp_ex *ibqp, uint32_t invalidate_rkey)
{
	sodp_wr_new(ibqp, IBV_WR_SEND_WITH_INV)->ex = invalidate_rkey;
}

static void sodp_wr_bind_mw(struct ibv_qp_ex *ibqp, struct ibv_mw *mw,
			    uint32_t rkey, const struct ibv_mw_bind_info *info)
{
	sodp_wqe_set_bind(sodp_wr_new(ibqp, IBV_WR_BIND_MW), rkey, info);
}

static void sodp_wr_local_inv(struct ibv_qp_ex *ibqp, uint32_t invalidate_rkey)
{
	sodp_wr_new(ibqp, IBV_WR_LOCAL_INV)->ex = invalidate_rkey;
}

static struct sodp_send_wqe *sodp_wr_new_rdma(struct ibv_qp_ex *ibqp,
					      enum ibv_wr_opcode opcode,
					      uint32_t rkey, uint64_t remote_addr)
{
	struct sodp_send_wqe *wqe = sodp_wr_new(ibqp, opcode);

	wqe->rkey = rkey;
	wqe->remote_addr = remote_addr;
	return wqe;
}

static void sodp_wr_rdma_write(struct ibv_qp_ex *ibqp, uint32_t rkey,
			       uint64_t remote_addr)
{
	sodp_wr_new_rdma(ibqp, IBV_WR_RDMA_WRITE, rkey, remote_addr);
}

static void sodp_wr_rdma_write_imm(struct ibv_qp_ex *ibqp, uint32_t rkey,
				   uint64_t remote_addr, __be32 imm_data)
{
	sodp_wr_new_rdma(ibqp, IBV_WR_RDMA_WRITE_WITH_IMM, rkey,
			 remote_addr)->ex = imm_data;
}

static void sodp_wr_rdma_read(struct ibv_qp_ex *ibqp, uint32_t rkey,
			      uint64_t remote_addr)
{
	sodp_wr_new_rdma(ibqp, IBV_WR_RDMA_READ, rkey, remote_addr);
}

static void sodp_wr_atomic_cmp_swp(struct ibv_qp_ex *ibqp, uint32_t rkey,
				   uint64_t remote_addr, uint64_t compare,
				   uint64_t swap)
{
	struct sodp_send_wqe *wqe = sodp_wr_new_rdma(ibqp, IBV_WR_ATOMIC_CMP_AND_SWP,
						     rkey, remote_addr);

	wqe->compare_add = compare;
	wqe->swap = swap;
}

static void sodp_wr_atomic_fetch_add(struct ibv_qp_ex *ibqp, uint32_t rkey,
				     uint64_t remote_addr, uint64_t add)
{
	sodp_wr_new_rdma(ibqp, IBV_WR_ATOMIC_FETCH_AND_ADD, rkey,
			 remote_addr)->compare_add = add;
}

/* Atomic write: the 8 bytes travel in the WQE (no SGE). */
static void sodp_wr_atomic_write(struct ibv_qp_ex *ibqp, uint32_t rkey,
				 uint64_t remote_addr, const void *atomic_wr)
{
	struct sodp_send_wqe *wqe = sodp_wr_new_rdma(ibqp, SODP_WR_ATOMIC_WRITE,
						     rkey, remote_addr);

	memcpy(&wqe->compare_add, atomic_wr, sizeof(wqe->compare_add));
}

static void sodp_wr_set_ud_addr(struct ibv_qp_ex *ibqp, struct ibv_ah *ah,
				uint32_t remote_qpn, uint32_t remote_qkey)
{
	struct sodp_qp *qp = to_sqp_ex(ibqp);
	struct sodp_send_wqe *wqe = qp->wr_cur;

	if (!ah) {
		sodp_wr_error(qp, EINVAL);
		return;
	}
	wqe->ah = to_sah(ah)->ah_num;
	wqe->remote_qpn = remote_qpn;
	wqe->remote_qkey = remote_qkey;
}

static void sodp_wr_set_xrc_srqn(struct ibv_qp_ex *ibqp, uint32_t remote_srqn)
{
	to_sqp_ex(ibqp)->wr_cur->xrc_srqn = remote_srqn;
}

static void sodp_wr_set_sge_list(struct ibv_qp_ex *ibqp, size_t num_sge,
				 const struct ibv_sge *sg_list)
{
	struct sodp_qp *qp = to_sqp_ex(ibqp);
	int ret = sodp_wqe_set_sge_list(qp->wr_cur, num_sge, sg_list);

	if (ret)
		sodp_wr_error(qp, ret);
}

static void sodp_wr_set_sge(struct ibv_qp_ex *ibqp, uint32_t lkey,
			    uint64_t addr, uint32_t length)
{
	struct ibv_sge sge = { .addr = addr, .length = length, .lkey = lkey };

	sodp_wr_set_sge_list(ibqp, 1, &sge);
}

static void sodp_wr_set_inline_data_list(struct ibv_qp_ex *ibqp, size_t num_buf,
					 const struct ibv_data_buf *buf_list)
{
	struct sodp_qp *qp = to_sqp_ex(ibqp);
	struct sodp_send_wqe *wqe = qp->wr_cur;

	wqe->send_flags |= IBV_SEND_INLINE;
	wqe->num_sge = 0;
	for (size_t i = 0; i < num_buf; i++) {
		int ret = sodp_wqe_add_inline(qp, wqe, buf_list[i].addr,
					      buf_list[i].length);

		if (ret) {
			sodp_wr_error(qp, ret);
			return;
		}
	}
}

static void sodp_wr_set_inline_data(struct ibv_qp_ex *ibqp, void *addr,
				    size_t length)
{
	struct ibv_data_buf buf = { .addr = addr, .length = length };

	sodp_wr_set_inline_data_list(ibqp, 1, &buf);
}

/**
 * sodp_wr_ops_init() - Set up an extended QP's work request builder.
 * @qp: the QP, not yet created in the kernel
 * @type: its type
 * @send_ops_flags: the IBV_QP_EX_WITH_* operations the user asked for
 *
 * Return: 0, or EOPNOTSUPP for an operation the QP type cannot do here.
 */
int sodp_wr_ops_init(struct sodp_qp *qp, enum ibv_qp_type type,
		     uint64_t send_ops_flags)
{
	struct ibv_qp_ex *qpx = &qp->vqp.qp_ex;
	uint64_t supported;

	switch (type) {
	case IBV_QPT_RC:
	case IBV_QPT_XRC_SEND:
		supported = SODP_RC_SEND_OPS;
		break;
	case IBV_QPT_UC:
		supported = SODP_UC_SEND_OPS;
		break;
	case IBV_QPT_UD:
		supported = SODP_UD_SEND_OPS;
		break;
	default:
		return EOPNOTSUPP;
	}
	if (send_ops_flags & ~supported)
		return EOPNOTSUPP;

	qpx->wr_start = sodp_wr_start;
	qpx->wr_complete = sodp_wr_complete;
	qpx->wr_abort = sodp_wr_abort;
	qpx->wr_send = sodp_wr_send;
	qpx->wr_send_imm = sodp_wr_send_imm;
	qpx->wr_set_sge = sodp_wr_set_sge;
	qpx->wr_set_sge_list = sodp_wr_set_sge_list;
	qpx->wr_set_inline_data = sodp_wr_set_inline_data;
	qpx->wr_set_inline_data_list = sodp_wr_set_inline_data_list;
	if (type == IBV_QPT_UD) {
		qpx->wr_set_ud_addr = sodp_wr_set_ud_addr;
		return 0;
	}
	qpx->wr_rdma_write = sodp_wr_rdma_write;
	qpx->wr_rdma_write_imm = sodp_wr_rdma_write_imm;
	qpx->wr_bind_mw = sodp_wr_bind_mw;
	qpx->wr_local_inv = sodp_wr_local_inv;
	if (type == IBV_QPT_UC)
		return 0;
	qpx->wr_send_inv = sodp_wr_send_inv;
	qpx->wr_rdma_read = sodp_wr_rdma_read;
	qpx->wr_atomic_cmp_swp = sodp_wr_atomic_cmp_swp;
	qpx->wr_atomic_fetch_add = sodp_wr_atomic_fetch_add;
	qpx->wr_atomic_write = sodp_wr_atomic_write;
	if (type == IBV_QPT_XRC_SEND)
		qpx->wr_set_xrc_srqn = sodp_wr_set_xrc_srqn;
	return 0;
}
