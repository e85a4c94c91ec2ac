#!/usr/bin/python3
"""Issue 4, "an unsupported device is recorded": a device that is not a ZNCZ04LM (the simulator's
plug 1 made an Aqara SP-EUC01, Basic modelId lumi.plug.maeu01, with `model 1 ...` before it joins)
pairs, its interview succeeds and the bridge says so with "supported": false; bridge/devices lists
it with what the interview found (model id, manufacturer, endpoints) and no definition; no Home
Assistant discovery config and no state are published for it while a real plug paired next to it
gets its own; it is still recorded after a daemon restart (device database), and a set to it is
refused with a clear error."""
import json

from sim import ieee_of
from sysenv import BASE, Env, wait_until

MODEL_ID = "lumi.plug.maeu01"
MANUFACTURER = "Xiaomi Aqara"


def foreign_listed(ieee):
    def pred(devs):
        return any(x["ieee_address"] == ieee and x.get("interview_completed") and
                   x.get("model_id") == MODEL_ID for x in devs)
    return pred


def check_listing(devs, foreign, plug):
    d = next(x for x in devs if x["ieee_address"] == foreign)
    p = next(x for x in devs if x["ieee_address"] == plug)
    assert d["supported"] is False, d
    assert "definition" not in d or d["definition"] is None, d
    assert d["model_id"] == MODEL_ID and d["manufacturer"] == MANUFACTURER, d
    assert d["interview_state"] == "SUCCESSFUL" and d["interviewing"] is False, d
    assert d["type"] == "Router" and d["friendly_name"] == foreign, d
    assert d["power_source"] == "Mains (single phase)", d
    # the endpoints are what the interview found: the simulator gives both devices the same ones
    assert d["endpoints"] and d["endpoints"] == p["endpoints"], (d["endpoints"], p["endpoints"])
    ep1 = d["endpoints"]["1"]["clusters"]["input"]
    assert "genBasic" in ep1 and "genOnOff" in ep1, ep1
    assert p["supported"] is True and p["definition"]["model"] == "ZNCZ04LM", p
    return d


def main():
    foreign, plug = ieee_of(1), ieee_of(2)
    with Env(plugs=2) as e:
        d = e.start_daemon()
        e.wait_network()
        assert e.sim.command(f"model 1 {MODEL_ID} {MANUFACTURER}") == ""
        assert e.sim.state(1)["model"] == MODEL_ID

        # --- the foreign device pairs; its interview succeeds; it is not supported ---
        m = e.mark()
        e.permit_join(120)
        e.pair(1, start=m)
        e.wait(f"{BASE}/bridge/event", lambda v: v["type"] == "device_joined" and
               v["data"]["ieee_address"] == foreign, start=m)
        ok = e.wait(f"{BASE}/bridge/event", lambda v: v["type"] == "device_interview" and
                    v["data"]["ieee_address"] == foreign and v["data"]["status"] == "successful", start=m)
        assert ok["data"] == {"friendly_name": foreign, "ieee_address": foreign, "status": "successful",
                              "supported": False}, ok

        # --- a real plug next to it, so discovery demonstrably runs ---
        e.pair(2, start=m)
        e.wait(f"homeassistant/switch/{plug}/switch/config", timeout=30, start=m)
        devs = e.devices(start=m, pred=lambda v: foreign_listed(foreign)(v) and
                         any(x["ieee_address"] == plug and x.get("interview_completed") for x in v))
        check_listing(devs, foreign, plug)

        # the foreign device talks (its button, its periodic report): nothing is published for it
        e.sim.command("press 1")
        e.sim.command("report 1")
        m2 = e.mark()
        e.watcher.publish(f"{BASE}/{plug}/set", json.dumps({"state": "ON"}))
        e.wait(f"{BASE}/{plug}", lambda v: v.get("state") == "ON", start=m2)

        # --- a set to it: a clear error, nothing sent ---
        start = len(d.log())
        e.watcher.publish(f"{BASE}/{foreign}/set", json.dumps({"state": "ON"}))
        d.wait_log(rf"Cannot publish to unsupported device '{foreign}'", start=start)
        sim_before = e.sim.state(1)["state"]

        # --- restart: recorded in the device database, listed the same way ---
        assert d.stop() == 0
        with open(f"{e.state_dir}/devices.json") as f:
            text = f.read()
        assert foreign in text and MODEL_ID in text and MANUFACTURER in text, text
        m = e.mark()
        d = e.start_daemon()
        e.wait_network(start=m)
        devs = e.devices(start=m, pred=lambda v: foreign_listed(foreign)(v) and len(v) == 3)
        check_listing(devs, foreign, plug)
        start = len(d.log())
        e.watcher.publish(f"{BASE}/{foreign}/set/state", "OFF")
        d.wait_log(rf"Cannot publish to unsupported device '{foreign}'", start=start)
        m2 = e.mark()
        e.watcher.publish(f"{BASE}/{plug}/set", json.dumps({"state": "OFF"}))
        e.wait(f"{BASE}/{plug}", lambda v: v.get("state") == "OFF", start=m2)
        wait_until(lambda: e.sim.state(2)["state"] == "OFF", what="plug 2 OFF after restart")
        assert e.sim.state(1)["state"] == sim_before
        assert "Interviewing " + foreign not in d.log(), "the recorded device was interviewed again"

        # nothing at all was ever published for it under homeassistant/ or as a device state
        for topic, payload, _ in e.watcher.messages:
            assert not (topic.startswith("homeassistant/") and foreign in topic), (topic, payload)
            assert topic != f"{BASE}/{foreign}", (topic, payload)
        assert d.stop() == 0
    print("ok")


if __name__ == "__main__":
    main()
