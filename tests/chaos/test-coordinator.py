#!/usr/bin/python3
"""Issue 9 items 3b and 3c, while three plugs report every second and reads flow:
- the coordinator's port goes away (the simulator killed) and comes back on the same stable path and
  NV (a stick pulled and plugged in again), 3 times: the plugs go offline, the daemon reopens the port
  by itself (same pid), the plugs are online again and every plug obeys a command;
- the coordinator resets (the simulator's `reset`, now with its real delays) right after a command was
  published, or just before, 10 times: the
  daemon starts the coordinator again, that command was either obeyed by the plug or reported failed
  on bridge/logging (never silently lost), and the next command to every plug is obeyed."""
import json
import os
import random
import time

from chaoslib import BASE, Env, Traffic, ieee_of, start_and_pair, switch, wait_until
from sim import Sim

PLUGS = 3
PORT_CYCLES = int(os.environ.get("LUMI_CHAOS_PORT_CYCLES", "3"))
RESETS = int(os.environ.get("LUMI_CHAOS_RESETS", "10"))


def opposite(e, n):
    return "OFF" if e.sim.state(n)["state"] == "ON" else "ON"


def availability(e, ieee, state, start, timeout=90):
    e.wait(f"{BASE}/{ieee}/availability", lambda v: v == {"state": state}, start=start, timeout=timeout)


def main():
    rnd = random.Random(93)
    with Env(plugs=PLUGS, report_interval=1) as e:
        link = os.path.join(e.workdir, "ttyZigbee")     # as /dev/serial/by-id/... for a real stick

        def new_sim(fast=True):
            return Sim(plugs=PLUGS, nv=e.nv, fast=fast, workdir=os.path.join(e.workdir, "sim"), link=link,
                       report_interval=1).start()

        e.sim.stop()
        e.sim = new_sim()
        d = start_and_pair(e)
        pid = d.pid
        plugs = [ieee_of(n) for n in range(1, PLUGS + 1)]
        traffic = Traffic(e.broker.port, range(1, PLUGS + 1))
        try:
            # --- 3b: the port closed and reopened ---
            for i in range(PORT_CYCLES):
                start, m = len(d.log()), e.mark()
                e.sim.stop()
                for ieee in plugs:
                    availability(e, ieee, "offline", m)
                time.sleep(rnd.uniform(0, 2))
                e.sim = new_sim()
                d.wait_log(r"The coordinator is back", start=start, timeout=90)
                for ieee in plugs:
                    availability(e, ieee, "online", m)
                for n in range(1, PLUGS + 1):
                    switch(e, n, opposite(e, n))
                print(f"port cycle {i + 1}: back, every plug obeyed")

            # --- 3c: reset in the middle of a command ---
            # The simulator with its real delays now (a frame takes 25 ms over the air, a reset 1.2 s), so
            # that a reset lands in the middle of a command; every other time the command arrives while
            # the coordinator is starting again.
            start, m = len(d.log()), e.mark()
            e.sim.stop()
            e.sim = new_sim(fast=False)
            d.wait_log(r"The coordinator is back", start=start, timeout=90)
            for ieee in plugs:
                availability(e, ieee, "online", m)
            outcomes = {"obeyed": 0, "reported failed": 0}
            reasons = set()
            for i in range(RESETS):
                n = 1 + i % PLUGS
                ieee = ieee_of(n)
                want = opposite(e, n)
                start, m = len(d.log()), e.mark()
                if i % 2 == 0:
                    e.watcher.publish(f"{BASE}/{ieee}/set", json.dumps({"state": want}))
                    time.sleep(rnd.uniform(0, 0.06))
                    e.sim.command("reset")
                else:
                    e.sim.command("reset")
                    time.sleep(rnd.uniform(0, 0.3))
                    e.watcher.publish(f"{BASE}/{ieee}/set", json.dumps({"state": want}))
                d.wait_log(r"The coordinator is back", start=start, timeout=90)

                def outcome():
                    for t, p, _ in e.watcher.messages[m:]:
                        if t == f"{BASE}/bridge/logging":
                            msg = json.loads(p)["message"]
                            if f"Publish 'set' 'state' to '{ieee}' failed" in msg:
                                reasons.add(msg.split(" failed: ", 1)[1])
                                return "reported failed"
                    if e.sim.state(n)["state"] == want and any(
                            t == f"{BASE}/{ieee}" and json.loads(p).get("state") == want
                            for t, p, _ in e.watcher.messages[m:]):
                        return "obeyed"
                    return None
                got = wait_until(outcome, what=f"reset {i + 1}: the command obeyed or reported failed", timeout=90)
                outcomes[got] += 1
                for k in range(1, PLUGS + 1):
                    switch(e, k, opposite(e, k))
            print(f"{RESETS} resets in the middle of a command: {outcomes}; later commands obeyed every time")
            print(f"failures reported as: {sorted(reasons)}")
            assert d.running() and d.pid == pid
        finally:
            traffic.stop()
        assert d.stop() == 0
    print("ok")


if __name__ == "__main__":
    main()
