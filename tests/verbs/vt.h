/* SPDX-License-Identifier: GPL-2.0 OR Linux-OpenIB */
/*
 * Helpers for the verbs tests on an sodp device: loopback QP pairs,
 * posting and polling with deadlines.
 *
 * Copyright (c) 2026 The sodp authors.
 */
#ifndef SODP_TESTS_VT_H
#define SODP_TESTS_VT_H

#include <stdbool.h>
#include <stdint.h>
#include <infiniband/verbs.h>

#include "../lib/pattern.h"

/* The device under test: $SODP_TEST_DEVICE, default sodp0. */
enum vt_mr_mode {
	VT_MR_PINNED,
	VT_MR_ODP,		/* IBV_ACCESS_ON_DEMAND */
	VT_MR_IMPLICIT,		/* one implicit ODP MR for everything */
};

struct vt_dev {
	struct ibv_context *ctx;
	struct ibv_pd *pd;
	enum vt_mr_mode mr_mode;	/* $SODP_TEST_MR: pinned, odp, implicit */
	struct ibv_mr *implicit;
	int gid_index;		/* a RoCEv2 IPv4 GID */
	union ibv_gid gid;
	enum ibv_mtu path_mtu;	/* of RC connections: 1024 unless set */
};

struct vt_qp {
	struct ibv_qp *qp;
	struct ibv_cq *scq, *rcq;
	struct ibv_comp_channel *chan;	/* of rcq, if asked for */
};

int vt_open(struct vt_dev *d);
void vt_close(struct vt_dev *d);

/* A QP with its own CQs; depth WRs each way. */
int vt_qp_create(struct vt_dev *d, struct vt_qp *q, enum ibv_qp_type type,
		 int depth, struct ibv_srq *srq, bool channel);
void vt_qp_destroy(struct vt_qp *q);
/* Connect two RC QPs of d to each other (or a UD QP to RTS). */
int vt_connect(struct vt_dev *d, struct vt_qp *a, struct vt_qp *b);
/*
 * Two connected RC QPs, one of them in error: drain a's send and b's
 * receive completions, reset both and connect them again.
 */
int vt_reconnect(struct vt_dev *d, struct vt_qp *a, struct vt_qp *b);
/* Two RC QPs of d (depth WRs each way), connected to each other. */
int vt_pair(struct vt_dev *d, struct vt_qp *a, struct vt_qp *b, int depth);
int vt_ud_ready(struct vt_qp *q, uint32_t qkey);
int vt_rc_to_rts(struct vt_dev *d, struct ibv_qp *qp, uint32_t dqpn,
		 int access, uint8_t rnr_retry, uint8_t min_rnr_timer);
/* The same with the ACK timeout (4.096 us * 2^timeout) and retry count asked. */
int vt_rc_to_rts_timeout(struct vt_dev *d, struct ibv_qp *qp, uint32_t dqpn,
			 int access, uint8_t rnr_retry, uint8_t min_rnr_timer,
			 uint8_t timeout, uint8_t retry_cnt);

/* Poll one completion within seconds; 0, or -1 on timeout. */
int vt_poll(struct ibv_cq *cq, struct ibv_wc *wc, double seconds);
/* True if no completion arrives within seconds. */
bool vt_no_completion(struct ibv_cq *cq, double seconds);

int vt_post_send(struct ibv_qp *qp, enum ibv_wr_opcode op, uint64_t wr_id,
		 struct ibv_sge *sge, int nsge, uint64_t raddr, uint32_t rkey,
		 unsigned int flags);
int vt_post_recv(struct ibv_qp *qp, uint64_t wr_id, struct ibv_sge *sge, int nsge);

/* Two QPs of one device, with a buffer and a region (vt_reg) each. */
struct vt_link {
	struct vt_dev d;
	struct vt_qp a, b;
	char *abuf, *bbuf;
	struct ibv_mr *amr, *bmr;
};

/* Zeroed page-aligned buffers of len bytes and their regions, all rights. */
int vt_link_mem(struct vt_link *l, size_t len);
/* Release everything a link holds (what it has of it). */
void vt_link_close(struct vt_link *l);

/* An address handle to the device's own RoCEv2 GID (UD loopback). */
struct ibv_ah *vt_ah(struct vt_dev *d);
/* A signaled UD send WR of one SGE to @qpn through @ah. */
void vt_ud_wr(struct ibv_send_wr *wr, struct ibv_sge *sge, enum ibv_wr_opcode op,
	      struct ibv_ah *ah, uint32_t qpn, uint32_t qkey);

/* Register as $SODP_TEST_MR says; release with vt_dereg(). */
struct ibv_mr *vt_reg(struct vt_dev *d, void *buf, size_t len, int access);
int vt_dereg(struct ibv_mr *mr);
#define VT_ALL_ACCESS (IBV_ACCESS_LOCAL_WRITE | IBV_ACCESS_REMOTE_WRITE | \
		       IBV_ACCESS_REMOTE_READ | IBV_ACCESS_REMOTE_ATOMIC)


#endif
