#!/usr/bin/env python3
"""Runs the unit-test binaries and prints one summary line."""
import subprocess
import sys

args = sys.argv[1:]
sep = args.index("--")
bins, extra = args[:sep], args[sep + 1:]
passed = failed = 0
for b in bins:
    p = subprocess.run([b] + extra, capture_output=True, text=True)
    out = p.stdout + p.stderr
    got = None
    for line in p.stdout.splitlines():
        if " passed, " in line and line.rstrip().endswith(" failed"):
            got = line
    if got is None or p.returncode != 0:
        sys.stdout.write(out)
    if got:
        n = got.split(": ", 1)[-1].split(",")
        passed += int(n[0].split()[0])
        failed += int(n[1].split()[0])
        print("  " + got)
    if p.returncode != 0 and (got is None or failed == 0):
        failed += 1
        print(f"  {b}: exited with {p.returncode}")
print(f"unit: {passed} passed, {failed} failed")
sys.exit(1 if failed else 0)
