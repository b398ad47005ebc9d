// SPDX-License-Identifier: GPL-2.0 OR Linux-OpenIB
/*
 * sodp-wire-xfer: RDMA between two devices over the wire, data checked.
 *
 *   sodp-wire-xfer DEV_A MODE_A DEV_B MODE_B [LENGTHS]
 *
 * MODE: pinned, odp (an ODP region per buffer, mapped afresh and zapped
 * with MADV_DONTNEED between transfers, so the device faults every time)
 * or implicit (one implicit ODP region, buffers zapped likewise).  One
 * process drives both devices (sodp, rdma_rxe or a NIC): an RC pair and a
 * UD pair between them, every opcode both ways, at offsets on both sides
 * (0, 1, 63, 4095 ...), the bytes around each destination checked too.
 * LENGTHS (comma separated) default to 0,1,MTU-1,MTU,MTU+1,64K+1,1M+3.
 * The devices' IPv4 addresses are used, or with SODP_WIRE_IPV6 set in the
 * environment their global IPv6 addresses.
 * Prints one line per failure and "wire-xfer: N transfers, M failed".
 * With "lost" for LENGTHS: B's RC QP is destroyed, and A's WRITE to it
 * must fail with IBV_WC_RETRY_EXC_ERR after A's retries.
 * With SODP_WIRE_XRC set, the RC transfers are XRC ones: each side's XRC
 * initiator QP sends to the other's target QP, naming its XRC SRQ.
 * Between two sodp devices, atomic writes too (ibv_wr_atomic_write).
 *
 * Copyright (c) 2026 The sodp authors.
 */
#define _GNU_SOURCE
#include <endian.h>
#include <errno.h>
#include <fcntl.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <infiniband/verbs.h>

#include "../lib/pattern.h"

#define MTU		1024
#define BUF_LEN		(2u << 20)
#define DEPTH		16
#define QKEY		0x11111111
#define POLL_SECONDS	60.0

enum mr_mode { MR_PINNED, MR_ODP, MR_IMPLICIT };

struct side {
	const char *name;
	enum mr_mode mode;
	struct ibv_context *ctx;
	struct ibv_pd *pd;
	struct ibv_cq *cq;
	struct ibv_qp *rc, *ud;		/* with XRC, rc is the initiator */
	struct ibv_xrcd *xrcd;		/* XRC: the target QP and its SRQ */
	struct ibv_qp *tgt;
	struct ibv_srq *srq;
	uint32_t srqn;
	struct ibv_ah *ah;		/* UD: to the other side */
	struct ibv_mr *mr, *implicit;
	uint8_t *buf;
	int gid_index;
	union ibv_gid gid;
};

static unsigned long transfers, failures;
static bool xrc;

static void failf(const char *what, const char *fmt, ...)
	__attribute__((format(printf, 2, 3)));

static void failf(const char *what, const char *fmt, ...)
{
	va_list ap;

	failures++;
	printf("FAIL %s: ", what);
	va_start(ap, fmt);
	vprintf(fmt, ap);
	va_end(ap);
	putchar('\n');
}

static void die(const char *what)
{
	perror(what);
	exit(2);
}

static int open_side(struct side *s)
{
	struct ibv_device **list = ibv_get_device_list(NULL);
	bool ipv6 = getenv("SODP_WIRE_IPV6");
	struct ibv_port_attr pattr;

	for (int i = 0; list && list[i]; i++)
		if (!strcmp(ibv_get_device_name(list[i]), s->name))
			s->ctx = ibv_open_device(list[i]);
	ibv_free_device_list(list);
	if (!s->ctx || ibv_query_port(s->ctx, 1, &pattr))
		return -1;
	s->gid_index = -1;
	for (int i = 0; i < pattr.gid_tbl_len; i++) {
		struct ibv_gid_entry e;

		if (ibv_query_gid_ex(s->ctx, 1, i, &e, 0) ||
		    e.gid_type != IBV_GID_TYPE_ROCE_V2)
			continue;
		/* IPv4-mapped, or with SODP_WIRE_IPV6 set a global IPv6 address. */
		if (!memcmp(e.gid.raw, "\0\0\0\0\0\0\0\0\0\0\xff\xff", 12) ==
		    !ipv6 && (!ipv6 || e.gid.raw[0] != 0xfe)) {
			s->gid_index = i;
			s->gid = e.gid;
			break;
		}
	}
	s->pd = ibv_alloc_pd(s->ctx);
	s->cq = ibv_create_cq(s->ctx, 4 * DEPTH, NULL, NULL, 0);
	return s->gid_index < 0 || !s->pd || !s->cq ? -1 : 0;
}

#define ALL_ACCESS (IBV_ACCESS_LOCAL_WRITE | IBV_ACCESS_REMOTE_WRITE | \
		    IBV_ACCESS_REMOTE_READ | IBV_ACCESS_REMOTE_ATOMIC)

/* The buffer, mapped afresh, and its region. */
static int map_side(struct side *s)
{
	s->buf = mmap(NULL, BUF_LEN, PROT_READ | PROT_WRITE,
		      MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	if (s->buf == MAP_FAILED)
		return -1;
	switch (s->mode) {
	case MR_PINNED:
		s->mr = ibv_reg_mr(s->pd, s->buf, BUF_LEN, ALL_ACCESS);
		break;
	case MR_ODP:
		s->mr = ibv_reg_mr(s->pd, s->buf, BUF_LEN,
				   ALL_ACCESS | IBV_ACCESS_ON_DEMAND);
		break;
	case MR_IMPLICIT:
		s->implicit = ibv_reg_mr(s->pd, NULL, SIZE_MAX,
					 ALL_ACCESS | IBV_ACCESS_ON_DEMAND);
		s->mr = s->implicit;
		break;
	}
	return s->mr ? 0 : -1;
}

static uint32_t lkey(struct side *s)
{
	return s->mr->lkey;
}

static uint32_t rkey(struct side *s)
{
	return s->mr->rkey;
}

/* Give the pages back: the next access by the device faults. */
static void zap(struct side *s)
{
	if (s->mode != MR_PINNED)
		madvise(s->buf, BUF_LEN, MADV_DONTNEED);
}

/* The extended operations of a sodp device's RC and XRC initiator QPs. */
static uint64_t send_ops(struct side *s)
{
	return strncmp(s->name, "sodp", 4) ? 0 : IBV_QP_EX_WITH_ATOMIC_WRITE;
}

static struct ibv_qp *make_qp(struct side *s, enum ibv_qp_type type)
{
	struct ibv_qp_init_attr_ex init = {
		.send_cq = s->cq, .recv_cq = s->cq, .qp_type = type,
		.cap = { .max_send_wr = DEPTH, .max_recv_wr = DEPTH,
			 .max_send_sge = 2, .max_recv_sge = 2 },
		.comp_mask = IBV_QP_INIT_ATTR_PD, .pd = s->pd,
	};

	if (type == IBV_QPT_RC && send_ops(s)) {
		init.comp_mask |= IBV_QP_INIT_ATTR_SEND_OPS_FLAGS;
		init.send_ops_flags = send_ops(s);
	}
	return ibv_create_qp_ex(s->ctx, &init);
}

/* The XRC QPs and SRQ of a side (the SRQ completes on the side's CQ). */
static int make_xrc(struct side *s)
{
	struct ibv_xrcd_init_attr xa = {
		.comp_mask = IBV_XRCD_INIT_ATTR_FD | IBV_XRCD_INIT_ATTR_OFLAGS,
		.fd = -1, .oflags = O_CREAT,
	};
	struct ibv_srq_init_attr_ex sa = {
		.attr = { .max_wr = DEPTH, .max_sge = 2 },
		.comp_mask = IBV_SRQ_INIT_ATTR_TYPE | IBV_SRQ_INIT_ATTR_PD |
			     IBV_SRQ_INIT_ATTR_XRCD | IBV_SRQ_INIT_ATTR_CQ,
		.srq_type = IBV_SRQT_XRC, .pd = s->pd, .cq = s->cq,
	};
	struct ibv_qp_init_attr_ex ini = {
		.qp_type = IBV_QPT_XRC_SEND, .send_cq = s->cq,
		.cap = { .max_send_wr = DEPTH, .max_send_sge = 2 },
		.comp_mask = IBV_QP_INIT_ATTR_PD | IBV_QP_INIT_ATTR_SEND_OPS_FLAGS,
		.pd = s->pd, .send_ops_flags = send_ops(s),
	}, tgt = {
		.qp_type = IBV_QPT_XRC_RECV, .comp_mask = IBV_QP_INIT_ATTR_XRCD,
	};

	s->xrcd = ibv_open_xrcd(s->ctx, &xa);
	if (!s->xrcd)
		return -1;
	sa.xrcd = tgt.xrcd = s->xrcd;
	s->srq = ibv_create_srq_ex(s->ctx, &sa);
	s->tgt = ibv_create_qp_ex(s->ctx, &tgt);
	s->rc = ibv_create_qp_ex(s->ctx, &ini);
	return s->srq && s->tgt && s->rc ? ibv_get_srq_num(s->srq, &s->srqn) : -1;
}

/* RESET to RTS towards dqpn: an RC QP, or an XRC initiator or target. */
static int rc_to_rts(struct side *s, struct side *peer, struct ibv_qp *qp,
		     uint32_t dqpn)
{
	bool tgt = qp->qp_type == IBV_QPT_XRC_RECV, ini = qp->qp_type == IBV_QPT_XRC_SEND;
	struct ibv_qp_attr a = {
		.qp_state = IBV_QPS_INIT, .port_num = 1,
		.qp_access_flags = ini ? 0 : ALL_ACCESS,
	};

	if (ibv_modify_qp(qp, &a, IBV_QP_STATE | IBV_QP_PKEY_INDEX | IBV_QP_PORT |
			  IBV_QP_ACCESS_FLAGS))
		return -1;
	memset(&a, 0, sizeof(a));
	a.qp_state = IBV_QPS_RTR;
	a.path_mtu = IBV_MTU_1024;
	a.dest_qp_num = dqpn;
	a.rq_psn = 0x123456;
	a.max_dest_rd_atomic = 4;
	a.min_rnr_timer = 1;
	a.ah_attr.is_global = 1;
	a.ah_attr.grh.dgid = peer->gid;
	a.ah_attr.grh.sgid_index = s->gid_index;
	a.ah_attr.grh.hop_limit = 64;
	a.ah_attr.port_num = 1;
	if (ibv_modify_qp(qp, &a, IBV_QP_STATE | IBV_QP_AV | IBV_QP_PATH_MTU |
			  IBV_QP_DEST_QPN | IBV_QP_RQ_PSN |
			  (ini ? 0 : IBV_QP_MAX_DEST_RD_ATOMIC | IBV_QP_MIN_RNR_TIMER)))
		return -1;
	memset(&a, 0, sizeof(a));
	a.qp_state = IBV_QPS_RTS;
	/* 4.096 us * 2^14 = 67 ms, 7 retries: enough for 10% loss. */
	a.timeout = 14;
	a.retry_cnt = 7;
	a.rnr_retry = 7;
	a.sq_psn = 0x123456;
	a.max_rd_atomic = 4;
	return ibv_modify_qp(qp, &a, IBV_QP_STATE | IBV_QP_TIMEOUT | IBV_QP_SQ_PSN |
			     (tgt ? 0 : IBV_QP_RETRY_CNT | IBV_QP_RNR_RETRY |
			      IBV_QP_MAX_QP_RD_ATOMIC)) ? -1 : 0;
}

static int rc_connect(struct side *s, struct side *peer)
{
	if (!xrc)
		return rc_to_rts(s, peer, s->rc, peer->rc->qp_num);
	return rc_to_rts(s, peer, s->rc, peer->tgt->qp_num) ||
	       rc_to_rts(s, peer, s->tgt, peer->rc->qp_num) ? -1 : 0;
}

/* The UD QP from RESET to RTS. */
static int ud_to_rts(struct side *s)
{
	struct ibv_qp_attr a = {
		.qp_state = IBV_QPS_INIT, .port_num = 1, .qkey = QKEY,
	};

	if (ibv_modify_qp(s->ud, &a, IBV_QP_STATE | IBV_QP_PKEY_INDEX | IBV_QP_PORT |
			  IBV_QP_QKEY))
		return -1;
	a.qp_state = IBV_QPS_RTR;
	if (ibv_modify_qp(s->ud, &a, IBV_QP_STATE))
		return -1;
	a.qp_state = IBV_QPS_RTS;
	a.sq_psn = 0;
	return ibv_modify_qp(s->ud, &a, IBV_QP_STATE | IBV_QP_SQ_PSN) ? -1 : 0;
}

static int ud_ready(struct side *s, struct side *peer)
{
	struct ibv_ah_attr ah = {
		.is_global = 1, .port_num = 1,
		.grh = { .dgid = peer->gid, .sgid_index = s->gid_index, .hop_limit = 64 },
	};

	if (ud_to_rts(s))
		return -1;
	s->ah = ibv_create_ah(s->pd, &ah);
	return s->ah ? 0 : -1;
}

/* Completions on the side's CQ: want of them, within the deadline. */
static int poll_within(struct side *s, int want, struct ibv_wc *out, double seconds)
{
	double end = now_s() + seconds;
	int got = 0;

	while (got < want) {
		struct ibv_wc wc;
		int n = ibv_poll_cq(s->cq, 1, &wc);

		if (n < 0)
			return -1;
		if (!n) {
			if (now_s() > end)
				return -1;
			continue;
		}
		if (wc.status != IBV_WC_SUCCESS) {
			printf("  %s: completion wr_id %lu status %s\n", s->name,
			       (unsigned long)wc.wr_id, ibv_wc_status_str(wc.status));
			return -1;
		}
		if (out)
			*out = wc;
		got++;
	}
	return 0;
}

static int poll_for(struct side *s, int want, struct ibv_wc *out)
{
	return poll_within(s, want, out, POLL_SECONDS);
}

/*
 * The bytes [doff + hdr, doff + hdr + len) of dst hold src's at soff (hdr:
 * the 40 bytes a UD receive starts with); those around [doff, doff + hdr +
 * len) keep dst's fill.
 */
static bool check(const char *what, struct side *dst, size_t doff, size_t hdr,
		  size_t len, uint64_t src_seed, size_t soff, uint64_t dst_seed)
{
	long bad;

	bad = check_pattern(dst->buf + doff + hdr, len, src_seed, soff);
	if (bad >= 0) {
		failf(what, "byte %ld of %zu differs", bad, len);
		return false;
	}
	/* A guard of 64 bytes each side keeps its own pattern. */
	if (doff >= 64 && check_pattern(dst->buf + doff - 64, 64, dst_seed, doff - 64) >= 0) {
		failf(what, "written before the destination");
		return false;
	}
	len += hdr;
	if (doff + len + 64 <= BUF_LEN &&
	    check_pattern(dst->buf + doff + len, 64, dst_seed, doff + len) >= 0) {
		failf(what, "written past the destination");
		return false;
	}
	return true;
}

static const char *op_name[] = {
	[IBV_WR_SEND] = "SEND", [IBV_WR_SEND_WITH_IMM] = "SEND_IMM",
	[IBV_WR_RDMA_WRITE] = "WRITE", [IBV_WR_RDMA_WRITE_WITH_IMM] = "WRITE_IMM",
	[IBV_WR_RDMA_READ] = "READ",
};

/* One RC transfer from a to b (READ: b's bytes into a), checked. */
static void rc_xfer(struct side *a, struct side *b, enum ibv_wr_opcode op,
		    size_t len, size_t soff, size_t doff, uint64_t seed)
{
	bool read = op == IBV_WR_RDMA_READ;
	struct side *src = read ? b : a, *dst = read ? a : b;
	bool recv = op == IBV_WR_SEND || op == IBV_WR_SEND_WITH_IMM ||
		    op == IBV_WR_RDMA_WRITE_WITH_IMM;
	struct ibv_sge ssge, rsge;
	struct ibv_send_wr wr = {}, *bad;
	struct ibv_recv_wr rwr = {}, *rbad;
	struct ibv_wc wc = {};
	char what[128];

	snprintf(what, sizeof(what), "%s->%s %s len %zu at %zu->%zu", a->name, b->name,
		 op_name[op], len, soff, doff);
	transfers++;
	/* The device faults what it touches: the CPU's copies are gone. */
	zap(a);
	zap(b);
	fill_pattern(src->buf, BUF_LEN, seed, 0);
	fill_pattern(dst->buf, BUF_LEN, seed + 1, 0);
	if (recv) {
		rsge = (struct ibv_sge){ (uintptr_t)b->buf + doff, len, lkey(b) };
		rwr.wr_id = seed << 8 | 2;	/* a stale receive shows */
		rwr.sg_list = &rsge;
		rwr.num_sge = op == IBV_WR_RDMA_WRITE_WITH_IMM ? 0 : 1;
		if (xrc ? ibv_post_srq_recv(b->srq, &rwr, &rbad) :
			  ibv_post_recv(b->rc, &rwr, &rbad)) {
			failf(what, "post_recv");
			return;
		}
	}
	ssge = (struct ibv_sge){ (uintptr_t)a->buf + (read ? doff : soff), len, lkey(a) };
	wr.wr_id = 1;
	wr.opcode = op;
	wr.sg_list = &ssge;
	wr.num_sge = 1;
	wr.send_flags = IBV_SEND_SIGNALED;
	wr.imm_data = htobe32(0xfeed0000 | (uint32_t)len);
	wr.wr.rdma.remote_addr = (uintptr_t)b->buf + (read ? soff : doff);
	wr.wr.rdma.rkey = rkey(b);
	wr.qp_type.xrc.remote_srqn = b->srqn;
	if (ibv_post_send(a->rc, &wr, &bad)) {
		failf(what, "post_send");
		return;
	}
	if (poll_for(a, 1, NULL)) {
		failf(what, "no completion at the requester");
		return;
	}
	if (recv) {
		if (poll_for(b, 1, &wc)) {
			failf(what, "no receive completion");
			return;
		}
		if (wc.wr_id != rwr.wr_id || wc.byte_len != len ||
		    (op != IBV_WR_SEND && (!(wc.wc_flags & IBV_WC_WITH_IMM) ||
		     wc.imm_data != wr.imm_data))) {
			failf(what, "receive completion: wr_id %#llx (want %#llx) byte_len %u flags %#x imm %#x",
			      (unsigned long long)wc.wr_id,
			      (unsigned long long)rwr.wr_id, wc.byte_len,
			      wc.wc_flags, be32toh(wc.imm_data));
			return;
		}
	}
	check(what, dst, doff, 0, len, seed, soff, seed + 1);
}

static void atomic_xfer(struct side *a, struct side *b, bool cmp, size_t loff,
			size_t roff, uint64_t seed)
{
	uint64_t old = seed * 0x9e3779b97f4a7c15ull, add = seed | 1, got, now;
	struct ibv_sge sge = { (uintptr_t)a->buf + loff, 8, lkey(a) };
	struct ibv_send_wr wr = {}, *bad;
	char what[128];

	snprintf(what, sizeof(what), "%s->%s %s at %zu->%zu", a->name, b->name,
		 cmp ? "CMP_SWAP" : "FETCH_ADD", loff, roff);
	transfers++;
	zap(a);
	zap(b);
	memcpy(b->buf + roff, &old, 8);
	memset(a->buf + loff, 0xee, 8);
	wr.wr_id = 1;
	wr.opcode = cmp ? IBV_WR_ATOMIC_CMP_AND_SWP : IBV_WR_ATOMIC_FETCH_AND_ADD;
	wr.sg_list = &sge;
	wr.num_sge = 1;
	wr.send_flags = IBV_SEND_SIGNALED;
	wr.wr.atomic.remote_addr = (uintptr_t)b->buf + roff;
	wr.wr.atomic.rkey = rkey(b);
	wr.wr.atomic.compare_add = cmp ? old : add;
	wr.wr.atomic.swap = ~old;
	wr.qp_type.xrc.remote_srqn = b->srqn;
	if (ibv_post_send(a->rc, &wr, &bad) || poll_for(a, 1, NULL)) {
		failf(what, "no completion");
		return;
	}
	memcpy(&got, a->buf + loff, 8);
	memcpy(&now, b->buf + roff, 8);
	if (got != old || now != (cmp ? ~old : old + add))
		failf(what, "returned %#llx (want %#llx), left %#llx",
		      (unsigned long long)got, (unsigned long long)old,
		      (unsigned long long)now);
}

/* An atomic write of 8 bytes from a to b's buffer at @roff, checked. */
static void atomic_write_xfer(struct side *a, struct side *b, size_t roff, uint64_t seed)
{
	struct ibv_qp_ex *x = ibv_qp_to_qp_ex(a->rc);
	uint64_t value = seed * 0x9e3779b97f4a7c15ull, now;
	char what[128];

	snprintf(what, sizeof(what), "%s->%s ATOMIC_WRITE at %zu", a->name, b->name, roff);
	transfers++;
	zap(a);
	zap(b);
	memset(b->buf + roff - 8, 0xee, 24);
	ibv_wr_start(x);
	x->wr_id = 1;
	x->wr_flags = IBV_SEND_SIGNALED;
	ibv_wr_atomic_write(x, rkey(b), (uintptr_t)b->buf + roff, &value);
	if (xrc)
		ibv_wr_set_xrc_srqn(x, b->srqn);
	if (ibv_wr_complete(x) || poll_for(a, 1, NULL)) {
		failf(what, "no completion");
		return;
	}
	memcpy(&now, b->buf + roff, 8);
	if (now != value || (uint8_t)b->buf[roff - 1] != 0xee ||
	    (uint8_t)b->buf[roff + 8] != 0xee)
		failf(what, "left %#llx (want %#llx), or wrote around it",
		      (unsigned long long)now, (unsigned long long)value);
}

static void ud_xfer(struct side *a, struct side *b, size_t len, size_t soff,
		    size_t doff, uint64_t seed)
{
	struct ibv_sge ssge = { (uintptr_t)a->buf + soff, len, lkey(a) };
	struct ibv_sge rsge = { (uintptr_t)b->buf + doff, len + 40, lkey(b) };
	struct ibv_recv_wr rwr = { .wr_id = 2, .sg_list = &rsge, .num_sge = 1 }, *rbad;
	struct ibv_send_wr wr = {}, *bad;
	struct ibv_wc wc;
	char what[128];

	snprintf(what, sizeof(what), "%s->%s UD len %zu at %zu->%zu", a->name, b->name,
		 len, soff, doff);
	transfers++;
	zap(a);
	zap(b);
	fill_pattern(a->buf, BUF_LEN, seed, 0);
	fill_pattern(b->buf, BUF_LEN, seed + 1, 0);
	wr.wr_id = 1;
	wr.opcode = IBV_WR_SEND;
	wr.sg_list = &ssge;
	wr.num_sge = 1;
	wr.send_flags = IBV_SEND_SIGNALED;
	wr.wr.ud.ah = a->ah;
	wr.wr.ud.remote_qpn = b->ud->qp_num;
	wr.wr.ud.remote_qkey = QKEY;
	if (ibv_post_recv(b->ud, &rwr, &rbad) || ibv_post_send(a->ud, &wr, &bad) ||
	    poll_for(a, 1, NULL)) {
		failf(what, "post or send completion");
		return;
	}
	/*
	 * UD may be lost on a lossy wire: a missing receive is not an error,
	 * but its receive WQE must go (the next message would land in it).
	 */
	if (poll_within(b, 1, &wc, 3)) {
		struct ibv_qp_attr a = { .qp_state = IBV_QPS_ERR };

		transfers--;
		if (ibv_modify_qp(b->ud, &a, IBV_QP_STATE))
			die("modify_qp ERR");
		while (ibv_poll_cq(b->cq, 1, &wc) > 0)
			;
		a.qp_state = IBV_QPS_RESET;
		if (ibv_modify_qp(b->ud, &a, IBV_QP_STATE) || ud_to_rts(b))
			die("UD QP reset");
		return;
	}
	if (wc.byte_len != len + 40 || wc.src_qp != a->ud->qp_num) {
		failf(what, "receive completion: byte_len %u src_qp %u", wc.byte_len,
		      wc.src_qp);
		return;
	}
	check(what, b, doff, 40, len, seed, soff, seed + 1);
}

static enum mr_mode parse_mode(const char *s)
{
	if (!strcmp(s, "pinned"))
		return MR_PINNED;
	if (!strcmp(s, "odp"))
		return MR_ODP;
	if (!strcmp(s, "implicit"))
		return MR_IMPLICIT;
	fprintf(stderr, "mode: pinned, odp or implicit\n");
	exit(2);
}

/*
 * The peer is gone (its QP destroyed, as when its process is killed): a
 * WRITE fails with IBV_WC_RETRY_EXC_ERR once its 7 retries of the QP's
 * 67 ms timeout have run out, well within 10 s.
 */
static int peer_lost(struct side *a, struct side *b)
{
	struct ibv_sge sge = { (uintptr_t)a->buf, 4096, lkey(a) };
	struct ibv_send_wr wr = {}, *bad;
	double start, end;
	struct ibv_wc wc;
	int n;

	if (ibv_destroy_qp(b->rc))
		die("destroy_qp");
	b->rc = NULL;
	start = now_s();
	end = start + 10;

	wr.opcode = IBV_WR_RDMA_WRITE;
	wr.sg_list = &sge;
	wr.num_sge = 1;
	wr.send_flags = IBV_SEND_SIGNALED;
	wr.wr.rdma.remote_addr = (uintptr_t)b->buf;
	wr.wr.rdma.rkey = rkey(b);
	if (ibv_post_send(a->rc, &wr, &bad))
		die("post_send");
	do {
		n = ibv_poll_cq(a->cq, 1, &wc);
	} while (!n && now_s() < end);
	/* 8 sends 67 ms apart at least: not before 0.4 s. */
	if (n != 1 || wc.status != IBV_WC_RETRY_EXC_ERR || now_s() - start < 0.4) {
		printf("FAIL peer gone: %s after %.2f s\n",
		       n == 1 ? ibv_wc_status_str(wc.status) : "no completion",
		       now_s() - start);
		return 1;
	}
	printf("peer gone: IBV_WC_RETRY_EXC_ERR after %.2f s\n", now_s() - start);
	return 0;
}

/* Every opcode from a to b. */
static void one_way(struct side *a, struct side *b, const size_t *lens, int nlens)
{
	static const size_t offs[][2] = {	/* source, destination */
		{ 0, 0 }, { 1, 63 }, { 63, 1 }, { 4095, 7 }, { 13, 4095 },
	};
	static const enum ibv_wr_opcode ops[] = {
		IBV_WR_SEND, IBV_WR_SEND_WITH_IMM, IBV_WR_RDMA_WRITE,
		IBV_WR_RDMA_WRITE_WITH_IMM, IBV_WR_RDMA_READ,
	};
	uint64_t seed = 1;

	for (unsigned int o = 0; o < sizeof(ops) / sizeof(ops[0]); o++)
		for (int l = 0; l < nlens; l++)
			for (unsigned int f = 0; f < sizeof(offs) / sizeof(offs[0]); f++)
				rc_xfer(a, b, ops[o], lens[l], offs[f][0], offs[f][1],
					seed++);
	for (size_t off = 0; off < 64; off += 8) {
		atomic_xfer(a, b, true, off, 4096 - 8 - off, seed++);
		atomic_xfer(a, b, false, 4096 + off, off, seed++);
		if (send_ops(a) && send_ops(b))
			atomic_write_xfer(a, b, 8192 + 8 + off, seed++);
	}
	for (int l = 0; l < nlens; l++)
		if (lens[l] <= MTU)
			for (unsigned int f = 0; f < sizeof(offs) / sizeof(offs[0]); f++)
				ud_xfer(a, b, lens[l], offs[f][0], offs[f][1], seed++);
}

int main(int argc, char **argv)
{
	struct side s[2] = {};
	size_t lens[16] = { 0, 1, MTU - 1, MTU, MTU + 1, 65537, (1 << 20) + 3 };
	int nlens = 7;

	xrc = getenv("SODP_WIRE_XRC");
	if (argc < 5) {
		fprintf(stderr, "usage: %s DEV_A MODE_A DEV_B MODE_B [LENGTHS|lost]\n",
			argv[0]);
		return 2;
	}
	if (argc > 5 && strcmp(argv[5], "lost")) {
		char *p = argv[5];

		for (nlens = 0; *p && nlens < 16; nlens++) {
			lens[nlens] = strtoul(p, &p, 0);
			if (*p == ',')
				p++;
		}
	}
	for (int i = 0; i < 2; i++) {
		s[i].name = argv[1 + 2 * i];
		s[i].mode = parse_mode(argv[2 + 2 * i]);
		if (open_side(&s[i]))
			die(s[i].name);
		if (map_side(&s[i]))
			die("mmap or reg_mr");
		if (xrc ? make_xrc(&s[i]) : !(s[i].rc = make_qp(&s[i], IBV_QPT_RC)))
			die("XRC or RC QP");
		s[i].ud = make_qp(&s[i], IBV_QPT_UD);
		if (!s[i].ud)
			die("create_qp");
	}
	for (int i = 0; i < 2; i++)
		if (rc_connect(&s[i], &s[!i]) || ud_ready(&s[i], &s[!i]))
			die("modify_qp");
	if (argc > 5 && !strcmp(argv[5], "lost"))
		return peer_lost(&s[0], &s[1]);
	one_way(&s[0], &s[1], lens, nlens);
	one_way(&s[1], &s[0], lens, nlens);
	printf("wire-xfer: %lu transfers, %lu failed\n", transfers, failures);
	return failures ? 1 : 0;
}
