#!/usr/bin/env python3
# SPDX-License-Identifier: GPL-2.0 OR Linux-OpenIB
"""
Run rdma-core's pyverbs test suite (a copy, uncompressed, in SUITE) on an
RDMA device and judge it: no failure, no error, and every skip explained.
A skip is explained by a rule below: something a soft RoCE device cannot
have (each counted).  Exit status 0 when the run is clean.

usage: pyverbs-run.py SUITE DEVICE GID_INDEX
"""
import os
import re
import sys
import unittest
from importlib.machinery import SourceFileLoader

# (pattern over "test-id skip-reason", class); the first that matches wins.
RULES = [
    (r"test_mlx5_|test_efa|non MLX5 device|non EFA device|not an MLX5 device",
     "cannot: another vendor's device"),
    (r"Device memory is not supported|ibv_free_dm", "cannot: device memory of a NIC"),
    (r"dmabuf|cuda|PCI device must be passed", "cannot: GPU memory or a PCI function"),
    (r"QP type 8 |Raw Packet|[Rr]aw_?[Pp]acket|timestamp_raw|test_raw_",
     "cannot: raw packet QPs"),
    (r"test_tag_matching", "cannot: tag matching offload"),
]


def main():
    suite_dir, dev, gid = sys.argv[1:4]
    sys.argv = ["run_tests.py", "--dev", dev, "--port", "1", "--gid", gid]
    sys.path.insert(0, suite_dir)
    os.chdir(suite_dir)
    from args_parser import parser

    tests = SourceFileLoader("tests", os.path.join(suite_dir, "__init__.py")).load_module()
    parser.parse_args()
    suite = unittest.defaultTestLoader.loadTestsFromModule(tests)
    res = unittest.TextTestRunner(stream=sys.stdout, verbosity=2).run(suite)

    classes = {}
    unexplained = []
    for test, why in res.skipped:
        what = f"{test.id()} {why}"
        cls = next((c for p, c in RULES if re.search(p, what)), None)
        if cls is None:
            unexplained.append(what)
        else:
            classes[cls] = classes.get(cls, 0) + 1
    passed = (res.testsRun - len(res.skipped) - len(res.failures) -
              len(res.errors) - len(res.expectedFailures))
    print(f"\npyverbs on {dev}: {res.testsRun} run, {passed} passed, "
          f"{len(res.failures)} failed, {len(res.errors)} errors, "
          f"{len(res.skipped)} skipped")
    print("skips by reason:")
    for cls in sorted(classes):
        print(f"  {classes[cls]:3d} {cls}")
    for what in unexplained:
        print(f"unexplained skip: {what}")
    ok = (not res.failures and not res.errors and not unexplained and
          not res.unexpectedSuccesses)
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
