#!/usr/bin/python3
"""Issue 9 item 3a: the broker is killed (SIGKILL) and restarted on the same port 20 times while three
plugs report every second and reads flow. After each return the daemon is connected again (the delay
from the broker's return to the daemon's retained bridge/state "online" is measured and printed; only
a generous bound is asserted), its retained messages are back on the broker although mosquitto keeps
none across a restart (bridge/state, info, devices, every plug's state and availability, every
discovery config seen before the restarts), and a command to every plug sent after the reconnect is
obeyed by the simulated plug. LUMI_CHAOS_BROKER_RESTARTS overrides the count."""
import json
import os
import random
import statistics
import threading
import time

import paho.mqtt.client as paho

from chaoslib import BASE, Env, Traffic, fresh_watcher, ieee_of, start_and_pair, switch, wait_until

RESTARTS = int(os.environ.get("LUMI_CHAOS_BROKER_RESTARTS", "20"))
PLUGS = 3
BOUND = 5.0         # seconds: generous, the figure itself is printed


def time_until_online(port, t0, timeout=30.0):
    """Seconds from t0 until bridge/state says online on the (restarted, empty) broker. The broker lost
    every retained message, so any "online" there is the daemon's new connection; when it connected
    before this client subscribed, the retained copy arrives at once and the figure is an upper bound."""
    got = threading.Event()
    when = []

    def on_message(c, u, msg):
        if not got.is_set() and json.loads(msg.payload or b"null") == {"state": "online"}:
            when.append(time.monotonic())
            got.set()

    c = paho.Client(client_id=f"delay-{os.getpid()}-{time.monotonic_ns()}", protocol=paho.MQTTv311)
    c.on_message = on_message
    c.on_connect = lambda c, u, f, rc: c.subscribe(f"{BASE}/bridge/state", 1)
    c.connect("127.0.0.1", port, keepalive=30)
    c.loop_start()
    try:
        assert got.wait(timeout), f"the daemon did not come back within {timeout}s"
    finally:
        c.loop_stop()
        c.disconnect()
    return when[0] - t0


def retained(e, topic):
    return any(t == topic and r and p for t, p, r in e.watcher.messages)


def broker_holds(e, topics):
    """Every topic came to the watcher as retained. One the daemon published after the watcher
    subscribed came live (retain flag 0): a new watcher then gets the broker's retained copies."""
    if all(retained(e, t) for t in topics):
        return True
    fresh_watcher(e)
    return False


def main():
    rnd = random.Random(9)
    with Env(plugs=PLUGS, report_interval=1) as e:
        d = start_and_pair(e)
        plugs = [ieee_of(n) for n in range(1, PLUGS + 1)]
        # the discovery configs: collected by the daemon at start for a while, then published
        wait_until(lambda: all(any(t.startswith("homeassistant/") and ieee in t and t.endswith("/config") and p
                                   for t, p, _ in e.watcher.messages) for ieee in plugs),
                   what="discovery configs of every plug", timeout=60)
        time.sleep(1)
        configs = {t for t, p, _ in e.watcher.messages if t.startswith("homeassistant/") and t.endswith("/config")}
        configs = {t for t in configs if [p for tt, p, _ in e.watcher.messages if tt == t][-1]}
        must = configs | {f"{BASE}/bridge/state", f"{BASE}/bridge/info", f"{BASE}/bridge/devices"} | \
            {f"{BASE}/{ieee}" for ieee in plugs} | {f"{BASE}/{ieee}/availability" for ieee in plugs}
        print(f"{len(configs)} discovery configs, {len(must)} retained topics checked after every restart")

        traffic = Traffic(e.broker.port, range(1, PLUGS + 1))
        delays = []
        pid = d.pid
        try:
            for i in range(RESTARTS):
                e.broker.kill()
                time.sleep(rnd.uniform(0.1, 1.5))       # down for a moment; the daemon retries meanwhile
                e.broker.start()
                t0 = time.monotonic()
                delays.append(time_until_online(e.broker.port, t0))

                fresh_watcher(e)
                wait_until(lambda: broker_holds(e, must),
                           what=f"restart {i + 1}: retained topics {sorted(t for t in must if not retained(e, t))}",
                           timeout=20, interval=1.0)
                for n in range(1, PLUGS + 1):
                    switch(e, n, "OFF" if e.sim.state(n)["state"] == "ON" else "ON", timeout=30)
                assert d.running() and d.pid == pid
        finally:
            traffic.stop()

        print("reconnect delays after the broker's return (s): " + " ".join(f"{x:.2f}" for x in delays))
        print(f"reconnect delay: min {min(delays):.2f} s, median {statistics.median(delays):.2f} s, "
              f"max {max(delays):.2f} s over {len(delays)} restarts; {traffic.sent} reads sent meanwhile")
        assert max(delays) < BOUND, delays
        assert d.stop() == 0
    print("ok")


if __name__ == "__main__":
    main()
