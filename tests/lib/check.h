/* SPDX-License-Identifier: GPL-2.0 OR Linux-OpenIB */
/*
 * A minimal harness for the C tests: named cases, checks that report the
 * failing expression, a summary, and an exit status.
 *
 * Copyright (c) 2026 The sodp authors.
 */
#ifndef SODP_TESTS_CHECK_H
#define SODP_TESTS_CHECK_H

#include <errno.h>
#include <stdbool.h>
#include <stdio.h>
#include <string.h>

#define ARRAY_SIZE(a)	(sizeof(a) / sizeof((a)[0]))

struct check_case {
	const char *name;
	int (*fn)(void);	/* 0: pass */
};

#define CHECK(cond)							\
	do {								\
		if (!(cond)) {						\
			fprintf(stderr, "%s:%d: check failed: %s (errno %d %s)\n", \
				__FILE__, __LINE__, #cond, errno,	\
				strerror(errno));			\
			return 1;					\
		}							\
	} while (0)

#define CHECK_EQ(a, b)							\
	do {								\
		long long _a = (long long)(a), _b = (long long)(b);	\
		if (_a != _b) {						\
			fprintf(stderr, "%s:%d: %s == %s failed: %lld != %lld\n", \
				__FILE__, __LINE__, #a, #b, _a, _b);	\
			return 1;					\
		}							\
	} while (0)

/*
 * Run the cases named in argv (all if none); print "ok"/"not ok" lines.
 * "--list" prints the names.
 */
int check_main(const struct check_case *cases, int argc, char **argv);

#endif /* SODP_TESTS_CHECK_H */
