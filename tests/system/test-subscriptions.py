#!/usr/bin/python3
"""The daemon subscribes only to its own topics and Home Assistant's status topic, read from the
broker's own log (mosquitto -v logs every SUBSCRIBE and UNSUBSCRIBE with the client id), in this
order:
  homeassistant/+/+/+/config         only after connecting, until the retained discovery configs are
                                     collected (stale ones of ours are cleared and identical ones not
                                     sent again, as Zigbee2MQTT does), then unsubscribed
  <base>/#                           its own topics (requests, set/get of its plugs)
  homeassistant/status               Home Assistant's birth and last will; its SUBACK tells that the
                                     broker has sent the wildcard's retained configs
The wait ends at that SUBACK (plus a short quiet time), not at the 5 s cap: the daemon says so and the
broker logs the UNSUBSCRIBE. A broker restart (no persistence) renews the same subscriptions in the same
order and gets every config again. A restarted daemon clears a stale config of ours, sends a changed
one again and leaves the identical ones alone. A second daemon with another base topic and Home
Assistant off subscribes to its base topic alone."""
import json
import re

from broker import Client, Mosquitto
from daemon import Daemon, mqtt_ini
from sim import Sim, ieee_of
from sysenv import BASE, Env, wait_until

CLIENT = "lumi-subscriptions-test"
WILDCARD = "homeassistant/+/+/+/config"
ALL = [("SUBSCRIBE", WILDCARD), ("SUBSCRIBE", f"{BASE}/#"), ("SUBSCRIBE", "homeassistant/status"),
       ("UNSUBSCRIBE", WILDCARD)]
FENCED = r"Retained discovery configs collected: the broker sent them all"


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


def sync(w):
    """Whatever the daemon published before it read this request has come when its answer comes."""
    m = w.mark()
    w.publish(f"{BASE}/bridge/request/health_check", "")
    w.wait_for(f"{BASE}/bridge/response/health_check", timeout=30, start=m)


def restarted_daemon(e, d, w, ieee):
    """The broker holds a stale config of ours (a plug that is gone), an outdated one of the plug
    (another payload) and the plug's other configs as they are; the daemon restarts."""
    w.wait_for(f"homeassistant/switch/{ieee}/switch/config", lambda p: p != b"", timeout=30)
    sync(w)
    plug_configs = {t: p for t, p, _ in w.messages
                    if t.startswith("homeassistant/") and f"/{ieee}/" in t and t.endswith("/config") and p}
    assert len(plug_configs) > 3, plug_configs
    assert d.stop() == 0, d.log()

    stale = "homeassistant/switch/0x00000000000000aa/switch/config"
    changed = f"homeassistant/switch/{ieee}/switch/config"
    old = json.loads(plug_configs[changed])
    old["name"] = "an older name"
    m = w.mark()
    w.publish(stale, json.dumps({"availability": [{"topic": f"{BASE}/bridge/state"}], "name": None}), retain=True)
    w.publish(changed, json.dumps(old), retain=True)
    w.wait_for(changed, lambda p: p == json.dumps(old).encode(), timeout=30, start=m)   # our own
    m = w.mark()
    d = e.start_daemon(extra=f"[mqtt]\nclient_id = {CLIENT}\n")
    w.wait_for(stale, lambda p: p == b"", timeout=60, start=m)
    w.wait_for(changed, lambda p: p == plug_configs[changed], timeout=60, start=m)
    d.wait_log(FENCED, timeout=30)
    sync(w)
    sent = [t for t, p, _ in w.messages[m:] if t in plug_configs and p]
    assert sent == [changed], sent
    assert d.stop() == 0, d.log()


def main():
    with Env(plugs=1) as e:
        d = e.start_daemon(extra=f"[mqtt]\nclient_id = {CLIENT}\n")
        e.wait_network()
        e.permit_join()
        e.pair(1)
        ieee = ieee_of(1)
        e.wait(f"homeassistant/switch/{ieee}/switch/config", timeout=60)

        wait_until(lambda: ("UNSUBSCRIBE", WILDCARD) in broker_requests(e.broker.log_path, CLIENT),
                   timeout=60, what="the discovery wait's end")
        first = broker_requests(e.broker.log_path, CLIENT)
        assert first == ALL, first
        # ended by the broker's answer, not by the cap
        d.wait_log(FENCED, timeout=30)
        assert "the 5 s wait is over" not in d.log(), d.log()

        # a broker restart (it loses every retained message): the same subscriptions in the same order,
        # the same early end, every config published again
        pos = len(d.log())
        e.broker.restart()
        d.wait_log(r"Connected to MQTT broker", start=pos, timeout=60)
        wait_until(lambda: len(broker_requests(e.broker.log_path, CLIENT)) >= 2 * len(ALL), timeout=30,
                   what="the renewed subscriptions")
        again = broker_requests(e.broker.log_path, CLIENT)[len(first):]
        assert again == ALL, again
        d.wait_log(FENCED, start=pos, timeout=30)
        w = Client(e.broker.port)       # e.watcher's subscriptions went with the broker
        try:
            w.subscribe("homeassistant/#")
            w.subscribe(f"{BASE}/#")
            restarted_daemon(e, d, w, ieee)
        finally:
            w.close()

    # Home Assistant off    # Home Assistant off, another base topic: that topic alone
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
