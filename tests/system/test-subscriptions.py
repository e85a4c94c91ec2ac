#!/usr/bin/python3
"""The daemon subscribes only to its own topics and Home Assistant's status topic, read from the
broker's own log (mosquitto -v logs every SUBSCRIBE and UNSUBSCRIBE with the client id):
  <base>/#                           its own topics (requests, set/get of its plugs)
  homeassistant/status               Home Assistant's birth and last will
  homeassistant/+/+/+/config         only at start, until the retained discovery configs are
                                     collected (stale ones of ours are cleared, as Zigbee2MQTT does),
                                     then unsubscribed
After a broker restart the renewed subscriptions are the first two only. A second daemon with
another base topic and Home Assistant off subscribes to its base topic alone."""
import re

from broker import Mosquitto
from daemon import Daemon, mqtt_ini
from sim import Sim, ieee_of
from sysenv import BASE, Env, wait_until

CLIENT = "lumi-subscriptions-test"


def broker_requests(log_path, client):
    """[("SUBSCRIBE"|"UNSUBSCRIBE", filter)] of client, in order, from mosquitto's -v log."""
    out, current = [], None
    with open(log_path, errors="replace") as f:
        for line in f:
            text = line.split(": ", 1)[1].rstrip("\n") if ": " in line else line.rstrip("\n")
            m = re.fullmatch(r"Received (SUBSCRIBE|UNSUBSCRIBE) from (\S+)", text)
            if m:
                current = m.group(1) if m.group(2) == client else None
                continue
            if current and text.startswith("\t"):
                out.append((current, re.sub(r" \(QoS \d\)$", "", text[1:])))
            elif not text.startswith("\t"):
                current = None
    return out


def main():
    with Env(plugs=1) as e:
        d = e.start_daemon(extra=f"[mqtt]\nclient_id = {CLIENT}\n")
        e.wait_network()
        e.permit_join()
        e.pair(1)
        ieee = ieee_of(1)
        e.wait(f"homeassistant/switch/{ieee}/switch/config", timeout=60)

        wait_until(lambda: ("UNSUBSCRIBE", "homeassistant/+/+/+/config") in broker_requests(e.broker.log_path, CLIENT),
                   timeout=60, what="the discovery wait's end")
        first = broker_requests(e.broker.log_path, CLIENT)
        assert first == [("SUBSCRIBE", f"{BASE}/#"), ("SUBSCRIBE", "homeassistant/status"),
                         ("SUBSCRIBE", "homeassistant/+/+/+/config"),
                         ("UNSUBSCRIBE", "homeassistant/+/+/+/config")], first

        # a broker restart: the subscriptions are renewed, without the discovery wait's
        pos = len(d.log())
        e.broker.restart()
        d.wait_log(r"Connected to MQTT broker", start=pos, timeout=60)
        wait_until(lambda: len(broker_requests(e.broker.log_path, CLIENT)) >= len(first) + 2, timeout=30,
                   what="the renewed subscriptions")
        again = broker_requests(e.broker.log_path, CLIENT)[len(first):]
        assert sorted(again) == sorted([("SUBSCRIBE", f"{BASE}/#"), ("SUBSCRIBE", "homeassistant/status")]), again
        assert d.stop() == 0, d.log()

    # Home Assistant off, another base topic: that topic alone
    client = CLIENT + "-noha"
    with Mosquitto() as broker, Sim(plugs=0, fast=True) as sim:
        ini = mqtt_ini(broker.port, base_topic="home/plugs", mqtt_extra=f"client_id = {client}\n",
                       extra="[homeassistant]\nenabled = false\n", serial_port=sim.port)
        with Daemon(ini) as d:
            d.wait_log(r"Connected to MQTT broker", timeout=60)
            d.wait_log(r"Formed a new Zigbee network", timeout=60)
            wait_until(lambda: broker_requests(broker.log_path, client), timeout=30, what="a subscription")
            assert d.stop() == 0, d.log()
        subs = broker_requests(broker.log_path, client)
        assert subs == [("SUBSCRIBE", "home/plugs/#")], subs
    print("ok")


if __name__ == "__main__":
    main()
