#!/usr/bin/python3
"""The real Zigbee2MQTT (npm zigbee2mqtt@2.14.1, adapter zstack) against lumiplug-sim.

Asserts from MQTT and Zigbee2MQTT's own log: the network forms; a restart resumes it with the same
PAN ID, extended PAN ID, channel and key; permit join; plugs with both IEEE prefixes (00:15:8D and
04:CF:8C) join and are interviewed as ZNCZ04LM; TOGGLE reaches the plug and the new state is
published; power can be read; overload_protection and led_disabled_night are written and read back;
a simulated load shows up as power, energy, voltage and current.

What Zigbee2MQTT publishes for plug 1 is saved as reference files (see reference/README.md):
in the build directory on every run, and into tests/peer/reference/ with LUMI_UPDATE_REFERENCE=1.
On a normal run the fresh files are compared with the committed ones.

Exit 77 (skip) only when the npm registry cannot be reached to install Zigbee2MQTT.
"""
import json
import os
import re
import sys
import time

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "lib"))

from broker import Client, Mosquitto  # noqa: E402
from sim import Sim, ieee_of  # noqa: E402
import z2m  # noqa: E402

BASE = "zigbee2mqtt"
T0 = time.monotonic()


def say(msg):
    print(f"[{time.monotonic() - T0:7.1f}s] {msg}", flush=True)


def payload(msg):
    return json.loads(msg[1])


def wait_json(client, topic, pred=lambda d: True, timeout=30, start=0):
    def ok(p):
        try:
            return pred(json.loads(p))
        except (ValueError, TypeError, KeyError):
            return False
    return payload(client.wait_for(topic, ok, timeout=timeout, start=start))


def request(client, path, body, timeout=30):
    """bridge/request/<path> with a transaction id; returns the response data (asserts ok)."""
    tid = f"t{time.monotonic_ns()}"
    body = dict(body, transaction=tid)
    mark = client.mark()
    client.publish(f"{BASE}/bridge/request/{path}", json.dumps(body))
    r = wait_json(client, f"{BASE}/bridge/response/{path}", lambda d: d.get("transaction") == tid,
                  timeout=timeout, start=mark)
    assert r["status"] == "ok", f"bridge/request/{path}: {r}"
    return r.get("data")


def start_z2m(sim, mq, datadir, devices):
    z = z2m.Z2M(sim.port, mq.port, datadir=datadir, devices=devices).start()
    z.wait_log(r"Zigbee2MQTT started", timeout=240)
    return z


def interview(client, sim, z, n, name):
    ieee = ieee_of(n)
    mark = client.mark()
    sim.command(f"press {n}")
    ev = wait_json(client, f"{BASE}/bridge/event",
                   lambda d: d["type"] == "device_interview" and d["data"]["ieee_address"] == ieee
                   and d["data"]["status"] in ("successful", "failed"), timeout=180, start=mark)
    assert ev["data"]["status"] == "successful", f"interview of plug {n} failed: {ev}"
    definition = ev["data"]["definition"]
    assert definition["model"] == "ZNCZ04LM", definition
    assert definition["vendor"] == "Xiaomi", definition
    assert z.log_matches(rf"Successfully interviewed '{name}', device has successfully been paired")
    say(f"plug {n} ({ieee}) joined and was interviewed as {definition['model']}")
    return ev


def toggle(client, sim, n, name):
    before = sim.state(n)["state"]
    mark = client.mark()
    client.publish(f"{BASE}/{name}/set", json.dumps({"state": "TOGGLE"}))
    expect = "OFF" if before == "ON" else "ON"
    wait_json(client, f"{BASE}/{name}", lambda d: d.get("state") == expect, start=mark)
    assert sim.state(n)["state"] == expect
    say(f"{name}: TOGGLE {before} -> {expect}, published")


def normalise(text, datadir, sim_port, mqtt_port):
    text = text.replace(datadir, "<DATA>").replace(sim_port, "<SERIAL>")
    return re.sub(rf"127\.0\.0\.1:{mqtt_port}", "127.0.0.1:<PORT>", text)


VOLATILE_INFO = ("restart_required", "permit_join", "permit_join_end", "os", "mqtt")


def strip_info(info):
    info = dict(info)
    for k in VOLATILE_INFO:
        info.pop(k, None)
    cfg = info.get("config", {})
    cfg.get("mqtt", {}).pop("server", None)
    cfg.get("serial", {}).pop("port", None)
    cfg.get("advanced", {}).pop("log_directory", None)
    cfg.get("advanced", {}).pop("log_file", None)
    return info


def main():
    try:
        z2m.install(log=say)
    except z2m.NpmUnreachable as e:
        print(f"SKIP: {e}")
        return 77
    say(f"zigbee2mqtt {z2m.VERSION} from {z2m.install_dir()}")

    src_ref = os.path.join(os.path.dirname(os.path.abspath(__file__)), "reference")
    build = os.environ.get("LUMI_BUILD_ROOT", "/tmp")
    out_ref = os.path.join(build, "peer-reference")
    os.makedirs(out_ref, exist_ok=True)

    with Mosquitto() as mq:
        sim = Sim(plugs=2, report_interval=3600)
        sim.link = os.path.join(sim.workdir, "ttyZNP")
        sim.start()
        datadir = os.path.join(sim.workdir, "z2m")
        client = Client(mq.port)
        client.subscribe("#")
        devices = {ieee_of(1): {"friendly_name": "plug1"}, ieee_of(2): {"friendly_name": "plug2"}}
        say(f"sim on {sim.port}, log {sim.log}; z2m data {datadir}")

        # 1. The network forms.
        z = start_z2m(sim, mq, datadir, devices)
        try:
            assert z.log_matches(r"Started with result 'reset'"), "first start did not commission"
            assert z.log_matches(r"Detected znp version 'ZStack3x0'")
            wait_json(client, f"{BASE}/bridge/state", lambda d: d["state"] == "online")
            info = wait_json(client, f"{BASE}/bridge/info", lambda d: d.get("network"))
            net = info["network"]
            assert net["pan_id"] == 6754 and net["channel"] == 11, net
            assert net["extended_pan_id"] in ("0xdddddddddddddd11", "0x11dddddddddddddd"), net
            assert info["coordinator"]["type"] == "ZStack3x0", info["coordinator"]
            sim_info = sim.info()
            assert sim_info["state"] == 9 and sim_info["pan"] == 6754 and sim_info["channel"] == 11, sim_info
            say(f"network formed: {net}")
        finally:
            z.stop()
        backup1 = json.load(open(os.path.join(datadir, "coordinator_backup.json")))

        # 2. Both restart (the simulator from its NV file): the same network is resumed.
        sim.stop()
        sim.start()
        mark = client.mark()
        z = start_z2m(sim, mq, datadir, devices)
        try:
            assert z.log_matches(r"Started with result 'resumed'"), "restart did not resume"
            assert not z.log_matches(r"startup strategy: startCommissioning")
            info = wait_json(client, f"{BASE}/bridge/info", lambda d: d.get("network"), start=mark)
            assert info["network"] == net, (info["network"], net)
            say("restart of simulator and Zigbee2MQTT resumed the network")

            # 3. Permit join, then two plugs join and are interviewed.
            request(client, "permit_join", {"time": 254})
            assert sim.info()["permit_join"] is True
            interview(client, sim, z, 1, "plug1")
            interview(client, sim, z, 2, "plug2")
            devs = wait_json(client, f"{BASE}/bridge/devices",
                             lambda d: sum(1 for x in d if x.get("interview_completed")) == 2)
            plug1 = next(x for x in devs if x["friendly_name"] == "plug1")
            assert plug1["ieee_address"] == ieee_of(1) and plug1["model_id"] == "lumi.plug.mmeu01"
            assert plug1["manufacturer"] == "LUMI" and plug1["power_source"] == "Mains (single phase)", plug1
            request(client, "permit_join", {"time": 0})

            # 4. TOGGLE reaches the plug and the new state is published.
            for n, name in ((1, "plug1"), (2, "plug2")):
                toggle(client, sim, n, name)

            # 5. get power is answered.
            mark, zmark = client.mark(), z.mark()
            client.publish(f"{BASE}/plug1/get", json.dumps({"power": ""}))
            z.wait_log(r"from 'plug1', type 'readResponse', cluster 'genAnalogInput', data '\{\"presentValue\":",
                       timeout=30, start=zmark)
            wait_json(client, f"{BASE}/plug1", lambda d: "power" in d, start=mark)
            say("plug1: get power answered by the plug")

            # 6. Writes to the Lumi cluster and read back.
            for key, value, sim_key, attr, raw in (("overload_protection", 1000, "overload_protection", 523, "1000"),
                                                   ("led_disabled_night", True, "led_disabled_night", 515, "1")):
                mark = client.mark()
                client.publish(f"{BASE}/plug1/set", json.dumps({key: value}))
                wait_json(client, f"{BASE}/plug1", lambda d: d.get(key) == value, start=mark)
                deadline = time.monotonic() + 10
                while sim.state(1)[sim_key] != value and time.monotonic() < deadline:
                    time.sleep(0.1)
                assert sim.state(1)[sim_key] == value, (sim_key, sim.state(1))
                # Read back from the plug itself (not Z2M's cached state).
                mark, zmark = client.mark(), z.mark()
                client.publish(f"{BASE}/plug1/get", json.dumps({key: ""}))
                z.wait_log(rf"from 'plug1', type 'readResponse', cluster 'manuSpecificLumi', "
                           rf"data '\{{\"{attr}\":{raw}\}}'", timeout=30, start=zmark)
                wait_json(client, f"{BASE}/plug1", lambda d: d.get(key) == value, start=mark)
                say(f"plug1: {key} = {value} written and read back")

            # 7. A load shows up as power, energy, voltage and current.
            if sim.state(1)["state"] != "ON":
                mark = client.mark()
                client.publish(f"{BASE}/plug1/set", json.dumps({"state": "ON"}))
                wait_json(client, f"{BASE}/plug1", lambda d: d.get("state") == "ON", start=mark)
            sim.command("load 1 120")
            time.sleep(3)
            mark = client.mark()
            sim.command("report 1")
            state = wait_json(client, f"{BASE}/plug1",
                              lambda d: d.get("power", 0) > 100 and "energy" in d and "voltage" in d
                              and "current" in d, start=mark)
            assert 100 < state["power"] < 140 and state["voltage"] > 200 and state["current"] > 0.3, state
            say(f"plug1 state with load: {state}")

            # 7b. The network map (Mgmt_Lqi of the coordinator and of each router).
            nm = request(client, "networkmap", {"type": "raw", "routes": False}, timeout=120)
            nodes = {n["ieeeAddr"]: n for n in nm["value"]["nodes"]}
            assert "0x00124b0029a1b2c3" in nodes and ieee_of(1) in nodes and ieee_of(2) in nodes, nodes.keys()
            links = {(ln["source"]["ieeeAddr"], ln["target"]["ieeeAddr"]) for ln in nm["value"]["links"]}
            assert (ieee_of(1), "0x00124b0029a1b2c3") in links or ("0x00124b0029a1b2c3", ieee_of(1)) in links, links
            say(f"network map: {len(nodes)} nodes, {len(links)} links")

            # 8. Reference files.
            time.sleep(1)
            last_state = payload([m for m in client.messages if m[0] == f"{BASE}/plug1"][-1])
            devs = payload([m for m in client.messages if m[0] == f"{BASE}/bridge/devices"][-1])
            info = payload([m for m in client.messages if m[0] == f"{BASE}/bridge/info"][-1])
            ha, ha_bridge = {}, {}
            for topic, body, retain in client.messages:
                if topic.startswith("homeassistant/") and ieee_of(1) in topic:
                    ha[topic] = json.loads(body) if body else None
                elif topic.startswith("homeassistant/") and "0x00124b0029a1b2c3" in topic:
                    ha_bridge[topic] = json.loads(body) if body else None
            assert ha, "no Home Assistant discovery for plug1"
            files = {
                "plug1-state.json": last_state,
                "bridge-devices.json": [d for d in devs if d["friendly_name"] in ("Coordinator", "plug1")],
                "bridge-info.json": strip_info(info),
                "homeassistant-plug1.json": dict(sorted(ha.items())),
                "homeassistant-bridge.json": dict(sorted(ha_bridge.items())),
            }
            for name, data in files.items():
                text = normalise(json.dumps(data, indent=2, sort_keys=True) + "\n", datadir, sim.port, mq.port)
                with open(os.path.join(out_ref, name), "w") as f:
                    f.write(text)
                if os.environ.get("LUMI_UPDATE_REFERENCE"):
                    with open(os.path.join(src_ref, name), "w") as f:
                        f.write(text)
            say(f"reference files written to {out_ref}")
            if not os.environ.get("LUMI_UPDATE_REFERENCE"):
                compare_references(src_ref, out_ref)

            # 9. Line noise from the stick does not disturb the host.
            sim.command("garbage")
            toggle(client, sim, 1, "plug1")

            # 9b. The plug's own button, an overload trip and a power cycle are all reported.
            before = sim.state(1)["state"]
            expect = "OFF" if before == "ON" else "ON"
            mark = client.mark()
            sim.command("press 1")
            wait_json(client, f"{BASE}/plug1", lambda d: d.get("state") == expect, start=mark)
            say(f"plug1: button pressed, Zigbee2MQTT saw {expect}")
            if expect == "OFF":
                toggle(client, sim, 1, "plug1")
            mark = client.mark()
            sim.command("load 1 1500")       # above overload_protection = 1000 W
            wait_json(client, f"{BASE}/plug1", lambda d: d.get("state") == "OFF", timeout=60, start=mark)
            assert sim.state(1)["overload_trips"] >= 1, sim.state(1)
            sim.command("load 1 0")
            say("plug1: 1500 W tripped the overload protection, Zigbee2MQTT saw OFF")
            mark = client.mark()
            sim.command("powercycle 1")
            wait_json(client, f"{BASE}/bridge/event",
                      lambda d: d["type"] == "device_announce" and d["data"]["ieee_address"] == ieee_of(1),
                      start=mark)
            say("plug1: power cycled and announced itself")

            # 10. Out of range: the confirm carries MAC_NO_ACK and Zigbee2MQTT reports the failure.
            sim.command("offline 2")
            zmark = z.mark()
            client.publish(f"{BASE}/plug2/set", json.dumps({"state": "TOGGLE"}))
            line = z.wait_log(r"Publish 'set' 'state' to 'plug2' failed", timeout=120, start=zmark)
            assert "MAC_NO_ACK" in line, line
            say("plug2 out of range: " + line.split("failed:", 1)[-1].strip()[:120])
            sim.command("online 2")
            toggle(client, sim, 2, "plug2")

            # 11. Removing a plug from Zigbee2MQTT (Mgmt_Leave), pairing it again, and the plug
            #     leaving by itself.
            request(client, "device/remove", {"id": "plug2"}, timeout=60)
            deadline = time.monotonic() + 10
            while sim.plug(2)["joined"] and time.monotonic() < deadline:
                time.sleep(0.1)
            assert not sim.plug(2)["joined"], sim.plug(2)
            say("plug2 removed by Zigbee2MQTT (Mgmt_Leave)")
            request(client, "permit_join", {"time": 60})
            interview(client, sim, z, 2, "plug2")
            request(client, "permit_join", {"time": 0})
            mark = client.mark()
            sim.command("leave 2")
            wait_json(client, f"{BASE}/bridge/event",
                      lambda d: d["type"] == "device_leave" and d["data"]["ieee_address"] == ieee_of(2),
                      start=mark)
            say("plug2 left the network by itself")
        finally:
            rc = z.stop()
            say(f"zigbee2mqtt stopped ({rc})")
        backup2 = json.load(open(os.path.join(datadir, "coordinator_backup.json")))
        assert backup2["network_key"] == backup1["network_key"]
        assert backup2["pan_id"] == backup1["pan_id"] and backup2["extended_pan_id"] == backup1["extended_pan_id"]
        ieees = {d["ieee_address"] for d in backup2.get("devices", [])}
        # plug 1 is in the coordinator's tables; plug 2 left before the backup.
        assert ieee_of(1)[2:] in ieees and ieee_of(2)[2:] not in ieees, backup2.get("devices")
        bad = z.log_matches(r"\berror\b")
        client.close()
        sim.stop()
    say(f"peer suite passed; Zigbee2MQTT logged {len(bad)} error lines")
    return 0


def main_tcp():
    """The same stick over TCP (tcp://127.0.0.1:PORT as Zigbee2MQTT's serial port)."""
    try:
        z2m.install(log=say)
    except z2m.NpmUnreachable as e:
        print(f"SKIP: {e}")
        return 77
    with Mosquitto() as mq, Sim(plugs=1, tcp=True, report_interval=3600) as sim:
        assert sim.port.startswith("tcp://127.0.0.1:"), sim.port
        datadir = os.path.join(sim.workdir, "z2m")
        client = Client(mq.port)
        client.subscribe("#")
        say(f"sim on {sim.port}")
        z = start_z2m(sim, mq, datadir, {ieee_of(1): {"friendly_name": "plug1"}})
        try:
            assert z.log_matches(r"Opening TCP socket with 127\.0\.0\.1")
            assert z.log_matches(r"Started with result 'reset'")
            request(client, "permit_join", {"time": 60})
            interview(client, sim, z, 1, "plug1")
            toggle(client, sim, 1, "plug1")
        finally:
            z.stop()
        # A second connection (Zigbee2MQTT restarted) is served too.
        z = start_z2m(sim, mq, datadir, {ieee_of(1): {"friendly_name": "plug1"}})
        try:
            assert z.log_matches(r"Started with result 'resumed'")
            toggle(client, sim, 1, "plug1")
        finally:
            z.stop()
        client.close()
    say("peer suite (tcp) passed")
    return 0


# Keys whose values depend on time or load history, compared by presence only.
VOLATILE_STATE = {"energy", "consumption", "power", "voltage", "current", "device_temperature", "linkquality",
                  "consumer_connected", "power_outage_count", "state", "update"}


def compare_references(src, fresh):
    problems = []
    for name in sorted(os.listdir(fresh)):
        ref_path = os.path.join(src, name)
        if not os.path.exists(ref_path):
            problems.append(f"{name}: no committed reference (run with LUMI_UPDATE_REFERENCE=1)")
            continue
        ref = json.load(open(ref_path))
        new = json.load(open(os.path.join(fresh, name)))
        if name == "plug1-state.json":
            if set(ref) != set(new):
                problems.append(f"{name}: keys differ: {sorted(set(ref) ^ set(new))}")
            for k in set(ref) & set(new) - VOLATILE_STATE:
                if ref[k] != new[k]:
                    problems.append(f"{name}: {k} {ref[k]!r} != {new[k]!r}")
        elif ref != new:
            problems.append(f"{name}: differs from the committed reference (diff {ref_path} {os.path.join(fresh, name)})")
    assert not problems, "\n".join(problems)


if __name__ == "__main__":
    sys.exit(main_tcp() if "--tcp" in sys.argv[1:] else main())
