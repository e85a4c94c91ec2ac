#!/usr/bin/python3
"""lumiplugd outlives its broker: when the broker stops it retries with a backoff capped at
reconnect_max, comes back online when the broker returns, and starts the backoff over after each
successful connection. It also starts fine while the broker is still down."""
import json
import re

from broker import Client, Mosquitto, free_port
from daemon import Daemon, mqtt_ini

TOPIC = "lumire/bridge/state"


def delays(log, start=0):
    return [int(x) for x in re.findall(r"retrying in (\d+)s|reconnecting in (\d+)s", log[start:]) for x in x if x]


def main():
    port = free_port()
    broker = Mosquitto(port=port)
    ini = mqtt_ini(port, base_topic="lumire", mqtt_extra="reconnect_max = 2\n")
    try:
        # Started before the broker exists: it keeps trying, it does not exit.
        with Daemon(ini) as d:
            d.wait_log(r"Cannot connect to MQTT broker 127\.0\.0\.1:\d+ \(Connection refused\); retrying in 1s")
            d.wait_log(r"retrying in 2s", count=2)
            assert d.running()
            assert all(x <= 2 for x in delays(d.log())), d.log()

            broker.start()
            watcher = Client(port)
            watcher.subscribe(TOPIC)
            watcher.wait_for(TOPIC, lambda p: json.loads(p) == {"state": "online"}, timeout=20)
            d.wait_log(r"Connected to MQTT broker")

            for outage in range(2):
                # The broker goes away: lost, retried (never more than reconnect_max apart) ...
                mark = len(d.log())
                watcher.close()
                broker.stop()
                d.wait_log(r"Lost the connection to MQTT broker 127\.0\.0\.1:\d+ \(.*\); reconnecting in 1s",
                           start=mark)
                d.wait_log(r"retrying in 2s", start=mark)
                got = delays(d.log(), mark)
                # ... and the backoff started over at 1s after the previous success, capped at 2s.
                assert got[0] == 1 and got[1] == 2 and max(got) == 2, got
                assert d.running()

                # ... and it comes back.
                broker.start()
                watcher = Client(port)
                watcher.subscribe(TOPIC)
                watcher.wait_for(TOPIC, lambda p: json.loads(p) == {"state": "online"}, timeout=20)
                d.wait_log(r"Connected to MQTT broker", start=mark)

            watcher.close()
            assert d.stop() == 0, d.log()
    finally:
        broker.stop()
    print("ok")


if __name__ == "__main__":
    main()
