#!/usr/bin/python3
"""Integration: the host layer against lumiplug-sim over a pty.

host-pair starts the coordinator (blank NV: a network is formed), opens permit join through the host
layer; then a press on plug 1's button makes it join, and the interview must find the ZNCZ04LM
(lumi.plug.mmeu01, LUMI, mains powered, EP 1 with Basic)."""
import os
import subprocess
import sys
import threading
import queue

from sim import Sim


def driver():
    return os.path.join(os.environ["LUMI_BUILD_ROOT"], "tests", "unit", "host", "host-pair")


def read_lines(proc, q):
    for raw in proc.stdout:
        q.put(raw.decode().rstrip("\n"))
    q.put(None)


def wait_for(q, prefix, timeout, seen):
    while True:
        line = q.get(timeout=timeout)
        if line is None:
            raise AssertionError(f"host-pair ended before '{prefix}'; output so far: {seen}")
        seen.append(line)
        if line.startswith("error="):
            raise AssertionError(f"host-pair failed: {line}")
        if line.startswith(prefix):
            return line


def fields(line):
    return dict(part.split("=", 1) for part in line.split()[1:] if "=" in part)


def main():
    with Sim(plugs=1) as sim:
        stderr = open(os.path.join(sim.workdir, "host-pair.stderr"), "wb")
        proc = subprocess.Popen([driver(), "-v", "--seconds", "60", "--timeout", "100", sim.port],
                                stdout=subprocess.PIPE, stderr=stderr)
        q = queue.Queue()
        threading.Thread(target=read_lines, args=(proc, q), daemon=True).start()
        seen = []
        try:
            wait_for(q, "coordinator ", 60, seen)
            assert wait_for(q, "permit_join=", 30, seen) == "permit_join=60", seen
            assert sim.info()["permit_join"], "the simulator does not see permit join open"
            assert sim.command("press 1").startswith("joining"), "the plug did not start joining"
            joined = fields(wait_for(q, "joined ", 30, seen))
            result = fields(wait_for(q, "interview ", 90, seen))
            assert proc.wait(10) == 0, seen
        except Exception:
            sys.stderr.write("\n".join(seen) + "\n")
            sys.stderr.write(f"simulator log: {sim.log}; host-pair stderr in {sim.workdir}\n")
            raise
        finally:
            if proc.poll() is None:
                proc.kill()
                proc.wait()
            stderr.close()

    assert result["success"] == "1", result
    assert result["model"] == "lumi.plug.mmeu01", result
    assert result["manufacturer"] == "LUMI", result
    assert result["power_source"] == "1", result
    assert result["logical_type"] == "1", result
    assert result["ieee"] == joined["ieee"] and result["nwk"] == joined["nwk"], (result, joined)
    assert result["endpoints"].split(",")[0] == "1", result
    print("interviewed", result["ieee"], result["model"], "endpoints", result["endpoints"])
    return 0


if __name__ == "__main__":
    sys.exit(main())
