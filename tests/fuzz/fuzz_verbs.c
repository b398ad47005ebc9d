// SPDX-License-Identifier: GPL-2.0 OR Linux-OpenIB
/*
 * sodp-fuzz, verbs mode: random but valid-ish sequences of verbs on pools
 * of PDs, CQs, QPs (RC, UD and XRC, connected to each other, UD ones
 * joining multicast groups), SRQs (XRC ones too), XRC domains, AHs (to
 * groups too) and MRs
 * (pinned, ODP, implicit) over buffers that are zapped, replaced and
 * write-protected meanwhile.  Every call must succeed or return a
 * documented error; every completion must carry a valid status.  Beside
 * the pools, a known RC pair moves checked data through an ODP region
 * after every few random steps.  Under fault injection (tests/debug) the
 * loop runs with allocation failures on: a checked transfer may then end
 * in an error completion, after which the pair is connected again.
 *
 * Copyright (c) 2026 The sodp authors.
 */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>

#include "../lib/check.h"
#include "../lib/pattern.h"
#include "../lib/proc.h"
#include "fuzz.h"
#include "vt.h"

#define NPD	3
#define NCQ	6
#define NQP	8
#define NSRQ	3
#define NXRCD	2
#define NAH	3
#define NMR	10
#define NMW	4
#define NBUF	4
#define BUF_LEN	(1UL << 20)
#define CHECK_LEN (256UL << 10)
#define CHECK_WRS 4		/* the depth of the checked pair's QPs */

struct vstate {
	struct fuzz *f;
	struct vt_dev d;		/* the checked pair's device and PD */
	int gid_tbl_len;
	struct ibv_pd *pd[NPD];
	struct ibv_cq *cq[NCQ];
	bool cq_ex[NCQ];		/* made by ibv_create_cq_ex */
	struct ibv_qp *qp[NQP];
	struct ibv_srq *srq[NSRQ];
	struct ibv_xrcd *xrcd[NXRCD];
	struct ibv_ah *ah[NAH];
	struct ibv_mr *mr[NMR];
	struct ibv_mw *mw[NMW];
	char *buf[NBUF];
	char *guard;			/* BUF_LEN of PROT_NONE */
	/* the checked pair */
	struct vt_qp a, b;
	bool broken;			/* in the error state: reconnect */
	char *src, *dst;
	struct ibv_mr *smr, *dmr;
};

#define PICK(v, arr) ((arr)[fuzz_below((v)->f, ARRAY_SIZE(arr))])

static const int access_bits[] = {
	IBV_ACCESS_LOCAL_WRITE, IBV_ACCESS_REMOTE_WRITE, IBV_ACCESS_REMOTE_READ,
	IBV_ACCESS_REMOTE_ATOMIC, IBV_ACCESS_ON_DEMAND, IBV_ACCESS_MW_BIND,
	IBV_ACCESS_ZERO_BASED, IBV_ACCESS_RELAXED_ORDERING, 1 << 25,
};

static int random_access(struct fuzz *f)
{
	int access = 0;

	for (size_t i = 0; i < ARRAY_SIZE(access_bits); i++)
		if (fuzz_chance(f, 2))
			access |= access_bits[i];
	return access;
}

/*
 * An address: mostly inside a buffer; sometimes one the process cannot
 * use (a PROT_NONE guard, page zero, non-canonical, the kernel's), never
 * memory of its own that is not a buffer (RDMA may write wherever a key
 * allows: that would be the fuzzer corrupting itself, not the kernel).
 */
static uint64_t random_addr(struct vstate *v, uint64_t *room)
{
	struct fuzz *f = v->f;
	char *b = v->buf[fuzz_below(f, NBUF)];
	uint64_t off = fuzz_below(f, BUF_LEN);
	const uint64_t wild[] = {
		(uintptr_t)v->guard + off, fuzz_below(f, 0x10000), 1ULL << 47,
		0xffff888000000000ULL + off, ~0ULL - fuzz_below(f, 0x10000),
	};

	*room = BUF_LEN - off;
	if (fuzz_chance(f, 10)) {
		*room = 0;
		return PICK(v, wild);
	}
	return (uintptr_t)b + off;
}

static uint32_t random_lkey(struct vstate *v, bool remote)
{
	struct ibv_mr *mr = PICK(v, v->mr);
	struct ibv_mw *mw = PICK(v, v->mw);

	/* A window's rkey, or one a bind may have given it since. */
	if (remote && mw && fuzz_chance(v->f, 4))
		return fuzz_chance(v->f, 2) ? mw->rkey : ibv_inc_rkey(mw->rkey);
	if (!mr || fuzz_chance(v->f, 16))
		return fuzz_edgy(v->f);
	return remote ? mr->rkey : mr->lkey;
}

static void do_pd(struct vstate *v)
{
	struct ibv_pd **pd = &PICK(v, v->pd);
	struct ibv_pd *over = PICK(v, v->pd);

	if (!*pd && over && fuzz_chance(v->f, 4)) {
		/* A parent domain (over a PD, or refused over one). */
		struct ibv_parent_domain_init_attr a = {
			.pd = over, .comp_mask = fuzz_below(v->f, 4),
		};

		*pd = ibv_alloc_parent_domain(v->d.ctx, &a);
		fuzz_result(v->f, "alloc_parent_domain", *pd ? 0 : errno);
	} else if (!*pd) {
		*pd = ibv_alloc_pd(v->d.ctx);
		fuzz_result(v->f, "alloc_pd", *pd ? 0 : errno);
	} else {
		int err = ibv_dealloc_pd(*pd);

		fuzz_result(v->f, "dealloc_pd", err);
		if (!err)
			*pd = NULL;
	}
}

static struct ibv_cq *create_cq_ex(struct vstate *v, int cqe)
{
	struct fuzz *f = v->f;
	struct ibv_cq_init_attr_ex a = {
		.cqe = cqe,
		.wc_flags = fuzz_chance(f, 4) ? fuzz_rand(f) & 0xfff :
			    fuzz_rand(f) & IBV_WC_STANDARD_FLAGS,
		.comp_mask = fuzz_chance(f, 4) ? fuzz_below(f, 8) :
			     fuzz_below(f, 2) * IBV_CQ_INIT_ATTR_MASK_FLAGS,
		.flags = fuzz_below(f, 4),
	};
	struct ibv_cq_ex *cq;

	/* A parent domain is a pointer libibverbs reads: give none. */
	a.comp_mask &= ~IBV_CQ_INIT_ATTR_MASK_PD;
	cq = ibv_create_cq_ex(v->d.ctx, &a);
	fuzz_result(f, "create_cq_ex", cq ? 0 : errno);
	return cq ? ibv_cq_ex_to_cq(cq) : NULL;
}

static void do_cq(struct vstate *v)
{
	unsigned int i = fuzz_below(v->f, NCQ);
	struct ibv_cq **cq = &v->cq[i];
	int err;

	if (!*cq) {
		int cqe = fuzz_chance(v->f, 4) ? (int)fuzz_edgy(v->f) : 1 + (int)fuzz_below(v->f, 256);

		v->cq_ex[i] = fuzz_chance(v->f, 2);
		if (v->cq_ex[i]) {
			*cq = create_cq_ex(v, cqe);
			return;
		}
		*cq = ibv_create_cq(v->d.ctx, cqe, NULL, NULL, 0);
		fuzz_result(v->f, "create_cq", *cq ? 0 : errno);
	} else if (fuzz_chance(v->f, 3)) {
		err = ibv_resize_cq(*cq, (int)fuzz_below(v->f, 1024));
		fuzz_result(v->f, "resize_cq", err);
	} else {
		err = ibv_destroy_cq(*cq);
		fuzz_result(v->f, "destroy_cq", err);
		if (!err)
			*cq = NULL;
	}
}

static void do_qp_create(struct vstate *v, struct ibv_qp **qp)
{
	struct fuzz *f = v->f;
	struct ibv_qp_init_attr a = {
		.send_cq = PICK(v, v->cq), .recv_cq = PICK(v, v->cq),
		.srq = fuzz_chance(f, 3) ? PICK(v, v->srq) : NULL,
		.cap = {
			.max_send_wr = fuzz_chance(f, 8) ? fuzz_edgy(f) : fuzz_below(f, 64),
			.max_recv_wr = fuzz_chance(f, 8) ? fuzz_edgy(f) : fuzz_below(f, 64),
			.max_send_sge = fuzz_chance(f, 8) ? fuzz_edgy(f) : fuzz_below(f, 5),
			.max_recv_sge = fuzz_chance(f, 8) ? fuzz_edgy(f) : fuzz_below(f, 5),
			.max_inline_data = fuzz_chance(f, 8) ? fuzz_edgy(f) : fuzz_below(f, 300),
		},
		.qp_type = fuzz_chance(f, 8) ? fuzz_below(f, 12) :
			   fuzz_chance(f, 2) ? IBV_QPT_RC : IBV_QPT_UD,
		.sq_sig_all = fuzz_below(f, 2),
	};
	struct ibv_pd *pd = PICK(v, v->pd);

	/* libibverbs itself dereferences these: not the kernel's to check. */
	if (!pd || !a.send_cq || !a.recv_cq)
		return;
	if (fuzz_chance(f, 2)) {
		struct ibv_qp_init_attr_ex x = {
			.send_cq = a.send_cq, .recv_cq = a.recv_cq, .srq = a.srq,
			.cap = a.cap, .qp_type = a.qp_type, .sq_sig_all = a.sq_sig_all,
			/* XRCD, RWQ tables and the like are pointers: none. */
			.comp_mask = IBV_QP_INIT_ATTR_PD |
				     fuzz_below(f, 2) * IBV_QP_INIT_ATTR_CREATE_FLAGS |
				     fuzz_below(f, 2) * IBV_QP_INIT_ATTR_SEND_OPS_FLAGS |
				     fuzz_below(f, 2) * IBV_QP_INIT_ATTR_MAX_TSO_HEADER,
			.pd = pd,
			.create_flags = fuzz_chance(f, 4) ? fuzz_rand(f) & 0x3ff : 0,
			.max_tso_header = fuzz_below(f, 128),
			.send_ops_flags = fuzz_chance(f, 4) ? fuzz_rand(f) & 0x3fff :
					  fuzz_rand(f) & 0x7f,
		};

		/* An XRC initiator, or a target in a domain of the pool. */
		if (fuzz_chance(f, 4))
			x.qp_type = IBV_QPT_XRC_SEND;
		else if (fuzz_chance(f, 4)) {
			x.xrcd = PICK(v, v->xrcd);
			if (!x.xrcd)
				return;
			x.qp_type = IBV_QPT_XRC_RECV;
			x.comp_mask = IBV_QP_INIT_ATTR_XRCD |
				      fuzz_below(f, 2) * IBV_QP_INIT_ATTR_SEND_OPS_FLAGS;
		}
		*qp = ibv_create_qp_ex(v->d.ctx, &x);
		fuzz_result(f, "create_qp_ex", *qp ? 0 : errno);
		return;
	}
	*qp = ibv_create_qp(pd, &a);
	fuzz_result(f, "create_qp", *qp ? 0 : errno);
}

/* The next step towards RTS, connected to a QP of the pool. */
static void valid_modify(struct vstate *v, struct ibv_qp *qp, struct ibv_qp_attr *a,
			 int *mask)
{
	struct ibv_qp *peer = PICK(v, v->qp);
	struct ibv_qp_attr cur;
	struct ibv_qp_init_attr init;

	memset(a, 0, sizeof(*a));
	if (ibv_query_qp(qp, &cur, IBV_QP_STATE, &init))
		cur.qp_state = IBV_QPS_ERR;
	switch (cur.qp_state) {
	case IBV_QPS_RESET:
		a->qp_state = IBV_QPS_INIT;
		a->port_num = 1;
		*mask = IBV_QP_STATE | IBV_QP_PKEY_INDEX | IBV_QP_PORT;
		if (qp->qp_type == IBV_QPT_UD) {
			a->qkey = 0x11111111;
			*mask |= IBV_QP_QKEY;
		} else {
			a->qp_access_flags = random_access(v->f) & 0xf;
			*mask |= IBV_QP_ACCESS_FLAGS;
		}
		break;
	case IBV_QPS_INIT:
		a->qp_state = IBV_QPS_RTR;
		*mask = IBV_QP_STATE;
		if (qp->qp_type != IBV_QPT_UD) {
			a->path_mtu = IBV_MTU_1024;
			a->dest_qp_num = peer ? peer->qp_num : qp->qp_num;
			a->rq_psn = 0;
			a->max_dest_rd_atomic = 4;
			a->min_rnr_timer = 1;
			a->ah_attr.is_global = 1;
			a->ah_attr.grh.dgid = v->d.gid;
			a->ah_attr.grh.sgid_index = v->d.gid_index;
			a->ah_attr.grh.hop_limit = 1;
			a->ah_attr.port_num = 1;
			*mask |= IBV_QP_AV | IBV_QP_PATH_MTU | IBV_QP_DEST_QPN |
				 IBV_QP_RQ_PSN;
			/* An XRC initiator receives nothing. */
			if (qp->qp_type != IBV_QPT_XRC_SEND)
				*mask |= IBV_QP_MAX_DEST_RD_ATOMIC | IBV_QP_MIN_RNR_TIMER;
		}
		break;
	case IBV_QPS_RTR:
		a->qp_state = IBV_QPS_RTS;
		*mask = IBV_QP_STATE | IBV_QP_SQ_PSN;
		if (qp->qp_type != IBV_QPT_UD) {
			a->timeout = 1;
			a->retry_cnt = 1;
			a->rnr_retry = 1;
			a->max_rd_atomic = 4;
			*mask |= IBV_QP_TIMEOUT;
			/* An XRC target sends nothing. */
			if (qp->qp_type != IBV_QPT_XRC_RECV)
				*mask |= IBV_QP_RETRY_CNT | IBV_QP_RNR_RETRY |
					 IBV_QP_MAX_QP_RD_ATOMIC;
		}
		break;
	default:
		a->qp_state = IBV_QPS_RESET;
		*mask = IBV_QP_STATE;
		break;
	}
}

static void do_qp(struct vstate *v)
{
	struct fuzz *f = v->f;
	struct ibv_qp **qp = &PICK(v, v->qp);
	struct ibv_qp_attr a;
	int mask, err;

	if (!*qp) {
		do_qp_create(v, qp);
		return;
	}
	switch (fuzz_below(f, 8)) {
	case 0:
		err = ibv_destroy_qp(*qp);
		fuzz_result(f, "destroy_qp", err);
		if (!err)
			*qp = NULL;
		return;
	case 1:
		/* Anything at all. */
		memset(&a, 0, sizeof(a));
		for (size_t i = 0; i < sizeof(a); i += 8) {
			uint64_t r = fuzz_rand(f);

			memcpy((char *)&a + i, &r, sizeof(a) - i < 8 ? sizeof(a) - i : 8);
		}
		mask = (int)fuzz_rand(f);
		break;
	default:
		valid_modify(v, *qp, &a, &mask);
		if (fuzz_chance(f, 6))
			mask ^= 1 << fuzz_below(f, 26);
		break;
	}
	fuzz_result(f, "modify_qp", ibv_modify_qp(*qp, &a, mask));
}

static void do_srq(struct vstate *v)
{
	struct fuzz *f = v->f;
	struct ibv_srq **srq = &PICK(v, v->srq);
	struct ibv_pd *pd = PICK(v, v->pd);
	int err;

	if (!*srq) {
		struct ibv_srq_init_attr a = { .attr = {
			.max_wr = fuzz_chance(f, 6) ? fuzz_edgy(f) : 1 + fuzz_below(f, 64),
			.max_sge = fuzz_chance(f, 6) ? fuzz_edgy(f) : 1 + fuzz_below(f, 4),
			.srq_limit = fuzz_below(f, 8),
		} };

		if (!pd)
			return;
		if (fuzz_chance(f, 2)) {
			struct ibv_srq_init_attr_ex x = {
				.attr = a.attr,
				.comp_mask = IBV_SRQ_INIT_ATTR_TYPE | IBV_SRQ_INIT_ATTR_PD |
					     IBV_SRQ_INIT_ATTR_XRCD | IBV_SRQ_INIT_ATTR_CQ,
				.srq_type = IBV_SRQT_XRC, .pd = pd,
				.xrcd = PICK(v, v->xrcd), .cq = PICK(v, v->cq),
			};

			/* libibverbs dereferences these. */
			if (!x.xrcd || !x.cq)
				return;
			*srq = ibv_create_srq_ex(v->d.ctx, &x);
			fuzz_result(f, "create_srq_ex", *srq ? 0 : errno);
			return;
		}
		*srq = ibv_create_srq(pd, &a);
		fuzz_result(f, "create_srq", *srq ? 0 : errno);
	} else if (fuzz_chance(f, 2)) {
		struct ibv_srq_attr a = {
			.max_wr = fuzz_below(f, 128), .srq_limit = fuzz_below(f, 128),
		};

		fuzz_result(f, "modify_srq",
			    ibv_modify_srq(*srq, &a, fuzz_below(f, 4)));
	} else {
		err = ibv_destroy_srq(*srq);
		fuzz_result(f, "destroy_srq", err);
		if (!err)
			*srq = NULL;
	}
}

/* XRC domains: opened (unshared: no file) and closed, in use or not. */
static void do_xrcd(struct vstate *v)
{
	struct ibv_xrcd **xrcd = &PICK(v, v->xrcd);
	int err;

	if (!*xrcd) {
		struct ibv_xrcd_init_attr a = {
			.comp_mask = IBV_XRCD_INIT_ATTR_FD | IBV_XRCD_INIT_ATTR_OFLAGS,
			.fd = -1, .oflags = O_CREAT,
		};

		*xrcd = ibv_open_xrcd(v->d.ctx, &a);
		fuzz_result(v->f, "open_xrcd", *xrcd ? 0 : errno);
		return;
	}
	err = ibv_close_xrcd(*xrcd);
	fuzz_result(v->f, "close_xrcd", err);
	if (!err)
		*xrcd = NULL;
}

/* An XRC SRQ's number from the pool, or any number. */
static uint32_t random_srqn(struct vstate *v)
{
	struct ibv_srq *srq = PICK(v, v->srq);
	uint32_t n;

	if (srq && !fuzz_chance(v->f, 8) && !ibv_get_srq_num(srq, &n))
		return n;
	return fuzz_chance(v->f, 2) ? fuzz_below(v->f, 64) : (uint32_t)fuzz_rand(v->f);
}

/* One of four multicast groups, or (rarely) any GID at all. */
static void random_mcast_gid(struct vstate *v, union ibv_gid *gid)
{
	memset(gid, 0, sizeof(*gid));
	if (fuzz_chance(v->f, 16)) {
		for (int i = 0; i < 16; i += 8) {
			uint64_t r = fuzz_rand(v->f);

			memcpy(gid->raw + i, &r, 8);
		}
		return;
	}
	gid->raw[10] = 0xff;
	gid->raw[11] = 0xff;
	gid->raw[12] = 239;
	gid->raw[13] = 9;
	gid->raw[14] = 9;
	gid->raw[15] = fuzz_below(v->f, 4);
}

/* A QP of the pool joins or leaves a group (any QP: only UD ones may). */
static void do_mcast(struct vstate *v)
{
	struct ibv_qp *qp = PICK(v, v->qp);
	union ibv_gid gid;

	if (!qp)
		return;
	random_mcast_gid(v, &gid);
	if (fuzz_chance(v->f, 2))
		fuzz_result(v->f, "attach_mcast", ibv_attach_mcast(qp, &gid, 0));
	else
		fuzz_result(v->f, "detach_mcast", ibv_detach_mcast(qp, &gid, 0));
}

static void do_ah(struct vstate *v)
{
	struct fuzz *f = v->f;
	struct ibv_ah **ah = &PICK(v, v->ah);
	struct ibv_pd *pd = PICK(v, v->pd);

	if (!*ah) {
		struct ibv_ah_attr a = {
			.is_global = 1, .port_num = fuzz_chance(f, 8) ? fuzz_below(f, 4) : 1,
			.grh = {
				.dgid = v->d.gid, .hop_limit = fuzz_below(f, 256),
				.sgid_index = fuzz_chance(f, 4) ?
					fuzz_below(f, v->gid_tbl_len + 2) :
					(uint32_t)v->d.gid_index,
				.flow_label = fuzz_rand(f),
				.traffic_class = fuzz_rand(f),
			},
			.sl = fuzz_below(f, 16),
		};

		if (fuzz_chance(f, 4))
			a.grh.dgid.raw[15] ^= fuzz_rand(f);
		/* A group of the pool's (do_mcast). */
		if (fuzz_chance(f, 4))
			random_mcast_gid(v, &a.grh.dgid);
		if (!pd)
			return;
		*ah = ibv_create_ah(pd, &a);
		fuzz_result(f, "create_ah", *ah ? 0 : errno);
	} else {
		int err = ibv_destroy_ah(*ah);

		fuzz_result(f, "destroy_ah", err);
		if (!err)
			*ah = NULL;
	}
}

/*
 * The PD an MR was registered on, if the fuzzer still holds it, else the
 * checked pair's.  A parent domain goes while MRs registered through it
 * live (as on mlx5, which counts only its QPs and CQs): mr->pd then points
 * at freed memory.
 */
static struct ibv_pd *mr_pd(struct vstate *v, struct ibv_mr *mr)
{
	for (size_t i = 0; i < NPD; i++)
		if (v->pd[i] && v->pd[i] == mr->pd)
			return mr->pd;
	return v->d.pd;
}

static void do_mr(struct vstate *v)
{
	struct fuzz *f = v->f;
	struct ibv_mr **mr = &PICK(v, v->mr);
	struct ibv_pd *pd = PICK(v, v->pd);
	uint64_t room, addr;
	size_t len;
	int err;

	if (!*mr) {
		if (!pd)
			return;
		if (fuzz_chance(f, 6)) {
			*mr = ibv_reg_mr(pd, NULL, SIZE_MAX, random_access(f) | IBV_ACCESS_ON_DEMAND);
			fuzz_result(f, "reg_mr implicit", *mr ? 0 : errno);
			return;
		}
		addr = random_addr(v, &room);
		len = fuzz_chance(f, 8) ? fuzz_edgy(f) : fuzz_below(f, room + 1);
		*mr = ibv_reg_mr(pd, (void *)(uintptr_t)addr, len, random_access(f));
		fuzz_result(f, "reg_mr", *mr ? 0 : errno);
		return;
	}
	switch (fuzz_below(f, 3)) {
	case 0: {
		int flags = fuzz_below(f, 8);

		/* libibverbs reads the new PD's handle: it must be one. */
		if (!pd)
			flags &= ~IBV_REREG_MR_CHANGE_PD;
		addr = random_addr(v, &room);
		err = ibv_rereg_mr(*mr, flags, pd, (void *)(uintptr_t)addr,
				   fuzz_below(f, room + 1), random_access(f));
		fuzz_result(f, "rereg_mr", err ? errno : 0);
		break;
	}
	case 1: {
		struct ibv_sge sge[2];
		int n = 1 + fuzz_below(f, 2);

		for (int i = 0; i < n; i++) {
			sge[i].addr = random_addr(v, &room);
			sge[i].length = fuzz_below(f, room + 1);
			sge[i].lkey = random_lkey(v, false);
		}
		err = ibv_advise_mr(pd ? pd : mr_pd(v, *mr), fuzz_below(f, 4),
				    fuzz_below(f, 3), sge, n);
		fuzz_result(f, "advise_mr", err);
		break;
	}
	default:
		err = ibv_dereg_mr(*mr);
		fuzz_result(f, "dereg_mr", err);
		if (!err)
			*mr = NULL;
		break;
	}
}

/* A random bind of a window to part of a region (or to nothing). */
static struct ibv_mw_bind_info random_bind_info(struct vstate *v)
{
	struct ibv_mr *mr = PICK(v, v->mr);
	uint64_t room;
	struct ibv_mw_bind_info info = {
		.mr = mr, .addr = random_addr(v, &room),
		.mw_access_flags = random_access(v->f),
	};

	info.length = fuzz_chance(v->f, 8) ? fuzz_edgy(v->f) : fuzz_below(v->f, room + 1);
	if (!mr && fuzz_chance(v->f, 2))
		info.addr = info.length = 0;
	return info;
}

/* Memory windows: allocate (type 1, 2 or neither), bind (type 1), free. */
static void do_mw(struct vstate *v)
{
	struct fuzz *f = v->f;
	struct ibv_mw **mw = &PICK(v, v->mw);
	struct ibv_pd *pd = PICK(v, v->pd);
	struct ibv_qp *qp = PICK(v, v->qp);
	struct ibv_mw_bind bind;
	int err;

	if (!*mw) {
		if (!pd)
			return;
		*mw = ibv_alloc_mw(pd, fuzz_chance(f, 8) ? fuzz_below(f, 4) :
				   IBV_MW_TYPE_1 + fuzz_below(f, 2));
		fuzz_result(f, "alloc_mw", *mw ? 0 : errno);
		return;
	}
	if (qp && !fuzz_chance(f, 3)) {
		bind = (struct ibv_mw_bind){
			.wr_id = fuzz_rand(f), .bind_info = random_bind_info(v),
			.send_flags = fuzz_chance(f, 2) ? IBV_SEND_SIGNALED : 0,
		};
		fuzz_result(f, "bind_mw", ibv_bind_mw(qp, *mw, &bind));
		return;
	}
	err = ibv_dealloc_mw(*mw);
	fuzz_result(f, "dealloc_mw", err);
	if (!err)
		*mw = NULL;
}

static const enum ibv_wr_opcode send_ops[] = {
	IBV_WR_SEND, IBV_WR_SEND_WITH_IMM, IBV_WR_RDMA_WRITE,
	IBV_WR_RDMA_WRITE_WITH_IMM, IBV_WR_RDMA_READ, IBV_WR_ATOMIC_CMP_AND_SWP,
	IBV_WR_ATOMIC_FETCH_AND_ADD, IBV_WR_SEND_WITH_INV, IBV_WR_LOCAL_INV,
	IBV_WR_BIND_MW, IBV_WR_TSO, IBV_WR_ATOMIC_WRITE, 42,
};

static void random_sges(struct vstate *v, struct ibv_sge *sge, int n, bool inl)
{
	uint64_t room;

	for (int i = 0; i < n; i++) {
		sge[i].addr = random_addr(v, &room);
		/* Inline data is copied by the provider, in this process. */
		if (inl && !room) {
			sge[i].addr = (uintptr_t)v->buf[0];
			room = BUF_LEN;
		}
		sge[i].length = fuzz_chance(v->f, 8) && !inl ? fuzz_edgy(v->f) :
				fuzz_below(v->f, room < 70000 ? room + 1 : 70000);
		sge[i].lkey = random_lkey(v, false);
	}
}

/*
 * The same WRs through an extended QP's ibv_wr_* calls, as far as the QP
 * was made with them (the others are NULL, as libibverbs documents).
 */
static void post_send_ex(struct vstate *v, struct ibv_qp_ex *x,
			 struct ibv_send_wr *wr)
{
	struct fuzz *f = v->f;

	ibv_wr_start(x);
	for (; wr; wr = wr->next) {
		x->wr_id = wr->wr_id;
		x->wr_flags = wr->send_flags;
		switch (wr->opcode) {
		case IBV_WR_SEND:
			if (!x->wr_send)
				continue;
			ibv_wr_send(x);
			break;
		case IBV_WR_SEND_WITH_IMM:
			if (!x->wr_send_imm)
				continue;
			ibv_wr_send_imm(x, wr->imm_data);
			break;
		case IBV_WR_RDMA_WRITE:
			if (!x->wr_rdma_write)
				continue;
			ibv_wr_rdma_write(x, wr->wr.rdma.rkey, wr->wr.rdma.remote_addr);
			break;
		case IBV_WR_RDMA_WRITE_WITH_IMM:
			if (!x->wr_rdma_write_imm)
				continue;
			ibv_wr_rdma_write_imm(x, wr->wr.rdma.rkey,
					      wr->wr.rdma.remote_addr, wr->imm_data);
			break;
		case IBV_WR_RDMA_READ:
			if (!x->wr_rdma_read)
				continue;
			ibv_wr_rdma_read(x, wr->wr.rdma.rkey, wr->wr.rdma.remote_addr);
			break;
		case IBV_WR_ATOMIC_CMP_AND_SWP:
			if (!x->wr_atomic_cmp_swp)
				continue;
			ibv_wr_atomic_cmp_swp(x, wr->wr.atomic.rkey,
					      wr->wr.atomic.remote_addr,
					      wr->wr.atomic.compare_add,
					      wr->wr.atomic.swap);
			break;
		case IBV_WR_ATOMIC_FETCH_AND_ADD:
			if (!x->wr_atomic_fetch_add)
				continue;
			ibv_wr_atomic_fetch_add(x, wr->wr.atomic.rkey,
						wr->wr.atomic.remote_addr,
						wr->wr.atomic.compare_add);
			break;
		case IBV_WR_ATOMIC_WRITE:
			if (!x->wr_atomic_write)
				continue;
			ibv_wr_atomic_write(x, wr->wr.rdma.rkey, wr->wr.rdma.remote_addr,
					    &wr->imm_data);
			break;
		case IBV_WR_SEND_WITH_INV:
			if (!x->wr_send_inv)
				continue;
			ibv_wr_send_inv(x, wr->invalidate_rkey);
			break;
		case IBV_WR_LOCAL_INV:
			if (!x->wr_local_inv)
				continue;
			ibv_wr_local_inv(x, wr->invalidate_rkey);
			continue;
		case IBV_WR_BIND_MW:
			if (!x->wr_bind_mw || !wr->bind_mw.mw)
				continue;
			ibv_wr_bind_mw(x, wr->bind_mw.mw, wr->bind_mw.rkey,
				       &wr->bind_mw.bind_info);
			continue;
		default:
			continue;
		}
		if (x->wr_set_ud_addr)
			ibv_wr_set_ud_addr(x, wr->wr.ud.ah, wr->wr.ud.remote_qpn,
					   wr->wr.ud.remote_qkey);
		if (x->wr_set_xrc_srqn)
			ibv_wr_set_xrc_srqn(x, wr->qp_type.xrc.remote_srqn);
		if (!(wr->send_flags & IBV_SEND_INLINE)) {
			ibv_wr_set_sge_list(x, wr->num_sge, wr->sg_list);
			continue;
		}
		{
			struct ibv_data_buf bufs[4];

			for (int i = 0; i < wr->num_sge; i++)
				bufs[i] = (struct ibv_data_buf){
					(void *)(uintptr_t)wr->sg_list[i].addr,
					wr->sg_list[i].length };
			ibv_wr_set_inline_data_list(x, wr->num_sge, bufs);
		}
	}
	if (fuzz_chance(f, 8)) {
		ibv_wr_abort(x);
		return;
	}
	fuzz_result(f, "wr_complete", ibv_wr_complete(x));
}

static void do_post(struct vstate *v)
{
	struct fuzz *f = v->f;
	struct ibv_qp *qp = PICK(v, v->qp);
	struct ibv_sge sge[2][4];
	struct ibv_send_wr swr[2], *bad;
	struct ibv_recv_wr rwr[2], *rbad;
	int n = 1 + fuzz_below(f, 2);

	if (!qp)
		return;
	if (fuzz_chance(f, 3)) {
		for (int i = 0; i < n; i++) {
			rwr[i] = (struct ibv_recv_wr){
				.wr_id = fuzz_rand(f), .sg_list = sge[i],
				.num_sge = fuzz_below(f, 5),
				.next = i + 1 < n ? &rwr[i + 1] : NULL,
			};
			random_sges(v, sge[i], 4, false);
		}
		if (qp->srq)
			fuzz_result(f, "post_srq_recv", ibv_post_srq_recv(qp->srq, rwr, &rbad));
		else
			fuzz_result(f, "post_recv", ibv_post_recv(qp, rwr, &rbad));
		return;
	}
	for (int i = 0; i < n; i++) {
		struct ibv_qp *peer = PICK(v, v->qp);
		uint64_t room;
		bool inl = fuzz_chance(f, 6);

		swr[i] = (struct ibv_send_wr){
			.wr_id = fuzz_rand(f), .sg_list = sge[i],
			.num_sge = fuzz_below(f, 5),
			.opcode = PICK(v, send_ops),
			.send_flags = (fuzz_chance(f, 4) ? 0 : IBV_SEND_SIGNALED) |
				      (inl ? IBV_SEND_INLINE : 0) |
				      (fuzz_chance(f, 4) ? IBV_SEND_FENCE : 0) |
				      (fuzz_chance(f, 4) ? IBV_SEND_SOLICITED : 0),
			.imm_data = fuzz_rand(f),
			.next = i + 1 < n ? &swr[i + 1] : NULL,
		};
		random_sges(v, sge[i], 4, inl);
		if (qp->qp_type == IBV_QPT_UD) {
			struct ibv_ah *ah = PICK(v, v->ah);

			/*
			 * wr.ud for any opcode: the provider reads the AH
			 * pointer (user space's to get right); the kernel
			 * checks the AH number.
			 */
			if (!ah)
				return;
			swr[i].wr.ud.ah = ah;
			swr[i].wr.ud.remote_qpn = fuzz_chance(f, 8) ? fuzz_below(f, 3) :
						  peer ? peer->qp_num : 1;
			swr[i].wr.ud.remote_qkey = fuzz_chance(f, 2) ? 0x11111111 : fuzz_rand(f);
		} else if (swr[i].opcode == IBV_WR_ATOMIC_CMP_AND_SWP ||
			   swr[i].opcode == IBV_WR_ATOMIC_FETCH_AND_ADD) {
			swr[i].wr.atomic.remote_addr = random_addr(v, &room) & ~7ULL;
			swr[i].wr.atomic.rkey = random_lkey(v, true);
			swr[i].wr.atomic.compare_add = fuzz_rand(f);
			swr[i].wr.atomic.swap = fuzz_rand(f);
		} else {
			swr[i].wr.rdma.remote_addr = random_addr(v, &room);
			swr[i].wr.rdma.rkey = random_lkey(v, true);
		}
		if (swr[i].opcode == IBV_WR_BIND_MW) {
			swr[i].bind_mw.mw = PICK(v, v->mw);
			swr[i].bind_mw.rkey = random_lkey(v, true);
			swr[i].bind_mw.bind_info = random_bind_info(v);
		} else if (swr[i].opcode == IBV_WR_SEND_WITH_INV ||
			   swr[i].opcode == IBV_WR_LOCAL_INV) {
			swr[i].invalidate_rkey = random_lkey(v, true);
		}
		if (qp->qp_type == IBV_QPT_XRC_SEND)
			swr[i].qp_type.xrc.remote_srqn = random_srqn(v);
	}
	if (ibv_qp_to_qp_ex(qp) && fuzz_chance(f, 2)) {
		post_send_ex(v, ibv_qp_to_qp_ex(qp), swr);
		return;
	}
	fuzz_result(f, "post_send", ibv_post_send(qp, swr, &bad));
}

/* Up to ne completions through the extended CQ calls, as ibv_poll_cq would. */
static int poll_cq_ex(struct ibv_cq *cq, int ne, struct ibv_wc *wc)
{
	struct ibv_cq_ex *x = (struct ibv_cq_ex *)cq;	/* ibv_cq_ex_to_cq() casts */
	struct ibv_poll_cq_attr attr = {};
	int n = 0, ret = ibv_start_poll(x, &attr);

	if (ret)
		return ret == ENOENT ? 0 : -ret;
	do {
		wc[n].wr_id = x->wr_id;
		wc[n].status = x->status;
		wc[n++].opcode = ibv_wc_read_opcode(x);
	} while (n < ne && !(ret = ibv_next_poll(x)));
	ibv_end_poll(x);
	return ret && ret != ENOENT ? -ret : n;
}

static void do_poll(struct vstate *v)
{
	struct ibv_wc wc[16];

	for (int i = 0; i < NCQ; i++) {
		int n;

		if (!v->cq[i])
			continue;
		if (v->cq_ex[i] && fuzz_chance(v->f, 2))
			n = poll_cq_ex(v->cq[i], 16, wc);
		else
			n = ibv_poll_cq(v->cq[i], 16, wc);
		if (n < 0) {
			fuzz_result(v->f, "poll_cq", -n);
			continue;
		}
		for (int k = 0; k < n; k++) {
			v->f->completions++;
			if (wc[k].status != IBV_WC_SUCCESS)
				v->f->errors++;
			if (wc[k].status > IBV_WC_GENERAL_ERR)
				fuzz_violation(v->f, "completion status %d", wc[k].status);
			if (wc[k].status == IBV_WC_SUCCESS && wc[k].opcode > IBV_WC_FETCH_ADD &&
			    wc[k].opcode != IBV_WC_RECV && wc[k].opcode != IBV_WC_RECV_RDMA_WITH_IMM)
				fuzz_violation(v->f, "completion opcode %d", wc[k].opcode);
		}
	}
}

/* The process changes its memory under the device's feet. */
static void change_memory(struct vstate *v)
{
	struct fuzz *f = v->f;
	char *b = v->buf[fuzz_below(f, NBUF)];
	size_t off = fuzz_below(f, BUF_LEN / 4096) * 4096;
	size_t len = 4096 * (1 + fuzz_below(f, 64));

	if (off + len > BUF_LEN)
		len = BUF_LEN - off;
	switch (fuzz_below(f, 4)) {
	case 0:
		madvise(b + off, len, MADV_DONTNEED);
		break;
	case 1:
		mmap(b + off, len, PROT_READ | PROT_WRITE,
		     MAP_PRIVATE | MAP_ANONYMOUS | MAP_FIXED, -1, 0);
		break;
	case 2:
		/* Read-only for a while; the provider only reads (inline). */
		mprotect(b + off, len, PROT_READ);
		break;
	default:
		mprotect(b + off, len, PROT_READ | PROT_WRITE);
		memset(b + off, (int)fuzz_rand(f), len);
		break;
	}
}

/*
 * Without injected failures: a MAP_FIXED or mprotect() that failed half
 * way would leave a hole or read-only pages the fuzzer then writes into.
 */
static void do_mm(struct vstate *v)
{
	bool task = inject_mode() == INJECT_TASK;

	if (task)
		make_it_fail(false);
	change_memory(v);
	if (task)
		make_it_fail(true);
}

static void do_query(struct vstate *v)
{
	struct ibv_qp *qp = PICK(v, v->qp);
	struct ibv_srq *srq = PICK(v, v->srq);
	struct ibv_qp_attr qa;
	struct ibv_qp_init_attr qi;
	struct ibv_srq_attr sa;
	struct ibv_port_attr pa;

	if (qp)
		fuzz_result(v->f, "query_qp", ibv_query_qp(qp, &qa, (int)fuzz_rand(v->f), &qi));
	if (srq)
		fuzz_result(v->f, "query_srq", ibv_query_srq(srq, &sa));
	fuzz_result(v->f, "query_port",
		    ibv_query_port(v->d.ctx, fuzz_chance(v->f, 4) ? fuzz_below(v->f, 4) : 1, &pa));
}

static void drain(struct ibv_cq *cq)
{
	struct ibv_wc wc;

	while (ibv_poll_cq(cq, 1, &wc) > 0)
		;
}

/* The checked pair after an error completion: back to RESET, then RTS. */
static int reconnect(struct vstate *v)
{
	struct ibv_qp_attr reset = { .qp_state = IBV_QPS_RESET };
	int ret;

	ret = ibv_modify_qp(v->a.qp, &reset, IBV_QP_STATE);
	if (!ret)
		ret = ibv_modify_qp(v->b.qp, &reset, IBV_QP_STATE);
	if (!ret) {
		drain(v->a.scq);
		drain(v->b.rcq);
		ret = vt_connect(&v->d, &v->a, &v->b) ? errno ? errno : EINVAL : 0;
	}
	fuzz_result(v->f, "reconnect", ret);
	return ret;
}

/*
 * A transfer whose bytes are known, through an ODP region, as one to
 * CHECK_WRS work requests posted at once (more than one: the engine's
 * workers run them, not the posting thread).
 */
static void do_checked(struct vstate *v)
{
	struct fuzz *f = v->f;
	size_t len = CHECK_WRS + fuzz_below(f, CHECK_LEN / 2);
	size_t off = fuzz_below(f, CHECK_LEN - len);
	int nwr = 1 + fuzz_below(f, CHECK_WRS);
	uint64_t seed = fuzz_rand(f);
	bool read = fuzz_chance(f, 2);
	const char *what = read ? "READ" : "WRITE";
	struct ibv_send_wr wr[CHECK_WRS], *bad_wr;
	struct ibv_sge sge[CHECK_WRS];
	size_t piece = len / nwr;
	struct ibv_wc wc;
	long bad;
	int ret;

	if (v->broken && reconnect(v))
		return;
	v->broken = false;
	if (fuzz_chance(f, 4))
		madvise(v->dst, CHECK_LEN, MADV_DONTNEED);
	if (read)
		/* READ the destination's bytes back into the source. */
		fill_pattern(v->dst + off, len, seed, 0);
	else
		fill_pattern(v->src, len, seed, 0);
	for (int i = 0; i < nwr; i++) {
		size_t at = i * piece;

		sge[i] = (struct ibv_sge){
			(uintptr_t)v->src + at, i == nwr - 1 ? len - at : piece,
			v->smr->lkey,
		};
		wr[i] = (struct ibv_send_wr){
			.wr_id = i, .sg_list = &sge[i], .num_sge = 1,
			.opcode = read ? IBV_WR_RDMA_READ : IBV_WR_RDMA_WRITE,
			.send_flags = IBV_SEND_SIGNALED,
			.next = i == nwr - 1 ? NULL : &wr[i + 1],
			.wr.rdma = { (uintptr_t)v->dst + off + at, v->dmr->rkey },
		};
	}
	ret = ibv_post_send(v->a.qp, wr, &bad_wr);
	if (ret) {
		/* The doorbell is a command: it may fail under injection. */
		fuzz_result(f, "checked post", ret);
		v->broken = true;
		return;
	}
	for (int i = 0; i < nwr; i++) {
		if (vt_poll(v->a.scq, &wc, 30)) {
			fuzz_violation(f, "checked %s: no completion", what);
			return;
		}
		if (wc.status == IBV_WC_SUCCESS)
			continue;
		/* Only a fault the kernel could not serve explains an error. */
		if (inject_mode() == INJECT_NONE)
			fuzz_violation(f, "checked %s of %zu bytes: %s", what, len,
				       ibv_wc_status_str(wc.status));
		f->check_errors++;
		v->broken = true;
		return;
	}
	bad = check_pattern(read ? v->src : v->dst + off, len, seed, 0);
	if (bad >= 0)
		fuzz_violation(f, "checked %s of %zu bytes: byte %ld wrong",
			       what, len, bad);
	f->checked++;
}

int fuzz_verbs(struct fuzz *f)
{
	static void (*const action[])(struct vstate *) = {
		do_pd, do_cq, do_qp, do_qp, do_qp, do_srq, do_xrcd, do_ah, do_mr, do_mr,
		do_mw, do_mcast,
		do_post, do_post, do_post, do_post, do_poll, do_poll, do_mm,
		do_query,
	};
	struct vstate *v = calloc(1, sizeof(*v));
	struct ibv_port_attr pa;

	if (!v || vt_open(&v->d))
		return 1;
	v->f = f;
	if (ibv_query_port(v->d.ctx, 1, &pa))
		return 1;
	v->gid_tbl_len = pa.gid_tbl_len;
	for (int i = 0; i < NBUF; i++) {
		v->buf[i] = mmap(NULL, BUF_LEN, PROT_READ | PROT_WRITE,
				 MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
		if (v->buf[i] == MAP_FAILED)
			return 1;
	}
	v->guard = mmap(NULL, BUF_LEN, PROT_NONE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	if (v->guard == MAP_FAILED)
		return 1;
	v->src = malloc(CHECK_LEN);
	v->dst = mmap(NULL, CHECK_LEN, PROT_READ | PROT_WRITE,
		      MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	if (!v->src || v->dst == MAP_FAILED ||
	    vt_qp_create(&v->d, &v->a, IBV_QPT_RC, CHECK_WRS, NULL, false) ||
	    vt_qp_create(&v->d, &v->b, IBV_QPT_RC, CHECK_WRS, NULL, false) ||
	    vt_connect(&v->d, &v->a, &v->b))
		return 1;
	v->smr = ibv_reg_mr(v->d.pd, v->src, CHECK_LEN, VT_ALL_ACCESS);
	v->dmr = ibv_reg_mr(v->d.pd, v->dst, CHECK_LEN,
			    VT_ALL_ACCESS | IBV_ACCESS_ON_DEMAND);
	if (!v->smr || !v->dmr)
		return 1;

	if (inject_mode() == INJECT_TASK && make_it_fail(true))
		return 1;
	while (now_s() < f->stop && !f->gone) {
		f->iterations++;
		action[fuzz_below(f, ARRAY_SIZE(action))](v);
		if (f->iterations % 16 == 0)
			do_checked(v);
	}
	if (inject_mode() == INJECT_TASK)
		make_it_fail(false);
	/* Everything else is left for the kernel to clean up at exit. */
	return 0;
}
