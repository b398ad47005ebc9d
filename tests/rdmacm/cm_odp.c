// SPDX-License-Identifier: GPL-2.0 OR Linux-OpenIB
/*
 * sodp-cm-odp: an rdma_cm application whose memory is never pinned.
 *
 *   sodp-cm-odp server ADDR PORT [implicit]
 *   sodp-cm-odp client ADDR PORT [implicit]
 *
 * The connection is made by rdma_cm (address and route resolution, CM
 * MADs); all memory is in one ODP region per side, never touched before
 * the device does (with "implicit", an implicit ODP region of the whole
 * address space instead).  The server offers a buffer in the private data
 * of its accept; the client writes a pattern into it with RDMA WRITE,
 * reads it back with RDMA READ into fresh memory, then SENDs that into
 * fresh memory of the server's, ROUNDS times, each byte checked.  Exit
 * status 0 when every byte arrived as sent.
 *
 * Copyright (c) 2026 The sodp authors.
 */
#define _GNU_SOURCE
#include <endian.h>
#include <errno.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <rdma/rdma_cma.h>
#include <rdma/rdma_verbs.h>

#include "../lib/pattern.h"

#define BUF_LEN		(256UL << 10)
#define ROUNDS		8

/* What the server tells the client in its accept. */
struct cm_offer {
	uint64_t addr;
	uint32_t rkey;
	uint32_t len;
};

/*
 * A side's memory: per round a window (the client's source, the server's
 * RDMA WRITE target) and a slot (what READ and SEND land in).
 */
#define AREA_LEN	(2 * ROUNDS * BUF_LEN)

struct cm_side {
	struct rdma_cm_id *id;
	struct ibv_mr *mr;	/* the ODP region the area belongs to */
	bool implicit;
	char *buf;		/* AREA_LEN, never touched before the device */
};

static char *window(struct cm_side *s, int round)
{
	return s->buf + round * BUF_LEN;
}

static char *slot(struct cm_side *s, int round)
{
	return s->buf + (ROUNDS + round) * BUF_LEN;
}

static int die(const char *what)
{
	fprintf(stderr, "sodp-cm-odp: %s: %s\n", what, strerror(errno));
	return 1;
}

/* Fresh memory in one ODP region: every first access by the device faults. */
static int odp_area(struct cm_side *s)
{
	int access = IBV_ACCESS_LOCAL_WRITE | IBV_ACCESS_REMOTE_WRITE |
		     IBV_ACCESS_REMOTE_READ | IBV_ACCESS_ON_DEMAND;

	s->buf = mmap(NULL, AREA_LEN, PROT_READ | PROT_WRITE,
		      MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	if (s->buf == MAP_FAILED)
		return die("mmap");

	/* An implicit region: address 0, length SIZE_MAX (verbs(7)). */
	if (s->implicit)
		s->mr = ibv_reg_mr(s->id->pd, NULL, SIZE_MAX, access);
	else
		s->mr = ibv_reg_mr(s->id->pd, s->buf, AREA_LEN, access);
	return s->mr ? 0 : die("ibv_reg_mr (ON_DEMAND)");
}

static int complete(struct rdma_cm_id *id, bool send_cq, const char *what)
{
	struct ibv_wc wc;
	int ret = send_cq ? rdma_get_send_comp(id, &wc) : rdma_get_recv_comp(id, &wc);

	if (ret <= 0)
		return die(what);
	if (wc.status != IBV_WC_SUCCESS) {
		fprintf(stderr, "sodp-cm-odp: %s: %s\n", what, ibv_wc_status_str(wc.status));
		return 1;
	}
	return 0;
}

static struct rdma_cm_id *cm_endpoint(const char *addr, const char *port,
				      bool passive)
{
	struct rdma_addrinfo hints = {
		.ai_port_space = RDMA_PS_TCP,
		.ai_flags = passive ? RAI_PASSIVE : 0,
	}, *res;
	struct ibv_qp_init_attr attr = {
		.cap = { .max_send_wr = 4, .max_recv_wr = 4,
			 .max_send_sge = 1, .max_recv_sge = 1 },
		.qp_type = IBV_QPT_RC,
		.sq_sig_all = 1,
	};
	struct rdma_cm_id *id;

	if (rdma_getaddrinfo(addr, port, &hints, &res)) {
		die("rdma_getaddrinfo");
		return NULL;
	}
	if (rdma_create_ep(&id, res, NULL, passive ? NULL : &attr)) {
		die("rdma_create_ep");
		id = NULL;
	}
	rdma_freeaddrinfo(res);
	return id;
}

static int server(const char *addr, const char *port, bool implicit)
{
	struct ibv_qp_init_attr attr = {
		.cap = { .max_send_wr = 4, .max_recv_wr = ROUNDS,
			 .max_send_sge = 1, .max_recv_sge = 1 },
		.qp_type = IBV_QPT_RC,
		.sq_sig_all = 1,
	};
	struct cm_side s = { .implicit = implicit };
	struct rdma_conn_param param = { 0 };
	struct cm_offer offer;
	struct rdma_cm_id *listen_id = cm_endpoint(addr, port, true);

	if (!listen_id)
		return 1;
	if (rdma_listen(listen_id, 1))
		return die("rdma_listen");
	printf("listening on %s:%s\n", addr, port);
	fflush(stdout);
	if (rdma_get_request(listen_id, &s.id))
		return die("rdma_get_request");
	if (rdma_create_qp(s.id, NULL, &attr))
		return die("rdma_create_qp");
	if (odp_area(&s))
		return 1;
	offer = (struct cm_offer){
		.addr = htobe64((uintptr_t)s.buf), .rkey = htobe32(s.mr->rkey),
		.len = htobe32(ROUNDS * BUF_LEN),
	};
	param.private_data = &offer;
	param.private_data_len = sizeof(offer);
	param.responder_resources = 1;
	param.initiator_depth = 1;
	/* Each round's SEND lands in memory nobody touched yet. */
	for (int round = 0; round < ROUNDS; round++)
		if (rdma_post_recv(s.id, NULL, slot(&s, round), BUF_LEN, s.mr))
			return die("rdma_post_recv");
	if (rdma_accept(s.id, &param))
		return die("rdma_accept");
	for (int round = 0; round < ROUNDS; round++) {
		if (complete(s.id, false, "receive"))
			return 1;
		/* The client wrote the same pattern into the window first. */
		if (check_pattern(slot(&s, round), BUF_LEN, round, 0) != -1 ||
		    check_pattern(window(&s, round), BUF_LEN, round, 0) != -1) {
			fprintf(stderr, "sodp-cm-odp: round %d: wrong data\n", round);
			return 1;
		}
	}
	printf("server: %d rounds of %lu bytes checked\n", ROUNDS, BUF_LEN);
	rdma_disconnect(s.id);
	ibv_dereg_mr(s.mr);
	rdma_destroy_ep(s.id);
	rdma_destroy_ep(listen_id);
	return 0;
}

static int client(const char *addr, const char *port, bool implicit)
{
	struct cm_side s = { .implicit = implicit };
	struct rdma_conn_param param = {
		.responder_resources = 1, .initiator_depth = 1, .retry_count = 7,
	};
	struct cm_offer offer;
	uint64_t raddr;
	uint32_t rkey;
	char *src, *back;

	s.id = cm_endpoint(addr, port, false);
	if (!s.id)
		return 1;
	if (rdma_connect(s.id, &param))
		return die("rdma_connect");
	if (s.id->event->param.conn.private_data_len < sizeof(offer)) {
		fprintf(stderr, "sodp-cm-odp: no offer in the accept\n");
		return 1;
	}
	memcpy(&offer, s.id->event->param.conn.private_data, sizeof(offer));
	raddr = be64toh(offer.addr);
	rkey = be32toh(offer.rkey);
	if (be32toh(offer.len) < ROUNDS * BUF_LEN) {
		fprintf(stderr, "sodp-cm-odp: offered buffer too small\n");
		return 1;
	}
	if (odp_area(&s))
		return 1;
	for (int round = 0; round < ROUNDS; round++, raddr += BUF_LEN) {
		src = window(&s, round);
		back = slot(&s, round);
		fill_pattern(src, BUF_LEN, round, 0);
		if (rdma_post_write(s.id, NULL, src, BUF_LEN, s.mr, 0, raddr, rkey) ||
		    complete(s.id, true, "RDMA WRITE"))
			return 1;
		if (rdma_post_read(s.id, NULL, back, BUF_LEN, s.mr, 0, raddr, rkey) ||
		    complete(s.id, true, "RDMA READ"))
			return 1;
		if (check_pattern(back, BUF_LEN, round, 0) != -1) {
			fprintf(stderr, "sodp-cm-odp: round %d: READ returned wrong data\n",
				round);
			return 1;
		}
		if (rdma_post_send(s.id, NULL, back, BUF_LEN, s.mr, 0) ||
		    complete(s.id, true, "SEND"))
			return 1;
	}
	printf("client: %d rounds of WRITE, READ and SEND of %lu bytes checked\n",
	       ROUNDS, BUF_LEN);
	rdma_disconnect(s.id);
	ibv_dereg_mr(s.mr);
	rdma_destroy_ep(s.id);
	return 0;
}

int main(int argc, char **argv)
{
	bool implicit = argc == 5 && !strcmp(argv[4], "implicit");

	if ((argc != 4 && !implicit) ||
	    (strcmp(argv[1], "server") && strcmp(argv[1], "client"))) {
		fprintf(stderr, "usage: %s server|client ADDR PORT [implicit]\n", argv[0]);
		return 2;
	}
	return !strcmp(argv[1], "server") ? server(argv[2], argv[3], implicit) :
					    client(argv[2], argv[3], implicit);
}
