#!/usr/bin/env python3
"""Our exposes/options of ZNCZ04LM vs. the definition in what the real Zigbee2MQTT published on
bridge/devices (tests/peer/reference/bridge-devices.json, written by the peer suite). Skipped
(77) when that capture is absent."""
import json
import os
import subprocess
import sys

SOURCE = os.environ.get("LUMI_SOURCE_ROOT", os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "..", ".."))


def main():
    path = os.path.join(SOURCE, "tests", "peer", "reference", "bridge-devices.json")
    if not os.path.exists(path):
        print(f"SKIP: {path} not captured yet")
        return 77
    with open(path) as f:
        devices = json.load(f)
    plugs = [d for d in devices if (d.get("definition") or {}).get("model") == "ZNCZ04LM"]
    if not plugs:
        print("the capture has no ZNCZ04LM")
        return 1
    theirs = plugs[0]["definition"]
    ours = json.loads(subprocess.run([sys.argv[1]], check=True, capture_output=True, text=True).stdout)
    failures = 0
    for key in ("model", "vendor", "description", "supports_ota", "exposes", "options"):
        if theirs.get(key) != ours[key]:
            failures += 1
            print(f"{key} differ:\n  z2m  {json.dumps(theirs.get(key), sort_keys=True)}\n  ours {json.dumps(ours[key], sort_keys=True)}")
    print(f"{len(ours['exposes'])} exposes and {len(ours['options'])} options compared, {failures} differ")
    return 1 if failures else 0


if __name__ == "__main__":
    sys.exit(main())
