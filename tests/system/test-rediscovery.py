#!/usr/bin/python3
"""Issue 4: a coordinator that is not there at start (its port does not exist yet) is waited for
with a backoff and used once it appears; a plug that talks while it is missing from the device
database (the database was lost) is looked up by address, interviewed and reappears by itself,
and is driven again; a plug that leaves is reported and can pair again."""
import json
import os

from sim import Sim, ieee_of
from sysenv import BASE, Env, wait_until


def main():
    with Env(plugs=1) as e:
        link = os.path.join(e.workdir, "ttyLate")
        e.sim.stop()
        e.sim = Sim(plugs=1, nv=e.nv, fast=True, workdir=os.path.join(e.workdir, "sim"), link=link)
        e.sim.port = link          # not started yet: the daemon gets a path that does not exist
        d = e.start_daemon()
        d.wait_log(r"cannot open the coordinator port.*retrying in 1 s", timeout=30)
        d.wait_log(r"retrying in 2 s", timeout=30)
        e.sim.start()
        e.wait_network(timeout=90)
        d.wait_log(r"Formed a new Zigbee network")

        e.permit_join(60)
        ieee = ieee_of(1)
        e.pair(1)
        assert d.stop() == 0

        # the database is lost (the network file stays): the plug is found again when it talks
        os.unlink(os.path.join(e.state_dir, "devices.json"))
        m = e.mark()
        d = e.start_daemon()
        e.wait_network(start=m)
        e.sim.command("report 1")
        ev = e.wait(f"{BASE}/bridge/event", lambda v: v["type"] == "device_interview" and
                    v["data"]["ieee_address"] == ieee and v["data"]["status"] == "successful", start=m, timeout=90)
        assert ev["data"]["definition"]["model"] == "ZNCZ04LM", ev
        e.devices(start=m, pred=lambda v: any(x["ieee_address"] == ieee and x.get("interview_completed") for x in v))
        m = e.mark()
        e.watcher.publish(f"{BASE}/{ieee}/set", json.dumps({"state": "ON"}))
        e.wait(f"{BASE}/{ieee}", lambda v: v.get("state") == "ON", start=m, timeout=60)
        wait_until(lambda: e.sim.state(1)["state"] == "ON", what="rediscovered plug ON")

        # the plug leaves by itself (device_leave), then pairs again
        m = e.mark()
        e.sim.command("leave 1")
        e.wait(f"{BASE}/bridge/event", lambda v: v["type"] == "device_leave" and v["data"]["ieee_address"] == ieee,
               start=m, timeout=60)
        e.devices(start=m, pred=lambda v: not any(x["ieee_address"] == ieee for x in v))
        e.permit_join(60)
        e.pair(1)
        assert d.stop() == 0
    print("ok")


if __name__ == "__main__":
    main()
