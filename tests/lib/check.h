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
	struct check_case *next;
};

void check_register(struct check_case *c);

/*
 * Declare and register a case where it is defined, once:
 *
 *	CHECK_CASE(rc_send)
 *	{
 *		...
 *		return 0;
 *	}
 *
 * defines "static int test_rc_send(void)" (callable in its file) and
 * registers it as "rc_send" from a constructor, before main() runs: no
 * table to keep in step, and nothing that depends on a linker section.
 * check_main() runs (and --list prints) the cases sorted by name, whatever
 * the link order.
 */
#define CHECK_CASE(cname)						\
	static int test_##cname(void);					\
	static struct check_case check_case_##cname = {			\
		.name = #cname, .fn = test_##cname,			\
	};								\
	__attribute__((constructor)) static void check_reg_##cname(void) \
	{								\
		check_register(&check_case_##cname);			\
	}								\
	static int test_##cname(void)

#define CHECK(cond)							\
	do {								\
		if (!(cond)) {						\
			fprintf(stderr, "%s:%d: check failed: %s (errno %d %s)\n", \
				__FILE__, __LINE__, #cond, errno,	\
				strerror(errno));			\
			return 1;					\
		}							\
	} while (0)

/*
 * A case that cannot run here (the kernel lacks what it tests) returns
 * CHECK_SKIPPED through CHECK_SKIP, saying why; it counts as neither.
 */
#define CHECK_SKIPPED 77
#define CHECK_SKIP(...)							\
	do {								\
		printf("skip: " __VA_ARGS__);				\
		printf("\n");						\
		return CHECK_SKIPPED;					\
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
 * A cleanup call (destroy, dealloc, dereg, close) that failed: the case
 * it ran in fails (a skipped one too), though the cleanup returns no
 * verdict.  An object the kernel refused to free would otherwise leak
 * unseen (and keep what it holds: CQs, a PD, the device).  The count is
 * the process's own: a forked child of a case returns
 * check_cleanup_failures() in its exit status.
 */
void check_cleanup_failed(const char *file, int line, const char *call, int ret);
unsigned int check_cleanup_failures(void);

#define CHECK_CLEANUP(call)						\
	do {								\
		int _ret = (call);					\
		if (_ret)						\
			check_cleanup_failed(__FILE__, __LINE__, #call, _ret); \
	} while (0)

/*
 * Run the registered cases named in argv (all if none), in name order;
 * print "ok"/"not ok" lines.  "--list" prints the names.  A name that is
 * no case is an error (a typo in a script must not skip a case quietly).
 */
int check_main(int argc, char **argv);

#endif /* SODP_TESTS_CHECK_H */
