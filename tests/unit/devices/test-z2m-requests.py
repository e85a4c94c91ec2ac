#!/usr/bin/env python3
"""Our set/get parsing of z2m/requests.json vs. the Zigbee calls Zigbee2MQTT's own converters make
for the same requests (z2m/z2m-requests.json, produced by z2m/requests.js): same endpoint, cluster,
command or attribute, type, value, manufacturer code, and the same optimistic value."""
import json
import os
import subprocess
import sys

HERE = os.path.dirname(os.path.abspath(__file__))
CLUSTERS = {"genOnOff": 0x0006, "genAnalogInput": 0x000C, "manuSpecificLumi": 0xFCC0}
COMMANDS = {"off": 0, "on": 1, "toggle": 2}
ATTRIBUTES = {"onOff": 0x0000, "presentValue": 0x0055}
LUMI = 0x115F


def z2m_calls(entry):
    """Normalise the recorded herdsman calls to our action shape."""
    out = []
    for c in entry["calls"]:
        cluster = CLUSTERS[c["cluster"]]
        # herdsman defaults the manufacturer code to the custom cluster's (0x115F for manuSpecificLumi)
        mfr = c["options"].get("manufacturerCode", LUMI if cluster == 0xFCC0 else 0)
        a = {"ep": c["ep"], "op": c["op"], "cluster": cluster, "manufacturer": mfr}
        if c["op"] == "command":
            a["command"] = COMMANDS[c["command"]]
            # On/Off commands have no response: herdsman asks for the Default Response
            a["want_default_rsp"] = not c["options"].get("disableDefaultResponse", False)
        elif c["op"] == "write":
            (attr, spec), = c["attrs"].items()
            a["attribute"] = int(attr)
            a["type"] = spec["type"]
            a["value"] = spec["value"][0] if isinstance(spec["value"], list) else spec["value"]
        else:
            (attr,) = c["attrs"]
            a["attribute"] = ATTRIBUTES.get(attr, attr)
        out.append(a)
    return out


def main():
    ours = json.loads(subprocess.run([sys.argv[1], os.path.join(HERE, "z2m", "requests.json")], check=True,
                                     capture_output=True, text=True).stdout)
    with open(os.path.join(HERE, "z2m", "z2m-requests.json")) as f:
        theirs = json.load(f)
    failures = 0
    for mine, z in zip(ours, theirs):
        label = f"{z['request']['type']} {z['request'].get('attribute', '')} {z['request']['payload']}"
        requested = z["state"]
        mine_actions = [{k: v for k, v in a.items() if k != "requested"} for a in mine["actions"]]
        mine_requested = {}
        names = {0x0006: "state", 0x0201: "power_outage_memory", 0x0202: "auto_off", 0x0203: "led_disabled_night",
                 0x020B: "overload_protection"}
        for a in mine["actions"]:
            if "requested" in a:
                mine_requested[names[a["cluster"] if a["cluster"] == 0x0006 else a["attribute"]]] = a["requested"]
        if mine_actions != z2m_calls(z) or mine["errors"] != z["errors"] or \
                (z["request"]["type"] == "set" and mine_requested != requested):
            print(f"{label}\n  ours {mine_actions} {mine_requested} {mine['errors']}\n"
                  f"  z2m  {z2m_calls(z)} {requested} {z['errors']}")
            failures += 1
    if len(ours) != len(theirs):
        print("request count differs")
        failures += 1
    print(f"{len(theirs) - failures} of {len(theirs)} requests map to the Zigbee calls Zigbee2MQTT makes")
    return 1 if failures else 0


if __name__ == "__main__":
    sys.exit(main())
