// SPDX-License-Identifier: GPL-2.0 OR Linux-OpenIB
/*
 * sodp verbs tests: UD multicast.  Every QP attached to a group gets a
 * message sent to its GID and the multicast QPN (the sender too, when it
 * is attached), data and GRH checked; a detached one no more; a message to
 * another QPN reaches no member; what attach and detach refuse; the
 * limits the device advertises hold; and QPs detached and destroyed while
 * messages stream to their group.
 *
 * Copyright (c) 2026 The sodp authors.
 */
#include <arpa/inet.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "../lib/check.h"
#include "vt.h"

#define QKEY		0x11111111
#define MCAST_QPN	0xffffff
#define NMEMBERS	3
#define MSG		700
#define SLOT		4096		/* a receive: the GRH (40 bytes), then the message */

struct mcast {
	struct vt_dev d;
	struct vt_qp q[NMEMBERS + 1];	/* q[0] sends */
	union ibv_gid group;
	struct ibv_ah *ah;
	char *buf;
	struct ibv_mr *mr;
};

/* The group ::ffff:239.1.2.<n>. */
static void mcast_gid(union ibv_gid *gid, uint8_t n)
{
	memset(gid, 0, sizeof(*gid));
	gid->raw[10] = 0xff;
	gid->raw[11] = 0xff;
	gid->raw[12] = 239;
	gid->raw[13] = 1;
	gid->raw[14] = 2;
	gid->raw[15] = n;
}

static int mcast_open(struct mcast *m)
{
	struct ibv_ah_attr a = { .is_global = 1, .port_num = 1 };

	memset(m, 0, sizeof(*m));
	CHECK_EQ(vt_open(&m->d), 0);
	for (int i = 0; i <= NMEMBERS; i++) {
		CHECK_EQ(vt_qp_create(&m->d, &m->q[i], IBV_QPT_UD, 64, NULL, false), 0);
		CHECK_EQ(vt_ud_ready(&m->q[i], QKEY), 0);
	}
	mcast_gid(&m->group, 7);
	a.grh.dgid = m->group;
	a.grh.sgid_index = m->d.gid_index;
	a.grh.hop_limit = 1;
	m->ah = ibv_create_ah(m->d.pd, &a);
	CHECK(m->ah);
	m->buf = aligned_alloc(4096, (NMEMBERS + 2) * 64 * SLOT);
	CHECK(m->buf);
	memset(m->buf, 0, (NMEMBERS + 2) * 64 * SLOT);
	m->mr = vt_reg(&m->d, m->buf, (NMEMBERS + 2) * 64 * SLOT, VT_ALL_ACCESS);
	CHECK(m->mr);
	return 0;
}

static void mcast_close(struct mcast *m)
{
	for (int i = 0; i <= NMEMBERS; i++)
		if (m->q[i].qp)
			vt_qp_destroy(&m->q[i]);
	if (m->ah)
		ibv_destroy_ah(m->ah);
	if (m->mr)
		vt_dereg(m->mr);
	free(m->buf);
	vt_close(&m->d);
}

/* QP i's receive slot k (q[0] sends from the buffer's first slots). */
static char *slot(struct mcast *m, int i, int k)
{
	return m->buf + ((size_t)(i + 1) * 64 + k) * SLOT;
}

static int post_recvs(struct mcast *m, int i, int n)
{
	for (int k = 0; k < n; k++) {
		struct ibv_sge s = { (uintptr_t)slot(m, i, k), SLOT, m->mr->lkey };

		CHECK_EQ(vt_post_recv(m->q[i].qp, k, &s, 1), 0);
	}
	return 0;
}

/* A signaled send of the pattern @seed to @qpn through the group's AH. */
static int send_msg(struct mcast *m, uint32_t qpn, uint64_t seed)
{
	struct ibv_sge s = { (uintptr_t)m->buf, MSG, m->mr->lkey };
	struct ibv_send_wr wr, *bad;
	struct ibv_wc wc;

	fill_pattern(m->buf, MSG, seed, 0);
	vt_ud_wr(&wr, &s, IBV_WR_SEND, m->ah, qpn, QKEY);
	CHECK_EQ(ibv_post_send(m->q[0].qp, &wr, &bad), 0);
	CHECK_EQ(vt_poll(m->q[0].scq, &wc, 10), 0);
	CHECK_EQ(wc.status, IBV_WC_SUCCESS);
	return 0;
}

/* Member i got the message @seed in its slot k, from q[0], with the group's GRH. */
static int got_msg(struct mcast *m, int i, int k, uint64_t seed)
{
	struct ibv_wc wc;
	char *s = slot(m, i, k);

	CHECK_EQ(vt_poll(m->q[i].rcq, &wc, 10), 0);
	CHECK_EQ(wc.status, IBV_WC_SUCCESS);
	CHECK_EQ(wc.wr_id, (uint64_t)k);
	CHECK_EQ(wc.byte_len, MSG + 40);
	CHECK_EQ(wc.src_qp, m->q[0].qp->qp_num);
	CHECK(wc.wc_flags & IBV_WC_GRH);
	/* RoCEv2 over IPv4: the IPv4 header in the GRH's last 20 bytes. */
	CHECK_EQ(memcmp(s + 20 + 16, m->group.raw + 12, 4), 0);
	CHECK_EQ(check_pattern(s + 40, MSG, seed, 0), -1);
	return 0;
}

CHECK_CASE(mcast_ud)
{
	struct ibv_device_attr attr;
	union ibv_gid unicast;
	struct mcast m;

	CHECK_EQ(mcast_open(&m), 0);
	CHECK_EQ(ibv_query_device(m.d.ctx, &attr), 0);
	CHECK(attr.max_mcast_grp > 0 && attr.max_mcast_qp_attach > 0);
	CHECK(attr.max_total_mcast_qp_attach >= attr.max_mcast_qp_attach);
	for (int i = 1; i <= NMEMBERS; i++) {
		CHECK_EQ(ibv_attach_mcast(m.q[i].qp, &m.group, 0), 0);
		CHECK_EQ(post_recvs(&m, i, 8), 0);
	}
	/*
	 * Attached twice (another LID: the core keeps both attachments): one
	 * message each still, and a member until both are detached.
	 */
	CHECK_EQ(ibv_attach_mcast(m.q[1].qp, &m.group, 1), 0);

	CHECK_EQ(send_msg(&m, MCAST_QPN, 1), 0);
	for (int i = 1; i <= NMEMBERS; i++)
		CHECK_EQ(got_msg(&m, i, 0, 1), 0);
	CHECK(vt_no_completion(m.q[1].rcq, 0.05));
	CHECK_EQ(ibv_detach_mcast(m.q[1].qp, &m.group, 1), 0);

	/* Detached: no more; the others go on. */
	CHECK_EQ(ibv_detach_mcast(m.q[2].qp, &m.group, 0), 0);
	CHECK_EQ(send_msg(&m, MCAST_QPN, 2), 0);
	CHECK_EQ(got_msg(&m, 1, 1, 2), 0);
	CHECK_EQ(got_msg(&m, 3, 1, 2), 0);
	CHECK(vt_no_completion(m.q[2].rcq, 0.05));

	/* The group's GID with another QPN is no message of the group. */
	CHECK_EQ(send_msg(&m, m.q[1].qp->qp_num, 3), 0);
	CHECK(vt_no_completion(m.q[1].rcq, 0.05));

	/* The sender attached gets its own message too. */
	CHECK_EQ(ibv_attach_mcast(m.q[0].qp, &m.group, 0), 0);
	{
		struct ibv_sge s = { (uintptr_t)slot(&m, 0, 0), SLOT, m.mr->lkey };
		struct ibv_wc wc;

		CHECK_EQ(vt_post_recv(m.q[0].qp, 0, &s, 1), 0);
		CHECK_EQ(send_msg(&m, MCAST_QPN, 4), 0);
		CHECK_EQ(vt_poll(m.q[0].rcq, &wc, 10), 0);
		CHECK_EQ(wc.status, IBV_WC_SUCCESS);
		CHECK_EQ(check_pattern(slot(&m, 0, 0) + 40, MSG, 4, 0), -1);
		CHECK_EQ(got_msg(&m, 1, 2, 4), 0);
		CHECK_EQ(got_msg(&m, 3, 2, 4), 0);
	}

	/* Refused: not multicast, not UD, detaching what is not attached. */
	CHECK_EQ(ibv_query_gid(m.d.ctx, 1, m.d.gid_index, &unicast), 0);
	CHECK(ibv_attach_mcast(m.q[1].qp, &unicast, 0) != 0);
	CHECK(ibv_detach_mcast(m.q[2].qp, &m.group, 0) != 0);
	{
		struct vt_qp rc;

		CHECK_EQ(vt_qp_create(&m.d, &rc, IBV_QPT_RC, 4, NULL, false), 0);
		CHECK(ibv_attach_mcast(rc.qp, &m.group, 0) != 0);
		vt_qp_destroy(&rc);
	}
	/* A process destroys an attached QP only once it detached it. */
	CHECK_EQ(ibv_destroy_qp(m.q[1].qp), EBUSY);
	for (int i = 0; i <= NMEMBERS; i++)
		ibv_detach_mcast(m.q[i].qp, &m.group, 0);
	mcast_close(&m);
	return 0;
}

/*
 * A group takes max_mcast_qp_attach QPs, a device max_mcast_grp groups;
 * all given back once detached.
 */
CHECK_CASE(mcast_limits)
{
	struct ibv_device_attr attr;
	struct vt_qp *qps;
	struct vt_dev d;
	union ibv_gid g;
	int n;

	CHECK_EQ(vt_open(&d), 0);
	CHECK_EQ(ibv_query_device(d.ctx, &attr), 0);
	n = attr.max_mcast_qp_attach + 1;
	qps = calloc(n, sizeof(*qps));
	CHECK(qps);
	for (int i = 0; i < n; i++)
		CHECK_EQ(vt_qp_create(&d, &qps[i], IBV_QPT_UD, 1, NULL, false), 0);
	mcast_gid(&g, 9);
	for (int i = 0; i < n - 1; i++)
		CHECK_EQ(ibv_attach_mcast(qps[i].qp, &g, 0), 0);
	CHECK_EQ(ibv_attach_mcast(qps[n - 1].qp, &g, 0), ENOMEM);
	for (int i = 0; i < attr.max_mcast_grp - 1; i++) {
		mcast_gid(&g, 0);
		g.raw[13] = 2 + i / 256;
		g.raw[15] = i % 256;
		CHECK_EQ(ibv_attach_mcast(qps[n - 1].qp, &g, 0), 0);
	}
	mcast_gid(&g, 10);
	CHECK_EQ(ibv_attach_mcast(qps[n - 1].qp, &g, 0), ENOMEM);
	/* Detached (an attached QP's destroy is refused), then destroyed. */
	for (int i = 0; i < n; i++) {
		union ibv_gid h;

		ibv_detach_mcast(qps[i].qp, &g, 0);
		mcast_gid(&h, 9);
		ibv_detach_mcast(qps[i].qp, &h, 0);
		for (int j = 0; i == n - 1 && j < attr.max_mcast_grp - 1; j++) {
			mcast_gid(&h, 0);
			h.raw[13] = 2 + j / 256;
			h.raw[15] = j % 256;
			CHECK_EQ(ibv_detach_mcast(qps[i].qp, &h, 0), 0);
		}
		vt_qp_destroy(&qps[i]);
	}
	free(qps);
	/* Everything was given back: a group again. */
	{
		struct vt_qp q;

		CHECK_EQ(vt_qp_create(&d, &q, IBV_QPT_UD, 1, NULL, false), 0);
		CHECK_EQ(ibv_attach_mcast(q.qp, &g, 0), 0);
		CHECK_EQ(ibv_detach_mcast(q.qp, &g, 0), 0);
		vt_qp_destroy(&q);
	}
	vt_close(&d);
	return 0;
}

struct mcast_stream {
	struct mcast *m;
	volatile int stop;
	int sent, bad;
};

static void *stream_sends(void *arg)
{
	struct mcast_stream *st = arg;
	struct mcast *m = st->m;
	struct ibv_sge s = { (uintptr_t)m->buf, MSG, m->mr->lkey };
	struct ibv_send_wr wr, *bad;
	struct ibv_wc wc;

	vt_ud_wr(&wr, &s, IBV_WR_SEND, m->ah, MCAST_QPN, QKEY);
	while (!st->stop) {
		if (ibv_post_send(m->q[0].qp, &wr, &bad) || vt_poll(m->q[0].scq, &wc, 10) ||
		    wc.status != IBV_WC_SUCCESS) {
			st->bad++;
			break;
		}
		st->sent++;
	}
	return NULL;
}

/*
 * Members detached, attached again and destroyed while messages stream
 * to their group: the sender's completions all succeed, and every
 * message a member got is whole.
 */
CHECK_CASE(mcast_race_detach_destroy)
{
	struct mcast_stream st = {};
	struct mcast m;
	pthread_t t;

	CHECK_EQ(mcast_open(&m), 0);
	st.m = &m;
	fill_pattern(m.buf, MSG, 5, 0);
	for (int i = 1; i <= NMEMBERS; i++) {
		CHECK_EQ(ibv_attach_mcast(m.q[i].qp, &m.group, 0), 0);
		CHECK_EQ(post_recvs(&m, i, 64), 0);
	}
	CHECK_EQ(pthread_create(&t, NULL, stream_sends, &st), 0);
	for (int round = 0; round < 50; round++) {
		CHECK_EQ(ibv_detach_mcast(m.q[1].qp, &m.group, 0), 0);
		CHECK_EQ(ibv_attach_mcast(m.q[1].qp, &m.group, 0), 0);
		usleep(1000);
	}
	/* Detached and destroyed mid-stream. */
	CHECK_EQ(ibv_detach_mcast(m.q[2].qp, &m.group, 0), 0);
	vt_qp_destroy(&m.q[2]);
	m.q[2].qp = NULL;
	usleep(20000);
	st.stop = 1;
	CHECK_EQ(pthread_join(t, NULL), 0);
	CHECK_EQ(st.bad, 0);
	CHECK(st.sent > 0);
	for (int i = 1; i <= NMEMBERS; i += 2) {
		struct ibv_wc wc;
		int k = 0;

		while (!vt_poll(m.q[i].rcq, &wc, 0.01)) {
			CHECK_EQ(wc.status, IBV_WC_SUCCESS);
			CHECK_EQ(wc.byte_len, MSG + 40);
			CHECK_EQ(check_pattern(slot(&m, i, (int)wc.wr_id) + 40, MSG, 5, 0), -1);
			k++;
		}
		CHECK(k > 0);
	}
	for (int i = 0; i <= NMEMBERS; i++)
		if (m.q[i].qp)
			ibv_detach_mcast(m.q[i].qp, &m.group, 0);
	mcast_close(&m);
	return 0;
}
