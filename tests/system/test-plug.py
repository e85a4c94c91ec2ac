#!/usr/bin/python3
"""Issues 4-6 end to end on one session: permit join over MQTT, a plug's button press, the
device_joined / device_interview events, bridge/devices listing it as ZNCZ04LM, Home Assistant
discovery configs; set state ON/OFF/TOGGLE reaching the plug (the simulator's own state) and the
confirmed state published; get; config writes read back; an INI option applied; a load reported as power/energy/voltage/
current; rename, remove and restart over bridge/request; a restart keeping the paired plugs and names."""
import json
import signal

from sim import ieee_of
from sysenv import BASE, Env, wait_until


def plug_state(e, name, pred, start, timeout=30.0):
    return e.wait(f"{BASE}/{name}", pred, start=start, timeout=timeout)


def main():
    # an option from the INI, applied to the reports: device_temperature + 5 °C
    with Env(plugs=2, extra=f"[device {ieee_of(1)}]\ndevice_temperature_calibration = 5\n") as e:
        d = e.start_daemon()
        e.wait_network()

        # --- pairing ---
        m = e.mark()
        e.permit_join(120)
        e.wait(f"{BASE}/bridge/info", lambda v: v.get("permit_join") is True, start=m)
        ieee = ieee_of(1)
        e.pair(1, start=m)
        ev = e.wait(f"{BASE}/bridge/event", lambda v: v["type"] == "device_joined", start=m)
        assert ev["data"] == {"friendly_name": ieee, "ieee_address": ieee}, ev
        e.wait(f"{BASE}/bridge/event", lambda v: v["type"] == "device_interview" and
               v["data"]["status"] == "started", start=m)
        ok = e.wait(f"{BASE}/bridge/event", lambda v: v["type"] == "device_interview" and
                    v["data"]["status"] == "successful", start=m)
        assert ok["data"]["supported"] is True and ok["data"]["definition"]["model"] == "ZNCZ04LM", ok

        def listed(v):
            return any(x["ieee_address"] == ieee and x.get("interview_completed") and
                       (x.get("definition") or {}).get("model") == "ZNCZ04LM" and
                       x.get("model_id") == "lumi.plug.mmeu01" for x in v)
        devs = e.devices(start=m, pred=listed)
        plug = next(x for x in devs if x["ieee_address"] == ieee)
        assert plug["friendly_name"] == ieee and plug["type"] == "Router", plug
        coord = next(x for x in devs if x["type"] == "Coordinator")
        assert sorted(int(k) for k in coord["endpoints"]) == [1, 2, 3, 4, 5, 6, 8, 10, 11, 12, 13, 47, 110, 239, 242], coord
        assert coord["endpoints"]["13"]["clusters"]["input"] == ["genOta"], coord["endpoints"]["13"]

        # discovery: switch + sensors under the IEEE node id (Zigbee2MQTT's unique ids)
        sw = e.wait(f"homeassistant/switch/{ieee}/switch/config", timeout=30, start=m)
        assert sw["unique_id"] == f"{ieee}_switch_zigbee2mqtt", sw
        assert sw["command_topic"] == f"{BASE}/{ieee}/set", sw
        en = e.wait(f"homeassistant/sensor/{ieee}/energy/config", timeout=30, start=m)
        assert en["state_class"] == "total_increasing" and en["unit_of_measurement"] == "kWh", en
        e.wait(f"homeassistant/number/{ieee}/overload_protection/config", timeout=30, start=m)

        # --- set state: reaches the plug, the confirmed state is published ---
        for cmd, want in (("ON", "ON"), ("OFF", "OFF"), ("TOGGLE", "ON"), ("toggle", "OFF")):
            m = e.mark()
            e.watcher.publish(f"{BASE}/{ieee}/set", json.dumps({"state": cmd}))
            plug_state(e, ieee, lambda v, w=want: v.get("state") == w, m)
            wait_until(lambda w=want: e.sim.state(1)["state"] == w, what=f"sim state {want}")
        m = e.mark()
        e.watcher.publish(f"{BASE}/{ieee}/set/state", "ON")
        plug_state(e, ieee, lambda v: v.get("state") == "ON", m)
        assert e.sim.state(1)["state"] == "ON"

        # --- config writes, read back from the plug ---
        m = e.mark()
        e.watcher.publish(f"{BASE}/{ieee}/set", json.dumps({"overload_protection": 1500, "led_disabled_night": True}))
        plug_state(e, ieee, lambda v: v.get("overload_protection") == 1500 and v.get("led_disabled_night") is True, m)
        wait_until(lambda: e.sim.state(1)["overload_protection"] == 1500 and e.sim.state(1)["led_disabled_night"],
                   what="sim config")
        m = e.mark()
        e.watcher.publish(f"{BASE}/{ieee}/get", json.dumps({"overload_protection": "", "led_disabled_night": ""}))
        plug_state(e, ieee, lambda v: v.get("overload_protection") == 1500 and v.get("led_disabled_night") is True, m)

        # --- a load: power, energy, voltage, current ---
        m = e.mark()
        e.sim.command("load 1 60")
        e.sim.command("report 1")
        st = plug_state(e, ieee, lambda v: v.get("power") not in (None, 0) and v.get("voltage") is not None
                        and v.get("current") is not None and v.get("energy") is not None, m)
        assert abs(st["power"] - 60) < 5, st
        st = plug_state(e, ieee, lambda v: v.get("device_temperature") is not None, m)
        assert abs(st["device_temperature"] - (e.sim.state(1)["device_temperature"] + 5)) < 0.01, st
        m = e.mark()
        e.watcher.publish(f"{BASE}/{ieee}/get", json.dumps({"power": ""}))
        st = plug_state(e, ieee, lambda v: v.get("power") is not None, m)
        assert abs(st["power"] - 60) < 5, st

        # --- bad input does not stop anything ---
        e.watcher.publish(f"{BASE}/{ieee}/set", "{not json")
        e.watcher.publish(f"{BASE}/{ieee}/set", json.dumps({"overload_protection": 99999}))
        e.watcher.publish(f"{BASE}/nobody/set", json.dumps({"state": "ON"}))

        # --- SIGHUP reloads without disturbing the Zigbee side ---
        start = len(d.log())
        d.send_signal(signal.SIGHUP)
        d.wait_log(r"Reloaded", start=start)
        m = e.mark()
        e.watcher.publish(f"{BASE}/{ieee}/set", json.dumps({"state": "TOGGLE"}))
        plug_state(e, ieee, lambda v: v.get("state") == "OFF", m)

        # --- rename ---
        r = e.request("device/rename", {"from": ieee, "to": "plug_1", "transaction": "r1"})
        assert r["status"] == "ok", r
        m = e.mark()
        e.watcher.publish(f"{BASE}/plug_1/set", json.dumps({"state": "OFF"}))
        plug_state(e, "plug_1", lambda v: v.get("state") == "OFF", m)
        wait_until(lambda: e.sim.state(1)["state"] == "OFF", what="sim OFF after rename")
        e.devices(pred=lambda v: any(x["friendly_name"] == "plug_1" for x in v))

        # --- a second plug, then restart: both kept with their names ---
        m = e.mark()
        e.pair(2, start=m)
        r = e.request("device/rename", {"from": ieee_of(2), "to": "kitchen/kettle", "transaction": "r2"})
        assert r["status"] == "ok", r
        assert d.stop() == 0
        m = e.mark()
        d = e.start_daemon()
        e.wait_network(start=m)
        devs = e.devices(start=m, pred=lambda v: len(v) == 3)
        names = {x["ieee_address"]: x["friendly_name"] for x in devs}
        assert names[ieee_of(1)] == "plug_1" and names[ieee_of(2)] == "kitchen/kettle", names
        m = e.mark()
        e.watcher.publish(f"{BASE}/kitchen/kettle/set", json.dumps({"state": "ON"}))
        plug_state(e, "kitchen/kettle", lambda v: v.get("state") == "ON", m)
        wait_until(lambda: e.sim.state(2)["state"] == "ON", what="plug 2 ON after restart")

        # --- bridge/request/restart: the Zigbee side starts again in the same process ---
        pid = d.pid
        m = e.mark()
        r = e.request("restart", {"transaction": "rs"})
        assert r["status"] == "ok", r
        d.wait_log(r"Restarting the Zigbee side")
        d.wait_log(r"Adopted the coordinator's Zigbee network", count=2)
        e.wait(f"{BASE}/bridge/info", lambda v: (v.get("coordinator") or {}).get("ieee_address"), start=m)
        m = e.mark()
        e.watcher.publish(f"{BASE}/kitchen/kettle/set", json.dumps({"state": "OFF"}))
        plug_state(e, "kitchen/kettle", lambda v: v.get("state") == "OFF", m)
        wait_until(lambda: e.sim.state(2)["state"] == "OFF", what="plug 2 OFF after restart request")
        assert d.running() and d.pid == pid

        # --- remove ---
        m = e.mark()
        r = e.request("device/remove", {"id": "plug_1", "transaction": "rm"})
        assert r["status"] == "ok", r
        e.devices(start=m, pred=lambda v: not any(x["ieee_address"] == ieee for x in v))
        e.watcher.wait_for(f"homeassistant/switch/{ieee}/switch/config", lambda p: p == b"", timeout=30, start=m)
        wait_until(lambda: not e.sim.plug(1)["joined"], what="plug 1 left")
        assert d.stop() == 0
        with open(f"{e.state_dir}/devices.json") as f:
            text = f.read()
        assert ieee not in text and ieee_of(2) in text
    print("ok")


if __name__ == "__main__":
    main()
