/* SPDX-License-Identifier: GPL-2.0 OR Linux-OpenIB */
/*
 * libsodp: the rdma-core provider of rdma_sodp devices.
 *
 * Copyright (c) 2026 The sodp authors.
 */
#ifndef SODP_PROVIDER_H
#define SODP_PROVIDER_H

#include <pthread.h>
#include <stdatomic.h>
#include <rdma/sodp-abi.h>

#include "verbs_provider.h"

#define container_of(ptr, type, member) \
	((type *)((char *)(ptr) - offsetof(type, member)))

struct sodp_context {
	struct verbs_context ibv_ctx;
	uint32_t max_sge;
	uint32_t max_inline;
	uint32_t flags;		/* enum sodp_ctx_flags */
};

/*
 * A PD, or a parent domain (ibv_alloc_parent_domain()) over one, which
 * stands for it in every command (same handle).  Its allocators have
 * nothing to allocate here: every ring is the kernel's, mapped.  As on
 * mlx5, a parent domain stays while QPs or CQs made through it do; other
 * objects hold only its PD.
 */
struct sodp_pd {
	struct ibv_pd ibv_pd;
	struct sodp_pd *protection_domain;	/* a parent domain's PD, or NULL */
	struct sodp_td *td;			/* a parent domain's, or NULL */
	/* A PD: parent domains over it; a parent domain: its QPs and CQs. */
	atomic_int users;
};

/* A thread domain: a promise of one thread, which the locks make moot. */
struct sodp_td {
	struct ibv_td ibv_td;
	atomic_int users;			/* parent domains with it */
};

/* A ring mapped from the kernel (see sodp-abi.h). */
struct sodp_uring {
	struct sodp_ring *ring;
	size_t size;
	uint32_t num_slots;
	uint32_t slot_size;
};

struct sodp_cq {
	struct verbs_cq vcq;
	struct sodp_uring q;
	pthread_spinlock_t lock;
	/* ibv_start_poll() to ibv_end_poll(): the CQE being read, held. */
	const struct sodp_cqe *cur;
	/* Polls so far, empty ones too (see sodp_sq_publish()). */
	atomic_uint polls;
	struct sodp_pd *parent_domain;	/* made through it, or NULL */
};

struct sodp_srq {
	struct verbs_srq vsrq;
	struct sodp_uring rq;
	pthread_spinlock_t lock;
};

struct sodp_qp {
	struct verbs_qp vqp;
	struct sodp_uring sq;
	struct sodp_uring rq;
	pthread_spinlock_t sq_lock;
	pthread_spinlock_t rq_lock;
	uint32_t max_inline;
	/* Under sq_lock: the send CQ's polls at the previous post. */
	unsigned int polls_seen;
	/*
	 * ibv_wr_start() to ibv_wr_complete(), under sq_lock: the producer
	 * index of the next WQE, the one being built (or wr_scratch once the
	 * ring is full), and the first error, which drops the whole batch.
	 */
	uint32_t wr_prod;
	int wr_err;
	struct sodp_send_wqe *wr_cur;
	struct sodp_send_wqe wr_scratch;
	/* Its PD's handle (through a parent domain, its PD's): ibv_bind_mw(). */
	uint32_t pd_handle;
	struct sodp_pd *parent_domain;	/* made through it, or NULL */
};

struct sodp_ah {
	struct ibv_ah ibv_ah;
	uint32_t ah_num;
};

/*
 * The PD a window was allocated on, by handle: a parent domain may be
 * deallocated while windows allocated through it live (as on mlx5).
 */
struct sodp_mw {
	struct ibv_mw ibv_mw;
	uint32_t pd_handle;
};

static inline struct sodp_pd *to_spd(struct ibv_pd *pd)
{
	return container_of(pd, struct sodp_pd, ibv_pd);
}

/* A QP or CQ made through @pd holds it if it is a parent domain. */
static inline struct sodp_pd *sodp_parent_domain_get(struct ibv_pd *pd)
{
	if (!pd || !to_spd(pd)->protection_domain)
		return NULL;
	atomic_fetch_add(&to_spd(pd)->users, 1);
	return to_spd(pd);
}

static inline void sodp_parent_domain_put(struct sodp_pd *parent)
{
	if (parent)
		atomic_fetch_sub(&parent->users, 1);
}

static inline struct sodp_context *to_sctx(struct ibv_context *ctx)
{
	return container_of(ctx, struct sodp_context, ibv_ctx.context);
}

static inline struct sodp_cq *to_scq(struct ibv_cq *cq)
{
	return container_of(cq, struct sodp_cq, vcq.cq);
}

static inline struct sodp_cq *to_scq_ex(struct ibv_cq_ex *cq)
{
	return container_of(cq, struct sodp_cq, vcq.cq_ex);
}

static inline struct sodp_qp *to_sqp(struct ibv_qp *qp)
{
	return container_of(qp, struct sodp_qp, vqp.qp);
}

static inline struct sodp_qp *to_sqp_ex(struct ibv_qp_ex *qp)
{
	return container_of(qp, struct sodp_qp, vqp.qp_ex);
}

static inline struct sodp_srq *to_ssrq(struct ibv_srq *srq)
{
	return container_of(srq, struct sodp_srq, vsrq.srq);
}

static inline struct sodp_mw *to_smw(struct ibv_mw *mw)
{
	return container_of(mw, struct sodp_mw, ibv_mw);
}

static inline struct sodp_ah *to_sah(struct ibv_ah *ah)
{
	return container_of(ah, struct sodp_ah, ibv_ah);
}

static inline void *sodp_uring_slot(struct sodp_uring *q, uint32_t index)
{
	return (uint8_t *)q->ring + SODP_RING_HDR_SIZE +
	       (size_t)(index & (q->num_slots - 1)) * q->slot_size;
}

int sodp_uring_map(struct sodp_uring *q, int cmd_fd,
		   const struct sodp_ring_info *info, uint32_t slot_size);
void sodp_uring_unmap(struct sodp_uring *q);

/* sodp_cq.c */
struct ibv_cq *sodp_create_cq(struct ibv_context *ctx, int cqe,
			      struct ibv_comp_channel *channel, int comp_vector);
struct ibv_cq_ex *sodp_create_cq_ex(struct ibv_context *ctx,
				    struct ibv_cq_init_attr_ex *attr);
int sodp_poll_cq(struct ibv_cq *ibcq, int ne, struct ibv_wc *wc);
int sodp_req_notify_cq(struct ibv_cq *ibcq, int solicited_only);
int sodp_resize_cq(struct ibv_cq *ibcq, int cqe);
int sodp_destroy_cq(struct ibv_cq *ibcq);
void sodp_cq_clean(struct sodp_cq *cq, uint32_t qpn, bool keep_recv);

/* sodp_qp.c */
struct ibv_qp *sodp_create_qp(struct ibv_pd *pd, struct ibv_qp_init_attr *attr);
struct ibv_qp *sodp_create_qp_ex(struct ibv_context *ctx,
				 struct ibv_qp_init_attr_ex *attr);
int sodp_modify_qp(struct ibv_qp *ibqp, struct ibv_qp_attr *attr, int mask);
int sodp_query_qp(struct ibv_qp *ibqp, struct ibv_qp_attr *attr, int mask,
		  struct ibv_qp_init_attr *init);
int sodp_destroy_qp(struct ibv_qp *ibqp);
struct ibv_qp *sodp_open_qp(struct ibv_context *ctx, struct ibv_qp_open_attr *attr);
int sodp_post_send(struct ibv_qp *ibqp, struct ibv_send_wr *wr,
		   struct ibv_send_wr **bad_wr);
int sodp_post_recv(struct ibv_qp *ibqp, struct ibv_recv_wr *wr,
		   struct ibv_recv_wr **bad_wr);
int sodp_post_recv_ring(struct sodp_uring *q, struct ibv_recv_wr *wr,
			struct ibv_recv_wr **bad_wr);
bool sodp_sq_postable(struct sodp_qp *qp);
bool sodp_sq_full(struct sodp_qp *qp, uint32_t prod);
void sodp_sq_publish(struct sodp_qp *qp, uint32_t prod);
int sodp_sq_doorbell(struct sodp_qp *qp);
int sodp_wqe_set_sge_list(struct sodp_send_wqe *wqe, size_t num_sge,
			  const struct ibv_sge *sg_list);
int sodp_wqe_add_inline(struct sodp_qp *qp, struct sodp_send_wqe *wqe,
			const void *addr, size_t length);
void sodp_wqe_set_bind(struct sodp_send_wqe *wqe, uint32_t rkey,
		       const struct ibv_mw_bind_info *info);

/* sodp_wr.c: the ibv_wr_* builder of extended QPs */
int sodp_wr_ops_init(struct sodp_qp *qp, enum ibv_qp_type type,
		     uint64_t send_ops_flags);

/* sodp_srq.c */
struct ibv_srq *sodp_create_srq(struct ibv_pd *pd, struct ibv_srq_init_attr *attr);
struct ibv_srq *sodp_create_srq_ex(struct ibv_context *ctx,
				   struct ibv_srq_init_attr_ex *attr);
int sodp_get_srq_num(struct ibv_srq *ibsrq, uint32_t *srq_num);
struct ibv_xrcd *sodp_open_xrcd(struct ibv_context *ctx,
				struct ibv_xrcd_init_attr *attr);
int sodp_close_xrcd(struct ibv_xrcd *ibxrcd);
int sodp_modify_srq(struct ibv_srq *ibsrq, struct ibv_srq_attr *attr, int mask);
int sodp_query_srq(struct ibv_srq *ibsrq, struct ibv_srq_attr *attr);
int sodp_destroy_srq(struct ibv_srq *ibsrq);
int sodp_post_srq_recv(struct ibv_srq *ibsrq, struct ibv_recv_wr *wr,
		       struct ibv_recv_wr **bad_wr);

#endif /* SODP_PROVIDER_H */
