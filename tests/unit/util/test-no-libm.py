#!/usr/bin/python3
"""lumiplugd must not need libm: loading it for one function put ~300 KiB of its pages in every
lumiplugd's RSS (tests/bench/REPORT.md). Rounding is src/util/round.h; if a libm function is really
needed, weigh that cost and change this test."""
import re
import subprocess
import sys

binary = sys.argv[1]
out = subprocess.run(["readelf", "-d", "-W", binary], capture_output=True, text=True, check=True).stdout
needed = re.findall(r"\(NEEDED\)\s+Shared library: \[([^\]]+)\]", out)
assert needed, f"readelf found no NEEDED entries in {binary}:\n{out}"
libm = [n for n in needed if n.startswith("libm.so")]
if libm:
    undef = subprocess.run(["nm", "-D", "--undefined-only", binary], capture_output=True, text=True).stdout
    sys.exit(f"{binary} needs {libm[0]} (all: {', '.join(needed)}); its undefined symbols:\n{undef}")
print(f"{binary} needs: {', '.join(needed)}")
