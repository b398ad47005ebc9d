// SPDX-License-Identifier: GPL-2.0 OR Linux-OpenIB
/*
 * rdma_sodp: the in-kernel path.  A destination that is a sodp device of
 * this kernel and network namespace (its GID names it) gets a packet by a
 * call into its QP's responder, which answers with the ACK/NAK, READ
 * response or atomic response.  Any other destination is reached over
 * RoCEv2 (sodp_udp.c, sodp_wire_rx.c, sodp_wire_req.c).
 *
 * Copyright (c) 2026 The sodp authors.
 */

#include "sodp_pkt.h"

/**
 * sodp_net_connect - find the QP a message is for
 * @from: the sending device (its network namespace is searched)
 * @dgid: destination GID
 * @dqpn: destination QP number
 *
 * Return: the QP with a reference (sodp_net_disconnect() it), or NULL if
 * no device here holds the GID or it has no such QP.
 */
struct sodp_qp *sodp_net_connect(struct sodp_dev *from, const union ib_gid *dgid,
				 u32 dqpn)
{
	struct sodp_dev *sdev = sodp_find_dev_by_gid(from, dgid);
	struct sodp_qp *qp;

	if (!sdev)
		return NULL;
	qp = sodp_qp_get(sdev, dqpn);
	ib_device_put(&sdev->ibdev);
	return qp;
}

void sodp_net_disconnect(struct sodp_qp *dst)
{
	sodp_qp_put(dst);
}

void sodp_net_xmit(struct sodp_qp *dst, struct sodp_pkt *pkt, struct sodp_ack *ack)
{
	sodp_resp_rcv(dst, pkt, ack);
	if (ack->syndrome == SODP_DROPPED)
		return;
	sodp_count(dst->dev, SODP_CNT_RCVD_PKTS, pkt->npkts);
}
