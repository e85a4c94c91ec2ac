#!/usr/bin/python3
"""Issue 4, coordinator loss: an unexpected coordinator reset (the simulator's `reset`) and a lost
port (the simulator killed and started again on the same NV and the same stable link path) are
recovered without restarting the daemon; the plugs are offline meanwhile and online again after,
and commands reach them again."""
import json
import os

from sim import ieee_of
from sysenv import BASE, Env, wait_until


def toggled(e, ieee, n, want):
    m = e.mark()
    e.watcher.publish(f"{BASE}/{ieee}/set", json.dumps({"state": want}))
    e.wait(f"{BASE}/{ieee}", lambda v: v.get("state") == want, start=m, timeout=60)
    wait_until(lambda: e.sim.state(n)["state"] == want, what=f"plug {n} {want}", timeout=30)


def main():
    with Env(plugs=1, sim_args=()) as e:
        # a stable path, as /dev/serial/by-id/... is for a real stick
        e.sim.stop()
        e.sim = None
        link = os.path.join(e.workdir, "ttyZigbee")
        from sim import Sim
        e.sim = Sim(plugs=1, nv=e.nv, fast=True, workdir=os.path.join(e.workdir, "sim"), link=link).start()
        d = e.start_daemon()
        e.wait_network()
        e.permit_join(60)
        ieee = ieee_of(1)
        e.pair(1)
        toggled(e, ieee, 1, "ON")
        pid = d.pid

        # --- coordinator reset ---
        m = e.mark()
        e.sim.command("reset")
        e.wait(f"{BASE}/{ieee}/availability", lambda v: v == {"state": "offline"}, start=m, timeout=30)
        d.wait_log(r"The coordinator is back", timeout=60)
        e.wait(f"{BASE}/{ieee}/availability", lambda v: v == {"state": "online"}, start=m, timeout=60)
        toggled(e, ieee, 1, "OFF")

        # --- two resets in a row (the second during the re-initialisation) ---
        start = len(d.log())
        e.sim.command("reset")
        e.sim.command("reset")
        d.wait_log(r"The coordinator is back", timeout=60, start=start)
        toggled(e, ieee, 1, "ON")
        toggled(e, ieee, 1, "OFF")

        # --- port lost: the simulator goes away and comes back on the same NV ---
        m = e.mark()
        start = len(d.log())
        e.sim.stop()
        e.wait(f"{BASE}/{ieee}/availability", lambda v: v == {"state": "offline"}, start=m, timeout=30)
        d.wait_log(r"retrying in", timeout=30, start=start)
        e.sim = Sim(plugs=1, nv=e.nv, fast=True, workdir=os.path.join(e.workdir, "sim"), link=link).start()
        d.wait_log(r"The coordinator is back", timeout=90, start=start)
        e.wait(f"{BASE}/{ieee}/availability", lambda v: v == {"state": "online"}, start=m, timeout=60)
        toggled(e, ieee, 1, "ON")
        assert d.running() and d.pid == pid
        assert d.stop() == 0
    print("ok")


if __name__ == "__main__":
    main()
