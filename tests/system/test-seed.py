#!/usr/bin/python3
"""Issue 5, every line of the seed document over MQTT against lumiplug-sim: set and get of each
settable/readable property (JSON and /set/<key> with a bare value, several keys at once), the state
published being what the plug confirmed (checked against the simulator's own state), the reported
values (consumer_connected, power, voltage, current, energy, device_temperature), an option given
through bridge/request/device/options applied to the next report, and each kind of bad input
answered by a clear log line while the valid keys of the same payload still apply."""
import json

from sim import ieee_of
from sysenv import BASE, Env, wait_until

NAME = "desk"


def state(e, pred, start, timeout=30.0):
    return e.wait(f"{BASE}/{NAME}", pred, start=start, timeout=timeout)


def main():
    with Env(plugs=1, extra=f"[device {ieee_of(1)}]\nfriendly_name = {NAME}\n") as e:
        d = e.start_daemon()
        e.wait_network()
        e.permit_join()
        e.pair(1)

        # --- each setting through /set (JSON) and /set/<key> (bare value), confirmed by the plug ---
        for key, first, second in (("power_outage_memory", True, False), ("auto_off", True, False),
                                   ("led_disabled_night", True, False), ("overload_protection", 1200, 2300)):
            m = e.mark()
            e.watcher.publish(f"{BASE}/{NAME}/set", json.dumps({key: first}))
            state(e, lambda v, k=key, x=first: v.get(k) == x, m)
            wait_until(lambda k=key, x=first: e.sim.state(1)[k] == x, what=f"sim {key}={first}")
            m = e.mark()
            e.watcher.publish(f"{BASE}/{NAME}/set/{key}", json.dumps(second))
            state(e, lambda v, k=key, x=second: v.get(k) == x, m)
            wait_until(lambda k=key, x=second: e.sim.state(1)[k] == x, what=f"sim {key}={second}")

        # several keys at once
        m = e.mark()
        e.watcher.publish(f"{BASE}/{NAME}/set", json.dumps({"state": "ON", "led_disabled_night": True,
                                                               "overload_protection": 1800}))
        state(e, lambda v: v.get("state") == "ON" and v.get("led_disabled_night") is True
              and v.get("overload_protection") == 1800, m)
        s = e.sim.state(1)
        assert s["state"] == "ON" and s["led_disabled_night"] is True and s["overload_protection"] == 1800, s

        # --- get of every readable key: each answer comes from the plug and is published ---
        for key, want in (("state", "ON"), ("power", None), ("led_disabled_night", True),
                          ("power_outage_memory", False), ("overload_protection", 1800), ("auto_off", False)):
            m = e.mark()
            e.watcher.publish(f"{BASE}/{NAME}/get", json.dumps({key: ""}))
            st = state(e, lambda v, k=key: k in v and v[k] is not None, m)
            if want is not None:
                assert st[key] == want, (key, st)
        frames = json.dumps(e.sim.frames())
        assert "READ" in frames.upper(), "no read request reached the simulator"

        # --- reported values: a 100 W load and the full report ---
        m = e.mark()
        e.sim.command("load 1 100")
        e.sim.command("report 1")
        st = state(e, lambda v: v.get("power") and v.get("voltage") and v.get("current") is not None
                   and v.get("energy") is not None and v.get("device_temperature") is not None
                   and v.get("consumer_connected") is True, m)
        sim = e.sim.state(1)
        assert abs(st["power"] - sim["power"]) <= 0.01 + 0.005 * sim["power"], (st, sim)
        assert abs(st["voltage"] - sim["voltage"]) < 0.6, (st, sim)
        assert abs(st["current"] - sim["current"]) < 0.01, (st, sim)
        assert isinstance(st["device_temperature"], int), st
        assert st["state"] == "ON" and st["linkquality"] > 0, st

        # --- an option over bridge/request/device/options, applied from the next report ---
        r = e.request("device/options", {"id": NAME, "options": {"power_calibration": 10, "power_precision": 0},
                                         "transaction": "o1"})
        assert r["status"] == "ok", r
        m = e.mark()
        e.sim.command("report 1")
        st = state(e, lambda v: v.get("power") is not None, m)
        assert st["power"] == round(e.sim.state(1)["power"] * 1.1), st
        bad = e.request("device/options", {"id": NAME, "options": {"power_precision": 7}, "transaction": "o2"})
        assert bad["status"] == "error" and bad["transaction"] == "o2" and bad["error"], bad

        # --- bad input: each gets a clear log line; valid keys of the same payload still apply ---
        start = len(d.log())
        bad_inputs = [
            (f"{BASE}/{NAME}/set", "{not json", r"not valid JSON"),
            (f"{BASE}/{NAME}/set", json.dumps({"colour": "red"}), r"unknown property 'colour'"),
            (f"{BASE}/{NAME}/set", json.dumps({"led_disabled_night": "yes"}), r"'led_disabled_night' expects true or false"),
            (f"{BASE}/{NAME}/set", json.dumps({"overload_protection": 99999}), r"'overload_protection' must be between"),
            (f"{BASE}/{NAME}/set", json.dumps({"power": 5}), r"'power' is read-only"),
            (f"{BASE}/{NAME}/get", json.dumps({"energy": ""}), r"'energy' cannot be read"),
            (f"{BASE}/nobody/set", json.dumps({"state": "ON"}), r"'nobody' is unknown"),
        ]
        for topic, payload, _ in bad_inputs:
            e.watcher.publish(topic, payload)
        m = e.mark()
        e.watcher.publish(f"{BASE}/{NAME}/set", json.dumps({"state": "OFF", "overload_protection": 5}))
        state(e, lambda v: v.get("state") == "OFF", m)
        wait_until(lambda: e.sim.state(1)["state"] == "OFF", what="valid key applied")
        assert e.sim.state(1)["overload_protection"] == 1800
        for _, _, pattern in bad_inputs + [(None, None, r"'overload_protection' must be between 100 and 2300, got 5")]:
            d.wait_log(pattern, start=start)
        assert d.proc.poll() is None, "the daemon stopped on bad input"
        assert d.stop() == 0
    print("ok")


if __name__ == "__main__":
    main()
