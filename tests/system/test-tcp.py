#!/usr/bin/python3
"""Issue 4, transports: with `[serial] port = tcp://127.0.0.1:PORT` (a network coordinator, ser2net)
lumiplugd forms the network, pairs a plug and switches it, exactly as over a serial port."""
import json

from sysenv import BASE, Env, wait_until
from sim import ieee_of


def main():
    with Env(plugs=1, sim_args=("--tcp", "0")) as e:
        assert e.sim.port.startswith("tcp://127.0.0.1:"), e.sim.port
        d = e.start_daemon()
        info = e.wait_network()
        assert info["coordinator"]["type"] == "zStack3x0", info
        e.permit_join()
        e.pair(1)
        ieee = ieee_of(1)
        for cmd, want in (("ON", "ON"), ("TOGGLE", "OFF")):
            m = e.mark()
            e.watcher.publish(f"{BASE}/{ieee}/set", json.dumps({"state": cmd}))
            e.wait(f"{BASE}/{ieee}", lambda v, w=want: v.get("state") == w, start=m)
            wait_until(lambda w=want: e.sim.state(1)["state"] == w, what=f"sim state {want}")
        assert d.proc.poll() is None, d.log()
        assert d.stop() == 0, d.log()
    print("ok")


if __name__ == "__main__":
    main()
