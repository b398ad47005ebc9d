/* SPDX-License-Identifier: GPL-2.0 OR Linux-OpenIB */
/*
 * sodp-fuzz: seeded, reproducible fuzzing of an sodp device through
 * libibverbs (valid-ish verb sequences; control verbs racing traffic from
 * several threads) and straight through the uverbs character device
 * (malformed commands, garbage in the shared rings).
 *
 * Copyright (c) 2026 The sodp authors.
 */
#ifndef SODP_FUZZ_H
#define SODP_FUZZ_H

#include <stdbool.h>
#include <stdint.h>

struct fuzz {
	uint64_t seed;			/* as given, for reports */
	uint64_t rnd;
	double stop;
	unsigned long iterations;
	unsigned long calls, failures;	/* calls made; of them, refused */
	unsigned long completions, errors;	/* completions; of them, errors */
	unsigned long checked;		/* transfers whose data was checked */
	unsigned long check_errors;	/* checked transfers failed (injection) */
	unsigned long violations;	/* undocumented results, wrong data */
	bool gone;			/* the device was removed (EIO) */
};

static inline uint64_t fuzz_rand(struct fuzz *f)
{
	/* xorshift64*: reproducible from the seed alone */
	f->rnd ^= f->rnd >> 12;
	f->rnd ^= f->rnd << 25;
	f->rnd ^= f->rnd >> 27;
	return f->rnd * 0x2545f4914f6cdd1dULL;
}

static inline uint32_t fuzz_below(struct fuzz *f, uint32_t n)
{
	return n ? fuzz_rand(f) % n : 0;
}

/* One in @n. */
static inline bool fuzz_chance(struct fuzz *f, uint32_t n)
{
	return fuzz_below(f, n) == 0;
}

/* A value that is often at an edge: 0, 1, a power of two +-1, all ones. */
uint64_t fuzz_edgy(struct fuzz *f);

/*
 * Account for a call that returned @err (0 or a positive errno): an errno
 * outside the documented set of @call is a violation.
 */
void fuzz_result(struct fuzz *f, const char *call, int err);

void fuzz_violation(struct fuzz *f, const char *fmt, ...)
	__attribute__((format(printf, 2, 3)));

int fuzz_verbs(struct fuzz *f);
int fuzz_raw(struct fuzz *f);
int fuzz_race(struct fuzz *f);

#endif /* SODP_FUZZ_H */
