#!/usr/bin/python3
"""The bridge state is retained: online on connect, offline on a clean stop (published by lumiplugd)
and offline after kill -9 (the broker publishes the last will)."""
import json
import signal

from broker import Client, Mosquitto
from daemon import Daemon, mqtt_ini

ONLINE = {"state": "online"}
OFFLINE = {"state": "offline"}


def retained_state(port, topic):
    """What a new subscriber gets first on topic: the retained message."""
    c = Client(port)
    try:
        c.subscribe(topic)
        t, payload, retained = c.wait_for(topic)
        assert retained, f"{topic} is not retained"
        return json.loads(payload)
    finally:
        c.close()


def main():
    with Mosquitto() as broker:
        topic = "lumitest/bridge/state"
        watcher = Client(broker.port)
        watcher.subscribe("lumitest/#")
        ini = mqtt_ini(broker.port, base_topic="lumitest")

        # Online, retained.
        with Daemon(ini) as d:
            watcher.wait_for(topic, lambda p: json.loads(p) == ONLINE)
            assert retained_state(broker.port, topic) == ONLINE
            mark = watcher.mark()
            # Clean stop: offline published by the daemon itself, exit code 0.
            assert d.stop(signal.SIGTERM) == 0, d.log()
            watcher.wait_for(topic, lambda p: json.loads(p) == OFFLINE, start=mark)
            assert retained_state(broker.port, topic) == OFFLINE
            assert "Stopped" in d.log()

        # SIGINT stops cleanly too.
        with Daemon(ini) as d:
            mark = watcher.mark()
            watcher.wait_for(topic, lambda p: json.loads(p) == ONLINE, start=mark)
            mark = watcher.mark()
            assert d.stop(signal.SIGINT) == 0, d.log()
            watcher.wait_for(topic, lambda p: json.loads(p) == OFFLINE, start=mark)

        # kill -9: the daemon says nothing; the broker publishes the will, retained.
        with Daemon(ini) as d:
            mark = watcher.mark()
            watcher.wait_for(topic, lambda p: json.loads(p) == ONLINE, start=mark)
            assert retained_state(broker.port, topic) == ONLINE
            mark = watcher.mark()
            d.kill()
            assert d.returncode == -signal.SIGKILL
            watcher.wait_for(topic, lambda p: json.loads(p) == OFFLINE, start=mark)
            assert retained_state(broker.port, topic) == OFFLINE
        watcher.close()
    print("ok")


if __name__ == "__main__":
    main()
