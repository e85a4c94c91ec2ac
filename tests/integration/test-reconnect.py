#!/usr/bin/python3
"""lumiplugd outlives its broker: when the broker stops it retries every half second during the first
reconnect_max seconds of the outage, then with a backoff capped at reconnect_max; it comes back
online when the broker returns, and starts over (every half second) after each successful connection. It
also starts fine while the broker is still down."""
import json
import re

from broker import Client, Mosquitto, free_port
from daemon import Daemon, mqtt_ini

TOPIC = "lumire/bridge/state"


def delays(log, start=0):
    return [float(x) for x in re.findall(r"retrying in ([\d.]+)s|reconnecting in ([\d.]+)s", log[start:]) for x in x if x]


def check_delays(got):
    """0.5 s tries first (the first reconnect_max = 2 s of the outage), then never more than 2 s, and
    never shorter again: the delays do not decrease."""
    assert got[0] == 0.5 and got[1] == 0.5 and max(got) == 2, got
    assert all(a <= b for a, b in zip(got, got[1:])), got


def main():
    port = free_port()
    broker = Mosquitto(port=port)
    ini = mqtt_ini(port, base_topic="lumire", mqtt_extra="reconnect_max = 2\n")
    try:
        # Started before the broker exists: it keeps trying, it does not exit.
        with Daemon(ini) as d:
            d.wait_log(r"Cannot connect to MQTT broker 127\.0\.0\.1:\d+ \(Connection refused\); retrying in 0\.5s")
            d.wait_log(r"retrying in 2s", count=2)
            assert d.running()
            got = delays(d.log())
            check_delays(got)

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
                d.wait_log(r"Lost the connection to MQTT broker 127\.0\.0\.1:\d+ \(.*\); reconnecting in 0\.5s",
                           start=mark)
                d.wait_log(r"retrying in 2s", start=mark)
                got = delays(d.log(), mark)
                # ... and it started over at 0.5s after the previous success, capped at 2s.
                check_delays(got)
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
