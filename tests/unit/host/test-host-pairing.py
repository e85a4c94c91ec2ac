#!/usr/bin/python3
"""Integration: the host layer against lumiplug-sim over a pty, in four runs of host-pair on one
simulator.

1. Blank coordinator: a network is formed, permit join is opened through the host layer, a press on
   plug 1's button makes it join, and the interview must find the ZNCZ04LM (lumi.plug.mmeu01, LUMI,
   mains powered router, EP 1 first).
2. A new host that knows no device (as after a lost database): the network is adopted, the plug's next
   report makes the host look its address up, report it unknown and interview it; a Toggle then gets
   the plug's Default Response.
3. The plug goes out of range: a Toggle is sent five times with a route discovery among them (the
   AF data path of src/znp/af.h), the host then asks for the plug's network address once, and it
   fails with MAC no ack.
4. The coordinator resets (SYS_RESET_IND) under a running host: the host reports it."""
import os
import queue
import subprocess
import sys
import threading

from sim import Sim


def driver():
    return os.path.join(os.environ["LUMI_BUILD_ROOT"], "tests", "unit", "host", "host-pair")


class Run:
    """One host-pair process; its stdout lines arrive on a queue."""

    def __init__(self, sim, args, name):
        self.lines = []
        self.q = queue.Queue()
        self.stderr = open(os.path.join(sim.workdir, f"host-pair-{name}.stderr"), "wb")
        self.proc = subprocess.Popen([driver(), "-v", "--timeout", "100"] + args + [sim.port],
                                     stdout=subprocess.PIPE, stderr=self.stderr)
        threading.Thread(target=self._read, daemon=True).start()

    def _read(self):
        for raw in self.proc.stdout:
            self.q.put(raw.decode().rstrip("\n"))
        self.q.put(None)

    def wait_for(self, prefix, timeout):
        while True:
            line = self.q.get(timeout=timeout)
            if line is None:
                raise AssertionError(f"host-pair ended before '{prefix}': {self.lines}")
            self.lines.append(line)
            if line.startswith("error=") and not prefix.startswith("error="):
                raise AssertionError(f"host-pair failed: {line}")
            if line.startswith(prefix):
                return line if prefix.startswith("error=") else fields(line)

    def finish(self):
        code = self.proc.wait(20)
        return code

    def kill(self):
        if self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait()
        self.stderr.close()


def fields(line):
    return dict(part.split("=", 1) for part in line.split()[1:] if "=" in part)


def sim_frames(sim, since):
    """Host -> coordinator frame names logged by the simulator after line `since`."""
    with open(sim.log) as f:
        lines = f.read().splitlines()
    return [l.split()[-1] for l in lines[since:] if " <- " in l], len(lines)


def log_length(sim):
    with open(sim.log) as f:
        return len(f.read().splitlines())


def check_interview(result, model="lumi.plug.mmeu01"):
    assert result["success"] == "1", result
    assert result["model"] == model, result
    assert result["manufacturer"] == "LUMI", result
    assert result["power_source"] == "1", result
    assert result["logical_type"] == "1", result
    assert result["endpoints"].split(",")[0] == "1", result


def main():
    with Sim(plugs=1) as sim:
        runs = []
        try:
            # 1. pairing on a blank coordinator
            r = Run(sim, ["--seconds", "60"], "pair")
            runs.append(r)
            assert r.wait_for("coordinator ", 60).get("pan"), r.lines
            assert "formed" in r.lines[-1], r.lines
            assert r.wait_for("permit_join=", 30) == {}, r.lines
            assert r.lines[-1] == "permit_join=60", r.lines
            assert sim.info()["permit_join"], "the simulator does not see permit join open"
            assert sim.command("press 1").startswith("joining"), "the plug did not start joining"
            joined = r.wait_for("joined ", 30)
            result = r.wait_for("interview ", 90)
            check_interview(result)
            assert result["ieee"] == joined["ieee"] and result["nwk"] == joined["nwk"], (result, joined)
            assert r.finish() == 0, r.lines
            print("paired and interviewed", result["ieee"], result["model"], "endpoints", result["endpoints"])

            # 2. a host that knows nothing finds the plug when it talks
            r = Run(sim, ["--unknown", "--toggle"], "unknown")
            runs.append(r)
            r.wait_for("coordinator ", 60)
            assert "adopted" in r.lines[-1], r.lines
            assert sim.command("press 1") == "toggled"
            unknown = r.wait_for("unknown ", 30)
            assert unknown["ieee"] == joined["ieee"] and unknown["source"] == "message", unknown
            check_interview(r.wait_for("interview ", 90))
            toggled = r.wait_for("toggle ", 30)
            assert toggled == {"error": "0", "af_status": "0x00", "default_rsp": "0x00"}, toggled
            assert r.finish() == 0, r.lines
            print("unknown plug found again and toggled")

            # 3. out of range: herdsman's retries, then a clear error
            plug = sim.plug(1)
            sim.command("offline 1")
            start = log_length(sim)
            r = Run(sim, ["--short-timings", "--device", "%s:%x" % (plug["ieee"][2:], plug["nwk"])], "offline")
            runs.append(r)
            toggled = r.wait_for("toggle ", 90)
            assert toggled["error"] == "EHOSTUNREACH" and toggled["af_status"] == "0xe9", toggled
            assert r.finish() == 0, r.lines
            names, _ = sim_frames(sim, start)
            tail = names[names.index("AF_DATA_REQUEST"):]
            assert tail == ["AF_DATA_REQUEST", "AF_DATA_REQUEST", "ZDO_EXT_ROUTE_DISC", "AF_DATA_REQUEST",
                            "AF_DATA_REQUEST", "AF_DATA_REQUEST", "ZDO_NWK_ADDR_REQ"], tail
            print("offline plug: five sends with a route discovery, an address check, then", toggled)

            # 4. the coordinator resets under a running host: reported, pending work failed
            sim.command("online 1")
            r = Run(sim, ["--unknown"], "reset")
            runs.append(r)
            r.wait_for("coordinator ", 60)
            sim.command("reset")
            line = r.wait_for("error=", 30)
            assert line.endswith("message=coordinator reset"), r.lines
            assert r.finish() == 1, r.lines
            print("coordinator reset reported:", r.lines[-1])
        except Exception:
            for r in runs:
                sys.stderr.write("\n".join(r.lines) + "\n")
            sys.stderr.write(f"simulator log: {sim.log}; host-pair stderr in {sim.workdir}\n")
            raise
        finally:
            for r in runs:
                r.kill()
    return 0


if __name__ == "__main__":
    sys.exit(main())
