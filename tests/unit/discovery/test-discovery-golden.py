#!/usr/bin/env python3
"""Discovery output vs. the hand-derived golden files, vs. what Zigbee2MQTT 2.14.1's own code
publishes (z2m/, see capture.js), and against Home Assistant's rules.

Golden files (golden/*.json) were written from ha-discovery.md Part C/D; payloads there are
objects, and the generated payload string must equal their sorted compact serialisation exactly
(what Zigbee2MQTT's stringify() produces). Then every generated message goes through
../shared/tools/ha_validate.py (relative to the project root); without it the test is skipped.
"""
import json
import os
import re
import subprocess
import sys
import tempfile

HERE = os.path.dirname(os.path.abspath(__file__))
DUMP = sys.argv[1]
BUILD = os.environ.get("LUMI_BUILD_ROOT", "")
SOURCE = os.environ.get("LUMI_SOURCE_ROOT", os.path.join(HERE, "..", "..", ".."))


def config_value(name):
    with open(os.path.join(BUILD, "config.h")) as f:
        m = re.search(r'#define %s "([^"]*)"' % name, f.read())
    assert m, name
    return m.group(1)


def dump(scenario):
    out = subprocess.run([DUMP, scenario], check=True, capture_output=True, text=True).stdout
    return json.loads(out)


def canonical(obj):
    return json.dumps(obj, sort_keys=True, separators=(",", ":"), ensure_ascii=False)


def check_golden(scenario, golden_name):
    with open(os.path.join(HERE, "golden", golden_name)) as f:
        text = f.read()
    text = text.replace("@PACKAGE_VERSION@", config_value("PACKAGE_VERSION"))
    text = text.replace("@PACKAGE_URL@", config_value("PACKAGE_URL"))
    golden = json.loads(text)
    got = dump(scenario)
    failures = 0
    got_topics = [m["topic"] for m in got]
    want_topics = [m["topic"] for m in golden]
    if got_topics != want_topics:
        print(f"{scenario}: topics differ\n  got  {got_topics}\n  want {want_topics}")
        failures += 1
    for want in golden:
        match = [m for m in got if m["topic"] == want["topic"]]
        if not match:
            continue
        if match[0]["payload"] != canonical(want["payload"]):
            print(f"{scenario}: {want['topic']}\n  got  {match[0]['payload']}\n  want {canonical(want['payload'])}")
            failures += 1
    return got, failures


def check_real_z2m(capture_name, scenarios):
    """Compare with what Zigbee2MQTT 2.14.1's own code published (z2m/capture.js); only the origin
    block and the bridge's sw_version (our name and version instead of Zigbee2MQTT's) may differ."""
    with open(os.path.join(HERE, "z2m", capture_name)) as f:
        z2m = json.load(f)
    ours = []
    for s in scenarios:
        ours += dump(s)
    version = config_value("PACKAGE_VERSION")
    origin = canonical({"name": "lumiplugd", "sw": version, "url": config_value("PACKAGE_URL")})
    failures = 0
    if [m["topic"] for m in z2m] != [m["topic"] for m in ours]:
        print(f"{capture_name}: topics differ from Zigbee2MQTT's")
        return 1
    for theirs, mine in zip(z2m, ours):
        expected = theirs["payload"].replace(
            canonical({"name": "Zigbee2MQTT", "sw": "2.14.1", "url": "https://www.zigbee2mqtt.io"}), origin)
        expected = expected.replace('"model":"Bridge","name":"Zigbee2MQTT Bridge","sw_version":"2.14.1"',
                                    '"model":"Bridge","name":"Zigbee2MQTT Bridge","sw_version":"%s"' % version)
        if expected != mine["payload"]:
            print(f"{capture_name}: {theirs['topic']}\n  z2m  {expected}\n  ours {mine['payload']}")
            failures += 1
    return failures


def check_peer_capture():
    """If the peer suite has captured what the real Zigbee2MQTT published over MQTT for its plug1
    (tests/peer/reference/homeassistant-plug1.json, topic -> payload), generate the same device
    and compare payload by payload (origin excepted). Returns (failures, compared)."""
    path = os.path.join(SOURCE, "tests", "peer", "reference", "homeassistant-plug1.json")
    if not os.path.exists(path):
        return 0, False
    with open(path) as f:
        ref = json.load(f)
    some = next(iter(ref.values()))
    d = some["device"]
    ieee = d["identifiers"][0][len("zigbee2mqtt_"):]
    coordinator = d["via_device"][len("zigbee2mqtt_bridge_"):]
    ours = json.loads(subprocess.run([DUMP, "device", ieee, coordinator, d["name"],
                                      str(d["hw_version"]) if "hw_version" in d else "-",
                                      d.get("sw_version", "-")], check=True, capture_output=True, text=True).stdout)
    origin = {"name": "lumiplugd", "sw": config_value("PACKAGE_VERSION"), "url": config_value("PACKAGE_URL")}
    failures = 0
    if sorted(ref) != sorted(m["topic"] for m in ours):
        print(f"peer capture: topics differ\n  z2m  {sorted(ref)}\n  ours {sorted(m['topic'] for m in ours)}")
        failures += 1
    for m in ours:
        if m["topic"] not in ref:
            continue
        want = dict(ref[m["topic"]], origin=origin)
        if canonical(want) != m["payload"]:
            print(f"peer capture: {m['topic']}\n  z2m  {canonical(want)}\n  ours {m['payload']}")
            failures += 1
    print(f"peer capture: {len(ours)} configs compared with the live Zigbee2MQTT capture, {failures} differ")
    return failures, True


def validate(messages, label):
    validator = os.path.normpath(os.path.join(SOURCE, "..", "shared", "tools", "ha_validate.py"))
    if not os.path.exists(validator):
        return None
    with tempfile.NamedTemporaryFile("w", suffix=".json", delete=False) as f:
        json.dump(messages, f)
        path = f.name
    try:
        p = subprocess.run([sys.executable, validator, path], capture_output=True, text=True)
    finally:
        os.unlink(path)
    print(f"ha_validate {label}: {(p.stdout + p.stderr).strip().splitlines()[-1:]}")
    if p.returncode != 0:
        print(p.stdout + p.stderr)
        return False
    return True


def main():
    failures = 0
    plug, f = check_golden("plug", "plug1.json")
    failures += f
    bridge, f = check_golden("bridge", "bridge.json")
    failures += f

    avail = dump("plug-availability")
    for m in avail:
        p = json.loads(m["payload"])
        if p.get("availability_mode") != "all" or len(p["availability"]) != 2 or \
                p["availability"][1]["topic"] != "zigbee2mqtt/Living Room/Plug  2/availability":
            print("availability variant wrong:", m["topic"], m["payload"])
            failures += 1
        if not p["object_id"].startswith("living_room/plug_2"):
            print("object_id rule wrong:", p["object_id"])
            failures += 1
    clears = dump("plug-clear") + dump("bridge-clear")
    if [m["topic"] for m in dump("plug-clear")] != [m["topic"] for m in plug] or \
            any(m["payload"] != "" for m in clears):
        print("clear messages wrong")
        failures += 1

    failures += check_real_z2m("plug1+bridge.json", ["bridge", "plug"])
    failures += check_real_z2m("availability+bridge.json", ["bridge", "plug-availability"])

    f, _ = check_peer_capture()
    failures += f

    results = [validate(plug + bridge, "plug+bridge"), validate(avail, "availability"),
               validate(clears, "removal")]
    if failures:
        print(f"{failures} failure(s)")
        return 1
    if None in results:
        print("SKIP: ../shared/tools/ha_validate.py not found relative to the project root")
        return 77
    return 0 if all(results) else 1


if __name__ == "__main__":
    sys.exit(main())
