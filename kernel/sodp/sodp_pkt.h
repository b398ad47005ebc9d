/* SPDX-License-Identifier: GPL-2.0 OR Linux-OpenIB */
/*
 * rdma_sodp: the packets the engine's stages exchange.  The fields are
 * those of RoCEv2 headers (BTH, XRCETH, RETH, AtomicETH, ImmDt/IETH, DETH, AETH,
 * AtomicAckETH, and the GRH addresses); the wire transport (sodp_wire.h)
 * puts
 * the same packets on the network.  In-kernel (loopback) delivery passes
 * the payload by reference and the response back by value: the bytes are
 * copied once, from the source pages to the destination pages.
 *
 * Copyright (c) 2026 The sodp authors.
 */
#ifndef SODP_PKT_H
#define SODP_PKT_H

#include <rdma/ib_pack.h>

#include "sodp.h"
#include "sodp_udp.h"
#include "sodp_wire.h"

enum sodp_op {
	SODP_OP_SEND,
	SODP_OP_WRITE,
	SODP_OP_READ,
	SODP_OP_CMP_SWP,
	SODP_OP_FETCH_ADD,
	SODP_OP_ATOMIC_WRITE,		/* 8 bytes, one packet, ACKed as a WRITE */
	/* Local operations: run by the requester in order, no packet. */
	SODP_OP_REG_MR,
	SODP_OP_BIND_MW,
	SODP_OP_LOCAL_INV,
};

struct sodp_pkt {
	/* BTH: the opcode as op, first, last, imm, and its transport */
	enum sodp_op op;
	bool first;
	bool last;
	bool imm;
	bool inv;			/* SEND with Invalidate: ex is the rkey */
	bool ud;
	bool uc;			/* unreliable connected: nothing answers */
	bool xrc;			/* extended reliable connected */
	bool solicited;
	u32 dqpn;
	u32 psn;
	/* XRCETH: the XRC SRQ a request is for */
	u32 srqn;
	/* RETH */
	u64 va;
	u32 rkey;
	u32 dma_len;
	/* AtomicETH */
	u64 swap_add;
	u64 compare;
	/* ImmDt or IETH (network order for ImmDt, as in the WQE; an rkey) */
	u32 ex;
	/* DETH */
	u32 qkey;
	u32 sqpn;
	/* GRH */
	union ib_gid sgid;
	union ib_gid dgid;
	enum rdma_network_type net_type;
	u8 tclass;
	u8 hop_limit;
	u32 flow_label;
	/* payload */
	struct sodp_mem *payload;
	u32 paylen;
	/*
	 * Packets (PSNs) this one stands for.  In-kernel delivery carries a
	 * burst of consecutive MTU packets at once, as segmentation offload
	 * does; the wire sends one MTU packet at a time.
	 */
	u32 npkts;
};

/* Largest burst of MTU packets handed over in one delivery. */
#define SODP_BURST_BYTES	(64 * 1024)

enum sodp_syndrome {
	SODP_ACK,
	SODP_RNR_NAK,
	SODP_NAK_SEQ,
	SODP_NAK_INV_REQ,
	SODP_NAK_REM_ACCESS,
	SODP_NAK_REM_OP,
	SODP_DROPPED,			/* nothing came back */
	/*
	 * In-kernel delivery only: the payload, read from the sender's pages
	 * by reference, could not be read (no VMA or no permission there any
	 * more).  On a wire the sender would have failed before sending.
	 */
	SODP_NAK_SRC_FAULT,
	/*
	 * In-kernel delivery only: nothing of the packet was applied, because
	 * a page could not be had now (a page of the payload not mapped when
	 * the responder read it, since it never faults the sender's pages; or
	 * a fault of the responder's own pages interrupted, short of memory
	 * or outpaced by invalidations): fault the payload and send it again.
	 */
	SODP_NAK_RESEND,
};

struct sodp_ack {
	enum sodp_syndrome syndrome;	/* AETH */
	u8 rnr_timer;
	u32 msn;
	/*
	 * The PSN the answer carries: the last one acknowledged, the one a
	 * NAK is for, or the expected one for a sequence NAK.
	 */
	u32 psn;
	bool dup;			/* an answer to a duplicate request */
	u64 orig;			/* AtomicAckETH */
	/* RDMA READ response: its payload, by reference */
	struct sodp_mr *read_mr;
	u64 read_va;
	u32 read_len;
};

/* sodp_net.c: reach a destination QP, hand it packets. */
struct sodp_qp *sodp_net_connect(struct sodp_dev *from, const union ib_gid *dgid,
				 u32 dqpn);
void sodp_net_disconnect(struct sodp_qp *dst);
void sodp_net_xmit(struct sodp_qp *dst, struct sodp_pkt *pkt, struct sodp_ack *ack);

/* sodp_req.c */
int sodp_req_decode(struct sodp_qp *qp, const struct sodp_send_wqe *wqe,
		    struct sodp_pkt *pkt);
int sodp_req_local(struct sodp_qp *qp, struct sodp_send_wqe *wqe,
		   struct sodp_pkt *pkt, struct sodp_mem *local, u32 *len);
static inline bool sodp_op_is_local(enum sodp_op op)
{
	return op >= SODP_OP_REG_MR;
}

/* Does the request carry the requester's bytes (else it brings some back)? */
static inline bool sodp_op_outbound(enum sodp_op op)
{
	return op == SODP_OP_SEND || op == SODP_OP_WRITE || op == SODP_OP_ATOMIC_WRITE;
}
int sodp_req_local_op(struct sodp_qp *qp, const struct sodp_send_wqe *wqe,
		      enum sodp_op op);

/* sodp_comp.c: what an answer means for the WQE that asked. */
unsigned long sodp_ack_timeout(u8 timeout);
unsigned long sodp_rnr_delay(u8 rnr_timer);
int sodp_comp_land(struct sodp_mem *local, u32 off, struct sodp_mem *src, u32 len);
int sodp_comp_ack(struct sodp_qp *qp, struct sodp_pkt *pkt,
		  struct sodp_ack *ack, struct sodp_mem *local);
void sodp_comp_send(struct sodp_qp *qp, const struct sodp_send_wqe *wqe,
		    enum ib_wc_status status, u32 byte_len);
#define SODP_REQ_WAIT	(-1)	/* retry the WQE later (RNR, or no answer) */
#define SODP_REQ_RESEND	(-2)	/* fault the payload in and send the packet again */

/* sodp_mcast.c: UD messages to a multicast GID and the multicast QPN */
void sodp_mcast_deliver(struct net *net, struct sodp_dev *only, struct sodp_pkt *pkt);
int sodp_mcast_send(struct sodp_qp *qp, struct sodp_pkt *pkt,
		    struct sodp_mem *local, u32 len);

/* sodp_resp.c */
void sodp_resp_rcv(struct sodp_qp *qp, struct sodp_pkt *pkt,
		   struct sodp_ack *ack);

/*
 * sodp_wire_rx.c: a packet from the wire, checked and parsed, and the
 * packets the engine puts on the wire.
 */
struct sodp_wire_rx {
	struct sk_buff *skb;
	const u8 *bth;
	u8 opcode;			/* with XRC's: the RC opcode of the same */
	u32 flags;			/* SODP_WF_* */
	struct sodp_wire_layout l;
	u8 *payload;
	u32 paylen;
	union ib_gid sgid;		/* from the IP header */
	union ib_gid dgid;
	enum rdma_network_type net_type;
};

struct sodp_wire_tx {
	u8 opcode;
	bool se;
	bool ackreq;
	u32 dqpn;
	u32 psn;
	u32 srqn;			/* XRCETH */
	u64 va;				/* RETH, AtomicETH */
	u32 rkey;
	u32 dma_len;
	u64 swap_add;
	u64 compare;
	u32 imm;			/* ImmDt, as it travels */
	u32 inv_rkey;			/* IETH */
	u32 qkey;			/* DETH */
	u32 sqpn;
	u8 syndrome;			/* AETH */
	u32 msn;
	u64 orig;			/* AtomicAckETH */
	struct sodp_mem *payload;	/* at the bytes to send, or NULL */
	u32 paylen;
};

int sodp_wire_send(struct sodp_dev *sdev, const struct sodp_wire_path *path,
		   struct sodp_wire_tx *tx);
void sodp_wire_qp_path(struct sodp_qp *qp, const union ib_gid *sgid,
		       const union ib_gid *dgid, enum rdma_network_type net_type,
		       struct sodp_wire_path *path);

/* sodp_wire_req.c */
int sodp_wire_ud_send(struct sodp_qp *qp, struct sodp_pkt *pkt,
		      struct sodp_mem *local, u32 len);
int sodp_wire_uc_send(struct sodp_qp *qp, struct sodp_pkt *pkt,
		      struct sodp_mem *local, u32 len);
void sodp_wire_comp_rcv(struct sodp_qp *qp, struct sodp_wire_rx *rx);

#endif /* SODP_PKT_H */
