// SPDX-License-Identifier: GPL-2.0 OR Linux-OpenIB
/*
 * rdma_sodp: hw counters, read with "rdma statistic" or from sysfs
 * (ports/1/hw_counters).  Engine counters today; the ODP counters of
 * ib_umem_hmm join them.
 *
 * Copyright (c) 2026 The sodp authors.
 */

#include "sodp.h"

static const struct rdma_stat_desc sodp_counter_descs[] = {
	[SODP_CNT_SENT_PKTS].name = "sent_pkts",
	[SODP_CNT_RCVD_PKTS].name = "rcvd_pkts",
	[SODP_CNT_SENT_BYTES].name = "sent_bytes",
	[SODP_CNT_RCVD_RNR_NAK].name = "rcvd_rnr_err",
	[SODP_CNT_SENT_RNR_NAK].name = "send_rnr_err",
	[SODP_CNT_RETRANSMITS].name = "completer_retry_err",
	[SODP_CNT_REM_ACCESS_ERR].name = "rcvd_remote_access_err",
	[SODP_CNT_CQ_OVERRUN].name = "cq_overrun",
};

static_assert(ARRAY_SIZE(sodp_counter_descs) == SODP_NUM_COUNTERS);

struct rdma_hw_stats *sodp_alloc_hw_port_stats(struct ib_device *ibdev, u32 port)
{
	return rdma_alloc_hw_stats_struct(sodp_counter_descs, SODP_NUM_COUNTERS,
					  RDMA_HW_STATS_DEFAULT_LIFESPAN);
}

int sodp_get_hw_stats(struct ib_device *ibdev, struct rdma_hw_stats *stats,
		      u32 port, int index)
{
	struct sodp_dev *sdev = to_sdev(ibdev);
	int i;

	for (i = 0; i < SODP_NUM_COUNTERS; i++)
		stats->value[i] = atomic64_read(&sdev->counters[i]);
	return SODP_NUM_COUNTERS;
}
