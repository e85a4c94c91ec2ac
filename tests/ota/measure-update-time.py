#!/usr/bin/python3
"""How long an OTA update takes at the simulator's realistic link speed (lumiplug-sim without
--fast: 25 ms air time per frame from the plug, AF confirms after 15 ms ...). Not a test: run by
hand, e.g.

    LUMI_BUILD_ROOT=build tests/ota/measure-update-time.py --size 276030 --delay 250

--size is the image size in bytes (276030: the real lumi.plug.mmeu01 V22 image in Koenkk's
zigbee-OTA index), --delay [ota] image_block_response_delay, --block [ota]
default_maximum_data_size. --seconds N stops after N seconds and extrapolates from the progress."""
import argparse
import json
import os
import sys
import time

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)
sys.path.insert(0, os.path.join(HERE, "..", "system"))
sys.path.insert(0, os.path.join(HERE, "..", "lib"))

import otafile  # noqa: E402
import sysenv  # noqa: E402
from sim import Sim, ieee_of  # noqa: E402


class SlowEnv(sysenv.Env):
    def start_sim(self):
        os.makedirs(os.path.join(self.workdir, "sim"), exist_ok=True)
        self.sim = Sim(plugs=self.plugs, nv=self.nv, fast=False, workdir=os.path.join(self.workdir, "sim")).start()
        return self.sim


def main():
    p = argparse.ArgumentParser()
    p.add_argument("--size", type=int, default=276030)
    p.add_argument("--delay", type=int, default=250)
    p.add_argument("--block", type=int, default=50)
    p.add_argument("--seconds", type=float, default=0)
    a = p.parse_args()
    with SlowEnv(plugs=1) as e:
        ota_dir = os.path.join(e.workdir, "ota")
        os.makedirs(ota_dir)
        e.extra = (f"[ota]\ndirectory = {ota_dir}\nimage_block_response_delay = {a.delay}\n"
                   f"default_maximum_data_size = {a.block}\n")
        e.start_daemon()
        e.wait_network()
        e.permit_join(120)
        e.pair(1)
        payload = a.size - 56 - 6
        with open(os.path.join(ota_dir, "image.ota"), "wb") as f:
            f.write(otafile.build(24, payload_size=payload))
        m = e.mark()
        t0 = time.monotonic()
        e.watcher.publish(f"{sysenv.BASE}/bridge/request/device/ota_update/update",
                          json.dumps({"id": ieee_of(1), "transaction": "t"}))
        if a.seconds:
            time.sleep(a.seconds)
            st = json.loads(e.sim.command("ota 1"))
            dt = time.monotonic() - t0
            print(f"{st['offset']} of {st['size']} bytes in {dt:.1f} s: {st['offset'] / dt:.0f} B/s, "
                  f"whole image ~{st['size'] / (st['offset'] / dt):.0f} s")
            return
        r = e.wait(f"{sysenv.BASE}/bridge/response/device/ota_update/update", lambda v: v.get("transaction") == "t",
                   start=m, timeout=24 * 3600)
        dt = time.monotonic() - t0
        print(f"{a.size} bytes, blocks of {a.block}, delay {a.delay} ms: {r['status']} in {dt:.1f} s "
              f"({a.size / dt:.0f} B/s)")


if __name__ == "__main__":
    main()
