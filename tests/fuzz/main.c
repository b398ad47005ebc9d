// SPDX-License-Identifier: GPL-2.0 OR Linux-OpenIB
/*
 * sodp-fuzz MODE SEED SECONDS: MODE is "verbs" (random verb sequences on
 * $SODP_TEST_DEVICE, data of successful transfers checked), "raw"
 * (malformed uverbs write()/ioctl() commands and garbage in the rings) or
 * "race" (threads resetting, erroring and destroying QPs and replacing
 * regions under other threads' traffic; a call stuck for 20 s ends the
 * run).  Exit status 0 unless a call returned an undocumented result, data
 * was wrong or a call hung; the kernel's side (no report, nothing leaked)
 * is the caller's.
 *
 * Copyright (c) 2026 The sodp authors.
 */
#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "../lib/pattern.h"
#include "fuzz.h"

uint64_t fuzz_edgy(struct fuzz *f)
{
	uint64_t p = 1ULL << fuzz_below(f, 64);

	switch (fuzz_below(f, 6)) {
	case 0:
		return 0;
	case 1:
		return p - 1;
	case 2:
		return p;
	case 3:
		return p + 1;
	case 4:
		return ~0ULL >> fuzz_below(f, 64);
	default:
		return fuzz_rand(f);
	}
}

void fuzz_violation(struct fuzz *f, const char *fmt, ...)
{
	va_list ap;

	/* Once the device is gone, nothing more is expected of it. */
	if (f->gone)
		return;
	/* The first few tell the story; the count tells the rest. */
	if (f->violations++ < 20) {
		fprintf(stderr, "violation (iteration %lu): ", f->iterations);
		va_start(ap, fmt);
		vfprintf(stderr, fmt, ap);
		va_end(ap);
		fputc('\n', stderr);
	}
}

/* What a verb may answer besides success (ibv_* man pages, uverbs). */
static bool documented(int err)
{
	switch (err) {
	case EINVAL: case ENOMEM: case EBUSY: case EOPNOTSUPP: case ENOSYS:
	case EPERM: case EFAULT: case EACCES: case ENOENT: case EAGAIN:
	case ERANGE: case E2BIG: case ENOSPC: case EPROTONOSUPPORT:
	case EOVERFLOW: case ENOTTY: case EBADF: case EEXIST: case ENODEV:
	case ENXIO: case EMSGSIZE: case ENOBUFS:
	/* ib_core: an sgid_index with no GID; a GID with no route. */
	case ENODATA: case ENETUNREACH: case EHOSTUNREACH: case EADDRNOTAVAIL:
		return true;
	default:
		return false;
	}
}

void fuzz_result(struct fuzz *f, const char *call, int err)
{
	f->calls++;
	if (!err)
		return;
	f->failures++;
	/*
	 * The device was removed ("rdma link del", module unload): every call
	 * fails with EIO from then on (destructions too), so stop here.
	 */
	if (err == EIO) {
		f->gone = true;
		return;
	}
	/* Kernel-internal codes (ENOTSUPP, ERESTARTSYS...) must never leak. */
	if (!documented(err))
		fuzz_violation(f, "%s: undocumented error %d (%s)", call, err,
			       strerror(err));
}

int main(int argc, char **argv)
{
	struct fuzz f = { 0 };
	uint64_t seed;
	int ret;

	if (argc != 4 || (strcmp(argv[1], "verbs") && strcmp(argv[1], "raw") &&
			  strcmp(argv[1], "race"))) {
		fprintf(stderr, "usage: %s verbs|raw|race SEED SECONDS\n", argv[0]);
		return 2;
	}
	seed = strtoull(argv[2], NULL, 0);
	f.seed = seed;
	f.rnd = seed * 0x9e3779b97f4a7c15ULL | 1;
	f.stop = now_s() + atof(argv[3]);
	ret = !strcmp(argv[1], "verbs") ? fuzz_verbs(&f) :
	      !strcmp(argv[1], "raw") ? fuzz_raw(&f) : fuzz_race(&f);
	if (f.gone)
		printf("fuzz %s: the device was removed\n", argv[1]);
	printf("fuzz %s seed %llu: %lu iterations, %lu calls (%lu refused), "
	       "%lu completions (%lu errors), %lu transfers checked (%lu failed), "
	       "%lu violations\n",
	       argv[1], (unsigned long long)seed, f.iterations, f.calls,
	       f.failures, f.completions, f.errors, f.checked, f.check_errors,
	       f.violations);
	return ret || f.violations ? 1 : 0;
}
