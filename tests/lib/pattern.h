/* SPDX-License-Identifier: GPL-2.0 OR Linux-OpenIB */
/*
 * Data patterns that say where every byte belongs, a clock, a PRNG: what
 * the C tests check data and time with.
 *
 * Copyright (c) 2026 The sodp authors.
 */
#ifndef SODP_TESTS_PATTERN_H
#define SODP_TESTS_PATTERN_H

#include <stddef.h>
#include <stdint.h>

/* Fill a buffer with a pattern derived from @seed and the byte offset. */
void fill_pattern(void *buf, size_t len, uint64_t seed, size_t base);
/* Offset of the first byte that differs from the pattern, or -1. */
long check_pattern(const void *buf, size_t len, uint64_t seed, size_t base);
double now_s(void);
uint64_t xrand(uint64_t *state);

#endif
