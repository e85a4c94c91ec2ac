#!/usr/bin/python3
"""Prints "N passed, N failed, N skipped" for a meson testlog JSON (meson-logs/testlog*.json),
optionally after a label: test-summary.py TESTLOG [LABEL]."""
import json
import sys


def main():
    count = {"passed": 0, "failed": 0, "skipped": 0}
    with open(sys.argv[1]) as f:
        for line in f:
            result = json.loads(line)["result"]
            key = {"OK": "passed", "EXPECTEDFAIL": "passed", "SKIP": "skipped"}.get(result, "failed")
            count[key] += 1
    label = f"{sys.argv[2]}: " if len(sys.argv) > 2 else ""
    print(f"{label}{count['passed']} passed, {count['failed']} failed, {count['skipped']} skipped")


if __name__ == "__main__":
    main()
