// SPDX-License-Identifier: GPL-2.0 OR Linux-OpenIB
/*
 * Copyright (c) 2026 The sodp authors.
 */
#include <stdlib.h>
#include <time.h>

#include "check.h"

static bool check_selected(const char *name, int argc, char **argv)
{
	if (argc < 2)
		return true;
	for (int i = 1; i < argc; i++)
		if (!strcmp(argv[i], name))
			return true;
	return false;
}

int check_main(const struct check_case *cases, int argc, char **argv)
{
	int passed = 0, failed = 0, ran;

	if (argc == 2 && !strcmp(argv[1], "--list")) {
		for (const struct check_case *c = cases; c->name; c++)
			printf("%s\n", c->name);
		return 0;
	}
	for (const struct check_case *c = cases; c->name; c++) {
		struct timespec t0, t1;

		if (!check_selected(c->name, argc, argv))
			continue;
		clock_gettime(CLOCK_MONOTONIC, &t0);
		fflush(stdout);
		if (c->fn() == 0) {
			passed++;
			clock_gettime(CLOCK_MONOTONIC, &t1);
			printf("ok %s (%.2fs)\n", c->name,
			       t1.tv_sec - t0.tv_sec + (t1.tv_nsec - t0.tv_nsec) / 1e9);
		} else {
			failed++;
			printf("not ok %s\n", c->name);
		}
		fflush(stdout);
	}
	ran = passed + failed;
	printf("%s: %d of %d cases passed\n", argv[0], passed, ran);
	if (!ran) {
		fprintf(stderr, "no case matched\n");
		return 2;
	}
	return failed ? 1 : 0;
}
