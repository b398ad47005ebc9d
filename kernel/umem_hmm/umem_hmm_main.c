// SPDX-License-Identifier: GPL-2.0 OR Linux-OpenIB
/*
 * ib_umem_hmm: an ib_umem on-demand-paging backend built on HMM.
 * Module setup, per-device state and statistics.
 *
 * Copyright (c) 2026 The sodp authors.
 */

#include <linux/debugfs.h>
#include <linux/module.h>
#include <linux/seq_file.h>
#include <linux/workqueue.h>

#include "umem_hmm.h"

struct dentry *umem_hmm_debugfs_root;
struct workqueue_struct *umem_hmm_wq;

const char *const ib_umem_hmm_stat_names[IB_UMEM_HMM_NUM_STATS] = {
	[IB_UMEM_HMM_STAT_FAULTS] = "faults",
	[IB_UMEM_HMM_STAT_PAGES_FAULTED] = "pages_faulted",
	[IB_UMEM_HMM_STAT_INVALIDATIONS] = "invalidations",
	[IB_UMEM_HMM_STAT_PAGES_INVALIDATED] = "pages_invalidated",
	[IB_UMEM_HMM_STAT_PREFETCH_REQUESTS] = "prefetch_requests",
	[IB_UMEM_HMM_STAT_PAGES_PREFETCHED] = "pages_prefetched",
	[IB_UMEM_HMM_STAT_FAULT_NS_SUM] = "fault_ns_sum",
	[IB_UMEM_HMM_STAT_FAULT_NS_MAX] = "fault_ns_max",
	[IB_UMEM_HMM_STAT_PAGES_MAPPED] = "pages_mapped",
	[IB_UMEM_HMM_STAT_TRACKING_BYTES] = "tracking_bytes",
	[IB_UMEM_HMM_STAT_UMEMS] = "umems",
	[IB_UMEM_HMM_STAT_PAGES_FROM_DEVICE] = "pages_from_device",
};
EXPORT_SYMBOL_GPL(ib_umem_hmm_stat_names);

void umem_hmm_stat_max(struct ib_umem_hmm *umem, enum ib_umem_hmm_stat stat,
		       s64 val)
{
	atomic64_t *v = &umem->hdev->stats[stat];
	s64 old = atomic64_read(v);

	while (val > old && !atomic64_try_cmpxchg(v, &old, val))
		;
}

static int umem_hmm_stats_show(struct seq_file *m, void *unused)
{
	struct ib_umem_hmm_device *hdev = m->private;
	int i;

	for (i = 0; i < IB_UMEM_HMM_NUM_STATS; i++)
		seq_printf(m, "%s %lld\n", ib_umem_hmm_stat_names[i],
			   (long long)atomic64_read(&hdev->stats[i]));
	return 0;
}
DEFINE_SHOW_ATTRIBUTE(umem_hmm_stats);

/**
 * ib_umem_hmm_device_init - prepare a device for ib_umem_hmm
 * @hdev: embedded in the driver's device structure
 * @ibdev: the ib_device pages will be DMA-mapped for; with no dma_device
 *	it is a virtual-DMA device and its "DMA addresses" are kernel
 *	addresses
 * @name: the name of its debugfs folder (/sys/kernel/debug/ib_umem_hmm/)
 *	holding the file "stats"
 *
 * Return: 0 (debugfs failures are not errors).
 */
int ib_umem_hmm_device_init(struct ib_umem_hmm_device *hdev,
			    struct ib_device *ibdev, const char *name)
{
	int i;

	hdev->ibdev = ibdev;
	for (i = 0; i < IB_UMEM_HMM_NUM_STATS; i++)
		atomic64_set(&hdev->stats[i], 0);
	atomic64_set(&hdev->write_faults, 0);
	hdev->debugfs = debugfs_create_dir(name, umem_hmm_debugfs_root);
	debugfs_create_file("stats", 0444, hdev->debugfs, hdev,
			    &umem_hmm_stats_fops);
	return 0;
}
EXPORT_SYMBOL_GPL(ib_umem_hmm_device_init);

/**
 * ib_umem_hmm_device_cleanup - undo ib_umem_hmm_device_init()
 * @hdev: the device; all its umems must have been released
 */
void ib_umem_hmm_device_cleanup(struct ib_umem_hmm_device *hdev)
{
	debugfs_remove_recursive(hdev->debugfs);
	hdev->debugfs = NULL;
	WARN_ON(atomic64_read(&hdev->stats[IB_UMEM_HMM_STAT_UMEMS]));
	WARN_ON(atomic64_read(&hdev->stats[IB_UMEM_HMM_STAT_PAGES_MAPPED]));
	WARN_ON(atomic64_read(&hdev->stats[IB_UMEM_HMM_STAT_TRACKING_BYTES]));
}
EXPORT_SYMBOL_GPL(ib_umem_hmm_device_cleanup);

static int __init ib_umem_hmm_init(void)
{
	/*
	 * Prefetch and reaping fault pages in: they may sleep for long.  Their
	 * CPUs and priority can be set in /sys/devices/virtual/workqueue.
	 */
	umem_hmm_wq = alloc_workqueue("ib_umem_hmm",
				      WQ_UNBOUND | WQ_MEM_RECLAIM | WQ_SYSFS, 0);
	if (!umem_hmm_wq)
		return -ENOMEM;
	umem_hmm_debugfs_root = debugfs_create_dir("ib_umem_hmm", NULL);
	return 0;
}

static void __exit ib_umem_hmm_exit(void)
{
	debugfs_remove_recursive(umem_hmm_debugfs_root);
	destroy_workqueue(umem_hmm_wq);
}

module_init(ib_umem_hmm_init);
module_exit(ib_umem_hmm_exit);

MODULE_AUTHOR("The sodp authors");
MODULE_DESCRIPTION("On-demand paging of user memory for RDMA devices, built on HMM");
MODULE_LICENSE("Dual BSD/GPL");
