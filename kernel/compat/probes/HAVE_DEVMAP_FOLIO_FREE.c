// SPDX-License-Identifier: GPL-2.0 OR Linux-OpenIB
/*
 * Device memory as umem_hmm_test simulates it: dev_pagemap_ops.folio_free
 * and zone_device_page_init() with a pgmap and an order (7.x kernels).
 */
#include <linux/memremap.h>

static void probe_free(struct folio *folio)
{
}

const struct dev_pagemap_ops probe_ops = { .folio_free = probe_free };

void probe(struct page *page, struct dev_pagemap *pgmap)
{
	zone_device_page_init(page, pgmap, 0);
}
