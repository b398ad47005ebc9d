// SPDX-License-Identifier: GPL-2.0 OR Linux-OpenIB
/*
 * sodp-odp-bench: RDMA WRITE bandwidth of 64 KiB messages on a loopback RC
 * pair of an sodp device, with the target memory pinned, ODP warm, ODP
 * cold (every page first touched by the device during the run), behind one
 * implicit MR, and prefetched (ibv_advise_mr) after being zapped; and the
 * time to register 1 GiB pinned and ODP.  Prints "name<TAB>MB/s" rows;
 * registration times go to $SODP_RESULTS/registration.tsv.
 *
 * Copyright (c) 2026 The sodp authors.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>

#include "vt.h"

#define MSG	(64 * 1024)
#define DEPTH	16

static void die(const char *what)
{
	perror(what);
	exit(1);
}

static char *fresh(size_t len)
{
	char *p = mmap(NULL, len, PROT_READ | PROT_WRITE,
		       MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);

	if (p == MAP_FAILED)
		die("mmap");
	madvise(p, len, MADV_NOHUGEPAGE);
	return p;
}

/* MB/s of n WRITEs from src into dst + i * MSG (wrapping at dst_len). */
static double write_bw(struct vt_qp *q, char *src, uint32_t lkey, char *dst,
		       uint32_t rkey, size_t dst_len, int n)
{
	struct ibv_sge s = { (uintptr_t)src, MSG, lkey };
	struct ibv_wc wc;
	int posted = 0, done = 0;
	double t0 = now_s();

	while (done < n) {
		while (posted < n && posted - done < DEPTH) {
			size_t off = ((size_t)posted * MSG) % dst_len;

			if (vt_post_send(q->qp, IBV_WR_RDMA_WRITE, posted, &s, 1,
					 (uintptr_t)dst + off, rkey, 0))
				die("post");
			posted++;
		}
		if (vt_poll(q->scq, &wc, 60) || wc.status != IBV_WC_SUCCESS) {
			fprintf(stderr, "completion: %s\n", ibv_wc_status_str(wc.status));
			exit(1);
		}
		done++;
	}
	return (double)n * MSG / (now_s() - t0) / 1e6;
}

static double reg_time(struct vt_dev *d, char *buf, size_t len, int access)
{
	double t0 = now_s();
	struct ibv_mr *mr = ibv_reg_mr(d->pd, buf, len, access);
	double t = now_s() - t0;

	if (!mr)
		die("reg_mr");
	ibv_dereg_mr(mr);
	return t;
}

int main(void)
{
	const size_t warm_len = 4 << 20, cold_len = 128 << 20, gib = 1UL << 30;
	const int n = 1024;
	const int odp = VT_ALL_ACCESS | IBV_ACCESS_ON_DEMAND;
	struct vt_dev d;
	struct vt_qp a, b;
	char *src, *dst, *cold, *big;
	struct ibv_mr *smr, *pmr, *omr, *cmr, *imr;
	struct ibv_sge sge;
	double reg_pin = 1e9, reg_odp = 1e9;
	const char *res = getenv("SODP_RESULTS");
	FILE *f;

	if (vt_open(&d) || vt_qp_create(&d, &a, IBV_QPT_RC, DEPTH, NULL, false) ||
	    vt_qp_create(&d, &b, IBV_QPT_RC, DEPTH, NULL, false) || vt_connect(&d, &a, &b))
		die("setup");
	src = fresh(MSG);
	dst = fresh(warm_len);
	cold = fresh(cold_len);
	memset(src, 1, MSG);
	memset(dst, 2, warm_len);
	smr = ibv_reg_mr(d.pd, src, MSG, VT_ALL_ACCESS);
	pmr = ibv_reg_mr(d.pd, dst, warm_len, VT_ALL_ACCESS);
	if (!smr || !pmr)
		die("reg");
	printf("sodp pinned, same loop, RDMA WRITE 65536 B\t%.1f\n",
	       write_bw(&a, src, smr->lkey, dst, pmr->rkey, warm_len, n));
	ibv_dereg_mr(pmr);

	omr = ibv_reg_mr(d.pd, dst, warm_len, odp);
	if (!omr)
		die("reg odp");
	write_bw(&a, src, smr->lkey, dst, omr->rkey, warm_len, DEPTH);	/* warm up */
	printf("sodp ODP warm, same loop, RDMA WRITE 65536 B\t%.1f\n",
	       write_bw(&a, src, smr->lkey, dst, omr->rkey, warm_len, n));

	/* Every page of the target is new: the device faults each one in. */
	cmr = ibv_reg_mr(d.pd, cold, cold_len, odp);
	if (!cmr)
		die("reg cold");
	printf("sodp ODP cold (first touch), RDMA WRITE 65536 B\t%.1f\n",
	       write_bw(&a, src, smr->lkey, cold, cmr->rkey, cold_len, cold_len / MSG));

	/* Zapped, then prefetched before the loop. */
	madvise(cold, cold_len, MADV_DONTNEED);
	sge = (struct ibv_sge){ (uintptr_t)cold, (uint32_t)(64 << 20), cmr->lkey };
	if (ibv_advise_mr(d.pd, IBV_ADVISE_MR_ADVICE_PREFETCH_WRITE,
			  IBV_ADVISE_MR_FLAG_FLUSH, &sge, 1))
		die("advise_mr");
	printf("sodp ODP prefetched, RDMA WRITE 65536 B\t%.1f\n",
	       write_bw(&a, src, smr->lkey, cold, cmr->rkey, 64 << 20, n));
	ibv_dereg_mr(cmr);

	imr = ibv_reg_mr(d.pd, NULL, SIZE_MAX, odp);
	if (!imr)
		die("reg implicit");
	write_bw(&a, src, imr->lkey, dst, imr->rkey, warm_len, DEPTH);
	printf("sodp implicit ODP warm, RDMA WRITE 65536 B\t%.1f\n",
	       write_bw(&a, src, imr->lkey, dst, imr->rkey, warm_len, n));
	ibv_dereg_mr(imr);

	/* Registration of 1 GiB the process has touched. */
	big = fresh(gib);
	memset(big, 3, gib);
	/*
	 * Each kind in its own loop, best of three: right after a 1 GiB
	 * unpin the system is still busy with it, which is not the cost of
	 * the registration that follows.
	 */
	for (int i = 0; i < 3; i++) {
		double t = reg_time(&d, big, gib, VT_ALL_ACCESS);

		reg_pin = t < reg_pin ? t : reg_pin;
	}
	for (int i = 0; i < 3; i++) {
		double t = reg_time(&d, big, gib, odp);

		reg_odp = t < reg_odp ? t : reg_odp;
	}
	if (res) {
		char path[512];

		snprintf(path, sizeof(path), "%s/registration.tsv", res);
		f = fopen(path, "w");
		if (f) {
			fprintf(f, "%.1f\t%.1f\n", reg_pin * 1e6, reg_odp * 1e6);
			fclose(f);
		}
	}
	ibv_dereg_mr(omr);
	ibv_dereg_mr(smr);
	vt_qp_destroy(&a);
	vt_qp_destroy(&b);
	vt_close(&d);
	return 0;
}
