#!/usr/bin/python3
"""Issue 4, migration from the real Zigbee2MQTT (npm zigbee2mqtt@2.14.1; suite 'peer'): Zigbee2MQTT
forms the network on lumiplug-sim and pairs two plugs under friendly names; it is stopped; then
`lumiplugd --import-z2m` reads its data directory, and lumiplugd started on the same coordinator NV
adopts the network and drives both plugs by their Zigbee2MQTT names without pairing them again.
Exit 77 (skip) only when the npm registry cannot be reached to install Zigbee2MQTT."""
import json
import os
import subprocess
import sys

from daemon import binary
from sim import ieee_of
from sysenv import BASE, Env, wait_until
import z2m

NAMES = {1: "desk_lamp", 2: "kitchen/kettle"}


def main():
    try:
        z2m.install(log=print)
    except z2m.NpmUnreachable as e:
        print(f"SKIP: {e}")
        return 77
    with Env(plugs=2) as e:
        datadir = os.path.join(e.workdir, "z2m-data")
        z = z2m.Z2M(e.sim.port, e.broker.port, datadir=datadir,
                    devices={ieee_of(n): {"friendly_name": name} for n, name in NAMES.items()}).start()
        try:
            z.wait_log(r"Zigbee2MQTT started", timeout=240)
            e.permit_join(120)
            for n in NAMES:
                e.pair(n, timeout=180)
        finally:
            z.stop()
        pan = e.sim.info()["pan"]

        ini = os.path.join(e.workdir, "import.ini")
        with open(ini, "w") as f:
            f.write(e.ini())
        os.makedirs(e.state_dir, exist_ok=True)
        p = subprocess.run([binary(), "-c", ini, "--import-z2m", datadir], capture_output=True, text=True,
                           timeout=60)
        print(p.stdout, p.stderr)
        assert p.returncode == 0, (p.returncode, p.stdout, p.stderr)

        m = e.mark()
        d = e.start_daemon()
        info = e.wait_network(start=m)
        assert info["network"]["pan_id"] == pan, info["network"]
        d.wait_log(r"Adopted the coordinator's Zigbee network")
        assert "Formed a new" not in d.log()
        devs = e.devices(start=m, pred=lambda v: len(v) == 3)
        names = {x["ieee_address"]: x["friendly_name"] for x in devs}
        assert all(names[ieee_of(n)] == name for n, name in NAMES.items()), names

        for n, name in NAMES.items():
            for want in ("ON", "OFF"):
                m = e.mark()
                e.watcher.publish(f"{BASE}/{name}/set", json.dumps({"state": want}))
                e.wait(f"{BASE}/{name}", lambda v, w=want: v.get("state") == w, start=m, timeout=60)
                wait_until(lambda n=n, w=want: e.sim.state(n)["state"] == w, what=f"plug {n} {want}")
        assert d.stop() == 0
    print("ok")
    return 0


if __name__ == "__main__":
    sys.exit(main())
