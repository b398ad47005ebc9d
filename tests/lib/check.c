// SPDX-License-Identifier: GPL-2.0 OR Linux-OpenIB
/*
 * Copyright (c) 2026 The sodp authors.
 */
#include <stdlib.h>
#include <time.h>

#include "check.h"

/* Filled by the CHECK_CASE() constructors, before main(). */
static struct check_case *check_cases;
static size_t check_ncases;

/* Cleanup calls that failed in the running case. */
static unsigned int cleanup_failures;

/* Destroy verbs return an errno value; a few return -1 with errno set. */
void check_cleanup_failed(const char *file, int line, const char *call, int ret)
{
	int err = ret > 0 ? ret : errno;

	fprintf(stderr, "%s:%d: cleanup failed: %s returned %d (%s)\n",
		file, line, call, ret, strerror(err));
	cleanup_failures++;
}

unsigned int check_cleanup_failures(void)
{
	return cleanup_failures;
}

void check_register(struct check_case *c)
{
	c->next = check_cases;
	check_cases = c;
	check_ncases++;
}

static int check_cmp(const void *a, const void *b)
{
	const struct check_case *const *x = a, *const *y = b;

	return strcmp((*x)->name, (*y)->name);
}

/* The cases sorted by name (NULL-terminated), or NULL. */
static struct check_case **check_sorted(void)
{
	struct check_case **v = calloc(check_ncases + 1, sizeof(*v));
	size_t n = 0;

	if (!v)
		return NULL;
	for (struct check_case *c = check_cases; c; c = c->next)
		v[n++] = c;
	qsort(v, n, sizeof(*v), check_cmp);
	for (size_t i = 1; i < n; i++) {
		if (!strcmp(v[i - 1]->name, v[i]->name)) {
			fprintf(stderr, "case %s is defined twice\n", v[i]->name);
			free(v);
			return NULL;
		}
	}
	return v;
}

static bool check_selected(const char *name, int argc, char **argv)
{
	if (argc < 2)
		return true;
	for (int i = 1; i < argc; i++)
		if (!strcmp(argv[i], name))
			return true;
	return false;
}

int check_main(int argc, char **argv)
{
	struct check_case **cases = check_sorted();
	int passed = 0, failed = 0, skipped = 0, unknown = 0, ran;

	if (!cases)
		return 2;
	if (argc == 2 && !strcmp(argv[1], "--list")) {
		for (struct check_case **c = cases; *c; c++)
			printf("%s\n", (*c)->name);
		free(cases);
		return 0;
	}
	for (int i = 1; i < argc; i++) {
		struct check_case **c = cases;

		while (*c && strcmp((*c)->name, argv[i]))
			c++;
		if (!*c) {
			fprintf(stderr, "no case named %s\n", argv[i]);
			unknown++;
		}
	}
	if (unknown) {
		free(cases);
		return 2;
	}
	for (struct check_case **cp = cases; *cp; cp++) {
		const struct check_case *c = *cp;
		struct timespec t0, t1;
		int ret;

		if (!check_selected(c->name, argc, argv))
			continue;
		clock_gettime(CLOCK_MONOTONIC, &t0);
		fflush(stdout);
		cleanup_failures = 0;
		ret = c->fn();
		if (cleanup_failures)
			ret = 1;
		if (ret == CHECK_SKIPPED) {
			skipped++;
			printf("skipped %s\n", c->name);
		} else if (ret == 0) {
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
	free(cases);
	ran = passed + failed;
	printf("%s: %d of %d cases passed, %d skipped\n", argv[0], passed, ran,
	       skipped);
	if (!ran && !skipped) {
		fprintf(stderr, "no case matched\n");
		return 2;
	}
	return failed ? 1 : 0;
}
