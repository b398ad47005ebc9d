// SPDX-License-Identifier: GPL-2.0 OR Linux-OpenIB
/*
 * sodp-verbs-tests: the verbs tests, run in the VM against an sodp device
 * ($SODP_TEST_DEVICE, default sodp0).  Arguments name the cases to run
 * (default: all; --list names them).  Each case registers itself where it
 * is defined, with CHECK_CASE().
 *
 * Copyright (c) 2026 The sodp authors.
 */
#include <stdio.h>

#include "../lib/check.h"

int main(int argc, char **argv)
{
	setvbuf(stdout, NULL, _IOLBF, 0);
	return check_main(argc, argv);
}
