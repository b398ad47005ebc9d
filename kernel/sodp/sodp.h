/* SPDX-License-Identifier: GPL-2.0 OR Linux-OpenIB */
/*
 * rdma_sodp: a soft RoCE device.  Objects, and the interfaces between its
 * files.
 *
 * Copyright (c) 2026 The sodp authors.
 */
#ifndef SODP_H
#define SODP_H

#include <linux/kref.h>
#include <linux/mutex.h>
#include <linux/netdevice.h>
#include <linux/spinlock.h>
#include <linux/workqueue.h>
#include <linux/xarray.h>
#include <rdma/ib_addr.h>
#include <rdma/ib_verbs.h>
#include <rdma/ib_umem.h>
#include <rdma/ib_umem_hmm.h>
#include <rdma/uverbs_ioctl.h>
#include <uapi/rdma/sodp-abi.h>

#include "sodp_compat.h"

#define SODP_MAX_QP		4096
#define SODP_MAX_CQ		4096
#define SODP_MAX_MR		65536
/* A key is index << 8 | a random byte; memory windows' indexes are above. */
#define SODP_MR_INDEX_MAX	0x7fffff
#define SODP_MW_INDEX_MIN	0x800000
#define SODP_MW_INDEX_MAX	0xffffff
#define SODP_MAX_MW		65536
#define SODP_MAX_SRQ		1024
#define SODP_MAX_AH		8192
#define SODP_MAX_PD		4096
#define SODP_MAX_SRQ_WR		16384
#define SODP_MAX_RD_ATOMIC	16	/* as a responder: results kept per QP */
#define SODP_MAX_INIT_RD_ATOMIC	128	/* as a requester: a count, as rxe's */
#define SODP_MAX_MSG_SIZE	(1U << 31)
#define SODP_GID_TABLE_LEN	32
#define SODP_QPN_MIN		16
#define SODP_MCAST_QPN		0xffffff	/* a UD message to a group */
#define SODP_MAX_FAST_REG_PAGES	512	/* pages of a fast-registration MR */
#define SODP_MAX_MCAST_GRP	256	/* multicast groups per device */
/* Newer kernels' IB_UVERBS_DEVICE_ATOMIC_WRITE; passed through by 6.1's too. */
#define SODP_DEVICE_ATOMIC_WRITE BIT_ULL(40)
#define SODP_MAX_MCAST_QP_ATTACH 16	/* QPs per group */

enum sodp_counter {
	SODP_CNT_SENT_PKTS,		/* MTU packets sent */
	SODP_CNT_RCVD_PKTS,		/* MTU packets received */
	SODP_CNT_SENT_BYTES,
	SODP_CNT_RCVD_RNR_NAK,		/* RNR NAKs this device's requesters got */
	SODP_CNT_SENT_RNR_NAK,		/* RNR NAKs its responders sent */
	SODP_CNT_RETRANSMITS,		/* requests retried after no answer */
	SODP_CNT_REM_ACCESS_ERR,	/* requests its responders refused */
	SODP_CNT_CQ_OVERRUN,
	SODP_CNT_ODP_RESENDS,		/* packets resent: an ODP page not to be had */
	/* RoCEv2 */
	SODP_CNT_DUP_REQ,		/* duplicate requests its responders got */
	SODP_CNT_OUT_OF_SEQ,		/* requests ahead of the expected PSN */
	SODP_CNT_RCVD_SEQ_NAK,		/* sequence NAKs its requesters got */
	SODP_CNT_RETRY_EXCEEDED,	/* WQEs failed: no answer after retry_cnt */
	SODP_CNT_SEND_ERR,		/* packets the IP stack did not take */
	SODP_CNT_RCVD_ICRC_ERR,		/* dropped: bad ICRC */
	SODP_CNT_RCVD_DROP_BAD,		/* dropped: malformed, or not for us */
	SODP_CNT_RCVD_DROP_QP,		/* dropped: no such QP, or not its peer */
	SODP_CNT_RCVD_DROP_FULL,	/* dropped: receive queue full */
	SODP_CNT_DOORBELLS,		/* send doorbells of user QPs (syscalls) */
	SODP_NUM_ENGINE_COUNTERS,
	/* then ib_umem_hmm's statistics, in enum ib_umem_hmm_stat order */
	SODP_NUM_COUNTERS = SODP_NUM_ENGINE_COUNTERS + IB_UMEM_HMM_NUM_STATS
};

struct sodp_udp_ns;

struct sodp_dev {
	struct ib_device ibdev;
	struct net_device *ndev;
	struct sodp_udp_ns *udp;	/* the wire's sockets, or NULL: local only */
	struct sk_buff_head rx_queue;	/* packets from the wire, for rx_work */
	struct work_struct rx_work;
	struct list_head entry;		/* in sodp_devices, under RCU */
	bool listed;			/* entry is on that list */
	/*
	 * Lookups by number take a reference under the xarray's lock: the
	 * core frees a QP or AH as soon as its destroy verb returns.
	 */
	struct xarray qps;		/* qp_num -> sodp_qp */
	struct xarray mrs;		/* key >> 8 -> sodp_mr (freed after RCU) */
	struct xarray mws;		/* key >> 8 -> sodp_mw, used under its lock */
	struct xarray ahs;		/* ah_num -> sodp_ah */
	struct xarray srqs;		/* XRC SRQ number -> sodp_srq */
	u32 next_qpn;
	u32 next_srqn;
	unsigned int num_mcast_grps;	/* under sodp_mcast_lock */
	u32 next_mr_index;		/* cyclic, from a random start */
	u32 next_mw_index;
	atomic_t num_qps, num_cqs, num_mrs, num_mws, num_srqs, num_pds;
	atomic64_t counters[SODP_NUM_ENGINE_COUNTERS];
	struct ib_umem_hmm_device hmm;	/* ODP: page tracking, statistics */
};

/* The largest IB MTU (bytes, at least 256) the netdev's MTU carries. */
static inline int sodp_port_mtu(struct sodp_dev *sdev)
{
	return max(ib_mtu_enum_to_int(iboe_get_mtu(sdev->ndev->mtu)), 256);
}

static inline void sodp_count(struct sodp_dev *sdev, enum sodp_counter c, s64 n)
{
	atomic64_add(n, &sdev->counters[c]);
}

struct sodp_ucontext {
	struct ib_ucontext ibuc;
};

struct sodp_pd {
	struct ib_pd ibpd;
};

/* An XRC domain: the core keeps its target QPs; we keep nothing. */
struct sodp_xrcd {
	struct ib_xrcd ibxrcd;
};

struct sodp_ah {
	struct ib_ah ibah;
	u32 num;
	union ib_gid dgid;
	union ib_gid sgid;
	enum rdma_network_type net_type;
	u8 tclass;
	u8 hop_limit;
	u32 flow_label;
};

/*
 * A ring shared with user space (or private, for kernel consumers).  The
 * kernel keeps its own copy of the index it owns (the consumer index of
 * a work queue, the producer index of a CQ) and only publishes it: the
 * process can write anything into the ring.
 */
struct sodp_queue {
	struct sodp_ring *ring;
	u32 num_slots;
	u32 slot_size;
	size_t size;
	u32 prod;			/* kernel-produced rings (CQ, kernel WQs) */
	u32 cons;			/* kernel-consumed rings (SQ, RQ, SRQ) */
	struct rdma_user_mmap_entry *mmap;	/* NULL for kernel rings */
};

struct sodp_cq {
	struct ib_cq ibcq;
	struct sodp_queue q;
	spinlock_t lock;		/* producer side, notify */
	u8 notify;			/* IB_CQ_* armed, or 0 */
	bool overflow;
	bool is_user;
};

enum sodp_mr_type {
	SODP_MR_DMA,		/* kernel virtual addresses */
	SODP_MR_USER,		/* pinned user memory */
	SODP_MR_ODP,		/* on-demand paged user memory */
	SODP_MR_FAST,		/* kernel pages, registered by REG_MR WRs */
};

/*
 * A fast-registration region's translation, set by ib_map_mr_sg() and
 * taken by a REG_MR work request: kernel addresses (sodp's DMA addresses)
 * of its pages, page_size each, the first holding iova.
 */
struct sodp_fast_map {
	u64 *pages;
	u32 max_pages;
	u32 npages;			/* by map_mr_sg */
	u32 first_off;			/* of iova in pages[0] */
	u32 page_shift;			/* taken at REG_MR */
};

struct sodp_mr {
	struct ib_mr ibmr;
	struct kref ref;
	struct completion released;
	enum sodp_mr_type type;
	/*
	 * The key transfers name it by (an ib_update_fast_reg_key() changes
	 * ibmr.lkey before its REG_MR runs), and, for a fast-registration
	 * region, whether it is registered (set and cleared by REG_MR and
	 * invalidation, under lock, as are access, iova and length).
	 */
	u32 key;
	bool valid;
	spinlock_t lock;
	int access;
	u64 iova;
	u64 length;
	struct ib_umem *umem;
	struct ib_umem_hmm *odp;
	struct page **pages;		/* USER: the page holding iova + i * PAGE_SIZE */
	unsigned long npages;
	struct sodp_fast_map fast;
	atomic_t num_mw;		/* memory windows bound to it */
	struct rcu_head rcu;		/* lookups run under RCU */
};

/*
 * A memory window: remote access to part of a region, by its own rkey.
 * Everything that uses one (an rkey lookup, a bind, an invalidation, the
 * dealloc) does so under mws' lock and then its own: the core frees it as
 * soon as dealloc_mw returns.  A bound window holds a reference on its
 * region (a deregistration unbinds it first).
 */
struct sodp_mw {
	struct ib_mw ibmw;
	u32 index;			/* in mws */
	spinlock_t lock;		/* the binding */
	bool valid;
	u32 rkey;			/* of the binding, as lookups match it */
	struct sodp_mr *mr;		/* bound to, referenced; NULL if never */
	u64 addr;
	u64 length;
	int access;			/* IB_ACCESS_REMOTE_* */
	u32 qpn;			/* type 2: the QP that bound it, the only one to use it */
};

/*
 * An XRC SRQ is also reached by its number (an XRC target QP's packet
 * names it): sodp_srq_get() takes a reference under srqs' lock, and
 * destroy_srq unpublishes the number and waits for every reference.
 */
struct sodp_srq {
	struct ib_srq ibsrq;
	struct sodp_queue rq;
	struct mutex lock;		/* consumer side */
	spinlock_t post_lock;		/* kernel producers */
	u32 limit;
	bool is_user;
	struct kref ref;		/* XRC: lookups by number */
	struct completion released;
	u64 serial;			/* XRC: which SRQ of the number it is */
};

/* Bytes to move: a scatter list of regions and kernel buffers, and a cursor. */
struct sodp_mem_seg {
	struct sodp_mr *mr;		/* NULL: kbuf */
	void *kbuf;
	u64 va;
	u32 key;			/* mr's key when added (fast registration) */
	u32 len;
};

struct sodp_mem {
	/* (One more than a WQE's: a UD receive's GRH, then the sender's.) */
	struct sodp_mem_seg seg[SODP_MAX_SGE + 1];
	unsigned int nseg;
	unsigned int cur;		/* segment of the next byte */
	u32 off;			/* within it */
	struct ib_umem_hmm_span span;	/* ODP pages held for the cursor */
	struct ib_umem_hmm *span_umem;	/* the region's umem the span is of */
	/*
	 * A copy from this list must not fault its pages in: they are a
	 * sender's, faulted in by the sender itself, and the responder copying
	 * them must not wait for another process's page faults.
	 */
	bool no_fault;
};

/* sodp_mem_copy() results */
enum {
	SODP_COPY_OK,
	SODP_COPY_SHORT,		/* a side ran out of bytes */
	SODP_COPY_SRC_FAULT,		/* an ODP page of the source failed */
	SODP_COPY_DST_FAULT,		/* ... of the destination */
	/*
	 * A page could not be had now, with nothing wrong with the memory: a
	 * no_fault source page not mapped, or a fault interrupted by a signal,
	 * short of memory, or outpaced by invalidations.  Try again.
	 */
	SODP_COPY_AGAIN,
};

/*
 * The receive WQE a message is being delivered into.  Its SGEs are
 * resolved again for every packet: no region stays referenced between
 * packets, so deregistration never waits for a peer to finish a message.
 */
struct sodp_recv_ctx {
	struct sodp_recv_wqe wqe;
	bool active;
	u32 offset;			/* bytes received so far */
	/* XRC: the SRQ it was taken from (numbers are reused) */
	u32 srqn;
	u64 srq_serial;
};

/* A WQE the wire requester has started: its copy, and its PSNs. */
struct sodp_wire_wqe {
	struct sodp_send_wqe wqe;
	u32 psn;			/* its first PSN */
	u32 npsn;			/* PSNs it takes */
	u32 len;			/* bytes it moves */
	int status;			/* a local error found sending it, or 0 */
	bool rd_atomic;			/* READ or atomic: answered by responses */
	u8 local_op;			/* REG_MR, BIND_MW, LOCAL_INV (enum sodp_op), or 0 */
};

/*
 * The RC requester and completer on the wire, under sq_lock.  Ring
 * indexes: sq.cons <= next <= copied <= sq.prod; WQEs in [sq.cons, copied)
 * have their copy in wqes[], those in [sq.cons, next) are sent whole, and
 * the WQE at next has its first next_pkt packets sent.
 */
struct sodp_wire_req {
	struct sodp_wire_wqe *wqes;	/* by ring index, sq.num_slots */
	u32 copied;
	u32 next;
	u32 next_pkt;
	u32 una;			/* oldest PSN not acknowledged */
	u32 high;			/* next PSN never sent (sq_psn goes back) */
	u32 timer_una;			/* una when the timer was armed */
	u32 gap_una;			/* una of the last go-back on a gap */
	u32 rd_out;			/* READ/atomic WQEs sent, not complete */
	u32 since_ackreq;		/* packets sent without AckReq */
	u32 cwnd;			/* PSNs that may be outstanding */
	u32 cwnd_acked;			/* PSNs acknowledged toward cwnd + 1 */
	u32 ssthresh;			/* cwnd doubles per round trip below */
	u32 recover;			/* losses before this PSN: cut already */
	bool recover_valid;
	bool gap_valid;
	bool rnr_wait;			/* stopped by an RNR NAK until the timer */
	bool timer_fired;
};

/* The result of an executed atomic, for its duplicates (IBTA 9.7.5.1.4). */
struct sodp_atomic_reply {
	u32 psn;
	bool valid;
	u64 orig;
};

struct sodp_qp {
	struct ib_qp ibqp;
	struct kref ref;
	struct completion released;
	struct sodp_dev *dev;
	bool is_user;
	bool bound_mw;			/* it bound a memory window once */

	struct mutex state_lock;	/* state and attributes */
	enum ib_qp_state state;
	u32 dest_qpn;
	u32 qkey;
	u32 sq_psn;
	u32 rq_psn;
	int access;			/* IB_ACCESS_REMOTE_* allowed */
	u32 mtu;
	u8 rnr_retry;
	u8 retry_cnt;
	u8 min_rnr_timer;
	u8 timeout;
	u8 max_rd_atomic;
	u8 max_dest_rd_atomic;
	u16 pkey_index;
	union ib_gid dgid;		/* RC: the peer */
	union ib_gid sgid;		/* RC: ours, from the address vector */
	enum rdma_network_type net_type;
	u8 tclass;
	u8 hop_limit;
	u32 flow_label;
	bool wire;			/* RC: the peer is reached over RoCEv2 */
	u8 sgid_index;
	bool sq_sig_all;
	u32 max_send_sge, max_recv_sge, max_inline;

	struct sodp_queue sq;
	struct sodp_queue rq;		/* unused with an SRQ, and by XRC QPs */
	/*
	 * An XRC target QP has no SRQ, CQ or PD of its own: while a packet
	 * is handled (under rq_lock, a reference held) srq and rcq are those
	 * of the XRC SRQ the packet names, and NULL otherwise.
	 */
	struct sodp_srq *srq;
	struct sodp_cq *scq;
	struct sodp_cq *rcq;
	struct ib_xrcd *xrcd;		/* XRC target: its domain */

	/* Kernel consumers post from atomic context: producer-side locks. */
	spinlock_t sq_post_lock;
	spinlock_t rq_post_lock;

	/* Requester: runs in work, under sq_lock. */
	struct mutex sq_lock;
	struct work_struct req_work;
	struct delayed_work retry_work;	/* RNR and ACK-timeout retries */
	/* jiffies until which a stream's doorbell runs it (sodp_req_doorbell()) */
	unsigned long faulting_until;
	u8 rnr_left;			/* RNR retries left for the head WQE */
	u8 retry_left;			/* retransmissions left for it */
	bool waiting;			/* it waits to be retried */
	struct sodp_wire_req w;		/* RC on the wire */

	/*
	 * Responder: under rq_lock.  modify_qp takes it too, so a packet
	 * sees the QP's attributes and state whole, and a reset never pulls
	 * the receive state from under a packet being delivered.
	 */
	struct mutex rq_lock;
	struct sodp_recv_ctx recv;
	struct sodp_mem resp_mem;	/* one packet's buffers; empty between packets */
	/*
	 * The last packet was not applied (its sender's pages were taken back
	 * before we read them): the next first packet is its resend and may
	 * reuse the receive WQE and WRITE state it set up.
	 */
	bool resp_resend;	/* see sodp_resp_start() */
	bool resp_nak_sent;		/* a sequence NAK for rq_psn went out */
	/* UC: a packet of the message was lost; drop up to a first packet. */
	bool resp_uc_drop;
	/* Atomics executed, for their duplicates: max_dest_rd_atomic kept. */
	struct sodp_atomic_reply resp_atomics[SODP_MAX_RD_ATOMIC];
	u32 resp_atomic_next;
	bool write_active;		/* an RDMA WRITE in progress: */
	u32 write_rkey;			/* its region, checked on every packet */
	u64 write_va;
	u32 write_left;
	u32 write_len;			/* its length, from its first packet */
	u32 resp_msn;
};

static inline struct sodp_dev *to_sdev(struct ib_device *d)
{
	return container_of(d, struct sodp_dev, ibdev);
}

static inline struct sodp_qp *to_sqp(struct ib_qp *q)
{
	return container_of(q, struct sodp_qp, ibqp);
}

/*
 * Its own receive queue: none on XRC QPs, none with an SRQ (the type
 * first: a target QP's srq changes under rq_lock).
 */
static inline bool sodp_qp_has_rq(const struct sodp_qp *qp)
{
	return qp->ibqp.qp_type != IB_QPT_XRC_INI &&
	       qp->ibqp.qp_type != IB_QPT_XRC_TGT && !qp->srq;
}

/*
 * The PD whose regions the QP's WQEs and requests name: an XRC target
 * QP's is its packet's XRC SRQ's (NULL between packets: no region).
 */
static inline struct ib_pd *sodp_qp_pd(const struct sodp_qp *qp)
{
	if (qp->ibqp.qp_type == IB_QPT_XRC_TGT)
		return qp->srq ? qp->srq->ibsrq.pd : NULL;
	return qp->ibqp.pd;
}

/* UD and GSI: each message addressed by its WQE, one packet, no ACK. */
static inline bool sodp_qp_datagram(const struct sodp_qp *qp)
{
	return qp->ibqp.qp_type == IB_QPT_UD || qp->ibqp.qp_type == IB_QPT_GSI;
}

static inline struct sodp_cq *to_scq(struct ib_cq *c)
{
	return container_of(c, struct sodp_cq, ibcq);
}

static inline struct sodp_mr *to_smr(struct ib_mr *m)
{
	return container_of(m, struct sodp_mr, ibmr);
}

static inline struct sodp_mw *to_smw(struct ib_mw *w)
{
	return container_of(w, struct sodp_mw, ibmw);
}

static inline struct sodp_srq *to_ssrq(struct ib_srq *s)
{
	return container_of(s, struct sodp_srq, ibsrq);
}

static inline struct sodp_ah *to_sah(struct ib_ah *a)
{
	return container_of(a, struct sodp_ah, ibah);
}

static inline struct sodp_pd *to_spd(struct ib_pd *p)
{
	return container_of(p, struct sodp_pd, ibpd);
}

extern struct workqueue_struct *sodp_wq;

/* sodp_main.c */
struct sodp_dev *sodp_find_dev_by_netdev(struct net_device *ndev);
struct sodp_dev *sodp_find_dev_by_gid(struct sodp_dev *from, const union ib_gid *gid);
void sodp_dealloc_driver(struct ib_device *ibdev);

/* sodp_mcast.c */
int sodp_attach_mcast(struct ib_qp *ibqp, union ib_gid *gid, u16 lid);
int sodp_detach_mcast(struct ib_qp *ibqp, union ib_gid *gid, u16 lid);
void sodp_mcast_cleanup(struct sodp_dev *sdev);
bool sodp_gid_is_mcast(const union ib_gid *gid);

/* sodp_stats.c */
struct rdma_hw_stats *sodp_alloc_hw_port_stats(struct ib_device *ibdev, u32 port);
int sodp_get_hw_stats(struct ib_device *ibdev, struct rdma_hw_stats *stats,
		      u32 port, int index);

/* sodp_queue.c */
int sodp_mmap(struct ib_ucontext *uctx, struct vm_area_struct *vma);
void sodp_mmap_free(struct rdma_user_mmap_entry *entry);
int sodp_queue_init(struct sodp_queue *q, struct ib_udata *udata,
		    u32 num_slots, u32 slot_size, struct sodp_ring_info *info);
void sodp_queue_cleanup(struct sodp_queue *q);
static inline void *sodp_queue_slot(struct sodp_queue *q, u32 index)
{
	return (u8 *)q->ring + SODP_RING_HDR_SIZE +
	       (size_t)(index & (q->num_slots - 1)) * q->slot_size;
}

/* Consumer side: slots the producer filled and we have not taken. */
u32 sodp_queue_count(struct sodp_queue *q);
void sodp_queue_consume(struct sodp_queue *q);
bool sodp_queue_pop(struct sodp_queue *q, void *slot);
void sodp_queue_drop_all(struct sodp_queue *q);
/* Producer side (the kernel produces): slots in use, and publishing one. */
u32 sodp_queue_used(struct sodp_queue *q);
void sodp_queue_publish(struct sodp_queue *q);

/* sodp_verbs.c */
extern const struct ib_device_ops sodp_dev_ops;
extern const struct uapi_definition sodp_uapi_defs[];

/* sodp_cq.c */
int sodp_create_cq(struct ib_cq *ibcq, const struct ib_cq_init_attr *attr,
		   struct ib_udata *udata);
int sodp_destroy_cq(struct ib_cq *ibcq, struct ib_udata *udata);
int sodp_resize_cq(struct ib_cq *ibcq, int cqe, struct ib_udata *udata);
int sodp_poll_cq(struct ib_cq *ibcq, int num, struct ib_wc *wc);
int sodp_req_notify_cq(struct ib_cq *ibcq, enum ib_cq_notify_flags flags);
void sodp_cq_post(struct sodp_cq *cq, struct sodp_qp *qp, const struct sodp_cqe *cqe,
		  bool solicited);

/* sodp_mr.c */
struct ib_mr *sodp_get_dma_mr(struct ib_pd *pd, int access);
struct ib_mr *sodp_reg_user_mr(struct ib_pd *pd, u64 start, u64 length,
			       u64 iova, int access, struct ib_udata *udata);
struct ib_mr *sodp_rereg_user_mr(struct ib_mr *ibmr, int flags, u64 start,
				 u64 length, u64 iova, int access,
				 struct ib_pd *pd, struct ib_udata *udata);
int sodp_dereg_mr(struct ib_mr *ibmr, struct ib_udata *udata);
struct ib_mr *sodp_alloc_mr(struct ib_pd *pd, enum ib_mr_type type, u32 max_num_sg);
int sodp_map_mr_sg(struct ib_mr *ibmr, struct scatterlist *sg, int sg_nents,
		   unsigned int *sg_offset);
int sodp_mr_fast_reg(struct sodp_qp *qp, const struct sodp_send_wqe *wqe);
int sodp_mr_invalidate(struct sodp_qp *qp, u32 key, bool remote);

/* sodp_mw.c */
int sodp_alloc_mw(struct ib_mw *ibmw, struct ib_udata *udata);
int sodp_dealloc_mw(struct ib_mw *ibmw);
int sodp_mw_bind(struct sodp_qp *qp, const struct sodp_send_wqe *wqe);
int sodp_mw_invalidate(struct sodp_qp *qp, u32 rkey, bool remote);
void sodp_mw_unbind_mr(struct sodp_dev *sdev, struct sodp_mr *mr);
void sodp_mw_unbind_qp(struct sodp_qp *qp);
struct sodp_mr *sodp_rkey_get(struct sodp_qp *qp, u32 rkey, u64 va, u64 len,
			      int access);
static inline bool sodp_key_is_mw(u32 key)
{
	return (key >> 8) >= SODP_MW_INDEX_MIN;
}
int sodp_advise_mr(struct ib_pd *pd, enum ib_uverbs_advise_mr_advice advice,
		   u32 flags, struct ib_sge *sg_list, u32 num_sge,
		   struct uverbs_attr_bundle *attrs);
struct sodp_mr *sodp_mr_get(struct sodp_dev *sdev, u32 key, struct ib_pd *pd,
			    u64 va, u64 len, int access);
void sodp_mr_put(struct sodp_mr *mr);

/* sodp_mem.c */
void sodp_mem_init(struct sodp_mem *m);
void sodp_mem_add_mr(struct sodp_mem *m, struct sodp_mr *mr, u64 va, u32 len);
void sodp_mem_add_kbuf(struct sodp_mem *m, void *kbuf, u32 len);
void sodp_mem_add_view(struct sodp_mem *m, const struct sodp_mem *from);
int sodp_mem_add_sges(struct sodp_mem *m, struct sodp_qp *qp,
		      const struct sodp_sge *sge, u32 num, int access);
void sodp_mem_seek(struct sodp_mem *m, u32 offset);
int sodp_mem_copy(struct sodp_mem *dst, struct sodp_mem *src, u32 len);
/* What sodp_mem_atomic() does: IBTA's atomics, and atomic write. */
enum sodp_atomic {
	SODP_ATOMIC_CMP_SWP,
	SODP_ATOMIC_FETCH_ADD,
	SODP_ATOMIC_WRITE,
};
int sodp_mem_atomic(struct sodp_mr *mr, u64 va, enum sodp_atomic op, u64 compare,
		    u64 swap_add, u64 *orig);
int sodp_mem_prefault(struct sodp_mem *m, u32 off, u32 len, bool write);
bool sodp_mem_fault_is_hard(int err);
int sodp_mr_prefault(struct sodp_mr *mr, u64 va, u64 len, bool write);
void sodp_mem_put(struct sodp_mem *m);

/* sodp_srq.c */
int sodp_create_srq(struct ib_srq *ibsrq, struct ib_srq_init_attr *init,
		    struct ib_udata *udata);
int sodp_modify_srq(struct ib_srq *ibsrq, struct ib_srq_attr *attr,
		    enum ib_srq_attr_mask mask, struct ib_udata *udata);
int sodp_query_srq(struct ib_srq *ibsrq, struct ib_srq_attr *attr);
int sodp_destroy_srq(struct ib_srq *ibsrq, struct ib_udata *udata);
int sodp_post_srq_recv(struct ib_srq *ibsrq, const struct ib_recv_wr *wr,
		       const struct ib_recv_wr **bad_wr);
bool sodp_srq_pop(struct sodp_srq *srq, struct sodp_recv_wqe *wqe);
struct sodp_srq *sodp_srq_get(struct sodp_dev *sdev, u32 srqn);
void sodp_srq_put(struct sodp_srq *srq);
int sodp_alloc_xrcd(struct ib_xrcd *ibxrcd, struct ib_udata *udata);
int sodp_dealloc_xrcd(struct ib_xrcd *ibxrcd, struct ib_udata *udata);

/* sodp_qp.c */
int sodp_create_qp(struct ib_qp *ibqp, struct ib_qp_init_attr *init,
		   struct ib_udata *udata);
int sodp_modify_qp(struct ib_qp *ibqp, struct ib_qp_attr *attr, int mask,
		   struct ib_udata *udata);
int sodp_query_qp(struct ib_qp *ibqp, struct ib_qp_attr *attr, int mask,
		  struct ib_qp_init_attr *init);
int sodp_destroy_qp(struct ib_qp *ibqp, struct ib_udata *udata);
int sodp_post_send(struct ib_qp *ibqp, const struct ib_send_wr *wr,
		   const struct ib_send_wr **bad_wr);
int sodp_post_recv(struct ib_qp *ibqp, const struct ib_recv_wr *wr,
		   const struct ib_recv_wr **bad_wr);
int sodp_post_recv_ring(struct sodp_queue *q, const struct ib_recv_wr *wr);
struct sodp_qp *sodp_qp_get(struct sodp_dev *sdev, u32 qpn);
void sodp_qp_put(struct sodp_qp *qp);
void sodp_qp_error(struct sodp_qp *qp);
void sodp_qp_fatal(struct sodp_qp *qp, enum ib_event_type event);
void sodp_qp_flush_rq(struct sodp_qp *qp);
void sodp_recv_error(struct sodp_qp *qp, u64 wr_id, enum ib_wc_status status);
void sodp_recv_post(struct sodp_qp *qp, const struct sodp_cqe *cqe, bool solicited);
bool sodp_qp_can_receive(struct sodp_qp *qp);

/* sodp_req.c */
void sodp_req_work(struct work_struct *work);
void sodp_retry_work(struct work_struct *work);
void sodp_req_kick(struct sodp_qp *qp);
void sodp_req_doorbell(struct sodp_qp *qp);

/* sodp_wire_req.c, sodp_wire_rx.c: RoCEv2 */
int sodp_wire_req_attach(struct sodp_qp *qp);
void sodp_wire_req_reset(struct sodp_qp *qp);
void sodp_wire_req_free(struct sodp_qp *qp);
bool sodp_wire_req_run(struct sodp_qp *qp, unsigned int budget);
void sodp_wire_rx_work(struct work_struct *work);

#endif /* SODP_H */
