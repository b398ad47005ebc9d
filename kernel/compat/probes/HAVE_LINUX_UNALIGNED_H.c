// SPDX-License-Identifier: GPL-2.0 OR Linux-OpenIB
/* get_unaligned() and friends moved from asm/ to linux/unaligned.h (6.12). */
#include <linux/unaligned.h>

u32 probe(const void *p)
{
	return get_unaligned_be32(p);
}
