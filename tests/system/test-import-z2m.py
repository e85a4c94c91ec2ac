#!/usr/bin/python3
"""Issue 4, migration: `lumiplugd --import-z2m DIR` on a real Zigbee2MQTT 2.14.1 data directory
(tests/unit/store/z2m-real-2.14.1) fills the device database with its two plugs and their friendly
names and the network (PAN ID, extended PAN ID, key, channel); a daemon started on a blank
coordinator then runs that same network, lists both plugs under their Zigbee2MQTT names, and drives
them by those names once they talk. A directory that cannot be read is refused with status 1."""
import json
import os
import subprocess

from daemon import daemon_command, scaled, source_root
from sim import ieee_of
from sysenv import BASE, Env, wait_until

Z2M = os.path.join(source_root(), "tests", "unit", "store", "z2m-real-2.14.1")


def main():
    with Env(plugs=2) as e:
        os.makedirs(e.state_dir, exist_ok=True)
        ini = os.path.join(e.workdir, "import.ini")
        with open(ini, "w") as f:
            f.write(e.ini())
        p = subprocess.run(daemon_command("-c", ini, "--import-z2m", Z2M), capture_output=True, text=True,
                           timeout=scaled(60))
        assert p.returncode == 0, (p.returncode, p.stdout, p.stderr)
        with open(os.path.join(e.state_dir, "devices.json")) as f:
            text = f.read()
        assert "plug1" in text and "plug2" in text, text[:1000]

        p = subprocess.run(daemon_command("-c", ini, "--import-z2m", os.path.join(e.workdir, "missing")),
                           capture_output=True, text=True, timeout=scaled(60))
        assert p.returncode == 1 and p.stderr.strip(), (p.returncode, p.stdout, p.stderr)

        d = e.start_daemon()
        info = e.wait_network()
        assert info["network"]["pan_id"] == 0x1a62, info["network"]
        assert info["network"]["channel"] == 11, info["network"]
        assert e.sim.info()["pan"] == 0x1a62
        devs = e.devices(pred=lambda v: len(v) == 3)
        names = {x["ieee_address"]: x["friendly_name"] for x in devs}
        assert names[ieee_of(1)] == "plug1" and names[ieee_of(2)] == "plug2", names
        assert all((x.get("definition") or {}).get("model") == "ZNCZ04LM" for x in devs if x["type"] != "Coordinator")

        # the simulator's coordinator was blank: let the plugs back in, then drive them by name
        e.permit_join(60)
        for n in (1, 2):
            m = e.mark()
            e.sim.command(f"press {n}")
            e.wait(f"{BASE}/bridge/event", lambda v, n=n: v["type"] in ("device_announce", "device_joined")
                   and v["data"]["ieee_address"] == ieee_of(n), start=m, timeout=60)
        for n, name in ((1, "plug1"), (2, "plug2")):
            m = e.mark()
            e.watcher.publish(f"{BASE}/{name}/set", json.dumps({"state": "ON"}))
            e.wait(f"{BASE}/{name}", lambda v: v.get("state") == "ON", start=m, timeout=60)
            wait_until(lambda n=n: e.sim.state(n)["state"] == "ON", what=f"plug {n} ON")
        assert d.stop() == 0
    print("ok")


if __name__ == "__main__":
    main()
