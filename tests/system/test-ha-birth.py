#!/usr/bin/python3
"""Issue 6, "birth message -> republish", on the running daemon: with a plug paired, the retained
discovery configs are wiped from the broker (empty retained payloads, as a broker that lost its
store); Home Assistant's "offline" brings nothing back, its "online" brings every config of the
plug and of the bridge back at once, the same as before, retained, and they pass
../shared/tools/ha_validate.py (live capture; skipped without it). The states are checked as the
broker keeps them retained (the daemon re-sends them only 30 s after the birth, as Zigbee2MQTT)."""
import json
import os
import subprocess
import sys
import time

from broker import Client
from daemon import source_root
from sim import ieee_of
from sysenv import BASE, Env

STATUS = "homeassistant/status"


def is_config(topic):
    return topic.startswith("homeassistant/") and topic.endswith("/config")


def latest_configs(messages, start=0):
    latest = {}
    for t, p, r in messages[start:]:
        if is_config(t):
            latest[t] = p
    return {t: p for t, p in latest.items() if p}


def validate(e, configs):
    tool = os.path.normpath(os.path.join(source_root(), "..", "shared", "tools", "ha_validate.py"))
    if not os.path.exists(tool):
        print(f"ha_validate.py not found at {tool}: live validation skipped")
        return
    msgs = [{"topic": t, "payload": p.decode(), "retain": True} for t, p in configs.items()]
    path = os.path.join(e.workdir, "discovery-after-birth.json")
    with open(path, "w") as f:
        json.dump(msgs, f)
    r = subprocess.run([sys.executable, tool, path], capture_output=True, text=True, timeout=120)
    print(f"ha_validate: {(r.stdout + r.stderr).strip().splitlines()[-1:]}")
    assert r.returncode == 0, r.stdout + r.stderr


def retained_on_broker(e, topics, sentinel):
    """What a client subscribing now gets: {topic: payload} of retained messages under homeassistant/
    and zigbee2mqtt/ (waits for every topic in topics, then for the sentinel)."""
    c = Client(e.broker.port)
    try:
        c.subscribe("homeassistant/#")
        c.subscribe(f"{BASE}/#")
        for t in topics:
            c.wait_for(t, timeout=30)
        c.wait_for(sentinel, timeout=30)
        time.sleep(1)       # the rest of the retained burst
        return {t: p for t, p, r in c.messages if r}
    finally:
        c.close()


def barrier(e):
    """Every message published before this one has been handled by the daemon (it answers in order)."""
    r = e.request("health_check", {"transaction": f"hc{time.monotonic_ns()}"})
    assert r["status"] == "ok", r


def main():
    ieee = ieee_of(1)
    with Env(plugs=1) as e:
        e.start_daemon()
        info = e.wait_network()
        bridge_ieee = info["coordinator"]["ieee_address"]
        e.permit_join(60)
        m = e.mark()
        e.pair(1, start=m)
        e.watcher.wait_for(f"homeassistant/switch/{ieee}/switch/config", lambda p: p != b"", timeout=30, start=m)
        e.watcher.publish(f"{BASE}/{ieee}/set", json.dumps({"state": "ON"}))
        e.wait(f"{BASE}/{ieee}", lambda v: v.get("state") == "ON", timeout=30)
        time.sleep(6)       # past the discovery wait: the bridge's own configs are out too
        before = latest_configs(e.watcher.messages)
        plug = [t for t in before if f"/{ieee}/" in t]
        bridge = [t for t in before if f"_{bridge_ieee}/" in t]
        assert len(plug) >= 10 and len(bridge) >= 3 and len(plug) + len(bridge) == len(before), sorted(before)

        # the broker loses them: empty retained payloads (the daemon no longer listens there)
        for t in before:
            e.watcher.publish(t, b"", retain=True)
        e.watcher.publish("homeassistant/lumi-test/sentinel", b"1", retain=True)
        left = retained_on_broker(e, [], "homeassistant/lumi-test/sentinel")
        assert not [t for t in left if is_config(t)], sorted(left)

        # Home Assistant's last will: nothing comes back
        m = e.mark()
        e.watcher.publish(STATUS, b"offline")
        barrier(e)
        back = [t for t, p, r in e.watcher.messages[m:] if is_config(t)]
        assert not back, back

        # its birth: every config at once, as before
        m = e.mark()
        e.watcher.publish(STATUS, b"online")
        for t in before:
            e.watcher.wait_for(t, lambda p: p != b"", timeout=30, start=m)
        after = latest_configs(e.watcher.messages, m)
        assert sorted(after) == sorted(before), (sorted(set(before) ^ set(after)))
        for t in before:
            assert json.loads(after[t]) == json.loads(before[t]), (t, after[t], before[t])
        validate(e, after)

        # retained: a client arriving now (Home Assistant after its restart) gets them all, and the
        # states are still there for it
        kept = retained_on_broker(e, list(before) + [f"{BASE}/{ieee}", f"{BASE}/bridge/state"],
                                  "homeassistant/lumi-test/sentinel")
        missing = [t for t in before if kept.get(t) != after[t]]
        assert not missing, missing
        assert json.loads(kept[f"{BASE}/bridge/state"]) == {"state": "online"}, kept[f"{BASE}/bridge/state"]
        assert json.loads(kept[f"{BASE}/{ieee}"]).get("state") == "ON", kept[f"{BASE}/{ieee}"]
        print(f"birth: {len(after)} configs back ({len(plug)} plug, {len(bridge)} bridge), retained")

        e.watcher.publish("homeassistant/lumi-test/sentinel", b"", retain=True)
        assert e.daemon.stop() == 0
    print("ok")


if __name__ == "__main__":
    main()
