#!/usr/bin/python3
"""Issue 5, availability: a command to a plug that does not answer (the simulator's `offline`) fails
with an error and makes the plug offline on <name>/availability; once it talks again it is online
again and commands reach it."""
import json

from sim import ieee_of
from sysenv import BASE, Env, wait_until


def main():
    with Env(plugs=1) as e:
        e.start_daemon()
        e.wait_network()
        e.permit_join(60)
        ieee = ieee_of(1)
        m = e.mark()
        e.pair(1, start=m)
        e.wait(f"{BASE}/{ieee}/availability", lambda v: v == {"state": "online"}, start=m)

        e.sim.command("offline 1")
        m = e.mark()
        e.watcher.publish(f"{BASE}/{ieee}/set", json.dumps({"state": "ON"}))
        e.wait(f"{BASE}/{ieee}/availability", lambda v: v == {"state": "offline"}, start=m, timeout=120)
        assert e.sim.state(1)["state"] == "OFF"

        e.sim.command("online 1")
        m = e.mark()
        e.sim.command("report 1")
        e.wait(f"{BASE}/{ieee}/availability", lambda v: v == {"state": "online"}, start=m, timeout=60)
        m = e.mark()
        e.watcher.publish(f"{BASE}/{ieee}/set", json.dumps({"state": "ON"}))
        e.wait(f"{BASE}/{ieee}", lambda v: v.get("state") == "ON", start=m, timeout=60)
        wait_until(lambda: e.sim.state(1)["state"] == "ON", what="plug ON once back")
        assert e.daemon.stop() == 0
    print("ok")


if __name__ == "__main__":
    main()
