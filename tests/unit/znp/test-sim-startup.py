"""The host's coordinator start-up (znp-start) against lumiplug-sim, over a pty and over TCP:
a blank coordinator gets a network, a restart adopts it, a mismatching explicit PAN id is
refused, --reform replaces the network.
"""
import os
import re
import subprocess
import sys
import tempfile

BUILD = os.environ["LUMI_BUILD_ROOT"]
SIM = os.path.join(BUILD, "tests", "sim", "lumiplug-sim")
START = os.path.join(BUILD, "tests", "unit", "znp", "znp-start")


class Sim:
    """lumiplug-sim with its NV in a file; the first stdout line is the port."""

    def __init__(self, nv, tcp=False, fast=True):
        args = [SIM, "--nv", nv] + (["--fast"] if fast else []) + (["--tcp", "0"] if tcp else [])
        self.proc = subprocess.Popen(args, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
        self.port = self.proc.stdout.readline().strip()
        if not self.port:
            self.stop()
            raise RuntimeError("lumiplug-sim printed no port: " + self.proc.stderr.read())

    def stop(self):
        if self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(timeout=10)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()


def start(port, *options):
    p = subprocess.run([START, *options, port], capture_output=True, text=True, timeout=120)
    fields = dict(re.findall(r"(\w+)=(\S+)", p.stdout.splitlines()[0] if p.stdout else ""))
    return p.returncode, fields, p.stdout + p.stderr


def main():
    with tempfile.TemporaryDirectory() as tmp:
        nv = os.path.join(tmp, "coordinator.nv")
        sims = []
        try:
            sim = Sim(nv)
            sims.append(sim)
            assert sim.port.startswith("/dev/"), sim.port
            rc, first, out = start(sim.port)
            assert rc == 0 and first.get("result") == "formed", out
            assert first["pan"] not in ("0xffff", "0x0000"), out
            assert first["channel"] == "11", out
            sim.stop()

            # restart: the network in NV is adopted, unchanged
            sim = Sim(nv)
            sims.append(sim)
            rc, second, out = start(sim.port)
            assert rc == 0 and second.get("result") == "adopted", out
            for key in ("ieee", "pan", "epid", "channel"):
                assert second[key] == first[key], (key, first, second)

            # an explicit PAN id that differs is refused, and nothing changes
            other = "0x1234" if first["pan"] != "0x1234" else "0x4321"
            rc, refused, out = start(sim.port, "--pan", other)
            assert rc == 1 and refused.get("error") == "EEXIST", out
            assert "--reform" in out, out
            rc, again, out = start(sim.port)
            assert rc == 0 and again.get("result") == "adopted" and again["pan"] == first["pan"], out
            sim.stop()

            # over TCP, with --reform: a new network with the configured PAN id and channel
            sim = Sim(nv, tcp=True)
            sims.append(sim)
            assert sim.port.startswith("tcp://127.0.0.1:"), sim.port
            rc, reformed, out = start(sim.port, "--pan", other, "--channel", "15", "--reform")
            assert rc == 0 and reformed.get("result") == "formed", out
            assert reformed["pan"] == other and reformed["channel"] == "15", out
            assert reformed["epid"] != first["epid"], out
            rc, adopted, out = start(sim.port, "--pan", other, "--channel", "15")
            assert rc == 0 and adopted.get("result") == "adopted" and adopted["epid"] == reformed["epid"], out
            sim.stop()

            # Zigbee2MQTT's ext_pan_id dd:dd:dd:dd:dd:dd:dd:dd: the coordinator's IEEE address
            sim = Sim(os.path.join(tmp, "second.nv"))
            sims.append(sim)
            rc, dd, out = start(sim.port, "--epid", "0xdddddddddddddddd")
            assert rc == 0 and dd.get("result") == "formed" and dd["epid"] == dd["ieee"], out
            sim.stop()

            # with the simulator's real-stick latencies (reset ~2.6 s, late commissioning SRSP)
            sim = Sim(os.path.join(tmp, "third.nv"), fast=False)
            sims.append(sim)
            rc, slow, out = start(sim.port)
            assert rc == 0 and slow.get("result") == "formed", out
            rc, slow2, out = start(sim.port)
            assert rc == 0 and slow2.get("result") == "adopted" and slow2["pan"] == slow["pan"], out
        finally:
            for s in sims:
                s.stop()
    print("ok")
    return 0


if __name__ == "__main__":
    sys.exit(main())
