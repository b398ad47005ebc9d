// SPDX-License-Identifier: GPL-2.0 OR Linux-OpenIB
/*
 * rdma_sodp: hw counters, read with "rdma statistic" or from sysfs
 * (ports/1/hw_counters): the engine's counters, then ib_umem_hmm's ODP
 * counters of the device.
 *
 * Copyright (c) 2026 The sodp authors.
 */

#include "sodp.h"

/*
 * The ODP counters take mlx5's per-MR names where the meaning is the same
 * (page_faults, page_invalidations, page_prefetch: 4 KiB pages); the rest
 * are ib_umem_hmm's own, prefixed "odp_".
 */
static const struct rdma_stat_desc sodp_counter_descs[] = {
	[SODP_CNT_SENT_PKTS].name = "sent_pkts",
	[SODP_CNT_RCVD_PKTS].name = "rcvd_pkts",
	[SODP_CNT_SENT_BYTES].name = "sent_bytes",
	[SODP_CNT_RCVD_RNR_NAK].name = "rcvd_rnr_err",
	[SODP_CNT_SENT_RNR_NAK].name = "send_rnr_err",
	[SODP_CNT_RETRANSMITS].name = "completer_retry_err",
	[SODP_CNT_REM_ACCESS_ERR].name = "rcvd_remote_access_err",
	[SODP_CNT_CQ_OVERRUN].name = "cq_overrun",
	[SODP_CNT_ODP_RESENDS].name = "odp_resends",
	[SODP_CNT_DUP_REQ].name = "duplicate_request",
	[SODP_CNT_OUT_OF_SEQ].name = "out_of_seq_request",
	[SODP_CNT_RCVD_SEQ_NAK].name = "rcvd_seq_err",
	[SODP_CNT_RETRY_EXCEEDED].name = "retry_exceeded_err",
	[SODP_CNT_SEND_ERR].name = "send_err",
	[SODP_CNT_RCVD_ICRC_ERR].name = "rcvd_icrc_err",
	[SODP_CNT_RCVD_DROP_BAD].name = "rcvd_dropped_malformed",
	[SODP_CNT_RCVD_DROP_QP].name = "rcvd_dropped_qp",
	[SODP_CNT_RCVD_DROP_FULL].name = "rcvd_dropped_queue_full",
	[SODP_CNT_DOORBELLS].name = "doorbells",
#define SODP_ODP(stat) (SODP_NUM_ENGINE_COUNTERS + IB_UMEM_HMM_STAT_##stat)
	[SODP_ODP(FAULTS)].name = "odp_fault_events",
	[SODP_ODP(PAGES_FAULTED)].name = "page_faults",
	[SODP_ODP(INVALIDATIONS)].name = "odp_invalidation_events",
	[SODP_ODP(PAGES_INVALIDATED)].name = "page_invalidations",
	[SODP_ODP(PREFETCH_REQUESTS)].name = "odp_prefetch_requests",
	[SODP_ODP(PAGES_PREFETCHED)].name = "page_prefetch",
	[SODP_ODP(FAULT_NS_SUM)].name = "odp_fault_ns",
	[SODP_ODP(FAULT_NS_MAX)].name = "odp_fault_ns_max",
	[SODP_ODP(PAGES_MAPPED)].name = "odp_pages_mapped",
	[SODP_ODP(TRACKING_BYTES)].name = "odp_tracking_bytes",
	[SODP_ODP(UMEMS)].name = "odp_regions",
	[SODP_ODP(PAGES_FROM_DEVICE)].name = "odp_pages_from_device",
#undef SODP_ODP
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

	for (i = 0; i < SODP_NUM_ENGINE_COUNTERS; i++)
		stats->value[i] = atomic64_read(&sdev->counters[i]);
	for (i = 0; i < IB_UMEM_HMM_NUM_STATS; i++)
		stats->value[SODP_NUM_ENGINE_COUNTERS + i] =
			atomic64_read(&sdev->hmm.stats[i]);
	return SODP_NUM_COUNTERS;
}
